"""The model: an RBM's parameters and its deterministic conditionals.

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

This module holds the parameter record and what is computed from it without
sampling (hidden probabilities, visible means, free energies, the
pseudo-likelihood), in row chunks of bounded memory; sampling is in
:mod:`.gibbs`, training in :mod:`.training`.
"""

from dataclasses import dataclass

import numpy as np

from ..ops import _sigmoid_, _softplus_
from ._kernels import factorised_limit, pseudo_likelihood_rows
from .threads import blas_capped, work_kind


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


#: rows per block of the compiled pseudo-likelihood (each block's products
#: in one GEMM)
_PLL_BLOCK_ROWS = 32


def pseudo_log_likelihood(params, X, temperature, runner=None, max_elements=1 << 22):
    """Exact pseudo-log-likelihood ``sum_i log P(v_i | v_-i)`` of each row.

    For Bernoulli visible units. ``P(v_i | v_-i) = sigma((F(v') - F(v)) / T)``
    where ``v'`` is ``v`` with unit ``i`` replaced by ``1 - v_i``; every unit
    is counted (no random subset), so the result is deterministic. Costs
    ``O(n_samples * n_visible * n_hidden)`` elementwise work: in the compiled
    kernel (``_pseudo.h``, row blocks on ``runner``'s threads) where ``T``
    and ``1 / T`` are normal numbers of the dtype and the result is finite,
    else in numpy, in row chunks of bounded memory (``max_elements``).
    """
    if params.visible != "bernoulli":
        raise ValueError("The pseudo-likelihood is defined here for Bernoulli units.")
    if hasattr(X, "toarray"):
        X = X.toarray()
    n, V = X.shape
    H = params.n_hidden
    T = temperature
    out = np.empty(n, dtype=X.dtype)
    if _pll_compiled(params, X, T, runner, out):
        return out
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


def _pll_compiled(params, X, T, runner, out):
    """:func:`pseudo_log_likelihood` in the compiled kernel, into ``out``;
    False (``out`` then holds nothing of use) where ``T`` is outside its
    range or the result is not finite."""
    info = np.finfo(X.dtype)
    with np.errstate(over="ignore", divide="ignore"):
        t = X.dtype.type(T)
        # as the kernel takes it: 1 / T in float64, then rounded
        inv_t = X.dtype.type(np.float64(1.0) / np.float64(T))
    if not (info.tiny <= t < np.inf and np.isfinite(inv_t)) or X.shape[0] == 0:
        return False
    X = np.ascontiguousarray(X)
    n_threads = 1 if runner is None else runner.n_threads
    H, V = params.n_hidden, params.n_visible
    scratch = np.empty((n_threads, _PLL_BLOCK_ROWS * H + 3 * V), X.dtype)
    args = (X, params.W, params.visible_bias, params.hidden_bias, float(T), out)
    kw = dict(block_rows=_PLL_BLOCK_ROWS)
    # the factorised path for binary rows: e^{+-W / T} once per call
    w_top = float(np.abs(params.W).max(initial=0.0)) * float(inv_t)
    if w_top <= factorised_limit(X.dtype):
        Ws = params.W * inv_t
        kw["scaled"] = (np.exp(Ws), np.exp(-Ws))
    if runner is None:
        pseudo_likelihood_rows(*args, scratch, **kw)
    else:
        n_blocks = -(-X.shape[0] // _PLL_BLOCK_ROWS)
        kind = work_kind("pseudo_likelihood", n_blocks, X.shape[0], V, H)
        with blas_capped():
            runner.call(kind, pseudo_likelihood_rows, *args, scratch, **kw)
    return bool(np.isfinite(out).all())
