/* main.c — `paw serve` (the paw-serve binary; `paw serve ARGS` execs it).
 *
 * Loads one base model, starts the workers, the compile thread and the HTTP
 * listener, then waits for SIGTERM or SIGINT: it stops accepting, lets every
 * request in flight finish (queued jobs included), cancels compile jobs
 * (nothing half-written: a compile installs only when it has finished) and
 * exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "server.h"

static const char usage_text[] =
    "usage: paw serve [options]\n"
    "  -m, --model MODEL     base model, a name or a GGUF path (default smollm2-135m)\n"
    "  --host ADDR           IPv4 address to listen on (default 127.0.0.1)\n"
    "  --port N              port (default 8080; 0 = a free one, printed)\n"
    "  --api-key KEY         require Authorization: Bearer KEY or X-API-Key: KEY on every\n"
    "                        route but /api/v1/health and the playground page\n"
    "                        (default: $PAW_SERVE_API_KEY, else none)\n"
    "  --max-memory MB       budget for resident program handles (default 2048)\n"
    "  --queue N             requests that may wait for a worker; more get 429 (default 64)\n"
    "  --max-batch N         program requests one worker decodes together (default 8; 1 = one at a time)\n"
    "  -t, --threads N       cores to use in all (default: one per online CPU)\n"
    "  --workers N           model workers sharing those cores (default: as many as threads)\n"
    "  --timeout S           per-request limit, queue wait included (default 60)\n"
    "  --idle-timeout S      close a connection silent for S seconds (default 10)\n"
    "  --body-limit MB       largest request body, uploads included (default 64)\n"
    "  -c, --ctx N           context per program handle (default 2048)\n"
    "  --int8                int8 products (paw run --int8): faster prompts on AVX-512 VNNI\n"
    "                        CPUs, outputs within float rounding of llama.cpp's, not its bits\n";

static int num(const char *v, double lo, double hi, double *out)
{
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) return 0;
    *out = x;
    return 1;
}

static int parse_args(int argc, char **argv, srv_config *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (srv_config){.host = "127.0.0.1", .port = 8080, .model_arg = "smollm2-135m",
                      .max_memory_mb = 2048, .queue = 64, .max_batch = SRV_MAX_BATCH, .threads = ncpu > 0 ? (int)ncpu : 1,
                      .timeout_s = 60, .idle_timeout_s = 10, .body_limit = (size_t)64 << 20};
    c->api_key = getenv("PAW_SERVE_API_KEY");
    if (c->api_key && !*c->api_key) c->api_key = NULL;
    double port = c->port, mem = c->max_memory_mb, queue = c->queue, threads = 0, workers = 0;
    double body_mb = 64, ctx = 0, max_batch = c->max_batch;
    for (int i = 1; i < argc; i += 2) {   /* every option but --int8 takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); exit(0); }
        if (!strcmp(a, "--int8")) { c->int8 = 1; i--; continue; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = (c->model_arg = v) != NULL;
        else if (!strcmp(a, "--host")) ok = (c->host = v) != NULL;
        else if (!strcmp(a, "--api-key")) ok = (c->api_key = v) != NULL && *v;
        else if (!strcmp(a, "--port")) ok = num(v, 0, 65535, &port) && port == (int)port;
        else if (!strcmp(a, "--max-memory")) ok = num(v, 0, 1 << 24, &mem);
        else if (!strcmp(a, "--queue")) ok = num(v, 0, 1 << 20, &queue) && queue == (int)queue;
        else if (!strcmp(a, "--max-batch")) ok = num(v, 1, SRV_MAX_BATCH, &max_batch) && max_batch == (int)max_batch;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = num(v, 1, 1024, &threads) && threads == (int)threads;
        else if (!strcmp(a, "--workers")) ok = num(v, 1, 1024, &workers) && workers == (int)workers;
        else if (!strcmp(a, "--timeout")) ok = num(v, 0.1, 86400, &c->timeout_s);
        else if (!strcmp(a, "--idle-timeout")) ok = num(v, 1, 86400, &c->idle_timeout_s);
        else if (!strcmp(a, "--body-limit")) ok = num(v, 0.001, 1024, &body_mb);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = num(v, 16, 1 << 20, &ctx) && ctx == (int)ctx;
        else {
            fprintf(stderr, "paw serve: unknown argument '%s'\n%s", a, usage_text);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "paw serve: bad or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    c->port = (int)port;
    c->max_memory_mb = mem;
    c->queue = (int)queue;
    c->max_batch = (int)max_batch;
    if (threads > 0) c->threads = (int)threads;
    c->workers = workers > 0 ? (int)workers : c->threads;
    if (c->workers > c->threads) c->workers = c->threads;
    c->body_limit = (size_t)(body_mb * 1048576.0);
    c->n_ctx = (int32_t)ctx;
    return 0;
}

/* What /v1/models calls the base model: its known name, else the file's
 * name without .gguf. */
static void model_name(const char *arg, char *buf, size_t cap)
{
    const char *base = strrchr(arg, '/');
    base = base ? base + 1 : arg;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
    snprintf(buf, cap, "%.*s", (int)n, base);
}

int main(int argc, char **argv)
{
    static srv s;
    int rc = parse_args(argc, argv, &s.cfg);
    if (rc) return rc;
    /* Signals are taken by sigwait below, so every thread blocks them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (paw_model_resolve(s.cfg.model_arg, s.model_path, sizeof s.model_path) ||
        paw_model_load(s.model_path, &s.model)) {
        fprintf(stderr, "paw serve: %s\n", paw_last_error());
        return 1;
    }
    model_name(s.cfg.model_arg, s.model_name, sizeof s.model_name);
    s.threads_per_worker = s.cfg.threads / s.cfg.workers;
    pthread_mutex_init(&s.qmu, NULL);
    pthread_cond_init(&s.qcv, NULL);
    pthread_mutex_init(&s.amu, NULL);
    pthread_cond_init(&s.acv, NULL);
    if (progs_new(&s, &s.progs) || metrics_new(&s.metrics) || compiler_new(&s, &s.compiler) || work_start(&s)) {
        fprintf(stderr, "paw serve: cannot start: out of memory or threads\n");
        return 1;
    }
    if (http_start(&s)) {
        work_stop(&s);
        compiler_free(s.compiler);
        return 1;
    }
    fprintf(stderr, "paw serve: listening on http://%s:%d (model %s, %d workers x %d threads, queue %d%s)\n",
            s.cfg.host, http_port(&s), s.model_name, s.n_workers, s.threads_per_worker, s.cfg.queue,
            s.cfg.api_key ? ", API key required" : "");
    fflush(stderr);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "paw serve: %s: finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_stop(&s, s.cfg.timeout_s * 1e3 + 2000);
    work_stop(&s);
    compiler_free(s.compiler);
    progs_free(s.progs);
    metrics_free(s.metrics);
    paw_model_free(s.model);
    fprintf(stderr, "paw serve: stopped\n");
    return 0;
}
