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
 * they run here (x86-64-v3: AVX2 + FMA). Otherwise the Python trainer runs
 * the same updates through the half-step and weight-step kernels.
 *
 * This header is the interface (the run's struct and st_cd_fused); the
 * workers live in their own translation units, one per element type
 * (_cd_float.c, _cd_double.c, from _cd_impl.h), so that the build compiles
 * them in parallel with the rest. Each worker is compiled twice, for
 * x86-64-v4 with the 64-byte tiles and for x86-64-v3 with the 32-byte ones,
 * rather than as clones of one function with both: a baseline clone would
 * never run, and each level runs its own tiles only.
 */
#ifndef SKLEARN_THERMO_CD_FUSED_H
#define SKLEARN_THERMO_CD_FUSED_H

#include <stddef.h>
#include <stdint.h>

#include "_elementwise.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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
    int narrow;                 /* the caller asks for the x86-64-v3 worker
                                 * where the v4 one would run (tests) */
    /* shared between the threads */
    long done;                  /* tasks finished so far */
    long *claimed;              /* per task: the last phase that took it */
} st_cd_run;

/* One thread's share of a run (tid of nt threads); per element type,
 * layout (dense or sparse) and ISA level, defined in _cd_float.c and
 * _cd_double.c. Called only where st_cd_fused_available(). */
#if defined(__GNUC__)
#define ST_CD_API __attribute__((visibility("hidden")))
#else
#define ST_CD_API
#endif
typedef void (*st_cd_worker_fn)(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_f_v4(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_f_v3(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_sparse_f_v4(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_sparse_f_v3(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_d_v4(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_d_v3(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_sparse_d_v4(st_cd_run *r, int tid, int nt);
ST_CD_API void st_cd_worker_sparse_d_v3(st_cd_run *r, int tid, int nt);

static int st_cd_fused_available(void)
{
#if ST_ISA_CLONES
    return __builtin_cpu_supports("x86-64-v3") != 0;
#else
    return 0;
#endif
}

/* whether the x86-64-v4 workers (AVX-512) run here */
static int st_cd_wide(void)
{
#if ST_ISA_CLONES
    return __builtin_cpu_supports("x86-64-v4") != 0;
#else
    return 0;
#endif
}

/* Run r->n_batches updates on n_threads threads (fewer if OpenMP gives
 * fewer; one without OpenMP). r->claimed needs n_blocks + n_row_blocks + 2
 * zeroed entries. */
static void st_cd_fused(st_cd_run *r, int is_float, int n_threads)
{
    /* [element type][layout][ISA level] */
    static const st_cd_worker_fn workers[2][2][2] = {
        {{st_cd_worker_d_v3, st_cd_worker_d_v4},
         {st_cd_worker_sparse_d_v3, st_cd_worker_sparse_d_v4}},
        {{st_cd_worker_f_v3, st_cd_worker_f_v4},
         {st_cd_worker_sparse_f_v3, st_cd_worker_sparse_f_v4}}};
    const int v4 = st_cd_wide() && !r->narrow;
    const st_cd_worker_fn worker = workers[!!is_float][!!r->sparse][v4];
    r->done = 0;
#ifdef _OPENMP
    if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads)
        worker(r, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
#endif
    (void)n_threads;
    worker(r, 0, 1);
}

#endif
