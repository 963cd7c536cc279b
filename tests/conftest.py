"""Test-session setup shared by every test module."""

import os

import joblib
from threadpoolctl import threadpool_limits


def _xdist_share():
    """Cores per pytest-xdist worker (None outside xdist)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers is None:
        return None
    return max(joblib.cpu_count(only_physical_cores=True) // int(workers), 1)


def pytest_configure(config):
    # As scikit-learn's own conftest does: under pytest-xdist each worker gets
    # its share of the cores for BLAS and OpenMP, so that the workers' thread
    # pools do not oversubscribe the machine (the core reads these limits as
    # its thread budget; tests that need more threads ask with n_jobs)
    share = _xdist_share()
    if share is not None:
        threadpool_limits(share)
        # and the same share for the subprocesses the tests start (the docs
        # build, the main job's entry point), which inherit the environment
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(share))
