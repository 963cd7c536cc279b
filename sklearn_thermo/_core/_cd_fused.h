/* Fused PCD-k (and CD-k) updates of an RBM with Bernoulli hidden units
 * (Bernoulli or Gaussian visible ones): a run of batches in one
 * call, on the caller's threads, with no Python and no BLAS between batches.
 *
 * Why: at tens of rows a batch, BLAS packs the weights for each of the
 * update's products (a copy as costly as the product), and each half-step
 * and weight step made a round trip through Python and a fresh parallel
 * region. Here each thread keeps "its" hidden units' rows of W and of the
 * velocity (a contiguous block) in its own cache for the whole run:
 *
 *   per batch (CD-k first copies in the data and starts the chains at
 *   h ~ P(h | data)), and Gibbs step s = 1..k (the chains' hidden states h,
 *   C x H):
 *   A  per block b of hidden units: part_b = h[:, b] W[b, :]   (C x V)
 *   B  per block of chains: v_neg ~ sigmoid((sum_b part_b + a) / T) (or
 *      the Gaussian of that mean and variance T), the sum in block order;
 *      at s = 1 also the batch's data rows are copied in
 *   C  per block b: the products [v_data; v_neg] W[b, :]^T, then
 *      P(h | .) (scaled by the learning rate: alpha for the data,
 *      -alpha n / C for the chains) and h[:, b] ~ P(h | v_neg); at s = k
 *      the step of W[b, :], its velocity and the hidden biases of b (and,
 *      as one more task, the visible biases)
 *
 * The sparse layout (r->sparse; Bernoulli visible units, data mostly
 * zeros, large batches): the visible states are mostly zeros (binarised
 * images: one pixel in seven), so the up products and the weight step, four
 * fifths of the multiply-adds, sum over the nonzero entries only. Both sum
 * along the hidden units, so the run keeps W unit-minor (WT, V x ldwt) and
 * the hidden statistics row-major (HR):
 *   B  also lists each visible row's nonzero entries (and the data's, when
 *      they are copied in)
 *   C' per block b: HR[i, b] = sum over the nonzero v_ik of v_ik WT[k, b];
 *      P(h | .) and the draws as in C (into hT, the chains' hidden states
 *      unit-major); at s = k, after a phase that lists each visible unit's
 *      nonzero rows, the step of WT[:, b] (and of its velocity) from those
 *      lists
 *   A' the down products stay dense (the chains' hidden states are not
 *      sparse), from WT as it is: per block b, part_b^T = WT[:, b] hT[b, :]
 *      (V x C), which B sums and transposes into the chains' rows
 * with W, vW and h copied into WT, vWT and hT at the start of the call, and
 * back at its end, unless the caller passes them on between calls
 * (copy_in / copy_out below: the trainer copies once per epoch).
 *
 * Tasks are claimed, not assigned: a thread takes its own blocks first (so
 * that on a quiet machine each block stays in one core's cache), then any
 * that no thread has taken, and waits at the end of a phase only for tasks
 * that another thread is running. A thread the OS has paused before taking
 * a task holds nobody up. The blocks are set by the shapes alone and every
 * sum is in a fixed order, and the random numbers are counter-based
 * (_elementwise.h): results do not depend on the number of threads.
 *
 * Built only where the ISA clones are (GCC >= 12 on x86-64 Linux), as the
 * tiles are written for native vectors; st_cd_fused_available() says whether
 * they run here (AVX2 + FMA at least). Otherwise the Python trainer runs the
 * same updates through the half-step and weight-step kernels.
 */
#ifndef SKLEARN_THERMO_CD_FUSED_H
#define SKLEARN_THERMO_CD_FUSED_H

#include <stddef.h>
#include <stdint.h>

#include "_elementwise.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#define ST_YIELD() sched_yield()
#else
#define ST_YIELD() ((void)0)
#endif
#if defined(__x86_64__) || defined(__i386__)
#define ST_PAUSE() __builtin_ia32_pause()
#else
#define ST_PAUSE() ((void)0)
#endif

#define ST_CD_GAMMA 0x9E3779B97F4A7C15ULL

/* Where a run of batches comes from and goes to; one struct for both
 * element types (the arrays are cast by the typed worker). */
typedef struct {
    ptrdiff_t V, H, C;          /* visible, hidden units, chains */
    ptrdiff_t max_batch;        /* rows reserved for data in Vs and Hs */
    ptrdiff_t k_steps;          /* Gibbs steps per update */
    int gaussian;               /* Gaussian visible units (else Bernoulli) */
    int fresh;                  /* CD-k: chains restart at each batch's data
                                 * (then C = max_batch; a batch of n rows
                                 * uses n of them) */
    ptrdiff_t n_batches;
    ptrdiff_t n_blocks;         /* blocks of hidden units */
    ptrdiff_t n_row_blocks;     /* blocks of chains */
    const void *X;              /* data, n_samples x V, row-major */
    const int64_t *rows;        /* rows of X in the order of the batches */
    const int64_t *bounds;      /* batch b is rows[bounds[b]:bounds[b + 1]] */
    const void *weights;        /* NULL, or a weight per entry of rows: the
                                 * data's statistics are weighted sums */
    void *W, *vW, *a, *va, *c, *vc; /* parameters and velocities */
    void *h;                    /* the chains' hidden states, C x H */
    void *Vs;                   /* visible states, (max_batch + C) x V */
    void *HT;                   /* hidden statistics unit-major (H x ldt) */
    ptrdiff_t ldt;              /* >= max_batch + C */
    void *part;                 /* n_blocks x C x V (see sparse below) */
    double learning_rate, momentum, shrink, temperature;
    uint64_t key;
    /* the sparse layout (Bernoulli visible units on mostly zero data):
     * the run keeps W and its velocity unit-minor, WT and vWT (V x ldwt,
     * WT[k, j] = W[j, k], the columns from H to ldwt zero), copied from and
     * back to W and vW at its ends; the up products and the weight step
     * sum over the nonzero visible entries, listed per row (ridx, rval, up
     * to V each, rlen of them; row i of Vs) and per column (cidx, cval, up
     * to ldc each, clen; column k); the hidden statistics are row-major
     * (HR, (max_batch + C) x ldwt) instead of HT. */
    int sparse;
    ptrdiff_t ldwt, ldc;
    void *WT, *vWT, *HR, *rval, *cval;
    /* and the chains' hidden states unit-major (hT, H x ldh, ldh a
     * multiple of 16 and at least C), from h at the start of the call and
     * back at its end; ``part`` holds the blocks' down products transposed
     * (n_blocks x V x ldh) */
    void *hT;
    ptrdiff_t ldh;
    /* whether the call copies W, vW and h into WT, vWT and hT at its start
     * (else they hold them from a previous call: a run continued) and back
     * at its end (else they are left there for the next call) */
    int copy_in, copy_out;
    int32_t *ridx, *rlen, *cidx, *clen;
    int wide;                   /* the 64-byte vector tiles (AVX-512) */
    int narrow;                 /* the caller asks for the 32-byte ones */
    /* shared between the threads */
    long done;                  /* tasks finished so far */
    long *claimed;              /* per task: the last phase that took it */
} st_cd_run;

static int st_cd_fused_available(void)
{
#if ST_ISA_CLONES
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int st_cd_wide(void)
{
#if ST_ISA_CLONES
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

/* block b of n over [0, total): [total b / n, total (b + 1) / n) */
static inline ptrdiff_t st_cd_edge(ptrdiff_t total, ptrdiff_t b, ptrdiff_t n)
{
    return total * b / n;
}

/* block b of the r->n_blocks blocks of hidden units: st_cd_edge's, or in
 * the sparse layout whole runs of ST_CD_PAD units (a multiple of every
 * tile's vector) of the ldwt columns, padding included */
#define ST_CD_PAD 16
static inline ptrdiff_t st_cd_hedge(const st_cd_run *r, ptrdiff_t b, int sparse)
{
    if (!sparse)
        return st_cd_edge(r->H, b, r->n_blocks);
    return st_cd_edge(r->ldwt / ST_CD_PAD, b, r->n_blocks) * ST_CD_PAD;
}

/* Wait until ``target`` tasks are done: spin briefly (the other threads are
 * usually microseconds behind), then give the core away. */
static inline void st_cd_wait(st_cd_run *r, long target)
{
    int spins = 0;
    while (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) < target) {
        if (++spins < 4000) {
            ST_PAUSE();
        } else {
            ST_YIELD();
        }
    }
}

/* Take a task of ``phase`` unless a thread has taken it, in this phase or
 * (a thread that is ahead) in a later one. */
static inline int st_cd_claim(st_cd_run *r, ptrdiff_t task, long phase)
{
    long old = __atomic_load_n(&r->claimed[task], __ATOMIC_ACQUIRE);
    while (old < phase)
        if (__atomic_compare_exchange_n(&r->claimed[task], &old, phase, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    return 0;
}

#if ST_ISA_CLONES

typedef float st_cd_v16f __attribute__((vector_size(64)));
typedef float st_cd_v16f_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float st_cd_v8f __attribute__((vector_size(32)));
typedef float st_cd_v8f_u __attribute__((vector_size(32), aligned(4), may_alias));
typedef double st_cd_v8d __attribute__((vector_size(64)));
typedef double st_cd_v8d_u __attribute__((vector_size(64), aligned(8), may_alias));
typedef double st_cd_v4d __attribute__((vector_size(32)));
typedef double st_cd_v4d_u __attribute__((vector_size(32), aligned(8), may_alias));

/* the tiles: 64-byte vectors with 32 registers (AVX-512), 32-byte ones with
 * 16 (AVX2); each instantiation of a template #undefs its own parameters */
#define ST_SP_CW 8 /* vectors of a sparse tile */
#define ST_DOT_MI 5
#define ST_DOT_MJ 4
#define ST_BC_MI 5
#define ST_BC_MK 4
#define ST_GR_MJ 6
#define ST_GR_MK 3
#define ST_T float
#define ST_IT int32_t
#define ST_VT st_cd_v16f
#define ST_VTU st_cd_v16f_u
#define ST_NL 16
#define ST_K(name) st_cd_##name##_f16
#include "_cd_tiles.h"
#define ST_T double
#define ST_IT int64_t
#define ST_VT st_cd_v8d
#define ST_VTU st_cd_v8d_u
#define ST_NL 8
#define ST_K(name) st_cd_##name##_d8
#include "_cd_tiles.h"
#undef ST_DOT_MI
#undef ST_DOT_MJ
#undef ST_BC_MI
#undef ST_BC_MK
#undef ST_GR_MJ
#undef ST_GR_MK

#define ST_DOT_MI 3
#define ST_DOT_MJ 3
#define ST_BC_MI 4
#define ST_BC_MK 3
#define ST_GR_MJ 4
#define ST_GR_MK 3
#define ST_T float
#define ST_IT int32_t
#define ST_VT st_cd_v8f
#define ST_VTU st_cd_v8f_u
#define ST_NL 8
#define ST_K(name) st_cd_##name##_f8
#include "_cd_tiles.h"
#define ST_T double
#define ST_IT int64_t
#define ST_VT st_cd_v4d
#define ST_VTU st_cd_v4d_u
#define ST_NL 4
#define ST_K(name) st_cd_##name##_d4
#include "_cd_tiles.h"
#undef ST_DOT_MI
#undef ST_DOT_MJ
#undef ST_BC_MI
#undef ST_BC_MK
#undef ST_GR_MJ
#undef ST_GR_MK

/* the typed worker */
#define ST_T float
#define ST_SUF f
#define ST_EXP st_expf
#define ST_UNIFORM st_uniform_f
#define ST_WIDE(name) st_cd_##name##_f16
#define ST_NARROW(name) st_cd_##name##_f8
#include "_cd_worker.h"
#define ST_T double
#define ST_SUF d
#define ST_EXP st_exp
#define ST_UNIFORM st_uniform_d
#define ST_WIDE(name) st_cd_##name##_d8
#define ST_NARROW(name) st_cd_##name##_d4
#include "_cd_worker.h"

#else /* no clones: never called (st_cd_fused_available() is 0) */
static void st_cd_worker_f(st_cd_run *r, int tid, int nt) { (void)r; (void)tid; (void)nt; }
static void st_cd_worker_d(st_cd_run *r, int tid, int nt) { (void)r; (void)tid; (void)nt; }
static void st_cd_worker_sparse_f(st_cd_run *r, int tid, int nt) { (void)r; (void)tid; (void)nt; }
static void st_cd_worker_sparse_d(st_cd_run *r, int tid, int nt) { (void)r; (void)tid; (void)nt; }
#endif

/* Run r->n_batches updates on n_threads threads (fewer if OpenMP gives
 * fewer; one without OpenMP). r->claimed needs n_blocks + n_row_blocks + 2
 * zeroed entries. */
static void st_cd_fused(st_cd_run *r, int is_float, int n_threads)
{
    r->done = 0;
    r->wide = st_cd_wide() && !r->narrow;
#ifdef _OPENMP
    if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads)
        {
            int tid = omp_get_thread_num(), nt = omp_get_num_threads();
            if (is_float)
                (r->sparse ? st_cd_worker_sparse_f : st_cd_worker_f)(r, tid, nt);
            else
                (r->sparse ? st_cd_worker_sparse_d : st_cd_worker_d)(r, tid, nt);
        }
        return;
    }
#endif
    (void)n_threads;
    if (is_float)
        (r->sparse ? st_cd_worker_sparse_f : st_cd_worker_f)(r, 0, 1);
    else
        (r->sparse ? st_cd_worker_sparse_d : st_cd_worker_d)(r, 0, 1);
}

#endif
