"""
Hard and soft operators at several temperatures
===============================================

Every operator in :mod:`sklearn_thermo.ops` has a temperature ``T``. At
``T = 0`` it is its hard limit (step, ReLU, max, argmax); as ``T`` grows it
softens; as ``T -> infinity`` the distributions become uniform. The panels
draw the sigmoid and softplus of a scalar, the smooth maximum
``logsumexp_T(x, 0)`` of two scores, and the softmax of four fixed scores,
each at five temperatures.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_thermo import ops

x = np.linspace(-3, 3, 601)
temperatures = [0.0, 0.25, 0.5, 1.0, 2.0]
colors = plt.cm.viridis(np.linspace(0, 0.9, len(temperatures)))

fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
for T, c in zip(temperatures, colors):
    label = f"T = {T:g}" + (" (hard)" if T == 0 else "")
    axes[0].plot(x, ops.sigmoid(x, T), color=c, label=label)
    axes[1].plot(x, ops.softplus(x, T), color=c, label=label)
    pair = np.stack([x, np.zeros_like(x)], axis=1)
    axes[2].plot(x, ops.logsumexp(pair, T, axis=1), color=c, label=label)
axes[0].set_title("sigmoid_T(x): step at T = 0")
axes[1].set_title("softplus_T(x): ReLU at T = 0")
axes[2].set_title("logsumexp_T(x, 0): max at T = 0")
for ax in axes[:3]:
    ax.set_xlabel("x")
axes[0].legend(fontsize=8)

scores = np.array([2.0, 1.5, 0.0, -1.0])
width = 0.8 / len(temperatures)
for i, (T, c) in enumerate(zip(temperatures + [8.0], list(colors) + ["0.6"])):
    p = ops.softmax(scores, T)
    axes[3].bar(np.arange(4) + (i - 2.5) * width, p, width, color=c, label=f"T = {T:g}")
axes[3].set_xticks(np.arange(4), [f"s = {s:g}" for s in scores])
axes[3].set_title("softmax_T(s): argmax at T = 0, uniform as T grows")
axes[3].legend(fontsize=7)
fig.tight_layout()
plt.show()
