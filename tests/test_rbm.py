"""BoltzmannMachine as a user runs it."""

import copy
import pickle
import re

import numpy as np
import pytest
import scipy.sparse as sp
from _brute import brute_free_energy
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._core.partition import log_partition_exact


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


def _binary(n=60, n_features=6, seed=0):
    return (np.random.default_rng(seed).random((n, n_features)) < 0.4).astype(float)


def _exact_loglik(rbm, X):
    log_z = log_partition_exact(rbm._params(np.float64), rbm.temperature)
    return np.mean(-rbm.free_energy(X) / rbm.temperature - log_z)


# --------------------------------------------------------------------------
# fitting, shapes, dtypes, sparse
# --------------------------------------------------------------------------
def test_fit_transform_shapes_and_attributes(digits):
    X, _ = digits
    rbm = BoltzmannMachine(n_components=16, max_iter=3, random_state=0).fit(X)
    assert rbm.components_.shape == (16, 64)
    assert rbm.intercept_hidden_.shape == (16,)
    assert rbm.intercept_visible_.shape == (64,)
    assert rbm.n_features_in_ == 64 and rbm.n_iter_ == 3
    H = rbm.transform(X)
    assert H.shape == (400, 16) and np.all((H >= 0) & (H <= 1))
    assert rbm.inverse_transform(H).shape == (400, 64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_end_to_end(digits, dtype):
    X = digits[0].astype(dtype)
    rbm = BoltzmannMachine(n_components=8, max_iter=2, random_state=0).fit(X)
    assert rbm.components_.dtype == dtype
    assert rbm.transform(X).dtype == dtype
    assert rbm.free_energy(X).dtype == dtype
    assert rbm.inverse_transform(rbm.transform(X)).dtype == dtype
    assert rbm.sample(3, n_steps=2).dtype == dtype
    rbm.partial_fit(X[:10])
    assert rbm.components_.dtype == dtype


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_sparse_input_gives_the_same_model(digits, method):
    X = (digits[0] > 0.5).astype(float)
    kw = dict(n_components=8, max_iter=3, method=method, random_state=0)
    dense = BoltzmannMachine(**kw).fit(X)
    sparse = BoltzmannMachine(**kw).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-12)
    np.testing.assert_allclose(
        dense.transform(sp.csr_matrix(X)), dense.transform(X), rtol=1e-12
    )
    np.testing.assert_allclose(
        dense.free_energy(sp.csr_matrix(X)), dense.free_energy(X), rtol=1e-12
    )


def test_gaussian_visible_units():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    X[:, 1] = X[:, 0] + 0.1 * rng.normal(size=200)  # structure to learn
    rbm = BoltzmannMachine(
        n_components=4,
        visible="gaussian",
        max_iter=20,
        learning_rate=0.01,
        random_state=0,
    ).fit(X)
    assert np.isfinite(rbm.components_).all()
    np.testing.assert_allclose(
        rbm.free_energy(X[:5]), brute_free_energy(rbm._params(), X[:5], 1.0)
    )
    # the model prefers the correlated data to data with the correlation broken
    broken = X.copy()
    broken[:, 1] = rng.permutation(broken[:, 1])
    assert rbm.score(X) > rbm.score(broken)
    # negative values are fine for Gaussian units
    assert rbm.transform(-np.abs(X)).shape == (200, 4)


# --------------------------------------------------------------------------
# the physics
# --------------------------------------------------------------------------
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_free_energy_against_enumeration(T):
    X = _binary()
    rbm = BoltzmannMachine(
        n_components=5, max_iter=5, temperature=T, random_state=0
    ).fit(X)
    np.testing.assert_allclose(
        rbm.free_energy(X), brute_free_energy(rbm._params(), X, T), rtol=1e-10
    )


def test_training_raises_held_out_likelihood():
    X, _ = load_digits(return_X_y=True)
    X = (X > 7).astype(float)
    train, test = X[:1200], X[1200:]
    short = BoltzmannMachine(n_components=10, max_iter=0, random_state=0).fit(train)
    trained = BoltzmannMachine(n_components=10, max_iter=15, random_state=0).fit(train)
    # max_iter=0 is the initial model: independent pixels at the marginals
    assert _exact_loglik(trained, test) > _exact_loglik(short, test) + 3.0


def test_pseudo_likelihood_is_deterministic_and_normalised():
    X = _binary(n_features=5)
    rbm = BoltzmannMachine(n_components=3, max_iter=3, random_state=0).fit(X)
    pl = rbm.pseudo_log_likelihood(X)
    assert np.all(pl <= 0)
    np.testing.assert_array_equal(pl, rbm.pseudo_log_likelihood(X))  # deterministic
    # sum_i log P(v_i | v_-i), from the free energies of the flipped rows:
    # P(v_i | v_-i) = p(v) / (p(v) + p(v with unit i flipped))
    expected = np.zeros(len(X))
    for i in range(5):
        flip = X.copy()
        flip[:, i] = 1 - flip[:, i]
        dF = rbm.free_energy(flip) - rbm.free_energy(X)
        expected -= np.logaddexp(0, -dF)
    np.testing.assert_allclose(pl, expected, rtol=1e-10)


def test_higher_temperature_softens_transform(digits):
    X, _ = digits
    rbm = BoltzmannMachine(n_components=16, max_iter=5, random_state=0).fit(X)
    dist = []
    for T in (0.25, 1.0, 4.0, 64.0):
        rbm.set_params(temperature=T)
        dist.append(np.abs(rbm.transform(X) - 0.5).mean())
    assert all(a > b for a, b in zip(dist, dist[1:]))
    assert dist[-1] < 0.01


@pytest.mark.parametrize("method", ["cd", "pcd", "pt"])
@pytest.mark.parametrize("T", [0.5, 2.0])
def test_fit_at_a_temperature_is_the_fit_at_one_in_units_of_t(digits, method, T):
    # a Bernoulli RBM depends on its parameters over T only: fitted at T with
    # weight decay lam, it is the fit at T = 1 with lam T^2, scaled by T (powers
    # of two scale every step exactly, so the two runs agree to the bit)
    X, _ = digits
    kw = dict(n_components=16, method=method, max_iter=3, random_state=0)
    hot = BoltzmannMachine(temperature=T, weight_decay=1e-3, **kw).fit(X)
    one = BoltzmannMachine(weight_decay=1e-3 * T**2, **kw).fit(X)
    np.testing.assert_array_equal(hot.components_ / T, one.components_)
    np.testing.assert_array_equal(hot.intercept_hidden_ / T, one.intercept_hidden_)
    np.testing.assert_array_equal(hot.intercept_visible_ / T, one.intercept_visible_)
    np.testing.assert_array_equal(hot.transform(X), one.transform(X))
    assert hot.learning_rate_ == one.learning_rate_


def test_cold_fit_learns_features(digits):
    # with the step on the parameters' gradient unscaled, a fit at T = 0.25
    # took steps 16 times as large in units of T and saturated every feature
    X, y = digits
    rbm = BoltzmannMachine(n_components=32, max_iter=20, temperature=0.25)
    H = rbm.set_params(random_state=0).fit_transform(X)
    assert np.mean((H > 0.05) & (H < 0.95)) > 0.2
    clf = LogisticRegression(max_iter=2000).fit(H[:300], y[:300])
    assert clf.score(H[300:], y[300:]) > 0.7


def test_sample_and_gibbs(digits):
    X = (digits[0] > 0.5).astype(float)
    rbm = BoltzmannMachine(n_components=16, max_iter=5, random_state=0).fit(X)
    S = rbm.sample(50, n_steps=20, random_state=1)
    assert S.shape == (50, 64) and set(np.unique(S)) <= {0.0, 1.0}
    np.testing.assert_array_equal(S, rbm.sample(50, n_steps=20, random_state=1))
    assert not np.array_equal(S, rbm.sample(50, n_steps=20, random_state=2))
    G = rbm.gibbs(X[:7])
    assert G.shape == (7, 64) and set(np.unique(G)) <= {0.0, 1.0}
    # samples resemble the data more than the random start does
    assert np.abs(S.mean(axis=0) - X.mean(axis=0)).mean() < 0.15


def test_partial_fit_is_correctly_scaled():
    """An update on X and on X stacked twice is the same update."""
    X = _binary(n=30)
    rbm = BoltzmannMachine(
        n_components=4, method="pcd", batch_size=10, random_state=0
    ).partial_fit(X)
    twin = copy.deepcopy(rbm)
    rbm.partial_fit(X)
    twin.partial_fit(np.vstack([X, X]))
    np.testing.assert_allclose(rbm.components_, twin.components_, rtol=1e-12)
    np.testing.assert_allclose(
        rbm.intercept_visible_, twin.intercept_visible_, rtol=1e-12
    )


def test_partial_fit_learns():
    X, _ = load_digits(return_X_y=True)
    X = (X > 7).astype(float)
    # CD: partial_fit keeps the learning rate constant, which suits CD (PCD
    # needs it decayed to settle; see the partial_fit docstring)
    rbm = BoltzmannMachine(
        n_components=10, method="cd", learning_rate=0.05, momentum=0.9, random_state=0
    )
    rbm.partial_fit(X[:20])
    start = _exact_loglik(rbm, X[1200:])
    for _ in range(3):  # epochs
        for i in range(0, 1200, 20):
            rbm.partial_fit(X[i : i + 20])
    # gains of 2.4 to 3.9 nats over random_state 0-7: 2 leaves room for the seed
    assert _exact_loglik(rbm, X[1200:]) > start + 2.0


@pytest.mark.parametrize("method", ["cd", "pcd", "pt"])
def test_same_result_for_any_n_jobs(method):
    X = (np.random.default_rng(0).random((1024, 128)) < 0.3).astype(np.float32)
    kw = dict(
        n_components=256, batch_size=512, max_iter=2, method=method, random_state=0
    )
    one = BoltzmannMachine(n_jobs=1, **kw).fit(X)
    two = BoltzmannMachine(n_jobs=2, **kw).fit(X)
    np.testing.assert_array_equal(one.components_, two.components_)
    np.testing.assert_array_equal(one.transform(X), two.transform(X))
    np.testing.assert_array_equal(one.sample(5, n_steps=3), two.sample(5, n_steps=3))


def test_fit_is_reproducible_and_seed_sensitive():
    X = _binary()
    a = BoltzmannMachine(n_components=4, max_iter=3, random_state=1).fit(X)
    b = BoltzmannMachine(n_components=4, max_iter=3, random_state=1).fit(X)
    c = BoltzmannMachine(n_components=4, max_iter=3, random_state=2).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_initial_visible_biases_match_data_marginals():
    X = _binary(n=200)
    rbm = BoltzmannMachine(n_components=3, max_iter=0, random_state=0).fit(X)
    p = (X.sum(axis=0) + 1) / (len(X) + 2)
    np.testing.assert_allclose(rbm.intercept_visible_, np.log(p / (1 - p)))
    assert np.abs(rbm.components_).max() < 0.1


# --------------------------------------------------------------------------
# scikit-learn integration
# --------------------------------------------------------------------------
def test_pipeline_grid_search_over_temperature(digits):
    X, y = digits
    pipe = Pipeline(
        [
            ("rbm", BoltzmannMachine(n_components=16, max_iter=3, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(pipe, {"rbm__temperature": [0.05, 1.0, 50.0]}, cv=2, n_jobs=2)
    search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    # fitted at T = 50 the weights decay as at T = 1 with 2,500 times the
    # weight decay: every feature is about 0.5, nearly useless to the classifier
    assert search.best_params_["rbm__temperature"] != 50.0
    assert scores[2] < scores[1]


def test_pickle_round_trip(digits):
    X, _ = digits
    rbm = BoltzmannMachine(n_components=8, max_iter=2, random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(rbm))
    np.testing.assert_array_equal(clone.transform(X), rbm.transform(X))
    np.testing.assert_array_equal(clone.score_samples(X), rbm.score_samples(X))
    np.testing.assert_array_equal(clone.free_energy(X), rbm.free_energy(X))
    # training state survives too: partial_fit continues identically
    np.testing.assert_array_equal(
        clone.partial_fit(X[:10]).components_, rbm.partial_fit(X[:10]).components_
    )


def test_pandas_output_and_feature_names(digits):
    pd = pytest.importorskip("pandas")  # pandas is in the test extra
    X, _ = digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    rbm = BoltzmannMachine(n_components=3, max_iter=1, random_state=0)
    rbm.set_output(transform="pandas")
    out = rbm.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [
        "boltzmannmachine0",
        "boltzmannmachine1",
        "boltzmannmachine2",
    ]
    assert list(rbm.feature_names_in_) == list(df.columns)


def test_verbose_prints_one_line_per_epoch(capsys, digits):
    BoltzmannMachine(n_components=4, max_iter=3, verbose=1, random_state=0).fit(
        digits[0]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert re.match(
        r"\[BoltzmannMachine\] Iteration 3, pseudo-likelihood = -\d+\.\d+, "
        r"time = \d+\.\d+s",
        lines[-1],
    )


@pytest.mark.parametrize(
    "params",
    [{}, {"method": "pt"}, {"visible": "gaussian", "learning_rate": 0.01}],
    ids=["pcd", "pt", "gaussian"],
)
def test_verbose_fit_is_the_same_fit(capsys, digits, params):
    # the monitored rows once came from the fit's random stream, so that
    # turning on verbose changed the model
    X = digits[0]
    quiet = BoltzmannMachine(n_components=8, max_iter=3, random_state=0, **params)
    loud = clone(quiet).set_params(verbose=1)
    quiet.fit(X)
    loud.fit(X)
    assert capsys.readouterr().out.count("Iteration") == 3
    np.testing.assert_array_equal(loud.components_, quiet.components_)
    np.testing.assert_array_equal(loud.intercept_visible_, quiet.intercept_visible_)


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), "infinity"),
        (np.array([[0.0, 2.0], [1.0, 0.0]]), "Values above 1"),
        (np.array([[0.0, -0.5], [1.0, 0.0]]), "Negative values"),
        (sp.csr_matrix(np.array([[0.0, 3.0], [1.0, 0.0]])), "Values above 1"),
    ],
)
def test_bad_training_data(X, match):
    with pytest.raises(ValueError, match=match):
        BoltzmannMachine(n_components=2).fit(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_non_finite_data_refused_with_scikit_learns_message(dtype, order, bad, visible):
    # the finiteness check runs in the same pass as the extremes (C order)
    # or on its own (other layouts): scikit-learn's error either way, for
    # fit and for the methods that take new data
    X = np.random.default_rng(0).random((30, 7)).astype(dtype)
    match = "NaN" if np.isnan(bad) else "infinity"
    bad_X = X.copy(order=order)
    bad_X[17, 3] = bad
    with pytest.raises(ValueError, match=f"Input X contains {match}"):
        BoltzmannMachine(n_components=2, visible=visible, max_iter=1).fit(bad_X)
    model = BoltzmannMachine(n_components=2, visible=visible, max_iter=1).fit(X)
    for method in (model.transform, model.score_samples):
        with pytest.raises(ValueError, match=f"Input X contains {match}"):
            method(bad_X)


def test_fit_counts_the_visible_biases_in_the_validation_pass():
    # C-contiguous data: the column sums (and squares) come from the one
    # compiled pass;
    # other layouts from numpy; the initial biases agree
    X = np.random.default_rng(1).random((40, 9))
    kw = dict(n_components=3, max_iter=0, random_state=0)
    c = BoltzmannMachine(**kw).fit(X)
    f = BoltzmannMachine(**kw).fit(np.asfortranarray(X))
    np.testing.assert_allclose(c.intercept_visible_, f.intercept_visible_, rtol=1e-13)
    # and the automatic learning rate: the squares' sums of the same pass
    assert c.learning_rate_ == pytest.approx(f.learning_rate_, rel=1e-13)
    assert c.learning_rate_ == pytest.approx(3.2 / (1 + (X**2).sum(axis=1).mean()))
    p = (X.sum(axis=0) + 1) / (len(X) + 2)
    np.testing.assert_allclose(c.intercept_visible_, np.log(p / (1 - p)), rtol=1e-13)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": np.inf}, "temperature"),
        ({"temperature": np.nan}, "temperature"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"visible": "binary"}, "visible"),
        ({"method": "gibbs"}, "method"),
        ({"method": "pt", "max_temperature": 1.0}, "max_temperature"),
        ({"method": "pt", "max_temperature": 0.5}, "max_temperature"),
        ({"method": "pt", "n_temperatures": 1}, "n_temperatures"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        BoltzmannMachine(**params).fit(_binary())


def test_wrong_number_of_features_at_transform():
    rbm = BoltzmannMachine(n_components=2, max_iter=1).fit(_binary())
    for method in ("transform", "free_energy", "score_samples", "gibbs"):
        with pytest.raises(ValueError, match="features"):
            getattr(rbm, method)(_binary(n_features=4))
    with pytest.raises(ValueError, match="n_components=2"):
        rbm.inverse_transform(np.zeros((3, 5)))


def test_bad_sample_arguments():
    rbm = BoltzmannMachine(n_components=2, max_iter=1).fit(_binary())
    with pytest.raises(ValueError, match="n_samples"):
        rbm.sample(0)
    with pytest.raises(ValueError, match="n_steps"):
        rbm.sample(2, n_steps=0)


def test_pseudo_likelihood_refused_for_gaussian_units():
    rbm = BoltzmannMachine(n_components=2, visible="gaussian", max_iter=1)
    rbm.fit(np.random.default_rng(0).normal(size=(20, 3)))
    with pytest.raises(ValueError, match="bernoulli"):
        rbm.pseudo_log_likelihood(np.zeros((2, 3)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy, on the way to the error
def test_runaway_gaussian_training_is_an_error_not_huge_weights():
    # on standardised digits a 10x too large step runs away: the weights stay
    # finite for a while (1e200 ...) but the chains overflow; that must raise
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(load_digits().data)
    rbm = BoltzmannMachine(
        n_components=256,
        visible="gaussian",
        learning_rate=0.05,
        max_iter=20,
        random_state=0,
    )
    with pytest.raises(ValueError, match="diverged"):
        rbm.fit(X)


@pytest.mark.slow
def test_gaussian_defaults_learn_on_standardised_data():
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rbm = BoltzmannMachine(
        n_components=64, visible="gaussian", max_iter=10, random_state=0
    ).fit(X[:1200])
    assert np.abs(rbm.components_).max() < 5
    clf = LogisticRegression(max_iter=2000).fit(rbm.transform(X[:1200]), y[:1200])
    assert clf.score(rbm.transform(X[1200:]), y[1200:]) > 0.8


# numpy warns of the overflow on the way; the point is the clear error at the end
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy, on the way to the error
def test_divergence_is_an_error_not_nan():
    X = np.random.default_rng(0).normal(size=(50, 4)) * 1e3
    rbm = BoltzmannMachine(
        n_components=3,
        visible="gaussian",
        learning_rate=1e3,
        momentum=0.5,
        max_iter=50,
        random_state=0,
    )
    # Gaussian units: the message names their variance, the temperature
    with pytest.raises(ValueError, match="diverged.*variance temperature"):
        rbm.fit(X)


def test_gaussian_samples_are_real_valued_and_near_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)) + np.array([2.0, -1.0, 0.0, 0.5])
    rbm = BoltzmannMachine(
        n_components=3, visible="gaussian", max_iter=10, random_state=0
    ).fit(X)
    S = rbm.sample(500, n_steps=50, random_state=0)
    assert S.shape == (500, 4) and np.isfinite(S).all()
    assert len(np.unique(S)) > 1000  # continuous values, not binary
    np.testing.assert_allclose(S.mean(axis=0), X.mean(axis=0), atol=0.3)


@pytest.mark.parametrize(
    "param, values",
    [
        ("momentum_warmup", (0, 5)),
        ("learning_rate_schedule", ("linear", "constant")),
        ("weight_decay", (0.0, 1e-2)),
        ("n_gibbs_steps", (1, 3)),
    ],
)
def test_training_parameters_take_effect(param, values):
    X = _binary(n=100)
    # momentum 0.9: the warm-up only lowers a momentum above 0.5
    kw = dict(n_components=4, max_iter=8, momentum=0.9, random_state=0)
    fitted = [
        BoltzmannMachine(**kw, **{param: value}).fit(X).components_ for value in values
    ]
    assert not np.allclose(fitted[0], fitted[1])


@pytest.mark.parametrize("method", ["cd", "pcd", "pt"])
def test_integer_sample_weights_weigh_the_data_statistics_as_repeated_rows(
    method, monkeypatch
):
    # the data side of a CD update is deterministic (probabilities): with
    # integer weights it equals that of the repeated rows; the chains' side is
    # the model's and is not weighted
    from sklearn_thermo._core import training as core_training

    rng = np.random.default_rng(0)
    X = (rng.random((12, 7)) < 0.4).astype(float)
    w = np.array([1, 2, 3, 0, 1, 1, 4, 2, 1, 1, 0, 2])
    seen = []
    original = core_training.weight_step

    def capture(Vs, Hs, *args, **kwargs):
        seen.append((Vs.copy(), Hs.copy()))
        return original(Vs, Hs, *args, **kwargs)

    monkeypatch.setattr(core_training, "weight_step", capture)
    # the statistics as the stepwise trainer holds them (weighted data takes
    # that path anyway; the fused kernel would take the repeated rows)
    monkeypatch.setattr(core_training, "fused_cd_available", lambda: False)
    params = dict(
        n_components=4, method=method, batch_size=3, random_state=0, n_temperatures=2
    )
    stats, starts = [], []
    for data, weights in ((X, w), (np.repeat(X, w, axis=0), None)):
        seen.clear()
        rbm = BoltzmannMachine(**params).partial_fit(data, sample_weight=weights)
        Vs, Hs = seen[0]
        n = len(data)
        stats.append(Hs[:n].T @ Vs[:n])  # scaled by lr / (T n) and the weights
        starts.append(rbm._base_visible_bias)
    np.testing.assert_allclose(stats[0], stats[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(starts[0], starts[1], rtol=1e-12)


def test_sample_weights_change_the_fit():
    rng = np.random.default_rng(1)
    X = (rng.random((80, 6)) < 0.5).astype(float)
    w = np.where(X[:, 0] > 0, 5.0, 0.2)
    a = BoltzmannMachine(n_components=3, max_iter=5, random_state=0).fit(X)
    b = BoltzmannMachine(n_components=3, max_iter=5, random_state=0).fit(
        X, sample_weight=w
    )
    # the weighted data has unit 0 on far more often: its bias follows
    assert b.intercept_visible_[0] > a.intercept_visible_[0] + 0.5
    with pytest.raises(ValueError, match="(?i)sample.weight"):
        BoltzmannMachine().fit(X, sample_weight=np.zeros(len(X)))


def test_bernoulli_rbm_n_iter_is_refused_with_a_pointer_to_max_iter():
    rbm = BoltzmannMachine()
    with pytest.raises(AttributeError, match="max_iter"):
        rbm.n_iter = 10
    with pytest.raises(ValueError, match="n_iter"):
        rbm.set_params(n_iter=10)
    assert not hasattr(rbm, "n_iter")


def test_auto_learning_rate_scales_with_the_rows_squared_norm():
    rng = np.random.default_rng(0)
    sparse_rows = (rng.random((60, 50)) < 0.1).astype(float)
    dense_rows = (rng.random((60, 50)) < 0.6).astype(float)
    fitted = [
        BoltzmannMachine(n_components=3, max_iter=1, random_state=0).fit(X)
        for X in (sparse_rows, dense_rows)
    ]
    for rbm, X in zip(fitted, (sparse_rows, dense_rows)):
        expected = 3.2 / (1.0 + np.mean(np.sum(X**2, axis=1)))
        assert rbm.learning_rate_ == pytest.approx(expected)
    # more pixels on: a smaller step, so each hidden input moves as much
    assert fitted[1].learning_rate_ < fitted[0].learning_rate_ / 3
    # sparse input and sample weights resolve it on the same data
    w = rng.integers(0, 3, 60)
    weighted = BoltzmannMachine(n_components=3, max_iter=1).fit(
        sp.csr_matrix(dense_rows), sample_weight=w
    )
    expected = 3.2 / (1.0 + np.average(np.sum(dense_rows**2, axis=1), weights=w))
    assert weighted.learning_rate_ == pytest.approx(expected)


def test_learning_rate_float_is_used_as_given():
    X = _binary(n=40)
    rbm = BoltzmannMachine(n_components=3, max_iter=1, learning_rate=0.07).fit(X)
    assert rbm.learning_rate_ == 0.07
    rbm.set_params(learning_rate=0.01).partial_fit(X)
    assert rbm.learning_rate_ == 0.01
    auto = BoltzmannMachine(n_components=3, visible="gaussian", max_iter=1).fit(X)
    assert auto.learning_rate_ == 0.025


def _count_fused_calls(monkeypatch):
    from sklearn_thermo._core import training

    calls = []
    original = training.fused_cd

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "fused_cd", counting)
    return calls


@pytest.mark.parametrize(
    "kw, fused",
    [
        ({}, True),
        ({"sparse": True}, True),
        ({"n_gibbs_steps": 3}, True),
        ({"weighted": True}, True),
        ({"method": "pt"}, False),
        ({"method": "cd"}, True),
        ({"method": "cd", "n_gibbs_steps": 2, "sparse": True}, True),
        ({"visible": "gaussian"}, True),
        ({"visible": "gaussian", "method": "pt"}, False),
    ],
)
def test_fit_runs_in_the_fused_kernel_where_it_applies(monkeypatch, kw, fused):
    from sklearn_thermo._core._kernels import fused_cd_available

    if fused and not fused_cd_available():
        pytest.skip("the fused kernel needs GCC's ISA clones and AVX2 + FMA")
    calls = _count_fused_calls(monkeypatch)
    kw = dict(kw)
    X = _binary()
    X = sp.csr_matrix(X) if kw.pop("sparse", False) else X
    w = np.linspace(0.5, 2, X.shape[0]) if kw.pop("weighted", False) else None
    rbm = BoltzmannMachine(n_components=8, max_iter=2, random_state=0, **kw)
    rbm.fit(X, sample_weight=w)
    assert bool(calls) == fused
    calls.clear()
    rbm.partial_fit(X[:10], sample_weight=None if w is None else w[:10])
    assert bool(calls) == fused
    assert np.isfinite(rbm.components_).all()


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_fused_and_stepwise_training_learn_alike(monkeypatch, method):
    """The fused kernel makes the updates of CDTrainer.step (with draws of its
    own streams): models trained either way are as good as each other."""
    from sklearn_thermo._core import training

    if not training.fused_cd_available():
        pytest.skip("the fused kernel needs GCC's ISA clones and AVX2 + FMA")
    X = (load_digits().data > 7).astype(float)
    kw = dict(n_components=64, max_iter=10, method=method, random_state=0)
    fused = BoltzmannMachine(**kw).fit(X[:1400])
    calls = _count_fused_calls(monkeypatch)
    monkeypatch.setattr(training, "fused_cd_available", lambda: False)
    stepwise = BoltzmannMachine(**kw).fit(X[:1400])
    assert not calls
    start = BoltzmannMachine(**{**kw, "max_iter": 0}).fit(X[:1400])
    pl = [m.pseudo_log_likelihood(X[1400:]).mean() for m in (fused, stepwise, start)]
    assert abs(pl[0] - pl[1]) < 0.3
    assert min(pl[:2]) > pl[2] + 5  # both learned a lot
    assert not np.array_equal(fused.components_, stepwise.components_)
