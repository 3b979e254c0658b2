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
 * for all of them and the activation bytes straight from memory.  A split
 * pack (Q6_K) keeps two int32 accumulators per token, columns 0..3 and
 * 4..7, each converted and scaled by its own dw.  A nibbles pack costs an
 * and (and a shift) per column, shared by the tile's tokens. */
#include <immintrin.h>
#include <string.h>
#include "core/i8gemm.h"

#define AI static inline __attribute__((always_inline))

/* KIND: PAW_I8_PLAIN, PAW_I8_MIN or PAW_I8_SPLIT (a constant after inlining). */
AI void tile(int CT, int KIND, int NIB, const uint8_t *gp, int64_t nb, size_t bb, int32_t offset,
             const paw_i8act *acts, float *y, size_t ys, __mmask16 mask)
{
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const int split = KIND == PAW_I8_SPLIT;
    __m512 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < CT; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = gp + (size_t)b * bb;
        const uint8_t *q = blk + (KIND != PAW_I8_PLAIN ? 128 : 64);
        __m512i is[2][8];
#pragma GCC unroll 8
        for (int c = 0; c < CT; c++) {
            const paw_i8act *a = &acts[c * nb + b];
            is[0][c] = _mm512_set1_epi32(-offset * (split ? a->sum_lo : a->sum));
            if (split) is[1][c] = _mm512_set1_epi32(-offset * (a->sum - a->sum_lo));
        }
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            /* nibbles: columns g and g + 4 share a record (low, high) */
            const __m512i raw = _mm512_load_si512((const void *)(q + 64 * (NIB ? g % 4 : g)));
            const __m512i w = !NIB ? raw : g < 4 ? _mm512_and_si512(raw, low4)
                                                 : _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
            const int h = split && g >= 4;
#pragma GCC unroll 8
            for (int c = 0; c < CT; c++) {
                int32_t a4;
                memcpy(&a4, acts[c * nb + b].q + 4 * g, 4);
                is[h][c] = _mm512_dpbusd_epi32(is[h][c], w, _mm512_set1_epi32(a4));
            }
        }
        const __m512 dw = _mm512_load_ps((const void *)blk);
        const __m512 second = KIND != PAW_I8_PLAIN ? _mm512_load_ps((const void *)(blk + 64)) : dw;
#pragma GCC unroll 8
        for (int c = 0; c < CT; c++) {
            const __m512 da = _mm512_set1_ps(acts[c * nb + b].d);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[0][c]), _mm512_mul_ps(dw, da), acc[c]);
            if (split)
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[1][c]), _mm512_mul_ps(second, da), acc[c]);
            if (KIND == PAW_I8_MIN)
                acc[c] = _mm512_fmadd_ps(second, _mm512_set1_ps(acts[c * nb + b].s), acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < CT; c++) _mm512_mask_storeu_ps(y + (size_t)c * ys, mask, acc[c]);
}

#define TILE(ct, kind, nib) tile(ct, kind, nib, gp, nb, pk->block_bytes, pk->offset, acts, y, ys, m)
#define TILE_CASE(ct)                                                               \
    case ct:                                                                        \
        if (pk->has_min && pk->nibbles) TILE(ct, PAW_I8_MIN, 1);                    \
        else if (pk->has_min) TILE(ct, PAW_I8_MIN, 0);                              \
        else if (pk->split) TILE(ct, PAW_I8_SPLIT, 0);                              \
        else if (pk->nibbles) TILE(ct, PAW_I8_PLAIN, 1);                            \
        else TILE(ct, PAW_I8_PLAIN, 0);                                             \
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
