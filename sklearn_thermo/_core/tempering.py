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
``beta = 1`` chains, taken before the swaps.
"""

import numpy as np

from .gibbs import Gibbs
from .training import CDTrainer


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


class PTTrainer(CDTrainer):
    """CD trainer whose negative phase is parallel tempering.

    Parameters are those of :class:`CDTrainer` (always persistent), with
    ``n_chains`` chains per temperature and ``betas`` the inverse
    temperatures, ``betas[0] == 1`` and strictly decreasing.
    """

    def __init__(
        self, params, state, *, max_batch, n_chains, n_steps, temperature, runner, betas
    ):
        betas = np.asarray(betas, dtype=np.float64)
        self.betas = betas
        self.n_per = int(n_chains)
        super().__init__(
            params,
            state,
            max_batch=max_batch,
            persistent=True,
            n_chains=len(betas) * self.n_per,
            n_steps=n_steps,
            temperature=temperature,
            runner=runner,
        )
        dtype = params.dtype
        self.beta_rows = np.repeat(betas, self.n_per)[:, None].astype(dtype)
        self._pre = np.empty((self.n_chains, params.n_hidden), dtype)
        self.accepted = np.zeros(len(betas) - 1)
        self.attempted = np.zeros(len(betas) - 1)
        self._parity = 0
        # swaps run in the main thread between phases: a stream of their own
        self._swap_rng = np.random.Generator(
            np.random.PCG64(runner.streams[-1].integers(2**63))
        )

    def step(self, n, learning_rate, momentum, weight_decay, *, weights=None):
        """One update: positive phase, a PT sweep, the step, then the swaps.

        ``weights`` as in :meth:`CDTrainer.step`.
        """
        g, mb, nc = self.gibbs, self.max_batch, self.n_per
        lo = mb - n
        chains_v = self.Vs[mb : mb + self.n_chains]
        chains_p = self.Hs[mb : mb + self.n_chains]
        alpha = learning_rate / (self.T * n)
        g.up(self.Vs[lo:mb], self.Hs[lo:mb], post_scale=alpha)
        if weights is not None:
            self.Hs[lo:mb] *= weights[:, None]
        for k in range(self.n_steps):
            g.down(self._h, self.Pv, chains_v, beta=self.beta_rows)
            last = k == self.n_steps - 1
            g.up(
                chains_v,
                chains_p,
                self._h,
                beta=self.beta_rows,
                pre=self._pre if last else None,
            )
        chains_p[:nc] *= -alpha * n / nc  # the beta = 1 chains feed the gradient
        self._update(lo, mb + nc, n, nc, learning_rate, momentum, weight_decay, weights)
        self._swap(chains_v)

    def _swap(self, v):
        """Exchanges of the persistent (hidden) states; v is resampled anyway."""
        self.accepted += swap_replicas(
            self.params,
            self.T,
            self.betas,
            self.n_per,
            v,
            self._h,
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
