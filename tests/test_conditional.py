"""The classification RBM's core: exact p(y|x), its gradient, label units."""

import copy
import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

from sklearn_thermo._core.conditional import ClassRBMTrainer, ConditionalKernel
from sklearn_thermo._core.gibbs import Gibbs, sample_chains
from sklearn_thermo._core.model import RBMParams
from sklearn_thermo._core.threads import BlockRunner
from sklearn_thermo._core.training import TrainState


def _params(V, H, K, scale=0.5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return RBMParams(
        rng.normal(0, scale, (H, V + K)).astype(dtype),
        rng.normal(0, scale, V + K).astype(dtype),
        rng.normal(0, scale, H).astype(dtype),
        "bernoulli",
        K,
    )


def _brute_scores(p, X, T):
    """-F(x, y)/T by enumerating every hidden state (no softplus formula).

    Only the y-dependent terms: the x-only term -a.x is left out, as in the
    kernel, so the result is log sum_h exp(-E(x, y, h)/T) + a.x/T.
    """
    K, H = p.n_labels, p.n_hidden
    V = p.n_visible - K
    Hs = np.array(list(itertools.product([0.0, 1.0], repeat=H)))
    W, U = p.W[:, :V].astype(float), p.W[:, V:].astype(float)
    d, c = p.visible_bias[V:].astype(float), p.hidden_bias.astype(float)
    out = np.empty((X.shape[0], K))
    for k in range(K):
        # -E(x, y=k, h) + a.x = d_k + c.h + h.(W x + U_k)
        neg_E = d[k] + Hs @ c + (X @ W.T + U[:, k]) @ Hs.T  # (n, 2^H)
        out[:, k] = logsumexp(neg_E / T, axis=1)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1.0, 0.6, 2.5])
def test_scores_match_enumeration(dtype, T):
    p = _params(5, 6, 4, dtype=dtype)
    X = np.random.default_rng(1).random((30, 5)).astype(dtype)
    with BlockRunner(1) as runner:
        G, S = ConditionalKernel(p, T, runner).scores(X)
    assert G.dtype == dtype and S.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(G, _brute_scores(p, X, T), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("scale", [0.01, 4.0, 40.0, 400.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scores_stable_from_tiny_to_saturated_weights(scale, dtype):
    # small weights: many factors per log; large: few; huge: the fallback
    V, H, K = 8, 70, 3
    p = _params(V, H, K, scale=scale, dtype=dtype, seed=2)
    X = np.random.default_rng(3).random((25, V)).astype(dtype)
    with BlockRunner(1) as runner:
        G, _ = ConditionalKernel(p, 1.0, runner).scores(X)
    W, U = p.W[:, :V].astype(float), p.W[:, V:].astype(float)
    Z = (X @ W.T + p.hidden_bias)[:, :, None] + U[None]
    ref = p.visible_bias[V:] + np.logaddexp(0, Z).sum(axis=1)
    assert np.isfinite(G).all()
    tol = 1e-11 if dtype == np.float64 else 3e-6
    np.testing.assert_allclose(G, ref, rtol=tol, atol=tol * np.abs(ref).max())


def _log_space_reference(p, X, T):
    """``G`` and ``S = G - max G`` in float64 log space, directly."""
    V = p.n_visible - p.n_labels
    W, U = p.W[:, :V].astype(float), p.W[:, V:].astype(float)
    A = np.asarray(X, dtype=float) @ W.T + p.hidden_bias.astype(float)
    Z = (A[:, :, None] + U[None]) / T
    G = p.visible_bias[V:].astype(float) / T + np.logaddexp(0, Z).sum(axis=1)
    return G, G - G.max(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1e-4, 1e-2, 0.3, 1.0, 50.0])
@pytest.mark.parametrize("scale", [0.1, 30.0, 3000.0])
def test_conditional_matches_log_space_reference(dtype, T, scale):
    # small T and large weights: exp of the pre-activations overflows while
    # exp of the label weights underflows (the factorised path's trap)
    V, H, K = 6, 40, 4
    p = _params(V, H, K, scale=scale, dtype=dtype, seed=5)
    X = np.random.default_rng(6).random((40, V)).astype(dtype)
    with BlockRunner(1) as runner:
        G, S = ConditionalKernel(p, T, runner).scores(X)
    G_ref, S_ref = _log_space_reference(p, X, T)
    assert np.isfinite(G).all() and np.isfinite(S).all()
    assert (S <= 0).all() and (S.max(axis=1) == 0).all()
    rtol = 1e-9 if dtype == np.float64 else 2e-5
    # probabilities to within rounding of the scores' scale
    P, P_ref = np.exp(S.astype(float)), np.exp(S_ref)
    P /= P.sum(axis=1, keepdims=True)
    P_ref /= P_ref.sum(axis=1, keepdims=True)
    scale_G = np.abs(G_ref).max(axis=1, keepdims=True)
    np.testing.assert_allclose(S, S_ref, rtol=rtol, atol=rtol * scale_G.max())
    np.testing.assert_allclose(G, G_ref, rtol=rtol, atol=rtol * scale_G.max())
    top_gap = np.sort(S_ref, axis=1)[:, -2]
    clear = top_gap < -1e-3 * scale_G[:, 0]  # no near-tie at the top
    np.testing.assert_array_equal(np.argmax(S, 1)[clear], np.argmax(S_ref, 1)[clear])
    np.testing.assert_allclose(P, P_ref, atol=1e-4 if dtype == np.float32 else 1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1e-30, 1e-300, 5e-324])
def test_conditional_reaches_the_hard_limit(dtype, T):
    # T -> 0: p(y | x) is one-hot on argmax_k d_k + sum_j max(c_j + U_jk + W_j x, 0)
    V, H, K = 6, 30, 5
    p = _params(V, H, K, scale=2.0, dtype=dtype, seed=7)
    X = np.random.default_rng(8).random((50, V)).astype(dtype)
    with BlockRunner(1) as runner:
        G, S = ConditionalKernel(p, T, runner).scores(X)
    assert np.isfinite(G).all() and np.isfinite(S).all()
    W, U = p.W[:, :V].astype(float), p.W[:, V:].astype(float)
    A = X.astype(float) @ W.T + p.hidden_bias
    hard = p.visible_bias[V:] + np.maximum(A[:, :, None] + U[None], 0).sum(axis=1)
    np.testing.assert_array_equal(np.argmax(S, axis=1), np.argmax(hard, axis=1))
    P = np.exp(S.astype(float))
    np.testing.assert_array_equal(P.sum(axis=1), 1.0)  # one-hot, exactly


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conditional_finite_for_inputs_near_the_dtype_limit(dtype):
    # products X W^T that overflow the dtype: probabilities stay exact and
    # the scores saturate instead of becoming NaN
    V, H, K = 5, 12, 3
    p = _params(V, H, K, scale=1.0, dtype=dtype, seed=9)
    big = np.finfo(dtype).max / 3
    X = np.array(
        [[big, -big, big, 0, 1], [1, 0, 0.5, 0.2, 0.1], [-big, -big, 0, big, big]],
        dtype=dtype,
    )
    with BlockRunner(1) as runner:
        G, S = ConditionalKernel(p, 1.0, runner).scores(X)
    assert np.isfinite(G).all() and np.isfinite(S).all()
    # reference: the limit h = u (pre-activation +inf) or 0 (-inf), in float64
    W, U = p.W[:, :V].astype(float), p.W[:, V:].astype(float)
    Xs = X.astype(float) / np.abs(X.astype(float)).max(axis=1, keepdims=True)
    direction = Xs @ W.T
    A_mid = X[1:2].astype(float) @ W.T + p.hidden_bias
    for i in (0, 2):
        h = np.where(direction[i][:, None] > 0, U, 0.0)
        ref = p.visible_bias[V:] + h.sum(axis=0)
        np.testing.assert_allclose(S[i], ref - ref.max(), rtol=1e-5, atol=1e-4)
    ref_mid = p.visible_bias[V:] + np.logaddexp(0, A_mid[:, :, None] + U[None]).sum(1)
    np.testing.assert_allclose(S[1], (ref_mid - ref_mid.max())[0], rtol=1e-5, atol=1e-5)


def test_hidden_is_label_marginalised_expectation():
    p = _params(4, 5, 3)
    T = 0.8
    X = np.random.default_rng(4).random((12, 4))
    with BlockRunner(1) as runner:
        Hx = ConditionalKernel(p, T, runner).hidden(X)
    V = 4
    G = _brute_scores(p, X, T)
    P = np.exp(G - logsumexp(G, axis=1, keepdims=True))
    Z = (X @ p.W[:, :V].T + p.hidden_bias)[:, :, None] + p.W[:, V:][None]
    ref = np.einsum("nk,njk->nj", P, 1 / (1 + np.exp(-Z / T)))
    np.testing.assert_allclose(Hx, ref, rtol=1e-12)


@pytest.mark.parametrize("T", [1.0, 0.7])
def test_discriminative_step_follows_exact_gradient(T):
    n, V, H, K = 23, 5, 9, 4
    p = _params(V, H, K, seed=5)
    rng = np.random.default_rng(6)
    X = rng.random((n, V))
    y = rng.integers(0, K, n)
    Y = np.eye(K)[y]

    def nll(q):
        G = _brute_scores(q, X, T)
        return -(G[np.arange(n), y] - logsumexp(G, axis=1)).sum()

    q = copy.deepcopy(p)
    lr = 1e-6
    with BlockRunner(2, 0) as runner:
        trainer = ClassRBMTrainer(
            q,
            TrainState.zeros(q),
            max_batch=n,
            discriminative=True,
            generative_weight=0.0,
            n_steps=1,
            temperature=T,
            runner=runner,
        )
        total = trainer.step(X, np.arange(n), Y, lr, 0.0, 0.0)
    assert total == pytest.approx(nll(p), rel=1e-10)
    eps = 1e-6
    for arr, new in (
        (p.W, q.W),
        (p.hidden_bias, q.hidden_bias),
        (p.visible_bias, q.visible_bias),
    ):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = nll(p)
            arr[idx] = old - eps
            down = nll(p)
            arr[idx] = old
            num[idx] = (up - down) / (2 * eps)
        # one step of size lr on the mean log-likelihood
        np.testing.assert_allclose(
            new - arr, -lr / n * num, rtol=1e-5, atol=1e-7 * lr / n * np.abs(num).max()
        )


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_training_is_identical_for_any_thread_count(alpha):
    # enough rows and hidden units for several row blocks
    n, V, H, K = 2048, 12, 128, 5
    rng = np.random.default_rng(7)
    X = (rng.random((n, V)) < 0.3).astype(np.float32)
    Y = np.eye(K, dtype=np.float32)[rng.integers(0, K, n)]
    results = []
    for threads in (1, 2, 3):
        p = _params(V, H, K, scale=0.1, dtype=np.float32, seed=8)
        with BlockRunner(threads, 9) as runner:
            trainer = ClassRBMTrainer(
                p,
                TrainState.zeros(p),
                max_batch=n,
                discriminative=True,
                generative_weight=alpha,
                n_steps=1,
                temperature=1.0,
                runner=runner,
            )
            assert len(trainer.kernel.row_blocks(n)) > 1
            for _ in range(2):
                trainer.step(X, np.arange(n), Y, 0.1, 0.9, 1e-4)
        results.append(p)
    for other in results[1:]:
        np.testing.assert_array_equal(other.W, results[0].W)
        np.testing.assert_array_equal(other.hidden_bias, results[0].hidden_bias)
        np.testing.assert_array_equal(other.visible_bias, results[0].visible_bias)


def test_hybrid_step_is_the_sum_of_its_two_steps():
    # the hybrid update shares one GEMM, one momentum and one decay between the
    # discriminative and the CD gradient: from the same parameters and the
    # same random streams, its change is the sum of the two separate changes
    n, V, H, K = 64, 10, 16, 4
    rng = np.random.default_rng(3)
    X = (rng.random((n, V)) < 0.4).astype(np.float64)
    Y = np.eye(K)[rng.integers(0, K, n)]
    alpha, lr = 0.3, 0.05
    changes = {}
    for name, disc, weight in [
        ("disc", True, 0.0),
        ("gen", False, alpha),
        ("hybrid", True, alpha),
    ]:
        p = _params(V, H, K, scale=0.2, seed=4)
        before = copy.deepcopy(p)
        with BlockRunner(2, 5) as runner:
            trainer = ClassRBMTrainer(
                p,
                TrainState.zeros(p),
                max_batch=n,
                discriminative=disc,
                generative_weight=weight,
                n_steps=1,
                temperature=0.8,
                runner=runner,
            )
            trainer.step(X, np.arange(n), Y, lr, 0.0, 0.0)
        changes[name] = [
            p.W - before.W,
            p.visible_bias - before.visible_bias,
            p.hidden_bias - before.hidden_bias,
        ]
    assert np.abs(changes["gen"][0]).max() > 1e-4  # both parts moved W
    assert np.abs(changes["disc"][0]).max() > 1e-4
    for h, d, g in zip(changes["hybrid"], changes["disc"], changes["gen"]):
        np.testing.assert_allclose(h, d + g, rtol=1e-9, atol=1e-12)


def test_label_units_are_one_hot_softmax_samples():
    V, H, K, n = 3, 4, 5, 40000
    p = _params(V, H, K, seed=10)
    T = 0.7
    h = (np.random.default_rng(11).random((1, H)) < 0.5).astype(float)
    h = np.repeat(h, n, axis=0)
    with BlockRunner(2, 12) as runner:
        gibbs = Gibbs(p, T, runner)
        P = np.empty((n, V + K))
        S = np.empty((n, V + K))
        gibbs.down(h, P, S)
    labels = S[:, V:]
    assert set(np.unique(labels)) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels.sum(axis=1), 1.0)
    logits = (p.visible_bias[V:] + h[0] @ p.W[:, V:]) / T
    expected = np.exp(logits - logsumexp(logits))
    np.testing.assert_allclose(P[0, V:], expected, rtol=1e-12)
    np.testing.assert_allclose(labels.mean(axis=0), expected, atol=0.01)
    # the feature units stay Bernoulli
    feats = (p.visible_bias[:V] + h[0] @ p.W[:, :V]) / T
    np.testing.assert_allclose(
        S[:, :V].mean(axis=0), 1 / (1 + np.exp(-feats)), atol=0.01
    )


def test_clamped_chains_keep_their_labels():
    V, H, K, n = 6, 5, 3, 50
    p = _params(V, H, K, seed=13)
    clamp = np.eye(K)[np.arange(n) % K]
    v0 = np.zeros((n, V + K))
    with BlockRunner(1, 14) as runner:
        v = sample_chains(p, 1.0, runner, v0, 5, clamp=clamp)
    np.testing.assert_array_equal(v[:, V:], clamp)
    assert set(np.unique(v[:, :V])) <= {0.0, 1.0}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_falls_back_to_numpy_with_the_same_statistics(dtype, monkeypatch):
    # the compiled kernel declines a batch beyond its range: the numpy path
    # must then give the same statistics (here forced on an ordinary batch)
    from sklearn_thermo._core import conditional as core

    n, V, H, K = 300, 12, 40, 5
    p = _params(V, H, K, scale=0.3, dtype=dtype, seed=11)
    rng = np.random.default_rng(12)
    X = (rng.random((n, V)) < 0.4).astype(dtype)
    Y = np.eye(K, dtype=dtype)[rng.integers(0, K, n)]
    out = []
    for declined in (False, True):
        if declined:
            monkeypatch.setattr(core, "conditional_gradient", lambda *a, **k: False)
        with BlockRunner(2) as runner:
            kernel = ConditionalKernel(p, 0.7, runner)
            nb = len(kernel.row_blocks(n))
            M, keep = np.empty((n, H), dtype), np.empty((n, H), dtype)
            D, loss = np.empty((n, K), dtype), np.empty(n, dtype)
            gU = np.full((nb, K, H), np.nan, dtype)
            assert kernel.gradient(X, Y, M, D, loss, gU, keep=keep) == nb
        out.append((M, keep, D, loss, gU.sum(axis=0)))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
