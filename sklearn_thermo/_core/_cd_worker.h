/* One thread's share of a run of fused CD / PCD updates (see _cd_fused.h): a
 * template included by _cd_impl.h once per ISA level, with
 *   ST_T, ST_SUF            the element type and its suffix (f or d)
 *   ST_EXP, ST_UNIFORM      its exp and uniforms (_elementwise.h)
 *   ST_WIDE(n), ST_NARROW(n) the tiles of _cd_tiles.h for AVX-512 / AVX2
 *   ST_CD_ISA               the level's suffix of the names (v4 or v3)
 *   ST_CD_TARGET            the workers' target attribute
 *   ST_CD_WIDE              1: the wide tiles, 0: the narrow ones (the
 *                           other flavour's code is not compiled)
 * (the last three #undef'd at the end)
 */
#define ST_CD_CAT2(a, b) a##b
#define ST_CD_CAT(a, b) ST_CD_CAT2(a, b)
#define ST_CD_ROW ST_CD_CAT(st_row_, ST_SUF)
#define ST_CD(name) ST_CD_CAT(ST_CD_CAT(st_cd_##name##_, ST_SUF), ST_CD_CAT(_, ST_CD_ISA))
#define ST_CD_NLW (64 / (int)sizeof(ST_T)) /* lanes of a wide vector */
#define ST_CD_BIAS_CHUNK 64 /* columns of the hidden biases' sums at a time */

/* what the tasks of one phase need to know of their batch */
typedef struct {
    ptrdiff_t off, n; /* rows[off:off + n] are the batch */
    ptrdiff_t C;      /* chains of this update (n for fresh chains) */
    int kind;         /* 0: A (down products), 1: B (visible), 2: C (hidden),
                       * 3: the batch's data rows only; sparse layout only:
                       * 4: the column lists, 5 / 6: W and vW into / out of
                       * the unit-minor copies */
    ST_T alpha;       /* learning rate / (T n) */
    uint64_t key;     /* this half-step's random stream */
    /* kind 2: the rows of Vs whose hidden units to compute, the first of
     * them to draw into h (row i into h[i - draw_lo]), the scales of the
     * data's and the chains' probabilities, and whether to take the step */
    ptrdiff_t up_lo, up_hi, draw_lo;
    ST_T scale_data, scale_chain;
    int step;
} ST_CD(phase_t);

/* the sparse layout's list of the nonzero entries of row i of Vs */
static inline __attribute__((always_inline)) void ST_CD(list_row)(st_cd_run *r,
                                                                 ptrdiff_t i)
{
    const ptrdiff_t V = r->V;
    const ST_T *v = (const ST_T *)r->Vs + i * V;
    int32_t *idx = r->ridx + i * V;
    ST_T *val = (ST_T *)r->rval + i * V;
    int32_t n = 0;
    ptrdiff_t k = 0, x;
    /* runs of zeros (most of a sparse row) are skipped a chunk at a time */
    for (; k + ST_CD_PAD <= V; k += ST_CD_PAD) {
        uint32_t m = 0;
        if (ST_CD_WIDE)
            for (x = 0; x < ST_CD_PAD; x += ST_CD_NLW)
                m |= ST_WIDE(nz_bits)(v + k + x) << x;
        else
            for (x = 0; x < ST_CD_PAD; x += ST_CD_NLW / 2)
                m |= ST_NARROW(nz_bits)(v + k + x) << x;
        while (m) {
            x = __builtin_ctz(m);
            m &= m - 1;
            idx[n] = (int32_t)(k + x);
            val[n++] = v[k + x];
        }
    }
    for (; k < V; k++) {
        idx[n] = (int32_t)k;
        val[n] = v[k];
        n += v[k] != 0;
    }
    r->rlen[i] = n;
}

/* the batch's data rows into Vs (and their lists) */
static inline __attribute__((always_inline)) void ST_CD(load)(
    st_cd_run *r, const ST_CD(phase_t) *ph, const int sparse)
{
    const ptrdiff_t V = r->V, mb = r->max_batch;
    const ST_T *X = (const ST_T *)r->X;
    ST_T *dst = (ST_T *)r->Vs + (mb - ph->n) * V;
    ptrdiff_t i, k;
    for (i = 0; i < ph->n; i++) {
        const ST_T *src = X + r->rows[ph->off + i] * V;
        for (k = 0; k < V; k++)
            dst[i * V + k] = src[k];
        if (sparse)
            ST_CD(list_row)(r, mb - ph->n + i);
    }
}

/* The sparse layout's column lists of visible units [k0, k1) over rows
 * [g0, g1) of Vs, from the rows' lists: cidx[k, :] the rows (in order)
 * where unit k is nonzero, cval their values. */
static inline __attribute__((always_inline)) void ST_CD(list_cols)(
    st_cd_run *r, ptrdiff_t g0, ptrdiff_t g1, ptrdiff_t k0, ptrdiff_t k1)
{
    const ptrdiff_t V = r->V, ldc = r->ldc;
    const ST_T *rval = (const ST_T *)r->rval;
    ST_T *cval = (ST_T *)r->cval;
    ptrdiff_t i, k, t;
    for (k = k0; k < k1; k++)
        r->clen[k] = 0;
    for (i = g0; i < g1; i++) {
        const int32_t *idx = r->ridx + i * V;
        ptrdiff_t lo = 0, hi = r->rlen[i];
        while (lo < hi) { /* the first entry at k0 or beyond */
            const ptrdiff_t mid = (lo + hi) / 2;
            if (idx[mid] < k0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (t = lo; t < r->rlen[i] && idx[t] < k1; t++) {
            k = idx[t];
            cval[k * ldc + r->clen[k]] = rval[i * V + t];
            r->cidx[k * ldc + r->clen[k]++] = (int32_t)i;
        }
    }
}

/* the sparse layout: rows j0..j1 of A (H x V) into the unit-minor AT
 * (in; the padding columns, from H, zeroed) or back (out) */
static inline __attribute__((always_inline)) void ST_CD(transpose)(
    const st_cd_run *r, ptrdiff_t j0, ptrdiff_t j1, ST_T *A, ST_T *AT, int in)
{
    const ptrdiff_t V = r->V, H = r->H, ld = r->ldwt;
    const ptrdiff_t je = j1 < H ? j1 : H;
    ptrdiff_t j, k;
    if (je > j0 && !in) {
        if (ST_CD_WIDE)
            ST_WIDE(transpose)(V, j0, je, AT, ld, A, V);
        else
            ST_NARROW(transpose)(V, j0, je, AT, ld, A, V);
    } else if (je > j0) { /* AT[k, j0 + y] = A[j0 + y, k] */
        if (ST_CD_WIDE)
            ST_WIDE(transpose)(je - j0, 0, V, A + j0 * V, V, AT + j0, ld);
        else
            ST_NARROW(transpose)(je - j0, 0, V, A + j0 * V, V, AT + j0, ld);
    }
    if (in)
        for (k = 0; k < V; k++)
            for (j = je > j0 ? je : j0; j < j1; j++)
                AT[k * ld + j] = 0;
}

static inline __attribute__((always_inline)) void ST_CD(task)(
    st_cd_run *r, const ST_CD(phase_t) *ph, ptrdiff_t task, const int sparse)
{
    const ptrdiff_t V = r->V, H = r->H, C = ph->C, mb = r->max_batch;
    const ptrdiff_t NB = r->n_blocks, NR = r->n_row_blocks;
    ST_T *W = (ST_T *)r->W, *h = (ST_T *)r->h;
    ST_T *Vs = (ST_T *)r->Vs, *part = (ST_T *)r->part;
    const ST_T inv_t = (ST_T)(1.0 / r->temperature);
    ptrdiff_t i, k, b, j0, j1;
    if (sparse && (ph->kind == 5 || ph->kind == 6)) {
        /* W and vW into their unit-minor copies and h into its
         * unit-major one (5), or back (6) */
        const int in = ph->kind == 5;
        ST_T *hT = (ST_T *)r->hT;
        const ptrdiff_t ldh = r->ldh;
        ptrdiff_t je;
        j0 = st_cd_hedge(r, task, sparse);
        j1 = st_cd_hedge(r, task + 1, sparse);
        je = j1 < H ? j1 : H;
        ST_CD(transpose)(r, j0, j1, W, (ST_T *)r->WT, in);
        ST_CD(transpose)(r, j0, j1, (ST_T *)r->vW, (ST_T *)r->vWT, in);
        if (je > j0 && in) { /* hT[j, i] = h[i, j], the columns from r->C zero */
            if (ST_CD_WIDE)
                ST_WIDE(transpose)(r->C, j0, je, h, H, hT, ldh);
            else
                ST_NARROW(transpose)(r->C, j0, je, h, H, hT, ldh);
            for (b = j0; b < je; b++)
                for (i = r->C; i < ldh; i++)
                    hT[b * ldh + i] = 0;
        } else if (je > j0) {
            if (ST_CD_WIDE)
                ST_WIDE(transpose)(je - j0, 0, r->C, hT + j0 * ldh, ldh, h + j0, H);
            else
                ST_NARROW(transpose)(je - j0, 0, r->C, hT + j0 * ldh, ldh, h + j0, H);
        }
    } else if (sparse && ph->kind == 4) {
        ST_CD(list_cols)(r, ph->up_lo, ph->up_hi, st_cd_edge(V, task, NR),
                         st_cd_edge(V, task + 1, NR));
    } else if (sparse && ph->kind == 0) { /* part_b^T = WT[:, b] hT[b, :] */
        const ptrdiff_t ldh = r->ldh, nc = (C + ST_CD_PAD - 1) / ST_CD_PAD * ST_CD_PAD;
        j0 = st_cd_hedge(r, task, sparse);
        j1 = st_cd_hedge(r, task + 1, sparse);
        if (j1 > H)
            j1 = H;
        if (ST_CD_WIDE)
            ST_WIDE(bcast)(V, j0, j1, nc, (ST_T *)r->WT, r->ldwt, (ST_T *)r->hT, ldh,
                           part + task * V * ldh, ldh);
        else
            ST_NARROW(bcast)(V, j0, j1, nc, (ST_T *)r->WT, r->ldwt, (ST_T *)r->hT,
                             ldh, part + task * V * ldh, ldh);
    } else if (ph->kind == 0) { /* part_b = h[:, b] W[b, :] */
        j0 = st_cd_hedge(r, task, sparse);
        j1 = st_cd_hedge(r, task + 1, sparse);
        if (j1 > H)
            j1 = H;
        if (ST_CD_WIDE)
            ST_WIDE(bcast)(C, j0, j1, V, h, H, W, V, part + task * C * V, V);
        else
            ST_NARROW(bcast)(C, j0, j1, V, h, H, W, V, part + task * C * V, V);
    } else if (ph->kind == 3 || (ph->kind == 1 && task == NR)) {
        ST_CD(load)(r, ph, sparse);
    } else if (sparse && ph->kind == 1) {
        /* as below, a group of ST_CD_PAD chains at a time: their rows of
         * the sum of the part_b^T, transposed into Vs, then drawn there */
        const ST_T *a = (const ST_T *)r->a;
        const ptrdiff_t ldh = r->ldh, ng = (C + ST_CD_PAD - 1) / ST_CD_PAD;
        const ptrdiff_t g0 = st_cd_edge(ng, task, NR) * ST_CD_PAD;
        ptrdiff_t g1 = st_cd_edge(ng, task + 1, NR) * ST_CD_PAD, x;
        if (g1 > C)
            g1 = C;
        for (i = g0; i < g1; i += ST_CD_PAD) {
            const int m = (int)(g1 - i < ST_CD_PAD ? g1 - i : ST_CD_PAD);
            if (ST_CD_WIDE)
                for (x = 0; x < m; x += ST_CD_NLW)
                    ST_WIDE(sum_tr)(NB, V * ldh, V, part + i + x, ldh,
                                    m - x < ST_CD_NLW ? (int)(m - x) : ST_CD_NLW,
                                    Vs + (mb + i + x) * V, V);
            else
                for (x = 0; x < m; x += ST_CD_NLW / 2)
                    ST_NARROW(sum_tr)(NB, V * ldh, V, part + i + x, ldh,
                                      m - x < ST_CD_NLW / 2 ? (int)(m - x) : ST_CD_NLW / 2,
                                      Vs + (mb + i + x) * V, V);
            for (x = i; x < i + m; x++) {
                ST_T *v = Vs + (mb + x) * V;
                ST_CD_ROW(v, a, 0, V, 0, inv_t, (ST_T)1, NULL, v, ph->key,
                          (uint64_t)(x * V), 1);
                ST_CD(list_row)(r, mb + x);
            }
        }
    } else if (ph->kind == 1) { /* v_neg ~ sigmoid((sum_b part_b + a) / T), or
                                  * N(sum_b part_b + a, T) for Gaussian units */
        const ST_T *a = (const ST_T *)r->a;
        const ptrdiff_t i0 = st_cd_edge(C, task, NR), i1 = st_cd_edge(C, task + 1, NR);
        for (i = i0; i < i1; i++) {
            ST_T *p = part + i * V;
            for (b = 1; b < NB; b++) {
                const ST_T *q = part + (b * C + i) * V;
                for (k = 0; k < V; k++)
                    p[k] += q[k];
            }
            ST_CD_ROW(p, a, 0, V, r->gaussian, inv_t, (ST_T)sqrt(r->temperature),
                      NULL, Vs + (mb + i) * V, ph->key, (uint64_t)(i * V), 1);
            if (sparse)
                ST_CD(list_row)(r, mb + i);
        }
    } else if (task == NB) { /* the visible biases (last step only), row by row */
        ST_T *a = (ST_T *)r->a, *va = (ST_T *)r->va;
        const ST_T mom = (ST_T)r->momentum;
        const ST_T neg = -ph->alpha * (ST_T)ph->n / (ST_T)C;
        for (k = 0; k < V; k++)
            va[k] *= mom;
        const ST_T *sw = (const ST_T *)r->weights;
        for (i = mb - ph->n; i < mb + C; i++) {
            const ST_T w = i >= mb ? neg
                : sw != NULL ? ph->alpha * sw[ph->off + i - (mb - ph->n)]
                : ph->alpha;
            const ST_T *v = Vs + i * V;
            for (k = 0; k < V; k++)
                va[k] += w * v[k];
        }
        for (k = 0; k < V; k++)
            a[k] += va[k];
    } else if (sparse) { /* hidden block, sparse layout: row-major HR */
        const ptrdiff_t lo = ph->up_lo, hi = ph->up_hi, d0 = ph->draw_lo;
        const ptrdiff_t ld = r->ldwt;
        ST_T *c = (ST_T *)r->c, *HR = (ST_T *)r->HR, *WT = (ST_T *)r->WT;
        const ST_T *rval = (const ST_T *)r->rval;
        const uint32_t k0 = (uint32_t)ph->key, k1 = (uint32_t)(ph->key >> 32);
        /* sample weights of the batch's rows (row i of Vs holds entry
         * off + i - (mb - n) of rows) */
        const ST_T *sw = r->weights != NULL ? (const ST_T *)r->weights + ph->off : NULL;
        ptrdiff_t je;
        j0 = st_cd_hedge(r, task, sparse);
        j1 = st_cd_hedge(r, task + 1, sparse);
        je = j1 < H ? j1 : H;
        for (i = lo; i < hi; i++) {
            ST_T *p = HR + i * ld, scale;
            if (ST_CD_WIDE)
                ST_WIDE(sp_rows)(0, r->rlen[i], r->ridx + i * V, rval + i * V, WT + j0,
                                 ld, p + j0, NULL, j1 - j0, 0, 0);
            else
                ST_NARROW(sp_rows)(0, r->rlen[i], r->ridx + i * V, rval + i * V,
                                   WT + j0, ld, p + j0, NULL, j1 - j0, 0, 0);
            for (b = j0; b < je; b++)
                p[b] = ST_SIGMOID(ST_T, ST_EXP, (p[b] + c[b]) * inv_t);
            if (i >= d0) { /* the chains' draws, element (row, unit), into hT */
                ST_T *hcol = (ST_T *)r->hT + (i - d0);
                const ptrdiff_t ldh = r->ldh;
                const uint32_t e0 = (uint32_t)((i - d0) * H);
                for (b = j0; b < je; b++)
                    hcol[b * ldh] =
                        ST_DRAW(ST_T, ST_UNIFORM, e0 + (uint32_t)b, k0, k1, p[b]);
            }
            /* the statistics' scales, as for HT below */
            if (i < mb)
                scale = sw != NULL ? ph->scale_data * sw[i - (mb - ph->n)]
                                   : ph->scale_data;
            else
                scale = ph->scale_chain;
            if (scale != (ST_T)1)
                for (b = j0; b < je; b++)
                    p[b] *= scale;
        }
        if (ph->step) { /* from the data's rows and the chains' */
            ST_T *vWT = (ST_T *)r->vWT, *vc = (ST_T *)r->vc;
            const ST_T mom = (ST_T)r->momentum, shrink = (ST_T)r->shrink;
            const ST_T *cval = (const ST_T *)r->cval;
            const ptrdiff_t g0 = mb - ph->n, ldc = r->ldc;
            for (k = 0; k < V; k++) {
                if (ST_CD_WIDE)
                    ST_WIDE(sp_rows)(1, r->clen[k], r->cidx + k * ldc, cval + k * ldc,
                                     HR + j0, ld, WT + k * ld + j0, vWT + k * ld + j0,
                                     j1 - j0, mom, shrink);
                else
                    ST_NARROW(sp_rows)(1, r->clen[k], r->cidx + k * ldc,
                                       cval + k * ldc, HR + j0, ld, WT + k * ld + j0,
                                       vWT + k * ld + j0, j1 - j0, mom, shrink);
            }
            /* the hidden biases' gradients, the column sums of HR: a chunk
             * of columns at a time, row by row (contiguous loads), each
             * column summed in row order */
            for (b = j0; b < je; b += ST_CD_BIAS_CHUNK) {
                const ptrdiff_t w = je - b < ST_CD_BIAS_CHUNK ? je - b : ST_CD_BIAS_CHUNK;
                ST_T s[ST_CD_BIAS_CHUNK];
                ptrdiff_t x;
                for (x = 0; x < w; x++)
                    s[x] = 0;
                for (i = g0; i < mb + ph->C; i++) {
                    const ST_T *q = HR + i * ld + b;
                    for (x = 0; x < w; x++)
                        s[x] += q[x];
                }
                for (x = 0; x < w; x++) {
                    vc[b + x] = mom * vc[b + x] + s[x];
                    c[b + x] += vc[b + x];
                }
            }
        }
    } else { /* hidden block: products, P(h | .), draws; the step at the end */
        const ptrdiff_t lo = ph->up_lo, hi = ph->up_hi, d0 = ph->draw_lo;
        const ptrdiff_t lt = r->ldt;
        ST_T *c = (ST_T *)r->c, *HT = (ST_T *)r->HT;
        const uint32_t k0 = (uint32_t)ph->key, k1 = (uint32_t)(ph->key >> 32);
        j0 = st_cd_edge(H, task, NB);
        j1 = st_cd_edge(H, task + 1, NB);
        /* HT[j, i] = W_j . v_i for rows lo..hi, straight from the row-major
         * states: a copy transposed to put rows along the vectors would
         * save the sums across lanes, which cost less than the copy */
        if (ST_CD_WIDE)
            ST_WIDE(dot)(hi - lo, j0, j1, V, Vs + lo * V, V, W, V, HT + lo, 1, lt);
        else
            ST_NARROW(dot)(hi - lo, j0, j1, V, Vs + lo * V, V, W, V, HT + lo, 1, lt);
        for (b = j0; b < j1; b++) {
            ST_T *p = HT + b * lt;
            const ST_T cj = c[b];
            for (i = lo; i < hi; i++)
                p[i] = ST_SIGMOID(ST_T, ST_EXP, (p[i] + cj) * inv_t);
            for (i = d0; i < hi; i++) /* the chains' draws, element (row, unit) */
                h[(i - d0) * H + b] =
                    ST_DRAW(ST_T, ST_UNIFORM, (uint32_t)((i - d0) * H + b), k0, k1, p[i]);
            if (r->weights != NULL) {
                /* data rows here are the positive statistics: scaled by
                 * alpha and their sample weights (row i of Vs holds entry
                 * off + i - (mb - n) of rows) */
                const ST_T *sw = (const ST_T *)r->weights + ph->off;
                for (i = lo; i < (hi < mb ? hi : mb); i++)
                    p[i] *= ph->scale_data * sw[i - (mb - ph->n)];
            } else if (ph->scale_data != (ST_T)1)
                for (i = lo; i < (hi < mb ? hi : mb); i++)
                    p[i] *= ph->scale_data;
            if (ph->scale_chain != (ST_T)1)
                for (i = mb; i < hi; i++)
                    p[i] *= ph->scale_chain;
        }
        if (ph->step) { /* from the data's rows and the chains' */
            ST_T *vW = (ST_T *)r->vW, *vc = (ST_T *)r->vc;
            const ST_T mom = (ST_T)r->momentum, shrink = (ST_T)r->shrink;
            const ptrdiff_t g0 = mb - ph->n;
            if (ST_CD_WIDE)
                ST_WIDE(grad)(mb + C - g0, j0, j1, V, HT + g0, lt, Vs + g0 * V, V, W,
                              vW, V, c, vc, mom, shrink);
            else
                ST_NARROW(grad)(mb + C - g0, j0, j1, V, HT + g0, lt, Vs + g0 * V, V,
                                W, vW, V, c, vc, mom, shrink);
        }
    }
}

/* One phase: this thread's own blocks first, then whatever nobody has
 * taken; then wait for the tasks others are still running. */
static inline __attribute__((always_inline)) void ST_CD(phase)(
    st_cd_run *r, const ST_CD(phase_t) *ph, ptrdiff_t n_blocks, ptrdiff_t n_tasks,
    int tid, int nt, long phase, long *target, const int sparse)
{
    ptrdiff_t t, u;
    for (u = 0; u < n_blocks + n_tasks; u++) {
        /* this thread's own blocks, then the extra tasks, then any block */
        t = u < n_blocks ? u : u % n_tasks;
        if ((u >= n_blocks || t * nt / n_blocks == tid) && st_cd_claim(r, t, phase)) {
            ST_CD(task)(r, ph, t, sparse);
            __atomic_fetch_add(&r->done, 1, __ATOMIC_RELEASE);
        }
    }
    *target += n_tasks;
    st_cd_wait(r, *target);
}

/* A thread's share of the run; ``sparse`` (the layout) is a constant in
 * each of the two workers below, so that each compiles only its own code. */
static inline __attribute__((always_inline)) void ST_CD(work)(st_cd_run *r, int tid,
                                                             int nt, const int sparse)
{
    const ptrdiff_t K = r->k_steps, NB = r->n_blocks, NR = r->n_row_blocks;
    const ptrdiff_t mb = r->max_batch;
    long phase = 0, target = 0;
    ptrdiff_t bt, s;
    ST_CD(phase_t) ph = {0};
    if (sparse && r->copy_in) { /* W, vW and h into the sparse layout's copies */
        ph.kind = 5;
        ST_CD(phase)(r, &ph, NB, NB, tid, nt, ++phase, &target, sparse);
    }
    for (bt = 0; bt < r->n_batches; bt++) {
        ph.off = r->bounds[bt];
        ph.n = r->bounds[bt + 1] - ph.off;
        ph.C = r->fresh ? ph.n : r->C;
        ph.alpha = (ST_T)(r->learning_rate / (r->temperature * (double)ph.n));
        if (r->fresh) { /* the data, then chains started at h ~ P(h | data) */
            ph.kind = 3;
            ST_CD(phase)(r, &ph, 0, 1, tid, nt, ++phase, &target, sparse);
            ph.kind = 2;
            ph.key = st_mix64(st_mix64(r->key) + (uint64_t)bt * ST_CD_GAMMA);
            ph.up_lo = ph.draw_lo = mb - ph.n;
            ph.up_hi = mb;
            ph.scale_data = ph.alpha;
            ph.scale_chain = 1;
            ph.step = 0;
            ST_CD(phase)(r, &ph, NB, NB, tid, nt, ++phase, &target, sparse);
        }
        for (s = 0; s < K; s++) {
            const uint64_t t = (uint64_t)(bt * K + s);
            const int last = s == K - 1;
            ph.kind = 0;
            ph.key = 0;
            ST_CD(phase)(r, &ph, NB, NB, tid, nt, ++phase, &target, sparse);
            ph.kind = 1;
            ph.key = st_mix64(r->key + (2 * t + 1) * ST_CD_GAMMA);
            ST_CD(phase)(r, &ph, NR, NR + (s == 0 && !r->fresh), tid, nt, ++phase,
                         &target, sparse);
            if (sparse && last) { /* the weight step's column lists */
                ph.kind = 4;
                ph.up_lo = mb - ph.n;
                ph.up_hi = mb + ph.C;
                ST_CD(phase)(r, &ph, NR, NR, tid, nt, ++phase, &target, sparse);
            }
            ph.kind = 2;
            ph.key = st_mix64(r->key + (2 * t + 2) * ST_CD_GAMMA);
            /* the data's hidden units with the chains' at PCD's last step
             * (fresh chains have them from the start) */
            ph.up_lo = last && !r->fresh ? mb - ph.n : mb;
            ph.up_hi = mb + ph.C;
            ph.draw_lo = mb;
            ph.scale_data = last ? ph.alpha : (ST_T)1;
            ph.scale_chain = last ? -ph.alpha * (ST_T)ph.n / (ST_T)ph.C : (ST_T)1;
            ph.step = last;
            ST_CD(phase)(r, &ph, NB, NB + last, tid, nt, ++phase, &target, sparse);
        }
    }
    if (sparse && r->copy_out) { /* and back */
        ph.kind = 6;
        ST_CD(phase)(r, &ph, NB, NB, tid, nt, ++phase, &target, sparse);
    }
}

ST_CD_TARGET void ST_CD(worker)(st_cd_run *r, int tid, int nt)
{
    ST_CD(work)(r, tid, nt, 0);
}

ST_CD_TARGET void ST_CD(worker_sparse)(st_cd_run *r, int tid, int nt)
{
    ST_CD(work)(r, tid, nt, 1);
}

#undef ST_CD_CAT2
#undef ST_CD_CAT
#undef ST_CD_ROW
#undef ST_CD
#undef ST_CD_NLW
#undef ST_CD_BIAS_CHUNK
#undef ST_CD_ISA
#undef ST_CD_TARGET
#undef ST_CD_WIDE
