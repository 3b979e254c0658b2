/* labels.c — closed-label decoding: a program whose meta.json lists its
 * labels is decoded only within them (semantics in paw.h).
 *
 * Each label's path is tokens(label) + the end-of-turn token, exactly the
 * ids a compiled program was trained to produce (src/compile).  The paths
 * form a trie; it is never built as a structure: at depth d the candidates
 * still in play are grouped by their d-th id, which is all a walk needs for
 * a few dozen short labels.  Greedy takes the group whose id has the
 * highest logit and stops as soon as one candidate remains (the rest of its
 * path cannot change the answer), so a label call costs at most as many
 * forward calls as free decoding of that label.  Scores need every node's
 * distribution: a depth-first walk that rewinds the KV cache to the node's
 * position before each child. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/common.h"
#include "runtime/chat.h"
#include "runtime/labels.h"

void paw_labels_free(paw_labels *l)
{
    if (!l) return;
    for (int32_t i = 0; i < l->n; i++) {
        free(l->text ? l->text[i] : NULL);
        free(l->ids ? l->ids[i] : NULL);
    }
    free(l->text);
    free(l->ids);
    free(l->n_ids);
    free(l->cand);
    free(l);
}

static int same_ids(const paw_labels *l, int32_t a, int32_t b)
{
    return l->n_ids[a] == l->n_ids[b] && !memcmp(l->ids[a], l->ids[b], (size_t)l->n_ids[a] * sizeof(int32_t));
}

int paw_labels_new(const char *const *text, size_t n, const paw_model *m, const paw_tokenizer *tok,
                   const char *source, paw_labels **out)
{
    *out = NULL;
    if (n < 2 || n > 4096) return paw_err(PAW_EFORMAT, "%s: 2 to 4096 labels needed, not %zu", source, n);
    int rc = PAW_OK;
    paw_labels *l = calloc(1, sizeof *l);
    if (!l || !(l->text = calloc(n, sizeof *l->text)) || !(l->ids = calloc(n, sizeof *l->ids)) ||
        !(l->n_ids = calloc(n, sizeof *l->n_ids)) || !(l->cand = calloc(n, sizeof *l->cand)))
        rc = paw_err(PAW_ENOMEM, "program: out of memory");
    const int32_t eot = paw_chat_end_token(m, tok);
    if (!rc && eot < 0) rc = paw_err(PAW_EFORMAT, "program: labels need an end-of-turn token; the model has none");
    for (size_t i = 0; !rc && i < n; i++) {
        const char *s = text[i];
        if (!s || !*s) {
            rc = paw_err(PAW_EFORMAT, "%s: label %zu is not a non-empty string", source, i + 1);
            break;
        }
        int32_t *ids = NULL;
        size_t k = 0;
        l->n = (int32_t)i + 1;
        if (!(l->text[i] = strdup(s))) rc = paw_err(PAW_ENOMEM, "program: out of memory");
        if (!rc) rc = paw_tokenize(tok, s, strlen(s), 0, 0, &ids, &k);
        int32_t *path = rc ? NULL : realloc(ids, (k + 1) * sizeof *path);
        if (!rc && !path) { free(ids); rc = paw_err(PAW_ENOMEM, "program: out of memory"); }
        if (rc) break;
        path[k] = eot;
        l->ids[i] = path;
        l->n_ids[i] = (int32_t)k + 1;
        if (l->n_ids[i] > l->max_ids) l->max_ids = l->n_ids[i];
        for (size_t j = 0; j < i; j++)
            if (same_ids(l, (int32_t)i, (int32_t)j))
                rc = paw_err(PAW_EFORMAT, "%s: labels \"%s\" and \"%s\" are the same tokens", source, l->text[j],
                             s);
    }
    if (rc) { paw_labels_free(l); return rc; }
    *out = l;
    return PAW_OK;
}

int paw_labels_from_meta(const paw_program_meta *meta, const paw_model *m, const paw_tokenizer *tok,
                         paw_labels **out)
{
    *out = NULL;
    if (!meta->extra_json) return PAW_OK;
    json_error_t e;
    json_t *x = json_loads(meta->extra_json, 0, &e);
    json_t *arr = x ? json_object_get(x, "labels") : NULL;
    if (!arr) { json_decref(x); return PAW_OK; }
    int rc = PAW_OK;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n < 2 || n > 4096) rc = paw_err(PAW_EFORMAT, "meta.json: \"labels\" must be an array of 2 to 4096 strings");
    const char **text = rc ? NULL : calloc(n, sizeof *text);
    if (!rc && !text) rc = paw_err(PAW_ENOMEM, "program: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *v = json_array_get(arr, i);
        text[i] = json_string_value(v);
        if (!text[i] || !*text[i] || strlen(text[i]) != json_string_length(v))
            rc = paw_err(PAW_EFORMAT, "meta.json: label %zu is not a non-empty string", i + 1);
    }
    if (!rc) rc = paw_labels_new(text, n, m, tok, "meta.json", out);
    free(text);
    json_decref(x);
    return rc;
}

/* Sorts cand[0..nc) by their id at depth d (insertion sort: nc is small)
 * so that each trie child is a contiguous run. */
static void group(const paw_labels *l, int32_t *cand, int32_t nc, int32_t d)
{
    for (int32_t i = 1; i < nc; i++) {
        int32_t c = cand[i], j = i;
        while (j > 0 && l->ids[cand[j - 1]][d] > l->ids[c][d]) { cand[j] = cand[j - 1]; j--; }
        cand[j] = c;
    }
}

/* The candidate whose id at depth d has the highest logit (the first such
 * in label order on a tie, so the result does not depend on the sort). */
static int32_t argmax_id(const paw_labels *l, const float *logits, const int32_t *cand, int32_t nc, int32_t d)
{
    int32_t best = -1;
    for (int32_t i = 0; i < nc; i++) {
        int32_t c = cand[i];
        if (best < 0 || logits[l->ids[c][d]] > logits[l->ids[best][d]] ||
            (logits[l->ids[c][d]] == logits[l->ids[best][d]] && c < best))
            best = c;
    }
    return l->ids[best][d];
}

int32_t paw_labels_step(const paw_labels *l, int32_t *cand, int32_t *nc, int32_t d, const float *logits,
                        int *done)
{
    int32_t tok = argmax_id(l, logits, cand, *nc, d), k = 0;
    for (int32_t i = 0; i < *nc; i++)
        if (l->ids[cand[i]][d] == tok) cand[k++] = cand[i];
    *nc = k;
    /* Distinct paths that all end in the end token: one candidate is left
     * before any path runs out. */
    *done = k == 1 || d + 1 >= l->max_ids;
    return tok;
}

/* Greedy within the set. */
static int greedy(paw_ctx *ctx, const paw_labels *l, const float *logits, int32_t *best, int32_t *nf)
{
    int32_t *cand = l->cand, nc = l->n;
    for (int32_t i = 0; i < nc; i++) cand[i] = i;
    for (int32_t d = 0;; d++) {
        int done;
        int32_t tok = paw_labels_step(l, cand, &nc, d, logits, &done);
        if (done) break;
        int rc = paw_decode(ctx, &tok, 1, 0, &logits);
        if (rc) return rc;
        (*nf)++;
    }
    *best = cand[0];
    return PAW_OK;
}

/* The scores walk: adds each candidate's log-probability from depth d on
 * to logp[], from the node whose distribution is `logits` at the ctx's
 * current position.  on_greedy: this node is on greedy's path, which then
 * sets *best. */
static int walk(paw_ctx *ctx, const paw_labels *l, const float *logits, int32_t *cand, int32_t nc, int32_t d,
                double *logp, int on_greedy, int32_t *best, int32_t *nf)
{
    const int32_t nv = paw_model_n_vocab(paw_ctx_model(ctx)), pos = paw_ctx_n_past(ctx);
    float mx = logits[0];
    for (int32_t i = 1; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < nv; i++) sum += exp((double)(logits[i] - mx));
    const double lse = mx + log(sum);
    const int32_t g = on_greedy ? argmax_id(l, logits, cand, nc, d) : -1;
    group(l, cand, nc, d);
    for (int32_t i = 0; i < nc; i++) logp[cand[i]] += logits[l->ids[cand[i]][d]] - lse;
    /* logits is overwritten by the first child's forward call: everything
     * from this node is read above. */
    for (int32_t a = 0; a < nc;) {
        int32_t tok = l->ids[cand[a]][d], b = a;
        while (b < nc && l->ids[cand[b]][d] == tok) b++;
        const int on = on_greedy && tok == g;
        if (on && b - a == 1) *best = cand[a];
        if (b - a == 1 && d + 1 >= l->n_ids[cand[a]]) { a = b; continue; }   /* path ended */
        const float *next = NULL;
        int rc = paw_kv_truncate(ctx, pos);
        if (!rc) rc = paw_decode(ctx, &tok, 1, 0, &next);
        if (rc) return rc;
        (*nf)++;
        rc = walk(ctx, l, next, cand + a, b - a, d + 1, logp, on, best, nf);
        if (rc) return rc;
        a = b;
    }
    return PAW_OK;
}

int paw_labels_decode(paw_ctx *ctx, const paw_labels *l, const int32_t *run, size_t n, double *probs,
                      int32_t *best, int32_t *n_forward)
{
    const float *logits = NULL;
    *n_forward = 0;
    *best = 0;
    int rc = paw_decode(ctx, run, (int32_t)n, 0, &logits);
    if (rc) return rc;
    if (!probs) return greedy(ctx, l, logits, best, n_forward);
    double *logp = calloc((size_t)l->n, sizeof *logp);
    if (!logp) return paw_err(PAW_ENOMEM, "program: out of memory");
    for (int32_t i = 0; i < l->n; i++) l->cand[i] = i;
    rc = walk(ctx, l, logits, l->cand, l->n, 0, logp, 1, best, n_forward);
    if (!rc) {
        double mx = logp[0], sum = 0;
        for (int32_t i = 1; i < l->n; i++) mx = logp[i] > mx ? logp[i] : mx;
        for (int32_t i = 0; i < l->n; i++) sum += (probs[i] = exp(logp[i] - mx));
        for (int32_t i = 0; i < l->n; i++) probs[i] /= sum;
    }
    free(logp);
    return rc;
}
