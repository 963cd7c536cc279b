"""
Grid search over temperature, on this machine and on a dask cluster
===================================================================

``temperature`` is an ordinary hyper-parameter, so ``GridSearchCV`` can tune
it. Here it tunes the temperature of an
:class:`~sklearn_thermo.EnergyClassifier` for the log-loss, first with
joblib's default backend, then on a ``dask.distributed`` ``LocalCluster``
through joblib's dask backend (the same code runs on a real cluster by
giving ``Client`` its address). Both runs find the same best temperature and
the same scores; the plot shows the cross-validated log-loss against ``T``.

What the search tunes: a Bernoulli model depends on its parameters over ``T``
only, so a fit at ``T`` is the fit at ``T = 1`` with ``weight_decay * T^2``
(the user guide, "Temperature at fit time"). The hotter fits are the more
strongly penalised ones, and the plot shows whether the penalty pays.
"""

import warnings

import joblib
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_thermo import EnergyClassifier

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = X / 16.0
grid = {"temperature": [0.25, 0.5, 1.0, 2.0, 4.0]}


def search():
    return GridSearchCV(
        EnergyClassifier(
            n_components=32, method="discriminative", max_iter=5, random_state=0
        ),
        grid,
        cv=3,
        scoring="neg_log_loss",
        n_jobs=-1,
    )


local = search().fit(X, y)
runs = {"local (loky)": local}
try:
    from dask.distributed import Client, LocalCluster
except ImportError:
    print("dask.distributed is not installed: local run only")
else:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            runs["dask LocalCluster"] = search().fit(X, y)
for name, result in runs.items():
    print(f"{name:18s} best {result.best_params_}, log-loss {-result.best_score_:.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for (name, result), style in zip(runs.items(), ["o-", "x--"]):
    ax.plot(
        grid["temperature"], -result.cv_results_["mean_test_score"], style, label=name
    )
ax.set_xscale("log")
ax.set_xlabel("temperature T")
ax.set_ylabel("cross-validated log-loss")
ax.legend()
fig.tight_layout()
plt.show()
