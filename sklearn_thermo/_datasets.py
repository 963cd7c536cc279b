"""Bundled data for the main job and the benchmarks."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import minmax_scale


def _shift(images, rows, cols):
    """Images moved by ``(rows, cols)`` pixels, zeros shifted in."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = images[
        :, max(-rows, 0) : h + min(-rows, 0), max(-cols, 0) : w + min(-cols, 0)
    ]
    return out


def nudged_digits():
    """scikit-learn's RBM example data: digits and four one-pixel shifts.

    The 1,797 digits followed by the same images moved up, left, right and
    down by one pixel (8,985 rows, in that order, as the example's
    ``nudge_dataset`` builds them), each feature scaled to ``[0, 1]``.

    Returns
    -------
    X : ndarray of shape (8985, 64)
    y : ndarray of shape (8985,)
    """
    X, y = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)
    moved = [_shift(images, r, c) for r, c in ((-1, 0), (0, -1), (0, 1), (1, 0))]
    X = np.concatenate([images, *moved]).reshape(-1, 64)
    return minmax_scale(X), np.tile(y, 5)


def bars_and_stripes(rows=4, cols=4):
    """The distinct bars-and-stripes patterns of a ``rows x cols`` grid.

    Every image whose rows are each all on or all off (stripes), or whose
    columns are (bars): ``2**rows + 2**cols - 2`` patterns (the empty and the
    full image are both), one per row of the result, as floats in {0, 1}.
    A sharp, multimodal distribution with an enumerable visible layer.
    """
    patterns = []
    for code in range(2**rows):
        bits = (code >> np.arange(rows)) & 1
        patterns.append(np.repeat(bits[:, None], cols, axis=1).ravel())
    for code in range(2**cols):
        bits = (code >> np.arange(cols)) & 1
        patterns.append(np.repeat(bits[None, :], rows, axis=0).ravel())
    return np.unique(np.array(patterns, dtype=float), axis=0)
