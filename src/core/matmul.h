/* matmul.h — the kernel interface shared by matmul.c and the SIMD kernel
 * files (internal to src/core). */
#ifndef PAW_MATMUL_H
#define PAW_MATMUL_H
#include <stddef.h>
#include <stdint.h>
#include "core/quant.h"

/* A block of outputs: y[c*y_stride + r] = dot(w row r, a row c) for r < nr,
 * c < nc.  Rows of w are w_stride bytes apart, rows of a a_stride bytes, each
 * of n elements.  The kernel tiles in registers so that each unpacked weight
 * block serves several activation rows (prefill). */
typedef void (*paw_gemm_fn)(int64_t n, int nr, int nc,
                            const void *w, size_t w_stride,
                            const void *a, size_t a_stride,
                            float *y, size_t y_stride);

typedef struct paw_kernel {
    paw_vec_dot_fn vec_dot;  /* one output (decode)                        */
    paw_gemm_fn    gemm;     /* many outputs (prefill); NULL: loop vec_dot */
} paw_kernel;

/* The SIMD kernels of `type` (NULL members where there are none), one table
 * per kernel set, all built from matmul_avx2.c / kquant_avx2.c (see
 * avx2_util.h).  Only call a set's functions after paw_cpu_simd() reached
 * it (src/core/cpu.h). */
paw_kernel paw_simd_kernel_avx2(int type);
paw_kernel paw_simd_kernel_avxvnni(int type);
paw_kernel paw_simd_kernel_avx512(int type);
/* The K-quant part of those tables (kquant_avx2.c). */
paw_kernel paw_simd_kquant_kernel_avx2(int type);
paw_kernel paw_simd_kquant_kernel_avxvnni(int type);
paw_kernel paw_simd_kquant_kernel_avx512(int type);
/* The activation quantisers; same bytes as the scalar ones, in every set. */
void paw_quantize_row_q8_0_avx2(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1_avx2(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_0_avxvnni(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1_avxvnni(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_0_avx512(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1_avx512(const float *x, void *y, int64_t n);
/* x as paw_i8act blocks (core/i8gemm.h); every set defines one, i8gemm.c
 * calls the AVX-512 one. */
void paw_quantize_row_i8act_avx2(const float *x, void *y, int64_t n);
void paw_quantize_row_i8act_avxvnni(const float *x, void *y, int64_t n);
void paw_quantize_row_i8act_avx512(const float *x, void *y, int64_t n);
/* The SIMD table of set `level` (PAW_SIMD_AVX2.. in core/cpu.h); scalar
 * members for PAW_SIMD_SCALAR. */
paw_kernel paw_kernel_level(int type, int level);

/* The kernels paw_matmul uses for `type` on this CPU (paw_cpu_simd()), and
 * the scalar ones regardless of CPU: for tests and benchmarks. */
paw_kernel paw_kernel_for(int type);
paw_kernel paw_kernel_scalar(int type);
/* The activation quantiser paw_matmul uses for activation type `act_type`
 * (Q8_0, Q8_1, Q8_K) on this CPU; NULL for others. */
paw_from_float_fn paw_act_quantizer(int act_type);

#endif
