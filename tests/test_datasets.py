import numpy as np
from scipy.ndimage import convolve
from sklearn.datasets import load_digits
from sklearn.preprocessing import minmax_scale

from sklearn_thermo._datasets import bars_and_stripes, nudged_digits


def test_nudged_digits_equal_scikit_learns_example():
    # the example's nudge_dataset: convolutions with one-hot 3 x 3 kernels
    X, y = load_digits(return_X_y=True)
    kernels = [
        [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 1], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 1, 0]],
    ]
    moved = [
        np.array([convolve(x.reshape(8, 8), k, mode="constant").ravel() for x in X])
        for k in kernels
    ]
    expected = minmax_scale(np.concatenate([X, *moved]))
    got, labels = nudged_digits()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(labels, np.tile(y, 5))
    assert got.min() == 0 and got.max() == 1


def test_bars_and_stripes_are_the_distinct_patterns():
    X = bars_and_stripes(4, 5)
    assert X.shape == (2**4 + 2**5 - 2, 20)
    images = X.reshape(-1, 4, 5)
    rows_constant = (images == images[:, :, :1]).all(axis=(1, 2))
    cols_constant = (images == images[:, :1, :]).all(axis=(1, 2))
    assert (rows_constant | cols_constant).all()
    assert len(np.unique(X, axis=0)) == len(X)
