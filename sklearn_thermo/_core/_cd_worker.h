/* One thread's share of a run of fused PCD updates (see _cd_fused.h): a
 * template included once per element type, with
 *   ST_T, ST_SUF            the element type and its suffix (f or d)
 *   ST_WIDE(n), ST_NARROW(n) the tiles of _cd_tiles.h for AVX-512 / AVX2
 */
#define ST_CD_CAT2(a, b) a##b
#define ST_CD_CAT(a, b) ST_CD_CAT2(a, b)
#define ST_CD_ROW ST_CD_CAT(st_row_, ST_SUF)
#define ST_CD(name) ST_CD_CAT(st_cd_##name##_, ST_SUF)

/* what the tasks of one phase need to know of their batch */
typedef struct {
    ptrdiff_t off, n; /* rows[off:off + n] are the batch */
    int kind;         /* 0: A (down products), 1: B (visible), 2: C (hidden) */
    int last;         /* the update's last Gibbs step */
    ST_T alpha;       /* learning rate / (T n) */
    uint64_t key;     /* this half-step's random stream */
} ST_CD(phase_t);

static inline __attribute__((always_inline)) void ST_CD(task)(
    st_cd_run *r, const ST_CD(phase_t) *ph, ptrdiff_t task)
{
    const ptrdiff_t V = r->V, H = r->H, C = r->C, mb = r->max_batch;
    const ptrdiff_t NB = r->n_blocks, NR = r->n_row_blocks;
    ST_T *W = (ST_T *)r->W, *h = (ST_T *)r->h;
    ST_T *Vs = (ST_T *)r->Vs, *Hs = (ST_T *)r->Hs, *part = (ST_T *)r->part;
    const ST_T inv_t = (ST_T)(1.0 / r->temperature);
    ptrdiff_t i, k, b, j0, j1;
    if (ph->kind == 0) { /* part_b = h[:, b] W[b, :] */
        j0 = st_cd_edge(H, task, NB);
        j1 = st_cd_edge(H, task + 1, NB);
        if (r->wide)
            ST_WIDE(bcast)(C, j0, j1, V, h, H, W, V, part + task * C * V, V);
        else
            ST_NARROW(bcast)(C, j0, j1, V, h, H, W, V, part + task * C * V, V);
    } else if (ph->kind == 1 && task == NR) { /* the batch's data rows */
        const ST_T *X = (const ST_T *)r->X;
        ST_T *dst = Vs + (mb - ph->n) * V;
        for (i = 0; i < ph->n; i++) {
            const ST_T *src = X + r->rows[ph->off + i] * V;
            for (k = 0; k < V; k++)
                dst[i * V + k] = src[k];
        }
    } else if (ph->kind == 1) { /* v_neg ~ sigmoid((sum_b part_b + a) / T) */
        const ST_T *a = (const ST_T *)r->a;
        for (i = st_cd_edge(C, task, NR); i < st_cd_edge(C, task + 1, NR); i++) {
            ST_T *p = part + i * V;
            for (b = 1; b < NB; b++) {
                const ST_T *q = part + (b * C + i) * V;
                for (k = 0; k < V; k++)
                    p[k] += q[k];
            }
            ST_CD_ROW(p, a, 0, V, 0, inv_t, 0, NULL, Vs + (mb + i) * V, ph->key,
                      (uint64_t)(i * V), 1);
        }
    } else if (task == NB) { /* the visible biases (last step only) */
        ST_T *a = (ST_T *)r->a, *va = (ST_T *)r->va;
        const ST_T mom = (ST_T)r->momentum, ratio = (ST_T)ph->n / (ST_T)C;
        for (k = 0; k < V; k++) {
            ST_T sp = 0, sn = 0;
            for (i = mb - ph->n; i < mb; i++)
                sp += Vs[i * V + k];
            for (i = mb; i < mb + C; i++)
                sn += Vs[i * V + k];
            va[k] = mom * va[k] + ph->alpha * (sp - sn * ratio);
            a[k] += va[k];
        }
    } else { /* hidden block: products, P(h | .), draws; the step at the end */
        const ptrdiff_t lo = ph->last ? mb - ph->n : mb, m = mb + C - lo;
        ST_T *c = (ST_T *)r->c;
        const ST_T neg = -ph->alpha * (ST_T)ph->n / (ST_T)C;
        j0 = st_cd_edge(H, task, NB);
        j1 = st_cd_edge(H, task + 1, NB);
        if (r->wide)
            ST_WIDE(dot)(m, j0, j1, V, Vs + lo * V, V, W, V, Hs + lo * H, H);
        else
            ST_NARROW(dot)(m, j0, j1, V, Vs + lo * V, V, W, V, Hs + lo * H, H);
        for (i = lo; i < mb + C; i++) {
            const int chain = i >= mb;
            ST_CD_ROW(Hs + i * H, c, j0, j1, 0, inv_t, 0, NULL,
                      chain ? h + (i - mb) * H : NULL, ph->key,
                      (uint64_t)(chain ? (i - mb) * H : 0),
                      ph->last ? (chain ? neg : ph->alpha) : (ST_T)1);
        }
        if (ph->last) {
            ST_T *vW = (ST_T *)r->vW, *vc = (ST_T *)r->vc;
            const ST_T mom = (ST_T)r->momentum, shrink = (ST_T)r->shrink;
            if (r->wide)
                ST_WIDE(grad)(m, j0, j1, V, Hs + lo * H, H, Vs + lo * V, V, W, vW,
                              V, c, vc, mom, shrink);
            else
                ST_NARROW(grad)(m, j0, j1, V, Hs + lo * H, H, Vs + lo * V, V, W,
                                vW, V, c, vc, mom, shrink);
        }
    }
}

/* One phase: this thread's own blocks first, then whatever nobody has
 * taken; then wait for the tasks others are still running. */
static inline __attribute__((always_inline)) void ST_CD(phase)(
    st_cd_run *r, const ST_CD(phase_t) *ph, ptrdiff_t n_blocks, ptrdiff_t n_tasks,
    int tid, int nt, long phase, long *target)
{
    ptrdiff_t t, u;
    for (t = 0; t < n_blocks; t++)
        if (t * nt / n_blocks == tid && st_cd_claim(r, t, phase)) {
            ST_CD(task)(r, ph, t);
            __atomic_fetch_add(&r->done, 1, __ATOMIC_RELEASE);
        }
    for (u = 0; u < n_tasks; u++) {
        t = (n_blocks + u) % n_tasks; /* the extra tasks first */
        if (st_cd_claim(r, t, phase)) {
            ST_CD(task)(r, ph, t);
            __atomic_fetch_add(&r->done, 1, __ATOMIC_RELEASE);
        }
    }
    *target += n_tasks;
    st_cd_wait(r, *target);
}

ST_CLONES static void ST_CD(worker)(st_cd_run *r, int tid, int nt)
{
    const ptrdiff_t K = r->k_steps, NB = r->n_blocks, NR = r->n_row_blocks;
    long phase = 0, target = 0;
    ptrdiff_t bt, s;
    ST_CD(phase_t) ph;
    for (bt = 0; bt < r->n_batches; bt++) {
        ph.off = r->bounds[bt];
        ph.n = r->bounds[bt + 1] - ph.off;
        ph.alpha = (ST_T)(r->learning_rate / (r->temperature * (double)ph.n));
        for (s = 0; s < K; s++) {
            const uint64_t t = (uint64_t)(bt * K + s);
            ph.last = s == K - 1;
            ph.kind = 0;
            ph.key = 0;
            ST_CD(phase)(r, &ph, NB, NB, tid, nt, ++phase, &target);
            ph.kind = 1;
            ph.key = st_mix64(r->key + (2 * t + 1) * ST_CD_GAMMA);
            ST_CD(phase)(r, &ph, NR, NR + (s == 0), tid, nt, ++phase, &target);
            ph.kind = 2;
            ph.key = st_mix64(r->key + (2 * t + 2) * ST_CD_GAMMA);
            ST_CD(phase)(r, &ph, NB, NB + ph.last, tid, nt, ++phase, &target);
        }
    }
}

#undef ST_CD_CAT2
#undef ST_CD_CAT
#undef ST_CD_ROW
#undef ST_CD
