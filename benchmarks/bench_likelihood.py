"""Held-out log-likelihood of CD-1, CD-10, PCD and PT at equal wall time.

Binarised MNIST t10k (pixels / 255 > 0.5), first 8,000 rows train, last 2,000
test, n_components=500. Each method gets the same training-time budget: one
epoch is timed (the fastest of three, since shared machines slow down at
times), then the number of epochs is set to fill the budget; the table shows
the time each fit actually took. The
held-out mean log p(x) uses log Z from annealed importance sampling (100
chains x 10,000 betas by default): the forward estimate (an upper estimate of
log p(x) in expectation), and the interval that
``log_partition(return_bounds=True)``'s sandwich gives (forward AIS below log
Z, reverse AIS above it). The long fits' models are sharp, and their intervals
stay wide at the default budget: ``--n-betas`` and ``--n-chains`` raise it (the
remedies ``log_partition``'s warning names, in that order).

    python benchmarks/bench_likelihood.py ../shared/datasets/mnist-t10k [--budget 60]
        [--n-betas 30000] [--n-chains 300]
"""

import argparse
import gzip
import os
import time
import warnings

import numpy as np
from _results import recorded

from sklearn_thermo import BoltzmannMachine

METHODS = {
    "CD-1": dict(method="cd", n_gibbs_steps=1),
    "CD-10": dict(method="cd", n_gibbs_steps=10),
    "PCD-1": dict(method="pcd", n_gibbs_steps=1),
    "PT-1 (10 temperatures)": dict(method="pt", n_gibbs_steps=1),
}


def _parser():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mnist", help="folder with t10k-images-idx3-ubyte.gz")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per method")
    ap.add_argument("--n-betas", type=int, default=10000)
    ap.add_argument("--n-chains", type=int, default=100)
    ap.add_argument("--n-components", type=int, default=500)
    return ap


def main(argv=None):
    args = _parser().parse_args(argv)

    with gzip.open(os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz")) as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    X = (X / 255 > 0.5).astype(np.float32)
    train, test = X[:8000], X[8000:]
    print(
        f"binarised MNIST t10k: {len(train)} train / {len(test)} test, "
        f"n_components={args.n_components}, {args.budget:.0f} s of training each, "
        f"AIS {args.n_chains} chains x {args.n_betas} betas\n"
    )
    print(
        f"{'method':24s} {'epochs':>6s} {'train s':>8s} {'test log p(x)':>14s} "
        f"{'sandwich':>18s} {'width':>6s} {'train log p(x)':>15s} {'AIS s':>6s}"
    )
    for name, kw in METHODS.items():
        per_epoch = np.inf
        for _ in range(3):
            t = time.perf_counter()
            BoltzmannMachine(args.n_components, max_iter=1, random_state=0, **kw).fit(
                train
            )
            per_epoch = min(per_epoch, time.perf_counter() - t)
        epochs = max(1, int(args.budget / per_epoch))
        t = time.perf_counter()
        rbm = BoltzmannMachine(
            args.n_components, max_iter=epochs, random_state=0, **kw
        ).fit(train)
        elapsed = time.perf_counter() - t
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a wide sandwich: shown
            log_z, lo, hi = rbm.log_partition(
                "ais",
                n_chains=args.n_chains,
                n_betas=args.n_betas,
                return_bounds=True,
                random_state=0,
            )
        ais_time = time.perf_counter() - t
        F_test = rbm.free_energy(test).mean() / rbm.temperature
        F_train = rbm.free_energy(train[:2000]).mean() / rbm.temperature
        print(
            f"{name:24s} {epochs:6d} {elapsed:8.1f} {-F_test - log_z:14.2f} "
            f"[{-F_test - hi:7.2f}, {-F_test - lo:7.2f}] {hi - lo:6.2f} "
            f"{-F_train - log_z:15.2f} {ais_time:6.0f}",
            flush=True,
        )


def _section(args):
    """RESULTS.md's section: one per AIS budget, so that a run at another
    budget does not overwrite the default run's."""
    budget = []
    if args.n_chains != 100:
        budget.append(f"{args.n_chains} chains")
    if args.n_betas != 10000:
        budget.append(f"{args.n_betas} betas")
    return ", ".join(["bench_likelihood", *budget])


if __name__ == "__main__":
    with recorded(_section(_parser().parse_args())):
        main()
