"""Training speed: BoltzmannMachine vs sklearn's BernoulliRBM, and the GEMM rate.

One epoch of PCD-1 on 10,000 x 784 binary rows (binarised MNIST t10k when
its folder is given, else random binary data of the same shape),
n_components=500, batch_size 10 and 100, float32 and float64. Each of
``--repeats`` repeats measures the machine's GEMM rate and then times both
fits back to back; the speed-up and the fraction of the GEMM rate are the
medians of the per-repeat ratios, so that the minute-to-minute changes of a
shared machine's speed cancel. Flops are counted as 10 * V * H per sample per
CD-1 update.

    python benchmarks/bench_cd_speed.py --mnist ../shared/datasets/mnist-t10k
"""

import argparse
import gzip
import os
import time

import numpy as np
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_info

from sklearn_thermo import BoltzmannMachine


def load_data(mnist_dir, n=10000, n_features=784, seed=0):
    if mnist_dir:
        path = os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")
        with gzip.open(path) as f:
            X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        return (X[:n] / 255 > 0.5).astype(np.float64), "binarised MNIST t10k"
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < 0.13).astype(np.float64), "random binary"


def gemm_rate(dtype, n=2048, repeats=5):
    """Best-of-``repeats`` FLOP/s of an n x n x n matrix product."""
    rng = np.random.default_rng(0)
    A = rng.random((n, n)).astype(dtype)
    B = rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    np.matmul(A, B, out=C)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(A, B, out=C)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def paired_times(makers, X, repeats, dtype):
    """Per repeat: the GEMM rate, then one fit of each maker, back to back.

    Shared machines change speed from minute to minute (here by up to 3x), so
    ratios are taken within a repeat, between measurements seconds apart, and
    summarised by their median. Returns (times, rates): arrays of shape
    (repeats, len(makers)) and (repeats,).
    """
    times = np.empty((repeats, len(makers)))
    rates = np.empty(repeats)
    for r in range(repeats):
        rates[r] = gemm_rate(dtype, repeats=2)
        # alternate the order: the second of two back-to-back runs was seen
        # to be systematically slower (or faster) by several per cent
        order = range(len(makers)) if r % 2 == 0 else reversed(range(len(makers)))
        for i in order:
            make = makers[i]
            est = make()
            t = time.perf_counter()
            est.fit(X)
            times[r, i] = time.perf_counter() - t
    return times, rates


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mnist", default=None,
                    help="folder with t10k-images-idx3-ubyte.gz")
    ap.add_argument("--n-components", type=int, default=500)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=None)
    args = ap.parse_args(argv)

    X64, source = load_data(args.mnist)
    n, V = X64.shape
    H = args.n_components
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"data: {source}, {n} x {V}; n_components={H}; 1 epoch of PCD-1")
    print(f"cores: {os.cpu_count()}; BLAS: {blas}\n")
    rates = {dt: gemm_rate(dt) for dt in (np.float32, np.float64)}
    for dt, r in rates.items():
        print(f"GEMM rate {np.dtype(dt).name}: {r / 1e9:7.1f} GFLOP/s")
    print()
    header = (f"{'dtype':8s} {'batch':>5s} {'ours s':>8s} {'sklearn s':>9s} "
              f"{'ours samples/s':>15s} {'speed-up':>8s} {'GEMM frac':>9s}")
    print(header)
    print("-" * len(header))
    flops_per_sample = 10 * V * H
    for dt in (np.float32, np.float64):
        X = X64.astype(dt)
        for bs in args.batch_sizes:
            def ours(bs=bs):
                return BoltzmannMachine(
                    n_components=H, method="pcd", n_gibbs_steps=1, batch_size=bs,
                    learning_rate=0.01, max_iter=1, n_jobs=args.n_jobs,
                    random_state=0,
                )

            def ref(bs=bs):
                return BernoulliRBM(n_components=H, batch_size=bs, learning_rate=0.01,
                                    n_iter=1, random_state=0)

            times, rates_r = paired_times([ours, ref], X, args.repeats, dt)
            t_ours, t_ref = np.median(times, axis=0)
            speedup = np.median(times[:, 1] / times[:, 0])
            frac = np.median(n * flops_per_sample / times[:, 0] / rates_r)
            print(f"{np.dtype(dt).name:8s} {bs:5d} {t_ours:8.3f} {t_ref:9.3f} "
                  f"{n / t_ours:15.0f} {speedup:7.2f}x {frac:8.1%}", flush=True)
    print("\n(medians over repeats; speed-up and GEMM fraction are medians of "
          "per-repeat ratios, each repeat measuring the GEMM rate, then both fits)")


if __name__ == "__main__":
    main()
