"""The CD core: free energy, exact log Z, CD/PCD gradients, threads."""

import numpy as np
import pytest
from _brute import (
    brute_free_energy,
    joint_probabilities,
    log_likelihood_gradient,
    log_partition_bernoulli,
    random_params,
    states,
)
from scipy import integrate
from sklearn_thermo._core._kernels import fused_cd_available
from threadpoolctl import threadpool_limits

from sklearn_thermo._core.gibbs import Gibbs, base_rate_samples, sample_chains
from sklearn_thermo._core.model import (
    RBMParams,
    pseudo_log_likelihood,
    visible_free_energy,
)
from sklearn_thermo._core.partition import log_partition_exact
from sklearn_thermo._core.threads import (
    BlockRunner,
    effective_n_threads,
    normal_draws,
    row_blocks,
)
from sklearn_thermo._core.training import (
    CDTrainer,
    FreshChains,
    PersistentChains,
    TrainState,
)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("T", [0.5, 1.0, 3.0])
def test_free_energy_matches_enumeration(visible, T):
    p = random_params(5, 4, visible, scale=1.0)
    rng = np.random.default_rng(0)
    X = states(5) if visible == "bernoulli" else rng.normal(size=(7, 5))
    np.testing.assert_allclose(visible_free_energy(p, X, T), brute_free_energy(p, X, T))


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (5, 5)])
@pytest.mark.parametrize("T", [0.7, 1.0, 2.5])
def test_exact_log_partition_bernoulli(shape, T):
    p = random_params(*shape, scale=1.0, seed=1)
    assert log_partition_exact(p, T) == pytest.approx(log_partition_bernoulli(p, T))


@pytest.mark.parametrize("T", [0.6, 1.0, 2.0])
def test_exact_log_partition_gaussian_by_quadrature(T):
    # one Gaussian visible unit: integrate exp(-F(v) / T) over v numerically
    p = random_params(1, 3, "gaussian", scale=0.8, seed=2)

    def density(v):
        return np.exp(-brute_free_energy(p, np.array([[v]]), T)[0] / T)

    Z, _ = integrate.quad(density, -40, 40, limit=200)
    assert log_partition_exact(p, T) == pytest.approx(np.log(Z), rel=1e-7)


def test_exact_log_partition_refuses_large_layers():
    p = random_params(30, 25)
    with pytest.raises(ValueError, match="2\\*\\*25 states"):
        log_partition_exact(p, 1.0)


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_pseudo_log_likelihood_matches_enumeration(T):
    p = random_params(4, 3, scale=1.0, seed=3)
    X = states(4)
    log_pv = -brute_free_energy(p, X, T) / T
    # log P(v_i | v_-i) = log p(v) - log(p(v) + p(v with bit i flipped))
    index = {tuple(v): k for k, v in enumerate(X)}
    expected = np.zeros(len(X))
    for k, v in enumerate(X):
        for i in range(4):
            w = v.copy()
            w[i] = 1 - w[i]
            expected[k] += log_pv[k] - np.logaddexp(log_pv[k], log_pv[index[tuple(w)]])
    with BlockRunner(2, 0) as runner:
        got = pseudo_log_likelihood(p, X, T, runner, max_elements=20)
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pseudo_log_likelihood_compiled_and_numpy_paths_agree(dtype, monkeypatch):
    from sklearn_thermo._core import model as core_model

    p = random_params(20, 15, scale=1.0, seed=4).astype(dtype)
    X = (np.random.default_rng(5).random((90, 20)) < 0.4).astype(dtype)
    with BlockRunner(2, 0) as runner:
        compiled = pseudo_log_likelihood(p, X, 0.8, runner)
        monkeypatch.setattr(core_model, "_pll_compiled", lambda *a: False)
        numpy_path = pseudo_log_likelihood(p, X, 0.8, runner)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(compiled, numpy_path, rtol=tol)


def _train_one_step(p, X, *, persistent, n_steps, T, seed=0, n_threads=1, fused=False):
    state = TrainState.zeros(p)
    with BlockRunner(n_threads, seed) as runner:
        trainer = CDTrainer(
            p,
            state,
            negative=PersistentChains(len(X)) if persistent else FreshChains(),
            max_batch=len(X),
            n_steps=n_steps,
            temperature=T,
            runner=runner,
        )
        if persistent:  # let the fresh chains reach equilibrium first
            trainer.gibbs.run(
                state.chains, trainer.Vs[len(X) :], trainer.Pv, trainer.Hs[len(X) :], 50
            )
        before = (p.W.copy(), p.visible_bias.copy(), p.hidden_bias.copy())
        if fused:  # the compiled run of PCD updates (here one of them)
            assert trainer._fusable(X)
            trainer.run(X, np.arange(len(X)), [slice(0, len(X))], 1.0, 0.0, 0.0)
        else:
            trainer.load(X, np.arange(len(X)))
            trainer.step(len(X), learning_rate=1.0, momentum=0.0, weight_decay=0.0)
    return [after - b for after, b in zip((p.W, p.visible_bias, p.hidden_bias), before)]


@pytest.mark.parametrize(
    "persistent, fused",
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["cd", "pcd", "cd-fused", "pcd-fused"],
)
@pytest.mark.parametrize("T", [1.0, 1.5])
def test_cd_gradient_matches_exact_gradient(persistent, fused, T):
    """With many long chains, CD-k / PCD-k estimate the true gradient."""
    if fused and not fused_cd_available():
        pytest.skip("the fused kernel needs GCC's ISA clones and AVX2 + FMA")
    p = random_params(5, 3, scale=0.5, seed=4)
    rng = np.random.default_rng(5)
    data = (rng.random((6, 5)) < 0.5).astype(float)
    X = np.repeat(data, 4000, axis=0)  # 24,000 chains
    exact = log_likelihood_gradient(p, data, T)
    got = _train_one_step(
        p, X, persistent=persistent, n_steps=30, T=T, n_threads=2, fused=fused
    )
    for g, e in zip(got, exact):
        np.testing.assert_allclose(g, e, atol=0.02)
    # and the estimate is not trivially small: the test could fail
    assert np.abs(exact[0]).max() > 0.1


def test_cd1_gradient_is_biased_but_close():
    # CD-1 is not the exact gradient; it should be near but not equal to it
    p = random_params(5, 3, scale=1.5, seed=6)
    data = (np.random.default_rng(7).random((6, 5)) < 0.5).astype(float)
    exact = log_likelihood_gradient(p, data, 1.0)[0]
    cd1 = _train_one_step(
        p, np.repeat(data, 4000, axis=0), persistent=False, n_steps=1, T=1.0
    )[0]
    assert np.abs(cd1 - exact).max() > 0.02


@pytest.mark.parametrize("T", [1.0, 0.5])
def test_gibbs_samples_follow_model_distribution(T):
    p = random_params(4, 3, scale=1.0, seed=8)
    Vs, _, P = joint_probabilities(p, T)
    pv = P.sum(axis=1)
    with BlockRunner(2, 3) as runner:
        v0 = base_rate_samples(p, T, runner, 20000)
        v = sample_chains(p, T, runner, v0, n_steps=30)
    codes = (v @ (2 ** np.arange(4)[::-1])).astype(int)
    freq = np.bincount(codes, minlength=16) / len(v)
    assert 0.5 * np.abs(freq - pv).sum() < 0.02  # total variation distance


def test_gaussian_gibbs_moments():
    # with W = 0, v | h ~ N(a, T): mean a, variance T
    p = RBMParams(np.zeros((2, 3)), np.array([1.0, -2.0, 0.5]), np.zeros(2), "gaussian")
    with BlockRunner(1, 0) as runner:
        v = sample_chains(p, 2.0, runner, np.zeros((20000, 3)), n_steps=1)
    np.testing.assert_allclose(v.mean(axis=0), p.visible_bias, atol=0.05)
    np.testing.assert_allclose(v.var(axis=0), 2.0, rtol=0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_thread_count(dtype):
    p0 = random_params(128, 256, scale=0.1, seed=9).astype(dtype)
    X = (np.random.default_rng(10).random((2048, 128)) < 0.3).astype(dtype)
    # the work really is split: several blocks in every phase
    assert len(row_blocks(2048, 256)) > 1 and len(row_blocks(2048, 128)) > 1
    results = []
    for n_threads in (1, 2, 3):
        p = RBMParams(p0.W.copy(), p0.visible_bias.copy(), p0.hidden_bias.copy())
        results.append(
            _train_one_step(
                p, X, persistent=True, n_steps=2, T=1.0, seed=11, n_threads=n_threads
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_row_blocks_cover_rows_in_order():
    for n, width in [(1, 1), (10, 784), (100, 500), (10000, 10000)]:
        blocks = row_blocks(n, width)
        assert blocks[0].start == 0 and blocks[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
        assert all(b.stop > b.start for b in blocks)
    # a batch of 100 MNIST rows stays in one block (splitting it over threads
    # was measured slower); 2000 rows of 500 hidden units are split
    assert len(row_blocks(100, 784)) == 1
    assert len(row_blocks(2000, 500)) > 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (500, 784), (300, 20000)])
def test_normal_draws_do_not_depend_on_the_threads(dtype, shape):
    # the initial weights: the same draws on any number of threads, in the
    # array's dtype, N(0, scale^2), different for another seed
    one = normal_draws(np.empty(shape, dtype), 0.01, 5, 1)
    for n in (2, 3, 8):
        np.testing.assert_array_equal(
            normal_draws(np.empty(shape, dtype), 0.01, 5, n), one
        )
    assert one.dtype == dtype and np.isfinite(one).all()
    if one.size > 1000:
        # mean and standard deviation within 5 standard errors
        se = 0.01 / np.sqrt(one.size)
        assert abs(one.mean()) < 5 * se
        assert abs(one.std() - 0.01) < 5 * se / np.sqrt(2)
        other = normal_draws(np.empty(shape, dtype), 0.01, 6, 2)
        assert abs(np.corrcoef(one.ravel(), other.ravel())[0, 1]) < 5 / np.sqrt(
            one.size
        )
    else:
        assert not np.array_equal(one, normal_draws(np.empty(shape, dtype), 0.01, 6, 1))


def test_effective_n_threads():
    assert effective_n_threads(1) == 1
    assert effective_n_threads(None) >= 1
    assert effective_n_threads(-1) == effective_n_threads(None)
    # nested inside an outer parallel loop that capped BLAS at one thread
    with threadpool_limits(limits=1, user_api="blas"):
        assert effective_n_threads(None) == 1
        assert effective_n_threads(-1) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        effective_n_threads(0)


@pytest.mark.slow
def test_no_oversubscription_inside_outer_joblib_loop():
    """In GridSearchCV(n_jobs=-1)-style nesting each worker gets its share."""
    from joblib import Parallel, cpu_count, delayed

    n_outer = min(2, cpu_count())
    inner = Parallel(n_jobs=n_outer)(
        delayed(effective_n_threads)(None) for _ in range(n_outer)
    )
    assert all(1 <= k <= max(1, cpu_count() // n_outer) for k in inner)


def test_float32_work_stays_float32():
    """Parameters, velocities and chains stay float32 through CD and PCD
    steps, even with float64 scalars given (the kernels take one dtype)."""
    p = random_params(6, 4, "gaussian").astype(np.float32)
    X = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    state = TrainState.zeros(p)
    with BlockRunner(1, 0) as runner:
        for persistent in (False, True):
            trainer = CDTrainer(
                p,
                state,
                negative=PersistentChains(8) if persistent else FreshChains(),
                max_batch=16,
                n_steps=2,
                temperature=np.float64(2.0),
                runner=runner,
            )
            trainer.load(X, np.arange(16))
            trainer.step(16, np.float64(0.01), np.float64(0.9), np.float64(1e-3))
    for a in (p.W, p.visible_bias, p.hidden_bias, *vars(state).values()):
        assert a.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 20, 32, 33, 100])
def test_hidden_step_matches_its_formula_for_any_row_count(dtype, n):
    # the hidden step for any number of rows (one block of columns or several)
    rng = np.random.default_rng(n)
    V, H = 30, 17
    p = RBMParams(
        rng.normal(0, 1, (H, V)).astype(dtype),
        rng.normal(0, 1, V).astype(dtype),
        rng.normal(0, 1, H).astype(dtype),
    )
    v = (rng.random((n, V)) < 0.5).astype(dtype)
    P, S = np.empty((n, H), dtype), np.empty((n, H), dtype)
    with BlockRunner(1, 0) as runner:
        Gibbs(p, 0.7, runner).up(v, P, S)
    expected = 1 / (
        1 + np.exp(-(v.astype(float) @ p.W.T.astype(float) + p.hidden_bias) / 0.7)
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(P, expected, rtol=tol, atol=tol)
    assert P.dtype == dtype and set(np.unique(S)) <= {0.0, 1.0}


def test_thread_chooser_follows_the_faster_count_and_retries_the_other():
    from sklearn_thermo._core.threads import ThreadChooser, work_kind

    # the intervals count the kind's own call time, not the clock's (times
    # in powers of two: their sums are exact)
    ch = ThreadChooser(4, interval=1.0, max_interval=4.0)
    k = work_kind("half_step", 4, 10, 5)
    assert ch.choose(k) == 4  # a new kind: the last winner (all threads at first)
    ch.record(k, 4, 0.5)  # the other count is due 1 s of calls after this one
    for _ in range(2):
        assert ch.choose(k) == 4
        ch.record(k, 4, 0.5)
    assert ch.choose(k) == 1
    ch.record(k, 1, 0.25)  # one thread wins (a busy machine)
    for _ in range(4):  # the loser is checked again soon after a swap
        assert ch.choose(k) == 1
        ch.record(k, 1, 0.25)
    assert ch.choose(k) == 4
    ch.record(k, 4, 1.0)  # ... and loses: next try after 2 s of calls
    for _ in range(8):
        assert ch.choose(k) == 1
        ch.record(k, 1, 0.25)
    # a new kind starts with the count that won last
    assert ch.choose(work_kind("weight_step", 2, 10, 5)) == 1
    assert ch.choose(k) == 4
    ch.record(k, 4, 0.0625)  # the machine got quiet: many threads win
    assert ch.choose(k) == 4
    assert ch.choose(work_kind("weight_step", 2, 10, 5)) == 4
    # a kind comes due by its own calls only, however long it waits
    k2 = work_kind("down", 4, 10, 5)
    ch.record(k2, 4, 0.5)
    for _ in range(3):
        ch.record(k, 4, 1.0)
    assert ch.choose(k2) == 4
    assert ThreadChooser(1).choose(k) == 1
    # the kind is the order of magnitude of the work
    assert work_kind("w", 2, 100, 784) == work_kind("w", 2, 101, 784)
    assert work_kind("w", 2, 100, 784) != work_kind("w", 2, 400, 784)


def test_n_jobs_none_honours_a_joblib_context():
    import joblib

    from sklearn_thermo._core.threads import effective_n_threads

    with joblib.parallel_config(n_jobs=1):
        assert effective_n_threads(None) == 1
    with joblib.parallel_config(n_jobs=-1):
        assert effective_n_threads(None) == effective_n_threads(-1)
    assert effective_n_threads(3) == min(3, joblib.cpu_count())


def test_independent_long_items_always_run_on_the_pool():
    """``each(..., choose=False)`` (AIS blocks) never runs the items one after
    another in the caller's thread, whatever the chooser has learnt."""
    import threading

    from sklearn_thermo._core.threads import BlockRunner

    with BlockRunner(2) as runner:
        # the chooser is the process's: teach it that one thread wins for
        # every new kind, and put back what it knew afterwards
        saved = runner.chooser._last_winner
        runner.chooser._last_winner = 1
        seen = []

        def item(k):
            seen.append((k, threading.current_thread() is threading.main_thread()))

        try:
            runner.each(item, [0, 1], choose=False)
            assert sorted(k for k, _ in seen) == [0, 1]
            assert not any(main for _, main in seen)
            seen.clear()
            runner.each(item, [0, 1])  # the chooser's pick: here, this thread
            assert all(main for _, main in seen)
        finally:
            runner.chooser._last_winner = saved


def _spy_on_fused_cd(monkeypatch):
    """Record whether each call of the fused kernel took the sparse layout."""
    from sklearn_thermo._core import training

    calls = []
    real = training.fused_cd

    def spy(*args, **kw):
        calls.append(kw.get("sparse") is not None)
        return real(*args, **kw)

    monkeypatch.setattr(training, "fused_cd", spy)
    return calls


@pytest.mark.skipif(
    not fused_cd_available(), reason="the fused kernel needs GCC's ISA clones"
)
@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_sparse_layout_gives_the_dense_layouts_fit(monkeypatch, method):
    from sklearn_thermo import BoltzmannMachine
    from sklearn_thermo._core import training

    # binary data, one pixel in seven, batches of 100 rows: the sparse layout
    X = (np.random.default_rng(0).random((500, 40)) < 1 / 7).astype(float)
    # the same batches a call in both layouts, so the same random streams
    monkeypatch.setattr(training, "_SPARSE_WORK", 1.0)
    calls = _spy_on_fused_cd(monkeypatch)
    kw = dict(n_components=45, batch_size=100, max_iter=3, method=method)
    sparse = BoltzmannMachine(random_state=0, **kw).fit(X)
    assert calls and all(calls)
    monkeypatch.setattr(training, "_SPARSE_DENSITY", -1.0)
    calls.clear()
    dense = BoltzmannMachine(random_state=0, **kw).fit(X)
    assert calls and not any(calls)
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_allclose(
            getattr(sparse, name), getattr(dense, name), rtol=0, atol=1e-12
        )
    # it learned something: the hidden biases start at zero
    assert np.abs(sparse.intercept_hidden_).max() > 1e-3


@pytest.mark.skipif(
    not fused_cd_available(), reason="the fused kernel needs GCC's ISA clones"
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_layout_fit_does_not_depend_on_n_jobs(monkeypatch, dtype):
    from sklearn_thermo import BoltzmannMachine

    X = (np.random.default_rng(1).random((400, 50)) < 0.1).astype(dtype)
    calls = _spy_on_fused_cd(monkeypatch)
    fits = [
        BoltzmannMachine(
            60, batch_size=90, max_iter=2, n_jobs=n_jobs, random_state=3
        ).fit(X)
        for n_jobs in (1, 2, 3)
    ]
    assert calls and all(calls)
    for other in fits[1:]:
        assert other.components_.dtype == dtype
        np.testing.assert_array_equal(other.components_, fits[0].components_)
        np.testing.assert_array_equal(other.h_samples_, fits[0].h_samples_)


@pytest.mark.skipif(
    not fused_cd_available(), reason="the fused kernel needs GCC's ISA clones"
)
@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_sparse_layout_copies_the_weights_once_an_epoch(monkeypatch, method):
    # the runs of an epoch pass the unit-minor copies on (copy_out only at
    # the epoch's last): the bits of runs that copy W in and out each time
    from sklearn_thermo import BoltzmannMachine
    from sklearn_thermo._core import training

    X = (np.random.default_rng(5).random((900, 40)) < 0.15).astype(np.float32)
    monkeypatch.setattr(training, "_FUSED_CALL_WORK", 1)  # a call per batch
    flags = []
    real = training.fused_cd

    def spy(*args, **kw):
        flags.append((kw["copy_in"], kw["copy_out"]))
        return real(*args, **kw)

    monkeypatch.setattr(training, "fused_cd", spy)
    kw = dict(n_components=50, batch_size=100, max_iter=2, method=method)
    passed = BoltzmannMachine(random_state=2, **kw).fit(X)
    # 9 runs an epoch: copied in at the first, out at the last
    epoch = [(True, False)] + [(False, False)] * 7 + [(False, True)]
    assert flags == epoch * 2
    real_run = training.CDTrainer.run
    monkeypatch.setattr(
        training.CDTrainer,
        "run",
        lambda self, *a, sync=True, **k: real_run(self, *a, sync=True, **k),
    )
    flags.clear()
    copied = BoltzmannMachine(random_state=2, **kw).fit(X)
    assert flags == [(True, True)] * 18
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_array_equal(getattr(passed, name), getattr(copied, name))
    if method == "pcd":
        np.testing.assert_array_equal(passed.h_samples_, copied.h_samples_)
    # and the model goes on from the same place
    passed.partial_fit(X[:100])
    copied.partial_fit(X[:100])
    np.testing.assert_array_equal(passed.components_, copied.components_)


@pytest.mark.skipif(
    not fused_cd_available(), reason="the fused kernel needs GCC's ISA clones"
)
def test_sparse_layout_only_for_sparse_data_and_large_batches(monkeypatch):
    import scipy.sparse as sp

    from sklearn_thermo import BoltzmannMachine

    rng = np.random.default_rng(2)
    sparse_data = (rng.random((300, 30)) < 0.1).astype(float)
    dense_data = (rng.random((300, 30)) < 0.5).astype(float)
    calls = _spy_on_fused_cd(monkeypatch)
    for X, batch_size, want in [
        (sparse_data, 100, True),
        (sp.csr_matrix(sparse_data), 100, True),
        (sparse_data, 20, False),  # 40 rows an update: too few
        (dense_data, 100, False),
    ]:
        calls.clear()
        BoltzmannMachine(20, batch_size=batch_size, max_iter=1, random_state=0).fit(X)
        assert calls and all(c == want for c in calls)
    calls.clear()  # Gaussian visible units never
    BoltzmannMachine(20, visible="gaussian", batch_size=100, max_iter=1).fit(
        sparse_data - sparse_data.mean(0)
    )
    assert not any(calls)
