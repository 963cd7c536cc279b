"""Reliability diagrams for binary and multiclass classifiers.

:class:`ReliabilityDisplay` follows scikit-learn's Display API
(``from_estimator``, ``from_predictions``, ``plot``). matplotlib is imported
only when plotting (it is an optional dependency).
"""

from ._sklearn_private import check_matplotlib_support
from .metrics import calibration_curves

__all__ = ["ReliabilityDisplay"]


def _binary_labels(y_true, y_prob, pos_label, labels):
    """``[negative, pos_label]`` for a 1-D ``y_prob``."""
    import numpy as np

    if np.ndim(y_prob) != 1:
        raise ValueError(
            "pos_label is for a 1-D (binary) y_prob; for probabilities of every "
            "class, pass labels= in the column order."
        )
    if labels is not None:
        raise ValueError("Pass pos_label or labels, not both.")
    present = np.unique(np.asarray(y_true))
    if pos_label not in present.tolist() or len(present) > 2:
        raise ValueError(
            f"pos_label={pos_label!r} must be one of the (at most two) classes of "
            f"y_true: {present.tolist()}."
        )
    others = [c for c in present.tolist() if c != pos_label]
    if not others:
        raise ValueError(
            "y_true holds only pos_label: the negative class is unknown; pass "
            "labels=[negative, positive] instead."
        )
    return [others[0], pos_label]


class ReliabilityDisplay:
    """Reliability diagram: accuracy against confidence, bin by bin.

    Top-label by default (one curve: the largest probability of each row
    against whether that class is right), or class-wise (one curve per class:
    ``p_k`` against the frequency of class ``k``). A perfectly calibrated model
    lies on the diagonal. Create it with :meth:`from_estimator` or
    :meth:`from_predictions`.

    Parameters
    ----------
    curves : list of tuple of ndarray
        ``(mean_confidence, accuracy, weight)`` per curve.
    ece : float
        Expected calibration error.
    mce : float
        Maximum calibration error.
    curve_labels : list of str
        One legend entry per curve.
    estimator_name : str, default=None
        Name shown in the legend.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")  # no window: a figure in memory
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_thermo import TemperedSoftmaxClassifier
    >>> from sklearn_thermo.calibration import ReliabilityDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TemperedSoftmaxClassifier(temperature="auto").fit(X, y)
    >>> disp = ReliabilityDisplay.from_estimator(clf, X, y, n_bins=5)
    >>> 0 <= disp.ece <= disp.mce <= 1
    True
    """

    def __init__(self, curves, ece, mce, curve_labels, *, estimator_name=None):
        self.curves = curves
        self.ece = ece
        self.mce = mce
        self.curve_labels = curve_labels
        self.estimator_name = estimator_name

    def plot(self, *, ax=None, name=None, ref_line=True, **kwargs):
        """Draw the diagram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Legend name; defaults to ``estimator_name``.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        **kwargs
            Passed to ``ax.plot`` for every curve (matplotlib ``Line2D``
            properties).

        Returns
        -------
        display : ReliabilityDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        name = self.estimator_name if name is None else name
        if ref_line:
            ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
        self.lines_ = []
        for (conf, acc, _), label in zip(self.curves, self.curve_labels):
            text = f"{name} {label}".strip() if name else label
            if len(self.curves) == 1:
                text = f"{text} (ECE = {self.ece:.3f})"
            try:
                (line,) = ax.plot(conf, acc, "s-", label=text, **kwargs)
            except AttributeError as e:  # matplotlib's word for an unknown keyword
                raise TypeError(
                    f"{type(self).__name__}.plot passes extra keywords to "
                    f"matplotlib's ax.plot, which refused them: {e}"
                ) from None
            self.lines_.append(line)
        kind = "top-label" if len(self.curves) == 1 else "class-wise"
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel=f"mean confidence ({kind})",
            ylabel="fraction correct",
        )
        ax.set_title(f"ECE = {self.ece:.3f}, MCE = {self.mce:.3f}")
        ax.legend(loc="upper left")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_prob,
        *,
        n_bins=15,
        strategy="uniform",
        classwise=False,
        labels=None,
        pos_label=None,
        name=None,
        ref_line=True,
        ax=None,
        **kwargs,
    ):
        """Reliability diagram of given probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
        y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
            As in :func:`sklearn_thermo.metrics.expected_calibration_error`.
        n_bins : int, default=15
        strategy : {"uniform", "quantile"}, default="uniform"
        classwise : bool, default=False
            One curve per class instead of the top-label curve.
        labels : array-like, default=None
            Classes in the column order of ``y_prob``.
        pos_label : int, float, bool or str, default=None
            For a 1-D (binary) ``y_prob``: the class it is the probability
            of; the other class of ``y_true`` is the negative one. ``None``:
            the greater label, as scikit-learn's scorers pass it.
        name : str, default=None
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ReliabilityDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        if pos_label is not None:
            labels = _binary_labels(y_true, y_prob, pos_label, labels)
        curves, ece, mce = calibration_curves(
            y_true,
            y_prob,
            n_bins=n_bins,
            strategy=strategy,
            classwise=classwise,
            labels=labels,
        )
        if classwise:
            import numpy as np

            names = np.unique(y_true) if labels is None else labels
            curve_labels = [f"class {c}" for c in names]
        else:
            curve_labels = [""]
        display = cls(curves, ece, mce, curve_labels, estimator_name=name)
        return display.plot(ax=ax, ref_line=ref_line, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_bins=15,
        strategy="uniform",
        classwise=False,
        name=None,
        ref_line=True,
        ax=None,
        **kwargs,
    ):
        """Reliability diagram of a fitted classifier's ``predict_proba`` on X.

        Parameters
        ----------
        estimator : fitted classifier with ``predict_proba`` and ``classes_``
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        n_bins : int, default=15
        strategy : {"uniform", "quantile"}, default="uniform"
        classwise : bool, default=False
        name : str, default=None
            Defaults to the estimator's class name.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ReliabilityDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        if not (hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")):
            raise TypeError(
                f"{cls.__name__}.from_estimator needs a fitted classifier with "
                f"predict_proba and classes_; got {type(estimator).__name__}."
            )
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(
            y,
            estimator.predict_proba(X),
            n_bins=n_bins,
            strategy=strategy,
            classwise=classwise,
            labels=estimator.classes_,
            name=name,
            ref_line=ref_line,
            ax=ax,
            **kwargs,
        )
