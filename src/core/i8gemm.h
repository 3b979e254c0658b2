/* i8gemm.h — a row-interleaved int8 copy of a weight matrix and the AVX-512
 * VNNI product over it (internal to paw; src/core/i8gemm.c).
 *
 * Why a second layout: the GGUF-row kernels (matmul_avx2.c) keep ggml's
 * summation order (eight float lanes per output, blocks in order) so that
 * paw's products are llama.cpp's bits; that costs a convert and a fused
 * multiply-add per 32 weights per output, which bounds prefill and training
 * well below what vpdpbusd can do.  Here 16 rows are interleaved four bytes
 * at a time, so one vpdpbusd adds four products into each of 16 outputs
 * (16 rows x one token), each int32 lane holding one output's whole block
 * sum, and the float work is one convert, one multiply and one FMA per 16
 * outputs per block.  The results differ from ggml's in the last bits (the
 * float sums run in another order) — so this layout serves the trainer,
 * whose products need no parity with llama.cpp, and inference only in a
 * ctx that asks for it (paw_ctx_params.int8), never the default path the
 * golden tests pin to ggml's bits.  Packs of 4-bit types hold two quants a
 * byte, so they are hardly larger than the GGUF rows.
 *
 * Arithmetic, exactly (the AVX-512 kernel and paw_i8_matmul_ref agree to
 * the bit): each weight block b of row r is u8 quants u (0..255), a scale
 * dw and optionally a minimum mw, with value dw * (u - offset) + mw (or,
 * "split", two scales: dw for elements 0..15, dw2 for 16..31, as Q6_K's
 * 16-element sub-blocks need).  Each token's f32 row is quantised per 32
 * as Q8_0 (paw_quantize_row_q8_0: scale
 * da from the f16, quants a), giving isum = sum(u * a) - offset * sum(a)
 * exactly in int32, and
 *     y = fma(float(isum), dw * da, y)  then, with a minimum,
 *     y = fma(mw, da * sum(a), y)
 * (split: isum over elements 0..15 with dw, then over 16..31 with dw2)
 * over the blocks in order, from y = 0. */
#ifndef PAW_I8GEMM_H
#define PAW_I8GEMM_H
#include <stddef.h>
#include <stdint.h>
#include "core/kernels.h"

#define PAW_I8_ROWS 16   /* rows interleaved per group (one zmm of outputs) */

typedef struct paw_i8pack {
    int64_t  rows, n;      /* logical shape: rows x n, n a multiple of 32      */
    int64_t  n_groups;     /* ceil(rows / 16); missing rows are zero           */
    int32_t  offset;       /* subtracted from every u8 quant                   */
    int      has_min;      /* blocks carry mw                                   */
    int      split;        /* blocks carry dw2 (elements 16..31's scale)        */
    int      nibbles;      /* quants (0..15) two to a byte: q[256], not q[512]  */
    size_t   block_bytes;  /* one group's block: dw[16], [mw/dw2[16]], quants   */
    uint8_t *data;         /* 64-byte aligned, n_groups * n/32 * block_bytes   */
} paw_i8pack;

/* Whether paw_i8_matmul runs the VNNI kernel on this process (the AVX-512
 * set was picked, src/core/cpu.h); elsewhere it is the scalar reference,
 * far slower than the GGUF-row kernels, so callers use packs only when this
 * says 1. */
int  paw_i8_fast(void);

/* What a block holds beside dw: nothing, a minimum, or dw2. */
enum { PAW_I8_PLAIN = 0, PAW_I8_MIN = 1, PAW_I8_SPLIT = 2 };
/* An empty pack (all quants = offset, scales 0) of rows x n, with quants
 * stored as bytes or (nibbles) two to a byte.  PAW_EINVAL for n not a
 * multiple of 32, a non-positive shape, or an offset nibbles cannot hold;
 * PAW_ENOMEM. */
int  paw_i8pack_init(paw_i8pack *pk, int64_t rows, int64_t n, int32_t offset, int second, int nibbles);
/* Whether paw_i8pack_from_rows takes weights of `type`. */
int  paw_i8pack_type_ok(int type);
/* A pack of W's rows (GGUF blocks of type Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K or Q6_K; the values are W's exactly).  PAW_EUNSUPPORTED for
 * other types. */
int  paw_i8pack_from_rows(paw_i8pack *pk, const void *W, int type, int64_t rows, int64_t n);
/* Stores block `b` of row r from a Q8_0 block (u = q + offset; offset must
 * be 128 for the result to equal the Q8_0 values). */
void paw_i8pack_set_q8_0(paw_i8pack *pk, int64_t r, int64_t b, const void *q8_0_block);
void paw_i8pack_free(paw_i8pack *pk);

/* Y[t*rows + r] = row r of pk . X[t] for t < T, split across the pool.
 * Y must not alias X.  On allocation failure Y is filled with NaN. */
void paw_i8_matmul(paw_pool *p, float *Y, const paw_i8pack *pk, const float *X, int64_t T);
/* Several packs of one X (q, k, v; gate, up), all with X's width n: X is
 * quantised once and all go through one pool dispatch; each Y[i] gets what
 * paw_i8_matmul would give it.  At most PAW_I8_MAX_PARTS. */
#define PAW_I8_MAX_PARTS 4
void paw_i8_matmul_multi(paw_pool *p, float *const *Y, const paw_i8pack *const *pk, int n_parts,
                         const float *X, int64_t T);
/* The same arithmetic one output at a time in plain C (the tests' reference). */
void paw_i8_matmul_ref(float *Y, const paw_i8pack *pk, const float *X, int64_t T);

/* ---- internal: the activation rows both paths read, and the kernel ---- */

/* Token t's block b as the kernels read it. */
typedef struct paw_i8act {
    float   d;       /* da                                         */
    int32_t sum;     /* sum(a): -offset * sum(a) starts the int32   */
    float   s;       /* da * sum(a), for the minimum               */
    int32_t sum_lo;  /* sum of a's elements 0..15 (split packs)    */
    int8_t  q[32];
} paw_i8act;

/* One group's outputs for nt (<= 8) consecutive tokens: y[c * ys + j] for
 * j < 16 where bit j of `mask` is set.  acts: token c's blocks at
 * acts + c * nb.  Defined in i8gemm_avx512.c. */
void paw_i8_tile_avx512(const paw_i8pack *pk, int64_t group, const paw_i8act *acts, int nt,
                        float *y, size_t ys, unsigned mask);

#endif
