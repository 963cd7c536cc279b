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
