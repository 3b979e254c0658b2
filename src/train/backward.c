/* backward.c — the backward twin of every layer function of forward.c, the
 * f32 dX = dY·W from a frozen W's own blocks, and the small dense product
 * (paw_gemm_acc) that attention.c and lora_grad.c are built on.
 *
 * Norm statistics are recomputed from the saved input instead of being
 * stored: it costs one pass over a row and keeps the activation plan small.
 * Sums that feed a normalisation are taken in double, as the forward does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/cpu.h"
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

/* ------------------------------------------------ small dense products */

static void gemm_acc_scalar(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                            const float *B, int64_t ldb, int64_t nt, int64_t nc, int64_t nr,
                            int acc)
{
    for (int64_t t = 0; t < nt; t++)
        for (int64_t c = 0; c < nc; c++) {
            float x = acc ? C[t * ldc + c] : 0.0f;
            for (int64_t r = 0; r < nr; r++) x = fmaf(A[t * as + r * ar], B[r * ldb + c], x);
            C[t * ldc + c] = x;
        }
}

void paw_gemm_acc(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar, const float *B,
                  int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc)
{
    if (paw_cpu_simd() == PAW_SIMD_AVX512) paw_gemm_acc_avx512(C, ldc, A, as, ar, B, ldb, nt, nc, nr, acc);
    else if (paw_cpu_avx2()) paw_gemm_acc_avx2(C, ldc, A, as, ar, B, ldb, nt, nc, nr, acc);
    else gemm_acc_scalar(C, ldc, A, as, ar, B, ldb, nt, nc, nr, acc);
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
