/* data.c — what the compiler's stages share: text helpers, example lists
 * and the reasons examples are dropped, the user's examples normalised, the
 * teacher call with its one retry, progress lines. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compile/compile_internal.h"

int paw_compile_is_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

char *paw_compile_strip(const char *s, size_t n)
{
    while (n && paw_compile_is_ws(*s)) { s++; n--; }
    while (n && paw_compile_is_ws(s[n - 1])) n--;
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

int paw_exlist_add(paw_exlist *l, const char *input, const char *output)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        paw_program_example *v = realloc(l->v, cap * sizeof *v);
        if (!v) return paw_err(PAW_ENOMEM, "compile: out of memory");
        l->v = v;
        l->cap = cap;
    }
    char *in = strdup(input), *out = strdup(output);
    if (!in || !out) {
        free(in);
        free(out);
        return paw_err(PAW_ENOMEM, "compile: out of memory");
    }
    l->v[l->n++] = (paw_program_example){in, out};
    return PAW_OK;
}

int paw_exlist_has_input(const paw_exlist *l, const char *input)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].input, input)) return 1;
    return 0;
}

void paw_exlist_clear(paw_exlist *l)
{
    for (size_t i = 0; i < l->n; i++) { free(l->v[i].input); free(l->v[i].output); }
    free(l->v);
    memset(l, 0, sizeof *l);
}

int32_t paw_drops_total(const paw_drops *d)
{
    int32_t t = 0;
    for (int i = 0; i < PAW_DROP_N; i++) t += d->n[i];
    return t;
}

void paw_drops_describe(const paw_drops *d, char *buf, size_t cap)
{
    static const char *what[PAW_DROP_N][2] = {
        [PAW_DROP_DUPLICATE] = {"duplicate input", "duplicate inputs"},
        [PAW_DROP_EMPTY] = {"empty input or output", "empty inputs or outputs"},
        [PAW_DROP_USER_INPUT] = {"input equal to a user example's", "inputs equal to user examples'"},
        [PAW_DROP_TOO_LONG] = {"over-long input or output", "over-long inputs or outputs"},
        [PAW_DROP_MULTILINE] = {"multi-line output (the user's are one line)",
                                "multi-line outputs (the user's are one line)"},
        [PAW_DROP_LABEL] = {"output not among the user's labels", "outputs not among the user's labels"},
        [PAW_DROP_MARKER] = {"reply holding prompt markup", "replies holding prompt markup"},
        [PAW_DROP_OVER_COUNT] = {"input beyond the number asked for", "inputs beyond the number asked for"},
    };
    size_t k = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; i < PAW_DROP_N && k < cap; i++) {
        if (!d->n[i]) continue;
        int w = snprintf(buf + k, cap - k, "%s%d %s", k ? ", " : "", d->n[i], what[i][d->n[i] > 1]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

int paw_compile_normalise(const paw_program_example *ex, size_t n, paw_exlist *out, paw_drops *drops)
{
    for (size_t i = 0; i < n; i++) {
        if (!ex[i].input || !ex[i].output)
            return paw_err(PAW_EINVAL, "compile: example %zu lacks input or output", i + 1);
        char *in = paw_compile_strip(ex[i].input, strlen(ex[i].input));
        char *o = paw_compile_strip(ex[i].output, strlen(ex[i].output));
        int rc = in && o ? PAW_OK : paw_err(PAW_ENOMEM, "compile: out of memory");
        if (!rc && paw_exlist_has_input(out, in)) drops->n[PAW_DROP_DUPLICATE]++;
        else if (!rc && !*o) drops->n[PAW_DROP_EMPTY]++;
        else if (!rc) rc = paw_exlist_add(out, in, o);
        free(in);
        free(o);
        if (rc) return rc;
    }
    return PAW_OK;
}

int paw_compile_check_cancel(const paw_compile_opts *o)
{
    if (o->cancelled && o->cancelled(o->ud)) return paw_err(PAW_ECANCELED, "compile: cancelled");
    return PAW_OK;
}

int paw_compile_ask(paw_teacher *t, const paw_compile_opts *o, const char *what, const char *system,
                    const char *user, int32_t max_tokens, char **reply)
{
    int rc = paw_compile_check_cancel(o);
    if (rc) return rc;
    rc = paw_teacher_chat(t, system, user, max_tokens, reply);
    if (rc == PAW_ENET || rc == PAW_EFORMAT) {
        paw_compile_progress(o, "teacher", "%s failed (%s); retrying once", what, paw_last_error());
        rc = paw_teacher_chat(t, system, user, max_tokens, reply);
    }
    if (rc) return paw_err_wrap(rc, "compile: teacher %s, while %s", paw_teacher_name(t), what);
    return PAW_OK;
}

void paw_compile_progress(const paw_compile_opts *o, const char *stage, const char *fmt, ...)
{
    if (!o->progress) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->progress(o->ud, stage, msg);
}
