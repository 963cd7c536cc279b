"""Thread counts, per-block random streams and a block-parallel map.

This module knows nothing of scikit-learn. It holds the one place that decides
how many threads the CD core uses, and the machinery that makes results
independent of that number: work is cut into blocks of units whose
boundaries depend only on the shape of the work, each block runs its own
single-threaded GEMM, and block ``k`` always draws from stream ``k``.
"""

from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits  # with scikit-learn

#: Number of independent random streams, hence the most blocks a phase splits into.
MAX_BLOCKS = 16
#: Multiply-adds per block below which splitting costs more than it saves.
MIN_BLOCK_WORK = 1 << 20
#: Narrowest block of columns worth a GEMM of its own.
MIN_BLOCK_WIDTH = 64


_BLAS_WARM = False


def _warm_single_threaded_blas():
    """One float64 256^3 product, once per process, under the one-thread cap.

    Measured with OpenBLAS 0.3.30/0.3.31 (numpy and scipy wheels): the first
    single-threaded level-3 calls of a process run at half speed until one
    large product has run (it sets up OpenBLAS's buffers; small products do
    not). The block GEMMs of the core are all moderately small, so they would
    stay slow for the whole fit without this (about 2 ms, once).
    """
    global _BLAS_WARM
    if not _BLAS_WARM:
        A = np.ones((256, 256))
        np.matmul(A, A)
        _BLAS_WARM = True


def _thread_budget():
    """Threads this process may use without oversubscribing the machine.

    Inside a joblib (loky) worker of an outer parallel loop, joblib lowers the
    BLAS/OpenMP thread limits of the worker; reading them back keeps nested
    parallelism (``GridSearchCV(n_jobs=-1)`` around a fit) at one thread per
    core.
    """
    n_cpus = joblib.cpu_count()
    limits = [
        info["num_threads"]
        for info in threadpool_info()
        if info.get("user_api") in ("blas", "openmp") and info.get("num_threads")
    ]
    return max(1, min([n_cpus, *limits]))


def effective_n_threads(n_jobs):
    """The number of threads for ``n_jobs``.

    ``None`` uses the whole budget of this process (all cores, or fewer when
    running inside an outer parallel loop); a negative value counts back from
    it (``-1``: all of it, ``-2``: all but one); a positive value is taken as
    given, up to the number of CPUs.
    """
    if n_jobs is None:
        return _thread_budget()
    if n_jobs < 0:
        return max(1, _thread_budget() + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or a positive int.")
    return max(1, min(int(n_jobs), joblib.cpu_count()))


def make_streams(seed, n=MAX_BLOCKS):
    """``n`` independent generators spawned from one integer seed."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [np.random.Generator(np.random.PCG64(s)) for s in children]


def column_blocks(width, work):
    """Split ``width`` columns (units) into contiguous blocks for ``work`` MACs.

    Depends on the shape of the work only, never on the thread count, so that
    block ``k`` (drawing from stream ``k``, with its own single-threaded GEMM)
    computes the same numbers for any ``n_jobs``.
    """
    n_blocks = min(MAX_BLOCKS, work // MIN_BLOCK_WORK, width // MIN_BLOCK_WIDTH)
    # a power of two balances evenly over 2, 4, 8 ... threads
    n_blocks = 1 << (int(max(1, n_blocks)).bit_length() - 1)
    edges = np.linspace(0, width, n_blocks + 1).astype(np.intp)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class BlockRunner:
    """Runs ``fn(block_slice, stream)`` over column blocks on a thread pool.

    Used as a context manager: inside it, BLAS is capped at one thread (the
    pattern of scikit-learn's KMeans), because the work, matrix products
    included, is split over this runner's threads; no BLAS thread then spins
    beside them, and a block's result does not depend on how many threads
    there are. The pool lives as long as the runner (one fit), so no threads
    are created per batch. With one thread, or one block, blocks run inline.
    """

    def __init__(self, n_threads, seed=None):
        self.n_threads = int(n_threads)
        # streams only where there is randomness (``map``); ``each`` needs none
        self.streams = None if seed is None else make_streams(seed)
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None
        self._blocks = {}
        self._limits = None

    def blocks(self, width, work):
        key = (width, work)
        if key not in self._blocks:
            self._blocks[key] = column_blocks(width, work)
        return self._blocks[key]

    def map(self, fn, width, work):
        """``fn(cols, stream)`` for the column blocks of ``width`` columns."""
        blocks = self.blocks(width, work)
        if self._pool is None or len(blocks) == 1:
            for k, sl in enumerate(blocks):
                fn(sl, self.streams[k])
            return
        futures = [
            self._pool.submit(fn, sl, self.streams[k]) for k, sl in enumerate(blocks)
        ]
        for f in futures:
            f.result()

    def each(self, fn, items):
        """``fn(item)`` for every item, on the pool; for work without randomness."""
        if self._pool is None or len(items) < 2:
            for item in items:
                fn(item)
            return
        for f in [self._pool.submit(fn, item) for item in items]:
            f.result()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def __enter__(self):
        self._limits = threadpool_limits(limits=1, user_api="blas")
        _warm_single_threaded_blas()
        return self

    def __exit__(self, *exc):
        self.close()
