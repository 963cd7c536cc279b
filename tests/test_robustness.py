"""Every estimator under interrupts, divergence and concurrent calls."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn_thermo._core._kernels import weight_step

from sklearn_thermo import (
    BoltzmannMachine,
    EnergyClassifier,
    TemperedSoftmaxClassifier,
    _softmax,
)
from sklearn_thermo._core import ais as core_ais
from sklearn_thermo._core import conditional as core_conditional
from sklearn_thermo._core import training as core_training

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = X_DIGITS[:400] / 16.0
Y_DIGITS = Y_DIGITS[:400]

# (estimator, the function a fit calls repeatedly, where to patch it)
CASES = {
    "BoltzmannMachine": (
        lambda: BoltzmannMachine(n_components=16, max_iter=3, random_state=0),
        core_training.CDTrainer,
        "run",
    ),
    "EnergyClassifier": (
        lambda: EnergyClassifier(n_components=16, max_iter=3, random_state=0),
        core_conditional.ClassRBMTrainer,
        "step",
    ),
    "TemperedSoftmaxClassifier": (
        lambda: TemperedSoftmaxClassifier(),
        _softmax,
        "tempered_loss_grad",
    ),
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
        est.score_samples(X_DIGITS) if case == "BoltzmannMachine" else est.predict(
            X_DIGITS
        )
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
        _fit(
            est.set_params(random_state=1)
            if case != "TemperedSoftmaxClassifier"
            else est,
            X_DIGITS[:200],
            Y_DIGITS[:200],
        )
    monkeypatch.undo()
    after = _outputs(est)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    assert (
        pickle.dumps(
            est.set_params(
                **({"random_state": 0} if case != "TemperedSoftmaxClassifier" else {})
            )
        )
        == state
    )


def _interrupt_inside_weight_update(monkeypatch):
    """The weight step (or the fused PCD kernel) updates the parameters in
    place, then is interrupted."""

    def interrupted(kernel):
        def run(*args, **kwargs):
            kernel(*args, **kwargs)
            raise KeyboardInterrupt

        return run

    monkeypatch.setattr(core_training, "weight_step", interrupted(weight_step))
    monkeypatch.setattr(core_conditional, "weight_step", interrupted(weight_step))
    monkeypatch.setattr(core_training, "fused_cd", interrupted(core_training.fused_cd))


def _state(est):
    return {
        k: (v.copy() if isinstance(v, np.ndarray) else v)
        for k, v in vars(est).items()
        if k.endswith("_")
    }


@pytest.mark.parametrize(
    "case, method",
    [
        ("BoltzmannMachine", None),
        ("EnergyClassifier", "hybrid"),
        ("EnergyClassifier", "discriminative"),
    ],
)
def test_interrupted_partial_fit_is_all_or_nothing(case, method, monkeypatch):
    make = CASES[case][0]
    est = make()
    if case == "EnergyClassifier":
        est.set_params(method=method)
    kwargs = {"classes": np.arange(10)} if case == "EnergyClassifier" else {}
    est.partial_fit(X_DIGITS, Y_DIGITS, **kwargs)
    before, state = _outputs(est), _state(est)  # fills the log Z cache too
    _interrupt_inside_weight_update(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X_DIGITS, Y_DIGITS)
    monkeypatch.undo()
    after = _state(est)
    assert after.keys() == state.keys()
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
    for key, value in _outputs(est).items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    # and training goes on from there, as if the interrupted call never ran
    est.partial_fit(X_DIGITS, Y_DIGITS)
    fresh = make()
    if case == "EnergyClassifier":
        fresh.set_params(method=method)
    fresh.partial_fit(X_DIGITS, Y_DIGITS, **kwargs).partial_fit(X_DIGITS, Y_DIGITS)
    np.testing.assert_array_equal(est.components_, fresh.components_)


def test_diverged_partial_fit_keeps_the_previous_parameters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 20)) * 50
    est = BoltzmannMachine(
        visible="gaussian",
        n_components=8,
        learning_rate=10.0,
        momentum=0.99,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(200):
            state = _state(est)
            try:
                est.partial_fit(X)
            except ValueError as e:
                assert "Training diverged" in str(e)
                break
        else:
            pytest.fail("the setting meant to diverge did not")
    after = _state(est)
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # large, finite weights
        assert np.isfinite(est.transform(X)).all()


def test_weights_whose_inputs_overflow_count_as_diverged():
    # every weight finite, but the sum over 20 visible units exceeds the
    # float64 range: the conditionals would be NaN, so training must stop
    X = (np.random.default_rng(0).random((50, 20)) < 0.3).astype(float)
    est = BoltzmannMachine(n_components=4, max_iter=2, random_state=0).fit(X)
    est.components_[:] = 1e307
    assert np.isfinite(est.components_).all()
    with pytest.raises(ValueError, match="inputs overflow"):
        est.partial_fit(X)


def test_diverged_fit_does_not_keep_nan_parameters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 20)) * 50
    est = BoltzmannMachine(
        visible="gaussian",
        n_components=8,
        learning_rate=10.0,
        momentum=0.99,
        max_iter=30,
        random_state=0,
    )
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
        np.testing.assert_array_equal(
            other.intercept_hidden_, fits[0].intercept_hidden_
        )


def test_softmax_fit_is_reproducible():
    a = _fit(TemperedSoftmaxClassifier(temperature="auto", cv=2))
    b = _fit(TemperedSoftmaxClassifier(temperature="auto", cv=2))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.temperature_ == b.temperature_


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [
        (i["internal_api"], i["num_threads"])
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]


@pytest.mark.parametrize("case", ["BoltzmannMachine", "EnergyClassifier"])
def test_concurrent_inference_leaves_blas_threads_as_it_found_them(case):
    from threadpoolctl import threadpool_limits

    est = _fit(CASES[case][0]().set_params(n_jobs=2))
    serial = _outputs(est)
    for outer in (None, 2):  # the process's own setting, and a user's limit
        with threadpool_limits(limits=outer, user_api="blas"):
            expected = _blas_threads()
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: _outputs(est), range(16)))
            assert _blas_threads() == expected
        for result in results:
            for key, value in serial.items():
                np.testing.assert_array_equal(result[key], value, err_msg=key)


@pytest.mark.slow
def test_interrupt_stops_ais_workers_promptly():
    # the interrupt arrives while log_partition waits for its worker threads:
    # they must stop within a few checks, not anneal to the end
    import _thread
    import signal
    import threading

    est = _fit(BoltzmannMachine(n_components=24, max_iter=1, random_state=0, n_jobs=2))
    n_betas = 2_000_000  # minutes of work, were it not stopped
    betas_run = []
    original = core_ais._anneal

    def counting(*args, check=None, **kwargs):
        def counted():
            betas_run.append(core_ais._CHECK_EVERY)
            check()

        return original(*args, check=counted, **kwargs)

    timer = None
    # Ctrl-C as Python handles it by default: interrupt_main does nothing
    # while SIGINT is ignored or left to the OS, which a library loaded by an
    # earlier test in the same process may have arranged
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        core_ais._anneal = counting
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            est.log_partition("ais", n_chains=64, n_betas=n_betas)
    finally:
        core_ais._anneal = original
        if timer is not None:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # both blocks have returned (the runner waited for them) well before the end
    assert sum(betas_run) < n_betas // 4
    # and nothing half-computed was cached
    assert not est._log_z_cache


@pytest.mark.slow
@pytest.mark.parametrize("case", ["BoltzmannMachine", "EnergyClassifier"])
def test_inference_memory_does_not_grow_with_rows(case):
    import tracemalloc

    # one thread: each thread has its own bounded chunk scratch, and how many
    # threads a call uses depends on the machine's load
    est = _fit(CASES[case][0]().set_params(n_components=64, n_jobs=1))
    methods = [
        m
        for m in (
            "transform",
            "free_energy",
            "score_samples",
            "decision_function",
            "predict_proba",
        )
        if hasattr(est, m)
    ]
    est.score_samples(X_DIGITS[:5])  # log Z computed outside the measurement
    peaks = {}
    for n in (16_000, 64_000):  # several chunks per thread at both sizes
        X = np.tile(X_DIGITS, (n // len(X_DIGITS), 1))
        for m in methods:
            tracemalloc.start()
            out = getattr(est, m)(X)
            peak = tracemalloc.get_traced_memory()[1] - out.nbytes
            tracemalloc.stop()
            peaks[m, n] = peak
    for m in methods:
        # 4x the rows: the temporaries beyond the output (chunk scratch) do
        # not grow, only a few vectors of n values do; an n x n_components
        # temporary would add 23 MiB
        growth = peaks[m, 64_000] - peaks[m, 16_000]
        assert growth < 3 * 2**20, (m, peaks)
