"""The main job: ``python -m sklearn_thermo``.

scikit-learn's RBM example, side by side: LogisticRegression on raw pixels,
on BernoulliRBM's features and on BoltzmannMachine's (each RBM at its
defaults) for the digits nudged by one pixel in four directions, then a
temperature sweep of the trained BoltzmannMachine's features.
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM

from . import ops
from ._core.threads import blas_capped
from ._datasets import nudged_digits
from ._rbm import BoltzmannMachine

TEMPERATURES = (0.5, 1.0, 2.0)

_DESCRIPTION = """\
scikit-learn's RBM example, side by side. The digits and their copies moved
by one pixel up, down, left and right (the example's nudged digits) are split
80/20; LogisticRegression is trained on the raw pixels, on the features of
BernoulliRBM and on those of BoltzmannMachine (each RBM at its defaults,
apart from the options below; LogisticRegression at its defaults), and the
test macro F1 of each is printed. Then the trained BoltzmannMachine's
features are read out at several temperatures."""


def _macro_f1(train, test, y_train, y_test):
    # LogisticRegression's defaults, with room for lbfgs to converge; BLAS at
    # one thread, as TemperedSoftmaxClassifier runs lbfgs on problems this
    # small (multithreaded, the BLAS pools' idle threads take the cores from
    # the work)
    with blas_capped():
        clf = LogisticRegression(max_iter=1000).fit(train, y_train)
    return f1_score(y_test, clf.predict(test), average="macro")


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}; got {value}")
        return value

    return parse


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_thermo",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--n-components",
        type=_int_at_least(1),
        default=256,
        metavar="N",
        help="hidden units of both RBMs (default: 256, both defaults)",
    )
    parser.add_argument(
        "--max-iter",
        type=_int_at_least(1),
        default=20,
        metavar="N",
        help="BoltzmannMachine's training epochs (default: 20, its default)",
    )
    parser.add_argument(
        "--random-state",
        type=_int_at_least(0),
        default=0,
        metavar="SEED",
        help="seed of the split and of both RBMs (default: 0)",
    )
    return parser


def _sweep(rbm, X_train, X_test, y_train, y_test, n_pixels, f1_at_1):
    print(
        "\nTemperature sweep: the trained BoltzmannMachine's features P(h=1|v) "
        "read out at T\n"
        "  T      entropy/unit  saturated  pseudo-LL/pixel  macro F1"
    )
    rows = []
    for T in TEMPERATURES:
        rbm.set_params(temperature=T)
        H = rbm.transform(X_test)
        # binary entropy of each hidden unit, in bits: logits -> 2-state softmax
        p = np.clip(H.astype(np.float64), 1e-300, 1 - 1e-16)
        logits = np.stack([np.zeros_like(p), np.log(p) - np.log1p(-p)])
        bits = float(ops.entropy(logits, axis=0).mean() / np.log(2))
        saturated = float(np.mean((H < 0.05) | (H > 0.95)))
        pll = float(rbm.pseudo_log_likelihood(X_test).mean() / n_pixels)
        f1 = (  # T = 1 was scored above
            f1_at_1
            if T == 1.0
            else _macro_f1(rbm.transform(X_train), H, y_train, y_test)
        )
        rows.append((T, bits, saturated, pll, f1))
        print(f"  {T:<5g}  {bits:12.3f}  {saturated:9.3f}  {pll:15.3f}  {f1:8.4f}")
    rbm.set_params(temperature=1.0)
    return rows


def _sweep_summary(rows):
    """What the sweep's own numbers say, in words."""
    (t_lo, e_lo, s_lo, _, _), (t_hi, e_hi, s_hi, _, _) = rows[0], rows[-1]
    softer = "rises" if e_hi > e_lo else "does not rise"
    t_pll = max(rows, key=lambda r: r[3])[0]
    t_f1 = max(rows, key=lambda r: r[4])[0]
    lines = [
        f"From T = {t_lo:g} to T = {t_hi:g} the entropy per hidden unit {softer} "
        f"({e_lo:.3f} to {e_hi:.3f} bits)",
        f"and the fraction of saturated features goes from {s_lo:.3f} to {s_hi:.3f}: "
        "colder features are harder (0/1), hotter ones softer (near 0.5).",
        f"The pseudo-likelihood of the test images is highest at T = {t_pll:g}"
        + (" (the temperature the model was trained at)." if t_pll == 1 else "."),
    ]
    if t_f1 == 1:
        lines.append(
            "LogisticRegression scores best on the features read at the training "
            "temperature, T = 1."
        )
    else:
        kind = "hotter (softer)" if t_f1 > 1 else "colder (harder)"
        lines.append(
            f"LogisticRegression scores best on features read at T = {t_f1:g}, "
            f"{kind} than the training temperature"
        )
        lines.append(
            "(of those tried): what serves a linear classifier is not what the "
            "model was trained for.\nset_params(temperature=...) reads a fitted "
            "model at another temperature; refitted at each one (as GridSearchCV "
            "does),\nthe temperature acts as a weight penalty instead (user guide: "
            "temperature at fit time)."
        )
    print("\n" + "\n".join(lines))


def main(argv=None):
    args = _parser().parse_args(argv)
    X, y = nudged_digits()
    X = X.astype(np.float32)  # both RBMs and the classifier keep float32
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=args.random_state
    )
    print(
        f"nudged digits: {X_train.shape[0]} train and {X_test.shape[0]} test images "
        f"of {X.shape[1]} pixels\n"
    )

    begin = time.perf_counter()
    ours = BoltzmannMachine(
        n_components=args.n_components,
        max_iter=args.max_iter,
        random_state=args.random_state,
        verbose=1,
    ).fit(X_train)
    fit_ours = time.perf_counter() - begin
    begin = time.perf_counter()
    theirs = BernoulliRBM(
        n_components=args.n_components, random_state=args.random_state
    ).fit(X_train)
    fit_theirs = time.perf_counter() - begin
    print(
        f"\nBoltzmannMachine trained in {fit_ours:.1f}s, "
        f"BernoulliRBM in {fit_theirs:.1f}s"
    )

    scores = {
        "raw pixels": _macro_f1(X_train, X_test, y_train, y_test),
        "BernoulliRBM features": _macro_f1(
            theirs.transform(X_train), theirs.transform(X_test), y_train, y_test
        ),
        "BoltzmannMachine features": _macro_f1(
            ours.transform(X_train), ours.transform(X_test), y_train, y_test
        ),
    }
    print("\nLogisticRegression, test macro F1")
    for name, value in scores.items():
        print(f"  {name:27s} {value:.4f}")
    raw = scores["raw pixels"]
    gain = scores["BoltzmannMachine features"] - raw
    versus = scores["BoltzmannMachine features"] - scores["BernoulliRBM features"]
    print(
        f"\nOn these shifted digits a linear model on pixels cannot follow a stroke "
        f"that moves;\nRBM features {'help' if gain > 0 else 'do not help'} "
        f"({gain:+.4f} over raw pixels). BoltzmannMachine's features score "
        f"{versus:+.4f}\nagainst BernoulliRBM's on this split; "
        "benchmarks/bench_features.py compares them over several."
    )
    rows = _sweep(
        ours,
        X_train,
        X_test,
        y_train,
        y_test,
        X.shape[1],
        scores["BoltzmannMachine features"],
    )
    _sweep_summary(rows)


if __name__ == "__main__":
    main()
