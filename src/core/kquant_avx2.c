/* kquant_avx2.c — AVX2/FMA/F16C dot products and gemm for the K-quants
 * (Q4_K, Q5_K, Q6_K against Q8_K activations).  Compiled with -mavx2 -mfma
 * -mf16c and again per SIMD set (avx2_util.h); only reached through the
 * set's paw_simd_kernel_* table.  The VNNI sets fuse vpmaddwd + vpaddd into
 * vpdpwssd; the quants are unsigned (at most 63) so the vpmaddubsw pair sums
 * stay below 2*63*127 and nothing saturates.  Same rules as matmul_avx2.c: every output is summed exactly as
 * ggml's AVX2 vec_dot for its type sums it. */
#include <string.h>
#include "core/matmul.h"
#include "core/avx2_util.h"

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

/* The min term of one super-block (Q4_K/Q5_K) into its accumulator, as
 * ggml's AVX2 vec_dot places it; bs32 = the activation's sums of 32. */
AI __m128 kmin_acc(int type, const kprep *p, const paw_block_q8_K *ab, __m128i bs32, __m128 accm)
{
    __m128i mprod = _mm_madd_epi16(p->mins, bs32);
    __m128 dmin = _mm_set1_ps(-ab->d * p->dmin);
    if (type == PAW_TYPE_Q4_K) return _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(mprod), accm);
    mprod = _mm_add_epi32(mprod, _mm_shuffle_epi32(mprod, 0x4e));
    mprod = _mm_add_epi32(mprod, _mm_shuffle_epi32(mprod, 0xb1));
    return _mm_fmadd_ss(dmin, _mm_cvtepi32_ps(mprod), accm);
}

/* The min accumulator -> the value added after hsum8(acc). */
AI float kmin_finish(int type, __m128 m)
{
    if (type == PAW_TYPE_Q4_K) {
        m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
    }
    return _mm_cvtss_f32(m);
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
                    isum[r][c] = dot_i16_acc(isum[r][c], _mm256_maddubs_epi16(q[r], aq), s[r]);
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
                if (type != PAW_TYPE_Q6_K) accm[r][c] = kmin_acc(type, &p[r], ab, bs32, accm[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RT; r++)
#pragma GCC unroll 4
        for (int c = 0; c < CT; c++) y[c * ys + r * yr] = hsum8(acc[r][c]) + kmin_finish(type, accm[r][c]);
}

#if defined(PAW_ISA_AVX512)
/* The AVX-512 prefill tile: one row x 2*NP tokens, two tokens per zmm.  The
 * low 256 bits of acc[p] / isum[p] are k_tile's ymm accumulators of token
 * 2p, the high 256 bits token 2p+1, fed lane by lane with the same integer
 * sums and the same scale products; the min terms are k_tile's per token.
 * So the bits are k_tile's, with the unpacked weights shared by all 2*NP
 * tokens and half the integer and FMA instructions. */
AI void k_tile_z(int type, int NP, int64_t n, const uint8_t *w, const uint8_t *a, size_t as,
                 float *y, size_t ys)
{
    const size_t wb = kblock_bytes(type);
    __m512 acc[4];
    __m128 accm[8];
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
        acc[p] = _mm512_setzero_ps();
        accm[2 * p] = accm[2 * p + 1] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        const uint8_t *wi = w + (size_t)i * wb;
        kprep pr;
        kprepare(type, wi, &pr);
        const paw_block_q8_K *ab[8];
#pragma GCC unroll 8
        for (int c = 0; c < 2 * NP; c++) ab[c] = (const paw_block_q8_K *)(a + c * as) + i;
        __m512i isum[4];
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) isum[p] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m512i q = _mm512_broadcast_i64x4(kunpack(type, wi, k));
            const __m512i sc = _mm512_broadcast_i64x4(kscale(type, &pr, k));
#pragma GCC unroll 4
            for (int p = 0; p < NP; p++) {
                const __m512i aq = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ab[2 * p]->qs + 32 * k))),
                    _mm256_loadu_si256((const __m256i *)(ab[2 * p + 1]->qs + 32 * k)), 1);
                isum[p] = _mm512_dpwssd_epi32(isum[p], _mm512_maddubs_epi16(q, aq), sc);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            __m512i is = isum[p];
            const __m256i bs0 = _mm256_loadu_si256((const __m256i *)ab[2 * p]->bsums);
            const __m256i bs1 = _mm256_loadu_si256((const __m256i *)ab[2 * p + 1]->bsums);
            if (type == PAW_TYPE_Q6_K) {
                const __m512i bs = _mm512_inserti64x4(_mm512_castsi256_si512(bs0), bs1, 1);
                is = _mm512_sub_epi32(is, _mm512_slli_epi32(
                         _mm512_madd_epi16(bs, _mm512_broadcast_i64x4(pr.sc16)), 5));
            }
            const __m512 d = _mm512_castpd_ps(_mm512_insertf64x4(
                _mm512_castps_pd(_mm512_set1_ps(ab[2 * p]->d * pr.d)),
                _mm256_castps_pd(_mm256_set1_ps(ab[2 * p + 1]->d * pr.d)), 1));
            acc[p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(is), acc[p]);
            if (type == PAW_TYPE_Q6_K) continue;
            const __m256i bsv[2] = { bs0, bs1 };
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m128i bs32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsv[h]), _mm256_extracti128_si256(bsv[h], 1));
                accm[2 * p + h] = kmin_acc(type, &pr, ab[2 * p + h], bs32, accm[2 * p + h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
        y[(2 * p) * ys] = hsum8(_mm512_castps512_ps256(acc[p])) + kmin_finish(type, accm[2 * p]);
        y[(2 * p + 1) * ys] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p]), 1))) +
                              kmin_finish(type, accm[2 * p + 1]);
    }
}
#endif

/* Decode (nc = 1): row by row.  Prefill: 1 row x 4 tokens (AVX-512: 8,
 * then 2 at a time). */
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
#if defined(PAW_ISA_AVX512)
        for (; c + 8 <= nc; c += 8) k_tile_z(type, 4, n, w + r * ws, a + c * as, as, y + c * ys + r, ys);
        for (; c + 2 <= nc; c += 2) k_tile_z(type, 1, n, w + r * ws, a + c * as, as, y + c * ys + r, ys);
#endif
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

paw_kernel ISA_NAME(paw_simd_kquant_kernel)(int type)
{
    paw_kernel k = { NULL, NULL };
    switch (type) {
    case PAW_TYPE_Q4_K: k.vec_dot = dot_q4_K; k.gemm = gemm_q4_K; break;
    case PAW_TYPE_Q5_K: k.vec_dot = dot_q5_K; k.gemm = gemm_q5_K; break;
    case PAW_TYPE_Q6_K: k.vec_dot = dot_q6_K; k.gemm = gemm_q6_K; break;
    default: break;
    }
    return k;
}
