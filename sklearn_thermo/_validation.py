"""Input checks shared by the estimators (beyond scikit-learn's validators)."""

import copy
import functools
import hashlib
import numbers
import os
import sys
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core._kernels import dense_summary


class ColumnStats(NamedTuple):
    """Per-column sums and sums of squares of a dense X, in its dtype, from
    the pass that checks it (:func:`check_visible_domain`)."""

    sums: np.ndarray
    squares: np.ndarray


#: Values this many machine epsilons outside [0, 1] are rounding, not data.
_ROUNDING_ULPS = 8


def _extremes(X, estimator_name, column_stats):
    """``(lo, hi, ColumnStats or None)`` of finite X (a ValueError, scikit-
    learn's, otherwise). Dense C-contiguous data take one compiled pass
    (:func:`._core._kernels.dense_summary`), which also gives the column
    sums and sums of squares when asked; anything else the numpy
    reductions."""
    values = X.data if sp.issparse(X) else X
    if (
        not sp.issparse(X)
        and X.ndim == 2
        and X.dtype in (np.float32, np.float64)
        and X.flags.c_contiguous
    ):
        lo, hi, sums, squares = dense_summary(X)
        if np.isfinite(lo) and np.isfinite(hi) and not np.isnan(sums).any():
            return lo, hi, ColumnStats(sums, squares) if column_stats else None
    assert_all_finite(values, input_name="X", estimator_name=estimator_name)
    return values.min(), values.max(), None


def check_visible_domain(X, visible, estimator_name, *, column_stats=False):
    """Raise a ValueError for data that are not finite, or outside the
    visible units' domain.

    Bernoulli units take values in [0, 1]; values outside it by no more
    than floating-point rounding (``_ROUNDING_ULPS`` epsilons of the dtype,
    as MinMaxScaler produces) are clipped into it, on a copy. Gaussian
    units take any real value, but their energies hold ``||x||^2 / 2``:
    values so large that it overflows (about 1e154 in float64, 1e19 in
    float32) are refused, since no energy, likelihood or update could be
    finite. ``X`` has already been through ``validate_data`` (numeric; the
    finiteness check is done here, in the same pass as the extremes, with
    scikit-learn's error). Returns X or its clipped copy; with
    ``column_stats``, ``(X, stats)``: X's :class:`ColumnStats` (the sums the
    bits of ``X.sum(axis=0)``) where that pass gave them, else None.
    """
    values = X.data if sp.issparse(X) else X
    if not values.size:
        return (X, None) if column_stats else X
    lo, hi, stats = _extremes(X, estimator_name, column_stats)
    if visible != "bernoulli":
        largest = max(abs(float(lo)), abs(float(hi)))
        limit = float(np.sqrt(np.finfo(values.dtype).max / (4 * X.shape[1])))
        if largest > limit:
            raise ValueError(
                f"Values too large for Gaussian visible units in data passed to "
                f"{estimator_name} (largest |x| = {largest:.3g}, limit "
                f"{limit:.3g} for {X.shape[1]} {values.dtype} features): their "
                "energies overflow. Standardise the data, e.g. with "
                "StandardScaler."
            )
        return (X, stats) if column_stats else X
    tol = _ROUNDING_ULPS * np.finfo(values.dtype).eps
    if lo < -tol:
        raise ValueError(
            f"Negative values in data passed to {estimator_name}"
            f"(visible='bernoulli') (minimum {lo:g}): Bernoulli visible units "
            "need X in [0, 1]. Scale the data, e.g. with MinMaxScaler(clip=True) "
            "(clip: new data can fall outside the training range), or use "
            "visible='gaussian' for standardised data."
        )
    if hi > 1 + tol:
        raise ValueError(
            f"Values above 1 in data passed to {estimator_name}"
            f"(visible='bernoulli') (maximum {hi:g}): Bernoulli visible units "
            "need X in [0, 1] (binary data or probabilities). Scale the data, "
            "e.g. with MinMaxScaler(clip=True) (clip: new data can fall outside "
            "the training range), or use visible='gaussian' for "
            "standardised data."
        )
    if lo < 0 or hi > 1:
        # within rounding of [0, 1] (MinMaxScaler returns 1.0000000000000002):
        # accepted and clipped, on a copy (whose sums are not those above)
        X = X.copy()
        np.clip(
            X.data if sp.issparse(X) else X, 0, 1, out=X.data if sp.issparse(X) else X
        )
        stats = None
    return (X, stats) if column_stats else X


def restore_on_error(method):
    """Make a fit method all-or-nothing.

    On any exception, ``KeyboardInterrupt`` included, the estimator's
    attributes are put back as they were before the call, then the exception
    propagates: an interrupted or diverged ``fit`` leaves an unfitted
    estimator unfitted and a fitted one with its previous fit. The fitted
    state (everything but the constructor's parameters) is saved as a deep
    copy, since ``partial_fit`` updates its arrays in place.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        names = set(self.get_params(deep=False))
        saved = {
            k: v if k in names else copy.deepcopy(v) for k, v in self.__dict__.items()
        }
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ours(frame):
    """A frame of this package, or of scikit-learn's ``_fit_context`` wrapper."""
    code = frame.f_code
    if code.co_filename.startswith(_PACKAGE_DIR):
        return True
    module = frame.f_globals.get("__name__")
    return code.co_name == "wrapper" and module == "sklearn.base"


def warn_caller(message, category):
    """``warnings.warn`` pointing at the first frame outside this package.

    Fit methods sit under decorators (``_fit_context``, ``restore_on_error``)
    and helpers, so no fixed ``stacklevel`` would reach the user's line.
    """
    level, frame = 2, sys._getframe(1)  # 2: the caller of warn_caller
    while frame is not None and _ours(frame):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def content_key(*parts):
    """A short hex digest of arrays (their dtype, shape and bytes) and
    scalars: a cache key that changes whenever the content does, including
    edits made in place."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()


def seed_key(seed):
    """A cache key for a ``random_state`` value: the integer, or the state of
    a RandomState instance (never its ``id``, which Python reuses)."""
    if seed is None or isinstance(seed, numbers.Integral):
        return repr(seed)
    if isinstance(seed, np.random.RandomState):
        name, keys, pos, gauss, cached = seed.get_state()
        return content_key(name, keys, pos, gauss, cached)
    return None  # not cacheable


#: Parameters of the Boltzmann estimators that fix the fitted model's shape
#: or energy: changing one after fit needs a new fit.
STRUCTURAL_PARAMS = ("n_components", "visible")


def check_fitted_params(estimator):
    """Check that ``estimator`` is fitted and that its current parameters may
    be used with its fitted model.

    Every parameter is validated again (``set_params`` does not validate, and
    prediction reads some of them, the temperature first among them); a
    structural parameter (:data:`STRUCTURAL_PARAMS`) changed since the fit
    raises a ValueError that says so. The others (``temperature``,
    ``n_jobs``, ``verbose`` and the training settings, which the next
    ``partial_fit`` uses) may change after fit.
    """
    check_is_fitted(estimator)
    estimator._validate_params()
    fitted = getattr(estimator, "_fitted_structure", {})
    for name, value in fitted.items():
        current = getattr(estimator, name)
        if current != value:
            raise ValueError(
                f"{type(estimator).__name__} was fitted with {name}={value!r}, "
                f"but {name} is now {current!r}: the fitted model cannot change "
                f"it. Call fit to use {name}={current!r}, or set it back."
            )


def check_representable(values, temperature, what, limit_dtype=None):
    """``values``, or a ValueError naming the temperature if they overflowed.

    Energies and log-probabilities scale as ``1 / T`` (and Gaussian samples
    as ``sqrt(T)``): at extreme temperatures the exact result can lie beyond
    the dtype's range, and a clear error is better than ``inf``.
    ``limit_dtype`` is the dtype the result will be returned in, when it is
    computed in a wider one.
    """
    dtype = np.dtype(values.dtype if limit_dtype is None else limit_dtype)
    finite = np.isfinite(values).all()
    if finite and values.size and np.abs(values).max() > np.finfo(dtype).max:
        finite = False
    if not finite:
        raise ValueError(
            f"The {what} is beyond the range of {dtype} at "
            f"temperature={temperature!r}: it scales with the temperature. "
            "Use a temperature closer to 1, or float64 data."
        )
    return values


def check_not_array_api(*arrays):
    """A clear error for array-API input (torch, cupy, array_api_strict ...)
    under ``sklearn.set_config(array_api_dispatch=True)``: this package
    computes with NumPy and SciPy only, and does not support it yet."""
    if not get_config().get("array_api_dispatch", False):
        return
    for a in arrays:
        if hasattr(a, "__array_namespace__") and not isinstance(a, np.ndarray):
            raise ValueError(
                f"Array-API input ({type(a).__module__}.{type(a).__name__}) is "
                "not supported yet by sklearn_thermo: it computes with NumPy "
                "and SciPy. Pass NumPy arrays (np.asarray(x), on the CPU) or "
                "set array_api_dispatch=False."
            )


def validate_numpy_data(estimator, X, y="no_validation", **kwargs):
    """scikit-learn's ``validate_data``, refusing array-API input clearly."""
    check_not_array_api(X, y)
    return validate_data(estimator, X, y, **kwargs)
