/* i8gemm.c — building row-interleaved int8 packs, quantising activations for
 * them, and splitting paw_i8_matmul over the pool (i8gemm.h says why and
 * gives the arithmetic).
 *
 * Pack layout: group g (rows 16g..16g+15) is nb = n/32 consecutive blocks
 * of block_bytes each: dw[16] f32, then mw[16] f32 when has_min (or, when
 * split, the scales of elements 16..31, dw covering 0..15), then the
 * quants as 8 columns of 64 bytes, column k holding rows 0..15's elements
 * 4k..4k+3 (byte 4r + j = row r, element 4k + j) — one vpdpbusd operand.
 * A nibbles pack (4-bit types) stores column k in the low and column k+4 in
 * the high nibbles of 4 such records. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/cpu.h"
#include "core/i8gemm.h"
#include "core/matmul.h"
#include "core/quant.h"

int paw_i8_fast(void) { return paw_cpu_simd() == PAW_SIMD_AVX512; }

static size_t qbase(const paw_i8pack *pk) { return pk->has_min || pk->split ? 128 : 64; }

static uint8_t *block_at(const paw_i8pack *pk, int64_t r, int64_t b)
{
    return pk->data + ((size_t)(r / PAW_I8_ROWS) * (size_t)(pk->n / 32) + (size_t)b) * pk->block_bytes;
}

int paw_i8pack_init(paw_i8pack *pk, int64_t rows, int64_t n, int32_t offset, int second, int nibbles)
{
    memset(pk, 0, sizeof *pk);
    if (rows <= 0 || n <= 0 || n % 32 || second < PAW_I8_PLAIN || second > PAW_I8_SPLIT ||
        (nibbles && (offset < 0 || offset > 15)))
        return paw_err(PAW_EINVAL, "i8pack: shape %lld x %lld (n must be a positive multiple of 32)",
                       (long long)rows, (long long)n);
    pk->rows = rows;
    pk->n = n;
    pk->n_groups = (rows + PAW_I8_ROWS - 1) / PAW_I8_ROWS;
    pk->offset = offset;
    pk->has_min = second == PAW_I8_MIN;
    pk->split = second == PAW_I8_SPLIT;
    pk->nibbles = nibbles != 0;
    pk->block_bytes = (second ? 128 : 64) + (nibbles ? 4 : 8) * 64;
    const size_t bytes = (size_t)pk->n_groups * (size_t)(n / 32) * pk->block_bytes;
    if (!(pk->data = aligned_alloc(64, bytes)))
        return paw_err(PAW_ENOMEM, "i8pack: out of memory for %zu MB", bytes >> 20);
    /* Scales 0 (so padding rows give 0); quants = offset (value 0). */
    const int fill = nibbles ? offset | offset << 4 : offset & 0xFF;
    for (size_t o = 0; o < bytes; o += pk->block_bytes) {
        memset(pk->data + o, 0, qbase(pk));
        memset(pk->data + o + qbase(pk), fill, pk->block_bytes - qbase(pk));
    }
    return PAW_OK;
}

void paw_i8pack_free(paw_i8pack *pk)
{
    if (!pk) return;
    free(pk->data);
    memset(pk, 0, sizeof *pk);
}

/* Row r's block b gets scale d, its second value (minimum, or the scale of
 * elements 16..31) and the 32 u8 quants u. */
static void put_block(paw_i8pack *pk, int64_t r, int64_t b, float d, float second, const uint8_t *u)
{
    uint8_t *blk = block_at(pk, r, b);
    const int lane = (int)(r % PAW_I8_ROWS);
    memcpy(blk + 4 * lane, &d, 4);
    if (pk->has_min || pk->split) memcpy(blk + 64 + 4 * lane, &second, 4);
    uint8_t *q = blk + qbase(pk);
    if (pk->nibbles)
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++) q[64 * k + 4 * lane + j] = (uint8_t)(u[4 * k + j] | u[4 * k + 16 + j] << 4);
    else
        for (int k = 0; k < 8; k++) memcpy(q + 64 * k + 4 * lane, u + 4 * k, 4);
}

/* The u8 quant of row `lane`'s element e in block blk. */
static int quant_at(const paw_i8pack *pk, const uint8_t *blk, int lane, int e)
{
    const uint8_t *q = blk + qbase(pk);
    const int k = e / 4, j = e % 4;
    if (!pk->nibbles) return q[64 * k + 4 * lane + j];
    return (q[64 * (k % 4) + 4 * lane + j] >> (k >= 4 ? 4 : 0)) & 0xF;
}

void paw_i8pack_set_q8_0(paw_i8pack *pk, int64_t r, int64_t b, const void *q8_0_block)
{
    const paw_block_q8_0 *blk = q8_0_block;
    uint8_t u[32];
    for (int j = 0; j < 32; j++) u[j] = (uint8_t)(blk->qs[j] + 128);
    put_block(pk, r, b, paw_f16_to_f32(blk->d), 0.0f, u);
}

/* The u8 quants (0..15 or 0..31) of a Q4/Q5 block's nibbles and 5th bits. */
static void nibbles(const uint8_t *qs, uint32_t qh, int has_qh, uint8_t *u)
{
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 0xF;
        u[j + 16] = qs[j] >> 4;
    }
    if (has_qh)
        for (int j = 0; j < 32; j++) u[j] |= (uint8_t)(((qh >> j) & 1) << 4);
}

/* Elements 32j..32j+31 of a K-quant super-block: u8 quants, scale and
 * second value, each product exact in f32 (an f16 times a 6- or 8-bit
 * integer), as the type's dequantiser forms it. */
static void k_block(int type, const uint8_t *sb, int j, uint8_t *u, float *d, float *second)
{
    if (type == PAW_TYPE_Q6_K) {
        const paw_block_q6_K *b = (const void *)sb;
        const int h = j / 4, k = j % 4;
        const uint8_t *ql = b->ql + 64 * h + (k & 1) * 32, *qh = b->qh + 32 * h;
        const float d0 = paw_f16_to_f32(b->d);
        *d = d0 * (float)b->scales[8 * h + 2 * k];
        *second = d0 * (float)b->scales[8 * h + 2 * k + 1];
        for (int l = 0; l < 32; l++)
            u[l] = (uint8_t)(((k < 2 ? ql[l] & 0xF : ql[l] >> 4)) | (((qh[l] >> (2 * k)) & 3) << 4));
        return;
    }
    /* Q4_K / Q5_K: x = d*sc_j * q - dmin*m_j */
    const paw_block_q4_K *b4 = (const void *)sb;
    const paw_block_q5_K *b5 = (const void *)sb;
    const uint8_t *scales = type == PAW_TYPE_Q4_K ? b4->scales : b5->scales;
    const uint8_t *q = (type == PAW_TYPE_Q4_K ? b4->qs : b5->qs) + 32 * (j / 2);
    uint8_t sc, m;
    paw_k_scale_min(j, scales, &sc, &m);
    *d = paw_f16_to_f32(b4->d) * (float)sc;
    *second = -(paw_f16_to_f32(b4->dmin) * (float)m);
    for (int l = 0; l < 32; l++) {
        u[l] = j & 1 ? q[l] >> 4 : q[l] & 0xF;
        if (type == PAW_TYPE_Q5_K) u[l] |= (uint8_t)(((b5->qh[l] >> j) & 1) << 4);
    }
}

int paw_i8pack_type_ok(int type)
{
    switch (type) {
    case PAW_TYPE_Q4_0: case PAW_TYPE_Q4_1: case PAW_TYPE_Q5_0: case PAW_TYPE_Q5_1: case PAW_TYPE_Q8_0:
    case PAW_TYPE_Q4_K: case PAW_TYPE_Q5_K: case PAW_TYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

int paw_i8pack_from_rows(paw_i8pack *pk, const void *W, int type, int64_t rows, int64_t n)
{
    int32_t offset = 0;
    int second = PAW_I8_PLAIN;
    switch (type) {
    case PAW_TYPE_Q4_0: offset = 8; break;
    case PAW_TYPE_Q5_0: offset = 16; break;
    case PAW_TYPE_Q8_0: offset = 128; break;
    case PAW_TYPE_Q6_K: offset = 32; second = PAW_I8_SPLIT; break;
    case PAW_TYPE_Q4_1: case PAW_TYPE_Q5_1: case PAW_TYPE_Q4_K: case PAW_TYPE_Q5_K: second = PAW_I8_MIN; break;
    default:
        memset(pk, 0, sizeof *pk);
        return paw_err(PAW_EUNSUPPORTED, "i8pack: no int8 pack of %s weights", paw_type_name(type));
    }
    const paw_type_traits *tt = paw_type_get(type);
    if (n % tt->block_size) {
        memset(pk, 0, sizeof *pk);
        return paw_err(PAW_EINVAL, "i8pack: %s rows of %lld elements", paw_type_name(type), (long long)n);
    }
    /* 4-bit quants (u <= 15) are stored two to a byte: the pack is then
     * hardly larger than the GGUF rows, which keeps decode as fast. */
    const int nib = type == PAW_TYPE_Q4_0 || type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q4_K;
    int rc = paw_i8pack_init(pk, rows, n, offset, second, nib);
    if (rc) return rc;
    const size_t row_bytes = paw_type_row_bytes(type, n), bsz = tt->block_bytes;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)W + (size_t)r * row_bytes;
        for (int64_t b = 0; b < n / 32; b++) {
            uint8_t u[32];
            float d, sec = 0.0f;
            if (tt->block_size == PAW_QK_K) {
                k_block(type, row + (size_t)(b / 8) * bsz, (int)(b % 8), u, &d, &sec);
                put_block(pk, r, b, d, sec, u);
                continue;
            }
            const uint8_t *p = row + (size_t)b * bsz;
            d = paw_f16_to_f32(paw_ld_u16(p));
            switch (type) {
            case PAW_TYPE_Q8_0: paw_i8pack_set_q8_0(pk, r, b, p); continue;
            case PAW_TYPE_Q4_0: nibbles(p + 2, 0, 0, u); break;
            case PAW_TYPE_Q4_1: sec = paw_f16_to_f32(paw_ld_u16(p + 2)); nibbles(p + 4, 0, 0, u); break;
            case PAW_TYPE_Q5_0: nibbles(p + 6, paw_ld_u32(p + 2), 1, u); break;
            default: sec = paw_f16_to_f32(paw_ld_u16(p + 2)); nibbles(p + 8, paw_ld_u32(p + 4), 1, u); break;
            }
            put_block(pk, r, b, d, sec, u);
        }
    }
    return PAW_OK;
}

/* ------------------------------------------------------- activations */

/* Token rows of X as paw_i8act blocks.  Each row is first quantised as
 * Q8_0 into the tail of its own act area (nb * 34 of its nb * 48 bytes),
 * then unfolded in place from the front: act block b ends at 48(b+1), at
 * or before where Q8_0 block b+1 starts (14 nb + 34(b+1)), so no block is
 * overwritten before it is read. */
typedef struct act_job {
    const float *X;
    paw_i8act *A;
    int64_t n;
    paw_from_float_fn quantize;
} act_job;

static void act_item(void *ctx, int64_t t, int ith)
{
    (void)ith;
    const act_job *j = ctx;
    const int64_t nb = j->n / 32;
    paw_i8act *out = j->A + t * nb;
    uint8_t *q8 = (uint8_t *)out + (size_t)nb * (sizeof(paw_i8act) - sizeof(paw_block_q8_0));
    j->quantize(j->X + t * j->n, q8, j->n);
    for (int64_t b = 0; b < nb; b++) {
        paw_block_q8_0 blk;
        memcpy(&blk, q8 + (size_t)b * sizeof blk, sizeof blk);
        int32_t sum = 0, sum_lo = 0;
        for (int k = 0; k < 32; k++) sum += blk.qs[k];
        for (int k = 0; k < 16; k++) sum_lo += blk.qs[k];
        paw_i8act a = { .d = paw_f16_to_f32(blk.d), .sum = sum, .sum_lo = sum_lo };
        a.s = a.d * (float)sum;
        memcpy(a.q, blk.qs, 32);
        out[b] = a;
    }
}

_Static_assert(sizeof(paw_i8act) == 48 && sizeof(paw_block_q8_0) == 34, "act unfolding sizes");

/* Where the pack kernel runs, one pass straight into paw_i8act blocks
 * (the same quants and scale as the unfolding above). */
static void act_item_fast(void *ctx, int64_t t, int ith)
{
    (void)ith;
    const act_job *j = ctx;
    paw_quantize_row_i8act_avx512(j->X + t * j->n, j->A + t * (j->n / 32), j->n);
}

static paw_i8act *quantize_acts(paw_pool *p, int64_t n, const float *X, int64_t T)
{
    const size_t bytes = (size_t)T * (size_t)(n / 32) * sizeof(paw_i8act);
    paw_i8act *A = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!A) return NULL;
    act_job aj = { X, A, n, paw_act_quantizer(PAW_TYPE_Q8_0) };
    paw_item_fn fn = paw_i8_fast() ? act_item_fast : act_item;
    if (T >= 4 && paw_pool_size(p) > 1) paw_pool_run_items(p, fn, &aj, T);
    else for (int64_t t = 0; t < T; t++) fn(&aj, t, 0);
    return A;
}

/* ----------------------------------------------------------- product */

#define TOKEN_CHUNK 64   /* tokens per item: their act rows stay in L2   */
#define TILE_TOKENS 8    /* tokens per register tile (i8gemm_avx512.c)   */

/* Items: for each part, its group chunks x the token chunks (token chunk
 * fastest); part i's items start at first[i]. */
typedef struct mm_job {
    const paw_i8pack *pk[PAW_I8_MAX_PARTS];
    float *Y[PAW_I8_MAX_PARTS];
    int64_t first[PAW_I8_MAX_PARTS + 1];
    int n_parts;
    const paw_i8act *A;
    int64_t T, n_tchunks, gchunk;
} mm_job;

static unsigned group_mask(const paw_i8pack *pk, int64_t g)
{
    const int64_t left = pk->rows - g * PAW_I8_ROWS;
    return left >= PAW_I8_ROWS ? 0xFFFFu : (1u << left) - 1u;
}

static void mm_item(void *ctx, int64_t item, int ith)
{
    (void)ith;
    const mm_job *j = ctx;
    int pi = 0;
    while (item >= j->first[pi + 1]) pi++;
    const paw_i8pack *pk = j->pk[pi];
    const int64_t it = item - j->first[pi], nb = pk->n / 32;
    const int64_t t0 = (it % j->n_tchunks) * TOKEN_CHUNK, t1 = PAW_MIN(j->T, t0 + TOKEN_CHUNK);
    const int64_t g0 = (it / j->n_tchunks) * j->gchunk, g1 = PAW_MIN(pk->n_groups, g0 + j->gchunk);
    for (int64_t g = g0; g < g1; g++)
        for (int64_t t = t0; t < t1; t += TILE_TOKENS)
            paw_i8_tile_avx512(pk, g, j->A + t * nb, (int)PAW_MIN(TILE_TOKENS, t1 - t),
                               j->Y[pi] + t * pk->rows + g * PAW_I8_ROWS, (size_t)pk->rows, group_mask(pk, g));
}

static void fill_nan(float *const *Y, const paw_i8pack *const *pk, int n_parts, int64_t T)
{
    for (int i = 0; i < n_parts; i++)
        for (int64_t k = 0; k < T * pk[i]->rows; k++) Y[i][k] = NAN;
}

void paw_i8_matmul_multi(paw_pool *p, float *const *Y, const paw_i8pack *const *pk, int n_parts,
                         const float *X, int64_t T)
{
    if (T <= 0 || n_parts <= 0) return;
    if (!paw_i8_fast() || n_parts > PAW_I8_MAX_PARTS) {
        for (int i = 0; i < n_parts; i++) paw_i8_matmul_ref(Y[i], pk[i], X, T);
        return;
    }
    paw_i8act *A = quantize_acts(p, pk[0]->n, X, T);
    if (!A) { fill_nan(Y, pk, n_parts, T); return; }
    /* About 4 items per thread: token chunks first, then each part's groups
     * in chunks of the same size until there are enough. */
    const int nth = paw_pool_size(p);
    mm_job j = { .n_parts = n_parts, .A = A, .T = T, .n_tchunks = (T + TOKEN_CHUNK - 1) / TOKEN_CHUNK };
    int64_t groups = 0;
    for (int i = 0; i < n_parts; i++) groups += pk[i]->n_groups;
    const int64_t want_gchunks = PAW_MAX(1, (4 * nth + j.n_tchunks - 1) / j.n_tchunks);
    j.gchunk = PAW_MAX(1, (groups + want_gchunks - 1) / want_gchunks);
    for (int i = 0; i < n_parts; i++) {
        j.pk[i] = pk[i];
        j.Y[i] = Y[i];
        j.first[i + 1] = j.first[i] + j.n_tchunks * ((pk[i]->n_groups + j.gchunk - 1) / j.gchunk);
    }
    paw_pool_run_items(nth > 1 ? p : NULL, mm_item, &j, j.first[n_parts]);
    free(A);
}

void paw_i8_matmul(paw_pool *p, float *Y, const paw_i8pack *pk, const float *X, int64_t T)
{
    paw_i8_matmul_multi(p, &Y, &pk, 1, X, T);
}

void paw_i8_matmul_ref(float *Y, const paw_i8pack *pk, const float *X, int64_t T)
{
    const int64_t nb = pk->n / 32;
    paw_i8act *A = quantize_acts(NULL, pk->n, X, T);
    if (!A) { fill_nan(&Y, &pk, 1, T); return; }
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < pk->rows; r++) {
            const int lane = (int)(r % PAW_I8_ROWS);
            float y = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = block_at(pk, r, b);
                const paw_i8act *a = &A[t * nb + b];
                /* split: elements 0..15 and 16..31 are two sums with two scales */
                int32_t is[2] = { -pk->offset * (pk->split ? a->sum_lo : a->sum), -pk->offset * (a->sum - a->sum_lo) };
                for (int k = 0; k < 32; k++)
                    is[pk->split && k >= 16] += quant_at(pk, blk, lane, k) * a->q[k];
                y = fmaf((float)is[0], paw_ld_f32(blk + 4 * lane) * a->d, y);
                if (pk->split) y = fmaf((float)is[1], paw_ld_f32(blk + 64 + 4 * lane) * a->d, y);
                if (pk->has_min) y = fmaf(paw_ld_f32(blk + 64 + 4 * lane), a->s, y);
            }
            Y[t * pk->rows + r] = y;
        }
    free(A);
}
