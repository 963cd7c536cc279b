"""Parallel tempering (replica exchange) for RBM training.

Knows nothing of scikit-learn. ``n_chains`` persistent chains run at each
inverse temperature ``1 = beta_0 > beta_1 > ... > beta_{K-1}`` (relative to
the model's temperature ``T``): a chain at ``beta`` samples
``p_beta(v, h) ∝ exp(-beta E(v, h) / T)``. After every Gibbs sweep, chains at
neighbouring temperatures exchange their states by the Metropolis rule

.. math::

    P(\\text{swap}) = \\min\\left(1, \\exp\\left(
        \\frac{(\\beta_k - \\beta_{k+1}) (E_k - E_{k+1})}{T}\\right)\\right),

even pairs ``(0,1), (2,3) ...`` and odd pairs ``(1,2) ...`` in turn
(Desjardins et al., AISTATS 2010). The negative statistics come from the
``beta = 1`` chains, taken before the swaps. :class:`TemperedChains` is the
training strategy; :func:`sample_tempered` and :func:`sample_annealed`
sample a fitted model.
"""

import numpy as np

from .gibbs import Gibbs
from .training import PersistentChains


def swap_replicas(params, temperature, betas, n_per, v, h, pre, rng, parity, also=()):
    """Metropolis exchanges between neighbouring temperatures, in place.

    Rows ``k * n_per : (k + 1) * n_per`` of ``v``/``h`` are the replicas at
    ``betas[k]``; ``pre`` holds ``c + W v``. Swaps rows of ``h`` and of every
    array in ``also``. Returns the number of accepted swaps per pair.
    """
    E = -(v @ params.visible_bias).astype(np.float64)
    E -= np.einsum("ij,ij->i", h, pre, dtype=np.float64)
    if params.visible == "gaussian":
        E += 0.5 * np.einsum("ij,ij->i", v, v, dtype=np.float64)
    accepted = np.zeros(len(betas) - 1)
    for k in range(parity, len(betas) - 1, 2):
        i0, j0 = k * n_per, (k + 1) * n_per
        log_ratio = (
            (betas[k] - betas[k + 1])
            * (E[i0 : i0 + n_per] - E[j0 : j0 + n_per])
            / temperature
        )
        accept = np.flatnonzero(np.log(rng.random(n_per)) < log_ratio)
        accepted[k] = len(accept)
        for a in (h, *also):
            a[accept + i0], a[accept + j0] = a[accept + j0], a[accept + i0].copy()
    return accepted


def sample_tempered(params, temperature, runner, betas, v0, n_steps, rng):
    """Parallel-tempering sampling: the ``beta = 1`` replicas after n_steps sweeps.

    ``len(v0)`` replicas per temperature start from ``v0``.
    """
    n = len(v0)
    beta_rows = np.repeat(betas, n)[:, None].astype(params.dtype)
    v = np.tile(np.asarray(v0, dtype=params.dtype), (len(betas), 1))
    h = np.empty((len(v), params.n_hidden), params.dtype)
    Ph, pre = np.empty_like(h), np.empty_like(h)
    Pv = np.empty_like(v)
    g = Gibbs(params, temperature, runner)
    g.up(v, Ph, h, beta=beta_rows)
    for step in range(n_steps):
        g.down(h, Pv, v, beta=beta_rows)
        g.up(v, Ph, h, beta=beta_rows, pre=pre)
        swap_replicas(
            params, temperature, betas, n, v, h, pre, rng, step % 2, also=(v,)
        )
    return v[:n].copy()


def sample_annealed(params, temperature, runner, v0, n_steps, max_temperature):
    """Annealed sampling: Gibbs sweeps cooling geometrically from
    ``max_temperature * T`` to ``T`` over ``n_steps`` sweeps."""
    v = np.array(v0, dtype=params.dtype, copy=True)
    h = np.empty((len(v), params.n_hidden), params.dtype)
    Ph, Pv = np.empty_like(h), np.empty_like(v)
    g = Gibbs(params, temperature, runner)
    for t in temperature * np.geomspace(max_temperature, 1.0, n_steps):
        g.set_temperature(t)
        g.up(v, Ph, h)
        g.down(h, Pv, v)
    return v


class TemperedChains(PersistentChains):
    """Parallel tempering's negative phase for :class:`~.training.CDTrainer`.

    ``n_chains`` persistent chains at each inverse temperature of ``betas``
    (``betas[0] == 1``, strictly decreasing), a Gibbs sweep of all of them
    per update, then Metropolis swaps between neighbours. The gradient uses
    the ``beta = 1`` chains, taken before the swaps.
    """

    def __init__(self, n_chains, betas):
        self.betas = np.asarray(betas, dtype=np.float64)
        self.n_per = int(n_chains)
        super().__init__(len(self.betas) * self.n_per)

    def setup(self, trainer):
        super().setup(trainer)
        dtype = trainer.params.dtype
        self.beta_rows = np.repeat(self.betas, self.n_per)[:, None].astype(dtype)
        self._pre = np.empty((self.n_chains, trainer.params.n_hidden), dtype)
        self.accepted = np.zeros(len(self.betas) - 1)
        self.attempted = np.zeros(len(self.betas) - 1)
        self._parity = 0
        # swaps run in the main thread between phases: a stream of their own
        self._swap_rng = np.random.Generator(
            np.random.PCG64(trainer.runner.streams[-1].integers(2**63))
        )
        self._params, self._T = trainer.params, trainer.T

    def run(self, t, n, alpha, positive_products):
        g, mb, nc = t.gibbs, t.max_batch, self.n_per
        chains_v = t.Vs[mb : mb + self.n_chains]
        chains_p = t.Hs[mb : mb + self.n_chains]
        g.up(t.Vs[mb - n : mb], t.Hs[mb - n : mb], post_scale=alpha)
        for k in range(t.n_steps):
            g.down(self.h, t.Pv, chains_v, beta=self.beta_rows)
            last = k == t.n_steps - 1
            g.up(
                chains_v,
                chains_p,
                self.h,
                beta=self.beta_rows,
                pre=self._pre if last else None,
            )
        chains_p[:nc] *= -alpha * n / nc  # the beta = 1 chains feed the gradient
        return nc

    def after_update(self, t):
        """Exchanges of the persistent (hidden) states; v is resampled anyway."""
        v = t.Vs[t.max_batch : t.max_batch + self.n_chains]
        self.accepted += swap_replicas(
            self._params,
            self._T,
            self.betas,
            self.n_per,
            v,
            self.h,
            self._pre,
            self._swap_rng,
            self._parity,
        )
        pairs = np.arange(len(self.betas) - 1)
        self.attempted[pairs % 2 == self._parity] += self.n_per
        self._parity ^= 1

    @property
    def acceptance_rates(self):
        """Fraction of accepted swaps per neighbouring pair."""
        return self.accepted / np.maximum(self.attempted, 1)
