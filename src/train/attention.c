/* attention.c — the training attention over a packed batch, forward and
 * backward, as small dense products per (head, block of query rows).
 *
 * A packed batch is a list of segments (the shared prefix, then each
 * example).  A segment's rows see the keys [0, pre_end) (the prefix) and
 * their own segment up to themselves.  Its rows are cut into blocks of up to
 * PAW_ATTN_ROWS; a block's probabilities are stored as one dense matrix,
 * rows x (pre_end + the own keys of its last row), zeros where the causal
 * mask hides a key.  Every product is then C (+)= A·B over such a matrix —
 * S = Q Kᵀ, O = P V, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q, dV = Pᵀ dO — done by
 * one register-tiled kernel (paw_gemm_acc), instead of a dot or an axpy
 * per (token, head, key): the shared prefix's keys are read once per block
 * of 48 query rows, not once per row.
 *
 * Each output element has one owner: forward and dQ are split over
 * (head, block), dK and dV over (kv head, block of keys), which sums the
 * rows of every block that sees a key in a fixed order.  No per-thread
 * copies, no reduction, and results do not depend on the thread count. */
#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "train/train.h"

/* Keys per dK/dV work item. */
#define KEY_BLOCK 96

int32_t paw_attn_items(paw_attn_item *items, const paw_attn_seg *segs, int32_t n_seg,
                       int64_t *per_head)
{
    int32_t n = 0;
    int64_t off = 0;
    for (int32_t s = 0; s < n_seg; s++)
        for (int32_t r0 = 0; r0 < segs[s].len; r0 += PAW_ATTN_ROWS) {
            const int32_t r1 = PAW_MIN(segs[s].len, r0 + PAW_ATTN_ROWS), w = segs[s].pre_end + r1;
            if (items) items[n] = (paw_attn_item){ s, r0, r1, w, off };
            off += (int64_t)(r1 - r0) * w;
            n++;
        }
    if (per_head) *per_head = off;
    return n;
}

int64_t paw_attention_scratch_floats(const paw_attn_layout *l, const paw_attn_shape *s)
{
    const int64_t kv = (int64_t)s->n_head_kv * PAW_MAX(s->head_dim, s->head_dim_v);
    return (int64_t)s->n_head * l->per_head + s->T * kv;
}

/* dst[h][d][t] = src[t][h*hd + d]: K or V with the keys contiguous, the B
 * operand of S = Q Kᵀ and dP = dO Vᵀ. */
static void transpose_heads(float *dst, const float *src, int64_t T, int n_kv, int hd)
{
    const int64_t w = (int64_t)n_kv * hd;
    for (int64_t t0 = 0; t0 < T; t0 += 16) {
        const int64_t t1 = PAW_MIN(T, t0 + 16);
        for (int64_t c = 0; c < w; c++)
            for (int64_t t = t0; t < t1; t++) dst[c * T + t] = src[t * w + c];
    }
}

typedef struct attn_job {
    float *out, *probs, *dq, *dk, *dv, *ds, *kvt;
    const float *dout, *q, *k, *v;
    const paw_attn_layout *l;
    const paw_attn_shape *s;
    const int32_t *kblocks;          /* [n][seg, first key, end key]          */
    void (*unit)(const struct attn_job *j, int64_t u);   /* one work item   */
} attn_job;

static void unit_item(void *arg, int64_t u, int ith)
{
    const attn_job *j = arg;
    (void)ith;
    j->unit(j, u);
}

/* unit(j, u) for every u in [0, n_units), over the pool. */
static void run_units(paw_pool *p, attn_job *j, void (*unit)(const attn_job *, int64_t), int64_t n_units)
{
    j->unit = unit;
    paw_pool_run_items(p, unit_item, j, n_units);
}

/* A (head, block of query rows) unit of the forward and dQ passes: its
 * block and segment, head and kv head, prefix keys pe, own keys (the
 * block's last row sees r1 of them), probability-row width, rows, first
 * packed row, and where its probabilities start. */
typedef struct block_unit {
    const paw_attn_item *it;
    const paw_attn_seg *sg;
    int h, kh;
    int64_t pe, own, w, nrow, g0, poff;
} block_unit;

static block_unit block_of(const attn_job *j, int64_t u)
{
    const paw_attn_shape *s = j->s;
    block_unit b;
    b.it = &j->l->items[u / s->n_head];
    b.sg = &j->l->segs[b.it->seg];
    b.h = (int)(u % s->n_head);
    b.kh = b.h / (s->n_head / s->n_head_kv);
    b.pe = b.sg->pre_end;
    b.own = b.it->r1;
    b.w = b.it->width;
    b.nrow = b.it->r1 - b.it->r0;
    b.g0 = b.sg->row0 + b.it->r0;
    b.poff = b.h * j->l->per_head + b.it->off;
    return b;
}

/* One softmax row of n keys (scaled), zeros after n up to w. */
static void softmax_row_scalar(float *p, int64_t n, int64_t w, float scale)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        p[i] *= scale;
        mx = p[i] > mx ? p[i] : mx;
    }
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        p[i] = expf(p[i] - mx);
        sum += p[i];
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) p[i] *= inv;
    for (int64_t i = n; i < w; i++) p[i] = 0.0f;
}

static void dsoftmax_row_scalar(float *d, const float *p, int64_t n, int64_t w, float scale)
{
    float dot = 0;
    for (int64_t c = 0; c < n; c++) dot += p[c] * d[c];
    for (int64_t c = 0; c < n; c++) d[c] = p[c] * (d[c] - dot) * scale;
    for (int64_t c = n; c < w; c++) d[c] = 0.0f;
}

static void fwd_unit(const attn_job *j, int64_t u)
{
    const paw_attn_shape *s = j->s;
    const block_unit b = block_of(j, u);
    const paw_attn_item *it = b.it;
    const paw_attn_seg *sg = b.sg;
    const int h = b.h, kh = b.kh;
    const int hd = s->head_dim, dv = s->head_dim_v;
    const int64_t qd = (int64_t)s->n_head * hd, od = (int64_t)s->n_head * dv;
    const int64_t vd = (int64_t)s->n_head_kv * dv, T = s->T;
    const int64_t pe = b.pe, own = b.own, w = b.w, nrow = b.nrow, g0 = b.g0;
    float *P = j->probs + b.poff;
    const float *Q = j->q + g0 * qd + (int64_t)h * hd, *Kt = j->kvt + (int64_t)kh * hd * T;
    if (pe) paw_gemm_acc(P, w, Q, qd, 1, Kt, T, nrow, pe, hd, 0);
    paw_gemm_acc(P + pe, w, Q, qd, 1, Kt + sg->row0, T, nrow, own, hd, 0);
    const float scale = 1.0f / sqrtf((float)hd);
    void (*softmax)(float *, int64_t, int64_t, float) =
        paw_cpu_avx2() ? paw_softmax_row_avx2 : softmax_row_scalar;
    for (int64_t i = 0; i < nrow; i++) softmax(P + i * w, pe + it->r0 + i + 1, w, scale);
    float *O = j->out + g0 * od + (int64_t)h * dv;
    if (pe) paw_gemm_acc(O, od, P, w, 1, j->v + (int64_t)kh * dv, vd, nrow, dv, pe, 0);
    paw_gemm_acc(O, od, P + pe, w, 1, j->v + sg->row0 * vd + (int64_t)kh * dv, vd, nrow, dv, own, pe > 0);
}

void paw_attention_train_forward(paw_pool *p, float *out, float *probs, const float *q,
                                 const float *k, const float *v, const paw_attn_layout *l,
                                 const paw_attn_shape *s, float *scratch)
{
    float *kt = scratch + (int64_t)s->n_head * l->per_head;
    transpose_heads(kt, k, s->T, s->n_head_kv, s->head_dim);
    attn_job j = { .out = out, .probs = probs, .q = q, .v = v, .kvt = kt, .l = l, .s = s };
    run_units(p, &j, fwd_unit, (int64_t)l->n_items * s->n_head);
}

/* Backward, part 1, per (head, block): dP = dO Vᵀ, dS = P (dP - rowsum(P dP))
 * scale (kept in j->ds, laid out as the probabilities), dQ += dS K. */
static void dq_unit(const attn_job *j, int64_t u)
{
    const paw_attn_shape *s = j->s;
    const block_unit b = block_of(j, u);
    const paw_attn_item *it = b.it;
    const paw_attn_seg *sg = b.sg;
    const int h = b.h, kh = b.kh;
    const int hd = s->head_dim, dv = s->head_dim_v;
    const int64_t qd = (int64_t)s->n_head * hd, od = (int64_t)s->n_head * dv;
    const int64_t kd = (int64_t)s->n_head_kv * hd, T = s->T;
    const int64_t pe = b.pe, own = b.own, w = b.w, nrow = b.nrow, g0 = b.g0;
    const float *P = j->probs + b.poff;
    float *dS = j->ds + b.poff;
    const float *dO = j->dout + g0 * od + (int64_t)h * dv, *Vt = j->kvt + (int64_t)kh * dv * T;
    if (pe) paw_gemm_acc(dS, w, dO, od, 1, Vt, T, nrow, pe, dv, 0);
    paw_gemm_acc(dS + pe, w, dO, od, 1, Vt + sg->row0, T, nrow, own, dv, 0);
    const float scale = 1.0f / sqrtf((float)hd);
    void (*dsoftmax)(float *, const float *, int64_t, int64_t, float) =
        paw_cpu_avx2() ? paw_dsoftmax_row_avx2 : dsoftmax_row_scalar;
    for (int64_t i = 0; i < nrow; i++) dsoftmax(dS + i * w, P + i * w, pe + it->r0 + i + 1, w, scale);
    float *dQ = j->dq + g0 * qd + (int64_t)h * hd;
    if (pe) paw_gemm_acc(dQ, qd, dS, w, 1, j->k + (int64_t)kh * hd, kd, nrow, hd, pe, 1);
    paw_gemm_acc(dQ, qd, dS + pe, w, 1, j->k + sg->row0 * kd + (int64_t)kh * hd, kd, nrow, hd, own, 1);
}

/* Backward, part 2, per (kv head, block of keys [k0, k1) of one segment):
 * dK += dSᵀ Q and dV += Pᵀ dO over every head of the group and every block
 * of rows that sees those keys, in a fixed order. */
static void dkv_unit(const attn_job *j, int64_t u)
{
    const paw_attn_shape *s = j->s;
    const paw_attn_layout *l = j->l;
    const int group = s->n_head / s->n_head_kv, kh = (int)(u % s->n_head_kv);
    const int32_t *kb = j->kblocks + 3 * (u / s->n_head_kv);
    const int32_t ks = kb[0];
    const int64_t k0 = kb[1], k1 = kb[2], row0 = l->segs[ks].row0;
    const int hd = s->head_dim, dvh = s->head_dim_v;
    const int64_t qd = (int64_t)s->n_head * hd, od = (int64_t)s->n_head * dvh;
    const int64_t kd = (int64_t)s->n_head_kv * hd, vd = (int64_t)s->n_head_kv * dvh;
    float *dK = j->dk + k0 * kd + (int64_t)kh * hd, *dV = j->dv + k0 * vd + (int64_t)kh * dvh;
    for (int h = kh * group; h < (kh + 1) * group; h++)
        for (int32_t i = 0; i < l->n_items; i++) {
            const paw_attn_item *it = &l->items[i];
            const paw_attn_seg *sg = &l->segs[it->seg];
            const int64_t w = it->width, base = h * l->per_head + it->off;
            int64_t j0, nk, li;   /* first column, keys, first row (local) */
            if (k0 < sg->pre_end) {           /* the keys are in its prefix */
                j0 = k0;
                nk = PAW_MIN(k1, sg->pre_end) - k0;
                li = it->r0;
            } else if (it->seg == ks && k0 - row0 < it->r1) {   /* its own keys */
                j0 = sg->pre_end + (k0 - row0);
                nk = PAW_MIN(k1 - row0, it->r1) - (k0 - row0);
                li = PAW_MAX(it->r0, k0 - row0);   /* rows before see none */
            } else {
                continue;
            }
            const int64_t nr = it->r1 - li, g = sg->row0 + li, a = base + (li - it->r0) * w + j0;
            paw_gemm_acc(dK, kd, j->ds + a, 1, w, j->q + g * qd + (int64_t)h * hd, qd, nk, hd, nr, 1);
            paw_gemm_acc(dV, vd, j->probs + a, 1, w, j->dout + g * od + (int64_t)h * dvh, od, nk, dvh, nr, 1);
        }
}

int32_t paw_attn_key_blocks(int32_t *kb, const paw_attn_seg *segs, int32_t n_seg)
{
    int32_t n = 0;
    for (int32_t s = 0; s < n_seg; s++)
        for (int32_t k0 = 0; k0 < segs[s].len; k0 += KEY_BLOCK, n++)
            if (kb) {
                kb[3 * n] = s;
                kb[3 * n + 1] = segs[s].row0 + k0;
                kb[3 * n + 2] = segs[s].row0 + PAW_MIN(segs[s].len, k0 + KEY_BLOCK);
            }
    return n;
}

void paw_attention_train_backward(paw_pool *p, float *dq, float *dk, float *dv, const float *dout,
                                  const float *probs, const float *q, const float *k,
                                  const float *v, const paw_attn_layout *l,
                                  const paw_attn_shape *s, float *scratch)
{
    float *ds = scratch, *vt = scratch + (int64_t)s->n_head * l->per_head;
    transpose_heads(vt, v, s->T, s->n_head_kv, s->head_dim_v);
    attn_job j = { .probs = (float *)probs, .dq = dq, .dk = dk, .dv = dv, .ds = ds, .kvt = vt,
                   .dout = dout, .q = q, .k = k, .l = l, .s = s, .kblocks = l->kblocks };
    run_units(p, &j, dq_unit, (int64_t)l->n_items * s->n_head);
    run_units(p, &j, dkv_unit, (int64_t)l->n_kblocks * s->n_head_kv);
}
