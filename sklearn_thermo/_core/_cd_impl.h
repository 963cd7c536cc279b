/* The fused CD workers of one element type (see _cd_fused.h), included by
 * _cd_float.c (ST_CD_FLOAT 1) and _cd_double.c (ST_CD_FLOAT 0): the task
 * partition and the threads' synchronisation, the tiles of _cd_tiles.h at
 * both vector widths, and the worker of _cd_worker.h for each layout at
 * x86-64-v4 (64-byte tiles) and x86-64-v3 (32-byte ones).
 */
#ifndef SKLEARN_THERMO_CD_IMPL_H
#define SKLEARN_THERMO_CD_IMPL_H

/* the shared headers' static kernels that this unit does not call */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

#include "_cd_fused.h"

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

/* the tiles: 64-byte vectors with 32 registers (AVX-512), 32-byte ones with
 * 16 (AVX2), of this unit's element type; each instantiation of the
 * template #undefs its parameters (tile sizes included) */
#if ST_CD_FLOAT
#define ST_CD_ELEM float
#define ST_CD_IELEM int32_t
#define ST_CD_WIDE_NAME(name) st_cd_##name##_f16
#define ST_CD_NARROW_NAME(name) st_cd_##name##_f8
#else
#define ST_CD_ELEM double
#define ST_CD_IELEM int64_t
#define ST_CD_WIDE_NAME(name) st_cd_##name##_d8
#define ST_CD_NARROW_NAME(name) st_cd_##name##_d4
#endif
/* lanes of a 64-byte vector, as a literal for the template's #if */
#define ST_CD_LANES (16 / (2 - ST_CD_FLOAT))
typedef ST_CD_ELEM st_cd_vw __attribute__((vector_size(64)));
typedef ST_CD_ELEM st_cd_vw_u
    __attribute__((vector_size(64), aligned(sizeof(ST_CD_ELEM)), may_alias));
typedef ST_CD_ELEM st_cd_vn __attribute__((vector_size(32)));
typedef ST_CD_ELEM st_cd_vn_u
    __attribute__((vector_size(32), aligned(sizeof(ST_CD_ELEM)), may_alias));

#define ST_SP_CW 8 /* vectors of a sparse tile */
#define ST_DOT_MI 5
#define ST_DOT_MJ 4
#define ST_BC_MI 5
#define ST_BC_MK 4
#define ST_GR_MJ 6
#define ST_GR_MK 3
#define ST_T ST_CD_ELEM
#define ST_IT ST_CD_IELEM
#define ST_VT st_cd_vw
#define ST_VTU st_cd_vw_u
#define ST_NL ST_CD_LANES
#define ST_K(name) ST_CD_WIDE_NAME(name)
#include "_cd_tiles.h"
#define ST_DOT_MI 3
#define ST_DOT_MJ 3
#define ST_BC_MI 4
#define ST_BC_MK 3
#define ST_GR_MJ 4
#define ST_GR_MK 3
#define ST_T ST_CD_ELEM
#define ST_IT ST_CD_IELEM
#define ST_VT st_cd_vn
#define ST_VTU st_cd_vn_u
#define ST_NL (ST_CD_LANES / 2)
#define ST_K(name) ST_CD_NARROW_NAME(name)
#include "_cd_tiles.h"

/* the typed worker at each ISA level: x86-64-v4 with the 64-byte tiles,
 * x86-64-v3 with the 32-byte ones */
#define ST_T ST_CD_ELEM
#if ST_CD_FLOAT
#define ST_SUF f
#define ST_EXP st_expf
#define ST_UNIFORM st_uniform_f
#else
#define ST_SUF d
#define ST_EXP st_exp
#define ST_UNIFORM st_uniform_d
#endif
#define ST_WIDE(name) ST_CD_WIDE_NAME(name)
#define ST_NARROW(name) ST_CD_NARROW_NAME(name)
#define ST_CD_ISA v4
#define ST_CD_TARGET __attribute__((target("arch=x86-64-v4")))
#define ST_CD_WIDE 1
#include "_cd_worker.h"
#define ST_CD_ISA v3
#define ST_CD_TARGET __attribute__((target("arch=x86-64-v3")))
#define ST_CD_WIDE 0
#include "_cd_worker.h"
#undef ST_T
#undef ST_SUF
#undef ST_EXP
#undef ST_UNIFORM
#undef ST_WIDE
#undef ST_NARROW

#else /* no clones: never called (st_cd_fused_available() is 0) */
#define ST_CD_STUB(name)                                                       \
    void name(st_cd_run *r, int tid, int nt)                                   \
    {                                                                          \
        (void)r;                                                               \
        (void)tid;                                                             \
        (void)nt;                                                              \
    }
#if ST_CD_FLOAT
ST_CD_STUB(st_cd_worker_f_v4)
ST_CD_STUB(st_cd_worker_f_v3)
ST_CD_STUB(st_cd_worker_sparse_f_v4)
ST_CD_STUB(st_cd_worker_sparse_f_v3)
#else
ST_CD_STUB(st_cd_worker_d_v4)
ST_CD_STUB(st_cd_worker_d_v3)
ST_CD_STUB(st_cd_worker_sparse_d_v4)
ST_CD_STUB(st_cd_worker_sparse_d_v3)
#endif
#undef ST_CD_STUB
#endif

#endif
