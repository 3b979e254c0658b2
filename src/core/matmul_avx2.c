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

/* Four accumulators: an FMA has 4 cycles of latency and 2 issue per cycle. */
AI void float_dot(int type, int64_t n, float *s, const void *vw, const void *va)
{
    const uint8_t *w = vw;
    const float *a = va;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_w8(type, w, i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_w8(type, w, i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_w8(type, w, i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_w8(type, w, i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_w8(type, w, i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += load_w1(type, w, i) * a[i];
    *s = sum;
}

/* RT rows x CT tokens of float weights (prefill, LoRA): each 8-wide weight
 * load feeds CT FMAs and each activation load RT FMAs. */
AI void float_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
                   const uint8_t *a, size_t as, float *y, size_t ys)
{
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[2];
#pragma GCC unroll 2
        for (int r = 0; r < RT; r++) wv[r] = load_w8(type, w + r * ws, i);
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            __m256 av = _mm256_loadu_ps((const float *)(a + c * as) + i);
#pragma GCC unroll 2
            for (int r = 0; r < RT; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], av, acc[r][c]);
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            float sum = hsum8(acc[r][c]);
            const float *ac = (const float *)(a + c * as);
            for (int64_t k = i; k < n; k++) sum += load_w1(type, w + r * ws, k) * ac[k];
            y[c * ys + r] = sum;
        }
}

AI void float_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
                   const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    int r = 0;
    for (; r + 2 <= nr; r += 2) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            float_tile(type, 2, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
        for (; c < nc; c++)
            float_tile(type, 2, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
    }
    if (r < nr) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            float_tile(type, 1, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
        for (; c < nc; c++)
            float_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
    }
}

static void gemm_f32(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                     float *y, size_t ys) { float_gemm(PAW_TYPE_F32, n, nr, nc, w, ws, a, as, y, ys); }
static void gemm_f16(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                     float *y, size_t ys) { float_gemm(PAW_TYPE_F16, n, nr, nc, w, ws, a, as, y, ys); }
static void gemm_bf16(int64_t n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                      float *y, size_t ys) { float_gemm(PAW_TYPE_BF16, n, nr, nc, w, ws, a, as, y, ys); }

static void dot_f32(int64_t n, float *s, const void *w, const void *a) { float_dot(PAW_TYPE_F32, n, s, w, a); }
static void dot_f16(int64_t n, float *s, const void *w, const void *a) { float_dot(PAW_TYPE_F16, n, s, w, a); }
static void dot_bf16(int64_t n, float *s, const void *w, const void *a) { float_dot(PAW_TYPE_BF16, n, s, w, a); }

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

/* One block's contribution: acc += (w.a) * dw * da; the Q4_1/Q5_1 minimum
 * term m * s_a goes to *msum. */
AI __m256 legacy_block(int type, const uint8_t *wblk, const uint8_t *ablk, __m256 acc, float *msum)
{
    float dw, mw = 0.0f;
    __m256i wq = wunpack(type, wblk, &dw, &mw);
    __m256i aq = _mm256_loadu_si256((const __m256i *)aquants(type, ablk));
    __m256i is = block_isum(type, wq, aq, act_offset(type, aq));
    if (has_min(type)) *msum += mw * h2f(ablk + 2);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(dw * h2f(ablk)), acc);
}

/* Two blocks per iteration into two accumulators (FMA latency, §1). */
AI void legacy_dot(int type, int64_t n, float *s, const void *vw, const void *va)
{
    const uint8_t *w = vw, *a = va;
    const size_t wb = wblock_bytes(type), ab = ablock_bytes(type);
    int64_t nb = n / PAW_QK, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float msum0 = 0.0f, msum1 = 0.0f;
    for (; i + 2 <= nb; i += 2) {
        acc0 = legacy_block(type, w + (size_t)i * wb, a + (size_t)i * ab, acc0, &msum0);
        acc1 = legacy_block(type, w + (size_t)(i + 1) * wb, a + (size_t)(i + 1) * ab, acc1, &msum1);
    }
    if (i < nb) acc0 = legacy_block(type, w + (size_t)i * wb, a + (size_t)i * ab, acc0, &msum0);
    *s = hsum8(_mm256_add_ps(acc0, acc1)) + (msum0 + msum1);
}

/* An RT rows x CT tokens register tile over the whole row (RT, CT constant
 * after inlining): each weight block is unpacked once for CT tokens and each
 * activation block loaded once for RT rows.  The Q4_1/Q5_1 minimum terms
 * m_r * s_c of a block are one 4-lane FMA per row (lanes = tokens). */
AI void legacy_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
                    const uint8_t *a, size_t as, float *y, size_t ys)
{
    const size_t wb = wblock_bytes(type), ab = ablock_bytes(type);
    __m256 acc[2][4];
    __m128 msum[2] = { _mm_setzero_ps(), _mm_setzero_ps() };
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        __m256i wq[2];
        __m256 dwv[2];
        float dw[2], mw[2] = { 0.0f, 0.0f };
#pragma GCC unroll 2
        for (int r = 0; r < RT; r++) {
            wq[r] = wunpack(type, w + r * ws + (size_t)i * wb, &dw[r], &mw[r]);
            dwv[r] = _mm256_set1_ps(dw[r]);
        }
        if (has_min(type)) {
            uint16_t sh[4] = { 0, 0, 0, 0 };
#pragma GCC unroll 4
            for (int c = 0; c < CT; c++) sh[c] = paw_ld_u16(a + c * as + (size_t)i * ab + 2);
            __m128 sv = _mm_cvtph_ps(_mm_setr_epi16((short)sh[0], (short)sh[1], (short)sh[2], (short)sh[3], 0, 0, 0, 0));
#pragma GCC unroll 2
            for (int r = 0; r < RT; r++) msum[r] = _mm_fmadd_ps(_mm_set1_ps(mw[r]), sv, msum[r]);
        }
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            const uint8_t *ablk = a + c * as + (size_t)i * ab;
            __m256i aq = _mm256_loadu_si256((const __m256i *)aquants(type, ablk));
            __m256i aoff = act_offset(type, aq);
            __m256 dav = _mm256_set1_ps(h2f(ablk));
#pragma GCC unroll 2
            for (int r = 0; r < RT; r++) {
                __m256i is = block_isum(type, wq[r], aq, aoff);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(dwv[r], dav), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++) {
        float m[4];
        _mm_storeu_ps(m, msum[r]);
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) y[c * ys + r] = hsum8(acc[r][c]) + m[c];
    }
}

/* Covers nr x nc with 2x4 tiles and the 1-row / 1-token edges. */
AI void legacy_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
                    const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    int r = 0;
    for (; r + 2 <= nr; r += 2) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            legacy_tile(type, 2, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
        for (; c < nc; c++)
            legacy_tile(type, 2, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
    }
    if (r < nr) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            legacy_tile(type, 1, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
        for (; c < nc; c++)
            legacy_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
    }
}

#define LEGACY_KERNELS(name, type)                                                       \
    static void dot_##name(int64_t n, float *s, const void *w, const void *a)            \
    { legacy_dot(type, n, s, w, a); }                                                    \
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
 * the super-block, then scaled once.  The minimum (Q4_K/Q5_K) or the -32
 * offset (Q6_K) is applied through the activation block sums (bsums). */

typedef struct {
    float         d, dmin;  /* Q6_K: dmin unused                           */
    uint8_t       sc[8];    /* Q4_K/Q5_K: the 8 sub-block scales            */
    const int8_t *sc6;      /* Q6_K: the 16 signed scales, in the block     */
    __m256i       corr;     /* int16 weights for the 16 bsums: each min twice
                               (Q4_K/Q5_K) or the 16 scales (Q6_K)          */
} kprep;

AI void kprepare(int type, const uint8_t *blk, kprep *p)
{
    if (type == PAW_TYPE_Q6_K) {
        const paw_block_q6_K *b = (const paw_block_q6_K *)blk;
        p->d = _cvtsh_ss(b->d);
        p->dmin = 0.0f;
        p->sc6 = b->scales;
        p->corr = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
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
    __m128i m8 = _mm_cvtsi64_si128((long long)mn);
    p->corr = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
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

/* RT rows x CT tokens of K-quant x Q8_K. */
AI void k_tile(int type, int RT, int CT, int64_t n, const uint8_t *w, size_t ws,
               const uint8_t *a, size_t as, float *y, size_t ys)
{
    const size_t wb = kblock_bytes(type);
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        kprep p[2];
        __m256i isum[2][4];
#pragma GCC unroll 2
        for (int r = 0; r < RT; r++) kprepare(type, w + r * ws + (size_t)i * wb, &p[r]);
#pragma GCC unroll 2
        for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CT; c++) isum[r][c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m256i q[2], s[2];
#pragma GCC unroll 2
            for (int r = 0; r < RT; r++) {
                q[r] = kunpack(type, w + r * ws + (size_t)i * wb, k);
                s[r] = kscale(type, &p[r], k);
            }
#pragma GCC unroll 4
            for (int c = 0; c < CT; c++) {
                const paw_block_q8_K *ab = (const paw_block_q8_K *)(a + c * as) + i;
                __m256i aq = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * k));
#pragma GCC unroll 2
                for (int r = 0; r < RT; r++)
                    isum[r][c] = _mm256_add_epi32(isum[r][c],
                        _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], aq), s[r]));
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) {
            const paw_block_q8_K *ab = (const paw_block_q8_K *)(a + c * as) + i;
            __m256i bs = _mm256_loadu_si256((const __m256i *)ab->bsums);
#pragma GCC unroll 2
            for (int r = 0; r < RT; r++) {
                __m256i corr = _mm256_madd_epi16(bs, p[r].corr);
                if (type == PAW_TYPE_Q6_K) {
                    /* remove the +32 offset exactly in int: 32 * sum sc_j bsum_j */
                    __m256i is = _mm256_sub_epi32(isum[r][c], _mm256_slli_epi32(corr, 5));
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(p[r].d * ab->d), acc[r][c]);
                } else {
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), _mm256_set1_ps(p[r].d * ab->d), acc[r][c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_set1_ps(-p[r].dmin * ab->d), acc[r][c]);
                }
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) y[c * ys + r] = hsum8(acc[r][c]);
}

AI void k_gemm(int type, int64_t n, int nr, int nc, const void *vw, size_t ws,
               const void *va, size_t as, float *y, size_t ys)
{
    const uint8_t *w = vw, *a = va;
    for (int r = 0; r < nr; r++) {
        int c = 0;
        for (; c + 4 <= nc; c += 4)
            k_tile(type, 1, 4, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
        for (; c < nc; c++)
            k_tile(type, 1, 1, n, w + r * ws, ws, a + c * as, as, y + c * ys + r, ys);
    }
}

#define K_KERNELS(name, type)                                                            \
    static void dot_##name(int64_t n, float *s, const void *w, const void *a)            \
    { k_tile(type, 1, 1, n, w, 0, a, 0, s, 0); }                                         \
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
