/* Fused elementwise passes of the CD core: bias + activation + draw, and
 * decay + step. Included by _kernels.pyx; plain C, no Python.
 *
 * Random numbers are counter-based: the random bits of element e of a call
 * with the 64-bit key (k0, k1) are H(H(e + k0) ^ k1), H a 32-bit integer
 * hash (Wellons' lowbias32), a function of (key, e) alone. So a result
 * never depends on how the work is split between threads, and the loops
 * vectorise (32-bit lanes). Element indices are taken modulo 2^32 within
 * one call.
 */
#ifndef SKLEARN_THERMO_ELEMENTWISE_H
#define SKLEARN_THERMO_ELEMENTWISE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Runtime dispatch to AVX-512 (x86-64-v4) and AVX2 + FMA (x86-64-v3)
 * versions of the loops where the compiler supports function multiversioning
 * on ISA levels; the baseline otherwise. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && (__GNUC__ >= 12)
#define ST_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define ST_ISA_CLONES 1
#else
#define ST_CLONES
#define ST_ISA_CLONES 0
#endif

/* C99's restrict, spelled as MSVC's C compiler accepts it too. */
#if defined(_MSC_VER)
#define ST_RESTRICT __restrict
#else
#define ST_RESTRICT restrict
#endif

static inline uint64_t st_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* exp for float32, branch-free so that the loops around it vectorise:
 * Cody-Waite reduction and Cephes' polynomial (about 1 ulp), argument
 * clamped to [-87, 88] (results stay normal floats: no overflow, and a
 * sigmoid built on it is exactly 1 above 87 and below 1e-38 under -88). */
static inline float st_expf(float x)
{
    union { float f; int32_t i; } m, s;
    float t, n, r, p;
    /* in the operand order of maxps / minps, so that the loops vectorise */
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    t = x * 1.44269504088896341f;
    m.f = t + 12582912.0f; /* 1.5 * 2^23: rounds t to the nearest integer */
    n = m.f - 12582912.0f;
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    s.i = (m.i - 0x4B400000 + 127) << 23; /* 2^n */
    return p * s.f;
}

/* log(r) for r in [1/2, 2], float32, branch-free: Cephes' logf polynomial on
 * r - 1 (exact for such r), after halving r above sqrt 2 and doubling it
 * below sqrt 1/2. */
static inline float st_logf_near1(float r)
{
    float e = r > 1.41421356f ? 1.0f : (r < 0.70710678f ? -1.0f : 0.0f);
    float f = (r > 1.41421356f ? 0.5f * r : (r < 0.70710678f ? 2.0f * r : r)) - 1.0f;
    float z = f * f, y;
    y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z + e * -2.12194440e-4f - 0.5f * z;
    return f + y + e * 0.693359375f;
}

/* exp(x) in float64, branch-free so that the loops vectorise: Cody-Waite
 * reduction by log 2 and the Taylor polynomial of degree 12 on |r| <= log(2)
 * / 2 (about 1 ulp); x clamped to [-708, 708] (normal, finite results). */
static inline double st_exp(double x)
{
    union { double f; int64_t i; } m, s;
    double t, n, r, p;
    x = x > -708.0 ? x : -708.0;
    x = x < 708.0 ? x : 708.0;
    t = x * 1.4426950408889634;
    m.f = t + 6755399441055744.0; /* 1.5 * 2^52: rounds t to an integer */
    n = m.f - 6755399441055744.0;
    r = x - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    p = 2.08767569878680989792e-09;
    p = p * r + 2.50521083854417187751e-08;
    p = p * r + 2.75573192239858906526e-07;
    p = p * r + 2.75573192239858906526e-06;
    p = p * r + 2.48015873015873015873e-05;
    p = p * r + 1.98412698412698412698e-04;
    p = p * r + 1.38888888888888888889e-03;
    p = p * r + 8.33333333333333333333e-03;
    p = p * r + 4.16666666666666666667e-02;
    p = p * r + 1.66666666666666666667e-01;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    s.i = (int64_t)((m.i - 0x4338000000000000LL) + 1023) << 52; /* 2^n */
    return p * s.f;
}

/* log(r) for r in [1/2, 2] in float64, branch-free (the loops vectorise):
 * r halved above sqrt 2 and doubled below sqrt 1/2, then log r = 2 atanh(f /
 * (2 + f)) with f = r - 1 (exact), the odd series to s^23 (|s| <= 0.172:
 * about 1 ulp). */
static inline double st_log_near1(double r)
{
    double e = r > 1.4142135623730951 ? 1.0 : (r < 0.7071067811865476 ? -1.0 : 0.0);
    double f = (r > 1.4142135623730951 ? 0.5 * r
                : (r < 0.7071067811865476 ? 2.0 * r : r)) - 1.0;
    double s = f / (2.0 + f), z = s * s, q;
    q = 1.0 / 23;
    q = q * z + 1.0 / 21;
    q = q * z + 1.0 / 19;
    q = q * z + 1.0 / 17;
    q = q * z + 1.0 / 15;
    q = q * z + 1.0 / 13;
    q = q * z + 1.0 / 11;
    q = q * z + 1.0 / 9;
    q = q * z + 1.0 / 7;
    q = q * z + 1.0 / 5;
    q = q * z + 1.0 / 3;
    return e * 6.93147180559945286227e-01 + (2.0 * s + 2.0 * s * z * q);
}

/* Largest |a| (and |b|) for which the factorised paths (the classification
 * RBM's conditional, the pseudo-likelihood) take e^{a + b} as e^a e^b: the
 * product stays a finite float (e^80 in float32). */
#define ST_FACTOR_LIMIT_F 40.0f
#define ST_FACTOR_LIMIT_D 300.0

/* log(x) for positive normal x (lane products of factors near 1): x = 2^e m
 * with m in [1, 2) read from the bits, e log 2 + log m. */
static inline float st_logf_pos(float x)
{
    union { float f; int32_t i; } b;
    float e;
    b.f = x;
    e = (float)((b.i >> 23) - 127);
    b.i = (b.i & 0x007fffff) | 0x3f800000;
    return e * 0.693147180559945f + st_logf_near1(b.f);
}

static inline double st_log_pos(double x)
{
    union { double f; int64_t i; } b;
    double e;
    b.f = x;
    e = (double)((b.i >> 52) - 1023);
    b.i = (b.i & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
    return e * 6.93147180559945286227e-01 + st_log_near1(b.f);
}

static inline uint32_t st_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t st_bits(uint32_t e, uint32_t k0, uint32_t k1)
{
    return st_hash32(st_hash32(e + k0) ^ k1);
}

/* Uniforms in (0, 1] from the bits of element e: 24 bits for float32, 53
 * (two hashes) for float64. With u in (0, 1], ``u <= p`` is never true for
 * p = 0 and always for p = 1. */
static inline float st_uniform_f(uint32_t e, uint32_t k0, uint32_t k1)
{
    return (float)((int32_t)(st_bits(e, k0, k1) >> 8) + 1) * 5.9604644775390625e-08f;
}

static inline double st_uniform_d(uint32_t e, uint32_t k0, uint32_t k1)
{
    uint32_t hi = st_bits(e, k0, k1);
    uint32_t lo = st_hash32(hi ^ k0 ^ 0x5bd1e995U);
    return ((double)(int32_t)(hi >> 1) * 4194304.0 + (double)(int32_t)(lo >> 10)
            + 1.0) * 1.1102230246251565e-16;
}

/* A standard normal from element e (Box-Muller on two 32-bit hashes). */
static inline double st_normal(uint32_t e, uint32_t k0, uint32_t k1)
{
    uint32_t a = st_bits(e, k0, k1), b = st_hash32(a ^ k0 ^ 0x5bd1e995U);
    double u1 = ((double)a + 1.0) * 2.3283064365386963e-10; /* (0, 1] */
    double u2 = (double)b * 2.3283064365386963e-10;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The Bernoulli unit's probability sigmoid(x) = 1 / (1 + e^{-x}), and its
 * draw from the uniform of element e (1 where u <= p), in the loops' exp
 * and uniforms: the one definition every compiled half-step uses. */
#define ST_SIGMOID(T, EXP, x) ((T)1 / ((T)1 + EXP(-(x))))
#define ST_DRAW(T, UNIFORM, e, k0, k1, p) (UNIFORM((e), (k0), (k1)) <= (p) ? (T)1 : (T)0)

/* One (row, column range) of a Gibbs half-step, in place on a row p of
 * pre-activations (the products):
 *   x = p + bias;  pre <- x (if pre);
 *   p <- sigmoid(beta x / T) (Bernoulli) or x (Gaussian mean);
 *   s <- a draw from p (if s), with uniforms of stream ``key`` at positions
 *        base + j;
 *   p <- p * scale.
 * ``base`` is the element index of column 0 of this row. */
#define ST_DEFINE_ROW(T, SUF, EXP, UNIFORM)                                     \
ST_CLONES static void st_row_##SUF(                                             \
    T *p, const T *bias, ptrdiff_t c0, ptrdiff_t c1, int gaussian, T scale_in,  \
    T sigma, T *pre, T *s, uint64_t key, uint64_t base, T scale)                \
{                                                                               \
    ptrdiff_t j;                                                                \
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);                    \
    uint32_t e0 = (uint32_t)base;                                               \
    if (pre != NULL) {                                                          \
        for (j = c0; j < c1; j++) {                                             \
            pre[j] = p[j] + bias[j];                                            \
        }                                                                       \
    }                                                                           \
    if (gaussian) {                                                             \
        for (j = c0; j < c1; j++) {                                             \
            p[j] = p[j] + bias[j];                                              \
        }                                                                       \
    } else {                                                                    \
        for (j = c0; j < c1; j++) {                                             \
            p[j] = ST_SIGMOID(T, EXP, (p[j] + bias[j]) * scale_in);             \
        }                                                                       \
    }                                                                           \
    if (s != NULL) {                                                            \
        if (gaussian) {                                                         \
            for (j = c0; j < c1; j++) {                                         \
                s[j] = p[j] + sigma * (T)st_normal(e0 + (uint32_t)j, k0, k1);   \
            }                                                                   \
        } else {                                                                \
            for (j = c0; j < c1; j++) {                                         \
                s[j] = ST_DRAW(T, UNIFORM, e0 + (uint32_t)j, k0, k1, p[j]);     \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    if (scale != (T)1) {                                                        \
        for (j = c0; j < c1; j++) {                                             \
            p[j] *= scale;                                                      \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_ROW(float, f, st_expf, st_uniform_f)
ST_DEFINE_ROW(double, d, st_exp, st_uniform_d)

/* One hidden unit of an AIS step, across the n chains of a block (the
 * unit-major layout of the AIS kernel), in place on the products x = W_j v:
 *   x <- x + c;  s <- a draw from sigmoid(b1 x) (b1, b0 already divided by T);
 *   relu += max(x, 0);  lg += log((1 + e^{-b1 |x|}) / (1 + e^{-b0 |x|})),
 * so that sum_j softplus(b1 x_j) - softplus(b0 x_j) (at T = 1) is
 * (b1 - b0) relu + lg. Uniforms of stream ``key`` at positions base + i. */
#define ST_AIS_CHUNK 64
#define ST_DEFINE_AIS_UP(T, SUF, EXP, LOG, UNIFORM)                             \
ST_CLONES static void st_ais_up_##SUF(                                          \
    T *x, T c, ptrdiff_t n, T b0, T b1, T *s, uint64_t key, uint64_t base,      \
    T *relu, T *lg)                                                             \
{                                                                               \
    /* three loops (exponentials; weight terms and probabilities; draws) over \
     * chunks: one loop doing all of it compiles to much slower vector code */      \
    T u0[ST_AIS_CHUNK], u1[ST_AIS_CHUNK];                                       \
    ptrdiff_t i, i0, m;                                                         \
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);                    \
    uint32_t e0 = (uint32_t)base;                                               \
    for (i0 = 0; i0 < n; i0 += ST_AIS_CHUNK) {                                  \
        T *xc = x + i0;                                                         \
        m = n - i0 < ST_AIS_CHUNK ? n - i0 : ST_AIS_CHUNK;                      \
        for (i = 0; i < m; i++) {                                               \
            T a = xc[i] + c;                                                    \
            a = a < (T)0 ? -a : a;                                              \
            u0[i] = EXP(-b0 * a);                                               \
            u1[i] = EXP(-b1 * a);                                               \
        }                                                                       \
        for (i = 0; i < m; i++) {                                               \
            T xi = xc[i] + c, d1 = (T)1 + u1[i];                                \
            relu[i0 + i] += xi > (T)0 ? xi : (T)0;                              \
            lg[i0 + i] += LOG(d1 / ((T)1 + u0[i]));                             \
            u0[i] = (xi >= (T)0 ? (T)1 : u1[i]) / d1; /* P(h = 1) */            \
        }                                                                       \
        for (i = 0; i < m; i++) {                                               \
            T u = UNIFORM(e0 + (uint32_t)(i0 + i), k0, k1);                     \
            s[i0 + i] = u <= u0[i] ? (T)1 : (T)0;                               \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_AIS_UP(float, f, st_expf, st_logf_near1, st_uniform_f)
ST_DEFINE_AIS_UP(double, d, st_exp, st_log_near1, st_uniform_d)

/* softplus(a) = max(a, 0) + log(1 + e^{-|a|}), in the loops' own exp and
 * log (1 + e^{-|a|} is in [1, 2]: the near-1 log applies). */
#define ST_SOFTPLUS(T, EXP, LOG, a)                                             \
    (((a) > (T)0 ? (a) : (T)0) + LOG((T)1 + EXP((a) < (T)0 ? (a) : -(a))))

/* acc[i] += softplus(b (x[i] + c)) over one row of n chains, summed in
 * double (the current states' free energies, for the jumps). */
#define ST_DEFINE_SOFTPLUS_ACC(T, SUF, EXP, LOG)                                \
ST_CLONES static void st_softplus_acc_##SUF(                                    \
    const T *x, T c, ptrdiff_t n, T b, double *acc)                             \
{                                                                               \
    T u[ST_AIS_CHUNK];                                                          \
    ptrdiff_t i, i0, m;                                                         \
    for (i0 = 0; i0 < n; i0 += ST_AIS_CHUNK) {                                  \
        m = n - i0 < ST_AIS_CHUNK ? n - i0 : ST_AIS_CHUNK;                      \
        for (i = 0; i < m; i++) {                                               \
            T a = b * (x[i0 + i] + c);                                          \
            u[i] = ST_SOFTPLUS(T, EXP, LOG, a);                                 \
        }                                                                       \
        for (i = 0; i < m; i++) {                                               \
            acc[i0 + i] += (double)u[i];                                        \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_SOFTPLUS_ACC(float, f, st_expf, st_logf_near1)
ST_DEFINE_SOFTPLUS_ACC(double, d, st_exp, st_log_near1)

/* sum_j softplus(b (x[j] + c[j])) over the n products of one chain, in
 * chunks summed in double (a jump proposal's free energy). */
#define ST_DEFINE_SOFTPLUS_SUM(T, SUF, EXP, LOG)                                \
ST_CLONES static double st_softplus_sum_##SUF(                                  \
    const T *x, const T *c, ptrdiff_t n, T b)                                   \
{                                                                               \
    T u[ST_AIS_CHUNK];                                                          \
    double acc = 0;                                                             \
    ptrdiff_t i, i0, m;                                                         \
    for (i0 = 0; i0 < n; i0 += ST_AIS_CHUNK) {                                  \
        m = n - i0 < ST_AIS_CHUNK ? n - i0 : ST_AIS_CHUNK;                      \
        for (i = 0; i < m; i++) {                                               \
            T a = b * (x[i0 + i] + c[i0 + i]);                                  \
            u[i] = ST_SOFTPLUS(T, EXP, LOG, a);                                 \
        }                                                                       \
        for (i = 0; i < m; i++) {                                               \
            acc += (double)u[i];                                                \
        }                                                                       \
    }                                                                           \
    return acc;                                                                 \
}

ST_DEFINE_SOFTPLUS_SUM(float, f, st_expf, st_logf_near1)
ST_DEFINE_SOFTPLUS_SUM(double, d, st_exp, st_log_near1)

/* y += a x over n elements (a flipped bit's row of a jump proposal). */
#define ST_DEFINE_AXPY(T, SUF)                                                  \
ST_CLONES static void st_axpy_##SUF(T *y, T a, const T *x, ptrdiff_t n)         \
{                                                                               \
    ptrdiff_t i;                                                                \
    for (i = 0; i < n; i++) {                                                   \
        y[i] += a * x[i];                                                       \
    }                                                                           \
}

ST_DEFINE_AXPY(float, f)
ST_DEFINE_AXPY(double, d)

/* Hamming distances to n anchors after flipping one bit whose value was
 * ``bit``: d[b] += 1 where anchor b had that value there, else -1. */
ST_CLONES static void st_flip_distances(int32_t *d, const uint8_t *anchor_bits,
                                        uint8_t bit, ptrdiff_t n)
{
    ptrdiff_t b;
    for (b = 0; b < n; b++) {
        d[b] += 1 - 2 * (int32_t)(anchor_bits[b] ^ bit);
    }
}

#if defined(__GNUC__) || defined(__clang__)
#define ST_POPCOUNT64(x) __builtin_popcountll(x)
#else
static inline int st_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}
#define ST_POPCOUNT64(x) st_popcount64(x)
#endif

/* Hamming distances d[b] between a bit-packed state x (n_words words) and
 * each of n packed rows (a chain's distances to the jump anchors). */
ST_CLONES static void st_hamming_rows(const uint64_t *rows, ptrdiff_t n,
                                      ptrdiff_t n_words, const uint64_t *x,
                                      int32_t *d)
{
    ptrdiff_t b, w;
    for (b = 0; b < n; b++) {
        int32_t s = 0;
        const uint64_t *row = rows + b * n_words;
        for (w = 0; w < n_words; w++) {
            s += (int32_t)ST_POPCOUNT64(row[w] ^ x[w]);
        }
        d[b] = s;
    }
}

/* One softmax group (a one-hot label) of a row, in place:
 *   p <- softmax(beta (p + bias) / T);  s <- one-hot draw (if s) with the
 *   uniform of element e;  p <- p * scale. */
#define ST_DEFINE_SOFTMAX(T, SUF, UNIFORM)                                      \
static void st_softmax_##SUF(T *p, const T *bias, ptrdiff_t k, T scale_in,      \
                             T *s, uint64_t key, uint64_t e, T scale)           \
{                                                                               \
    ptrdiff_t j, pick = k - 1;                                                  \
    T mx = -INFINITY, total = 0, u, acc = 0;                                    \
    for (j = 0; j < k; j++) {                                                   \
        p[j] = (p[j] + bias[j]) * scale_in;                                     \
        mx = p[j] > mx ? p[j] : mx;                                             \
    }                                                                           \
    for (j = 0; j < k; j++) {                                                   \
        p[j] = (T)exp((double)(p[j] - mx));                                     \
        total += p[j];                                                          \
    }                                                                           \
    for (j = 0; j < k; j++) {                                                   \
        p[j] /= total;                                                          \
    }                                                                           \
    if (s != NULL) {                                                            \
        u = UNIFORM((uint32_t)e, (uint32_t)key, (uint32_t)(key >> 32));         \
        for (j = 0; j < k; j++) {                                               \
            acc += p[j];                                                        \
            if (u <= acc) {                                                     \
                pick = j;                                                       \
                break;                                                          \
            }                                                                   \
        }                                                                       \
        for (j = 0; j < k; j++) {                                               \
            s[j] = j == pick ? (T)1 : (T)0;                                     \
        }                                                                       \
    }                                                                           \
    if (scale != (T)1) {                                                        \
        for (j = 0; j < k; j++) {                                               \
            p[j] *= scale;                                                      \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_SOFTMAX(float, f, st_uniform_f)
ST_DEFINE_SOFTMAX(double, d, st_uniform_d)

/* The step of a block of weights after the velocity has been updated:
 *   v <- v - shrink * w;  w <- w + v. */
#define ST_DEFINE_STEP(T, SUF)                                                  \
ST_CLONES static void st_step_##SUF(T *w, T *v, ptrdiff_t n, T shrink)          \
{                                                                               \
    ptrdiff_t j;                                                                \
    if (shrink != (T)0) {                                                       \
        for (j = 0; j < n; j++) {                                               \
            v[j] -= shrink * w[j];                                              \
            w[j] += v[j];                                                       \
        }                                                                       \
    } else {                                                                    \
        for (j = 0; j < n; j++) {                                               \
            w[j] += v[j];                                                       \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_STEP(float, f)
ST_DEFINE_STEP(double, d)

/* acc[j] <- m * acc[j] + sum_i x[i, j], rows of x ``ld`` apart (column sums
 * in row order: the same result for any split of the columns). */
#define ST_DEFINE_COLSUM(T, SUF)                                                \
static void st_colsum_##SUF(const T *x, ptrdiff_t ld, ptrdiff_t n_rows,         \
                            ptrdiff_t n, T m, T *acc)                           \
{                                                                               \
    ptrdiff_t i, j;                                                             \
    for (j = 0; j < n; j++) {                                                   \
        acc[j] *= m;                                                            \
    }                                                                           \
    for (i = 0; i < n_rows; i++) {                                              \
        const T *row = x + i * ld;                                              \
        for (j = 0; j < n; j++) {                                               \
            acc[j] += row[j];                                                   \
        }                                                                       \
    }                                                                           \
}

ST_DEFINE_COLSUM(float, f)
ST_DEFINE_COLSUM(double, d)

/* The largest |x| of n values as the bits of its magnitude (an unsigned
 * maximum, which vectorises; every NaN compares above infinity's bits). */
#define ST_DEFINE_ABSMAX_BITS(T, SUF, UT, MASK)                                 \
ST_CLONES static UT st_absmax_bits_##SUF(const T *x, ptrdiff_t n)               \
{                                                                               \
    UT m = 0, b;                                                                \
    ptrdiff_t i;                                                                \
    for (i = 0; i < n; i++) {                                                   \
        memcpy(&b, x + i, sizeof b);                                            \
        b &= MASK;                                                              \
        m = b > m ? b : m;                                                      \
    }                                                                           \
    return m;                                                                   \
}

ST_DEFINE_ABSMAX_BITS(float, f, uint32_t, 0x7fffffffu)
ST_DEFINE_ABSMAX_BITS(double, d, uint64_t, 0x7fffffffffffffffULL)

/* Softmax cross-entropy over the K classes of each column of class-major
 * scores F (K x n, rows ldf apart; one-hot targets Y, rows ldy apart), in
 * place: with z = (F - max_k F) / T (so the largest z is 0),
 *   loss_i = log sum_k e^{z_ki} - sum_k Y_ki z_ki     (= -log p(y_i | x_i))
 *   F_ki  <- (p_ki - Y_ki) w_i / T                    (= dL/dF for w)
 * and returns sum_i w_i loss_i. The rows' work is vectorised across the
 * columns of a chunk; the caller keeps |F| well inside the dtype's range
 * and 1/T finite (``inv_t``). */
#define ST_XENT_CHUNK 256
#define ST_DEFINE_XENT_COLS(T, SUF, EXP, LOGPOS)                                \
ST_CLONES static double st_xent_cols_##SUF(                                     \
    T *F, ptrdiff_t ldf, const T *Y, ptrdiff_t ldy, ptrdiff_t K, ptrdiff_t n,   \
    const double *w, T inv_t)                                                   \
{                                                                               \
    T mx[ST_XENT_CHUNK], tot[ST_XENT_CHUNK], zy[ST_XENT_CHUNK];                 \
    T a[ST_XENT_CHUNK], b[ST_XENT_CHUNK];                                       \
    double acc = 0;                                                             \
    ptrdiff_t i, i0, k, m;                                                      \
    for (i0 = 0; i0 < n; i0 += ST_XENT_CHUNK) {                                 \
        m = n - i0 < ST_XENT_CHUNK ? n - i0 : ST_XENT_CHUNK;                    \
        for (i = 0; i < m; i++) {                                               \
            mx[i] = F[i0 + i];                                                  \
            tot[i] = 0;                                                         \
            zy[i] = 0;                                                          \
        }                                                                       \
        for (k = 1; k < K; k++) {                                               \
            const T *row = F + k * ldf + i0;                                    \
            for (i = 0; i < m; i++) {                                           \
                mx[i] = row[i] > mx[i] ? row[i] : mx[i];                        \
            }                                                                   \
        }                                                                       \
        for (k = 0; k < K; k++) {                                               \
            T *row = F + k * ldf + i0;                                          \
            const T *yrow = Y + k * ldy + i0;                                   \
            for (i = 0; i < m; i++) {                                           \
                T z = (row[i] - mx[i]) * inv_t, e = EXP(z);                     \
                tot[i] += e;                                                    \
                zy[i] += z * yrow[i];                                           \
                row[i] = e;                                                     \
            }                                                                   \
        }                                                                       \
        for (i = 0; i < m; i++) {                                               \
            T wi = (T)w[i0 + i];                                                \
            acc += w[i0 + i] * (double)(LOGPOS(tot[i]) - zy[i]);                \
            b[i] = wi * inv_t;                                                  \
            a[i] = b[i] / tot[i];                                               \
        }                                                                       \
        for (k = 0; k < K; k++) {                                               \
            T *row = F + k * ldf + i0;                                          \
            const T *yrow = Y + k * ldy + i0;                                   \
            for (i = 0; i < m; i++) {                                           \
                row[i] = row[i] * a[i] - yrow[i] * b[i];                        \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    return acc;                                                                 \
}

ST_DEFINE_XENT_COLS(float, f, st_expf, st_logf_pos)
ST_DEFINE_XENT_COLS(double, d, st_exp, st_log_pos)

/* The same loss at the inverse temperature ``beta``, F left as it is, with
 * its first two derivatives in beta (Boltzmann's moments of the scores):
 *   moments[0] = sum_i w_i (E_p[f_i] - f_{y_i}),
 *   moments[1] = sum_i w_i Var_p[f_i],
 * from the gaps d = F - max_k F (the moments do not depend on the shift). */
ST_CLONES static double st_xent_moments_d(
    const double *F, ptrdiff_t ldf, const double *Y, ptrdiff_t ldy, ptrdiff_t K,
    ptrdiff_t n, const double *w, double beta, double *moments)
{
    double mx[ST_XENT_CHUNK], tot[ST_XENT_CHUNK], dy[ST_XENT_CHUNK];
    double s1[ST_XENT_CHUNK], s2[ST_XENT_CHUNK];
    double acc = 0, g = 0, h = 0;
    ptrdiff_t i, i0, k, m;
    for (i0 = 0; i0 < n; i0 += ST_XENT_CHUNK) {
        m = n - i0 < ST_XENT_CHUNK ? n - i0 : ST_XENT_CHUNK;
        for (i = 0; i < m; i++) {
            mx[i] = F[i0 + i];
            tot[i] = dy[i] = s1[i] = s2[i] = 0;
        }
        for (k = 1; k < K; k++) {
            const double *row = F + k * ldf + i0;
            for (i = 0; i < m; i++) {
                mx[i] = row[i] > mx[i] ? row[i] : mx[i];
            }
        }
        for (k = 0; k < K; k++) {
            const double *row = F + k * ldf + i0, *yrow = Y + k * ldy + i0;
            for (i = 0; i < m; i++) {
                double d = row[i] - mx[i], e = st_exp(d * beta);
                tot[i] += e;
                s1[i] += e * d;
                s2[i] += e * d * d;
                dy[i] += d * yrow[i];
            }
        }
        for (i = 0; i < m; i++) {
            double mean = s1[i] / tot[i], var = s2[i] / tot[i] - mean * mean;
            acc += w[i0 + i] * (st_log_pos(tot[i]) - beta * dy[i]);
            g += w[i0 + i] * (mean - dy[i]);
            h += w[i0 + i] * (var > 0 ? var : 0);
        }
    }
    moments[0] = g;
    moments[1] = h;
    return acc;
}

#endif
