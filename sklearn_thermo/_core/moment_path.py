"""AIS along a moment-averaging path, for Bernoulli RBMs.

Knows nothing of scikit-learn. :mod:`.ais` anneals along the geometric path,
which scales ``W`` and the hidden biases by ``beta``. On large sharp models
its middle distributions hold nearly empty images, far from both ends, and
few chains find their way back into the model's dense modes. Grosse,
Maddison & Salakhutdinov (2013) anneal instead through the distributions of
the model's family whose moments lie on the straight line between the two
ends':

.. math::

    \\mathbb{E}_{p_t}[s] = (1 - t)\\, \\mathbb{E}_A[s] + t\\, \\mathbb{E}_B[s],
    \\qquad s = (v,\\ h,\\ h v^\\top),

``A`` the base-rate model (``W = 0``, hidden biases 0, so
``E_A[h] = 1/2``) and ``B`` the model, both at temperature 1 after dividing
the parameters by ``T``. Every such distribution keeps the pixel density of
both ends. The exact ones are out of reach: the ``N_ANCHORS - 2`` inner
anchors, evenly spaced in ``t``, are fitted here by persistent contrastive
divergence with the interpolated moments as a fixed positive phase, each
warm started from the anchor above it (the model itself at ``t = 1``) and
averaged over the second half of its updates (Polyak averaging). Between
anchors the parameters move on straight lines, a geometric average of the
two anchors' joint distributions. The anchors decide how good the path is,
not whether AIS along it is unbiased: forward AIS stays below ``log Z`` in
expectation, and reverse AIS from the model's samples above it, whatever
they are.

Like the geometric path's chains, these chains make Metropolis-Hastings
jumps to states near training rows (the proposal of :class:`.ais._Jumper`,
made here at the path's current parameters in NumPy): a move that leaves
the current distribution invariant and lets a chain stuck in one mode of a
sharp model reach another.
"""

import numpy as np

from .. import ops
from ..ops import _sigmoid_, _softplus_
from .ais import (
    _JUMP_FLIP,
    _base_log_partition,
    _Jumper,
    _mean_weight,
    _resample,
    _with_jumps,
)
from .gibbs import Gibbs
from .model import RBMParams, hidden_proba
from .threads import BlockRunner, blas_capped, row_blocks

#: anchors of the path, evenly spaced in ``t`` from the base model to the model
N_ANCHORS = 11
#: the anchors' fit: learning rate and momentum of its updates (small: the
#: fit starts next to its answer, and PCD's chains mix by slow change)
_RATE = 0.005
_MOMENTUM = 0.5
#: ... its updates per inner anchor (enough to settle from the anchor above,
#: whatever the annealing's length), on this many persistent chains
UPDATES_PER_ANCHOR = 500
FIT_CHAINS = 500
#: fewest chains per block of the annealing: each step is a few products and
#: a dozen elementwise passes, whose Python overhead small blocks multiply
_CHAINS_PER_BLOCK = 128


def _moments(v, p_h):
    """``[E[h v^T], E[v], E[h]]`` over the rows ``v``, with ``h`` summed out
    given each row (``p_h``, its probabilities: Rao-Blackwellised)."""
    n = len(v)
    return [(p_h.T @ v) / n, v.mean(axis=0), p_h.mean(axis=0)]


class _Jumps:
    """The jump proposals' tables: ``anchors`` (A x V binary states), a
    random one of which, each bit flipped with probability ``flip``, is
    proposed. The proposal's density at ``v`` is proportional to
    ``sum_a r^d(v, a)``, ``r = flip / (1 - flip)``, ``d`` the Hamming
    distance."""

    def __init__(self, anchors, dtype, flip=_JUMP_FLIP):
        self.anchors = np.ascontiguousarray(anchors, dtype=dtype)
        self.anchors_t = np.ascontiguousarray(self.anchors.T)
        self.sizes = self.anchors.sum(axis=1, dtype=np.float64)
        self.flip = flip
        self.log_odds = float(np.log(flip) - np.log1p(-flip))

    def log_q(self, v):
        """The log proposal density of the rows ``v``, up to a constant."""
        # counts: exact in float32 up to 2^24 units
        d = (v @ self.anchors_t).astype(np.float64)
        d *= -2
        d += self.sizes
        d += v.sum(axis=1, dtype=np.float64)[:, None]
        d *= self.log_odds
        return ops.logsumexp(d, axis=1)


class _Proposal:
    """Metropolis-Hastings jumps of ``n`` chains at a point of the path, with
    the work arrays of one block of chains."""

    def __init__(self, jumps, n, n_hidden, dtype):
        self.jumps = jumps
        n_visible = jumps.anchors.shape[1]
        self.prop = np.empty((n, n_visible), dtype)
        self.pre = np.empty((n, 2 * n_hidden), dtype)
        self.hidden = np.empty((n, n_hidden), dtype)
        self.draws = np.empty((n, n_visible), np.float32)
        self.flips = np.empty((n, n_visible), bool)
        self.bias = np.empty(n_visible, dtype)

    def _log_f(self, x, pre, s):
        """``log f_s(x)`` from the rows' products ``pre`` with the segment's
        ``[W_k; dW]^T`` (hidden biases added) and :attr:`bias`, the visible
        biases at ``s``."""
        n_hidden = self.hidden.shape[1]
        t = self.hidden
        np.multiply(pre[:, n_hidden:], t.dtype.type(s), out=t)
        t += pre[:, :n_hidden]
        t = _softplus_(t, 1.0)
        out = t.sum(axis=1, dtype=np.float64)
        out += x @ self.bias
        return out

    def jump(self, v, pre, segment, s, rng):
        """One move of every chain ``v`` (their products ``pre``, both updated
        in place where it is accepted) at ``s`` on ``segment`` (its tuple of
        products and biases): the number accepted."""
        products, hidden, _, b0, db = segment
        jumps, prop = self.jumps, self.prop
        np.take(jumps.anchors, rng.integers(len(jumps.anchors), size=len(v)), 0, prop)
        rng.random(dtype=np.float32, out=self.draws)
        np.less(self.draws, jumps.flip, out=self.flips)
        np.subtract(1, prop, out=prop, where=self.flips)
        np.matmul(prop, products, out=self.pre)
        self.pre += hidden
        np.multiply(db, self.bias.dtype.type(s), out=self.bias)
        self.bias += b0
        # log f(v') q(v) / (f(v) q(v')): q's constant terms cancel
        log_ratio = self._log_f(prop, self.pre, s)
        log_ratio -= self._log_f(v, pre, s)
        log_ratio += jumps.log_q(v)
        log_ratio -= jumps.log_q(prop)
        accept = np.log(rng.random(len(v))) < log_ratio
        v[accept] = prop[accept]
        pre[accept] = self.pre[accept]
        return int(accept.sum())


class MomentPath:
    """The piecewise-linear path through fitted moment-averaging anchors.

    Parameters
    ----------
    anchors : list of RBMParams
        At ``t = 0, 1 / (n - 1), ..., 1``, temperature 1: the base model
        first, the model (its parameters over ``T``) last.
    log_z_base : float
        ``log Z`` of the first anchor.
    jump_anchors : ndarray of shape (n_states, n_visible), default=None
        Binary states near which the chains propose Metropolis-Hastings
        jumps (:class:`.ais._Jumper`'s proposal and schedule); no jumps
        without them.
    """

    def __init__(self, anchors, log_z_base, jump_anchors=None):
        self.anchors = anchors
        self.log_z_base = log_z_base
        self.jumps = None
        if jump_anchors is not None and len(jump_anchors):
            self.jumps = _Jumps(jump_anchors, anchors[0].dtype)
        # per segment: [W_k; W_{k+1} - W_k]^T, so that one product gives a
        # state's pre-activations at both ends, their biases, the weights'
        # step (for the Gibbs step's W_t) and the visible biases' start and step
        self._products = []
        for a, b in zip(anchors[:-1], anchors[1:]):
            step = b.W - a.W
            self._products.append(
                (
                    np.ascontiguousarray(np.vstack([a.W, step]).T),
                    np.concatenate([a.hidden_bias, b.hidden_bias - a.hidden_bias]),
                    step,
                    a.visible_bias,
                    b.visible_bias - a.visible_bias,
                )
            )

    @classmethod
    def fit(
        cls,
        params,
        temperature,
        base_visible_bias,
        samples,
        *,
        runner,
        jump_anchors=None,
    ):
        """Fit the inner anchors to the moments of ``samples`` (the model's,
        at ``temperature``): ``UPDATES_PER_ANCHOR`` PCD updates each, on
        ``len(samples)`` persistent chains started at them. ``jump_anchors``:
        as for the class."""
        T = float(temperature)
        dtype = params.dtype
        model = RBMParams(
            (params.W / T).astype(dtype),
            (params.visible_bias / T).astype(dtype),
            (params.hidden_bias / T).astype(dtype),
        )
        a_A = (base_visible_bias / T).astype(dtype)
        base = RBMParams(np.zeros_like(model.W), a_A, np.zeros_like(model.hidden_bias))
        v = np.array(samples, dtype=dtype, order="C")
        target = _moments(v, hidden_proba(model, v, 1.0, runner))
        m_v = _sigmoid_(a_A.copy(), 1.0)
        m_h = np.full_like(model.hidden_bias, 0.5)
        start = [np.outer(m_h, m_v), m_v, m_h]
        theta = [model.W.copy(), model.visible_bias.copy(), model.hidden_bias.copy()]
        velocity = [np.zeros_like(x) for x in theta]
        h = np.empty((len(v), params.n_hidden), dtype)
        p_h, p_v = np.empty_like(h), np.empty_like(v)
        per_anchor = UPDATES_PER_ANCHOR
        anchors = [model]
        for t in np.linspace(1.0, 0.0, N_ANCHORS)[1:-1]:
            goal = [((1 - t) * s + t * m).astype(dtype) for s, m in zip(start, target)]
            mean = [np.zeros_like(x) for x in theta]
            current = RBMParams(*theta)  # shares theta's arrays
            gibbs = Gibbs(current, 1.0, runner)
            for update in range(per_anchor):
                runner.check()
                # the chains' statistics at the current parameters, then
                # the update, then the step down to v at the updated ones
                gibbs.up(v, p_h, h)
                for x, dx, g, m in zip(theta, velocity, goal, _moments(v, p_h)):
                    dx *= _MOMENTUM
                    g = g - m
                    g *= _RATE
                    dx += g
                    x += dx
                gibbs.down(h, p_v, v)
                if 2 * update >= per_anchor:
                    for s, x in zip(mean, theta):
                        s += x
            n_mean = dtype.type(per_anchor - (per_anchor + 1) // 2)
            for x, s in zip(theta, mean):  # the next anchor starts here
                np.divide(s, n_mean, out=x)
            anchors.append(RBMParams(*(x.copy() for x in theta)))
        anchors.append(base)
        log_z = _base_log_partition(base_visible_bias, params.n_hidden, "bernoulli", T)
        return cls(anchors[::-1], log_z, jump_anchors)

    @property
    def n_segments(self):
        return len(self.anchors) - 1

    def steps(self, n_betas):
        """Gibbs steps per segment for a budget of ``n_betas`` betas."""
        return max(1, (n_betas - 1) // self.n_segments)

    def anneal(self, v0, n_betas, runner, *, reverse=False, final=None):
        """Log importance weights of chains annealed along the path from
        ``v0`` (``reverse``: from ``t = 1`` down) or, forward without
        ``v0``, from exact samples of the base model; ``n_chains`` is
        ``len(v0)`` or, as an int, ``v0`` itself. One Gibbs step per beta,
        ``steps(n_betas)`` of them per segment, and with jump anchors the
        jumps where :meth:`.ais._Jumper.schedule` says. The chains run in
        blocks, each from start to end on one of the runner's threads with
        its own random keys and BLAS at one thread (as :mod:`.ais` does), so
        the result does not depend on the thread count. ``final``, if given,
        receives the last states. Returns the log weights and the numbers of
        jumps accepted and tried."""
        n_chains = int(v0) if np.ndim(v0) == 0 else len(v0)
        blocks = row_blocks(n_chains, 1, _CHAINS_PER_BLOCK)
        seeds = [int(runner.streams[k].integers(2**63)) for k in range(len(blocks))]
        log_w = np.zeros(n_chains)
        counts = np.zeros((len(blocks), 2), np.int64)  # accepted, tried
        per = self.steps(n_betas)

        def block(k):
            rows = blocks[k]
            with BlockRunner(1, seeds[k], limit_blas=False) as own:
                if np.ndim(v0) == 0:
                    shape = (rows.stop - rows.start, self.anchors[0].n_visible)
                    v = np.empty(shape, self.anchors[0].dtype)
                    Gibbs(self.anchors[0], 1.0, own).base_rate(np.empty_like(v), v)
                else:
                    v = np.array(v0[rows], dtype=self.anchors[0].dtype, order="C")
                # the jumps' own stream: the Gibbs steps' draws stay as they are
                rng = np.random.default_rng([seeds[k], 1])
                log_w[rows], counts[k] = self._anneal_block(
                    v, per, own, reverse, runner.check, rng
                )
                if final is not None:
                    final[rows] = v

        with blas_capped():
            runner.each(block, list(range(len(blocks))), choose=False)
        return log_w, counts.sum(axis=0)

    def _anneal_block(self, v, per, runner, reverse, check, rng):
        """Anneal the chains ``v`` in place; their log weights and the
        numbers of jumps accepted and tried."""
        n, n_hidden = len(v), self.anchors[0].n_hidden
        dtype = v.dtype
        pre = np.empty((n, 2 * n_hidden), dtype)
        high, low = np.empty((n, n_hidden), dtype), np.empty((n, n_hidden), dtype)
        h, p_h, p_v = np.empty_like(low), np.empty_like(low), np.empty_like(v)
        W_t = np.empty_like(self.anchors[0].W)
        b_t = np.empty_like(self.anchors[0].visible_bias)
        no_bias = np.zeros(n_hidden, dtype)
        log_w = np.zeros(n)
        segments = range(self.n_segments)
        points = np.arange(per + 1) / per
        if reverse:
            segments, points = segments[::-1], points[::-1]
        last = segments[-1]
        # jump flags along the whole path, by position in t (0 to 1 forward)
        where = np.array([k + p for k in segments for p in points[:-1]])
        jump_at = _Jumper.schedule(where / self.n_segments)
        if self.jumps is None:
            jump_at[:] = 0
        else:
            proposal = _Proposal(self.jumps, n, n_hidden, dtype)
        accepted, j = 0, 0
        for k in segments:
            check()
            products, hidden, dW, b0, db = self._products[k]
            W0 = self.anchors[k].W
            for s0, s1 in zip(points[:-1], points[1:]):
                np.matmul(v, products, out=pre)
                pre += hidden
                if jump_at[j]:
                    accepted += proposal.jump(v, pre, self._products[k], s0, rng)
                j += 1
                u, du = pre[:, :n_hidden], pre[:, n_hidden:]
                # log f_{s1}(v) - log f_{s0}(v), term by term: the two sums
                # are large and close, their difference small
                np.multiply(du, dtype.type(s0), out=low)
                low += u
                np.multiply(du, dtype.type(s1), out=high)
                high += u
                p_h[...] = high  # the pre-activations at s1, for the step
                low = _softplus_(low, 1.0)
                high = _softplus_(high, 1.0)
                high -= low
                log_w += high.sum(axis=1, dtype=np.float64)
                log_w += (v @ db).astype(np.float64) * (s1 - s0)
                if k == last and s1 == points[-1]:
                    break
                np.multiply(dW, dtype.type(s1), out=W_t)
                W_t += W0
                np.multiply(db, dtype.type(s1), out=b_t)
                b_t += b0
                gibbs = Gibbs(RBMParams(W_t, b_t, no_bias), 1.0, runner)
                gibbs.up(v, p_h, h, have_products=True)
                gibbs.down(h, p_v, v)
        return log_w, (accepted, n * int(jump_at.sum()))

    def forward(self, n_chains, n_betas, runner, *, samples=None, rng=None):
        """Forward AIS: the estimate of ``log Z``, below it in expectation,
        its three-standard-error bounds, and the weights' diagnostics;
        ``samples``, if given, receives the last states resampled by their
        weights (one uniform from the RandomState ``rng``)."""
        final = None if samples is None else np.empty_like(samples)
        log_w, jumps = self.anneal(n_chains, n_betas, runner, final=final)
        if samples is not None:
            samples[:] = _resample(final, log_w, rng.random_sample())
        log_r, down, up = _mean_weight(log_w)
        estimate = self.log_z_base + log_r
        return (
            float(estimate),
            float(estimate - down),
            float(estimate + up),
            _with_jumps(log_w, jumps),
        )

    def backward(self, v0, n_betas, runner):
        """Reverse AIS from the model's samples ``v0``: the estimate of
        ``log Z``, above it in expectation, three standard errors of it (in
        log units) and the weights' diagnostics."""
        log_w, jumps = self.anneal(v0, n_betas, runner, reverse=True)
        log_r, down, _ = _mean_weight(log_w)
        return float(self.log_z_base - log_r), down, _with_jumps(log_w, jumps)
