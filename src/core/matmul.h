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

/* The AVX2/FMA kernels of `type` (NULL members where there are none).  Only
 * call after paw_cpu_avx2() said yes. */
paw_kernel paw_avx2_kernel(int type);
/* The K-quant part of that table (kquant_avx2.c). */
paw_kernel paw_avx2_kquant_kernel(int type);
/* AVX2 versions of the activation quantisers; same bytes as the scalar ones. */
void paw_quantize_row_q8_0_avx2(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1_avx2(const float *x, void *y, int64_t n);

/* The kernels paw_matmul uses for `type` on this CPU (scalar or AVX2), and
 * the scalar ones regardless of CPU: for tests and benchmarks. */
paw_kernel paw_kernel_for(int type);
paw_kernel paw_kernel_scalar(int type);
/* The activation quantiser paw_matmul uses for activation type `act_type`
 * (Q8_0, Q8_1, Q8_K) on this CPU; NULL for others. */
paw_from_float_fn paw_act_quantizer(int act_type);

#endif
