"""Progress within an epoch for ``verbose >= 2``: tqdm when installed.

tqdm is optional (not a dependency); without it a plain text counter is
written to stderr instead.
"""

import sys


class _TextProgress:
    """A minimal stand-in for tqdm: ``desc: i/total`` on one stderr line."""

    def __init__(self, iterable, total, desc):
        self.iterable, self.total, self.desc = iterable, total, desc

    def __iter__(self):
        step = max(1, self.total // 20)
        for i, item in enumerate(self.iterable, 1):
            yield item
            if i % step == 0 or i == self.total:
                end = "\n" if i == self.total else ""
                sys.stderr.write(f"\r{self.desc}: {i}/{self.total} batches{end}")
                sys.stderr.flush()


def progress(iterable, *, total, enabled, desc):
    """``iterable``, wrapped in a progress bar when ``enabled``."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextProgress(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, leave=False, unit="batch")
