"""The classification RBM's exact conditional ``p(y | x)`` and its gradient.

Knows nothing of scikit-learn. The model is an :class:`~.model.RBMParams` whose
last ``K`` visible units are a one-hot label (``params.n_labels = K``):
``W = [W_x | U]`` and ``visible_bias = [a | d]``. Summing the hidden units out,
the negative free energy of ``(x, y = k)`` over ``T`` is

.. math::

    G_k(x) = -\\frac{F(x, k)}{T}
           = \\frac{d_k}{T} + \\sum_j \\operatorname{softplus}\\Big(
             \\frac{c_j + U_{jk} + W_j x}{T}\\Big),
    \\qquad p(y = k \\mid x) = \\operatorname{softmax}(G(x))_k,

(the terms of ``F`` that depend on ``x`` alone cancel in ``p(y | x)`` and are
left out), so classification needs no sampling (Larochelle & Bengio 2008).

Speed. Each row goes through one compiled pass (``_conditional.h``), summed
in the split of :meth:`ConditionalKernel._scores_stable` (the
class-independent ``max(y, 0)`` apart). Where ``|y / T|`` and ``|U / T|`` are
small enough that ``e^{y / T} e^{U / T}`` stays finite, the exponential
factorises: ``e^{+-U / T}`` once per update, ``e^{+-y / T}`` once per row and
hidden unit, and per element only products and the factors
``1 + e^{-|z|}`` in [1, 2], multiplied in lanes with one log per 64 of them
(the sigmoids the gradient needs come from the same products); elsewhere
one exponential and one log per element. A batch or chunk whose
pre-activations lie beyond a quarter of the dtype's range, or parameters so
large (or ``T`` so small) that the sums could overflow, takes the numpy
path of that method instead. The gradient's kernel computes the products
``X W_x^T`` too, in row blocks (by shape) on the core's threads; the
gradient of ``U`` is summed per block, in block order, so results do not
depend on the number of threads. At inference, chunks of rows bound the
memory.
"""

import threading

import numpy as np

from ..ops import _sigmoid_, _softmax_and_lse_, _softplus_
from ._kernels import (
    conditional_gradient,
    conditional_rows,
    factorised_limit,
    weight_step,
)
from .gibbs import update_blocks
from .threads import work_kind
from .training import CDTrainer, FreshChains

# elements of one (hidden units, rows) chunk buffer of the numpy path, and the
# fewest (rows x classes x hidden units) elements per row block: small enough
# that a batch of a hundred rows makes several blocks for the threads
_CHUNK_ELEMENTS = 1 << 20
_BLOCK_ELEMENTS = 1 << 16
# most |U| / T times the number of hidden units for the compiled path: its
# sums of H terms bounded by |U| / T + log 2 stay finite (as a fraction of
# the dtype's largest value)
_SUM_MARGIN = 1.0 / 16


class _Buffers(threading.local):
    """Chunk scratch, one set per thread, allocated on first use."""

    arrays = None
    compiled = None


class ConditionalKernel:
    """``p(y | x)``, the gradient of ``log p(y | x)`` and ``E[h | x]``.

    Rows are cut into blocks (by shape only) spread over the runner's
    threads, and blocks into chunks of at most ``_CHUNK_ELEMENTS /
    n_hidden`` rows. A chunk works on contiguous (hidden units, rows)
    arrays, one class at a time, so that memory is ``O(n_hidden x rows)``
    whatever the number of classes.

    Parameters
    ----------
    params : RBMParams
        With ``n_labels = K > 0``. Read at :meth:`prepare`.
    temperature : float
    runner : BlockRunner
    """

    def __init__(self, params, temperature, runner):
        self.params = params
        self.T = float(temperature)
        self.runner = runner
        K, H = params.n_labels, params.n_hidden
        self.K, self.H = K, H
        self.dtype = params.dtype
        # a chunk's (classes, hidden units, rows) array has at most
        # _CHUNK_ELEMENTS elements, or one row of one group of classes
        self.chunk_rows = max(1, _CHUNK_ELEMENTS // (K * H))
        self.group = min(K, max(1, _CHUNK_ELEMENTS // H))
        self._local = _Buffers()

    @property
    def W_x(self):
        return self.params.W[:, : -self.K]

    def prepare(self):
        """Read the current parameters (call after every update)."""
        p, K, T = self.params, self.K, self.T
        self.U = np.ascontiguousarray(p.W[:, -K:].T)  # (K, H), in energy units
        self.d = p.visible_bias[-K:].astype(np.float64)
        self.d_t = np.ascontiguousarray(p.visible_bias[-K:])
        self.c = p.hidden_bias
        # the compiled path needs T and 1 / T normal in the dtype, and sums of
        # H terms of size |U| / T (or |d|, |c|) far from overflow
        info = np.finfo(self.dtype)
        limit = float(info.max) * _SUM_MARGIN
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            t = self.dtype.type(T)
            # as the kernel takes it: 1 / T in float64, then rounded
            inv_t = self.dtype.type(np.float64(1.0) / np.float64(T))
            sizes = (
                float(np.abs(self.U).max(initial=0.0)) * max(1, self.H) / T,
                float(np.abs(self.d).max(initial=0.0)),
                float(np.abs(self.c).max(initial=0.0)),
            )
        self._compiled = (
            info.tiny <= t < np.inf
            and np.isfinite(inv_t)
            and all(np.isfinite(v) and v < limit for v in sizes)
        )
        # the kernel's factorised path: e^{+-U / T} once per update
        self._scaled = None
        if self._compiled and sizes[0] / max(1, self.H) <= factorised_limit(self.dtype):
            Us = self.U * inv_t
            self._scaled = (Us, np.exp(Us), np.exp(-Us))

    def _scratch(self, m, kc):
        """This thread's scratch for the numpy path: two (H, m) arrays, one
        (kc, H, m) and one (m, H) for the products at inference."""
        b = self._local.arrays
        size_max = self.H * self.chunk_rows
        flat = 3 * size_max + self.group * size_max
        if b is None or b.size != flat or b.dtype != self.dtype:
            b = self._local.arrays = np.empty(flat, self.dtype)
        size = self.H * m
        two = [b[i * size : (i + 1) * size].reshape(self.H, m) for i in range(2)]
        E3 = b[2 * size : 2 * size + kc * size].reshape(kc, self.H, m)
        A = b[flat - size_max : flat - size_max + size].reshape(m, self.H)
        return two + [E3, A]

    def _groups(self):
        return [
            slice(k, min(k + self.group, self.K)) for k in range(0, self.K, self.group)
        ]

    def _chunk(
        self, Ac, G, S, D=None, Y=None, loss=None, out=None, gU=None, weights=None
    ):
        """One chunk of rows, from their products ``Ac = X W_x^T`` (m, H).

        ``G`` (m, K) <- ``-F(x, .) / T`` (saturated at the dtype's largest
        value where it lies beyond it) and ``S`` (m, K) <- ``G`` minus its
        row maximum, computed without that saturation (``p(y | x) =
        softmax(S)``). With ``D``: ``D <- p(y | x)`` and, with ``Y`` also,
        ``D <- Y - p``, ``loss <- -log p(y | x)``. With ``out`` (m, H; may
        be ``Ac`` itself): ``out <- sum_k D_k sigmoid(z_k)`` and ``gU``
        (K, H) ``+= sum_rows D_k sigmoid(z_k)``.
        """
        if self._compiled and self._compiled_chunk(
            Ac, G, S, D, Y, loss, out, gU, weights
        ):
            return
        m = Ac.shape[0]
        AT, MT, E3, _ = self._scratch(m, self.group)
        AT[...] = Ac.T
        AT += self.c[:, None]
        self._scores_stable(AT, E3, G, S)
        if D is None:
            return
        D[...] = S
        lse = _softmax_and_lse_(D, 1.0)  # D <- p(y | x); lse = log sum e^S
        if Y is not None:
            loss[...] = lse - np.einsum("ik,ik->i", S, Y)
            np.subtract(Y, D, out=D)
            if weights is not None:  # weighted rows: their loss and gradient
                D *= weights[:, None]
                loss *= weights
        if out is None:
            return
        DT = D.T
        for i, ks in enumerate(self._groups()):
            E = E3[: ks.stop - ks.start]
            # AT holds the clipped pre-activations y (energy units)
            np.add(AT, self.U[ks, :, None], out=E)
            _sigmoid_(E, self.T)
            E *= DT[ks, None, :]
            if i == 0:
                np.sum(E, axis=0, out=MT)
            else:
                MT += E.sum(axis=0)
            if gU is not None:
                gU[ks] += E.sum(axis=2)
        out[...] = MT.T

    def _compiled_chunk(self, Ac, G, S, D, Y, loss, out, gU, weights):
        """:meth:`_chunk` in the compiled kernel; False (nothing written)
        where a pre-activation is beyond its range."""
        buf = self._local.compiled
        size = (self.K + 4) * self.H
        if buf is None or buf[0].size != size or buf[0].dtype != self.dtype:
            buf = self._local.compiled = (
                np.empty(size, self.dtype),
                np.empty(max(1, self.K)),
            )
        return conditional_rows(
            Ac,
            self.c,
            self.U,
            self.d_t,
            self.T,
            G,
            S,
            scaled=self._scaled,
            D=D,
            Y=Y,
            loss=loss,
            weights=weights,
            out=out,
            gU=gU,
            scratch=buf[0],
            work=buf[1],
        )

    def _scores_stable(self, Y, E3, G, S):
        """``G`` and ``S`` for any finite parameters, ``T > 0`` and
        pre-activations ``Y = c + W_x x`` (H, m) that may be infinite.

        In energy units, ``T softplus((y + u) / T) = max(y, 0) + h(y, u)``
        with ``h(y, u) = max(u, -y) + min(y, 0) + T log(1 + e^{-|y + u| / T})``
        bounded by ``|u| + T log 2``: the unbounded ``max(y, 0)`` is the same
        for every class and cancels in ``S``; it is added back, in float64,
        for ``G``. Nothing is divided by ``T`` before the class maximum is
        taken, so the ``T -> 0`` limit (argmax, one-hot) is reached exactly.
        ``Y`` is clipped in place to a finite range (``+-inf`` give the
        limits ``h = u`` and ``h = 0``).
        """
        T = self.T
        big = np.finfo(Y.dtype).max / 4
        with np.errstate(over="ignore"):
            R = np.maximum(Y, 0).sum(axis=0, dtype=np.float64)  # may be inf
        np.clip(Y, -big, big, out=Y)
        low = np.minimum(Y, 0)
        negF = np.empty((Y.shape[1], self.K))
        for ks in self._groups():
            E = E3[: ks.stop - ks.start]
            np.add(Y, self.U[ks, :, None], out=E)  # y + u
            np.abs(E, out=E)
            np.negative(E, out=E)
            _softplus_(E, T)  # T log(1 + e^{-|y + u| / T}), in [0, T log 2]
            E += np.maximum(self.U[ks, :, None], -Y)
            E += low
            negF[:, ks] = E.sum(axis=1, dtype=np.float64).T
        negF += self.d
        fmax = np.finfo(G.dtype).max
        with np.errstate(over="ignore"):
            # negF finite, R >= 0 finite or +inf: no NaN in either
            G[...] = np.clip((negF + R[:, None]) / T, -fmax, fmax)
            negF -= negF.max(axis=1, keepdims=True)
            negF /= T
            S[...] = np.clip(negF, -fmax, 0.0, out=negF)

    def row_blocks(self, n):
        """Row blocks of ``n`` rows (from the shape only)."""
        return self.runner.blocks(n, max(1, self.K * self.H), _BLOCK_ELEMENTS)

    def _blocks(self, n, fn):
        """``fn(block index, rows)`` over the row blocks, chunk by chunk."""
        blocks = self.row_blocks(n)
        step = self.chunk_rows

        def run(item):
            b, rows = item
            for i in range(rows.start, rows.stop, step):
                fn(b, slice(i, min(i + step, rows.stop)))

        self.runner.each(run, list(enumerate(blocks)))
        return len(blocks)

    def _products(self, X, rows):
        """``X[rows] W_x^T`` (m, H) in this thread's scratch.

        Computed chunk by chunk inside the row blocks (BLAS at one thread,
        chunks fixed by the shape: the same rounding for any thread count),
        so that memory beyond the output stays bounded. A row whose product
        overflows is recomputed scaled by its largest ``|x|`` in float64, so
        that it holds ``+-inf`` where the true value is beyond the dtype's
        range, never NaN.
        """
        m = rows.stop - rows.start
        A = self._scratch(m, self.group)[3]
        Xr = X[rows]
        Wt = self.W_x.T
        with np.errstate(over="ignore", invalid="ignore"):
            if hasattr(Xr, "toarray"):
                A[...] = Xr @ Wt
            else:
                np.matmul(Xr, Wt, out=A)
        bad = ~np.isfinite(A).all(axis=1)
        if bad.any():
            Xb = Xr[bad]
            Xb = np.asarray(
                Xb.toarray() if hasattr(Xb, "toarray") else Xb, dtype=np.float64
            )
            scale = np.abs(Xb).max(axis=1, keepdims=True)
            with np.errstate(over="ignore"):
                A[bad] = ((Xb / scale) @ Wt.astype(np.float64)) * scale
        return A

    def scores(self, X):
        """``G = -F(x, y) / T`` and ``S = G - max_y G`` of every row and
        class, (n, K) each; ``p(y | x) = softmax(S)``."""
        self.prepare()
        G = np.empty((X.shape[0], self.K), self.dtype)
        S = np.empty_like(G)
        self._blocks(
            X.shape[0], lambda b, r: self._chunk(self._products(X, r), G[r], S[r])
        )
        return G, S

    def map_scores(self, X, fn, out):
        """``out[rows] = fn(G, S)`` chunk by chunk, with ``G`` and ``S`` of
        those rows as in :meth:`scores`: memory beyond ``out`` stays bounded."""
        self.prepare()
        K, dtype = self.K, self.dtype

        def run(b, r):
            G = np.empty((r.stop - r.start, K), dtype)
            S = np.empty_like(G)
            self._chunk(self._products(X, r), G, S)
            out[r] = fn(G, S)

        self._blocks(X.shape[0], run)
        return out

    def hidden(self, X):
        """``E[h | x] = sum_y p(y | x) sigmoid((c + U_y + W_x x) / T)``, (n, H)."""
        self.prepare()
        n = X.shape[0]
        out = np.empty((n, self.H), self.dtype)

        def run(b, r):
            G = np.empty((3, r.stop - r.start, self.K), self.dtype)
            self._chunk(self._products(X, r), G[0], G[1], G[2], out=out[r])

        self._blocks(n, run)
        return out

    def gradient(self, Xb, Yb, M, D, loss, gU_blocks, keep=None, weights=None):
        """Statistics of the gradient of ``sum_i log p(y_i | x_i)`` (times T).

        ``Xb`` (n, V) data rows, ``Yb`` (n, K) their one-hot labels. On return
        ``M`` (n, H) holds ``M_ij = sum_k (Y_ik - p_ik) sigmoid(z_ijk)``, ``D``
        (n, K) holds ``Y - p``, ``loss`` (n,) holds ``-log p(y_i | x_i)`` and
        ``gU_blocks[b]`` (K, H) the sum over block ``b`` of
        ``(Y_ik - p_ik) sigmoid(z_ijk)``. The gradient of the mean
        log-likelihood is these over ``n T``: ``M^T X`` for ``W_x``, column
        sums of ``M`` for ``c``, of ``D`` for ``d``, and ``sum_b gU_b^T`` for
        ``U``. Returns the number of blocks. ``keep`` (n, H), if given,
        receives the products ``X W_x^T`` (which ``M`` holds only at first).
        ``weights`` (n,), if given, multiply each row's ``Y - p`` and loss
        (and so every statistic above).
        """
        self.prepare()
        n = Xb.shape[0]
        # the scores, kept between updates (the trainer's batches are at most
        # its max_batch rows)
        scores = getattr(self, "_grad_scores", None)
        if scores is None or scores.shape[1] < n:
            scores = self._grad_scores = np.empty((2, n, self.K), self.dtype)
        G, S = scores[0, :n], scores[1, :n]
        if self._compiled and self._compiled_gradient(
            Xb, Yb, M, D, loss, G, S, gU_blocks, keep, weights
        ):
            return len(self.row_blocks(n))
        gU_blocks[: len(self.row_blocks(n))] = 0
        np.matmul(Xb, self.W_x.T, out=M)  # read, then overwritten, chunk by chunk
        if keep is not None:
            keep[...] = M

        def fn(b, r):
            self._chunk(
                M[r],
                G[r],
                S[r],
                D[r],
                Yb[r],
                loss[r],
                M[r],
                gU_blocks[b],
                None if weights is None else weights[r],
            )

        return self._blocks(n, fn)

    def _compiled_gradient(self, Xb, Yb, M, D, loss, G, S, gU_blocks, keep, weights):
        """:meth:`gradient` in one call of the compiled kernel, products
        included, over the row blocks in parallel; False where a
        pre-activation is beyond its range."""
        n = Xb.shape[0]
        blocks = self.row_blocks(n)
        key = (n, len(blocks))
        if getattr(self, "_grad_key", None) != key:
            bounds = np.array([b.start for b in blocks] + [n], dtype=np.int64)
            size = (self.K + 4) * self.H
            self._grad_key = key
            self._grad_buffers = (
                bounds,
                np.empty((len(blocks), size), self.dtype),
                np.empty((len(blocks), max(1, self.K))),
            )
        bounds, scratch, work = self._grad_buffers
        return self.runner.call(
            work_kind("conditional", len(blocks), n, self.K, self.H),
            conditional_gradient,
            Xb,
            self.W_x,
            self.c,
            self.U,
            self.d_t,
            self.T,
            Yb,
            M if keep is None else keep,
            M,
            G,
            S,
            D,
            loss,
            gU_blocks,
            bounds,
            scratch,
            work,
            scaled=self._scaled,
            weights=weights,
        )


class ClassRBMTrainer:
    """Discriminative, generative or hybrid updates of a classification RBM.

    Minimises ``-log p(y | x) - alpha log p(x, y)`` per row (Larochelle &
    Bengio 2008): the first term by its exact gradient (:class:`ConditionalKernel`),
    the second by CD-k on the joint ``(x, y)`` through :class:`~.training.CDTrainer`
    (``discriminative=False`` keeps only it, with weight ``alpha``). Both
    gradients are taken at the same parameters.

    A hybrid update is one CD update that carries the discriminative gradient
    too: the products ``X W_x^T`` are computed once, for the conditional and
    for CD's positive phase; the discriminative hidden statistics ``M`` are
    added to CD's positive ones, so that one GEMM gives both weight gradients
    and one momentum and one weight decay apply to their sum (momentum is
    linear, so that is the same step as two velocities would give). The only
    term that differs, the gradient of the label weights ``U``, is corrected
    after the step.

    Parameters
    ----------
    params : RBMParams
        With ``n_labels > 0``; updated in place.
    state : TrainState
        Velocities (of the summed gradient).
    """

    def __init__(
        self,
        params,
        state,
        *,
        max_batch,
        discriminative,
        generative_weight,
        n_steps,
        temperature,
        runner,
    ):
        self.params, self.state = params, state
        self.discriminative = bool(discriminative)
        self.alpha = float(generative_weight)
        self.T = float(temperature)
        self.max_batch = int(max_batch)
        self.runner = runner
        dtype, K, H = params.dtype, params.n_labels, params.n_hidden
        V = params.n_visible - K
        self.cd = None
        if self.alpha > 0:
            self.cd = CDTrainer(
                params,
                state,
                negative=FreshChains(),
                max_batch=max_batch,
                n_steps=n_steps,
                temperature=temperature,
                runner=runner,
            )
        if not self.discriminative:
            return
        self.kernel = ConditionalKernel(params, temperature, runner)
        mb = self.max_batch
        self.Xb = None if self.cd is not None else np.empty((mb, V), dtype)
        self.Yb = np.empty((mb, K), dtype)
        self.A = np.empty((mb, H), dtype)
        self.D = np.empty((mb, K), dtype)
        self.loss = np.empty(mb, dtype)
        self.gU = np.empty((len(self.kernel.row_blocks(mb)), K, H), dtype)
        if self.cd is not None:
            self._YU = np.empty((mb, H), dtype)  # Y U^T of the hybrid step

    def step(self, X, index, Y, learning_rate, momentum, weight_decay, weights=None):
        """One update from rows ``index`` of ``X`` with one-hot labels ``Y``.

        ``weights``, if given, holds a weight for every row of ``X`` (sample
        weights scaled to a mean of one): the data's statistics and the loss
        are weighted, the chains' statistics are not. Returns the summed
        (weighted) ``-log p(y | x)`` of the rows before the update (``nan``
        for a purely generative trainer, which does not compute it).
        """
        n = len(index)
        lr, wd = float(learning_rate), float(weight_decay)
        momentum = float(momentum)
        wb = None if weights is None else weights[index]
        if not self.discriminative:
            self.cd.load(X, index, Y)
            self.cd.step(n, lr * self.alpha, momentum, wd, weights=wb)
            return np.nan
        Yb = self.Yb[:n]
        np.take(Y, index, axis=0, out=Yb)
        A, D, loss = self.A[:n], self.D[:n], self.loss[:n]
        if self.cd is None:
            Xb = self.Xb[:n]
            if hasattr(X, "toarray"):
                X[index].toarray(out=Xb)
            else:
                np.take(X, index, axis=0, out=Xb)
            n_blocks = self.kernel.gradient(Xb, Yb, A, D, loss, self.gU, weights=wb)
            self._apply(Xb, n, n_blocks, lr, momentum, wd)
            return float(loss.sum(dtype=np.float64))

        # hybrid: the joint rows double as the data rows
        K = self.params.n_labels
        self.cd.load(X, index, Y)
        v_pos, h_pos = self.cd.positive_rows(n)
        Xb = v_pos[:, :-K]
        # X W_x^T kept in CD's positive rows; + Y U^T makes them [X Y] W^T
        n_blocks = self.kernel.gradient(
            Xb, Yb, A, D, loss, self.gU, keep=h_pos, weights=wb
        )
        YU = self._YU[:n]
        np.matmul(Yb, self.params.W[:, -K:].T, out=YU)
        h_pos += YU
        scale = A.dtype.type(lr / (self.T * n))
        A *= scale  # the discriminative statistics, at their learning rate
        self.cd.step(
            n,
            lr * self.alpha,
            momentum,
            wd,
            positive_products=True,
            extra_positive=A,
            weights=wb,
        )
        # the step gave U the gradient A^T Y; the conditional's is sum_b gU_b^T
        gU = self.gU[0] if n_blocks == 1 else self.gU[:n_blocks].sum(axis=0)
        fix = gU.T * scale
        fix -= A.T @ Yb
        self._add(fix, D.sum(axis=0) * scale)
        return float(loss.sum(dtype=np.float64))

    def _add(self, dU, dd):
        """Add ``dU`` to the label weights and ``dd`` to the label biases, and
        to their velocities (as if they had been part of the step)."""
        p, st, K = self.params, self.state, self.params.n_labels
        for a in (p.W[:, -K:], st.velocity_W[:, -K:]):
            a += dU
        for a in (p.visible_bias[-K:], st.velocity_visible[-K:]):
            a += dd

    def _apply(self, Xb, n, n_blocks, lr, momentum, wd):
        """The discriminative step alone, from the kernel's statistics."""
        p, st, K = self.params, self.state, self.params.n_labels
        dt = p.dtype.type
        scale = dt(lr / (self.T * n))
        A, D = self.A[:n], self.D[:n]
        A *= scale  # M, scaled: the weight gradient is one plain product
        shrink = dt(lr * wd)
        W, vW = p.W, st.velocity_W
        V = W.shape[1] - K
        # the feature weights and the hidden biases: the core's weight step
        w_blocks = update_blocks(n, p.n_hidden, V)
        self.runner.call(
            work_kind("weight_step", w_blocks, n, p.n_hidden, V),
            weight_step,
            Xb,
            A,
            W[:, :V],
            vW[:, :V],
            p.hidden_bias,
            st.velocity_hidden,
            momentum=momentum,
            shrink=shrink,
            n_blocks=w_blocks,
        )
        gU = self.gU[0] if n_blocks == 1 else self.gU[:n_blocks].sum(axis=0)
        vU, U = vW[:, V:], W[:, V:]
        vU *= dt(momentum)
        vU += gU.T * scale
        if shrink:
            vU -= U * shrink
        U += vU
        vd = st.velocity_visible[V:]
        vd *= dt(momentum)
        vd += D.sum(axis=0) * scale
        p.visible_bias[V:] += vd
