"""The compiled kernels of the CD core against slow, obviously correct numpy."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn_thermo._core._kernels import half_step, weight_step
from threadpoolctl import threadpool_limits

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_half_step(
    P0, bias, X, M, transpose_m, alpha, T, beta, scales, sample_from, n_labels, gaussian
):
    """The deterministic part of a half-step, in float64: (P, pre)."""
    M = M.astype(float)
    prod = (
        P0.astype(float)
        if X is None
        else alpha * X.astype(float) @ (M.T if transpose_m else M)
    )
    pre = prod + bias
    b = np.ones(len(pre)) if beta is None else beta.astype(float)
    units = pre.shape[1] - n_labels
    P = pre.copy()
    if not gaussian:
        P[:, :units] = _sigmoid(b[:, None] * pre[:, :units] / T)
    if n_labels:
        z = b[:, None] * pre[:, units:] / T
        z = np.exp(z - z.max(axis=1, keepdims=True))
        P[:, units:] = z / z.sum(axis=1, keepdims=True)
    P[:sample_from] *= scales[0]
    P[sample_from:] *= scales[1]
    return P, pre


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 20, 33, 100])
@pytest.mark.parametrize("transpose_m", [True, False])
@pytest.mark.parametrize("scratch", [False, True])
def test_half_step_matches_its_formula(dtype, n, transpose_m, scratch):
    rng = np.random.default_rng(n)
    k, width = 30, 70
    X = (rng.random((n, k)) < 0.5).astype(dtype)
    M = rng.normal(0, 0.5, (width, k) if transpose_m else (k, width)).astype(dtype)
    bias = rng.normal(0, 1, width).astype(dtype)
    beta = rng.uniform(0.2, 1, n).astype(dtype)
    P = np.empty((n, width), dtype)
    pre = np.empty_like(P)
    sf = n // 3
    S = np.empty((n - sf, width), dtype)
    half_step(
        P,
        bias,
        X=X,
        M=M,
        transpose_m=transpose_m,
        alpha=0.8,
        temperature=0.7,
        beta=beta,
        pre=pre,
        S=S,
        sample_from=sf,
        scale_first=2.0,
        scale_rest=-0.5,
        key=3,
        n_blocks=4,
        scratch=np.full(n * width + 5, np.nan, dtype) if scratch else None,
    )
    P_ref, pre_ref = reference_half_step(
        None, bias, X, M, transpose_m, 0.8, 0.7, beta, (2.0, -0.5), sf, 0, False
    )
    np.testing.assert_allclose(P, P_ref, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(pre, pre_ref, rtol=TOL[dtype], atol=TOL[dtype])
    assert P.dtype == dtype and set(np.unique(S)) <= {0.0, 1.0}


@pytest.mark.parametrize("dtype", DTYPES)
def test_label_group_is_a_softmax_with_one_hot_draws(dtype):
    rng = np.random.default_rng(0)
    n, units, K = 40_000, 5, 4
    bias = np.concatenate([rng.normal(size=units), np.log([1, 2, 3, 4])]).astype(dtype)
    P = np.zeros((n, units + K), dtype)
    S = np.empty_like(P)
    pre = np.empty_like(P)
    half_step(P, bias, S=S, pre=pre, n_labels=K, temperature=1.0, key=5)
    P_ref, _ = reference_half_step(
        np.zeros((n, units + K)),
        bias,
        None,
        np.zeros((1, 1)),
        False,
        1.0,
        1.0,
        None,
        (1, 1),
        0,
        K,
        False,
    )
    np.testing.assert_allclose(P, P_ref, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(pre, np.broadcast_to(bias, P.shape), rtol=1e-6)
    labels = S[:, units:]
    assert (labels.sum(axis=1) == 1).all() and set(np.unique(labels)) == {0, 1}
    np.testing.assert_allclose(
        labels.mean(axis=0), np.arange(1, 5) / 10, atol=4 * np.sqrt(0.25 / n)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_draws_have_the_given_probabilities(dtype):
    # p = 0 and p = 1 exact, the rest within sampling error; a strided output
    # works, and the columns are independent draws
    probs = np.array([0.0, 1e-3, 0.3, 0.5, 0.9, 1.0])
    with np.errstate(divide="ignore"):
        logits = np.log(probs) - np.log1p(-probs)
    n = 200_000
    P = np.zeros((n, len(probs)), dtype)
    S = np.full((n, len(probs) + 2), -1.0, dtype)
    half_step(P, logits.astype(dtype), S=S[:, :-2], key=11, n_blocks=1)
    assert (S[:, -2:] == -1).all()  # columns outside the view untouched
    assert set(np.unique(S[:, :-2])) <= {0.0, 1.0}
    freq = S[:, :-2].mean(axis=0)
    assert freq[0] == 0 and freq[-1] == 1
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / n))
    assert abs(np.corrcoef(S[:, 2], S[:, 3])[0, 1]) < 0.02
    # successive rows are independent too
    assert abs(np.corrcoef(S[1:, 3], S[:-1, 3])[0, 1]) < 0.02


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_draws_have_mean_and_variance_t_over_beta(dtype):
    n = 100_000
    bias = np.array([0.0, 1.5, -2.0], dtype)
    beta = np.where(np.arange(n) < n // 2, 1.0, 0.25).astype(dtype)
    P = np.zeros((n, 3), dtype)
    S = np.empty_like(P)
    half_step(P, bias, S=S, gaussian=True, temperature=2.0, beta=beta, key=13)
    np.testing.assert_array_equal(P, np.broadcast_to(bias, P.shape))
    for rows, var in ((slice(0, n // 2), 2.0), (slice(n // 2, n), 8.0)):
        s = S[rows].astype(float)
        np.testing.assert_allclose(
            s.mean(axis=0), bias, atol=5 * np.sqrt(var / s.shape[0])
        )
        np.testing.assert_allclose(s.var(axis=0), var, rtol=0.03)
    # normal tails, not just the right variance
    z = (S[: n // 2] - bias) / np.sqrt(2.0)
    tail = 0.0027  # P(|z| > 3) of a standard normal
    assert abs(np.mean(np.abs(z) > 3) - tail) < 5 * np.sqrt(tail / z.size)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_depend_on_the_key_not_on_threads(dtype):
    rng = np.random.default_rng(1)
    n, k, width = 64, 50, 256
    X = (rng.random((n, k)) < 0.5).astype(dtype)
    M = rng.normal(0, 0.3, (width, k)).astype(dtype)
    bias = rng.normal(0, 1, width).astype(dtype)

    def run(key, threads):
        P = np.empty((n, width), dtype)
        S = np.empty_like(P)
        with threadpool_limits(1, user_api="blas"):
            half_step(
                P,
                bias,
                X=X,
                M=M,
                transpose_m=True,
                S=S,
                key=key,
                n_blocks=8,
                n_threads=threads,
            )
        return P, S

    P1, S1 = run(7, 1)
    for threads in (2, 3, 4):
        P2, S2 = run(7, threads)
        np.testing.assert_array_equal(P1, P2)
        np.testing.assert_array_equal(S1, S2)
    _, S3 = run(8, 1)
    assert np.mean(S1 != S3) > 0.2  # another key: other draws


def reference_weight_step(Vs, Hs, W, vW, c, vc, momentum, shrink):
    vW = momentum * vW.astype(float) + Hs.astype(float).T @ Vs.astype(float)
    vW -= shrink * W.astype(float)
    vc = momentum * vc.astype(float) + Hs.astype(float).sum(axis=0)
    return W + vW, vW, c + vc, vc


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_weight_step_matches_its_formula(dtype, threads):
    rng = np.random.default_rng(2)
    m, H, V = 24, 37, 29
    Vs = rng.random((m, V)).astype(dtype)
    Hs = rng.normal(0, 0.1, (m, H)).astype(dtype)
    # W and vW as column blocks of wider arrays (label columns after them)
    W_full = rng.normal(0, 1, (H, V + 3)).astype(dtype)
    vW_full = rng.normal(0, 0.1, (H, V + 3)).astype(dtype)
    c, vc = rng.normal(size=H).astype(dtype), rng.normal(size=H).astype(dtype)
    expected = reference_weight_step(
        Vs, Hs, W_full[:, :V], vW_full[:, :V], c, vc, 0.9, 1e-3
    )
    labels_before = W_full[:, V:].copy(), vW_full[:, V:].copy()
    with threadpool_limits(1, user_api="blas"):
        weight_step(
            Vs,
            Hs,
            W_full[:, :V],
            vW_full[:, :V],
            c,
            vc,
            momentum=0.9,
            shrink=1e-3,
            n_blocks=4,
            n_threads=threads,
        )
    for got, want in zip((W_full[:, :V], vW_full[:, :V], c, vc), expected):
        np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_array_equal(W_full[:, V:], labels_before[0])
    np.testing.assert_array_equal(vW_full[:, V:], labels_before[1])


def test_weight_step_without_momentum_ignores_old_velocity():
    # momentum 0: a non-finite old velocity must not leak into the step
    W = np.zeros((4, 3))
    vW = np.full((4, 3), np.nan)
    c, vc = np.zeros(4), np.zeros(4)
    weight_step(
        np.ones((2, 3)), np.ones((2, 4)), W, vW, c, vc, momentum=0.0, shrink=0.0
    )
    np.testing.assert_array_equal(W, 2.0)


def test_kernels_refuse_mixed_dtypes_and_bad_shapes():
    P = np.zeros((3, 4), np.float32)
    with pytest.raises((TypeError, ValueError)):
        half_step(P, np.zeros(4, np.float64))
    with pytest.raises(ValueError, match="bias"):
        half_step(P, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="shapes"):
        half_step(
            P,
            np.zeros(4, np.float32),
            X=np.zeros((3, 2), np.float32),
            M=np.zeros((4, 3), np.float32),
            transpose_m=True,
        )
    with pytest.raises(ValueError, match="adjacent columns"):
        half_step(np.zeros((4, 3), np.float32).T, np.zeros(4, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [0.01, 1.0, 7.0])
def test_compiled_activations_agree_with_ops(dtype, T):
    # the kernels' own sigmoid and label softmax are the package's operators:
    # the same values to rounding, the same saturation, over extreme inputs
    from sklearn_thermo import ops

    x = np.concatenate(
        [
            np.linspace(-200, 200, 401),
            [-1e4, 1e4, -88.8, 88.8, -745.0, 745.0, 0.0, 1e-30],
        ]
    )
    x = x.astype(dtype)
    P = np.tile(x, (3, 1))
    half_step(
        P,
        np.zeros(len(x), dtype),
        X=None,
        M=None,
        transpose_m=False,
        temperature=T,
        key=1,
        n_blocks=1,
    )
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P[0], ops.sigmoid(x, T), rtol=0, atol=TOL[dtype])
    K = 5
    Z = np.random.default_rng(0).normal(0, 50, (20, K)).astype(dtype)
    P = Z.copy()
    half_step(
        P,
        np.zeros(K, dtype),
        X=None,
        M=None,
        transpose_m=False,
        temperature=T,
        n_labels=K,
        key=1,
        n_blocks=1,
    )
    np.testing.assert_allclose(P, ops.softmax(Z, T, axis=1), rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=TOL[dtype])


# ---------------------------------------------------------------------------
# AIS's products: weights packed once (float32), else BLAS
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize(
    "N, K, m",
    [
        (1, 1, 1),
        (15, 3, 5),
        (16, 7, 6),
        (17, 5, 7),
        (33, 64, 13),
        (32, 11, 12),
        (48, 20, 24),
        (65, 9, 25),
        (501, 784, 50),
    ],
)
def test_packed_product_matches_numpy(dtype, packed, N, K, m):
    from sklearn_thermo._core._kernels import packed_product

    rng = np.random.default_rng(N + K + m)
    b = rng.normal(0, 1, (N, K)).astype(dtype)
    a = rng.normal(0, 1, (K, m)).astype(dtype)
    got = packed_product(b, a, 0.37, packed=packed)
    assert got.dtype == dtype and got.shape == (N, m)
    want = 0.37 * b.astype(float) @ a.astype(float)
    # a sum of K rounded terms: within K ulps of the sum of their magnitudes
    bound = 0.37 * np.abs(b.astype(float)) @ np.abs(a.astype(float))
    tol = K * np.finfo(dtype).eps * bound + 1e-300
    np.testing.assert_array_less(np.abs(got - want), tol)


def test_packed_product_of_a_chain_does_not_depend_on_the_others():
    """Each column is summed alone, in a fixed order: the same bits whatever
    the number of columns and the column's place among them (so AIS results
    do not depend on how the chains are split between threads)."""
    from sklearn_thermo._core._kernels import packed_gemm_used, packed_product

    if not packed_gemm_used():
        pytest.skip(
            "the packed micro-kernel does not run on this CPU or build (no AVX2 "
            "clone), so BLAS multiplies, whose bits may depend on the column count"
        )

    rng = np.random.default_rng(0)
    b = rng.normal(0, 1, (37, 300)).astype(np.float32)
    a = rng.normal(0, 1, (300, 50)).astype(np.float32)
    whole = packed_product(b, a)
    for cols in [slice(0, 1), slice(7, 20), slice(49, 50), slice(3, 50)]:
        part = packed_product(b, np.ascontiguousarray(a[:, cols]))
        np.testing.assert_array_equal(part, whole[:, cols])


_NO_PACKED = (
    "the packed micro-kernel does not run on this CPU or build (no AVX2 clone): "
    "BLAS multiplies, and binary states are never summed row by row"
)


@pytest.mark.parametrize("share", [0.0, 0.01, 0.1, 0.3, 0.6, 1.0])
@pytest.mark.parametrize("N, K, m", [(5, 3, 1), (37, 300, 50), (501, 784, 13)])
def test_summing_the_rows_of_binary_states_is_the_product_bitwise(share, N, K, m):
    """Skipping the zeros of a binary operand changes no bit (adding 1 b or
    0 b to a float sum is exact), so the kernel may choose either by cost."""
    from sklearn_thermo._core._kernels import packed_gemm_used, packed_product

    if not packed_gemm_used():
        pytest.skip(_NO_PACKED)
    rng = np.random.default_rng(m)
    b = rng.normal(0, 1, (N, K)).astype(np.float32)
    a = (rng.random((K, m)) < share).astype(np.float32)
    summed = packed_product(b, a, 0.37, binary=True)
    multiplied = packed_product(b, a, 0.37, binary=False)
    np.testing.assert_array_equal(summed, multiplied)
    np.testing.assert_allclose(summed, 0.37 * b.astype(float) @ a, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("gaussian", [False, True])
def test_ais_anneal_sums_rows_with_the_same_result(gaussian):
    """The AIS kernel with and without summing the rows of the ones: the same
    chains and weights, bitwise, on a path whose visible states are mostly
    zeros (the case the summing is for) and whose hidden states are not."""
    from sklearn_thermo._core._kernels import gather_below, packed_gemm_used

    if not packed_gemm_used():
        pytest.skip(_NO_PACKED)
    rng = np.random.default_rng(5)
    V, H, n = 70, 40, 33
    W = rng.normal(0, 0.5, (H, V))
    c, a_B, a_A = rng.normal(0, 1, H), rng.normal(-3, 1, V), rng.normal(-2, 0.5, V)
    v0 = rng.normal(0, 1, (V, n)) if gaussian else (rng.random((V, n)) < 0.1) * 1.0
    betas = np.linspace(0, 1, 80)
    runs = []
    old = gather_below()
    try:
        for share in [-1.0, 2.0, old]:  # never, always, as chosen by cost
            gather_below(share)
            run = _run_ais(v0, W, c, a_A, a_B, betas, 1.0, 7, gaussian, np.float32)
            runs.append(run)
    finally:
        gather_below(old)
    for v, log_w in runs[1:]:
        np.testing.assert_array_equal(v, runs[0][0])
        np.testing.assert_array_equal(log_w, runs[0][1])
    assert np.ptp(runs[0][1]) > 0.1
    if not gaussian:
        assert 0 < runs[0][0].mean() < 0.5


def test_packed_product_refuses_bad_shapes():
    from sklearn_thermo._core._kernels import packed_product

    with pytest.raises(ValueError, match="do not agree"):
        packed_product(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))
    empty = packed_product(np.ones((3, 0), np.float32), np.ones((0, 2), np.float32))
    np.testing.assert_array_equal(empty, np.zeros((3, 2)))


# ---------------------------------------------------------------------------
# AIS: the compiled annealing against numpy with the same counter-based draws
# ---------------------------------------------------------------------------
_M32 = np.uint64(0xFFFFFFFF)
_GAMMA = 0x9E3779B97F4A7C15


def _hash32(x):
    x = x.astype(np.uint64) & _M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _M32
    x ^= x >> np.uint64(16)
    return x


def _draws(key, shape):
    """The kernels' float64 uniforms in (0, 1] and normals, element ``e`` at
    its row-major position (``_elementwise.h``, written again in numpy)."""
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    e = np.arange(int(np.prod(shape)), dtype=np.uint64)
    hi = _hash32(_hash32((e + k0) & _M32) ^ k1)
    lo = _hash32(hi ^ k0 ^ np.uint64(0x5BD1E995))
    u = (
        (hi >> np.uint64(1)).astype(float) * 4194304.0 + (lo >> np.uint64(10)) + 1.0
    ) * 1.1102230246251565e-16
    z = np.sqrt(-2 * np.log((hi.astype(float) + 1) * 2.0**-32)) * np.cos(
        2 * np.pi * lo.astype(float) * 2.0**-32
    )
    return u.reshape(shape), z.reshape(shape)


def reference_ais(v, W, c, a_A, a_B, betas, T, key, gaussian):
    """Annealing of chains ``v`` (V x n, unit-major) in float64, plainly."""
    from sklearn_thermo._core._kernels import mix64

    v = v.astype(float).copy()
    log_w = np.zeros(v.shape[1])
    for k in range(1, len(betas)):
        b0, b1 = betas[k - 1], betas[k]
        k_up = mix64((key + (2 * k - 1) * _GAMMA) % 2**64)
        k_down = mix64((key + 2 * k * _GAMMA) % 2**64)
        x = W @ v + c[:, None]
        softplus = np.logaddexp(0, b1 * x / T) - np.logaddexp(0, b0 * x / T)
        log_w += (b1 - b0) * ((a_B - a_A) @ v) / T + softplus.sum(axis=0)
        u, _ = _draws(k_up, x.shape)
        h = (u <= _sigmoid(b1 * x / T)).astype(float)
        mean = b1 * W.T @ h + ((1 - b1) * a_A + b1 * a_B)[:, None]
        u, z = _draws(k_down, v.shape)
        v = mean + np.sqrt(T) * z if gaussian else (u <= _sigmoid(mean / T)) * 1.0
    return v, log_w


def _run_ais(v, W, c, a_A, a_B, betas, T, key, gaussian, dtype):
    from sklearn_thermo._core._kernels import ais_anneal

    v = v.astype(dtype)
    log_w = np.zeros(v.shape[1])
    with threadpool_limits(1, user_api="blas"):
        ais_anneal(
            v,
            np.vstack([W, a_B - a_A]).astype(dtype),
            np.ascontiguousarray(W.T, dtype=dtype),
            c.astype(dtype),
            a_A.astype(dtype),
            a_B.astype(dtype),
            np.ascontiguousarray(betas, float),
            log_w,
            gaussian=gaussian,
            temperature=T,
            key=key,
        )
    return v, log_w


@pytest.mark.parametrize("gaussian", [False, True])
@pytest.mark.parametrize("T", [1.0, 0.6])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_ais_anneal_matches_numpy_with_the_same_draws(gaussian, T, direction):
    rng = np.random.default_rng(3)
    V, H, n = 9, 7, 13
    W = rng.normal(0, 1.0, (H, V))
    c, a_B, a_A = rng.normal(0, 1, H), rng.normal(0, 1, V), rng.normal(0, 0.5, V)
    v0 = rng.normal(0, 1, (V, n)) if gaussian else (rng.random((V, n)) < 0.5) * 1.0
    betas = np.linspace(0, 1, 30)
    betas = betas if direction == "forward" else betas[::-1]
    want_v, want_w = reference_ais(v0, W, c, a_A, a_B, betas, T, 11, gaussian)
    got_v, got_w = _run_ais(v0, W, c, a_A, a_B, betas, T, 11, gaussian, np.float64)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-10, atol=1e-10)
    # the weights move: the test is not passing on zeros
    assert np.ptp(want_w) > 0.1


def test_ais_anneal_float32_weights_match_numpy_on_its_path():
    """float32 draws differ from float64's (24-bit uniforms), so one step at
    a time: from the same state, the float32 weight gain is the float64 one
    to float32 precision, including sharp units (|x| in the hundreds) and a
    tiny step."""
    rng = np.random.default_rng(4)
    V, H, n = 20, 30, 16
    W = rng.normal(0, 20.0, (H, V))
    c, a_B, a_A = rng.normal(0, 5, H), rng.normal(0, 1, V), rng.normal(0, 0.5, V)
    v0 = (rng.random((V, n)) < 0.5) * 1.0
    for b0, b1 in [(0.0, 1e-4), (0.5, 0.5001), (0.9999, 1.0), (0.2, 0.9)]:
        _, want = reference_ais(v0, W, c, a_A, a_B, [b0, b1], 1.0, 5, False)
        _, got = _run_ais(v0, W, c, a_A, a_B, [b0, b1], 1.0, 5, False, np.float32)
        scale = (b1 - b0) * np.abs(W @ v0 + c[:, None]).sum(axis=0) + H * 1e-6
        np.testing.assert_allclose(got, want, rtol=0, atol=(2e-6 * scale).max())


@pytest.mark.parametrize("dtype, ulps", [(np.float32, 1.5e-7), (np.float64, 3e-16)])
def test_kernel_log_is_accurate_near_one(dtype, ulps):
    from sklearn_thermo._core._kernels import elementwise

    r = np.concatenate(
        [
            np.linspace(0.5, 2, 100_001),
            1 + np.geomspace(1e-12, 0.4, 500),
            1 - np.geomspace(1e-12, 0.4, 500),
            np.nextafter([np.sqrt(0.5), np.sqrt(2.0)], [0, 0]),
            np.nextafter([np.sqrt(0.5), np.sqrt(2.0)], [2, 2]),
        ]
    ).astype(dtype)
    got = elementwise("log_near1", r)
    assert got.dtype == dtype
    want = np.log(r.astype(np.float64))
    if dtype == np.float32:
        err = np.abs(got.astype(np.float64) - want)
        assert err.max() < ulps  # about one float32 ulp of log 2
    else:  # relative to the value, against the long-double log
        want = np.log(r.astype(np.longdouble))
        err = np.abs((got - want) / np.maximum(np.abs(want), 1e-300))
        assert float(err.max()) < 4 * np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_exp_is_accurate_and_clamped(dtype):
    from sklearn_thermo._core._kernels import elementwise

    top = 87.0 if dtype == np.float32 else 707.0
    x = np.concatenate([np.linspace(-top, top, 200_001), [0.0, -1e-9, 1e-9]])
    x = x.astype(dtype)
    got = elementwise("exp", x)
    assert got.dtype == dtype
    want = np.exp(x.astype(np.longdouble))
    rel = np.abs((got - want) / want).astype(np.float64)
    assert rel.max() < 4 * np.finfo(dtype).eps
    # beyond the range: finite and normal, never inf or 0 (the sigmoids and
    # softpluses built on it stay finite)
    far = np.array([-1e4, 1e4], dtype)
    ends = elementwise("exp", far)
    with pytest.raises(ValueError, match="unknown"):
        elementwise("log", far)
    assert np.isfinite(ends).all() and (ends >= np.finfo(dtype).tiny).all()


def test_ais_anneal_refuses_bad_shapes():
    from sklearn_thermo._core._kernels import ais_anneal

    W = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shapes"):
        ais_anneal(
            np.zeros((4, 2)),
            W,
            np.zeros((4, 3)),
            np.zeros(2),
            np.zeros(4),
            np.zeros(4),
            np.linspace(0, 1, 3),
            np.zeros(2),
        )


def test_ais_anneal_without_jumps_ignores_the_jump_rows():
    # jump tables whose flags never fire: the same chains and weights, bit
    # for bit, as the kernel without them (the two extra rows enter no step)
    from sklearn_thermo._core._kernels import ais_anneal

    from sklearn_thermo._core.ais import _Jumper
    from sklearn_thermo._core.model import RBMParams

    rng = np.random.default_rng(5)
    V, H, n = 9, 7, 13
    params = RBMParams(
        rng.normal(0, 1.0, (H, V)), rng.normal(0, 1, V), rng.normal(0, 1, H)
    )
    a_A = rng.normal(0, 0.5, V)
    jumper = _Jumper(params, a_A, (rng.random((4, V)) < 0.5) * 1.0)
    v0 = (rng.random((V, n)) < 0.5) * 1.0
    betas = np.linspace(0, 1, 21)
    runs = []
    for jumps in (None, jumper):
        v, log_w = v0.copy(), np.zeros(n)
        ais_anneal(
            v,
            jumper.weights[: H + 1].copy() if jumps is None else jumper.weights,
            np.ascontiguousarray(params.W.T),
            params.hidden_bias,
            a_A,
            params.visible_bias,
            betas,
            log_w,
            key=7,
            jumps=jumps,
            jump_at=None if jumps is None else np.zeros(len(betas), np.uint8),
        )
        runs.append((v, log_w))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert np.ptp(runs[0][1]) > 0.1


def test_ais_jump_kernels_refuse_bad_input():
    from types import SimpleNamespace

    from sklearn_thermo._core._kernels import ais_anneal, ais_jump, ais_jump_draws

    V, H, n, A = 4, 3, 2, 2
    R = H + 3
    jumps = SimpleNamespace(
        anchors=np.zeros((A, V)),
        bits_t=np.zeros((V, A), np.uint8),
        anchor_words=np.zeros((A, 1), np.uint64),
        anchor_products=np.zeros((A, R)),
        anchor_dist=np.zeros((A, A), np.int32),
        anchor_sizes=np.zeros(A, np.int32),
        weights_t=np.zeros((V, R)),
        pow_r=np.ones(V + 1),
        log_odds=-1.0,
        log1m=-0.1,
    )
    args = (
        np.zeros((V, n)),
        np.zeros((R, V)),
        np.zeros((V, H)),
        np.zeros(H),
        np.zeros(V),
        np.zeros(V),
        np.linspace(0, 1, 3),
        np.zeros(n),
    )
    flags = np.zeros(3, np.uint8)
    ais_anneal(*args, jumps=jumps, jump_at=flags)  # the good input passes
    ais_jump(np.zeros((V, n)), np.zeros((R, n)), np.zeros(H), jumps, 0.5)
    with pytest.raises(ValueError, match="shapes"):
        ais_anneal(*args)  # H + 3 rows without jumps
    with pytest.raises(ValueError, match="jump_at"):
        ais_anneal(*args, jumps=jumps)
    with pytest.raises(ValueError, match="jump_at"):
        ais_anneal(*args, jumps=jumps, jump_at=flags[:2])
    with pytest.raises(ValueError, match="Bernoulli"):
        ais_anneal(*args, jumps=jumps, jump_at=flags, gaussian=True)
    for name, bad in [
        ("anchors", np.zeros((A, V + 1))),
        ("bits_t", np.zeros((V, A + 1), np.uint8)),
        ("anchor_words", np.zeros((A, 2), np.uint64)),
        ("anchor_dist", np.zeros((A, A + 1), np.int32)),
        ("weights_t", np.zeros((V, R - 1))),
        ("pow_r", np.ones(V)),
    ]:
        broken = SimpleNamespace(**{**vars(jumps), name: bad})
        with pytest.raises(ValueError, match="jump tables"):
            ais_anneal(*args, jumps=broken, jump_at=flags)
    with pytest.raises(ValueError, match="negative"):
        ais_anneal(
            *args,
            jumps=SimpleNamespace(**{**vars(jumps), "log_odds": 0.0}),
            jump_at=flags,
        )
    with pytest.raises(ValueError, match="shapes"):
        ais_jump(np.zeros((V, n)), np.zeros((R - 1, n)), np.zeros(H), jumps, 0.5)
    with pytest.raises(ValueError, match="flip"):
        ais_jump_draws(3, V, A, 0.5)
    with pytest.raises(ValueError, match="anchor"):
        ais_jump_draws(3, V, 0, 0.1)


# ---------------------------------------------------------------------------
# Fused PCD updates against numpy with the same counter-based draws
# ---------------------------------------------------------------------------
def reference_cd(
    X,
    rows,
    bounds,
    params,
    lr,
    momentum,
    shrink,
    T,
    k,
    key,
    fresh,
    gaussian=False,
    weights=None,
):
    """PCD-k (CD-k if ``fresh``) updates in float64, plainly: ``params`` is
    (W, vW, a, va, c, vc, h), ``h`` the chains' hidden states; returns the
    updated tuple (with ``fresh``, ``h`` is the last batch's chains).
    ``gaussian``: Gaussian visible units, ``v | h ~ N(a + h W, T)``.
    ``weights``: a weight per entry of ``rows``, multiplying each data row's
    statistics."""
    from sklearn_thermo._core._kernels import mix64

    W, vW, a, va, c, vc, h = (np.array(p, float) for p in params)
    C, H = h.shape
    V = W.shape[1]
    for b in range(len(bounds) - 1):
        v_pos = X[rows[bounds[b] : bounds[b + 1]]].astype(float)
        n = len(v_pos)
        w = np.ones(n) if weights is None else weights[bounds[b] : bounds[b + 1]]
        if fresh:  # chains restart at the data
            C = n
            key0 = mix64((mix64(key) + b * _GAMMA) % 2**64)
            u, _ = _draws(key0, (n, H))
            h = (u <= _sigmoid((v_pos @ W.T + c) / T)) * 1.0
        for s in range(k):
            t = b * k + s
            u, z = _draws(mix64((key + (2 * t + 1) * _GAMMA) % 2**64), (C, V))
            if gaussian:
                v_neg = h @ W + a + np.sqrt(T) * z
            else:
                v_neg = (u <= _sigmoid((h @ W + a) / T)) * 1.0
            ph = _sigmoid((v_neg @ W.T + c) / T)
            u, _ = _draws(mix64((key + (2 * t + 2) * _GAMMA) % 2**64), (C, H))
            h = (u <= ph) * 1.0
        alpha = lr / (T * n)
        hp = _sigmoid((v_pos @ W.T + c) / T) * w[:, None]
        vW = momentum * vW + alpha * (hp.T @ v_pos - n / C * ph.T @ v_neg) - shrink * W
        W = W + vW
        vc = momentum * vc + alpha * (hp.sum(0) - n / C * ph.sum(0))
        c = c + vc
        va = momentum * va + alpha * (w @ v_pos - n / C * v_neg.sum(0))
        a = a + va
    return W, vW, a, va, c, vc, h


def _fused_case(dtype, V, H, C, max_batch, sizes, seed=0, gaussian=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, V)) if gaussian else rng.random((40, V)) < 0.3
    X = X.astype(dtype)
    rows = rng.integers(0, len(X), sum(sizes)).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    params = (
        rng.normal(0, 0.5, (H, V)).astype(dtype),
        rng.normal(0, 0.01, (H, V)).astype(dtype),
        rng.normal(0, 0.5, V).astype(dtype),
        rng.normal(0, 0.01, V).astype(dtype),
        rng.normal(0, 0.5, H).astype(dtype),
        rng.normal(0, 0.01, H).astype(dtype),
        (rng.random((C, H)) < 0.5).astype(dtype),
    )
    # HT wider than the rows it holds: its rows are ldt apart
    buffers = (
        np.zeros((max_batch + C, V), dtype),
        np.empty((H, max_batch + C + 3), dtype),
    )
    return X, rows, bounds, params, buffers


def _sparse_buffers(V, H, n_rows, C, dtype, ldc_extra=2):
    """The sparse layout's work space, filled with garbage (the kernel must
    not depend on what it held)."""
    rng = np.random.default_rng(11)
    ldwt, ldh = -(-H // 16) * 16, -(-C // 16) * 16
    return (
        rng.normal(size=(V, ldwt)).astype(dtype),
        rng.normal(size=(V, ldwt)).astype(dtype),
        rng.normal(size=(n_rows, ldwt)).astype(dtype),
        rng.integers(-5, 5, (n_rows, V)).astype(np.int32),
        rng.normal(size=(n_rows, V)).astype(dtype),
        rng.integers(-5, 5, n_rows).astype(np.int32),
        rng.integers(-5, 5, (V, n_rows + ldc_extra)).astype(np.int32),
        rng.normal(size=(V, n_rows + ldc_extra)).astype(dtype),
        rng.integers(-5, 5, V).astype(np.int32),
        rng.normal(size=(H, ldh)).astype(dtype),
    )


def _run_fused(case, k, n_blocks, n_row_blocks, threads, layout="dense", **kw):
    from sklearn_thermo._core._kernels import fused_cd

    X, rows, bounds, params, buffers = case
    params = tuple(p.copy() for p in params)
    C, V = params[6].shape[0], X.shape[1]
    part = np.empty((n_blocks, C, V), X.dtype)
    if layout == "sparse":
        H = params[0].shape[0]
        kw["sparse"] = _sparse_buffers(V, H, len(buffers[0]), C, X.dtype)
        # the down products transposed, garbage beyond the chains
        part = np.random.default_rng(12).normal(size=(n_blocks, V, -(-C // 16) * 16))
        part = part.astype(X.dtype)
    fused_cd(
        X,
        rows,
        bounds,
        *params,
        *(b.copy() for b in buffers),
        part,
        n_steps=k,
        n_row_blocks=n_row_blocks,
        n_threads=threads,
        **kw,
    )
    return params


FUSED_SHAPES = [
    # V, H, C, max_batch, batch sizes, k, blocks of hidden units, of chains
    (20, 30, 7, 9, [9, 8, 3], 1, 3, 2),
    (64, 37, 10, 10, [10, 10, 10], 2, 4, 3),
    (33, 70, 5, 12, [12, 11], 3, 2, 5),  # columns beyond whole vectors
    (1, 1, 1, 1, [1, 1], 1, 1, 1),
    (100, 130, 12, 11, [11, 11], 1, 4, 4),
    # many rows (data and chains)
    (40, 50, 48, 50, [50, 49, 17], 2, 2, 8),
    (17, 9, 100, 3, [3, 2], 1, 1, 8),
    # blocks of 11 units: 6 + 5 left, whose weight step goes in tiles of 4 and
    # 1 (AVX2: 2 x 4 + 3, in tiles of 2 and 1)
    (24, 22, 60, 40, [40, 37], 1, 2, 4),
]


@pytest.fixture
def fused():
    from sklearn_thermo._core._kernels import fused_cd_available

    if not fused_cd_available():
        pytest.skip("the fused kernel needs GCC's ISA clones and AVX2 + FMA")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FUSED_SHAPES)
@pytest.mark.parametrize("narrow", [False, True], ids=["native", "avx2"])
@pytest.mark.parametrize("fresh", [False, True], ids=["pcd", "cd"])
@pytest.mark.parametrize("gaussian", [False, True], ids=["bernoulli", "gaussian"])
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_fused_cd_matches_numpy_with_the_same_draws(
    fused, dtype, shape, narrow, fresh, gaussian, layout
):
    V, H, C, mb, sizes, k, nb, nr = shape
    if fresh:  # a chain for each row of the largest batch
        C = max(C, mb)
    case = _fused_case(dtype, V, H, C, mb, sizes, gaussian=gaussian)
    if layout == "sparse" and not gaussian:
        # grey levels as well as zeros and ones: the lists carry the values
        X = case[0]
        X[::3] *= np.random.default_rng(2).random(X[::3].shape).astype(dtype)
    kw = dict(
        learning_rate=0.1,
        momentum=0.5,
        shrink=1e-3,
        temperature=1.3,
        key=99,
        narrow=narrow,
        fresh=fresh,
        gaussian=gaussian,
    )
    if layout == "sparse" and gaussian:
        with pytest.raises(ValueError, match="Bernoulli"):
            _run_fused(case, k, nb, nr, 1, layout=layout, **kw)
        return
    got = _run_fused(case, k, nb, nr, 1, layout=layout, **kw)
    X, rows, bounds, params, _ = case
    want = reference_cd(
        X, rows, bounds, params, 0.1, 0.5, 1e-3, 1.3, k, 99, fresh, gaussian
    )
    if fresh:  # the chains' rows beyond the last batch's are not compared
        got, want = got[:6] + (got[6][: sizes[-1]],), want[:6] + (want[6],)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        # float32's 24-bit uniforms draw otherwise than float64's only
        # where u is within rounding of p: not at these sizes and this seed
        np.testing.assert_allclose(g, w, rtol=0, atol=50 * TOL[dtype])
    # the chains moved (where there are enough to be sure), and the weights
    # by more than rounding
    assert params[6].size < 10 or not np.array_equal(got[6], params[6])
    assert np.abs(got[0] - params[0]).max() > 100 * TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FUSED_SHAPES[:3] + FUSED_SHAPES[5:6])
@pytest.mark.parametrize("fresh", [False, True], ids=["pcd", "cd"])
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_fused_cd_with_sample_weights_matches_numpy(fused, dtype, shape, fresh, layout):
    # each data row's statistics times its weight (the chains' unweighted);
    # the draws are the unweighted updates' own
    V, H, C, mb, sizes, k, nb, nr = shape
    if fresh:
        C = max(C, mb)
    case = _fused_case(dtype, V, H, C, mb, sizes, seed=3)
    X, rows, bounds, params, _ = case
    weights = np.random.default_rng(4).uniform(0.2, 3.0, len(rows))
    kw = dict(learning_rate=0.1, momentum=0.5, shrink=1e-3, temperature=1.3, key=7)
    got = _run_fused(
        case,
        k,
        nb,
        nr,
        2,
        layout=layout,
        fresh=fresh,
        weights=weights.astype(dtype),
        **kw,
    )
    want = reference_cd(
        X,
        rows,
        bounds,
        params,
        0.1,
        0.5,
        1e-3,
        1.3,
        k,
        7,
        fresh,
        weights=weights.astype(dtype).astype(float),
    )
    plain = reference_cd(X, rows, bounds, params, 0.1, 0.5, 1e-3, 1.3, k, 7, fresh)
    assert np.abs(want[0] - plain[0]).max() > 1e-3  # the weights matter
    for g, w in zip(got[:6], want[:6]):
        np.testing.assert_allclose(g, w, rtol=0, atol=50 * TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fresh", [False, True], ids=["pcd", "cd"])
@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_fused_cd_gives_the_same_bits_on_any_number_of_threads(
    fused, dtype, fresh, layout
):
    case = _fused_case(dtype, 70, 300, 10, 10, [10] * 6, seed=1)
    kw = dict(
        learning_rate=0.1,
        momentum=0.9,
        shrink=1e-4,
        temperature=1.0,
        key=5,
        fresh=fresh,
    )
    runs = [_run_fused(case, 2, 4, 8, t, layout=layout, **kw) for t in (1, 2, 3, 4)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fresh", [False, True], ids=["pcd", "cd"])
def test_fused_cd_sparse_calls_can_pass_their_copies_on(fused, dtype, fresh):
    # a run in three calls: copying W, vW and h in and out at every call, or
    # leaving them in the sparse layout's copies between calls (copy_in /
    # copy_out False), gives the same bits; the parameters are neither read
    # nor written while the copies hold them
    from sklearn_thermo._core._kernels import fused_cd

    V, H, C, mb = 60, 70, 12, 12
    case = _fused_case(dtype, V, H, C, mb, [12, 9] * 3, seed=9)
    X, rows, bounds, params, buffers = case
    X[...] = np.random.default_rng(10).random(X.shape) < 0.2
    kw = dict(learning_rate=0.1, momentum=0.5, shrink=1e-3, temperature=1.0)
    kw.update(n_steps=1, n_row_blocks=3, fresh=fresh)

    def run(pass_on, threads):
        p = tuple(a.copy() for a in params)
        work = tuple(b.copy() for b in buffers)
        sparse = _sparse_buffers(V, H, len(work[0]), C, dtype)
        part = np.empty((2, V, -(-C // 16) * 16), dtype)
        for c in range(3):
            r = rows[bounds[2 * c] : bounds[2 * c + 2]]
            b = bounds[2 * c : 2 * c + 3] - bounds[2 * c]
            before = tuple(a.copy() for a in (p[0], p[1], p[6]))
            first, last = c == 0, c == 2
            fused_cd(
                X,
                r,
                b,
                *p,
                *work,
                part,
                key=17 + c,
                n_threads=threads,
                sparse=sparse,
                copy_in=first or not pass_on,
                copy_out=last or not pass_on,
                **kw,
            )
            if pass_on and not last:  # W, vW and h left as they were
                for a, was in zip((p[0], p[1], p[6]), before):
                    np.testing.assert_array_equal(a, was)
            if pass_on and c == 1:  # and not read: garbage there is harmless
                for a in (p[0], p[1], p[6]):
                    a[...] = np.nan
        return p

    copied = run(False, 1)
    for threads in (1, 2):
        passed = run(True, threads)
        for a, b in zip(copied, passed):
            np.testing.assert_array_equal(a, b)
    assert np.abs(copied[0] - params[0]).max() > 100 * TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("narrow", [False, True], ids=["native", "avx2"])
def test_fused_cd_sparse_layout_gives_the_dense_updates(fused, dtype, narrow):
    # the same updates, summed over the nonzero entries only: equal to
    # rounding, on binary data one pixel in seven (the case it is for), with
    # H not a multiple of the vectors
    case = _fused_case(dtype, 90, 141, 30, 30, [30] * 5, seed=6)
    X = case[0]
    X[...] = np.random.default_rng(8).random(X.shape) < 1 / 7
    kw = dict(learning_rate=0.1, momentum=0.5, shrink=1e-3, temperature=1.0, key=3)
    dense = _run_fused(case, 1, 2, 4, 2, narrow=narrow, **kw)
    sparse = _run_fused(case, 1, 2, 4, 2, narrow=narrow, layout="sparse", **kw)
    for d, s in zip(dense, sparse):
        assert s.dtype == dtype
        np.testing.assert_allclose(s, d, rtol=0, atol=20 * TOL[dtype])
    assert np.abs(dense[0] - case[3][0]).max() > 100 * TOL[dtype]


def test_fused_cd_refuses_bad_input(fused):
    case = _fused_case(np.float64, 8, 6, 4, 5, [5, 5])
    kw = dict(learning_rate=0.1, momentum=0.5, shrink=0.0, temperature=1.0, key=1)
    X, rows, bounds, params, buffers = case
    with pytest.raises(ValueError, match="out of range"):
        bad = rows.copy()
        bad[3] = len(X)
        _run_fused((X, bad, bounds, params, buffers), 1, 2, 2, 1, **kw)
    with pytest.raises(ValueError, match="max_batch"):
        _run_fused((X, rows, np.array([0, 10]), params, buffers), 1, 2, 2, 1, **kw)
    with pytest.raises(ValueError, match="one entry per entry of rows"):
        _run_fused(case, 1, 2, 2, 1, weights=np.ones(len(rows) - 1), **kw)
    with pytest.raises(ValueError, match="shapes"):
        narrow = np.ascontiguousarray(X[:, :7])
        _run_fused((narrow, rows, bounds, params, buffers), 1, 2, 2, 1, **kw)
    with pytest.raises(ValueError, match="n_row_blocks"):
        _run_fused(case, 1, 2, 9, 1, **kw)
    with pytest.raises(ValueError, match="HT needs"):
        HT = np.ascontiguousarray(buffers[1][:, : len(buffers[0]) - 1])
        short = (buffers[0], HT)
        _run_fused((X, rows, bounds, params, short), 1, 2, 2, 1, **kw)
    from sklearn_thermo._core._kernels import fused_cd

    C, V, H, n_rows = params[6].shape[0], X.shape[1], params[0].shape[0], 9
    good = _sparse_buffers(V, H, n_rows, C, X.dtype)
    for i, bad in [
        (0, np.zeros((V, 8))),  # ldwt not a multiple of 16
        (2, np.zeros((n_rows - 1, 16))),
        (6, np.zeros((V, n_rows - 1), np.int32)),  # fewer columns than rows
        (8, np.zeros(V + 1, np.int32)),
        (9, np.zeros((H, 8))),  # ldh not a multiple of 16
        (9, np.zeros((H + 1, 16))),
        (10, np.zeros((2, V, 32))),  # part's columns not hT's
    ]:
        if i == 10:
            buffers_i, part = good, bad
        else:
            buffers_i, part = good[:i] + (bad,) + good[i + 1 :], np.empty((2, V, 16))
        with pytest.raises(ValueError, match="sparse layout's buffers"):
            fused_cd(
                X,
                rows,
                bounds,
                *(p.copy() for p in params),
                *(b.copy() for b in buffers),
                part,
                n_steps=1,
                n_row_blocks=2,
                sparse=buffers_i,
                **kw,
            )


# --- the classification RBM's conditional ----------------------------------


def reference_conditional(A, c, U, d, T, Y, w):
    """``G``, ``S``, ``D = (Y - p) w``, ``loss`` and ``M``, ``gU`` in float64
    from their definitions (log space, every element)."""
    Z = (A.astype(float) + c)[:, :, None] + U.T.astype(float)[None]  # (n, H, K)
    G = d.astype(float) / T + np.logaddexp(0, Z / T).sum(axis=1)
    S = G - G.max(axis=1, keepdims=True)
    P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    D = (Y - P) * w[:, None]
    loss = -(np.log(P) * Y).sum(axis=1) * w
    sig = expit(Z / T)
    return (
        G,
        S,
        D,
        loss,
        np.einsum("nk,njk->nj", D, sig),
        np.einsum("nk,njk->kj", D, sig),
    )


def _conditional_case(dtype, T, row_scales, u_scale, seed=0):
    rng = np.random.default_rng(seed)
    n, H, K = len(row_scales), 83, 7  # H: whole lanes and a remainder
    A = (rng.normal(0, 1, (n, H)) * np.asarray(row_scales)[:, None]).astype(dtype)
    c = rng.normal(0, 1, H).astype(dtype)
    U = rng.normal(0, u_scale, (K, H)).astype(dtype)
    d = rng.normal(0, 1, K).astype(dtype)
    Y = np.eye(K, dtype=dtype)[rng.integers(0, K, n)]
    w = rng.uniform(0.5, 2, n).astype(dtype)
    return A, c, U, d, Y, w


def _scaled(U, T):
    Us = U / U.dtype.type(T)
    return Us, np.exp(Us), np.exp(-Us)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [0.05, 1.0, 3.0])
@pytest.mark.parametrize("factorised", [True, False])
def test_conditional_rows_match_their_definition(dtype, T, factorised):
    # rows from tiny to beyond the factorised path's range (|y / T| > 40 in
    # float32, > 300 in float64), so that both paths meet in one call
    from sklearn_thermo._core._kernels import conditional_rows, factorised_limit

    A, c, U, d, Y, w = _conditional_case(dtype, T, [0.01, 0.3, 1, 3, 10, 60, 400], 0.4)
    n, H, K = A.shape[0], A.shape[1], U.shape[0]
    scaled = _scaled(U, T) if factorised else None
    if factorised:
        assert np.abs(scaled[0]).max() <= factorised_limit(dtype)
    G, S, D = (np.full((n, K), np.nan, dtype) for _ in range(3))
    loss, M, gU = np.empty(n, dtype), np.empty((n, H), dtype), np.zeros((K, H), dtype)
    ok = conditional_rows(
        A,
        c,
        U,
        d,
        T,
        G,
        S,
        scaled=scaled,
        D=D,
        Y=Y,
        loss=loss,
        weights=w,
        out=M,
        gU=gU,
        scratch=np.empty((K + 4) * H, dtype),
        work=np.empty(K),
    )
    assert ok
    ref = reference_conditional(A, c, U, d, T, Y, w.astype(float))
    tol = 3e-5 if dtype == np.float32 else 1e-11
    for got, want in zip((G, S, D, loss, M, gU), ref):
        assert got.dtype == dtype
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(np.exp(S.astype(float)).sum(axis=1) > 0, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conditional_rows_without_labels_give_p_and_the_expected_hidden(dtype):
    from sklearn_thermo._core._kernels import conditional_rows

    T = 0.8
    A, c, U, d, _, _ = _conditional_case(dtype, T, [0.5, 1, 2, 4], 1.0, seed=1)
    n, H, K = A.shape[0], A.shape[1], U.shape[0]
    G, S, D = (np.empty((n, K), dtype) for _ in range(3))
    M = A.copy()  # in place: out may be the products themselves
    assert conditional_rows(
        M,
        c,
        U,
        d,
        T,
        G,
        S,
        scaled=_scaled(U, T),
        D=D,
        out=M,
        scratch=np.empty((K + 4) * H, dtype),
        work=np.empty(K),
    )
    Z = (A.astype(float) + c)[:, :, None] + U.T[None]
    P = np.exp(reference_conditional(A, c, U, d, T, np.zeros((n, K)), np.ones(n))[1])
    P /= P.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(D, P, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(D.sum(axis=1), 1.0, rtol=TOL[dtype])
    expected = np.einsum("nk,njk->nj", P, expit(Z / T))
    np.testing.assert_allclose(M, expected, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_conditional_rows_write_nothing_beyond_their_range(dtype):
    from sklearn_thermo._core._kernels import conditional_rows

    A, c, U, d, Y, _ = _conditional_case(dtype, 1.0, [1, 1, 1], 1.0)
    A[2, 5] = np.finfo(dtype).max / 2  # beyond a quarter of the range
    n, H, K = A.shape[0], A.shape[1], U.shape[0]
    G, S, D = (np.full((n, K), 7.0, dtype) for _ in range(3))
    loss, M = np.full(n, 7.0, dtype), np.full((n, H), 7.0, dtype)
    ok = conditional_rows(
        A,
        c,
        U,
        d,
        1.0,
        G,
        S,
        D=D,
        Y=Y,
        loss=loss,
        out=M,
        scratch=np.empty((K + 4) * H, dtype),
        work=np.empty(K),
    )
    assert not ok
    for a in (G, S, D, loss, M):
        assert (a == 7.0).all()
    A[2, 5] = np.nan
    assert not conditional_rows(
        A, c, U, d, 1.0, G, S, scratch=np.empty((K + 4) * H, dtype), work=np.empty(K)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_conditional_gradient_is_its_products_then_its_rows(dtype):
    # the blocked, threaded kernel: products X W^T in each block, then the rows;
    # the same bits for any number of threads, block sums of gU adding up
    from sklearn_thermo._core._kernels import conditional_gradient, conditional_rows

    rng = np.random.default_rng(3)
    n, V, H, K, T = 45, 30, 83, 6, 0.9
    X = (rng.random((n, V)) < 0.4).astype(dtype)
    W_full = rng.normal(0, 0.3, (H, V + K)).astype(dtype)  # [W_x | U^T]
    W = W_full[:, :V]  # rows V + K apart, as in the trainer
    U = np.ascontiguousarray(W_full[:, V:].T)
    c = rng.normal(0, 1, H).astype(dtype)
    d = rng.normal(0, 1, K).astype(dtype)
    Y = np.eye(K, dtype=dtype)[rng.integers(0, K, n)]
    w = rng.uniform(0.5, 2, n).astype(dtype)
    bounds = np.array([0, 11, 11, 30, n], dtype=np.int64)  # one empty block
    nb = len(bounds) - 1
    results = []
    for threads in (1, 2, 3):
        P, M = np.empty((n, H), dtype), np.empty((n, H), dtype)
        G, S, D = (np.empty((n, K), dtype) for _ in range(3))
        loss, gU = np.empty(n, dtype), np.full((nb, K, H), np.nan, dtype)
        assert conditional_gradient(
            X,
            W,
            c,
            U,
            d,
            T,
            Y,
            P,
            M,
            G,
            S,
            D,
            loss,
            gU,
            bounds,
            np.empty((nb, (K + 4) * H), dtype),
            np.empty((nb, K)),
            scaled=_scaled(U, T),
            weights=w,
            n_threads=threads,
        )
        results.append((P, M, G, S, D, loss, gU))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    P, M, G, S, D, loss, gU = results[0]
    with threadpool_limits(1):
        np.testing.assert_allclose(P, X @ W.T, rtol=TOL[dtype], atol=TOL[dtype])
    G2, S2, D2 = (np.empty((n, K), dtype) for _ in range(3))
    loss2, M2, gU2 = (
        np.empty(n, dtype),
        np.empty((n, H), dtype),
        np.zeros((K, H), dtype),
    )
    conditional_rows(
        P,
        c,
        U,
        d,
        T,
        G2,
        S2,
        scaled=_scaled(U, T),
        D=D2,
        Y=Y,
        loss=loss2,
        weights=w,
        out=M2,
        gU=gU2,
        scratch=np.empty((K + 4) * H, dtype),
        work=np.empty(K),
    )
    for a, b in ((G, G2), (S, S2), (D, D2), (loss, loss2), (M, M2)):
        np.testing.assert_array_equal(a, b)  # row by row: the same arithmetic
    assert (gU[1] == 0).all()  # the empty block
    np.testing.assert_allclose(gU.sum(axis=0), gU2, rtol=TOL[dtype], atol=TOL[dtype])


def test_conditional_kernels_refuse_bad_shapes():
    from sklearn_thermo._core._kernels import conditional_gradient, conditional_rows

    n, V, H, K = 4, 3, 5, 2
    f = np.float64
    A, c, U, d = np.zeros((n, H)), np.zeros(H), np.zeros((K, H)), np.zeros(K)
    G, S = np.empty((n, K)), np.empty((n, K))
    scratch, work = np.empty((K + 4) * H), np.empty(K)
    with pytest.raises(ValueError, match="do not agree"):
        conditional_rows(A, c[:-1], U, d, 1.0, G, S, scratch=scratch, work=work)
    with pytest.raises(ValueError, match="scratch needs"):
        conditional_rows(A, c, U, d, 1.0, G, S, scratch=scratch[:-1], work=work)
    with pytest.raises(ValueError, match="out needs D"):
        conditional_rows(A, c, U, d, 1.0, G, S, out=A, scratch=scratch, work=work)
    with pytest.raises(ValueError, match="shape of U"):
        conditional_rows(
            A, c, U, d, 1.0, G, S, scaled=(U, U, U[:, :-1]), scratch=scratch, work=work
        )
    X, W, Y = np.zeros((n, V)), np.zeros((H, V)), np.zeros((n, K))
    args = [
        X,
        W,
        c,
        U,
        d,
        1.0,
        Y,
        A,
        A.copy(),
        G,
        S,
        np.empty((n, K), f),
        np.empty(n),
        np.empty((1, K, H)),
    ]
    with pytest.raises(ValueError, match="do not agree"):
        conditional_gradient(
            *args,
            np.array([0, n + 1], np.int64),
            np.empty((1, (K + 4) * H)),
            np.empty((1, K)),
        )
    with pytest.raises(ValueError, match="do not agree"):
        conditional_gradient(
            *args,
            np.array([0, 2, n], np.int64),
            np.empty((2, (K + 4) * H)),
            np.empty((2, K)),
        )


# --- the pseudo-likelihood --------------------------------------------------


def reference_pseudo_likelihood(W, a, c, X, T):
    """sum_k log sigmoid((F(v^(k)) - F(v)) / T) by flipping each unit and
    taking both free energies in float64."""
    W, a, c, X = (np.asarray(z, dtype=float) for z in (W, a, c, X))

    def F(v):
        return -v @ a - T * np.logaddexp(0, (v @ W.T + c) / T).sum(axis=1)

    base = F(X)
    out = np.zeros(len(X))
    for k in range(X.shape[1]):
        flipped = X.copy()
        flipped[:, k] = 1 - flipped[:, k]
        out -= np.logaddexp(0, -(F(flipped) - base) / T)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("factorised", [False, True])
def test_pseudo_likelihood_rows_match_flipping_each_unit(dtype, T, factorised):
    # binary rows (the factorised path where |x / T| allows: at T = 0.3 some
    # rows do not) and rows in [0, 1] (always the direct path)
    from sklearn_thermo._core._kernels import (
        factorised_limit,
        pseudo_likelihood_rows,
    )

    rng = np.random.default_rng(5)
    n, V, H = 70, 37, 29  # two blocks and a partial one; no whole lanes
    W = rng.normal(0, 1, (H, V)).astype(dtype)
    a = rng.normal(0, 1, V).astype(dtype)
    c = rng.normal(0, 1, H).astype(dtype)
    X = rng.random((n, V)).astype(dtype)
    X[: n // 2] = X[: n // 2] > 0.5  # binary rows and rows in [0, 1]
    ref = reference_pseudo_likelihood(W, a, c, X, T)
    scaled = None
    if factorised:
        Ws = W / dtype(T)
        assert np.abs(Ws).max() <= factorised_limit(dtype)
        scaled = (np.exp(Ws), np.exp(-Ws))
    outs = []
    for threads in (1, 2, 3):
        out = np.empty(n, dtype)
        scratch = np.empty((threads, 32 * H + 3 * V), dtype)
        pseudo_likelihood_rows(
            X, W, a, c, T, out, scratch, scaled=scaled, n_threads=threads
        )
        outs.append(out)
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])
    assert outs[0].dtype == dtype and (outs[0] <= 0).all()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(outs[0], ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_pseudo_likelihood_rows_refuse_bad_shapes():
    from sklearn_thermo._core._kernels import pseudo_likelihood_rows

    n, V, H = 5, 4, 3
    X, W = np.zeros((n, V)), np.zeros((H, V))
    a, c, out = np.zeros(V), np.zeros(H), np.empty(n)
    scratch = np.empty((1, 32 * H + 3 * V))
    with pytest.raises(ValueError, match="do not agree"):
        pseudo_likelihood_rows(X, W, a, c[:-1], 1.0, out, scratch)
    with pytest.raises(ValueError, match="shape of W"):
        pseudo_likelihood_rows(X, W, a, c, 1.0, out, scratch, scaled=(W, W[:, :-1]))
    with pytest.raises(ValueError, match="scratch needs"):
        pseudo_likelihood_rows(X, W, a, c, 1.0, out, scratch[:, :-1])
    with pytest.raises(ValueError, match="scratch needs"):
        pseudo_likelihood_rows(X, W, a, c, 1.0, out, scratch, n_threads=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [0.05, 1.0, 7.0])
@pytest.mark.parametrize("K, n", [(2, 1), (3, 300), (10, 517)])
def test_softmax_xent_matches_the_float64_definition(dtype, T, K, n):
    from scipy.special import log_softmax
    from sklearn_thermo._core._kernels import softmax_xent

    rng = np.random.default_rng(K * n)
    F = (rng.normal(0, 4, (K, n)) + rng.normal(0, 30, n)).astype(dtype)
    y = rng.integers(K, size=n)
    Y = np.zeros((K, n), dtype)
    Y[y, np.arange(n)] = 1
    w = rng.random(n)
    log_p = log_softmax(F.astype(np.float64) / T, axis=0)
    want_loss = float(w @ -log_p[y, np.arange(n)])
    want_grad = (np.exp(log_p) - Y) * w / T
    got = F.copy()
    loss = softmax_xent(got, Y, w, T)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(want_loss, rel=tol, abs=tol * w.sum())
    np.testing.assert_allclose(got, want_grad, rtol=0, atol=tol * w.max() / T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_xent_declines_scores_out_of_its_range(dtype):
    from sklearn_thermo._core._kernels import softmax_xent

    big = np.finfo(dtype).max / 4
    Y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype)
    w = np.ones(2)
    for F, T in [
        (np.array([[0.0, 1.0], [big, 0.0]], dtype), 1.0),  # a gap overflows
        (np.array([[0.0, np.nan], [1.0, 0.0]], dtype), 1.0),  # not finite
        (np.array([[0.0, 1.0], [1.0, 0.0]], dtype), 1e-320),  # 1/T overflows
    ]:
        before = F.copy()
        assert softmax_xent(F, Y, w, T) is None
        np.testing.assert_array_equal(F, before)  # untouched
    with pytest.raises(ValueError, match="shapes"):
        softmax_xent(np.zeros((2, 3), dtype), Y, w, 1.0)
    assert (
        softmax_xent(np.zeros((2, 0), dtype), np.zeros((2, 0), dtype), w[:0], 1.0) == 0
    )


@pytest.mark.parametrize("beta", [0.01, 0.7, 30.0])
@pytest.mark.parametrize("K, n", [(2, 3), (10, 517)])
def test_softmax_xent_moments_match_the_definitions(beta, K, n):
    from scipy.special import log_softmax
    from sklearn_thermo._core._kernels import softmax_xent_moments

    rng = np.random.default_rng(K + n)
    F = rng.normal(0, 3, (K, n)) + rng.normal(0, 20, n)
    y = rng.integers(K, size=n)
    Y = np.zeros((K, n))
    Y[y, np.arange(n)] = 1
    w = rng.random(n)
    log_p = log_softmax(beta * F, axis=0)
    P = np.exp(log_p)
    mean = (P * F).sum(axis=0)
    var = (P * (F - mean) ** 2).sum(axis=0)
    want = (
        float(w @ -log_p[y, np.arange(n)]),
        float(w @ (mean - F[y, np.arange(n)])),
        float(w @ var),
    )
    before = F.copy()
    got = softmax_xent_moments(F, Y, w, beta)
    np.testing.assert_array_equal(F, before)  # read only
    scale = w.sum() * (1 + np.abs(F).max() ** 2 * beta)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * scale)
    assert softmax_xent_moments(F, Y, w, 1e301) is None
    F[0, 0] = np.inf
    assert softmax_xent_moments(F, Y, w, beta) is None


# --- the fit's first pass over the data ------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (300, 1), (257, 33)])
def test_dense_summary_is_numpys_min_max_and_column_sums(dtype, shape):
    from sklearn_thermo._core._kernels import dense_summary

    rng = np.random.default_rng(3)
    X = (rng.normal(size=shape) * rng.lognormal(size=shape[1])).astype(dtype)
    lo, hi, sums, squares = dense_summary(X)
    assert lo == X.min() and hi == X.max()
    # the column sums in X's dtype, row by row: X.sum(axis=0)'s bits
    assert sums.dtype == dtype and squares.dtype == dtype
    np.testing.assert_array_equal(sums, X.sum(axis=0))
    # the sums of squares in X's dtype: to its rounding over the rows
    want = (X.astype(np.float64) ** 2).sum(axis=0)
    rtol = 4 * shape[0] * np.finfo(dtype).eps
    np.testing.assert_allclose(squares, want, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_dense_summary_shows_non_finite_entries(dtype, bad):
    from sklearn_thermo._core._kernels import dense_summary

    X = np.random.default_rng(4).random((50, 20)).astype(dtype)
    for i, j in [(0, 0), (49, 19), (20, 7)]:
        Y = X.copy()
        Y[i, j] = bad
        lo, hi, sums, _ = dense_summary(Y)
        finite = np.isfinite(lo) and np.isfinite(hi) and not np.isnan(sums).any()
        assert not finite
    lo, hi, sums, _ = dense_summary(X)
    assert np.isfinite(lo) and np.isfinite(hi) and np.isfinite(sums).all()
    with pytest.raises(ValueError, match="non-empty"):
        dense_summary(np.empty((0, 3), dtype))
