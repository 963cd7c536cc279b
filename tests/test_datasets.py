import numpy as np
from scipy.ndimage import convolve
from sklearn.datasets import load_digits
from sklearn.preprocessing import minmax_scale

from sklearn_thermo._datasets import nudged_digits


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
