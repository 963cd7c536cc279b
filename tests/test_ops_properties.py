"""Property-based tests of sklearn_thermo.ops (hypothesis).

The identities and bounds of DESIGN.md section 1 for arbitrary finite inputs
and temperatures: bounds of logsumexp, its gradient, shift invariance,
monotonicity in T, exact hard limits at T = 0, F = U - T S, float32 against
float64, and no NaN or inf for any finite input and any T in [0, 1e300].
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_thermo import ops

# deterministic, so that CI is reproducible; enough examples to find edges
settings.register_profile(
    "thermo",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("thermo")

FINITE64 = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
MODERATE = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
TEMPS = st.one_of(st.just(0.0), st.floats(0, 1e300, allow_nan=False))
POSITIVE_T = st.floats(1e-2, 1e2)


def vectors(elements=FINITE64, min_size=1, max_size=12, dtype=np.float64):
    return arrays(dtype, st.integers(min_size, max_size), elements=elements)


@given(vectors(), TEMPS)
def test_no_nan_or_inf_for_any_finite_input_and_temperature(x, T):
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        for fn in (ops.logsumexp, ops.free_energy, ops.entropy):
            assert np.isfinite(fn(x, T))
        for fn in (
            ops.softmax,
            ops.log_softmax,
            ops.boltzmann,
            ops.softplus,
            ops.sigmoid,
        ):
            assert np.isfinite(fn(x, T)).all()


@given(
    vectors(
        st.floats(width=32, allow_nan=False, allow_infinity=False), dtype=np.float32
    ),
    TEMPS,
)
def test_float32_stays_finite_and_float32(x, T):
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        for fn in (ops.softmax, ops.log_softmax, ops.softplus, ops.sigmoid):
            out = fn(x, T)
            assert out.dtype == np.float32 and np.isfinite(out).all()
        assert np.isfinite(ops.logsumexp(x, T))


@given(vectors(), TEMPS)
def test_probabilities_are_normalised(x, T):
    p = ops.softmax(x, T)
    assert np.all(p >= 0)
    assert abs(p.sum() - 1.0) < 1e-12
    s = ops.sigmoid(x, T)
    assert np.all((s >= 0) & (s <= 1))


@given(vectors(), TEMPS)
def test_logsumexp_bounds(x, T):
    lse = ops.logsumexp(x, T)
    m = x.max()
    tol = 1e-12 * max(1.0, abs(m))
    # max(x) <= logsumexp_T(x) <= max(x) + T log n
    assert m - tol <= lse
    assert lse <= m + T * np.log(x.size) + tol


@given(vectors(MODERATE, min_size=2), POSITIVE_T)
def test_gradient_of_logsumexp_is_softmax(x, T):
    p = ops.softmax(x, T)
    eps = 1e-6
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        grad = (ops.logsumexp(x + e, T) - ops.logsumexp(x - e, T)) / (2 * eps)
        assert abs(grad - p[i]) < 1e-5


@given(vectors(MODERATE), POSITIVE_T, MODERATE)
def test_shift_invariance(x, T, c):
    np.testing.assert_allclose(
        ops.softmax(x + c, T), ops.softmax(x, T), rtol=1e-9, atol=1e-12
    )
    assert abs(ops.logsumexp(x + c, T) - (ops.logsumexp(x, T) + c)) < 1e-9 * (
        1 + abs(c) + np.abs(x).max()
    )


@given(vectors(MODERATE, min_size=2), POSITIVE_T, POSITIVE_T)
def test_entropy_does_not_decrease_with_temperature(x, T1, T2):
    lo, hi = sorted((T1, T2))
    assert ops.entropy(x, lo) <= ops.entropy(x, hi) + 1e-9
    assert -1e-12 <= ops.entropy(x, lo) <= np.log(x.size) + 1e-12


@given(vectors(MODERATE), POSITIVE_T)
def test_free_energy_is_energy_minus_temperature_times_entropy(E, T):
    p = ops.boltzmann(E, T)
    U = float(np.sum(p * E))
    S = float(ops.entropy(-E, T))
    assert abs(ops.free_energy(E, T) - (U - T * S)) < 1e-8 * (1 + np.abs(E).max())


@given(vectors())
def test_exact_hard_limits_at_zero_temperature(x):
    m = x.max()
    assert ops.logsumexp(x, 0.0) == m
    ties = x == m
    np.testing.assert_array_equal(ops.softmax(x, 0.0), ties / ties.sum())
    np.testing.assert_array_equal(ops.softplus(x, 0.0), np.maximum(x, 0.0))
    step = np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))
    np.testing.assert_array_equal(ops.sigmoid(x, 0.0), step)


@given(vectors(MODERATE), POSITIVE_T)
def test_softplus_and_sigmoid_are_monotone_in_x(x, T):
    order = np.argsort(x)
    assert np.all(np.diff(ops.softplus(x, T)[order]) >= 0)
    assert np.all(np.diff(ops.sigmoid(x, T)[order]) >= 0)
    # softplus_T(x) - softplus_T(-x) = x, and softplus >= relu
    np.testing.assert_allclose(
        ops.softplus(x, T) - ops.softplus(-x, T), x, atol=1e-9 * (1 + T)
    )
    assert np.all(ops.softplus(x, T) >= np.maximum(x, 0) - 1e-12)


@given(vectors(st.floats(-1e4, 1e4, width=32), dtype=np.float32), POSITIVE_T)
def test_float32_agrees_with_float64(x, T):
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(ops.softmax(x, T), ops.softmax(x64, T), atol=2e-6)
    np.testing.assert_allclose(ops.sigmoid(x, T), ops.sigmoid(x64, T), atol=2e-6)
    scale = 1 + np.abs(x64).max()
    np.testing.assert_allclose(
        ops.softplus(x, T), ops.softplus(x64, T), atol=2e-6 * scale + 1e-6 * T
    )
    assert abs(ops.logsumexp(x, T) - ops.logsumexp(x64, T)) <= 2e-6 * scale + 2e-6 * T


@given(vectors(MODERATE, min_size=2), POSITIVE_T, POSITIVE_T)
def test_logsumexp_minus_max_grows_with_temperature(x, T1, T2):
    # the smooth maximum moves away from max(x) as T grows
    lo, hi = sorted((T1, T2))
    assert ops.logsumexp(x, lo) <= ops.logsumexp(x, hi) + 1e-9
