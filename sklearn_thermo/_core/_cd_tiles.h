/* The three products of a fused CD / PCD update, for one vector flavour: a
 * template included by _cd_fused.h once per (element type, vector width),
 * with
 *   ST_T          the element type (float or double)
 *   ST_VT, ST_VTU its vector type, aligned and unaligned (GCC extensions)
 *   ST_NL         lanes of a vector
 *   ST_IT         an integer type of the element's size (shuffle masks)
 *   ST_K(name)    the name of a function of this flavour
 *   ST_DOT_MI, ST_DOT_MJ   tile of st_cd_dot: rows x units
 *   ST_BC_MI, ST_BC_MK     tile of st_cd_bcast: rows x vectors
 *   ST_GR_MJ, ST_GR_MK     tile of st_cd_grad: units x vectors
 *   ST_SP_CW               vectors of a sparse tile (at most 8)
 * The weights W are (H x V), row-major, ldw apart. The parameters are
 * #undef'd at the end, but for ST_SP_CW.
 *
 * Every output element is one accumulator summed in a fixed order (over k
 * in lanes then a fixed tree, or over k, j or i in order), whichever tile
 * computes it: results depend on the shapes and the flavour only, never on
 * how the work is split between threads.
 */

/* sum of the lanes, in a fixed tree: lane l takes lane l + w, for w = half
 * the lanes, then a quarter, ... 1 (whole-vector shuffles with constant
 * masks: no round trip through memory) */
static inline __attribute__((always_inline)) ST_T ST_K(hsum)(ST_VT x)
{
    /* lanes 0-3 (of 4, 8 or 16) take the lanes w apart, for w = 8 and 4 */
#if ST_NL == 16
    typedef ST_IT mask_t __attribute__((vector_size(sizeof(ST_VT))));
    x += __builtin_shuffle(
        x, (mask_t){8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15});
    x += __builtin_shuffle(
        x, (mask_t){4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
#elif ST_NL == 8
    typedef ST_IT mask_t __attribute__((vector_size(sizeof(ST_VT))));
    x += __builtin_shuffle(x, (mask_t){4, 5, 6, 7, 4, 5, 6, 7});
#endif
    /* then w = 2 and 1 */
    return x[0] + x[2] + (x[1] + x[3]);
}

/* P[r, q] = sum_k A[r, k] W[q, k] for a tile of mi rows x mj units, P's
 * rows ldpi and its units ldpj apart */
static inline __attribute__((always_inline)) void ST_K(dot_tile)(
    const int mi, const int mj, ptrdiff_t V, const ST_T *A, ptrdiff_t lda,
    const ST_T *W, ptrdiff_t ldw, ST_T *P, ptrdiff_t ldpi, ptrdiff_t ldpj)
{
    ST_VT acc[ST_DOT_MI][ST_DOT_MJ];
    ptrdiff_t k, nv = V / ST_NL * ST_NL;
    int r, q;
    for (r = 0; r < mi; r++)
        for (q = 0; q < mj; q++)
            acc[r][q] = (ST_VT){0};
    for (k = 0; k < nv; k += ST_NL) {
        ST_VT w[ST_DOT_MJ];
        for (q = 0; q < mj; q++)
            w[q] = *(const ST_VTU *)(W + q * ldw + k);
        for (r = 0; r < mi; r++) {
            ST_VT a = *(const ST_VTU *)(A + r * lda + k);
            for (q = 0; q < mj; q++)
                acc[r][q] += a * w[q];
        }
    }
    for (r = 0; r < mi; r++)
        for (q = 0; q < mj; q++) {
            ST_T s = ST_K(hsum)(acc[r][q]);
            for (k = nv; k < V; k++)
                s += A[r * lda + k] * W[q * ldw + k];
            P[r * ldpi + q * ldpj] = s;
        }
}

/* P[i, j] = A_i . W_j for rows i < m, units j0 <= j < j1; P's rows ldpi
 * and its units ldpj apart (the products of the up half-step, straight
 * from the row-major states) */
static inline __attribute__((always_inline)) void ST_K(dot)(
    ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t V, const ST_T *A,
    ptrdiff_t lda, const ST_T *W, ptrdiff_t ldw, ST_T *P, ptrdiff_t ldpi,
    ptrdiff_t ldpj)
{
    ptrdiff_t i, j;
    for (i = 0; i + ST_DOT_MI <= m; i += ST_DOT_MI) {
        for (j = j0; j + ST_DOT_MJ <= j1; j += ST_DOT_MJ)
            ST_K(dot_tile)(ST_DOT_MI, ST_DOT_MJ, V, A + i * lda, lda, W + j * ldw,
                           ldw, P + i * ldpi + j * ldpj, ldpi, ldpj);
        for (; j < j1; j++)
            ST_K(dot_tile)(ST_DOT_MI, 1, V, A + i * lda, lda, W + j * ldw, ldw,
                           P + i * ldpi + j * ldpj, ldpi, ldpj);
    }
    for (; i < m; i++) {
        for (j = j0; j + ST_DOT_MJ <= j1; j += ST_DOT_MJ)
            ST_K(dot_tile)(1, ST_DOT_MJ, V, A + i * lda, lda, W + j * ldw, ldw,
                           P + i * ldpi + j * ldpj, ldpi, ldpj);
        for (; j < j1; j++)
            ST_K(dot_tile)(1, 1, V, A + i * lda, lda, W + j * ldw, ldw,
                           P + i * ldpi + j * ldpj, ldpi, ldpj);
    }
}

/* O[r, k0 + ...] = sum_{j0 <= j < j1} h[r, j] W[j, k0 + ...]: mi rows x mk
 * vectors */
static inline __attribute__((always_inline)) void ST_K(bcast_tile)(
    const int mi, const int mk, ptrdiff_t j0, ptrdiff_t j1, const ST_T *h,
    ptrdiff_t ldh, const ST_T *W, ptrdiff_t ldw, ST_T *O, ptrdiff_t ldo)
{
    ST_VT acc[ST_BC_MI][ST_BC_MK];
    ptrdiff_t j;
    int r, q;
    for (r = 0; r < mi; r++)
        for (q = 0; q < mk; q++)
            acc[r][q] = (ST_VT){0};
    for (j = j0; j < j1; j++) {
        ST_VT w[ST_BC_MK];
        for (q = 0; q < mk; q++)
            w[q] = *(const ST_VTU *)(W + j * ldw + q * ST_NL);
        for (r = 0; r < mi; r++) {
            ST_T s = h[r * ldh + j];
            for (q = 0; q < mk; q++)
                acc[r][q] += s * w[q];
        }
    }
    for (r = 0; r < mi; r++)
        for (q = 0; q < mk; q++)
            *(ST_VTU *)(O + r * ldo + q * ST_NL) = acc[r][q];
}

/* O (m x V) = h[:, j0:j1] W[j0:j1, :] */
static inline __attribute__((always_inline)) void ST_K(bcast)(
    ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t V, const ST_T *h,
    ptrdiff_t ldh, const ST_T *W, ptrdiff_t ldw, ST_T *O, ptrdiff_t ldo)
{
    ptrdiff_t i, k, j, nv = V / ST_NL * ST_NL;
    /* columns outer: the chunk of W's rows stays in L1 across the rows */
    for (k = 0; k + ST_BC_MK * ST_NL <= nv; k += ST_BC_MK * ST_NL) {
        for (i = 0; i + ST_BC_MI <= m; i += ST_BC_MI)
            ST_K(bcast_tile)(ST_BC_MI, ST_BC_MK, j0, j1, h + i * ldh, ldh, W + k,
                             ldw, O + i * ldo + k, ldo);
        for (; i < m; i++)
            ST_K(bcast_tile)(1, ST_BC_MK, j0, j1, h + i * ldh, ldh, W + k, ldw,
                             O + i * ldo + k, ldo);
    }
    /* the vectors left, in one tile (a constant width each) */
#define ST_BC_LEFT(mk)                                                          \
    do {                                                                        \
        for (i = 0; i + ST_BC_MI <= m; i += ST_BC_MI)                           \
            ST_K(bcast_tile)(ST_BC_MI, mk, j0, j1, h + i * ldh, ldh, W + k, ldw, \
                             O + i * ldo + k, ldo);                             \
        for (; i < m; i++)                                                      \
            ST_K(bcast_tile)(1, mk, j0, j1, h + i * ldh, ldh, W + k, ldw,       \
                             O + i * ldo + k, ldo);                             \
    } while (0)
    switch ((nv - k) / ST_NL) {
    case 1:
        ST_BC_LEFT(1);
        break;
#if ST_BC_MK > 2
    case 2:
        ST_BC_LEFT(2);
        break;
#endif
#if ST_BC_MK > 3
    case 3:
        ST_BC_LEFT(3);
        break;
#endif
    }
#undef ST_BC_LEFT
    for (i = 0; i < m; i++)
        for (k = nv; k < V; k++) {
            ST_T s = 0;
            for (j = j0; j < j1; j++)
                s += h[i * ldh + j] * W[j * ldw + k];
            O[i * ldo + k] = s;
        }
}

/* The step of mj units x mk vectors of W from the m rows of statistics:
 *   vW <- mom vW + sum_i HT[j, i] Vs[i, k];  vW <- vW - shrink W;  W <- W + vW
 * (HT, unit-major, and Vs point at the tile's first unit, row and column) */
static inline __attribute__((always_inline)) void ST_K(grad_tile)(
    const int mj, const int mk, ptrdiff_t m, const ST_T *HT, ptrdiff_t ldh,
    const ST_T *Vs, ptrdiff_t ldv, ST_T *W, ST_T *vW, ptrdiff_t ldw, ST_T mom,
    ST_T shrink)
{
    ST_VT acc[ST_GR_MJ][ST_GR_MK];
    ptrdiff_t i;
    int r, q;
    for (r = 0; r < mj; r++)
        for (q = 0; q < mk; q++)
            acc[r][q] = (ST_VT){0};
    for (i = 0; i < m; i++) {
        ST_VT x[ST_GR_MK];
        for (q = 0; q < mk; q++)
            x[q] = *(const ST_VTU *)(Vs + i * ldv + q * ST_NL);
        for (r = 0; r < mj; r++) {
            ST_T s = HT[r * ldh + i];
            for (q = 0; q < mk; q++)
                acc[r][q] += s * x[q];
        }
    }
    for (r = 0; r < mj; r++)
        for (q = 0; q < mk; q++) {
            ST_T *w = W + r * ldw + q * ST_NL, *v = vW + r * ldw + q * ST_NL;
            ST_VT wv = *(ST_VTU *)w;
            ST_VT vv = mom * *(ST_VTU *)v + acc[r][q];
            vv -= shrink * wv;
            *(ST_VTU *)v = vv;
            *(ST_VTU *)w = wv + vv;
        }
}

/* The step of units j0 <= j < j1 of W (all V columns), and of their biases,
 * from the m rows of Vs and of HT (unit-major: HT[j, i], ldh apart):
 *   vc <- mom vc + sum_i HT[j, i];  c <- c + vc */
static inline __attribute__((always_inline)) void ST_K(grad)(
    ptrdiff_t m, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t V, const ST_T *HT,
    ptrdiff_t ldh, const ST_T *Vs, ptrdiff_t ldv, ST_T *W, ST_T *vW,
    ptrdiff_t ldw, ST_T *c, ST_T *vc, ST_T mom, ST_T shrink)
{
    ptrdiff_t i, j, k, nv = V / ST_NL * ST_NL;
    /* columns outer: the tile's columns of Vs stay in L1 across the units */
    for (k = 0; k + ST_GR_MK * ST_NL <= nv; k += ST_GR_MK * ST_NL) {
        for (j = j0; j + ST_GR_MJ <= j1; j += ST_GR_MJ)
            ST_K(grad_tile)(ST_GR_MJ, ST_GR_MK, m, HT + j * ldh, ldh, Vs + k, ldv,
                            W + j * ldw + k, vW + j * ldw + k, ldw, mom, shrink);
        /* the units left, in the widest tiles that fit: a one-unit tile
         * has only ST_GR_MK chains of dependent FMAs, too few to keep the
         * FMA units busy */
#if ST_GR_MJ > 4
        if (j + 4 <= j1) {
            ST_K(grad_tile)(4, ST_GR_MK, m, HT + j * ldh, ldh, Vs + k, ldv,
                            W + j * ldw + k, vW + j * ldw + k, ldw, mom, shrink);
            j += 4;
        }
#endif
        if (ST_GR_MJ > 2 && j + 2 <= j1) {
            ST_K(grad_tile)(2, ST_GR_MK, m, HT + j * ldh, ldh, Vs + k, ldv,
                            W + j * ldw + k, vW + j * ldw + k, ldw, mom, shrink);
            j += 2;
        }
        for (; j < j1; j++)
            ST_K(grad_tile)(1, ST_GR_MK, m, HT + j * ldh, ldh, Vs + k, ldv,
                            W + j * ldw + k, vW + j * ldw + k, ldw, mom, shrink);
    }
    for (; k < nv; k += ST_NL) {
        for (j = j0; j + ST_GR_MJ <= j1; j += ST_GR_MJ)
            ST_K(grad_tile)(ST_GR_MJ, 1, m, HT + j * ldh, ldh, Vs + k, ldv,
                            W + j * ldw + k, vW + j * ldw + k, ldw, mom, shrink);
        for (; j < j1; j++)
            ST_K(grad_tile)(1, 1, m, HT + j * ldh, ldh, Vs + k, ldv, W + j * ldw + k,
                            vW + j * ldw + k, ldw, mom, shrink);
    }
    for (j = j0; j < j1; j++) {
        ST_T s = 0;
        for (k = nv; k < V; k++) {
            ST_T g = 0, *w = W + j * ldw + k, *v = vW + j * ldw + k;
            for (i = 0; i < m; i++)
                g += HT[j * ldh + i] * Vs[i * ldv + k];
            *v = mom * *v + g;
            *v -= shrink * *w;
            *w += *v;
        }
        for (i = 0; i < m; i++)
            s += HT[j * ldh + i];
        vc[j] = mom * vc[j] + s;
        c[j] += vc[j];
    }
}

/* a[r][c] <- a[c][r] for ST_NL vectors of ST_NL lanes, in registers:
 * log2(ST_NL) rounds, each swapping the off-diagonal blocks of half the
 * previous size between pairs of rows with one two-vector shuffle a row */
static inline __attribute__((always_inline)) void ST_K(tr_regs)(ST_VT *a)
{
    typedef ST_IT mask_t __attribute__((vector_size(sizeof(ST_VT))));
    int r, c, b;
    /* unrolled, so that the rows stay in registers and the masks are
     * constants */
#pragma GCC unroll 4
    for (b = ST_NL / 2; b >= 1; b /= 2) {
        mask_t lo, hi;
#pragma GCC unroll 16
        for (c = 0; c < ST_NL; c++) {
            lo[c] = (c & b) ? ST_NL + c - b : c;
            hi[c] = (c & b) ? ST_NL + c : c + b;
        }
#pragma GCC unroll 16
        for (r = 0; r < ST_NL; r++)
            if (!(r & b)) {
                const ST_VT x = a[r], y = a[r + b];
                a[r] = __builtin_shuffle(x, y, lo);
                a[r + b] = __builtin_shuffle(x, y, hi);
            }
    }
}

/* B[y, x] = A[x, y] for an ST_NL x ST_NL tile (rows lda and ldb apart) */
static inline __attribute__((always_inline)) void ST_K(tr_tile)(
    const ST_T *A, ptrdiff_t lda, ST_T *B, ptrdiff_t ldb)
{
    ST_VT a[ST_NL];
    int r;
#pragma GCC unroll 16
    for (r = 0; r < ST_NL; r++)
        a[r] = *(const ST_VTU *)(A + r * lda);
    ST_K(tr_regs)(a);
#pragma GCC unroll 16
    for (r = 0; r < ST_NL; r++)
        *(ST_VTU *)(B + r * ldb) = a[r];
}

/* B[r, k] = sum_b A_b[k, r] for 0 <= k < V and the first m (<= ST_NL)
 * columns r of the nb matrices A_b = A + b bs (rows lda apart; whole
 * vectors of columns are read), summed in the order of b; B's rows ldb
 * apart: the sparse layout's down products of the blocks of hidden units,
 * summed into the chains' rows */
static inline __attribute__((always_inline)) void ST_K(sum_tr)(
    ptrdiff_t nb, ptrdiff_t bs, ptrdiff_t V, const ST_T *A, ptrdiff_t lda, int m,
    ST_T *B, ptrdiff_t ldb)
{
    ptrdiff_t k, b, x;
    int r;
    for (k = 0; k + ST_NL <= V; k += ST_NL) {
        ST_VT a[ST_NL];
#pragma GCC unroll 16
        for (r = 0; r < ST_NL; r++) {
            const ST_T *src = A + (k + r) * lda;
            ST_VT s = *(const ST_VTU *)src;
            for (b = 1; b < nb; b++)
                s += *(const ST_VTU *)(src + b * bs);
            a[r] = s;
        }
        ST_K(tr_regs)(a);
        if (m == ST_NL) {
#pragma GCC unroll 16
            for (r = 0; r < ST_NL; r++)
                *(ST_VTU *)(B + r * ldb + k) = a[r];
        } else {
            for (r = 0; r < m; r++)
                *(ST_VTU *)(B + r * ldb + k) = a[r];
        }
    }
    for (x = k; x < V; x++)
        for (r = 0; r < m; r++) {
            ST_T s = A[x * lda + r];
            for (b = 1; b < nb; b++)
                s += A[b * bs + x * lda + r];
            B[r * ldb + x] = s;
        }
}

/* B[j, k] = A[k, j] for j0 <= j < j1, 0 <= k < V (A's rows lda apart, B's
 * ldb): the sparse layout's unit-minor weights back into W's rows */
static inline __attribute__((always_inline)) void ST_K(transpose)(
    ptrdiff_t V, ptrdiff_t j0, ptrdiff_t j1, const ST_T *A, ptrdiff_t lda, ST_T *B,
    ptrdiff_t ldb)
{
    ptrdiff_t j, k, x, y;
    for (j = j0; j + ST_NL <= j1; j += ST_NL) {
        for (k = 0; k + ST_NL <= V; k += ST_NL)
            ST_K(tr_tile)(A + k * lda + j, lda, B + j * ldb + k, ldb);
        for (y = 0; y < ST_NL; y++)
            for (x = k; x < V; x++)
                B[(j + y) * ldb + x] = A[x * lda + j + y];
    }
    for (; j < j1; j++)
        for (k = 0; k < V; k++)
            B[j * ldb + k] = A[k * lda + j];
}

/* bit l set where lane l of v[0:ST_NL] is nonzero */
static inline __attribute__((always_inline)) uint32_t ST_K(nz_bits)(const ST_T *v)
{
    typedef ST_IT mask_t __attribute__((vector_size(sizeof(ST_VT))));
#if ST_NL == 16
    const mask_t w = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                      16384, 32768};
#elif ST_NL == 8
    const mask_t w = {1, 2, 4, 8, 16, 32, 64, 128};
#else
    const mask_t w = {1, 2, 4, 8};
#endif
    mask_t m = (*(const ST_VTU *)v != (ST_VT){0}) & w;
    ST_IT bits = 0;
    int l;
#pragma GCC unroll 16
    for (l = 0; l < ST_NL; l++)
        bits |= m[l];
    return (uint32_t)bits;
}

/* The sparse tiles: for binary (or mostly zero) visible states, with the
 * weights unit-minor (WT, V x ldwt: WT[k, j] = W[j, k]) and the nonzero
 * entries of a row of the states (or of a column) listed: their positions
 * idx and values val, in increasing position.
 *
 * sum_t val[t] A[idx[t], 0:nq vectors] (A's rows lda apart, t in order),
 * then either stored in O (step 0: the up products of one row of states,
 * A = WT) or taken as the gradient G of the step of one row of WT, O, and
 * of its velocity vO (step 1, A = HR, the row-major hidden statistics):
 *   vO <- mom vO + G;  vO <- vO - shrink O;  O <- O + vO */
static inline __attribute__((always_inline)) void ST_K(sp_chunk)(
    const int nq, const int step, ptrdiff_t n, const int32_t *idx, const ST_T *val,
    const ST_T *A, ptrdiff_t lda, ST_T *O, ST_T *vO, ST_T mom, ST_T shrink)
{
    ST_VT acc[ST_SP_CW];
    ptrdiff_t t;
    int q;
    for (q = 0; q < nq; q++)
        acc[q] = (ST_VT){0};
    for (t = 0; t < n; t++) {
        const ST_T *a = A + (ptrdiff_t)idx[t] * lda;
        const ST_T s = val[t];
        for (q = 0; q < nq; q++)
            acc[q] += s * *(const ST_VTU *)(a + q * ST_NL);
    }
    for (q = 0; q < nq; q++) {
        ST_T *o = O + q * ST_NL;
        if (step) {
            ST_T *v = vO + q * ST_NL;
            ST_VT ov = *(ST_VTU *)o;
            ST_VT vv = mom * *(ST_VTU *)v + acc[q];
            vv -= shrink * ov;
            *(ST_VTU *)v = vv;
            *(ST_VTU *)o = ov + vv;
        } else {
            *(ST_VTU *)o = acc[q];
        }
    }
}

/* st_cd_sp_chunk over O[0:width), width a multiple of ST_NL: whole tiles,
 * then the vectors left as one tile of constant width */
static inline __attribute__((always_inline)) void ST_K(sp_rows)(
    const int step, ptrdiff_t n, const int32_t *idx, const ST_T *val, const ST_T *A,
    ptrdiff_t lda, ST_T *O, ST_T *vO, ptrdiff_t width, ST_T mom, ST_T shrink)
{
    ptrdiff_t x = 0, nv = width / ST_NL;
    for (; x + ST_SP_CW <= nv; x += ST_SP_CW)
        ST_K(sp_chunk)(ST_SP_CW, step, n, idx, val, A + x * ST_NL, lda,
                       O + x * ST_NL, step ? vO + x * ST_NL : NULL, mom, shrink);
    switch (nv - x) {
#define ST_SP_CASE(c) \
    case c: \
        ST_K(sp_chunk)(c, step, n, idx, val, A + x * ST_NL, lda, O + x * ST_NL, \
                       step ? vO + x * ST_NL : NULL, mom, shrink); \
        break;
        ST_SP_CASE(1)
        ST_SP_CASE(2)
        ST_SP_CASE(3)
        ST_SP_CASE(4)
        ST_SP_CASE(5)
        ST_SP_CASE(6)
        ST_SP_CASE(7)
#undef ST_SP_CASE
    default:
        break;
    }
}

#undef ST_T
#undef ST_VT
#undef ST_VTU
#undef ST_NL
#undef ST_IT
#undef ST_K
#undef ST_DOT_MI
#undef ST_DOT_MJ
#undef ST_BC_MI
#undef ST_BC_MK
#undef ST_GR_MJ
#undef ST_GR_MK
