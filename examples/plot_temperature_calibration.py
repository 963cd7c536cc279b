"""
Temperature: grid search and reliability diagrams
=================================================

A :class:`~sklearn_thermo.TemperedSoftmaxClassifier` with little
regularisation is overconfident on held-out digits: its probabilities are
too close to 0 and 1. Two ways to fix the temperature ``T`` of
``p(y|x) = softmax(f(x) / T)``:

- a grid search over ``temperature`` with ``scoring="neg_log_loss"`` (at a
  fixed ``alpha`` the temperature acts as regularisation, so this refits
  ``W`` at every ``T``);
- ``temperature="auto"``: fit ``W`` at ``T = 1`` on internal folds, then
  choose ``T`` on their held-out scores (temperature scaling), and predict
  with the mean of the fold models' tempered probabilities
  (``ensemble=False`` keeps one model fitted on all the data, whose
  predicted class a temperature never changes).

The reliability diagrams compare the three on the test split.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_thermo import TemperedSoftmaxClassifier
from sklearn_thermo.calibration import ReliabilityDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.3, random_state=0, stratify=y
)

raw = TemperedSoftmaxClassifier(temperature=1.0, alpha=1e-6).fit(X_train, y_train)
search = GridSearchCV(
    TemperedSoftmaxClassifier(alpha=1e-6),
    {"temperature": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]},
    scoring="neg_log_loss",
    cv=3,
).fit(X_train, y_train)
auto = TemperedSoftmaxClassifier(temperature="auto", alpha=1e-6).fit(X_train, y_train)
print(f"grid search: best temperature {search.best_params_['temperature']}")
print(f"temperature='auto': temperature_ = {auto.temperature_:.2f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4.3), sharey=True)
for ax, model, name in zip(
    axes,
    (raw, search.best_estimator_, auto),
    (
        "T = 1",
        f"grid search, T = {search.best_params_['temperature']}",
        f"auto, T = {auto.temperature_:.2f}",
    ),
):
    ReliabilityDisplay.from_estimator(
        model, X_test, y_test, n_bins=10, ax=ax, name=name
    )
fig.suptitle("Reliability on held-out digits (top-label)")
fig.tight_layout()
plt.show()
