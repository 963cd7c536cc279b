/* The classification RBM's exact conditional p(y | x) and the statistics of
 * its gradient, one row at a time. Included by _kernels.pyx; plain C.
 *
 * For a row with products a = W_x x (H) and pre-activations y = a + c, the
 * negative free energy of class k over T splits (in energy units, nothing
 * divided by T before the class maximum is taken) as
 *   -F_k T = d_k + R + sum_j h(y_j, U_kj),   R = sum_j max(y_j, 0),
 *   h(y, u) = max(u, -y) + min(y, 0) + T log(1 + e^{-|y + u| / T}),
 * so that h, bounded by |u| + T log 2, carries everything that depends on
 * the class, and the unbounded R cancels in p(y | x). The gradient of
 * log p(y | x) needs, per hidden unit, M_j = sum_k D_k sigmoid((y_j + U_kj) / T)
 * with D = Y - p (and U's statistics D_k sigmoid(.) summed over rows).
 */
#ifndef SKLEARN_THERMO_CONDITIONAL_H
#define SKLEARN_THERMO_CONDITIONAL_H

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "_elementwise.h"

#define ST_COND_CHUNK 64
#define ST_COND_LANES 16

/* sum_j h(y_j, u_j) over one class of a row, and sig_j = sigmoid((y_j +
 * u_j) / T) if sig is not NULL. Three loops per chunk (exponentials; h and
 * the sigmoid; the sum in lanes), which vectorise; the sum is taken in
 * ST_COND_LANES lanes over whole chunks, in order, then in double. */
#define ST_DEFINE_COND_CLASS(T, SUF, EXP, LOG)                                  \
ST_CLONES static double st_cond_class_##SUF(                                    \
    const T *y, const T *u, ptrdiff_t H, T temp, T inv_t, T *sig)               \
{                                                                               \
    T t[ST_COND_CHUNK], h[ST_COND_CHUNK], acc[ST_COND_LANES];                   \
    double total = 0;                                                           \
    ptrdiff_t j0, j, l, m;                                                      \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        acc[l] = 0;                                                             \
    }                                                                           \
    for (j0 = 0; j0 < H; j0 += ST_COND_CHUNK) {                                 \
        const T *yc = y + j0, *uc = u + j0;                                     \
        m = H - j0 < ST_COND_CHUNK ? H - j0 : ST_COND_CHUNK;                    \
        for (j = 0; j < m; j++) {                                               \
            T v = yc[j] + uc[j];                                                \
            v = v < (T)0 ? v : -v;                                              \
            t[j] = EXP(v * inv_t);                                              \
        }                                                                       \
        for (j = 0; j < m; j++) {                                               \
            T yj = yc[j], uj = uc[j];                                           \
            T hi = uj > -yj ? uj : -yj, lo = yj < (T)0 ? yj : (T)0;             \
            h[j] = hi + lo + temp * LOG((T)1 + t[j]);                           \
        }                                                                       \
        if (sig != NULL) {                                                      \
            for (j = 0; j < m; j++) {                                           \
                T v = yc[j] + uc[j];                                            \
                sig[j0 + j] = (v >= (T)0 ? (T)1 : t[j]) / ((T)1 + t[j]);        \
            }                                                                   \
        }                                                                       \
        if (m == ST_COND_CHUNK) {                                               \
            for (j = 0; j < ST_COND_CHUNK; j += ST_COND_LANES) {                \
                for (l = 0; l < ST_COND_LANES; l++) {                           \
                    acc[l] += h[j + l];                                         \
                }                                                               \
            }                                                                   \
        } else {                                                                \
            for (j = 0; j < m; j++) {                                           \
                total += (double)h[j];                                          \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        total += (double)acc[l];                                                \
    }                                                                           \
    return total;                                                               \
}

ST_DEFINE_COND_CLASS(float, f, st_expf, st_logf_near1)
ST_DEFINE_COND_CLASS(double, d, st_exp, st_log_near1)

/* The same sum over one class, scaled by 1 / T, for scaled pre-activations
 * ys = y / T and label weights us = u / T within the factorised path's
 * range, with ey = e^{ys}, eny = e^{-ys}, eu = e^{us}, enu = e^{-us}:
 * e^{-|ys + us|} = min(ey eu, eny enu), no exponential per element; and the
 * factors 1 + e^{-|.|} in [1, 2] multiplied in lanes, one log per lane per
 * 64 factors (the products stay below 2^64). */
#define ST_DEFINE_COND_FAST(T, SUF, LOGPOS, LOG1)                               \
ST_CLONES static double st_cond_fast_##SUF(                                     \
    const T *ST_RESTRICT ys, const T *ST_RESTRICT ey,                           \
    const T *ST_RESTRICT eny,                                                   \
    const T *ST_RESTRICT us, const T *ST_RESTRICT eu,                           \
    const T *ST_RESTRICT enu,                                                   \
    ptrdiff_t H, T *ST_RESTRICT sig)                                            \
{                                                                               \
    T prod[ST_COND_LANES], acc[ST_COND_LANES];                                  \
    double total = 0;                                                           \
    ptrdiff_t j0, j, l;                                                         \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        prod[l] = 1;                                                            \
        acc[l] = 0;                                                             \
    }                                                                           \
    for (j0 = 0; j0 + ST_COND_LANES <= H; j0 += ST_COND_LANES) {                \
        for (l = 0; l < ST_COND_LANES; l++) {                                   \
            T q = ey[j0 + l] * eu[j0 + l], r = eny[j0 + l] * enu[j0 + l];       \
            T y = ys[j0 + l], u = us[j0 + l];                                   \
            T hi = u > -y ? u : -y, lo = y < (T)0 ? y : (T)0;                   \
            prod[l] *= (T)1 + (q < r ? q : r);                                  \
            acc[l] += hi + lo;                                                  \
        }                                                                       \
        if ((j0 / ST_COND_LANES) % 64 == 63) {                                  \
            for (l = 0; l < ST_COND_LANES; l++) {                               \
                acc[l] += LOGPOS(prod[l]);                                      \
                prod[l] = 1;                                                    \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        acc[l] += LOGPOS(prod[l]);                                              \
    }                                                                           \
    for (j = j0; j < H; j++) {                                                  \
        T q = ey[j] * eu[j], r = eny[j] * enu[j];                               \
        T hi = us[j] > -ys[j] ? us[j] : -ys[j];                                 \
        T lo = ys[j] < (T)0 ? ys[j] : (T)0;                                     \
        total += (double)(hi + lo + LOG1((T)1 + (q < r ? q : r)));              \
    }                                                                           \
    if (sig != NULL) {                                                          \
        for (j = 0; j < H; j++) {                                               \
            T q = ey[j] * eu[j];                                                \
            sig[j] = q / ((T)1 + q);                                            \
        }                                                                       \
    }                                                                           \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        total += (double)acc[l];                                                \
    }                                                                           \
    return total;                                                               \
}

ST_DEFINE_COND_FAST(float, f, st_logf_pos, st_logf_near1)
ST_DEFINE_COND_FAST(double, d, st_log_pos, st_log_near1)

/* out[j] = sum_k D_k sig_kj, and gU_kj += D_k sig_kj (if gU), classes in
 * order; a lane's sum over the classes stays in a register. */
#define ST_DEFINE_COND_BACK(T, SUF)                                             \
ST_CLONES static void st_cond_back_##SUF(                                       \
    const T *ST_RESTRICT sig, const T *ST_RESTRICT D, ptrdiff_t H,              \
    ptrdiff_t K,                                                                \
    T *ST_RESTRICT out, T *ST_RESTRICT gU)                                      \
{                                                                               \
    T o[ST_COND_LANES];                                                         \
    ptrdiff_t j0, j, k, l;                                                      \
    for (j0 = 0; j0 + ST_COND_LANES <= H; j0 += ST_COND_LANES) {                \
        for (l = 0; l < ST_COND_LANES; l++) {                                   \
            o[l] = 0;                                                           \
        }                                                                       \
        for (k = 0; k < K; k++) {                                               \
            const T *sg = sig + k * H + j0;                                     \
            T dk = D[k];                                                        \
            if (gU != NULL) {                                                   \
                T *g = gU + k * H + j0;                                         \
                for (l = 0; l < ST_COND_LANES; l++) {                           \
                    T s = dk * sg[l];                                           \
                    o[l] += s;                                                  \
                    g[l] += s;                                                  \
                }                                                               \
            } else {                                                            \
                for (l = 0; l < ST_COND_LANES; l++) {                           \
                    o[l] += dk * sg[l];                                         \
                }                                                               \
            }                                                                   \
        }                                                                       \
        for (l = 0; l < ST_COND_LANES; l++) {                                   \
            out[j0 + l] = o[l];                                                 \
        }                                                                       \
    }                                                                           \
    for (j = j0; j < H; j++) {                                                  \
        T acc = 0;                                                              \
        for (k = 0; k < K; k++) {                                               \
            T s = D[k] * sig[k * H + j];                                        \
            acc += s;                                                           \
            if (gU != NULL) {                                                   \
                gU[k * H + j] += s;                                             \
            }                                                                   \
        }                                                                       \
        out[j] = acc;                                                           \
    }                                                                           \
}

ST_DEFINE_COND_BACK(float, f)
ST_DEFINE_COND_BACK(double, d)

/* A row's pre-activations y = a + c into ybuf and R = sum_j max(y_j, 0);
 * with ``fast``, also ys = y / T, and if every |ys| <= lim (else 0 is
 * returned in *fast), ey = e^{ys}, eny = e^{-ys} and R = sum_j max(ys_j, 0)
 * instead. Sums in lanes, then in double. */
#define ST_DEFINE_COND_PREP(T, SUF, EXP)                                        \
ST_CLONES static double st_cond_prep_##SUF(                                     \
    const T *a, const T *c, ptrdiff_t H, T inv_t, T lim, int *fast, T *ybuf,    \
    T *ys, T *ey, T *eny)                                                       \
{                                                                               \
    T acc[ST_COND_LANES];                                                       \
    double total = 0;                                                           \
    ptrdiff_t j0, j, l;                                                         \
    const T *src = ybuf;                                                        \
    for (j = 0; j < H; j++) {                                                   \
        ybuf[j] = a[j] + c[j];                                                  \
    }                                                                           \
    if (*fast) {                                                                \
        int ok = 1;                                                             \
        for (j = 0; j < H; j++) {                                               \
            T v = ybuf[j] * inv_t;                                              \
            ys[j] = v;                                                          \
            ok &= (v <= lim) & (v >= -lim);                                     \
        }                                                                       \
        *fast = ok;                                                             \
    }                                                                           \
    if (*fast) {                                                                \
        for (j = 0; j < H; j++) {                                               \
            ey[j] = EXP(ys[j]);                                                 \
            eny[j] = EXP(-ys[j]);                                               \
        }                                                                       \
        src = ys;                                                               \
    }                                                                           \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        acc[l] = 0;                                                             \
    }                                                                           \
    for (j0 = 0; j0 + ST_COND_LANES <= H; j0 += ST_COND_LANES) {                \
        for (l = 0; l < ST_COND_LANES; l++) {                                   \
            T v = src[j0 + l];                                                  \
            acc[l] += v > (T)0 ? v : (T)0;                                      \
        }                                                                       \
    }                                                                           \
    for (j = j0; j < H; j++) {                                                  \
        total += src[j] > (T)0 ? (double)src[j] : 0.0;                          \
    }                                                                           \
    for (l = 0; l < ST_COND_LANES; l++) {                                       \
        total += (double)acc[l];                                                \
    }                                                                           \
    return total;                                                               \
}

ST_DEFINE_COND_PREP(float, f, st_expf)
ST_DEFINE_COND_PREP(double, d, st_exp)

/* Rows [0, m) of a chunk. Row i's products are A[i * lda :] (H); writes
 *   G[i, k] = -F(x, k) / T (saturated at +-FMAX) and
 *   S[i, k] = G[i, k] - max_k G[i, k] (without that saturation, >= -FMAX);
 * with D: D[i] = p(y | x) or, with Y, (Y[i] - p) * w_i and loss[i] =
 * -log p(y_i | x_i) * w_i (w_i = weights[i], or 1); with out (which may be A
 * itself): out[i, j] = sum_k D[i, k] sigmoid(z_ijk), and gU (K x H, if
 * given) += the same terms summed over rows. Us, eU, enU (K x H): U / T
 * and its exponentials e^{+-U / T}, given (not NULL) where |U / T| is
 * within the factorised path's range; rows whose |y / T| are too take that
 * path. ``scratch`` holds (K + 4) H elements and ``work`` K doubles.
 * Returns 1, having written nothing, if a pre-activation a + c lies beyond
 * FMAX / 4 (or is not a number). */
#define ST_DEFINE_COND_ROWS(T, SUF, FMAX, FAST)                                 \
ST_CLONES static int st_cond_rows_##SUF(                                        \
    ptrdiff_t m, ptrdiff_t H, ptrdiff_t K, const T *A, ptrdiff_t lda,           \
    const T *c, const T *U, const T *Us, const T *eU, const T *enU,             \
    const T *d, double temperature, const T *Y, ptrdiff_t ldy,                  \
    const T *weights, T *G, ptrdiff_t ldg, T *S, ptrdiff_t lds, T *D,           \
    ptrdiff_t ldd, T *loss, T *out, ptrdiff_t ldo, T *gU, T *scratch,           \
    double *work)                                                               \
{                                                                               \
    const T big = (T)(FMAX / 4);                                                \
    T *ybuf = scratch, *ys = scratch + H, *ey = scratch + 2 * H;                \
    T *eny = scratch + 3 * H, *sig = scratch + 4 * H;                           \
    T temp = (T)temperature, inv_t = (T)(1.0 / temperature);                    \
    double inv = 1.0 / temperature, fmax = (double)FMAX;                        \
    ptrdiff_t i, j, k;                                                          \
    for (i = 0; i < m; i++) {                                                   \
        const T *a = A + i * lda;                                               \
        int ok = 1;                                                             \
        for (j = 0; j < H; j++) {                                               \
            T yv = a[j] + c[j];                                                 \
            ok &= (yv <= big) & (yv >= -big);                                   \
        }                                                                       \
        if (!ok) {                                                              \
            return 1;                                                           \
        }                                                                       \
    }                                                                           \
    for (i = 0; i < m; i++) {                                                   \
        const T *a = A + i * lda;                                               \
        double R, mx = -INFINITY, scale;                                        \
        T *Di = D != NULL ? D + i * ldd : NULL;                                 \
        int fast = Us != NULL;                                                  \
        R = st_cond_prep_##SUF(a, c, H, inv_t, (T)FAST, &fast, ybuf, ys, ey,    \
                               eny);                                            \
        scale = fast ? 1.0 : inv; /* the fast path works in units of T */       \
        for (k = 0; k < K; k++) {                                               \
            T *sk = out != NULL ? sig + k * H : NULL;                           \
            if (fast) {                                                         \
                work[k] = (double)d[k] * inv + st_cond_fast_##SUF(              \
                    ys, ey, eny, Us + k * H, eU + k * H, enU + k * H, H, sk);   \
            } else {                                                            \
                work[k] = (double)d[k] + st_cond_class_##SUF(                   \
                    ybuf, U + k * H, H, temp, inv_t, sk);                       \
            }                                                                   \
            mx = work[k] > mx ? work[k] : mx;                                   \
        }                                                                       \
        for (k = 0; k < K; k++) {                                               \
            double g = (work[k] + R) * scale, s = (work[k] - mx) * scale;       \
            g = g > fmax ? fmax : (g < -fmax ? -fmax : g);                      \
            s = s < -fmax ? -fmax : s;                                          \
            G[i * ldg + k] = (T)g;                                              \
            S[i * lds + k] = (T)s;                                              \
            work[k] = s;                                                        \
        }                                                                       \
        if (Di == NULL) {                                                       \
            continue;                                                           \
        }                                                                       \
        {                                                                       \
            double total = 0, dot = 0;                                          \
            double w = weights != NULL ? (double)weights[i] : 1.0;              \
            for (k = 0; k < K; k++) {                                           \
                work[k] = exp(work[k]);                                         \
                total += work[k];                                               \
            }                                                                   \
            if (Y != NULL) {                                                    \
                const T *Yi = Y + i * ldy;                                      \
                for (k = 0; k < K; k++) {                                       \
                    dot += (double)S[i * lds + k] * (double)Yi[k];              \
                    Di[k] = (T)(((double)Yi[k] - work[k] / total) * w);         \
                }                                                               \
                loss[i] = (T)((log(total) - dot) * w);                          \
            } else {                                                            \
                for (k = 0; k < K; k++) {                                       \
                    Di[k] = (T)(work[k] / total);                               \
                }                                                               \
            }                                                                   \
        }                                                                       \
        if (out != NULL) {                                                      \
            st_cond_back_##SUF(sig, Di, H, K, out + i * ldo, gU);           \
        }                                                                       \
    }                                                                           \
    return 0;                                                                   \
}

ST_DEFINE_COND_ROWS(float, f, FLT_MAX, ST_FACTOR_LIMIT_F)
ST_DEFINE_COND_ROWS(double, d, DBL_MAX, ST_FACTOR_LIMIT_D)

#endif
