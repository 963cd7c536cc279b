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

Speed: every half-step and every weight step is one call of a compiled kernel
(:mod:`._core._kernels`): blocks of units, set by the shapes alone, each one
product on single-threaded BLAS and one fused pass of bias, activation and
counter-based sampling (or of decay and step), on the runner's threads.
"""

from dataclasses import dataclass

import numpy as np

from ._core import _kernels
from ._core._kernels import weight_step
from ._threading import work_kind
from .ops import _sigmoid_, _softplus_


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
#: Elements (rows x units) of one chunk of inference: memory beyond the output
#: stays bounded whatever the number of rows.
INFERENCE_ELEMENTS = 1 << 18


def map_rows(fn, n_rows, width, runner=None):
    """``fn(rows)`` over chunks of at most ``INFERENCE_ELEMENTS / width`` rows.

    The chunks depend on the shape only; on ``runner`` (whose BLAS runs at one
    thread) they run side by side on its threads, so a row's result does not
    depend on the thread count, nor on other calls running concurrently.
    """
    step = max(1, INFERENCE_ELEMENTS // max(1, int(width)))
    chunks = [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]
    if runner is None:
        for rows in chunks:
            fn(rows)
    else:
        runner.each(fn, chunks, work=step * width)


def _product(X, M, out):
    """``out <- X @ M`` for a dense or scipy.sparse ``X``."""
    if hasattr(X, "toarray"):
        out[...] = X @ M
    else:
        np.matmul(X, M, out=out)
    return out


def hidden_proba(params, X, temperature, runner=None):
    """``P(h = 1 | v)`` for each row of ``X`` (dense or sparse)."""
    out = np.empty((X.shape[0], params.n_hidden), params.dtype)

    def fn(rows):
        P = _product(X[rows], params.W.T, out[rows])
        P += params.hidden_bias
        _sigmoid_(P, temperature)

    map_rows(fn, X.shape[0], params.n_hidden, runner)
    return out


def visible_mean(params, H, temperature, runner=None):
    """``E[v | h]`` for each row of ``H``."""
    out = np.empty((H.shape[0], params.n_visible), params.dtype)

    def fn(rows):
        M = _product(H[rows], params.W, out[rows])
        M += params.visible_bias
        if params.visible == "bernoulli":
            _sigmoid_(M, temperature)

    map_rows(fn, H.shape[0], params.n_visible, runner)
    return out


def _row_sq_norms(X):
    if hasattr(X, "multiply"):  # sparse
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def visible_free_energy(params, X, temperature, runner=None):
    """Free energy ``F(v) = -T log sum_h exp(-E(v, h) / T)`` of each row.

    .. math::

        F(v) = [\\tfrac12 \\lVert v \\rVert^2] - a \\cdot v
               - \\sum_j \\operatorname{softplus}_T(c_j + W_j v)

    Lower is more probable: ``p(v) = exp(-F(v) / T) / Z``. In row chunks
    of bounded memory.
    """
    n = X.shape[0]
    F = np.empty(n, params.dtype)

    def fn(rows):
        Xc = X[rows]
        P = _product(
            Xc, params.W.T, np.empty((rows.stop - rows.start, params.n_hidden), F.dtype)
        )
        P += params.hidden_bias
        _softplus_(P, temperature)
        f = -P.sum(axis=1)
        f -= np.asarray(Xc @ params.visible_bias).ravel()
        if params.visible == "gaussian":
            Xg = Xc[:, : params.n_visible - params.n_labels] if params.n_labels else Xc
            f += 0.5 * _row_sq_norms(Xg).astype(f.dtype, copy=False)
        F[rows] = f

    map_rows(fn, n, params.n_hidden, runner)
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
        runner.each(work, starts, work=chunk * V * H)
    return out


# --------------------------------------------------------------------------
# Gibbs half-steps: compiled kernels (product + bias + activation + draw)
# --------------------------------------------------------------------------
#: Fewest columns of a block of a half-step, and the most blocks.
_MIN_BLOCK_COLUMNS = 64
_MAX_BLOCKS = 4
#: Least work (multiply-adds) per block: below it a thread costs more than it saves.
_MIN_BLOCK_WORK = 1 << 20


def update_blocks(n_rows, n_hidden, n_visible):
    """Number of blocks of hidden units of a weight step (by shapes alone)."""
    return column_blocks(n_visible, n_hidden, n_rows)


def column_blocks(n_rows, width, depth):
    """Number of column blocks of a half-step over an (n_rows, width) output
    with ``depth`` terms per product: set by the shapes alone (a power of two),
    never by the thread count, so results do not depend on ``n_jobs``."""
    n = min(
        _MAX_BLOCKS,
        width // _MIN_BLOCK_COLUMNS,
        (n_rows * width * (depth + 16)) // _MIN_BLOCK_WORK,
    )
    return 1 << (int(max(1, n)).bit_length() - 1)


class Gibbs:
    """Block Gibbs half-steps over a batch of chains.

    Each half-step is one call of the compiled kernel
    :func:`~._core._kernels.half_step`: blocks of output columns (units), each
    one product on single-threaded BLAS and one fused pass of bias,
    activation and draw, on the runner's threads. Random numbers are
    counter-based, keyed by the runner's call counter, so results are the same
    for any number of threads.

    Parameters
    ----------
    params : RBMParams
    temperature : float
    runner : BlockRunner
        Thread count and the random keys.
    """

    def __init__(self, params, temperature, runner):
        self.params = params
        self.runner = runner
        self.set_temperature(temperature)

    def set_temperature(self, temperature):
        """Sample at ``temperature`` from now on."""
        self.T = float(temperature)

    def _step(
        self,
        P,
        bias,
        *,
        X=None,
        transpose,
        unit,
        S=None,
        sample_from=0,
        post_scale=None,
        beta=None,
        pre=None,
        labels=0,
        alpha=1.0,
        products=True,
    ):
        if isinstance(post_scale, tuple):
            first, rest = post_scale
        else:
            first = rest = 1.0 if post_scale is None else post_scale
        if beta is not None:
            beta = np.ascontiguousarray(beta, dtype=P.dtype).reshape(-1)
        depth = 0 if X is None or not products else X.shape[1]
        n_blocks = column_blocks(P.shape[0], P.shape[1], depth)
        self.runner.call(
            work_kind("half_step", n_blocks, P.shape[0], P.shape[1], depth + 16),
            _kernels.half_step,
            P,
            bias,
            X=X,
            M=self.params.W if X is not None else None,
            transpose_m=transpose,
            alpha=alpha,
            products=products,
            gaussian=unit == "gaussian",
            temperature=self.T,
            beta=beta,
            pre=pre,
            S=S,
            sample_from=sample_from,
            scale_first=first,
            scale_rest=rest,
            n_labels=labels,
            key=self.runner.next_key(),
            n_blocks=n_blocks,
        )

    def up(
        self,
        v,
        P,
        S=None,
        post_scale=None,
        sample_from=0,
        beta=None,
        pre=None,
        have_products=False,
    ):
        """Hidden given visible: ``P <- P(h=1|v)``; ``S <- h ~ P`` if given.

        Only rows ``sample_from:`` of ``P`` are sampled (into ``S``'s rows).
        ``post_scale`` multiplies ``P`` after sampling: a scalar, or a pair
        ``(first, rest)`` for rows before and from ``sample_from``. ``beta``
        (n, 1) is an inverse temperature per row (parallel tempering, AIS);
        ``pre`` receives the pre-activations ``c + W v``. ``have_products``:
        ``P`` already holds ``v W^T`` (computed by the caller).
        """
        self._step(
            P,
            self.params.hidden_bias,
            X=v,
            transpose=True,
            unit="bernoulli",
            S=S,
            sample_from=sample_from,
            post_scale=post_scale,
            beta=beta,
            pre=pre,
            products=not have_products,
        )

    def down(self, h, P, S=None, beta=None, *, product_scale=1.0, bias=None):
        """Visible given hidden: ``P <- E[v|h]``; ``S <- v ~ p(v|h)`` if given.

        The pre-activations are ``product_scale * h W + bias`` (``bias``
        defaults to the visible biases): AIS scales the product by its
        ``beta`` and mixes the biases of two models.
        """
        self._step(
            P,
            self.params.visible_bias if bias is None else bias,
            X=h,
            transpose=False,
            unit=self.params.visible,
            S=S,
            beta=beta,
            labels=self.params.n_labels,
            alpha=product_scale,
        )

    def base_rate(self, P, S, bias=None):
        """``S <- v`` sampled from the visible biases alone (W ignored)."""
        P.fill(0)
        self._step(
            P,
            self.params.visible_bias if bias is None else bias,
            transpose=False,
            unit=self.params.visible,
            S=S,
            labels=self.params.n_labels,
        )

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
    gibbs = Gibbs(params, temperature, runner)
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
    momentum, the weight decay and the step are one kernel call over blocks of
    rows of ``W``, with no scratch.
    """

    def __init__(
        self,
        params,
        state,
        *,
        max_batch,
        persistent,
        n_chains,
        n_steps,
        temperature,
        runner,
    ):
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
        n_rows = self.max_batch + self.n_chains
        # zeroed once: rows a smaller batch leaves untouched stay finite
        self.Vs = np.zeros((n_rows, V), dtype)
        self.Hs = np.zeros((n_rows, H), dtype)
        self.Pv = np.empty((self.n_chains, V), dtype)
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

    def load(self, X, index, Y=None):
        """Copy data rows ``X[index]`` (dense or CSR) into the batch buffer.

        With label units (``params.n_labels > 0``), ``Y`` holds the one-hot
        labels of all rows of ``X`` and ``Y[index]`` fills the label columns.
        """
        n = len(index)
        dst = self.Vs[self.max_batch - n : self.max_batch]
        K = self.params.n_labels
        if K:
            np.take(Y, index, axis=0, out=dst[:, -K:])
            dst = dst[:, :-K]
        if hasattr(X, "toarray"):
            if K:  # scipy writes only into contiguous arrays
                dst[...] = X[index].toarray()
            else:
                X[index].toarray(out=dst)
        else:
            np.take(X, index, axis=0, out=dst)
        return n

    def positive_rows(self, n):
        """Views of the ``n`` data rows of the buffers: ``(visible, hidden)``."""
        mb = self.max_batch
        return self.Vs[mb - n : mb], self.Hs[mb - n : mb]

    def step(
        self,
        n,
        learning_rate,
        momentum,
        weight_decay,
        *,
        positive_products=False,
        extra_positive=None,
        weights=None,
    ):
        """One parameter update from the ``n`` rows placed by :meth:`load`.

        ``weights`` (n,), if given, weigh the data rows' statistics (sample
        weights, scaled to a mean of one over the data); the chains' are not.

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
            g.up(
                self.Vs[lo:hi],
                self.Hs[lo:hi],
                h_chain,
                post_scale=scales,
                sample_from=n,
            )
        else:
            # CD: chains start from a hidden sample of the data
            g.up(
                v_pos, h_pos, h_chain, post_scale=alpha, have_products=positive_products
            )
            for k in range(self.n_steps):
                g.down(h_chain, Pv, v_neg)
                last = k == self.n_steps - 1
                g.up(
                    v_neg,
                    h_neg,
                    None if last else h_chain,
                    post_scale=scales[1] if last else None,
                )
        if weights is not None:
            h_pos *= weights[:, None]
        if extra_positive is not None:
            h_pos += extra_positive

        self._update(lo, hi, n, n_neg, learning_rate, momentum, weight_decay, weights)

    def _update(
        self, lo, hi, n, n_neg, learning_rate, momentum, weight_decay, weights=None
    ):
        """Apply the step from the scaled statistics in rows ``lo:hi``.

        Rows ``lo:lo + n`` are the data (hidden probabilities scaled by the
        learning rate, and by ``weights``), the rest the chains (scaled by
        ``-lr n / n_neg``).
        """
        p, st = self.params, self.state
        alpha = learning_rate / (self.T * n)
        v_pos, v_neg = self.Vs[lo : lo + n], self.Vs[lo + n : hi]
        # vW <- momentum vW + Hs' Vs - lr wd W;  W <- W + vW, and the hidden
        # biases, in one kernel over blocks of hidden units
        n_blocks = update_blocks(hi - lo, p.n_hidden, p.n_visible)
        self.runner.call(
            work_kind("weight_step", n_blocks, hi - lo, p.n_hidden, p.n_visible),
            weight_step,
            self.Vs[lo:hi],
            self.Hs[lo:hi],
            p.W,
            st.velocity_W,
            p.hidden_bias,
            st.velocity_hidden,
            momentum=momentum,
            shrink=learning_rate * weight_decay,
            n_blocks=n_blocks,
        )

        grad_a = v_pos.sum(axis=0) if weights is None else weights @ v_pos
        grad_a -= v_neg.sum(axis=0) * (n / n_neg)
        grad_a *= alpha
        va = st.velocity_visible
        va *= momentum
        va += grad_a
        p.visible_bias += va
