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

/* PL of one row: v (V), x = c + W v (H), W (H x V, rows ldw apart), a (V);
 * acc and d: V elements of scratch each. */
#define ST_DEFINE_PLL_ROW(T, SUF, EXP, LOG)                                     \
ST_CLONES static double st_pll_row_##SUF(                                       \
    const T *restrict v, const T *restrict x, const T *restrict W,              \
    ptrdiff_t ldw, const T *restrict a, ptrdiff_t V, ptrdiff_t H, T temp,       \
    T inv_t, T *restrict acc, T *restrict d)                                    \
{                                                                               \
    ptrdiff_t j, k;                                                             \
    double total = 0, inv = 1.0 / (double)temp;                                 \
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
            acc[k] += (z > (T)0 ? z : (T)0) + temp * LOG((T)1 + EXP(-az * inv_t)) \
                      - spj;                                                    \
        }                                                                       \
    }                                                                           \
    for (k = 0; k < V; k++) {                                                   \
        /* log sigmoid(u) = -softplus(-u), u = (F(v^(k)) - F(v)) / T */        \
        double u = (-(double)a[k] * (double)d[k] - (double)acc[k]) * inv;       \
        double au = u < 0 ? -u : u;                                             \
        total -= (u < 0 ? -u : 0.0) + st_log_1to2(1.0 + st_exp_d(-au));        \
    }                                                                           \
    return total;                                                               \
}

ST_DEFINE_PLL_ROW(float, f, st_expf, st_logf_near1)
ST_DEFINE_PLL_ROW(double, d, st_exp_d, st_log_1to2)

#endif
