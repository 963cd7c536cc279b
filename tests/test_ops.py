"""Tempered operators: limits, identities, dtypes and extreme inputs."""

import numpy as np
import pytest
from scipy import special

from sklearn_thermo import ops

REDUCTIONS = [ops.logsumexp, ops.entropy, ops.free_energy]
DISTRIBUTIONS = [ops.softmax, ops.log_softmax, ops.boltzmann]
ELEMENTWISE = [ops.sigmoid, ops.softplus]
ALL = REDUCTIONS + DISTRIBUTIONS + ELEMENTWISE


def _call(fn, x, T):
    if fn in ELEMENTWISE:
        return fn(x, T)
    return fn(x, T, axis=-1)


# --------------------------------------------------------------------------
# agreement with scipy at T = 1 and the scaling law in T
# --------------------------------------------------------------------------
def test_match_scipy_at_unit_temperature():
    x = np.random.default_rng(0).normal(size=(5, 7)) * 10
    np.testing.assert_allclose(ops.logsumexp(x, axis=1), special.logsumexp(x, axis=1))
    np.testing.assert_allclose(ops.softmax(x, axis=1), special.softmax(x, axis=1))
    np.testing.assert_allclose(
        ops.log_softmax(x, axis=1), special.log_softmax(x, axis=1), atol=1e-12
    )
    np.testing.assert_allclose(ops.sigmoid(x), special.expit(x))
    np.testing.assert_allclose(ops.softplus(x), np.logaddexp(0, x))


@pytest.mark.parametrize("T", [0.01, 0.3, 2.0, 50.0])
def test_temperature_scaling(T):
    x = np.random.default_rng(1).normal(size=(4, 6)) * 3
    np.testing.assert_allclose(
        ops.logsumexp(x, T, axis=1), T * special.logsumexp(x / T, axis=1)
    )
    np.testing.assert_allclose(
        ops.softmax(x, T, axis=1), special.softmax(x / T, axis=1)
    )
    np.testing.assert_allclose(ops.sigmoid(x, T), special.expit(x / T))
    np.testing.assert_allclose(ops.softplus(x, T), T * np.logaddexp(0, x / T))
    np.testing.assert_allclose(
        ops.free_energy(x, T, axis=1), -ops.logsumexp(-x, T, axis=1)
    )
    np.testing.assert_allclose(ops.boltzmann(x, T, axis=1), ops.softmax(-x, T, axis=1))


# --------------------------------------------------------------------------
# hard limit (T = 0) and T -> 0, T -> infinity
# --------------------------------------------------------------------------
def test_exact_hard_limits_at_zero():
    x = np.array([[1.0, 3.0, 3.0, -2.0], [0.0, -1.0, 5.0, 2.0]])
    np.testing.assert_array_equal(ops.logsumexp(x, 0, axis=1), [3.0, 5.0])
    np.testing.assert_array_equal(
        ops.softmax(x, 0, axis=1), [[0, 0.5, 0.5, 0], [0, 0, 1, 0]]
    )
    np.testing.assert_allclose(ops.entropy(x, 0, axis=1), [np.log(2), 0.0])
    np.testing.assert_array_equal(ops.free_energy(x, 0, axis=1), [-2.0, -1.0])
    np.testing.assert_array_equal(ops.sigmoid([-2.0, 0.0, 1e-300], 0), [0, 0.5, 1])
    np.testing.assert_array_equal(ops.softplus([-2.0, 0.0, 3.0], 0), [0, 0, 3])
    ls = ops.log_softmax(x, 0, axis=1)
    assert ls[1, 2] == 0.0 and ls[0, 1] == pytest.approx(-np.log(2))
    assert ls[0, 0] == -np.finfo(np.float64).max  # saturated -inf


def test_small_temperature_approaches_hard_limit():
    x = np.array([0.3, 1.0, -0.5, 0.99])
    for T in (1e-3, 1e-6, 1e-12):
        assert ops.logsumexp(x, T) == pytest.approx(1.0, abs=T * np.log(4) + 1e-15)
    np.testing.assert_allclose(ops.softmax(x, 1e-4), [0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(ops.softplus(x - 0.5, 1e-6), np.maximum(x - 0.5, 0))


def test_large_temperature_approaches_uniform():
    x = np.array([[3.0, -1.0, 100.0, 0.0]])
    np.testing.assert_allclose(ops.softmax(x, 1e8, axis=1), 0.25, rtol=1e-5)
    np.testing.assert_allclose(ops.entropy(x, 1e8, axis=1), np.log(4), rtol=1e-8)
    np.testing.assert_allclose(ops.sigmoid(x, 1e8), 0.5, rtol=1e-5)
    # logsumexp_T(x) - T log n -> mean(x) as T -> infinity
    T = 1e6
    assert ops.logsumexp(x, T) - T * np.log(4) == pytest.approx(x.mean(), abs=1e-2)
    # softplus_T(x) -> T log 2 + x / 2
    assert ops.softplus(1.0, 1e6) == pytest.approx(1e6 * np.log(2) + 0.5, rel=1e-12)


# --------------------------------------------------------------------------
# identities of DESIGN.md section 1
# --------------------------------------------------------------------------
@pytest.mark.parametrize("T", [0.1, 1.0, 7.0])
def test_gradient_of_logsumexp_is_softmax(T):
    x = np.random.default_rng(2).normal(size=6)
    eps = 1e-6
    grad = np.array(
        [
            (ops.logsumexp(x + eps * e, T) - ops.logsumexp(x - eps * e, T)) / (2 * eps)
            for e in np.eye(6)
        ]
    )
    np.testing.assert_allclose(grad, ops.softmax(x, T), atol=1e-7)


@pytest.mark.parametrize("T", [0.0, 1e-3, 0.5, 1.0, 30.0])
def test_logsumexp_bounds(T):
    x = np.random.default_rng(3).normal(size=(20, 9)) * 5
    lse = ops.logsumexp(x, T, axis=1)
    assert np.all(lse - T * np.log(9) <= x.max(axis=1) + 1e-12)
    assert np.all(x.max(axis=1) <= lse + 1e-12)


def test_shift_invariance_and_normalisation():
    x = np.random.default_rng(4).normal(size=(3, 5))
    for T in (0.0, 0.2, 1.0, 10.0):
        p = ops.softmax(x, T, axis=1)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        np.testing.assert_allclose(ops.softmax(x + 123.0, T, axis=1), p, atol=1e-12)
        np.testing.assert_allclose(ops.boltzmann(x, T, axis=1).sum(axis=1), 1.0)


def test_entropy_non_decreasing_in_temperature():
    x = np.random.default_rng(5).normal(size=(10, 8)) * 4
    temps = [0.0, 1e-3, 0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3]
    S = np.array([ops.entropy(x, T, axis=1) for T in temps])
    assert np.all(np.diff(S, axis=0) >= -1e-12)
    assert np.all(S <= np.log(8) + 1e-12) and np.all(S >= 0)


@pytest.mark.parametrize("T", [0.05, 1.0, 4.0])
def test_free_energy_is_energy_minus_temperature_entropy(T):
    E = np.random.default_rng(6).normal(size=(7, 5)) * 3
    p = ops.boltzmann(E, T, axis=1)
    U = (p * E).sum(axis=1)
    S = ops.entropy(-E, T, axis=1)
    np.testing.assert_allclose(ops.free_energy(E, T, axis=1), U - T * S, atol=1e-10)


def test_log_softmax_consistent_with_softmax():
    x = np.random.default_rng(7).normal(size=(4, 6)) * 10
    for T in (0.1, 1.0, 3.0):
        np.testing.assert_allclose(
            np.exp(ops.log_softmax(x, T, axis=1)), ops.softmax(x, T, axis=1), atol=1e-14
        )


def test_sigmoid_is_derivative_of_softplus():
    x = np.linspace(-5, 5, 11)
    for T in (0.3, 1.0, 4.0):
        eps = 1e-6
        d = (ops.softplus(x + eps, T) - ops.softplus(x - eps, T)) / (2 * eps)
        np.testing.assert_allclose(d, ops.sigmoid(x, T), atol=1e-8)


# --------------------------------------------------------------------------
# dtypes, shapes, extreme inputs, bad input
# --------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(fn, dtype):
    x = np.arange(12, dtype=dtype).reshape(3, 4) / 3
    assert np.asarray(_call(fn, x, 0.7)).dtype == dtype


def test_integer_input_computed_in_float64():
    assert ops.softmax([1, 2, 3]).dtype == np.float64


def test_keepdims_and_axis_none():
    x = np.arange(6.0).reshape(2, 3)
    assert ops.logsumexp(x, axis=1, keepdims=True).shape == (2, 1)
    assert np.ndim(ops.logsumexp(x)) == 0
    assert ops.softmax(x).sum() == pytest.approx(1.0)


_EXTREME = [
    np.array([-1e300, 0.0, 1e300]),
    np.array([1.7e308, -1.7e308, 1.7e308]),
    np.array([3e38, -3e38, 1.0], dtype=np.float32),
    np.array([1e-300, -1e-300, 0.0]),
    np.array([0.0]),
]


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("x", _EXTREME, ids=lambda a: f"{a.dtype}{a[:2]}")
@pytest.mark.parametrize("T", [0.0, 5e-324, 1e-300, 1e-40, 1.0, 1e39, 1e300])
def test_no_nan_or_inf_for_extreme_finite_input(fn, x, T):
    # no floating-point warnings either (underflow to 0 is exact and expected)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        out = np.asarray(_call(fn, x, T))
    assert np.isfinite(out).all()
    assert out.dtype == x.dtype


def test_probabilities_stay_normalised_at_extremes():
    for x in _EXTREME:
        for T in (0.0, 1e-300, 1.0, 1e300):
            assert ops.softmax(x, T).sum() == pytest.approx(1.0, rel=1e-6)
            p = ops.sigmoid(x, T)
            assert np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("fn", ALL)
def test_bad_input(fn):
    with pytest.raises(ValueError, match="NaN or infinity"):
        _call(fn, np.array([1.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        _call(fn, np.array([1.0, np.inf]), 1.0)
    with pytest.raises(TypeError, match="complex"):
        _call(fn, np.array([1j, 2.0]), 1.0)
    with pytest.raises(TypeError, match="numeric"):
        _call(fn, np.array(["a", "b"]), 1.0)
    for T in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="temperature"):
            _call(fn, np.array([1.0, 2.0]), T)
    with pytest.raises(TypeError, match="temperature"):
        _call(fn, np.array([1.0, 2.0]), "hot")


@pytest.mark.parametrize("fn", REDUCTIONS + DISTRIBUTIONS)
def test_empty_reduction_is_an_error(fn):
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((2, 0)), 1.0, axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1.0, 0.3, 7.0, 1e-40, 1e-300])
def test_softmax_and_lse_along_either_axis(dtype, T):
    """The in-place softmax and log-partition of the hot loops give the same
    bits over rows (axis=1) and over columns of the transposed array
    (axis=0, the class-major layout of the softmax classifier's loss),
    in the hard limit too; and they agree with the public operators."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7)).astype(dtype)
    x[3, 2] = x[3, 4]  # a tie, for the hard limit
    rows = x.copy()
    lse_rows = ops._softmax_and_lse_(rows, T)
    cols = np.ascontiguousarray(x.T)
    lse_cols = ops._softmax_and_lse_(cols, T, axis=0)
    np.testing.assert_array_equal(cols.T, rows)
    np.testing.assert_array_equal(lse_cols, lse_rows)
    if T >= 0.3:
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(rows, ops.softmax(x, T, axis=1), rtol=tol, atol=tol)
        np.testing.assert_allclose(
            lse_rows, ops.logsumexp(x, T, axis=1) / T, rtol=tol, atol=tol
        )
