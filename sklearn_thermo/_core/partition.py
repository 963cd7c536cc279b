"""Partition functions of RBMs: exact for small ones, by enumerating the
smaller layer, and annealed importance sampling's estimate with its sandwich.

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
dtype, so its memory stays bounded and its result accurate. Larger models get
:func:`log_partition_estimate`: the runs of :mod:`.ais` put together (the
adaptive schedule's pilot or the moment-averaging path's fit, forward AIS
and, for a sandwich, reverse AIS from the forward chains' resampled states
moved by parallel tempering).
"""

import numpy as np

from .. import ops
from ..ops import _softplus_
from .ais import adaptive_schedule, log_partition_ais, log_partition_reverse_ais
from .gibbs import Gibbs
from .model import RBMParams, visible_free_energy
from .moment_path import FIT_CHAINS, MomentPath
from .tempering import sample_tempered
from .threads import SEED_MAX

#: Largest layer that ``log_partition_exact`` enumerates (2**24 states).
MAX_EXACT_UNITS = 24
_CHUNK = 1 << 12
#: the reverse run's starts are moved by parallel tempering for one in so
#: many of the forward run's Gibbs sweeps, over all rungs
PT_SHARE = 10


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


def tempered_samples(params, temperature, runner, ladder, v0, n_steps, rng):
    """The replicas at ``temperature`` after ``n_steps`` sweeps of parallel
    tempering over ``ladder`` (inverse temperatures from 1 down) started at
    ``v0``; the swaps draw from a generator seeded by the RandomState ``rng``."""
    swap_rng = np.random.default_rng(rng.randint(SEED_MAX))
    return sample_tempered(params, temperature, runner, ladder, v0, n_steps, swap_rng)


def log_partition_estimate(
    params,
    temperature,
    base_visible_bias,
    *,
    n_chains,
    n_betas,
    schedule,
    runner,
    rng,
    ladder,
    anchors=None,
    reverse=False,
    path="geometric",
):
    """AIS estimate of ``log Z``, and with ``reverse`` its sandwich.

    ``path``: ``"geometric"`` (:mod:`.ais`) or ``"moments"``
    (:mod:`.moment_path`, Bernoulli units; its anchors are fitted to the
    moments of ``FIT_CHAINS`` samples: ``anchors``, or base-rate samples
    without them, resampled and moved by parallel tempering as the reverse
    run's starts are; its chains jump near ``anchors`` as the geometric
    path's do). ``schedule``: ``"adaptive"``
    (:func:`~.ais.adaptive_schedule`'s pilot places the betas),
    ``"uniform"``, or the ``n_betas`` betas themselves (non-decreasing from 0
    to 1); the moment path takes ``"uniform"`` only. ``anchors``: as for
    :func:`~.ais.log_partition_ais`. ``rng``: a RandomState, for the
    resampling and the swaps. ``ladder``: inverse temperatures of parallel
    tempering (from 1 down). With ``reverse``, reverse AIS starts from the
    forward chains' last states, resampled by their weights and moved by
    ``n_betas / (PT_SHARE * len(ladder))`` sweeps of parallel tempering (a
    tenth of the forward run's Gibbs sweeps, over all rungs: enough to part
    the resampled copies), and gives the upper end. In expectation
    forward <= ``log Z`` <= reverse when those starts are the model's
    samples; the two cross by noise when they agree closely, and by more when
    the starts missed mass that the forward chains found.

    Returns
    -------
    estimate, lower, upper : float
        The forward estimate and, without ``reverse``, its own bounds
        (:func:`~.ais.log_partition_ais`); with it, the forward run's lower
        end and the reverse estimate plus three standard errors, or the
        estimate where that is higher.
    diagnostics : dict
        The settings; the pilots' effective sample sizes at their ends
        (``beta = 1`` forward, ``beta = 0`` reverse) and the range of the
        middle half of the betas (adaptive schedule); the
        forward run's weight diagnostics; with ``reverse``, the reverse run's
        (prefixed ``reverse_``), ``width``, ``crossing`` (forward less
        reverse) and ``reverse_upper``.
    """
    given = not isinstance(schedule, str)
    diagnostics = {
        "method": "ais",
        "path": path,
        "n_chains": n_chains,
        "n_betas": n_betas,
        "schedule": "given" if given else schedule,
    }
    n_steps = max(1, n_betas // (PT_SHARE * len(ladder)))
    samples = np.empty((n_chains, params.n_visible), params.dtype) if reverse else None
    if path == "moments":
        fit = dict(n_steps=n_steps, anchors=anchors, rng=rng, ladder=ladder)
        route = _moment_path(params, temperature, base_visible_bias, runner, **fit)
        estimate, lower, upper, forward = route.forward(
            n_chains, n_betas, runner, samples=samples, rng=rng
        )
        # whole steps per segment, at least one each
        diagnostics["n_betas"] = route.n_segments * route.steps(n_betas) + 1
    else:
        # what the pilot and the forward run share
        run = dict(n_chains=n_chains, n_betas=n_betas, runner=runner, anchors=anchors)
        betas = schedule if given else None
        if not given and schedule == "adaptive":
            betas, pilot_ess = adaptive_schedule(
                params, temperature, base_visible_bias, **run
            )
            diagnostics["pilot_effective_sample_size"] = float(pilot_ess[0, -1])
            diagnostics["reverse_pilot_effective_sample_size"] = float(pilot_ess[1, -1])
            diagnostics["dense_betas"] = tuple(
                float(b) for b in np.quantile(betas, [0.25, 0.75])
            )
        estimate, lower, upper, forward = log_partition_ais(
            params,
            temperature,
            base_visible_bias,
            **run,
            samples=samples,
            rng=rng,
            betas=betas,
        )
    diagnostics.update(forward)
    if not reverse:
        return estimate, lower, upper, diagnostics
    with np.errstate(over="ignore", invalid="ignore"):
        v0 = tempered_samples(
            params, temperature, runner, ladder, samples, n_steps, rng
        )
    if path == "moments":
        back, spread, backward = route.backward(v0, n_betas, runner)
    else:
        back, spread, backward = log_partition_reverse_ais(
            params,
            temperature,
            base_visible_bias,
            v0=v0,
            n_betas=n_betas,
            runner=runner,
            anchors=anchors,
            betas=betas,
        )
    upper = max(back + spread, estimate)
    diagnostics.update(
        {f"reverse_{k}": v for k, v in backward.items()},
        width=upper - lower,
        crossing=float(estimate - back),
        reverse_upper=float(back + spread),
    )
    return estimate, lower, upper, diagnostics


def _moment_path(
    params,
    temperature,
    base_visible_bias,
    runner,
    *,
    n_steps,
    anchors,
    rng,
    ladder,
):
    """:class:`~.moment_path.MomentPath` fitted to ``FIT_CHAINS`` samples of
    the model, however many chains the annealing runs (the moments need
    them, and the fit costs little beside the annealing): ``anchors`` (training rows) or
    base-rate samples, resampled, then ``n_steps`` sweeps of parallel
    tempering; its chains jump near ``anchors``."""
    n = FIT_CHAINS
    if anchors is not None and len(anchors):
        starts = anchors[rng.randint(len(anchors), size=n)]
    else:
        starts = np.empty((n, params.n_visible), params.dtype)
        bias = base_visible_bias.astype(params.dtype, copy=False)
        Gibbs(params, temperature, runner).base_rate(
            np.empty_like(starts), starts, bias
        )
    with np.errstate(over="ignore", invalid="ignore"):
        fitted = tempered_samples(
            params, temperature, runner, ladder, starts, n_steps, rng
        )
    return MomentPath.fit(
        params,
        temperature,
        base_visible_bias,
        fitted,
        runner=runner,
        jump_anchors=anchors,
    )
