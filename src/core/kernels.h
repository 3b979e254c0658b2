/* kernels.h — threads and the matrix kernels every model layer is built on.
 *
 * Weights are row-major matrices of any paw_type, `n_in` elements per row,
 * stored exactly as in the GGUF (rows of quant blocks).  Activations are f32.
 * The implementation picks a kernel set once, at run time (src/core/cpu.h,
 * paw_simd_name()): AVX-512 VNNI, AVX-VNNI, AVX2/FMA or the portable scalar
 * path; the three SIMD sets give identical bits. */
#ifndef PAW_KERNELS_H
#define PAW_KERNELS_H
#include <stdint.h>
#include "paw.h"

/* A persistent pool of worker threads; the calling thread is worker 0. */
typedef struct paw_pool paw_pool;
/* n_threads <= 0 means one per online CPU. NULL on failure. */
paw_pool *paw_pool_new(int n_threads);
void      paw_pool_free(paw_pool *p);
int       paw_pool_size(const paw_pool *p);
/* Runs fn(ctx, ith, nth) on every worker (ith = 0..nth-1) and returns when
 * all have finished.  A NULL pool runs fn(ctx, 0, 1) on the caller. */
typedef void (*paw_task_fn)(void *ctx, int ith, int nth);
void      paw_pool_run(paw_pool *p, paw_task_fn fn, void *ctx);
/* Runs fn(ctx, item, ith) once for every item = 0..n_items-1, items taken
 * one at a time by whichever threads are running (ith: the thread's index,
 * for per-thread scratch), and returns when all are done.  Unlike
 * paw_pool_run it does not wait for workers that have not started: on a
 * busy machine a descheduled worker costs nothing, the caller does its
 * share.  fn must not depend on which thread runs an item. */
typedef void (*paw_item_fn)(void *ctx, int64_t item, int ith);
void      paw_pool_run_items(paw_pool *p, paw_item_fn fn, void *ctx, int64_t n_items);

/* Y[t*rows + r] = sum_k W[r][k] * X[t*n_in + k]   for t < T, r < rows.
 * T == 1 is the decode (matrix x vector) path, T > 1 prefill (matrix x
 * matrix).  Quantised W is multiplied against X quantised to W's activation
 * type (Q8_0 / Q8_1 / Q8_K), as ggml does.  Y must not alias X. */
void paw_matmul(paw_pool *p, float *Y, const void *W, int type,
                int64_t rows, int64_t n_in, const float *X, int64_t T);

/* Several products of one X (q, k and v of a layer; gate and up): X is
 * quantised once and all rows go through one pool dispatch.  Each Y gets
 * exactly the bits paw_matmul would give it.  Parts whose weight types want
 * different activation types, or more than PAW_MM_MAX_PARTS parts, are
 * multiplied one after another. */
#define PAW_MM_MAX_PARTS 4
typedef struct paw_mm_part {
    float      *Y;      /* [T][rows] */
    const void *W;
    int         type;
    int64_t     rows;
} paw_mm_part;
void paw_matmul_multi(paw_pool *p, const paw_mm_part *parts, int n_parts,
                      int64_t n_in, const float *X, int64_t T);

/* Same product computed in f32 from the dequantised weights: the scalar
 * reference the fast kernels are tested against. */
void paw_matmul_ref(float *Y, const void *W, int type,
                    int64_t rows, int64_t n_in, const float *X, int64_t T);

#endif
