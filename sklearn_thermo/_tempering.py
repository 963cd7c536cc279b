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

from ._cd import CDTrainer


class PTTrainer(CDTrainer):
    """CD trainer whose negative phase is parallel tempering.

    Parameters are those of :class:`CDTrainer` (always persistent), with
    ``n_chains`` chains per temperature and ``betas`` the inverse
    temperatures, ``betas[0] == 1`` and strictly decreasing.
    """

    def __init__(self, params, state, *, max_batch, n_chains, n_steps,
                 temperature, runner, betas):
        betas = np.asarray(betas, dtype=np.float64)
        self.betas = betas
        self.n_per = int(n_chains)
        super().__init__(params, state, max_batch=max_batch, persistent=True,
                         n_chains=len(betas) * self.n_per, n_steps=n_steps,
                         temperature=temperature, runner=runner)
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

    def step(self, n, learning_rate, momentum, weight_decay):
        """One update: positive phase, a PT sweep, the step, then the swaps."""
        g, mb, nc = self.gibbs, self.max_batch, self.n_per
        lo = mb - n
        chains_v = self.Vs[mb : mb + self.n_chains]
        chains_p = self.Hs[mb : mb + self.n_chains]
        alpha = learning_rate / (self.T * n)
        g.up(self.Vs[lo:mb], self.Hs[lo:mb], post_scale=alpha)
        for k in range(self.n_steps):
            g.down(self._h, self.Pv, chains_v, beta=self.beta_rows)
            last = k == self.n_steps - 1
            g.up(chains_v, chains_p, self._h, beta=self.beta_rows,
                 pre=self._pre if last else None)
        chains_p[:nc] *= -alpha * n / nc  # the beta = 1 chains feed the gradient
        self._update(lo, mb + nc, n, nc, learning_rate, momentum, weight_decay)
        self._swap(chains_v)

    def _swap(self, v):
        """Metropolis exchanges of neighbouring replicas' joint states."""
        p, h, nc = self.params, self._h, self.n_per
        # E(v, h) = [|v|^2 / 2] - a.v - h.(c + W v); _pre holds c + W v
        E = -(v @ p.visible_bias).astype(np.float64)
        E -= np.einsum("ij,ij->i", h, self._pre, dtype=np.float64)
        if p.visible == "gaussian":
            E += 0.5 * np.einsum("ij,ij->i", v, v, dtype=np.float64)
        for k in range(self._parity, len(self.betas) - 1, 2):
            i = slice(k * nc, (k + 1) * nc)
            j = slice((k + 1) * nc, (k + 2) * nc)
            log_ratio = (self.betas[k] - self.betas[k + 1]) * (E[i] - E[j]) / self.T
            accept = np.log(self._swap_rng.random(nc)) < log_ratio
            self.accepted[k] += accept.sum()
            self.attempted[k] += nc
            if accept.any():
                rows_i = np.flatnonzero(accept) + i.start
                rows_j = np.flatnonzero(accept) + j.start
                h[rows_i], h[rows_j] = h[rows_j], h[rows_i].copy()
        self._parity ^= 1

    @property
    def acceptance_rates(self):
        """Fraction of accepted swaps per neighbouring pair."""
        return self.accepted / np.maximum(self.attempted, 1)
