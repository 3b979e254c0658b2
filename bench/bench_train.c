/* bench_train.c — one LoRA optimisation step through the public API
 * (paw_trainer_step): seconds per step, tokens per second and peak RSS.
 *
 *   build/bench/bench_train [-m MODEL] [-t 2] [--prefix 200] [--batch 16]
 *                           [--len 40] [--prompt 24] [--rank 8] [-r 3] [--exact 0|1]
 *
 * MODEL is a path or a known model name (default smollm2-135m; when it is
 * not in the cache the bench says so and exits 0).  The batch is a shared
 * prefix of --prefix tokens and --batch examples of --len tokens each, the
 * first --prompt of them prompt (masked) and the rest output; ids are
 * uniformly random (seed 1).  LoRA on all seven projections.  One warm-up
 * step, then r measured steps; the best and the mean are printed (the dev
 * box is shared).  Tokens/s counts every token of the packed batch (prefix
 * once + examples), forward and backward together.  --exact 1 takes dX from
 * the weights' own blocks in f32 instead of the int8 Q8_0 Wᵀ path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "paw.h"

/* CPU seconds of this process (all threads): on the shared dev box the wall
 * clock mostly measures the neighbours, so both are printed. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *model = "smollm2-135m";
    int threads = 2, n_prefix = 200, batch = 16, len = 40, prompt = 24, rank = 8, runs = 3, exact = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--prefix")) n_prefix = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--len")) len = atoi(v);
        else if (!strcmp(a, "--prompt")) prompt = atoi(v);
        else if (!strcmp(a, "--rank")) rank = atoi(v);
        else if (!strcmp(a, "-r")) runs = atoi(v);
        else if (!strcmp(a, "--exact")) exact = atoi(v);
        else { fprintf(stderr, "bench_train: unknown option %s\n", a); return 2; }
    }
    if (batch < 1 || len < 2 || prompt < 1 || prompt >= len || n_prefix < 0 || runs < 1) {
        fprintf(stderr, "bench_train: bad sizes\n");
        return 2;
    }
    char path[4096];
    if (paw_model_resolve(model, path, sizeof path)) {
        printf("bench_train: %s not available (%s); skipped\n", model, paw_last_error());
        return 0;
    }
    paw_model *m = NULL;
    if (paw_model_load(path, &m)) { fprintf(stderr, "bench_train: %s\n", paw_last_error()); return 1; }
    const int32_t V = paw_model_n_vocab(m);
    uint64_t s = 1;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n_prefix + batch * len));
    for (int i = 0; i < n_prefix + batch * len; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    paw_train_example *ex = malloc(sizeof *ex * (size_t)batch);
    for (int b = 0; b < batch; b++) ex[b] = (paw_train_example){ ids + n_prefix + b * len, len, prompt, NULL, NULL };
    paw_train_params p = paw_train_params_default();
    p.rank = rank;
    p.alpha = 2.0f * rank;
    p.n_threads = threads;
    p.exact_backward = exact;
    paw_trainer *t = NULL;
    if (paw_trainer_new(m, &p, &t)) { fprintf(stderr, "bench_train: %s\n", paw_last_error()); return 1; }
    double loss, best = 1e30, sum = 0, cpu_best = 1e30;
    for (int r = 0; r <= runs; r++) {
        const double t0 = now_s(), c0 = cpu_s();
        if (paw_trainer_step(t, ids, n_prefix, ex, batch, &loss, NULL)) {
            fprintf(stderr, "bench_train: %s\n", paw_last_error());
            return 1;
        }
        const double dt = now_s() - t0, dc = cpu_s() - c0;
        if (r == 0) continue;   /* warm-up: page faults, first arena */
        cpu_best = dc < cpu_best ? dc : cpu_best;
        best = dt < best ? dt : best;
        sum += dt;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const int tokens = n_prefix + batch * len;
    printf("bench_train: %s, %d threads, prefix %d + %d x %d tokens (%d in the step), rank %d, "
           "%lld params, %s backward\n", model, threads, n_prefix, batch, len, tokens, rank,
           (long long)paw_trainer_n_params(t), exact ? "f32" : "int8");
    printf("  step: best %.3f s, mean %.3f s over %d  |  %.0f tokens/s (best)  |  CPU %.2f s/step "
           "(all threads)  |  loss %.4f  |  peak RSS %ld MB\n", best, sum / runs, runs, tokens / best,
           cpu_best, loss, ru.ru_maxrss / 1024);
    paw_trainer_free(t);
    paw_model_free(m);
    free(ex);
    free(ids);
    return 0;
}
