"""Annealed importance sampling (AIS) estimates of an RBM's log partition function.

Knows nothing of scikit-learn. Following Neal (2001) and Salakhutdinov &
Murray (2008), chains start in a base-rate model A (independent visible units
with biases ``a_A``, hidden units free) and move through the distributions

.. math::

    f_\\beta(v) = \\exp\\left(\\frac{(1 - \\beta) a_A + \\beta a_B}{T} \\cdot v
      \\,[-\\tfrac{\\lVert v \\rVert^2}{2T}]\\right)
      \\prod_j \\left(1 + e^{\\beta (c_j + W_j v) / T}\\right),
    \\qquad 0 = \\beta_0 < \\dots < \\beta_K = 1,

by one Gibbs step at each ``beta_k`` (the compiled kernel
:func:`~._kernels.ais_anneal`: the same counter-based draws as the core's
Gibbs half-steps, the chains stored unit-major), accumulating the log
importance weight ``sum_k log f_{beta_k}(v_k) - log f_{beta_{k-1}}(v_k)`` in
float64. Then
``log Z_B = log Z_A + log mean(w)``, below ``log Z_B`` in expectation. Reverse
AIS runs the same path from samples of B down to A, for an estimate above it
(:func:`log_partition_reverse_ais`). The chains are independent: they are
vectorised within blocks of rows, and each block is annealed from start to
end on one thread (BLAS at one thread, its own random streams), so that two
cores run two blocks with no synchronisation per ``beta`` -- faster than
sharing every small matrix product between BLAS threads.
"""

import numpy as np

from ..ops import _softplus_
from . import _kernels
from .gibbs import Gibbs
from .threads import BlockRunner, blas_capped, row_blocks

_CHAINS_PER_BLOCK = 32  # fewest chains per block: smaller products lose speed


def _base_log_partition(a_A, n_hidden, visible, T):
    """``log Z_A`` of the base model, hidden units free (each a factor 2)."""
    a = a_A.astype(np.float64)
    if visible == "bernoulli":
        log_z = float(_softplus_(a / T, 1.0).sum())
    else:
        log_z = float(a @ a) / (2 * T) + 0.5 * len(a) * np.log(2 * np.pi * T)
    return log_z + n_hidden * np.log(2.0)


def _log_weights(
    params,
    T,
    a_A,
    betas,
    n_chains,
    runner,
    v0=None,
    final=None,
    anchors=None,
    jumps=None,
    record_at=None,
    record=None,
):
    """Log importance weights of ``n_chains`` chains annealed through ``betas``
    (in blocks on the runner's threads, the same for any number of them),
    started at the base model's exact samples, or at ``v0``; ``final``
    (n_chains, n_visible), if given, receives the chains' last states.
    ``anchors``: binary states that :class:`_Jumper` proposes moves near
    (Bernoulli units); ``jumps`` (an int64 array of 2), if given, receives
    the numbers of jumps accepted and tried. ``record`` (len(record_at),
    n_chains), if given, receives the log weights as they stand at the
    indices ``record_at`` (increasing) of ``betas``."""
    blocks = row_blocks(n_chains, 1, _CHAINS_PER_BLOCK)
    # one seed per block from the runner's streams: block k always gets the same
    seeds = [int(runner.streams[k].integers(2**63)) for k in range(len(blocks))]
    log_w = np.zeros(n_chains)
    counts = np.zeros((len(blocks), 2), np.int64)  # accepted, tried: per block
    # made once and read by every block: the kernel's weights (W with the
    # visible term a_B - a_A as a last row; with jumps, a_A and ones below
    # it) and W's transpose
    jumper = None
    if anchors is not None and params.visible == "bernoulli" and len(anchors):
        jumper = _Jumper(params, a_A, anchors)
        W = jumper.weights
    else:
        W = np.vstack([params.W, params.visible_bias - a_A])
    weights = (W, np.ascontiguousarray(params.W.T))

    def anneal_block(k):
        rows = blocks[k]
        start = None if v0 is None else v0[rows]
        with BlockRunner(1, seeds[k], limit_blas=False) as own:
            log_w[rows], counts[k] = _anneal(
                params,
                T,
                a_A,
                betas,
                rows.stop - rows.start,
                own,
                weights=weights,
                check=runner.check,
                v0=start,
                final=None if final is None else final[rows],
                jumper=jumper,
                record_at=record_at,
                record=None if record is None else record[:, rows],
            )

    # BLAS at one thread also when the blocks run inline (``each`` caps it
    # only on its pool): the same products, hence the same result, either way
    with blas_capped():
        runner.each(anneal_block, list(range(len(blocks))), choose=False)
    if jumps is not None:
        jumps[:] = counts.sum(axis=0)
    return log_w


def _betas(betas, n_betas):
    """The schedule ``betas`` as float64, or ``n_betas`` evenly spaced; a
    copy, since the kernel takes writable buffers and the caller's may be
    read-only."""
    if betas is None:
        return np.linspace(0.0, 1.0, n_betas)
    return np.array(betas, dtype=np.float64)


#: the pilot of :func:`adaptive_schedule`: one beta in this many of the
#: schedule's, evenly spaced, watched over this many equal stretches of beta
_PILOT_FRACTION = 10
_PILOT_STRETCHES = 50
#: ... and at least this many betas: a shorter pilot loses its chains at
#: once, and its losses say little about where
_PILOT_MIN = 500
#: a loss of effective sample size draws betas to the stretches up to this
#: far (in beta) before it, where the chains settle into the modes they keep
_PILOT_LEAD = 0.1
#: the share of the betas placed by the pilot's losses; the rest evenly
_DENSE_SHARE = 0.7


def pilot_length(n_betas):
    """The number of betas of :func:`adaptive_schedule`'s pilot for a
    schedule of ``n_betas``: a tenth of them, at least ``_PILOT_MIN``, and a
    whole number in each of its stretches."""
    per_stretch = -(-max(_PILOT_MIN, n_betas // _PILOT_FRACTION) // _PILOT_STRETCHES)
    return _PILOT_STRETCHES * per_stretch + 1


def _pilot_ess(params, T, a_A, betas, n_chains, runner, ends, anchors, **kw):
    """The ESS of a pilot's weights at ``betas[ends]`` (``ends[0] = 0``: all
    ``n_chains``), and its log weights at the end."""
    record = np.empty((len(ends) - 1, n_chains))
    log_w = _log_weights(
        params,
        T,
        a_A,
        betas,
        n_chains,
        runner,
        anchors=anchors,
        record_at=list(ends[1:]),
        record=record,
        **kw,
    )
    ess = [float(n_chains)]
    ess += [weight_diagnostics(w)["effective_sample_size"] for w in record]
    return np.array(ess), log_w


def adaptive_schedule(
    params, temperature, base_visible_bias, *, n_chains, n_betas, runner, anchors=None
):
    """A schedule of ``n_betas`` increasing betas from 0 to 1, dense where
    either direction of AIS loses its chains, from two short pilot runs.

    On a sharp model the Gibbs chains follow the annealed distributions
    until, over a narrow range of beta, the distribution splits into modes
    that they can no longer cross: the chains that settle in the wrong ones
    there get small weights, and the estimate rests on a few chains. Evenly
    spaced betas give that range only its share. The forward pilot, AIS with
    one beta in ``_PILOT_FRACTION`` of the schedule, evenly spaced, records
    the effective sample size (ESS) of its weights at the ends of
    ``_PILOT_STRETCHES`` equal stretches of beta. The reverse pilot starts
    from the forward pilot's last states, resampled by their weights, and
    anneals them back down the same betas, recording its ESS at the same
    ends; it loses its chains elsewhere, mostly in its first steps down from
    ``beta = 1``. Each stretch gets

    .. math::

        \\rho_k \\propto \\frac{1 - s}{K}
        + s \\frac{\\ell_k + r_k}{\\sum_j (\\ell_j + r_j)}, \\qquad
        \\ell_k = \\sum_{j \\ge k,\\ \\beta_{j} - \\beta_{k} \\le \\delta}
        f_j, \\qquad
        r_k = \\sum_{j \\le k,\\ \\beta_{k} - \\beta_{j} \\le \\delta} b_j,

    of the betas (evenly spaced within it; ``s = _DENSE_SHARE``, ``K`` the
    stretches, ``delta = _PILOT_LEAD``), where ``f_j`` and ``b_j`` are the
    losses of log ESS over stretch ``j`` (``max(0, log ESS before - log ESS
    after)``) of the forward and the reverse pilot. Each loss is also
    credited to the stretches just before it in the pilot's own direction,
    where the chains choose their modes (the pilots, annealing faster, lose
    them later than a longer run would). Where neither ESS falls, the
    schedule is even.

    The pilots draw from the runner's streams (the resampling's one uniform
    too), so the schedule depends on the seed only (not on the number of
    threads); and it is fixed before the runs that use it, which stay
    unbiased (a schedule is any sequence of distributions; Neal 2001).

    Returns
    -------
    betas : ndarray of shape (n_betas,)
    pilot_ess : ndarray of shape (2, _PILOT_STRETCHES + 1)
        The forward pilot's ESS at the stretches' starts and at ``beta = 1``
        (row 0, by increasing beta), and the reverse pilot's at the same
        betas (row 1, in the order it ran them: from ``beta = 1`` down).
    """
    K = _PILOT_STRETCHES
    T = float(temperature)
    a_A = base_visible_bias.astype(params.dtype, copy=False)
    pilot = np.linspace(0.0, 1.0, pilot_length(n_betas))
    ends = np.arange(0, len(pilot), (len(pilot) - 1) // K)
    last = np.empty((n_chains, params.n_visible), params.dtype)
    args = (params, T, a_A)
    forward, log_w = _pilot_ess(
        *args, pilot, n_chains, runner, ends, anchors, final=last
    )
    starts = _resample(last, log_w, runner.streams[0].random())
    reverse, _ = _pilot_ess(
        *args, pilot[::-1].copy(), n_chains, runner, ends, anchors, v0=starts
    )
    edges = pilot[ends][1:]  # the stretches' upper ends
    near = np.abs(edges[:, None] - edges[None, :]) <= _PILOT_LEAD + 1e-12  # [j, k]
    after = np.arange(K)[:, None] >= np.arange(K)[None, :]  # j >= k
    loss_f = np.maximum(0.0, -np.diff(np.log(forward)))
    # the reverse pilot's stretch i (from the top) is stretch K - 1 - i
    loss_r = np.maximum(0.0, -np.diff(np.log(reverse)))[::-1]
    lead = ((near & after) * loss_f[:, None]).sum(axis=0)  # losses at j >= k
    lead += ((near & after.T) * loss_r[:, None]).sum(axis=0)  # ... at j <= k
    density = np.full(K, (1.0 - _DENSE_SHARE) / K)
    if lead.sum() > 0:
        density += _DENSE_SHARE * lead / lead.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(density)])
    cumulative /= cumulative[-1]
    betas = np.interp(np.linspace(0.0, 1.0, n_betas), cumulative, pilot[ends])
    betas[0], betas[-1] = 0.0, 1.0
    return betas, np.vstack([forward, reverse])


def _mean_weight(log_w):
    """``(log r, down, up)``: the log of the mean weight ``r``, and how far
    ``log(r -+ 3 s)`` lie below and above it (``s`` its standard error). Where
    ``r - 3 s <= 0``, ``down`` is ``3 s / r`` (the delta method), so that it is
    always finite."""
    shift = float(log_w.max())
    w = np.exp(log_w - shift)
    r = float(w.mean())
    rel = float(w.std(ddof=1) / np.sqrt(len(w))) / r if len(w) > 1 else 0.0
    down = -np.log1p(-3 * rel) if rel < 1 / 3 else 3 * rel
    return shift + np.log(r), float(down), float(np.log1p(3 * rel))


def weight_diagnostics(log_w):
    """What the log importance weights say about their own reliability.

    ``effective_sample_size``: Kish's ``(sum w)^2 / sum w^2``, between 1 (one
    chain carries the estimate) and the number of chains (all weights
    equal). ``log_weight_variance``: the variance of ``log w``; at zero every
    chain reached the same weight. Both describe the chains that ran only:
    chains that all miss the same mode agree with each other, so a large
    effective sample size is no evidence that the estimate is right (the
    sandwich's width is).
    """
    log_w = np.asarray(log_w, dtype=np.float64)
    w = np.exp(log_w - log_w.max())
    return {
        "effective_sample_size": float(w.sum() ** 2 / (w @ w)),
        "log_weight_variance": float(log_w.var(ddof=1)) if len(log_w) > 1 else 0.0,
    }


def _resample(states, log_w, u):
    """Systematic resampling: ``len(states)`` rows of ``states``, row ``i``
    as often as ``n w_i / sum(w)`` rounds to (up or down), ``u`` in [0, 1)
    the one uniform it draws."""
    n = len(states)
    w = np.exp(log_w - log_w.max())
    cdf = np.cumsum(w / w.sum())
    picks = np.searchsorted(cdf, (u + np.arange(n)) / n, side="right")
    return states[np.minimum(picks, n - 1)]


def log_partition_ais(
    params,
    temperature,
    base_visible_bias,
    *,
    n_chains,
    n_betas,
    runner,
    anchors=None,
    samples=None,
    rng=None,
    betas=None,
):
    """AIS estimate of ``log Z`` with bounds.

    ``betas``: the schedule, increasing from 0 to 1 (such as
    :func:`adaptive_schedule`'s); by default ``n_betas`` evenly spaced.

    ``anchors`` (Bernoulli units): binary states, such as training rows, near
    which the chains also try Metropolis-Hastings jumps (:class:`_Jumper`).
    ``samples`` (n_chains, n_visible), if given, receives approximate samples
    of the model: the chains' last states resampled in proportion to their
    importance weights (systematic resampling, one uniform from the
    RandomState ``rng``), as a sequential Monte Carlo sampler ends.

    The chains are independent, so they are annealed in blocks of at least
    ``_CHAINS_PER_BLOCK`` rows (fixed by their number alone), each block on one
    of the runner's threads from start to end with its own random streams and
    BLAS at one thread: no synchronisation per ``beta``, and the same result
    for any number of threads. In expectation the estimate is below
    ``log Z`` (Jensen's inequality on an unbiased estimate of ``Z``): a
    stochastic lower bound.

    Returns
    -------
    estimate, lower, upper : float
        ``upper``/``lower`` are ``log(r +- 3 s)``, ``r`` the mean importance
        weight and ``s`` its standard error; where ``r - 3 s <= 0`` the lower
        bound is taken in log space instead, ``estimate - 3 s / r`` (the
        delta method), so that both bounds are always finite.
    diagnostics : dict
        :func:`weight_diagnostics` of the chains' weights and, where the
        chains tried jumps, ``"jump_acceptance"``: the fraction accepted.
    """
    T = float(temperature)
    a_A = base_visible_bias.astype(params.dtype, copy=False)
    betas = _betas(betas, n_betas)
    jumps = np.zeros(2, np.int64)
    final = None if samples is None else np.empty_like(samples)
    log_w = _log_weights(
        params,
        T,
        a_A,
        betas,
        n_chains,
        runner,
        final=final,
        anchors=anchors,
        jumps=jumps,
    )
    if samples is not None:
        samples[:] = _resample(final, log_w, rng.random_sample())
    log_z_A = _base_log_partition(a_A, params.n_hidden, params.visible, T)
    log_r, down, up = _mean_weight(log_w)
    estimate = log_z_A + log_r
    diagnostics = _with_jumps(log_w, jumps)
    return (
        float(estimate),
        float(estimate - down),
        float(estimate + up),
        diagnostics,
    )


def log_partition_reverse_ais(
    params,
    temperature,
    base_visible_bias,
    *,
    v0,
    n_betas,
    runner,
    anchors=None,
    betas=None,
):
    """Reverse AIS: a stochastic upper bound on ``log Z``.

    The chains start at samples ``v0`` of the model (``beta = 1``) and are
    annealed back to the base model, accumulating
    ``sum_k log f_{beta_{k-1}}(v) - log f_{beta_k}(v)``; with exact samples the
    mean weight is an unbiased estimate of ``Z_A / Z``, so
    ``log Z_A - log mean(w)`` is above ``log Z`` in expectation (Grosse,
    Ghahramani & Adams 2015). Samples that have not reached equilibrium (a
    mode the sampler missed) weaken that guarantee: the gap to the forward
    estimate then measures both the annealing's and the sampler's shortfall.
    ``anchors``: as for :func:`log_partition_ais`; the jumps leave every
    annealed distribution invariant in this direction too, and let chains
    that start in one mode of a sharp model leave it as beta falls.
    ``betas``: the forward schedule (increasing), run here backwards; by
    default ``n_betas`` evenly spaced.

    Returns
    -------
    estimate, spread : float
        The estimate, and ``-log(1 - 3 s / r)`` (``3 s / r`` where that is not
        defined): three standard errors of the mean weight, in log units.
    diagnostics : dict
        :func:`weight_diagnostics` of the chains' weights.
    """
    T = float(temperature)
    a_A = base_visible_bias.astype(params.dtype, copy=False)
    betas = np.ascontiguousarray(_betas(betas, n_betas)[::-1])
    jumps = np.zeros(2, np.int64)
    log_w = _log_weights(
        params, T, a_A, betas, len(v0), runner, v0=v0, anchors=anchors, jumps=jumps
    )
    log_z_A = _base_log_partition(a_A, params.n_hidden, params.visible, T)
    log_r, down, _ = _mean_weight(log_w)
    diagnostics = _with_jumps(log_w, jumps)
    # log Z = log Z_A - log r: the low side of r is the high side of log Z
    return float(log_z_A - log_r), down, diagnostics


def _with_jumps(log_w, jumps):
    """:func:`weight_diagnostics` and, where the chains tried jumps
    (``jumps``: accepted, tried), ``"jump_acceptance"``: the fraction
    accepted."""
    diagnostics = weight_diagnostics(log_w)
    if jumps[1]:
        diagnostics["jump_acceptance"] = float(jumps[0] / jumps[1])
    return diagnostics


_CHECK_EVERY = 256  # betas between two looks at whether the caller gave up
#: betas between two jump attempts, and the bit-flip rate of their proposals
_JUMP_EVERY = 16
_JUMP_FLIP = 0.01
#: ... and from this beta on, between two attempts: the modes that the Gibbs
#: steps cannot reach open in the upper half of the schedule
_JUMP_DENSE = 0.5
_JUMP_EVERY_DENSE = 2


class _Jumper:
    """Metropolis-Hastings moves of AIS chains to states near anchors: the
    tables of the compiled move (:func:`~._kernels.ais_jump`) and where along
    the schedule it is made.

    The proposal is independent of the current state: a random anchor (a
    binary state, e.g. a training row) with each bit flipped with probability
    ``flip``. Accepted with probability ``min(1, f(v') q(v) / (f(v) q(v')))``,
    so the move leaves ``f_beta`` invariant and AIS stays unbiased whatever
    the anchors; near ``beta = 1`` it lets a chain reach a mode that the
    Gibbs steps, stuck in another one, cannot (Neal 2001 allows any such
    transition).

    The ratio needs the products of both states with the rows ``W``,
    ``a_B - a_A``, ``a_A`` and ones (:attr:`weights`, which the annealing
    kernel multiplies for its next step anyway), and both states' Hamming
    distances to every anchor: a proposal's are its anchor's
    (:attr:`anchor_dist`) moved by its few flipped bits; the current state's
    are computed only for the chains whose move the other terms leave
    possible (popcounts of the packed bits, :attr:`anchor_words`).
    """

    def __init__(self, params, a_A, anchors, flip=_JUMP_FLIP):
        if not 0 < flip < 0.5:
            raise ValueError(f"flip must be in (0, 1/2); got {flip!r}")
        dtype = params.dtype
        anchors = np.ascontiguousarray(anchors, dtype=dtype)
        n_visible = params.n_visible
        #: ``log r``, ``r = flip / (1 - flip)``: a proposal at Hamming
        #: distance d from its anchor has density proportional to ``r^d``
        self.log_odds = float(np.log(flip) - np.log1p(-flip))
        self.log1m = float(np.log1p(-flip))
        self.pow_r = np.exp(self.log_odds * np.arange(n_visible + 1))
        self.anchors = anchors
        bits = anchors != 0
        self.bits_t = np.ascontiguousarray(bits.T, dtype=np.uint8)
        n_words = (n_visible + 63) // 64
        padded = np.zeros((len(bits), n_words * 64), np.uint64)
        padded[:, :n_visible] = bits
        #: the anchors' bits packed 64 to a word (bit u of word u // 64)
        self.anchor_words = np.bitwise_or.reduce(
            padded.reshape(len(bits), n_words, 64) << np.arange(64, dtype=np.uint64),
            axis=2,
        )
        self.anchor_sizes = bits.sum(axis=1, dtype=np.int32)
        # counts below 2^53: exact in float64, and BLAS's speed
        overlap = np.rint(bits.astype(np.float64) @ bits.T.astype(np.float64))
        self.anchor_dist = np.ascontiguousarray(
            self.anchor_sizes[:, None] + self.anchor_sizes[None, :] - 2 * overlap,
            dtype=np.int32,
        )
        #: the kernel's rows (W, a_B - a_A), then a_A and ones
        self.weights = np.vstack(
            [params.W, params.visible_bias - a_A, a_A, np.ones(n_visible, dtype)]
        ).astype(dtype, copy=False)
        self.weights_t = np.ascontiguousarray(self.weights.T)
        # chain-major, as the proposals are built
        self.anchor_products = anchors @ self.weights_t

    @staticmethod
    def schedule(betas):
        """One flag per beta: jump after the step to it. Every
        ``_JUMP_EVERY`` betas, and every ``_JUMP_EVERY_DENSE`` from
        ``beta = _JUMP_DENSE`` on."""
        flags = np.zeros(len(betas), np.uint8)
        k = 0
        while k < len(betas) - 1:
            k = min(
                k + (_JUMP_EVERY_DENSE if betas[k] >= _JUMP_DENSE else _JUMP_EVERY),
                len(betas) - 1,
            )
            flags[k] = 1
        return flags


def _anneal(
    params,
    T,
    a_A,
    betas,
    n_chains,
    runner,
    *,
    weights,
    check=None,
    v0=None,
    final=None,
    jumper=None,
    record_at=None,
    record=None,
):
    """Log importance weights of ``n_chains`` chains annealed through ``betas``
    (increasing or decreasing), started at ``v0`` or at exact samples of the
    base model. ``weights`` is the kernel's pair ``(W with a_B - a_A as a last
    row [and the jumper's rows below], W^T)``.

    The annealing is the compiled :func:`~._kernels.ais_anneal` (one Gibbs
    step per ``beta``, the weight accumulated in float64), called on
    stretches of ``_CHECK_EVERY`` betas; ``check()``, if given, is called
    between them and raises to abandon the work (an interrupted caller).
    ``final``, if given, receives the chains' last states (row-major).
    With a :class:`_Jumper`, the kernel also makes its jumps where
    :meth:`_Jumper.schedule` says. ``record`` (len(record_at), n_chains), if
    given, receives the log weights at the indices ``record_at`` of
    ``betas``. Returns the log weights and the numbers of jumps accepted and
    tried.
    """
    if params.n_labels:
        raise ValueError("AIS anneals RBMs without label units")
    dtype = params.dtype
    if v0 is None:  # start: exact samples of the base model
        v = np.empty((n_chains, params.n_visible), dtype)
        Gibbs(params, T, runner).base_rate(np.empty_like(v), v, bias=a_A)
    else:
        v = v0
    # unit-major for the kernel, and a copy: the kernel writes the chains into it
    v = np.array(v.T, dtype=dtype, order="C")
    W, W_t = weights
    log_w = np.zeros(n_chains)
    betas = np.asarray(betas, dtype=np.float64)
    jump_at = None if jumper is None else jumper.schedule(betas)
    accepted = 0
    # the kernel runs from one stop to the next: every _CHECK_EVERY betas,
    # and at the indices to record
    stops = set(range(_CHECK_EVERY, len(betas) - 1, _CHECK_EVERY))
    stops.update(() if record_at is None else record_at)
    stops = sorted(stops | {len(betas) - 1})
    where = {} if record_at is None else {k: j for j, k in enumerate(record_at)}
    start = 0
    for stop in stops:
        if check is not None and start:
            check()
        part = slice(start, stop + 1)
        accepted += _kernels.ais_anneal(
            v,
            W,
            W_t,
            params.hidden_bias,
            a_A,
            params.visible_bias,
            betas[part],
            log_w,
            gaussian=params.visible == "gaussian",
            temperature=T,
            key=runner.next_key(),
            jumps=jumper,
            jump_at=None if jumper is None else jump_at[part],
        )
        if stop in where:
            record[where[stop]] = log_w
        start = stop
    if final is not None:
        final[...] = v.T
    tried = 0 if jumper is None else n_chains * int(jump_at[1:].sum())
    return log_w, (accepted, tried)
