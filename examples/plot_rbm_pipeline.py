"""
RBM features for a linear classifier: Pipeline against raw pixels
=================================================================

scikit-learn's own example "Restricted Boltzmann Machine features for digit
classification", redone with :class:`~sklearn_thermo.BoltzmannMachine`: a
``Pipeline(BoltzmannMachine -> LogisticRegression)`` against
``LogisticRegression`` on the raw pixels, on digits scaled to ``[0, 1]``; the
pixels and the RBM's features side by side (``FeatureUnion``); and the RBM's
features read at other temperatures (``transform`` gives ``P(h = 1 | x)`` at
``T``). The bars show test accuracy. On this small, clean data set a linear
model on the pixels is hard to beat; the RBM's unsupervised features are a
compressed view of the same information.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from sklearn_thermo import BoltzmannMachine

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.2, random_state=0
)

raw = LogisticRegression(max_iter=2000).fit(X_train, y_train)
pipe = Pipeline(
    [
        ("rbm", BoltzmannMachine(n_components=256, max_iter=20, random_state=0)),
        ("logistic", LogisticRegression(max_iter=2000)),
    ]
)
pipe.fit(X_train, y_train)
both = Pipeline(
    [
        (
            "features",
            FeatureUnion(
                [
                    ("pixels", "passthrough"),
                    (
                        "rbm",
                        BoltzmannMachine(n_components=256, max_iter=20, random_state=0),
                    ),
                ]
            ),
        ),
        ("logistic", LogisticRegression(max_iter=2000)),
    ]
).fit(X_train, y_train)
results = {
    "raw pixels": raw.score(X_test, y_test),
    "RBM features": pipe.score(X_test, y_test),
    "pixels + RBM features": both.score(X_test, y_test),
}
rbm = pipe.named_steps["rbm"]
for T in (0.5, 2.0):
    # the same fitted RBM, its features read at another temperature; only the
    # classifier is refitted
    rbm.set_params(temperature=T)
    clf = LogisticRegression(max_iter=2000).fit(rbm.transform(X_train), y_train)
    results[f"RBM features, T = {T:g}"] = clf.score(rbm.transform(X_test), y_test)
rbm.set_params(temperature=1.0)
for name, acc in results.items():
    print(f"{name:24s} {acc:.4f}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(list(results), list(results.values()), color="tab:blue")
ax.set_xlim(0.85, 1.0)
ax.set_xlabel("test accuracy of LogisticRegression")
for i, acc in enumerate(results.values()):
    ax.text(acc + 0.002, i, f"{acc:.3f}", va="center")
fig.tight_layout()
plt.show()
