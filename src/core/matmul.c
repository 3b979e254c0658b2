/* matmul.c — paw_matmul: Y = X W^T for W of any type, split across the pool.
 *
 * Per call: X is quantised once to W's activation type (in parallel when T is
 * large), then threads take chunks of rows one at a time (paw_pool_run_items;
 * dynamic: on a shared 2-core machine one thread is often descheduled for a
 * while, and then the other does its chunks instead of waiting for it).  Each chunk computes all T
 * tokens, so its weight rows are read from memory once and then reused from
 * cache; the gemm kernel tiles rows x tokens in registers. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/kernels.h"
#include "core/matmul.h"

paw_kernel paw_kernel_scalar(int type)
{
    const paw_type_traits *t = paw_type_get(type);
    paw_kernel k = { t ? t->vec_dot : NULL, NULL };
    return k;
}

paw_kernel paw_kernel_level(int type, int level)
{
    paw_kernel k = paw_kernel_scalar(type), v = { NULL, NULL };
    switch (level) {
    case PAW_SIMD_AVX2: v = paw_simd_kernel_avx2(type); break;
    case PAW_SIMD_AVXVNNI: v = paw_simd_kernel_avxvnni(type); break;
    case PAW_SIMD_AVX512: v = paw_simd_kernel_avx512(type); break;
    default: break;
    }
    if (v.vec_dot) k.vec_dot = v.vec_dot;
    if (v.gemm) k.gemm = v.gemm;
    return k;
}

paw_kernel paw_kernel_for(int type) { return paw_kernel_level(type, paw_cpu_simd()); }

/* Each kernel set quantises activations as the ggml build it follows does:
 * the SIMD ones like ggml's AVX2 quantisers (127/amax, nearest even; ggml's
 * AVX-512 builds use the same code), the scalar one like ggml's plain C
 * build (its reference quantisers). */
paw_from_float_fn paw_act_quantizer(int act_type)
{
    const int l = paw_cpu_simd();
    switch (act_type) {
    case PAW_TYPE_Q8_0:
        return l == PAW_SIMD_AVX512 ? paw_quantize_row_q8_0_avx512
             : l == PAW_SIMD_AVXVNNI ? paw_quantize_row_q8_0_avxvnni
             : l == PAW_SIMD_AVX2 ? paw_quantize_row_q8_0_avx2 : paw_quantize_row_q8_0_ref;
    case PAW_TYPE_Q8_1:
        return l == PAW_SIMD_AVX512 ? paw_quantize_row_q8_1_avx512
             : l == PAW_SIMD_AVXVNNI ? paw_quantize_row_q8_1_avxvnni
             : l == PAW_SIMD_AVX2 ? paw_quantize_row_q8_1_avx2 : paw_quantize_row_q8_1_ref;
    case PAW_TYPE_Q8_K: return paw_quantize_row_q8_K;
    default: return NULL;
    }
}

/* ---------------------------------------------------- activation quant */

typedef struct {
    paw_from_float_fn quant;
    const float *X;
    uint8_t     *A;
    int64_t      n_in, T;
    size_t       a_row;
} quant_task;

static void quant_item(void *ctx, int64_t t, int ith)
{
    quant_task *q = ctx;
    (void)ith;
    q->quant(q->X + t * q->n_in, q->A + (size_t)t * q->a_row, q->n_in);
}

/* ------------------------------------------------------------ the product */

/* One matrix of a call, with its share of the chunk numbering. */
typedef struct {
    paw_kernel     k;
    const uint8_t *W;
    size_t         w_row;
    float         *Y;
    int64_t        rows;
    int64_t        first;   /* number of its first chunk                   */
} mm_part;

typedef struct {
    mm_part        part[PAW_MM_MAX_PARTS];
    int            n_parts;
    const uint8_t *A;       /* activations: quantised rows, or X itself   */
    size_t         a_row;
    int64_t        n_in, T;
    int64_t        chunk;   /* rows per work item                          */
    int64_t        n_chunks;
} mm_task;

/* Tokens per gemm call: bounds the activation slice one chunk sweeps so it
 * stays in L2 while the chunk's weight rows are re-read from L1. */
#define TOKEN_BLOCK 64

static void mm_chunk(const mm_task *m, int64_t c)
{
    int pi = 0;
    while (pi + 1 < m->n_parts && c >= m->part[pi + 1].first) pi++;
    const mm_part *p = &m->part[pi];
    int64_t r0 = (c - p->first) * m->chunk, r1 = PAW_MIN(p->rows, r0 + m->chunk);
    const uint8_t *w = p->W + (size_t)r0 * p->w_row;
    /* With a gemm kernel, decode goes through it too (one token, several
     * rows per pass): its outputs are bit-identical to prefill's whatever
     * the tile shape, because each output keeps its own accumulator. */
    if (m->T == 1 && !p->k.gemm) {
        for (int64_t r = r0; r < r1; r++, w += p->w_row) p->k.vec_dot(m->n_in, &p->Y[r], w, m->A);
        return;
    }
    for (int64_t t0 = 0; t0 < m->T; t0 += TOKEN_BLOCK) {
        int nc = (int)PAW_MIN(TOKEN_BLOCK, m->T - t0);
        const uint8_t *a = m->A + (size_t)t0 * m->a_row;
        float *y = p->Y + t0 * p->rows + r0;
        if (p->k.gemm) {
            p->k.gemm(m->n_in, (int)(r1 - r0), nc, w, p->w_row, a, m->a_row, y, (size_t)p->rows);
            continue;
        }
        for (int64_t r = 0; r < r1 - r0; r++)
            for (int t = 0; t < nc; t++)
                p->k.vec_dot(m->n_in, &y[(size_t)t * p->rows + r], w + (size_t)r * p->w_row,
                             a + (size_t)t * m->a_row);
    }
}

static void mm_item(void *ctx, int64_t c, int ith)
{
    (void)ith;
    mm_chunk(ctx, c);
}

static void fill_nan(float *Y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) Y[i] = NAN;
}

void paw_matmul_multi(paw_pool *p, const paw_mm_part *parts, int n_parts,
                      int64_t n_in, const float *X, int64_t T)
{
    if (T <= 0 || n_parts <= 0) return;
    /* Parts that cannot share one quantised X (or too many) go one by one. */
    int act_type = -1, shared = n_parts <= PAW_MM_MAX_PARTS;
    for (int i = 0; i < n_parts && shared; i++) {
        const paw_type_traits *tt = paw_type_get(parts[i].type);
        int at = tt ? tt->vec_dot_type : -2;
        if (i == 0) act_type = at;
        shared = at == act_type;
    }
    if (!shared) {
        for (int i = 0; i < n_parts; i++) paw_matmul_multi(p, &parts[i], 1, n_in, X, T);
        return;
    }

    mm_task m = { .n_in = n_in, .T = T };
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) {
        const paw_type_traits *tt = paw_type_get(parts[i].type);
        if (parts[i].rows <= 0) continue;
        /* An unknown type or ragged row is a caller bug (types are checked
         * when a model loads); NaN outputs make it impossible to miss. */
        if (!tt || !tt->vec_dot || n_in % tt->block_size) { fill_nan(parts[i].Y, parts[i].rows * T); continue; }
        mm_part *mp = &m.part[m.n_parts++];
        mp->k = paw_kernel_for(parts[i].type);
        mp->W = parts[i].W;
        mp->w_row = paw_type_row_bytes(parts[i].type, n_in);
        mp->Y = parts[i].Y;
        mp->rows = parts[i].rows;
        total += parts[i].rows;
    }
    if (!m.n_parts) return;
    int nth = paw_pool_size(p);

    uint8_t stackbuf[16384] __attribute__((aligned(64)));
    uint8_t *heap = NULL;
    if (act_type == PAW_TYPE_F32) {
        m.A = (const uint8_t *)X;
        m.a_row = (size_t)n_in * sizeof(float);
    } else {
        quant_task q = { paw_act_quantizer(act_type), X, NULL, n_in, T,
                         paw_type_row_bytes(act_type, n_in) };
        size_t need = q.a_row * (size_t)T;
        if (need <= sizeof stackbuf) {
            q.A = stackbuf;
        } else if (!(q.A = heap = aligned_alloc(64, (need + 63) & ~(size_t)63))) {
            for (int i = 0; i < m.n_parts; i++) fill_nan(m.part[i].Y, m.part[i].rows * T);
            return;
        }
        if (T >= 4 && nth > 1) paw_pool_run_items(p, quant_item, &q, T);
        else for (int64_t t = 0; t < T; t++) quant_item(&q, t, 0);
        m.A = q.A;
        m.a_row = q.a_row;
    }

    /* About 4 chunks per thread over all parts for balance, rounded to 16
     * rows so threads' output ranges do not share cache lines; decode chunks
     * at least 64 rows so the weight stream of one thread stays long.  Each
     * part is cut separately (its last chunk may be short). */
    int64_t min_chunk = T == 1 ? 64 : 16;
    int64_t chunk = (total + 4 * nth - 1) / (4 * nth);
    chunk = PAW_MAX(min_chunk, (chunk + 15) / 16 * 16);
    m.chunk = chunk;
    for (int i = 0; i < m.n_parts; i++) {
        m.part[i].first = m.n_chunks;
        m.n_chunks += (m.part[i].rows + chunk - 1) / chunk;
    }
    paw_pool_run_items(nth > 1 ? p : NULL, mm_item, &m, m.n_chunks);
    free(heap);
}

void paw_matmul(paw_pool *p, float *Y, const void *W, int type,
                int64_t rows, int64_t n_in, const float *X, int64_t T)
{
    const paw_mm_part part = { Y, W, type, rows };
    paw_matmul_multi(p, &part, 1, n_in, X, T);
}

void paw_matmul_ref(float *Y, const void *W, int type,
                    int64_t rows, int64_t n_in, const float *X, int64_t T)
{
    const paw_type_traits *tt = paw_type_get(type);
    if (rows <= 0 || T <= 0) return;
    float *w = tt && tt->to_float && n_in % tt->block_size == 0
             ? malloc((size_t)n_in * sizeof(float)) : NULL;
    if (!w) { fill_nan(Y, rows * T); return; }
    size_t w_row = paw_type_row_bytes(type, n_in);
    for (int64_t r = 0; r < rows; r++) {
        tt->to_float((const uint8_t *)W + (size_t)r * w_row, w, n_in);
        for (int64_t t = 0; t < T; t++) {
            const float *x = X + t * n_in;
            double s = 0.0;
            for (int64_t k = 0; k < n_in; k++) s += (double)w[k] * x[k];
            Y[t * rows + r] = (float)s;
        }
    }
    free(w);
}
