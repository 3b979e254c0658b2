/* backward.c — the backward twin of every layer function of forward.c, the
 * training attention, and the two products of a backward pass.
 *
 * Norm statistics are recomputed from the saved input instead of being
 * stored: it costs one pass over a row and keeps the activation plan small.
 * Sums that feed a normalisation are taken in double, as the forward does. */
#include <math.h>
#include <stdlib.h>
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

static float dot_scalar(const float *a, const float *b, int64_t n)
{
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_scalar(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

typedef void (*axpy_fn)(float *, float, const float *, int64_t);
static axpy_fn pick_axpy(void) { return paw_cpu_avx2() ? paw_axpy_avx2 : axpy_scalar; }

#define ATT_DOT(a, b, n) dot_scalar(a, b, n)
#define ATT_AXPY(y, a, x, n) axpy_scalar(y, a, x, n)
#define ATT_NAME(name) name##_scalar
#include "train/attn_train.inc"

void paw_attention_train_forward(paw_pool *p, float *out, float *probs, const float *q,
                                 const float *k, const float *v, const paw_attn_span *span,
                                 const int64_t *poff, const paw_attn_shape *s)
{
    attn_train_job j = { .out = out, .probs = probs, .q = q, .k = k, .v = v,
                         .span = span, .poff = poff, .s = s };
    paw_pool_run(p, paw_cpu_avx2() ? paw_attn_fwd_task_avx2 : attn_fwd_task_scalar, &j);
}

int64_t paw_attention_scratch_floats(int nth, const paw_attn_shape *s)
{
    /* per thread: K and V gradient copies, then a block of dS rows;
     * shared: the block table (2 ints per row at most) */
    return (int64_t)nth * s->T * s->n_head_kv * (s->head_dim + s->head_dim_v) +
           (int64_t)nth * ATT_BLOCK * s->T + 2 * s->T + 2;
}

/* Is the span of row t that of a prefix row (it sees the rows up to itself
 * through pre_end and has no own segment)? */
static inline int is_prefix_row(const paw_attn_span *sp, int64_t t)
{
    return sp->pre_end == t + 1 && sp->own_start == t + 1;
}

/* Fills blk[2*i], blk[2*i+1] = first, end row of block i; returns the count. */
static int64_t attn_blocks(int32_t *blk, const paw_attn_span *span, int64_t T)
{
    int64_t n = 0;
    for (int64_t t = 0; t < T; t++) {
        const int same = n && t - blk[2 * n - 2] < ATT_BLOCK &&
                         (is_prefix_row(&span[t], t) ? is_prefix_row(&span[t - 1], t - 1)
                                                     : span[t].own_start == span[t - 1].own_start &&
                                                       span[t].pre_end == span[t - 1].pre_end);
        if (same) { blk[2 * n - 1] = (int32_t)t + 1; continue; }
        blk[2 * n] = (int32_t)t;
        blk[2 * n + 1] = (int32_t)t + 1;
        n++;
    }
    return n;
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
    const int nth = p ? paw_pool_size(p) : 1;
    const int64_t kv_floats = (int64_t)nth * s->T * s->n_head_kv * (s->head_dim + s->head_dim_v);
    int32_t *blocks = (int32_t *)(scratch + kv_floats + (int64_t)nth * ATT_BLOCK * s->T);
    attn_train_job j = { .dq = dq, .scratch = scratch, .dout = dout, .cprobs = probs,
                         .q = q, .k = k, .v = v, .span = span, .poff = poff, .s = s,
                         .dp_row = scratch + kv_floats, .dp_stride = ATT_BLOCK * s->T,
                         .blocks = blocks, .n_blocks = attn_blocks(blocks, span, s->T) };
    paw_pool_run(p, paw_cpu_avx2() ? paw_attn_bwd_task_avx2 : attn_bwd_task_scalar, &j);
    reduce_job r = { .dk = dk, .dv = dv, .scratch = scratch, .T = s->T,
                     .kd = (int64_t)s->n_head_kv * s->head_dim,
                     .vd = (int64_t)s->n_head_kv * s->head_dim_v, .nth = nth };
    paw_pool_run(p, attn_reduce_task, &r);
}

/* ------------------------------------------------------ dX = dY · W */

/* Rows of W per panel and columns per strip: a 64 x 128 f32 panel (32 KB)
 * stays in L1/L2 while the tokens' rows of dY sweep it. */
#define PANEL_ROWS 64
#define STRIP_COLS 128

typedef struct mmb_job {
    float *dX;
    const uint8_t *W;
    const float *dY;
    const paw_type_traits *tt;
    size_t w_row;
    int64_t rows, n_in, T, bs, n_strips, strip;
    int accumulate, by_tokens, avx2;
} mmb_job;

/* dX[t][c] += sum_r dY[t][r] P[r][c] over one panel (portable version). */
static void panel_backward(float *dX, int64_t ldx, const float *dY, int64_t ldy, const float *P,
                           int64_t ldp, int64_t T, int64_t nr, int64_t cw)
{
    for (int64_t t = 0; t < T; t++) {
        float *dx = dX + t * ldx;
        for (int64_t r = 0; r < nr; r++) {
            const float g = dY[t * ldy + r];
            const float *wr = P + r * ldp;
            for (int64_t c = 0; c < cw; c++) dx[c] += g * wr[c];
        }
    }
}

/* A thread takes either a range of tokens over every strip (many tokens:
 * even shares, each panel dequantised once per thread) or a set of strips
 * over every token (few tokens).  Each dX element is summed by one thread
 * in the same order either way, so results do not depend on the split. */
static void mmb_task(void *arg, int ith, int nth)
{
    const mmb_job *j = arg;
    float panel[PANEL_ROWS * PAW_QK_K];   /* strip <= max(STRIP_COLS, 256) */
    int64_t t0 = 0, t1 = j->T, s0 = ith, ds = nth;
    if (j->by_tokens) {
        const int64_t groups = (j->T + 5) / 6;   /* whole 6-token tiles per thread */
        t0 = PAW_MIN(j->T, groups * ith / nth * 6);
        t1 = PAW_MIN(j->T, groups * (ith + 1) / nth * 6);
        s0 = 0;
        ds = 1;
        if (t0 >= t1) return;
    }
    for (int64_t si = s0; si < j->n_strips; si += ds) {
        const int64_t c0 = si * j->strip, cw = PAW_MIN(j->strip, j->n_in - c0);
        if (!j->accumulate)
            for (int64_t t = t0; t < t1; t++) memset(j->dX + t * j->n_in + c0, 0, (size_t)cw * sizeof(float));
        for (int64_t r0 = 0; r0 < j->rows; r0 += PANEL_ROWS) {
            const int64_t nr = PAW_MIN(PANEL_ROWS, j->rows - r0);
            const size_t off = (size_t)(c0 / j->bs) * j->tt->block_bytes;
            for (int64_t r = 0; r < nr; r++)
                j->tt->to_float(j->W + (size_t)(r0 + r) * j->w_row + off, panel + r * j->strip, cw);
            float *dx = j->dX + t0 * j->n_in + c0;
            const float *dy = j->dY + t0 * j->rows + r0;
            if (j->avx2) paw_panel_backward_avx2(dx, j->n_in, dy, j->rows, panel, j->strip, t1 - t0, nr, cw);
            else panel_backward(dx, j->n_in, dy, j->rows, panel, j->strip, t1 - t0, nr, cw);
        }
    }
}

void paw_matmul_backward(paw_pool *p, float *dX, const void *W, int type, int64_t rows,
                         int64_t n_in, const float *dY, int64_t T, int accumulate)
{
    const paw_type_traits *tt = paw_type_get(type);
    const int nth = p ? paw_pool_size(p) : 1;
    mmb_job j = { .dX = dX, .W = W, .dY = dY, .tt = tt, .w_row = paw_type_row_bytes(type, n_in),
                  .rows = rows, .n_in = n_in, .T = T, .bs = tt->block_size, .accumulate = accumulate,
                  .by_tokens = T >= 12 * nth, .avx2 = paw_cpu_avx2() };
    /* Strips are whole blocks wide: 128 columns (4 legacy blocks), or one
     * 256-element block for the K-quants. */
    j.strip = n_in < STRIP_COLS ? n_in : STRIP_COLS;
    if (j.strip % j.bs) j.strip = j.bs;
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

/* Split over rows of G when there are many (dB: d_out x r), else over
 * column ranges (dA: r x d_in); either way each G entry has one owner and
 * is summed over t in order.  Rows of dB are only r long, so they are
 * accumulated transposed in a tile (r x 256) where the vector loop runs
 * along A's contiguous rows, then added into G. */
#define OUTER_TILE 256
static void outer_task(void *arg, int ith, int nth)
{
    const outer_job *j = arg;
    const axpy_fn axpy = pick_axpy();
    const int by_rows = j->ro >= j->cj;
    const int64_t n = by_rows ? j->ro : j->cj;
    const int64_t lo = n * ith / nth, hi = n * (ith + 1) / nth;
    if (!by_rows) {
        for (int64_t o = 0; o < j->ro; o++)
            for (int64_t t = 0; t < j->T; t++) {
                const float a = j->s * j->A[t * j->ro + o];
                if (a != 0.0f) axpy(j->G + o * j->cj + lo, a, j->B + t * j->cj + lo, hi - lo);
            }
        return;
    }
    float *tile = malloc(sizeof(float) * (size_t)(j->cj * OUTER_TILE));
    for (int64_t o0 = lo; o0 < hi; o0 += OUTER_TILE) {
        const int64_t ow = PAW_MIN(OUTER_TILE, hi - o0);
        if (!tile) {   /* no memory for the tile: the plain order, same sums */
            for (int64_t o = o0; o < o0 + ow; o++)
                for (int64_t t = 0; t < j->T; t++)
                    axpy(j->G + o * j->cj, j->s * j->A[t * j->ro + o], j->B + t * j->cj, j->cj);
            continue;
        }
        memset(tile, 0, sizeof(float) * (size_t)(j->cj * ow));
        for (int64_t t = 0; t < j->T; t++)
            for (int64_t c = 0; c < j->cj; c++)
                axpy(tile + c * ow, j->B[t * j->cj + c], j->A + t * j->ro + o0, ow);
        for (int64_t o = 0; o < ow; o++)
            for (int64_t c = 0; c < j->cj; c++) j->G[(o0 + o) * j->cj + c] += j->s * tile[c * ow + o];
    }
    free(tile);
}

void paw_outer_accumulate(paw_pool *p, float *G, const float *A, int64_t ro, const float *B,
                          int64_t cj, int64_t T, float s)
{
    outer_job j = { .G = G, .A = A, .B = B, .ro = ro, .cj = cj, .T = T, .s = s };
    paw_pool_run(p, outer_task, &j);
}
