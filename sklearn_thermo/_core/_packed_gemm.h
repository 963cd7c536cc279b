/* A float32 matrix product for the AIS kernel, with one operand packed once:
 * the weights, reused for thousands of products of the same shape. BLAS packs
 * both operands at every call; at the AIS shapes (tens of chains, hundreds
 * of units) packing the weights is a noticeable share of the product.
 *
 * C (m x N, column-major, ldc) = alpha A B, with A (m x K, column-major, lda:
 * the chains unit-major, as the AIS kernel holds them) and B (K x N) packed
 * by st_pack_panels into panels of 16 columns. The micro-kernel computes a
 * tile of 6 rows x 16 columns (12 AVX2 registers of accumulators); where the
 * AVX-512 clone runs, 12 rows x 32 columns (24 of its 32 registers: each
 * value of B loaded serves twice as many rows). The rows of A are packed per
 * call in blocks of the tile's height (a small copy). Plain C with GCC's
 * vector extensions, so every compiler that has them builds it for any ISA;
 * ST_CLONES adds AVX2 + FMA and AVX-512 clones. The AIS kernel uses it
 * where st_gemm_packed_fast says that one of those runs, and BLAS otherwise.
 *
 * Each C[i, j] is one accumulator summed over k = 0, 1, ..., K - 1 in order,
 * whatever m, the tile's shape and the row's place in its block: the product
 * of a chain does not depend on how the chains are split between threads.
 */
#ifndef SKLEARN_THERMO_PACKED_GEMM_H
#define SKLEARN_THERMO_PACKED_GEMM_H

#include <stddef.h>

#include "_elementwise.h"

#define ST_GEMM_MR 6       /* rows of a tile */
#define ST_GEMM_MR_WIDE 12 /* ... in the AVX-512 clone */
#define ST_GEMM_NR 16      /* columns of a panel */

/* B (K x N): B[k, j] = src[k * sk + j * sj]; packed into ceil(N / 16)
 * panels of K x 16 (zero beyond N): out[(p * K + k) * 16 + jj]. */
static void st_pack_panels(const float *src, ptrdiff_t sk, ptrdiff_t sj,
                           ptrdiff_t K, ptrdiff_t N, float *out)
{
    ptrdiff_t p, k, jj, np = (N + ST_GEMM_NR - 1) / ST_GEMM_NR;
    for (p = 0; p < np; p++)
        for (k = 0; k < K; k++)
            for (jj = 0; jj < ST_GEMM_NR; jj++) {
                ptrdiff_t j = p * ST_GEMM_NR + jj;
                out[(p * K + k) * ST_GEMM_NR + jj] = j < N ? src[k * sk + j * sj] : 0.0f;
            }
}

/* floats st_gemm_packed needs as workspace for m rows and depth K (room for
 * the rows padded to either tile height) */
static inline ptrdiff_t st_gemm_work_size(ptrdiff_t m, ptrdiff_t K)
{
    return ((m + ST_GEMM_MR_WIDE - 1) / ST_GEMM_MR_WIDE) * ST_GEMM_MR_WIDE * K;
}

#if defined(__GNUC__) || defined(__clang__)
#define ST_HAVE_PACKED_GEMM 1
typedef float st_v8f __attribute__((vector_size(32)));
typedef float st_v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

/* mr rows (packed 6 to a k) x 16 columns of C: two 8-float vectors a row */
static inline __attribute__((always_inline)) void st_gemm_tile(
    const int mr, ptrdiff_t K, const float *a, const float *b, float alpha,
    float *c, ptrdiff_t ldc, ptrdiff_t nr)
{
    st_v8f lo[ST_GEMM_MR], hi[ST_GEMM_MR];
    float tile[ST_GEMM_MR][ST_GEMM_NR];
    ptrdiff_t k, jj;
    int r;
    for (r = 0; r < mr; r++) {
        lo[r] = (st_v8f){0};
        hi[r] = (st_v8f){0};
    }
    for (k = 0; k < K; k++) {
        st_v8f b0 = *(const st_v8f_u *)(b + k * ST_GEMM_NR);
        st_v8f b1 = *(const st_v8f_u *)(b + k * ST_GEMM_NR + 8);
        for (r = 0; r < mr; r++) {
            float s = a[k * ST_GEMM_MR + r];
            lo[r] += s * b0;
            hi[r] += s * b1;
        }
    }
    for (r = 0; r < mr; r++) {
        *(st_v8f_u *)tile[r] = alpha * lo[r];
        *(st_v8f_u *)(tile[r] + 8) = alpha * hi[r];
    }
    for (jj = 0; jj < nr; jj++)
        for (r = 0; r < mr; r++)
            c[jj * ldc + r] = tile[r][jj];
}

#if ST_ISA_CLONES
/* 16-float vectors: one AVX-512 register each. Only ever run by the AVX-512
 * clone: compiled for AVX2 or SSE, GCC splits them poorly (many times
 * slower than st_gemm_tile). */
typedef float st_v16f __attribute__((vector_size(64)));
typedef float st_v16f_u __attribute__((vector_size(64), aligned(4), may_alias));

/* mr rows (packed 12 to a k) x np2 panels (1 or 2) of C */
static inline __attribute__((always_inline)) void st_gemm_tile_wide(
    const int mr, const int np2, ptrdiff_t K, const float *a, const float *b,
    float alpha, float *c, ptrdiff_t ldc, ptrdiff_t nr)
{
    st_v16f acc[ST_GEMM_MR_WIDE][2];
    float tile[ST_GEMM_MR_WIDE][2 * ST_GEMM_NR];
    const float *b1 = b + K * ST_GEMM_NR;
    ptrdiff_t k, jj;
    int r, q;
    for (r = 0; r < mr; r++)
        for (q = 0; q < np2; q++)
            acc[r][q] = (st_v16f){0};
    for (k = 0; k < K; k++) {
        st_v16f bk0 = *(const st_v16f_u *)(b + k * ST_GEMM_NR), bk1 = bk0;
        if (np2 == 2)
            bk1 = *(const st_v16f_u *)(b1 + k * ST_GEMM_NR);
        for (r = 0; r < mr; r++) {
            float s = a[k * ST_GEMM_MR_WIDE + r];
            acc[r][0] += s * bk0;
            if (np2 == 2)
                acc[r][1] += s * bk1;
        }
    }
    for (r = 0; r < mr; r++)
        for (q = 0; q < np2; q++)
            *(st_v16f_u *)(tile[r] + q * ST_GEMM_NR) = alpha * acc[r][q];
    for (jj = 0; jj < nr; jj++)
        for (r = 0; r < mr; r++)
            c[jj * ldc + r] = tile[r][jj];
}

/* the wide tile for mr rows, mr a constant in each case */
#define ST_GEMM_WIDE_CASES(NP2, ...)                                           \
    switch (mr) {                                                              \
    case 12: st_gemm_tile_wide(12, NP2, __VA_ARGS__); break;                    \
    case 11: st_gemm_tile_wide(11, NP2, __VA_ARGS__); break;                    \
    case 10: st_gemm_tile_wide(10, NP2, __VA_ARGS__); break;                    \
    case 9: st_gemm_tile_wide(9, NP2, __VA_ARGS__); break;                      \
    case 8: st_gemm_tile_wide(8, NP2, __VA_ARGS__); break;                      \
    case 7: st_gemm_tile_wide(7, NP2, __VA_ARGS__); break;                      \
    case 6: st_gemm_tile_wide(6, NP2, __VA_ARGS__); break;                      \
    case 5: st_gemm_tile_wide(5, NP2, __VA_ARGS__); break;                      \
    case 4: st_gemm_tile_wide(4, NP2, __VA_ARGS__); break;                      \
    case 3: st_gemm_tile_wide(3, NP2, __VA_ARGS__); break;                      \
    case 2: st_gemm_tile_wide(2, NP2, __VA_ARGS__); break;                      \
    default: st_gemm_tile_wide(1, NP2, __VA_ARGS__); break;                     \
    }
#endif
#else
/* Without vector extensions: correct but slow, so the AIS kernel calls BLAS
 * instead (ST_HAVE_PACKED_GEMM 0); kept so that the kernel still compiles. */
#define ST_HAVE_PACKED_GEMM 0
static void st_gemm_tile(const int mr, ptrdiff_t K, const float *a, const float *b,
                         float alpha, float *c, ptrdiff_t ldc, ptrdiff_t nr)
{
    float tile[ST_GEMM_MR][ST_GEMM_NR] = {{0}};
    ptrdiff_t k, jj;
    int r;
    for (k = 0; k < K; k++)
        for (r = 0; r < mr; r++)
            for (jj = 0; jj < ST_GEMM_NR; jj++)
                tile[r][jj] += a[k * ST_GEMM_MR + r] * b[k * ST_GEMM_NR + jj];
    for (jj = 0; jj < nr; jj++)
        for (r = 0; r < mr; r++)
            c[jj * ldc + r] = alpha * tile[r][jj];
}
#endif

/* Whether st_gemm_packed runs on native vectors here: in its AVX2 or
 * AVX-512 clone. Compiled for the baseline ISA (SSE2, or without the clones),
 * GCC lowers its 8-float vectors into code tens of times slower than BLAS,
 * which the AIS kernel then calls instead. */
static int st_gemm_packed_fast(void)
{
#if ST_HAVE_PACKED_GEMM && ST_ISA_CLONES
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* A's rows [i0, i0 + mr) packed ms to a k: d[k * ms + r] */
static inline __attribute__((always_inline)) void st_gemm_pack_rows(
    const int ms, ptrdiff_t mr, ptrdiff_t K, const float *A, ptrdiff_t lda,
    ptrdiff_t i0, float *d)
{
    ptrdiff_t k, r;
    if (mr == ms) { /* a fixed-size copy, inlined (not memcpy) */
        for (k = 0; k < K; k++)
            for (r = 0; r < ms; r++)
                d[k * ms + r] = A[k * lda + i0 + r];
    } else {
        for (k = 0; k < K; k++)
            for (r = 0; r < mr; r++)
                d[k * ms + r] = A[k * lda + i0 + r];
    }
}

ST_CLONES static void st_gemm_packed(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K, float alpha,
                                     const float *A, ptrdiff_t lda, const float *Bp,
                                     float *C, ptrdiff_t ldc, float *work)
{
    ptrdiff_t np = (N + ST_GEMM_NR - 1) / ST_GEMM_NR, nb, b, p, i0, mr, nr;
#if ST_ISA_CLONES
    /* the tall tiles where the dispatch chose the AVX-512 clone: 16 AVX2
     * registers cannot hold their accumulators */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
        /* blocks of equal height (within one) rather than a short last one,
         * which would cost a pass over K for a few rows */
        const int ms = ST_GEMM_MR_WIDE;
        ptrdiff_t base, extra;
        nb = (m + ms - 1) / ms;
        base = m / nb;
        extra = m % nb;
        for (b = 0; b < nb; b++) {
            i0 = b * base + (b < extra ? b : extra);
            mr = base + (b < extra);
            st_gemm_pack_rows(ms, mr, K, A, lda, i0, work + b * K * ms);
        }
        for (p = 0; p < np; p += 2) {
            const float *bp = Bp + p * K * ST_GEMM_NR;
            nr = N - p * ST_GEMM_NR < 2 * ST_GEMM_NR ? N - p * ST_GEMM_NR : 2 * ST_GEMM_NR;
            for (b = 0; b < nb; b++) {
                const float *a = work + b * K * ms;
                i0 = b * base + (b < extra ? b : extra);
                mr = base + (b < extra);
                float *c = C + p * ST_GEMM_NR * ldc + i0;
                if (p + 1 < np) {
                    ST_GEMM_WIDE_CASES(2, K, a, bp, alpha, c, ldc, nr)
                } else {
                    ST_GEMM_WIDE_CASES(1, K, a, bp, alpha, c, ldc, nr)
                }
            }
        }
        return;
    }
#endif
    nb = (m + ST_GEMM_MR - 1) / ST_GEMM_MR;
    for (b = 0; b < nb; b++) {
        i0 = b * ST_GEMM_MR;
        mr = m - i0 < ST_GEMM_MR ? m - i0 : ST_GEMM_MR;
        st_gemm_pack_rows(ST_GEMM_MR, mr, K, A, lda, i0, work + b * K * ST_GEMM_MR);
    }
    for (p = 0; p < np; p++) {
        const float *bp = Bp + p * K * ST_GEMM_NR;
        nr = N - p * ST_GEMM_NR < ST_GEMM_NR ? N - p * ST_GEMM_NR : ST_GEMM_NR;
        for (b = 0; b < nb; b++) {
            const float *a = work + b * K * ST_GEMM_MR;
            float *c = C + p * ST_GEMM_NR * ldc + b * ST_GEMM_MR;
            mr = m - b * ST_GEMM_MR < ST_GEMM_MR ? m - b * ST_GEMM_MR : ST_GEMM_MR;
            switch (mr) {
            case 6: st_gemm_tile(6, K, a, bp, alpha, c, ldc, nr); break;
            case 5: st_gemm_tile(5, K, a, bp, alpha, c, ldc, nr); break;
            case 4: st_gemm_tile(4, K, a, bp, alpha, c, ldc, nr); break;
            case 3: st_gemm_tile(3, K, a, bp, alpha, c, ldc, nr); break;
            case 2: st_gemm_tile(2, K, a, bp, alpha, c, ldc, nr); break;
            default: st_gemm_tile(1, K, a, bp, alpha, c, ldc, nr); break;
            }
        }
    }
}


/* The same product where A holds binary states (each 0 or 1), most of them
 * 0: most MNIST-like visible units are off, and in the middle of an AIS run
 * nearly all. The products with the zeros are skipped: each C[i, j]
 * is the sum, over the units k on in row i of A, in increasing k, of
 * B[k, j], read from the same panels. Adding 1 * b or 0 * b to a float sum
 * is exact, so the result is bitwise that of st_gemm_packed, and which of
 * the two runs may be chosen by cost alone.
 *
 * st_on_units lists, for each of the m rows of A (K x m, column-major), the
 * k where A is not zero, in increasing k: idx[i * K + t], t < cnt[i]; it
 * returns the total. */
static ptrdiff_t st_on_units(const float *A, ptrdiff_t lda, ptrdiff_t K, ptrdiff_t m,
                             int32_t *idx, int32_t *cnt)
{
    ptrdiff_t i, k, total = 0;
    for (i = 0; i < m; i++)
        cnt[i] = 0;
    for (k = 0; k < K; k++) {
        const float *a = A + k * lda;
        for (i = 0; i < m; i++) { /* no branch: the draws are random */
            idx[i * K + cnt[i]] = (int32_t)k;
            cnt[i] += a[i] != 0.0f;
        }
    }
    for (i = 0; i < m; i++)
        total += cnt[i];
    return total;
}

#if ST_HAVE_PACKED_GEMM
#define ST_GATHER_PANELS 4 /* panels (of 16 columns) summed at a time */

/* C (m x N, column-major, ldc) = alpha A B for the A that st_on_units
 * listed, B packed by st_pack_panels. Four panels at a time (their K x 64
 * floats stay in the core's cache while every row of A reads them), each
 * row's sums in eight 8-float accumulators. */
ST_CLONES static void st_gather_packed(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K, float alpha,
                                       const int32_t *idx, const int32_t *cnt,
                                       const float *Bp, float *C, ptrdiff_t ldc)
{
    ptrdiff_t np = (N + ST_GEMM_NR - 1) / ST_GEMM_NR, p0, i, t, jj;
    int q;
    for (p0 = 0; p0 < np; p0 += ST_GATHER_PANELS) {
        const int nq = np - p0 < ST_GATHER_PANELS ? (int)(np - p0) : ST_GATHER_PANELS;
        const float *bp = Bp + p0 * K * ST_GEMM_NR;
        const ptrdiff_t j0 = p0 * ST_GEMM_NR;
        const ptrdiff_t nr = N - j0 < ST_GATHER_PANELS * ST_GEMM_NR
                                 ? N - j0 : ST_GATHER_PANELS * ST_GEMM_NR;
        for (i = 0; i < m; i++) {
            st_v8f acc[2 * ST_GATHER_PANELS];
            float sums[ST_GATHER_PANELS * ST_GEMM_NR];
            const int32_t *l = idx + i * K;
            for (q = 0; q < 2 * ST_GATHER_PANELS; q++)
                acc[q] = (st_v8f){0};
            if (nq == ST_GATHER_PANELS) {
                for (t = 0; t < cnt[i]; t++) {
                    const float *b = bp + (ptrdiff_t)l[t] * ST_GEMM_NR;
                    for (q = 0; q < ST_GATHER_PANELS; q++) {
                        acc[2 * q] += *(const st_v8f_u *)(b + q * K * ST_GEMM_NR);
                        acc[2 * q + 1] += *(const st_v8f_u *)(b + q * K * ST_GEMM_NR + 8);
                    }
                }
            } else {
                for (t = 0; t < cnt[i]; t++) {
                    const float *b = bp + (ptrdiff_t)l[t] * ST_GEMM_NR;
                    for (q = 0; q < nq; q++) {
                        acc[2 * q] += *(const st_v8f_u *)(b + q * K * ST_GEMM_NR);
                        acc[2 * q + 1] += *(const st_v8f_u *)(b + q * K * ST_GEMM_NR + 8);
                    }
                }
            }
            for (q = 0; q < 2 * nq; q++)
                *(st_v8f_u *)(sums + 8 * q) = alpha * acc[q];
            for (jj = 0; jj < nr; jj++)
                C[(j0 + jj) * ldc + i] = sums[jj];
        }
    }
}
#endif

#endif
