"""RBM features in a Pipeline: BoltzmannMachine vs BernoulliRBM vs raw pixels.

Three protocols, LogisticRegression on the features, test score:

- ``mnist``: binarised MNIST t10k (pixel > 127), first 8,000 rows to train,
  last 2,000 to test; 500 hidden units, 10 epochs; LogisticRegression
  (max_iter=3000); accuracy.
- ``digits``: digits / 16, 80/20 split; 256 hidden units, 30 epochs;
  LogisticRegression(max_iter=3000); accuracy.
- ``nudged``: scikit-learn's RBM example (digits plus four one-pixel shifts,
  scaled to [0, 1]; 80/20 split); each RBM at its defaults;
  LogisticRegression(C=6000) on features and C=100 on raw pixels, as the
  example sets them; macro F1. The example's ``solver="newton-cg", tol=1``
  is replaced by lbfgs run to convergence (max_iter=3000): with
  scikit-learn 1.9 that solver stops at its first check, before any step.

Each seed sets the split (digits, nudged) and every model's random_state;
the fits of the models alternate within a seed. Prints each seed's scores and
fit times, the medians, and the issue's targets; writes the table to
benchmarks/RESULTS.md and README.md.

    python benchmarks/bench_features.py --mnist ../shared/datasets/mnist-t10k
    python benchmarks/bench_features.py --protocols digits nudged --seeds 0 1 2
"""

import argparse
import os
import re
import time
import warnings

import numpy as np
from _results import machine, recorded
from bench_energy import load_mnist
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._datasets import nudged_digits

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")

#: (name, estimator factory(protocol settings, seed)); None: raw pixels
MODELS = [
    ("raw pixels", None),
    (
        "BoltzmannMachine (defaults)",
        lambda kw, seed: BoltzmannMachine(random_state=seed, **kw),
    ),
    (
        "BernoulliRBM (defaults)",
        lambda kw, seed: BernoulliRBM(random_state=seed, **_bern(kw)),
    ),
    (
        "BernoulliRBM (learning_rate=0.06)",
        lambda kw, seed: BernoulliRBM(
            learning_rate=0.06, random_state=seed, **_bern(kw, nudged_example=True)
        ),
    ),
]


def _bern(kw, nudged_example=False):
    """BoltzmannMachine's protocol settings in BernoulliRBM's names."""
    if not kw:  # nudged: the defaults, or the example's settings
        return dict(n_iter=10, n_components=100) if nudged_example else {}
    return dict(n_components=kw["n_components"], n_iter=kw["max_iter"])


def protocol(name, seed, mnist_dir):
    """(train/test split, RBM settings, classifier C for features and raw, metric)."""
    if name == "mnist":
        split = load_mnist(mnist_dir)
        return split, dict(n_components=500, max_iter=10), (1.0, 1.0), accuracy_score
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        split = train_test_split(X / 16.0, y, test_size=0.2, random_state=seed)
        return split, dict(n_components=256, max_iter=30), (1.0, 1.0), accuracy_score
    X, y = nudged_digits()
    split = train_test_split(X, y, test_size=0.2, random_state=seed)

    def macro_f1(y_true, y_pred):
        return f1_score(y_true, y_pred, average="macro")

    return split, {}, (6000.0, 100.0), macro_f1


def run(name, seeds, mnist_dir):
    scores = {m: [] for m, _ in MODELS}
    times = {m: [] for m, _ in MODELS}
    for seed in seeds:
        (X_tr, X_te, y_tr, y_te), kw, (C_feat, C_raw), metric = protocol(
            name, seed, mnist_dir
        )
        line = []
        for model, make in MODELS:
            if make is None:
                F_tr, F_te, C, elapsed = X_tr, X_te, C_raw, 0.0
            else:
                est = make(kw, seed)
                t = time.perf_counter()
                est.fit(X_tr)
                elapsed = time.perf_counter() - t
                F_tr, F_te, C = est.transform(X_tr), est.transform(X_te), C_feat
            clf = LogisticRegression(C=C, max_iter=3000)
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                clf.fit(F_tr, y_tr)
            scores[model].append(metric(y_te, clf.predict(F_te)))
            times[model].append(elapsed)
            line.append(f"{scores[model][-1]:.4f}")
        print(f"  {name} seed {seed}: " + "  ".join(line), flush=True)
    return {m: float(np.median(v)) for m, v in scores.items()}, {
        m: float(np.median(v)) for m, v in times.items()
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=None, help="folder of MNIST t10k")
    ap.add_argument(
        "--protocols",
        nargs="+",
        default=["mnist", "digits", "nudged"],
        choices=["mnist", "digits", "nudged"],
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    protocols = [p for p in args.protocols if p != "mnist" or args.mnist]
    if len(protocols) < len(args.protocols):
        print("(mnist skipped: pass --mnist FOLDER)")
    print(f"per seed, in the order: {', '.join(m for m, _ in MODELS)}")
    results = {p: run(p, args.seeds, args.mnist) for p in protocols}

    labels = {
        "mnist": "binarised MNIST, 500 units, 10 epochs (accuracy)",
        "digits": "digits / 16, 256 units, 30 epochs (accuracy)",
        "nudged": "nudged digits, RBMs at their defaults (macro F1)",
    }
    header = "| data | " + " | ".join(m for m, _ in MODELS) + " |"
    lines = [header, "|" + " --- |" * (len(MODELS) + 1)]
    for p, (score, fit_time) in results.items():
        cells = [
            f"{score[m]:.4f}" + ("" if m == "raw pixels" else f" ({fit_time[m]:.1f} s)")
            for m, _ in MODELS
        ]
        lines.append(f"| {labels[p]} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"\nmedian over random_state {args.seeds} (median fit time):\n")
    print(table)

    ours, bern = MODELS[1][0], MODELS[2][0]
    print("\ntargets (at the defaults):")
    for p, (score, _) in results.items():
        best_bern = max(score[m] for m, _ in MODELS[2:])
        note = (
            f"  {p}: ours - best BernoulliRBM = {score[ours] - best_bern:+.4f} (>= 0)"
        )
        if p == "mnist":
            ratio = (1 - score[ours]) / (1 - score["raw pixels"])
            note += f"; error / raw pixels' = {ratio:.2f} (<= 0.5)"
        if p == "nudged":
            note += f"; ours - {bern} = {score[ours] - score[bern]:+.4f} (>= +0.015)"
        print(note)
    if set(protocols) == {"mnist", "digits", "nudged"}:
        _write_readme(table, args.seeds)


def _write_readme(table, seeds):
    text = open(README).read()
    block = (
        "<!-- bench_features -->\n"
        f"Median over random_state {', '.join(map(str, seeds))} "
        "(`python benchmarks/bench_features.py --mnist "
        "../shared/datasets/mnist-t10k`; "
        f"{machine()}):\n\n{table}\n<!-- /bench_features -->"
    )
    pattern = re.compile(r"<!-- bench_features -->.*?<!-- /bench_features -->", re.S)
    if not pattern.search(text):
        print("(README.md has no bench_features block: table not written there)")
        return
    with open(README, "w") as f:
        f.write(pattern.sub(lambda _: block, text))
    print("(table written to README.md)")


if __name__ == "__main__":
    with recorded("bench_features"):
        main()
