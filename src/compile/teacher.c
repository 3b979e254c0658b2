/* teacher.c — the compiler's teachers: the public handle, and the local
 * teacher (an instruct GGUF run greedily by paw's own engine).
 *
 * The local teacher keeps one model, tokenizer and ctx for its lifetime and
 * empties the KV cache before each turn, so turns are independent and a
 * compile with dozens of teacher calls allocates its ctx once.  Messages
 * are text: chat markers inside them are not parsed as special tokens (see
 * paw_teacher_prompt_ids).  The URL teacher lives in teacher_http.c.  A
 * teacher is used by one thread at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "compile/teacher.h"

enum { TEACHER_LOCAL, TEACHER_URL };

struct paw_teacher {
    int kind;
    char *name;                 /* local: "gguf:<file>:<sha256 prefix>"      */
    /* local */
    paw_model     *model;
    paw_tokenizer *tok;
    paw_ctx       *ctx;
    uint64_t       seed;
    /* url */
    paw_teacher_http *http;
};

/* Hex digits of the file's SHA-256 in the name: enough to tell two
 * teachers apart in a bundle's metadata, short enough to read. */
#define NAME_HASH_HEX 12

int paw_teacher_open_model(const char *gguf_path, const paw_teacher_opts *o, paw_teacher **out)
{
    *out = NULL;
    paw_teacher_opts def = {0};
    if (!o) o = &def;
    if (!gguf_path || !*gguf_path) return paw_err(PAW_EINVAL, "teacher: no model path");
    if (o->n_ctx < 0 || o->n_threads < 0)
        return paw_err(PAW_EINVAL, "teacher: negative n_ctx or n_threads");
    /* Accept a known model name ("smollm2-135m") as well as a path. */
    char path[4096];
    int rc = paw_model_resolve(gguf_path, path, sizeof path);
    if (rc) return rc;
    paw_teacher *t = calloc(1, sizeof *t);
    if (!t) return paw_err(PAW_ENOMEM, "teacher: out of memory");
    t->kind = TEACHER_LOCAL;
    t->seed = o->seed;
    char hex[65];
    if ((rc = paw_model_load(path, &t->model)) ||
        (rc = paw_tokenizer_from_gguf(paw_model_gguf(t->model), &t->tok))) {
        paw_err_wrap(rc, "teacher: loading %s", path);
        goto fail;
    }
    int32_t n_ctx = o->n_ctx;
    if (n_ctx == 0) {
        int32_t train = paw_model_n_ctx_train(t->model);
        n_ctx = train > 0 ? PAW_MIN(4096, train) : 4096;
    }
    paw_ctx_params cp = {.n_ctx = n_ctx, .n_threads = o->n_threads};
    if ((rc = paw_ctx_new(t->model, &cp, &t->ctx))) {
        paw_err_wrap(rc, "teacher: %s", path);
        goto fail;
    }
    if ((rc = paw_sha256_file(path, hex))) goto fail;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t nn = strlen(base) + NAME_HASH_HEX + 8;
    if (!(t->name = malloc(nn))) { rc = paw_err(PAW_ENOMEM, "teacher: out of memory"); goto fail; }
    snprintf(t->name, nn, "gguf:%s:%.*s", base, NAME_HASH_HEX, hex);
    *out = t;
    return PAW_OK;
fail:
    paw_teacher_free(t);
    return rc;
}

int paw_teacher_open_url(const char *url, const paw_teacher_opts *o, paw_teacher **out)
{
    *out = NULL;
    paw_teacher *t = calloc(1, sizeof *t);
    if (!t) return paw_err(PAW_ENOMEM, "teacher: out of memory");
    t->kind = TEACHER_URL;
    int rc = paw_teacher_http_open(url, o, &t->http);
    if (rc) { free(t); return rc; }
    *out = t;
    return PAW_OK;
}

/* Does text hold the text of a special token ("<|im_end|>", say)?  Then
 * it tokenizes differently with special parsing on. */
static int has_special_text(const paw_tokenizer *tok, const char *text, int *yes)
{
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    size_t len = strlen(text);
    int rc = paw_tokenize(tok, text, len, 0, 1, &a, &na);
    if (!rc) rc = paw_tokenize(tok, text, len, 0, 0, &b, &nb);
    *yes = !rc && (na != nb || memcmp(a, b, na * sizeof *a) != 0);
    free(a);
    free(b);
    return rc;
}

/* Appends the tokens of text[0..len) to *ids. */
static int append_tokens(const paw_tokenizer *tok, const char *text, size_t len, int add_bos,
                         int special, int32_t **ids, size_t *n)
{
    if (len == 0 && !add_bos) return PAW_OK;
    int32_t *part = NULL;
    size_t np = 0;
    int rc = paw_tokenize(tok, text, len, add_bos, special, &part, &np);
    if (rc) return rc;
    int32_t *grown = realloc(*ids, (*n + np + 1) * sizeof *grown);
    if (!grown) { free(part); return paw_err(PAW_ENOMEM, "teacher: out of memory"); }
    memcpy(grown + *n, part, np * sizeof *part);
    *ids = grown;
    *n += np;
    free(part);
    return PAW_OK;
}

/* Marks where the messages go when the template is rendered around them;
 * control characters no real message holds. */
static const char MARK_SYSTEM[] = "\x1epaw-teacher-system\x1e";
static const char MARK_USER[] = "\x1epaw-teacher-user\x1e";

/* Renders with marks in place of the messages, then tokenizes the template's
 * own text with special parsing and the messages as plain text. */
static int split_prompt_ids(const paw_teacher *t, const char *system, const char *user,
                            int32_t **ids, size_t *n_ids)
{
    paw_chat_msg msgs[2];
    size_t n_msgs = 0;
    if (system) msgs[n_msgs++] = (paw_chat_msg){"system", MARK_SYSTEM};
    msgs[n_msgs++] = (paw_chat_msg){"user", MARK_USER};
    char *tmpl = NULL;
    size_t len = 0;
    int rc = paw_chat_format(t->model, msgs, n_msgs, 1, &tmpl, &len);
    if (rc) return rc;
    const char *ms = system ? strstr(tmpl, MARK_SYSTEM) : tmpl;
    const char *mu = strstr(tmpl, MARK_USER);
    if (!ms || !mu || mu < ms) {
        free(tmpl);
        return paw_err(PAW_EUNSUPPORTED, "teacher: the chat template does not keep messages "
                       "verbatim, and a message holds special-token text");
    }
    const char *after_sys = system ? ms + strlen(MARK_SYSTEM) : tmpl;
    const char *after_usr = mu + strlen(MARK_USER);
    int bos = paw_tokenizer_add_bos(t->tok);
    rc = append_tokens(t->tok, tmpl, system ? (size_t)(ms - tmpl) : 0, bos, 1, ids, n_ids);
    if (!rc && system) rc = append_tokens(t->tok, system, strlen(system), 0, 0, ids, n_ids);
    if (!rc) rc = append_tokens(t->tok, after_sys, (size_t)(mu - after_sys), 0, 1, ids, n_ids);
    if (!rc) rc = append_tokens(t->tok, user, strlen(user), 0, 0, ids, n_ids);
    if (!rc) rc = append_tokens(t->tok, after_usr, (size_t)(tmpl + len - after_usr), 0, 1, ids, n_ids);
    free(tmpl);
    return rc;
}

int paw_teacher_prompt_ids(const paw_teacher *t, const char *system, const char *user,
                           int32_t **ids, size_t *n_ids)
{
    *ids = NULL;
    *n_ids = 0;
    if (!t || !t->model || !user) return paw_err(PAW_EINVAL, "teacher: not a local teacher, or no user message");
    int sys_special = 0, user_special = 0;
    int rc = has_special_text(t->tok, user, &user_special);
    if (!rc && system) rc = has_special_text(t->tok, system, &sys_special);
    if (rc) return rc;
    if (sys_special || user_special) {
        rc = split_prompt_ids(t, system, user, ids, n_ids);
        if (rc) { free(*ids); *ids = NULL; *n_ids = 0; }
        return rc;
    }
    paw_chat_msg msgs[2];
    size_t n_msgs = 0;
    if (system) msgs[n_msgs++] = (paw_chat_msg){"system", system};
    msgs[n_msgs++] = (paw_chat_msg){"user", user};
    char *prompt = NULL;
    size_t len = 0;
    if ((rc = paw_chat_format(t->model, msgs, n_msgs, 1, &prompt, &len))) return rc;
    rc = paw_tokenize(t->tok, prompt, len, paw_tokenizer_add_bos(t->tok), 1, ids, n_ids);
    free(prompt);
    return rc;
}

/* One greedy turn on the local model, from an empty KV cache. */
static int local_chat(paw_teacher *t, const char *system, const char *user, int32_t max_tokens,
                      char **reply)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    paw_gen_result res = {0};
    int rc = paw_teacher_prompt_ids(t, system, user, &ids, &n_ids);
    if (rc) goto out;
    int32_t n_ctx = paw_ctx_n_ctx(t->ctx);
    /* The first reply token comes from the prompt's last logits, but every
     * later one needs a free position: insist on room for at least one. */
    if (n_ids >= (size_t)n_ctx) {
        paw_err(PAW_ERANGE, "teacher %s: the prompt is %zu tokens; the context holds %d "
                "(raise n_ctx or shorten the prompt)", t->name, n_ids, (int)n_ctx);
        rc = PAW_ERANGE;
        goto done;
    }
    if ((rc = paw_kv_truncate(t->ctx, 0))) goto out;
    paw_gen_params gp = {.max_tokens = max_tokens, .sampling = {.temp = 0, .seed = t->seed}};
    if ((rc = paw_generate(t->ctx, t->tok, ids, n_ids, &gp, &res))) goto out;
    *reply = paw_teacher_strip(res.text);
    res.text = NULL;          /* ownership moves to the caller */
out:
    if (rc) paw_err_wrap(rc, "teacher %s", t->name);
done:
    paw_gen_result_free(&res);
    free(ids);
    return rc;
}

int paw_teacher_chat(paw_teacher *t, const char *system, const char *user,
                     int32_t max_tokens, char **reply)
{
    *reply = NULL;
    if (!t || !user) return paw_err(PAW_EINVAL, "teacher: no teacher or no user message");
    if (max_tokens < 0) return paw_err(PAW_EINVAL, "teacher: negative max_tokens");
    if (t->kind == TEACHER_URL) return paw_teacher_http_chat(t->http, system, user, max_tokens, reply);
    return local_chat(t, system, user, max_tokens, reply);
}

const char *paw_teacher_name(const paw_teacher *t)
{
    if (!t) return "";
    return t->kind == TEACHER_URL ? paw_teacher_http_name(t->http) : t->name;
}

void paw_teacher_free(paw_teacher *t)
{
    if (!t) return;
    paw_teacher_http_free(t->http);
    paw_ctx_free(t->ctx);
    paw_tokenizer_free(t->tok);
    paw_model_free(t->model);
    free(t->name);
    free(t);
}
