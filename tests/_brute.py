"""Brute-force references for tiny RBMs: every joint state enumerated.

Written independently of the package (scipy's logsumexp, explicit energies)
so that tests compare two different computations.
"""

import itertools

import numpy as np
from scipy.special import logsumexp

from sklearn_thermo._core.model import RBMParams


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def random_params(n_visible, n_hidden, visible="bernoulli", scale=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return RBMParams(
        rng.normal(0, scale, (n_hidden, n_visible)),
        rng.normal(0, scale, n_visible),
        rng.normal(0, scale, n_hidden),
        visible,
    )


def energy(p, v, h):
    """E(v, h) for rows v (n, V) and h (m, H): an (n, m) matrix."""
    E = -(v @ p.visible_bias)[:, None] - (h @ p.hidden_bias)[None, :] - v @ p.W.T @ h.T
    if p.visible == "gaussian":
        E += 0.5 * (v**2).sum(axis=1)[:, None]
    return E


def brute_free_energy(p, X, T):
    Hs = states(p.n_hidden)
    return -T * logsumexp(-energy(p, X, Hs) / T, axis=1)


def log_partition_bernoulli(p, T):
    Vs, Hs = states(p.n_visible), states(p.n_hidden)
    return logsumexp(-energy(p, Vs, Hs) / T)


def joint_probabilities(p, T):
    """p(v, h) over all Bernoulli states, as an (2**V, 2**H) matrix."""
    Vs, Hs = states(p.n_visible), states(p.n_hidden)
    logp = -energy(p, Vs, Hs) / T
    return Vs, Hs, np.exp(logp - logsumexp(logp))


def log_likelihood_gradient(p, X, T):
    """Exact gradient of the mean log-likelihood of Bernoulli rows X."""
    Vs, Hs, P = joint_probabilities(p, T)
    ph_data = 1 / (1 + np.exp(-(X @ p.W.T + p.hidden_bias) / T))
    pv = P.sum(axis=1)
    ph = P.sum(axis=0)
    gW = (ph_data.T @ X / len(X) - Hs.T @ P.T @ Vs) / T
    ga = (X.mean(axis=0) - pv @ Vs) / T
    gc = (ph_data.mean(axis=0) - ph @ Hs) / T
    return gW, ga, gc
