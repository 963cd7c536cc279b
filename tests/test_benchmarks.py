"""Smoke tests of the benchmarks' own helpers that reach into the package's
private core (run by hand, they would otherwise find its changes late)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))


def test_bench_sandwich_anneals_as_the_package_does():
    bench_sandwich = pytest.importorskip("bench_sandwich")
    from sklearn_thermo import BoltzmannMachine
    from sklearn_thermo._datasets import bars_and_stripes

    X = np.tile(bars_and_stripes(3), (5, 1))
    rbm = BoltzmannMachine(6, max_iter=20, random_state=0).fit(X)
    exact = rbm.log_partition("exact")
    betas = np.linspace(0, 1, 300)
    log_z, _, final, log_w = bench_sandwich._anneal(rbm, betas, 40, 0)
    assert np.isfinite(log_w).all() and final.shape == (40, X.shape[1])
    assert abs(log_z - exact) < 0.5
    # reverse (betas from 1 down) from the forward run's last states: near it
    # too, its upper end above its estimate
    back, upper, _, _ = bench_sandwich._anneal(
        rbm, np.linspace(1, 0, 300), 40, 1, v0=final
    )
    assert abs(back - exact) < 0.5 and upper >= back


@pytest.mark.parametrize(
    "flags, cores, expected",
    [
        (["avx2", "avx512f"], {"haswell"}, "SkylakeX"),  # AVX2 kernels on AVX-512
        (["avx2", "avx512f"], {"skylakex"}, None),
        (["avx2", "avx512f"], {"haswell", "cooperlake"}, None),
        (["avx2"], {"haswell"}, None),
        (["avx2", "avx512f"], set(), None),  # no OpenBLAS: nothing to override
    ],
)
def test_gemm_rate_times_avx512_kernels_only_where_openblas_skips_them(
    monkeypatch, flags, cores, expected
):
    _results = pytest.importorskip("_results")
    monkeypatch.setattr(_results, "_cpu_flags", lambda: flags)
    monkeypatch.setattr(_results, "_openblas_cores", lambda: cores)
    assert _results.blas_kernels_override() == expected
