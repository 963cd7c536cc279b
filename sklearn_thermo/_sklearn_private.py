"""scikit-learn's private helpers this package uses, imported in one place.

``_fit_context``, the parameter-validation classes, ``_check_sample_weight``
and ``check_matplotlib_support`` are private to scikit-learn and may move in
a release. They are imported here only, so that such a move gives one clear
error naming the versions this package is tested with (the floor is tested
in CI's second environment; see ``.ci/min-versions.txt``) instead of an
ImportError deep in a module.
"""

import sklearn

TESTED = "scikit-learn 1.6 to 1.9"

try:
    from sklearn.base import _fit_context
    from sklearn.utils._optional_dependencies import check_matplotlib_support
    from sklearn.utils._param_validation import Interval, StrOptions, validate_params
    from sklearn.utils.validation import _check_sample_weight
except ImportError as e:  # pragma: no cover - depends on the installed version
    raise ImportError(
        f"sklearn_thermo is tested with {TESTED}; scikit-learn "
        f"{sklearn.__version__} has moved a private helper it uses ({e}). "
        "Install a tested scikit-learn version, or a newer sklearn_thermo."
    ) from e

__all__ = [
    "Interval",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "check_matplotlib_support",
    "validate_params",
]
