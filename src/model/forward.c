/* forward.c — the transformer forward pass over explicit buffers.
 *
 * One function per layer kind (norms, rope, attention, MLP activations), then
 * paw_forward_chunk, which is the list of calls for one chunk of T tokens:
 * T > 1 is batched prefill, T == 1 decode; both use the same code and every
 * projection goes through linear(), i.e. paw_matmul.  Numerics follow
 * llama.cpp where it matters for matching it: sums of squares in double,
 * rope angles stepped by repeated multiplication, 1/sqrt(head_dim) scale. */
#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "model/model.h"
#include "model/lora.h"

/* ------------------------------------------------------- layer functions */

void paw_rmsnorm_forward(float *out, const float *x, const float *w, int64_t T, int64_t C, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * C;
        float *ot = out + t * C;
        /* Squares rounded to float, summed in double: ggml's rms_norm. */
        double ss = 0;
        for (int64_t i = 0; i < C; i++) ss += (double)(xt[i] * xt[i]);
        const float scale = 1.0f / sqrtf((float)(ss / C) + eps);
        for (int64_t i = 0; i < C; i++) ot[i] = xt[i] * scale * w[i];
    }
}

void paw_layernorm_forward(float *out, const float *x, const float *w, const float *b,
                           int64_t T, int64_t C, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * C;
        float *ot = out + t * C;
        double sum = 0;
        for (int64_t i = 0; i < C; i++) sum += xt[i];
        const float mean = (float)(sum / C);
        double var = 0;
        for (int64_t i = 0; i < C; i++) var += (double)(xt[i] - mean) * (xt[i] - mean);
        const float scale = 1.0f / sqrtf((float)(var / C) + eps);
        for (int64_t i = 0; i < C; i++) ot[i] = (xt[i] - mean) * scale * w[i] + b[i];
    }
}

void paw_rope_table(float *cs, int64_t pos0, int64_t T, const paw_hparams *hp, const float *freqs)
{
    const int half = hp->n_rot / 2;
    /* The angle of pair i is pos * base^(-2i/n_rot), formed like ggml by
     * stepping theta with a float multiplier, so angles agree to the ulp. */
    const float step = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    for (int64_t t = 0; t < T; t++) {
        float theta = (float)(pos0 + t);
        float *row = cs + t * half * 2;
        for (int i = 0; i < half; i++) {
            float a = hp->rope_freq_scale * (freqs ? theta / freqs[i] : theta);
            row[2 * i] = cosf(a);
            row[2 * i + 1] = sinf(a);
            theta *= step;
        }
    }
}

void paw_rope_forward(float *x, const float *cs, int64_t T, int n_heads, int head_dim,
                      int n_rot, int mode)
{
    const int half = n_rot / 2;
    for (int64_t t = 0; t < T; t++) {
        const float *row = cs + t * half * 2;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (t * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                /* NORMAL pairs neighbours, NEOX pairs the two halves. */
                const int a = mode == PAW_ROPE_NEOX ? i : 2 * i;
                const int b = mode == PAW_ROPE_NEOX ? i + half : 2 * i + 1;
                const float c = row[2 * i], s = row[2 * i + 1];
                const float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
    }
}

void paw_swiglu_forward(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void paw_gelu_forward(float *out, const float *x, int64_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(k * v * (1.0f + 0.044715f * v * v)));
    }
}

/* The MLP activation over n elements, split over the pool in pieces of
 * ACT_PIECE: every element stands alone, so the bits are one call's. */
#define ACT_PIECE 2048

typedef struct act_job {
    int gelu;
    float *out;
    const float *a, *b;
    int64_t n;
} act_job;

static void act_item(void *ctx, int64_t item, int ith)
{
    (void)ith;
    const act_job *j = ctx;
    const int64_t lo = item * ACT_PIECE, k = PAW_MIN(ACT_PIECE, j->n - lo);
    if (j->gelu) paw_gelu_forward(j->out + lo, j->a + lo, k);
    else paw_swiglu_forward(j->out + lo, j->a + lo, j->b + lo, k);
}

void paw_par_ffn_act(paw_pool *p, int gelu, float *out, const float *a, const float *b, int64_t n)
{
    act_job j = { gelu, out, a, b, n };
    paw_pool_run_items(n > ACT_PIECE ? p : NULL, act_item, &j, (n + ACT_PIECE - 1) / ACT_PIECE);
}

/* --------------------------------------------------------------- attention */

/* Causal multi-head attention of T queries against the cache, with grouped
 * KV heads: query head h reads KV head h / (n_head / n_head_kv).  Query t sits
 * at position pos0 + t and sees positions 0..pos0+t.  Work items are
 * (query, head) pairs taken one at a time by the pool's threads; each thread
 * has its own row of scores and partial sums.  Scores, softmax and the
 * weighted sum of V follow llama.cpp's (non flash-attention) order of
 * operations, see attn_avx2.c. */
typedef paw_attn_job attn_job;   /* model.h */

/* Element i of a cache row of f32 or f16 values. */
static inline float kv_at(const void *p, int f16, int64_t i)
{
    return f16 ? paw_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* The scalar pair is the arithmetic of ggml's plain C build (no SIMD), where
 * both products of attention are mul_mats through its f32 dot: products
 * rounded to float, summed in double in index order, the sum rounded to
 * float.  Scores are that dot times the scale (soft_max_ext scales the
 * float kq); the weighted sum of V dots each column of the (transposed) V
 * with the probabilities.  With an f16 cache ggml would also round q and
 * the probabilities to f16; that is not reproduced here. */
static float scores_scalar(float *s, const float *q, const void *k, int f16, int64_t kstride,
                           int64_t n, int d, float scale)
{
    float mx = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        double dot = 0;
        for (int i = 0; i < d; i++) dot += (double)(q[i] * kv_at(k, f16, p * kstride + i));
        s[p] = (float)dot * scale;
        mx = s[p] > mx ? s[p] : mx;
    }
    return mx;
}

static void vsum_scalar(float *out, const float *prob, const void *v, int f16, int64_t vstride,
                        int64_t n, int dv, float *acc)
{
    (void)acc;
    /* Columns in slices of 64 so the double sums stay on the stack; each
     * column is still summed over p in order. */
    for (int d0 = 0; d0 < dv; d0 += 64) {
        const int nd = dv - d0 < 64 ? dv - d0 : 64;
        double sum[64] = { 0 };
        for (int64_t p = 0; p < n; p++)
            for (int d = 0; d < nd; d++) sum[d] += (double)(prob[p] * kv_at(v, f16, p * vstride + d0 + d));
        for (int d = 0; d < nd; d++) out[d0 + d] = (float)sum[d];
    }
}

void paw_attention_item(void *arg, int64_t item, int ith)
{
    const attn_job *j = arg;
    const int avx2 = paw_cpu_avx2();
    float (*scores)(float *, const float *, const void *, int, int64_t, int64_t, int, float) =
        avx2 ? paw_attn_scores_avx2 : scores_scalar;
    void (*vsum)(float *, const float *, const void *, int, int64_t, int64_t, int, float *) =
        avx2 ? paw_attn_vsum_avx2 : vsum_scalar;
    const size_t elt = j->f16 ? 2 : 4;
    const int group = j->n_head / j->n_head_kv, dv = j->head_dim_v;
    const int64_t kvd = (int64_t)j->n_head_kv * j->head_dim, vod = (int64_t)j->n_head_kv * dv;
    const float scale = 1.0f / sqrtf((float)j->head_dim);
    float *s = j->scores + (int64_t)ith * j->n_ctx, *vacc = j->vacc + (int64_t)ith * j->vacc_stride;
    {
        const int64_t t = item / j->n_head;
        const int h = (int)(item % j->n_head), kh = h / group;
        const int64_t n_kv = j->pos0 + t + 1;
        const float *qh = j->q + (t * j->n_head + h) * j->head_dim;
        const void *kp = (const uint8_t *)j->k + (size_t)kh * j->head_dim * elt;
        if (j->flash) {
            paw_attn_flash(j->out + (t * j->n_head + h) * dv, qh, kp,
                           (const uint8_t *)j->v + (size_t)kh * dv * elt, j->f16, kvd, vod, n_kv,
                           j->head_dim, dv, scale, vacc);
            return;
        }
        const float mx = scores(s, qh, kp, j->f16, kvd, n_kv, j->head_dim, scale);
        double sum = 0;
        for (int64_t p = 0; p < n_kv; p++) {
            s[p] = expf(s[p] - mx);
            sum += s[p];
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t p = 0; p < n_kv; p++) s[p] *= inv;
        vsum(j->out + (t * j->n_head + h) * dv, s, (const uint8_t *)j->v + (size_t)kh * dv * elt,
             j->f16, vod, n_kv, dv, vacc);
    }
}

/* ------------------------------------------------------------ projections */

/* y[T][rows] = W x (+ bias) for one projection of one layer.  Every linear
 * map of the model passes here, so LoRA adapters attach in one place:
 * after the base product, y += scale * (alpha / r) * B (A x). */
/* The int8 pack of matrix i (PAW_I8_INDEX / PAW_I8_HEAD) when ctx c runs
 * int8 products and the matrix has one, else NULL (ggml's arithmetic). */
static const paw_i8pack *pack_of(const paw_ctx *c, int64_t i)
{
    return c->i8 && c->i8[i].data ? &c->i8[i] : NULL;
}

static void linear(paw_ctx *c, int il, int proj, float *y, const float *x, int64_t T)
{
    const paw_mat *m = &c->model->layers[il].proj[proj];
    const paw_i8pack *pk = pack_of(c, PAW_I8_INDEX(il, proj));
    if (pk) paw_i8_matmul(c->pool, y, pk, x, T);
    else paw_matmul(c->pool, y, m->w, m->type, m->rows, m->n_in, x, T);
    if (m->b)
        for (int64_t t = 0; t < T; t++)
            for (int64_t r = 0; r < m->rows; r++) y[t * m->rows + r] += m->b[r];
    if (c->lora) paw_lora_apply(c, il, proj, y, x, T);
}

/* Several projections of the same input (q, k, v; gate, up): one
 * paw_matmul_multi call (one quantisation of x, one pool dispatch), then
 * each projection's bias and LoRA as in linear(). */
static void linear_multi(paw_ctx *c, int il, const int *projs, float *const *ys, int n,
                         const float *x, int64_t T)
{
    const paw_layer *L = &c->model->layers[il];
    paw_mm_part parts[PAW_MM_MAX_PARTS] = { { 0 } };
    const paw_i8pack *pks[PAW_I8_MAX_PARTS];
    int all_packed = n <= PAW_I8_MAX_PARTS;
    for (int i = 0; i < n && i < PAW_MM_MAX_PARTS; i++) {
        const paw_mat *m = &L->proj[projs[i]];
        parts[i] = (paw_mm_part){ ys[i], m->w, m->type, m->rows };
        if (all_packed && !(pks[i] = pack_of(c, PAW_I8_INDEX(il, projs[i])))) all_packed = 0;
    }
    if (all_packed) paw_i8_matmul_multi(c->pool, ys, pks, n, x, T);
    else paw_matmul_multi(c->pool, parts, n, L->proj[projs[0]].n_in, x, T);
    for (int i = 0; i < n; i++) {
        const paw_mat *m = &L->proj[projs[i]];
        if (m->b)
            for (int64_t t = 0; t < T; t++)
                for (int64_t r = 0; r < m->rows; r++) ys[i][t * m->rows + r] += m->b[r];
        if (c->lora) paw_lora_apply(c, il, projs[i], ys[i], x, T);
    }
}

static void add_inplace(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void norm(const paw_model *m, float *out, const float *x, const float *w,
                 const float *b, int64_t T)
{
    if (m->arch->norm == PAW_NORM_RMS)
        paw_rmsnorm_forward(out, x, w, T, m->hp.n_embd, m->hp.norm_eps);
    else
        paw_layernorm_forward(out, x, w, b, T, m->hp.n_embd, m->hp.norm_eps);
}

/* x[t] = token embedding (+ learned position embedding). */
static void embed(paw_ctx *c, const int32_t *ids, int64_t T, int64_t pos0)
{
    const paw_model *m = c->model;
    const int64_t E = m->hp.n_embd;
    const size_t row = paw_type_row_bytes(m->tok_embd.type, E);
    for (int64_t t = 0; t < T; t++)
        paw_dequantize(m->tok_embd.type, (const uint8_t *)m->tok_embd.w + (size_t)ids[t] * row,
                       c->x + t * E, E);
    if (m->pos_embd.w) {
        const size_t prow = paw_type_row_bytes(m->pos_embd.type, E);
        for (int64_t t = 0; t < T; t++) {
            paw_dequantize(m->pos_embd.type, (const uint8_t *)m->pos_embd.w + (size_t)(pos0 + t) * prow,
                           c->xb, E);
            add_inplace(c->x + t * E, c->xb, E);
        }
    }
}

/* Attention block: x += O · attention(rope(q), rope(k) → cache, v → cache). */
static void attention_block(paw_ctx *c, int il, int64_t T, int64_t pos0)
{
    const paw_model *m = c->model;
    const paw_hparams *hp = &m->hp;
    const paw_layer *L = &m->layers[il];
    const int64_t E = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim;
    const int f16 = c->kv_type == PAW_TYPE_F16;
    uint8_t *kc = (uint8_t *)c->k_cache + (size_t)il * c->n_ctx * c->kv_dim * c->kv_elt;
    uint8_t *vc = (uint8_t *)c->v_cache + (size_t)il * c->n_ctx * c->vo_dim * c->kv_elt;
    /* An f32 cache is position-major like a matmul's output, so new K and V
     * are computed in place; an f16 one gets them converted at the end. */
    float *k_new = f16 ? c->k_new : (float *)kc + pos0 * c->kv_dim;
    float *v_new = f16 ? c->v_new : (float *)vc + pos0 * c->vo_dim;

    norm(m, c->xn, c->x, L->attn_norm, L->attn_norm_b, T);
    if (L->proj[PAW_PROJ_QKV].w) {
        /* Fused q|k|v: split the rows into q and the cache. */
        const int64_t w = qd + c->kv_dim + c->vo_dim;
        linear(c, il, PAW_PROJ_QKV, c->qkv, c->xn, T);
        for (int64_t t = 0; t < T; t++) {
            memcpy(c->q + t * qd, c->qkv + t * w, (size_t)qd * sizeof(float));
            memcpy(k_new + t * c->kv_dim, c->qkv + t * w + qd, (size_t)c->kv_dim * sizeof(float));
            memcpy(v_new + t * c->vo_dim, c->qkv + t * w + qd + c->kv_dim, (size_t)c->vo_dim * sizeof(float));
        }
    } else {
        static const int qkv[3] = { PAW_PROJ_Q, PAW_PROJ_K, PAW_PROJ_V };
        float *const ys[3] = { c->q, k_new, v_new };
        linear_multi(c, il, qkv, ys, 3, c->xn, T);
    }
    if (L->q_norm) {
        paw_rmsnorm_forward(c->q, c->q, L->q_norm, T * hp->n_head, hp->head_dim, hp->norm_eps);
        paw_rmsnorm_forward(k_new, k_new, L->k_norm, T * hp->n_head_kv, hp->head_dim, hp->norm_eps);
    }
    if (m->arch->rope != PAW_ROPE_NONE && hp->n_rot > 0) {
        paw_rope_forward(c->q, c->rope_cs, T, hp->n_head, hp->head_dim, hp->n_rot, m->arch->rope);
        paw_rope_forward(k_new, c->rope_cs, T, hp->n_head_kv, hp->head_dim, hp->n_rot, m->arch->rope);
    }
    if (f16) {
        uint16_t *kd = (uint16_t *)kc + pos0 * c->kv_dim, *vd = (uint16_t *)vc + pos0 * c->vo_dim;
        for (int64_t i = 0; i < T * c->kv_dim; i++) kd[i] = paw_f32_to_f16(k_new[i]);
        for (int64_t i = 0; i < T * c->vo_dim; i++) vd[i] = paw_f32_to_f16(v_new[i]);
    }
    attn_job job = {
        .out = c->att, .q = c->q, .k = kc, .v = vc, .f16 = f16, .flash = c->flash_attn,
        .scores = c->scores, .vacc = c->vacc,
        .vacc_stride = paw_attn_scratch_floats(hp),
        .T = T, .pos0 = pos0, .n_ctx = c->n_ctx,
        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim, .head_dim_v = hp->head_dim_v,
    };
    paw_pool_run_items(c->pool, paw_attention_item, &job, T * hp->n_head);
    linear(c, il, PAW_PROJ_O, c->xb, c->att, T);
    add_inplace(c->x, c->xb, T * E);
}

/* Feed-forward block: x += down(act(gate x) * up x) or down(gelu(up x)). */
static void ffn_block(paw_ctx *c, int il, int64_t T)
{
    const paw_model *m = c->model;
    const paw_layer *L = &m->layers[il];
    const int64_t E = m->hp.n_embd, F = m->hp.n_ff;
    norm(m, c->xn, c->x, L->ffn_norm, L->ffn_norm_b, T);
    if (m->arch->ffn == PAW_FFN_SWIGLU) {
        static const int gate_up[2] = { PAW_PROJ_GATE, PAW_PROJ_UP };
        float *const ys[2] = { c->ff, c->ff2 };
        linear_multi(c, il, gate_up, ys, 2, c->xn, T);
        paw_par_ffn_act(c->pool, 0, c->ff, c->ff, c->ff2, T * F);
    } else {
        linear(c, il, PAW_PROJ_UP, c->ff, c->xn, T);
        paw_par_ffn_act(c->pool, 1, c->ff, c->ff, NULL, T * F);
    }
    linear(c, il, PAW_PROJ_DOWN, c->xb, c->ff, T);
    add_inplace(c->x, c->xb, T * E);
}

void paw_forward_chunk(paw_ctx *c, const int32_t *ids, int32_t T, float *logits_out, int all_rows)
{
    const paw_model *m = c->model;
    const paw_hparams *hp = &m->hp;
    const int64_t pos0 = c->n_past, E = hp->n_embd;

    embed(c, ids, T, pos0);
    if (m->arch->rope != PAW_ROPE_NONE && hp->n_rot > 0)
        paw_rope_table(c->rope_cs, pos0, T, hp, m->rope_freqs);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(c, il, T, pos0);
        ffn_block(c, il, T);
    }
    if (!logits_out) return;
    /* Only the rows asked for go through the final norm and the head. */
    const int64_t first = all_rows ? 0 : T - 1, n = T - first;
    norm(m, c->xn, c->x + first * E, m->out_norm, m->out_norm_b, n);
    const paw_i8pack *head = pack_of(c, PAW_I8_HEAD(m));
    if (head) paw_i8_matmul(c->pool, logits_out, head, c->xn, n);
    else paw_matmul(c->pool, logits_out, m->output.w, m->output.type, m->output.rows,
                    m->output.n_in, c->xn, n);
}
