/* backward_avx512.c — paw_gemm_acc's register tile on 512-bit registers
 * (compiled with the AVX-512 F/BW/VL/VNNI flags, Makefile *_avx512.c; called
 * only after the AVX-512 set was picked).
 *
 * The same arithmetic as the AVX2 tile and the scalar loop: every C element
 * is one chain of fused multiply-adds over r ascending, so the bits are
 * theirs; what changes is 16 columns per register, 32 per step with two
 * registers per row, and masked loads and stores for the last columns. */
#include <immintrin.h>
#include "train/train.h"

#define AI static inline __attribute__((always_inline))

/* MT (1..6, constant after inlining) rows of C. */
AI void tile_rows(const int MT, float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                  const float *B, int64_t ldb, int64_t nc, int64_t nr, int acc)
{
    int64_t c = 0;
    for (; c + 32 <= nc; c += 32) {
        __m512 x[6][2];
#pragma GCC unroll 6
        for (int i = 0; i < MT; i++) {
            x[i][0] = acc ? _mm512_loadu_ps(C + i * ldc + c) : _mm512_setzero_ps();
            x[i][1] = acc ? _mm512_loadu_ps(C + i * ldc + c + 16) : _mm512_setzero_ps();
        }
        const float *a = A, *bp = B + c;
        for (int64_t r = 0; r < nr; r++, a += ar, bp += ldb) {
            const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 6
            for (int i = 0; i < MT; i++) {
                const __m512 g = _mm512_set1_ps(a[i * as]);
                x[i][0] = _mm512_fmadd_ps(g, b0, x[i][0]);
                x[i][1] = _mm512_fmadd_ps(g, b1, x[i][1]);
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < MT; i++) {
            _mm512_storeu_ps(C + i * ldc + c, x[i][0]);
            _mm512_storeu_ps(C + i * ldc + c + 16, x[i][1]);
        }
    }
    for (; c < nc; c += 16) {
        const int64_t w = nc - c < 16 ? nc - c : 16;
        const __mmask16 m = (__mmask16)((1u << w) - 1u);
        __m512 x[6];
#pragma GCC unroll 6
        for (int i = 0; i < MT; i++) x[i] = acc ? _mm512_maskz_loadu_ps(m, C + i * ldc + c) : _mm512_setzero_ps();
        const float *a = A, *bp = B + c;
        for (int64_t r = 0; r < nr; r++, a += ar, bp += ldb) {
            const __m512 b = _mm512_maskz_loadu_ps(m, bp);
#pragma GCC unroll 6
            for (int i = 0; i < MT; i++) x[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * as]), b, x[i]);
        }
#pragma GCC unroll 6
        for (int i = 0; i < MT; i++) _mm512_mask_storeu_ps(C + i * ldc + c, m, x[i]);
    }
}

void paw_gemm_acc_avx512(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                         const float *B, int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc)
{
    /* Rows in tiles of 6; 7 or 8 left over go as 4 + 3 or 4 + 4 (as the AVX2
     * tile: a 1- or 2-row tile has too few FMA chains to hide the latency). */
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
