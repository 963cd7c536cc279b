"""Partition functions: exact enumeration, annealed importance sampling, log p(x)."""

import copy
import warnings

import numpy as np
import pytest
from _brute import brute_free_energy, log_partition_bernoulli
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._core.ais import _CHAINS_PER_BLOCK
from sklearn_thermo._datasets import bars_and_stripes


@pytest.fixture(scope="module")
def trained():
    X = load_digits().data
    data = {
        "bernoulli": (X > 7).astype(float),
        "gaussian": StandardScaler().fit_transform(X),
    }
    return {
        vis: (BoltzmannMachine(16, visible=vis, max_iter=15, random_state=0).fit(d), d)
        for vis, d in data.items()
    }


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_ais_agrees_with_exact_within_its_bounds(trained, visible):
    rbm, _ = trained[visible]
    exact = rbm.log_partition("exact")
    est, lower, upper = rbm.log_partition(
        "ais", n_chains=100, n_betas=2000, return_bounds=True, random_state=0
    )
    assert lower <= exact <= upper
    assert lower < est < upper and upper - lower < 0.5
    assert rbm.log_partition("auto") == exact  # 16 hidden units: exact


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_float32_ais_agrees_with_exact_within_its_bounds(trained, visible):
    # the float32 kernel (its own exp, log and 24-bit uniforms) on the same data
    _, X = trained[visible]
    rbm = BoltzmannMachine(16, visible=visible, max_iter=15, random_state=0)
    rbm.fit(X.astype(np.float32))
    assert rbm.components_.dtype == np.float32
    exact = rbm.log_partition("exact")
    est, lower, upper = rbm.log_partition(
        "ais", n_chains=100, n_betas=2000, return_bounds=True, random_state=0
    )
    assert lower <= exact <= upper and upper - lower < 0.5
    assert abs(est - exact) < 0.1


def test_ais_is_deterministic_and_independent_of_n_jobs(trained):
    rbm, _ = trained["bernoulli"]
    kw = dict(method="ais", n_chains=64, n_betas=200, random_state=3)
    assert 64 // _CHAINS_PER_BLOCK > 1  # two blocks of chains, on two threads
    one = rbm.set_params(n_jobs=1).log_partition(**kw)
    rbm._log_z_cache.clear()
    two = rbm.set_params(n_jobs=2).log_partition(**kw)
    assert one == two
    assert one != rbm.log_partition(**dict(kw, random_state=4))


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("T", [1.0, 2.0])
def test_score_samples_is_the_exact_log_likelihood(visible, T):
    rng = np.random.default_rng(0)
    X = (
        (rng.random((80, 5)) < 0.4).astype(float)
        if visible == "bernoulli"
        else rng.normal(size=(80, 5))
    )
    rbm = BoltzmannMachine(
        3, visible=visible, max_iter=5, temperature=T, random_state=0
    ).fit(X)
    if visible == "bernoulli":
        log_z = log_partition_bernoulli(rbm._params(), T)
        np.testing.assert_allclose(rbm.log_partition(), log_z, rtol=1e-12)
        # probabilities over all 2**5 states sum to one
        from _brute import states

        assert np.exp(rbm.score_samples(states(5))).sum() == pytest.approx(1.0)
    expected = -brute_free_energy(rbm._params(), X, T) / T - rbm.log_partition()
    np.testing.assert_allclose(rbm.score_samples(X), expected, rtol=1e-10)
    assert rbm.score(X) == pytest.approx(expected.mean())


def test_training_data_scores_above_shuffled_pixels(trained):
    rbm, X = trained["bernoulli"]
    shuffled = np.random.default_rng(0).permuted(X, axis=1)
    assert rbm.score(X) > rbm.score(shuffled) + 5


def test_log_partition_cache_follows_the_model():
    X = (np.random.default_rng(1).random((60, 6)) < 0.5).astype(float)
    rbm = BoltzmannMachine(4, max_iter=3, random_state=0).fit(X)
    first = rbm.log_partition()
    assert rbm.log_partition() == first and len(rbm._log_z_cache) == 1
    hot = rbm.set_params(temperature=2.0).log_partition()
    assert hot != first
    rbm.set_params(temperature=1.0).partial_fit(X)
    assert rbm.log_partition() != first  # partial_fit changed the model
    rbm.fit(X)
    assert rbm.log_partition() == first  # same data and seed: same model again


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "ais", "n_betas": 1}, "n_betas"),
        ({"method": "ais", "n_chains": 0}, "n_chains"),
        ({"method": "annealing"}, "method"),
        ({"method": "ais", "schedule": "geometric"}, "schedule"),
        ({"method": "ais", "schedule": [0.0]}, "schedule"),
        ({"method": "ais", "schedule": [[0.0, 1.0]]}, "1-D"),
        ({"method": "ais", "schedule": [0.0, 0.5, np.nan, 1.0]}, "NaN"),
        ({"method": "ais", "schedule": [0.1, 0.5, 1.0]}, "from 0 to 1"),
        ({"method": "ais", "schedule": [0.0, 0.5, 0.9]}, "from 0 to 1"),
        ({"method": "ais", "schedule": [0.0, 0.6, 0.5, 1.0]}, "decreasing"),
        ({"method": "ais", "schedule": [0.0, 1.0], "n_betas": 3}, "2 betas"),
    ],
)
def test_bad_log_partition_arguments(kwargs, match):
    rbm = BoltzmannMachine(2, max_iter=1).fit(np.eye(3))
    with pytest.raises(ValueError, match=match):
        rbm.log_partition(**kwargs)


def test_a_given_schedule_is_annealed_as_given(trained):
    """An array of betas is the schedule itself: evenly spaced ones give the
    uniform schedule's estimate and sandwich to the bit; a schedule denser
    near beta = 1 (Salakhutdinov & Murray's shape) gives its own, which
    still holds the exact value."""
    rbm, _ = trained["bernoulli"]
    kw = dict(method="ais", n_chains=64, random_state=0, return_bounds=True)
    uniform = rbm.log_partition(n_betas=400, schedule="uniform", **kw)
    *given, diag = rbm.log_partition(
        schedule=np.linspace(0, 1, 400).tolist(), return_diagnostics=True, **kw
    )
    assert tuple(given) == uniform
    assert (diag["schedule"], diag["n_betas"]) == ("given", 400)
    assert "dense_betas" not in diag  # no pilot
    sm = np.concatenate(
        [np.linspace(0, 0.5, 20, False), np.linspace(0.5, 0.9, 160, False)]
        + [np.linspace(0.9, 1, 220)]
    )
    sm.flags.writeable = False  # as pandas hands out its values
    est, lower, upper = rbm.log_partition(schedule=sm, **kw)
    assert (est, lower, upper) != uniform  # another schedule, another value
    assert lower <= rbm.log_partition("exact") <= upper
    # cached by the betas' values: an equal array is a hit, a moved beta is not
    moved = sm.copy()
    assert rbm.log_partition(schedule=moved, **kw) == (est, lower, upper)
    moved[100] += 1e-3
    assert rbm.log_partition(schedule=moved, **kw) != (est, lower, upper)


def test_exact_refused_for_large_models_with_a_way_out():
    X = (np.random.default_rng(2).random((40, 30)) < 0.5).astype(float)
    rbm = BoltzmannMachine(30, max_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="method='ais'"):
        rbm.log_partition("exact")
    # auto falls back to AIS for it
    assert np.isfinite(rbm.log_partition("auto", n_betas=50, n_chains=8))


def test_learns_a_known_rbm_to_its_own_likelihood():
    """Trained on exact samples of a known RBM, the held-out log-likelihood
    comes close to the known model's own (the optimum in expectation)."""
    from _brute import random_params, states

    known = random_params(8, 4, scale=3.0, seed=11)  # strong couplings
    S = states(8)
    log_p = -brute_free_energy(known, S, 1.0) - log_partition_bernoulli(known, 1.0)
    rng = np.random.default_rng(0)
    train = S[rng.choice(256, 8000, p=np.exp(log_p))]
    test_idx = rng.choice(256, 5000, p=np.exp(log_p))
    truth = log_p[test_idx].mean()
    fitted = BoltzmannMachine(4, random_state=0).fit(train)
    untrained = BoltzmannMachine(4, max_iter=0, random_state=0).fit(train)
    gap_fitted = truth - fitted.score(S[test_idx])
    gap_untrained = truth - untrained.score(S[test_idx])  # independent pixels
    assert gap_untrained > 0.08  # the couplings matter ...
    assert gap_fitted < 0.03 and gap_fitted < gap_untrained / 5  # ... and are learnt


def _tiny_model(seed, scale=2.0, V=6, H=4):
    from sklearn_thermo._core.model import RBMParams

    rng = np.random.default_rng(seed)
    return RBMParams(
        rng.normal(0, scale, (H, V)), rng.normal(0, 1, V), rng.normal(0, 1, H)
    )


def _exact_samples(params, n, seed):
    """Exact visible samples: enumerate the 2**V states, draw from p(v)."""
    from sklearn_thermo._core.model import visible_free_energy
    from sklearn_thermo._core.partition import all_states

    S = all_states(params.n_visible)
    log_p = -visible_free_energy(params, S, 1.0)
    p = np.exp(log_p - log_p.max())
    idx = np.random.default_rng(seed).choice(len(S), n, p=p / p.sum())
    return S[idx]


def _runner(seed):
    from sklearn_thermo._core.threads import BlockRunner

    return BlockRunner(1, seed)


def test_forward_and_reverse_ais_bound_log_z_in_expectation():
    from sklearn_thermo._core.ais import (
        log_partition_ais,
        log_partition_reverse_ais,
    )
    from sklearn_thermo._core.partition import log_partition_exact

    params = _tiny_model(0)
    exact = log_partition_exact(params, 1.0)
    base = np.zeros(params.n_visible)
    fwd, rev = [], []
    for seed in range(20):  # few betas: each end is biased its own way
        v0 = _exact_samples(params, 40, seed)
        with _runner(seed) as r:
            fwd.append(
                log_partition_ais(params, 1.0, base, n_chains=40, n_betas=4, runner=r)[
                    0
                ]
            )
            rev.append(
                log_partition_reverse_ais(
                    params, 1.0, base, v0=v0, n_betas=4, runner=r
                )[0]
            )
    assert np.mean(fwd) < exact < np.mean(rev)
    # with a long annealing from exact samples, reverse AIS converges to log Z
    v0 = _exact_samples(params, 200, 99)
    with _runner(7) as r:
        est, spread, _ = log_partition_reverse_ais(
            params, 1.0, base, v0=v0, n_betas=2000, runner=r
        )
    assert abs(est - exact) < max(0.05, spread)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The AIS bounds on log Z are")  # wide: expected
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["pcd", "pt"])
def test_ais_sandwich_contains_log_z_of_sharp_models(seed, method):
    # bars and stripes: 30 sharp modes, and the exact value by enumerating
    # the 16 visible units; the forward estimate alone misses it by nats
    X = np.tile(bars_and_stripes(), (10, 1))
    rbm = BoltzmannMachine(64, method=method, max_iter=150, random_state=seed).fit(X)
    exact = rbm.log_partition("exact")
    est, lower, upper = rbm.log_partition(
        "ais", n_betas=1000, return_bounds=True, random_state=0
    )
    assert lower <= exact <= upper
    assert lower <= est
    # the reverse run jumps too: chains that start in one mode leave it, and
    # the upper end is close (many nats above without the reverse jumps)
    assert upper - lower < 3


def _schedule(params, n_betas, seed, n_chains=64):
    from sklearn_thermo._core.ais import adaptive_schedule

    with _runner(seed) as r:
        return adaptive_schedule(
            params,
            1.0,
            np.zeros(params.n_visible),
            n_chains=n_chains,
            n_betas=n_betas,
            runner=r,
        )


def test_adaptive_schedule_is_even_where_no_chain_falls_behind():
    from sklearn_thermo._core.model import RBMParams

    # no weights, and the base model's own visible biases: every chain gets
    # the same weight at every beta, the pilot's ESS never falls
    H, V = 3, 5
    params = RBMParams(np.zeros((H, V)), np.zeros(V), np.ones(H))
    betas, ess = _schedule(params, 2000, 0)
    assert ess.shape == (2, 51) and np.allclose(ess, 64)  # both pilots
    assert np.allclose(betas, np.linspace(0, 1, 2000))


def test_adaptive_schedule_gathers_betas_where_the_pilots_lose_chains():
    from sklearn_thermo._core.ais import _PILOT_LEAD, adaptive_schedule

    # bars and stripes: as beta grows the annealed distributions split into
    # 30 sharp modes that the chains cannot cross
    X = np.tile(bars_and_stripes(), (10, 1))
    rbm = BoltzmannMachine(64, max_iter=150, random_state=0).fit(X)
    with _runner(0) as r:
        betas, (forward, reverse) = adaptive_schedule(
            rbm._params(),
            1.0,
            rbm._base_visible_bias,
            n_chains=64,
            n_betas=5000,
            runner=r,
        )
    assert betas.shape == (5000,) and betas[0] == 0 and betas[-1] == 1
    assert np.all(np.diff(betas) > 0)
    # both pilots lost chains
    assert forward[-1] < forward[0] / 2 and reverse[-1] < reverse[0] / 2
    # where the forward pilot's ESS fell the most (a stretch of 1/50 of
    # beta), and just before, the schedule is denser than even spacing;
    # likewise where the reverse pilot's fell the most (counted from beta = 1
    # down), and just above
    k = int(np.argmax(-np.diff(np.log(forward))))
    lo, hi = max(0.0, (k + 1) / 50 - _PILOT_LEAD), (k + 1) / 50
    assert np.mean((betas >= lo) & (betas <= hi)) > 2 * (hi - lo)
    i = int(np.argmax(-np.diff(np.log(reverse))))
    lo, hi = 1 - (i + 1) / 50, min(1.0, 1 - i / 50 + _PILOT_LEAD)
    assert np.mean((betas >= lo) & (betas <= hi)) > 2 * (hi - lo)
    # its middle half of the betas covers well under half of the range
    q1, q3 = np.quantile(betas, [0.25, 0.75])
    assert q3 - q1 < 0.3
    # and the runs that use it keep more of their chains than even spacing
    ess = {
        schedule: np.mean(
            [
                rbm.log_partition(
                    "ais",
                    n_betas=2000,
                    schedule=schedule,
                    random_state=seed,
                    return_diagnostics=True,
                )[1]["effective_sample_size"]
                for seed in range(3)
            ]
        )
        for schedule in ("uniform", "adaptive")
    }
    # (the ratio depends on the model; it was above 1.1 on every model seed
    # tried)
    assert ess["adaptive"] > 1.1 * ess["uniform"]


def test_recorded_log_weights_end_at_the_final_ones():
    from sklearn_thermo._core.ais import _log_weights

    params = _tiny_model(0)
    betas = np.linspace(0, 1, 300)
    record = np.empty((3, 40))
    with _runner(0) as r:
        log_w = _log_weights(
            params,
            1.0,
            np.zeros(6),
            betas,
            40,
            r,
            record_at=[7, 150, 299],
            record=record,
        )
    assert np.array_equal(record[-1], log_w)
    assert np.all(np.isfinite(record)) and not np.array_equal(record[0], record[1])


def test_resampling_follows_the_weights():
    from sklearn_thermo._core.ais import _resample

    states = np.arange(5.0)[:, None]
    # equal weights: every state once (u off the cells' edges, where
    # rounding decides)
    for u in (0.3, 0.5, 0.999):
        np.testing.assert_array_equal(_resample(states, np.zeros(5), u), states)
    # one weight dominates: only that state
    log_w = np.array([0.0, 0.0, 800.0, 0.0, 0.0])
    assert (_resample(states, log_w, 0.5) == 2).all()
    # systematic: state i drawn floor or ceil of n w_i times
    rng = np.random.default_rng(0)
    states = np.arange(50.0)[:, None]
    for _ in range(20):
        log_w = rng.normal(0, 2, 50)
        w = np.exp(log_w - log_w.max())
        counts = np.bincount(
            _resample(states, log_w, rng.random())[:, 0].astype(int), minlength=50
        )
        expected = 50 * w / w.sum()
        assert counts.sum() == 50
        assert (counts >= np.floor(expected) - 1e-9).all()
        assert (counts <= np.ceil(expected) + 1e-9).all()


def _exact_visible_mean(params):
    """``E[v]`` of a tiny model, by enumerating its visible states."""
    from sklearn_thermo._core.model import visible_free_energy
    from sklearn_thermo._core.partition import all_states

    S = all_states(params.n_visible)
    log_p = -visible_free_energy(params, S, 1.0)
    p = np.exp(log_p - log_p.max())
    return (p / p.sum()) @ S


def test_ais_resampled_states_estimate_the_model_marginals():
    # resampled by weight, AIS's last states are (unweighted) model samples
    from sklearn_thermo._core.ais import log_partition_ais

    params = _tiny_model(1, scale=1.0)
    exact_mean = _exact_visible_mean(params)
    samples = np.full((2000, params.n_visible), -1.0)
    with _runner(0) as r:
        log_partition_ais(
            params,
            1.0,
            np.zeros(params.n_visible),
            n_chains=2000,
            n_betas=200,
            runner=r,
            samples=samples,
            rng=np.random.RandomState(0),
        )
    assert set(np.unique(samples)) <= {0.0, 1.0}  # every row written, binary
    np.testing.assert_allclose(samples.mean(axis=0), exact_mean, atol=0.05)


def test_wide_sandwich_warns_with_the_remedy():
    X = np.tile(bars_and_stripes(), (10, 1))
    rbm = BoltzmannMachine(64, max_iter=60, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="Raise n_betas"):
        rbm.log_partition("ais", n_betas=20, return_bounds=True, random_state=0)
    # the estimate alone asks for no sandwich, hence no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rbm.log_partition("ais", n_betas=20, random_state=0)
        rbm.log_partition("exact", return_bounds=True)


def test_sandwich_is_independent_of_n_jobs(trained):
    rbm, _ = trained["bernoulli"]
    kw = dict(method="ais", n_chains=64, n_betas=100, return_bounds=True)
    one = rbm.set_params(n_jobs=1).log_partition(random_state=5, **kw)
    rbm._log_z_cache.clear()
    two = rbm.set_params(n_jobs=2).log_partition(random_state=5, **kw)
    assert one == two
    # the forward estimate is the same with or without the bounds
    assert one[0] == rbm.log_partition("ais", n_chains=64, n_betas=100, random_state=5)


def test_weight_diagnostics_range_from_one_chain_to_all():
    from sklearn_thermo._core.ais import weight_diagnostics

    equal = weight_diagnostics(np.full(50, 3.0))
    assert equal["effective_sample_size"] == pytest.approx(50)
    assert equal["log_weight_variance"] == 0.0
    one = weight_diagnostics(np.r_[100.0, np.zeros(49)])  # one chain dominates
    assert one["effective_sample_size"] == pytest.approx(1.0)
    log_w = np.random.default_rng(0).normal(0, 2, 1000)
    w = np.exp(log_w)
    got = weight_diagnostics(log_w)
    assert got["effective_sample_size"] == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert got["log_weight_variance"] == pytest.approx(np.var(log_w, ddof=1))


def test_log_partition_diagnostics(trained):
    rbm, _ = trained["bernoulli"]
    exact, diag = rbm.log_partition("exact", return_diagnostics=True)
    assert exact == rbm.log_partition("exact") and diag == {"method": "exact"}
    kw = dict(method="ais", n_chains=64, random_state=0)
    est, diag = rbm.log_partition(n_betas=500, return_diagnostics=True, **kw)
    assert est == rbm.log_partition(n_betas=500, **kw)
    assert diag["method"] == "ais" and (diag["n_chains"], diag["n_betas"]) == (64, 500)
    assert diag["schedule"] == "adaptive"
    for key in ("pilot_effective_sample_size", "reverse_pilot_effective_sample_size"):
        pilot = diag[key]
        assert type(pilot) is float and 1 <= pilot <= 64  # plain floats, like the rest
    assert 0 <= diag["dense_betas"][0] < diag["dense_betas"][1] <= 1
    uniform = rbm.log_partition(
        n_betas=500, schedule="uniform", return_diagnostics=True, **kw
    )[1]
    assert uniform["schedule"] == "uniform" and "dense_betas" not in uniform
    assert 1 <= diag["effective_sample_size"] <= 64
    assert diag["log_weight_variance"] >= 0
    assert 0 <= diag["jump_acceptance"] <= 1  # Bernoulli units: jumps ran
    gaussian = trained["gaussian"][0].log_partition(
        n_betas=50, return_diagnostics=True, **kw
    )[1]
    assert "jump_acceptance" not in gaussian  # real-valued states: no jumps
    # a short annealing leaves a few chains carrying the estimate
    short = rbm.log_partition(n_betas=3, return_diagnostics=True, **kw)[1]
    assert short["effective_sample_size"] < diag["effective_sample_size"] / 2
    assert short["log_weight_variance"] > diag["log_weight_variance"]
    # the returned dict is the caller's: editing it does not reach the cache
    diag["effective_sample_size"] = -1.0
    again = rbm.log_partition(n_betas=500, return_diagnostics=True, **kw)[1]
    assert again["effective_sample_size"] >= 1


def test_sandwich_diagnostics_describe_both_runs(trained):
    rbm, _ = trained["bernoulli"]
    kw = dict(method="ais", n_chains=64, n_betas=300, random_state=0)
    est, lower, upper, diag = rbm.log_partition(
        return_bounds=True, return_diagnostics=True, **kw
    )
    assert (est, lower, upper) == rbm.log_partition(return_bounds=True, **kw)
    assert diag["width"] == pytest.approx(upper - lower)
    for run in ("", "reverse_"):
        assert 1 <= diag[f"{run}effective_sample_size"] <= 64
        assert diag[f"{run}log_weight_variance"] >= 0
        assert 0 <= diag[f"{run}jump_acceptance"] <= 1  # both runs jump


def test_sandwich_holds_the_estimate_when_the_ends_cross(trained, monkeypatch):
    """A reverse run whose starts missed mass comes out below the forward
    estimate: the diagnostics say by how much, and the interval still holds
    the estimate."""
    from sklearn_thermo._core import partition

    rbm, _ = trained["bernoulli"]
    kw = dict(method="ais", n_chains=64, n_betas=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no crossing to report
        est, lower, upper, diag = rbm.log_partition(
            return_bounds=True, return_diagnostics=True, **kw
        )
    assert lower <= est <= upper
    assert diag["crossing"] < upper - est  # the reverse end is above the estimate
    assert diag["reverse_upper"] == pytest.approx(upper)
    real = partition.log_partition_reverse_ais

    def low_reverse(*args, **kwargs):
        value, spread, diagnostics = real(*args, **kwargs)
        return est - 2.0, min(spread, 1.0), diagnostics

    monkeypatch.setattr(partition, "log_partition_reverse_ais", low_reverse)
    rbm = copy.deepcopy(rbm)  # the fixture's cache must not see the fake
    rbm.__dict__.pop("_log_z_cache", None)
    with pytest.warns(UserWarning, match="bounds nothing. Raise n_chains"):
        est2, lower2, upper2, diag2 = rbm.log_partition(
            return_bounds=True, return_diagnostics=True, **kw
        )
    assert (est2, lower2) == (est, lower)  # the forward run is the same
    assert diag2["reverse_upper"] < est
    assert diag2["crossing"] == pytest.approx(2.0)
    assert upper2 == est  # the reverse end, far below, is replaced
    assert diag2["width"] == pytest.approx(upper2 - lower2)


def test_crossing_counts_only_beyond_both_runs_noise():
    from sklearn_thermo._rbm import _crossed_beyond_noise

    # forward 10.0 with three standard errors 0.3; reverse 9.55 with 0.4:
    # a crossing of 0.45, below hypot(0.3, 0.4) = 0.5, is noise
    diag = {"crossing": 0.45, "reverse_upper": 9.95}
    assert not _crossed_beyond_noise(10.0, 9.7, diag)
    diag = {"crossing": 0.6, "reverse_upper": 9.8}  # reverse 9.4 + 0.4
    assert _crossed_beyond_noise(10.0, 9.7, diag)
    # ... and not when the forward run alone is that noisy
    assert not _crossed_beyond_noise(10.0, 9.0, diag)
    assert not _crossed_beyond_noise(10.0, 9.7, {})  # no reverse run (exact)


def test_ais_final_states_weighted_estimate_the_model_marginals():
    # AIS's last states, weighted by their importance weights, are a sample
    # of the model: their weighted mean estimates E[v]
    from sklearn_thermo._core.ais import _log_weights

    params = _tiny_model(1, scale=1.0)
    exact_mean = _exact_visible_mean(params)
    base = np.zeros(params.n_visible)
    final = np.full((2000, params.n_visible), -1.0)
    with _runner(0) as r:
        log_w = _log_weights(
            params, 1.0, base, np.linspace(0, 1, 200), 2000, r, final=final
        )
    assert set(np.unique(final)) <= {0.0, 1.0}  # every row written, binary
    w = np.exp(log_w - log_w.max())
    np.testing.assert_allclose((w / w.sum()) @ final, exact_mean, atol=0.05)


def _reference_log_f(params, T, a_A, beta, V):
    """``log f_beta(v)`` by the free energy of the scaled model: ``W`` and
    ``c`` times ``beta``, the visible biases mixed with the base model's."""
    from sklearn_thermo._core.model import RBMParams, visible_free_energy

    mixed = RBMParams(
        beta * params.W,
        (1 - beta) * a_A + beta * params.visible_bias,
        beta * params.hidden_bias,
        params.visible,
    )
    return -visible_free_energy(mixed, V, T).astype(np.float64) / T


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1.0, 0.7])
def test_jump_log_f_matches_the_free_energy(dtype, T):
    # log f_beta from the products equals the scaled model's free energy
    from sklearn_thermo._core._kernels import ais_jump_log_f

    from sklearn_thermo._core.ais import _Jumper

    params = _tiny_model(2, scale=1.5).astype(dtype)
    rng = np.random.default_rng(1)
    a_A = rng.normal(0, 1, params.n_visible).astype(dtype)
    S = (rng.random((30, params.n_visible)) < 0.5).astype(dtype)
    jumper = _Jumper(params, a_A, S[:5], flip=0.2)
    x = jumper.weights @ np.ascontiguousarray(S.T)
    for beta in (0.0, 0.3, 1.0):
        want = _reference_log_f(params, T, a_A, beta, S)
        got = ais_jump_log_f(x, params.hidden_bias, beta, T)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got - got[0], want - want[0], atol=tol)


def _reference_jump(params, T, a_A, anchors, flip, S, beta, draws):
    """One jump of every chain (rows of S) by the textbook formulas, with the
    kernel's draws: the states after, and which moves were accepted, with
    the margin of each decision."""
    log_u, pick, flips = draws
    V = params.n_visible
    prop = np.where(flips, 1 - anchors[pick], anchors[pick])

    def log_q(X):
        d = np.abs(X[:, None, :] - anchors[None]).sum(axis=2)
        return logsumexp(d * np.log(flip) + (V - d) * np.log1p(-flip), axis=1)

    log_ratio = (
        _reference_log_f(params, T, a_A, beta, prop)
        - _reference_log_f(params, T, a_A, beta, S)
        + log_q(S)
        - log_q(prop)
    )
    accept = log_u < log_ratio
    return np.where(accept[:, None], prop, S), accept, np.abs(log_u - log_ratio)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "T, beta, scale, V", [(1.0, 0.4, 1.5, 10), (0.7, 1.0, 4.0, 10), (1.0, 0.3, 0.3, 70)]
)
def test_jump_makes_the_textbook_decisions(dtype, T, beta, scale, V):
    # every chain's move (its proposal, its Metropolis-Hastings decision,
    # early rejections included) is the textbook one with the same draws,
    # and the products stay those of the states (V = 70: states packed in
    # two words)
    from sklearn_thermo._core._kernels import ais_jump, ais_jump_draws

    from sklearn_thermo._core.ais import _Jumper

    params = _tiny_model(4, scale=scale, V=V, H=5).astype(dtype)
    rng = np.random.default_rng(2)
    a_A = rng.normal(0, 1, V).astype(dtype)
    anchors = (rng.random((7, V)) < 0.5).astype(dtype)
    flip, key = 0.15, 12345
    # states near the anchors, as the proposals are: both outcomes common
    S = np.abs(anchors[rng.integers(7, size=400)] - (rng.random((400, V)) < flip))
    jumper = _Jumper(params, a_A, anchors, flip=flip)
    v = np.ascontiguousarray(S.T)
    x = jumper.weights @ v
    n_acc = ais_jump(v, x, params.hidden_bias, jumper, beta, temperature=T, key=key)
    draws = ais_jump_draws(len(S), V, len(anchors), flip, key)
    want, accept, margin = _reference_jump(
        params, T, a_A, anchors, flip, S.astype(np.float64), beta, draws
    )
    clear = margin > (1e-3 if dtype == np.float32 else 1e-8)
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(v.T[clear], want[clear])
    assert 20 < accept.sum() < len(S) - 20  # both outcomes are common
    assert abs(n_acc - accept.sum()) <= (~clear).sum()
    np.testing.assert_allclose(x, jumper.weights @ v, atol=1e-5)


def test_jump_draws_flip_each_bit_independently_with_its_rate():
    # the proposal's density assumes independent Bernoulli(flip) bits and a
    # uniform anchor; the geometric gaps must give exactly that
    from sklearn_thermo._core._kernels import ais_jump_draws

    n = 20_000
    log_u, pick, flips = ais_jump_draws(n, 40, 3, 0.1, key=7)
    np.testing.assert_allclose(flips.mean(axis=0), 0.1, atol=0.01)
    counts = flips.sum(axis=1)
    assert abs(counts.var() - 40 * 0.1 * 0.9) < 0.2  # binomial, not fixed
    pair = np.corrcoef(flips[:, 3], flips[:, 4])[0, 1]  # neighbours independent
    assert abs(pair) < 0.03
    np.testing.assert_allclose(np.bincount(pick, minlength=3) / n, 1 / 3, atol=0.015)
    u = np.exp(log_u)
    assert u.max() <= 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(u, flips[:, 0])[0, 1]) < 0.03
    other = ais_jump_draws(n, 40, 3, 0.1, key=8)[2]
    assert (other != flips).any()  # another key, other draws


def _exact_annealed_samples(params, a_A, beta, n, seed):
    """Exact samples of f_beta (unit-major) and the exact probabilities."""
    from sklearn_thermo._core.partition import all_states

    S = all_states(params.n_visible, dtype=params.dtype)
    log_f = _reference_log_f(params, 1.0, a_A, beta, S)
    p = np.exp(log_f - log_f.max())
    p /= p.sum()
    idx = np.random.default_rng(seed).choice(len(S), n, p=p)
    return S, p, idx


def _total_variation(v, S, p):
    codes = (v.T.astype(int) << np.arange(S.shape[1])).sum(axis=1)
    freq = np.bincount(codes, minlength=len(S)) / v.shape[1]
    return 0.5 * np.abs(freq - p).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jump_leaves_the_annealed_distribution_invariant(dtype):
    # exact samples of f_beta stay exact samples after a jump: its
    # Metropolis-Hastings ratio is right, whatever the anchors
    from sklearn_thermo._core._kernels import ais_jump

    from sklearn_thermo._core.ais import _Jumper

    params = _tiny_model(3, scale=1.5).astype(dtype)
    a_A = np.linspace(-1, 1, params.n_visible).astype(dtype)
    beta = 0.7
    S, p, idx = _exact_annealed_samples(params, a_A, beta, 40_000, 0)
    v = np.ascontiguousarray(S[idx].T)  # unit-major, as the kernel keeps them
    anchors = S[[0, 5, 63]]  # far from the modes or not: any anchors will do
    jumper = _Jumper(params, a_A, anchors, flip=0.1)
    ais_jump(v, jumper.weights @ v, params.hidden_bias, jumper, beta, key=3)
    moved = (np.ascontiguousarray(v.T) != S[idx]).any(axis=1).mean()
    assert moved > 0.05  # the test would pass trivially if nothing moved
    assert _total_variation(v, S, p) < 0.03


def test_annealing_kernel_jumps_keep_the_distribution():
    # the kernel's own jumps (the product it makes for them, handed to the
    # next step) at a constant beta: Gibbs steps and jumps both leave f_beta
    # invariant, so exact samples stay exact and the weights stay 0
    from sklearn_thermo._core._kernels import ais_anneal

    from sklearn_thermo._core.ais import _Jumper

    params = _tiny_model(3, scale=1.5)
    a_A = np.linspace(-1, 1, params.n_visible)
    beta = 0.7
    S, p, idx = _exact_annealed_samples(params, a_A, beta, 40_000, 1)
    v = np.ascontiguousarray(S[idx].T)
    jumper = _Jumper(params, a_A, S[[0, 5, 63]], flip=0.1)
    log_w = np.zeros(v.shape[1])
    accepted = ais_anneal(
        v,
        jumper.weights,
        np.ascontiguousarray(params.W.T),
        params.hidden_bias,
        a_A,
        params.visible_bias,
        np.full(5, beta),
        log_w,
        key=9,
        jumps=jumper,
        jump_at=np.array([0, 1, 0, 1, 1], np.uint8),
    )
    assert accepted > 0.05 * 3 * v.shape[1]
    assert _total_variation(v, S, p) < 0.03
    np.testing.assert_array_equal(log_w, 0.0)


@pytest.mark.slow
def test_jumps_find_the_modes_that_annealing_misses():
    # sharp bars-and-stripes models whose forward AIS without jumps misses
    # modes by up to a few nats (by more than the 0.5 on each of
    # random_state 0-4): jumps to the training patterns find them, within
    # 0.5 nats on each
    X = np.tile(bars_and_stripes(), (10, 1))
    models, with_jumps = [], []
    for seed in range(3):
        rbm = BoltzmannMachine(256, max_iter=200, random_state=seed).fit(X)
        exact = rbm.log_partition("exact")
        estimate, diag = rbm.log_partition(
            "ais", random_state=0, return_diagnostics=True
        )
        assert diag["jump_acceptance"] > 0
        models.append((rbm, exact))
        with_jumps.append(abs(estimate - exact))
    assert max(with_jumps) < 0.5
    # without the jumps, as before them: some model's estimate misses by
    # 1.5 nats more than the worst with them (the search stops at the first
    # such model; each costs a run of AIS)
    without = []
    for rbm, exact in models:
        rbm._ais_anchors = None
        estimate, none = rbm.log_partition(
            "ais", random_state=0, return_diagnostics=True
        )
        assert "jump_acceptance" not in none
        without.append(abs(estimate - exact))
        if without[-1] > max(with_jumps) + 1.5:
            break
    assert max(without) > max(with_jumps) + 1.5, (with_jumps, without)


@pytest.mark.parametrize("n_features", [1, 7, 8, 13, 64])
@pytest.mark.parametrize("sparse", [False, True])
def test_anchor_states_are_the_distinct_rounded_rows_in_sorted_order(
    n_features, sparse
):
    """The AIS jump targets: the distinct rows of evenly spaced training rows
    rounded at 1/2, in np.unique's order (found on bit-packed rows)."""
    import scipy.sparse

    from sklearn_thermo._rbm import _N_ANCHORS, _anchor_rows, _anchor_states

    rng = np.random.default_rng(n_features)
    # few features: many repeated rows; grey values on both sides of 1/2
    X = rng.random((700, n_features)) * (rng.random((700, n_features)) < 0.4)
    packed = _anchor_rows(scipy.sparse.csr_matrix(X) if sparse else X)
    got = _anchor_states(packed, n_features, X.dtype)
    rows = np.unique(np.linspace(0, len(X) - 1, _N_ANCHORS).astype(np.intp))
    want = np.unique((X[rows] > 0.5).astype(X.dtype), axis=0)
    assert got.dtype == X.dtype
    np.testing.assert_array_equal(got, want)
    assert len(got) < len(rows) if n_features < 8 else len(got) > 1


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_ais_estimate_does_not_depend_on_summing_the_rows_of_the_ones(visible):
    # float32 AIS sums the weights' rows of the binary states' ones where few
    # are on, and multiplies otherwise: the estimate is the same to the bit
    # either way (jumps to the anchors included, for Bernoulli units)
    from sklearn_thermo._core._kernels import gather_below, packed_gemm_used

    if not packed_gemm_used():
        pytest.skip("no packed micro-kernel on this CPU or build: BLAS multiplies")
    rng = np.random.default_rng(0)
    X = (rng.random((200, 40)) < 0.1).astype(np.float32)
    if visible == "gaussian":
        X = X + rng.normal(0, 0.1, X.shape).astype(np.float32)
    rbm = BoltzmannMachine(24, visible=visible, max_iter=5, random_state=0).fit(X)
    estimates = []
    old = gather_below()
    try:
        for share in [-1.0, 2.0, old]:  # never, always, by cost
            gather_below(share)
            rbm._log_z_cache = {}
            estimates.append(
                rbm.log_partition("ais", n_chains=64, n_betas=400, random_state=0)
            )
    finally:
        gather_below(old)
    assert estimates[0] == estimates[1] == estimates[2]
    assert np.isfinite(estimates[0])
