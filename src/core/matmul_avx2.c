/* matmul_avx2.c — AVX2/FMA/F16C dot products and register-tiled gemm for
 * every weight type.  Compiled with -mavx2 -mfma -mf16c; only reached after
 * paw_cpu_avx2() (src/core/cpu.c) said the CPU has them.
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
#include "core/common.h"
#include "core/matmul.h"

#define AI static inline __attribute__((always_inline))

AI float h2f(const uint8_t *p) { return _cvtsh_ss(paw_ld_u16(p)); }

AI float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

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
    case PAW_TYPE_F16: return paw_f16_to_f32(paw_ld_u16(w + 2 * i));
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
    __m128i x = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(x, 4), x);
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

/* Integer dot of one weight block with one activation block, in 8 int32
 * lanes; `aoff` = woffset * sum(a) per int16 pair (precomputed by gemm). */
AI __m256i block_isum(int type, __m256i w, __m256i a, __m256i aoff)
{
    __m256i p;
    if (type == PAW_TYPE_Q8_0) {
        p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    } else {
        p = _mm256_maddubs_epi16(w, a);
        if (woffset(type)) p = _mm256_sub_epi16(p, aoff);
    }
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

AI __m256i act_offset(int type, __m256i a)
{
    if (!woffset(type)) return _mm256_setzero_si256();
    return _mm256_maddubs_epi16(_mm256_set1_epi8((char)woffset(type)), a);
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

/* Decode (nc = 1): 4 rows per pass.  Prefill: 2x4 tiles and their edges. */
AI void legacy_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
                    const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    if (nc == 1) {
        DECODE_SPLIT(legacy_tile, 4);
        return;
    }
    int r = 0;
    for (; r + 2 <= nr; r += 2) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            legacy_tile(type, 2, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
        for (; c < nc; c++)
            legacy_tile(type, 2, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
    }
    if (r < nr) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            legacy_tile(type, 1, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
        for (; c < nc; c++)
            legacy_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
    }
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

/* ------------------------------------------------------------ K-quants */

/* Every K type is handled as 8 groups of 32 consecutive elements of a
 * 256-element super-block: group k holds unsigned quants (0..15, 0..31 or
 * 0..63) multiplied in int16 by per-16 scales, summed exactly in int32 over
 * the super-block (int32 lane j: elements 4j..4j+3 of each group), then
 * scaled once: acc = fma(d_w * d_a, float(lanes), acc).  The minimum
 * (Q4_K/Q5_K) or the -32 offset (Q6_K) is applied through the activation
 * block sums (bsums), placed as ggml's AVX2 vec_dot places it:
 *   Q6_K: 32 * sum sc_j bsum_j subtracted from the int32 lanes;
 *   Q4_K: 4 int32 lanes m_2k q_2k + m_2k+1 q_2k+1 (q_j = bsum_2j + bsum_2j+1)
 *         into a 4-lane float accumulator, fma(-d_a dmin, ., accm), summed
 *         (l0+l2)+(l1+l3) and added after hsum8(acc);
 *   Q5_K: the same 4 lanes summed exactly, then a scalar fma(-d_a dmin, .,
 *         summ), added after hsum8(acc). */

typedef struct {
    float         d, dmin;  /* Q6_K: dmin unused                           */
    uint8_t       sc[8];    /* Q4_K/Q5_K: the 8 sub-block scales            */
    const int8_t *sc6;      /* Q6_K: the 16 signed scales, in the block     */
    __m256i       sc16;     /* Q6_K: the 16 scales as int16                 */
    __m128i       mins;     /* Q4_K/Q5_K: the 8 mins as int16               */
} kprep;

AI void kprepare(int type, const uint8_t *blk, kprep *p)
{
    if (type == PAW_TYPE_Q6_K) {
        const paw_block_q6_K *b = (const paw_block_q6_K *)blk;
        p->d = _cvtsh_ss(b->d);
        p->dmin = 0.0f;
        p->sc6 = b->scales;
        p->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        p->mins = _mm_setzero_si128();
        return;
    }
    const paw_block_q4_K *b = (const paw_block_q4_K *)blk;  /* Q5_K starts alike */
    p->d = _cvtsh_ss(b->d);
    p->dmin = _cvtsh_ss(b->dmin);
    /* The 12 packed bytes as three words: scales 0-3 and mins 0-3 are the low
     * 6 bits of words 0 and 1; scales/mins 4-7 take their low 4 bits from the
     * nibbles of word 2 and their top 2 bits from bits 6-7 of words 0 / 1
     * (paw_k_scale_min is the scalar statement of the same layout). */
    uint32_t u0 = paw_ld_u32(b->scales), u1 = paw_ld_u32(b->scales + 4), u2 = paw_ld_u32(b->scales + 8);
    uint64_t sc = (u0 & 0x3f3f3f3fu) |
                  (uint64_t)((u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u)) << 32;
    uint64_t mn = (u1 & 0x3f3f3f3fu) |
                  (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u)) << 32;
    memcpy(p->sc, &sc, 8);
    p->sc6 = NULL;
    p->mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
    p->sc16 = _mm256_setzero_si256();
}

/* Unsigned quants of group k (0..7). */
AI __m256i kunpack(int type, const uint8_t *blk, int k)
{
    switch (type) {
    case PAW_TYPE_Q4_K: {
        __m256i q = _mm256_loadu_si256((const __m256i *)(((const paw_block_q4_K *)blk)->qs + 32 * (k / 2)));
        if (k & 1) q = _mm256_srli_epi16(q, 4);
        return _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
    }
    case PAW_TYPE_Q5_K: {
        const paw_block_q5_K *b = (const paw_block_q5_K *)blk;
        __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (k / 2)));
        if (k & 1) q = _mm256_srli_epi16(q, 4);
        q = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
        __m256i h = _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)b->qh), _mm_cvtsi32_si128(k));
        h = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x01)), 4);
        return _mm256_or_si256(q, h);
    }
    default: {  /* Q6_K: k = 4*half + row */
        const paw_block_q6_K *b = (const paw_block_q6_K *)blk;
        int half = k / 4, row = k % 4;
        __m256i q = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * half + 32 * (row & 1)));
        if (row >= 2) q = _mm256_srli_epi16(q, 4);
        q = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
        __m256i h = _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * half)),
                                     _mm_cvtsi32_si128(2 * row));
        h = _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x03)), 4);
        return _mm256_or_si256(q, h);
    }
    }
}

/* int16 scales for the 16 int16 lanes of vpmaddubsw(group k). */
AI __m256i kscale(int type, const kprep *p, int k)
{
    if (type == PAW_TYPE_Q6_K)
        return _mm256_set_m128i(_mm_set1_epi16(p->sc6[2 * k + 1]), _mm_set1_epi16(p->sc6[2 * k]));
    return _mm256_set1_epi16(p->sc[k]);
}

AI size_t kblock_bytes(int type)
{
    return type == PAW_TYPE_Q4_K ? sizeof(paw_block_q4_K)
         : type == PAW_TYPE_Q5_K ? sizeof(paw_block_q5_K) : sizeof(paw_block_q6_K);
}

/* RT rows x CT tokens of K-quant x Q8_K (RT * CT <= 4), one accumulator
 * (plus the min term) per output. */
AI void k_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
               const uint8_t *a, size_t as, float *y, size_t ys, size_t yr)
{
    const size_t wb = kblock_bytes(type);
    __m256 acc[4][4];
    __m128 accm[4][4];   /* Q4_K: 4 lanes; Q5_K: lane 0 */
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            acc[r][c] = _mm256_setzero_ps();
            accm[r][c] = _mm_setzero_ps();
        }
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        kprep p[4];
        __m256i isum[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++) kprepare(type, w + r * ws + (size_t)i * wb, &p[r]);
#pragma GCC unroll 4
        for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CT; c++) isum[r][c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m256i q[4], s[4];
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) {
                q[r] = kunpack(type, w + r * ws + (size_t)i * wb, k);
                s[r] = kscale(type, &p[r], k);
            }
#pragma GCC unroll 4
            for (int c = 0; c < CT; c++) {
                const paw_block_q8_K *ab = (const paw_block_q8_K *)(a + c * as) + i;
                __m256i aq = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * k));
#pragma GCC unroll 4
                for (int r = 0; r < RT; r++)
                    isum[r][c] = _mm256_add_epi32(isum[r][c],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], aq), s[r]));
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            const paw_block_q8_K *ab = (const paw_block_q8_K *)(a + c * as) + i;
            __m256i bs = _mm256_loadu_si256((const __m256i *)ab->bsums);
            /* sub-block sums of 32: bsum_2j + bsum_2j+1 (|.| <= 4064, exact in int16) */
            __m128i bs32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
#pragma GCC unroll 4
            for (int r = 0; r < RT; r++) {
                __m256i is = isum[r][c];
                if (type == PAW_TYPE_Q6_K)
                    is = _mm256_sub_epi32(is, _mm256_slli_epi32(_mm256_madd_epi16(bs, p[r].sc16), 5));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(ab->d * p[r].d), _mm256_cvtepi32_ps(is), acc[r][c]);
                if (type == PAW_TYPE_Q6_K) continue;
                __m128i mprod = _mm_madd_epi16(p[r].mins, bs32);
                __m128 dmin = _mm_set1_ps(-ab->d * p[r].dmin);
                if (type == PAW_TYPE_Q4_K) {
                    accm[r][c] = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(mprod), accm[r][c]);
                } else {
                    mprod = _mm_add_epi32(mprod, _mm_shuffle_epi32(mprod, 0x4e));
                    mprod = _mm_add_epi32(mprod, _mm_shuffle_epi32(mprod, 0xb1));
                    accm[r][c] = _mm_fmadd_ss(dmin, _mm_cvtepi32_ps(mprod), accm[r][c]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            __m128 m = accm[r][c];
            if (type == PAW_TYPE_Q4_K) {
                m = _mm_add_ps(m, _mm_movehl_ps(m, m));
                m = _mm_add_ss(m, _mm_movehdup_ps(m));
            }
            y[c * ys + r * yr] = hsum8(acc[r][c]) + _mm_cvtss_f32(m);
        }
}

/* Decode (nc = 1): row by row.  Prefill: 1 row x 4 tokens. */
AI void k_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
               const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    if (nc == 1) {   /* one FMA per 256 elements: no latency chain to hide */
        for (int r = 0; r < nr; r++) k_tile(type, 1, 1, n, w + (size_t)r * ws, ws, a, as, y + r, ys, 1);
        return;
    }
    for (int r = 0; r < nr; r++) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            k_tile(type, 1, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
        for (; c < nc; c++)
            k_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys, 1);
    }
}

#define K_KERNELS(name, type)                                                            \
    static void dot_##name(int64_t n, float *s, const void *w, const void *a)            \
    { k_tile(type, 1, 1, n, w, 0, a, 0, s, 0, 1); }                                       \
    static void gemm_##name(int64_t n, int nr, int nc, const void *w, size_t ws,         \
                            const void *a, size_t as, float *y, size_t ys)               \
    { k_gemm(type, n, nr, nc, w, ws, a, as, y, ys); }

K_KERNELS(q4_K, PAW_TYPE_Q4_K)
K_KERNELS(q5_K, PAW_TYPE_Q5_K)
K_KERNELS(q6_K, PAW_TYPE_Q6_K)

/* ------------------------------------------------ activation quantisers */

/* One block of 32: scale = amax/127, q = round_half_even(x * 127/amax);
 * returns sum(q).  Same arithmetic as the scalar paw_quantize_row_q8_0. */
AI int quant_block32(const float *x, paw_f16 *d, int8_t *qs, float *amax_out)
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
    /* packs work per 128-bit lane; the permute restores element order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    return sum;
}

void paw_quantize_row_q8_0_avx2(const float *x, void *y, int64_t n)
{
    paw_block_q8_0 *b = y;
    float amax;
    for (int64_t i = 0; i < n / PAW_QK; i++) quant_block32(x + i * PAW_QK, &b[i].d, b[i].qs, &amax);
}

void paw_quantize_row_q8_1_avx2(const float *x, void *y, int64_t n)
{
    paw_block_q8_1 *b = y;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        float amax;
        int sum = quant_block32(x + i * PAW_QK, &b[i].d, b[i].qs, &amax);
        /* s from the unrounded scale, as the scalar version (and ggml) */
        b[i].s = paw_f32_to_f16(amax / 127.0f * (float)sum);
    }
}

/* ---------------------------------------------------------------- table */

paw_kernel paw_avx2_kernel(int type)
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
    case PAW_TYPE_Q4_K: k.vec_dot = dot_q4_K; k.gemm = gemm_q4_K; break;
    case PAW_TYPE_Q5_K: k.vec_dot = dot_q5_K; k.gemm = gemm_q5_K; break;
    case PAW_TYPE_Q6_K: k.vec_dot = dot_q6_K; k.gemm = gemm_q6_K; break;
    default: break;
    }
    return k;
}
