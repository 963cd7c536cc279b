"""Parallel tempering: swaps, and better mixing on a multimodal target."""

import itertools

import numpy as np
import pytest

from sklearn_thermo import BoltzmannMachine


def bars_and_stripes(side=4):
    patterns = []
    for bits in itertools.product([0.0, 1.0], repeat=side):
        b = np.array(bits)
        patterns.append(np.repeat(b[:, None], side, axis=1).ravel())
        patterns.append(np.repeat(b[None, :], side, axis=0).ravel())
    return np.unique(np.array(patterns), axis=0)


@pytest.mark.slow
def test_pt_beats_pcd_on_bars_and_stripes():
    bas = bars_and_stripes()  # 30 well-separated modes of 16 pixels
    X = np.repeat(bas, 40, axis=0)
    scores = {}
    for method in ("pcd", "pt"):
        scores[method] = np.mean(
            [
                BoltzmannMachine(16, method=method, max_iter=30, random_state=seed)
                .fit(X)
                .score(bas)
                for seed in (0, 1)
            ]
        )
    # exact log-likelihood (2**16 states); the optimum is log(1/30) = -3.40
    assert scores["pt"] > scores["pcd"] + 0.3
    assert scores["pt"] <= np.log(1 / 30) + 1e-9


def test_swap_acceptance_rates():
    X = np.repeat(bars_and_stripes(3), 20, axis=0)
    rbm = BoltzmannMachine(
        8,
        method="pt",
        n_temperatures=5,
        max_temperature=4.0,
        max_iter=5,
        random_state=0,
    ).fit(X)
    rates = rbm.swap_acceptance_
    assert rates.shape == (4,)
    assert np.all((rates > 0) & (rates <= 1))
    # hotter pairs are closer in distribution: they swap more often
    assert rates[-1] > rates[0]
    rbm.partial_fit(X[:10])
    assert rbm.swap_acceptance_.shape == (4,)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_pt_trains_both_unit_types(visible):
    rng = np.random.default_rng(0)
    # (3 x 3 bars and stripes is too symmetric to leave its start quickly)
    X = (
        np.repeat(bars_and_stripes(4), 20, axis=0)
        if visible == "bernoulli"
        else rng.normal(size=(200, 9))
    )
    rbm = BoltzmannMachine(
        8, visible=visible, method="pt", n_temperatures=4, max_iter=15, random_state=0
    ).fit(X)
    untrained = BoltzmannMachine(8, visible=visible, max_iter=0, random_state=0).fit(X)
    assert np.isfinite(rbm.components_).all()
    if visible == "bernoulli":
        assert rbm.score(X) > untrained.score(X) + 0.2  # strong check: BAS test above


@pytest.mark.parametrize("method", ["gibbs", "pt", "annealed"])
@pytest.mark.parametrize("T", [1.0, 0.7])
def test_every_sampling_method_follows_the_model(method, T):
    from _brute import joint_probabilities, random_params

    known = random_params(4, 3, scale=1.0, seed=8)
    rbm = BoltzmannMachine(
        3,
        temperature=T,
        n_temperatures=4,
        max_temperature=3.0,
        max_iter=0,
        random_state=0,
    ).fit(np.eye(4))
    rbm.components_[:] = known.W
    rbm.intercept_visible_[:] = known.visible_bias
    rbm.intercept_hidden_[:] = known.hidden_bias
    _, _, P = joint_probabilities(rbm._params(), T)
    S = rbm.sample(20000, method=method, n_steps=30, random_state=1)
    assert S.shape == (20000, 4) and set(np.unique(S)) <= {0.0, 1.0}
    codes = (S @ (2 ** np.arange(4)[::-1])).astype(int)
    freq = np.bincount(codes, minlength=16) / len(S)
    assert 0.5 * np.abs(freq - P.sum(axis=1)).sum() < 0.03


def test_bad_sampling_method():
    rbm = BoltzmannMachine(2, max_iter=1).fit(np.eye(3))
    with pytest.raises(ValueError, match="method"):
        rbm.sample(2, method="metropolis")
