/* A float32 matrix product for the AIS kernel, with one operand packed once:
 * the weights, reused for thousands of products of the same shape. BLAS packs
 * both operands at every call; at the AIS shapes (tens of chains, hundreds
 * of units) packing the weights is a noticeable share of the product.
 *
 * C (m x N, column-major, ldc) = alpha A B, with A (m x K, column-major, lda:
 * the chains unit-major, as the AIS kernel holds them) and B (K x N) packed
 * by st_pack_panels. The micro-kernel computes 6 rows x 16 columns (12
 * vector accumulators); the rows of A are packed per call in blocks of 6
 * (a small copy). Plain C with GCC's vector extensions, so every compiler
 * that has them builds it for any ISA; ST_CLONES adds an AVX2 + FMA clone.
 * Without them ST_HAVE_PACKED_GEMM is 0 and the AIS kernel calls BLAS.
 *
 * Each C[i, j] is one accumulator summed over k = 0, 1, ..., K - 1 in order,
 * whatever m and the row's place in its block: the product of a chain does
 * not depend on how the chains are split between threads.
 */
#ifndef SKLEARN_THERMO_PACKED_GEMM_H
#define SKLEARN_THERMO_PACKED_GEMM_H

#include <stddef.h>

#include "_elementwise.h"

#define ST_GEMM_MR 6
#define ST_GEMM_NR 16

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

/* floats st_gemm_packed needs as workspace for m rows and depth K */
static inline ptrdiff_t st_gemm_work_size(ptrdiff_t m, ptrdiff_t K)
{
    return ((m + ST_GEMM_MR - 1) / ST_GEMM_MR) * ST_GEMM_MR * K;
}

#if defined(__GNUC__) || defined(__clang__)
#define ST_HAVE_PACKED_GEMM 1
/* one vector per row of a tile: two AVX2 registers, or one AVX-512 register
 * in the x86-64-v4 clone */
typedef float st_v16f __attribute__((vector_size(64)));
typedef float st_v16f_u __attribute__((vector_size(64), aligned(4), may_alias));

static inline __attribute__((always_inline)) void st_gemm_tile(
    const int mr, ptrdiff_t K, const float *a, const float *b, float alpha,
    float *c, ptrdiff_t ldc, ptrdiff_t nr)
{
    st_v16f acc[ST_GEMM_MR];
    float tile[ST_GEMM_MR][ST_GEMM_NR];
    ptrdiff_t k, jj;
    int r;
    for (r = 0; r < mr; r++)
        acc[r] = (st_v16f){0};
    for (k = 0; k < K; k++) {
        st_v16f bk = *(const st_v16f_u *)(b + k * ST_GEMM_NR);
        for (r = 0; r < mr; r++)
            acc[r] += a[k * ST_GEMM_MR + r] * bk;
    }
    for (r = 0; r < mr; r++)
        *(st_v16f_u *)tile[r] = alpha * acc[r];
    for (jj = 0; jj < nr; jj++)
        for (r = 0; r < mr; r++)
            c[jj * ldc + r] = tile[r][jj];
}

#if ST_AVX512_CLONE
/* Two adjacent panels (32 columns) at once: 12 accumulators of one AVX-512
 * register each, 2 loads of B and 6 of A per 12 fused multiply-adds, where one
 * panel's tile needs 7 loads per 6. Each C[i, j] is summed as in st_gemm_tile.
 * Only where the AVX-512 clone runs: 16 AVX2 registers cannot hold them. */
static inline __attribute__((always_inline)) void st_gemm_tile2(
    const int mr, ptrdiff_t K, const float *a, const float *b, float alpha,
    float *c, ptrdiff_t ldc, ptrdiff_t nr)
{
    st_v16f acc0[ST_GEMM_MR], acc1[ST_GEMM_MR];
    float tile[ST_GEMM_MR][2 * ST_GEMM_NR];
    const float *b1 = b + K * ST_GEMM_NR;
    ptrdiff_t k, jj;
    int r;
    for (r = 0; r < mr; r++) {
        acc0[r] = (st_v16f){0};
        acc1[r] = (st_v16f){0};
    }
    for (k = 0; k < K; k++) {
        st_v16f bk0 = *(const st_v16f_u *)(b + k * ST_GEMM_NR);
        st_v16f bk1 = *(const st_v16f_u *)(b1 + k * ST_GEMM_NR);
        for (r = 0; r < mr; r++) {
            float s = a[k * ST_GEMM_MR + r];
            acc0[r] += s * bk0;
            acc1[r] += s * bk1;
        }
    }
    for (r = 0; r < mr; r++) {
        *(st_v16f_u *)tile[r] = alpha * acc0[r];
        *(st_v16f_u *)(tile[r] + ST_GEMM_NR) = alpha * acc1[r];
    }
    for (jj = 0; jj < nr; jj++)
        for (r = 0; r < mr; r++)
            c[jj * ldc + r] = tile[r][jj];
}
#define ST_HAVE_TILE2 1
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

ST_CLONES static void st_gemm_packed(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K, float alpha,
                                     const float *A, ptrdiff_t lda, const float *Bp,
                                     float *C, ptrdiff_t ldc, float *work)
{
    ptrdiff_t nb = (m + ST_GEMM_MR - 1) / ST_GEMM_MR;
    ptrdiff_t np = (N + ST_GEMM_NR - 1) / ST_GEMM_NR, b, p, k, r;
    for (b = 0; b < nb; b++) {
        ptrdiff_t i0 = b * ST_GEMM_MR, mr = m - i0 < ST_GEMM_MR ? m - i0 : ST_GEMM_MR;
        float *d = work + b * K * ST_GEMM_MR;
        if (mr == ST_GEMM_MR) { /* a fixed-size copy, inlined (not memcpy) */
            for (k = 0; k < K; k++)
                for (r = 0; r < ST_GEMM_MR; r++)
                    d[k * ST_GEMM_MR + r] = A[k * lda + i0 + r];
        } else {
            for (k = 0; k < K; k++)
                for (r = 0; r < mr; r++)
                    d[k * ST_GEMM_MR + r] = A[k * lda + i0 + r];
        }
    }
    p = 0;
#ifdef ST_HAVE_TILE2
    /* panel pairs where 32 registers hold their 12 accumulators: where the
     * dispatch chose the AVX-512 clone */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        for (; p + 1 < np; p += 2) {
            const float *bp = Bp + p * K * ST_GEMM_NR;
            ptrdiff_t nr = N - p * ST_GEMM_NR < 2 * ST_GEMM_NR ? N - p * ST_GEMM_NR
                                                               : 2 * ST_GEMM_NR;
            for (b = 0; b < nb; b++) {
                ptrdiff_t i0 = b * ST_GEMM_MR, mr = m - i0 < ST_GEMM_MR ? m - i0 : ST_GEMM_MR;
                const float *a = work + b * K * ST_GEMM_MR;
                float *c = C + p * ST_GEMM_NR * ldc + i0;
                switch (mr) {
                case 6: st_gemm_tile2(6, K, a, bp, alpha, c, ldc, nr); break;
                case 5: st_gemm_tile2(5, K, a, bp, alpha, c, ldc, nr); break;
                case 4: st_gemm_tile2(4, K, a, bp, alpha, c, ldc, nr); break;
                case 3: st_gemm_tile2(3, K, a, bp, alpha, c, ldc, nr); break;
                case 2: st_gemm_tile2(2, K, a, bp, alpha, c, ldc, nr); break;
                default: st_gemm_tile2(1, K, a, bp, alpha, c, ldc, nr); break;
                }
            }
        }
#endif
    for (; p < np; p++) {
        const float *bp = Bp + p * K * ST_GEMM_NR;
        ptrdiff_t nr = N - p * ST_GEMM_NR < ST_GEMM_NR ? N - p * ST_GEMM_NR : ST_GEMM_NR;
        for (b = 0; b < nb; b++) {
            ptrdiff_t i0 = b * ST_GEMM_MR, mr = m - i0 < ST_GEMM_MR ? m - i0 : ST_GEMM_MR;
            const float *a = work + b * K * ST_GEMM_MR;
            float *c = C + p * ST_GEMM_NR * ldc + i0;
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

#endif
