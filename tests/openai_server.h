/* openai_server.h — a tiny OpenAI-compatible chat server for tests.
 *
 * Header-only (every test binary is built from one .c file): a HTTP/1.1
 * server on 127.0.0.1, on an ephemeral port, run by one pthread that serves
 * one connection at a time and closes it after one response (Connection:
 * close).  POST /v1/chat/completions with a Content-Length body is parsed
 * with jansson (messages, max_tokens) and the answer callback supplies the
 * assistant text, which goes back as a chat.completion object.  For failure
 * tests the server can instead answer every request with fixed raw bytes
 * (tos_set_raw) or sleep before answering (tos_set_delay_ms).  Loopback
 * only: tests never touch the network.
 *
 * Answers:
 *   fn returns text           -> 200, chat.completion JSON
 *   fn returns NULL           -> 500, {"error":{"message":"answer callback failed",...}}
 *   body is not JSON / lacks a messages array -> 400, OpenAI error JSON
 *   any other method or path  -> 404, OpenAI error JSON
 * Every complete request (headers + body) counts in tos_requests() and is
 * kept for tos_last_request(), whatever the answer, so a test can check what
 * a client sent even when it made the client fail. */
#ifndef PAW_TEST_OPENAI_SERVER_H
#define PAW_TEST_OPENAI_SERVER_H
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

/* Returns the assistant content (malloc'd) for a request; NULL -> HTTP 500.
 * system is NULL when the request has no system message; max_tokens is -1
 * when the request has none.  Called on the server's thread, one request at
 * a time, while the client (the test's thread) waits for the answer: keep
 * cmocka asserts out of it (they longjmp on the wrong thread) and return
 * NULL instead. */
typedef char *(*tos_answer_fn)(void *ud, const char *system, const char *user, int max_tokens);

typedef struct tos_server {
    int lfd, port;
    pthread_t thread;
    pthread_mutex_t mu;             /* guards everything below            */
    tos_answer_fn fn;
    void *ud;
    char *raw;                      /* non-NULL: the canned response      */
    int delay_ms;
    int requests;
    char *last;                     /* raw text of the last request       */
    int stopping;
} tos_server;

/* A request bigger than this is cut off: the teacher never sends one. */
#define TOS_MAX_REQUEST (16u << 20)

static inline int tos__stopping(tos_server *s)
{
    pthread_mutex_lock(&s->mu);
    int v = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static inline void tos__send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;         /* the client went away: nothing to do */
        p += w;
        n -= (size_t)w;
    }
}

static inline void tos__respond(int fd, int status, const char *reason, const char *body)
{
    char head[256];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, reason, blen);
    tos__send_all(fd, head, (size_t)n);
    tos__send_all(fd, body, blen);
}

static inline void tos__respond_error(int fd, int status, const char *reason, const char *msg)
{
    json_t *o = json_pack("{s:{s:s,s:s,s:n}}", "error", "message", msg,
                          "type", "invalid_request_error", "code");
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    tos__respond(fd, status, reason, body ? body : "{}");
    free(body);
    json_decref(o);
}

/* Reads one request: headers up to the blank line, then Content-Length
 * bytes of body.  Returns the malloc'd, NUL-terminated text (headers+body)
 * with *body_off where the body starts, or NULL when the client closed or
 * sent something unreadable. */
static inline char *tos__read_request(int fd, size_t *total, size_t *body_off)
{
    size_t cap = 4096, n = 0, want = 0, hdr = 0;
    char *buf = malloc(cap);
    int sent_continue = 0;
    if (!buf) return NULL;
    for (;;) {
        if (hdr && n >= want) break;
        if (n + 1 >= cap) {
            if (cap >= TOS_MAX_REQUEST) { free(buf); return NULL; }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { free(buf); return NULL; }
        n += (size_t)r;
        buf[n] = 0;
        if (!hdr) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end) continue;
            hdr = (size_t)(end - buf) + 4;
            size_t clen = 0;
            for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
                if (!strncasecmp(line + 2, "Content-Length:", 15))
                    clen = strtoul(line + 17, NULL, 10);
                /* libcurl may wait for this before sending a large body. */
                if (!strncasecmp(line + 2, "Expect: 100-continue", 20) && !sent_continue) {
                    tos__send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    sent_continue = 1;
                }
            }
            if (clen > TOS_MAX_REQUEST) { free(buf); return NULL; }
            want = hdr + clen;
        }
    }
    buf[want] = 0;      /* anything past the body (pipelining) is ignored */
    *total = want;
    *body_off = hdr;
    return buf;
}

/* Answers a parsed chat request through the callback. */
static inline void tos__answer_chat(int fd, const char *body, size_t blen,
                                    tos_answer_fn fn, void *ud, int seq)
{
    json_error_t jerr;
    json_t *req = json_loadb(body, blen, 0, &jerr);
    json_t *msgs = req ? json_object_get(req, "messages") : NULL;
    if (!json_is_array(msgs)) {
        tos__respond_error(fd, 400, "Bad Request", "request body is not a chat request");
        json_decref(req);
        return;
    }
    /* The last system and the last user message win; the teacher sends at
     * most one of each. */
    const char *system = NULL, *user = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!role || !content) continue;
        if (!strcmp(role, "system")) system = content;
        else if (!strcmp(role, "user")) user = content;
    }
    json_t *mt = json_object_get(req, "max_tokens");
    int max_tokens = json_is_integer(mt) ? (int)json_integer_value(mt) : -1;
    const char *model = json_string_value(json_object_get(req, "model"));

    char *text = fn ? fn(ud, system, user ? user : "", max_tokens) : NULL;
    if (!text) {
        tos__respond_error(fd, 500, "Internal Server Error", "answer callback failed");
        json_decref(req);
        return;
    }
    char id[64];
    snprintf(id, sizeof id, "chatcmpl-tos-%d", seq);
    json_t *resp = json_pack(
        "{s:s,s:s,s:i,s:s,s:[{s:i,s:{s:s,s:s},s:s}],s:{s:i,s:i,s:i}}",
        "id", id, "object", "chat.completion", "created", 0, "model", model ? model : "tos",
        "choices", "index", 0, "message", "role", "assistant", "content", text,
        "finish_reason", "stop",
        "usage", "prompt_tokens", 0, "completion_tokens", 0, "total_tokens", 0);
    char *out = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    if (out) tos__respond(fd, 200, "OK", out);
    else tos__respond_error(fd, 500, "Internal Server Error", "answer is not valid UTF-8");
    free(out);
    json_decref(resp);
    free(text);
    json_decref(req);
}

static inline void tos__serve(tos_server *s, int fd)
{
    /* A client that stalls must not wedge the server (and tos_stop). */
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t total = 0, body_off = 0;
    char *req = tos__read_request(fd, &total, &body_off);
    if (!req) return;

    pthread_mutex_lock(&s->mu);
    free(s->last);
    s->last = strdup(req);
    int seq = ++s->requests;
    int delay = s->delay_ms;
    char *raw = s->raw ? strdup(s->raw) : NULL;
    tos_answer_fn fn = s->fn;
    void *ud = s->ud;
    pthread_mutex_unlock(&s->mu);

    /* Sleep in short steps so that tos_stop is not held up by a long delay. */
    for (int slept = 0; slept < delay && !tos__stopping(s); slept += 10) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (raw) {
        tos__send_all(fd, raw, strlen(raw));
    } else if (strncmp(req, "POST /v1/chat/completions ", 26) != 0) {
        tos__respond_error(fd, 404, "Not Found", "no such endpoint");
    } else {
        tos__answer_chat(fd, req + body_off, total - body_off, fn, ud, seq);
    }
    free(raw);
    free(req);
}

static inline void *tos__thread(void *arg)
{
    tos_server *s = arg;
    while (!tos__stopping(s)) {
        /* poll with a timeout so that tos_stop is noticed promptly. */
        struct pollfd p = { .fd = s->lfd, .events = POLLIN };
        int r = poll(&p, 1, 50);
        if (r <= 0) continue;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0) continue;
        tos__serve(s, c);
        /* Half-close first so the client reads everything before EOF. */
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

/* Starts a server that answers through fn; NULL on failure. */
static inline tos_server *tos_start(tos_answer_fn fn, void *ud)
{
    tos_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fn = fn;
    s->ud = ud;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 16) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        if (s->lfd >= 0) close(s->lfd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, tos__thread, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        close(s->lfd);
        free(s);
        return NULL;
    }
    return s;
}

static inline int tos_port(const tos_server *s) { return s->port; }

/* "http://127.0.0.1:PORT" (malloc'd). */
static inline char *tos_url(const tos_server *s)
{
    char *u = malloc(32);
    if (u) snprintf(u, 32, "http://127.0.0.1:%d", s->port);
    return u;
}

/* non-NULL: answer every request with exactly these bytes and close;
 * NULL: back to the callback. */
static inline void tos_set_raw(tos_server *s, const char *raw)
{
    char *copy = raw ? strdup(raw) : NULL;
    pthread_mutex_lock(&s->mu);
    free(s->raw);
    s->raw = copy;
    pthread_mutex_unlock(&s->mu);
}

/* Sleep this long after reading a request, before answering. */
static inline void tos_set_delay_ms(tos_server *s, int ms)
{
    pthread_mutex_lock(&s->mu);
    s->delay_ms = ms;
    pthread_mutex_unlock(&s->mu);
}

/* Complete requests received so far (answered or not). */
static inline int tos_requests(const tos_server *s)
{
    tos_server *m = (tos_server *)s;   /* the mutex is not part of the value */
    pthread_mutex_lock(&m->mu);
    int n = m->requests;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Raw text (request line, headers, body) of the last request, malloc'd;
 * NULL when none came yet. */
static inline char *tos_last_request(tos_server *s)
{
    pthread_mutex_lock(&s->mu);
    char *r = s->last ? strdup(s->last) : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* The body (after the blank line) of the last request, malloc'd; NULL when
 * none came yet. */
static inline char *tos_last_body(tos_server *s)
{
    char *r = tos_last_request(s);
    char *b = r ? strstr(r, "\r\n\r\n") : NULL;
    char *out = b ? strdup(b + 4) : NULL;
    free(r);
    return out;
}

/* Stops the thread (waits for the request in hand) and frees everything. */
static inline void tos_stop(tos_server *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s->raw);
    free(s->last);
    free(s);
}
/* A loopback port nothing listens on (bound, read back, closed): for
 * refused-connection tests.  -1 if no socket could be had. */
static inline int tos_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int ok = !bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ok ? ntohs(a.sin_port) : -1;
}

#endif
