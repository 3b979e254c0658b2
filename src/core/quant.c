/* quant.c — the type table, fp16/bf16 conversion, dequantisation of every
 * weight type and the quantisers.
 *
 * Dequantisation is bit-exact with ggml's reference: every float expression
 * below is evaluated in the same order as ggml's (e.g. Q4_K computes
 * (d*sc)*q - dmin*m, not d*(sc*q)), and this file is compiled without FMA
 * so nothing is contracted.  tests/test_quant.c checks this against golden
 * output of gguf-py (an independent implementation). */
#include <math.h>
#include "core/common.h"
#include "core/quant.h"

/* ------------------------------------------------------- fp16 and bf16 */

float paw_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
    float f;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in f32 */
        f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)
        u = sign | 0x7f800000u | (mant << 13);         /* inf / NaN (payload kept) */
    else
        u = sign | ((exp + 112) << 23) | (mant << 13);  /* rebias 15 -> 127 */
    memcpy(&f, &u, 4);
    return f;
}

uint16_t paw_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7fffffffu;
    if (u >= 0x7f800000u)  /* inf, or NaN kept quiet and non-zero */
        return sign | 0x7c00 | (u > 0x7f800000u ? (uint16_t)(0x200 | ((u >> 13) & 0x3ff)) : 0);
    if (u >= 0x477ff000u)  /* >= 65520 rounds (ties to even) past 65504 */
        return sign | 0x7c00;
    if (u < 0x38800000u) {
        /* Below the smallest normal half: adding 0.5 puts the value in the
         * [0.5, 1) binade, whose ulp is 2^-24 = one half subnormal step, so
         * the FPU's own round-to-nearest-even does the rounding. */
        float a, t;
        memcpy(&a, &u, 4);
        t = a + 0.5f;
        uint32_t tu;
        memcpy(&tu, &t, 4);
        return sign | (uint16_t)(tu - 0x3f000000u);
    }
    /* Normal: rebias the exponent and round the 13 dropped bits to nearest
     * even; a mantissa carry correctly bumps the exponent. */
    u += 0xc8000fffu + ((u >> 13) & 1);
    return sign | (uint16_t)(u >> 13);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 64);  /* NaN: force quiet */
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* ------------------------------------------------------ dequantisation */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = paw_f16_to_f32(paw_ld_u16(p + 2 * i));
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = paw_bf16_to_f32(paw_ld_u16(p + 2 * i));
}

static void q4_0_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d);
        for (int j = 0; j < PAW_QK / 2; j++) {
            y[j]      = (float)((b->qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d), m = paw_f16_to_f32(b->m);
        for (int j = 0; j < PAW_QK / 2; j++) {
            y[j]      = (float)(b->qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit value of element j of a Q5_0/Q5_1 block (0..31). */
static inline int q5_value(const uint8_t *qs, uint32_t qh, int j)
{
    int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1) << 4);
}

static void q5_0_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d);
        uint32_t qh = paw_ld_u32(b->qh);
        for (int j = 0; j < PAW_QK; j++) y[j] = (float)(q5_value(b->qs, qh, j) - 16) * d;
    }
}

static void q5_1_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d), m = paw_f16_to_f32(b->m);
        uint32_t qh = paw_ld_u32(b->qh);
        for (int j = 0; j < PAW_QK; j++) y[j] = (float)q5_value(b->qs, qh, j) * d + m;
    }
}

static void q8_0_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d);
        for (int j = 0; j < PAW_QK; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void q8_1_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / PAW_QK; i++, b++, y += PAW_QK) {
        float d = paw_f16_to_f32(b->d);
        for (int j = 0; j < PAW_QK; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void q4_K_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q4_K *b = src;
    for (int64_t i = 0; i < n / PAW_QK_K; i++, b++) {
        float d = paw_f16_to_f32(b->d), dmin = paw_f16_to_f32(b->dmin);
        const uint8_t *q = b->qs;
        /* Each 32 bytes of qs hold two sub-blocks: low nibbles, then high. */
        for (int g = 0; g < 4; g++, q += 32) {
            uint8_t sc, m;
            paw_k_scale_min(2 * g, b->scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            paw_k_scale_min(2 * g + 1, b->scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void q5_K_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q5_K *b = src;
    for (int64_t i = 0; i < n / PAW_QK_K; i++, b++) {
        float d = paw_f16_to_f32(b->d), dmin = paw_f16_to_f32(b->dmin);
        const uint8_t *q = b->qs;
        for (int g = 0; g < 4; g++, q += 32) {
            uint8_t sc, m;
            paw_k_scale_min(2 * g, b->scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            paw_k_scale_min(2 * g + 1, b->scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xF) + (((b->qh[l] >> (2 * g)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + (((b->qh[l] >> (2 * g + 1)) & 1) << 4)) - m2;
        }
    }
}

static void q6_K_to_float(const void *src, float *y, int64_t n)
{
    const paw_block_q6_K *b = src;
    for (int64_t i = 0; i < n / PAW_QK_K; i++, b++) {
        float d = paw_f16_to_f32(b->d);
        const uint8_t *ql = b->ql, *qh = b->qh;
        const int8_t *sc = b->scales;
        /* Two halves of 128: ql[0..63] and qh[0..31] encode elements 0..127
         * as four interleaved rows of 32 (see the field comments). */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]      = d * sc[is + 0] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

/* -------------------------------------------------------- quantisation */

static void f32_from_float(const float *x, void *dst, int64_t n)
{
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void f16_from_float(const float *x, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = paw_f32_to_f16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void bf16_from_float(const float *x, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = f32_to_bf16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static float block_amax(const float *x, int n)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void paw_quantize_row_q8_0_ref(const float *x, void *dst, int64_t n)
{
    paw_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / PAW_QK; i++, x += PAW_QK) {
        float d = block_amax(x, PAW_QK) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = paw_f32_to_f16(d);
        for (int j = 0; j < PAW_QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void paw_quantize_row_q8_1_ref(const float *x, void *dst, int64_t n)
{
    paw_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / PAW_QK; i++, x += PAW_QK) {
        float d = block_amax(x, PAW_QK) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        y[i].d = paw_f32_to_f16(d);
        for (int j = 0; j < PAW_QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = paw_f32_to_f16((float)sum * d);
    }
}

void paw_quantize_row_q4_0_ref(const float *x, void *dst, int64_t n)
{
    paw_block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / PAW_QK; i++, x += PAW_QK) {
        /* The value of largest magnitude (first one on ties) maps to -8, so
         * the sign of the scale follows it and the range -8..7 is used fully. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < PAW_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = paw_f32_to_f16(d);
        for (int j = 0; j < PAW_QK / 2; j++) {
            int q0 = PAW_MIN(15, (int)(int8_t)(x[j] * id + 8.5f));
            int q1 = PAW_MIN(15, (int)(int8_t)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void paw_quantize_row_q8_0(const float *x, void *dst, int64_t n)
{
    paw_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / PAW_QK; i++, x += PAW_QK) {
        float amax = block_amax(x, PAW_QK);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = paw_f32_to_f16(amax / 127.0f);
        for (int j = 0; j < PAW_QK; j++) y[i].qs[j] = (int8_t)paw_nearest_int(x[j] * id);
    }
}

void paw_quantize_row_q8_1(const float *x, void *dst, int64_t n)
{
    paw_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / PAW_QK; i++, x += PAW_QK) {
        float amax = block_amax(x, PAW_QK);
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        y[i].d = paw_f32_to_f16(d);
        for (int j = 0; j < PAW_QK; j++) {
            y[i].qs[j] = (int8_t)paw_nearest_int(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = paw_f32_to_f16(d * (float)sum);
    }
}

void paw_quantize_row_q8_K(const float *x, void *dst, int64_t n)
{
    paw_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / PAW_QK_K; i++, x += PAW_QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < PAW_QK_K; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* -127/max: the largest-magnitude value lands exactly on -127. */
        float iscale = -127.0f / max;
        for (int j = 0; j < PAW_QK_K; j++)
            y[i].qs[j] = (int8_t)PAW_MIN(127, paw_nearest_int(iscale * x[j]));
        for (int g = 0; g < PAW_QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------ the table */

static const paw_type_traits type_table[PAW_TYPE_COUNT] = {
    [PAW_TYPE_F32]  = { "F32", 1, 4, 0, f32_to_float, f32_from_float,
                        paw_vec_dot_f32_f32, PAW_TYPE_F32 },
    [PAW_TYPE_F16]  = { "F16", 1, 2, 0, f16_to_float, f16_from_float,
                        paw_vec_dot_f16_f32, PAW_TYPE_F32 },
    [PAW_TYPE_BF16] = { "BF16", 1, 2, 0, bf16_to_float, bf16_from_float,
                        paw_vec_dot_bf16_f32, PAW_TYPE_F32 },
    [PAW_TYPE_Q4_0] = { "Q4_0", PAW_QK, sizeof(paw_block_q4_0), 1, q4_0_to_float,
                        paw_quantize_row_q4_0_ref, paw_vec_dot_q4_0_q8_0, PAW_TYPE_Q8_0 },
    [PAW_TYPE_Q4_1] = { "Q4_1", PAW_QK, sizeof(paw_block_q4_1), 1, q4_1_to_float,
                        NULL, paw_vec_dot_q4_1_q8_1, PAW_TYPE_Q8_1 },
    [PAW_TYPE_Q5_0] = { "Q5_0", PAW_QK, sizeof(paw_block_q5_0), 1, q5_0_to_float,
                        NULL, paw_vec_dot_q5_0_q8_0, PAW_TYPE_Q8_0 },
    [PAW_TYPE_Q5_1] = { "Q5_1", PAW_QK, sizeof(paw_block_q5_1), 1, q5_1_to_float,
                        NULL, paw_vec_dot_q5_1_q8_1, PAW_TYPE_Q8_1 },
    [PAW_TYPE_Q8_0] = { "Q8_0", PAW_QK, sizeof(paw_block_q8_0), 1, q8_0_to_float,
                        paw_quantize_row_q8_0_ref, paw_vec_dot_q8_0_q8_0, PAW_TYPE_Q8_0 },
    [PAW_TYPE_Q8_1] = { "Q8_1", PAW_QK, sizeof(paw_block_q8_1), 1, q8_1_to_float,
                        paw_quantize_row_q8_1, NULL, PAW_TYPE_Q8_1 },
    [PAW_TYPE_Q4_K] = { "Q4_K", PAW_QK_K, sizeof(paw_block_q4_K), 1, q4_K_to_float,
                        NULL, paw_vec_dot_q4_K_q8_K, PAW_TYPE_Q8_K },
    [PAW_TYPE_Q5_K] = { "Q5_K", PAW_QK_K, sizeof(paw_block_q5_K), 1, q5_K_to_float,
                        NULL, paw_vec_dot_q5_K_q8_K, PAW_TYPE_Q8_K },
    [PAW_TYPE_Q6_K] = { "Q6_K", PAW_QK_K, sizeof(paw_block_q6_K), 1, q6_K_to_float,
                        NULL, paw_vec_dot_q6_K_q8_K, PAW_TYPE_Q8_K },
    [PAW_TYPE_Q8_K] = { "Q8_K", PAW_QK_K, sizeof(paw_block_q8_K), 1, NULL,
                        paw_quantize_row_q8_K, NULL, PAW_TYPE_Q8_K },
};

const paw_type_traits *paw_type_get(int type)
{
    if (type < 0 || type >= PAW_TYPE_COUNT || type_table[type].block_size == 0) return NULL;
    return &type_table[type];
}

const char *paw_type_name(int type)
{
    const paw_type_traits *t = paw_type_get(type);
    return t ? t->name : NULL;
}

int paw_type_block_size(int type)
{
    const paw_type_traits *t = paw_type_get(type);
    return t ? t->block_size : 0;
}

size_t paw_type_block_bytes(int type)
{
    const paw_type_traits *t = paw_type_get(type);
    return t ? t->block_bytes : 0;
}

size_t paw_type_row_bytes(int type, int64_t n)
{
    const paw_type_traits *t = paw_type_get(type);
    if (!t || n < 0) return 0;
    return (size_t)(n / t->block_size) * t->block_bytes;
}

/* Common argument checks of paw_dequantize / paw_quantize. */
static int check_row(const char *what, const paw_type_traits *t, int type,
                     const void *a, const void *b, int64_t n)
{
    if (!t) return paw_err(PAW_EUNSUPPORTED, "%s: unknown tensor type %d", what, type);
    if (n < 0 || n % t->block_size != 0)
        return paw_err(PAW_EINVAL, "%s: %lld elements is not a multiple of the %s block size %d",
                       what, (long long)n, t->name, t->block_size);
    if (n > 0 && (!a || !b)) return paw_err(PAW_EINVAL, "%s: NULL buffer", what);
    return PAW_OK;
}

int paw_dequantize(int type, const void *src, float *dst, int64_t n)
{
    const paw_type_traits *t = paw_type_get(type);
    int rc = check_row("dequantize", t, type, src, dst, n);
    if (rc) return rc;
    if (!t->to_float)
        return paw_err(PAW_EUNSUPPORTED, "dequantize: %s is an activation-only type", t->name);
    if (n) t->to_float(src, dst, n);
    return PAW_OK;
}

int paw_quantize(int type, const float *src, void *dst, int64_t n)
{
    const paw_type_traits *t = paw_type_get(type);
    int rc = check_row("quantize", t, type, src, dst, n);
    if (rc) return rc;
    switch (type) {
    case PAW_TYPE_F32: case PAW_TYPE_F16: case PAW_TYPE_BF16:
    case PAW_TYPE_Q8_0: case PAW_TYPE_Q4_0:
        break;
    default:
        return paw_err(PAW_EUNSUPPORTED, "quantize: no quantiser for %s", t->name);
    }
    if (n) t->from_float(src, dst, n);
    return PAW_OK;
}
