/* i8gemm_avx512.c — the register tile of paw_i8_matmul (i8gemm.h).  Compiled
 * with the AVX-512 F/BW/VL/VNNI flags (Makefile, *_avx512.c) and only called
 * after src/core/cpu.c picked that set.
 *
 * One tile: the 16 rows of a group x up to 8 tokens.  Per block, every
 * token's int32 accumulator starts at its -offset * sum(a); each of the 8
 * four-byte columns of the block is one 64-byte load of the 16 rows' u8
 * quants and, per token, one vpdpbusd against that token's four activation
 * bytes broadcast to all lanes; then one convert, one multiply (dw * da)
 * and one FMA per token (and one more FMA for the minimum).  8 tokens keep
 * 8 int32 and 8 float accumulators in registers, the weights are read once
 * for all of them and the activation bytes straight from memory. */
#include <immintrin.h>
#include <string.h>
#include "core/i8gemm.h"

#define AI static inline __attribute__((always_inline))

AI void tile(int CT, int MIN, const uint8_t *gp, int64_t nb, size_t bb, int32_t offset,
             const paw_i8act *acts, float *y, size_t ys, __mmask16 mask)
{
    __m512 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < CT; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = gp + (size_t)b * bb;
        const uint8_t *q = blk + (MIN ? 128 : 64);
        __m512i is[8];
#pragma GCC unroll 8
        for (int c = 0; c < CT; c++) is[c] = _mm512_set1_epi32(-offset * acts[c * nb + b].sum);
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const __m512i w = _mm512_load_si512((const void *)(q + 64 * g));
#pragma GCC unroll 8
            for (int c = 0; c < CT; c++) {
                int32_t a4;
                memcpy(&a4, acts[c * nb + b].q + 4 * g, 4);
                is[c] = _mm512_dpbusd_epi32(is[c], w, _mm512_set1_epi32(a4));
            }
        }
        const __m512 dw = _mm512_load_ps((const void *)blk);
#pragma GCC unroll 8
        for (int c = 0; c < CT; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[c]),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(acts[c * nb + b].d)), acc[c]);
        if (MIN) {
            const __m512 mw = _mm512_load_ps((const void *)(blk + 64));
#pragma GCC unroll 8
            for (int c = 0; c < CT; c++) acc[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(acts[c * nb + b].s), acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < CT; c++) _mm512_mask_storeu_ps(y + (size_t)c * ys, mask, acc[c]);
}

#define TILE_CASE(ct)                                                                 \
    case ct:                                                                          \
        if (pk->has_min) tile(ct, 1, gp, nb, pk->block_bytes, pk->offset, acts, y, ys, m); \
        else tile(ct, 0, gp, nb, pk->block_bytes, pk->offset, acts, y, ys, m);             \
        break;

void paw_i8_tile_avx512(const paw_i8pack *pk, int64_t group, const paw_i8act *acts, int nt,
                        float *y, size_t ys, unsigned mask)
{
    const int64_t nb = pk->n / 32;
    const uint8_t *gp = pk->data + (size_t)group * (size_t)nb * pk->block_bytes;
    const __mmask16 m = (__mmask16)mask;
    switch (nt) {
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
    TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
    default: break;
    }
}
