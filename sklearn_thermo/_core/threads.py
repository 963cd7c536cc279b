"""Thread counts, random keys and streams, and the runner of the CD core.

This module knows nothing of scikit-learn. It holds the one place that decides
how many threads the CD core uses (:func:`effective_n_threads`, then per call
:class:`ThreadChooser`), and the machinery that makes results independent of
that number: the compiled kernels draw counter-based random numbers from one
key per call (:meth:`BlockRunner.next_key`), and work done in Python threads is
cut into row blocks whose boundaries depend only on the array's shape.
"""

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import joblib
import numpy as np
from joblib.parallel import get_active_backend
from threadpoolctl import ThreadpoolController  # with scikit-learn

from ._kernels import mix64

_MASK64 = (1 << 64) - 1
_POLL_SECONDS = 0.05  # how often a wait for the pool looks for interrupts
_GAMMA = 0x9E3779B97F4A7C15

#: Number of independent random streams, hence the most blocks a phase splits into.
MAX_BLOCKS = 16
#: Largest seed drawn from a RandomState for a runner, a split or a generator.
SEED_MAX = np.iinfo(np.int32).max
#: Default elements per row block below which splitting costs more than it
#: saves (a dispatch to a Python thread costs tens of microseconds).
MIN_BLOCK_ELEMENTS = 1 << 17


def _thread_budget():
    """Threads this process may use without oversubscribing the machine.

    Inside a joblib (loky) worker of an outer parallel loop, joblib lowers the
    BLAS/OpenMP thread limits of the worker; reading them back keeps nested
    parallelism (``GridSearchCV(n_jobs=-1)`` around a fit) at one thread per
    core.
    """
    n_cpus = joblib.cpu_count()
    saved = _BLAS_CAP.original  # while the core caps BLAS, the limits before it
    limits = [
        saved.get(id(lib), lib.num_threads) if saved else lib.num_threads
        for lib in _controller().lib_controllers
        if lib.user_api in ("blas", "openmp") and lib.num_threads
    ]
    return max(1, min([n_cpus, *limits]))


_CONTROLLER = None


def _controller():
    """One ThreadpoolController per process (finding the libraries is slow;
    reading their current thread limits from it is not)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


class _BlasCap:
    """BLAS capped at one thread while any runner of this process needs it.

    The cap is process-wide (BLAS libraries have one thread setting), so
    runners in concurrent threads share it: the first to enter sets it, the
    last to leave restores what was there before the first (nested limits
    restored one by one would restore in the wrong order when they interleave).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._limiter = None
        self.original = None  # {id(library controller): threads} under the cap

    def acquire(self):
        with self._lock:
            if self._count == 0:
                libs = _controller().lib_controllers
                self.original = {
                    id(lib): lib.num_threads for lib in libs if lib.user_api == "blas"
                }
                self._limiter = _controller().limit(limits=1, user_api="blas")
            self._count += 1

    def release(self):
        with self._lock:
            self._count -= 1
            if self._count == 0:
                self._limiter.restore_original_limits()
                self._limiter = None
                self.original = None


_BLAS_CAP = _BlasCap()


class blas_capped:
    """Context: BLAS at one thread (shared, see :class:`_BlasCap`)."""

    def __enter__(self):
        _BLAS_CAP.acquire()
        return self

    def __exit__(self, *exc):
        _BLAS_CAP.release()


def effective_n_threads(n_jobs):
    """The number of threads for ``n_jobs``.

    ``None`` takes the ``n_jobs`` of an active ``joblib.parallel_config``
    context if one sets it, else the whole budget of this process (all
    cores, or fewer when running inside an outer parallel loop), as
    scikit-learn's OpenMP-threaded estimators (KMeans,
    HistGradientBoosting) do; a negative value counts back from the budget
    (``-1``: all of it, ``-2``: all but one); a positive value is taken as
    given, up to the number of CPUs.
    """
    if n_jobs is None:
        n_jobs = get_active_backend()[1]
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


#: Elements of one block of :func:`normal_draws`.
_NORMAL_BLOCK_ELEMENTS = 1 << 16


def normal_draws(out, scale, seed, n_threads):
    """Fill ``out`` (C-contiguous, float32 or float64) with ``N(0, scale^2)``
    draws in its own dtype (numpy's ziggurat).

    The rows go in blocks of about ``_NORMAL_BLOCK_ELEMENTS`` elements, each
    drawn from its own stream spawned from ``seed``: the blocks depend on the
    shape only, so the draws do not depend on ``n_threads``, the most
    threads that fill blocks side by side (numpy releases the GIL while it
    fills an array). Faster than ``RandomState.normal`` (polar Box-Muller in
    float64) for the initial weights of a large model.
    """
    rows = out.reshape(out.shape[0], -1)
    step = max(1, _NORMAL_BLOCK_ELEMENTS // max(1, rows.shape[1]))
    blocks = [rows[i : i + step] for i in range(0, len(rows), step)]
    seeds = np.random.SeedSequence(seed).spawn(len(blocks))

    def fill(k):
        gen = np.random.Generator(np.random.PCG64(seeds[k]))
        gen.standard_normal(out=blocks[k], dtype=out.dtype)
        blocks[k] *= scale

    n_threads = min(int(n_threads), len(blocks))
    if n_threads < 2:
        for k in range(len(blocks)):
            fill(k)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(fill, range(len(blocks))))
    return out


def row_blocks(n_rows, width, min_elements=None):
    """Split ``n_rows`` rows of ``width`` columns into contiguous blocks.

    Depends on the shape only, never on the thread count, so that block ``k``
    (drawing from stream ``k``) covers the same rows for any ``n_jobs``. A
    power of two blocks balances evenly over 2, 4, 8 ... threads.
    """
    if min_elements is None:
        min_elements = MIN_BLOCK_ELEMENTS
    n_blocks = min(MAX_BLOCKS, (n_rows * width) // min_elements, n_rows)
    n_blocks = 1 << (int(max(1, n_blocks)).bit_length() - 1)
    edges = np.linspace(0, n_rows, n_blocks + 1).astype(np.intp)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


class ThreadChooser:
    """The thread count of each kind of kernel call, chosen by measurement.

    On a quiet machine the core's threads make each call faster; on a busy
    one (a notebook, a CI runner, ``pytest -n 2``) a thread the OS has paused
    holds up every parallel region it belongs to, and the same call can be
    tens of times slower than in one thread. The kernels give the same result
    for any thread count, so each call may take whichever has been faster
    lately. Per kind of call (a kernel and the order of magnitude of its
    work), the recent times with ``n_threads`` and with one thread are kept
    and the faster count is used; the other is tried again after a while
    of that kind's own calls (an interval of their summed time that doubles,
    up to ``max_interval`` seconds, while the try keeps losing), so that a
    change of load is followed within seconds of work. Counting the kind's
    own time, not the clock's, keeps the tries a small share of the work
    however the calls are spread out: fits a few seconds apart (a notebook,
    a benchmark's repeats) do not each start with a try. A kind seen for the
    first time starts with the count that won last for any kind.
    """

    def __init__(self, n_threads, *, interval=0.1, max_interval=5.0):
        self.n_threads = int(n_threads)
        self._interval, self._max_interval = interval, max_interval
        # kind -> [time with n_threads, time with one, next try (in the
        # kind's summed call time), interval, summed call time]
        self._kinds = {}
        self._last_winner = self.n_threads
        self._lock = threading.Lock()

    def choose(self, kind):
        """The thread count for the next call of ``kind``."""
        if self.n_threads == 1:
            return 1
        with self._lock:
            st = self._kinds.get(kind)
            if st is None or (st[0] is None and st[1] is None):
                return self._last_winner
            best = self._best(st)
            if st[4] >= st[2]:
                return 1 if best != 1 else self.n_threads  # try the other
            return best

    def _best(self, st):
        if st[0] is None or st[1] is None:
            return self.n_threads if st[0] is not None else 1
        return self.n_threads if st[0] <= st[1] else 1

    def record(self, kind, n_threads, seconds):
        """Note that a call of ``kind`` with ``n_threads`` took ``seconds``."""
        if self.n_threads == 1:
            return
        with self._lock:
            st = self._kinds.setdefault(kind, [None, None, 0.0, self._interval, 0.0])
            st[4] += seconds
            i = 0 if n_threads != 1 else 1
            first = st[0] is None and st[1] is None
            was_best = first or self._best(st) == n_threads
            if was_best and st[i] is not None:
                st[i] += 0.25 * (seconds - st[i])  # smoothed: one slow call is noise
            else:
                st[i] = seconds  # a try of the other count replaces its old time
            is_best = self._best(st) == n_threads
            if is_best:
                self._last_winner = n_threads
            if first:
                pass  # try the other count after the first interval
            elif was_best != is_best:
                st[3] = self._interval  # swapped places: check the loser soon
            elif not was_best:
                st[3] = min(2 * st[3], self._max_interval)  # the try lost again
            else:
                return
            st[2] = st[4] + st[3]


def work_kind(name, n_blocks, *sizes):
    """A kind of kernel call for :class:`ThreadChooser`: the kernel, its
    number of blocks and the order of magnitude (power of two) of its work,
    the product of ``sizes``."""
    work = 1
    for n in sizes:
        work *= max(1, int(n))
    return name, n_blocks, work.bit_length()


_CHOOSERS = {}
_CHOOSERS_LOCK = threading.Lock()


def thread_chooser(n_threads):
    """The process's :class:`ThreadChooser` for ``n_threads``: what one fit
    learns about the machine's load, the next one starts from."""
    with _CHOOSERS_LOCK:
        if n_threads not in _CHOOSERS:
            _CHOOSERS[n_threads] = ThreadChooser(n_threads)
        return _CHOOSERS[n_threads]


class Cancelled(Exception):
    """Raised in a worker thread whose caller was interrupted."""


class BlockRunner:
    """Runs ``fn(rows, stream)`` over row blocks on a thread pool.

    For elementwise and random-number work: the blocks call no BLAS (the
    matrix products run outside, on BLAS's own threads). ``each`` is for
    work that does call BLAS: it caps BLAS at one thread while it runs (the
    pattern of scikit-learn's KMeans). The pool lives as long as the runner
    (one fit), so no threads are created per batch. With one thread, or one
    block, blocks run inline in order.
    """

    def __init__(self, n_threads, seed=None, *, limit_blas=True):
        self.n_threads = int(n_threads)
        # streams only where there is randomness; ``each`` needs none
        self.streams = None if seed is None else make_streams(seed)
        # the compiled kernels' counter-based random numbers: one key per call
        self._key = mix64(0 if seed is None else int(seed) & _MASK64)
        self._calls = 0
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None
        self._blocks = {}
        self._limit_blas = limit_blas
        self._capped = False
        # set when the caller stops waiting (an interrupt): long work items
        # poll it (:meth:`check`) so that their threads stop promptly
        self.stop = threading.Event()
        self.chooser = thread_chooser(self.n_threads)

    def call(self, kind, kernel, *args, **kwargs):
        """``kernel(*args, n_threads=..., **kwargs)``, on the thread count that
        :class:`ThreadChooser` picks for ``kind`` (results do not depend on it)."""
        n = self.chooser.choose(kind)
        if self.n_threads == 1:
            return kernel(*args, n_threads=1, **kwargs)
        t = time.perf_counter()
        out = kernel(*args, n_threads=n, **kwargs)
        self.chooser.record(kind, n, time.perf_counter() - t)
        return out

    def next_key(self):
        """The random key of the next kernel call (a function of the seed and
        the number of calls so far only)."""
        self._calls += 1
        return mix64((self._key + self._calls * _GAMMA) & _MASK64)

    def blocks(self, n_rows, width, min_elements=None):
        """:func:`row_blocks`, cached by shape."""
        key = (n_rows, width, min_elements)
        if key not in self._blocks:
            self._blocks[key] = row_blocks(n_rows, width, min_elements)
        return self._blocks[key]

    def each(self, fn, items, work=1, *, choose=True):
        """``fn(item)`` for every item, on the pool, BLAS capped at one thread.

        For work without randomness that calls BLAS inside the threads (a
        result must not depend on which thread runs an item). ``work``, the
        size of one item's work, sorts the calls into kinds for the
        :class:`ThreadChooser`, which may run them all in this thread.
        ``choose=False`` always uses the pool: for long items that share
        nothing (AIS chains), which one thread never runs faster one after
        another, and where a try with one thread would cost whole items.
        """
        if self._pool is None or len(items) < 2:
            for item in items:
                fn(item)
            return
        if choose:
            kind = work_kind(
                "each:" + getattr(fn, "__qualname__", "?"), len(items), work
            )
            n = self.chooser.choose(kind)
        else:
            n = self.n_threads
        t = time.perf_counter()
        if n == 1:
            for item in items:
                fn(item)
        elif self._capped:  # BLAS already capped for the runner
            self._wait([self._pool.submit(fn, item) for item in items])
        else:
            with blas_capped():
                self._wait([self._pool.submit(fn, item) for item in items])
        if choose:
            self.chooser.record(kind, n, time.perf_counter() - t)

    def _wait(self, futures):
        try:
            # short timed waits: a blocked wait would hold an interrupt back
            # until the work is done (the main thread runs signal handlers
            # only between waits)
            pending = futures
            while pending:
                pending = wait(
                    pending, timeout=_POLL_SECONDS, return_when=FIRST_EXCEPTION
                ).not_done
                if any(f.done() and f.exception() for f in futures):
                    break
            for f in futures:
                f.result()
        except BaseException:
            # an interrupt (or a failed item): cancel what has not started and
            # tell the running items to stop, then let the exception through
            self.stop.set()
            for f in futures:
                f.cancel()
            raise

    def check(self):
        """Raise :class:`Cancelled` if the caller has stopped waiting."""
        if self.stop.is_set():
            raise Cancelled()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._capped:
            _BLAS_CAP.release()
            self._capped = False

    def __enter__(self):
        # The core owns the parallelism: BLAS at one thread while the runner
        # lives (its threads call BLAS side by side; OpenBLAS's own threads
        # on products of tens of rows are slow, and very slow on a busy machine)
        if self._limit_blas and not self._capped:
            _BLAS_CAP.acquire()
            self._capped = True
        return self

    def __exit__(self, *exc):
        self.close()
