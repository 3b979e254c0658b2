/* lora_grad.c — the LoRA path of an adapted projection, forward and
 * backward, on the register-tiled kernel of attention (paw_gemm_acc).
 *
 * The products are thin (rank r = 4..64 against d = 576..1536), so a generic
 * matmul splits them badly (8 output rows are one chunk: one thread) and
 * leaves the scale and the add to the frozen output as serial passes.  Here
 * the token-wise products (u = x Aᵀ, y += s u Bᵀ, du = s dY B, dX += du A)
 * run over chunks of tokens, and the weight gradients (dA = duᵀ x,
 * dB = s dYᵀ u) over chunks of columns, each in one pool run.  Every output
 * element has one owner and a fixed order of additions, so results do not
 * depend on the thread count. */
#include <string.h>
#include "core/common.h"
#include "train/train.h"

/* Tokens per work item (a multiple of the kernel's 6-row tile) and columns
 * per weight-gradient item. */
#define TOK_CHUNK 48
#define COL_CHUNK 64

typedef struct lora_job {
    float *y, *uw, *dX, *du, *gA, *gB, *scr;
    const float *x, *dY, *A, *B, *At, *Bts, *add, *u;
    int64_t T, n_in, rows, r, n_a;
    float s;
} lora_job;

/* Per chunk c of tokens: u = x Aᵀ, y += u (s Bᵀ). */
static void fwd_item(void *arg, int64_t c, int ith)
{
    const lora_job *j = arg;
    (void)ith;
    const int64_t t0 = c * TOK_CHUNK, nt = PAW_MIN(TOK_CHUNK, j->T - t0);
    float *u = j->uw + t0 * j->r;
    paw_gemm_acc(u, j->r, j->x + t0 * j->n_in, j->n_in, 1, j->At, j->r, nt, j->r, j->n_in, 0);
    paw_gemm_acc(j->y + t0 * j->rows, j->rows, u, j->r, 1, j->Bts, j->rows, nt, j->rows, j->r, 1);
}

void paw_lora_forward(paw_pool *p, float *y, float *u, const float *x, const float *A,
                      const float *B, int64_t T, int64_t n_in, int64_t rows, int r, float s,
                      float *scratch)
{
    /* Aᵀ [n_in][r] and s Bᵀ [r][rows]: the B operands of the two products. */
    float *At = scratch, *Bts = scratch + n_in * r;
    for (int64_t k = 0; k < r; k++)
        for (int64_t i = 0; i < n_in; i++) At[i * r + k] = A[k * n_in + i];
    for (int64_t o = 0; o < rows; o++)
        for (int64_t k = 0; k < r; k++) Bts[k * rows + o] = s * B[o * r + k];
    lora_job j = { .y = y, .uw = u, .x = x, .At = At, .Bts = Bts, .T = T, .n_in = n_in,
                   .rows = rows, .r = r };
    paw_pool_run_items(p, fwd_item, &j, (T + TOK_CHUNK - 1) / TOK_CHUNK);
}

/* Per chunk of tokens: du = s dY B, then dX += add + du A. */
static void bwd_tok_item(void *arg, int64_t c, int ith)
{
    const lora_job *j = arg;
    (void)ith;
    const int64_t t0 = c * TOK_CHUNK, nt = PAW_MIN(TOK_CHUNK, j->T - t0);
    float *du = j->du + t0 * j->r;
    paw_gemm_acc(du, j->r, j->dY + t0 * j->rows, j->rows, 1, j->B, j->r, nt, j->r, j->rows, 0);
    for (int64_t i = 0; i < nt * j->r; i++) du[i] *= j->s;
    if (!j->dX) return;
    float *dX = j->dX + t0 * j->n_in;
    if (j->add) {
        const float *a = j->add + t0 * j->n_in;
        for (int64_t i = 0; i < nt * j->n_in; i++) dX[i] += a[i];
    }
    paw_gemm_acc(dX, j->n_in, du, j->r, 1, j->A, j->n_in, nt, j->n_in, j->r, 1);
}

/* Per chunk of columns: dA[:, c0:c1] += duᵀ x, or dB[o0:o1, :] += s (uᵀ dY)ᵀ
 * (formed transposed in scr so the kernel runs along dY's rows). */
static void bwd_col_item(void *arg, int64_t c, int ith)
{
    const lora_job *j = arg;
    (void)ith;
    if (c < j->n_a) {
        const int64_t c0 = c * COL_CHUNK, nc = PAW_MIN(COL_CHUNK, j->n_in - c0);
        paw_gemm_acc(j->gA + c0, j->n_in, j->du, 1, j->r, j->x + c0, j->n_in, j->r, nc, j->T, 1);
        return;
    }
    const int64_t o0 = (c - j->n_a) * COL_CHUNK, no = PAW_MIN(COL_CHUNK, j->rows - o0);
    paw_gemm_acc(j->scr + o0, j->rows, j->u, 1, j->r, j->dY + o0, j->rows, j->r, no, j->T, 0);
    for (int64_t o = o0; o < o0 + no; o++)
        for (int64_t k = 0; k < j->r; k++) j->gB[o * j->r + k] += j->s * j->scr[k * j->rows + o];
}

void paw_lora_backward(paw_pool *p, float *dX, const float *add, float *du, const float *dY,
                       const float *x, const float *u, const float *A, const float *B,
                       float *gA, float *gB, int64_t T, int64_t n_in, int64_t rows, int r,
                       float s, float *scratch)
{
    lora_job j = { .dX = dX, .add = add, .du = du, .dY = dY, .x = x, .u = u, .A = A, .B = B,
                   .gA = gA, .gB = gB, .scr = scratch, .T = T, .n_in = n_in, .rows = rows, .r = r,
                   .s = s, .n_a = (n_in + COL_CHUNK - 1) / COL_CHUNK };
    paw_pool_run_items(p, bwd_tok_item, &j, (T + TOK_CHUNK - 1) / TOK_CHUNK);
    paw_pool_run_items(p, bwd_col_item, &j, j.n_a + (rows + COL_CHUNK - 1) / COL_CHUNK);
}
