/* quant_dot.c — scalar reference dot products, one per weight type, against
 * the activation type ggml pairs it with.  Integer products are summed
 * exactly in int32 per block and scaled once per block (or super-block), and
 * every float operation is the one ggml's plain C kernels (llama.cpp built
 * without SIMD) do, in the same order, so paw's scalar path reproduces that
 * build bit for bit (tests/test_parity_scalar.c); the AVX2 kernels are held
 * to a tight tolerance against these. */
#include "core/common.h"
#include "core/quant.h"

void paw_vec_dot_f32_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0.0;
    /* products rounded to float, summed in double: ggml's plain C f32 dot */
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

/* F16 and BF16: ggml rounds the activations to the weight type first and
 * then sums float products in double; paw keeps f32 activations on both
 * paths.  With activations that are already f16 (bf16) values the product
 * is exact in float and in double alike, so the sums are ggml's bits. */
void paw_vec_dot_f16_f32(int64_t n, float *s, const void *w, const void *a)
{
    const uint8_t *x = w;
    const float *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)paw_f16_to_f32(paw_ld_u16(x + 2 * i)) * y[i];
    *s = (float)sum;
}

void paw_vec_dot_bf16_f32(int64_t n, float *s, const void *w, const void *a)
{
    const uint8_t *x = w;
    const float *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)paw_bf16_to_f32(paw_ld_u16(x + 2 * i)) * y[i];
    *s = (float)sum;
}

void paw_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q4_0 *x = w;
    const paw_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PAW_QK / 2; j++)
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += (float)sumi * paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d);
    }
    *s = sum;
}

void paw_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q4_1 *x = w;
    const paw_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PAW_QK / 2; j++)
            sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        /* sum(d_w q_w + m)(d_a q_a) = d_w d_a sum(q_w q_a) + m * (d_a sum q_a) */
        sum += (float)sumi * (paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d))
             + paw_f16_to_f32(x[i].m) * paw_f16_to_f32(y[i].s);
    }
    *s = sum;
}

void paw_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q5_0 *x = w;
    const paw_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        uint32_t qh = paw_ld_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < PAW_QK / 2; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += (q0 - 16) * y[i].qs[j] + (q1 - 16) * y[i].qs[j + 16];
        }
        sum += (float)sumi * (paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d));
    }
    *s = sum;
}

void paw_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q5_1 *x = w;
    const paw_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        uint32_t qh = paw_ld_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < PAW_QK / 2; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sum += (float)sumi * (paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d))
             + paw_f16_to_f32(x[i].m) * paw_f16_to_f32(y[i].s);
    }
    *s = sum;
}

void paw_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q8_0 *x = w;
    const paw_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PAW_QK; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d));
    }
    *s = sum;
}

/* The K-quants, in the arithmetic of ggml's plain C kernels (what llama.cpp
 * computes when built without SIMD): the integer products of a super-block
 * are gathered in 8 int32 lanes, lane = element index mod 8, each product
 * weighted by its sub-block's scale; each lane is scaled in float into one
 * of 8 float accumulators that run over the whole row; the mins term goes
 * into a separate float sum; the 8 lanes are added to it at the end.  The
 * integer part is exact in any order; the float steps are ggml's, so the
 * results are bit-identical to its generic build. */
static void k_lanes(const int8_t *q, const int8_t *a, const int *scale, int sub, int32_t lane[8])
{
    for (int l = 0; l < 8; l++) lane[l] = 0;
    for (int e = 0; e < PAW_QK_K; e++) lane[e & 7] += scale[e / sub] * (q[e] * a[e]);
}

/* The 256 unsigned 4- or 5-bit values of a Q4_K/Q5_K super-block in element
 * order (qh NULL for Q4_K), and its 8 scales and 8 mins. */
static void k45_unpack(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales,
                       int8_t q[PAW_QK_K], int sc[8], int mn[8])
{
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            int lo = qs[32 * g + l] & 0xF, hi = qs[32 * g + l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * g)) & 1) << 4;
                hi |= ((qh[l] >> (2 * g + 1)) & 1) << 4;
            }
            q[64 * g + l] = (int8_t)lo;
            q[64 * g + 32 + l] = (int8_t)hi;
        }
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        paw_k_scale_min(j, scales, &s, &m);
        sc[j] = s;
        mn[j] = m;
    }
}

static float k45_dot(int64_t n, const void *w, const paw_block_q8_K *y, int five)
{
    float sums[8] = { 0 }, sumf = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        const uint8_t *qs, *qh, *scales;
        paw_f16 d16, dmin16;
        if (five) {
            const paw_block_q5_K *x = (const paw_block_q5_K *)w + i;
            qs = x->qs; qh = x->qh; scales = x->scales; d16 = x->d; dmin16 = x->dmin;
        } else {
            const paw_block_q4_K *x = (const paw_block_q4_K *)w + i;
            qs = x->qs; qh = NULL; scales = x->scales; d16 = x->d; dmin16 = x->dmin;
        }
        int8_t q[PAW_QK_K];
        int sc[8], mn[8];
        int32_t lane[8];
        k45_unpack(qs, qh, scales, q, sc, mn);
        k_lanes(q, y[i].qs, sc, 32, lane);
        int summ = 0;
        for (int j = 0; j < PAW_QK_K / 16; j++) summ += y[i].bsums[j] * mn[j / 2];
        const float d = paw_f16_to_f32(d16) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lane[l];
        const float dmin = paw_f16_to_f32(dmin16) * y[i].d;
        sumf -= dmin * (float)summ;
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

void paw_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    *s = k45_dot(n, w, a, 0);
}

void paw_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    *s = k45_dot(n, w, a, 1);
}

void paw_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q6_K *x = w;
    const paw_block_q8_K *y = a;
    float sums[8] = { 0 }, sumf = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        int8_t q[PAW_QK_K];
        int sc[PAW_QK_K / 16];
        int32_t lane[8];
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        /* Two halves of 128: four interleaved rows of 32 (see quant.h). */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                int8_t *o = q + 128 * h + l;
                o[0]  = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                o[32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        for (int j = 0; j < PAW_QK_K / 16; j++) sc[j] = x[i].scales[j];
        k_lanes(q, y[i].qs, sc, 16, lane);
        const float d = paw_f16_to_f32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lane[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}
