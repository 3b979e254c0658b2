/* bench_program.c — per-call latency of a short classification program with
 * a warm prefix cache (each call evaluates only input + suffix) against the
 * cold path (the whole prompt from scratch on every call), through the public
 * API (paw_program_open_bundle / paw_program_call).
 *
 *   build/bench/bench_program [-m MODEL] [-t THREADS] [-N CALLS] [-C COLD_CALLS]
 *                             [-n MAX_TOKENS] [-r RANK] [--no-spec] [--ab] [--spec-always] [--int8] [--json]
 *
 * CALLS (default 200) warm calls are timed, COLD_CALLS (default CALLS) cold ones.
 *
 * The program: a log-triage pseudo-program in the model's chat template
 * around the official [INPUT]...[END_INPUT] scaffold, and a Q4_0 LoRA of rank
 * RANK (default 64, the official shape) on all seven projections of every
 * layer, with small random weights (its cost is what matters here, not its
 * answers).  Inputs cycle through twelve short log lines; at most MAX_TOKENS
 * (default 4) tokens are generated per call, as for a one-word label.
 * Speculative decoding (drafts from the handle's earlier outputs, verified in
 * one batched forward call) is on unless --no-spec; the share of draft tokens
 * accepted is printed.  --ab also times a handle with speculation and one
 * without, taking turns call by call (the fair comparison on a shared box).
 * By default a handle pauses drafting while its own timings say drafting
 * does not pay; --spec-always drafts regardless.  --int8 opens the handles
 * with int8 products (paw_program_opts.int8).
 *
 * Also measured: opening the program when its prefix KV must be computed and
 * when it is read back from the program cache on disk (a temporary
 * PAW_CACHE_DIR).  MODEL defaults to smollm2-135m; when it is not in the cache
 * the bench says so and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "paw.h"
#include "core/quant.h"
#include "model/gguf.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

static const char *const lines[] = {
    "2024-03-11 14:02:17 ERROR [payment-svc] Connection to db-primary:5432 refused",
    "INFO  [web] GET /api/v1/products 200 34ms",
    "kernel: Out of memory: Killed process 4123 (java)",
    "DEBUG cache hit ratio=0.93 keys=10234",
    "cron: nightly-backup completed successfully in 312s",
    "sshd[2231]: Failed password for root from 185.220.101.4 port 52144",
    "Started Application in 6.42 seconds",
    "FATAL: disk /var/lib/postgresql usage at 97%",
    "WARN deprecated config key 'timeout', use 'timeout_ms'",
    "healthcheck /ready ok",
    "TLS certificate for api.example.com expired 2 days ago",
    "job 8812 finished: 1200 rows exported",
};
#define N_LINES (int)(sizeof lines / sizeof lines[0])

/* A Q4_0 LoRA on every projection the model has, written to path. */
static int write_adapter(const paw_model *m, int rank, const char *path)
{
    const char *arch = paw_model_arch(m);
    int gpt2 = !strcmp(arch, "gpt2");
    paw_gguf *g = (paw_gguf *)paw_model_gguf(m);
    static const char *const llama_stems[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                              "ffn_gate", "ffn_up", "ffn_down"};
    static const char *const gpt2_stems[] = {"attn_qkv", "attn_output", "ffn_up", "ffn_down"};
    const char *const *stems = gpt2 ? gpt2_stems : llama_stems;
    int n_stems = gpt2 ? 4 : 7;
    paw_gguf_writer *w = paw_gguf_writer_new();
    paw_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch));
    paw_gguf_writer_set_str(w, "general.type", "adapter", 7);
    paw_gguf_writer_set_str(w, "adapter.type", "lora", 4);
    paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 16.0f);
    void **bufs = calloc((size_t)paw_model_n_layer(m) * n_stems * 2, sizeof *bufs);
    int nb = 0, rc = 0;
    uint32_t x = 1;
    for (int l = 0; l < paw_model_n_layer(m) && !rc; l++)
        for (int s = 0; s < n_stems && !rc; s++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, stems[s]);
            const paw_gguf_tensor *t = paw_gguf_find_tensor(g, name);
            if (!t) continue;
            int64_t d_in = t->ne[0], d_out = t->ne[1];
            int64_t ne_a[2] = {d_in, rank}, ne_b[2] = {rank, d_out};
            for (int k = 0; k < 2; k++) {
                int64_t n = (k ? ne_b : ne_a)[0] * (k ? ne_b : ne_a)[1];
                float *f = malloc((size_t)n * sizeof *f);
                void *q = malloc(paw_type_row_bytes(PAW_TYPE_Q4_0, n));
                for (int64_t i = 0; i < n; i++) {
                    x = x * 1664525u + 1013904223u;
                    f[i] = ((float)(x >> 8) / 16777216.0f - 0.5f) * (k ? 0.002f : 0.05f);
                }
                paw_quantize(PAW_TYPE_Q4_0, f, q, n);
                free(f);
                bufs[nb++] = q;
                snprintf(name, sizeof name, "blk.%d.%s.weight.lora_%c", l, stems[s], k ? 'b' : 'a');
                rc = paw_gguf_writer_add_tensor(w, name, PAW_TYPE_Q4_0, 2, k ? ne_b : ne_a, q);
            }
        }
    if (!rc) rc = paw_gguf_writer_write(w, path);
    paw_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    return rc;
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n);
    int ok = *out && fread(*out, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    *len = (size_t)n;
    return ok ? 0 : -1;
}

typedef struct run_result { double p50, p99, mean, n_prompt, n_gen, prefill, decode, fwd, drafted, accepted; } run_result;

/* Times `calls` calls (after three warm-up calls) on each of the n handles,
 * taking turns call by call, so that the handles see the same machine load
 * (this box is shared: minutes apart, timings differ by 2x). */
static int measure_n(paw_program **h, int n, int calls, int max_tokens, run_result *r)
{
    double *ms = malloc((size_t)calls * n * sizeof *ms);
    double sum[2] = {0}, np[2] = {0}, ng[2] = {0}, pf[2] = {0}, dc[2] = {0}, fw[2] = {0}, dr[2] = {0}, ac[2] = {0};
    for (int i = -3; i < calls; i++) {  /* three warm-up calls */
        const char *in = lines[(i + 3) % N_LINES];
        for (int k = 0; k < n; k++) {
            char *out = NULL;
            double t0 = now_ms();
            if (paw_program_call(h[k], in, strlen(in), max_tokens, &out, NULL)) { free(ms); return -1; }
            double dt = now_ms() - t0;
            free(out);
            if (i < 0) continue;
            paw_program_stats st;
            paw_program_get_stats(h[k], &st);
            ms[k * calls + i] = dt;
            sum[k] += dt;
            np[k] += st.n_prompt;
            ng[k] += st.n_gen;
            pf[k] += st.prefill_ms;
            dc[k] += st.decode_ms;
            fw[k] += st.n_forward;
            dr[k] += st.n_drafted;
            ac[k] += st.n_accepted;
        }
    }
    for (int k = 0; k < n; k++) {
        r[k] = (run_result){ .prefill = pf[k] / calls, .decode = dc[k] / calls, .mean = sum[k] / calls,
                             .n_prompt = np[k] / calls, .n_gen = ng[k] / calls, .fwd = fw[k] / calls,
                             .drafted = dr[k] / calls, .accepted = ac[k] / calls };
        r[k].p99 = pct(ms + k * calls, calls, 0.99);
        r[k].p50 = pct(ms + k * calls, calls, 0.50);
    }
    free(ms);
    return 0;
}

static int measure(paw_program *p, int calls, int max_tokens, run_result *r)
{
    return measure_n(&p, 1, calls, max_tokens, r);
}

int main(int argc, char **argv)
{
    const char *model_arg = "smollm2-135m";
    int threads = 0, calls = 200, cold_calls = 0, max_tokens = 4, rank = 64, json = 0, no_spec = 0, ab = 0, always = 0, int8 = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "-m") && v) { model_arg = v; i++; }
        else if (!strcmp(argv[i], "-t") && v) { threads = atoi(v); i++; }
        else if (!strcmp(argv[i], "-N") && v) { calls = atoi(v); i++; }
        else if (!strcmp(argv[i], "-C") && v) { cold_calls = atoi(v); i++; }
        else if (!strcmp(argv[i], "-n") && v) { max_tokens = atoi(v); i++; }
        else if (!strcmp(argv[i], "-r") && v) { rank = atoi(v); i++; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--no-spec")) no_spec = 1;
        else if (!strcmp(argv[i], "--ab")) ab = 1;
        else if (!strcmp(argv[i], "--spec-always")) always = 1;
        else if (!strcmp(argv[i], "--int8")) int8 = 1;
        else { fprintf(stderr, "usage: bench_program [-m MODEL] [-t T] [-N CALLS] [-n MAX_TOKENS] [-r RANK] [--no-spec] [--ab] [--spec-always] [--int8] [--json]\n"); return 2; }
    }
    if (!cold_calls) cold_calls = calls;
    if (calls < 1 || cold_calls < 1 || rank < 0 || max_tokens < 1) { fprintf(stderr, "bench_program: bad numbers\n"); return 2; }
    char path[4096];
    if (paw_model_resolve(model_arg, path, sizeof path)) {
        printf("bench_program: %s (skipped)\n", paw_last_error());
        return 0;
    }
    paw_model *m;
    if (paw_model_load(path, &m)) { fprintf(stderr, "bench_program: %s\n", paw_last_error()); return 1; }

    char tmp[] = "/tmp/paw-bench-program-XXXXXX", apath[600];
    if (!mkdtemp(tmp)) return 1;
    snprintf(apath, sizeof apath, "%s/adapter.gguf", tmp);
    paw_bundle b = {0};
    /* -r 0: no adapter (the bundle still needs a valid adapter.gguf, so a
     * rank-32 one is written and the handle opened as a bare template). */
    int rc = write_adapter(m, rank ? rank : 32, apath) || read_all(apath, &b.adapter, &b.adapter_len);
    paw_chat_msg msg = {"user", "[PSEUDO_PROGRAM]\nTask: Classify one log line for on-call triage.\n"
                                "Output ALERT for errors, crashes, failed jobs, security events and\n"
                                "exhausted resources; QUIET for normal operation.\n\nExamples:\n"
                                "Input: ERROR db connection refused\nOutput: ALERT\n"
                                "Input: GET /health 200\nOutput: QUIET\n[END_PSEUDO_PROGRAM]\n\n"
                                "[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]"};
    if (!rc) rc = paw_chat_format(m, &msg, 1, 1, &b.prompt_template, &b.prompt_template_len);
    b.meta.interpreter = strdup("bench");
    if (rc) { fprintf(stderr, "bench_program: %s\n", paw_last_error()); return 1; }

    paw_program_opts warm_o = {.n_threads = threads, .no_base_check = 1, .no_speculation = no_spec,
                               .spec_always = always, .int8 = int8};
    paw_program_opts cold_o = warm_o;
    cold_o.no_prefix_cache = 1;
    paw_program *warm = NULL, *cold = NULL;
    run_result rw, rcd;
#define OPEN(o, h) (rank ? paw_program_open_bundle(m, &b, o, h) \
                        : paw_program_open_template(m, b.prompt_template, b.prompt_template_len, o, h))
    if (OPEN(&warm_o, &warm) || measure(warm, calls, max_tokens, &rw) ||
        OPEN(&cold_o, &cold) || measure(cold, cold_calls, max_tokens, &rcd)) {
        fprintf(stderr, "bench_program: %s\n", paw_last_error());
        return 1;
    }
    paw_program_stats st;
    paw_program_get_stats(warm, &st);
    if (ab) {
        /* Speculation on and off, call by call on two handles. */
        paw_program_opts on = warm_o, off = warm_o;
        on.no_speculation = 0;
        off.no_speculation = 1;
        paw_program *h[2] = {NULL, NULL};
        run_result r2[2];
        if (OPEN(&on, &h[0]) || OPEN(&off, &h[1]) || measure_n(h, 2, calls, max_tokens, r2)) {
            fprintf(stderr, "bench_program: %s\n", paw_last_error());
            return 1;
        }
        for (int k = 0; k < 2; k++)
            printf("interleaved, speculation %-3s: p50 %7.2f ms  p99 %7.2f ms  mean %7.2f ms  (prefill %.2f + "
                   "decode %.2f; %.2f forward calls, %.2f of %.2f draft tokens accepted)\n", k ? "off" : "on",
                   r2[k].p50, r2[k].p99, r2[k].mean, r2[k].prefill, r2[k].decode, r2[k].fwd, r2[k].accepted,
                   r2[k].drafted);
        printf("speculation on/off: p50 %.3fx, decode %.3fx\n", r2[0].p50 / r2[1].p50, r2[0].decode / r2[1].decode);
        paw_program_close(h[0]);
        paw_program_close(h[1]);
    }

    /* Opening: prefix computed, then read back from the disk cache. */
    char cache[700];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    setenv("PAW_CACHE_DIR", cache, 1);
    char id[PAW_PROGRAM_ID_LEN + 1];
    double open_computed = -1, open_disk = -1, prefix_computed = -1, prefix_disk = -1;
    if (!paw_program_install(&b, NULL, id)) {
        for (int k = 0; k < 2; k++) {
            paw_program *p;
            double t0 = now_ms();
            if (paw_program_open(m, id, &warm_o, &p)) break;
            double dt = now_ms() - t0;
            paw_program_stats s;
            paw_program_get_stats(p, &s);
            if (s.prefix_source == PAW_PREFIX_DISK) { open_disk = dt; prefix_disk = s.prefix_ms; }
            else { open_computed = dt; prefix_computed = s.prefix_ms; }
            paw_program_close(p);
        }
    }
    if (json) {
        printf("{\"model\":\"%s\",\"threads\":%d,\"calls\":%d,\"cold_calls\":%d,\"max_tokens\":%d,\"rank\":%d,"
               "\"n_prefix\":%d,\"n_input_suffix\":%.1f,\"n_gen\":%.2f,"
               "\"speculation\":%d,\"forward_calls\":%.2f,\"drafted\":%.2f,\"accepted\":%.2f,\"warm_p50_ms\":%.2f,\"warm_p99_ms\":%.2f,\"warm_mean_ms\":%.2f,"
               "\"cold_p50_ms\":%.2f,\"cold_p99_ms\":%.2f,\"cold_mean_ms\":%.2f,"
               "\"prefix_compute_ms\":%.1f,\"prefix_disk_ms\":%.1f,\"open_compute_ms\":%.1f,\"open_disk_ms\":%.1f}\n",
               model_arg, threads, calls, cold_calls, max_tokens, rank, st.n_prefix, rw.n_prompt, rw.n_gen, !no_spec, rw.fwd, rw.drafted, rw.accepted, rw.p50, rw.p99,
               rw.mean, rcd.p50, rcd.p99, rcd.mean, prefix_computed, prefix_disk, open_computed, open_disk);
    } else {
        printf("program: %s, LoRA rank %d (Q4_0, all projections), %d threads (%s), %d warm / %d cold calls, "
               "<= %d new tokens\n", model_arg, rank, threads, paw_simd_name(), calls, cold_calls, max_tokens);
        printf("prompt: prefix %d tokens; per call %.1f input+suffix tokens, %.2f generated\n", st.n_prefix,
               rw.n_prompt, rw.n_gen);
        printf("decode: speculation %s, %.2f forward calls after the prefill, %.2f draft tokens verified, "
               "%.2f accepted\n", no_spec ? "off" : "on", rw.fwd, rw.drafted, rw.accepted);
        printf("warm prefix cache: p50 %7.2f ms  p99 %7.2f ms  mean %7.2f ms  (prefill %.2f + decode %.2f)\n",
               rw.p50, rw.p99, rw.mean, rw.prefill, rw.decode);
        printf("cold (no cache):   p50 %7.2f ms  p99 %7.2f ms  mean %7.2f ms   (%.1fx the warm p50)\n", rcd.p50,
               rcd.p99, rcd.mean, rcd.p50 / rw.p50);
        printf("open: prefix computed %.1f ms (open %.1f ms), read from disk %.1f ms (open %.1f ms)\n",
               prefix_computed, open_computed, prefix_disk, open_disk);
    }
    paw_program_close(warm);
    paw_program_close(cold);
    free(b.adapter);
    free(b.prompt_template);
    paw_program_meta_clear(&b.meta);
    paw_model_free(m);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : 1;
}
