/* report.c — what a compile says about its program: whether it is a
 * closed-label program (the rule below), a k-fold cross-validated estimate
 * of its exact match on new inputs computed from the compile's own
 * examples only, per-label precision/recall, and the training examples the
 * program still gets wrong.  All of it goes into meta.json (metrics, and
 * "labels"). */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "compile/compile_internal.h"

/* ------------------------------------------------------------ labels */

/* A closed-label program when the outputs form a small label set: every
 * output one line of at most LABEL_MAX_BYTES, 2 to LABEL_MAX distinct
 * outputs, and each one seen twice on average (distinct <= n / 2), so that
 * a set of one-off answers (conversions, extractions) never becomes one.
 * The labels, in order of first appearance, go into meta.json "labels".
 * LABEL_MAX is 128, not a handful: real label sets run to dozens (the 77
 * intents of Banking77, a site's pages for a router), and the runtime's trie
 * decoding costs one forward per token of the chosen label whatever their
 * number. */
#define LABEL_MAX 128
#define LABEL_MAX_BYTES 64
int paw_compile_choose_labels(paw_compiler *c, paw_compile_result *r)
{
    if (c->o.no_labels) return PAW_OK;
    size_t n = c->ex.n;
    json_t *arr = json_array();
    if (!arr) return paw_err(PAW_ENOMEM, "compile: out of memory");
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++) {
        const char *o = c->ex.v[i].output;
        if (strchr(o, '\n') || strlen(o) > LABEL_MAX_BYTES) ok = 0;
        int seen = 0;
        for (size_t j = 0; ok && !seen && j < i; j++) seen = !strcmp(c->ex.v[j].output, o);
        if (ok && !seen) json_array_append_new(arr, json_string(o));
        if (json_array_size(arr) > LABEL_MAX) ok = 0;
    }
    size_t L = json_array_size(arr);
    int rc = PAW_OK;
    if (ok && L >= 2 && 2 * L <= n) {
        json_t *obj = json_pack("{s:O}", "labels", arr);
        c->labels_json = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (!c->labels_json) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
        c->n_labels = r->n_labels = (int32_t)L;
        if (!rc) paw_compile_progress(&c->o, "labels", "closed-label program: %zu labels (%zu examples)", L, n);
    }
    json_decref(arr);
    return rc;
}

/* ------------------------------------------------------------ report */

/* Per-label precision and recall of preds against the examples' outputs. */
static json_t *label_scores(const paw_compiler *c, const paw_cexample *ex, char **preds, int32_t n)
{
    json_error_t e;
    json_t *lj = json_loads(c->labels_json, 0, &e), *out = json_object();
    json_t *arr = json_object_get(lj, "labels");
    for (size_t k = 0; out && k < json_array_size(arr); k++) {
        const char *L = json_string_value(json_array_get(arr, k));
        int32_t tp = 0, fp = 0, fn = 0;
        for (int32_t i = 0; i < n; i++) {
            int gold = !strcmp(ex[i].src->output, L), got = preds[i] && !strcmp(preds[i], L);
            tp += gold && got;
            fp += !gold && got;
            fn += gold && !got;
        }
        json_object_set_new(out, L, json_pack("{s:o,s:o,s:i}", "precision", tp + fp ? json_real((double)tp / (tp + fp))
                            : json_null(), "recall", tp + fn ? json_real((double)tp / (tp + fn)) : json_null(),
                            "support", tp + fn));
    }
    json_decref(lj);
    return out;
}

/* The held-out fold's exact match at every check of a fold's training
 * (every eval_every steps and the last): the curve of the estimate over
 * steps, pooled over the folds. */
#define CV_MAX_CHECKS 64
typedef struct cv_fold {
    paw_compiler *c;
    paw_compile_result *r;
    const paw_cexample *te;
    int32_t n_te;
    char **preds;                 /* the last check's outputs                  */
    int32_t *curve;               /* hits per check, added over the folds      */
    int32_t n_checks, last_hits;
    int status;
} cv_fold;

static int cv_check(void *ud, const paw_fit_step *s)
{
    cv_fold *f = ud;
    if (s->step % f->c->o.eval_every && s->step != s->steps) return 0;
    uint8_t *a = NULL;
    size_t a_len = 0;
    int32_t h = 0;
    int rc = paw_trainer_save_gguf_mem(s->trainer, f->r->adapter_type, &a, &a_len);
    for (int32_t i = 0; i < f->n_te; i++) { free(f->preds[i]); f->preds[i] = NULL; }
    if (!rc) rc = paw_compile_eval_em(f->c, a, a_len, f->te, f->n_te, &h, f->preds);
    free(a);
    if (rc) { f->status = rc; return -1; }
    if (f->n_checks < CV_MAX_CHECKS) f->curve[f->n_checks++] += h;
    f->last_hits = h;
    return 0;
}

/* The template a fold trains and predicts with: without a teacher, the
 * spec's pseudo-program written from the fold's own training examples, so
 * that no held-out example is shown in the prompt (the program's shows the
 * first six examples); a teacher's pseudo-program is used as it is.
 * *tmpl NULL: the program's template. */
static int fold_template(paw_compiler *c, const paw_cexample *tr, int32_t n_tr, char **tmpl, size_t *len)
{
    *tmpl = NULL;
    if (!strcmp(c->pseudo_source, PAW_PSEUDO_SOURCE_TEACHER)) return PAW_OK;
    paw_program_example ex[PAW_PSEUDO_MAX_PAIRS];
    int32_t m = PAW_MIN(n_tr, PAW_PSEUDO_MAX_PAIRS);
    for (int32_t i = 0; i < m; i++) ex[i] = *tr[i].src;
    char *pseudo = NULL;
    int rc = paw_compile_pseudo_program(c->spec, ex, (size_t)m, &pseudo, NULL);
    if (!rc) rc = paw_compile_template(c->m, pseudo, tmpl, len);
    free(pseudo);
    return rc;
}

int paw_compile_cv_folds(const paw_cexample *ex, int32_t n, int32_t k, int32_t *fold)
{
    /* first[L]: the example where the L-th distinct output first appears;
     * seen[L]: how many of its examples were met so far */
    int32_t *first = malloc((size_t)(n ? n : 1) * sizeof *first), *seen = calloc((size_t)(n ? n : 1), sizeof *seen);
    if (!first || !seen) {
        free(first);
        free(seen);
        return paw_err(PAW_ENOMEM, "compile: out of memory");
    }
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t L = 0;
        while (L < n_out && strcmp(ex[first[L]].src->output, ex[i].src->output)) L++;
        if (L == n_out) first[n_out++] = i;
        fold[i] = (seen[L]++ + L) % k;
    }
    free(first);
    free(seen);
    return PAW_OK;
}

/* k-fold cross-validation of the recipe on the compile's own examples (and
 * nothing else): example i is held out in fold[i] (paw_compile_cv_folds:
 * each output's examples spread over the folds); each fold (its own
 * pseudo-program, see fold_template) trains a fresh adapter on the other
 * folds for the steps the program itself took (its stopping point, found
 * on the training examples) and predicts its
 * held-out examples through the runtime, with the program's adapter type
 * and labels, at every check (eval_every steps) on the way.  The pooled
 * held-out exact match at the last step estimates exact match on new
 * inputs drawn like these examples; the earlier checks ("curve") show how
 * the estimate moves with the steps. */
static int cross_validate(paw_compiler *c, paw_compile_result *r, json_t *rep)
{
    /* Off unless asked for: k folds cost about k times the program's own
     * training (BENCHMARKS.md, "Compiler round 2"). */
    int32_t k = c->o.cv_folds, n = (int32_t)c->ex.n;
    if (k < 2 || n < 2 * k) return PAW_OK;
    double t0 = paw_now();
    paw_cexample *tr = malloc((size_t)n * sizeof *tr), *te = malloc((size_t)n * sizeof *te), *held = NULL;
    char **preds = calloc((size_t)n, sizeof *preds);
    int32_t curve[CV_MAX_CHECKS] = {0}, n_checks = 0;
    held = malloc((size_t)n * sizeof *held);
    int32_t *fold = malloc((size_t)n * sizeof *fold);
    int rc = tr && te && preds && held && fold ? PAW_OK : paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) rc = paw_compile_cv_folds(c->cex, n, k, fold);
    int32_t hits = 0, done = 0;
    for (int32_t f = 0; !rc && f < k; f++) {
        int32_t n_tr = 0, n_te = 0;
        for (int32_t i = 0; i < n; i++) {
            if (fold[i] == f) te[n_te++] = c->cex[i];
            else tr[n_tr++] = c->cex[i];
        }
        cv_fold fs = {c, r, te, n_te, preds + done, curve, 0, 0, PAW_OK};
        paw_trainer *t = NULL;
        char *ftmpl = NULL, *prog_tmpl = c->tmpl;
        size_t ftmpl_len = 0, prog_len = c->tmpl_len;
        rc = fold_template(c, tr, n_tr, &ftmpl, &ftmpl_len);
        if (!rc && ftmpl) {   /* fit and eval read c->tmpl */
            c->tmpl = ftmpl;
            c->tmpl_len = ftmpl_len;
        }
        if (!rc) rc = paw_compile_fit(c, tr, n_tr, r->steps, cv_check, &fs, &t);
        if (fs.status) rc = fs.status;
        c->tmpl = prog_tmpl;
        c->tmpl_len = prog_len;
        free(ftmpl);
        paw_trainer_free(t);
        n_checks = fs.n_checks;
        memcpy(held + done, te, (size_t)n_te * sizeof *te);
        done += n_te;
        hits += fs.last_hits;
        if (!rc) paw_compile_progress(&c->o, "cv", "fold %d/%d: %d train, %d/%d held-out exact match", f + 1, k,
                                      n_tr, fs.last_hits, n_te);
    }
    if (!rc) {
        r->cv_folds = k;
        r->cv_em = (double)hits / n;
        json_t *cv = json_pack("{s:i,s:i,s:i,s:f}", "folds", k, "steps", r->steps, "n", n, "em", r->cv_em);
        json_t *cur = json_array();
        for (int32_t j = 0; cur && j < n_checks; j++)
            json_array_append_new(cur, json_pack("{s:i,s:f}", "steps", j + 1 < n_checks ? (j + 1) * c->o.eval_every
                                                 : r->steps, "em", (double)curve[j] / n));
        if (cv && cur) json_object_set_new(cv, "curve", cur);
        else json_decref(cur);
        if (cv && c->labels_json) json_object_set_new(cv, "labels", label_scores(c, held, preds, n));
        if (cv) json_object_set_new(rep, "cv", cv);
        paw_compile_progress(&c->o, "cv", "%d-fold cross-validated exact match %d/%d (%.1f%%)", k, hits, n,
                             100.0 * r->cv_em);
    }
    for (int32_t i = 0; preds && i < n; i++) free(preds[i]);
    free(preds);
    free(held);
    free(fold);
    free(tr);
    free(te);
    r->seconds_cv = paw_now() - t0;
    return rc;
}

/* metrics.train_wrong (the training examples the program gets wrong, at
 * most 20, with its output) and metrics.cv into c->report_json. */
int paw_compile_report(paw_compiler *c, paw_compile_result *r)
{
    json_t *rep = json_object(), *wrong = json_array();
    if (!rep || !wrong) { json_decref(rep); json_decref(wrong); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
    for (int32_t i = 0; i < c->n_tr && json_array_size(wrong) < 20; i++)
        if (!paw_exact_match(c->tr[i].src->output, c->tr_pred[i] ? c->tr_pred[i] : ""))
            json_array_append_new(wrong, json_pack("{s:s,s:s,s:s}", "input", c->tr[i].src->input, "output",
                                                   c->tr[i].src->output, "got", c->tr_pred[i] ? c->tr_pred[i] : ""));
    json_object_set_new(rep, "train_wrong", wrong);
    int rc = cross_validate(c, r, rep);
    if (!rc && !(c->report_json = json_dumps(rep, JSON_COMPACT))) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    json_decref(rep);
    return rc;
}
