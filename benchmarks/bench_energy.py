"""EnergyClassifier: accuracy, fit time against MLPClassifier, energy OOD scores.

1. sklearn digits (pixels / 16, 80/20 splits, random_state 0-4 by default,
   ``--digits-splits``; the split's number seeds every model): test accuracy
   of EnergyClassifier at its defaults against LogisticRegression and
   MLPClassifier, per split and the medians; ``--digits-seeds N`` fits each
   model with N seeds per split (the split's number, + 10, ...).
   ``--digits-only`` runs only this, into its own RESULTS.md section.
2. Binarised MNIST t10k (first 8,000 rows train, last 2,000 test, pixels /
   255 > 0.5), float32: test error of discriminative, generative and hybrid
   training against LogisticRegression and MLPClassifier with the same
   hidden width, and fit time against that MLPClassifier for the same
   epochs and batch size (issue #13's targets: at most 0.8x for
   discriminative and 1.0x for hybrid training). Each of ``--repeats``
   repeats (5) fits every model back to back, repeat r with
   random_state=r; the errors and times are medians (the errors with their
   range) and the ratio to the MLP the median of the per-repeat ratios,
   so that the machine's changes of speed cancel.
3. Out-of-distribution: trained on classes 0-4 (digits, and MNIST when
   given, seeds 0-4 and their medians), the AUROC of ``score_samples`` (the
   energy score) for telling held-out 0-4 from 5-9, at the training
   temperature T = 1 and read cold (``set_params(temperature=0.1)`` on the
   fitted model), against the maximum softmax probability of the same
   model at T = 1.
4. With ``--tradeoff E1 E2 ...`` (and ``--mnist``), only this: for each
   number of epochs and each seed (``--ood-seeds``, 5 by default; another
   count writes its own RESULTS.md section), the hybrid model's OOD fit on
   0-4 (the cold energy AUROC less the max-softmax one) beside the test
   error of the same setting fitted on all ten classes, and of
   MLPClassifier((500,)) with the same epochs and batch size and at its
   defaults (seed by seed, and the medians): the issue's two targets side
   by side, across seeds.
5. With ``--class-splits`` (and ``--mnist``), only this: the OOD comparison
   trained on other sets of classes than 0-4 (5-9, the even digits), seeds
   0-2 by default (``--ood-seeds``), for ``EnergyClassifier()`` on digits and
   the documented MNIST setting (hybrid, 500 units, batch 100, 12 epochs):
   the energy AUROCs at T = 1 and read at T = 0.1, the max-softmax one and
   the cold score's margin, per seed and the medians; whether the energy
   score's margin over max softmax holds beyond the one split.
6. ``--schedule constant`` fits the MNIST EnergyClassifier models (2-4) with
   ``learning_rate_schedule="constant"`` (the linear decay to zero over 10
   epochs leaves the hybrid model undertrained), into sections of its own.

    python benchmarks/bench_energy.py --mnist ../shared/datasets/mnist-t10k
    python benchmarks/bench_energy.py --digits-only
    python benchmarks/bench_energy.py --digits-only --digits-seeds 4
    python benchmarks/bench_energy.py --mnist ../shared/datasets/mnist-t10k \
        --tradeoff 10 12
    python benchmarks/bench_energy.py --mnist ../shared/datasets/mnist-t10k \
        --tradeoff 12 --ood-seeds 10
    python benchmarks/bench_energy.py --mnist ../shared/datasets/mnist-t10k \
        --tradeoff 10 --schedule constant
    python benchmarks/bench_energy.py --mnist ../shared/datasets/mnist-t10k \
        --class-splits
"""

import argparse
import gzip
import os
import time
import warnings

import numpy as np
from _results import recorded
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_thermo import EnergyClassifier


def load_mnist(folder):
    with gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz")) as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    X = (X / 255 > 0.5).astype(np.float32)
    return X[:8000], X[8000:], y[:8000], y[8000:]


def timed_fit(est, X, y):
    t = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t


#: temperature at which the fitted model's energy score is also read
COLD = 0.1


def ood(name, make, X_train, X_test, y_train, y_test):
    """Fit on classes 0-4; print and return (accuracy on 0-4, energy AUROC at
    T = 1, energy AUROC read at COLD, max-softmax AUROC at T = 1)."""
    inside = y_train < 5
    clf = make()
    clf.fit(X_train[inside], y_train[inside])
    is_in = y_test < 5
    energy = roc_auc_score(is_in, clf.score_samples(X_test))
    msp = roc_auc_score(is_in, clf.predict_proba(X_test).max(axis=1))
    acc = clf.score(X_test[is_in], y_test[is_in])
    cold = roc_auc_score(is_in, clf.set_params(temperature=COLD).score_samples(X_test))
    print(f"| {name} | {acc:.4f} | {energy:.4f} | {cold:.4f} | {msp:.4f} |")
    return acc, energy, cold, msp


def tradeoff(folder, epoch_counts, H, B, seeds=range(5), schedule="linear"):
    """Epochs against the two targets: the OOD margin and the test error."""
    X_train, X_test, y_train, y_test = load_mnist(folder)
    inside, is_in = y_train < 5, y_test < 5
    print(
        f"## hybrid EnergyClassifier({H}), batch {B}, {schedule} learning-rate "
        f"schedule: OOD margin (energy read at "
        f"T = {COLD} less max softmax, AUROC, trained on 0-4) and 10-class test "
        "error, against MLPClassifier\n"
    )
    print("| epochs | seed | margin | error | MLP, same epochs | MLP, defaults |")
    print("| --- | --- | --- | --- | --- | --- |")
    mlp_default = {}
    for E in epoch_counts:
        rows = []
        for seed in seeds:
            kw = dict(
                method="hybrid",
                max_iter=E,
                batch_size=B,
                learning_rate_schedule=schedule,
                random_state=seed,
            )
            clf = EnergyClassifier(H, **kw).fit(X_train[inside], y_train[inside])
            msp = roc_auc_score(is_in, clf.predict_proba(X_test).max(axis=1))
            clf.set_params(temperature=COLD)
            margin = roc_auc_score(is_in, clf.score_samples(X_test)) - msp
            err = 1 - EnergyClassifier(H, **kw).fit(X_train, y_train).score(
                X_test, y_test
            )
            mlp = MLPClassifier(
                (H,),
                batch_size=B,
                max_iter=E,
                tol=0,
                n_iter_no_change=E + 1,
                random_state=seed,
            ).fit(X_train, y_train)
            if seed not in mlp_default:
                mlp_default[seed] = MLPClassifier((H,), random_state=seed).fit(
                    X_train, y_train
                )
            row = (
                margin,
                err,
                1 - mlp.score(X_test, y_test),
                1 - mlp_default[seed].score(X_test, y_test),
            )
            rows.append(row)
            print(
                f"| {E} | {seed} | "
                + " | ".join(
                    f"{v:+.4f}" if i == 0 else f"{v:.4f}" for i, v in enumerate(row)
                )
                + " |",
                flush=True,
            )
        med = np.median(rows, axis=0)
        print(
            f"| {E} | median | {med[0]:+.4f} | {med[1]:.4f} | {med[2]:.4f} | "
            f"{med[3]:.4f} |"
        )
    print(
        "\ntargets: margin >= +0.02 and error no worse than the MLP's (on the medians)"
    )


def digits_accuracy(X, y, n_splits, n_seeds=1):
    """Test accuracy on 80/20 splits ``random_state`` 0 .. n_splits - 1 of
    EnergyClassifier() at its defaults, LogisticRegression and
    MLPClassifier((256,)), the split's number seeding every model (with
    ``n_seeds`` > 1, also the seeds split + 10, split + 20, ...: a row per
    split holds the median over its seeds); a row per split and the medians
    (accuracy and fit time) over all the fits."""
    models = [
        ("EnergyClassifier()", lambda s: EnergyClassifier(random_state=s)),
        (
            "LogisticRegression(max_iter=1000)",
            lambda s: LogisticRegression(max_iter=1000),
        ),
        (
            "MLPClassifier((256,), max_iter=500)",
            lambda s: MLPClassifier((256,), random_state=s, max_iter=500),
        ),
    ]
    seeding = (
        "the split's number seeding each model"
        if n_seeds == 1
        else f"{n_seeds} model seeds per split (the split's number, + 10, ...), "
        "a split's row the median over its seeds"
    )
    print(
        f"## digits (pixels / 16, 80/20 splits, random_state 0-{n_splits - 1}, "
        f"{seeding}): test accuracy (fit time)\n"
    )
    print("| split | " + " | ".join(name for name, _ in models) + " |")
    print("|" + " --- |" * (len(models) + 1))
    acc = np.empty((n_splits, n_seeds, len(models)))
    times = np.empty_like(acc)
    for s in range(n_splits):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=s
        )
        for k in range(n_seeds):
            for m, (_, make) in enumerate(models):
                est = make(s + 10 * k)
                times[s, k, m] = timed_fit(est, X_train, y_train)
                acc[s, k, m] = est.score(X_test, y_test)
        cells = [
            f"{a:.4f} ({t:.1f} s)"
            for a, t in zip(np.median(acc[s], axis=0), np.median(times[s], axis=0))
        ]
        print(f"| {s} | " + " | ".join(cells) + " |")
    flat, flat_t = acc.reshape(-1, len(models)), times.reshape(-1, len(models))
    med = [
        f"{a:.4f} ({t:.1f} s)"
        for a, t in zip(np.median(flat, axis=0), np.median(flat_t, axis=0))
    ]
    print("| median | " + " | ".join(med) + " |")
    ours = flat[:, 0]
    print(
        f"\nEnergyClassifier(): lowest {ours.min():.4f}, mean {ours.mean():.4f}, at "
        f"least 0.98 on {int((ours >= 0.98).sum())} of {len(ours)} fits "
        f"(MLPClassifier: mean {flat[:, 2].mean():.4f}, at least 0.98 on "
        f"{int((flat[:, 2] >= 0.98).sum())})\n"
    )


#: in-distribution classes of ``--class-splits``: the issue's split first
CLASS_SPLITS = {
    "0-4": lambda y: y < 5,
    "5-9": lambda y: y >= 5,
    "even": lambda y: y % 2 == 0,
}


def _split_rows(make, X_train, X_test, y_train, y_test, seeds):
    """Per set of training classes and seed: max-softmax AUROC, energy AUROC
    at T = 1 and read at COLD, and the cold one's margin; and the medians."""
    print("| classes in | seed | max softmax | energy, T = 1 | energy, cold | margin |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, which in CLASS_SPLITS.items():
        inside, is_in = which(y_train), which(y_test)
        rows = []
        for seed in seeds:
            clf = make(seed).fit(X_train[inside], y_train[inside])
            msp = roc_auc_score(is_in, clf.predict_proba(X_test).max(axis=1))
            warm = roc_auc_score(is_in, clf.score_samples(X_test))
            cold = roc_auc_score(
                is_in, clf.set_params(temperature=COLD).score_samples(X_test)
            )
            rows.append((msp, warm, cold, cold - msp))
            print(
                f"| {name} | {seed} | {msp:.4f} | {warm:.4f} | {cold:.4f} | "
                f"{cold - msp:+.4f} |",
                flush=True,
            )
        med = np.median(rows, axis=0)
        print(
            f"| {name} | median | {med[0]:.4f} | {med[1]:.4f} | {med[2]:.4f} | "
            f"{med[3]:+.4f} |"
        )


def class_splits(folder, seeds, epochs=12, H=500, B=100):
    """The OOD comparison trained on other sets of classes: digits with
    ``EnergyClassifier()``, then MNIST with the documented setting."""
    X, y = load_digits(return_X_y=True)
    digits = train_test_split(X / 16.0, y, test_size=0.2, random_state=0)
    print(
        "## digits (80/20 split, random_state=0), EnergyClassifier() at its "
        "defaults: AUROC for held-out in-distribution vs the other classes, by "
        "the set of training classes\n"
    )
    _split_rows(lambda s: EnergyClassifier(random_state=s), *digits, seeds)
    print(
        f"\n## MNIST, EnergyClassifier({H}, method='hybrid', batch_size={B}, "
        f"max_iter={epochs}), the setting documented with the energy read at "
        f"T = {COLD}\n"
    )
    _split_rows(
        lambda s: EnergyClassifier(
            H, method="hybrid", max_iter=epochs, batch_size=B, random_state=s
        ),
        *load_mnist(folder),
        seeds,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", default=None, help="folder of MNIST t10k")
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--ood-seeds", type=int, default=None, help="seeds of the MNIST OOD fits (5)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="fits of each MNIST model, repeat r with random_state=r (times "
        "and errors are medians)",
    )
    parser.add_argument(
        "--tradeoff",
        type=int,
        nargs="+",
        default=None,
        help="epoch counts: run only the OOD-margin vs error comparison",
    )
    parser.add_argument(
        "--class-splits",
        action="store_true",
        help="run only the OOD comparison on other sets of training classes, "
        "digits and MNIST (seeds: --ood-seeds, 3 by default here)",
    )
    parser.add_argument(
        "--schedule",
        choices=("linear", "constant"),
        default="linear",
        help="learning_rate_schedule of the MNIST EnergyClassifier fits "
        "(another than linear: its own RESULTS.md section)",
    )
    parser.add_argument(
        "--digits-splits", type=int, default=5, help="splits of the digits accuracy"
    )
    parser.add_argument(
        "--digits-seeds",
        type=int,
        default=1,
        help="model seeds per digits split (another count: its own section)",
    )
    parser.add_argument(
        "--digits-only",
        action="store_true",
        help="run only the digits accuracy (its own RESULTS.md section)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.class_splits:
        if not args.mnist:
            parser.error("--class-splits needs --mnist")
        class_splits(args.mnist, range(args.ood_seeds or 3))
        return
    if args.ood_seeds is None:
        args.ood_seeds = 5
    if args.tradeoff:
        tradeoff(
            args.mnist,
            args.tradeoff,
            args.hidden,
            args.batch_size,
            seeds=range(args.ood_seeds),
            schedule=args.schedule,
        )
        return

    X, y = load_digits(return_X_y=True)
    digits_accuracy(X / 16.0, y, args.digits_splits, args.digits_seeds)
    if args.digits_only:
        return
    digits = train_test_split(X / 16.0, y, test_size=0.2, random_state=0)

    if args.mnist:
        H, E, B = args.hidden, args.epochs, args.batch_size
        X_train, X_test, y_train, y_test = load_mnist(args.mnist)
        print(
            f"\n## binarised MNIST t10k (8000 train / 2000 test), float32, "
            f"{H} hidden units, {E} epochs, batch {B}\n"
        )
        print("| model | test error, median (lowest-highest) | fit time | time / MLP |")
        print("| --- | --- | --- | --- |")

        def makers(seed):
            yield (
                f"MLPClassifier(({H},)), adam",
                MLPClassifier(
                    (H,),
                    batch_size=B,
                    max_iter=E,
                    tol=0,
                    n_iter_no_change=E + 1,
                    random_state=seed,
                ),
            )
            yield "LogisticRegression", LogisticRegression(max_iter=1000)
            for method in ("discriminative", "generative", "hybrid"):
                yield (
                    f"EnergyClassifier(method='{method}')",
                    EnergyClassifier(
                        H,
                        method=method,
                        max_iter=E,
                        batch_size=B,
                        learning_rate=0.05 if method == "generative" else "auto",
                        learning_rate_schedule=args.schedule,
                        tol=0,
                        n_iter_no_change=E + 1,
                        random_state=seed,
                    ),
                )

        # each repeat fits every model back to back, repeat r with
        # random_state=r (an error from one seed is not a result); a model's
        # time over the MLP's is taken within a repeat (the machine's speed
        # drifts)
        times, errors = {}, {}
        for r in range(args.repeats):
            # alternate the order: back-to-back runs show a bias by position
            models = list(makers(r))
            for name, est in models if r % 2 == 0 else models[::-1]:
                times.setdefault(name, []).append(timed_fit(est, X_train, y_train))
                errors.setdefault(name, []).append(1 - est.score(X_test, y_test))
        t_mlp = np.array(times[next(iter(times))])
        for name in times:
            err = np.array(errors[name])
            t = np.array(times[name])
            print(
                f"| {name} | {np.median(err):.4f} ({err.min():.4f}-{err.max():.4f}) | "
                f"{np.median(t):.2f} s | {np.median(t / t_mlp):.2f}x |"
            )

    print("\n## out-of-distribution: trained on 0-4, AUROC for held-out 0-4 vs 5-9\n")
    print(
        f"| data, model | accuracy on 0-4 | energy score (T = 1) | energy score "
        f"read at T = {COLD} | max softmax (T = 1) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for method in ("hybrid", "discriminative"):
        ood(
            f"digits, EnergyClassifier(method='{method}')",
            lambda m=method: EnergyClassifier(method=m, random_state=0),
            *digits,
        )
    if args.mnist:
        split = load_mnist(args.mnist)
        for method in ("hybrid", "discriminative"):
            rows = [
                ood(
                    f"MNIST, EnergyClassifier({args.hidden}, method='{method}', "
                    f"max_iter={args.epochs}), seed {seed}",
                    lambda m=method, seed=seed: EnergyClassifier(
                        args.hidden,
                        method=m,
                        max_iter=args.epochs,
                        batch_size=args.batch_size,
                        learning_rate_schedule=args.schedule,
                        random_state=seed,
                    ),
                    *split,
                )
                for seed in range(args.ood_seeds)
            ]
            med = np.median(rows, axis=0)
            print(
                f"| MNIST, {method}, median of {args.ood_seeds} seeds | "
                + " | ".join(f"{v:.4f}" for v in med)
                + " |"
            )


if __name__ == "__main__":
    import sys

    section = "bench_energy"
    if "--digits-only" in sys.argv:
        section += ", digits"
        if "--digits-seeds" in sys.argv:  # its own section: the one-seed one stays
            n = sys.argv[sys.argv.index("--digits-seeds") + 1]
            section += f", {n} model seeds"
    elif "--class-splits" in sys.argv:
        section += ", OOD by training classes"
        if "--ood-seeds" in sys.argv:
            section += f", {sys.argv[sys.argv.index('--ood-seeds') + 1]} seeds"
    elif "--tradeoff" in sys.argv:
        section += ", OOD margin vs error"
        if "--ood-seeds" in sys.argv:  # its own section: the 5-seed one stays
            section += f", {sys.argv[sys.argv.index('--ood-seeds') + 1]} seeds"
    if "--schedule" in sys.argv:
        section += f", {sys.argv[sys.argv.index('--schedule') + 1]} schedule"
    with recorded(section, markdown=True):
        main()
