"""Every estimator under interrupts, divergence and concurrent calls."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_thermo import (
    BoltzmannMachine,
    EnergyClassifier,
    TemperedSoftmaxClassifier,
    _cd,
    _classrbm,
    _softmax,
)

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = X_DIGITS[:400] / 16.0
Y_DIGITS = Y_DIGITS[:400]

# (estimator, the function a fit calls repeatedly, where to patch it)
CASES = {
    "BoltzmannMachine": (
        lambda: BoltzmannMachine(n_components=16, max_iter=3, random_state=0),
        _cd.CDTrainer, "step"),
    "EnergyClassifier": (
        lambda: EnergyClassifier(n_components=16, max_iter=3, random_state=0),
        _classrbm.ClassRBMTrainer, "step"),
    "TemperedSoftmaxClassifier": (
        lambda: TemperedSoftmaxClassifier(), _softmax, "tempered_loss_grad"),
}


def _fit(est, X=X_DIGITS, y=Y_DIGITS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _interrupt_after(monkeypatch, owner, name, calls):
    original = getattr(owner, name)
    count = {"n": 0}

    def patched(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


def _outputs(est):
    methods = ("predict_proba", "transform", "score_samples", "decision_function")
    return {m: getattr(est, m)(X_DIGITS) for m in methods if hasattr(est, m)}


@pytest.mark.parametrize("case", CASES)
def test_interrupted_first_fit_leaves_estimator_unfitted(case, monkeypatch):
    make, owner, name = CASES[case]
    est = make()
    _interrupt_after(monkeypatch, owner, name, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(est)
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        est.score_samples(X_DIGITS) if case == "BoltzmannMachine" else \
            est.predict(X_DIGITS)
    monkeypatch.undo()
    _fit(est)  # and it can still be fitted


@pytest.mark.parametrize("case", CASES)
def test_interrupted_refit_keeps_the_previous_fit(case, monkeypatch):
    make, owner, name = CASES[case]
    est = _fit(make())
    before = _outputs(est)
    state = pickle.dumps(est)
    _interrupt_after(monkeypatch, owner, name, 2)
    with pytest.raises(KeyboardInterrupt):
        _fit(est.set_params(random_state=1) if case != "TemperedSoftmaxClassifier"
             else est, X_DIGITS[:200], Y_DIGITS[:200])
    monkeypatch.undo()
    after = _outputs(est)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    assert pickle.dumps(est.set_params(
        **({"random_state": 0} if case != "TemperedSoftmaxClassifier" else {}))
    ) == state


@pytest.mark.parametrize("case", ["BoltzmannMachine", "EnergyClassifier"])
def test_interrupted_partial_fit_leaves_finite_usable_parameters(case, monkeypatch):
    make, owner, name = CASES[case]
    est = make()
    kwargs = {"classes": np.arange(10)} if case == "EnergyClassifier" else {}
    est.partial_fit(X_DIGITS, Y_DIGITS, **kwargs)
    _interrupt_after(monkeypatch, owner, name, 0)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_DIGITS, Y_DIGITS)
    monkeypatch.undo()
    for values in _outputs(est).values():
        assert np.isfinite(values).all()


def test_diverged_fit_does_not_keep_nan_parameters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 20)) * 50
    est = BoltzmannMachine(visible="gaussian", n_components=8, learning_rate=10.0,
                           momentum=0.99, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="Training diverged"):
            est.fit(X)
    assert not hasattr(est, "components_")  # not NaN weights kept silently


@pytest.mark.parametrize("case", CASES)
def test_concurrent_calls_give_the_serial_answers(case):
    est = _fit(CASES[case][0]())
    serial = _outputs(est)
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: _outputs(est), range(12)))
    for result in results:
        for key, value in serial.items():
            np.testing.assert_array_equal(result[key], value)


@pytest.mark.parametrize("case", ["BoltzmannMachine", "EnergyClassifier"])
def test_fit_is_reproducible_across_runs_and_n_jobs(case):
    make = CASES[case][0]
    fits = [_fit(make().set_params(n_jobs=j)) for j in (1, 2, 1)]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.components_, fits[0].components_)
        np.testing.assert_array_equal(other.intercept_hidden_,
                                      fits[0].intercept_hidden_)


def test_softmax_fit_is_reproducible():
    a = _fit(TemperedSoftmaxClassifier(temperature="auto", cv=2))
    b = _fit(TemperedSoftmaxClassifier(temperature="auto", cv=2))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.temperature_ == b.temperature_
