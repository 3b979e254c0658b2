/* bench_lora.c — what an unmerged LoRA adapter costs: prefill and decode
 * speed of one model with no adapter and with the adapter attached, in the
 * same process, alternating, so that the ratio is not skewed by the load of
 * a shared machine drifting between two runs.
 *
 *   build/bench/bench_lora [-m MODEL] [-a ADAPTER.gguf] [-t 2] [-p 128] [-n 64] [-r 3]
 *
 * MODEL is a path or a known model name (default smollm2-135m; when it is
 * not cached the bench says so and exits 0).  ADAPTER defaults to the
 * committed tests/golden/lora/smollm2-q4_0-r32.gguf (5 of 30 layers, rank 32);
 * an official-shape adapter (every layer, rank 64, Q4_0) is what programs
 * ship.  One run = empty the KV cache, evaluate p random ids in one
 * paw_decode (prefill), then n single-token evals (decode).  A warm-up of each
 * kind comes first; the best of r runs of each is reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "paw.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One run; returns prefill and decode seconds. */
static int run(paw_ctx *c, const int32_t *ids, int p, int n, double *pre, double *dec)
{
    const float *lg;
    if (paw_kv_truncate(c, 0)) return 1;
    double t0 = now();
    if (paw_decode(c, ids, p, 0, &lg)) return 1;
    double t1 = now();
    for (int i = 0; i < n; i++) {
        int32_t id = ids[(p + i) % p];
        if (paw_decode(c, &id, 1, 0, &lg)) return 1;
    }
    *pre = t1 - t0;
    *dec = now() - t1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_arg = "smollm2-135m", *adapter_path = "tests/golden/lora/smollm2-q4_0-r32.gguf";
    int threads = 2, p = 128, n = 64, r = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-a")) adapter_path = argv[i + 1];
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p")) p = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) r = atoi(argv[i + 1]);
        else { fprintf(stderr, "bench_lora: unknown option %s\n", argv[i]); return 2; }
    }
    if (p < 1 || n < 1 || r < 1 || p + n > 4096) { fprintf(stderr, "bench_lora: bad sizes\n"); return 2; }
    char path[4096];
    if (paw_model_resolve(model_arg, path, sizeof path)) {
        printf("bench_lora: %s (skipped)\n", paw_last_error());
        return 0;
    }
    paw_model *m = NULL;
    paw_adapter *a = NULL;
    paw_ctx *c = NULL;
    paw_ctx_params cp = {.n_ctx = p + n, .n_threads = threads};
    if (paw_model_load(path, &m) || paw_adapter_load(adapter_path, &a) || paw_ctx_new(m, &cp, &c) ||
        paw_adapter_check(a, m)) {
        fprintf(stderr, "bench_lora: %s\n", paw_last_error());
        return 1;
    }
    int32_t *ids = malloc((size_t)p * sizeof *ids);
    srand(1);
    for (int i = 0; i < p; i++) ids[i] = rand() % paw_model_n_vocab(m);
    double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}};   /* [adapter][prefill, decode] */
    for (int k = -1; k < r; k++)
        for (int with = 0; with < 2; with++) {
            double pre, dec;
            if (paw_ctx_set_adapter(c, with ? a : NULL, 1.0f) || run(c, ids, p, n, &pre, &dec)) {
                fprintf(stderr, "bench_lora: %s\n", paw_last_error());
                return 1;
            }
            if (k < 0) continue;   /* warm-up */
            if (pre < best[with][0]) best[with][0] = pre;
            if (dec < best[with][1]) best[with][1] = dec;
        }
    printf("bench_lora: %s, adapter %s (rank %d, %d pairs), %d threads, %s\n", path, adapter_path,
           paw_adapter_rank(a), paw_adapter_n_pairs(a), threads, paw_simd_name());
    printf("  prefill %d tok: base %.1f tok/s, adapter %.1f tok/s (%.2fx the time)\n", p,
           p / best[0][0], p / best[1][0], best[1][0] / best[0][0]);
    printf("  decode  %d tok: base %.1f tok/s, adapter %.1f tok/s (%.2fx the time)\n", n,
           n / best[0][1], n / best[1][1], best[1][1] / best[0][1]);
    free(ids);
    paw_ctx_free(c);
    paw_adapter_free(a);
    paw_model_free(m);
    return 0;
}
