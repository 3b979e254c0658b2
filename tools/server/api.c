/* api.c — the route handlers: the official PAW REST subset (paw.md §5.5)
 * and the OpenAI-compatible routes.  They run on a connection's thread and
 * never run the model: model calls go to the workers as jobs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "server.h"

#define MAX_TOKENS_CAP 4096
#define NAME_MAX_LEN   128

void reply_error(http_reply *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *type = status == 401 ? "authentication_error"
                     : status == 429 ? "rate_limit_error"
                     : status >= 500 ? "server_error" : "invalid_request_error";
    /* "error" is the OpenAI shape its clients read; "detail" the one the
     * official REST service answers with. */
    json_t *o = json_pack("{s:{s:s,s:s,s:s},s:s}", "error", "code", code, "message", msg, "type", type,
                          "detail", msg);
    reply_json(r, status, o);
}

void reply_json(http_reply *r, int status, void *json)
{
    json_t *o = json;
    r->status = status;
    r->ctype = NULL;
    r->body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
                         "\"type\":\"server_error\"},\"detail\":\"out of memory\"}");
    }
    r->len = r->body ? strlen(r->body) : 0;
}

/* ------------------------------------------------------------ helpers */

/* Program names a request may use: what aliases and IDs are made of.  The
 * library's resolver is what decides; this only keeps odd bytes out of
 * messages and logs. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > NAME_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '@' || c == '/'))
            return 0;
    }
    return 1;
}

/* Maps a library status to an HTTP one with a stable code. */
static void reply_paw_error(http_reply *r, int rc, const char *msg)
{
    switch (rc) {
    case PAW_ENOTFOUND: reply_error(r, 404, "program_not_found", "%s", msg); break;
    case PAW_ERANGE:    reply_error(r, 400, "input_too_long", "%s", msg); break;
    case PAW_EINVAL:    reply_error(r, 400, "invalid_request", "%s", msg); break;
    case PAW_EFORMAT:   reply_error(r, 422, "invalid_program", "%s", msg); break;
    case PAW_ENOMEM:    reply_error(r, 503, "out_of_memory", "%s", msg); break;
    default:            reply_error(r, 500, "internal", "%s", msg); break;
    }
}

/* A failed hub fetch: the request was fine, the hub (or what it sent) was
 * not, hence 502 rather than a 4xx, except for a program the hub does not
 * have (or, offline, that is not cached). */
static void reply_hub_error(http_reply *r, int rc, const char *msg)
{
    switch (rc) {
    case PAW_ENOTFOUND:    reply_error(r, 404, "program_not_found", "%s", msg); break;
    case PAW_ENET:         reply_error(r, 502, "hub_unavailable", "%s", msg); break;
    case PAW_EINVAL:       reply_error(r, 502, "hub_refused", "%s", msg); break;
    case PAW_EFORMAT:
    case PAW_EHASH:        reply_error(r, 502, "invalid_hub_response", "%s", msg); break;
    case PAW_EUNSUPPORTED: reply_error(r, 422, "unsupported_runtime", "%s", msg); break;
    default:               reply_paw_error(r, rc, msg); break;
    }
}

/* Checks that a program name exists before a job is queued for it (a
 * streaming answer cannot change its status once it has started), and
 * writes its content ID to id.  With `fetch`, a hub reference that is not
 * installed is fetched first (on this connection's thread, see progs_fetch). */
static int check_program(srv *s, http_reply *r, const char *name, int fetch, char id[PAW_PROGRAM_ID_LEN + 1])
{
    if (!name_ok(name)) {
        reply_error(r, 404, "program_not_found", "no installed program is called \"%.128s\"", name);
        return 0;
    }
    if (fetch) {
        int hub;
        char err[512];
        int rc = progs_fetch(s->progs, name, id, &hub, err, sizeof err);
        if (rc && hub) reply_hub_error(r, rc, err);
        else if (rc) reply_paw_error(r, rc, err);
        return rc == PAW_OK;
    }
    int rc = progs_resolve(s->progs, name, id);
    if (rc == PAW_ENOTFOUND) {
        reply_error(r, 404, "program_not_found", "no installed program, alias or ID prefix \"%s\"", name);
        return 0;
    }
    if (rc) { reply_paw_error(r, rc, paw_last_error()); return 0; }
    return 1;
}

/* Queues j and waits for it.  1 when it finished (ok or not: see j->rc);
 * 0 when *r was filled with a 429/503/504. */
static int submit(srv *s, job *j, http_reply *r)
{
    int rc = work_submit(s, j);
    if (rc == -1) {
        reply_error(r, 429, "queue_full", "the server's queue is full (%d waiting); retry later", s->cfg.queue);
        snprintf(r->extra_name, sizeof r->extra_name, "Retry-After");
        snprintf(r->extra_value, sizeof r->extra_value, "1");
        return 0;
    }
    if (rc) { reply_error(r, 503, "shutting_down", "the server is shutting down"); return 0; }
    return 1;
}

static int wait_done(srv *s, job *j, http_reply *r)
{
    if (!work_wait(s, j, s->cfg.timeout_s * 1e3)) {
        reply_error(r, 504, "timeout", "no answer within the request timeout (%g s)", s->cfg.timeout_s);
        return 0;
    }
    if (j->rc) { reply_paw_error(r, j->rc, j->err); return 0; }
    metrics_tokens(s->metrics, j->n_prompt, j->n_gen);
    return 1;
}

static json_t *parse_object(const char *body, size_t len, http_reply *r)
{
    json_error_t e;
    json_t *o = json_loadb(body ? body : "", len, 0, &e);
    if (!o) {
        reply_error(r, 400, "invalid_json", "malformed JSON: %s (line %d, column %d)", e.text, e.line, e.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        reply_error(r, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* max_tokens / temperature, shared by every model route.  1 if valid. */
static int gen_params(json_t *o, int32_t def_tokens, int32_t *max_tokens, float *temp, http_reply *r)
{
    json_t *mt = json_object_get(o, "max_tokens");
    if (!mt || json_is_null(mt)) mt = json_object_get(o, "max_completion_tokens");
    *max_tokens = def_tokens;
    if (mt && !json_is_null(mt)) {
        if (!json_is_integer(mt) || json_integer_value(mt) < 1 || json_integer_value(mt) > MAX_TOKENS_CAP) {
            reply_error(r, 400, "invalid_parameter", "max_tokens must be an integer in [1, %d]", MAX_TOKENS_CAP);
            return 0;
        }
        *max_tokens = (int32_t)json_integer_value(mt);
    }
    json_t *t = json_object_get(o, "temperature");
    *temp = 0;
    if (t && !json_is_null(t)) {
        if (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 2) {
            reply_error(r, 400, "invalid_parameter", "temperature must be a number in [0, 2]");
            return 0;
        }
        *temp = (float)json_number_value(t);
    }
    return 1;
}

/* ------------------------------------------------------- official REST */

void api_health(srv *s, http_reply *r)
{
    int np = 0, nh = 0;
    size_t bytes = 0;
    progs_stats(s->progs, &np, &nh, &bytes);
    reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:b}", "status", "ok", "version", PAW_VERSION,
                                 "model", s->model_name, "workers", s->n_workers, "queue_depth",
                                 work_queue_depth(s), "programs_resident", np, "int8_products",
                                 s->cfg.int8 && paw_int8_available()));
}

void api_infer(srv *s, const char *body, size_t len, http_reply *r)
{
    double t0 = srv_now_ms();
    json_t *o = parse_object(body, len, r);
    if (!o) return;
    json_t *pid = json_object_get(o, "program_id"), *in = json_object_get(o, "input");
    int32_t max_tokens;
    float temp;
    char id[PAW_PROGRAM_ID_LEN + 1];
    if (!json_is_string(pid) || !json_is_string(in)) {
        reply_error(r, 400, "invalid_parameter", "program_id and input (strings) are required");
    } else if (gen_params(o, PAW_PROGRAM_MAX_TOKENS, &max_tokens, &temp, r) &&
               check_program(s, r, json_string_value(pid), 1, id)) {
        job *j = job_new(JOB_PROGRAM);
        if (j) {
            j->program = strdup(id);   /* the worker never resolves a name */
            j->input = malloc(json_string_length(in) + 1);
            if (j->input) memcpy(j->input, json_string_value(in), json_string_length(in) + 1);
            j->input_len = json_string_length(in);
            j->max_tokens = max_tokens;
        }
        if (!j || !j->program || !j->input) reply_error(r, 503, "out_of_memory", "out of memory");
        else if (submit(s, j, r) && wait_done(s, j, r))
            reply_json(r, 200, json_pack("{s:s%,s:i,s:f}", "output", j->output, j->output_len,
                                         "tokens_generated", j->n_gen, "latency_ms", srv_now_ms() - t0));
        job_unref(j);
    }
    json_decref(o);
}

static json_t *aliases_array(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return a;
}

static int contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

void api_programs(srv *s, const char *q, int page, int per_page, http_reply *r)
{
    (void)s;
    paw_program_info *list = NULL;
    size_t n = 0;
    int rc = paw_program_list(&list, &n);
    if (rc == PAW_ENOTFOUND) rc = PAW_OK, n = 0;   /* no cache yet: no programs */
    if (rc) { reply_paw_error(r, rc, paw_last_error()); return; }
    json_t *arr = json_array();
    size_t total = 0, first = (size_t)(page - 1) * (size_t)per_page;
    for (size_t i = 0; i < n; i++) {
        paw_program_info *p = &list[i];
        if (q && *q && !contains(p->id, q) && !contains(p->aliases, q) && !contains(p->spec_line, q) &&
            !contains(p->program_id, q))
            continue;
        if (total >= first && total < first + (size_t)per_page)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:s,s:s,s:I}", "id", p->id, "program_id",
                                                 p->program_id, "aliases", aliases_array(p->aliases), "spec",
                                                 p->spec_line, "interpreter", p->interpreter, "size_bytes",
                                                 (json_int_t)p->size));
        total++;
    }
    paw_program_list_free(list, n);
    reply_json(r, 200, json_pack("{s:o,s:I,s:i,s:i}", "programs", arr, "total", (json_int_t)total, "page",
                                 page, "per_page", per_page));
}

/* Reads an installed program named by a request (never a path). */
static paw_bundle *load_named(srv *s, const char *name, http_reply *r, paw_program_ref *ref)
{
    char id[PAW_PROGRAM_ID_LEN + 1];
    if (!check_program(s, r, name, 0, id)) return NULL;
    paw_bundle *b = NULL;
    int rc = paw_program_resolve_installed(name, ref);
    if (!rc) rc = paw_bundle_read_dir(ref->dir, &b);
    if (rc) { reply_paw_error(r, rc == PAW_ENOTFOUND ? rc : PAW_EFORMAT, paw_last_error()); return NULL; }
    return b;
}

static char *aliases_of(const char *id)
{
    paw_program_info *list = NULL;
    size_t n = 0;
    char *out = NULL;
    if (!paw_program_list(&list, &n))
        for (size_t i = 0; i < n && !out; i++)
            if (!strcmp(list[i].id, id)) out = strdup(list[i].aliases);
    paw_program_list_free(list, n);
    return out ? out : strdup("");
}

void api_program(srv *s, const char *name, http_reply *r)
{
    paw_program_ref ref;
    paw_bundle *b = load_named(s, name, r, &ref);
    if (!b) return;
    char *meta = NULL;
    size_t mlen = 0;
    json_t *mj = NULL;
    if (!paw_program_meta_json(&b->meta, &meta, &mlen)) mj = json_loadb(meta, mlen, 0, NULL);
    paw_free(meta);
    char *al = aliases_of(b->id);
    json_t *o = json_pack("{s:s,s:s?,s:o,s:s?,s:s?,s:s?,s:s%,s:o}", "id", b->id, "program_id",
                          b->meta.program_id, "aliases", aliases_array(al), "spec", b->meta.spec,
                          "interpreter", b->meta.interpreter, "pseudo_program", b->pseudo_program,
                          "prompt_template", b->prompt_template, b->prompt_template_len, "meta",
                          mj ? mj : json_object());
    free(al);
    paw_bundle_free(b);
    reply_json(r, 200, o);
}

void api_download(srv *s, const char *name, http_reply *r)
{
    paw_program_ref ref;
    paw_bundle *b = load_named(s, name, r, &ref);
    if (!b) return;
    uint8_t *zip = NULL;
    size_t len = 0;
    int rc = paw_bundle_write_mem(b, &zip, &len);
    if (rc) {
        reply_paw_error(r, rc, paw_last_error());
    } else {
        /* The body is released with free() by the HTTP layer. */
        r->body = malloc(len ? len : 1);
        if (r->body) memcpy(r->body, zip, len);
        r->len = len;
        r->status = r->body ? 200 : 503;
        r->ctype = "application/zip";
        snprintf(r->extra_name, sizeof r->extra_name, "Content-Disposition");
        snprintf(r->extra_value, sizeof r->extra_value, "attachment; filename=\"%s.paw\"", b->id);
    }
    paw_free(zip);
    paw_bundle_free(b);
}

void api_upload(srv *s, const char *body, size_t len, const char *alias, http_reply *r)
{
    if (!len) { reply_error(r, 400, "invalid_bundle", "the body must be a .paw bundle (a ZIP)"); return; }
    paw_bundle *b = NULL;
    int rc = paw_bundle_read_mem(body, len, &b);
    if (rc) {
        reply_error(r, rc == PAW_ERANGE ? 413 : 400, "invalid_bundle", "not a valid .paw bundle: %s",
                    paw_last_error());
        return;
    }
    char id[PAW_PROGRAM_ID_LEN + 1];
    rc = paw_program_install(b, alias && *alias ? alias : NULL, id);
    if (rc) {
        reply_paw_error(r, rc, paw_last_error());
    } else {
        progs_invalidate(s->progs);
        char *al = aliases_of(id);
        reply_json(r, 201, json_pack("{s:s,s:s?,s:o,s:s?,s:b}", "id", id, "program_id", b->meta.program_id,
                                     "aliases", aliases_array(al), "spec", b->meta.spec, "installed", 1));
        free(al);
    }
    paw_bundle_free(b);
}

/* ------------------------------------------------------ OpenAI routes */

void api_models(srv *s, http_reply *r)
{
    json_t *data = json_array();
    json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", s->model_name, "object", "model",
                                          "created", 0, "owned_by", "paw"));
    paw_program_info *list = NULL;
    size_t n = 0;
    if (!paw_program_list(&list, &n)) {
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s,s:s}", "id", list[i].id, "object", "model",
                                                  "created", 0, "owned_by", "paw", "description",
                                                  list[i].spec_line));
            json_t *al = aliases_array(list[i].aliases);
            size_t k;
            json_t *a;
            json_array_foreach(al, k, a)
                json_array_append_new(data, json_pack("{s:O,s:s,s:i,s:s,s:s}", "id", a, "object", "model",
                                                      "created", 0, "owned_by", "paw", "root", list[i].id));
            json_decref(al);
        }
        paw_program_list_free(list, n);
    }
    reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* A message's text: a string, or an array of {"type":"text","text":...}. */
static char *message_text(json_t *content)
{
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (!json_is_array(content)) return NULL;
    size_t len = 0, i;
    json_t *part;
    char *out = calloc(1, 1);
    json_array_foreach(content, i, part) {
        json_t *t = json_object_get(part, "text");
        if (!out || !json_is_string(t)) { free(out); return NULL; }
        size_t n = json_string_length(t);
        char *o = realloc(out, len + n + 1);
        if (!o) { free(out); return NULL; }
        out = o;
        memcpy(out + len, json_string_value(t), n + 1);
        len += n;
    }
    return out;
}

/* Chat messages -> the base model's prompt, rendered by its template. */
static char *render_chat(srv *s, json_t *msgs, http_reply *r)
{
    size_t n = json_array_size(msgs), i;
    paw_chat_msg *m = calloc(n ? n : 1, sizeof *m);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    char *out = NULL;
    size_t len = 0;
    int ok = m && texts;
    json_t *msg;
    json_array_foreach(msgs, i, msg) {
        if (!ok) break;
        json_t *role = json_object_get(msg, "role");
        texts[i] = message_text(json_object_get(msg, "content"));
        if (!json_is_string(role) || !texts[i]) ok = 0;
        else m[i] = (paw_chat_msg){json_string_value(role), texts[i]};
    }
    if (!ok) reply_error(r, 400, "invalid_parameter", "each message needs a string role and text content");
    else if (paw_chat_format(s->model, m, n, 1, &out, &len)) reply_paw_error(r, PAW_EINVAL, paw_last_error());
    for (i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(m);
    return out;
}

/* A program's input: the last user message of a chat. */
static char *last_user(json_t *msgs)
{
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        json_t *m = json_array_get(msgs, i), *role = json_object_get(m, "role");
        if (json_is_string(role) && !strcmp(json_string_value(role), "user"))
            return message_text(json_object_get(m, "content"));
    }
    return NULL;
}

static void new_id(char *buf, size_t cap, const char *prefix)
{
    static unsigned long long counter;
    unsigned long long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%s-%llx%llx", prefix, (unsigned long long)ts.tv_sec * 1000000000ull +
             (unsigned long long)ts.tv_nsec, c);
}

void api_openai(srv *s, int chat, const char *body, size_t len, http_reply *r)
{
    json_t *o = parse_object(body, len, r);
    if (!o) return;
    if (chat && json_object_get(o, "tools") && !json_is_null(json_object_get(o, "tools"))) {
        api_toolcall(s, o, r);   /* toolcall.c: programs + glue decide the calls */
        json_decref(o);
        return;
    }
    json_t *model = json_object_get(o, "model"), *msgs = json_object_get(o, "messages");
    json_t *prompt = json_object_get(o, "prompt"), *stream = json_object_get(o, "stream");
    if (json_is_array(prompt) && json_array_size(prompt) == 1) prompt = json_array_get(prompt, 0);
    const char *name = json_string_value(model);
    int base = name && !strcmp(name, s->model_name);
    int32_t max_tokens;
    float temp;
    char *input = NULL, id[PAW_PROGRAM_ID_LEN + 1] = "";
    job *j = NULL;
    if (!name) {
        reply_error(r, 400, "invalid_parameter", "model (a program ID, alias or \"%s\") is required",
                    s->model_name);
    } else if (chat && (!json_is_array(msgs) || !json_array_size(msgs))) {
        reply_error(r, 400, "invalid_parameter", "messages must be a non-empty array");
    } else if (!chat && !json_is_string(prompt)) {
        reply_error(r, 400, "invalid_parameter", "prompt must be a string");
    } else if (gen_params(o, base ? 256 : PAW_PROGRAM_MAX_TOKENS, &max_tokens, &temp, r) &&
               (base || check_program(s, r, name, 1, id))) {
        if (!chat) input = strdup(json_string_value(prompt));
        else if (base) input = render_chat(s, msgs, r);
        else if (!(input = last_user(msgs)))
            reply_error(r, 400, "invalid_parameter", "a program's input is the last user message; there is none");
        if (input && (j = job_new(base ? JOB_CHAT : JOB_PROGRAM))) {
            j->program = base ? NULL : strdup(id);
            j->input = input;
            j->input_len = strlen(input);
            j->max_tokens = max_tokens;
            j->temperature = temp;
            json_t *seed = json_object_get(o, "seed");
            j->seed = json_is_integer(seed) ? (uint64_t)json_integer_value(seed) : 0;
            input = NULL;
        }
    }
    free(input);
    if (j && (base || j->program) && submit(s, j, r)) {
        char cid[48];
        new_id(cid, sizeof cid, chat ? "chatcmpl" : "cmpl");
        if (json_is_true(stream)) {
            r->status = 200;
            r->stream_job = j;
            r->stream_chat = chat;
            snprintf(r->stream_model, sizeof r->stream_model, "%s", name);
            snprintf(r->stream_id, sizeof r->stream_id, "%s", cid);
            j = NULL;   /* the stream owns it now */
        } else if (wait_done(s, j, r)) {
            const char *finish = j->finish_length ? "length" : "stop";
            json_t *choice = chat
                ? json_pack("{s:i,s:{s:s,s:s%},s:s}", "index", 0, "message", "role", "assistant", "content",
                            j->output ? j->output : "", j->output_len, "finish_reason", finish)
                : json_pack("{s:i,s:s%,s:n,s:s}", "index", 0, "text", j->output ? j->output : "",
                            j->output_len, "logprobs", "finish_reason", finish);
            reply_json(r, 200, json_pack("{s:s,s:s,s:I,s:s,s:[o],s:{s:i,s:i,s:i}}", "id", cid, "object",
                                         chat ? "chat.completion" : "text_completion", "created",
                                         (json_int_t)time(NULL), "model", name, "choices", choice, "usage",
                                         "prompt_tokens", j->n_prompt, "completion_tokens", j->n_gen,
                                         "total_tokens", j->n_prompt + j->n_gen));
        }
    }
    job_unref(j);
    json_decref(o);
}
