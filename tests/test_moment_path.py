"""AIS along the moment-averaging path: its direction, its accuracy, its API."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._core.model import RBMParams, visible_free_energy
from sklearn_thermo._core.moment_path import N_ANCHORS, MomentPath, _Jumps, _Proposal
from sklearn_thermo._core.partition import all_states, log_partition_exact
from sklearn_thermo._core.threads import BlockRunner


@pytest.fixture(scope="module")
def digits_rbm():
    X = (load_digits().data > 7).astype(float)
    return BoltzmannMachine(16, max_iter=15, random_state=0).fit(X)


def _sharp_model(seed, V=8, H=5):
    rng = np.random.default_rng(seed)
    return RBMParams(
        rng.normal(0, 2.0, (H, V)), rng.normal(0, 1, V), rng.normal(0, 1, H)
    )


def _exact_samples(params, n, seed, T=1.0):
    S = all_states(params.n_visible)
    log_p = -visible_free_energy(params, S, T) / T
    p = np.exp(log_p - log_p.max())
    return S[np.random.default_rng(seed).choice(len(S), n, p=p / p.sum())]


def _path(params, T, seed, jump_anchors=None):
    base = np.zeros(params.n_visible)
    with BlockRunner(1, seed) as runner:
        return MomentPath.fit(
            params,
            T,
            base,
            _exact_samples(params, 200, seed, T),
            runner=runner,
            jump_anchors=jump_anchors,
        )


def test_anchors_run_from_the_base_model_to_the_model():
    params, T = _sharp_model(0), 2.0
    route = _path(params, T, 0)
    assert len(route.anchors) == N_ANCHORS
    first, last = route.anchors[0], route.anchors[-1]
    assert not first.W.any() and not first.hidden_bias.any()
    np.testing.assert_array_equal(first.visible_bias, 0.0)  # the base's, over T
    np.testing.assert_allclose(last.W, params.W / T)
    np.testing.assert_allclose(last.visible_bias, params.visible_bias / T)
    assert all(np.isfinite(a.W).all() for a in route.anchors)
    # log Z of the base: visible units at their biases, hidden units free
    n_v, n_h = params.n_visible, params.n_hidden
    assert route.log_z_base == pytest.approx((n_v + n_h) * np.log(2.0))


@pytest.mark.parametrize("T", [1.0, 2.0])
@pytest.mark.parametrize("jumps", [False, True])
def test_weights_estimate_z_without_bias_in_both_directions(T, jumps):
    # one Gibbs step per segment: the estimates are far from converged, yet
    # the mean weight estimates Z (forward) and 1 / Z (reverse, from exact
    # samples) without bias, so that thousands of chains hold log Z within
    # three standard errors; a wrong weight would be off by the annealing's
    # shortfall, here many standard errors. With jumps (near a few states,
    # proposed from the middle of the path on) the same holds
    params = _sharp_model(1)
    exact = log_partition_exact(params, T)
    near = all_states(params.n_visible)[[3, 100, 250]] if jumps else None
    route = _path(params, T, 1, near)
    with BlockRunner(1, 2) as runner:
        est, lower, upper, forward = route.forward(4000, N_ANCHORS, runner)
        v0 = _exact_samples(params, 4000, 3, T)
        back, spread, backward = route.backward(v0, N_ANCHORS, runner)
    assert lower <= exact <= upper
    assert abs(back - exact) <= spread
    if jumps:
        assert forward["jump_acceptance"] > 0 and backward["jump_acceptance"] > 0
    else:
        assert "jump_acceptance" not in forward
    # and the short annealing is visibly short: the log weights spread, so
    # that their mean lies well off log Z on each side
    assert forward["log_weight_variance"] > 0.1
    assert backward["log_weight_variance"] > 0.1


@pytest.mark.parametrize("flip", [0.3, 0.45])
def test_jumps_sample_the_distribution_at_their_point_of_the_path(flip):
    # jumps alone, repeated, from every chain at one state: their stationary
    # distribution is the path's at that point only if the acceptance
    # ratio has the proposal's densities right (a proposal that favours
    # states near the anchors, here strongly at flip 0.3)
    params, s = _sharp_model(4, V=6, H=4), 0.3
    rng = np.random.default_rng(0)
    other = RBMParams(
        rng.normal(0, 1, (4, 6)), rng.normal(0, 1, 6), rng.normal(0, 1, 4)
    )
    segment = (
        np.ascontiguousarray(np.vstack([params.W, other.W - params.W]).T),
        np.concatenate([params.hidden_bias, other.hidden_bias - params.hidden_bias]),
        other.W - params.W,
        params.visible_bias,
        other.visible_bias - params.visible_bias,
    )
    at_s = RBMParams(
        params.W + s * (other.W - params.W),
        params.visible_bias + s * (other.visible_bias - params.visible_bias),
        params.hidden_bias + s * (other.hidden_bias - params.hidden_bias),
    )
    S = all_states(6)
    p = np.exp(-visible_free_energy(at_s, S, 1.0))
    p /= p.sum()
    n = 4000
    proposal = _Proposal(_Jumps(S[[3, 17, 40]], np.float64, flip), n, 4, np.float64)
    v = np.tile(S[5], (n, 1))
    accepted = 0
    for _ in range(1500):
        pre = v @ segment[0] + segment[1]
        accepted += proposal.jump(v, pre, segment, s, rng)
        np.testing.assert_allclose(pre, v @ segment[0] + segment[1])
    counts = np.bincount((v @ 2.0 ** np.arange(6)).astype(int), minlength=64)
    expected = n * p
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert 0 < accepted < 1500 * n
    assert chi2 < 63 + 5 * np.sqrt(2 * 63)  # 63 degrees of freedom, 5 sigma


def test_long_annealing_converges_to_log_z():
    params = _sharp_model(2)
    exact = log_partition_exact(params, 1.0)
    route = _path(params, 1.0, 2)
    with BlockRunner(1, 5) as runner:
        est = route.forward(200, 2001, runner)[0]
        back = route.backward(_exact_samples(params, 200, 6), 2001, runner)[0]
    assert abs(est - exact) < 0.05 and abs(back - exact) < 0.05


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_moment_sandwich_holds_the_exact_value(digits_rbm, T):
    rbm = digits_rbm.set_params(temperature=T)
    try:
        exact = rbm.log_partition("exact")
        est, lower, upper, info = rbm.log_partition(
            "ais",
            path="moments",
            n_chains=100,
            n_betas=1000,
            return_bounds=True,
            return_diagnostics=True,
            random_state=0,
        )
    finally:
        rbm.set_params(temperature=1.0)
    assert lower <= exact <= upper and upper - lower < 0.5
    assert abs(est - exact) < 0.1
    assert info["path"] == "moments" and info["schedule"] == "uniform"
    assert info["n_betas"] == 10 * (999 // 10) + 1  # whole steps per segment
    assert "pilot_effective_sample_size" not in info  # no pilot on this path


def test_moment_path_is_deterministic_and_independent_of_n_jobs(digits_rbm):
    kw = dict(method="ais", path="moments", n_chains=300, n_betas=100)
    rbm = digits_rbm
    try:
        one = rbm.set_params(n_jobs=1).log_partition(**kw, random_state=3)
        rbm._log_z_cache.clear()
        two = rbm.set_params(n_jobs=2).log_partition(**kw, random_state=3)
    finally:
        rbm.set_params(n_jobs=None)
    assert one == two
    assert one != rbm.log_partition(**kw, random_state=4)


def test_numpy_integer_chain_counts(digits_rbm):
    est = digits_rbm.log_partition(
        "ais", path="moments", n_chains=np.int64(40), n_betas=50, random_state=0
    )
    assert np.isfinite(est)


def test_geometric_path_is_the_default(digits_rbm):
    info = digits_rbm.log_partition(
        "ais", n_chains=20, n_betas=50, return_diagnostics=True, random_state=0
    )[-1]
    assert info["path"] == "geometric" and info["schedule"] == "adaptive"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"path": "straight"}, "path must be"),
        ({"path": "moments", "schedule": "adaptive"}, "schedule='uniform'"),
        ({"path": "moments", "schedule": [0.0, 0.5, 1.0]}, "schedule='uniform'"),
    ],
)
def test_bad_path_arguments(kwargs, match):
    rbm = BoltzmannMachine(2, max_iter=1).fit(np.eye(3))
    with pytest.raises(ValueError, match=match):
        rbm.log_partition("ais", **kwargs)


def test_moment_path_refuses_gaussian_units():
    X = np.random.default_rng(0).normal(size=(20, 3))
    rbm = BoltzmannMachine(2, visible="gaussian", max_iter=1).fit(X)
    with pytest.raises(ValueError, match="Bernoulli visible units only"):
        rbm.log_partition("ais", path="moments")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The AIS bounds on log Z are")  # wide: expected
def test_moment_sandwich_contains_log_z_of_a_sharp_model():
    # bars and stripes: 30 sharp modes, the exact value by enumerating the 16
    # visible units; the path's jumps, as the geometric path's, let its
    # chains reach modes that Gibbs steps alone miss on such models
    from sklearn_thermo._datasets import bars_and_stripes

    X = np.tile(bars_and_stripes(), (10, 1))
    rbm = BoltzmannMachine(64, max_iter=200, random_state=0).fit(X)
    exact = rbm.log_partition("exact")
    est, lower, upper = rbm.log_partition(
        "ais", path="moments", return_bounds=True, random_state=0
    )
    assert lower <= exact <= upper
    assert abs(est - exact) < 0.5
