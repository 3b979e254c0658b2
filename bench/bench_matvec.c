/* bench_matvec.c — matrix x vector (decode) throughput of paw_matmul per
 * weight type, in GB/s of weight bytes read, next to this machine's measured
 * memory read bandwidth; plus prefill (T = 64 and T = 30) GFLOP/s.
 *
 *   build/bench/bench_matvec            all types, 1 and 2 threads
 *   build/bench/bench_matvec Q4_0 Q8_0  only those types
 *   build/bench/bench_matvec -p Q4_0    prefill only
 *
 * Shapes: 1024 x 3072 (Qwen3-0.6B ffn_down) and 151936 x 1024 (its output
 * head).  The small matrix is replicated into > 64 MB of copies that are
 * cycled through, so every call streams from DRAM as in a real forward pass
 * (one 1.7 MB matrix alone would sit in the 32 MB L3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/kernels.h"
#include "core/quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd64(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

/* Random weights with finite fp16 scales (the timing does not depend on the
 * values, but NaN/denormal scales could). */
static uint8_t *make_weights(int type, int64_t rows, int64_t n, size_t *bytes_out)
{
    size_t bytes = paw_type_row_bytes(type, n) * (size_t)rows;
    uint8_t *w = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!w) return NULL;
    for (size_t i = 0; i + 8 <= bytes; i += 8) { uint64_t v = rnd64(); memcpy(w + i, &v, 8); }
    size_t bb = paw_type_block_bytes(type);
    int offs[2] = { 0, -1 }, bs = paw_type_block_size(type);
    if (type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1 || type == PAW_TYPE_Q4_K || type == PAW_TYPE_Q5_K)
        offs[1] = 2;
    if (type == PAW_TYPE_Q6_K) offs[0] = 208;
    if (bs == 1) {  /* float types: small finite values everywhere */
        for (size_t i = 0; i < bytes / bb; i++) {
            float f = (float)(int)(rnd64() % 2001 - 1000) * 1e-3f;
            if (type == PAW_TYPE_F32) memcpy(w + 4 * i, &f, 4);
            else {
                uint16_t h = type == PAW_TYPE_F16 ? paw_f32_to_f16(f) : (uint16_t)(paw_ld_u32(&f) >> 16);
                memcpy(w + 2 * i, &h, 2);
            }
        }
    } else {
        for (size_t b = 0; b < bytes / bb; b++)
            for (int k = 0; k < 2; k++)
                if (offs[k] >= 0) {
                    uint16_t h = paw_f32_to_f16((float)(rnd64() % 1000) * 1e-5f);
                    memcpy(w + b * bb + offs[k], &h, 2);
                }
    }
    *bytes_out = bytes;
    return w;
}

/* ------------------------------------------------- memory read bandwidth */

typedef struct {
    const uint64_t *buf;
    size_t          n;      /* uint64 words */
    uint64_t        sink[64];
} bw_task;

static void bw_run(void *ctx, int ith, int nth)
{
    bw_task *t = ctx;
    size_t per = t->n / (size_t)nth, lo = per * (size_t)ith, hi = lo + per;
    /* 8 independent sums: enough loads in flight that DRAM, not the core,
     * is the limit (and gcc vectorises it). */
    uint64_t acc[8] = { 0 };
    for (size_t i = lo; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += t->buf[i + k];
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    t->sink[ith & 63] = s;
}

/* Best of several passes over 256 MB (the machine is shared: the best pass
 * is the one least disturbed by other processes). */
static double measure_bw(paw_pool *pool)
{
    size_t bytes = (size_t)1 << 28;
    uint64_t *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes);
    bw_task t = { buf, bytes / 8, { 0 } };
    double best = 0;
    for (int rep = 0; rep < 10; rep++) {
        double t0 = paw_now();
        paw_pool_run(pool, bw_run, &t);
        double dt = paw_now() - t0;
        if (rep > 0 && bytes / dt > best) best = bytes / dt;
    }
    free(buf);
    return best / 1e9;
}

/* --------------------------------------------------------------- matvec */

/* Best (over a few rounds) GB/s of weight bytes for Y = W x. */
static double bench_matvec(paw_pool *pool, int type, int64_t rows, int64_t n, double *ms_out)
{
    size_t bytes;
    uint8_t *w0 = make_weights(type, rows, n, &bytes);
    if (!w0) return 0;
    int copies = (int)PAW_MIN(64, ((size_t)64 << 20) / bytes + 1);
    uint8_t **w = calloc((size_t)copies, sizeof *w);
    w[0] = w0;
    for (int i = 1; i < copies; i++) {
        w[i] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        memcpy(w[i], w0, bytes);
    }
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)rows * 4);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 17) * 0.1f - 0.8f;
    int calls = (int)PAW_MAX(4, (int64_t)(1e9 / (double)bytes));
    calls = PAW_MIN(calls, 2000);
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = paw_now();
        for (int c = 0; c < calls; c++) paw_matmul(pool, y, w[c % copies], type, rows, n, x, 1);
        double dt = (paw_now() - t0) / calls;
        if (dt < best) best = dt;
    }
    for (int i = 0; i < copies; i++) free(w[i]);
    free(w); free(x); free(y);
    *ms_out = best * 1e3;
    return (double)bytes / best / 1e9;
}

/* GFLOP/s (2 per multiply-add) of a T-token prefill product. */
static double bench_prefill(paw_pool *pool, int type, int64_t rows, int64_t n, int64_t T)
{
    size_t bytes;
    uint8_t *w = make_weights(type, rows, n, &bytes);
    float *x = malloc((size_t)(n * T) * 4), *y = malloc((size_t)(rows * T) * 4);
    for (int64_t i = 0; i < n * T; i++) x[i] = (float)(i % 23) * 0.05f - 0.5f;
    double best = 1e30;
    for (int round = 0; round < 7; round++) {
        double t0 = paw_now();
        paw_matmul(pool, y, w, type, rows, n, x, T);
        double dt = paw_now() - t0;
        if (dt < best) best = dt;
    }
    free(w); free(x); free(y);
    return 2.0 * (double)rows * (double)n * (double)T / best / 1e9;
}

int main(int argc, char **argv)
{
    static const int types[] = { PAW_TYPE_Q4_0, PAW_TYPE_Q4_1, PAW_TYPE_Q5_0, PAW_TYPE_Q5_1,
                                 PAW_TYPE_Q8_0, PAW_TYPE_Q4_K, PAW_TYPE_Q5_K, PAW_TYPE_Q6_K,
                                 PAW_TYPE_F16, PAW_TYPE_BF16, PAW_TYPE_F32 };
    int prefill_only = argc > 1 && strcmp(argv[1], "-p") == 0;
    if (prefill_only) { argc--; argv++; }
    paw_pool *pools[2] = { paw_pool_new(1), paw_pool_new(2) };
    if (!pools[0] || !pools[1]) { fprintf(stderr, "bench_matvec: cannot start threads\n"); return 1; }
    double bw[2] = { 0, 0 };
    if (!prefill_only) { bw[0] = measure_bw(pools[0]); bw[1] = measure_bw(pools[1]); }
    printf("kernels: %s\n", paw_simd_name());
    printf("memory read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads)\n\n", bw[0], bw[1]);
    printf("%-5s %-12s %3s %9s %8s %8s\n", "type", "shape", "thr", "ms/call", "GB/s", "of mem");
    for (size_t i = 0; i < PAW_ARRAY_LEN(types); i++) {
        const char *name = paw_type_name(types[i]);
        int wanted = argc <= 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], name) == 0;
        if (!wanted || prefill_only) continue;
        static const int64_t shapes[2][2] = { { 1024, 3072 }, { 151936, 1024 } };
        for (int s = 0; s < 2; s++)
            for (int th = 0; th < 2; th++) {
                double ms = 0, gbs = bench_matvec(pools[th], types[i], shapes[s][0], shapes[s][1], &ms);
                char shape[32];
                snprintf(shape, sizeof shape, "%lldx%lld", (long long)shapes[s][0], (long long)shapes[s][1]);
                printf("%-5s %-12s %3d %9.3f %8.2f %7.0f%%\n", name, shape, th + 1, ms, gbs,
                       100.0 * gbs / bw[th]);
                fflush(stdout);
            }
    }
    /* The same call on a 256 x 1024 matrix that stays in L2: the kernel's
     * compute ceiling, to tell "memory-bound" from "kernel-bound" above. */
    printf("\ncompute ceiling, 256x1024 weights resident in L2, 1 thread:\n%-5s %8s\n", "type", "GB/s");
    for (size_t i = 0; i < PAW_ARRAY_LEN(types); i++) {
        const char *name = paw_type_name(types[i]);
        int wanted = argc <= 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], name) == 0;
        if (!wanted || prefill_only) continue;
        size_t bytes;
        uint8_t *w = make_weights(types[i], 256, 1024, &bytes);
        float x[1024], y[256];
        for (int k = 0; k < 1024; k++) x[k] = (float)(k % 5) - 2.0f;
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            double t0 = paw_now();
            for (int c = 0; c < 200; c++) paw_matmul(pools[0], y, w, types[i], 256, 1024, x, 1);
            double dt = (paw_now() - t0) / 200;
            if (dt < best) best = dt;
        }
        printf("%-5s %8.1f\n", name, (double)bytes / best / 1e9);
        free(w);
    }
    printf("\nprefill, 1024x1024 weights x T tokens (T = 30: a short program input):\n"
           "%-5s %3s %9s %9s\n", "type", "thr", "T=64", "T=30");
    for (size_t i = 0; i < PAW_ARRAY_LEN(types); i++) {
        const char *name = paw_type_name(types[i]);
        int wanted = argc <= 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], name) == 0;
        if (!wanted) continue;
        for (int th = 0; th < 2; th++)
            printf("%-5s %3d %9.1f %9.1f\n", name, th + 1, bench_prefill(pools[th], types[i], 1024, 1024, 64),
                   bench_prefill(pools[th], types[i], 1024, 1024, 30));
    }
    paw_pool_free(pools[0]);
    paw_pool_free(pools[1]);
    return 0;
}
