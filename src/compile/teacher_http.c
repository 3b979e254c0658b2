/* teacher_http.c — a teacher behind an OpenAI-compatible chat endpoint.
 *
 * One blocking POST per chat turn with libcurl: {"model","messages",
 * "temperature":0,"max_tokens","seed","stream":false}.  The reply body is
 * collected (capped at PAW_TEACHER_MAX_REPLY) and handed to
 * paw_teacher_parse_reply, a pure function so that it can be fuzzed.
 * Failures are sorted for the user: the endpoint could not be reached or
 * answered an HTTP error (PAW_ENET: a network or server problem, worth a
 * retry or a config fix), or it answered something that is not a chat
 * completion (PAW_EFORMAT: the URL points at the wrong kind of server).
 * Redirects are not followed: a POST redirected is seldom what was meant,
 * and the message then shows the URL to fix. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <jansson.h>
#include "core/common.h"
#include "compile/teacher.h"

struct paw_teacher_http {
    CURL    *curl;          /* kept between turns: its connection cache     */
    char    *url;           /* normalised: .../v1/chat/completions          */
    char    *shown;         /* the same without user:password@, for the name
                               and messages (the name goes into bundles)     */
    char    *model;         /* the "model" field                            */
    char    *auth;          /* "Authorization: Bearer KEY" or NULL          */
    double   timeout_s;
    uint64_t seed;
    char    *name;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

char *paw_teacher_strip(char *s)
{
    size_t n = strlen(s), a = 0;
    while (a < n && strchr(" \t\r\n\v\f", s[a])) a++;
    while (n > a && strchr(" \t\r\n\v\f", s[n - 1])) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
    return s;
}

/* ------------------------------------------------------------ the URL */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

int paw_teacher_normalise_url(const char *url, char **out)
{
    *out = NULL;
    if (!url || !*url) return paw_err(PAW_EINVAL, "teacher: empty URL");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return paw_err(PAW_EINVAL, "teacher: URL '%s' contains a space or control character", url);
    const char *scheme;
    size_t skip;
    if (!strncasecmp(url, "http://", 7)) { scheme = "http://"; skip = 7; }
    else if (!strncasecmp(url, "https://", 8)) { scheme = "https://"; skip = 8; }
    else return paw_err(PAW_EINVAL, "teacher: URL '%s' is not http:// or https://", url);
    /* A fragment is never sent, and '#' separates the URL from the model in
     * the teacher's name: refuse it rather than guess. */
    if (strchr(url, '#')) return paw_err(PAW_EINVAL, "teacher: URL '%s' has a fragment (#)", url);

    const char *auth = url + skip;
    size_t auth_len = strcspn(auth, "/?");
    const char *host = auth;
    const char *at = memchr(auth, '@', auth_len);
    if (at) host = at + 1;
    size_t host_len = auth_len - (size_t)(host - auth);
    if (host_len == 0 || host[0] == ':')
        return paw_err(PAW_EINVAL, "teacher: URL '%s' has no host", url);

    const char *path = auth + auth_len;
    size_t path_len = strcspn(path, "?");
    const char *query = path + path_len;
    while (path_len && path[path_len - 1] == '/') path_len--;
    const char *tail = ends_with(path, path_len, "/v1/chat/completions") ? ""
                     : ends_with(path, path_len, "/v1") ? "/chat/completions"
                     : "/v1/chat/completions";
    size_t n = strlen(scheme) + auth_len + path_len + strlen(tail) + strlen(query) + 1;
    char *u = malloc(n);
    if (!u) return paw_err(PAW_ENOMEM, "teacher: out of memory");
    snprintf(u, n, "%s%.*s%.*s%s%s", scheme, (int)auth_len, auth, (int)path_len, path, tail, query);
    *out = u;
    return PAW_OK;
}

/* ------------------------------------------------------------ replies */

int paw_teacher_parse_reply(const char *body, size_t len, char **content)
{
    *content = NULL;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) return paw_err(PAW_EFORMAT, "not JSON (%s at byte %d)", je.text, je.position);
    int rc = PAW_EFORMAT;
    if (!json_is_object(root)) {
        paw_err(rc, "the body is not a JSON object");
        goto out;
    }
    /* Some servers answer errors with status 200 and an "error" member. */
    json_t *err = json_object_get(root, "error");
    if (err && !json_is_null(err)) {
        const char *msg = json_is_string(err) ? json_string_value(err)
                        : json_string_value(json_object_get(err, "message"));
        paw_err(rc, "the server reported an error: %s", msg ? msg : "(no message)");
        goto out;
    }
    json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) {
        paw_err(rc, "no \"choices\" array");
        goto out;
    }
    if (json_array_size(choices) == 0) {
        paw_err(rc, "\"choices\" is empty");
        goto out;
    }
    json_t *msg = json_object_get(json_array_get(choices, 0), "message");
    if (!json_is_object(msg)) {
        paw_err(rc, "choices[0] has no \"message\" object");
        goto out;
    }
    json_t *c = json_object_get(msg, "content");
    if (!json_is_string(c)) {
        paw_err(rc, "choices[0].message.content is %s, not a string",
                !c ? "missing" : json_is_null(c) ? "null" : "another JSON type");
        goto out;
    }
    /* jansson refuses \u0000 unless asked to, so the string has no NUL. */
    if (!(*content = strdup(json_string_value(c)))) {
        rc = paw_err(PAW_ENOMEM, "teacher: out of memory");
        goto out;
    }
    rc = PAW_OK;
out:
    json_decref(root);
    return rc;
}

/* The error an HTTP failure status came with, for a human: the message of
 * an OpenAI-style {"error":{"message":...}} (or {"error":"..."}), else the
 * start of the body with control characters blanked, whitespace trimmed.  At most ~200 bytes,
 * cut on a UTF-8 character boundary. */
static void describe_error_body(const char *body, size_t len, char *out, size_t cap)
{
    const char *text = body;
    size_t n = len;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *err = root ? json_object_get(root, "error") : NULL;
    const char *msg = json_is_string(err) ? json_string_value(err)
                    : json_string_value(json_object_get(err, "message"));
    if (msg) { text = msg; n = strlen(msg); }
    while (n && strchr(" \t\r\n", *text)) { text++; n--; }
    while (n && strchr(" \t\r\n", text[n - 1])) n--;
    size_t lim = PAW_MIN(cap - 1, (size_t)200);
    if (n > lim) {
        n = lim;
        while (n && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[n] = 0;
    if (n == 0) snprintf(out, cap, "(empty body)");
    json_decref(root);
}

/* ------------------------------------------------------------ transfer */

typedef struct body_buf {
    char  *buf;
    size_t len, cap;
    int    too_big, oom;
} body_buf;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    body_buf *b = ud;
    size_t k = size * n;
    if (k > PAW_TEACHER_MAX_REPLY - b->len) { b->too_big = 1; return 0; }
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + k + 1) cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) { b->oom = 1; return 0; }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, k);
    b->len += k;
    b->buf[b->len] = 0;
    return k;
}

/* A copy of a normalised URL without its "user:password@" part, if any. */
static char *strip_userinfo(const char *url)
{
    const char *auth = strstr(url, "://") + 3;
    size_t auth_len = strcspn(auth, "/?");
    const char *at = memchr(auth, '@', auth_len);
    char *out = strdup(url);
    if (out && at) memmove(out + (auth - url), out + (at + 1 - url), strlen(at + 1) + 1);
    return out;
}

int paw_teacher_http_open(const char *url, const paw_teacher_opts *o, paw_teacher_http **out)
{
    *out = NULL;
    paw_teacher_opts def = {0};
    if (!o) o = &def;
    if (!(o->timeout_s >= 0)) return paw_err(PAW_EINVAL, "teacher: negative or NaN timeout");
    const char *key = o->api_key && *o->api_key ? o->api_key : NULL;
    if (key && strpbrk(key, "\r\n"))
        return paw_err(PAW_EINVAL, "teacher: the API key contains a line break");
    paw_teacher_http *h = calloc(1, sizeof *h);
    if (!h) return paw_err(PAW_ENOMEM, "teacher: out of memory");
    int rc = paw_teacher_normalise_url(url, &h->url);
    if (rc) { free(h); return rc; }
    h->shown = strip_userinfo(h->url);
    h->model = strdup(o->model_name && *o->model_name ? o->model_name : "default");
    /* Capped so that the milliseconds fit curl's long (a week is forever
     * for one chat turn). */
    h->timeout_s = o->timeout_s > 0 ? PAW_MIN(o->timeout_s, 7 * 86400.0) : 300;
    h->seed = o->seed;
    size_t nn = strlen(h->url) + (h->model ? strlen(h->model) : 0) + 8;
    h->name = malloc(nn);
    if (key) {
        size_t an = strlen(key) + 32;
        if ((h->auth = malloc(an))) snprintf(h->auth, an, "Authorization: Bearer %s", key);
    }
    if (!h->shown || !h->model || !h->name || (key && !h->auth)) {
        paw_teacher_http_free(h);
        return paw_err(PAW_ENOMEM, "teacher: out of memory");
    }
    snprintf(h->name, nn, "url:%s#%s", h->shown, h->model);
    *out = h;
    return PAW_OK;
}

const char *paw_teacher_http_name(const paw_teacher_http *h) { return h->name; }

void paw_teacher_http_free(paw_teacher_http *h)
{
    if (!h) return;
    if (h->curl) curl_easy_cleanup(h->curl);
    /* The key should not linger in freed memory. */
    if (h->auth) explicit_bzero(h->auth, strlen(h->auth));
    free(h->auth);
    free(h->url);
    free(h->shown);
    free(h->model);
    free(h->name);
    free(h);
}

/* Builds the request body into *out (malloc'd).  PAW_EINVAL when a text is
 * not valid UTF-8 (JSON cannot carry it; jansson refuses it). */
static int request_body(const paw_teacher_http *h, const char *system, const char *user,
                        int32_t max_tokens, char **out)
{
    *out = NULL;
    json_t *sys = system ? json_string(system) : NULL, *usr = json_string(user);
    json_t *model = json_string(h->model);
    if ((system && !sys) || !usr || !model) {
        json_decref(sys);
        json_decref(usr);
        json_decref(model);
        return paw_err(PAW_EINVAL, "teacher: the %s is not valid UTF-8",
                       !model ? "model name" : "prompt");
    }
    json_t *msgs = json_array();
    if (sys) json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "system", "content", sys));
    json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", usr));
    /* JSON integers are signed 64-bit here; an OpenAI seed is any integer,
     * so a seed past INT64_MAX keeps its low 63 bits. */
    json_t *req = json_pack("{s:o,s:o,s:i,s:I,s:b}", "model", model, "messages", msgs,
                            "temperature", 0, "seed", (json_int_t)(h->seed & INT64_MAX),
                            "stream", 0);
    if (req && max_tokens > 0) json_object_set_new(req, "max_tokens", json_integer(max_tokens));
    *out = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return *out ? PAW_OK : paw_err(PAW_ENOMEM, "teacher: out of memory building the request");
}

int paw_teacher_http_chat(paw_teacher_http *h, const char *system, const char *user,
                          int32_t max_tokens, char **reply)
{
    *reply = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return paw_err(PAW_ENET, "teacher: curl init: %s", curl_easy_strerror(curl_init_rc));
    if (!h->curl && !(h->curl = curl_easy_init()))
        return paw_err(PAW_ENOMEM, "teacher: curl_easy_init failed");
    char *body;
    int rc = request_body(h, system, user, max_tokens, &body);
    if (rc) return rc;

    CURL *c = h->curl;
    curl_easy_reset(c);   /* keeps the connection cache, forgets options */
    struct curl_slist *hdr = NULL, *tmp;
    const char *lines[] = { "Content-Type: application/json", "Accept: application/json",
                            "Expect:", h->auth };   /* "Expect:" drops 100-continue */
    for (size_t i = 0; i < PAW_ARRAY_LEN(lines); i++) {
        if (!lines[i]) continue;
        if (!(tmp = curl_slist_append(hdr, lines[i]))) {
            curl_slist_free_all(hdr);
            free(body);
            return paw_err(PAW_ENOMEM, "teacher: out of memory");
        }
        hdr = tmp;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    body_buf rb = {0};
    long timeout_ms = (long)(h->timeout_s * 1000);
    if (timeout_ms < 1) timeout_ms = 1;
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "paw/" PAW_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, PAW_MIN(timeout_ms, 30000L));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    /* The options point at these; drop them before the next turn's reset. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    free(body);

    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    const char *u = h->shown;
    int http_failed = status >= 300 || (status > 0 && status < 200);
    if (http_failed) {
        /* A failure status says more than whatever its body did to us (too
         * long, cut short). */
        char detail[256];
        describe_error_body(rb.buf ? rb.buf : "", rb.len, detail, sizeof detail);
        rc = paw_err(PAW_ENET, "teacher: %s answered HTTP %ld: %s", u, status, detail);
    } else if (rb.oom) {
        rc = paw_err(PAW_ENOMEM, "teacher: out of memory reading the reply from %s", u);
    } else if (rb.too_big) {
        rc = paw_err(PAW_EFORMAT, "teacher: malformed reply from %s: body larger than %u MiB",
                     u, PAW_TEACHER_MAX_REPLY >> 20);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
               cc == CURLE_COULDNT_RESOLVE_PROXY) {
        rc = paw_err(PAW_ENET, "teacher: cannot reach %s: %s", u, why);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = paw_err(PAW_ENET, "teacher: no reply from %s within %g s: %s", u, h->timeout_s, why);
    } else if (cc != CURLE_OK) {
        rc = paw_err(PAW_ENET, "teacher: request to %s failed: %s", u, why);
    } else {
        rc = paw_teacher_parse_reply(rb.buf ? rb.buf : "", rb.len, reply);
        if (rc == PAW_EFORMAT) paw_err_wrap(rc, "teacher: malformed reply from %s", u);
        if (rc == PAW_OK) paw_teacher_strip(*reply);
    }
    free(rb.buf);
    return rc;
}
