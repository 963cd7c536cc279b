"""Numerically stable tempered operators.

Every operator here is a Boltzmann-distribution quantity at a temperature
``T >= 0``. ``T = 0`` gives the exact hard limit (max, one-hot argmax, step,
ReLU); as ``T`` grows, the operators become uniform (softmax, sigmoid) or grow
like ``T log n`` (logsumexp, softplus).

.. math::

    \\operatorname{logsumexp}_T(x) = T \\log \\sum_i e^{x_i / T}, \\qquad
    \\operatorname{softmax}_T(x)_i = \\frac{e^{x_i / T}}{\\sum_j e^{x_j / T}},

    \\operatorname{softplus}_T(x) = T \\log(1 + e^{x / T}), \\qquad
    \\sigma_T(x) = \\frac{1}{1 + e^{-x / T}}.

Guarantees, for every finite input and every ``0 <= T <= 1e300``:

- no NaN and no infinity in the output; a value whose exact result lies beyond
  the dtype's range saturates at the largest finite value of that dtype (this
  includes the ``-inf`` that ``log_softmax`` reaches at ``T = 0``);
- float32 input gives float32 output, float64 gives float64 (integers and
  booleans are computed in float64);
- NaN or infinite input raises a ``ValueError``; complex or non-numeric input a
  ``TypeError``; a temperature that is negative, NaN or infinite a ``ValueError``.

The private in-place kernels (names ending in ``_``) are what the CD core
calls inside its loops; they skip validation but share the arithmetic.
"""

import numbers

import numpy as np

__all__ = [
    "boltzmann",
    "entropy",
    "free_energy",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "softmax",
    "softplus",
]


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------
def _check_temperature(temperature):
    """Return ``temperature`` as a Python float, or raise a ValueError/TypeError."""
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
        temperature, numbers.Real
    ):
        raise TypeError(
            f"temperature must be a real number >= 0, got {temperature!r} "
            f"of type {type(temperature).__name__}."
        )
    t = float(temperature)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"temperature must be finite and >= 0, got {temperature!r}.")
    return t


def _as_float_array(x, name="x"):
    """Convert to a float32/float64 ndarray; refuse NaN, inf, complex, objects."""
    try:
        x = np.asarray(x)
    except ValueError as e:  # ragged nested sequences
        raise ValueError(
            f"{name} must be a rectangular array of numbers (nested lists of "
            f"equal lengths): {e}"
        ) from None
    kind = x.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real; got a complex array.")
    if kind not in "biuf":
        raise TypeError(f"{name} must be numeric; got dtype {x.dtype}.")
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return x


def _check_axis(x, axis):
    if x.size == 0:
        raise ValueError("x is empty: a reduction over zero states is undefined.")
    if axis is not None and x.ndim == 0:
        raise ValueError(f"axis={axis} given for a 0-dimensional input.")


def _finfo_max(dtype):
    return np.finfo(dtype).max


def _saturate_(a):
    """Clip ``a`` in place to the finite range of its dtype (``inf`` -> max)."""
    fmax = _finfo_max(a.dtype)
    return np.clip(a, -fmax, fmax, out=a)


# --------------------------------------------------------------------------
# shared arithmetic
# --------------------------------------------------------------------------
def _cast_t(T, dtype):
    """``T`` in ``dtype``: 0 where it underflows, inf where it overflows."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(T, dtype=np.float64).astype(dtype)[()]


def _scaled_gap(x, m, T):
    """``(x - m) / T`` for ``x <= m``, in x's dtype, without spurious NaN.

    Returns ``None`` when ``T`` underflows in that dtype: then every gap is
    either 0 or so large that ``exp(-gap / T)`` is exactly 0, i.e. the hard
    limit is exact in that dtype.
    """
    t = _cast_t(T, x.dtype)
    if t == 0:
        return None
    if x.dtype != np.float64 and T < float(np.finfo(x.dtype).tiny):
        # T is subnormal in x's dtype (rounded, imprecise): divide in float64
        with np.errstate(over="ignore"):
            z = (x.astype(np.float64) - m) / T
        return np.asarray(np.maximum(z, -_finfo_max(x.dtype)).astype(x.dtype))
    with np.errstate(over="ignore"):
        if T >= 1:
            # divide first so nothing can overflow (t may be inf: gaps are 0)
            z = np.divide(x, t)
            z -= m / t
        else:
            # an overflowing x - m is -inf, and exp(-inf) = 0 is exact there
            z = np.subtract(x, m)
            z /= t
    return np.asarray(z)  # 0-d input gives a numpy scalar: make it an array


def _tail(T, s, m, dtype):
    """``m + T log s`` in float64, saturated and cast back to ``dtype``."""
    with np.errstate(over="ignore"):
        r = m.astype(np.float64) + T * np.log(s.astype(np.float64))
    fmax = _finfo_max(dtype)
    return np.clip(r, -fmax, fmax, out=r).astype(dtype, copy=False)


def _hard_softmax(x, m, axis):
    p = (x == m).astype(x.dtype)
    p /= p.sum(axis=axis, keepdims=True)
    return p


def _finish(r, axis, keepdims):
    if keepdims:
        return r
    if axis is None:
        return r.reshape(())[()]
    return np.squeeze(r, axis=axis)


# --------------------------------------------------------------------------
# reductions
# --------------------------------------------------------------------------
def logsumexp(x, temperature=1.0, *, axis=None, keepdims=False):
    """Tempered log-sum-exp, a smooth maximum.

    .. math::

        \\operatorname{logsumexp}_T(x) = T \\log \\sum_i e^{x_i / T}
        = \\max(x) + T \\log \\sum_i e^{(x_i - \\max x) / T}

    It is bounded by ``max(x) <= logsumexp_T(x) <= max(x) + T log n`` and its
    gradient is :func:`softmax` at the same temperature.

    Parameters
    ----------
    x : array-like
        Scores (negative energies).
    temperature : float, default=1.0
        ``T >= 0``; ``T = 0`` returns ``max(x)`` exactly.
    axis : int, tuple of int or None, default=None
        Axis (or axes) to reduce; ``None`` reduces over all elements.
    keepdims : bool, default=False
        Keep the reduced axes with length one.

    Returns
    -------
    out : ndarray or scalar
        Same floating dtype as ``x``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> round(float(ops.logsumexp([1.0, 2.0, 3.0])), 4)
    3.4076
    >>> float(ops.logsumexp([1.0, 2.0, 3.0], temperature=0.0))  # the hard max
    3.0
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    _check_axis(x, axis)
    x = x.reshape(1) if x.ndim == 0 else x  # a Python or numpy scalar
    m = np.max(x, axis=axis, keepdims=True)
    z = None if T == 0 else _scaled_gap(x, m, T)
    if z is None:
        r = m
    else:
        np.exp(z, out=z)
        r = _tail(T, np.sum(z, axis=axis, keepdims=True), m, x.dtype)
    return _finish(r, axis, keepdims)


def free_energy(energies, temperature=1.0, *, axis=None, keepdims=False):
    """Helmholtz free energy of a Boltzmann distribution over states.

    .. math::

        F = -T \\log Z = -T \\log \\sum_i e^{-E_i / T}
        = -\\operatorname{logsumexp}_T(-E)

    ``F <= min(E)``, with equality at ``T = 0``; ``F = U - T S`` where ``U`` is
    the mean energy and ``S`` the :func:`entropy` of :func:`boltzmann`.

    Parameters
    ----------
    energies : array-like
        Energies ``E_i`` of the states (lower is more probable).
    temperature : float, default=1.0
        ``T >= 0``.
    axis : int, tuple of int or None, default=None
        Axis holding the states; ``None`` treats every element as a state.
    keepdims : bool, default=False
        Keep the reduced axes with length one.

    Returns
    -------
    F : ndarray or scalar

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> round(float(ops.free_energy([0.0, 1.0], temperature=1.0)), 4)  # -log(1 + 1/e)
    -0.3133
    """
    e = _as_float_array(energies, "energies")
    return np.negative(logsumexp(-e, temperature, axis=axis, keepdims=keepdims))


def entropy(x, temperature=1.0, *, axis=None, keepdims=False):
    """Shannon entropy (in nats) of ``softmax_T(x)``.

    .. math::

        S = -\\sum_i p_i \\log p_i, \\qquad p = \\operatorname{softmax}_T(x)

    ``0 <= S <= log n``; it does not decrease as ``T`` grows, is ``log k`` at
    ``T = 0`` (``k`` tied maxima) and tends to ``log n`` as ``T -> inf``. For
    energies ``E`` use ``entropy(-E, T)``.

    Parameters
    ----------
    x : array-like
        Scores (negative energies).
    temperature : float, default=1.0
        ``T >= 0``.
    axis : int, tuple of int or None, default=None
        Axis holding the states.
    keepdims : bool, default=False
        Keep the reduced axes with length one.

    Returns
    -------
    S : ndarray or scalar

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> round(float(ops.entropy([0.0, 0.0])), 4)  # two equal states: log 2
    0.6931
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    _check_axis(x, axis)
    x = x.reshape(1) if x.ndim == 0 else x  # a Python or numpy scalar
    m = np.max(x, axis=axis, keepdims=True)
    z = None if T == 0 else _scaled_gap(x, m, T)
    if z is None:
        k = np.sum(x == m, axis=axis, keepdims=True)
        r = np.log(k).astype(x.dtype)
    else:
        fmax = _finfo_max(x.dtype)
        np.maximum(z, -fmax, out=z)  # p = 0 there, so p * z must be 0, not NaN
        p = np.exp(z)
        s = np.sum(p, axis=axis, keepdims=True)
        p /= s
        p *= z
        # S = log s - sum p z, with every term finite
        r = np.log(s) - np.sum(p, axis=axis, keepdims=True)
        np.maximum(r, 0, out=r)  # rounding can dip below 0
    return _finish(r, axis, keepdims)


# --------------------------------------------------------------------------
# distributions
# --------------------------------------------------------------------------
def softmax(x, temperature=1.0, *, axis=None):
    """Tempered softmax: the Boltzmann distribution of scores ``x``.

    .. math::

        \\operatorname{softmax}_T(x)_i = \\frac{e^{x_i / T}}{\\sum_j e^{x_j / T}}

    Sums to one along ``axis``; invariant to adding a constant to ``x``. At
    ``T = 0`` it is one-hot on the maximum, tied maxima sharing equally; as
    ``T -> inf`` it tends to the uniform distribution.

    Parameters
    ----------
    x : array-like
        Scores (negative energies).
    temperature : float, default=1.0
        ``T >= 0``.
    axis : int, tuple of int or None, default=None
        Axis holding the states; ``None`` normalises over all elements.

    Returns
    -------
    p : ndarray
        Same shape and floating dtype as ``x``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> ops.softmax([1.0, 2.0, 3.0]).round(3)
    array([0.09 , 0.245, 0.665])
    >>> ops.softmax([1.0, 2.0, 3.0], temperature=0.0)  # one-hot on the maximum
    array([0., 0., 1.])
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    _check_axis(x, axis)
    m = np.max(x, axis=axis, keepdims=True)
    z = None if T == 0 else _scaled_gap(x, m, T)
    if z is None:
        return _hard_softmax(x, m, axis)
    np.exp(z, out=z)
    z /= np.sum(z, axis=axis, keepdims=True)
    return z


def log_softmax(x, temperature=1.0, *, axis=None):
    """Logarithm of :func:`softmax`, computed without forming the softmax.

    .. math::

        \\log \\operatorname{softmax}_T(x)_i
        = \\frac{x_i - \\operatorname{logsumexp}_T(x)}{T}

    Parameters
    ----------
    x : array-like
        Scores (negative energies).
    temperature : float, default=1.0
        ``T >= 0``. At ``T = 0`` the maxima get ``-log k`` (``k`` ties) and
        the other entries the most negative finite value of the dtype, the
        saturated stand-in for ``-inf``.
    axis : int, tuple of int or None, default=None
        Axis holding the states.

    Returns
    -------
    log_p : ndarray
        Same shape and floating dtype as ``x``; every entry ``<= 0``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> ops.log_softmax([1.0, 2.0, 3.0]).round(3)
    array([-2.408, -1.408, -0.408])
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    _check_axis(x, axis)
    m = np.max(x, axis=axis, keepdims=True)
    z = None if T == 0 else _scaled_gap(x, m, T)
    fmax = _finfo_max(x.dtype)
    if z is None:
        p = _hard_softmax(x, m, axis)
        with np.errstate(divide="ignore"):
            r = np.log(p)
        return np.maximum(r, -fmax, out=r)
    s = np.sum(np.exp(z), axis=axis, keepdims=True)
    with np.errstate(over="ignore"):
        z -= np.log(s)
    return np.maximum(z, -fmax, out=z)


def _softmax_and_lse_(x, T, axis=1):
    """In place along ``axis`` (the states; 1: over rows):
    ``x <- softmax_T(x)``; returns ``logsumexp_T(x) / T``.

    One ``exp`` pass for both (the loss needs the log-partition, its gradient
    the probabilities). ``x`` is a finite 2-D float array, ``T > 0``; no
    validation (for hot loops). With few states, ``axis=0`` on the transposed
    array is the faster layout: the reductions then run along long rows.
    """
    m = np.max(x, axis=axis, keepdims=True)
    z = _scaled_gap(x, m, T)
    if z is None:  # T underflows in x's dtype: the hard limit is exact
        x[...] = _hard_softmax(x, m, axis)
        with np.errstate(over="ignore", divide="ignore"):
            lse = m / T - np.log(x.max(axis=axis, keepdims=True))
        return np.squeeze(lse, axis=axis)
    np.exp(z, out=x)
    s = np.sum(x, axis=axis, keepdims=True)
    x /= s
    with np.errstate(over="ignore"):
        return np.squeeze(m / T + np.log(s), axis=axis)


def boltzmann(energies, temperature=1.0, *, axis=None):
    """Boltzmann distribution ``p_i = exp(-E_i / T) / Z`` over states.

    Equal to ``softmax(-E, T)``: lower energy means higher probability. At
    ``T = 0`` all mass sits on the ground state(s).

    Parameters
    ----------
    energies : array-like
        Energies ``E_i`` of the states.
    temperature : float, default=1.0
        ``T >= 0``.
    axis : int, tuple of int or None, default=None
        Axis holding the states.

    Returns
    -------
    p : ndarray
        Sums to one along ``axis``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> ops.boltzmann([0.0, 1.0], temperature=1.0).round(3)  # lower energy, likelier
    array([0.731, 0.269])
    >>> ops.boltzmann([0.0, 1.0], temperature=0.0)  # the ground state
    array([1., 0.])
    """
    e = _as_float_array(energies, "energies")
    return softmax(np.negative(e), temperature, axis=axis)


# --------------------------------------------------------------------------
# elementwise
# --------------------------------------------------------------------------
def _sigmoid_(z, T):
    """In place: ``z <- sigmoid_T(z)``. ``z`` is a float ndarray, ``T >= 0``."""
    if T != 1.0:
        with np.errstate(over="ignore", divide="ignore"):
            inv = _cast_t(1.0 / T if T > 0 else np.inf, z.dtype)
        if np.isinf(inv) and T > 0:
            # 1 / T overflows the dtype: divide in float64 instead (exact for
            # T down to the smallest subnormal, where x / T can still be ~1)
            w = z.astype(np.float64)
            with np.errstate(over="ignore"):
                w /= T
            z[...] = _sigmoid_(w, 1.0)
            return z
        if np.isinf(inv):
            # hard limit: a step that is 0.5 exactly at 0
            half = z == 0
            np.greater(z, 0, out=z)
            z[half] = 0.5
            return z
    # 1 / (1 + exp(-x / T)), in place; an overflow to inf is exact here (it
    # gives 0), never NaN. Faster than scipy.special.expit here.
    with np.errstate(over="ignore"):
        if T != 1.0:
            np.multiply(z, -inv, out=z)
        else:
            np.negative(z, out=z)
        np.exp(z, out=z)
    z += 1
    return np.reciprocal(z, out=z)


def _softplus_(z, T):
    """In place: ``z <- softplus_T(z) = max(z, 0) + T log(1 + exp(-|z| / T))``."""
    t = _cast_t(T, z.dtype) if T > 0 else 0
    if t == 0:
        return np.maximum(z, 0, out=z)
    if z.dtype != np.float64 and T < float(np.finfo(z.dtype).tiny):
        # T is subnormal in z's dtype (rounded, imprecise): work in float64
        w = _softplus_(z.astype(np.float64), T)
        fmax = _finfo_max(z.dtype)
        z[...] = np.clip(w, -fmax, fmax, out=w)
        return z
    relu = np.maximum(z, 0)
    np.abs(z, out=z)
    with np.errstate(over="ignore"):
        z /= t  # overflow to inf is exact below: exp(-inf) = 0
        np.negative(z, out=z)
        np.exp(z, out=z)
        np.log1p(z, out=z)
        z *= t
        z += relu
    return _saturate_(z)


def sigmoid(x, temperature=1.0):
    """Tempered logistic sigmoid.

    .. math::

        \\sigma_T(x) = \\frac{1}{1 + e^{-x / T}}

    The derivative of :func:`softplus`; the two-state :func:`softmax`. At
    ``T = 0`` it is the step function (0.5 at 0); it tends to 0.5 as
    ``T -> inf``.

    Parameters
    ----------
    x : array-like
        Pre-activations.
    temperature : float, default=1.0
        ``T >= 0``.

    Returns
    -------
    out : ndarray or scalar
        Values in ``[0, 1]``, same floating dtype as ``x``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> ops.sigmoid([-1.0, 0.0, 1.0], temperature=0.5).round(3)
    array([0.119, 0.5  , 0.881])
    >>> ops.sigmoid([-1.0, 0.0, 1.0], temperature=0.0)  # the step function
    array([0. , 0.5, 1. ])
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    z = np.array(x, copy=True)
    return _sigmoid_(z, T)[()]


def softplus(x, temperature=1.0):
    """Tempered softplus, a smooth ReLU.

    .. math::

        \\operatorname{softplus}_T(x) = T \\log(1 + e^{x / T})
        = \\max(x, 0) + T \\log(1 + e^{-|x| / T})

    Bounded by ``max(x, 0) <= softplus_T(x) <= max(x, 0) + T log 2``; equal to
    ``max(x, 0)`` at ``T = 0``.

    Parameters
    ----------
    x : array-like
        Pre-activations.
    temperature : float, default=1.0
        ``T >= 0``.

    Returns
    -------
    out : ndarray or scalar
        Same floating dtype as ``x``.

    Examples
    --------
    >>> from sklearn_thermo import ops
    >>> ops.softplus([-1.0, 0.0, 1.0]).round(3)
    array([0.313, 0.693, 1.313])
    >>> ops.softplus([-1.0, 0.0, 1.0], temperature=0.0)  # ReLU
    array([0., 0., 1.])
    """
    x = _as_float_array(x)
    T = _check_temperature(temperature)
    z = np.array(x, copy=True)
    return _softplus_(z, T)[()]
