"""The AIS sandwich on models whose log Z is known, and on MNIST.

1. Sharp, multimodal models with an enumerable visible layer: bars and stripes
   (4 x 4: 30 patterns, 16 visible units; 4 x 5: 46 patterns, 20 units),
   each pattern repeated 10 times, trained by BoltzmannMachine at its defaults
   but for ``n_components``, ``method`` and 200 epochs. For each: the exact
   log Z (enumerating the visible layer), forward AIS at the defaults (100
   chains x 10,000 betas) and the sandwich ``log_partition(return_bounds=True)``,
   whether it contains the exact value, and the time.
2. With ``--mnist``: a 784 x 500 PCD model of binarised MNIST t10k (first
   8,000 rows, 10 epochs, defaults otherwise): the sandwich's two ends, its
   width and time, and the test log-likelihood interval it gives.

    python benchmarks/bench_sandwich.py [--mnist ../shared/datasets/mnist-t10k]
"""

import argparse
import time
import warnings

import numpy as np
from _results import recorded
from bench_energy import load_mnist

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._datasets import bars_and_stripes

MODELS = [  # (rows, cols, n_components, method, random_state)
    (4, 4, 64, "pcd", 0),
    (4, 4, 64, "pcd", 1),
    (4, 4, 256, "pcd", 0),
    (4, 4, 256, "pcd", 1),
    (4, 4, 256, "pt", 0),
    (4, 5, 64, "pcd", 0),
    (4, 5, 500, "pcd", 0),
]


def sandwich(rbm, **kw):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # wide: reported below
        est, lo, hi = rbm.log_partition("ais", return_bounds=True, **kw)
    return est, lo, hi, time.perf_counter() - t


def sharp_models(epochs, n_betas):
    print(
        f"bars and stripes, 10 copies of each pattern, {epochs} epochs; AIS with "
        f"100 chains x {n_betas} betas\n"
    )
    print(
        "  model                    exact   forward (error)     sandwich          "
        "width  contains  time"
    )
    errors, contained = [], 0
    for rows, cols, H, method, seed in MODELS:
        X = np.tile(bars_and_stripes(rows, cols), (10, 1))
        rbm = BoltzmannMachine(H, method=method, max_iter=epochs, random_state=seed)
        rbm.fit(X)
        exact = rbm.log_partition("exact")
        est, lo, hi, t = sandwich(rbm, n_betas=n_betas, random_state=0)
        ok = lo <= exact <= hi
        contained += ok
        errors.append(est - exact)
        name = f"{rows}x{cols} H={H} {method} rs={seed}"
        print(
            f"  {name:22s} {exact:7.2f}   {est:7.2f} ({est - exact:+6.2f})  "
            f"[{lo:7.2f}, {hi:7.2f}]  {hi - lo:5.2f}  {str(ok):8s}  {t:5.1f}s",
            flush=True,
        )
    worst = max(abs(e) for e in errors)
    print(
        f"\nsandwich contains the exact value on {contained}/{len(MODELS)} models "
        f"(target: all); forward AIS within 0.5 nats on "
        f"{sum(abs(e) <= 0.5 for e in errors)}/{len(MODELS)} (target: all; worst "
        f"{worst:.2f} nats)"
    )


def mnist(folder, n_betas):
    train, test = load_mnist(folder)[:2]
    t = time.perf_counter()
    rbm = BoltzmannMachine(500, max_iter=10, random_state=0).fit(train)
    print(
        f"\nbinarised MNIST t10k, 784 x 500, PCD, 10 epochs on 8,000 rows "
        f"({time.perf_counter() - t:.0f} s to train)"
    )
    est, lo, hi, t = sandwich(rbm, n_betas=n_betas, random_state=0)
    F = rbm.free_energy(test).astype(np.float64).mean()
    print(
        f"  log Z: forward {est:.2f}, sandwich [{lo:.2f}, {hi:.2f}], width "
        f"{hi - lo:.2f} nats (target <= 2) in {t:.0f} s (target <= 600 s)\n"
        f"  test log p(x): between {-F - hi:.2f} and {-F - lo:.2f} nats "
        f"(forward estimate {-F - est:.2f})"
    )


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=None)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--betas", type=int, default=10000)
    ap.add_argument("--skip-sharp", action="store_true")
    return ap.parse_args(argv)


def main(args):
    if not args.skip_sharp:
        sharp_models(args.epochs, args.betas)
    if args.mnist:
        mnist(args.mnist, args.betas)


if __name__ == "__main__":
    args = parse()
    # the MNIST case alone at another budget gets a section of its own
    section = (
        f"bench_sandwich, MNIST at {args.betas:,} betas"
        if args.skip_sharp
        else "bench_sandwich"
    )
    with recorded(section):
        main(args)
