/* attn_flash.c — attention in the arithmetic of llama.cpp's CPU flash
 * attention (paw_ctx_params.flash_attn), for parity with llama.cpp runs
 * made with flash attention on.
 *
 * What differs from the plain path (forward.c, attn_avx2.c): flash attention
 * reads K and V as half floats (llama.cpp casts an f32 cache to f16 for it),
 * rounds the query to half precision before the dot products, keeps one
 * running maximum and sum per query (the "online" softmax: each new maximum
 * rescales what was summed so far) and accumulates the weighted V rows in a
 * half-precision vector, rounding after every step.  Those roundings move
 * probabilities by ~1e-3, far more than summation order; matching them is
 * what brings paw within the fixture's tolerance of such a run.
 *
 * llama.cpp uses this per-query arithmetic for batches of fewer than 64
 * queries; for larger prefill batches it switches to a tiled kernel that
 * keeps q and the accumulator in f32.  paw uses the per-query form for all
 * batch sizes (one arithmetic, documented), so long prompts may differ from
 * llama.cpp's at the ulp level of f16. */
#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "model/model.h"

/* Round to the nearest half-precision value, kept as a float. */
static inline float round_f16(float x) { return paw_f16_to_f32(paw_f32_to_f16(x)); }

static inline float kv_half(const void *p, int f16, int64_t i)
{
    return f16 ? paw_f16_to_f32(((const uint16_t *)p)[i]) : round_f16(((const float *)p)[i]);
}

/* ggml's portable half dot product: products of halves are exact in float,
 * summed in double. */
static float dot_half_scalar(const float *x, const float *y, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

void paw_attn_flash(float *out, const float *q, const void *k, const void *v, int f16,
                    int64_t kstride, int64_t vstride, int64_t n, int d, int dv, float scale,
                    float *scratch)
{
    float *qh = scratch, *kr = scratch + d, *acc = scratch + 2 * d;
    const int avx2 = paw_cpu_avx2();
    for (int i = 0; i < d; i++) qh[i] = round_f16(q[i]);
    memset(acc, 0, (size_t)dv * sizeof(float));
    float M = -INFINITY, S = 0.0f;
    for (int64_t p = 0; p < n; p++) {
        const uint8_t *kp = (const uint8_t *)k + (size_t)(p * kstride) * (f16 ? 2 : 4);
        for (int i = 0; i < d; i++) kr[i] = kv_half(kp, f16, i);
        const float s = (avx2 ? paw_attn_dot_avx2(qh, kr, d) : dot_half_scalar(qh, kr, d)) * scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            /* A new maximum: what was summed so far shrinks by e^(M_old - M). */
            ms = expf(M - s);
            M = s;
            for (int i = 0; i < dv; i++) acc[i] = round_f16(acc[i] * ms);
        } else {
            vs = expf(s - M);
        }
        const uint8_t *vp = (const uint8_t *)v + (size_t)(p * vstride) * (f16 ? 2 : 4);
        for (int i = 0; i < dv; i++) acc[i] = round_f16(fmaf(kv_half(vp, f16, i), vs, acc[i]));
        S = S * ms + vs;
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int i = 0; i < dv; i++) out[i] = acc[i] * inv;
}
