"""Training: contrastive-divergence updates in preallocated buffers.

The positive phase averages over the data rows, the negative phase over
chains; every weight step (product, momentum, decay and step) is one call of
the compiled kernel :func:`._kernels.weight_step`. Runs of CD-k or PCD-k
updates of an RBM without label units go through :func:`._kernels.fused_cd` instead,
many batches a call, where it runs (see :meth:`CDTrainer.run`).
"""

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from ._kernels import fused_cd, fused_cd_available, weight_step
from .gibbs import _MAX_BLOCKS, _MIN_BLOCK_COLUMNS, Gibbs, update_blocks
from .threads import work_kind

#: Multiply-adds of one call of the fused kernel, roughly: calls short enough
#: that an interrupt or a change of load is answered within milliseconds,
#: long enough that Python's share is small.
_FUSED_CALL_WORK = 1 << 27
#: Most blocks of chains of the fused kernel's visible half-step.
_FUSED_ROW_BLOCKS = 8
#: Largest fraction of nonzero entries in the data for which the fused
#: kernel runs in its sparse layout (Bernoulli visible units): its sums
#: over the nonzero entries beat the dense products only on sparse rows,
#: and the chains' visible states are about as sparse as the data.
_SPARSE_DENSITY = 0.25
#: Fewest rows (data and chains) of an update for the sparse layout: its
#: row and column lists and its transposed down products cost more than
#: the sparse sums save on small updates (measured on binarised MNIST by
#: bench_cd_speed-style A/B runs).
_SPARSE_MIN_ROWS = 160
#: Rows of the data whose nonzero entries estimate its density.
_DENSITY_ROWS = 256
#: The sparse layout's work per batch, as a fraction of the dense one's (for
#: the number of batches a call): its sums cover the nonzero entries only.
_SPARSE_WORK = 0.125
#: The sparse layout's unit-minor weights have a multiple of this many
#: columns (the kernel's ST_CD_PAD: a whole number of vectors of any tile).
_SPARSE_PAD = 16
#: Bytes of a cache line: the fused kernel's vector loads are much faster
#: from arrays whose rows start on one.
_ALIGN = 64


def aligned_zeros(shape, dtype, *, zeroed=True):
    """Zeros whose data starts on a cache line (numpy only promises 16
    bytes); with ``zeroed=False``, left as allocated (for work space that is
    written before it is read)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = (np.zeros if zeroed else np.empty)(n * dtype.itemsize + _ALIGN, np.uint8)
    start = -buf.ctypes.data % _ALIGN
    return buf[start : start + n * dtype.itemsize].view(dtype).reshape(shape)


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
            aligned_zeros(params.W.shape, params.W.dtype),
            np.zeros_like(params.visible_bias),
            np.zeros_like(params.hidden_bias),
        )


class FreshChains:
    """CD-k's negative phase: chains restarted at the data of every batch
    (Hinton 2002), ``k`` Gibbs steps from a hidden sample of the data."""

    persistent = False
    #: the positive-phase hooks of :meth:`CDTrainer.step` (the hybrid
    #: classification RBM) need the data and chain rows apart
    supports_positive_hooks = True

    def n_rows(self, max_batch):
        return max_batch

    def setup(self, trainer):
        dtype, H = trainer.params.dtype, trainer.params.n_hidden
        # zeros: every row is drawn before it is used, but the fused kernel's
        # sparse layout copies all of them in (finite values only)
        self.h = np.zeros((trainer.n_chains, H), dtype)

    def run(self, t, n, alpha, positive_products):
        """Fill the scaled statistics: rows ``[mb - n, mb)`` of ``t.Hs`` with
        ``alpha P(h | data)``, rows ``[mb, mb + n_neg)`` with ``-alpha (n /
        n_neg) P(h | chains)``, and the chains' visible states in ``t.Vs``.
        Returns ``n_neg``."""
        g, mb = t.gibbs, t.max_batch
        v_pos, h_pos = t.Vs[mb - n : mb], t.Hs[mb - n : mb]
        v_neg, h_neg = t.Vs[mb : mb + n], t.Hs[mb : mb + n]
        h_chain, Pv = self.h[:n], t.Pv[:n]
        g.up(v_pos, h_pos, h_chain, post_scale=alpha, have_products=positive_products)
        for k in range(t.n_steps):
            g.down(h_chain, Pv, v_neg)
            last = k == t.n_steps - 1
            g.up(
                v_neg,
                h_neg,
                None if last else h_chain,
                post_scale=-alpha if last else None,
            )
        return n

    def after_update(self, t):
        pass


class PersistentChains(FreshChains):
    """PCD-k's negative phase: ``n_chains`` chains carried across updates
    (Tieleman 2008), their hidden states kept in the training state."""

    persistent = True
    supports_positive_hooks = False

    def __init__(self, n_chains):
        self.n_chains = int(n_chains)

    def n_rows(self, max_batch):
        return self.n_chains

    def setup(self, trainer):
        st, H = trainer.state, trainer.params.n_hidden
        if st.chains is None or st.chains.shape != (self.n_chains, H):
            st.chains = trainer.start_chains()
        self.h = st.chains

    def run(self, t, n, alpha, positive_products):
        g, mb, nc = t.gibbs, t.max_batch, self.n_chains
        lo, hi = mb - n, mb + nc
        v_neg, h_neg = t.Vs[mb:hi], t.Hs[mb:hi]
        # k steps h -> v -> h of the chains, the last "-> h" stacked with the
        # positive phase: one GEMM over the adjacent data and chain rows
        for k in range(t.n_steps):
            g.down(self.h, t.Pv, v_neg)
            if k < t.n_steps - 1:
                g.up(v_neg, h_neg, self.h)
        g.up(
            t.Vs[lo:hi],
            t.Hs[lo:hi],
            self.h,
            post_scale=(alpha, -alpha * n / nc),
            sample_from=n,
        )
        return nc


def fused_blocks(n_hidden):
    """Blocks of hidden units of the fused kernel (by the shape alone): a
    power of two, at most ``_MAX_BLOCKS``, of at least ``_MIN_BLOCK_COLUMNS``
    units where there are enough."""
    n = max(1, min(_MAX_BLOCKS, n_hidden // _MIN_BLOCK_COLUMNS))
    return 1 << (n.bit_length() - 1)


class CDTrainer:
    """Contrastive-divergence updates of ``params`` in place, in
    preallocated buffers; the negative phase is a strategy.

    The positive statistics come from up to ``max_batch`` data rows, the
    negative ones from the chains of ``negative``: :class:`FreshChains`
    (CD-k), :class:`PersistentChains` (PCD-k) or
    :class:`~.tempering.TemperedChains` (parallel tempering). Each side is
    averaged over its own number of rows, so an update on any number of rows
    is correctly scaled.

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
        negative,
        max_batch,
        n_steps,
        temperature,
        runner,
    ):
        self.params = params
        self.state = state
        self.negative = negative
        self.max_batch = int(max_batch)
        self.n_chains = negative.n_rows(self.max_batch)
        self.n_steps = int(n_steps)
        self.T = float(temperature)
        self.runner = runner
        self.gibbs = Gibbs(params, temperature, runner)
        dtype, V, H = params.dtype, params.n_visible, params.n_hidden
        n_rows = self.max_batch + self.n_chains
        # zeroed once: rows a smaller batch leaves untouched stay finite
        self.Vs = aligned_zeros((n_rows, V), dtype)
        self.Hs = np.zeros((n_rows, H), dtype)
        self.Pv = np.empty((self.n_chains, V), dtype)
        # made when first needed: the sample weights of a batch, the fused
        # kernel's down products and transposes, and its sparse layout's
        # buffers (with its own down products, transposed)
        self._w_batch = self._part = self._HT = self._sparse = None
        self._layout_of = (None, False)  # (weak reference to X, its layout)
        # whether W, its velocity and the chains' hidden states are in the
        # sparse layout's copies, not yet back (see sync)
        self._live = False
        negative.setup(self)

    def start_chains(self):
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

    def batch_groups(self, slices, X=None):
        """``slices`` (the batches of a pass) grouped into the runs that one
        call of :meth:`run` makes at a time: several batches where the fused
        kernel applies, else one. Set by the shapes alone."""
        p = self.params
        per_call = 1
        if self._fusable(X):
            work = (self.max_batch + self.n_chains) * p.n_visible * p.n_hidden
            if X is not None and self._sparse_layout(X):
                work = int(work * _SPARSE_WORK)
            per_call = max(1, _FUSED_CALL_WORK // max(1, work * self.n_steps))
        return [slices[i : i + per_call] for i in range(0, len(slices), per_call)]

    def _fusable(self, X=None):
        """Whether updates from ``X`` can run in the fused kernel: CD-k or
        PCD-k (not parallel tempering), no label units, data of the
        parameters' dtype, and a machine where the kernel runs (with sample
        weights or without)."""
        p, st = self.params, self.state
        arrays = (p.W, st.velocity_W, self.negative.h)
        return (
            type(self.negative) in (PersistentChains, FreshChains)
            and not p.n_labels
            and fused_cd_available()
            and all(a is not None and a.flags.c_contiguous for a in arrays)
            and (X is None or X.dtype == p.dtype)
        )

    def _sparse_layout(self, X):
        """Whether the fused kernel takes its sparse layout for ``X``:
        Bernoulli visible units and data with at most ``_SPARSE_DENSITY``
        nonzero entries (counted on up to ``_DENSITY_ROWS`` evenly spaced rows),
        and updates of at least ``_SPARSE_MIN_ROWS`` rows. Set by the data and
        the shapes alone, so results do not depend on the number of threads;
        counted once per array (the passes of a fit give the same one)."""
        if self.params.visible != "bernoulli" or len(self.Vs) < _SPARSE_MIN_ROWS:
            return False
        seen, sparse = self._layout_of
        if seen is not None and seen() is X:
            return sparse
        n = X.shape[0]
        if hasattr(X, "nnz"):
            sparse = X.nnz <= _SPARSE_DENSITY * n * X.shape[1]
        else:
            rows = np.unique(np.linspace(0, n - 1, _DENSITY_ROWS).astype(np.intp))
            sub = X[rows] if n else X
            sparse = np.count_nonzero(sub) <= _SPARSE_DENSITY * sub.size
        self._layout_of = (weakref.ref(X), sparse)
        return sparse

    def _sparse_buffers(self):
        """The sparse layout's work space (see :func:`._kernels.fused_cd`)."""
        if self._sparse is None:
            p = self.params
            V, n_rows = p.n_visible, len(self.Vs)
            ldwt = -(-p.n_hidden // _SPARSE_PAD) * _SPARSE_PAD
            ldh = -(-self.n_chains // _SPARSE_PAD) * _SPARSE_PAD
            # all written by the kernel before it reads them
            space = functools.partial(aligned_zeros, dtype=p.dtype, zeroed=False)
            self._sparse = (
                space((V, ldwt)),
                space((V, ldwt)),
                space((n_rows, ldwt)),
                np.empty((n_rows, V), np.int32),
                space((n_rows, V)),
                np.empty(n_rows, np.int32),
                np.empty((V, n_rows), np.int32),
                space((V, n_rows)),
                np.empty(V, np.int32),
                space((p.n_hidden, ldh)),
                space((fused_blocks(p.n_hidden), V, ldh)),
            )
        return self._sparse[:-1]

    def sync(self):
        """Copy W, its velocity and the chains' hidden states back from the
        sparse layout's unit-minor copies, where runs with ``sync=False``
        left them (nothing to do otherwise)."""
        if self._live:
            H, h = self.params.n_hidden, self.negative.h
            WT, vWT, hT = self._sparse[0], self._sparse[1], self._sparse[9]
            self.params.W[...] = WT[:, :H].T
            self.state.velocity_W[...] = vWT[:, :H].T
            h[...] = hT[:, : len(h)].T
            self._live = False

    def run(
        self,
        X,
        order,
        slices,
        learning_rate,
        momentum,
        weight_decay,
        weights=None,
        *,
        sync=True,
    ):
        """The updates from batches ``order[s]`` of ``X``, ``s`` in ``slices``.

        ``weights`` (n_samples,), if given, are the rows' sample weights (see
        :meth:`step`). CD-k and PCD-k updates of an RBM without label units
        run as one call of the fused kernel :func:`._kernels.fused_cd` (the
        same updates as :meth:`step`'s, with the draws of their own streams;
        sparse rows are made dense a run at a time); anything else runs
        :meth:`load` and :meth:`step` per batch. ``sync=False`` lets the
        sparse layout keep W, its velocity and the chains' hidden states in
        its own copies for the next run (the parameters are stale until a
        run with ``sync=True`` or :meth:`sync`): the runs of an epoch
        copy them once, and give the bits of runs that copy each time.
        """
        fusable = self._fusable(X)
        if not fusable or not self._sparse_layout(X):
            self.sync()  # this run reads and writes W itself
        if not fusable:
            if weights is not None and self._w_batch is None:
                self._w_batch = np.empty(self.max_batch, X.dtype)
            for batch in slices:
                n = self.load(X, order[batch])
                if weights is not None:
                    np.take(weights, order[batch], out=self._w_batch[:n])
                self.step(
                    n,
                    learning_rate,
                    momentum,
                    weight_decay,
                    weights=None if weights is None else self._w_batch[:n],
                )
            return
        p, st = self.params, self.state
        sparse = self._sparse_buffers() if self._sparse_layout(X) else None
        rows = np.concatenate([order[b] for b in slices]).astype(np.int64, copy=False)
        sizes = [len(order[b]) for b in slices]
        # the weight of each entry of rows (taken before any remapping below)
        w_run = None if weights is None else weights[rows].astype(p.dtype)
        if hasattr(X, "toarray"):  # sparse: this run's rows, dense
            X, rows = X[rows].toarray(), np.arange(len(rows), dtype=np.int64)
        elif not X.flags.c_contiguous:
            X, rows = (
                np.ascontiguousarray(X[rows]),
                np.arange(len(rows), dtype=np.int64),
            )
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n_blocks = fused_blocks(p.n_hidden)
        if self._HT is None:
            self._HT = aligned_zeros((p.n_hidden, len(self.Vs)), p.dtype)
        if sparse is not None:  # its down products transposed
            part = self._sparse[-1]
        elif self._part is None:
            part = self._part = aligned_zeros(
                (n_blocks, self.n_chains, p.n_visible), p.dtype
            )
        else:
            part = self._part
        self.runner.call(
            work_kind(
                "fused_cd" if sparse is None else "fused_cd_sparse",
                n_blocks,
                len(slices),
                self.max_batch,
                p.n_visible,
                p.n_hidden,
            ),
            fused_cd,
            X,
            rows,
            bounds,
            p.W,
            st.velocity_W,
            p.visible_bias,
            st.velocity_visible,
            p.hidden_bias,
            st.velocity_hidden,
            self.negative.h,
            self.Vs,
            self._HT,
            part,
            learning_rate=float(learning_rate),
            momentum=float(momentum),
            shrink=float(learning_rate) * float(weight_decay),
            temperature=self.T,
            n_steps=self.n_steps,
            n_row_blocks=min(self.n_chains, _FUSED_ROW_BLOCKS),
            key=self.runner.next_key(),
            fresh=not self.negative.persistent,
            gaussian=p.visible == "gaussian",
            weights=w_run,
            sparse=sparse,
            copy_in=not self._live,
            copy_out=sync,
        )
        self._live = sparse is not None and not sync

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
        hooks = positive_products or extra_positive is not None
        if hooks and not self.negative.supports_positive_hooks:
            raise ValueError("The positive-phase hooks are for CD, not PCD or PT.")
        mb = self.max_batch
        lo = mb - n
        h_pos = self.Hs[lo:mb]
        # The learning rate is folded into the hidden probabilities as they are
        # made (post_scale), so that the weight gradient is one plain product.
        alpha = learning_rate / (self.T * n)
        n_neg = self.negative.run(self, n, alpha, positive_products)
        if weights is not None:
            h_pos *= weights[:, None]
        if extra_positive is not None:
            h_pos += extra_positive
        self._update(
            lo, mb + n_neg, n, n_neg, learning_rate, momentum, weight_decay, weights
        )
        self.negative.after_update(self)

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
