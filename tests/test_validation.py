"""Shared input checks and warnings of ``sklearn_thermo._validation``."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_thermo import EnergyClassifier, TemperedSoftmaxClassifier


@pytest.mark.parametrize(
    "est",
    [
        EnergyClassifier(
            n_components=4,
            max_iter=1,
            learning_rate_schedule="constant",
            random_state=0,
        ),
        TemperedSoftmaxClassifier(max_iter=1),
    ],
    ids=type,
)
def test_convergence_warning_points_at_the_callers_line(est):
    # through _fit_context, restore_on_error and helpers, the warning must
    # name this file (the user's call), not a module of the package
    rng = np.random.default_rng(0)
    X = rng.random((40, 5))
    y = np.arange(40) % 3
    with pytest.warns(ConvergenceWarning) as record:
        est.fit(X, y)
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {
        __file__
    }
