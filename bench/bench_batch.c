/* bench_batch.c — decode throughput of paw_decode_batch against paw_decode
 * one sequence at a time, side by side in one run.
 *
 *   build/bench/bench_batch [-m MODEL] [-t 2] [-p 32] [-n 16] [-b "1 2 4 8 16"]
 *
 * For each batch size B: B ctxs, each with a different random p-token
 * prompt already evaluated (one paw_decode each, not timed), then n decode
 * steps of one token per sequence, timed two ways on the same ctxs states:
 * B single-token paw_decode calls per step (one after another), and one
 * paw_decode_batch call per step.  Prints tokens/s for both and their
 * ratio, and checks that the two give the same greedy tokens (they must:
 * the batch's logits are bit-identical).  MODEL defaults to smollm2-135m
 * (exits 0 with a note when it is not in the cache). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "paw.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

#define MAXB 64

int main(int argc, char **argv)
{
    const char *model_arg = "smollm2-135m", *sizes = "1 2 4 8 16";
    int threads = 2, p = 32, n = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-m")) model_arg = argv[i + 1];
        else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-p")) p = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-b")) sizes = argv[i + 1];
        else { fprintf(stderr, "usage: bench_batch [-m MODEL] [-t T] [-p P] [-n N] [-b \"1 2 4\"]\n"); return 2; }
    }
    char path[4096];
    paw_model *m = NULL;
    if (paw_model_resolve(model_arg, path, sizeof path)) {
        printf("bench_batch: %s is not available (%s); nothing measured\n", model_arg, paw_last_error());
        return 0;
    }
    if (paw_model_load(path, &m)) { fprintf(stderr, "bench_batch: %s\n", paw_last_error()); return 1; }
    const int32_t V = paw_model_n_vocab(m);
    printf("model %s  threads %d  prompt %d  steps %d  kernels %s\n", model_arg, threads, p, n, paw_simd_name());
    int status = 0;
    for (const char *s = sizes; *s;) {
        char *end;
        long B = strtol(s, &end, 10);
        if (end == s) break;
        s = end;
        if (B < 1 || B > MAXB) continue;
        paw_ctx *c[MAXB];
        int32_t *prompt = malloc((size_t)p * sizeof *prompt), tok_single[MAXB], tok_batch[MAXB];
        paw_ctx_params cp = {.n_ctx = p + n + 8, .n_threads = threads};
        srand(7);
        for (int i = 0; i < B; i++) {
            if (paw_ctx_new(m, &cp, &c[i])) { fprintf(stderr, "ctx: %s\n", paw_last_error()); return 1; }
        }
        double t_single = 0, t_batch = 0;
        int same = 1;
        for (int mode = 0; mode < 2; mode++) {
            const float *lg;
            for (int i = 0; i < B; i++) {
                for (int k = 0; k < p; k++) prompt[k] = (int32_t)((unsigned)(i * 7919 + k * 104729) % (unsigned)V);
                paw_kv_truncate(c[i], 0);
                paw_decode(c[i], prompt, p, 0, &lg);
                (mode ? tok_batch : tok_single)[i] = argmax(lg, V);
            }
            double t0 = now_s();
            for (int step = 0; step < n; step++) {
                if (!mode) {
                    for (int i = 0; i < B; i++) {
                        paw_decode(c[i], &tok_single[i], 1, 0, &lg);
                        tok_single[i] = argmax(lg, V);
                    }
                } else {
                    const int32_t *ids[MAXB];
                    int32_t ns[MAXB];
                    const float *lgs[MAXB];
                    for (int i = 0; i < B; i++) ids[i] = &tok_batch[i], ns[i] = 1;
                    if (paw_decode_batch(c, ids, ns, (int)B, lgs)) { fprintf(stderr, "%s\n", paw_last_error()); return 1; }
                    for (int i = 0; i < B; i++) tok_batch[i] = argmax(lgs[i], V);
                }
            }
            *(mode ? &t_batch : &t_single) = now_s() - t0;
        }
        for (int i = 0; i < B; i++) same &= tok_single[i] == tok_batch[i];
        const double tok = (double)B * n;
        printf("B %2ld  one at a time %7.1f tok/s  batched %7.1f tok/s  x%.2f  same tokens: %s\n", B,
               tok / t_single, tok / t_batch, t_single / t_batch, same ? "yes" : "NO");
        status |= !same;
        for (int i = 0; i < B; i++) paw_ctx_free(c[i]);
        free(prompt);
    }
    paw_model_free(m);
    return status;
}
