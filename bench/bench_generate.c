/* bench_generate.c — prefill and decode speed of a whole model through the
 * public library API (paw_model_load, paw_ctx_new, paw_decode), plus what is
 * needed to judge it: the machine's memory read bandwidth measured in the
 * same run, the weight bytes one decoded token streams, and peak RSS.
 *
 *   build/bench/bench_generate [-m MODEL] [-t 2] [-p 256] [-n 128] [-r 3]
 *                              [--ids FILE] [--seed S] [--json] [--no-bw] [--int8]
 *
 * MODEL is a path or a known model name (default smollm2-135m; when that is
 * not in the cache the bench says so and exits 0, so `make bench` passes on
 * a machine that never ran `paw pull`).
 *
 * One run = empty the KV cache, evaluate the p-token prompt in one paw_decode
 * (prefill), then n greedy single-token paw_decode calls (decode), each fed
 * the argmax of the previous logits.  A warm-up run comes first and is not
 * counted; of the r measured runs the best prefill and the best decode are
 * reported (the dev box is shared: the best run is the least disturbed one).
 *
 * Prompt ids: from --ids (whitespace-separated integers; the side-by-side
 * driver bench/bench_vs_llamacpp.py passes the same file to llama.cpp), or
 * uniformly random in [0, n_vocab) from --seed.
 *
 * Weight bytes per decoded token: every tensor of the file except the token
 * embedding, which is read one row per token, unless the model has no
 * output.weight and the embedding doubles as the output head.  The KV cache
 * read by attention is extra and not counted.
 *
 * The bandwidth probe runs in a forked child (its 256 MB buffer must not
 * count in this process's peak RSS): best of 10 passes summing the buffer
 * with t threads.
 *
 * --int8 runs the ctx with int8 products (paw_ctx_params.int8).
 *
 * --json prints one line: {"model":...,"file_bytes":..,"weight_bytes_per_token":..,
 * "threads":..,"n_prompt":..,"n_gen":..,"prefill_tok_s":..,"decode_tok_s":..,
 * "prefill_runs":[..],"decode_runs":[..],"bw_gbs":..,"peak_rss_bytes":..,
 * "gen_ids":[..]} */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "paw.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------- memory read bandwidth */

typedef struct bw_slice {
    const uint64_t *p;
    size_t          n;          /* words */
    uint64_t        sum;
    char            pad[64];
} bw_slice;

static void *bw_sum(void *arg)
{
    bw_slice *s = arg;
    /* 8 independent accumulators: enough loads in flight for DRAM, not the
     * add chain, to be the limit; gcc vectorises the inner loop. */
    uint64_t a[8] = { 0 };
    for (size_t i = 0; i + 8 <= s->n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += s->p[i + k];
    s->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return NULL;
}

static double bw_measure(int nth)
{
    const size_t bytes = (size_t)1 << 28, words = bytes / 8;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes);
    bw_slice sl[64];
    pthread_t th[64];
    if (nth > 64) nth = 64;
    double best = 0;
    for (int rep = 0; rep < 10; rep++) {
        double t0 = now_s();
        for (int i = 0; i < nth; i++) {
            sl[i] = (bw_slice){ .p = buf + words / (size_t)nth * (size_t)i, .n = words / (size_t)nth };
            if (i) pthread_create(&th[i], NULL, bw_sum, &sl[i]);
        }
        bw_sum(&sl[0]);
        for (int i = 1; i < nth; i++) pthread_join(th[i], NULL);
        double dt = now_s() - t0;
        if (sl[0].sum == 42) puts("");      /* keep the sums alive */
        if (bytes / dt > best) best = bytes / dt;
    }
    free(buf);
    return best / 1e9;
}

/* Runs the probe in a child so its buffer stays out of our ru_maxrss. */
static double bw_measure_forked(int nth)
{
    int fd[2];
    if (pipe(fd)) return 0;
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return 0; }
    if (pid == 0) {
        close(fd[0]);
        double v = bw_measure(nth);
        ssize_t w = write(fd[1], &v, sizeof v);
        _exit(w == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fd[1]);
    double v = 0;
    if (read(fd[0], &v, sizeof v) != (ssize_t)sizeof v) v = 0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return v;
}

/* ------------------------------------------------------------ the model */

/* Weight bytes one decode step streams (see the header comment). */
static uint64_t decode_weight_bytes(const paw_gguf *g)
{
    int tied = paw_gguf_find_tensor(g, "output.weight") == NULL;
    uint64_t sum = 0;
    for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        if (!strcmp(t->name, "token_embd.weight") && !tied)
            sum += t->nbytes / (uint64_t)(t->ne[1] > 0 ? t->ne[1] : 1);
        else if (strcmp(t->name, "position_embd.weight"))
            sum += t->nbytes;
    }
    return sum;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int32_t *read_ids(const char *path, int32_t want, int32_t n_vocab)
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "bench_generate: cannot open %s\n", path); return NULL; }
    int32_t *ids = malloc((size_t)want * sizeof *ids);
    int32_t n = 0;
    long v;
    while (ids && n < want && fscanf(f, "%ld", &v) == 1) {
        if (v < 0 || v >= n_vocab) {
            fprintf(stderr, "bench_generate: %s: id %ld outside the vocabulary\n", path, v);
            free(ids);
            ids = NULL;
            break;
        }
        ids[n++] = (int32_t)v;
    }
    fclose(f);
    if (ids && n < want) {
        fprintf(stderr, "bench_generate: %s holds %d ids, %d needed\n", path, n, want);
        free(ids);
        ids = NULL;
    }
    return ids;
}

static void usage(void)
{
    fputs("usage: bench_generate [-m MODEL] [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-r RUNS]\n"
          "                      [--ids FILE] [--seed S] [--json] [--no-bw] [--int8]\n", stderr);
    exit(2);
}

static void print_arr(const char *key, const double *v, int n)
{
    printf(",\"%s\":[", key);
    for (int i = 0; i < n; i++) printf(i ? ",%.3f" : "%.3f", v[i]);
    putchar(']');
}

int main(int argc, char **argv)
{
    const char *model_arg = NULL, *ids_path = NULL;
    int threads = 2, n_prompt = 256, n_gen = 128, runs = 3, json = 0, do_bw = 1, int8 = 0;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--no-bw")) { do_bw = 0; continue; }
        if (!strcmp(a, "--int8")) { int8 = 1; continue; }
        if (!v) usage();
        if (!strcmp(a, "-m")) model_arg = v;
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "-p")) n_prompt = atoi(v);
        else if (!strcmp(a, "-n")) n_gen = atoi(v);
        else if (!strcmp(a, "-r")) runs = atoi(v);
        else if (!strcmp(a, "--ids")) ids_path = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else usage();
        i++;
    }
    if (threads < 1 || n_prompt < 1 || n_gen < 0 || runs < 1 || runs > 100) usage();

    char model[4096];
    if (paw_model_resolve(model_arg ? model_arg : "smollm2-135m", model, sizeof model)) {
        fprintf(stderr, "bench_generate: %s\n", paw_last_error());
        return model_arg ? 1 : 0;
    }
    double bw = do_bw ? bw_measure_forked(threads) : 0;

    struct stat st;
    if (stat(model, &st)) { fprintf(stderr, "bench_generate: cannot stat %s\n", model); return 1; }
    paw_model *m = NULL;
    paw_ctx *c = NULL;
    double t0 = now_s();
    if (paw_model_load(model, &m)) {
        fprintf(stderr, "bench_generate: %s: %s\n", model, paw_last_error());
        return 1;
    }
    double load_s = now_s() - t0;
    int32_t n_vocab = paw_model_n_vocab(m);
    paw_ctx_params cp = { .n_ctx = n_prompt + n_gen, .n_batch = 512, .n_threads = threads, .int8 = int8 };
    if (paw_ctx_new(m, &cp, &c)) {
        fprintf(stderr, "bench_generate: ctx: %s\n", paw_last_error());
        return 1;
    }
    int32_t *ids;
    if (ids_path) {
        if (!(ids = read_ids(ids_path, n_prompt, n_vocab))) return 1;
    } else {
        ids = malloc((size_t)n_prompt * sizeof *ids);
        if (!ids) return 1;
        uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
        for (int i = 0; i < n_prompt; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            ids[i] = (int32_t)(s % (uint64_t)n_vocab);
        }
    }
    int32_t *gen = calloc((size_t)n_gen + 1, sizeof *gen);
    double *pre = calloc((size_t)runs, sizeof *pre), *dec = calloc((size_t)runs, sizeof *dec);
    if (!gen || !pre || !dec) return 1;

    /* Run 0 is the warm-up (page faults on the mapping, thread start-up). */
    for (int r = 0; r <= runs; r++) {
        const float *logits;
        if (paw_kv_truncate(c, 0)) goto fail;
        t0 = now_s();
        if (paw_decode(c, ids, n_prompt, 0, &logits)) goto fail;
        double tp = now_s() - t0;
        t0 = now_s();
        for (int i = 0; i < n_gen; i++) {
            int32_t id = argmax(logits, n_vocab);
            if (r == 1) gen[i] = id;
            if (paw_decode(c, &id, 1, 0, &logits)) goto fail;
        }
        double td = now_s() - t0;
        if (r == 0) continue;
        pre[r - 1] = n_prompt / tp;
        dec[r - 1] = n_gen ? n_gen / td : 0;
        if (!json)
            fprintf(stderr, "run %d: prefill %.1f tok/s, decode %.1f tok/s\n", r, pre[r - 1], dec[r - 1]);
    }
    double best_p = 0, best_d = 0;
    for (int r = 0; r < runs; r++) {
        if (pre[r] > best_p) best_p = pre[r];
        if (dec[r] > best_d) best_d = dec[r];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t rss = (uint64_t)ru.ru_maxrss * 1024;
    uint64_t wbytes = decode_weight_bytes(paw_model_gguf(m));

    if (json) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"file_bytes\":%llu,\"weight_bytes_per_token\":%llu,"
               "\"threads\":%d,\"n_prompt\":%d,\"n_gen\":%d,\"load_s\":%.3f,"
               "\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f",
               model, paw_model_arch(m), (unsigned long long)st.st_size, (unsigned long long)wbytes,
               threads, n_prompt, n_gen, load_s, best_p, best_d);
        print_arr("prefill_runs", pre, runs);
        print_arr("decode_runs", dec, runs);
        printf(",\"bw_gbs\":%.3f,\"peak_rss_bytes\":%llu,\"simd\":\"%s\",\"gen_ids\":[",
               bw, (unsigned long long)rss, paw_simd_name());
        for (int i = 0; i < n_gen; i++) printf(i ? ",%d" : "%d", gen[i]);
        puts("]}");
    } else {
        printf("%s (%s, %s): %d threads, %.1f MB file, %.1f MB weights per decoded token\n",
               model, paw_model_arch(m), paw_simd_name(), threads, st.st_size / 1e6, wbytes / 1e6);
        printf("  prefill %d tokens: %.1f tok/s (best of %d)\n", n_prompt, best_p, runs);
        printf("  decode  %d tokens: %.1f tok/s (best of %d)\n", n_gen, best_d, runs);
        if (bw > 0)
            printf("  memory read bandwidth %.1f GB/s -> decode ceiling %.1f tok/s; decode at %.0f%% of it\n",
                   bw, bw * 1e9 / (double)wbytes, 100.0 * best_d * (double)wbytes / (bw * 1e9));
        printf("  peak RSS %.1f MB (file %.1f MB)\n", rss / 1e6, st.st_size / 1e6);
    }
    free(gen); free(pre); free(dec); free(ids);
    paw_ctx_free(c);
    paw_model_free(m);
    return 0;
fail:
    fprintf(stderr, "bench_generate: eval: %s\n", paw_last_error());
    return 1;
}
