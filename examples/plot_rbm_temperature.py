"""
RBM filters on digits, and samples drawn at several temperatures
================================================================

A :class:`~sklearn_thermo.BoltzmannMachine` is trained on scikit-learn's
digits (grey levels scaled to [0, 1]). The first row shows some of its
filters (rows of ``components_``). The next rows show samples drawn by Gibbs
sampling at temperatures below, at and above the training temperature: cold
samples collapse onto a few sharp prototypes, hot ones dissolve into noise,
because ``p(v) ∝ exp(-F(v) / T)`` sharpens as ``T -> 0`` and flattens as
``T -> ∞``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_thermo import BoltzmannMachine

X, _ = load_digits(return_X_y=True)
X = X / 16.0

rbm = BoltzmannMachine(n_components=100, max_iter=30, random_state=0).fit(X)

temperatures = [0.5, 1.0, 2.0]
n_cols = 10
fig, axes = plt.subplots(1 + len(temperatures), n_cols, figsize=(10, 4.6))
for ax, w in zip(axes[0], rbm.components_[:n_cols]):
    ax.imshow(w.reshape(8, 8), cmap="RdBu_r")
axes[0, 0].set_ylabel("filters", rotation=0, ha="right")
for row, T in zip(axes[1:], temperatures):
    rbm.set_params(temperature=T)
    samples = rbm.sample(n_cols, n_steps=500, random_state=1)
    for ax, s in zip(row, samples):
        ax.imshow(s.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    row[0].set_ylabel(f"T = {T:g}", rotation=0, ha="right")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("BoltzmannMachine on digits: filters, and samples at three temperatures")
fig.tight_layout()
print(
    f"mean pixel of samples at T = {temperatures}:",
    [
        float(
            np.round(
                rbm.set_params(temperature=T)
                .sample(200, n_steps=200, random_state=0)
                .mean(),
                3,
            )
        )
        for T in temperatures
    ],
)
plt.show()
