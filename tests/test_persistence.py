"""pickle, joblib and skops round trips give identical results."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_thermo import BoltzmannMachine, EnergyClassifier, TemperedSoftmaxClassifier

X, Y = load_digits(return_X_y=True)
X, Y = X[:300] / 16.0, Y[:300]
METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score_samples",
    "free_energy",
)


def _fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield BoltzmannMachine(n_components=8, max_iter=3, random_state=0).fit(X)
        yield BoltzmannMachine(
            n_components=8, visible="gaussian", max_iter=3, random_state=0
        ).fit(X)
        yield EnergyClassifier(n_components=8, max_iter=3, random_state=0).fit(X, Y)
        yield TemperedSoftmaxClassifier(temperature="auto", cv=2).fit(X, Y)


def _pickle(est, tmp_path):
    return pickle.loads(pickle.dumps(est))


def _joblib(est, tmp_path):
    joblib.dump(est, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


def _skops(est, tmp_path):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    # only this package's own classes need trusting
    assert all(t.startswith("sklearn_thermo.") for t in untrusted)
    return sio.load(path, trusted=untrusted)


@pytest.mark.parametrize(
    "round_trip", [_pickle, _joblib, _skops], ids=["pickle", "joblib", "skops"]
)
@pytest.mark.parametrize("est", list(_fitted()), ids=lambda e: type(e).__name__)
def test_round_trip_gives_identical_results(est, round_trip, tmp_path):
    loaded = round_trip(est, tmp_path)
    assert type(loaded) is type(est)
    compared = 0
    for method in METHODS:
        if hasattr(est, method):
            np.testing.assert_array_equal(
                getattr(loaded, method)(X), getattr(est, method)(X)
            )
            compared += 1
    assert compared >= 3
    if hasattr(est, "sample"):  # same seed, same samples
        kw = {"y": 0} if isinstance(est, EnergyClassifier) else {}
        a = est.sample(3, n_steps=5, random_state=0, **kw)
        b = loaded.sample(3, n_steps=5, random_state=0, **kw)
        np.testing.assert_array_equal(
            np.asarray(a[0] if kw else a), np.asarray(b[0] if kw else b)
        )
