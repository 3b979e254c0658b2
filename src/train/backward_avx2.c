/* backward_avx2.c — the AVX2/FMA kernels of src/train (compiled with -mavx2
 * -mfma; called only after paw_cpu_avx2()): the panel kernel of
 * paw_matmul_backward, the small dense product paw_gemm_acc of attention
 * and LoRA, and a vector e^x with the softmax and SwiGLU loops built on it.
 *
 * paw_panel_backward_avx2: dX[t][c] += sum_r dY[t][r] P[r][c] for a
 * dequantised f32 panel P of nr weight rows and cw columns.  Register tile:
 * 6 tokens x 16 columns (12 accumulators), so each pair of panel loads feeds
 * 12 FMAs and each dY value is broadcast once per 16 columns.  Tails fall
 * back to plain loops with the same per-element order of additions (r
 * ascending), so every dX element is the same sum whichever path computed
 * it. */
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

/* ------------------------------------------------ attention's products */

/* MT (1..6, a constant after inlining) rows of C: 16 columns at a time with
 * 2 accumulators per row, then 8 at a time with masked loads and stores for
 * the tail.  Every C element is one FMA chain over r ascending.  The rows
 * are spelled out by macros (an array of accumulators is not reliably kept
 * in registers); `if (MT > i)` folds away after inlining. */
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
static inline __attribute__((always_inline)) void
tile_rows(const int MT, float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
          const float *B, int64_t ldb, int64_t nc, int64_t nr, int acc)
{
    static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
    const __m256 z = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= nc; c += 16) {
        __m256 x00 = z, x01 = z, x10 = z, x11 = z, x20 = z, x21 = z, x30 = z, x31 = z, x40 = z,
               x41 = z, x50 = z, x51 = z;
#define LD(i) if (MT > i && acc) { x##i##0 = _mm256_loadu_ps(C + i * ldc + c); \
                                  x##i##1 = _mm256_loadu_ps(C + i * ldc + c + 8); }
        ROWS6(LD)
#undef LD
        const float *a = A, *bp = B + c;
        for (int64_t r = 0; r < nr; r++, a += ar, bp += ldb) {
            const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#define FM(i) if (MT > i) { const __m256 g = _mm256_broadcast_ss(a + i * as); \
                            x##i##0 = _mm256_fmadd_ps(g, b0, x##i##0); \
                            x##i##1 = _mm256_fmadd_ps(g, b1, x##i##1); }
            ROWS6(FM)
#undef FM
        }
#define ST(i) if (MT > i) { _mm256_storeu_ps(C + i * ldc + c, x##i##0); \
                            _mm256_storeu_ps(C + i * ldc + c + 8, x##i##1); }
        ROWS6(ST)
#undef ST
    }
    for (; c < nc; c += 8) {
        const int w = nc - c < 8 ? (int)(nc - c) : 8;
        const __m256i m = _mm256_loadu_si256((const __m256i *)(lanes + 8 - w));
        __m256 x0 = z, x1 = z, x2 = z, x3 = z, x4 = z, x5 = z;
#define LD(i) if (MT > i && acc) x##i = _mm256_maskload_ps(C + i * ldc + c, m);
        ROWS6(LD)
#undef LD
        const float *a = A, *bp = B + c;
        for (int64_t r = 0; r < nr; r++, a += ar, bp += ldb) {
            const __m256 b = _mm256_maskload_ps(bp, m);
#define FM(i) if (MT > i) x##i = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * as), b, x##i);
            ROWS6(FM)
#undef FM
        }
#define ST(i) if (MT > i) _mm256_maskstore_ps(C + i * ldc + c, m, x##i);
        ROWS6(ST)
#undef ST
    }
}

void paw_gemm_acc_avx2(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                       const float *B, int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc)
{
    /* Rows in tiles of 6, but 7 or 8 left over go as 4 + 3 or 4 + 4: a
     * 1- or 2-row tile has too few independent FMA chains to hide the FMA
     * latency (LoRA's rank 8 would otherwise run 6 + 2). */
    for (int64_t t = 0; t < nt;) {
        const int64_t rem = nt - t;
        const int mt = rem == 7 || rem == 8 ? 4 : rem >= 6 ? 6 : (int)rem;
        float *c = C + t * ldc;
        const float *a = A + t * as;
        switch (mt) {
        case 6: tile_rows(6, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        case 5: tile_rows(5, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        case 4: tile_rows(4, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        case 3: tile_rows(3, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        case 2: tile_rows(2, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        default: tile_rows(1, c, ldc, a, as, ar, B, ldb, nc, nr, acc); break;
        }
        t += mt;
    }
}

/* ------------------------------------------------------- exponentials */

/* e^x for 8 floats: x = n ln2 + f with |f| <= ln2/2, e^f by its degree-7
 * Taylor polynomial (truncation ~5e-9, so float rounding dominates: within
 * a few ulp of expf), 2^n through the exponent bits.  Inputs
 * below -87.3 give 0, the softmax's masked keys. */
static inline __m256 exp8(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.37f), lo = _mm256_set1_ps(-87.33f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    f = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), f);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    /* n in [-126, 128]: 2^n = (n + 127) << 23; 128 splits in two factors. */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
    const __m256i b = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, b), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, b), 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(_mm256_mul_ps(p, s1), s2));
}

static inline float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline __m256i tail_mask(int64_t w)
{
    static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
    return _mm256_loadu_si256((const __m256i *)(lanes + 8 - w));
}

void paw_softmax_row_avx2(float *p, int64_t n, int64_t w, float scale)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_mul_ps(_mm256_loadu_ps(p + i), vs));
    float m = -INFINITY;
    {
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        m = _mm_cvtss_f32(h);
    }
    for (int64_t k = i; k < n; k++) m = p[k] * scale > m ? p[k] * scale : m;
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(p + i), vs, vm));
        _mm256_storeu_ps(p + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) {
        const __m256i mk = tail_mask(n - i);
        const __m256 e = _mm256_and_ps(exp8(_mm256_fmsub_ps(_mm256_maskload_ps(p + i, mk), vs, vm)),
                                       _mm256_castsi256_ps(mk));
        _mm256_maskstore_ps(p + i, mk, e);
        sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum8(sum));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), inv));
    for (; i < n; i++) p[i] *= _mm256_cvtss_f32(inv);
    for (; i < w; i++) p[i] = 0.0f;
}

void paw_dsoftmax_row_avx2(float *d, const float *p, int64_t n, int64_t w, float scale)
{
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(d + i), acc);
    float dot = hsum8(acc);
    for (int64_t k = i; k < n; k++) dot += p[k] * d[k];
    const __m256 vd = _mm256_set1_ps(dot), vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i),
                                                            _mm256_sub_ps(_mm256_loadu_ps(d + i), vd)), vs));
    for (; i < n; i++) d[i] = p[i] * (d[i] - dot) * scale;
    for (; i < w; i++) d[i] = 0.0f;
}

double paw_exp_sum_avx2(const float *x, int64_t n, float m)
{
    const __m256 vm = _mm256_set1_ps(m);
    double total = 0;
    int64_t i = 0;
    /* float partial sums over 1024 values, added in double */
    while (i + 8 <= n) {
        __m256 s = _mm256_setzero_ps();
        const int64_t end = i + 1024 < n ? i + 1024 : n;
        for (; i + 8 <= end; i += 8) s = _mm256_add_ps(s, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
        total += hsum8(s);
    }
    for (; i < n; i++) total += expf(x[i] - m);
    return total;
}

void paw_exp_scale_avx2(float *x, int64_t n, float m, float w)
{
    const __m256 vm = _mm256_set1_ps(m), vw = _mm256_set1_ps(w);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(vw, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm))));
    for (; i < n; i++) x[i] = w * expf(x[i] - m);
}

void paw_swiglu_backward_avx2(float *dgate, float *dup, const float *dout, const float *gate,
                              const float *up, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i), d = _mm256_loadu_ps(dout + i);
        const __m256 sg = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        /* dgate += d u sg (1 + g (1 - sg)); dup += d g sg */
        const __m256 dsil = _mm256_mul_ps(sg, _mm256_fmadd_ps(g, _mm256_sub_ps(one, sg), one));
        _mm256_storeu_ps(dgate + i, _mm256_fmadd_ps(_mm256_mul_ps(d, u), dsil, _mm256_loadu_ps(dgate + i)));
        _mm256_storeu_ps(dup + i, _mm256_fmadd_ps(_mm256_mul_ps(d, g), sg, _mm256_loadu_ps(dup + i)));
    }
    if (i < n) paw_swiglu_backward(dgate + i, dup + i, dout + i, gate + i, up + i, n - i);
}

void paw_swiglu_forward_avx2(float *out, const float *gate, const float *up, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, e), _mm256_loadu_ps(up + i)));
    }
    if (i < n) paw_swiglu_forward(out + i, gate + i, up + i, n - i);
}
