"""Exact partition functions of small RBMs, by enumerating the smaller layer.

Knows nothing of scikit-learn. With ``E(v, h)`` as in :mod:`.model`,

.. math::

    \\log Z = \\log \\sum_{v, h} e^{-E(v, h) / T}.

Summing one layer out in closed form leaves a sum over the other:

- over hidden states ``h`` (any visible type):
  ``log Z = logsumexp_T(G(h)) / T`` with, for Bernoulli visible units,
  ``G(h) = c.h + sum_i softplus_T(a_i + (W^T h)_i)`` and, for Gaussian ones,
  ``G(h) = c.h + |a + W^T h|^2 / 2``, plus ``(n_visible / 2) log(2 pi T)``;
- over visible states ``v`` (Bernoulli only): ``G(v) = -F(v)``, the negative
  free energy.

The enumeration runs in chunks of states, in float64 whatever the parameters'
dtype, so its memory stays bounded and its result accurate.
"""

import numpy as np

from .. import ops
from ..ops import _softplus_
from .model import RBMParams, visible_free_energy

#: Largest layer that ``log_partition_exact`` enumerates (2**24 states).
MAX_EXACT_UNITS = 24
_CHUNK = 1 << 12


def all_states(n_units, start=0, stop=None, dtype=np.float64):
    """Binary states ``start .. stop - 1`` of ``n_units`` units, one per row."""
    stop = 2**n_units if stop is None else stop
    codes = np.arange(start, stop, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_units)) & 1).astype(dtype)


def _negative_energy_of_hidden(params, Hstates, T):
    """``G(h)``: the log of the visible layer summed out, times ``T``."""
    pre = Hstates @ params.W  # (m, V)
    pre += params.visible_bias
    if params.visible == "gaussian":
        G = 0.5 * np.einsum("ij,ij->i", pre, pre)
    else:
        G = _softplus_(pre, T).sum(axis=1)
    G += Hstates @ params.hidden_bias
    return G


def log_partition_exact(params, temperature, *, max_units=MAX_EXACT_UNITS):
    """Exact ``log Z`` of an RBM at ``temperature``.

    Enumerates the hidden layer (required for Gaussian visible units), or the
    visible layer when it is the smaller of two Bernoulli layers.

    Raises
    ------
    ValueError
        If the layer to enumerate has more than ``max_units`` units.
    """
    T = float(temperature)
    p = RBMParams(
        params.W.astype(np.float64),
        params.visible_bias.astype(np.float64),
        params.hidden_bias.astype(np.float64),
        params.visible,
    )
    over_visible = p.visible == "bernoulli" and p.n_visible < p.n_hidden
    n = p.n_visible if over_visible else p.n_hidden
    if n > max_units:
        raise ValueError(
            f"Exact log Z enumerates 2**{n} states of the smaller layer; at most "
            f"2**{max_units} are allowed. Use a smaller model or an estimate "
            "(annealed importance sampling)."
        )
    parts = []
    for start in range(0, 2**n, _CHUNK):
        S = all_states(n, start, min(2**n, start + _CHUNK))
        if over_visible:
            G = -visible_free_energy(p, S, T)
        else:
            G = _negative_energy_of_hidden(p, S, T)
        parts.append(ops.logsumexp(G, T))
    log_z = float(ops.logsumexp(np.array(parts), T)) / T
    if p.visible == "gaussian":
        log_z += 0.5 * p.n_visible * np.log(2 * np.pi * T)
    return log_z
