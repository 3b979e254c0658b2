/* matmul_avx2.c — AVX2/FMA/F16C dot products and register-tiled gemm for
 * every weight type.  Compiled with -mavx2 -mfma -mf16c, and again for the
 * AVX-VNNI and AVX-512 sets (see avx2_util.h); each table is only reached
 * after src/core/cpu.c picked its set.
 *
 * Integer core (see ../shared/reference/cpu-performance.md §1):
 *   vpmaddubsw multiplies unsigned x signed bytes and adds pairs into int16,
 *   vpmaddwd with 1s (or with sub-block scales) widens to int32.
 * Q4/Q5 weights stay unsigned (0..15 / 0..31); the -8 / -16 offset of Q4_0 /
 * Q5_0 is removed per block as offset * sum(a), which costs one vpmaddubsw of
 * the activations alone and avoids the sign trick (§8 item 5).  Q8_0 weights
 * are signed and use the sign trick.  Pair sums stay below 2*31*127 or
 * 2*127*127 < 32768, so vpmaddubsw never saturates (activations are limited
 * to +-127 by the quantisers).
 *
 * Summation order: every output is computed exactly as ggml's AVX2 vec_dot
 * for its type computes it (one accumulator per output, blocks in order, the
 * same FMA and scale placement, the same horizontal sums; the integer parts
 * are exact, so unsigned-vs-signed tricks do not change a bit).  So paw's
 * products are llama.cpp's bits (tests/golden/matmul, from ggml itself), and
 * decode (T = 1) equals prefill: tiles of several rows or tokens only share
 * loads, never accumulators.
 *
 * The legacy 32-block types share one always-inlined body, specialised by a
 * compile-time `type` argument, instead of one hand-copied loop per type. */
#include <immintrin.h>
#include <stdlib.h>
#include "core/common.h"
#include "core/matmul.h"
#include "core/avx2_util.h"
#include "core/quant.h"
#include "core/i8gemm.h"

/* ------------------------------------------------------ float weights */

/* 8 weights of a float-type row, as f32. */
AI __m256 load_w8(int type, const uint8_t *w, int64_t i)
{
    switch (type) {
    case PAW_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
    case PAW_TYPE_BF16: {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    }
    default:
        return _mm256_loadu_ps((const float *)(w + 4 * i));
    }
}

AI float load_w1(int type, const uint8_t *w, int64_t i)
{
    switch (type) {
    case PAW_TYPE_F16: return _cvtsh_ss(paw_ld_u16(w + 2 * i));   /* F16C: paw_f16_to_f32's value */
    case PAW_TYPE_BF16: return paw_bf16_to_f32(paw_ld_u16(w + 2 * i));
    default: return paw_ld_f32(w + 4 * i);
    }
}

/* Decode (one token): tiles of RT rows, one from each of RT contiguous
 * stretches of the row range, so that every tile row continues its own
 * sequential stream.  Tiles of neighbouring rows, whose streams share pages,
 * ran 3-4x slower from DRAM on the dev box (the prefetchers lose track),
 * while RT far-apart streams beat a single one.  Rows left over go one by
 * one; each output still has its own accumulator, so the split changes no
 * bits. */
#define DECODE_SPLIT(tile, RT)                                                           \
    do {                                                                                 \
        const int q_ = nr / (RT);                                                        \
        for (int i_ = 0; i_ < q_; i_++)                                                  \
            tile(type, RT, 1, n, w + (size_t)i_ * ws, (size_t)q_ * ws, a, as, y + i_, ys,  \
                 (size_t)q_);                                                            \
        for (int r_ = (RT) * q_; r_ < nr; r_++)                                          \
            tile(type, 1, 1, n, w + (size_t)r_ * ws, ws, a, as, y + r_, ys, 1);           \
    } while (0)

/* The float types follow ggml's AVX2 dot products (vec.cpp, built as
 * llama.cpp builds it) operation for operation, so that a product here is
 * the bits llama.cpp gets for the same operands:
 *  - four 8-lane accumulators, accumulator q taking elements 32i+8q..+7,
 *    each step one FMA (BF16 too: gcc contracts ggml's mul+add into one);
 *  - folded (acc0+acc2)+(acc1+acc3), then 8 lanes -> 1: F32 and F16 add the
 *    two halves and hadd twice, BF16 sums as hsum8;
 *  - the n % 32 tail: F32 continues in float, the first 4*floor(L/4)
 *    products rounded then added in order (gcc vectorises those) and the
 *    last L % 4 fused; F16/BF16 add the rounded products in double.
 * Every output of every tile has its own accumulators, so decode (T = 1)
 * and prefill give identical bits; tiles only share the loads. */
AI float hsum8_hadd(__m256 v)
{
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    t = _mm_hadd_ps(t, t);
    return _mm_cvtss_f32(_mm_hadd_ps(t, t));
}

AI float fma_ss(float a, float b, float c)
{
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

/* The four accumulators of one output -> its value, plus the tail k0..n-1. */
AI float float_finish(int type, const __m256 acc[4], int64_t k0, int64_t n,
                      const uint8_t *w, const float *a)
{
    __m256 v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    if (type == PAW_TYPE_F32) {
        float s = hsum8_hadd(v);
        int64_t k = k0, split = k0 + (n - k0) / 4 * 4;
        for (; k < split; k++) {
            float p = load_w1(type, w, k) * a[k];   /* rounded (two statements: */
            s += p;                                  /* neither gcc -std=c11 nor
                                                        clang fuses them)        */
        }
        for (; k < n; k++) s = fma_ss(load_w1(type, w, k), a[k], s);
        return s;
    }
    double s = type == PAW_TYPE_F16 ? hsum8_hadd(v) : hsum8(v);
    for (int64_t k = k0; k < n; k++) {
        float p = load_w1(type, w, k) * a[k];
        s += p;
    }
    return (float)s;
}

/* RT rows x CT tokens of float weights (RT * CT <= 3: 4 accumulators each). */
AI void float_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
                   const uint8_t *a, size_t as, float *y, size_t ys, size_t yr)
{
    __m256 acc[3][3][4];
#pragma GCC unroll 3
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 3
        for (int c = 0; c < CT; c++)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) acc[r][c][q] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m256 wv[3];
#pragma GCC unroll 3
            for (int r = 0; r < RT; r++) wv[r] = load_w8(type, w + r * ws, i + 8 * q);
#pragma GCC unroll 3
            for (int c = 0; c < CT; c++) {
                __m256 av = _mm256_loadu_ps((const float *)(a + c * as) + i + 8 * q);
#pragma GCC unroll 3
                for (int r = 0; r < RT; r++) acc[r][c][q] = _mm256_fmadd_ps(wv[r], av, acc[r][c][q]);
            }
        }
    }
#pragma GCC unroll 3
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 3
        for (int c = 0; c < CT; c++)
            y[c * ys + r * yr] = float_finish(type, acc[r][c], i, n, w + r * ws, (const float *)(a + c * as));
}

/* Decode (one token): 2 rows per pass.  Prefill: 1 row x 3 tokens. */
AI void float_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
                   const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    if (nc == 1) {
        DECODE_SPLIT(float_tile, 2);
        return;
    }
    for (int c = 0; c < nc; ) {
        if (nc - c == 1) {
            for (int r = 0; r < nr; r++)
                float_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
            c += 1;
        } else if (nc - c == 2) {
            for (int r = 0; r < nr; r++)
                float_tile(type, 1, 2, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
            c += 2;
        } else {
            for (int r = 0; r < nr; r++)
                float_tile(type, 1, 3, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
            c += 3;
        }
    }
}

static void gemm_f32(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                     float *y, size_t ys) { float_gemm(PAW_TYPE_F32, n, nr, nc, w, ws, a, as, y, ys); }
static void gemm_f16(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                     float *y, size_t ys) { float_gemm(PAW_TYPE_F16, n, nr, nc, w, ws, a, as, y, ys); }
static void gemm_bf16(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                      float *y, size_t ys) { float_gemm(PAW_TYPE_BF16, n, nr, nc, w, ws, a, as, y, ys); }

static void dot_f32(int64_t n, float *s, const void *w, const void *a) { float_tile(PAW_TYPE_F32, 1, 1, n, w, 0, a, 0, s, 0, 1); }
static void dot_f16(int64_t n, float *s, const void *w, const void *a) { float_tile(PAW_TYPE_F16, 1, 1, n, w, 0, a, 0, s, 0, 1); }
static void dot_bf16(int64_t n, float *s, const void *w, const void *a) { float_tile(PAW_TYPE_BF16, 1, 1, n, w, 0, a, 0, s, 0, 1); }

/* ----------------------------------------------- legacy 32-element quants */

AI size_t wblock_bytes(int type)
{
    switch (type) {
    case PAW_TYPE_Q4_0: return sizeof(paw_block_q4_0);
    case PAW_TYPE_Q4_1: return sizeof(paw_block_q4_1);
    case PAW_TYPE_Q5_0: return sizeof(paw_block_q5_0);
    case PAW_TYPE_Q5_1: return sizeof(paw_block_q5_1);
    default: return sizeof(paw_block_q8_0);
    }
}

/* Weight types with a minimum pair with Q8_1 activations (d, s, qs). */
AI int has_min(int type) { return type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1; }
AI size_t ablock_bytes(int type) { return has_min(type) ? sizeof(paw_block_q8_1) : sizeof(paw_block_q8_0); }
AI const uint8_t *aquants(int type, const uint8_t *ab) { return ab + (has_min(type) ? 4 : 2); }
AI int woffset(int type) { return type == PAW_TYPE_Q4_0 ? 8 : type == PAW_TYPE_Q5_0 ? 16 : 0; }

/* 16 packed bytes -> 32 nibbles: elements 0..15 are the low nibbles. */
AI __m256i unpack_nibbles(const uint8_t *qs)
{
    /* both halves get the 16 bytes (a load-port broadcast), then the upper
     * half is shifted by 4: two ALU ops */
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* The 32 bits of a Q5 qh field -> 0x10 in byte j where bit j is set. */
AI __m256i unpack_high_bits(const uint8_t *qh)
{
    /* byte j gets qh byte j/8, then its bit j%8 is tested */
    __m256i v = _mm256_set1_epi32((int)paw_ld_u32(qh));
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    v = _mm256_and_si256(_mm256_shuffle_epi8(v, spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* 32 weights of block `blk` (unsigned, except Q8_0 signed), its scale and
 * (Q4_1/Q5_1) minimum. */
AI __m256i wunpack(int type, const uint8_t *blk, float *d, float *m)
{
    *d = h2f(blk);
    switch (type) {
    case PAW_TYPE_Q4_0: return unpack_nibbles(blk + 2);
    case PAW_TYPE_Q4_1: *m = h2f(blk + 2); return unpack_nibbles(blk + 4);
    case PAW_TYPE_Q5_0: return _mm256_or_si256(unpack_nibbles(blk + 6), unpack_high_bits(blk + 2));
    case PAW_TYPE_Q5_1: *m = h2f(blk + 2); return _mm256_or_si256(unpack_nibbles(blk + 8), unpack_high_bits(blk + 4));
    default: return _mm256_loadu_si256((const __m256i *)(blk + 2));
    }
}

/* The quants of block `blk` alone (scales are gathered by the caller). */
AI __m256i wquants(int type, const uint8_t *blk)
{
    switch (type) {
    case PAW_TYPE_Q4_0: return unpack_nibbles(blk + 2);
    case PAW_TYPE_Q4_1: return unpack_nibbles(blk + 4);
    case PAW_TYPE_Q5_0: return _mm256_or_si256(unpack_nibbles(blk + 6), unpack_high_bits(blk + 2));
    case PAW_TYPE_Q5_1: return _mm256_or_si256(unpack_nibbles(blk + 8), unpack_high_bits(blk + 4));
    default: return _mm256_loadu_si256((const __m256i *)(blk + 2));
    }
}

/* Integer dot of one weight block with one activation block, in 8 int32
 * lanes; `aoff` is the offset term act_offset() precomputed.  Every set
 * gives the same int32 lanes: sum over 4 elements of w*a minus woffset *
 * sum(a). */
AI __m256i block_isum(int type, __m256i w, __m256i a, __m256i aoff)
{
    if (type == PAW_TYPE_Q8_0)
        return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
#if defined(PAW_ISA_AVX512) || defined(PAW_ISA_AVXVNNI)
    /* aoff = -woffset * (sums of 4 of a) as int32: the accumulator start */
    return woffset(type) ? dot_u8s8_acc(aoff, w, a) : dot_u8s8(w, a);
#else
    __m256i p = _mm256_maddubs_epi16(w, a);
    if (woffset(type)) p = _mm256_sub_epi16(p, aoff);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

/* The offset term of activation block a for block_isum: AVX2 woffset *
 * (pair sums of a) in int16, the VNNI sets -woffset * (sums of 4) in int32. */
AI __m256i act_offset(int type, __m256i a)
{
    if (!woffset(type)) return _mm256_setzero_si256();
    const __m256i o = _mm256_set1_epi8((char)woffset(type));
#if defined(PAW_ISA_AVX512) || defined(PAW_ISA_AVXVNNI)
    return _mm256_sub_epi32(_mm256_setzero_si256(), dot_u8s8(o, a));
#else
    return _mm256_maddubs_epi16(o, a);
#endif
}

/* An RT rows x CT tokens register tile over the whole row (RT, CT constant
 * after inlining): each weight block is unpacked once for CT tokens and each
 * activation block loaded once for RT rows.
 *
 * Every output has one accumulator and takes the blocks in order, exactly
 * as ggml's AVX2 vec_dot for the type: acc = fma(float(int32 lanes),
 * dw * da, acc), then hsum8(acc); Q4_1/Q5_1 add m * s per block into a
 * scalar with a fused multiply-add (one lane per token here) and add it
 * last.  So the bits do not depend on the tile shape, and decode (1 token,
 * 4 rows per pass for instruction-level parallelism) equals prefill. */
AI void legacy_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
                    const uint8_t *a, size_t as, float *y, size_t ys, size_t yr)
{
    const size_t wb = wblock_bytes(type), ab = ablock_bytes(type);
    __m256 acc[4][4];
    __m128 msum[4];
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++) {
        msum[r] = _mm_setzero_ps();
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) acc[r][c] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        __m256i wq[4];
        __m256 dwv[4];
        float dw[4], mw[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) {
            wq[r] = wunpack(type, w + r * ws + (size_t)i * wb, &dw[r], &mw[r]);
            dwv[r] = _mm256_set1_ps(dw[r]);
        }
        if (has_min(type)) {
            __m128 sv;
            if (CT == 1) {
                sv = _mm_set_ss(h2f(a + (size_t)i * ab + 2));
            } else {
                uint16_t sh[4] = { 0, 0, 0, 0 };
#pragma GCC unroll 4
                for (int c = 0; c < CT; c++) sh[c] = paw_ld_u16(a + c * as + (size_t)i * ab + 2);
                sv = _mm_cvtph_ps(_mm_setr_epi16((short)sh[0], (short)sh[1], (short)sh[2], (short)sh[3], 0, 0, 0, 0));
            }
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) msum[r] = _mm_fmadd_ps(_mm_set1_ps(mw[r]), sv, msum[r]);
        }
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            const uint8_t *ablk = a + c * as + (size_t)i * ab;
            __m256i aq = _mm256_loadu_si256((const __m256i *)aquants(type, ablk));
            __m256i aoff = act_offset(type, aq);
            __m256 dav = _mm256_set1_ps(h2f(ablk));
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) {
                __m256i is = block_isum(type, wq[r], aq, aoff);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(dwv[r], dav), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++) {
        float m[4];
        _mm_storeu_ps(m, msum[r]);
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) y[c * ys + r * yr] = hsum8(acc[r][c]) + m[c];
    }
}

/* gemm tiles read what all rows share from a per-call table, filled once per
 * tile of up to ACT_TILE tokens instead of once per tile of rows: each
 * activation block's scale as f32 (and the s of Q8_1), and for Q4_0/Q5_0
 * the offset term woffset * (pair sums of a).  The weight scales of the
 * tile's rows are converted together (one vcvtph2ps) and multiplied by the
 * activation scales in one vmulps: the same float products dw * da as one
 * at a time, so no bit changes.  The table lives on the stack up to
 * AUX_STACK_BLOCKS blocks per row (n = 4096), on the heap beyond.
 *
 * Prefill tile: PREFILL_RT rows x ACT_TILE tokens.  3x4 measured best on the
 * dev box (gcc 12: 2x6 keeps all 12 accumulators in registers but ran ~10%
 * slower; 2x4, 2x5, 4x3, 4x2, 1x8 were slower still). */
#define ACT_TILE 4
#define PREFILL_RT 3
#define AUX_STACK_BLOCKS 128
#define AUX_BYTES_PER_BLOCK (64 + 32 * ACT_TILE)

typedef struct {
    float   *d;     /* [nb][8]: scale of token c's block i at d[8 i + c]  */
    float   *s;     /* [nb][8]: Q8_1's s, same layout                     */
    __m256i *off;   /* [nb][ACT_TILE]: the offset term (Q4_0, Q5_0)        */
} act_aux;

AI void aux_fill(int type, int CT, int64_t nb, const uint8_t *a, size_t as, const act_aux *x)
{
    const size_t ab = ablock_bytes(type);
    for (int64_t i = 0; i < nb; i++) {
        float d[8] = { 0 }, s[8] = { 0 };
        for (int c = 0; c < CT; c++) {
            const uint8_t *blk = a + c * as + (size_t)i * ab;
            d[c] = h2f(blk);
            if (has_min(type)) s[c] = h2f(blk + 2);
            if (woffset(type))
                x->off[i * ACT_TILE + c] =
                    act_offset(type, _mm256_loadu_si256((const __m256i *)aquants(type, blk)));
        }
        _mm256_store_ps(x->d + 8 * i, _mm256_loadu_ps(d));
        if (has_min(type)) _mm256_store_ps(x->s + 8 * i, _mm256_loadu_ps(s));
    }
}

/* RT (<= 4) rows x CT (<= ACT_TILE) tokens over nb blocks, with the shared
 * table x.  Each output has its own accumulator, fed exactly as in
 * legacy_tile (and ggml): same bits whatever RT and CT. */
AI void legacy_tile_x(int type, int RT, int CT, int64_t nb, const uint8_t *w, size_t ws,
                      const uint8_t *a, size_t as, const act_aux *x,
                      float *y, size_t ys, size_t yr)
{
    const size_t wb = wblock_bytes(type), ab = ablock_bytes(type);
    const uint8_t *aq0 = aquants(type, a);
    __m256 acc[4][ACT_TILE], msum[4];
    __m128 msum4 = _mm_setzero_ps();   /* CT == 1: lane r = row r */
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++) {
        msum[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) acc[r][c] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *wi = w + (size_t)i * wb;
        uint64_t dp = 0, mp = 0;
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) {
            dp |= (uint64_t)paw_ld_u16(wi + r * ws) << (16 * r);
            if (has_min(type)) mp |= (uint64_t)paw_ld_u16(wi + r * ws + 2) << (16 * r);
        }
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dp));
        /* dt[r * 8 + c] (CT == 1: dt[r]) = dw_r * da_c */
        _Alignas(32) float dt[32];
        if (CT == 1) {
            _mm_store_ps(dt, _mm_mul_ps(dw, _mm_set1_ps(x->d[8 * i])));
        } else {
            _Alignas(16) float dws[4];
            _mm_store_ps(dws, dw);
            const __m256 da = _mm256_load_ps(x->d + 8 * i);
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) _mm256_store_ps(dt + 8 * r, _mm256_mul_ps(_mm256_set1_ps(dws[r]), da));
        }
        /* Read the products back with broadcast loads (load ports), not the
         * two shuffles per output gcc turns a forwarded store into. */
        const float *dtp = dt;
        __asm__("" : "+r"(dtp) : : "memory");
        if (has_min(type)) {
            const __m128 mw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)mp));
            if (CT == 1) {
                msum4 = _mm_fmadd_ps(mw, _mm_broadcast_ss(x->s + 8 * i), msum4);
            } else {
                _Alignas(16) float mws[4];
                _mm_store_ps(mws, mw);
                const __m256 sv = _mm256_load_ps(x->s + 8 * i);
#pragma GCC unroll 4
                for (int r = 0; r < RT; r++) msum[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&mws[r]), sv, msum[r]);
            }
        }
        __m256i wq[4];
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) wq[r] = wquants(type, wi + r * ws);
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            const __m256i aq = _mm256_loadu_si256((const __m256i *)(aq0 + c * as + (size_t)i * ab));
            const __m256i aoff = woffset(type) ? _mm256_load_si256(x->off + i * ACT_TILE + c)
                                               : _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) {
                const __m256i is = block_isum(type, wq[r], aq, aoff);
                const __m256 d = _mm256_broadcast_ss(dtp + (CT == 1 ? r : 8 * r + c));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), d, acc[r][c]);
            }
        }
    }
    _Alignas(32) float m[4][8];
    if (CT == 1) _mm_store_ps(m[0], msum4);
    else
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) _mm256_store_ps(m[r], msum[r]);
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++)
            y[c * ys + r * yr] = hsum8(acc[r][c]) + (CT == 1 ? m[0][r] : m[r][c]);
}

#if defined(PAW_ISA_AVX512)
/* The AVX-512 prefill tile: RT rows x 2*NP tokens, two tokens per zmm.  The
 * low 256 bits of accumulator [r][p] are exactly legacy_tile_x's ymm
 * accumulator of row r, token 2p, the high 256 bits token 2p+1: the same
 * int32 lanes (vpdpbusd, lane by lane), the same scale products dw * da
 * (taken from the same table), the same FMA per lane, the same hsum8 at the
 * end.  So the bits are legacy_tile_x's, with half the integer, convert and
 * FMA instructions.  Q8_0's sign trick: AVX-512 has no vpsignb, so |w| is
 * vpabsb and a takes w's sign through a masked 0 - a (a where w = 0 meets
 * |w| = 0: the same products). */
AI void legacy_tile_z(int type, int RT, int NP, int64_t nb, const uint8_t *w, size_t ws,
                      const uint8_t *a, size_t as, const act_aux *x, float *y, size_t ys)
{
    const size_t wb = wblock_bytes(type), ab = ablock_bytes(type);
    const uint8_t *aq0 = aquants(type, a);
    __m512 acc[4][2];
    __m256 msum[4];
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++) {
        msum[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
    }
    const __m512i lohi[2] = { _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                              _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3) };
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *wi = w + (size_t)i * wb;
        uint64_t dp = 0, mp = 0;
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) {
            dp |= (uint64_t)paw_ld_u16(wi + r * ws) << (16 * r);
            if (has_min(type)) mp |= (uint64_t)paw_ld_u16(wi + r * ws + 2) << (16 * r);
        }
        _Alignas(16) float dws[4];
        _mm_store_ps(dws, _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dp)));
        const __m256 da = _mm256_load_ps(x->d + 8 * i);
        if (has_min(type)) {
            _Alignas(16) float mws[4];
            _mm_store_ps(mws, _mm_cvtph_ps(_mm_cvtsi64_si128((long long)mp)));
            const __m256 sv = _mm256_load_ps(x->s + 8 * i);
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) msum[r] = _mm256_fmadd_ps(_mm256_set1_ps(mws[r]), sv, msum[r]);
        }
        __m512i aqz[2], offz[2];
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) {
            const uint8_t *a0 = aq0 + (size_t)(2 * p) * as + (size_t)i * ab;
            aqz[p] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a0)),
                                        _mm256_loadu_si256((const __m256i *)(a0 + as)), 1);
            offz[p] = woffset(type) ? _mm512_loadu_si512(x->off + i * ACT_TILE + 2 * p) : _mm512_setzero_si512();
        }
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) {
            const __m512i wz = _mm512_broadcast_i64x4(wquants(type, wi + r * ws));
            /* dw_r * da_c for c = 0..7, the same products as legacy_tile_x */
            const __m512 d8 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_set1_ps(dws[r]), da));
            __m512i uw = wz;
            __mmask64 neg = 0;
            if (type == PAW_TYPE_Q8_0) {
                uw = _mm512_abs_epi8(wz);
                neg = _mm512_movepi8_mask(wz);
            }
#pragma GCC unroll 2
            for (int p = 0; p < NP; p++) {
                __m512i is;
                if (type == PAW_TYPE_Q8_0) {
                    const __m512i sa = _mm512_mask_sub_epi8(aqz[p], neg, _mm512_setzero_si512(), aqz[p]);
                    is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), uw, sa);
                } else {
                    is = _mm512_dpbusd_epi32(offz[p], uw, aqz[p]);
                }
                acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_permutexvar_ps(lohi[p], d8), acc[r][p]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++) {
        _Alignas(32) float m[8];
        _mm256_store_ps(m, msum[r]);
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) {
            y[(2 * p) * ys + r] = hsum8(_mm512_castps512_ps256(acc[r][p])) + m[2 * p];
            y[(2 * p + 1) * ys + r] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][p]), 1))) + m[2 * p + 1];
        }
    }
}
#endif

/* Prefill: PREFILL_RT rows x CT tokens, then the rows left one by one
 * (AVX-512: CT = 2 or 4 go through the zmm tile). */
AI void legacy_rows_x(int type, int CT, int64_t nb, int nr, const uint8_t *w, size_t ws,
                      const uint8_t *a, size_t as, const act_aux *x, float *y, size_t ys)
{
    int r = 0;
#if defined(PAW_ISA_AVX512)
    if (CT == 2 || CT == 4) {
        for (; r + 4 <= nr; r += 4)
            legacy_tile_z(type, 4, CT / 2, nb, w + (size_t)r * ws, ws, a, as, x, y + r, ys);
        for (; r < nr; r++) legacy_tile_z(type, 1, CT / 2, nb, w + (size_t)r * ws, ws, a, as, x, y + r, ys);
        return;
    }
#endif
    for (; r + PREFILL_RT <= nr; r += PREFILL_RT)
        legacy_tile_x(type, PREFILL_RT, CT, nb, w + (size_t)r * ws, ws, a, as, x, y + r, ys, 1);
    for (; r < nr; r++) legacy_tile_x(type, 1, CT, nb, w + (size_t)r * ws, ws, a, as, x, y + r, ys, 1);
}

/* Without the table (it did not fit on the stack and malloc failed): one
 * output at a time. */
static void legacy_gemm_plain(int type, int64_t n, int nr, int nc, const uint8_t *w, size_t ws,
                              const uint8_t *a, size_t as, float *y, size_t ys)
{
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            legacy_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
}

/* Decode (nc = 1): 4 rows per pass, each from its own stretch of the row
 * range (see DECODE_SPLIT).  Prefill: PREFILL_RT x ACT_TILE tiles. */
AI void legacy_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
                    const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    const int64_t nb = n / PAW_QK;
    _Alignas(32) uint8_t stack[AUX_STACK_BLOCKS * AUX_BYTES_PER_BLOCK];
    uint8_t *buf = stack, *heap = NULL;
    if (nb > AUX_STACK_BLOCKS) {
        buf = heap = aligned_alloc(32, (size_t)nb * AUX_BYTES_PER_BLOCK);
        if (!heap) {
            legacy_gemm_plain(type, n, nr, nc, w, ws, a, as, y, ys);
            return;
        }
    }
    const act_aux x = { (float *)buf, (float *)(buf + 32 * nb), (__m256i *)(buf + 64 * nb) };
    if (nc == 1) {
        aux_fill(type, 1, nb, a, as, &x);
        const int q = nr / 4;
        for (int i = 0; i < q; i++)
            legacy_tile_x(type, 4, 1, nb, w + (size_t)i * ws, (size_t)q * ws, a, as, &x, y + i, ys, (size_t)q);
        for (int r = 4 * q; r < nr; r++)
            legacy_tile_x(type, 1, 1, nb, w + (size_t)r * ws, ws, a, as, &x, y + r, ys, 1);
    } else {
        for (int c = 0; c < nc; c += ACT_TILE) {
            const int ct = PAW_MIN(ACT_TILE, nc - c);
            const uint8_t *ac = a + (size_t)c * as;
            float *yc = y + (size_t)c * ys;
            aux_fill(type, ct, nb, ac, as, &x);
            switch (ct) {
            case 1: legacy_rows_x(type, 1, nb, nr, w, ws, ac, as, &x, yc, ys); break;
            case 2: legacy_rows_x(type, 2, nb, nr, w, ws, ac, as, &x, yc, ys); break;
            case 3: legacy_rows_x(type, 3, nb, nr, w, ws, ac, as, &x, yc, ys); break;
            default: legacy_rows_x(type, 4, nb, nr, w, ws, ac, as, &x, yc, ys); break;
            }
        }
    }
    free(heap);
}

#define LEGACY_KERNELS(name, type)                                                       \
    static void dot_##name(int64_t n, float *s, const void *w, const void *a)            \
    { legacy_tile(type, 1, 1, n, w, 0, a, 0, s, 0, 1); }                                  \
    static void gemm_##name(int64_t n, int nr, int nc, const void *w, size_t ws,         \
                            const void *a, size_t as, float *y, size_t ys)               \
    { legacy_gemm(type, n, nr, nc, w, ws, a, as, y, ys); }

LEGACY_KERNELS(q4_0, PAW_TYPE_Q4_0)
LEGACY_KERNELS(q4_1, PAW_TYPE_Q4_1)
LEGACY_KERNELS(q5_0, PAW_TYPE_Q5_0)
LEGACY_KERNELS(q5_1, PAW_TYPE_Q5_1)
LEGACY_KERNELS(q8_0, PAW_TYPE_Q8_0)

/* ------------------------------------------------ activation quantisers */

/* One block of 32: scale = amax/127, q = round_half_even(x * 127/amax);
 * returns sum(q), and the sum of q[0..15] in *sum_lo unless NULL.  Same
 * arithmetic as the scalar paw_quantize_row_q8_0. */
AI int quant_block32(const float *x, paw_f16 *d, int8_t *qs, float *amax_out, int *sum_lo)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], mx = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    *amax_out = amax;
    *d = paw_f32_to_f16(amax / 127.0f);
    __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i q[4];
    for (int j = 0; j < 4; j++)
        q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    int sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    if (sum_lo) *sum_lo = hsum8i(_mm256_add_epi32(q[0], q[1]));
    /* packs work per 128-bit lane; the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    return sum;
}

void ISA_NAME(paw_quantize_row_q8_0)(const float *x, void *y, int64_t n)
{
    paw_block_q8_0 *b = y;
    float amax;
    for (int64_t i = 0; i < n / PAW_QK; i++) quant_block32(x + i * PAW_QK, &b[i].d, b[i].qs, &amax, NULL);
}

/* The int8 packs' activation blocks (core/i8gemm.h): the Q8_0 quants and
 * scale above, with the sums the pack kernel starts from. */
void ISA_NAME(paw_quantize_row_i8act)(const float *x, void *y, int64_t n)
{
    paw_i8act *a = y;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        paw_f16 d;
        float amax;
        int lo;
        const int sum = quant_block32(x + i * PAW_QK, &d, a[i].q, &amax, &lo);
        a[i].d = paw_f16_to_f32(d);
        a[i].sum = sum;
        a[i].s = a[i].d * (float)sum;
        a[i].sum_lo = lo;
    }
}

void ISA_NAME(paw_quantize_row_q8_1)(const float *x, void *y, int64_t n)
{
    paw_block_q8_1 *b = y;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        float amax;
        int sum = quant_block32(x + i * PAW_QK, &b[i].d, b[i].qs, &amax, NULL);
        /* s from the unrounded scale, as the scalar version (and ggml) */
        b[i].s = paw_f32_to_f16(amax / 127.0f * (float)sum);
    }
}

/* ---------------------------------------------------------------- table */

paw_kernel ISA_NAME(paw_simd_kernel)(int type)
{
    paw_kernel k = { NULL, NULL };
    switch (type) {
    case PAW_TYPE_F32:  k.vec_dot = dot_f32; k.gemm = gemm_f32; break;
    case PAW_TYPE_F16:  k.vec_dot = dot_f16; k.gemm = gemm_f16; break;
    case PAW_TYPE_BF16: k.vec_dot = dot_bf16; k.gemm = gemm_bf16; break;
    case PAW_TYPE_Q4_0: k.vec_dot = dot_q4_0; k.gemm = gemm_q4_0; break;
    case PAW_TYPE_Q4_1: k.vec_dot = dot_q4_1; k.gemm = gemm_q4_1; break;
    case PAW_TYPE_Q5_0: k.vec_dot = dot_q5_0; k.gemm = gemm_q5_0; break;
    case PAW_TYPE_Q5_1: k.vec_dot = dot_q5_1; k.gemm = gemm_q5_1; break;
    case PAW_TYPE_Q8_0: k.vec_dot = dot_q8_0; k.gemm = gemm_q8_0; break;
    case PAW_TYPE_Q4_K:
    case PAW_TYPE_Q5_K:
    case PAW_TYPE_Q6_K: k = ISA_NAME(paw_simd_kquant_kernel)(type); break;
    default: break;
    }
    return k;
}
