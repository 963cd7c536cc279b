"""Learning quality: exact held-out log-likelihood, BoltzmannMachine vs BernoulliRBM.

sklearn's digits binarised at pixel > 7, 70/30 split (random_state=0),
n_components=16, 50 epochs; the log-likelihood is exact (all 2**16 hidden
states enumerated). Both estimators at their defaults otherwise; median over
random_state 0, 1, 2. Prints nats per test image and wall time.

    python benchmarks/bench_learning.py [--epochs 50] [--seeds 0 1 2]
"""

import argparse
import time

import numpy as np
from _results import recorded
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._core.model import RBMParams, visible_free_energy
from sklearn_thermo._core.partition import log_partition_exact


def exact_loglik(components, intercept_visible, intercept_hidden, X, T=1.0):
    """Mean exact log p(x) in nats, for an RBM in BernoulliRBM's parametrisation."""
    p = RBMParams(
        np.asarray(components, np.float64),
        np.asarray(intercept_visible, np.float64),
        np.asarray(intercept_hidden, np.float64),
    )
    log_z = log_partition_exact(p, T)
    return float(np.mean(-visible_free_energy(p, X.astype(np.float64), T) / T - log_z))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-components", type=int, default=16)
    args = ap.parse_args(argv)

    X, _ = load_digits(return_X_y=True)
    X = (X > 7).astype(np.float64)
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    H = args.n_components
    print(
        f"digits > 7: {len(X_train)} train / {len(X_test)} test, n_components={H}, "
        f"{args.epochs} epochs, exact log-likelihood (2**{H} hidden states)\n"
    )
    rows = {"BoltzmannMachine (defaults)": [], "BernoulliRBM (defaults)": []}
    for seed in args.seeds:
        estimators = (
            BoltzmannMachine(n_components=H, max_iter=args.epochs, random_state=seed),
            BernoulliRBM(n_components=H, n_iter=args.epochs, random_state=seed),
        )
        results = []
        for name, est in zip(rows, estimators):
            t = time.perf_counter()
            est.fit(X_train)
            elapsed = time.perf_counter() - t
            ll = exact_loglik(
                est.components_, est.intercept_visible_, est.intercept_hidden_, X_test
            )
            rows[name].append((ll, elapsed))
            results.append(f"{name.split()[0]} {ll:8.3f} nats in {elapsed:5.2f}s")
        print(f"seed {seed}: " + " | ".join(results))
    print("\nmedian over seeds             held-out log p(x)   fit time")
    med = {}
    for name, vals in rows.items():
        ll = float(np.median([v[0] for v in vals]))
        tt = float(np.median([v[1] for v in vals]))
        med[name] = (ll, tt)
        print(f"{name:28s}  {ll:14.3f} nats  {tt:7.2f}s")
    (a, ta), (b, tb) = med.values()
    print(
        f"\ndifference: {a - b:+.3f} nats per image (target >= +1); "
        f"time ratio ours/BernoulliRBM = {ta / tb:.2f} (target <= 1)"
    )


if __name__ == "__main__":
    with recorded("bench_learning"):
        main()
