"""Fitted state that tells the truth, and the input real pipelines hand over.

Caches keyed by what they depend on, parameters changed after fit, values
within rounding of [0, 1], degenerate weights, and the edge cases of the
metrics, the displays and the operators.
"""

import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_thermo import (
    BoltzmannMachine,
    EnergyClassifier,
    TemperedSoftmaxClassifier,
    ops,
)
from sklearn_thermo._core import partition
from sklearn_thermo._core.partition import log_partition_exact
from sklearn_thermo.metrics import (
    expected_calibration_error,
    make_calibration_scorer,
    maximum_calibration_error,
)

RNG = np.random.default_rng(0)
X_BIN = (RNG.random((80, 10)) < 0.4).astype(float)
Y_BIN = (X_BIN[:, 0] + X_BIN[:, 1] > 0).astype(int)


def _quiet_fit(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args)


def _rbm(**kw):
    params = dict(n_components=6, max_iter=3, random_state=0)
    return _quiet_fit(BoltzmannMachine(**{**params, **kw}), X_BIN)


def _clf(**kw):
    params = dict(n_components=6, max_iter=3, random_state=0)
    return _quiet_fit(EnergyClassifier(**{**params, **kw}), X_BIN, Y_BIN)


# --------------------------------------------------------------------------
# the cached log Z
# --------------------------------------------------------------------------
def test_log_z_cache_keys_random_state_instances_by_their_state():
    rbm = _rbm()
    values = [
        rbm.log_partition(
            "ais", n_betas=50, n_chains=8, random_state=np.random.RandomState(s)
        )
        for s in range(4)
    ]
    assert len(set(values)) == 4  # not one value under a reused id()
    again = rbm.log_partition(
        "ais", n_betas=50, n_chains=8, random_state=np.random.RandomState(2)
    )
    assert again == values[2]  # the same state, the same value


def test_log_z_cache_reuses_a_value_only_for_the_same_seed(monkeypatch):
    rbm = _rbm()
    calls = []
    original = partition.log_partition_ais

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(partition, "log_partition_ais", counting)
    a = rbm.log_partition("ais", n_betas=50, n_chains=8, random_state=3)
    b = rbm.log_partition("ais", n_betas=50, n_chains=8, random_state=3)
    c = rbm.log_partition("ais", n_betas=50, n_chains=8, random_state=4)
    assert a == b and a != c and len(calls) == 2


def test_log_z_cache_notices_parameters_edited_in_place():
    rbm = _rbm()
    before = rbm.log_partition()
    rbm.intercept_visible_ += 1.0
    rbm.components_[0, 0] -= 0.5
    exact = log_partition_exact(rbm._params(), rbm.temperature)
    assert rbm.log_partition() == pytest.approx(exact, abs=1e-9)
    assert abs(exact - before) > 1.0
    # and score_samples uses the new value
    F = rbm.free_energy(X_BIN)
    np.testing.assert_allclose(rbm.score_samples(X_BIN), -F - exact, atol=1e-9)


def test_log_z_cache_keys_the_temperature():
    rbm = _rbm()
    values = {}
    for T in (0.5, 1.0, 2.0, 1.0):
        rbm.set_params(temperature=T)
        values.setdefault(T, []).append(rbm.log_partition())
        assert values[T][-1] == pytest.approx(
            log_partition_exact(rbm._params(), T), abs=1e-9
        )
    assert values[1.0][0] == values[1.0][1]


def test_log_z_matches_the_model_after_a_racing_fit():
    rbm = _rbm(n_components=12)
    errors = []

    def scorer():
        try:
            for _ in range(20):
                rbm.log_partition()
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    for seed in range(3):
        t = threading.Thread(target=scorer)
        t.start()
        _quiet_fit(rbm.set_params(random_state=seed, max_iter=5), X_BIN)
        t.join()
        exact = log_partition_exact(rbm._params(), rbm.temperature)
        assert rbm.log_partition() == pytest.approx(exact, abs=1e-9)
    # a log_partition may see a half-initialised model and fail, never cache
    # a wrong value; a failure is only an attribute read mid-fit
    for e in errors:
        assert isinstance(e, (AttributeError, ValueError)), e


# --------------------------------------------------------------------------
# parameters changed after fit
# --------------------------------------------------------------------------
BAD_TEMPERATURES = [-1.0, 0.0, np.nan, np.inf, "hot"]


@pytest.mark.parametrize("T", BAD_TEMPERATURES)
@pytest.mark.parametrize(
    "method",
    ["transform", "score_samples", "free_energy", "gibbs", "pseudo_log_likelihood"],
)
def test_boltzmann_validates_temperature_set_after_fit(method, T):
    rbm = _rbm()
    rbm.set_params(temperature=T)
    with pytest.raises(InvalidParameterError, match="temperature"):
        getattr(rbm, method)(X_BIN)


@pytest.mark.parametrize("T", BAD_TEMPERATURES)
@pytest.mark.parametrize(
    "method",
    ["predict", "predict_proba", "decision_function", "transform", "score_samples"],
)
def test_energy_classifier_validates_temperature_set_after_fit(method, T):
    clf = _clf()
    clf.set_params(temperature=T)
    with pytest.raises(InvalidParameterError, match="temperature"):
        getattr(clf, method)(X_BIN)


def test_temperature_may_change_after_fit():
    rbm = _rbm()
    pre = X_BIN @ rbm.components_.T + rbm.intercept_hidden_
    rbm.set_params(temperature=2.0)
    np.testing.assert_allclose(rbm.transform(X_BIN), ops.sigmoid(pre, 2.0))
    clf = _clf()
    clf.set_params(temperature=0.5)
    np.testing.assert_allclose(clf.predict_proba(X_BIN).sum(axis=1), 1.0)


@pytest.mark.parametrize("change", [{"n_components": 8}, {"visible": "gaussian"}])
@pytest.mark.parametrize("make", [_rbm, _clf], ids=["rbm", "clf"])
def test_structural_parameters_changed_after_fit_raise(make, change):
    est = make()
    est.set_params(**change)
    name = next(iter(change))
    methods = ["transform", "score_samples"]
    methods += ["inverse_transform"] if make is _rbm else ["predict"]
    for method in methods:
        data = np.zeros((2, 6)) if method == "inverse_transform" else X_BIN
        with pytest.raises(ValueError, match=f"fitted with {name}="):
            getattr(est, method)(data)
    with pytest.raises(ValueError, match=f"fitted with {name}="):
        est.partial_fit(X_BIN, Y_BIN) if make is _clf else est.partial_fit(X_BIN)
    # set back, it works again; a refit adopts the new value
    est.set_params(**{name: 6 if name == "n_components" else "bernoulli"})
    assert np.isfinite(est.score_samples(X_BIN)).all()


# --------------------------------------------------------------------------
# MinMaxScaler's 1.0000000000000002
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [BoltzmannMachine, EnergyClassifier])
def test_min_max_scaled_data_is_accepted(Est):
    for seed in range(40):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(30, 5)) * rng.random() * 100
        y = np.arange(30) % 2
        pipe = make_pipeline(MinMaxScaler(), Est(n_components=3, max_iter=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X, y)
        assert np.isfinite(pipe.transform(X)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rounding_is_clipped_on_a_copy_and_real_excess_rejected(dtype):
    eps = np.finfo(dtype).eps
    X = X_BIN.astype(dtype)
    X[0, 0], X[1, 1] = 1 + 2 * eps, -2 * eps
    original = X.copy()
    rbm = _quiet_fit(BoltzmannMachine(n_components=3, max_iter=1), X)
    np.testing.assert_array_equal(X, original)  # the user's data untouched
    assert np.isfinite(rbm.transform(X)).all()
    for data in (X, sp.csr_matrix(X)):
        bad = data.copy()
        bad[0, 0] = 1 + 1e-3
        with pytest.raises(ValueError, match="Values above 1"):
            rbm.transform(bad)
    bad = X.copy()
    bad[0, 0] = -1e-3
    with pytest.raises(ValueError, match="Negative values"):
        rbm.transform(bad)


# --------------------------------------------------------------------------
# TemperedSoftmaxClassifier's weights
# --------------------------------------------------------------------------
def test_huge_sample_weights_are_normalised():
    X, y = RNG.normal(size=(60, 3)), np.arange(60) % 3
    # a fixed alpha: the loss is a weighted mean, so scaling the weights
    # changes nothing (alpha="auto" is LogisticRegression's C = 1 on the
    # weights' sum, which they do change, as in LogisticRegression)
    plain = TemperedSoftmaxClassifier(alpha=1e-2).fit(X, y)
    huge = TemperedSoftmaxClassifier(alpha=1e-2).fit(
        X, y, sample_weight=np.full(60, 1e308)
    )
    np.testing.assert_allclose(huge.coef_, plain.coef_, rtol=1e-10, atol=1e-12)
    assert np.abs(huge.coef_).max() > 0.01


@pytest.mark.parametrize(
    "class_weight",
    [
        {0: np.nan, 1: 1, 2: 1},
        {0: np.inf, 1: 1, 2: 1},
        {0: -1, 1: 1, 2: 1},
        {0: "a", 1: 1, 2: 1},
    ],
)
def test_invalid_class_weights_raise(class_weight):
    X, y = RNG.normal(size=(60, 3)), np.arange(60) % 3
    with pytest.raises(ValueError, match="class_weight must map classes"):
        TemperedSoftmaxClassifier(class_weight=class_weight).fit(X, y)


def test_all_zero_class_weights_raise():
    X, y = RNG.normal(size=(60, 3)), np.arange(60) % 3
    with pytest.raises(ValueError, match="at least 2 classes with positive weight"):
        TemperedSoftmaxClassifier(class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)


# --------------------------------------------------------------------------
# EnergyClassifier's classes, verbose with sparse Gaussian data
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "classes, match",
    [
        ([0, 1, 2, None], "one comparable type"),
        ([[0, 1], [2, 3]], "1-D"),
        ([0.0, 1.0, np.nan], "finite labels"),
    ],
)
def test_partial_fit_classes_are_checked(classes, match):
    with pytest.raises(ValueError, match=match):
        EnergyClassifier(n_components=3).partial_fit(X_BIN, Y_BIN, classes=classes)


def test_verbose_with_sparse_gaussian_data(capsys):
    X = sp.csr_matrix(RNG.normal(size=(40, 6)))
    BoltzmannMachine(visible="gaussian", verbose=1, max_iter=2, n_components=3).fit(X)
    assert "reconstruction error" in capsys.readouterr().out


# --------------------------------------------------------------------------
# temperatures near zero
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1e-4, 1e-30, 1e-300])
def test_energy_classifier_at_tiny_temperatures(dtype, T):
    clf = _clf(method="hybrid")
    X = X_BIN.astype(dtype)
    clf.set_params(temperature=T)
    P = clf.predict_proba(X)
    D = clf.decision_function(X)
    assert np.isfinite(P).all() and np.isfinite(D).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    # the T -> 0 limit: the class of the lowest zero-temperature free energy
    K = len(clf.classes_)
    U, d = clf.label_components_, clf.intercept_label_
    A = X_BIN @ clf.components_.T + clf.intercept_hidden_
    hard = d + np.maximum(A[:, :, None] + U[None].reshape(1, -1, K), 0).sum(1)
    gap = np.sort(hard, axis=1)
    clear = gap[:, -1] - gap[:, -2] > 1e-3
    np.testing.assert_array_equal(
        clf.predict(X)[clear], clf.classes_[np.argmax(hard, axis=1)][clear]
    )
    if dtype == np.float32 and T == 1e-300:
        with pytest.raises(ValueError, match="temperature"):
            clf.score_samples(X)  # scores of order 1 / T: beyond float32
    else:
        assert np.isfinite(clf.score_samples(X)).all()


def test_energy_classifier_fits_at_small_temperatures():
    for T in (0.01, 1e-4):
        clf = _clf(method="hybrid", temperature=T, max_iter=5)
        assert np.isfinite(clf.decision_function(X_BIN)).all()
        assert np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize(
    "dtype, T, ok",
    [
        (np.float64, 1e-300, True),
        (np.float32, 1e-30, True),
        (np.float32, 1e-300, False),
        (np.float64, 5e-324, False),
    ],
)
def test_score_samples_at_tiny_temperatures_is_finite_or_a_clear_error(dtype, T, ok):
    rbm = _rbm()
    X = X_BIN.astype(dtype)
    rbm.set_params(temperature=T)
    if ok:
        s = rbm.score_samples(X)
        assert np.isfinite(s).all() and s.dtype == dtype
        # log p = -(F - F_min) / T: every row but the most probable far below 0
        assert (s <= 0).all()
    else:
        with pytest.raises(ValueError, match="temperature"):
            rbm.score_samples(X)


# --------------------------------------------------------------------------
# metrics and displays
# --------------------------------------------------------------------------
Y3 = np.array(["pos", "neg", "neg", "pos", "neg"])
P3 = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]])


@pytest.mark.parametrize(
    "metric", [expected_calibration_error, maximum_calibration_error]
)
def test_metric_labels_in_column_order(metric):
    # columns ["pos", "neg"] (not sorted) against the sorted order, swapped
    a = metric(Y3, P3, labels=["pos", "neg"], n_bins=4)
    b = metric(Y3, P3[:, ::-1], labels=["neg", "pos"], n_bins=4)
    c = metric(Y3, P3[:, ::-1], n_bins=4)
    assert a == b == c
    with pytest.raises(ValueError, match="distinct"):
        metric(Y3, P3, labels=["pos", "pos"])


@pytest.mark.parametrize(
    "metric", [expected_calibration_error, maximum_calibration_error]
)
def test_metric_huge_sample_weights_are_normalised(metric):
    y, P = np.array([0, 1, 1, 0]), P3[:4]
    plain = metric(y, P, n_bins=5)
    huge = metric(y, P, n_bins=5, sample_weight=np.full(4, 1e308))
    assert np.isfinite(huge) and huge == pytest.approx(plain)
    with pytest.raises(ValueError, match="non-zero"):
        metric(y, P, sample_weight=np.zeros(4))


def test_metric_many_bins_use_memory_of_the_rows():
    y, P = np.array([0, 1, 1, 0]), P3[:4]
    for strategy in ("uniform", "quantile"):
        e = expected_calibration_error(y, P, n_bins=10**9, strategy=strategy)
        assert 0 <= e <= 1


def test_metric_none_labels_give_a_clear_error():
    with pytest.raises(ValueError, match="one comparable type"):
        expected_calibration_error(np.array([0, None, 1, 0], dtype=object), P3[:4])


def test_scorer_and_display_need_a_classifier():
    scorer = make_calibration_scorer()
    reg = LinearRegression().fit(X_BIN, Y_BIN)
    with pytest.raises(TypeError, match="predict_proba"):
        scorer(reg, X_BIN, Y_BIN)
    pytest.importorskip("matplotlib")  # matplotlib is in the test extra
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_thermo.calibration import ReliabilityDisplay

    with pytest.raises(TypeError, match="fitted classifier"):
        ReliabilityDisplay.from_estimator(reg, X_BIN, Y_BIN)
    with pytest.raises(InvalidParameterError, match="strategy"):
        ReliabilityDisplay.from_predictions(Y3, P3, strategy="bogus")
    with pytest.raises(InvalidParameterError, match="n_bins"):
        ReliabilityDisplay.from_predictions(Y3, P3, n_bins=0)


# --------------------------------------------------------------------------
# the operators' edge cases
# --------------------------------------------------------------------------
def test_sigmoid_at_subnormal_temperatures():
    assert ops.sigmoid(5e-324, 5e-324) == pytest.approx(1 / (1 + np.exp(-1)))
    x = np.float32(1e-45)  # rounds to the subnormal 1.4e-45
    assert ops.sigmoid(x, 1e-45) == pytest.approx(
        1 / (1 + np.exp(-float(x) / 1e-45)), rel=1e-6
    )
    assert ops.sigmoid(-1e-300, 1e-310) == pytest.approx(0.0, abs=1e-300)
    assert ops.sigmoid(0.0, 5e-324) == 0.5


@pytest.mark.parametrize(
    "fn",
    [
        ops.logsumexp,
        ops.softmax,
        ops.log_softmax,
        ops.entropy,
        ops.free_energy,
        ops.sigmoid,
        ops.softplus,
        ops.boltzmann,
    ],
)
def test_ops_take_python_scalars_and_refuse_ragged_lists(fn):
    r = fn(3.0)
    assert np.ndim(r) == 0 and np.isfinite(r)
    with pytest.raises(ValueError, match="rectangular"):
        fn([[1.0, 2.0], [3.0]])


def test_softmax_kernel_float32_at_a_temperature_below_its_range():
    from sklearn_thermo.ops import _softmax_and_lse_

    x = np.array([[1, 2, 2], [0, -1, 0.5]], np.float32)
    lse = _softmax_and_lse_(x, 1e-300)
    np.testing.assert_array_equal(x, [[0, 0.5, 0.5], [0, 0, 1]])
    assert lse.shape == (2,)


@pytest.mark.parametrize(
    "fn", [ops.softplus, ops.logsumexp, ops.softmax, ops.log_softmax]
)
def test_float32_at_temperatures_subnormal_in_float32(fn):
    # T rounds badly in float32 (1e-44 -> 9.8e-45): computed in float64
    x = np.array([0.0, 1e-44, -3e-44], np.float32)
    T = 1e-44
    got = fn(x, T)
    ref = fn(x.astype(np.float64), T)
    assert got.dtype == np.float32
    # to float32 precision: results below float32.tiny are subnormal there
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-45)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1e-30, 1e-300, 5e-324, 1e30, 1e300])
def test_every_method_at_extreme_temperatures_is_finite_or_a_clear_error(
    visible, dtype, T
):
    X = X_BIN if visible == "bernoulli" else RNG.normal(size=X_BIN.shape)
    X = X.astype(dtype)
    rbm = _quiet_fit(
        BoltzmannMachine(n_components=5, max_iter=2, visible=visible, random_state=0), X
    )
    clf = _quiet_fit(
        EnergyClassifier(n_components=5, max_iter=2, visible=visible, random_state=0),
        X,
        np.arange(len(X)) % 3,
    )
    rbm.set_params(temperature=T)
    clf.set_params(temperature=T)
    calls = {
        "transform": lambda: rbm.transform(X),
        "inverse_transform": lambda: rbm.inverse_transform(rbm.transform(X)),
        "gibbs": lambda: rbm.gibbs(X),
        "sample": lambda: rbm.sample(3, n_steps=5),
        "free_energy": lambda: rbm.free_energy(X),
        "score_samples": lambda: rbm.score_samples(X),
        "clf.predict_proba": lambda: clf.predict_proba(X),
        "clf.predict_log_proba": lambda: clf.predict_log_proba(X),
        "clf.decision_function": lambda: clf.decision_function(X),
        "clf.transform": lambda: clf.transform(X),
        "clf.score_samples": lambda: clf.score_samples(X),
        "clf.sample": lambda: clf.sample(3, n_steps=5)[0],
    }
    if visible == "bernoulli":
        calls["pseudo_log_likelihood"] = lambda: rbm.pseudo_log_likelihood(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way either
        for name, call in calls.items():
            try:
                out = call()
            except ValueError as e:
                assert "temperature=" in str(e), (name, e)
            else:
                assert np.isfinite(out).all(), name
                if name.endswith("proba"):
                    np.testing.assert_allclose(
                        np.exp(out).sum(1) if "log" in name else out.sum(1),
                        1.0,
                        rtol=1e-5,
                    )


_ARRAY_API_SCRIPT = """
import numpy as np, sklearn
from sklearn_thermo import BoltzmannMachine, EnergyClassifier, TemperedSoftmaxClassifier
from sklearn_thermo.metrics import expected_calibration_error


class ArrayAPIArray:  # a minimal array-API object, as torch or cupy arrays are
    def __init__(self, a):
        self._a = np.asarray(a)

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)

    def __array_namespace__(self, api_version=None):
        return np

    @property
    def shape(self):
        return self._a.shape


X_np = (np.random.default_rng(0).random((40, 6)) < 0.4).astype(float)
y = np.arange(40) % 2
X = ArrayAPIArray(X_np)
rbm = BoltzmannMachine(n_components=3, max_iter=1).fit(X_np)
clf = EnergyClassifier(n_components=3, max_iter=1).fit(X_np, y)
soft = TemperedSoftmaxClassifier().fit(X_np, y)
calls = [lambda: BoltzmannMachine(max_iter=1).fit(X), lambda: rbm.transform(X),
         lambda: EnergyClassifier(max_iter=1).fit(X, y),
         lambda: clf.predict_proba(X), lambda: soft.predict(X),
         lambda: expected_calibration_error(y, ArrayAPIArray(np.full((40, 2), .5)))]
with sklearn.config_context(array_api_dispatch=True):
    for call in calls:
        try:
            call()
        except ValueError as e:
            assert "Array-API input" in str(e), e
        else:
            raise AssertionError("accepted")
# without dispatch, such input is converted as scikit-learn converts it
assert rbm.transform(X).shape == (40, 3)
print("refused clearly")
"""


@pytest.mark.slow
def test_array_api_input_is_refused_clearly(tmp_path):
    # array_api_dispatch needs SCIPY_ARRAY_API=1 before scipy is imported
    import importlib.util
    import os
    import subprocess
    import sys

    vendored = importlib.util.find_spec("sklearn.externals.array_api_compat")
    if not (vendored or importlib.util.find_spec("array_api_compat")):
        pytest.skip(
            "array_api_dispatch needs array_api_compat, which this scikit-learn "
            "does not vendor (before 1.7) and which is not installed"
        )

    env = dict(os.environ, SCIPY_ARRAY_API="1")
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _ARRAY_API_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused clearly" in result.stdout
