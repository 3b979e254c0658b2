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

float paw_attn_dot_avx2(const float *x, const float *y, int n)
{
    return dot_ggml_order(x, y, 0, n);
}

/* The four accumulators of dot_ggml_order for one position, added
 * vertically; d is a multiple of 32. */
static inline __m256 dot_lanes(const float *q, const void *k, int f16, int d)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k, f16, i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(k, f16, i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), load8(k, f16, i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), load8(k, f16, i + 24), a3);
    }
    return _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
}

float paw_attn_scores_avx2(float *s, const float *q, const void *k, int f16, int64_t kstride,
                           int64_t n, int d, float scale)
{
    const size_t elt = f16 ? 2 : 4;
    const uint8_t *kb = k;
    int64_t p = 0;
    __m256 mx8 = _mm256_set1_ps(-INFINITY);
    if (d % 32 == 0) {
        /* Eight positions at a time: transposing their lane vectors lets one
         * set of vertical adds do the horizontal reduction of all eight, in
         * the same order ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)). */
        for (; p + 8 <= n; p += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = dot_lanes(q, kb + (size_t)((p + i) * kstride) * elt, f16, d);
            __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
            __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
            __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
            __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            /* c_j holds lane j of the eight positions. */
            __m256 c0 = _mm256_permute2f128_ps(u0, u4, 0x20), c4 = _mm256_permute2f128_ps(u0, u4, 0x31);
            __m256 c1 = _mm256_permute2f128_ps(u1, u5, 0x20), c5 = _mm256_permute2f128_ps(u1, u5, 0x31);
            __m256 c2 = _mm256_permute2f128_ps(u2, u6, 0x20), c6 = _mm256_permute2f128_ps(u2, u6, 0x31);
            __m256 c3 = _mm256_permute2f128_ps(u3, u7, 0x20), c7 = _mm256_permute2f128_ps(u3, u7, 0x31);
            __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c4), _mm256_add_ps(c1, c5)),
                                       _mm256_add_ps(_mm256_add_ps(c2, c6), _mm256_add_ps(c3, c7)));
            sum = _mm256_mul_ps(sum, _mm256_set1_ps(scale));
            _mm256_storeu_ps(s + p, sum);
            mx8 = _mm256_max_ps(mx8, sum);
        }
    }
    float lanes[8], mx = -INFINITY;
    _mm256_storeu_ps(lanes, mx8);
    for (int i = 0; i < 8; i++) mx = lanes[i] > mx ? lanes[i] : mx;
    for (; p < n; p++) {
        s[p] = dot_ggml_order(q, kb + (size_t)(p * kstride) * elt, f16, d) * scale;
        mx = s[p] > mx ? s[p] : mx;
    }
    return mx;
}

/* out[d] = sum_p prob[p] * v[p * vstride + d] for d < dv, summed as
 * llama.cpp's f32 GEMM sums it along p: position p feeds partial sum p % 8
 * (one fused multiply-add each), then (t0 + t2) + (t1 + t3) with
 * t_l = s_l + s_{l+4}.  acc: 8 * dv floats.
 *
 * Each partial is a chain over p = l, l + 8, l + 16, ...; running one chain
 * at a time over a 64-wide column block keeps it in eight registers, and
 * gives the same sums as interleaving the chains. */
void paw_attn_vsum_avx2(float *out, const float *prob, const void *v, int f16, int64_t vstride,
                        int64_t n, int dv, float *acc)
{
    const size_t elt = f16 ? 2 : 4;
    const uint8_t *vb = v;
    int d0 = 0;
    for (; d0 + 64 <= dv; d0 += 64)
        for (int l = 0; l < 8; l++) {
            __m256 r0 = _mm256_setzero_ps(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0;
            for (int64_t p = l; p < n; p += 8) {
                const void *vp = vb + (size_t)(p * vstride + d0) * elt;
                const __m256 w = _mm256_set1_ps(prob[p]);
                r0 = _mm256_fmadd_ps(w, load8(vp, f16, 0), r0);
                r1 = _mm256_fmadd_ps(w, load8(vp, f16, 8), r1);
                r2 = _mm256_fmadd_ps(w, load8(vp, f16, 16), r2);
                r3 = _mm256_fmadd_ps(w, load8(vp, f16, 24), r3);
                r4 = _mm256_fmadd_ps(w, load8(vp, f16, 32), r4);
                r5 = _mm256_fmadd_ps(w, load8(vp, f16, 40), r5);
                r6 = _mm256_fmadd_ps(w, load8(vp, f16, 48), r6);
                r7 = _mm256_fmadd_ps(w, load8(vp, f16, 56), r7);
            }
            float *a = acc + l * dv + d0;
            _mm256_storeu_ps(a, r0);      _mm256_storeu_ps(a + 8, r1);
            _mm256_storeu_ps(a + 16, r2); _mm256_storeu_ps(a + 24, r3);
            _mm256_storeu_ps(a + 32, r4); _mm256_storeu_ps(a + 40, r5);
            _mm256_storeu_ps(a + 48, r6); _mm256_storeu_ps(a + 56, r7);
        }
    /* Columns past the last full block of 64 (small heads). */
    for (int l = 0; l < 8; l++)
        for (int d = d0; d < dv; d++) {
            float r = 0;
            for (int64_t p = l; p < n; p += 8) r = fmaf(prob[p], load1(vb + (size_t)(p * vstride) * elt, f16, d), r);
            acc[l * dv + d] = r;
        }
    for (int d = 0; d < dv; d++) {
        const float *c = acc + d;
        const float t0 = c[0] + c[4 * dv], t1 = c[dv] + c[5 * dv];
        const float t2 = c[2 * dv] + c[6 * dv], t3 = c[3 * dv] + c[7 * dv];
        out[d] = (t0 + t2) + (t1 + t3);
    }
}
