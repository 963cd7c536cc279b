"""A table of careless and hostile input, tried on every estimator.

Each case ends either in an error that names the problem (matched here) or
in a documented behaviour that is checked (finite outputs). Never a silent
NaN, never a traceback from deep inside numpy.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_thermo import BoltzmannMachine, EnergyClassifier, TemperedSoftmaxClassifier

_RNG = np.random.default_rng(0)
X = _RNG.random((40, 5))
Y = np.arange(40) % 3

ESTIMATORS = {
    "BoltzmannMachine-bernoulli": lambda: BoltzmannMachine(
        n_components=4, max_iter=2, random_state=0
    ),
    "BoltzmannMachine-gaussian": lambda: BoltzmannMachine(
        n_components=4, max_iter=2, visible="gaussian", random_state=0
    ),
    "TemperedSoftmaxClassifier": lambda: TemperedSoftmaxClassifier(),
    "EnergyClassifier-bernoulli": lambda: EnergyClassifier(
        n_components=4, max_iter=2, random_state=0
    ),
    "EnergyClassifier-gaussian": lambda: EnergyClassifier(
        n_components=4, max_iter=2, visible="gaussian", random_state=0
    ),
}


def _with(value, where=(0, 0), base=X):
    out = base.astype(type(value) if isinstance(value, complex) else base.dtype)
    out[where] = value
    return out


def _domain(name, sign):
    """What very large values meet: each unit type's own domain check."""
    if name.endswith("bernoulli"):
        return ValueError, "Values above 1" if sign > 0 else "Negative values"
    if name.endswith("gaussian"):
        return ValueError, "Values too large for Gaussian visible units"
    return None  # a linear model: finite probabilities (checked)


def _supervised(name):
    return not name.startswith("BoltzmannMachine")


# name -> (X, y, fit keyword arguments, parameters, expectation(estimator name))
FIT_CASES = {
    "NaN": (_with(np.nan), Y, {}, {}, lambda n: (ValueError, "NaN")),
    "inf": (_with(np.inf), Y, {}, {}, lambda n: (ValueError, "infinity")),
    "-inf": (_with(-np.inf), Y, {}, {}, lambda n: (ValueError, "infinity")),
    "empty X": (np.empty((0, 5)), Y[:0], {}, {}, lambda n: (ValueError, "0 sample")),
    "no features": (np.empty((40, 0)), Y, {}, {}, lambda n: (ValueError, "0 feature")),
    "complex": (_with(1j), Y, {}, {}, lambda n: (ValueError, "Complex data")),
    "strings": (np.full((40, 5), "a"), Y, {}, {}, lambda n: (ValueError, "convert")),
    "object of strings": (
        np.full((40, 5), "a", dtype=object),
        Y,
        {},
        {},
        lambda n: (ValueError, "convert"),
    ),
    "object of numbers": (X.astype(object), Y, {}, {}, lambda n: None),
    "1e300": (_with(1e300), Y, {}, {}, lambda n: _domain(n, 1)),
    "-1e300": (_with(-1e300), Y, {}, {}, lambda n: _domain(n, -1)),
    "one sample": (
        X[:1],
        Y[:1],
        {},
        {},
        lambda n: (ValueError, "at least 2 classes") if _supervised(n) else None,
    ),
    # the label as the user wrote it, not numpy's repr of it
    "one class": (
        X,
        np.full(len(X), "a"),
        {},
        {},
        lambda n: (ValueError, "got 1 class: 'a'\\.") if _supervised(n) else None,
    ),
    "one feature": (X[:, :1], Y, {}, {}, lambda n: None),
    "y of wrong length": (
        X,
        Y[:-1],
        {},
        {},
        lambda n: (
            (ValueError, "inconsistent numbers of samples") if _supervised(n) else None
        ),
    ),
    "continuous y": (
        X,
        X[:, 0],
        {},
        {},
        lambda n: (ValueError, "Unknown label type") if _supervised(n) else None,
    ),
    "negative sample_weight": (
        X,
        Y,
        {"sample_weight": -np.ones(40)},
        {},
        lambda n: (ValueError, "Negative values in data passed to `sample_weight`"),
    ),
    "zero sample_weight": (
        X,
        Y,
        {"sample_weight": np.zeros(40)},
        {},
        lambda n: (ValueError, "(?i)sample.weight"),
    ),
    "sample_weight of wrong length": (
        X,
        Y,
        {"sample_weight": np.ones(39)},
        {},
        lambda n: (ValueError, "sample_weight"),
    ),
    "temperature 0": (
        X,
        Y,
        {},
        {"temperature": 0.0},
        lambda n: (ValueError, "temperature"),
    ),
    "negative temperature": (
        X,
        Y,
        {},
        {"temperature": -1.0},
        lambda n: (ValueError, "temperature"),
    ),
    "NaN temperature": (
        X,
        Y,
        {},
        {"temperature": np.nan},
        lambda n: (ValueError, "temperature"),
    ),
    "inf temperature": (
        X,
        Y,
        {},
        {"temperature": np.inf},
        lambda n: (ValueError, "temperature"),
    ),
}

# name -> (X at predict time, expectation(estimator name)); fitted on X, Y
PREDICT_CASES = {
    "wrong feature count": (X[:, :3], lambda n: (ValueError, "features")),
    "NaN": (_with(np.nan), lambda n: (ValueError, "NaN")),
    "inf": (_with(np.inf), lambda n: (ValueError, "infinity")),
    "empty X": (np.empty((0, 5)), lambda n: (ValueError, "0 sample")),
    "complex": (_with(1j), lambda n: (ValueError, "Complex data")),
    "strings": (np.full((3, 5), "a"), lambda n: (ValueError, "convert")),
    "1e300": (_with(1e300), lambda n: _domain(n, 1)),
}


def _outputs(est, X_):
    names = ("predict_proba", "decision_function", "transform", "score_samples")
    return [getattr(est, m)(X_) for m in names if hasattr(est, m)]


def _fit(est, X_, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X_, y, **kwargs)


@pytest.mark.parametrize("case", FIT_CASES)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_input_at_fit(name, case):
    X_, y, kwargs, params, expect = FIT_CASES[case]
    est = ESTIMATORS[name]().set_params(**params)  # validated by fit
    expected = expect(name)
    if expected is None:
        _fit(est, X_, y, **kwargs)
        for out in _outputs(est, X_):
            assert np.isfinite(out).all()
        return
    exc, match = expected
    with pytest.raises(exc, match=match):
        _fit(est, X_, y, **kwargs)


@pytest.mark.parametrize("case", PREDICT_CASES)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_input_after_fit(name, case):
    est = _fit(ESTIMATORS[name](), X, Y)
    X_, expect = PREDICT_CASES[case]
    expected = expect(name)
    methods = (
        "predict",
        "predict_proba",
        "decision_function",
        "transform",
        "score_samples",
    )
    for method in (m for m in methods if hasattr(est, m)):
        if expected is None:
            assert np.isfinite(getattr(est, method)(X_)).all()
        else:
            with pytest.raises(expected[0], match=expected[1]):
                getattr(est, method)(X_)


def test_unseen_labels_in_partial_fit():
    est = EnergyClassifier(n_components=4, random_state=0)
    est.partial_fit(X, Y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not in classes_.*first call to partial_fit"):
        est.partial_fit(X, Y + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_saturated_units_stay_finite(name, dtype):
    # weights so large that pre-activations pass +-1000 (float32 and float64)
    Xd = X.astype(dtype)
    est = _fit(ESTIMATORS[name](), Xd, Y)
    if isinstance(est, TemperedSoftmaxClassifier):
        est.coef_ *= dtype(1e5)
        weights = est.coef_
    elif isinstance(est, EnergyClassifier):
        est._W *= dtype(1e5)  # features' and labels' weights alike
        weights = est.components_
    else:
        est.components_ *= dtype(1e5)
        weights = est.components_
    assert np.abs(Xd @ weights.T).max() > 1000
    for out in _outputs(est, Xd):
        assert np.isfinite(out).all()
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(est.predict_proba(Xd).sum(axis=1), 1, rtol=1e-5)
    if isinstance(est, BoltzmannMachine):
        assert np.isfinite(est.free_energy(Xd)).all()
        assert np.isfinite(est.log_partition("exact"))
        if est.visible == "bernoulli":
            assert np.isfinite(est.pseudo_log_likelihood(Xd)).all()
