/* metrics.c — counters for GET /metrics, in Prometheus' text format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"

static const char *const route_names[R_COUNT] = {
    "health", "infer", "programs", "program", "download", "upload", "compile", "compile_job",
    "models", "chat_completions", "completions", "metrics", "static", "other",
};

const char *route_name(int r) { return r >= 0 && r < R_COUNT ? route_names[r] : "other"; }

/* Status codes are counted in a small table; anything else lands in 0. */
static const int statuses[] = {0, 200, 201, 202, 204, 400, 401, 404, 405, 408, 409, 413, 415, 422,
                               429, 500, 503, 504};
#define N_STATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const double buckets_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BUCKET ((int)(sizeof buckets_s / sizeof buckets_s[0]))

struct metrics {
    pthread_mutex_t mu;
    uint64_t count[R_COUNT][N_STATUS];
    uint64_t hist[R_COUNT][N_BUCKET + 1];   /* last: +Inf */
    double   sum_s[R_COUNT];
    uint64_t tok_prompt, tok_gen;
    uint64_t batch_hist[5], batch_sum;      /* rows <= 1, 2, 4, 8, +Inf     */
    int      batch_last;
};

int metrics_new(metrics **out)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m) return PAW_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return PAW_OK;
}

void metrics_free(metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_request(metrics *m, int route, int status, double ms)
{
    if (route < 0 || route >= R_COUNT) route = R_OTHER;
    int si = 0;
    for (int i = 1; i < N_STATUS; i++)
        if (statuses[i] == status) si = i;
    int b = 0;
    while (b < N_BUCKET && ms / 1e3 > buckets_s[b]) b++;
    pthread_mutex_lock(&m->mu);
    m->count[route][si]++;
    m->hist[route][b]++;
    m->sum_s[route] += ms / 1e3;
    pthread_mutex_unlock(&m->mu);
}

void metrics_tokens(metrics *m, int32_t prompt, int32_t gen)
{
    pthread_mutex_lock(&m->mu);
    m->tok_prompt += (uint64_t)(prompt > 0 ? prompt : 0);
    m->tok_gen += (uint64_t)(gen > 0 ? gen : 0);
    pthread_mutex_unlock(&m->mu);
}

void metrics_batch(metrics *m, int rows)
{
    int b = 0;
    while (b < 4 && rows > (1 << b)) b++;
    pthread_mutex_lock(&m->mu);
    m->batch_hist[b]++;
    m->batch_sum += (uint64_t)rows;
    m->batch_last = rows;
    pthread_mutex_unlock(&m->mu);
}

typedef struct buf { char *p; size_t len, cap; int oom; } buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = b->p ? vsnprintf(b->p + b->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) { b->len += (size_t)n; return; }
        size_t cap = b->cap ? 2 * b->cap : 8192;
        while (n >= 0 && cap < b->len + (size_t)n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

char *metrics_render(srv *s, size_t *len)
{
    metrics *m = s->metrics;
    metrics c;
    pthread_mutex_lock(&m->mu);
    memcpy(c.count, m->count, sizeof c.count);
    memcpy(c.hist, m->hist, sizeof c.hist);
    memcpy(c.sum_s, m->sum_s, sizeof c.sum_s);
    c.tok_prompt = m->tok_prompt;
    c.tok_gen = m->tok_gen;
    memcpy(c.batch_hist, m->batch_hist, sizeof c.batch_hist);
    c.batch_sum = m->batch_sum;
    c.batch_last = m->batch_last;
    pthread_mutex_unlock(&m->mu);

    buf b = {0};
    bprintf(&b, "# HELP paw_http_requests_total HTTP requests answered, by route and status.\n"
                "# TYPE paw_http_requests_total counter\n");
    for (int r = 0; r < R_COUNT; r++)
        for (int i = 0; i < N_STATUS; i++)
            if (c.count[r][i])
                bprintf(&b, "paw_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r],
                        statuses[i], (unsigned long long)c.count[r][i]);
    bprintf(&b, "# HELP paw_http_request_duration_seconds Time from a request's arrival to its "
                "answer, by route.\n# TYPE paw_http_request_duration_seconds histogram\n");
    for (int r = 0; r < R_COUNT; r++) {
        uint64_t total = 0;
        for (int k = 0; k <= N_BUCKET; k++) total += c.hist[r][k];
        if (!total) continue;
        uint64_t cum = 0;
        for (int k = 0; k < N_BUCKET; k++) {
            cum += c.hist[r][k];
            bprintf(&b, "paw_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    route_names[r], buckets_s[k], (unsigned long long)cum);
        }
        bprintf(&b, "paw_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                    "paw_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                    "paw_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                route_names[r], (unsigned long long)total, route_names[r], c.sum_s[r], route_names[r],
                (unsigned long long)total);
    }
    int np = 0, nh = 0;
    size_t bytes = 0;
    progs_stats(s->progs, &np, &nh, &bytes);
    pthread_mutex_lock(&s->qmu);
    int qlen = s->qlen, running = s->running;
    pthread_mutex_unlock(&s->qmu);
    bprintf(&b, "# HELP paw_queue_depth Jobs waiting for a worker.\n# TYPE paw_queue_depth gauge\n"
                "paw_queue_depth %d\n"
                "# HELP paw_jobs_running Jobs a worker is running.\n# TYPE paw_jobs_running gauge\n"
                "paw_jobs_running %d\n"
                "# HELP paw_queue_capacity Most jobs that may wait.\n# TYPE paw_queue_capacity gauge\n"
                "paw_queue_capacity %d\n"
                "# HELP paw_workers Model workers.\n# TYPE paw_workers gauge\npaw_workers %d\n"
                "# HELP paw_programs_resident Programs with an open handle.\n"
                "# TYPE paw_programs_resident gauge\npaw_programs_resident %d\n"
                "# HELP paw_program_handles Open program handles (idle and busy).\n"
                "# TYPE paw_program_handles gauge\npaw_program_handles %d\n"
                "# HELP paw_program_memory_bytes Bytes held by open program handles.\n"
                "# TYPE paw_program_memory_bytes gauge\npaw_program_memory_bytes %zu\n"
                "# HELP paw_program_memory_budget_bytes The --max-memory budget.\n"
                "# TYPE paw_program_memory_budget_bytes gauge\npaw_program_memory_budget_bytes %.0f\n"
                "# HELP paw_prompt_tokens_total Prompt tokens evaluated by answered calls.\n"
                "# TYPE paw_prompt_tokens_total counter\npaw_prompt_tokens_total %llu\n"
                "# HELP paw_generated_tokens_total Tokens generated by answered calls.\n"
                "# TYPE paw_generated_tokens_total counter\npaw_generated_tokens_total %llu\n"
                "# HELP paw_batch_rows Program calls decoded together in the last batch.\n"
                "# TYPE paw_batch_rows gauge\npaw_batch_rows %d\n",
            qlen, running, s->cfg.queue, s->n_workers, np, nh, bytes, s->cfg.max_memory_mb * 1048576.0,
            (unsigned long long)c.tok_prompt, (unsigned long long)c.tok_gen, c.batch_last);
    bprintf(&b, "# HELP paw_batch_size Program calls decoded together per batch (1: alone).\n"
                "# TYPE paw_batch_size histogram\n");
    uint64_t cum = 0;
    for (int k = 0; k < 5; k++) {
        cum += c.batch_hist[k];
        if (k < 4) bprintf(&b, "paw_batch_size_bucket{le=\"%d\"} %llu\n", 1 << k, (unsigned long long)cum);
        else bprintf(&b, "paw_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    bprintf(&b, "paw_batch_size_sum %llu\npaw_batch_size_count %llu\n", (unsigned long long)c.batch_sum,
            (unsigned long long)cum);
    if (b.oom) { free(b.p); return NULL; }
    *len = b.len;
    return b.p;
}
