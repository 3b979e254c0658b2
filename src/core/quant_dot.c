/* quant_dot.c — scalar reference dot products, one per weight type, against
 * the activation type ggml pairs it with.  Integer products are summed
 * exactly in int32 per block and scaled once per block (or super-block), the
 * same arithmetic as ggml's, so the AVX2 kernels can be held to a tight
 * tolerance against these. */
#include "core/common.h"
#include "core/quant.h"

void paw_vec_dot_f32_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * y[i];
    *s = (float)sum;
}

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
        sum += (float)sumi * (paw_f16_to_f32(x[i].d) * paw_f16_to_f32(y[i].d));
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

/* Q4_K and Q5_K: sum_j (d sc_j q - dmin m_j) . a  over sub-blocks j
 *   = d_a (d sum_j sc_j (q.a)_j  -  dmin sum_j m_j bsum_j),
 * with bsum_j the activation sum of sub-block j (two Q8_K bsums). */
static float k_combine(const paw_block_q8_K *y, float d, float dmin,
                       const uint8_t *scales, const int32_t dots[8])
{
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        paw_k_scale_min(j, scales, &sc, &m);
        sumi += sc * dots[j];
        summ += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return y->d * (d * (float)sumi - dmin * (float)summ);
}

void paw_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q4_K *x = w;
    const paw_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        int32_t dots[8];
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = x[i].qs + 32 * g;
            const int8_t *a0 = y[i].qs + 64 * g, *a1 = a0 + 32;
            int32_t d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += (q[l] & 0xF) * a0[l];
                d1 += (q[l] >> 4) * a1[l];
            }
            dots[2 * g] = d0;
            dots[2 * g + 1] = d1;
        }
        sum += k_combine(&y[i], paw_f16_to_f32(x[i].d), paw_f16_to_f32(x[i].dmin), x[i].scales, dots);
    }
    *s = sum;
}

void paw_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q5_K *x = w;
    const paw_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        int32_t dots[8];
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = x[i].qs + 32 * g, *qh = x[i].qh;
            const int8_t *a0 = y[i].qs + 64 * g, *a1 = a0 + 32;
            int32_t d0 = 0, d1 = 0;
            for (int l = 0; l < 32; l++) {
                d0 += ((q[l] & 0xF) | (((qh[l] >> (2 * g)) & 1) << 4)) * a0[l];
                d1 += ((q[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4)) * a1[l];
            }
            dots[2 * g] = d0;
            dots[2 * g + 1] = d1;
        }
        sum += k_combine(&y[i], paw_f16_to_f32(x[i].d), paw_f16_to_f32(x[i].dmin), x[i].scales, dots);
    }
    *s = sum;
}

void paw_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const paw_block_q6_K *x = w;
    const paw_block_q8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PAW_QK_K; i++) {
        int32_t sumi = 0;
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            /* sub-block sums of 16: index k*2 + l/16 for the 4 rows k */
            int32_t part[8] = { 0 };
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                part[is + 0] += q1 * q8[l];
                part[is + 2] += q2 * q8[l + 32];
                part[is + 4] += q3 * q8[l + 64];
                part[is + 6] += q4 * q8[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * part[k];
        }
        sum += y[i].d * (paw_f16_to_f32(x[i].d) * (float)sumi);
    }
    *s = sum;
}
