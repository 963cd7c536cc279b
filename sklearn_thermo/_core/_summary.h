/* One pass over a dense, row-major matrix for what a fit first checks and
 * counts: its smallest and largest entries, its column sums, each column's
 * summed over the rows in order from the first row (the bits of numpy's
 * X.sum(axis=0) of a C-contiguous array), and its columns' sums of squares
 * (for the rows' mean squared norm, which sets the automatic learning
 * rate). Instead of a pass each (the finiteness check, min, max, sums,
 * norms), which on data that no longer sit in the cache cost a trip to
 * memory each.
 *
 * A NaN entry makes its column's sum NaN; an infinite one makes the
 * smallest or largest entry infinite (and its column's sum infinite or
 * NaN): the data are finite exactly when the sums hold no NaN and both
 * extremes are finite. The per-column minima and maxima are selects, so
 * that the loop over a row vectorises.
 */
#ifndef SKLEARN_THERMO_SUMMARY_H
#define SKLEARN_THERMO_SUMMARY_H

#include <stddef.h>

#include "_elementwise.h"

#define ST_DEFINE_SUMMARY(T, SUF)                                               \
ST_CLONES static void st_summary_##SUF(const T *X, ptrdiff_t n, ptrdiff_t d,    \
                                       T *colsum, T *colsq, T *colmin,         \
                                       T *colmax, T *lo, T *hi)                \
{                                                                               \
    ptrdiff_t i, j;                                                             \
    for (j = 0; j < d; j++) {                                                   \
        colsum[j] = colmin[j] = colmax[j] = X[j];                               \
        colsq[j] = X[j] * X[j];                                                 \
    }                                                                           \
    for (i = 1; i < n; i++) {                                                   \
        const T *x = X + i * d;                                                 \
        for (j = 0; j < d; j++) {                                               \
            const T v = x[j];                                                   \
            colsum[j] += v;                                                     \
            colsq[j] += v * v;                                                  \
            colmin[j] = v < colmin[j] ? v : colmin[j];                          \
            colmax[j] = v > colmax[j] ? v : colmax[j];                          \
        }                                                                       \
    }                                                                           \
    *lo = colmin[0];                                                            \
    *hi = colmax[0];                                                            \
    for (j = 1; j < d; j++) {                                                   \
        *lo = colmin[j] < *lo ? colmin[j] : *lo;                                \
        *hi = colmax[j] > *hi ? colmax[j] : *hi;                                \
    }                                                                           \
}

ST_DEFINE_SUMMARY(float, f)
ST_DEFINE_SUMMARY(double, d)

#endif
