# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled kernels of the CD core: Gibbs half-steps and the weight step.

Each kernel splits its output into blocks whose boundaries depend on the
shapes alone, and runs the blocks on OpenMP threads (``prange``, dynamic
schedule, so that a thread the OS has paused does not hold the others up).
A block calls single-threaded BLAS (``scipy.linalg.cython_blas``) for its
share of the matrix product, then makes one fused pass over its elements.
The AIS kernel's float32 products instead use weights packed once per call
(``_packed_gemm.h``): BLAS would pack them again for every one of its
thousands of products of the same shape.
Random numbers are counter-based (see ``_elementwise.h``): an element's
uniform depends on the call's key and the element's position only. So for a
given key the result is the same for any number of threads.

The caller caps BLAS at one thread while these run (threadpoolctl), the
pattern of scikit-learn's KMeans. Arrays are row-major with unit column
stride; rows may be any distance apart.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport INFINITY, exp, floor, log, lround, sqrt
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np


cdef extern from "_elementwise.h" nogil:
    float ST_FACTOR_LIMIT_F
    double ST_FACTOR_LIMIT_D
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
    double st_log_near1(double r)
    float st_expf(float x)
    double st_exp(double x)
    uint32_t st_absmax_bits_f(const float *x, Py_ssize_t n)
    uint64_t st_absmax_bits_d(const double *x, Py_ssize_t n)
    double st_xent_moments_d(const double *F, Py_ssize_t ldf, const double *Y,
                             Py_ssize_t ldy, Py_ssize_t K, Py_ssize_t n,
                             const double *w, double beta, double *moments)
    double st_xent_cols_f(float *F, Py_ssize_t ldf, const float *Y, Py_ssize_t ldy,
                          Py_ssize_t K, Py_ssize_t n, const double *w, float inv_t)
    double st_xent_cols_d(double *F, Py_ssize_t ldf, const double *Y,
                          Py_ssize_t ldy, Py_ssize_t K, Py_ssize_t n,
                          const double *w, double inv_t)
    double st_uniform_d(unsigned int e, unsigned int k0, unsigned int k1)
    void st_ais_up_f(float *x, float c, Py_ssize_t n, float b0, float b1, float *s,
                     uint64_t key, uint64_t base, float *relu, float *lg)
    void st_ais_up_d(double *x, double c, Py_ssize_t n, double b0, double b1,
                     double *s, uint64_t key, uint64_t base, double *relu,
                     double *lg)
    void st_softplus_acc_f(const float *x, float c, Py_ssize_t n, float b,
                           double *acc)
    void st_softplus_acc_d(const double *x, double c, Py_ssize_t n, double b,
                           double *acc)
    double st_softplus_sum_f(const float *x, const float *c, Py_ssize_t n, float b)
    double st_softplus_sum_d(const double *x, const double *c, Py_ssize_t n,
                             double b)
    void st_axpy_f(float *y, float a, const float *x, Py_ssize_t n)
    void st_axpy_d(double *y, double a, const double *x, Py_ssize_t n)
    void st_flip_distances(int32_t *d, const uint8_t *anchor_bits, uint8_t bit,
                           Py_ssize_t n)
    void st_hamming_rows(const uint64_t *rows, Py_ssize_t n, Py_ssize_t n_words,
                         const uint64_t *x, int32_t *d)


cdef extern from "_conditional.h" nogil:
    int st_cond_rows_f(Py_ssize_t m, Py_ssize_t H, Py_ssize_t K, const float *A,
                       Py_ssize_t lda, const float *c, const float *U,
                       const float *Us, const float *eU, const float *enU,
                       const float *d, double temperature, const float *Y,
                       Py_ssize_t ldy, const float *weights, float *G,
                       Py_ssize_t ldg, float *S, Py_ssize_t lds, float *D,
                       Py_ssize_t ldd, float *loss, float *out, Py_ssize_t ldo,
                       float *gU, float *scratch, double *work)
    int st_cond_rows_d(Py_ssize_t m, Py_ssize_t H, Py_ssize_t K, const double *A,
                       Py_ssize_t lda, const double *c, const double *U,
                       const double *Us, const double *eU, const double *enU,
                       const double *d, double temperature, const double *Y,
                       Py_ssize_t ldy, const double *weights, double *G,
                       Py_ssize_t ldg, double *S, Py_ssize_t lds, double *D,
                       Py_ssize_t ldd, double *loss, double *out, Py_ssize_t ldo,
                       double *gU, double *scratch, double *work)


cdef extern from "_pseudo.h" nogil:
    double st_pll_fast_f(const float *v, const float *x, const float *W,
                         Py_ssize_t ldw, const float *Ep, const float *En,
                         const float *a, Py_ssize_t V, Py_ssize_t H, float temp,
                         float inv_t, float *acc, float *d, float *prod)
    double st_pll_fast_d(const double *v, const double *x, const double *W,
                         Py_ssize_t ldw, const double *Ep, const double *En,
                         const double *a, Py_ssize_t V, Py_ssize_t H, double temp,
                         double inv_t, double *acc, double *d, double *prod)
    int st_pll_fits_f(const float *v, Py_ssize_t V, const float *x, Py_ssize_t H,
                      float inv_t, float lim)
    int st_pll_fits_d(const double *v, Py_ssize_t V, const double *x, Py_ssize_t H,
                      double inv_t, double lim)
    double st_pll_row_f(const float *v, const float *x, const float *W,
                        Py_ssize_t ldw, const float *a, Py_ssize_t V, Py_ssize_t H,
                        float temp, float inv_t, float *acc, float *d)
    double st_pll_row_d(const double *v, const double *x, const double *W,
                        Py_ssize_t ldw, const double *a, Py_ssize_t V, Py_ssize_t H,
                        double temp, double inv_t, double *acc, double *d)


cdef extern from "_summary.h" nogil:
    void st_summary_f(const float *X, Py_ssize_t n, Py_ssize_t d, float *colsum,
                      float *colsq, float *colmin, float *colmax, float *lo,
                      float *hi)
    void st_summary_d(const double *X, Py_ssize_t n, Py_ssize_t d, double *colsum,
                      double *colsq, double *colmin, double *colmax, double *lo,
                      double *hi)


cdef extern from "_packed_gemm.h" nogil:
    bint st_gemm_packed_fast()
    void st_pack_panels(const float *src, Py_ssize_t sk, Py_ssize_t sj,
                        Py_ssize_t K, Py_ssize_t N, float *out)
    Py_ssize_t st_gemm_work_size(Py_ssize_t m, Py_ssize_t K)
    void st_gemm_packed(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, float alpha,
                        const float *A, Py_ssize_t lda, const float *Bp, float *C,
                        Py_ssize_t ldc, float *work)
    Py_ssize_t st_on_units(const float *A, Py_ssize_t lda, Py_ssize_t K,
                           Py_ssize_t m, int32_t *idx, int32_t *cnt)
    void st_gather_packed(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, float alpha,
                          const int32_t *idx, const int32_t *cnt, const float *Bp,
                          float *C, Py_ssize_t ldc)


cdef extern from "_cd_fused.h" nogil:
    ctypedef struct st_cd_run:
        Py_ssize_t V, H, C, max_batch, k_steps, n_batches, n_blocks, n_row_blocks
        const void *X
        const int64_t *rows
        const int64_t *bounds
        const void *weights
        void *W
        void *vW
        void *a
        void *va
        void *c
        void *vc
        void *h
        void *Vs
        void *HT
        Py_ssize_t ldt
        void *part
        double learning_rate, momentum, shrink, temperature
        uint64_t key
        int narrow
        int gaussian
        int fresh
        int sparse
        Py_ssize_t ldwt, ldc
        void *WT
        void *vWT
        void *HR
        void *rval
        void *cval
        int32_t *ridx
        int32_t *rlen
        int32_t *cidx
        int32_t *clen
        void *hT
        int copy_in
        int copy_out
        Py_ssize_t ldh
        long *claimed
    bint st_cd_fused_available()
    void st_cd_fused(st_cd_run *r, int is_float, int n_threads)


def mix64(uint64_t z):
    """SplitMix64's finaliser: a key for a new call from a counter."""
    return st_mix64(z)


cdef uint64_t _GAMMA = 0x9E3779B97F4A7C15ULL  # SplitMix64's increment


def elementwise(str which, floating[::1] x):
    """``exp(x)`` (``which="exp"``) or ``log(x)`` for ``x`` in [1/2, 2]
    (``"log_near1"``) by the kernels' own vectorisable routines in x's dtype
    (exposed for their tests)."""
    if which not in ("exp", "log_near1"):
        raise ValueError(f"elementwise: unknown function {which!r}")
    cdef bint is_exp = which == "exp"
    out = np.empty(x.shape[0], np.float32 if floating is float else np.float64)
    cdef floating[::1] o = out
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if floating is float:
            o[i] = st_expf(x[i]) if is_exp else st_logf_near1(x[i])
        else:
            o[i] = st_exp(x[i]) if is_exp else st_log_near1(x[i])
    return out


def softmax_xent(floating[:, ::1] F, const floating[:, ::1] Y,
                 const double[::1] w, double temperature):
    """Softmax cross-entropy of class-major scores, in place; its gradient.

    ``F`` (K, n) holds the scores of K >= 2 classes for n samples, ``Y``
    the one-hot targets in the same layout, ``w`` a weight per sample.
    ``F`` becomes ``dL/dF = (softmax_T(F) - Y) w / T`` (per column) and the
    weighted loss ``sum_i w_i (-log softmax_T(F)_{y_i, i})`` is returned.
    Returns None, leaving ``F`` untouched, when a score is not finite or
    ``F / T`` could leave the dtype's range (the caller then takes the
    stable numpy path).
    """
    cdef Py_ssize_t K = F.shape[0], n = F.shape[1]
    cdef double limit, big, inv_t, total
    cdef float big_f
    cdef uint32_t bits_f
    cdef uint64_t bits_d
    if Y.shape[0] != K or Y.shape[1] != n or w.shape[0] != n or K < 2:
        raise ValueError("softmax_xent: shapes of F, Y and w disagree")
    if floating is float:
        limit = 3.4028234663852886e38 / 8
    else:
        limit = 1.7976931348623157e308 / 8
    if not (1.0 / limit < temperature < limit):
        return None
    inv_t = 1.0 / temperature
    if n == 0:
        return 0.0
    with nogil:
        # the largest |score| (NaN: above every finite value)
        if floating is float:
            bits_f = st_absmax_bits_f(&F[0, 0], K * n)
            memcpy(&big_f, &bits_f, sizeof(float))
            big = big_f
        else:
            bits_d = st_absmax_bits_d(&F[0, 0], K * n)
            memcpy(&big, &bits_d, sizeof(double))
    if not big * max(1.0, inv_t) <= limit:
        return None
    with nogil:
        if floating is float:
            total = st_xent_cols_f(&F[0, 0], n, &Y[0, 0], n, K, n, &w[0],
                                   <float>inv_t)
        else:
            total = st_xent_cols_d(&F[0, 0], n, &Y[0, 0], n, K, n, &w[0], inv_t)
    return total


def softmax_xent_moments(const double[:, ::1] F, const double[:, ::1] Y,
                         const double[::1] w, double beta):
    """``(loss, dloss/dbeta, d2loss/dbeta2)`` of class-major float64 scores
    at the inverse temperature ``beta`` (F is not written).

    As :func:`softmax_xent`, with the scores at temperature ``1 / beta``:
    the weighted loss, ``sum_i w_i (E_p[f_i] - f_{y_i})`` and
    ``sum_i w_i Var_p[f_i]``. None when a score is not finite or
    ``max(1, beta) max |F|`` exceeds 1e150, so that the gaps' squares (the
    variance) could overflow (the caller then takes the numpy path).
    """
    cdef Py_ssize_t K = F.shape[0], n = F.shape[1]
    cdef double big, total
    cdef uint64_t bits
    cdef double moments[2]
    if Y.shape[0] != K or Y.shape[1] != n or w.shape[0] != n or K < 2:
        raise ValueError("softmax_xent_moments: shapes of F, Y and w disagree")
    if not 0 < beta < 1e300:
        return None
    if n == 0:
        return 0.0, 0.0, 0.0
    with nogil:
        bits = st_absmax_bits_d(&F[0, 0], K * n)
        memcpy(&big, &bits, sizeof(double))
    # the gaps' squares (the variance) must stay finite too
    if not big * max(1.0, beta) <= 1e150:
        return None
    with nogil:
        total = st_xent_moments_d(&F[0, 0], n, &Y[0, 0], n, K, n, &w[0], beta,
                                  moments)
    return total, moments[0], moments[1]


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


cdef void _log_f(floating *x, Py_ssize_t m, floating *c, Py_ssize_t H,
                 double beta, double T, double *out) noexcept nogil:
    """``log f_beta(v)`` of the ``m`` chains whose products are the columns of
    ``x`` (unit-major, rows ``W v`` (H), ``(a_B - a_A) . v``, ``a_A . v``, ...):
    ``[a_A . v + beta (a_B - a_A) . v] / T + sum_j softplus(beta (c_j + W_j v) / T)``."""
    cdef Py_ssize_t i, j
    for i in range(m):
        out[i] = 0
    for j in range(H):
        if floating is float:
            st_softplus_acc_f(x + j * m, c[j], m, <float>(beta / T), out)
        else:
            st_softplus_acc_d(x + j * m, c[j], m, beta / T, out)
    for i in range(m):
        out[i] += (x[(H + 1) * m + i] + beta * x[H * m + i]) / T


cdef inline double _log_q(int32_t *d, Py_ssize_t A, double *pow_r,
                          double log_r) noexcept nogil:
    """``log sum_b r^{d_b}`` for integer distances ``0 <= d_b <= V``, from
    the nearest anchor's term (``pow_r[k] = r^k``, ``log_r = log r < 0``)."""
    cdef Py_ssize_t b
    cdef int32_t low = d[0]
    cdef double s = 0
    for b in range(1, A):
        if d[b] < low:
            low = d[b]
    for b in range(A):
        s += pow_r[d[b] - low]
    return low * log_r + log(s)


cdef Py_ssize_t _draw(uint64_t key, Py_ssize_t i, Py_ssize_t V, Py_ssize_t A,
                      double log1m, double *logu, Py_ssize_t *pick,
                      Py_ssize_t *units) noexcept nogil:
    """Chain ``i``'s draws for a jump, from the uniforms of stream ``key`` at
    positions ``i (V + 3)``, ``+ 1``, ``+ 2, ...`` (at most ``V + 3``): the
    log of its acceptance uniform, its anchor (of ``A``), and the bits to
    flip, each with probability ``flip`` (``log1m = log(1 - flip)``): the
    gaps between them are geometric. Writes the bits, increasing, to
    ``units``; returns their number."""
    cdef uint32_t k0 = <uint32_t>key, k1 = <uint32_t>(key >> 32)
    cdef uint32_t e = <uint32_t>(i * (V + 3))
    cdef Py_ssize_t pos = -1, count = 0
    cdef double g
    logu[0] = log(st_uniform_d(e, k0, k1))
    pick[0] = <Py_ssize_t>(st_uniform_d(e + 1, k0, k1) * A)
    if pick[0] >= A:  # the uniform is in (0, 1]
        pick[0] = A - 1
    e += 2
    while True:
        g = log(st_uniform_d(e, k0, k1)) / log1m  # >= 0: a Geometric(flip) gap
        e += 1
        if g >= V:
            return count
        pos += <Py_ssize_t>g + 1
        if pos >= V:
            return count
        units[count] = pos
        count += 1


cdef struct _Jumps:
    # the tables (see ais_jump), in the chains' dtype where not said
    void *anchors  # A x V
    uint8_t *bits_t  # V x A
    uint64_t *anchor_words  # A x n_words: the anchors' bits, packed
    Py_ssize_t n_words  # (V + 63) // 64
    void *anchor_products  # A x R
    int32_t *anchor_dist  # A x A
    int32_t *anchor_sizes  # A
    void *weights_t  # V x R
    double *pow_r  # V + 1
    double log_odds
    double log1m
    Py_ssize_t A
    # work arrays for the n chains
    void *xp  # R: one proposal's products
    double *f_cur  # n
    double *f_prop  # n
    double *q_prop  # n
    double *logu  # n
    Py_ssize_t *pick  # n
    Py_ssize_t *units  # V + 1: one proposal's flipped bits
    int32_t *dist  # A
    uint64_t *words  # n_words: one state's bits, packed


cdef inline void *_data(a):
    return <void *><size_t>a.__array_interface__["data"][0]


cdef class _JumpArrays:
    """The arrays behind a :c:type:`_Jumps` for ``n`` chains of ``V`` units
    and ``H`` hidden units, checked and kept alive while it is used."""
    cdef list keep
    cdef _Jumps j

    cdef void *arr(self, a, t) except? NULL:
        """A C-contiguous ``t`` copy of ``a`` (``a`` itself if it is one),
        kept: its data."""
        a = np.ascontiguousarray(a, dtype=t)
        self.keep.append(a)
        return _data(a)

    def __init__(self, jumps, Py_ssize_t n, Py_ssize_t V, Py_ssize_t H, dtype):
        A = jumps.anchors.shape[0]
        R = H + 3
        if not (
            A > 0
            and jumps.anchors.shape == (A, V)
            and jumps.bits_t.shape == (V, A)
            and jumps.anchor_words.shape == (A, (V + 63) // 64)
            and jumps.anchor_products.shape == (A, R)
            and jumps.anchor_dist.shape == (A, A)
            and jumps.anchor_sizes.shape == (A,)
            and jumps.weights_t.shape == (V, R)
            and jumps.pow_r.shape == (V + 1,)
        ):
            raise ValueError("shapes of the jump tables and the chains do not agree")
        if not (jumps.log_odds < 0 and jumps.log1m < 0):
            raise ValueError("log_odds and log1m must be negative (flip in (0, 1/2))")
        self.keep = []
        self.j.anchors = self.arr(jumps.anchors, dtype)
        self.j.bits_t = <uint8_t *>self.arr(jumps.bits_t, np.uint8)
        self.j.anchor_words = <uint64_t *>self.arr(jumps.anchor_words, np.uint64)
        self.j.n_words = (V + 63) // 64
        self.j.anchor_products = self.arr(jumps.anchor_products, dtype)
        self.j.anchor_dist = <int32_t *>self.arr(jumps.anchor_dist, np.int32)
        self.j.anchor_sizes = <int32_t *>self.arr(jumps.anchor_sizes, np.int32)
        self.j.weights_t = self.arr(jumps.weights_t, dtype)
        self.j.pow_r = <double *>self.arr(jumps.pow_r, np.float64)
        self.j.log_odds = jumps.log_odds
        self.j.log1m = jumps.log1m
        self.j.A = A
        self.j.xp = self.arr(np.empty(R, dtype), dtype)
        self.j.f_cur = <double *>self.arr(np.empty(n, np.float64), np.float64)
        self.j.f_prop = <double *>self.arr(np.empty(n, np.float64), np.float64)
        self.j.q_prop = <double *>self.arr(np.empty(n, np.float64), np.float64)
        self.j.logu = <double *>self.arr(np.empty(n, np.float64), np.float64)
        self.j.pick = <Py_ssize_t *>self.arr(np.empty(n, np.intp), np.intp)
        self.j.units = <Py_ssize_t *>self.arr(np.empty(V + 1, np.intp), np.intp)
        self.j.words = <uint64_t *>self.arr(np.empty(self.j.n_words, np.uint64), np.uint64)
        self.j.dist = <int32_t *>self.arr(np.empty(A, np.int32), np.int32)


cdef inline Py_ssize_t _proposal(
    floating *p, floating *anchor_products, floating *weights_t,
    floating *anchors, _Jumps *t, Py_ssize_t V, Py_ssize_t R, Py_ssize_t i,
    uint64_t key,
) noexcept nogil:
    """Chain ``i``'s draws (:func:`_draw`), and its proposal's products ``p``
    (R): the anchor's plus the flipped bits' rows of ``weights_t``. Returns
    the number of flipped bits (in ``t.units``)."""
    cdef Py_ssize_t count, kk, r, u
    cdef Py_ssize_t a
    cdef floating *a_row
    count = _draw(key, i, V, t.A, t.log1m, t.logu + i, t.pick + i, t.units)
    a = t.pick[i]
    a_row = anchors + a * V
    for r in range(R):
        p[r] = anchor_products[a * R + r]
    for kk in range(count):
        u = t.units[kk]
        if floating is float:
            st_axpy_f(p, 1 - 2 * a_row[u], weights_t + u * R, R)
        else:
            st_axpy_d(p, 1 - 2 * a_row[u], weights_t + u * R, R)
    return count


cdef Py_ssize_t _jump(
    floating *v, floating *x, Py_ssize_t V, Py_ssize_t n, Py_ssize_t H,
    floating *c, _Jumps *t, double beta, double T, uint64_t key,
) noexcept nogil:
    """One Metropolis-Hastings move of every chain (columns of ``v``, V x n)
    at ``beta``, in place; ``x`` (H + 3 x n) holds the chains' products with
    the jump weights and is kept so. Returns the number of moves accepted.

    Chain ``i`` draws its acceptance uniform, an anchor ``a`` and the bits
    to flip in it (:func:`_draw`). The proposal's products are ``a``'s plus
    the flipped bits' rows of ``weights_t``, its Hamming distances to the
    anchors are ``a``'s (``anchor_dist``) moved by one per flipped bit.
    Accepted with probability ``min(1, f(v') q(v) / (f(v) q(v')))``. ``q(v)``
    of the current state needs its distances to every anchor (popcounts of
    the packed bits); they are computed only where the move could be
    accepted with ``q(v)`` at its upper bound ``A r^{d_min}``,
    ``d_min >= min_b | |v| - |x_b| |`` -- the decision is the same as with
    ``q(v)`` computed for every chain. An accepted proposal is drawn and
    built again (the same draws, the same products)."""
    cdef floating *anchors = <floating *>t.anchors
    cdef floating *anchor_products = <floating *>t.anchor_products
    cdef floating *weights_t = <floating *>t.weights_t
    cdef floating *p = <floating *>t.xp
    cdef floating *a_row
    cdef int32_t *dist = t.dist
    cdef uint64_t *words = t.words
    cdef Py_ssize_t A = t.A, R = H + 3, i, r, b, kk, u, a, count
    cdef int32_t size, low, dd
    cdef double bound, log_a = log(<double>A)
    cdef Py_ssize_t accepted = 0
    for i in range(n):
        count = _proposal(p, anchor_products, weights_t, anchors, t, V, R, i, key)
        a = t.pick[i]
        a_row = anchors + a * V
        for b in range(A):
            dist[b] = t.anchor_dist[a * A + b]
        for kk in range(count):
            u = t.units[kk]
            st_flip_distances(dist, t.bits_t + u * A, a_row[u] != 0, A)
        t.q_prop[i] = _log_q(dist, A, t.pow_r, t.log_odds)
        if floating is float:
            t.f_prop[i] = st_softplus_sum_f(p, c, H, <float>(beta / T))
        else:
            t.f_prop[i] = st_softplus_sum_d(p, c, H, beta / T)
        t.f_prop[i] += (p[H + 1] + beta * p[H]) / T
    _log_f(x, n, c, H, beta, T, t.f_cur)
    for i in range(n):
        bound = t.f_prop[i] - t.f_cur[i] - t.q_prop[i]
        size = <int32_t>lround(x[(H + 2) * n + i])
        low = <int32_t>V
        for b in range(A):
            dd = size - t.anchor_sizes[b]
            if dd < 0:
                dd = -dd
            if dd < low:
                low = dd
        if t.logu[i] >= bound + log_a + low * t.log_odds:
            continue  # rejected even at q(v)'s upper bound
        # the current state's distances to the anchors
        for kk in range(t.n_words):
            words[kk] = 0
        for u in range(V):
            if v[u * n + i] != 0:
                words[u >> 6] |= (<uint64_t>1) << (u & 63)
        st_hamming_rows(t.anchor_words, A, t.n_words, words, dist)
        if t.logu[i] >= bound + _log_q(dist, A, t.pow_r, t.log_odds):
            continue
        count = _proposal(p, anchor_products, weights_t, anchors, t, V, R, i, key)
        a_row = anchors + t.pick[i] * V
        for u in range(V):
            v[u * n + i] = a_row[u]
        for kk in range(count):
            u = t.units[kk]
            v[u * n + i] = 1 - a_row[u]
        for r in range(R):
            x[r * n + i] = p[r]
        accepted += 1
    return accepted


def ais_jump(
    floating[:, ::1] v,
    floating[:, ::1] x,
    floating[::1] hidden_bias,
    jumps,
    double beta,
    *,
    double temperature=1.0,
    uint64_t key=0,
):
    """One Metropolis-Hastings jump of every chain at ``beta`` (what
    :func:`ais_anneal` makes where ``jump_at`` says), in place: ``v`` (V x n)
    the binary chains, ``x`` (H + 3 x n) their products with the jump weights
    (rows ``W v``, ``(a_B - a_A) . v``, ``a_A . v``, ``|v|``). ``jumps``: the
    tables (attributes ``anchors`` (A x V), ``bits_t`` (V x A, uint8),
    ``anchor_words`` (A x (V + 63) // 64, uint64: bit ``u`` of word
    ``u // 64`` is bit ``u`` of the anchor), ``anchor_products`` (A x H + 3), ``anchor_dist`` (A x A, int32),
    ``anchor_sizes`` (A, int32), ``weights_t`` (V x H + 3), ``pow_r``
    (V + 1: ``r^k``), ``log_odds = log r``, ``r = flip / (1 - flip)``, and
    ``log1m = log(1 - flip)``). Returns the number of moves accepted."""
    cdef Py_ssize_t V = v.shape[0], n = v.shape[1], H = hidden_bias.shape[0]
    cdef Py_ssize_t accepted
    if x.shape[0] != H + 3 or x.shape[1] != n:
        raise ValueError("shapes of the chains and their products do not agree")
    cdef _JumpArrays ja = _JumpArrays(jumps, n, V, H, np.asarray(v).dtype)
    if n == 0:
        return 0
    with nogil:
        accepted = _jump(&v[0, 0], &x[0, 0], V, n, H, &hidden_bias[0], &ja.j, beta,
                         temperature, key)
    return accepted


def ais_jump_draws(Py_ssize_t n, Py_ssize_t V, Py_ssize_t A, double flip,
                   uint64_t key=0):
    """The draws of :func:`ais_jump` with stream ``key`` for ``n`` chains of
    ``V`` units and ``A`` anchors: ``(log_u, pick, flips)``, the logs of the
    acceptance uniforms, the anchors, and an (n x V) mask of the bits flipped
    (exposed for its tests)."""
    if not 0 < flip < 0.5:
        raise ValueError(f"flip must be in (0, 1/2); got {flip!r}")
    if A < 1 or V < 1:
        raise ValueError("the draws need at least one anchor and one unit")
    log_u, pick = np.empty(n), np.empty(n, np.intp)
    flips = np.zeros((n, V), bool)
    units = np.empty(V + 1, np.intp)
    cdef double[::1] lu = log_u
    cdef Py_ssize_t[::1] pk = pick, u = units
    cdef Py_ssize_t i, count
    for i in range(n):
        count = _draw(key, i, V, A, log(1 - flip), &lu[i], &pk[i], &u[0])
        flips[i, units[:count]] = True
    return log_u, pick, flips


def ais_jump_log_f(floating[:, ::1] x, floating[::1] hidden_bias, double beta,
                   double temperature=1.0):
    """``log f_beta(v)`` of the chains whose products (rows ``W v``,
    ``(a_B - a_A) . v``, ``a_A . v``, ...) are the columns of ``x``, as the
    jumps compute it (exposed for its tests)."""
    cdef Py_ssize_t m = x.shape[1]
    if x.shape[0] < hidden_bias.shape[0] + 2:
        raise ValueError("x needs the rows W v, (a_B - a_A) . v and a_A . v")
    out = np.empty(m)
    cdef double[::1] o = out
    if m:
        _log_f(&x[0, 0], m, &hidden_bias[0], hidden_bias.shape[0], beta,
               temperature, &o[0])
    return out


cdef class _Packed:
    """The weights of one AIS product, ``out (N x m) = alpha b @ a`` with ``b``
    (N x K, row-major) fixed and ``a`` (K x m) the chains unit-major: packed
    once for :func:`st_gemm_packed` where it runs on native vectors (its
    AVX2 or AVX-512 clone) and the arrays are float32; otherwise BLAS, at
    every call."""

    cdef object keep
    cdef float *panels
    cdef Py_ssize_t N, K

    def __init__(self, b, bint use):
        self.N, self.K = b.shape[0], b.shape[1]
        self.keep = None
        self.panels = NULL
        cdef float[:, ::1] bf
        cdef float[::1] out
        if use and st_gemm_packed_fast() and b.dtype == np.float32 and self.N and self.K:
            bf = b
            self.keep = np.empty(((self.N + 15) // 16) * 16 * self.K, np.float32)
            out = self.keep
            st_pack_panels(&bf[0, 0], 1, self.K, self.K, self.N, &out[0])
            self.panels = &out[0]


#: the share of ones in a binary ``a`` below which :func:`_product` sums the
#: rows of the ones (``st_gather_packed``) rather than multiplying: the sums
#: read a row of the weights per one, the product streams them all at a
#: higher rate per element; about where the two take the same time at the
#: AIS shapes (benchmarks/NOTES.md; ``bench_ais.py`` times a run both ways)
cdef double _GATHER_BELOW = 0.25


def gather_below(double share=-2.0):
    """The share below which the AIS kernel sums the rows of the ones
    (:data:`_GATHER_BELOW`); sets it when ``share`` is given (>= -1; -1
    never sums, 2 always does), for the benchmark that measures it. Returns
    the previous value."""
    global _GATHER_BELOW
    cdef double old = _GATHER_BELOW
    if share >= -1.0:
        _GATHER_BELOW = share
    return old


cdef inline double _product(_Packed packed, Py_ssize_t N, floating alpha, floating *b,
                            floating *a, Py_ssize_t m, floating *out,
                            floating *work, int32_t *idx=NULL, int32_t *cnt=NULL,
                            double below=-1.0) noexcept nogil:
    """``out (N x m) = alpha b[:N] @ a``, ``a`` (K x m) and ``out`` unit-major,
    ``b`` the row-major weights ``packed`` holds (its first N rows). Given
    ``idx`` (m x K) and ``cnt`` (m), ``a`` is binary: where the packed
    product runs, its ones are listed, and where their share is below
    ``below`` their rows are summed instead (the same result, bitwise).
    Returns that share, or -1 where it was not measured."""
    cdef double share = -1.0
    if floating is float:
        if packed.panels != NULL:
            if idx != NULL and below > 0 and m and packed.K:
                share = <double>st_on_units(a, m, packed.K, m, idx, cnt) / (
                    <double>packed.K * m)
                if share < below:
                    st_gather_packed(m, N, packed.K, alpha, idx, cnt, packed.panels,
                                     out, m)
                    return share
            st_gemm_packed(m, N, packed.K, alpha, a, m, packed.panels, out, m, work)
            return share
    _gemm(b"N", b"N", <int>m, <int>N, <int>packed.K, alpha, a, <int>m, b,
          <int>packed.K, 0.0, out, <int>m)
    return share


def packed_gemm_used():
    """Whether float32 AIS products run on the packed micro-kernel here (its
    AVX2 or AVX-512 clone); BLAS otherwise."""
    return bool(st_gemm_packed_fast())


def packed_product(floating[:, ::1] b, floating[:, ::1] a, double alpha=1.0,
                   bint packed=True, binary=False):
    """``alpha b @ a`` as the AIS kernel computes it: ``b`` (N x K) the
    weights, ``a`` (K x m) the chains (exposed for its tests and
    benchmarks). ``binary``: True says ``a`` holds only zeros and ones and
    sums the rows of its ones wherever the packed product runs; None says
    the same and chooses by their share, as the AIS kernel does; False (the
    default, right for any ``a``) always multiplies."""
    cdef Py_ssize_t N = b.shape[0], K = b.shape[1], m = a.shape[1]
    if a.shape[0] != K:
        raise ValueError("shapes of b and a do not agree")
    dtype = np.float32 if floating is float else np.float64
    out = np.zeros((N, m), dtype)
    if N == 0 or m == 0 or K == 0:
        return out
    cdef floating[:, ::1] o = out
    cdef _Packed pk = _Packed(np.asarray(b), packed)
    cdef floating[::1] work = np.empty(st_gemm_work_size(m, K), dtype)
    cdef int32_t[::1] idx = np.empty(m * K, np.int32), cnt = np.empty(m, np.int32)
    cdef double below = _GATHER_BELOW if binary is None else (2.0 if binary else -1.0)
    with nogil:
        _product(pk, N, <floating>alpha, &b[0, 0], &a[0, 0], m, &o[0, 0], &work[0],
                 &idx[0], &cnt[0], below)
    return out


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
    jumps=None,
    const uint8_t[::1] jump_at=None,
):
    """AIS steps ``betas[0] -> betas[1] -> ... -> betas[-1]`` of one block of
    chains, in place, on the calling thread; returns the number of jumps
    accepted.

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

    With ``jumps`` (Bernoulli units; the tables of :func:`ais_jump`), ``W``
    has two more rows, ``a_A`` and ones, and after each step ``k`` with
    ``jump_at[k]`` every chain also tries a jump at ``betas[k]``
    (:func:`ais_jump`, key ``mix64(mix64(key) + k G)``); the product it
    needs is the next step's.

    The states are binary (the hidden units always, the visible ones unless
    Gaussian) and mostly zeros for much of the path: where few are ones, a
    product sums the weights' rows of those instead of multiplying, with
    the same result bitwise (:func:`_product`).
    """
    cdef Py_ssize_t V = W.shape[1], H = hidden_bias.shape[0], n = v.shape[1]
    cdef Py_ssize_t R = W.shape[0], n_betas = betas.shape[0], k, j, i
    if (v.shape[0] != V or W_t.shape[0] != V or W_t.shape[1] != H
            or base_bias.shape[0] != V or R != (H + 1 if jumps is None else H + 3)
            or visible_bias.shape[0] != V or log_w.shape[0] != n):
        raise ValueError("shapes of the chains and the parameters do not agree")
    if jumps is not None:
        if gaussian:
            raise ValueError("jumps move binary chains: Bernoulli units only")
        if jump_at is None or jump_at.shape[0] != n_betas:
            raise ValueError("jump_at needs one flag per beta")
    if n == 0 or n_betas < 2:
        return 0
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] x = np.empty((R, n), dtype)
    cdef bint have = False
    cdef floating[:, ::1] h = np.empty((H, n), dtype)
    cdef floating[:, ::1] pv = np.empty((V, n), dtype)
    cdef floating[::1] row = np.empty(n, dtype)
    cdef floating[::1] relu = np.empty(n, dtype)
    cdef floating[::1] lg = np.empty(n, dtype)
    # the weights packed once for the thousands of products below
    cdef _Packed up = _Packed(np.asarray(W), True)
    cdef _Packed down = _Packed(np.asarray(W_t), True)
    cdef floating[::1] work = np.empty(st_gemm_work_size(n, max(V, H)), dtype)
    # the ones of binary states, for the products that sum their rows
    cdef int32_t[::1] on_idx = np.empty(n * max(V, H), np.int32)
    cdef int32_t[::1] on_cnt = np.empty(n, np.int32)
    cdef int32_t *v_idx = NULL if gaussian else &on_idx[0]
    cdef int32_t *listed
    cdef double below = _GATHER_BELOW, share, v_share = 0.0, h_share = 0.0
    cdef double T = temperature, b0, b1
    cdef floating sigma = <floating>sqrt(T), inv_t = <floating>(1.0 / T), bm
    cdef uint64_t k_up, k_down, jump_key = st_mix64(key)
    cdef Py_ssize_t accepted = 0
    cdef _JumpArrays ja = None
    if jumps is not None:
        ja = _JumpArrays(jumps, n, V, H, dtype)
    cdef _Jumps *jt = &ja.j if ja is not None else NULL
    with nogil:
        for k in range(1, n_betas):
            b0 = betas[k - 1]
            b1 = betas[k]
            k_up = st_mix64(key + <uint64_t>(2 * k - 1) * _GAMMA)
            k_down = st_mix64(key + <uint64_t>(2 * k) * _GAMMA)
            # x (n x H + 1, column-major) = v (n x V) W^T: the hidden units'
            # products, then the visible term (a_B - a_A) . v
            if not have:
                # the ones are listed where the last count found few, and
                # every 32 steps: listing them is not free
                listed = v_idx if v_share < 1.25 * below or k % 32 == 1 else NULL
                share = _product(up, H + 1, 1.0, &W[0, 0], &v[0, 0], n, &x[0, 0],
                                 &work[0], listed, &on_cnt[0], below)
                if share >= 0:
                    v_share = share
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
            listed = &on_idx[0] if h_share < 1.25 * below or k % 32 == 1 else NULL
            share = _product(down, V, <floating>b1, &W_t[0, 0], &h[0, 0], n, &pv[0, 0],
                             &work[0], listed, &on_cnt[0], below)
            if share >= 0:
                h_share = share
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
            if jt != NULL and jump_at[k]:
                # the next step's product, with the jumps' two extra rows
                listed = v_idx if v_share < 1.25 * below or k % 32 == 1 else NULL
                share = _product(up, R, 1.0, &W[0, 0], &v[0, 0], n, &x[0, 0],
                                 &work[0], listed, &on_cnt[0], below)
                if share >= 0:
                    v_share = share
                accepted += _jump(&v[0, 0], &x[0, 0], V, n, H, &hidden_bias[0], jt,
                                  b1, T, st_mix64(jump_key + <uint64_t>k * _GAMMA))
                have = True
    return accepted


def dense_summary(const floating[:, ::1] X):
    """``(lo, hi, colsum, colsq)`` of a non-empty X in one pass (see
    ``_summary.h``): its smallest and largest entries, its column sums in X's
    dtype, to the bit ``X.sum(axis=0)``, and its columns' sums of squares
    (in X's dtype, summed over the rows in order). X holds a NaN or an
    infinity exactly when ``colsum`` holds a NaN or ``lo`` or ``hi`` is
    infinite."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    if n == 0 or d == 0:
        raise ValueError("dense_summary needs a non-empty matrix")
    dtype = np.float32 if floating is float else np.float64
    sums = np.empty((2, d), dtype)
    extremes = np.empty((2, d), dtype)
    cdef floating[:, ::1] s = sums
    cdef floating[:, ::1] e = extremes
    cdef floating lo, hi
    with nogil:
        if floating is float:
            st_summary_f(&X[0, 0], n, d, &s[0, 0], &s[1, 0], &e[0, 0], &e[1, 0],
                         &lo, &hi)
        else:
            st_summary_d(&X[0, 0], n, d, &s[0, 0], &s[1, 0], &e[0, 0], &e[1, 0],
                         &lo, &hi)
    colsum, colsq = sums[0], sums[1]
    if d == 1:  # one column is contiguous: numpy sums it pairwise
        colsum = np.asarray(X).sum(axis=0)
    return float(lo), float(hi), colsum, colsq


def fused_cd_available():
    """Whether :func:`fused_cd` runs here (GCC's ISA clones, and a CPU with
    AVX2 and FMA at least); the trainer uses the half-step and weight-step
    kernels otherwise."""
    return bool(st_cd_fused_available())


def fused_cd(
    const floating[:, ::1] X,
    const int64_t[::1] rows,
    const int64_t[::1] bounds,
    floating[:, ::1] W,
    floating[:, ::1] velocity_W,
    floating[::1] visible_bias,
    floating[::1] velocity_visible,
    floating[::1] hidden_bias,
    floating[::1] velocity_hidden,
    floating[:, ::1] chains,
    floating[:, ::1] Vs,
    floating[:, ::1] HT,
    floating[:, :, ::1] part,
    *,
    double learning_rate,
    double momentum,
    double shrink,
    double temperature,
    Py_ssize_t n_steps,
    Py_ssize_t n_row_blocks,
    uint64_t key,
    int n_threads=1,
    bint narrow=False,
    bint fresh=False,
    bint gaussian=False,
    weights=None,
    sparse=None,
    bint copy_in=True,
    bint copy_out=True,
):
    """``len(bounds) - 1`` PCD-k (or CD-k) updates of an RBM, in place, in one
    call (see ``_cd_fused.h``).

    Update ``b`` takes the data rows ``X[rows[bounds[b]:bounds[b + 1]]]`` and
    the ``C`` persistent chains, whose hidden states are ``chains`` (C x H):
    ``n_steps`` Gibbs steps ``h -> v -> h`` of the chains, then

    ``vW <- momentum vW + G - shrink W``, ``W <- W + vW``, where
    ``G = lr (<h v>_data - <h v>_chains) / T`` averages the data's products
    over the batch's rows and the chains' over the chains; the biases
    likewise (without the shrinkage). Work space: ``Vs`` ((max_batch + C) x
    V) the visible states, ``HT`` (H x ldt) the hidden statistics
    unit-major, ``ldt`` at least ``max_batch + C``, and ``part`` (n_blocks x
    C x V) the down products of the ``n_blocks`` blocks of hidden units.
    Update ``b``, Gibbs step ``s``
    draws from the streams ``mix64(key + (2t + 1) G)`` (visible) and
    ``mix64(key + (2t + 2) G)`` (hidden), ``t = b n_steps + s``. The result
    does not depend on ``n_threads``. ``narrow`` runs the AVX2 (x86-64-v3)
    worker where the AVX-512 one would run (for tests).

    ``fresh``: CD-k instead. The chains restart at each batch's data: batch
    ``b`` of ``n`` rows uses the first ``n`` rows of ``chains`` (C must be
    at least ``max_batch``), with hidden states drawn from ``P(h | data)``
    from the stream ``mix64(mix64(key) + b G)``. ``gaussian``: Gaussian
    visible units, ``v | h ~ N(a + W^T h, T)`` (Bernoulli otherwise).
    ``weights``, if given, holds a weight per entry of ``rows`` (sample
    weights, scaled to a mean of one over the data): each data row's hidden
    probabilities and visible states count with its weight in the
    statistics (the chains' do not), and the draws are unchanged.

    ``sparse``, if given, runs the same updates in the sparse layout
    (Bernoulli visible units only), for data that are mostly zeros: the
    up products and the weight step sum over the visible states' nonzero
    entries only. It holds the work space ``(WT, vWT, HR, ridx, rval, rlen,
    cidx, cval, clen, hT)``: ``WT`` and ``vWT`` (V x ldwt, ``ldwt`` a multiple
    of 16 and at least H) the unit-minor copies of ``W`` and ``velocity_W``
    for the run, ``HR`` ((max_batch + C) x ldwt) the hidden statistics
    row-major, ``ridx``/``rval`` ((max_batch + C) x V) and ``rlen``
    (max_batch + C, int32) the rows' nonzero entries, ``cidx``/``cval``
    (V x ldc, ``ldc`` at least max_batch + C) and ``clen`` (V, int32) the
    columns', and ``hT`` (H x ldh, ``ldh`` a multiple of 16 and at least C)
    the chains' hidden states unit-major; ``part`` is then (n_blocks x V x
    ldh), the down products transposed. Sums are over the nonzero entries
    in order, so results differ
    from the dense layout's by rounding, and are again the same for every
    ``n_threads``. ``copy_in=False``: ``WT``, ``vWT`` and ``hT`` already hold
    the weights, their velocity and the chains' hidden states (a previous
    call with ``copy_out=False`` left them there), and ``W``,
    ``velocity_W`` and ``chains`` are not read; ``copy_out=False``: they are
    left there and ``W``, ``velocity_W`` and ``chains`` are not written (the
    caller copies them back). A run split into calls that pass them on
    gives the bits of one call.
    """
    cdef Py_ssize_t H = W.shape[0], V = W.shape[1], C = chains.shape[0]
    cdef Py_ssize_t n_batches = bounds.shape[0] - 1, NB = part.shape[0], b, i
    cdef Py_ssize_t mb = Vs.shape[0] - C, n_samples = X.shape[0]
    if not st_cd_fused_available():
        raise RuntimeError("the fused CD kernel does not run on this machine")
    if (X.shape[1] != V or velocity_W.shape[0] != H or velocity_W.shape[1] != V
            or visible_bias.shape[0] != V or velocity_visible.shape[0] != V
            or hidden_bias.shape[0] != H or velocity_hidden.shape[0] != H
            or chains.shape[1] != H or Vs.shape[1] != V or HT.shape[0] != H
            or (sparse is None and (part.shape[1] != C or part.shape[2] != V))):
        raise ValueError("shapes of the data, parameters and buffers do not agree")
    if HT.shape[1] < Vs.shape[0]:
        raise ValueError("HT needs at least one column per row of Vs")
    if C < 1 or mb < 1 or NB < 1 or NB > H or n_steps < 1 or n_batches < 0:
        raise ValueError("need chains, room for data rows, blocks and steps")
    if n_row_blocks < 1 or n_row_blocks > C:
        raise ValueError("n_row_blocks must be in [1, n_chains]")
    if fresh and C < mb:
        raise ValueError("fresh chains need one per row of the largest batch")
    for b in range(n_batches):
        if not (0 <= bounds[b] < bounds[b + 1] <= rows.shape[0]
                and bounds[b + 1] - bounds[b] <= mb):
            raise ValueError("batches must be non-empty runs of rows of at most "
                             "max_batch rows")
    for i in range(rows.shape[0]):
        if not 0 <= rows[i] < n_samples:
            raise ValueError("row index out of range")
    cdef const floating[::1] wv
    cdef const floating *wp = NULL
    if weights is not None:
        wv = weights
        if wv.shape[0] != rows.shape[0]:
            raise ValueError("weights need one entry per entry of rows")
        wp = &wv[0] if rows.shape[0] else NULL
    cdef floating[:, ::1] WTv, vWTv, HRv, rvalv, cvalv, hTv
    cdef int32_t[:, ::1] ridxv, cidxv
    cdef int32_t[::1] rlenv, clenv
    if sparse is not None:
        if gaussian:
            raise ValueError("the sparse layout is for Bernoulli visible units")
        WTv, vWTv, HRv, ridxv, rvalv, rlenv, cidxv, cvalv, clenv, hTv = sparse
        if (WTv.shape[0] != V or WTv.shape[1] < H or WTv.shape[1] % 16
                or hTv.shape[0] != H or hTv.shape[1] < C or hTv.shape[1] % 16
                or part.shape[1] != V or part.shape[2] != hTv.shape[1]
                or vWTv.shape[0] != V or vWTv.shape[1] != WTv.shape[1]
                or HRv.shape[0] != Vs.shape[0] or HRv.shape[1] != WTv.shape[1]
                or ridxv.shape[0] != Vs.shape[0] or ridxv.shape[1] != V
                or rvalv.shape[0] != Vs.shape[0] or rvalv.shape[1] != V
                or rlenv.shape[0] != Vs.shape[0] or cidxv.shape[0] != V
                or cidxv.shape[1] < Vs.shape[0] or cvalv.shape[0] != V
                or cvalv.shape[1] != cidxv.shape[1] or clenv.shape[0] != V):
            raise ValueError("shapes of the sparse layout's buffers do not agree")
    if n_batches == 0 or H == 0 or V == 0:
        return
    claimed = np.zeros(NB + n_row_blocks + 2, "l")  # C long
    cdef long[::1] cl = claimed
    cdef st_cd_run r
    r.V = V
    r.H = H
    r.C = C
    r.max_batch = mb
    r.k_steps = n_steps
    r.n_batches = n_batches
    r.n_blocks = NB
    r.n_row_blocks = n_row_blocks
    r.X = &X[0, 0] if n_samples else NULL
    r.rows = &rows[0]
    r.bounds = &bounds[0]
    r.weights = wp
    r.W = &W[0, 0]
    r.vW = &velocity_W[0, 0]
    r.a = &visible_bias[0]
    r.va = &velocity_visible[0]
    r.c = &hidden_bias[0]
    r.vc = &velocity_hidden[0]
    r.h = &chains[0, 0]
    r.Vs = &Vs[0, 0]
    r.HT = &HT[0, 0]
    r.ldt = HT.shape[1]
    r.part = &part[0, 0, 0]
    r.learning_rate = learning_rate
    r.momentum = momentum
    r.shrink = shrink
    r.temperature = temperature
    r.key = key
    r.narrow = narrow
    r.fresh = fresh
    r.gaussian = gaussian
    r.claimed = &cl[0]
    r.sparse = sparse is not None
    if r.sparse:
        r.ldwt = WTv.shape[1]
        r.ldc = cidxv.shape[1]
        r.WT = &WTv[0, 0]
        r.vWT = &vWTv[0, 0]
        r.HR = &HRv[0, 0]
        r.ridx = &ridxv[0, 0]
        r.rval = &rvalv[0, 0]
        r.rlen = &rlenv[0]
        r.cidx = &cidxv[0, 0]
        r.cval = &cvalv[0, 0]
        r.clen = &clenv[0]
        r.hT = &hTv[0, 0]
        r.ldh = hTv.shape[1]
    r.copy_in = copy_in
    r.copy_out = copy_out
    with nogil:
        st_cd_fused(&r, floating is float, n_threads)


def factorised_limit(dtype):
    """Largest ``|a|`` (and ``|b|``) for which the factorised paths of
    :func:`conditional_rows` and :func:`pseudo_likelihood_rows` take
    ``e^{a + b}`` as ``e^a e^b`` (scaled weights and pre-activations beyond
    it take the direct path), for ``dtype``."""
    return float(
        ST_FACTOR_LIMIT_F if np.dtype(dtype) == np.float32 else ST_FACTOR_LIMIT_D
    )


cdef int _check_scaled(object scaled, Py_ssize_t K, Py_ssize_t H) except -1:
    """``scaled``: ``(U / T, e^{U / T}, e^{-U / T})``, each (K x H)."""
    if len(scaled) != 3 or any(np.shape(v) != (K, H) for v in scaled):
        raise ValueError("the scaled label weights need the shape of U")
    return 0


def conditional_rows(
    const floating[:, :] A,
    const floating[::1] c,
    const floating[:, ::1] U,
    const floating[::1] d,
    double temperature,
    floating[:, :] G,
    floating[:, :] S,
    *,
    scaled=None,
    D=None,
    Y=None,
    loss=None,
    weights=None,
    out=None,
    gU=None,
    floating[::1] scratch=None,
    double[::1] work=None,
):
    """The classification RBM's ``p(y | x)`` and gradient statistics of the
    rows whose products ``W_x x`` are the rows of ``A`` (n x H), in one pass
    per row (see ``_conditional.h``); the label weights ``U`` are (K x H).

    Writes ``G`` (n x K) ``= -F(x, y) / T``, ``S = G - max_y G``; with ``D``
    (n x K): ``p(y | x)`` or, with ``Y`` (one-hot labels), ``(Y - p) w`` and
    ``loss`` (n) ``= -log p(y | x) w`` (``w`` = ``weights``, or 1); with
    ``out`` (n x H, may be ``A``): ``sum_k D_k sigmoid(z_k)`` per hidden
    unit, and ``gU`` (K x H) ``+=`` its terms summed over rows. ``scaled``,
    if given, is ``(U / T, e^{U / T}, e^{-U / T})``, each (K x H), with
    ``|U / T|`` within :func:`factorised_limit`: rows whose scaled
    pre-activations are too take that faster path. ``scratch`` holds
    ``(K + 4) H`` elements, ``work`` ``K``. Returns False, having
    written nothing, where a pre-activation ``A + c`` is beyond a quarter of
    the dtype's range (the caller takes a slower path that handles it).
    """
    cdef Py_ssize_t n = A.shape[0], H = A.shape[1], K = U.shape[0]
    cdef Py_ssize_t isz = sizeof(floating), ldy = 1, ldd = 1, ldo = 1
    cdef floating[:, :] Dv, Ov
    cdef const floating[:, :] Yv
    cdef floating[::1] lv
    cdef const floating[::1] wv
    cdef floating[:, ::1] gv
    cdef const floating[:, ::1] usv, euv, enuv
    cdef const floating *usp = NULL
    cdef const floating *eup = NULL
    cdef const floating *enup = NULL
    cdef floating *Dp = NULL
    cdef const floating *Yp = NULL
    cdef floating *lp = NULL
    cdef const floating *wp = NULL
    cdef floating *op = NULL
    cdef floating *gp = NULL
    cdef int bad
    if (c.shape[0] != H or U.shape[1] != H or d.shape[0] != K
            or G.shape[0] != n or G.shape[1] != K or S.shape[0] != n
            or S.shape[1] != K):
        raise ValueError("shapes of the products, parameters and scores do not agree")
    if scratch is None or scratch.shape[0] < (K + 4) * H or work is None \
            or work.shape[0] < K:
        raise ValueError("scratch needs (K + 4) H elements and work K")
    if scaled is not None:
        _check_scaled(scaled, K, H)
        usv, euv, enuv = scaled
        if K and H:
            usp, eup, enup = &usv[0, 0], &euv[0, 0], &enuv[0, 0]
    if D is not None:
        Dv = D
        if Dv.shape[0] != n or Dv.shape[1] != K:
            raise ValueError("D must have the shape of G")
        Dp = &Dv[0, 0] if n else NULL
        ldd = _ld(D, isz)
    if Y is not None:
        Yv = Y
        lv = loss
        if Dp == NULL or Yv.shape[0] != n or Yv.shape[1] != K or lv.shape[0] != n:
            raise ValueError("Y needs D and loss, and the shape of G")
        Yp = &Yv[0, 0] if n else NULL
        lp = &lv[0] if n else NULL
        ldy = _ld(Y, isz)
    if weights is not None:
        wv = weights
        if Yp == NULL or wv.shape[0] != n:
            raise ValueError("weights need Y, one per row")
        wp = &wv[0] if n else NULL
    if out is not None:
        Ov = out
        if Dp == NULL or Ov.shape[0] != n or Ov.shape[1] != H:
            raise ValueError("out needs D, and the shape of A")
        op = &Ov[0, 0] if n else NULL
        ldo = _ld(out, isz)
    if gU is not None:
        gv = gU
        if op == NULL or gv.shape[0] != K or gv.shape[1] != H:
            raise ValueError("gU needs out, and the shape of U")
        gp = &gv[0, 0]
    if n == 0 or K == 0:
        return True
    if H == 0:
        raise ValueError("no hidden units")
    cdef Py_ssize_t lda = _ld(np.asarray(A), isz), ldg = _ld(np.asarray(G), isz)
    cdef Py_ssize_t lds = _ld(np.asarray(S), isz)
    with nogil:
        if floating is float:
            bad = st_cond_rows_f(n, H, K, &A[0, 0], lda, &c[0], &U[0, 0], usp, eup,
                                 enup, &d[0],
                                 temperature, Yp, ldy, wp, &G[0, 0], ldg, &S[0, 0],
                                 lds, Dp, ldd, lp, op, ldo, gp, &scratch[0], &work[0])
        else:
            bad = st_cond_rows_d(n, H, K, &A[0, 0], lda, &c[0], &U[0, 0], usp, eup,
                                 enup, &d[0],
                                 temperature, Yp, ldy, wp, &G[0, 0], ldg, &S[0, 0],
                                 lds, Dp, ldd, lp, op, ldo, gp, &scratch[0], &work[0])
    return not bad


cdef int _cond_block(
    Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t V, Py_ssize_t H, Py_ssize_t K,
    const floating *X, Py_ssize_t ldx, const floating *W, Py_ssize_t ldw,
    const floating *c, const floating *U, const floating *Us, const floating *eU,
    const floating *enU, const floating *d, double temperature,
    const floating *Y, Py_ssize_t ldy, const floating *weights, floating *P,
    Py_ssize_t ldp, floating *M, Py_ssize_t ldm, floating *G, floating *S,
    floating *D, floating *loss, floating *gU, floating *scratch, double *work,
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(K * H):
        gU[i] = 0
    if r1 <= r0:
        return 0
    # P[r0:r1] = X[r0:r1] W^T, in BLAS's column-major terms
    _gemm(b"T", b"N", <int>H, <int>(r1 - r0), <int>V, 1.0, <floating *>W, <int>ldw,
          <floating *>(X + r0 * ldx), <int>ldx, 0.0, P + r0 * ldp, <int>ldp)
    if floating is float:
        return st_cond_rows_f(r1 - r0, H, K, P + r0 * ldp, ldp, c, U, Us, eU, enU, d,
                              temperature, Y + r0 * ldy, ldy,
                              weights + r0 if weights != NULL else NULL,
                              G + r0 * K, K, S + r0 * K, K, D + r0 * K, K, loss + r0,
                              M + r0 * ldm, ldm, gU, scratch, work)
    else:
        return st_cond_rows_d(r1 - r0, H, K, P + r0 * ldp, ldp, c, U, Us, eU, enU, d,
                              temperature, Y + r0 * ldy, ldy,
                              weights + r0 if weights != NULL else NULL,
                              G + r0 * K, K, S + r0 * K, K, D + r0 * K, K, loss + r0,
                              M + r0 * ldm, ldm, gU, scratch, work)


def conditional_gradient(
    const floating[:, :] X,
    const floating[:, :] W,
    const floating[::1] c,
    const floating[:, ::1] U,
    const floating[::1] d,
    double temperature,
    const floating[:, ::1] Y,
    floating[:, :] P,
    floating[:, :] M,
    floating[:, ::1] G,
    floating[:, ::1] S,
    floating[:, ::1] D,
    floating[::1] loss,
    floating[:, :, ::1] gU,
    const int64_t[::1] bounds,
    floating[:, ::1] scratch,
    double[:, ::1] work,
    *,
    scaled=None,
    weights=None,
    int n_threads=1,
):
    """The statistics of the gradient of ``sum_i log p(y_i | x_i)`` of rows
    ``X`` (n x V) with one-hot labels ``Y`` (n x K), over row blocks
    ``bounds[b]:bounds[b + 1]`` in parallel: ``P <- X W^T`` (the products,
    n x H, ``W`` the feature weights, H x V), then :func:`conditional_rows`
    per block with ``out = M`` (which may be ``P``) and ``gU[b]`` (K x H) set
    to block ``b``'s sum; ``scratch`` and ``work`` have a row per block.
    Returns False where some pre-activation is beyond the kernel's range
    (``G``, ``S``, ``D``, ``loss``, ``M`` and ``gU`` then hold nothing of
    use). The result does not depend on ``n_threads``.
    """
    cdef Py_ssize_t n = X.shape[0], V = X.shape[1], H = W.shape[0], K = U.shape[0]
    cdef Py_ssize_t n_blocks = bounds.shape[0] - 1, b
    cdef Py_ssize_t isz = sizeof(floating)
    cdef const floating[:, ::1] usv, euv, enuv
    cdef const floating[::1] wv
    cdef const floating *usp = NULL
    cdef const floating *eup = NULL
    cdef const floating *enup = NULL
    cdef const floating *wp = NULL
    cdef int bad = 0
    if (W.shape[1] != V or c.shape[0] != H or U.shape[1] != H or d.shape[0] != K
            or Y.shape[0] != n or Y.shape[1] != K or P.shape[0] != n
            or P.shape[1] != H or M.shape[0] != n or M.shape[1] != H
            or G.shape[0] != n or G.shape[1] != K or S.shape[0] != n
            or S.shape[1] != K or D.shape[0] != n or D.shape[1] != K
            or loss.shape[0] != n):
        raise ValueError("shapes of the rows, parameters and outputs do not agree")
    if (n_blocks < 1 or bounds[0] != 0 or bounds[n_blocks] != n
            or gU.shape[0] < n_blocks or gU.shape[1] != K or gU.shape[2] != H
            or scratch.shape[0] < n_blocks or scratch.shape[1] < (K + 4) * H
            or work.shape[0] < n_blocks or work.shape[1] < K):
        raise ValueError("blocks, gU, scratch and work do not agree")
    for b in range(n_blocks):
        if bounds[b + 1] < bounds[b]:
            raise ValueError("block bounds must not decrease")
    if scaled is not None:
        _check_scaled(scaled, K, H)
        usv, euv, enuv = scaled
        if K and H:
            usp, eup, enup = &usv[0, 0], &euv[0, 0], &enuv[0, 0]
    if weights is not None:
        wv = weights
        if wv.shape[0] != n:
            raise ValueError("weights need one entry per row")
        wp = &wv[0] if n else NULL
    if n == 0 or K == 0:
        return True
    if H == 0 or V == 0:
        raise ValueError("no hidden or visible units")
    cdef Py_ssize_t ldx = _ld(np.asarray(X), isz), ldw = _ld(np.asarray(W), isz)
    cdef Py_ssize_t ldy = _ld(np.asarray(Y), isz), ldp = _ld(np.asarray(P), isz)
    cdef Py_ssize_t ldm = _ld(np.asarray(M), isz)
    with nogil:
        if n_threads > 1 and n_blocks > 1:
            for b in prange(n_blocks, num_threads=n_threads, schedule="dynamic"):
                bad += _cond_block(bounds[b], bounds[b + 1], V, H, K, &X[0, 0], ldx,
                                   &W[0, 0], ldw, &c[0], &U[0, 0], usp, eup, enup,
                                   &d[0], temperature, &Y[0, 0], ldy, wp, &P[0, 0],
                                   ldp, &M[0, 0], ldm, &G[0, 0], &S[0, 0], &D[0, 0],
                                   &loss[0], &gU[b, 0, 0], &scratch[b, 0], &work[b, 0])
        else:
            for b in range(n_blocks):
                bad += _cond_block(bounds[b], bounds[b + 1], V, H, K, &X[0, 0], ldx,
                                   &W[0, 0], ldw, &c[0], &U[0, 0], usp, eup, enup,
                                   &d[0], temperature, &Y[0, 0], ldy, wp, &P[0, 0],
                                   ldp, &M[0, 0], ldm, &G[0, 0], &S[0, 0], &D[0, 0],
                                   &loss[0], &gU[b, 0, 0], &scratch[b, 0], &work[b, 0])
    return bad == 0


cdef void _pll_block(
    Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t V, Py_ssize_t H, const floating *X,
    Py_ssize_t ldx, const floating *W, Py_ssize_t ldw, const floating *Ep,
    const floating *En, const floating *a, const floating *c, double temperature,
    floating *out, floating *scratch,
) noexcept nogil:
    cdef Py_ssize_t i, j, m = r1 - r0
    cdef floating *P = scratch
    cdef floating *acc = scratch + m * H
    cdef floating temp = <floating>temperature
    cdef floating inv_t = <floating>(1.0 / temperature)
    cdef const floating *v
    cdef bint fast
    if m <= 0:
        return
    # P = X[r0:r1] W^T (m x H), in BLAS's column-major terms
    _gemm(b"T", b"N", <int>H, <int>m, <int>V, 1.0, <floating *>W, <int>ldw,
          <floating *>(X + r0 * ldx), <int>ldx, 0.0, P, <int>H)
    for i in range(m):
        v = X + (r0 + i) * ldx
        for j in range(H):
            P[i * H + j] += c[j]
        if floating is float:
            fast = Ep != NULL and st_pll_fits_f(v, V, P + i * H, H, inv_t,
                                                ST_FACTOR_LIMIT_F)
            if fast:
                out[r0 + i] = <floating>st_pll_fast_f(v, P + i * H, W, ldw, Ep, En, a,
                                                      V, H, temp, inv_t, acc,
                                                      acc + V, acc + 2 * V)
            else:
                out[r0 + i] = <floating>st_pll_row_f(v, P + i * H, W, ldw, a, V, H,
                                                     temp, inv_t, acc, acc + V)
        else:
            fast = Ep != NULL and st_pll_fits_d(v, V, P + i * H, H, inv_t,
                                                ST_FACTOR_LIMIT_D)
            if fast:
                out[r0 + i] = st_pll_fast_d(v, P + i * H, W, ldw, Ep, En, a, V, H,
                                            temp, inv_t, acc, acc + V, acc + 2 * V)
            else:
                out[r0 + i] = st_pll_row_d(v, P + i * H, W, ldw, a, V, H, temp,
                                           inv_t, acc, acc + V)


def pseudo_likelihood_rows(
    const floating[:, :] X,
    const floating[:, :] W,
    const floating[::1] a,
    const floating[::1] c,
    double temperature,
    floating[::1] out,
    floating[:, ::1] scratch,
    *,
    scaled=None,
    Py_ssize_t block_rows=32,
    int n_threads=1,
):
    """Exact pseudo-log-likelihood of each row of ``X`` (n x V) under the RBM
    with weights ``W`` (H x V), visible biases ``a`` and hidden biases ``c``
    at temperature ``T`` (Bernoulli visible units; see ``_pseudo.h``), into
    ``out`` (n). ``scaled``, if given, is ``(e^{W / T}, e^{-W / T})``, each
    (H x V), with ``|W / T|`` within :func:`factorised_limit`:
    binary rows whose pre-activations are in that range too take the faster
    factorised path. Blocks of ``block_rows`` rows run on the threads; each
    thread works in its row of ``scratch`` (at least ``block_rows * H + 3 V``
    elements, one row per thread). Each row's value is computed alone: the
    result does not depend on ``n_threads``.
    """
    cdef Py_ssize_t n = X.shape[0], V = X.shape[1], H = W.shape[0]
    cdef Py_ssize_t isz = sizeof(floating), b, n_blocks, r0, r1
    cdef const floating[:, ::1] epv, env
    cdef const floating *ep = NULL
    cdef const floating *en = NULL
    if W.shape[1] != V or a.shape[0] != V or c.shape[0] != H or out.shape[0] != n:
        raise ValueError("shapes of the rows, parameters and output do not agree")
    if block_rows < 1:
        raise ValueError("block_rows must be at least 1")
    if (scratch.shape[0] < max(1, n_threads)
            or scratch.shape[1] < block_rows * H + 3 * V):
        raise ValueError("scratch needs a row of block_rows * H + 3 V per thread")
    if scaled is not None:
        if len(scaled) != 2 or any(np.shape(e) != (H, V) for e in scaled):
            raise ValueError("the scaled weights need the shape of W")
        epv, env = scaled
        if H and V:
            ep, en = &epv[0, 0], &env[0, 0]
    if n == 0:
        return
    if V == 0 or H == 0:
        raise ValueError("no visible or hidden units")
    cdef Py_ssize_t ldx = _ld(np.asarray(X), isz), ldw = _ld(np.asarray(W), isz)
    n_blocks = (n + block_rows - 1) // block_rows
    with nogil:
        if n_threads > 1 and n_blocks > 1:
            for b in prange(n_blocks, num_threads=n_threads, schedule="dynamic"):
                r0 = b * block_rows
                r1 = min(n, r0 + block_rows)
                _pll_block(r0, r1, V, H, &X[0, 0], ldx, &W[0, 0], ldw, ep, en, &a[0],
                           &c[0], temperature, &out[0], &scratch[threadid(), 0])
        else:
            for b in range(n_blocks):
                r0 = b * block_rows
                r1 = min(n, r0 + block_rows)
                _pll_block(r0, r1, V, H, &X[0, 0], ldx, &W[0, 0], ldw, ep, en, &a[0],
                           &c[0], temperature, &out[0], &scratch[0, 0])
