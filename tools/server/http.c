/* http.c — libmicrohttpd glue: routing, body limit, auth, SSE, shutdown.
 *
 * One thread per connection (libmicrohttpd's own): a request's thread reads
 * its body (refusing more than cfg.body_limit bytes), routes it and, for a
 * model call, waits for the worker that runs it; a streaming answer is
 * produced by the same thread from the job's text as the worker appends it.
 * A connection that sends nothing for cfg.idle_timeout_s is closed, so a slow
 * or stalled client holds only its own thread.  Every request that reached
 * a handler is counted in `active` until its answer is sent: SIGTERM stops
 * accepting, then waits for that count to fall to zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <jansson.h>
#include "server.h"

static struct MHD_Daemon *daemon_of;   /* one server per process */
static srv *the_srv;

typedef struct req {
    int     route;
    double  t0;
    char   *body;
    size_t  len, cap;
    int     too_big;
    int     status;
} req;

/* --------------------------------------------------------------- SSE */

typedef struct sse {
    srv    *s;
    job    *j;
    req    *rq;
    int     chat, phase;
    size_t  sent;
    double  deadline;
    char    model[160], id[48];
    char   *pend;
    size_t  plen, poff;
} sse;

static void sse_set(sse *e, json_t *o)
{
    free(e->pend);
    char *js = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    size_t n = js ? strlen(js) : 0;
    e->pend = malloc(n + 9);
    e->plen = e->poff = 0;
    if (e->pend && js) e->plen = (size_t)snprintf(e->pend, n + 9, "data: %s\n\n", js);
    free(js);
}

static json_t *chunk(sse *e, json_t *delta_or_text, const char *finish)
{
    json_t *choice = e->chat
        ? json_pack("{s:i,s:o,s:s?}", "index", 0, "delta", delta_or_text, "finish_reason", finish)
        : json_pack("{s:i,s:o,s:n,s:s?}", "index", 0, "text", delta_or_text, "logprobs", "finish_reason",
                    finish);
    return json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", e->id, "object",
                     e->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)time(NULL), "model", e->model, "choices", choice);
}

/* Produces the next event into e->pend; 0 when the stream is over. */
static int sse_next(sse *e)
{
    job *j = e->j;
    if (e->phase == 0) {
        e->phase = 1;
        if (e->chat) { sse_set(e, chunk(e, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL)); return 1; }
    }
    if (e->phase == 1) {
        /* Waits at most half the idle timeout at a time: a connection that
         * sends nothing for idle_timeout_s is closed by libmicrohttpd, and
         * a queued or slow job can take longer than that before its first
         * text.  Meanwhile an SSE comment line (ignored by clients) keeps it
         * alive.  The deadline is monotonic; the wait takes CLOCK_REALTIME. */
        double now = srv_now_ms(), left = e->deadline - now, beat = e->s->cfg.idle_timeout_s * 500.0;
        double wait_ms = left < beat ? left : beat;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        if (wait_ms > 0) {
            dl.tv_sec += (time_t)(wait_ms / 1e3);
            dl.tv_nsec += (long)((wait_ms - 1e3 * (double)(time_t)(wait_ms / 1e3)) * 1e6);
            if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
        }
        pthread_mutex_lock(&j->mu);
        int err = 0;
        while (j->streamed == e->sent && j->state != JOB_DONE && !err) err = pthread_cond_timedwait(&j->cv, &j->mu, &dl);
        if (j->streamed > e->sent) {
            json_t *text = json_stringn(j->output + e->sent, j->streamed - e->sent);
            e->sent = j->streamed;
            pthread_mutex_unlock(&j->mu);
            sse_set(e, chunk(e, e->chat ? json_pack("{s:o}", "content", text) : text, NULL));
            return 1;
        }
        if (j->state != JOB_DONE && srv_now_ms() < e->deadline) {
            pthread_mutex_unlock(&j->mu);
            free(e->pend);
            e->pend = strdup(": keep-alive\n\n");
            e->plen = e->pend ? strlen(e->pend) : 0;
            e->poff = 0;
            return 1;
        }
        int done = j->state == JOB_DONE;
        if (!done) j->abandoned = 1;
        pthread_mutex_unlock(&j->mu);
        if (!done || j->rc) {
            e->rq->status = done ? 500 : 504;
            sse_set(e, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", done ? "internal" : "timeout", "message",
                                 done ? j->err : "no answer within the request timeout", "type", "server_error"));
            e->phase = 3;
            return 1;
        }
        metrics_tokens(e->s->metrics, j->n_prompt, j->n_gen);
        json_t *c = chunk(e, e->chat ? json_object() : json_string(""), j->finish_length ? "length" : "stop");
        json_object_set_new(c, "usage", json_pack("{s:i,s:i,s:i}", "prompt_tokens", j->n_prompt,
                                                  "completion_tokens", j->n_gen, "total_tokens",
                                                  j->n_prompt + j->n_gen));
        sse_set(e, c);
        e->phase = 2;
        return 1;
    }
    if (e->phase == 2) {
        free(e->pend);
        e->pend = strdup("data: [DONE]\n\n");
        e->plen = e->pend ? strlen(e->pend) : 0;
        e->poff = 0;
        e->phase = 3;
        return 1;
    }
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse *e = cls;
    while (e->poff >= e->plen)
        if (!sse_next(e)) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = e->plen - e->poff;
    if (n > max) n = max;
    memcpy(buf, e->pend + e->poff, n);
    e->poff += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse *e = cls;
    pthread_mutex_lock(&e->j->mu);
    e->j->abandoned = 1;   /* a client that left stops its generation */
    pthread_mutex_unlock(&e->j->mu);
    job_unref(e->j);
    free(e->pend);
    free(e);
}

/* ------------------------------------------------------------ routing */

static int send_reply(struct MHD_Connection *c, req *rq, http_reply *r)
{
    struct MHD_Response *resp;
    if (r->stream_job) {
        sse *e = calloc(1, sizeof *e);
        if (!e) { job_unref(r->stream_job); return MHD_NO; }
        e->s = the_srv;
        e->deadline = srv_now_ms() + the_srv->cfg.timeout_s * 1e3;
        e->j = r->stream_job;
        e->rq = rq;
        e->chat = r->stream_chat;
        memcpy(e->model, r->stream_model, sizeof e->model);
        memcpy(e->id, r->stream_id, sizeof e->id);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, e, sse_free);
        if (!resp) { sse_free(e); return MHD_NO; }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        rq->status = 200;
        int ok = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"", r->body ? MHD_RESPMEM_MUST_FREE
                                                                                              : MHD_RESPMEM_PERSISTENT);
    if (!resp) { free(r->body); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "application/json");
    if (r->extra_name[0]) MHD_add_response_header(resp, r->extra_name, r->extra_value);
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    rq->status = r->status;
    int ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Compares without an early exit, so that timing tells nothing of the key. */
static int key_equal(const char *a, const char *key)
{
    if (!a) return 0;
    size_t n = strlen(key), m = strlen(a);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned)(key[i] ^ (i < m ? a[i] : 0));
    return diff == 0;
}

static int authorized(srv *s, struct MHD_Connection *c)
{
    if (!s->cfg.api_key) return 1;
    const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    if (key_equal(x, s->cfg.api_key)) return 1;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return a && !strncasecmp(a, "Bearer ", 7) && key_equal(a + 7, s->cfg.api_key);
}

/* Which route a URL names, and the {id} in it (into id, at most cap). */
static int route_of(const char *url, char *id, size_t cap)
{
    id[0] = 0;
    static const struct { const char *path; int route; } fixed[] = {
        {"/api/v1/health", R_HEALTH}, {"/api/v1/infer", R_INFER}, {"/api/v1/programs", R_PROGRAMS},
        {"/api/v1/compile", R_COMPILE}, {"/v1/models", R_MODELS}, {"/v1/chat/completions", R_CHAT},
        {"/v1/completions", R_COMPLETIONS}, {"/metrics", R_METRICS},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(url, fixed[i].path)) return fixed[i].route;
    const char *rest;
    if (!strncmp(url, "/api/v1/programs/", 17)) {
        rest = url + 17;
        size_t n = strcspn(rest, "/");
        if (!n || n >= cap) return R_OTHER;
        memcpy(id, rest, n);
        id[n] = 0;
        if (!rest[n]) return R_PROGRAM;
        if (!strcmp(rest + n, "/download")) return R_DOWNLOAD;
        return R_OTHER;
    }
    if (!strncmp(url, "/api/v1/compile/", 16)) {
        rest = url + 16;
        size_t n = strlen(rest);
        if (!n || n >= cap || strchr(rest, '/')) return R_OTHER;
        memcpy(id, rest, n + 1);
        return R_COMPILE_JOB;
    }
    if (static_find(url)) return R_STATIC;
    return R_OTHER;
}

static int method_ok(int route, const char *m)
{
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    switch (route) {
    case R_INFER: case R_CHAT: case R_COMPLETIONS: return post;
    case R_PROGRAMS: case R_COMPILE: return route == R_PROGRAMS ? get || post : post;
    case R_COMPILE_JOB: return get || !strcmp(m, "DELETE");
    default: return get;
    }
}

static int int_arg(struct MHD_Connection *c, const char *key, int def, int lo, int hi)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) return -1;
    return (int)x;
}

static void dispatch(srv *s, struct MHD_Connection *c, req *rq, const char *method, const char *id,
                     const char *url, http_reply *r)
{
    int post = !strcmp(method, "POST");
    switch (rq->route) {
    case R_HEALTH: api_health(s, r); break;
    case R_INFER: api_infer(s, rq->body, rq->len, r); break;
    case R_PROGRAMS:
        if (post) {
            api_upload(s, rq->body, rq->len, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "alias"), r);
        } else {
            int page = int_arg(c, "page", 1, 1, 1000000), per = int_arg(c, "per_page", 100, 1, 1000);
            if (page < 0 || per < 0) reply_error(r, 400, "invalid_parameter", "page >= 1 and per_page in [1, 1000]");
            else api_programs(s, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q"), page, per, r);
        }
        break;
    case R_PROGRAM: api_program(s, id, r); break;
    case R_DOWNLOAD: api_download(s, id, r); break;
    case R_MODELS: api_models(s, r); break;
    case R_CHAT: api_openai(s, 1, rq->body, rq->len, r); break;
    case R_COMPLETIONS: api_openai(s, 0, rq->body, rq->len, r); break;
    case R_COMPILE:
        r->body = compiler_submit(s->compiler, rq->body, rq->len, &r->status);
        r->len = r->body ? strlen(r->body) : 0;
        break;
    case R_COMPILE_JOB:
        r->body = !strcmp(method, "DELETE") ? compiler_cancel(s->compiler, id, &r->status)
                                            : compiler_get(s->compiler, id, &r->status);
        r->len = r->body ? strlen(r->body) : 0;
        break;
    case R_METRICS:
        r->body = metrics_render(s, &r->len);
        r->status = r->body ? 200 : 503;
        r->ctype = "text/plain; version=0.0.4";
        break;
    case R_STATIC: {
        const static_file *f = static_find(url);
        r->body = malloc(f->len ? f->len : 1);
        if (r->body) memcpy(r->body, f->data, f->len);
        r->len = f->len;
        r->status = r->body ? 200 : 503;
        r->ctype = f->ctype;
        break;
    }
    default: reply_error(r, 404, "not_found", "no route %s %.200s", method, url); break;
    }
    if (!r->body && !r->stream_job) reply_error(r, 503, "out_of_memory", "out of memory");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv *s = cls;
    req *rq = *con_cls;
    char id[160];
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        rq->t0 = srv_now_ms();
        rq->route = route_of(url, id, sizeof id);
        *con_cls = rq;
        pthread_mutex_lock(&s->amu);
        s->active++;
        int draining = s->draining;
        pthread_mutex_unlock(&s->amu);
        http_reply r = {0};
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (draining) reply_error(&r, 503, "shutting_down", "the server is shutting down");
        else if (rq->route != R_HEALTH && rq->route != R_STATIC && !authorized(s, c))
            reply_error(&r, 401, "unauthorized", "missing or wrong API key (Authorization: Bearer KEY or X-API-Key)");
        else if (rq->route != R_OTHER && !method_ok(rq->route, method))
            reply_error(&r, 405, "method_not_allowed", "%s is not allowed on %.200s", method, url);
        else if (cl && strtoull(cl, NULL, 10) > s->cfg.body_limit)
            reply_error(&r, 413, "body_too_large", "the body is over the %zu-byte limit", s->cfg.body_limit);
        if (r.status) return send_reply(c, rq, &r) == MHD_YES ? MHD_YES : MHD_NO;
        return MHD_YES;
    }
    if (rq->status) { *upload_size = 0; return MHD_YES; }   /* answered early; drop the body */
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->len + n > s->cfg.body_limit) { rq->too_big = 1; return MHD_YES; }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            char *b = realloc(rq->body, cap);
            if (!b) { rq->too_big = 1; return MHD_YES; }
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        rq->body[rq->len] = 0;
        return MHD_YES;
    }
    http_reply r = {0};
    if (rq->too_big) {
        reply_error(&r, 413, "body_too_large", "the body is over the %zu-byte limit", s->cfg.body_limit);
    } else {
        route_of(url, id, sizeof id);
        dispatch(s, c, rq, method, id, url, &r);
    }
    return send_reply(c, rq, &r) == MHD_YES ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)c;
    srv *s = cls;
    req *rq = *con_cls;
    if (!rq) return;
    *con_cls = NULL;
    int status = rq->status ? rq->status : (why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? 200 : 0);
    metrics_request(s->metrics, rq->route, status, srv_now_ms() - rq->t0);
    free(rq->body);
    free(rq);
    pthread_mutex_lock(&s->amu);
    s->active--;
    pthread_cond_broadcast(&s->acv);
    pthread_mutex_unlock(&s->amu);
}

int http_start(srv *s)
{
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->cfg.port);
    if (inet_pton(AF_INET, s->cfg.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "paw serve: --host must be an IPv4 address, not '%s'\n", s->cfg.host);
        return -1;
    }
    the_srv = s;
    daemon_of = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                                     MHD_USE_POLL,
                                 (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(s->cfg.idle_timeout_s + 0.5),
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                 MHD_OPTION_END);
    if (!daemon_of) {
        fprintf(stderr, "paw serve: cannot listen on %s:%d\n", s->cfg.host, s->cfg.port);
        return -1;
    }
    return 0;
}

int http_port(srv *s)
{
    (void)s;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(daemon_of, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : -1;
}

void http_stop(srv *s, double wait_ms)
{
    pthread_mutex_lock(&s->amu);
    s->draining = 1;
    pthread_mutex_unlock(&s->amu);
    MHD_socket ls = MHD_quiesce_daemon(daemon_of);
    double end = srv_now_ms() + wait_ms;
    pthread_mutex_lock(&s->amu);
    while (s->active > 0 && srv_now_ms() < end) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 50 * 1000000L;
        if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->acv, &s->amu, &dl);
    }
    pthread_mutex_unlock(&s->amu);
    MHD_stop_daemon(daemon_of);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    daemon_of = NULL;
}
