/* The exact pseudo-log-likelihood of an RBM with Bernoulli visible units,
 * one row at a time. Included by _kernels.pyx; plain C.
 *
 * For a row v with hidden pre-activations x = c + W v (energy units),
 * flipping visible unit k changes x by d_k W[:, k], d_k = 1 - 2 v_k, and the
 * free energy by
 *   F(v^(k)) - F(v) = -a_k d_k - sum_j [sp(x_j + d_k W_jk) - sp(x_j)],
 *   sp(z) = T softplus(z / T) = max(z, 0) + T log(1 + e^{-|z| / T});
 * each bracket is at most |W_jk| (sp is 1-Lipschitz), so the sums carry no
 * cancellation. PL(v) = sum_k log sigmoid((F(v^(k)) - F(v)) / T).
 */
#ifndef SKLEARN_THERMO_PSEUDO_H
#define SKLEARN_THERMO_PSEUDO_H

#include <stddef.h>

#include "_elementwise.h"

/* sum_k log sigmoid(u_k), u_k = (-a_k d_k - acc_k) / T (F(v^(k)) - F(v)
 * over T), in double. */
#define ST_DEFINE_PLL_FINISH(T, SUF)                                            \
ST_CLONES static double st_pll_finish_##SUF(                                    \
    const T *ST_RESTRICT acc, const T *ST_RESTRICT d, const T *ST_RESTRICT a,   \
    ptrdiff_t V, double inv)                                                    \
{                                                                               \
    ptrdiff_t k;                                                                \
    double total = 0;                                                           \
    for (k = 0; k < V; k++) {                                                   \
        /* log sigmoid(u) = -softplus(-u) */                                    \
        double u = (-(double)a[k] * (double)d[k] - (double)acc[k]) * inv;       \
        total -= ST_SOFTPLUS(double, st_exp, st_log_near1, -u);                \
    }                                                                           \
    return total;                                                               \
}

ST_DEFINE_PLL_FINISH(float, f)
ST_DEFINE_PLL_FINISH(double, d)

/* PL of one row: v (V), x = c + W v (H), W (H x V, rows ldw apart), a (V);
 * acc and d: V elements of scratch each. One exponential and one log per
 * (hidden, visible) pair. */
#define ST_DEFINE_PLL_ROW(T, SUF, EXP, LOG)                                     \
ST_CLONES static double st_pll_row_##SUF(                                       \
    const T *ST_RESTRICT v, const T *ST_RESTRICT x, const T *ST_RESTRICT W,     \
    ptrdiff_t ldw, const T *ST_RESTRICT a, ptrdiff_t V, ptrdiff_t H, T temp,    \
    T inv_t, T *ST_RESTRICT acc, T *ST_RESTRICT d)                              \
{                                                                               \
    ptrdiff_t j, k;                                                             \
    for (k = 0; k < V; k++) {                                                   \
        acc[k] = 0;                                                             \
        d[k] = (T)1 - (T)2 * v[k];                                              \
    }                                                                           \
    for (j = 0; j < H; j++) {                                                   \
        const T *w = W + j * ldw;                                               \
        T xj = x[j], axj = xj < (T)0 ? -xj : xj;                                \
        T spj = (xj > (T)0 ? xj : (T)0) + temp * LOG((T)1 + EXP(-axj * inv_t)); \
        for (k = 0; k < V; k++) {                                               \
            T z = xj + d[k] * w[k], az = z < (T)0 ? -z : z;                     \
            T sp = (z > (T)0 ? z : (T)0) + temp * LOG((T)1 + EXP(-az * inv_t)); \
            acc[k] += sp - spj;                                                 \
        }                                                                       \
    }                                                                           \
    return st_pll_finish_##SUF(acc, d, a, V, 1.0 / (double)temp);               \
}

ST_DEFINE_PLL_ROW(float, f, st_expf, st_logf_near1)
ST_DEFINE_PLL_ROW(double, d, st_exp, st_log_near1)

/* The same for a binary row (every d_k = +-1) whose |x / T| and the
 * weights' |W / T| are within the factorised range, with Ep = e^{W / T} and
 * En = e^{-W / T} (H x V, rows V apart): e^{+-z / T} for z = x_j + d_k W_jk
 * are products, no exponential per pair; the softplus differences split
 * into max(z, 0) - max(x_j, 0) and T log of (1 + e^{-|z| / T}) /
 * (1 + e^{-|x_j| / T}), a ratio in [1/2, 2], multiplied in lanes with one
 * log per 64 of them. prod: V elements of scratch. */
#define ST_DEFINE_PLL_FAST(T, SUF, EXP, LOGPOS)                                 \
ST_CLONES static double st_pll_fast_##SUF(                                      \
    const T *ST_RESTRICT v, const T *ST_RESTRICT x, const T *ST_RESTRICT W,     \
    ptrdiff_t ldw, const T *ST_RESTRICT Ep, const T *ST_RESTRICT En,            \
    const T *ST_RESTRICT a, ptrdiff_t V, ptrdiff_t H, T temp, T inv_t,          \
    T *ST_RESTRICT acc, T *ST_RESTRICT d, T *ST_RESTRICT prod)                  \
{                                                                               \
    ptrdiff_t j, k;                                                             \
    for (k = 0; k < V; k++) {                                                   \
        acc[k] = 0;                                                             \
        prod[k] = 1;                                                            \
        d[k] = (T)1 - (T)2 * v[k];                                              \
    }                                                                           \
    for (j = 0; j < H; j++) {                                                   \
        const T *w = W + j * ldw, *ep = Ep + j * V, *en = En + j * V;           \
        T xj = x[j], ex = EXP(xj * inv_t), enx = EXP(-xj * inv_t);              \
        T rj = (T)1 / ((T)1 + (ex < enx ? ex : enx));                           \
        T mx = xj > (T)0 ? xj : (T)0;                                           \
        for (k = 0; k < V; k++) {                                               \
            T up = d[k] > (T)0 ? ep[k] : en[k];                                 \
            T dn = d[k] > (T)0 ? en[k] : ep[k];                                 \
            T q = ex * up, r = enx * dn, z = xj + d[k] * w[k];                  \
            acc[k] += (z > (T)0 ? z : (T)0) - mx;                               \
            prod[k] *= ((T)1 + (q < r ? q : r)) * rj;                           \
        }                                                                       \
        if (j % 64 == 63) {                                                     \
            for (k = 0; k < V; k++) {                                           \
                acc[k] += temp * LOGPOS(prod[k]);                               \
                prod[k] = 1;                                                    \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    for (k = 0; k < V; k++) {                                                   \
        acc[k] += temp * LOGPOS(prod[k]);                                       \
    }                                                                           \
    return st_pll_finish_##SUF(acc, d, a, V, 1.0 / (double)temp);               \
}

ST_DEFINE_PLL_FAST(float, f, st_expf, st_logf_pos)
ST_DEFINE_PLL_FAST(double, d, st_exp, st_log_pos)

/* Whether a row takes the factorised path: binary, and every |x_j / T|
 * within lim. */
#define ST_DEFINE_PLL_FITS(T, SUF)                                              \
ST_CLONES static int st_pll_fits_##SUF(                                         \
    const T *v, ptrdiff_t V, const T *x, ptrdiff_t H, T inv_t, T lim)           \
{                                                                               \
    ptrdiff_t k, j;                                                             \
    int ok = 1;                                                                 \
    for (k = 0; k < V; k++) {                                                   \
        ok &= (v[k] == (T)0) | (v[k] == (T)1);                                  \
    }                                                                           \
    for (j = 0; j < H; j++) {                                                   \
        T s = x[j] * inv_t;                                                     \
        ok &= (s <= lim) & (s >= -lim);                                         \
    }                                                                           \
    return ok;                                                                  \
}

ST_DEFINE_PLL_FITS(float, f)
ST_DEFINE_PLL_FITS(double, d)

#endif
