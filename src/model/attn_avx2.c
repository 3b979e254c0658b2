/* attn_avx2.c — the two vector loops of attention, AVX2/FMA.  Compiled with
 * -mavx2 -mfma; forward.c calls them only after paw_cpu_avx2().
 *
 * Both sum in the order llama.cpp's plain (non flash) attention does: scores
 * with its f32 dot, the weighted sum of V with its f32 GEMM.  Why care about
 * order: the next matmul quantises these activations to 8 bits, and an ulp of
 * difference that crosses a rounding step moves a value by a whole quantum;
 * over 30 layers that becomes ~0.5 logit of noise.  Same order keeps the
 * results bit-identical to llama.cpp wherever the inputs are (the exp in the
 * softmax still differs: libm here, a vectorised approximation there). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "model/model.h"

/* One dot product in llama.cpp's order: four 8-lane accumulators over
 * 32-element steps, reduced as ((a0 + a2) + (a1 + a3)), then the 8 lanes as
 * (l0..3 + l4..7) pairwise; a tail of n % 32 is added in double. */
static inline __m256 load8(const void *p, int f16, int64_t i)
{
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}

static inline float load1(const void *p, int f16, int64_t i)
{
    if (f16) return _cvtsh_ss(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

static inline float dot_ggml_order(const float *x, const void *y, int f16, int n)
{
    const int np = n & ~31;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < np; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load8(y, f16, i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), load8(y, f16, i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), load8(y, f16, i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), load8(y, f16, i + 24), a3);
    }
    a0 = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    t = _mm_hadd_ps(t, t);
    t = _mm_hadd_ps(t, t);
    double sum = _mm_cvtss_f32(t);
    for (int i = np; i < n; i++) sum += x[i] * load1(y, f16, i);
    return (float)sum;
}

float paw_attn_scores_avx2(float *s, const float *q, const void *k, int f16, int64_t kstride,
                           int64_t n, int d, float scale)
{
    const size_t elt = f16 ? 2 : 4;
    float mx = -INFINITY;
    for (int64_t p = 0; p < n; p++) {
        s[p] = dot_ggml_order(q, (const uint8_t *)k + (size_t)(p * kstride) * elt, f16, d) * scale;
        mx = s[p] > mx ? s[p] : mx;
    }
    return mx;
}

/* out[d] = sum_p prob[p] * v[p * vstride + d] for d < dv, summed as
 * llama.cpp's f32 GEMM sums it along p: position p feeds partial sum p % 8
 * (one fused multiply-add each), then (t0 + t2) + (t1 + t3) with
 * t_l = s_l + s_{l+4}.  acc: 8 * dv floats. */
void paw_attn_vsum_avx2(float *out, const float *prob, const void *v, int f16, int64_t vstride,
                        int64_t n, int dv, float *acc)
{
    const size_t elt = f16 ? 2 : 4;
    memset(acc, 0, (size_t)8 * dv * sizeof(float));
    for (int64_t p = 0; p < n; p++) {
        float *a = acc + (p & 7) * dv;
        const void *vp = (const uint8_t *)v + (size_t)(p * vstride) * elt;
        const __m256 w = _mm256_set1_ps(prob[p]);
        int d = 0;
        for (; d + 8 <= dv; d += 8)
            _mm256_storeu_ps(a + d, _mm256_fmadd_ps(w, load8(vp, f16, d), _mm256_loadu_ps(a + d)));
        for (; d < dv; d++) a[d] = fmaf(prob[p], load1(vp, f16, d), a[d]);
    }
    for (int d = 0; d < dv; d++) {
        const float *c = acc + d;
        const float t0 = c[0] + c[4 * dv], t1 = c[dv] + c[5 * dv];
        const float t2 = c[2 * dv] + c[6 * dv], t3 = c[3 * dv] + c[7 * dv];
        out[d] = (t0 + t2) + (t1 + t3);
    }
}
