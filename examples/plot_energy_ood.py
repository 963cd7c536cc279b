"""
Energy scores for out-of-distribution detection, and class-conditional samples
==============================================================================

An :class:`~sklearn_thermo.EnergyClassifier` (a classification RBM, hybrid
training) is fitted on scikit-learn's digits 0-4 only. Its energy score

.. math::

    s(x) = \\log \\sum_y e^{-F(x, y) / T}

is high for inputs the model finds typical. The left panel shows the scores
of held-out digits 0-4 (seen classes) and of digits 5-9 (never seen): the
unseen classes score lower, and the AUROC of the score for telling them
apart is printed beside that of the maximum softmax probability of the same
model. The right panel shows samples drawn from ``p(x | y)`` by Gibbs
sampling with the label units clamped to each seen class.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_thermo import EnergyClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, test_size=0.3, random_state=0
)
seen = y_train < 5
clf = EnergyClassifier(n_components=128, max_iter=40, random_state=0)
clf.fit(X_train[seen], y_train[seen])

score = clf.score_samples(X_test)
inside = y_test < 5
auroc_energy = roc_auc_score(inside, score)
auroc_msp = roc_auc_score(inside, clf.predict_proba(X_test).max(axis=1))
print(f"accuracy on held-out 0-4: {clf.score(X_test[inside], y_test[inside]):.3f}")
print(f"AUROC, energy score: {auroc_energy:.3f}; max softmax: {auroc_msp:.3f}")

samples, labels = clf.sample(
    50, y=np.repeat(np.arange(5), 10), n_steps=1000, random_state=0
)

fig = plt.figure(figsize=(11, 4.5))
ax = fig.add_subplot(1, 2, 1)
bins = np.linspace(score.min(), score.max(), 40)
ax.hist(score[inside], bins=bins, alpha=0.6, label="held-out 0-4 (seen)")
ax.hist(score[~inside], bins=bins, alpha=0.6, label="5-9 (never seen)")
ax.set_xlabel("energy score  log sum_y exp(-F(x, y) / T)")
ax.set_ylabel("digits")
ax.set_title(f"AUROC {auroc_energy:.3f} (max softmax {auroc_msp:.3f})")
ax.legend()
grid = samples.reshape(5, 10, 8, 8).transpose(0, 2, 1, 3).reshape(40, 80)
ax = fig.add_subplot(1, 2, 2)
ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
ax.set_yticks(np.arange(5) * 8 + 3.5, [f"y = {k}" for k in range(5)])
ax.set_xticks([])
ax.set_title("samples from p(x | y), label clamped")
fig.tight_layout()
plt.show()
