"""Input checks shared by the estimators (beyond scikit-learn's validators)."""

import scipy.sparse as sp


def check_visible_domain(X, visible, estimator_name):
    """Bernoulli visible units take values in [0, 1]: raise a ValueError otherwise.

    ``X`` has already been through ``validate_data`` (finite, numeric);
    returns it unchanged.
    """
    if visible != "bernoulli":
        return X
    values = X.data if sp.issparse(X) else X
    if not values.size:
        return X
    lo, hi = values.min(), values.max()
    if lo < 0:
        raise ValueError(
            f"Negative values in data passed to {estimator_name}"
            f"(visible='bernoulli') (minimum {lo:g}): Bernoulli visible units "
            "need X in [0, 1]. Scale the data, e.g. with MinMaxScaler, or use "
            "visible='gaussian' for standardised data."
        )
    if hi > 1:
        raise ValueError(
            f"Values above 1 in data passed to {estimator_name}"
            f"(visible='bernoulli') (maximum {hi:g}): Bernoulli visible units "
            "need X in [0, 1] (binary data or probabilities). Scale the data, "
            "e.g. with MinMaxScaler, or use visible='gaussian' for "
            "standardised data."
        )
    return X
