"""The contrastive-divergence core: Gibbs steps, CD-k and PCD updates.

Works on plain arrays and an :class:`RBMParams` record; knows nothing of
scikit-learn. The energy of a joint state at temperature ``T`` is

.. math::

    E(v, h) = [\\tfrac12 \\lVert v \\rVert^2] - a \\cdot v - c \\cdot h - h^\\top W v,
    \\qquad p(v, h) = e^{-E(v, h) / T} / Z,

(the bracket only for Gaussian visible units), so that

.. math::

    P(h_j = 1 \\mid v) = \\sigma_T(c_j + W_j v), \\qquad
    P(v_i = 1 \\mid h) = \\sigma_T(a_i + W_{:,i}^\\top h) \\text{ (Bernoulli)}, \\qquad
    v \\mid h \\sim \\mathcal N(a + W^\\top h, T) \\text{ (Gaussian)}.

Speed: every half-step is one GEMM into a preallocated buffer, on BLAS's own
threads; bias, activation and sampling then run in place over row blocks on
the runner's threads, each block with its own random stream. The weight
gradient, momentum, decay and step run in tiles of rows of ``W`` whose
scratch holds at most ``_TILE_ELEMENTS`` (one tile for a 784 x 500 model).
"""

from dataclasses import dataclass

import numpy as np

from .ops import _sigmoid_, _softmax_and_lse_, _softplus_

_TILE_ELEMENTS = 1 << 19  # most elements of the weight-update scratch (2 MB in float32)
# Up to this many rows, BLAS (sgemm) computes W v^T, then copied transposed,
# faster than v W^T: 1.65x at 10 rows, 1.4x at 20, even at 100; float32 only
# (in float64 it gained nothing in whole training steps)
_SMALL_ROWS = 32


@dataclass
class RBMParams:
    """Parameters of an RBM; arrays are updated in place by the trainer.

    Attributes
    ----------
    W : ndarray of shape (n_hidden, n_visible)
    visible_bias : ndarray of shape (n_visible,)  (``a``)
    hidden_bias : ndarray of shape (n_hidden,)  (``c``)
    visible : {"bernoulli", "gaussian"}
    n_labels : int
        When positive, the last ``n_labels`` visible units are not of type
        ``visible`` but one softmax group (a one-hot label, as in the
        classification RBM): ``P(y = k | h) = softmax_T(d + U^T h)_k``, with
        ``d`` and ``U`` the last entries of ``visible_bias`` and columns of
        ``W``.
    """

    W: np.ndarray
    visible_bias: np.ndarray
    hidden_bias: np.ndarray
    visible: str = "bernoulli"
    n_labels: int = 0

    @property
    def n_visible(self):
        return self.W.shape[1]

    @property
    def n_hidden(self):
        return self.W.shape[0]

    @property
    def dtype(self):
        return self.W.dtype

    def astype(self, dtype):
        """The same parameters in ``dtype`` (no copy when already there)."""
        return RBMParams(
            self.W.astype(dtype, copy=False),
            self.visible_bias.astype(dtype, copy=False),
            self.hidden_bias.astype(dtype, copy=False),
            self.visible,
            self.n_labels,
        )


# --------------------------------------------------------------------------
# deterministic propagations (no sampling): used by transform, free energy ...
# --------------------------------------------------------------------------
def _dot(X, M):
    """``X @ M`` for dense or scipy.sparse ``X``, as a dense array."""
    out = X @ M
    return np.asarray(out)


def hidden_proba(params, X, temperature):
    """``P(h = 1 | v)`` for each row of ``X`` (dense or sparse)."""
    P = _dot(X, params.W.T)
    P += params.hidden_bias
    return _sigmoid_(P, temperature)


def visible_mean(params, H, temperature):
    """``E[v | h]`` for each row of ``H``."""
    M = _dot(H, params.W)
    M += params.visible_bias
    if params.visible == "bernoulli":
        _sigmoid_(M, temperature)
    return M


def _row_sq_norms(X):
    if hasattr(X, "multiply"):  # sparse
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def free_energy(params, X, temperature):
    """Free energy ``F(v) = -T log sum_h exp(-E(v, h) / T)`` of each row.

    .. math::

        F(v) = [\\tfrac12 \\lVert v \\rVert^2] - a \\cdot v
               - \\sum_j \\operatorname{softplus}_T(c_j + W_j v)

    Lower is more probable: ``p(v) = exp(-F(v) / T) / Z``.
    """
    P = _dot(X, params.W.T)
    P += params.hidden_bias
    _softplus_(P, temperature)
    F = -P.sum(axis=1)
    F -= _dot(X, params.visible_bias).ravel()
    if params.visible == "gaussian":
        Xg = X[:, : params.n_visible - params.n_labels] if params.n_labels else X
        F += 0.5 * _row_sq_norms(Xg).astype(F.dtype, copy=False)
    return F


def pseudo_log_likelihood(params, X, temperature, runner=None, max_elements=1 << 22):
    """Exact pseudo-log-likelihood ``sum_i log P(v_i | v_-i)`` of each row.

    For Bernoulli visible units. ``P(v_i | v_-i) = sigma((F(v') - F(v)) / T)``
    where ``v'`` is ``v`` with unit ``i`` replaced by ``1 - v_i``; every unit
    is counted (no random subset), so the result is deterministic. Costs
    ``O(n_samples * n_visible * n_hidden)`` elementwise work, done in row
    chunks of bounded memory, on ``runner``'s threads when given.
    """
    if params.visible != "bernoulli":
        raise ValueError("The pseudo-likelihood is defined here for Bernoulli units.")
    if hasattr(X, "toarray"):
        X = X.toarray()
    n, V = X.shape
    H = params.n_hidden
    T = temperature
    out = np.empty(n, dtype=X.dtype)
    chunk = max(1, max_elements // max(1, V * H))
    starts = list(range(0, n, chunk))

    def work(i0):
        Xc = X[i0 : i0 + chunk]
        x = Xc @ params.W.T
        x += params.hidden_bias  # (b, H)
        d = 1 - 2 * Xc  # change of each unit when flipped, (b, V)
        base = _softplus_(x.copy(), T).sum(axis=1)  # (b,)
        flipped = np.multiply(d[:, None, :], params.W[None, :, :])  # (b, H, V)
        flipped += x[:, :, None]
        s1 = _softplus_(flipped, T).sum(axis=1)  # (b, V)
        dF = -params.visible_bias * d - (s1 - base[:, None])  # F(v') - F(v)
        # log sigma(dF / T) = -softplus_T(-dF) / T
        np.negative(dF, out=dF)
        out[i0 : i0 + chunk] = -_softplus_(dF, T).sum(axis=1) / T

    if runner is None:
        for i0 in starts:
            work(i0)
    else:  # chunks side by side on threads; `each` caps BLAS at one thread
        runner.each(work, starts)
    return out


# The largest float32 below 2**32: ``p * _U32_SCALE`` fits a uint32 for any
# probability p, in float32 or float64 arithmetic.
_U32_SCALE = 4294967040.0


def _bernoulli_draw(Q, S, gen, thresholds):
    """``S <- (u < Q)`` with ``u`` uniform, from 32 raw random bits per unit.

    The comparison ``bits < Q * (2^32 - 2^8)`` in integers: half the cost
    of drawing float uniforms and comparing (numpy makes each float from a
    32-bit draw anyway), with the same resolution, ``P(S = 1) = Q`` to
    within ``2^-24 Q + 2^-32``. ``thresholds`` is a uint32 scratch shaped
    like ``Q``; ``S`` may be a strided view.
    """
    n = Q.size
    bits = gen.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    np.multiply(Q, _U32_SCALE, out=thresholds, casting="unsafe")
    np.less(bits.reshape(Q.shape), thresholds, out=S)


def _one_hot_draw(Q, S, gen):
    """``S <- one-hot draws`` from the rows of probabilities ``Q`` (in place).

    Inverse-CDF sampling: the first class whose cumulative probability
    exceeds a uniform. ``S`` may be a strided view; ``Q`` is not modified.
    """
    u = gen.random((Q.shape[0], 1), dtype=S.dtype)
    np.cumsum(Q, axis=1, out=S)
    S[:, -1] = np.inf  # rounding must never leave a row without a class
    np.greater(S, u, out=S)  # 0 ... 0 1 ... 1
    S[:, 1:] -= S[:, :-1].copy()  # keep only the first 1


# --------------------------------------------------------------------------
# Gibbs half-steps: one GEMM, then the elementwise work over row blocks
# --------------------------------------------------------------------------
class Gibbs:
    """Block Gibbs half-steps over a batch of chains.

    Each half-step is one GEMM into a preallocated buffer (on BLAS's own
    threads), then bias, activation and sampling in place over row blocks on
    the runner's threads, block ``k`` drawing from random stream ``k``.
    Buffers are kept between calls: Gaussian noise is drawn straight into
    the sample buffer, Bernoulli thresholds go to a kept uint32 scratch; the
    one allocation per call is the raw random bits of the Bernoulli draws
    (numpy's generators have no ``out=`` for them), cheaper than the float
    uniforms it replaces.

    Parameters
    ----------
    params : RBMParams
    temperature : float
    runner : BlockRunner
        Threads and per-block random streams.
    frozen : bool, default=False
        The parameters will not change while this object is used (sampling,
        AIS): keep a contiguous copy of ``W^T`` for the hidden step.
    """

    def __init__(self, params, temperature, runner, *, frozen=False):
        self.params = params
        self.runner = runner
        self.set_temperature(temperature)
        # BLAS multiplies by a contiguous W^T faster than by the view W.T
        # (about 1.3x at 50-100 rows); worth a copy when W will not change
        self._WT = np.ascontiguousarray(params.W.T) if frozen else None
        self._small = None  # scratch of W v^T for few rows, made when needed
        self._thr = None  # uint32 thresholds of the Bernoulli draws

    def set_temperature(self, temperature):
        """Sample at ``temperature`` from now on."""
        self.T = float(temperature)
        # Python floats, not numpy float64 scalars: under NEP 50 those would
        # run float32 arrays through float64 loops
        self._sqrt_T = float(np.sqrt(self.T))

    def _units(self, P, bias, unit, S=None, sample_from=0, post_scale=None,
               beta=None, pre=None, labels=0):
        """Over row blocks: ``P <- mean(units)``; ``S <- sample`` of rows
        ``sample_from:``; then ``P *= post_scale`` (a scalar, or a pair for
        the rows before and from ``sample_from``). ``beta`` (n, 1): an inverse
        temperature per row (parallel tempering); ``pre`` receives the
        pre-activations (bias included) before the activation. The last
        ``labels`` columns, if any, form one softmax group (one-hot samples).
        """
        r = sample_from
        T = self.T

        def block(rows, gen):
            p = P[rows]
            p += bias
            if pre is not None:
                pre[rows] = p
            px = p[:, :-labels] if labels else p
            if labels:
                pl = p[:, -labels:]
                if beta is not None:
                    pl *= beta[rows]
                _softmax_and_lse_(pl, T)
            if beta is not None and unit == "bernoulli":
                px *= beta[rows]
            if unit == "bernoulli":
                _sigmoid_(px, T)
            lo = max(rows.start, r)
            if S is not None and lo < rows.stop:
                # Gaussian noise fills whole contiguous rows (the generator
                # needs that); label columns then take their own uniforms
                s, q = S[lo - r : rows.stop - r], P[lo : rows.stop]
                sx, qx = (s[:, :-labels], q[:, :-labels]) if labels else (s, q)
                if unit == "bernoulli":
                    thr = self._thresholds(P.shape)[lo : rows.stop, : qx.shape[1]]
                    _bernoulli_draw(qx, sx, gen, thr)
                else:
                    gen.standard_normal(out=s, dtype=s.dtype)
                    if beta is not None:  # variance T / beta
                        sx *= np.sqrt(T / beta[lo:rows.stop])
                    elif T != 1.0:
                        sx *= self._sqrt_T
                    sx += qx
                if labels:
                    _one_hot_draw(q[:, -labels:], s[:, -labels:], gen)
            if isinstance(post_scale, tuple):
                p[: max(0, r - rows.start)] *= post_scale[0]
                p[max(0, r - rows.start) :] *= post_scale[1]
            elif post_scale is not None:
                p *= post_scale

        self.runner.map(block, P.shape[0], P.shape[1])

    def _thresholds(self, shape):
        """uint32 scratch for :func:`_bernoulli_draw`, kept between calls:
        one buffer for the hidden and the visible steps, grown to the larger."""
        size = shape[0] * shape[1]
        if self._thr is None or self._thr.size < size:
            self._thr = np.empty(size, np.uint32)
        return self._thr[:size].reshape(shape)

    def up(self, v, P, S=None, post_scale=None, sample_from=0, beta=None,
           pre=None, have_products=False):
        """Hidden given visible: ``P <- P(h=1|v)``; ``S <- h ~ P`` if given.

        Only rows ``sample_from:`` of ``P`` are sampled (into ``S``'s rows).
        ``post_scale`` multiplies ``P`` after sampling: a scalar, or a pair
        ``(first, rest)`` for rows before and from ``sample_from``. ``beta``
        and ``pre`` as in :meth:`_units`. ``have_products``: ``P`` already
        holds ``v W^T`` (computed by the caller), so the GEMM is skipped.
        """
        if not have_products:
            self._products(v, P)
        self._units(P, self.params.hidden_bias, "bernoulli", S, sample_from,
                    post_scale, beta, pre)

    def _products(self, v, P):
        """``P <- v W^T``, by the fastest product BLAS offers for the shape."""
        W, n = self.params.W, v.shape[0]
        if self._WT is not None:
            np.matmul(v, self._WT, out=P)
        elif n <= _SMALL_ROWS and P.dtype == np.float32:
            if self._small is None:
                self._small = np.empty(_SMALL_ROWS * W.shape[0], W.dtype)
            PT = self._small[: n * W.shape[0]].reshape(W.shape[0], n)
            np.matmul(W, v.T, out=PT)
            P[...] = PT.T
        else:
            np.matmul(v, W.T, out=P)

    def down(self, h, P, S=None, beta=None):
        """Visible given hidden: ``P <- E[v|h]``; ``S <- v ~ p(v|h)`` if given."""
        np.matmul(h, self.params.W, out=P)
        self._units(P, self.params.visible_bias, self.params.visible, S,
                    beta=beta, labels=self.params.n_labels)

    def base_rate(self, P, S):
        """``S <- v`` sampled from the visible biases alone (W ignored)."""
        P.fill(0)
        self._units(P, self.params.visible_bias, self.params.visible, S,
                    labels=self.params.n_labels)

    def run(self, h, v, Pv, Ph, n_steps):
        """``n_steps`` full steps ``h -> v -> h``; ``h`` holds the hidden state.

        On return ``v`` holds the last visible sample and ``Ph`` the hidden
        probabilities given it; ``h`` a hidden sample from ``Ph``.
        """
        for _ in range(n_steps):
            self.down(h, Pv, v)
            self.up(v, Ph, h)


def sample_chains(params, temperature, runner, v0, n_steps, clamp=None):
    """Run Gibbs chains started at visible states ``v0``; return visible samples.

    ``v0`` of shape (n_chains, n_visible) is not modified. The chain first
    samples ``h ~ P(h | v0)``, then does ``n_steps`` steps ``h -> v -> h``.
    ``clamp`` (n_chains, n_labels): label units held at these values (the
    chains then sample ``p(x | y)``, with ``v0``'s label columns ignored).
    """
    n, V = v0.shape
    H = params.n_hidden
    dtype = params.dtype
    gibbs = Gibbs(params, temperature, runner, frozen=n_steps > 1)
    v = np.array(v0, dtype=dtype, order="C", copy=True)
    h = np.empty((n, H), dtype)
    Ph = np.empty((n, H), dtype)
    Pv = np.empty((n, V), dtype)
    if clamp is None:
        gibbs.up(v, Ph, h)
        gibbs.run(h, v, Pv, Ph, n_steps - 1)
        gibbs.down(h, Pv, v)
        return v
    labels = v[:, -params.n_labels :]
    for _ in range(n_steps):
        labels[...] = clamp
        gibbs.up(v, Ph, h)
        gibbs.down(h, Pv, v)
    labels[...] = clamp
    return v


def base_rate_samples(params, temperature, runner, n):
    """``n`` visible samples from the biases-only model ``p(v) ∝ exp(a.v/T)``."""
    v = np.empty((n, params.n_visible), params.dtype)
    Gibbs(params, temperature, runner).base_rate(np.empty_like(v), v)
    return v


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------
@dataclass
class TrainState:
    """What persists between updates: velocities and persistent chains."""

    velocity_W: np.ndarray
    velocity_visible: np.ndarray
    velocity_hidden: np.ndarray
    chains: np.ndarray | None = None  # hidden states of the PCD chains

    @classmethod
    def zeros(cls, params):
        return cls(
            np.zeros_like(params.W),
            np.zeros_like(params.visible_bias),
            np.zeros_like(params.hidden_bias),
        )


class CDTrainer:
    """CD-k or PCD-k updates of ``params`` in place, in preallocated buffers.

    The positive statistics come from up to ``max_batch`` data rows, the
    negative ones from ``n_chains`` chains (PCD) or from chains started at the
    data rows (CD). Each side is averaged over its own number of rows, so an
    update on any number of rows is correctly scaled.

    Memory: ``O((max_batch + n_chains) * (n_visible + n_hidden))`` beyond the
    parameters and the velocities.

    Layout: rows ``[max_batch - n, max_batch)`` of ``Vs``/``Hs`` hold the
    batch, rows ``[max_batch, max_batch + n_neg)`` the chains, so the weight
    gradient over both phases is one GEMM over a contiguous row range, with
    the negative hidden probabilities stored pre-multiplied by
    ``-n / n_neg`` (and all by the learning rate). That product, the
    momentum, the weight decay and the step run in tiles of contiguous rows of
    ``W``, so that the scratch stays bounded (``_TILE_ELEMENTS``).
    """

    def __init__(self, params, state, *, max_batch, persistent, n_chains,
                 n_steps, temperature, runner):
        self.params = params
        self.state = state
        self.persistent = persistent
        self.max_batch = int(max_batch)
        self.n_chains = int(n_chains) if persistent else self.max_batch
        self.n_steps = int(n_steps)
        self.T = float(temperature)
        self.runner = runner
        self.gibbs = Gibbs(params, temperature, runner)
        dtype, V, H = params.dtype, params.n_visible, params.n_hidden
        rows = self.max_batch + self.n_chains
        # zeroed once: rows a smaller batch leaves untouched stay finite
        self.Vs = np.zeros((rows, V), dtype)
        self.Hs = np.zeros((rows, H), dtype)
        self.Pv = np.empty((self.n_chains, V), dtype)
        # gradient tiles: contiguous rows of W, about _TILE_ELEMENTS each
        self._tile_rows = min(H, max(1, _TILE_ELEMENTS // V))
        self._G = np.empty(self._tile_rows * V, dtype)
        if persistent:
            if state.chains is None or state.chains.shape != (self.n_chains, H):
                state.chains = self._start_chains()
            self._h = state.chains  # hidden states of the persistent chains
        else:
            self._h = np.empty((self.n_chains, H), dtype)  # CD: fresh each batch

    def _start_chains(self):
        """Hidden states of fresh chains: ``h ~ P(h | v)``, ``v`` from base rates."""
        v = self.Vs[self.max_batch :]
        self.gibbs.base_rate(self.Pv, v)
        h = np.empty((self.n_chains, self.params.n_hidden), self.params.dtype)
        self.gibbs.up(v, self.Hs[self.max_batch :], h)
        return h

    def load(self, X, rows, Y=None):
        """Copy data rows ``X[rows]`` (dense or CSR) into the batch buffer.

        With label units (``params.n_labels > 0``), ``Y`` holds the one-hot
        labels of all rows of ``X`` and ``Y[rows]`` fills the label columns.
        """
        n = len(rows)
        dst = self.Vs[self.max_batch - n : self.max_batch]
        K = self.params.n_labels
        if K:
            np.take(Y, rows, axis=0, out=dst[:, -K:])
            dst = dst[:, :-K]
        if hasattr(X, "toarray"):
            if K:  # scipy writes only into contiguous arrays
                dst[...] = X[rows].toarray()
            else:
                X[rows].toarray(out=dst)
        else:
            np.take(X, rows, axis=0, out=dst)
        return n

    def positive_rows(self, n):
        """Views of the ``n`` data rows of the buffers: ``(visible, hidden)``."""
        mb = self.max_batch
        return self.Vs[mb - n : mb], self.Hs[mb - n : mb]

    def step(self, n, learning_rate, momentum, weight_decay, *,
             positive_products=False, extra_positive=None):
        """One parameter update from the ``n`` rows placed by :meth:`load`.

        Two hooks let another objective share this update (the hybrid
        classification RBM), for CD only (not persistent chains):

        positive_products : bool
            The caller has put the products ``v W^T`` of the data rows in
            :meth:`positive_rows`, so the positive phase skips its GEMM.
        extra_positive : ndarray of shape (n, n_hidden), optional
            Added to the data rows' scaled hidden probabilities before the
            step: a further weight gradient ``extra_positive^T v`` and hidden
            bias gradient, already scaled by its learning rate, that shares
            the GEMM, the momentum and the weight decay of this one.
        """
        # Python floats keep float32 arrays in float32 loops (NEP 50)
        learning_rate, momentum = float(learning_rate), float(momentum)
        weight_decay = float(weight_decay)
        if self.persistent and (positive_products or extra_positive is not None):
            raise ValueError("The positive-phase hooks are for CD, not PCD.")
        g, mb = self.gibbs, self.max_batch
        n_neg = self.n_chains if self.persistent else n
        lo, hi = mb - n, mb + n_neg
        v_pos, h_pos = self.Vs[lo:mb], self.Hs[lo:mb]
        v_neg, h_neg = self.Vs[mb:hi], self.Hs[mb:hi]
        h_chain = self._h[:n_neg]

        # The learning rate is folded into the hidden probabilities as they are
        # made (post_scale), so that the weight gradient is one plain product.
        alpha = learning_rate / (self.T * n)
        Pv = self.Pv[:n_neg]
        scales = (alpha, -alpha * n / n_neg)
        if self.persistent:
            # k steps h -> v -> h of the chains, the last "-> h" stacked with
            # the positive phase: one GEMM over the adjacent data and chain rows
            for k in range(self.n_steps):
                g.down(h_chain, Pv, v_neg)
                if k < self.n_steps - 1:
                    g.up(v_neg, h_neg, h_chain)
            g.up(self.Vs[lo:hi], self.Hs[lo:hi], h_chain, post_scale=scales,
                 sample_from=n)
        else:
            # CD: chains start from a hidden sample of the data
            g.up(v_pos, h_pos, h_chain, post_scale=alpha,
                 have_products=positive_products)
            for k in range(self.n_steps):
                g.down(h_chain, Pv, v_neg)
                last = k == self.n_steps - 1
                g.up(v_neg, h_neg, None if last else h_chain,
                     post_scale=scales[1] if last else None)
        if extra_positive is not None:
            h_pos += extra_positive

        self._update(lo, hi, n, n_neg, learning_rate, momentum, weight_decay)

    def _update(self, lo, hi, n, n_neg, learning_rate, momentum, weight_decay):
        """Apply the step from the scaled statistics in rows ``lo:hi``.

        Rows ``lo:lo + n`` are the data (hidden probabilities scaled by the
        learning rate), the rest the chains (scaled by ``-lr n / n_neg``).
        """
        p, st = self.params, self.state
        alpha = learning_rate / (self.T * n)
        v_pos, v_neg = self.Vs[lo : lo + n], self.Vs[lo + n : hi]
        # vW <- momentum vW + Hs' Vs - lr wd W;  W <- W + vW, in tiles of
        # contiguous rows of W so that the scratch stays bounded
        shrink = learning_rate * weight_decay
        Vs, Hs, vW, W = self.Vs[lo:hi], self.Hs[lo:hi], st.velocity_W, p.W
        H, V = p.n_hidden, p.n_visible
        for r0 in range(0, H, self._tile_rows):
            rows = slice(r0, min(r0 + self._tile_rows, H))
            G = self._G[: (rows.stop - r0) * V].reshape(rows.stop - r0, V)
            np.matmul(Hs[:, rows].T, Vs, out=G)
            v_t, W_t = vW[rows], W[rows]
            v_t *= momentum
            v_t += G
            if shrink:  # L2 on the weights only; G is free again
                np.multiply(W_t, shrink, out=G)
                v_t -= G
            W_t += v_t
        vc = st.velocity_hidden
        vc *= momentum
        vc += Hs.sum(axis=0)
        p.hidden_bias += vc

        grad_a = v_pos.sum(axis=0)
        grad_a -= v_neg.sum(axis=0) * (n / n_neg)
        grad_a *= alpha
        va = st.velocity_visible
        va *= momentum
        va += grad_a
        p.visible_bias += va
