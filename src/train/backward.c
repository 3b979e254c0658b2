/* backward.c — the backward twin of every layer function of forward.c, the
 * training attention, and the two products of a backward pass.
 *
 * Norm statistics are recomputed from the saved input instead of being
 * stored: it costs one pass over a row and keeps the activation plan small.
 * Sums that feed a normalisation are taken in double, as the forward does. */
#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "train/train.h"

/* ------------------------------------------------------------ pointwise */

void paw_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w,
                          int64_t T, int64_t C, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * C, *gt = dy + t * C;
        float *dt = dx + t * C;
        double ss = 0, dot = 0;
        for (int64_t i = 0; i < C; i++) {
            ss += (double)xt[i] * xt[i];
            dot += (double)gt[i] * w[i] * xt[i];
        }
        /* y = x r w with r = (mean x^2 + eps)^-1/2, so
         * dx = r (dy w) - x r^3 (dy w . x) / C. */
        const double r = 1.0 / sqrt(ss / (double)C + eps);
        const float a = (float)r, b = (float)(r * r * r * dot / (double)C);
        for (int64_t i = 0; i < C; i++) dt[i] += a * gt[i] * w[i] - b * xt[i];
    }
}

void paw_layernorm_backward(float *dx, const float *dy, const float *x, const float *w,
                            int64_t T, int64_t C, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xt = x + t * C, *gt = dy + t * C;
        float *dt = dx + t * C;
        double sum = 0;
        for (int64_t i = 0; i < C; i++) sum += xt[i];
        const double mean = sum / (double)C;
        double var = 0;
        for (int64_t i = 0; i < C; i++) var += (xt[i] - mean) * (xt[i] - mean);
        const double r = 1.0 / sqrt(var / (double)C + eps);
        /* With xh = (x - mean) r and g = dy w:
         * dx = r (g - mean(g) - xh mean(g xh)). */
        double mg = 0, mgx = 0;
        for (int64_t i = 0; i < C; i++) {
            const double g = (double)gt[i] * w[i], xh = (xt[i] - mean) * r;
            mg += g;
            mgx += g * xh;
        }
        mg /= (double)C;
        mgx /= (double)C;
        for (int64_t i = 0; i < C; i++) {
            const double g = (double)gt[i] * w[i], xh = (xt[i] - mean) * r;
            dt[i] += (float)(r * (g - mg - xh * mgx));
        }
    }
}

void paw_rope_backward(float *dx, const float *cs, int64_t T, int n_heads, int head_dim,
                       int n_rot, int mode)
{
    const int half = n_rot / 2;
    for (int64_t t = 0; t < T; t++) {
        const float *row = cs + t * half * 2;
        for (int h = 0; h < n_heads; h++) {
            float *v = dx + (t * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                const int a = mode == PAW_ROPE_NEOX ? i : 2 * i;
                const int b = mode == PAW_ROPE_NEOX ? i + half : 2 * i + 1;
                const float c = row[2 * i], s = row[2 * i + 1];
                const float g0 = v[a], g1 = v[b];
                /* The forward rotation is orthogonal: its transpose undoes it. */
                v[a] = g0 * c + g1 * s;
                v[b] = -g0 * s + g1 * c;
            }
        }
    }
}

void paw_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                         const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], sg = 1.0f / (1.0f + expf(-g));
        dgate[i] += dout[i] * up[i] * sg * (1.0f + g * (1.0f - sg));
        dup[i] += dout[i] * g * sg;
    }
}

void paw_gelu_backward(float *dx, const float *dout, const float *x, int64_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], u = k * v * (1.0f + 0.044715f * v * v);
        const float th = tanhf(u), du = k * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du);
    }
}

/* --------------------------------------------------------------- attention */

static inline int64_t n_keys(const paw_attn_span *sp, int64_t t)
{
    return sp->pre_end + (sp->own_start <= t ? t - sp->own_start + 1 : 0);
}

/* Key index of the j-th key a token sees (prefix range, then its own). */
static inline int64_t key_at(const paw_attn_span *sp, int64_t j)
{
    return j < sp->pre_end ? j : sp->own_start + (j - sp->pre_end);
}

typedef struct attn_train_job {
    float *out, *probs, *dq, *dk, *dv, *scratch;
    const float *dout, *cprobs, *q, *k, *v;
    const paw_attn_span *span;
    const int64_t *poff;
    const paw_attn_shape *s;
} attn_train_job;

static void attn_fwd_task(void *arg, int ith, int nth)
{
    const attn_train_job *j = arg;
    const paw_attn_shape *s = j->s;
    const int group = s->n_head / s->n_head_kv, hd = s->head_dim, dv = s->head_dim_v;
    const int64_t qd = (int64_t)s->n_head * hd, kd = (int64_t)s->n_head_kv * hd;
    const int64_t vd = (int64_t)s->n_head_kv * dv, od = (int64_t)s->n_head * dv;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int64_t item = ith; item < s->T * s->n_head; item += nth) {
        const int64_t t = item / s->n_head;
        const int h = (int)(item % s->n_head), kh = h / group;
        const paw_attn_span *sp = &j->span[t];
        const int64_t nk = n_keys(sp, t);
        float *p = j->probs + j->poff[t] + (int64_t)h * nk;
        const float *qh = j->q + t * qd + (int64_t)h * hd;
        float mx = -INFINITY;
        for (int64_t i = 0; i < nk; i++) {
            const float *kp = j->k + key_at(sp, i) * kd + (int64_t)kh * hd;
            float dot = 0;
            for (int d = 0; d < hd; d++) dot += qh[d] * kp[d];
            p[i] = dot * scale;
            mx = p[i] > mx ? p[i] : mx;
        }
        double sum = 0;
        for (int64_t i = 0; i < nk; i++) {
            p[i] = expf(p[i] - mx);
            sum += p[i];
        }
        const float inv = (float)(1.0 / sum);
        float *o = j->out + t * od + (int64_t)h * dv;
        memset(o, 0, (size_t)dv * sizeof(float));
        for (int64_t i = 0; i < nk; i++) {
            p[i] *= inv;
            const float *vp = j->v + key_at(sp, i) * vd + (int64_t)kh * dv;
            for (int d = 0; d < dv; d++) o[d] += p[i] * vp[d];
        }
    }
}

void paw_attention_train_forward(paw_pool *p, float *out, float *probs, const float *q,
                                 const float *k, const float *v, const paw_attn_span *span,
                                 const int64_t *poff, const paw_attn_shape *s)
{
    attn_train_job j = { .out = out, .probs = probs, .q = q, .k = k, .v = v,
                         .span = span, .poff = poff, .s = s };
    paw_pool_run(p, attn_fwd_task, &j);
}

int64_t paw_attention_scratch_floats(int nth, const paw_attn_shape *s)
{
    return (int64_t)nth * s->T * s->n_head_kv * (s->head_dim + s->head_dim_v);
}

/* Items (t, h) are split over threads as in the forward; dq rows belong to
 * one item each, while K/V gradients collect from many queries, so each
 * thread adds into its own copy and the copies are summed afterwards in
 * thread order (deterministic for a given thread count). */
static void attn_bwd_task(void *arg, int ith, int nth)
{
    const attn_train_job *j = arg;
    const paw_attn_shape *s = j->s;
    const int group = s->n_head / s->n_head_kv, hd = s->head_dim, dv = s->head_dim_v;
    const int64_t qd = (int64_t)s->n_head * hd, kd = (int64_t)s->n_head_kv * hd;
    const int64_t vd = (int64_t)s->n_head_kv * dv, od = (int64_t)s->n_head * dv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *dk = j->scratch + (int64_t)ith * s->T * (kd + vd), *dvv = dk + s->T * kd;
    memset(dk, 0, (size_t)(s->T * (kd + vd)) * sizeof(float));
    for (int64_t item = ith; item < s->T * s->n_head; item += nth) {
        const int64_t t = item / s->n_head;
        const int h = (int)(item % s->n_head), kh = h / group;
        const paw_attn_span *sp = &j->span[t];
        const int64_t nk = n_keys(sp, t);
        const float *p = j->cprobs + j->poff[t] + (int64_t)h * nk;
        const float *qh = j->q + t * qd + (int64_t)h * hd;
        const float *go = j->dout + t * od + (int64_t)h * dv;
        float *dqh = j->dq + t * qd + (int64_t)h * hd;
        /* dP_i = do . v_i; dS_i = P_i (dP_i - sum_j P_j dP_j). */
        double dsum = 0;
        for (int64_t i = 0; i < nk; i++) {
            const float *vp = j->v + key_at(sp, i) * vd + (int64_t)kh * dv;
            float dp = 0;
            for (int d = 0; d < dv; d++) dp += go[d] * vp[d];
            dsum += (double)p[i] * dp;
        }
        for (int64_t i = 0; i < nk; i++) {
            const int64_t key = key_at(sp, i);
            const float *vp = j->v + key * vd + (int64_t)kh * dv;
            const float *kp = j->k + key * kd + (int64_t)kh * hd;
            float dp = 0;
            for (int d = 0; d < dv; d++) dp += go[d] * vp[d];
            const float ds = p[i] * (dp - (float)dsum) * scale;
            float *dkp = dk + key * kd + (int64_t)kh * hd, *dvp = dvv + key * vd + (int64_t)kh * dv;
            for (int d = 0; d < hd; d++) {
                dqh[d] += ds * kp[d];
                dkp[d] += ds * qh[d];
            }
            for (int d = 0; d < dv; d++) dvp[d] += p[i] * go[d];
        }
    }
}

typedef struct reduce_job {
    float *dk, *dv;
    const float *scratch;
    int64_t T, kd, vd;
    int nth;
} reduce_job;

static void attn_reduce_task(void *arg, int ith, int nth)
{
    const reduce_job *r = arg;
    const int64_t per = r->kd + r->vd;
    for (int64_t t = ith; t < r->T; t += nth)
        for (int w = 0; w < r->nth; w++) {
            const float *sk = r->scratch + (int64_t)w * r->T * per + t * r->kd;
            const float *sv = r->scratch + (int64_t)w * r->T * per + r->T * r->kd + t * r->vd;
            for (int64_t i = 0; i < r->kd; i++) r->dk[t * r->kd + i] += sk[i];
            for (int64_t i = 0; i < r->vd; i++) r->dv[t * r->vd + i] += sv[i];
        }
}

void paw_attention_train_backward(paw_pool *p, float *dq, float *dk, float *dv, const float *dout,
                                  const float *probs, const float *q, const float *k,
                                  const float *v, const paw_attn_span *span, const int64_t *poff,
                                  const paw_attn_shape *s, float *scratch)
{
    attn_train_job j = { .dq = dq, .scratch = scratch, .dout = dout, .cprobs = probs,
                         .q = q, .k = k, .v = v, .span = span, .poff = poff, .s = s };
    paw_pool_run(p, attn_bwd_task, &j);
    reduce_job r = { .dk = dk, .dv = dv, .scratch = scratch, .T = s->T,
                     .kd = (int64_t)s->n_head_kv * s->head_dim,
                     .vd = (int64_t)s->n_head_kv * s->head_dim_v, .nth = paw_pool_size(p) };
    if (!p) r.nth = 1;
    paw_pool_run(p, attn_reduce_task, &r);
}

/* ------------------------------------------------------ dX = dY · W */

/* Rows of W per panel and columns per strip: a 32 x 256 f32 panel (32 KB)
 * stays in L1/L2 while every token's row of dY sweeps it. */
#define PANEL_ROWS 32
#define STRIP_COLS 256

typedef struct mmb_job {
    float *dX;
    const uint8_t *W;
    const float *dY;
    const paw_type_traits *tt;
    size_t w_row;
    int64_t rows, n_in, T, bs, n_strips, strip;
    int accumulate;
} mmb_job;

/* Threads own disjoint column strips of dX, so no reduction is needed and
 * the result does not depend on the thread count. */
static void mmb_task(void *arg, int ith, int nth)
{
    const mmb_job *j = arg;
    float panel[PANEL_ROWS * STRIP_COLS];
    for (int64_t si = ith; si < j->n_strips; si += nth) {
        const int64_t c0 = si * j->strip, cw = PAW_MIN(j->strip, j->n_in - c0);
        if (!j->accumulate)
            for (int64_t t = 0; t < j->T; t++) memset(j->dX + t * j->n_in + c0, 0, (size_t)cw * sizeof(float));
        for (int64_t r0 = 0; r0 < j->rows; r0 += PANEL_ROWS) {
            const int64_t nr = PAW_MIN(PANEL_ROWS, j->rows - r0);
            const size_t off = (size_t)(c0 / j->bs) * j->tt->block_bytes;
            for (int64_t r = 0; r < nr; r++)
                j->tt->to_float(j->W + (size_t)(r0 + r) * j->w_row + off, panel + r * STRIP_COLS, cw);
            for (int64_t t = 0; t < j->T; t++) {
                const float *gy = j->dY + t * j->rows + r0;
                float *dx = j->dX + t * j->n_in + c0;
                for (int64_t r = 0; r < nr; r++) {
                    const float g = gy[r];
                    if (g == 0.0f) continue;   /* masked rows are common */
                    const float *wr = panel + r * STRIP_COLS;
                    for (int64_t c = 0; c < cw; c++) dx[c] += g * wr[c];
                }
            }
        }
    }
}

void paw_matmul_backward(paw_pool *p, float *dX, const void *W, int type, int64_t rows,
                         int64_t n_in, const float *dY, int64_t T, int accumulate)
{
    const paw_type_traits *tt = paw_type_get(type);
    mmb_job j = { .dX = dX, .W = W, .dY = dY, .tt = tt, .w_row = paw_type_row_bytes(type, n_in),
                  .rows = rows, .n_in = n_in, .T = T, .bs = tt->block_size, .accumulate = accumulate };
    /* Strips are whole blocks wide (256 is a multiple of 32 and 256). */
    j.strip = n_in < STRIP_COLS ? n_in : STRIP_COLS;
    j.n_strips = (n_in + j.strip - 1) / j.strip;
    paw_pool_run(p, mmb_task, &j);
}

/* ------------------------------------------------- outer accumulation */

typedef struct outer_job {
    float *G;
    const float *A, *B;
    int64_t ro, cj, T;
    float s;
} outer_job;

/* Split over rows of G when there are many (dB), else over column ranges
 * (dA has r rows and d_in columns); either way each G entry has one owner
 * and is summed over t in order. */
static void outer_task(void *arg, int ith, int nth)
{
    const outer_job *j = arg;
    const int by_rows = j->ro >= j->cj;
    const int64_t n = by_rows ? j->ro : j->cj;
    const int64_t lo = n * ith / nth, hi = n * (ith + 1) / nth;
    const int64_t o0 = by_rows ? lo : 0, o1 = by_rows ? hi : j->ro;
    const int64_t c0 = by_rows ? 0 : lo, c1 = by_rows ? j->cj : hi;
    for (int64_t o = o0; o < o1; o++) {
        float *g = j->G + o * j->cj;
        for (int64_t t = 0; t < j->T; t++) {
            const float a = j->s * j->A[t * j->ro + o];
            if (a == 0.0f) continue;
            const float *b = j->B + t * j->cj;
            for (int64_t c = c0; c < c1; c++) g[c] += a * b[c];
        }
    }
}

void paw_outer_accumulate(paw_pool *p, float *G, const float *A, int64_t ro, const float *B,
                          int64_t cj, int64_t T, float s)
{
    outer_job j = { .G = G, .A = A, .B = B, .ro = ro, .cj = cj, .T = T, .s = s };
    paw_pool_run(p, outer_task, &j);
}
