"""
Out-of-core training from a memory-mapped file
==============================================

A :class:`~sklearn_thermo.BoltzmannMachine` can learn from data that does not
fit in memory: the rows sit in a ``numpy.memmap`` on disk, chunks of them are
read in turn, and ``partial_fit`` makes one update per mini-batch. Setting
the learning rate and momentum before each pass (``set_params``) reproduces
the schedules of ``fit``. The plot follows the exact held-out log-likelihood
(16 hidden units, so ``log Z`` is enumerated) after each pass, against
``fit`` on the same data held in memory.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_thermo import BoltzmannMachine

X, _ = load_digits(return_X_y=True)
X_train, X_test = train_test_split(
    (X > 7).astype(np.float64), test_size=0.3, random_state=0
)
epochs, batch, lr, chunk_rows = 15, 20, 0.05, 256

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "train.dat"
    disk = np.memmap(path, dtype=np.float64, mode="w+", shape=X_train.shape)
    disk[:] = X_train
    disk.flush()
    del disk
    disk = np.memmap(path, dtype=np.float64, mode="r", shape=X_train.shape)

    streamed = BoltzmannMachine(n_components=16, batch_size=batch, random_state=0)
    rng = np.random.default_rng(0)
    curve = []
    for epoch in range(epochs):
        streamed.set_params(
            learning_rate=lr * (1 - epoch / epochs), momentum=0.5 if epoch < 5 else 0.9
        )
        for start in rng.permutation(np.arange(0, len(disk), chunk_rows)):
            chunk = np.asarray(disk[start : start + chunk_rows])
            chunk = chunk[rng.permutation(len(chunk))]
            for b in range(0, len(chunk), batch):
                streamed.partial_fit(chunk[b : b + batch])
        curve.append(streamed.score(X_test))
    del disk

in_memory = [
    BoltzmannMachine(
        n_components=16, max_iter=e, batch_size=batch, learning_rate=lr, random_state=0
    )
    .fit(X_train)
    .score(X_test)
    for e in (5, 10, 15)
]
print(f"held-out log p(x): streamed {curve[-1]:.2f}, fit {in_memory[-1]:.2f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, epochs + 1), curve, "o-", label="partial_fit from a memmap")
ax.plot([5, 10, 15], in_memory, "s--", label="fit in memory (max_iter = 5, 10, 15)")
ax.set_xlabel("passes over the data")
ax.set_ylabel("held-out log p(x) (nats)")
ax.legend()
fig.tight_layout()
plt.show()
