"""Calibration metrics for binary and multiclass probabilities.

scikit-learn has no expected calibration error, and its calibration curve is
binary only. Here, for probabilities ``P`` of shape (n_samples, n_classes):

- top-label (default): the confidence of a row is its largest probability and
  it is "correct" when that class is the true one;
- class-wise (``classwise=True``): every class ``k`` is scored on its own,
  ``p_k`` against ``1[y = k]``, and the errors are averaged over classes
  (Kull et al., NeurIPS 2019).

With rows binned by confidence into bins ``B_1 .. B_M``,

.. math::

    \\mathrm{ECE} = \\sum_m \\frac{|B_m|}{n}
        \\left| \\mathrm{acc}(B_m) - \\mathrm{conf}(B_m) \\right|, \\qquad
    \\mathrm{MCE} = \\max_{m: |B_m| > 0}
        \\left| \\mathrm{acc}(B_m) - \\mathrm{conf}(B_m) \\right|

(Naeini et al. 2015; Guo et al. 2017). Both are in [0, 1]; 0 is perfectly
calibrated, so lower is better.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.validation import check_array

from ._sklearn_private import (
    Interval,
    StrOptions,
    _check_sample_weight,
    validate_params,
)
from ._validation import check_not_array_api

__all__ = [
    "expected_calibration_error",
    "make_calibration_scorer",
    "maximum_calibration_error",
    "neg_expected_calibration_error_scorer",
    "neg_maximum_calibration_error_scorer",
]


def _as_class_probabilities(y_true, y_prob, labels):
    """Encode ``y_true`` as column indices of a 2-D ``y_prob``; check both."""
    check_not_array_api(y_true, y_prob)
    y_true = column_or_1d(y_true)
    y_prob = check_array(
        y_prob, ensure_2d=False, dtype=(np.float64, np.float32), input_name="y_prob"
    )
    check_consistent_length(y_true, y_prob)
    try:
        labels = np.unique(y_true) if labels is None else np.asarray(labels)
        if labels.ndim != 1 or len(np.unique(labels)) != len(labels):
            raise ValueError(
                f"labels must be a 1-D list of distinct classes; got {labels!r}."
            )
    except TypeError as e:
        raise ValueError(
            "y_true (and labels) must hold class labels of one comparable type "
            f"(numbers or strings, no None); sorting them failed: {e}."
        ) from None
    if y_prob.ndim == 1:  # binary: probability of the greater label
        if len(labels) > 2:
            raise ValueError(
                f"y_prob is 1-D (binary) but y_true has {len(labels)} labels; "
                "pass one column of probabilities per class."
            )
        y_prob = np.column_stack([1 - y_prob, y_prob])
        if len(labels) == 1:
            raise ValueError(
                "y_true has a single label and y_prob is 1-D: pass labels=[neg, pos] "
                "to say which class y_prob is the probability of."
            )
    if y_prob.shape[1] != len(labels):
        raise ValueError(
            f"y_prob has {y_prob.shape[1]} columns but there are {len(labels)} "
            "labels; pass labels= (e.g. estimator.classes_) in the column order."
        )
    if y_prob.min() < 0 or y_prob.max() > 1:
        raise ValueError("y_prob must hold probabilities in [0, 1].")
    if not np.allclose(y_prob.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(
            "The rows of y_prob must sum to one (a probability for every class)."
        )
    # labels in any order (the columns' order): search through a sorter
    try:
        sorter = np.argsort(labels)
        pos = np.searchsorted(labels, y_true, sorter=sorter)
    except TypeError as e:
        raise ValueError(
            "y_true and labels must hold class labels of one comparable type "
            f"(numbers or strings, no None): {e}."
        ) from None
    index = sorter[np.clip(pos, 0, len(labels) - 1)]
    known = labels[index] == y_true
    if not np.all(known):
        unknown = sorted(map(str, set(y_true[~known].tolist())))
        raise ValueError(f"y_true has labels not in labels: {unknown}.")
    return index, y_prob


def _bin_index(conf, n_bins, strategy):
    """The bin of each confidence, bins ``(e_m, e_{m+1}]`` (the first closed
    on the left); memory in the number of rows, whatever ``n_bins``."""
    if strategy == "uniform":
        # edges e_m = m * (1 / n_bins), as np.linspace makes them: the bin of
        # c is about ceil(c n_bins) - 1, then moved by one where rounding
        # put it on the wrong side of an edge
        step = 1.0 / n_bins
        b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
        b -= (b > 0) & (conf <= b * step)
        b += (b < n_bins - 1) & (conf > (b + 1) * step)
        return b
    # quantile edges: more bins than rows would only repeat edges
    n_edges = min(n_bins, len(conf)) + 1
    edges = np.quantile(conf, np.linspace(0.0, 1.0, n_edges))
    edges[0], edges[-1] = 0.0, 1.0
    edges = np.unique(edges)
    return np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, len(edges) - 2)


def _curve(conf, hit, weight, n_bins, strategy):
    """Per-bin mean confidence, accuracy and weight (empty bins dropped)."""
    _, which = np.unique(_bin_index(conf, n_bins, strategy), return_inverse=True)
    total = np.bincount(which, weights=weight)
    conf_sum = np.bincount(which, weights=weight * conf, minlength=len(total))
    hit_sum = np.bincount(which, weights=weight * hit, minlength=len(total))
    keep = total > 0
    return conf_sum[keep] / total[keep], hit_sum[keep] / total[keep], total[keep]


_PARAMS = {
    "y_true": ["array-like"],
    "y_prob": ["array-like"],
    "n_bins": [Interval(Integral, 1, None, closed="left")],
    "strategy": [StrOptions({"uniform", "quantile"})],
    "classwise": ["boolean"],
    "labels": ["array-like", None],
    "sample_weight": ["array-like", None],
}


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def calibration_curves(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    classwise=False,
    labels=None,
    sample_weight=None,
):
    """Binned (confidence, accuracy, weight) curves and the ECE and MCE.

    Returns
    -------
    curves : list of tuple of ndarray
        One ``(mean_confidence, accuracy, weight)`` per curve: one for
        top-label, one per class for class-wise.
    ece, mce : float
    """
    index, P = _as_class_probabilities(y_true, y_prob, labels)
    weight = _check_sample_weight(
        sample_weight, index, dtype=np.float64, ensure_non_negative=True
    )
    if not weight.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    # scaled to a largest weight of 1: sums of large weights cannot overflow
    weight = weight / weight.max()
    if classwise:
        pairs = [(P[:, k], (index == k).astype(float)) for k in range(P.shape[1])]
    else:
        pairs = [(P.max(axis=1), (P.argmax(axis=1) == index).astype(float))]
    curves, eces, gaps = [], [], []
    for conf, hit in pairs:
        c, a, w = _curve(np.asarray(conf, dtype=float), hit, weight, n_bins, strategy)
        curves.append((c, a, w))
        gap = np.abs(a - c)
        eces.append(float(gap @ w) / float(w.sum()))
        gaps.append(float(gap.max()))
    return curves, float(np.mean(eces)), float(max(gaps))


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def expected_calibration_error(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    classwise=False,
    labels=None,
    sample_weight=None,
):
    """Expected calibration error (ECE) of predicted probabilities.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, columns in the order of ``labels`` (sorted
        labels by default); 1-D for binary problems, the probability of the
        greater label (as scikit-learn's scorers pass it).
    n_bins : int, default=15
        Number of confidence bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or bins holding equal numbers of rows.
    classwise : bool, default=False
        Class-wise ECE (mean over classes) instead of top-label ECE.
    labels : array-like, default=None
        The classes in the column order of ``y_prob`` (e.g. ``classes_``).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    ece : float
        In [0, 1]; lower is better.

    See Also
    --------
    maximum_calibration_error : The largest gap over the bins.
    sklearn_thermo.calibration.ReliabilityDisplay : The reliability diagram.

    Examples
    --------
    >>> from sklearn_thermo.metrics import expected_calibration_error
    >>> expected_calibration_error([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8],
    ...                                           [0.4, 0.6], [0.6, 0.4]], n_bins=5)
    0.275
    """
    return calibration_curves(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        classwise=classwise,
        labels=labels,
        sample_weight=sample_weight,
    )[1]


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def maximum_calibration_error(
    y_true,
    y_prob,
    *,
    n_bins=15,
    strategy="uniform",
    classwise=False,
    labels=None,
    sample_weight=None,
):
    """Maximum calibration error (MCE): the largest gap of accuracy and confidence.

    Parameters are those of :func:`expected_calibration_error`; the maximum
    is over non-empty bins (and over classes when ``classwise=True``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
    n_bins : int, default=15
    strategy : {"uniform", "quantile"}, default="uniform"
    classwise : bool, default=False
    labels : array-like, default=None
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    mce : float
        In [0, 1]; lower is better.

    Examples
    --------
    >>> from sklearn_thermo.metrics import maximum_calibration_error
    >>> maximum_calibration_error([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8],
    ...                                          [0.4, 0.6], [0.6, 0.4]], n_bins=5)
    0.4
    """
    return calibration_curves(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        classwise=classwise,
        labels=labels,
        sample_weight=sample_weight,
    )[2]


class _CalibrationScorer:
    """``scorer(estimator, X, y)``: minus a calibration error of predict_proba."""

    def __init__(self, metric, kwargs):
        self.metric, self.kwargs = metric, kwargs

    def __call__(self, estimator, X, y, sample_weight=None):
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(
                f"A calibration scorer needs a classifier with predict_proba; "
                f"{type(estimator).__name__} has none."
            )
        P = estimator.predict_proba(X)
        return -self.metric(
            y, P, labels=estimator.classes_, sample_weight=sample_weight, **self.kwargs
        )

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        sep = ", " if args else ""
        return f"make_calibration_scorer({self.metric.__name__!r}{sep}{args})"


def make_calibration_scorer(metric="expected_calibration_error", **kwargs):
    """A scorer for ``scoring=`` in GridSearchCV: minus ECE or MCE.

    Parameters
    ----------
    metric : {"expected_calibration_error", "maximum_calibration_error"}
    **kwargs
        ``n_bins``, ``strategy``, ``classwise``, passed to the metric.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``; greater is better (it is the negated
        error), columns matched to ``estimator.classes_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_thermo import TemperedSoftmaxClassifier
    >>> from sklearn_thermo.metrics import make_calibration_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = make_calibration_scorer(n_bins=5)
    >>> scores = cross_val_score(TemperedSoftmaxClassifier(), X, y, cv=3,
    ...                          scoring=scorer)
    >>> bool((scores <= 0).all())  # minus an error: greater is better
    True
    """
    metrics = {
        "expected_calibration_error": expected_calibration_error,
        "maximum_calibration_error": maximum_calibration_error,
    }
    if metric not in metrics:
        raise ValueError(f"metric must be one of {sorted(metrics)}; got {metric!r}.")
    unknown = set(kwargs) - {"n_bins", "strategy", "classwise"}
    if unknown:
        raise TypeError(f"Unexpected arguments for the scorer: {sorted(unknown)}.")
    return _CalibrationScorer(metrics[metric], kwargs)


#: ``scoring=`` ready-made: minus the top-label ECE with 15 uniform bins.
neg_expected_calibration_error_scorer = make_calibration_scorer()
#: ``scoring=`` ready-made: minus the top-label MCE with 15 uniform bins.
neg_maximum_calibration_error_scorer = make_calibration_scorer(
    "maximum_calibration_error"
)
