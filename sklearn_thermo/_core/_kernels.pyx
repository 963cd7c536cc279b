# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled kernels of the CD core: Gibbs half-steps and the weight step.

Each kernel splits its output into blocks whose boundaries depend on the
shapes alone, and runs the blocks on OpenMP threads (``prange``, dynamic
schedule, so that a thread the OS has paused does not hold the others up).
A block calls single-threaded BLAS (``scipy.linalg.cython_blas``) for its
share of the matrix product, then makes one fused pass over its elements.
Random numbers are counter-based (see ``_elementwise.h``): an element's
uniform depends on the call's key and the element's position only. So for a
given key the result is the same for any number of threads.

The caller caps BLAS at one thread while these run (threadpoolctl), the
pattern of scikit-learn's KMeans. Arrays are row-major with unit column
stride; rows may be any distance apart.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint64_t
from libc.math cimport INFINITY, exp, log, sqrt
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np


cdef extern from "_elementwise.h" nogil:
    uint64_t st_mix64(uint64_t z)
    void st_row_f(float *p, const float *bias, Py_ssize_t c0, Py_ssize_t c1,
                  int gaussian, float scale_in, float sigma, float *pre, float *s,
                  uint64_t key, uint64_t base, float scale)
    void st_row_d(double *p, const double *bias, Py_ssize_t c0, Py_ssize_t c1,
                  int gaussian, double scale_in, double sigma, double *pre,
                  double *s, uint64_t key, uint64_t base, double scale)
    void st_softmax_f(float *p, const float *bias, Py_ssize_t k, float scale_in,
                      float *s, uint64_t key, uint64_t e, float scale)
    void st_softmax_d(double *p, const double *bias, Py_ssize_t k, double scale_in,
                      double *s, uint64_t key, uint64_t e, double scale)
    void st_step_f(float *w, float *v, Py_ssize_t n, float shrink)
    void st_step_d(double *w, double *v, Py_ssize_t n, double shrink)
    void st_colsum_f(const float *x, Py_ssize_t ld, Py_ssize_t n_rows, Py_ssize_t n,
                     float m, float *acc)
    void st_colsum_d(const double *x, Py_ssize_t ld, Py_ssize_t n_rows,
                     Py_ssize_t n, double m, double *acc)
    float st_logf_near1(float r)
    void st_ais_up_f(float *x, float c, Py_ssize_t n, float b0, float b1, float *s,
                     uint64_t key, uint64_t base, float *relu, float *lg)
    void st_ais_up_d(double *x, double c, Py_ssize_t n, double b0, double b1,
                     double *s, uint64_t key, uint64_t base, double *relu,
                     double *lg)
    void st_softplus_acc_f(const float *x, float c, Py_ssize_t n, float b,
                           double *acc)
    void st_softplus_acc_d(const double *x, double c, Py_ssize_t n, double b,
                           double *acc)


def mix64(uint64_t z):
    """SplitMix64's finaliser: a key for a new call from a counter."""
    return st_mix64(z)


cdef uint64_t _GAMMA = 0x9E3779B97F4A7C15ULL  # SplitMix64's increment


def log_near1(float[::1] r):
    """``log(r)`` for ``r`` in [1/2, 2] by the float32 routine of the AIS
    kernel (exposed for its tests)."""
    out = np.empty(r.shape[0], np.float32)
    cdef float[::1] o = out
    cdef Py_ssize_t i
    for i in range(r.shape[0]):
        o[i] = st_logf_near1(r[i])
    return out


cdef inline Py_ssize_t _ld(object a, Py_ssize_t itemsize) except -1:
    """Distance between rows in elements; columns must be adjacent."""
    if a.ndim != 2 or (a.shape[1] > 1 and a.strides[1] != itemsize):
        raise ValueError("kernel arrays need 2 dimensions and adjacent columns")
    if a.shape[0] <= 1:
        return max(1, a.shape[1])
    if a.strides[0] % itemsize or a.strides[0] < itemsize * a.shape[1]:
        raise ValueError("kernel arrays need rows at least a row apart")
    return a.strides[0] // itemsize


cdef inline void _gemm(char *ta, char *tb, int m, int n, int k, floating alpha,
                       floating *a, int lda, floating *b, int ldb, floating beta,
                       floating *c, int ldc) noexcept nogil:
    if floating is float:
        sgemm(ta, tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)
    else:
        dgemm(ta, tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)


cdef void _half_block(
    Py_ssize_t blk, Py_ssize_t n_blocks, Py_ssize_t n, Py_ssize_t width,
    Py_ssize_t n_units, floating *X, Py_ssize_t ldx, floating *M,
    Py_ssize_t k, bint transpose_m, floating alpha, floating *P, Py_ssize_t ldp,
    floating *bias, bint gaussian, double temperature, floating *beta,
    floating *pre, Py_ssize_t ldpre, floating *S, Py_ssize_t lds,
    Py_ssize_t sample_from, floating scale_first, floating scale_rest,
    uint64_t key, floating *scratch,
) noexcept nogil:
    cdef Py_ssize_t c0 = blk * width // n_blocks
    cdef Py_ssize_t c1 = (blk + 1) * width // n_blocks
    cdef Py_ssize_t i, j, u1 = n_units if c1 > n_units else c1
    cdef floating b, sigma, scale
    cdef floating *s_row
    cdef floating *pre_row
    cdef floating *t
    if c1 <= c0:
        return
    if X != NULL and scratch != NULL:
        # BLAS is faster with the rows (tens of chains) as its first, short
        # dimension: the product goes unit-major into this block's part of
        # the scratch, then is transposed into P[:, c0:c1]
        t = scratch + c0 * n
        if transpose_m:  # M (width x k): rows c0:c1 of M
            _gemm(b"T", b"N", <int>n, <int>(c1 - c0), <int>k, alpha,
                  X, <int>ldx, M + c0 * k, <int>k, 0.0, t, <int>n)
        else:  # M (k x width): columns c0:c1 of M
            _gemm(b"T", b"T", <int>n, <int>(c1 - c0), <int>k, alpha,
                  X, <int>ldx, M + c0, <int>width, 0.0, t, <int>n)
        for i in range(n):
            for j in range(c1 - c0):
                P[i * ldp + c0 + j] = t[j * n + i]
    elif X != NULL:
        # P[:, c0:c1] = alpha X op(M)[:, c0:c1], in BLAS's column-major terms
        if transpose_m:  # M (width x k): rows c0:c1 of M
            _gemm(b"T", b"N", <int>(c1 - c0), <int>n, <int>k, alpha,
                  M + c0 * k, <int>k, X, <int>ldx, 0.0, P + c0, <int>ldp)
        else:  # M (k x width): columns c0:c1 of M
            _gemm(b"N", b"N", <int>(c1 - c0), <int>n, <int>k, alpha,
                  M + c0, <int>width, X, <int>ldx, 0.0, P + c0, <int>ldp)
    if u1 <= c0:
        return  # a block of label units only: the softmax pass does them
    for i in range(n):
        b = beta[i] if beta != NULL else 1.0
        sigma = <floating>sqrt(temperature / b)
        scale = scale_first if i < sample_from else scale_rest
        s_row = S + (i - sample_from) * lds if (S != NULL and i >= sample_from) else NULL
        pre_row = pre + i * ldpre if pre != NULL else NULL
        if floating is float:
            st_row_f(P + i * ldp, bias, c0, u1, gaussian, <float>(b / temperature),
                     sigma, pre_row, s_row, key, <uint64_t>(i * width), scale)
        else:
            st_row_d(P + i * ldp, bias, c0, u1, gaussian, b / temperature,
                     sigma, pre_row, s_row, key, <uint64_t>(i * width), scale)


def half_step(
    floating[:, :] P,
    floating[::1] bias,
    *,
    X=None,
    M=None,
    bint transpose_m=False,
    double alpha=1.0,
    bint products=True,
    bint gaussian=False,
    double temperature=1.0,
    beta=None,
    pre=None,
    S=None,
    Py_ssize_t sample_from=0,
    double scale_first=1.0,
    double scale_rest=1.0,
    Py_ssize_t n_labels=0,
    uint64_t key=0,
    Py_ssize_t n_blocks=1,
    int n_threads=1,
    floating[::1] scratch=None,
):
    """One Gibbs half-step over all rows of ``P`` (n x width), in place.

    ``P <- alpha X op(M)`` (``op(M) = M^T`` if ``transpose_m``) when
    ``products``, else ``P`` already holds the products (or ``X`` is None and
    they are taken as 0); then per element ``x = P + bias``, ``pre <- x``,
    ``P <- sigmoid(beta x / T)`` (Bernoulli) or ``x`` (Gaussian mean), rows
    ``sample_from:`` of ``P`` drawn into ``S`` (Bernoulli; Gaussian with
    variance ``T / beta``), and ``P *= scale_first`` for rows before
    ``sample_from``, ``scale_rest`` from it. The last ``n_labels`` columns
    form one softmax group (a one-hot draw). ``beta`` (n,) is an inverse
    temperature per row. The work is ``n_blocks`` blocks of columns.
    ``scratch`` (at least n * width elements), if given, takes the products
    in BLAS's faster arrangement for few rows before they go into ``P``.
    """
    cdef Py_ssize_t n = P.shape[0], width = P.shape[1], k = 0
    cdef Py_ssize_t isz = sizeof(floating)
    cdef Py_ssize_t ldp = _ld(np.asarray(P), isz), ldx = 1, ldpre = 1, lds = 1
    cdef floating[:, :] Xv, Mv, Sv, prev
    cdef floating[::1] betav
    cdef floating *Xp = NULL
    cdef floating *Mp = NULL
    cdef floating *Sp = NULL
    cdef floating *prep = NULL
    cdef floating *betap = NULL
    cdef floating *row
    cdef Py_ssize_t n_units = width - n_labels, blk, i
    cdef floating a = <floating>alpha, sf = <floating>scale_first
    cdef floating sr = <floating>scale_rest, scale
    cdef double T = temperature
    if bias.shape[0] != width:
        raise ValueError("bias must have one entry per column of P")
    if n == 0 or width == 0:
        return
    if X is not None:
        Xv = X
        Mv = M
        Xp = &Xv[0, 0]
        ldx = _ld(X, isz)
        if transpose_m:
            k = Mv.shape[1]
            ok = Mv.shape[0] == width
        else:
            k = Mv.shape[0]
            ok = Mv.shape[1] == width
        if not (ok and Xv.shape[1] == k and Xv.shape[0] == n):
            raise ValueError("shapes of X, M and P do not agree")
        if _ld(M, isz) != (k if transpose_m else width):
            raise ValueError("M must be C-contiguous")
        Mp = &Mv[0, 0]
        if not products:
            Xp = NULL  # P holds the products already
    if S is not None and n > sample_from:
        Sv = S
        if Sv.shape[0] != n - sample_from or Sv.shape[1] != width:
            raise ValueError("S must have the shape of the sampled rows of P")
        Sp = &Sv[0, 0]
        lds = _ld(S, isz)
    if pre is not None:
        prev = pre
        if prev.shape[0] != n or prev.shape[1] != width:
            raise ValueError("pre must have the shape of P")
        prep = &prev[0, 0]
        ldpre = _ld(pre, isz)
    if beta is not None:
        betav = beta
        if betav.shape[0] != n:
            raise ValueError("beta must have one entry per row")
        betap = &betav[0]
    cdef floating *scr = NULL
    if scratch is not None and Xp != NULL:
        if scratch.shape[0] < n * width:
            raise ValueError("scratch must hold n * width elements")
        scr = &scratch[0]
    with nogil:
        if n_threads > 1 and n_blocks > 1:
            for blk in prange(n_blocks, num_threads=n_threads, schedule="dynamic"):
                _half_block(blk, n_blocks, n, width, n_units, Xp, ldx, Mp, k,
                            transpose_m, a, &P[0, 0], ldp, &bias[0], gaussian, T,
                            betap, prep, ldpre, Sp, lds, sample_from, sf, sr, key,
                            scr)
        else:
            for blk in range(n_blocks):
                _half_block(blk, n_blocks, n, width, n_units, Xp, ldx, Mp, k,
                            transpose_m, a, &P[0, 0], ldp, &bias[0], gaussian, T,
                            betap, prep, ldpre, Sp, lds, sample_from, sf, sr, key,
                            scr)
        if n_labels > 0:
            # label positions after all element positions of the call
            for i in range(n):
                row = &P[i, 0] + n_units
                scale = sf if i < sample_from else sr
                if prep != NULL:
                    for blk in range(n_labels):
                        prep[i * ldpre + n_units + blk] = row[blk] + bias[n_units + blk]
                if floating is float:
                    st_softmax_f(row, &bias[n_units], n_labels,
                                 <float>((betap[i] if betap != NULL else 1.0) / T),
                                 Sp + (i - sample_from) * lds + n_units
                                 if (Sp != NULL and i >= sample_from) else NULL,
                                 key, <uint64_t>(n * width + i), scale)
                else:
                    st_softmax_d(row, &bias[n_units], n_labels,
                                 (betap[i] if betap != NULL else 1.0) / T,
                                 Sp + (i - sample_from) * lds + n_units
                                 if (Sp != NULL and i >= sample_from) else NULL,
                                 key, <uint64_t>(n * width + i), scale)


cdef void _step_block(
    Py_ssize_t blk, Py_ssize_t n_blocks, Py_ssize_t m, Py_ssize_t H, Py_ssize_t V,
    floating *Vs, Py_ssize_t ldv, floating *Hs, Py_ssize_t ldh, floating *W,
    Py_ssize_t ldw, floating *vW, Py_ssize_t ldvw, floating *c, floating *vc,
    floating momentum, floating shrink,
) noexcept nogil:
    cdef Py_ssize_t r0 = blk * H // n_blocks, r1 = (blk + 1) * H // n_blocks, j
    if r1 <= r0:
        return
    # vW[r0:r1] = momentum vW[r0:r1] + Hs[:, r0:r1]^T Vs
    _gemm(b"N", b"T", <int>V, <int>(r1 - r0), <int>m, 1.0, Vs, <int>ldv,
          Hs + r0, <int>ldh, momentum, vW + r0 * ldvw, <int>ldvw)
    for j in range(r0, r1):
        if floating is float:
            st_step_f(W + j * ldw, vW + j * ldvw, V, shrink)
        else:
            st_step_d(W + j * ldw, vW + j * ldvw, V, shrink)
    if floating is float:
        st_colsum_f(Hs + r0, ldh, m, r1 - r0, momentum, vc + r0)
    else:
        st_colsum_d(Hs + r0, ldh, m, r1 - r0, momentum, vc + r0)
    for j in range(r0, r1):
        c[j] += vc[j]


def weight_step(
    floating[:, :] Vs,
    floating[:, :] Hs,
    floating[:, :] W,
    floating[:, :] velocity_W,
    floating[::1] hidden_bias,
    floating[::1] velocity_hidden,
    *,
    double momentum,
    double shrink,
    Py_ssize_t n_blocks=1,
    int n_threads=1,
):
    """The weight and hidden-bias step from scaled statistics, in place.

    ``vW <- momentum vW + Hs^T Vs``, ``vW -= shrink W``, ``W += vW``;
    ``vc <- momentum vc + sum(Hs, axis=0)``, ``c += vc``. ``Hs`` holds the
    hidden statistics already scaled by the learning rate (negative for the
    model's side). Blocks of rows of ``W`` (hidden units) run in parallel.
    ``W`` and ``vW`` may be column blocks of larger arrays (rows apart).
    """
    cdef Py_ssize_t m = Vs.shape[0], V = W.shape[1], H = W.shape[0], blk
    cdef Py_ssize_t isz = sizeof(floating)
    cdef Py_ssize_t ldv = _ld(np.asarray(Vs), isz), ldh = _ld(np.asarray(Hs), isz)
    cdef Py_ssize_t ldw = _ld(np.asarray(W), isz), ldvw = _ld(np.asarray(velocity_W), isz)
    cdef floating mo = <floating>momentum, sh = <floating>shrink
    if (Hs.shape[0] != m or Hs.shape[1] != H or Vs.shape[1] != V
            or velocity_W.shape[0] != H or velocity_W.shape[1] != V
            or hidden_bias.shape[0] != H or velocity_hidden.shape[0] != H):
        raise ValueError("shapes of the statistics and the parameters do not agree")
    if H == 0 or V == 0:
        return
    if m == 0:
        raise ValueError("no rows of statistics")
    with nogil:
        if n_threads > 1 and n_blocks > 1:
            for blk in prange(n_blocks, num_threads=n_threads, schedule="dynamic"):
                _step_block(blk, n_blocks, m, H, V, &Vs[0, 0], ldv, &Hs[0, 0], ldh,
                            &W[0, 0], ldw, &velocity_W[0, 0], ldvw, &hidden_bias[0],
                            &velocity_hidden[0], mo, sh)
        else:
            for blk in range(n_blocks):
                _step_block(blk, n_blocks, m, H, V, &Vs[0, 0], ldv, &Hs[0, 0], ldh,
                            &W[0, 0], ldw, &velocity_W[0, 0], ldvw, &hidden_bias[0],
                            &velocity_hidden[0], mo, sh)


def ais_anneal(
    floating[:, ::1] v,
    floating[:, ::1] W,
    floating[:, ::1] W_t,
    floating[::1] hidden_bias,
    floating[::1] base_bias,
    floating[::1] visible_bias,
    double[::1] betas,
    double[::1] log_w,
    *,
    bint gaussian=False,
    double temperature=1.0,
    uint64_t key=0,
    floating[:, ::1] products=None,
    bint products_valid=False,
):
    """AIS steps ``betas[0] -> betas[1] -> ... -> betas[-1]`` of one block of
    chains, in place, on the calling thread.

    ``v`` (V x n) holds the chains' visible states *unit-major*, one row per
    visible unit (so that BLAS multiplies with the chains as the short
    dimension, its faster arrangement for tens of chains). ``W`` (H + 1 x V)
    holds the weights and, as its last row, ``a_B - a_A`` (visible biases
    less the base model's), so that one product gives both ``W v`` and the
    visible term; ``W_t`` (V x H) is the weights' transpose, contiguous. At
    each step, from ``b0`` to ``b1``, every chain adds

    ``[(b1 - b0) (a_B - a_A) . v + sum_j softplus(b1 x_j) - softplus(b0 x_j)] / T``,
    ``x = c + W v`` (the log importance weight, ``softplus`` at ``T``), to
    ``log_w``, then makes one Gibbs step at ``b1``: ``h ~ sigmoid(b1 x / T)``,
    ``v | h`` with pre-activation ``(1 - b1) a_A + b1 (a_B + W^T h)`` and
    temperature ``T`` (Bernoulli or Gaussian). Step ``k`` draws from the
    streams ``mix64(key + (2k - 1) G)`` and ``mix64(key + 2k G)``.

    ``W`` may have rows below ``a_B - a_A`` (``R`` rows in all): they enter
    only ``products`` (R x n), which, if given, receives ``W v`` of the final
    states (all ``R`` rows: what a Metropolis-Hastings move between calls
    needs). With ``products_valid`` it holds ``W v`` of the states on entry
    too (as the previous call left it, or updated by the move), and the first
    step takes its first ``H + 1`` rows instead of a product.
    """
    cdef Py_ssize_t V = W.shape[1], H = hidden_bias.shape[0], n = v.shape[1]
    cdef Py_ssize_t R = W.shape[0], n_betas = betas.shape[0], k, j, i
    if (R < H + 1 or v.shape[0] != V or W_t.shape[0] != V or W_t.shape[1] != H
            or base_bias.shape[0] != V
            or visible_bias.shape[0] != V or log_w.shape[0] != n
            or (products is not None
                and (products.shape[0] != R or products.shape[1] != n))):
        raise ValueError("shapes of the chains and the parameters do not agree")
    if products_valid and products is None:
        raise ValueError("products_valid needs the products")
    if n == 0 or n_betas < 2:
        return
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] x = (
        products if products is not None else np.empty((H + 1, n), dtype)
    )
    cdef bint have = products_valid
    cdef floating[:, ::1] h = np.empty((H, n), dtype)
    cdef floating[:, ::1] pv = np.empty((V, n), dtype)
    cdef floating[::1] row = np.empty(n, dtype)
    cdef floating[::1] relu = np.empty(n, dtype)
    cdef floating[::1] lg = np.empty(n, dtype)
    cdef double T = temperature, b0, b1
    cdef floating sigma = <floating>sqrt(T), inv_t = <floating>(1.0 / T), bm
    cdef uint64_t k_up, k_down
    with nogil:
        for k in range(1, n_betas):
            b0 = betas[k - 1]
            b1 = betas[k]
            k_up = st_mix64(key + <uint64_t>(2 * k - 1) * _GAMMA)
            k_down = st_mix64(key + <uint64_t>(2 * k) * _GAMMA)
            # x (n x H + 1, column-major) = v (n x V) W^T: the hidden units'
            # products, then the visible term (a_B - a_A) . v
            if not have:
                _gemm(b"N", b"N", <int>n, <int>(H + 1), <int>V, 1.0, &v[0, 0],
                      <int>n, &W[0, 0], <int>V, 0.0, &x[0, 0], <int>n)
            have = False
            for i in range(n):
                relu[i] = 0
                lg[i] = 0
            for j in range(H):
                if floating is float:
                    st_ais_up_f(&x[j, 0], hidden_bias[j], n, <float>(b0 / T),
                                <float>(b1 / T), &h[j, 0], k_up,
                                <uint64_t>(j * n), &relu[0], &lg[0])
                else:
                    st_ais_up_d(&x[j, 0], hidden_bias[j], n, b0 / T, b1 / T,
                                &h[j, 0], k_up, <uint64_t>(j * n), &relu[0], &lg[0])
            for i in range(n):
                log_w[i] += (b1 - b0) / T * (<double>relu[i] + <double>x[H, i]) + lg[i]
            # v | h at b1: pv (n x V, column-major) = b1 h W, then bias and draw
            _gemm(b"N", b"N", <int>n, <int>V, <int>H, <floating>b1, &h[0, 0],
                  <int>n, &W_t[0, 0], <int>H, 0.0, &pv[0, 0], <int>n)
            for j in range(V):
                bm = <floating>((1.0 - b1) * base_bias[j] + b1 * visible_bias[j])
                for i in range(n):
                    row[i] = bm
                if floating is float:
                    st_row_f(&pv[j, 0], &row[0], 0, n, gaussian, inv_t, sigma, NULL,
                             &v[j, 0], k_down, <uint64_t>(j * n), 1.0)
                else:
                    st_row_d(&pv[j, 0], &row[0], 0, n, gaussian, inv_t, sigma, NULL,
                             &v[j, 0], k_down, <uint64_t>(j * n), 1.0)
        if products is not None:  # W v of the final states, every row
            _gemm(b"N", b"N", <int>n, <int>R, <int>V, 1.0, &v[0, 0], <int>n,
                  &W[0, 0], <int>V, 0.0, &x[0, 0], <int>n)


def ais_jump_proposal(
    floating[:, ::1] anchor_products,
    floating[:, ::1] weights_t,
    floating[:, ::1] anchors,
    const Py_ssize_t[::1] pick,
    const Py_ssize_t[::1] units,
    const Py_ssize_t[::1] starts,
    floating[:, ::1] out,
):
    """Products of the jumps' proposals, chain-major: row ``i`` of ``out``
    (n x R) is anchor ``pick[i]``'s row of ``anchor_products`` (A x R) plus,
    for each of its flipped bits ``u = units[starts[i]:starts[i + 1]]``,
    ``+-`` row ``u`` of ``weights_t`` (V x R): ``+`` where the anchor's bit
    was 0."""
    cdef Py_ssize_t n = pick.shape[0], R = out.shape[1], i, k, r, a, u
    cdef floating sign
    if (out.shape[0] != n or anchor_products.shape[1] != R
            or weights_t.shape[1] != R or starts.shape[0] != n + 1
            or anchors.shape[0] != anchor_products.shape[0]
            or anchors.shape[1] != weights_t.shape[0]):
        raise ValueError("shapes of the proposals and the products do not agree")
    for i in range(n):
        a = pick[i]
        if a < 0 or a >= anchors.shape[0] or starts[i] > starts[i + 1]:
            raise ValueError("a proposal names no anchor")
    for k in range(units.shape[0]):
        if units[k] < 0 or units[k] >= anchors.shape[1]:
            raise ValueError("a flipped bit is out of range")
    if starts[0] < 0 or starts[n] > units.shape[0]:
        raise ValueError("the flipped bits' offsets are out of range")
    with nogil:
        for i in range(n):
            a = pick[i]
            for r in range(R):
                out[i, r] = anchor_products[a, r]
            for k in range(starts[i], starts[i + 1]):
                u = units[k]
                sign = 1 - 2 * anchors[a, u]
                for r in range(R):
                    out[i, r] += sign * weights_t[u, r]


def ais_jump_terms(
    floating[:, ::1] x,
    floating[::1] hidden_bias,
    double beta,
    double temperature,
    double[::1] anchor_sizes,
    double log_odds,
    double[::1] log_f,
    double[::1] log_q,
):
    """The terms of a jump's acceptance ratio, one per column (chain) of the
    products ``x`` (R x m, unit-major; rows ``W v`` (H), ``(a_B - a_A) . v``,
    ``a_A . v``, ``|v|``, then ``x_b . v`` for each anchor ``x_b``):

    ``log_f = [a_A . v + beta (a_B - a_A) . v + sum_j softplus_T(beta (c_j + W_j v))] / T``,
    the log of the annealed density ``f_beta(v)``, and
    ``log_q = log sum_b exp(d_b log_odds)``, ``d_b = |v| + |x_b| - 2 x_b . v``
    the Hamming distances: the proposal's log density up to a constant
    (``log_odds = log(flip / (1 - flip)) < 0``)."""
    cdef Py_ssize_t H = hidden_bias.shape[0], m = x.shape[1]
    cdef Py_ssize_t A = anchor_sizes.shape[0], i, j
    cdef double T = temperature, d, lo
    if (x.shape[0] != H + 3 + A or log_f.shape[0] != m or log_q.shape[0] != m):
        raise ValueError("shapes of the products and the terms do not agree")
    if not log_odds < 0:
        raise ValueError("log_odds must be negative (flip below 1/2)")
    if m == 0:
        return
    cdef double[::1] low = np.empty(m)
    with nogil:
        for i in range(m):
            log_f[i] = 0
            low[i] = INFINITY
        for j in range(H):
            if floating is float:
                st_softplus_acc_f(&x[j, 0], hidden_bias[j], m, <float>(beta / T),
                                  &log_f[0])
            else:
                st_softplus_acc_d(&x[j, 0], hidden_bias[j], m, beta / T, &log_f[0])
        for i in range(m):
            log_f[i] += (x[H + 1, i] + beta * x[H, i]) / T
        # log-sum-exp from the nearest anchor: its term is the largest
        for j in range(A):
            for i in range(m):
                d = x[H + 2, i] + anchor_sizes[j] - 2 * x[H + 3 + j, i]
                if d < low[i]:
                    low[i] = d
        for i in range(m):
            log_q[i] = 0
        for j in range(A):
            for i in range(m):
                lo = (x[H + 2, i] + anchor_sizes[j] - 2 * x[H + 3 + j, i] - low[i])
                lo = lo * log_odds
                if lo > -60:  # below: under e^-60 of the largest term
                    log_q[i] += exp(lo)
        for i in range(m):
            log_q[i] = low[i] * log_odds + log(log_q[i])
