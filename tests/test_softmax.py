"""TemperedSoftmaxClassifier: equivalence, temperature, calibration, bad input."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
import scipy.special
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_thermo import TemperedSoftmaxClassifier
from sklearn_thermo._softmax import tempered_loss_grad


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.slow
@pytest.mark.parametrize("data", ["digits", "cancer"])
@pytest.mark.parametrize("weighted", [False, True])
def test_unit_temperature_equals_logistic_regression(data, weighted, request):
    X, y = request.getfixturevalue(data)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    alpha = 1e-2
    total = len(y) if sw is None else sw.sum()
    ours = TemperedSoftmaxClassifier(1.0, alpha=alpha, tol=1e-10, max_iter=10000)
    ours.fit(X, y, sample_weight=sw)
    ref = LogisticRegression(C=1 / (total * alpha), tol=1e-10, max_iter=10000)
    ref.fit(X, y, sample_weight=sw)
    assert ours.coef_.shape == ref.coef_.shape
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, rtol=1e-4, atol=1e-4 * np.abs(ref.coef_).max()
    )
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(
        ours.decision_function(X), ref.decision_function(X), rtol=1e-4, atol=1e-4
    )


def _loss_case(K, dtype, n, seed, scale):
    """``(X, Y, sw, w)``: 4 features, one-hot (or 0/1 for K = 1) targets,
    sample weights and packed parameters of standard deviation ``scale``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(dtype)
    Y = (
        np.eye(K)[rng.integers(0, K, n)] if K > 1 else rng.integers(0, 2, (n, 1))
    ).astype(dtype)
    return X, Y, rng.uniform(0.5, 2, n), rng.normal(0, scale, size=K * 4 + K)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_matches_finite_differences(K, dtype):
    X, Y, sw, w = _loss_case(K, dtype, 30, 1, 1.0)
    args = (X, Y, sw, 0.1, 0.7, True)
    eps = 1e-7 if dtype == np.float64 else 1e-2  # float32 loss: a coarser step
    err = scipy.optimize.check_grad(
        lambda v: tempered_loss_grad(v, *args)[0],
        lambda v: tempered_loss_grad(v, *args)[1],
        w,
        epsilon=eps,
    )
    norm = np.linalg.norm(tempered_loss_grad(w, *args)[1])
    assert err < (1e-6 if dtype == np.float64 else 1e-2) * max(1.0, norm)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("keep", [False, True])
def test_compiled_loss_matches_the_numpy_path(K, dtype, keep, monkeypatch):
    """The compiled softmax cross-entropy (binary as two states) and the
    stable numpy path it falls back to give the same loss and gradient,
    with or without the transposed arrays a solver keeps."""
    from sklearn_thermo import _softmax

    X, Y, sw, w = _loss_case(K, dtype, 50, 2, 3.0)
    extra = (_softmax._transposed(X, Y),) if keep else ()
    args = (X, Y, sw, 0.1, 0.3, True, *extra)
    value, grad = tempered_loss_grad(w, *args)
    monkeypatch.setattr(_softmax, "softmax_xent", lambda *a: None)
    ref_value, ref_grad = _softmax.tempered_loss_grad(w, *args)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(ref_value, rel=tol)
    np.testing.assert_allclose(grad, ref_grad, rtol=tol, atol=tol * abs(ref_grad).max())


@pytest.mark.parametrize("K", [1, 4])
def test_fit_temperature_compiled_matches_numpy(K, monkeypatch):
    from sklearn_thermo import _softmax

    rng = np.random.default_rng(3)
    F = rng.normal(0, 2, (200, K))
    y = rng.integers(0, max(K, 2), 200)
    Y = np.eye(K)[y] if K > 1 else y[:, None].astype(float)
    sw = rng.uniform(0.5, 2, 200)
    T, loss = _softmax.fit_temperature(F, Y, sw)
    monkeypatch.setattr(_softmax, "softmax_xent_moments", lambda *a: None)
    T_ref, loss_ref = _softmax.fit_temperature(F, Y, sw)
    assert T == pytest.approx(T_ref, rel=1e-9)
    assert loss == pytest.approx(loss_ref, rel=1e-12)


@pytest.mark.slow
def test_temperature_and_alpha_interact_as_documented(digits):
    X, y = digits
    a = TemperedSoftmaxClassifier(2.0, alpha=1e-3, tol=1e-10).fit(X, y)
    b = TemperedSoftmaxClassifier(1.0, alpha=4e-3, tol=1e-10).fit(X, y)
    # exact identity; the tolerance is the solver's
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(a.coef_, 2.0 * b.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_higher_temperature_gives_softer_predictions(digits):
    X, y = digits
    entropies = [
        TemperedSoftmaxClassifier(T, alpha=1e-3).fit(X, y).predict_entropy(X).mean()
        for T in (0.5, 1.0, 4.0)
    ]
    assert entropies[0] < entropies[1] < entropies[2]


@pytest.mark.parametrize("data", ["digits", "cancer"])
@pytest.mark.parametrize("auto", [False, True])
def test_temperature_set_after_fit_reads_the_fitted_model(data, auto, request):
    """As for the Boltzmann estimators: set_params(temperature=t) on a fitted
    classifier rescales its scores by 1 / t (each ensemble member alike),
    and "auto" reads it at the fitted temperatures again."""
    X, y = request.getfixturevalue(data)
    X = X[:300]
    y = y[:300]
    clf = TemperedSoftmaxClassifier("auto" if auto else 1.0).fit(X, y)
    fitted = clf.predict_proba(X)
    if auto:
        members = list(zip(clf.ensemble_coef_, clf.ensemble_intercept_))
    else:
        members = [(clf.coef_, clf.intercept_)]
    entropies = []
    for t in (0.5, 2.0, 3.0):
        clf.set_params(temperature=t)
        expected = 0.0
        for W, b in members:
            f = X @ W.T + b
            f = np.column_stack([np.zeros(len(f)), f]) if f.shape[1] == 1 else f
            expected = expected + scipy.special.softmax(f / t, axis=1)
        expected /= len(members)
        np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-12)
        np.testing.assert_allclose(
            np.exp(clf.predict_log_proba(X)), expected, atol=1e-12
        )
        entropies.append(clf.predict_entropy(X).mean())
    assert entropies[0] < entropies[1] < entropies[2]
    clf.set_params(temperature="auto" if auto else 1.0)
    np.testing.assert_array_equal(clf.predict_proba(X), fitted)
    cold = clf.set_params(temperature=1e-310)  # f / T overflows: saturates
    assert np.isfinite(cold.decision_function(X)).all()
    assert np.isfinite(cold.predict_log_proba(X)).all()
    with pytest.raises(ValueError, match="temperature"):
        clf.set_params(temperature=0.0).predict(X)


@pytest.mark.parametrize("data", ["digits", "cancer"])
def test_methods_are_consistent(data, request):
    X, y = request.getfixturevalue(data)
    clf = TemperedSoftmaxClassifier(1.7, alpha=1e-3).fit(X, y)
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), P, atol=1e-12)
    D = clf.decision_function(X)
    if D.ndim == 1:  # binary: one score, like LogisticRegression
        np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-D)))
        states = np.column_stack([np.zeros_like(D), D]) * clf.temperature_
    else:
        np.testing.assert_allclose(P, np.exp(D) / np.exp(D).sum(axis=1, keepdims=True))
        states = D * clf.temperature_
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    T = clf.temperature_
    F = -T * np.log(np.exp(states / T).sum(axis=1))
    np.testing.assert_allclose(clf.free_energy(X), F, rtol=1e-10)
    S = -(P * np.log(np.clip(P, 1e-300, None))).sum(axis=1)
    np.testing.assert_allclose(clf.predict_entropy(X), S, atol=1e-10)


@pytest.mark.slow
def test_auto_temperature_calibrates(digits):
    X, y = digits
    # weak regularisation makes the T = 1 model overconfident on held-out data
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, te = idx[:1200], idx[1200:]
    raw = TemperedSoftmaxClassifier(1.0, alpha=1e-6).fit(X[tr], y[tr])
    auto = TemperedSoftmaxClassifier("auto", alpha=1e-6, ensemble=False)
    auto.fit(X[tr], y[tr])
    assert auto.temperature_ > 1.2
    # same argmax, better held-out log-likelihood
    np.testing.assert_array_equal(auto.predict(X[te]), raw.predict(X[te]))

    def nll(c):
        return -np.mean(np.log(c.predict_proba(X[te])[np.arange(len(te)), y[te]]))

    assert nll(auto) < nll(raw)
    np.testing.assert_allclose(auto.coef_, raw.coef_)


@pytest.mark.parametrize("weighted", [False, True])
def test_default_equals_logistic_regression_default(cancer, weighted):
    # alpha="auto" at a float temperature is LogisticRegression's C = 1
    X, y = cancer
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    ours = TemperedSoftmaxClassifier(tol=1e-10, max_iter=10000)
    ours.fit(X, y, sample_weight=sw)
    ref = LogisticRegression(tol=1e-10, max_iter=10000).fit(X, y, sample_weight=sw)
    total = len(y) if sw is None else sw.sum()
    assert ours.alpha_ == pytest.approx(1.0 / total)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def _oof_loss(X, y, alpha, T, cv=3):
    """Held-out NLL of out-of-fold scores at (alpha, T), by brute force."""
    from sklearn.model_selection import StratifiedKFold

    loss = 0.0
    for tr, te in StratifiedKFold(cv).split(X, y):
        clf = TemperedSoftmaxClassifier(1.0, alpha=alpha, tol=1e-8).fit(X[tr], y[tr])
        log_p = scipy.special.log_softmax(
            np.column_stack([np.zeros(len(te)), clf.decision_function(X[te])]) / T
            if clf.coef_.shape[0] == 1
            else clf.decision_function(X[te]) / T,
            axis=1,
        )
        loss -= log_p[np.arange(len(te)), np.searchsorted(clf.classes_, y[te])].sum()
    return loss / len(y)


def test_auto_alpha_and_temperature_minimise_the_out_of_fold_loss(cancer):
    X, y = cancer
    X, y = X[::2], y[::2]
    n = len(y)
    clf = TemperedSoftmaxClassifier("auto", cv=3, tol=1e-8, ensemble=False)
    clf.fit(X, y)
    assert clf.alpha_ in [pytest.approx(m / n) for m in (10.0, 1.0, 0.1)]
    # the folds use the same multiple of 1 / n over their own rows
    fold = (clf.alpha_ * n) / (2 * n / 3)
    chosen = _oof_loss(X, y, fold, clf.temperature_)
    # no other temperature does better out of fold at the chosen alpha ...
    for T in (0.5, 0.9, 1.1, 2.0):
        assert chosen <= _oof_loss(X, y, fold, T * clf.temperature_) + 1e-6
    # ... and the chosen alpha is 1 / n unless another one is lower
    if clf.alpha_ != pytest.approx(1.0 / n):
        assert chosen < _oof_loss(X, y, 1.0 / (2 * n / 3), clf.temperature_)
    # the final model is the full-data fit at the chosen alpha
    full = TemperedSoftmaxClassifier(1.0, alpha=clf.alpha_, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.coef_, full.coef_, rtol=1e-5, atol=1e-6)


def test_alpha_rule_keeps_the_default_unless_clearly_beaten():
    from sklearn_thermo._softmax import _lower_by

    n = 400
    sw = np.ones(n)
    noise = np.random.default_rng(0).normal(0, 1, n)
    noise -= noise.mean()
    # a mean improvement of 0.01 with a standard error of 0.05: kept
    assert not _lower_by(noise - 0.01, sw, 2.0, n)
    # an improvement of 0.2 against the same spread: taken
    assert _lower_by(noise - 0.2, sw, 2.0, n)
    assert not _lower_by(noise - 0.2, sw, 2.0, 1.0)
    # integer weights count as repeated rows
    d = noise[:50] - 0.25
    w = np.r_[np.full(25, 2.0), np.ones(25)]
    for z in (1.0, 2.0, 3.0, 4.0):
        assert _lower_by(d, w, z, w.sum()) == _lower_by(
            np.r_[d, d[:25]], np.ones(75), z, 75
        )


def test_fit_temperature_matches_mean_scores_and_a_bounded_search():
    from sklearn_thermo import ops
    from sklearn_thermo._softmax import fit_temperature

    rng = np.random.default_rng(1)
    n, K = 300, 4
    y = rng.integers(0, K, n)
    Y = np.eye(K)[y]
    F = rng.normal(size=(n, K)) * 3 + 4 * Y * (rng.random((n, 1)) < 0.6)
    sw = rng.uniform(0.5, 2.0, n)
    T, loss = fit_temperature(F, Y, sw)
    # at the optimum the model's mean score equals the data's
    P = ops.softmax(F, T, axis=1)
    np.testing.assert_allclose(sw @ (P * F).sum(1), sw @ (F * Y).sum(1), rtol=1e-8)

    def nll(t):
        return -(sw @ (ops.log_softmax(F, t, axis=1) * Y).sum(1)) / sw.sum()

    assert loss == pytest.approx(nll(T), rel=1e-12)
    ref = scipy.optimize.minimize_scalar(
        lambda lt: nll(np.exp(lt)),
        bounds=(-5, 5),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert T == pytest.approx(np.exp(ref.x), rel=1e-6)
    # outside the range: clipped to its ends
    assert fit_temperature(F * 1e4, Y, sw)[0] == pytest.approx(100.0)
    assert fit_temperature(F * 1e-4, Y, sw)[0] == pytest.approx(0.01)


def test_ensemble_averages_the_fold_models(cancer, digits):
    for X, y in (cancer, digits):
        X, y = X[::3], y[::3]
        clf = TemperedSoftmaxClassifier("auto", cv=3).fit(X, y)
        m, K = clf.ensemble_coef_.shape[:2]
        assert m == 3 and clf.ensemble_intercept_.shape == (m, K)
        assert clf.ensemble_temperature_.shape == (m,)
        P = np.zeros((len(y), len(clf.classes_)))
        member_free = []
        for W, b, T in zip(
            clf.ensemble_coef_, clf.ensemble_intercept_, clf.ensemble_temperature_
        ):
            F = X @ W.T + b
            if K == 1:
                F = np.column_stack([np.zeros(len(y)), F])
            P += scipy.special.softmax(F / T, axis=1) / m
            member_free.append(-T * scipy.special.logsumexp(F / T, axis=1))
        np.testing.assert_allclose(clf.predict_proba(X), P, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
        np.testing.assert_allclose(
            clf.predict_log_proba(X), np.log(P), rtol=1e-9, atol=1e-12
        )
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
        D = clf.decision_function(X)
        if K == 1:
            np.testing.assert_allclose(D, np.log(P[:, 1] / P[:, 0]), rtol=1e-9)
        else:
            np.testing.assert_allclose(scipy.special.softmax(D, axis=1), P, atol=1e-12)
        S = -(P * np.log(np.clip(P, 1e-300, None))).sum(axis=1)
        np.testing.assert_allclose(clf.predict_entropy(X), S, atol=1e-10)
        np.testing.assert_allclose(
            clf.free_energy(X), np.mean(member_free, axis=0), rtol=1e-9, atol=1e-14
        )
        np.testing.assert_allclose(clf.coef_, clf.ensemble_coef_.mean(axis=0))
        # refitting without the ensemble removes its attributes
        clf.set_params(ensemble=False).fit(X, y)
        assert not hasattr(clf, "ensemble_coef_")


@pytest.mark.slow
def test_ensemble_beats_one_model_out_of_sample():
    # the averaged fold models are better calibrated than one model on the
    # data where a single model is overconfident (few rows, many features)
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=300,
        n_features=40,
        n_informative=10,
        n_classes=3,
        random_state=0,
    )

    def nll(clf, a, b, c, d):
        P = clf.fit(a, c).predict_proba(b)
        return -np.mean(np.log(P[np.arange(len(d)), d]))

    wins = 0
    for seed in range(5):
        split = train_test_split(X, y, test_size=0.5, random_state=seed)
        one = nll(TemperedSoftmaxClassifier("auto", ensemble=False), *split)
        avg = nll(TemperedSoftmaxClassifier("auto"), *split)
        wins += avg < one
    assert wins >= 4


def test_auto_temperature_falls_back_when_flat():
    X, y = make_classification(n_samples=60, random_state=0)
    # an enormous penalty makes every score 0 up to rounding: T cannot matter
    clf = TemperedSoftmaxClassifier("auto", alpha=1e12, fit_intercept=False).fit(X, y)
    assert clf.temperature_ == 1.0


def test_sparse_float32_string_labels(digits):
    X, y = digits
    labels = np.array(list("abcdefghij"))[y]
    dense = TemperedSoftmaxClassifier(alpha=1e-3).fit(X, labels)
    sparse = TemperedSoftmaxClassifier(alpha=1e-3).fit(sp.csr_matrix(X), labels)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-8)
    assert set(dense.predict(X[:50])) <= set("abcdefghij")
    c32 = TemperedSoftmaxClassifier(alpha=1e-3).fit(X.astype(np.float32), labels)
    assert c32.coef_.dtype == np.float32
    assert c32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert (c32.predict(X) == dense.predict(X)).mean() > 0.98


@pytest.mark.slow
def test_warm_start_continues(digits):
    X, y = digits
    clf = TemperedSoftmaxClassifier(alpha=1e-3, warm_start=True, tol=1e-8).fit(X, y)
    first = clf.n_iter_[0]
    clf.fit(X, y)
    assert clf.n_iter_[0] < first / 2


@pytest.mark.slow
def test_grid_search_over_temperature_and_calibrated_cv(digits):
    X, y = digits
    search = GridSearchCV(
        TemperedSoftmaxClassifier(alpha=1e-2),
        {"temperature": [0.05, 1.0, 20.0]},
        scoring="neg_log_loss",
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.argmax(scores) == 0  # with this alpha a cold model fits best
    cal = CalibratedClassifierCV(TemperedSoftmaxClassifier(), cv=3).fit(X, y)
    np.testing.assert_allclose(cal.predict_proba(X).sum(axis=1), 1.0)


def test_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        TemperedSoftmaxClassifier(max_iter=2).fit(X, y)


@pytest.mark.parametrize(
    "params, X, y, match",
    [
        ({"temperature": 0.0}, None, None, "temperature"),
        ({"temperature": -1.0}, None, None, "temperature"),
        ({"temperature": np.inf}, None, None, "temperature"),
        ({"temperature": np.nan}, None, None, "temperature"),
        ({}, "nan", None, "NaN"),
        ({}, None, "one", "2 classes"),
    ],
)
def test_bad_input(params, X, y, match):
    X0, y0 = make_classification(n_samples=30, random_state=0)
    if isinstance(X, str):
        X0 = X0.copy()
        X0[0, 0] = np.nan
    if isinstance(y, str):
        y0 = np.zeros_like(y0)
    with pytest.raises(ValueError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            TemperedSoftmaxClassifier(**params).fit(X0, y0)


def _blas_threads():
    from threadpoolctl import threadpool_info

    libs = threadpool_info()
    return [lib["num_threads"] for lib in libs if lib["user_api"] == "blas"]


@pytest.mark.parametrize("small", [True, False])
def test_lbfgs_runs_with_one_blas_thread_on_small_problems(monkeypatch, small):
    # on small problems L-BFGS runs with BLAS at one thread (the idle threads
    # of the BLAS pools would otherwise take the cores from the work); large
    # products keep the caller's threads, and fit leaves the limits as it
    # found them
    from sklearn_thermo import _softmax

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    if not small:
        monkeypatch.setattr(_softmax, "_ONE_THREAD_ELEMENTS", 0)
    before = _blas_threads()
    seen = []

    def recording(*args):
        seen.append(_blas_threads())
        return tempered_loss_grad(*args)

    monkeypatch.setattr(_softmax, "tempered_loss_grad", recording)
    TemperedSoftmaxClassifier().fit(X, y)
    assert seen
    expected = [1] * len(before) if small else before
    assert all(threads == expected for threads in seen)
    assert _blas_threads() == before
