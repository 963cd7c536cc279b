"""Beyond one machine and beyond memory: dask grid search, memmap streaming."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_thermo import BoltzmannMachine, EnergyClassifier


@pytest.mark.slow
def test_grid_search_over_temperature_on_a_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]

    def search():
        return GridSearchCV(
            EnergyClassifier(
                n_components=16, method="discriminative", max_iter=3, random_state=0
            ),
            {"temperature": [0.25, 1.0, 4.0]},
            cv=3,
            scoring="neg_log_loss",
            n_jobs=-1,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = search().fit(X, y)
        with warnings.catch_warnings():
            # dask's own deprecations are not ours to fail on
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            with (
                distributed.LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=False,
                    # any free port: None means the default 8787, which
                    # another process (a second pytest worker) may hold
                    dashboard_address=":0",
                ) as cluster,
                distributed.Client(cluster),
                joblib.parallel_backend("dask"),
            ):
                remote = search().fit(X, y)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"],
        local.cv_results_["mean_test_score"],
        rtol=1e-12,
    )


@pytest.mark.slow
def test_out_of_core_partial_fit_from_a_memmap_matches_fit(tmp_path):
    X, _ = load_digits(return_X_y=True)
    X = (X > 7).astype(np.float64)
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    epochs, batch, lr = 10, 20, 0.05
    in_memory = BoltzmannMachine(
        n_components=16,
        max_iter=epochs,
        batch_size=batch,
        learning_rate=lr,
        random_state=0,
    ).fit(X_train)

    path = tmp_path / "train.dat"
    disk = np.memmap(path, dtype=np.float64, mode="w+", shape=X_train.shape)
    disk[:] = X_train
    disk.flush()
    del disk
    disk = np.memmap(path, dtype=np.float64, mode="r", shape=X_train.shape)
    streamed = BoltzmannMachine(n_components=16, batch_size=batch, random_state=0)
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        # fit's schedules, by hand: linear decay and momentum warm-up
        streamed.set_params(
            learning_rate=lr * (1 - epoch / epochs), momentum=0.5 if epoch < 5 else 0.9
        )
        for start in rng.permutation(np.arange(0, len(disk), 256)):
            chunk = np.asarray(disk[start : start + 256])  # one chunk in memory
            chunk = chunk[rng.permutation(len(chunk))]
            for b in range(0, len(chunk), batch):
                streamed.partial_fit(chunk[b : b + batch])
    # exact held-out log-likelihood (16 hidden units are enumerated)
    assert streamed.score(X_test) > in_memory.score(X_test) - 1.0
    assert streamed.score(X_test) > BoltzmannMachine(
        n_components=16, max_iter=1, random_state=0
    ).fit(X_train).score(X_test)
