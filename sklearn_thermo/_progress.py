"""Progress within an epoch for ``verbose >= 2``: tqdm when installed.

tqdm is optional (not a dependency); without it a plain text counter is
written to stderr instead.
"""

import sys


def _text_progress(iterable, total, desc, size):
    """A minimal stand-in for tqdm: ``desc: i/total batches`` on one stderr line."""
    step = max(1, total // 20)
    done = 0
    for item in iterable:
        yield item
        before, done = done, done + size(item)
        if done // step > before // step or done >= total:
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r{desc}: {done}/{total} batches{end}")
            sys.stderr.flush()


def _tqdm_progress(tqdm, iterable, total, desc, size):
    with tqdm(total=total, desc=desc, leave=False, unit="batch") as bar:
        for item in iterable:
            yield item
            bar.update(size(item))


def progress(iterable, *, total, enabled, desc, size=None):
    """``iterable``, wrapped in a progress bar over ``total`` batches when
    ``enabled``; ``size(item)`` is the number of batches an item stands for
    (one by default)."""
    if not enabled:
        return iterable
    size = size or (lambda item: 1)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _text_progress(iterable, total, desc, size)
    return _tqdm_progress(tqdm, iterable, total, desc, size)
