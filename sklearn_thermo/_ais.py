"""Annealed importance sampling (AIS) estimates of an RBM's log partition function.

Knows nothing of scikit-learn. Following Neal (2001) and Salakhutdinov &
Murray (2008), chains start in a base-rate model A (independent visible units
with biases ``a_A``, hidden units free) and move through the distributions

.. math::

    f_\\beta(v) = \\exp\\left(\\frac{(1 - \\beta) a_A + \\beta a_B}{T} \\cdot v
      \\,[-\\tfrac{\\lVert v \\rVert^2}{2T}]\\right)
      \\prod_j \\left(1 + e^{\\beta (c_j + W_j v) / T}\\right),
    \\qquad 0 = \\beta_0 < \\dots < \\beta_K = 1,

by one Gibbs step at each ``beta_k`` (the core's :class:`~._cd.Gibbs` with
an inverse temperature per row), accumulating the log importance weight
``sum_k log f_{beta_k}(v_k) - log f_{beta_{k-1}}(v_k)`` in float64. Then
``log Z_B = log Z_A + log mean(w)``. The chains are vectorised; the matrix
products run on BLAS's threads and the elementwise work and random numbers over
row blocks on the runner's threads, block ``k`` with random stream ``k``.
"""

import numpy as np

from ._cd import Gibbs
from .ops import _softplus_


def _base_log_partition(a_A, n_hidden, visible, T):
    """``log Z_A`` of the base model, hidden units free (each a factor 2)."""
    a = a_A.astype(np.float64)
    if visible == "bernoulli":
        log_z = float(_softplus_(a / T, 1.0).sum())
    else:
        log_z = float(a @ a) / (2 * T) + 0.5 * len(a) * np.log(2 * np.pi * T)
    return log_z + n_hidden * np.log(2.0)


def log_partition_ais(params, temperature, base_visible_bias, *, n_chains,
                      n_betas, runner):
    """AIS estimate of ``log Z`` with bounds.

    Returns
    -------
    estimate, lower, upper : float
        ``upper``/``lower`` are ``log(r +- 3 s)``, ``r`` the mean importance
        weight and ``s`` its standard error; where ``r - 3 s <= 0`` the lower
        bound is taken in log space instead, ``estimate - 3 s / r`` (the
        delta method), so that both bounds are always finite.
    """
    T = float(temperature)
    W, a_B = params.W, params.visible_bias
    a_A = base_visible_bias.astype(params.dtype, copy=False)
    dtype, V, H = params.dtype, params.n_visible, params.n_hidden
    betas = np.linspace(0.0, 1.0, n_betas)
    delta_a = a_B - a_A  # the visible term of log f_beta is linear in beta
    gibbs = Gibbs(params, T, runner)  # the core's Gibbs step, nothing re-written

    v = np.empty((n_chains, V), dtype)
    x = np.empty((n_chains, H), dtype)  # c + W v, captured by the hidden step
    h = np.empty((n_chains, H), dtype)
    P = np.empty((n_chains, H), dtype)
    pv = np.empty((n_chains, V), dtype)
    beta_col = np.empty((n_chains, 1), dtype)
    log_w = np.zeros(n_chains)

    def visible_step(beta):
        # v | h at beta: mean (1 - beta) a_A + beta (a_B + h W), variance T
        np.matmul(h, W, out=pv)
        np.multiply(pv, beta, out=pv)
        gibbs._units(pv, (1 - beta) * a_A + beta * a_B, params.visible, v)

    pv.fill(0)  # start: exact samples of the base model
    gibbs._units(pv, a_A, params.visible, v)

    for k in range(1, n_betas):
        b0, b1 = float(betas[k - 1]), float(betas[k])
        visible_gain = (b1 - b0) * np.matmul(v, delta_a).astype(np.float64)
        # one Gibbs step at b1 starts with h ~ sigmoid(b1 x / T); x is kept
        beta_col.fill(b1)
        gibbs.up(v, P, h, beta=beta_col, pre=x)

        def gain(rows, gen, b0=b0, b1=b1, visible_gain=visible_gain):
            # log f_b1(v) - log f_b0(v), v before the step:
            # sum_j softplus(b1 x / T) - softplus(b0 x / T) + visible term
            xr, br = x[rows], P[rows]  # P is free again after sampling
            np.multiply(xr, b1, out=br)
            _softplus_(br, T)
            total = br.sum(axis=1, dtype=np.float64)
            np.multiply(xr, b0, out=br)
            _softplus_(br, T)
            total -= br.sum(axis=1, dtype=np.float64)
            log_w[rows] += (total + visible_gain[rows]) / T

        runner.map(gain, n_chains, H)
        visible_step(b1)

    log_z_A = _base_log_partition(a_A, H, params.visible, T)
    shift = float(log_w.max())
    w = np.exp(log_w - shift)
    r = float(w.mean())
    s = float(w.std(ddof=1) / np.sqrt(n_chains)) if n_chains > 1 else 0.0
    estimate = log_z_A + shift + np.log(r)
    upper = log_z_A + shift + np.log(r + 3 * s)
    lower = (log_z_A + shift + np.log(r - 3 * s)) if r > 3 * s else estimate - 3 * s / r
    return float(estimate), float(lower), float(upper)
