"""Calibration metrics and the reliability diagram."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklearn_thermo import TemperedSoftmaxClassifier
from sklearn_thermo.metrics import (
    expected_calibration_error,
    make_calibration_scorer,
    maximum_calibration_error,
    neg_expected_calibration_error_scorer,
)


def _ece_by_hand(y, P, n_bins):
    conf, pred = P.max(axis=1), P.argmax(axis=1)
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(
                (pred[inside] == y[inside]).mean() - conf[inside].mean()
            )
    return total


def _random_probs(n, k, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    P = np.exp(logits)
    return P / P.sum(axis=1, keepdims=True), rng.integers(0, k, n)


@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_matches_definition(n_bins):
    P, y = _random_probs(500, 4, 0)
    assert expected_calibration_error(y, P, n_bins=n_bins) == pytest.approx(
        _ece_by_hand(y, P, n_bins), abs=1e-12
    )


def test_perfectly_calibrated_predictions_have_small_ece():
    rng = np.random.default_rng(1)
    P, _ = _random_probs(200000, 3, 2)
    y = (rng.random(len(P))[:, None] > P.cumsum(axis=1)).sum(axis=1)  # y ~ P
    assert expected_calibration_error(y, P) < 0.01
    assert expected_calibration_error(y, P, classwise=True) < 0.01
    # overconfident predictions (sharpened) are badly calibrated
    sharp = P**4 / (P**4).sum(axis=1, keepdims=True)
    assert expected_calibration_error(y, sharp) > 0.1


def test_binary_1d_agrees_with_two_columns_and_sklearn_curve():
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < p**2).astype(int)
    two = np.column_stack([1 - p, p])
    assert expected_calibration_error(y, p) == expected_calibration_error(y, two)
    # class-wise on the positive class uses scikit-learn's binary curve's bins
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    gaps = np.abs(prob_true - prob_pred)
    assert maximum_calibration_error(
        y, two, n_bins=10, classwise=True
    ) == pytest.approx(gaps.max(), abs=1e-12)


def test_mce_bounds_ece_and_quantile_strategy():
    P, y = _random_probs(400, 5, 4)
    for strategy in ("uniform", "quantile"):
        ece = expected_calibration_error(y, P, strategy=strategy)
        mce = maximum_calibration_error(y, P, strategy=strategy)
        assert 0 <= ece <= mce <= 1


def test_sample_weight_equals_repetition():
    P, y = _random_probs(50, 3, 5)
    w = np.random.default_rng(6).integers(1, 4, 50)
    assert expected_calibration_error(y, P, sample_weight=w) == pytest.approx(
        expected_calibration_error(np.repeat(y, w), np.repeat(P, w, axis=0))
    )


def test_string_labels_and_labels_argument():
    P, y = _random_probs(100, 3, 7)
    names = np.array(["cat", "dog", "emu"])
    assert expected_calibration_error(names[y], P) == expected_calibration_error(y, P)
    # a class missing from y_true: labels says which column is which
    keep = y != 1
    assert expected_calibration_error(
        names[y][keep], P[keep], labels=names
    ) == expected_calibration_error(y[keep], P[keep], labels=[0, 1, 2])


@pytest.mark.parametrize(
    "y_prob, match",
    [
        ([[0.5, 0.6], [0.5, 0.5]], "sum to one"),
        ([[1.5, -0.5], [0.5, 0.5]], r"\[0, 1\]"),
        ([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]], "columns"),
        ([[np.nan, 1.0], [0.5, 0.5]], "NaN"),
    ],
)
def test_bad_input(y_prob, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error([0, 1], y_prob)


_Y = np.array([0, 1, 2, 1])
_P = np.full((4, 3), 1 / 3)


@pytest.mark.parametrize(
    "y_true, y_prob, kwargs, match",
    [
        (_Y, np.where(np.eye(4, 3) > 0, np.inf, _P), {}, "infinity"),
        (_Y[:3], _P, {}, "inconsistent numbers of samples"),
        (_Y[:0], _P[:0], {}, "0 sample"),
        (_Y, _P.astype(complex), {}, "Complex data"),
        (_Y, np.full((4, 3), "a"), {}, "convert"),
        (_Y, _P * 1e300, {}, r"\[0, 1\]"),
        (np.array([0, 1, 2, 5]), _P, {}, "columns"),
        (np.array([0, 1, np.nan, 1]), _P, {}, "labels not in labels"),
        (_Y, _P[None], {}, "dim 3"),
        (_Y, _P, {"n_bins": 0}, "n_bins"),
        (_Y, _P, {"sample_weight": -np.ones(4)}, "Negative values"),
        (_Y, _P, {"sample_weight": np.zeros(4)}, "non-zero"),
    ],
)
def test_bad_input_table(y_true, y_prob, kwargs, match):
    for metric in (expected_calibration_error, maximum_calibration_error):
        with pytest.raises(ValueError, match=match):
            metric(y_true, y_prob, **kwargs)


@pytest.mark.slow
def test_scorers_in_grid_search():
    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(
        TemperedSoftmaxClassifier(alpha=1e-2),
        {"temperature": [0.05, 1.0, 20.0]},
        scoring=neg_expected_calibration_error_scorer,
        cv=3,
    )
    search.fit(X / 16, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(scores <= 0)
    assert search.best_params_["temperature"] != 20.0  # far too soft
    scorer = make_calibration_scorer("maximum_calibration_error", n_bins=10)
    assert -1 <= scorer(search.best_estimator_, X / 16, y) <= 0
    with pytest.raises(ValueError, match="metric"):
        make_calibration_scorer("brier")


@pytest.mark.slow
def test_reliability_display(tmp_path):
    pytest.importorskip("matplotlib")  # matplotlib is in the test extra
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_thermo.calibration import ReliabilityDisplay

    X, y = load_digits(return_X_y=True)
    clf = TemperedSoftmaxClassifier().fit(X[:1000] / 16, y[:1000])
    disp = ReliabilityDisplay.from_estimator(clf, X[1000:] / 16, y[1000:], n_bins=10)
    assert len(disp.lines_) == 1 and disp.ax_ is not None
    assert disp.ece == pytest.approx(
        expected_calibration_error(
            y[1000:], clf.predict_proba(X[1000:] / 16), n_bins=10
        )
    )
    per_class = ReliabilityDisplay.from_predictions(
        y[1000:], clf.predict_proba(X[1000:] / 16), classwise=True
    )
    assert len(per_class.lines_) == 10
    disp.figure_.savefig(tmp_path / "reliability.png")
    assert (tmp_path / "reliability.png").stat().st_size > 1000


def test_reliability_display_pos_label_and_ref_line():
    pytest.importorskip("matplotlib")  # matplotlib is in the test extra
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_thermo.calibration import ReliabilityDisplay
    from sklearn_thermo.metrics import expected_calibration_error

    y = np.array(["spam", "ham", "ham", "spam", "ham", "spam"])
    p = np.array([0.9, 0.2, 0.4, 0.6, 0.1, 0.7])  # P(spam)
    d = ReliabilityDisplay.from_predictions(
        y, p, pos_label="spam", n_bins=3, ref_line=False
    )
    assert d.ece == expected_calibration_error(y, p, labels=["ham", "spam"], n_bins=3)
    assert len(d.ax_.lines) == 1  # no diagonal
    flipped = ReliabilityDisplay.from_predictions(y, 1 - p, pos_label="ham", n_bins=3)
    assert flipped.ece == pytest.approx(d.ece) and len(flipped.ax_.lines) == 2
    with pytest.raises(ValueError, match="pos_label"):
        ReliabilityDisplay.from_predictions(y, p, pos_label="eggs")
    with pytest.raises(TypeError, match="ax.plot"):
        ReliabilityDisplay.from_predictions(y, p, pos_label="spam", bogus=3)
