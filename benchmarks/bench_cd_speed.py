"""Training speed: BoltzmannMachine vs sklearn's BernoulliRBM, and the GEMM rate.

One epoch of PCD-1 on 10,000 x 784 binary rows (binarised MNIST t10k when
its folder is given, else random binary data of the same shape),
n_components=500, batch_size 10 and 100, float32 and float64. Each of
``--repeats`` repeats (5; 11 with ``--busy``) measures the machine's GEMM
rate and then times both fits back to back, each after a pause of 0.3 s
(BLAS worker threads spin for about 0.1 s after a multithreaded call, and
would take a core from the next fit); the speed-up and the fraction of the
GEMM rate are the medians of the per-repeat ratios, so that the
minute-to-minute changes of a shared machine's speed cancel. Flops are
counted as 10 * V * H per sample per CD-1 update, the dense products' count:
where the core sums over the nonzero visible entries only (mostly-zero data,
batches of 100 or more) the fraction can pass 100 %. The GEMM rate is the
best of numpy's BLAS and, where that OpenBLAS runs narrower kernels than the
CPU's AVX-512, of its AVX-512 kernels (``_results.blas_kernels_override``).

    python benchmarks/bench_cd_speed.py --mnist ../shared/datasets/mnist-t10k
    python benchmarks/bench_cd_speed.py --mnist ../shared/datasets/mnist-t10k --busy

With ``--busy``, two CPU-bound background processes run (started and stopped
by the script) while ours at the default ``n_jobs``, ours at ``n_jobs=1`` and
BernoulliRBM are fitted, and the digits defaults case is added.
Results go to ``benchmarks/RESULTS.md``.
"""

import argparse
import gzip
import os
import subprocess
import sys
import time

import numpy as np
from _results import blas_kernels_override, busy_machine, machine, write_section
from sklearn.neural_network import BernoulliRBM

from sklearn_thermo import BoltzmannMachine


def load_data(mnist_dir, n=10000, n_features=784, seed=0):
    if mnist_dir:
        path = os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz")
        with gzip.open(path) as f:
            X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        return (X[:n] / 255 > 0.5).astype(np.float64), "binarised MNIST t10k"
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < 0.13).astype(np.float64), "random binary"


def _numpy_gemm_rate(dtype, n, repeats):
    """Best-of-``repeats`` FLOP/s of numpy's n x n x n matrix product."""
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


def gemm_rate(dtype, n=2048, repeats=5):
    """The machine's GEMM rate: the best-of-``repeats`` FLOP/s of an n x n x n
    matrix product by numpy's BLAS, and, where that is an OpenBLAS that chose
    narrower kernels than the CPU runs (:func:`_results.blas_kernels_override`:
    some AVX-512 CPUs get its AVX2 ones), by the same OpenBLAS told to use its
    AVX-512 kernels, in a child process; the higher of the two."""
    rate = _numpy_gemm_rate(dtype, n, repeats)
    override = blas_kernels_override()
    if override is None:
        return rate
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "from bench_cd_speed import _numpy_gemm_rate\n"
        f"print(_numpy_gemm_rate(np.{np.dtype(dtype).name}, {n}, {repeats}))\n"
    )
    env = dict(os.environ, OPENBLAS_CORETYPE=override)
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return max(rate, float(out.stdout.strip().splitlines()[-1]))


#: Pause before each timed fit (see paired_times)
_SETTLE_S = 0.3


def paired_times(makers, X, repeats, dtype, measure_gemm=True):
    """Per repeat: the GEMM rate, then one fit of each maker, back to back.

    Shared machines change speed from minute to minute (here by up to 3x), so
    ratios are taken within a repeat, between measurements seconds apart, and
    summarised by their median. Returns (times, rates): arrays of shape
    (repeats, len(makers)) and (repeats,).
    """
    times = np.empty((repeats, len(makers)))
    rates = np.empty(repeats)
    for r in range(repeats):
        rates[r] = gemm_rate(dtype, repeats=2) if measure_gemm else np.nan
        # alternate the order: the second of two back-to-back runs was seen
        # to be systematically slower (or faster) by several per cent
        order = range(len(makers)) if r % 2 == 0 else reversed(range(len(makers)))
        for i in order:
            make = makers[i]
            est = make()
            # OpenBLAS's worker threads spin for about 0.1 s after a
            # multithreaded call (its THREAD_TIMEOUT) and take a core from
            # whatever runs next: without a pause, each fit would run beside
            # the spinning threads of the GEMM-rate measurement or of the
            # other estimator's fit
            time.sleep(_SETTLE_S)
            t = time.perf_counter()
            est.fit(X)
            times[r, i] = time.perf_counter() - t
    return times, rates


def _ours(H, bs, n_jobs):
    def make():
        return BoltzmannMachine(
            n_components=H,
            method="pcd",
            n_gibbs_steps=1,
            batch_size=bs,
            learning_rate=0.01,
            max_iter=1,
            n_jobs=n_jobs,
            random_state=0,
        )

    return make


def _ref(H, bs):
    def make():
        return BernoulliRBM(
            n_components=H, batch_size=bs, learning_rate=0.01, n_iter=1, random_state=0
        )

    return make


def quiet(X64, args, lines):
    n, V = X64.shape
    H = args.n_components
    flops_per_sample = 10 * V * H
    lines += [
        "| dtype | batch | ours | BernoulliRBM | speed-up | fraction of GEMM rate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for dt in (np.float32, np.float64):
        X = X64.astype(dt)
        for bs in args.batch_sizes:
            times, rates_r = paired_times(
                [_ours(H, bs, args.n_jobs), _ref(H, bs)], X, args.repeats, dt
            )
            t_ours, t_ref = np.median(times, axis=0)
            speedup = np.median(times[:, 1] / times[:, 0])
            frac = np.median(n * flops_per_sample / times[:, 0] / rates_r)
            lines.append(
                f"| {np.dtype(dt).name} | {bs} | {t_ours:.3f} s | "
                f"{t_ref:.3f} s | {speedup:.2f}x | {frac:.1%} |"
            )
            print(lines[-1], flush=True)


def busy(X64, args, lines):
    """Two CPU-bound background processes: ours at the default n_jobs, ours at
    n_jobs=1 and BernoulliRBM, alternated; then the digits defaults case."""
    from sklearn.datasets import load_digits

    H = args.n_components
    X = X64.astype(np.float32)
    digits = load_digits().data / 16
    lines += [
        "| case | ours, default n_jobs | ours, n_jobs=1 | BernoulliRBM | "
        "default / n_jobs=1 | BernoulliRBM / ours |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    cases = [
        (
            f"MNIST, float32, batch {bs}, 1 epoch PCD-1",
            X,
            [_ours(H, bs, None), _ours(H, bs, 1), _ref(H, bs)],
        )
        for bs in args.batch_sizes
    ]
    cases.append(
        (
            "digits / 16, BoltzmannMachine(max_iter=10) vs "
            "BernoulliRBM(256, n_iter=10)",
            digits,
            [
                lambda: BoltzmannMachine(max_iter=10, random_state=0),
                lambda: BoltzmannMachine(max_iter=10, n_jobs=1, random_state=0),
                lambda: BernoulliRBM(256, n_iter=10, random_state=0),
            ],
        )
    )
    with busy_machine(2):
        for name, data, makers in cases:
            times, _ = paired_times(
                makers, data, args.repeats, np.float32, measure_gemm=False
            )
            t = np.median(times, axis=0)
            r_jobs = np.median(times[:, 0] / times[:, 1])
            r_ref = np.median(times[:, 2] / times[:, 0])
            lines.append(
                f"| {name} | {t[0]:.3f} s | {t[1]:.3f} s | {t[2]:.3f} s | "
                f"{r_jobs:.2f}x | {r_ref:.2f}x |"
            )
            print(lines[-1], flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--mnist", default=None, help="folder with t10k-images-idx3-ubyte.gz"
    )
    ap.add_argument("--n-components", type=int, default=500)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[10, 100])
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats (default 5; 11 with --busy, where one fit's time "
        "scatters by up to 2x from one repeat to the next)",
    )
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument(
        "--busy",
        action="store_true",
        help="run under two CPU-bound background processes",
    )
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 11 if args.busy else 5

    X64, source = load_data(args.mnist)
    n, V = X64.shape
    print(
        f"data: {source}, {n} x {V}; n_components={args.n_components}; 1 epoch of PCD-1"
    )
    print(machine(), "\n")
    lines = []
    if args.busy:
        lines.append(
            f"Busy machine (two CPU-bound background processes), {source}, "
            f"n_components={args.n_components}; medians over "
            f"{args.repeats} repeats, ratios are medians of per-repeat "
            "ratios, fits alternated.\n"
        )
        busy(X64, args, lines)
        write_section(
            "CD speed, busy machine",
            "\n".join(lines),
            "python benchmarks/bench_cd_speed.py --busy " + _data_arg(args),
        )
        return
    rates = {dt: gemm_rate(dt) for dt in (np.float32, np.float64)}
    lines.append(
        f"Quiet machine, {source} ({n} x {V}), n_components="
        f"{args.n_components}, one epoch of PCD-1; GEMM rate "
        f"{rates[np.float32] / 1e9:.0f} GFLOP/s float32, "
        f"{rates[np.float64] / 1e9:.0f} float64 (measured again before "
        f"each repeat); 10 V H flops per sample; each fit after a "
        f"{_SETTLE_S} s pause; medians over {args.repeats} repeats.\n"
    )
    quiet(X64, args, lines)
    write_section(
        "CD speed, quiet machine",
        "\n".join(lines),
        "python benchmarks/bench_cd_speed.py " + _data_arg(args),
    )


def _data_arg(args):
    return f"--mnist {args.mnist}" if args.mnist else ""


if __name__ == "__main__":
    main()
