/* eval.c — evaluation suites (JSONL, one task per line), the prompt
 * baselines' templates, and exact-match scoring.  Running a suite is the
 * CLI's job (tools/paw/cmd_eval.c): it is a loop over paw_program_call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/common.h"

static void free_examples(paw_program_example *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        free(e[i].input);
        free(e[i].output);
    }
    free(e);
}

void paw_suite_free(paw_suite_task *tasks, size_t n)
{
    for (size_t i = 0; tasks && i < n; i++) {
        free(tasks[i].id);
        free(tasks[i].category);
        free(tasks[i].spec);
        free_examples(tasks[i].train, tasks[i].n_train);
        free_examples(tasks[i].test, tasks[i].n_test);
    }
    free(tasks);
}

static char *dup_str(json_t *v)
{
    return strndup(json_string_value(v), json_string_length(v));
}

/* A list of {"input","output"} objects; returns a message or NULL. */
static const char *read_examples(json_t *arr, const char *key, paw_program_example **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *a = json_object_get(arr, key);
    if (!a) return NULL;
    if (!json_is_array(a)) return "is not an array";
    size_t k = json_array_size(a);
    paw_program_example *e = calloc(k ? k : 1, sizeof *e);
    if (!e) return "out of memory";
    for (size_t i = 0; i < k; i++) {
        json_t *o = json_array_get(a, i);
        json_t *in = json_object_get(o, "input"), *outp = json_object_get(o, "output");
        if (!json_is_object(o) || !json_is_string(in) || !json_is_string(outp)) {
            free_examples(e, i);
            return "holds an element without string \"input\" and \"output\"";
        }
        e[i].input = dup_str(in);
        e[i].output = dup_str(outp);
        if (!e[i].input || !e[i].output) { free_examples(e, i + 1); return "out of memory"; }
    }
    *out = e;
    *n = k;
    return NULL;
}

static int parse_task(const char *line, size_t len, paw_suite_task *t, const char *path, size_t lineno)
{
    memset(t, 0, sizeof *t);
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return paw_err(PAW_EFORMAT, "%s: line %zu: invalid JSON: %s", path, lineno, je.text);
    const char *why = NULL, *key = NULL;
    json_t *id = json_object_get(o, "id"), *cat = json_object_get(o, "category"),
           *spec = json_object_get(o, "spec");
    if (!json_is_object(o)) why = "not a JSON object";
    else if (!json_is_string(id) || !json_string_length(id)) why = "no string \"id\"";
    else if (!json_is_string(spec)) why = "no string \"spec\"";
    else if (cat && !json_is_string(cat)) why = "\"category\" is not a string";
    if (!why) {
        t->id = dup_str(id);
        t->spec = dup_str(spec);
        t->category = cat ? dup_str(cat) : strdup("");
        if (!t->id || !t->spec || !t->category) why = "out of memory";
    }
    if (!why && (why = read_examples(o, "train", &t->train, &t->n_train))) key = "train";
    if (!why && (why = read_examples(o, "test", &t->test, &t->n_test))) key = "test";
    if (!why && !t->n_test) why = "no \"test\" examples";
    json_decref(o);
    if (!why) return PAW_OK;
    free(t->id); free(t->category); free(t->spec);
    free_examples(t->train, t->n_train);
    free_examples(t->test, t->n_test);
    memset(t, 0, sizeof *t);
    return paw_err(PAW_EFORMAT, "%s: line %zu: %s%s%s%s", path, lineno, key ? "\"" : "", key ? key : "",
                   key ? "\" " : "", why);
}

int paw_suite_read(const char *path, paw_suite_task **tasks, size_t *n)
{
    if (!path || !tasks || !n) return paw_err(PAW_EINVAL, "paw_suite_read: NULL argument");
    *tasks = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return paw_err(PAW_EIO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, count = 0, alloc = 0, lineno = 0;
    ssize_t got;
    paw_suite_task *t = NULL;
    int rc = PAW_OK;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && strchr(" \t\r\n", line[len - 1])) len--;
        size_t lead = 0;
        while (lead < len && strchr(" \t", line[lead])) lead++;
        if (lead == len) continue;
        if (count == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            paw_suite_task *nt = realloc(t, na * sizeof *nt);
            if (!nt) { rc = paw_err(PAW_ENOMEM, "suite: out of memory"); break; }
            t = nt;
            alloc = na;
        }
        if ((rc = parse_task(line + lead, len - lead, &t[count], path, lineno))) break;
        count++;
        for (size_t i = 0; i + 1 < count; i++)
            if (!strcmp(t[i].id, t[count - 1].id)) {
                rc = paw_err(PAW_EFORMAT, "%s: line %zu: duplicate task id \"%s\"", path, lineno, t[i].id);
                break;
            }
        if (rc) break;
    }
    if (!rc && ferror(f)) rc = paw_err(PAW_EIO, "%s: read error", path);
    if (!rc && !count) rc = paw_err(PAW_EFORMAT, "%s: no tasks", path);
    free(line);
    fclose(f);
    if (rc) { paw_suite_free(t, count); return rc; }
    *tasks = t;
    *n = count;
    return PAW_OK;
}

/* ------------------------------------------------------------ baselines */

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

int paw_baseline_template(const paw_model *m, const paw_suite_task *t, int kind, char **out, size_t *len)
{
    *out = NULL;
    if (kind != PAW_BASELINE_ZERO_SHOT && kind != PAW_BASELINE_FEW_SHOT)
        return paw_err(PAW_EINVAL, "baseline: unknown kind %d", kind);
    /* The text around the input must not itself contain the placeholder,
     * or the template could not be split unambiguously. */
    if (strstr(t->spec, PAW_PROGRAM_PLACEHOLDER))
        return paw_err(PAW_EINVAL, "task %s: the spec contains %s", t->id, PAW_PROGRAM_PLACEHOLDER);
    sbuf b = {0};
    put(&b, t->spec);
    if (kind == PAW_BASELINE_FEW_SHOT && t->n_train) {
        put(&b, "\n\nExamples:\n\n");
        for (size_t i = 0; i < t->n_train; i++) {
            if (strstr(t->train[i].input, PAW_PROGRAM_PLACEHOLDER) ||
                strstr(t->train[i].output, PAW_PROGRAM_PLACEHOLDER)) {
                free(b.p);
                return paw_err(PAW_EINVAL, "task %s: train example %zu contains %s", t->id, i,
                               PAW_PROGRAM_PLACEHOLDER);
            }
            put(&b, "Input: ");
            put(&b, t->train[i].input);
            put(&b, "\nOutput: ");
            put(&b, t->train[i].output);
            put(&b, "\n\n");
        }
        put(&b, "Input: " PAW_PROGRAM_PLACEHOLDER "\nOutput:");
    } else {
        put(&b, "\n\nInput: " PAW_PROGRAM_PLACEHOLDER "\nOutput:");
    }
    if (b.oom) { free(b.p); return paw_err(PAW_ENOMEM, "baseline: out of memory"); }
    paw_chat_msg msg = {"user", b.p};
    int rc = paw_chat_format(m, &msg, 1, 1, out, len);
    free(b.p);
    return rc;
}

static int is_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int paw_exact_match(const char *expected, const char *output)
{
    size_t ne = strlen(expected), no = strlen(output);
    while (ne && is_ws(expected[ne - 1])) ne--;
    while (no && is_ws(output[no - 1])) no--;
    while (ne && is_ws(*expected)) { expected++; ne--; }
    while (no && is_ws(*output)) { output++; no--; }
    return ne == no && !memcmp(expected, output, ne);
}
