/* backward_avx2.c — the AVX2/FMA inner kernel of paw_matmul_backward
 * (compiled with -mavx2 -mfma; called only after paw_cpu_avx2()).
 *
 * dX[t][c] += sum_r dY[t][r] P[r][c] for a dequantised f32 panel P of nr
 * weight rows and cw columns.  Register tile: 6 tokens x 16 columns (12
 * accumulators), so each pair of panel loads feeds 12 FMAs and each dY value
 * is broadcast once per 16 columns.  Tails fall back to plain loops with the
 * same per-element order of additions (r ascending), so every dX element is
 * the same sum whichever path computed it. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include "train/train.h"

static void tail_cols(float *dX, int64_t ldx, const float *dY, int64_t ldy, const float *P,
                      int64_t ldp, int64_t t0, int64_t t1, int64_t nr, int64_t c0, int64_t c1)
{
    for (int64_t t = t0; t < t1; t++)
        for (int64_t c = c0; c < c1; c++) {
            float acc = dX[t * ldx + c];
            for (int64_t r = 0; r < nr; r++) acc = fmaf(dY[t * ldy + r], P[r * ldp + c], acc);
            dX[t * ldx + c] = acc;
        }
}

void paw_panel_backward_avx2(float *dX, int64_t ldx, const float *dY, int64_t ldy,
                             const float *P, int64_t ldp, int64_t T, int64_t nr, int64_t cw)
{
    const int64_t cv = cw & ~(int64_t)15;
    int64_t t = 0;
    for (; t + 6 <= T; t += 6) {
        for (int64_t c = 0; c < cv; c += 16) {
            __m256 a[6][2];
            for (int i = 0; i < 6; i++) {
                a[i][0] = _mm256_loadu_ps(dX + (t + i) * ldx + c);
                a[i][1] = _mm256_loadu_ps(dX + (t + i) * ldx + c + 8);
            }
            for (int64_t r = 0; r < nr; r++) {
                const __m256 p0 = _mm256_loadu_ps(P + r * ldp + c), p1 = _mm256_loadu_ps(P + r * ldp + c + 8);
                for (int i = 0; i < 6; i++) {
                    const __m256 g = _mm256_broadcast_ss(dY + (t + i) * ldy + r);
                    a[i][0] = _mm256_fmadd_ps(g, p0, a[i][0]);
                    a[i][1] = _mm256_fmadd_ps(g, p1, a[i][1]);
                }
            }
            for (int i = 0; i < 6; i++) {
                _mm256_storeu_ps(dX + (t + i) * ldx + c, a[i][0]);
                _mm256_storeu_ps(dX + (t + i) * ldx + c + 8, a[i][1]);
            }
        }
    }
    /* Remaining tokens one at a time, same order of additions. */
    for (; t < T; t++)
        for (int64_t c = 0; c < cv; c += 16) {
            __m256 a0 = _mm256_loadu_ps(dX + t * ldx + c), a1 = _mm256_loadu_ps(dX + t * ldx + c + 8);
            for (int64_t r = 0; r < nr; r++) {
                const __m256 g = _mm256_broadcast_ss(dY + t * ldy + r);
                a0 = _mm256_fmadd_ps(g, _mm256_loadu_ps(P + r * ldp + c), a0);
                a1 = _mm256_fmadd_ps(g, _mm256_loadu_ps(P + r * ldp + c + 8), a1);
            }
            _mm256_storeu_ps(dX + t * ldx + c, a0);
            _mm256_storeu_ps(dX + t * ldx + c + 8, a1);
        }
    if (cv < cw) tail_cols(dX, ldx, dY, ldy, P, ldp, 0, T, nr, cv, cw);
}

/* Head-sized vector loops, inlined into the attention tasks below. */
static inline float dot8(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy8(float *y, float a, const float *x, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

float paw_dot_avx2(const float *a, const float *b, int64_t n) { return dot8(a, b, n); }
void paw_axpy_avx2(float *y, float a, const float *x, int64_t n) { axpy8(y, a, x, n); }

#define ATT_DOT(a, b, n) dot8(a, b, n)
#define ATT_AXPY(y, a, x, n) axpy8(y, a, x, n)
#define ATT_NAME(name) name##_avx2
#include "train/attn_train.inc"

void paw_attn_fwd_task_avx2(void *job, int ith, int nth) { attn_fwd_task_avx2(job, ith, nth); }
void paw_attn_bwd_task_avx2(void *job, int ith, int nth) { attn_bwd_task_avx2(job, ith, nth); }
