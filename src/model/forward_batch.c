/* forward_batch.c — paw_decode_batch: several sequences, each with its own
 * ctx (KV cache, position, adapters), in one forward pass.
 *
 * The rows of all sequences are concatenated and every base projection is
 * one paw_matmul over all of them: the weights are streamed once per layer
 * instead of once per sequence, which is the whole gain for decode (one row
 * per sequence), where a forward pass is bound by reading the weights.  What
 * belongs to a sequence stays per sequence: its adapters' LoRA products on
 * its own rows, rope at its own positions, attention against its own cache.
 *
 * Exactness: every step is row-independent with the same arithmetic per row
 * as forward.c — norms and activations loop over rows; activations are
 * quantised row by row; every kernel output keeps its own accumulator
 * whatever the tile or chunk shape (matmul.c, matmul_avx2.c, kquant_avx2.c),
 * so a row's bits do not depend on how many rows share the call; LoRA
 * splits by tokens without changing bits (lora.c); attention runs
 * forward.c's own item function.  Hence each sequence's logits equal, bit
 * for bit, paw_decode of that sequence alone on its ctx (tests/test_batch.c
 * checks it under every SIMD set). */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "model/model.h"
#include "model/lora.h"

/* Rows per forward pass: bounds the scratch (about 30 KB a row for
 * SmolLM2-135M); longer batches run in several passes, same bits. */
#define BATCH_ROWS 512

typedef struct seq_part {
    paw_ctx       *c;
    const int32_t *ids;      /* this pass's tokens                         */
    int64_t        row0, n;  /* its rows in the pass                       */
    int64_t        pos0;
    int            last;     /* its final token is in this pass            */
} seq_part;

typedef struct batch {
    const paw_model *m;
    paw_pool        *pool;
    const paw_i8pack *i8;           /* every ctx's int8 packs (or NULL)     */
    seq_part        *seq;
    int              n_seq;
    int              want_logits;
    int64_t          rows;
    /* scratch, [rows][...] */
    float *x, *xn, *xb, *q, *qkv, *k_new, *v_new, *att, *ff, *ff2, *rope_cs;
    float *scores, *vacc, *head;    /* [nth][n_ctx max], [nth][..], [n_seq][n_vocab] */
    int64_t n_ctx_max;
    /* attention over all sequences in one dispatch */
    paw_attn_job *jobs;
    int64_t      *first;            /* [n_seq + 1]: first item of each job */
    /* LoRA groups: runs of consecutive sequences with one identical adapter
     * (or none), applied as one block of rows with the first one's ctx */
    int          *grp;              /* [n_seq + 1]: first sequence of each */
    int           n_grp;
    int           lora_il, lora_proj;
    float        *lora_y;
    const float  *lora_x;
    int64_t       lora_dy, lora_dx;
} batch;

static void attn_items(void *arg, int64_t item, int ith)
{
    const batch *b = arg;
    int s = 0;
    while (item >= b->first[s + 1]) s++;
    paw_attention_item(&b->jobs[s], item - b->first[s], ith);
}

/* May sequences a and b share one LoRA application?  Equal adapter-set ids
 * mean the same adapters and scales; with one adapter (or none) the order
 * of the additions cannot differ either. */
static int same_lora(const paw_ctx *a, const paw_ctx *b)
{
    const int na = paw_ctx_n_adapters(a), nb = paw_ctx_n_adapters(b);
    if (na > 1 || nb > 1) return 0;
    uint8_t ia[32], ib[32];
    paw_ctx_adapter_id(a, ia);
    paw_ctx_adapter_id(b, ib);
    return !memcmp(ia, ib, 32);
}

static void lora_group(const batch *b, int g, paw_pool *pool)
{
    const seq_part *s0 = &b->seq[b->grp[g]], *s1 = &b->seq[b->grp[g + 1] - 1];
    paw_ctx *c = s0->c;
    if (!c->lora) return;
    /* lora.c runs on c->pool; the batch's pool (or none, inside a batch
     * dispatch) stands in for it during the call. */
    paw_pool *saved = c->pool;
    c->pool = pool;
    paw_lora_apply(c, b->lora_il, b->lora_proj, b->lora_y + s0->row0 * b->lora_dy,
                   b->lora_x + s0->row0 * b->lora_dx, s1->row0 + s1->n - s0->row0);
    c->pool = saved;
}

static void lora_items(void *arg, int64_t g, int ith)
{
    (void)ith;
    lora_group(arg, (int)g, NULL);
}

/* y[rows][d_out] += each group's adapter product for projection proj. */
static void lora_all(batch *b, int il, int proj, float *y, const float *x, int64_t dy, int64_t dx)
{
    int any = 0;
    for (int g = 0; g < b->n_grp && !any; g++) any = b->seq[b->grp[g]].c->lora != NULL;
    if (!any) return;
    b->lora_il = il, b->lora_proj = proj, b->lora_y = y, b->lora_x = x, b->lora_dy = dy, b->lora_dx = dx;
    /* Many small groups (decode): one group per work item, each on one
     * thread; few large ones (prefill): each split over the pool. */
    if (b->n_grp >= paw_pool_size(b->pool)) {
        paw_pool_run_items(b->pool, lora_items, b, b->n_grp);
    } else {
        for (int g = 0; g < b->n_grp; g++) lora_group(b, g, b->pool);
    }
}

static void add_bias(float *y, const float *bias, int64_t T, int64_t rows)
{
    if (!bias) return;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++) y[t * rows + r] += bias[r];
}

/* Projections projs[0..n) of the same input x, base product over all rows,
 * then bias and per-group LoRA, as forward.c's linear_multi. */
static void project(batch *b, int il, const int *projs, float *const *ys, int n, const float *x)
{
    const paw_layer *L = &b->m->layers[il];
    paw_mm_part parts[PAW_MM_MAX_PARTS] = { { 0 } };
    const paw_i8pack *pks[PAW_I8_MAX_PARTS];
    int all_packed = b->i8 && n <= PAW_I8_MAX_PARTS;
    for (int i = 0; i < n; i++) {
        const paw_mat *w = &L->proj[projs[i]];
        parts[i] = (paw_mm_part){ ys[i], w->w, w->type, w->rows };
        pks[i] = all_packed ? &b->i8[PAW_I8_INDEX(il, projs[i])] : NULL;
        if (pks[i] && !pks[i]->data) all_packed = 0;
    }
    /* As forward.c's linear_multi, so each row gets its ctx's arithmetic. */
    if (all_packed) paw_i8_matmul_multi(b->pool, ys, pks, n, x, b->rows);
    else paw_matmul_multi(b->pool, parts, n, L->proj[projs[0]].n_in, x, b->rows);
    for (int i = 0; i < n; i++) {
        const paw_mat *w = &L->proj[projs[i]];
        add_bias(ys[i], w->b, b->rows, w->rows);
        lora_all(b, il, projs[i], ys[i], x, w->rows, w->n_in);
    }
}

static void norm(const batch *b, float *out, const float *x, const float *w, const float *bias, int64_t T)
{
    const paw_hparams *hp = &b->m->hp;
    if (b->m->arch->norm == PAW_NORM_RMS) paw_rmsnorm_forward(out, x, w, T, hp->n_embd, hp->norm_eps);
    else paw_layernorm_forward(out, x, w, bias, T, hp->n_embd, hp->norm_eps);
}

static void add_inplace(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void embed(batch *b)
{
    const paw_model *m = b->m;
    const int64_t E = m->hp.n_embd;
    const size_t row = paw_type_row_bytes(m->tok_embd.type, E);
    const size_t prow = m->pos_embd.w ? paw_type_row_bytes(m->pos_embd.type, E) : 0;
    for (int s = 0; s < b->n_seq; s++) {
        const seq_part *sp = &b->seq[s];
        for (int64_t t = 0; t < sp->n; t++) {
            float *xt = b->x + (sp->row0 + t) * E;
            paw_dequantize(m->tok_embd.type, (const uint8_t *)m->tok_embd.w + (size_t)sp->ids[t] * row, xt, E);
            if (!m->pos_embd.w) continue;
            paw_dequantize(m->pos_embd.type, (const uint8_t *)m->pos_embd.w + (size_t)(sp->pos0 + t) * prow,
                           b->xb, E);
            add_inplace(xt, b->xb, E);
        }
    }
}

static void attention_block(batch *b, int il)
{
    const paw_model *m = b->m;
    const paw_hparams *hp = &m->hp;
    const paw_layer *L = &m->layers[il];
    const int64_t R = b->rows, qd = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kvd = (int64_t)hp->n_head_kv * hp->head_dim, vod = (int64_t)hp->n_head_kv * hp->head_dim_v;

    norm(b, b->xn, b->x, L->attn_norm, L->attn_norm_b, R);
    if (L->proj[PAW_PROJ_QKV].w) {
        const int64_t w = qd + kvd + vod;
        static const int fused[1] = { PAW_PROJ_QKV };
        float *const ys[1] = { b->qkv };
        project(b, il, fused, ys, 1, b->xn);
        for (int64_t t = 0; t < R; t++) {
            memcpy(b->q + t * qd, b->qkv + t * w, (size_t)qd * sizeof(float));
            memcpy(b->k_new + t * kvd, b->qkv + t * w + qd, (size_t)kvd * sizeof(float));
            memcpy(b->v_new + t * vod, b->qkv + t * w + qd + kvd, (size_t)vod * sizeof(float));
        }
    } else {
        static const int qkv[3] = { PAW_PROJ_Q, PAW_PROJ_K, PAW_PROJ_V };
        float *const ys[3] = { b->q, b->k_new, b->v_new };
        project(b, il, qkv, ys, 3, b->xn);
    }
    if (L->q_norm) {
        paw_rmsnorm_forward(b->q, b->q, L->q_norm, R * hp->n_head, hp->head_dim, hp->norm_eps);
        paw_rmsnorm_forward(b->k_new, b->k_new, L->k_norm, R * hp->n_head_kv, hp->head_dim, hp->norm_eps);
    }
    if (m->arch->rope != PAW_ROPE_NONE && hp->n_rot > 0) {
        paw_rope_forward(b->q, b->rope_cs, R, hp->n_head, hp->head_dim, hp->n_rot, m->arch->rope);
        paw_rope_forward(b->k_new, b->rope_cs, R, hp->n_head_kv, hp->head_dim, hp->n_rot, m->arch->rope);
    }
    b->first[0] = 0;
    for (int s = 0; s < b->n_seq; s++) {
        const seq_part *sp = &b->seq[s];
        paw_ctx *c = sp->c;
        const int f16 = c->kv_type == PAW_TYPE_F16;
        uint8_t *kc = (uint8_t *)c->k_cache + (size_t)il * c->n_ctx * c->kv_dim * c->kv_elt;
        uint8_t *vc = (uint8_t *)c->v_cache + (size_t)il * c->n_ctx * c->vo_dim * c->kv_elt;
        const float *kn = b->k_new + sp->row0 * kvd, *vn = b->v_new + sp->row0 * vod;
        if (f16) {
            uint16_t *kd = (uint16_t *)kc + sp->pos0 * kvd, *vd = (uint16_t *)vc + sp->pos0 * vod;
            for (int64_t i = 0; i < sp->n * kvd; i++) kd[i] = paw_f32_to_f16(kn[i]);
            for (int64_t i = 0; i < sp->n * vod; i++) vd[i] = paw_f32_to_f16(vn[i]);
        } else {
            memcpy((float *)kc + sp->pos0 * kvd, kn, (size_t)(sp->n * kvd) * sizeof(float));
            memcpy((float *)vc + sp->pos0 * vod, vn, (size_t)(sp->n * vod) * sizeof(float));
        }
        b->jobs[s] = (paw_attn_job){
            .out = b->att + sp->row0 * hp->n_head * hp->head_dim_v, .q = b->q + sp->row0 * qd,
            .k = kc, .v = vc, .f16 = f16, .flash = c->flash_attn,
            .scores = b->scores, .vacc = b->vacc, .vacc_stride = paw_attn_scratch_floats(hp),
            .T = sp->n, .pos0 = sp->pos0, .n_ctx = b->n_ctx_max,
            .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
            .head_dim = hp->head_dim, .head_dim_v = hp->head_dim_v,
        };
        b->first[s + 1] = b->first[s] + sp->n * hp->n_head;
    }
    paw_pool_run_items(b->pool, attn_items, b, b->first[b->n_seq]);
    static const int o[1] = { PAW_PROJ_O };
    float *const yo[1] = { b->xb };
    project(b, il, o, yo, 1, b->att);
    add_inplace(b->x, b->xb, R * hp->n_embd);
}

static void ffn_block(batch *b, int il)
{
    const paw_model *m = b->m;
    const paw_layer *L = &m->layers[il];
    const int64_t R = b->rows, F = m->hp.n_ff;
    norm(b, b->xn, b->x, L->ffn_norm, L->ffn_norm_b, R);
    if (m->arch->ffn == PAW_FFN_SWIGLU) {
        static const int gate_up[2] = { PAW_PROJ_GATE, PAW_PROJ_UP };
        float *const ys[2] = { b->ff, b->ff2 };
        project(b, il, gate_up, ys, 2, b->xn);
        paw_par_ffn_act(b->pool, 0, b->ff, b->ff, b->ff2, R * F);
    } else {
        static const int up[1] = { PAW_PROJ_UP };
        float *const ys[1] = { b->ff };
        project(b, il, up, ys, 1, b->xn);
        paw_par_ffn_act(b->pool, 1, b->ff, b->ff, NULL, R * F);
    }
    static const int down[1] = { PAW_PROJ_DOWN };
    float *const yd[1] = { b->xb };
    project(b, il, down, yd, 1, b->ff);
    add_inplace(b->x, b->xb, R * m->hp.n_embd);
}

/* One pass over b->seq (rows assigned); the last row of every sequence
 * whose final token is here goes through the head into its ctx's logits. */
static void forward(batch *b)
{
    const paw_model *m = b->m;
    const paw_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    embed(b);
    if (m->arch->rope != PAW_ROPE_NONE && hp->n_rot > 0)
        for (int s = 0; s < b->n_seq; s++)
            paw_rope_table(b->rope_cs + b->seq[s].row0 * (hp->n_rot / 2) * 2, b->seq[s].pos0, b->seq[s].n,
                           hp, m->rope_freqs);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(b, il);
        ffn_block(b, il);
    }
    int64_t n = 0;
    for (int s = 0; s < b->n_seq && b->want_logits; s++)
        if (b->seq[s].last)
            memcpy(b->xb + n++ * E, b->x + (b->seq[s].row0 + b->seq[s].n - 1) * E, (size_t)E * sizeof(float));
    if (!n) return;
    norm(b, b->xn, b->xb, m->out_norm, m->out_norm_b, n);
    const paw_i8pack *head = b->i8 && b->i8[PAW_I8_HEAD(m)].data ? &b->i8[PAW_I8_HEAD(m)] : NULL;
    if (head) paw_i8_matmul(b->pool, b->head, head, b->xn, n);
    else paw_matmul(b->pool, b->head, m->output.w, m->output.type, m->output.rows, m->output.n_in, b->xn, n);
    n = 0;
    for (int s = 0; s < b->n_seq; s++)
        if (b->seq[s].last)
            memcpy(b->seq[s].c->logits, b->head + n++ * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
}

static int check_args(paw_ctx *const *ctxs, const int32_t *const *ids, const int32_t *n_ids, int n_seq)
{
    if (n_seq <= 0 || !ctxs || !ids || !n_ids) return paw_err(PAW_EINVAL, "decode_batch: no sequences");
    for (int s = 0; s < n_seq; s++) {
        const paw_ctx *c = ctxs[s];
        if (!c || !ids[s] || n_ids[s] <= 0) return paw_err(PAW_EINVAL, "decode_batch: sequence %d has no ctx or no tokens", s);
        if (c->model != ctxs[0]->model)
            return paw_err(PAW_EINVAL, "decode_batch: sequence %d's ctx is on another model", s);
        if (c->i8 != ctxs[0]->i8)
            return paw_err(PAW_EINVAL, "decode_batch: sequence %d's ctx differs from the first in int8 products", s);
        for (int t = 0; t < s; t++)
            if (ctxs[t] == c) return paw_err(PAW_EINVAL, "decode_batch: sequences %d and %d share a ctx", t, s);
        if ((int64_t)c->n_past + n_ids[s] > c->n_ctx)
            return paw_err(PAW_ERANGE, "decode_batch: sequence %d: %d cached + %d new tokens exceed the context of %d",
                           s, c->n_past, n_ids[s], c->n_ctx);
        for (int32_t i = 0; i < n_ids[s]; i++)
            if (ids[s][i] < 0 || ids[s][i] >= c->model->hp.n_vocab)
                return paw_err(PAW_EINVAL, "decode_batch: sequence %d: token id %d at %d is outside the vocabulary of %d",
                               s, ids[s][i], i, c->model->hp.n_vocab);
    }
    return PAW_OK;
}

/* Carves the scratch for `rows` rows out of one allocation. */
static void *alloc_scratch(batch *b, int64_t rows, int n_seq)
{
    const paw_model *m = b->m;
    const paw_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kvd = (int64_t)hp->n_head_kv * hp->head_dim, vod = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t ad = (int64_t)hp->n_head * hp->head_dim_v, F = hp->n_ff;
    const int64_t nth = paw_pool_size(b->pool), n_rot = PAW_MAX(hp->n_rot, 2);
    const int fused = m->layers[0].proj[PAW_PROJ_QKV].w != NULL;
    const int64_t sizes[] = {
        rows * E, rows * E, rows * E, rows * qd, fused ? rows * (qd + kvd + vod) : 0, rows * kvd, rows * vod,
        rows * ad, rows * F, rows * F, rows * n_rot, nth * b->n_ctx_max, nth * paw_attn_scratch_floats(hp),
        (int64_t)n_seq * hp->n_vocab,
    };
    float **dst[] = { &b->x, &b->xn, &b->xb, &b->q, &b->qkv, &b->k_new, &b->v_new, &b->att, &b->ff, &b->ff2,
                      &b->rope_cs, &b->scores, &b->vacc, &b->head };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += ((size_t)sizes[i] + 15) / 16 * 16;
    size_t extra = (size_t)n_seq * (sizeof(seq_part) + sizeof(paw_attn_job) + 2 * sizeof(int64_t) + 2 * sizeof(int)) + 64;
    uint8_t *mem = aligned_alloc(64, (total * sizeof(float) + extra + 63) / 64 * 64);
    if (!mem) return NULL;
    float *f = (float *)mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *dst[i] = sizes[i] ? f : NULL;
        f += ((size_t)sizes[i] + 15) / 16 * 16;
    }
    uint8_t *p = (uint8_t *)f;
    b->jobs = (paw_attn_job *)p;  p += (size_t)n_seq * sizeof(paw_attn_job);
    b->seq = (seq_part *)p;       p += (size_t)n_seq * sizeof(seq_part);
    b->first = (int64_t *)p;      p += (size_t)(n_seq + 1) * sizeof(int64_t);
    b->grp = (int *)p;
    return mem;
}

int paw_decode_batch(paw_ctx *const *ctxs, const int32_t *const *ids, const int32_t *n_ids, int n_seq,
                     const float **logits)
{
    for (int s = 0; logits && s < n_seq; s++) logits[s] = NULL;
    int rc = check_args(ctxs, ids, n_ids, n_seq);
    if (rc) return rc;
    batch b = { .m = ctxs[0]->model, .pool = ctxs[0]->pool, .i8 = ctxs[0]->i8, .want_logits = logits != NULL };
    int64_t total = 0;
    for (int s = 0; s < n_seq; s++) {
        total += n_ids[s];
        b.n_ctx_max = PAW_MAX(b.n_ctx_max, ctxs[s]->n_ctx);
    }
    void *mem = alloc_scratch(&b, PAW_MIN(total, BATCH_ROWS), n_seq);
    if (!mem) return paw_err(PAW_ENOMEM, "decode_batch: out of memory for %d sequences", n_seq);
    /* Passes of up to BATCH_ROWS rows: each takes what fits of every
     * sequence's remaining tokens, in order. */
    int32_t *done = calloc((size_t)n_seq, sizeof *done);
    if (!done) { free(mem); return paw_err(PAW_ENOMEM, "decode_batch: out of memory"); }
    for (int64_t left = total; left > 0;) {
        b.n_seq = 0;
        b.rows = 0;
        for (int s = 0; s < n_seq && b.rows < BATCH_ROWS; s++) {
            int64_t k = PAW_MIN((int64_t)n_ids[s] - done[s], BATCH_ROWS - b.rows);
            if (k <= 0) continue;
            paw_ctx *c = ctxs[s];
            b.seq[b.n_seq++] = (seq_part){ c, ids[s] + done[s], b.rows, k, c->n_past, done[s] + k == n_ids[s] };
            memcpy(c->tokens + c->n_past, ids[s] + done[s], (size_t)k * sizeof(int32_t));
            b.rows += k;
        }
        b.n_grp = 0;
        for (int s = 0; s < b.n_seq; s++)
            if (!s || !same_lora(b.seq[s - 1].c, b.seq[s].c)) b.grp[b.n_grp++] = s;
        b.grp[b.n_grp] = b.n_seq;
        forward(&b);
        for (int i = 0; i < b.n_seq; i++) b.seq[i].c->n_past += (int32_t)b.seq[i].n;
        for (int s = 0, i = 0; s < n_seq && i < b.n_seq; s++)
            if (b.seq[i].c == ctxs[s]) { done[s] += (int32_t)b.seq[i].n; i++; }
        left -= b.rows;
    }
    free(done);
    free(mem);
    for (int s = 0; logits && s < n_seq; s++) logits[s] = ctxs[s]->logits;
    return PAW_OK;
}
