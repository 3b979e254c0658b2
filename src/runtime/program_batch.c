/* program_batch.c — paw_program_call_batch: calls on several handles
 * decoded in lockstep, one paw_decode_batch per step for all rows still
 * running (semantics in paw.h).
 *
 * Each row does exactly what paw_program_call does on its handle — the
 * same preparation (paw_program_prepare), then greedy decoding as
 * paw_generate (free decoding) or as labels.c's greedy (closed-label
 * programs) — only its forward calls are shared with the other rows.
 * Since a batch row's logits equal paw_decode's bit for bit, every argmax,
 * hence every output, is the one-at-a-time output.  Speculative decoding is
 * not used here: its outputs are the same by contract, and a batch already
 * amortises the weight reads that drafting would. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "runtime/labels.h"
#include "runtime/program.h"

typedef struct row {
    paw_program      *p;
    paw_ctx          *c;
    const paw_labels *l;
    int32_t          *ids;      /* prepared ids (freed at the end)        */
    const int32_t    *feed;     /* what the next step evaluates           */
    int32_t           n_feed;
    int32_t           next;     /* a generated token to evaluate          */
    int               running;
    int               rc;
    /* free decoding */
    int32_t          *gen;
    size_t            n_gen, cap;
    int               stop;
    /* labels */
    int32_t           nc, d;
    int32_t           n_forward, n_prompt;
} row;

/* A finished free-decoding row: its text, cleaned as paw_program_call. */
static int finish_free(row *r, char **out, size_t *out_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc = r->n_gen ? paw_detokenize(paw_program_tok(r->p), r->gen, r->n_gen, 0, &text, &len) : PAW_OK;
    if (!rc) rc = paw_clean_output(text ? text : "", text ? len : 0, out, out_len);
    free(text);
    return rc;
}

/* What row r does with the logits of its last step: paw_generate's loop
 * body (greedy sampler: the first highest logit), or one labels step.
 * Returns 1 when the row is done (*out set, or r->rc). */
static int advance(row *r, const float *logits, int32_t max, char **out, size_t *out_len)
{
    paw_program_stats *st = paw_program_stats_of(r->p);
    if (r->l) {
        if (r->d == 0) {
            r->nc = r->l->n;
            for (int32_t i = 0; i < r->nc; i++) r->l->cand[i] = i;
        }
        int done;
        int32_t tok = paw_labels_step(r->l, r->l->cand, &r->nc, r->d, logits, &done);
        if (done) {
            const int32_t b = r->l->cand[0];
            if (!(*out = strdup(r->l->text[b]))) { r->rc = paw_err(PAW_ENOMEM, "program: out of memory"); return 1; }
            if (out_len) *out_len = strlen(*out);
            st->n_gen = r->l->n_ids[b] - 1;
            st->stop_reason = PAW_STOP_EOG;
            return 1;
        }
        if (paw_ctx_n_past(r->c) + 1 > paw_ctx_n_ctx(r->c)) {
            r->rc = paw_err(PAW_ERANGE, "eval: %d cached + 1 new tokens exceed the context of %d",
                            paw_ctx_n_past(r->c), paw_ctx_n_ctx(r->c));
            return 1;
        }
        r->next = tok;
        r->d++;
        return 0;
    }
    const int32_t n_vocab = paw_model_n_vocab(paw_ctx_model(r->c));
    if (max && r->n_gen >= (size_t)max) { r->stop = PAW_STOP_MAX_TOKENS; goto done; }
    if ((r->rc = paw_logits_check(logits, n_vocab))) return 1;
    int32_t id = 0;
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > logits[id]) id = i;
    if (paw_tokenizer_is_eog(paw_program_tok(r->p), id)) { r->stop = PAW_STOP_EOG; goto done; }
    if (r->n_gen == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        int32_t *g = realloc(r->gen, cap * sizeof *g);
        if (!g) { r->rc = paw_err(PAW_ENOMEM, "program: out of memory"); return 1; }
        r->gen = g;
        r->cap = cap;
    }
    r->gen[r->n_gen++] = id;
    if (max && r->n_gen >= (size_t)max) { r->stop = PAW_STOP_MAX_TOKENS; goto done; }
    if (paw_ctx_n_past(r->c) >= paw_ctx_n_ctx(r->c)) { r->stop = PAW_STOP_CTX_FULL; goto done; }
    r->next = id;
    return 0;
done:
    r->rc = finish_free(r, out, out_len);
    st->n_gen = (int32_t)r->n_gen;
    st->stop_reason = r->stop;
    return 1;
}

int paw_program_call_batch(paw_program *const *ps, const char *const *inputs, const size_t *lens, int n,
                           int32_t max_tokens, char **outs, size_t *out_lens, int *rcs)
{
    if (n <= 0 || !ps || !inputs || !lens || !outs || !rcs)
        return paw_err(PAW_EINVAL, "paw_program_call_batch: NULL argument or no calls");
    for (int i = 0; i < n; i++) {
        outs[i] = NULL;
        if (out_lens) out_lens[i] = 0;
        rcs[i] = PAW_OK;
    }
    for (int i = 0; i < n; i++) {
        if (!ps[i] || (!inputs[i] && lens[i])) return paw_err(PAW_EINVAL, "paw_program_call_batch: call %d: NULL argument", i);
        for (int j = 0; j < i; j++)
            if (ps[j] == ps[i]) return paw_err(PAW_EINVAL, "paw_program_call_batch: calls %d and %d share a handle", j, i);
        if (paw_ctx_model(paw_program_ctx(ps[i])) != paw_ctx_model(paw_program_ctx(ps[0])))
            return paw_err(PAW_EINVAL, "paw_program_call_batch: call %d's handle is on another model", i);
    }
    row *rows = calloc((size_t)n, sizeof *rows);
    paw_ctx **ctxs = malloc((size_t)n * sizeof *ctxs);
    const int32_t **feeds = malloc((size_t)n * sizeof *feeds);
    int32_t *n_feeds = malloc((size_t)n * sizeof *n_feeds);
    const float **logits = malloc((size_t)n * sizeof *logits);
    int *which = malloc((size_t)n * sizeof *which);
    if (!rows || !ctxs || !feeds || !n_feeds || !logits || !which) {
        free(rows); free(ctxs); free(feeds); free(n_feeds); free(logits); free(which);
        return paw_err(PAW_ENOMEM, "paw_program_call_batch: out of memory");
    }
    const int32_t max = max_tokens == 0 ? PAW_PROGRAM_MAX_TOKENS : max_tokens < 0 ? 0 : max_tokens;
    const double t0 = paw_now();
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        r->p = ps[i];
        r->c = paw_program_ctx(ps[i]);
        r->l = paw_program_labels(ps[i]);
        size_t nf = 0;
        r->rc = paw_program_prepare(ps[i], inputs[i] ? inputs[i] : "", lens[i], &r->ids, &r->feed, &nf);
        r->n_feed = (int32_t)nf;
        r->n_prompt = (int32_t)nf;
        r->running = !r->rc;
    }
    double t_first = 0;
    for (int step = 0;; step++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            row *r = &rows[i];
            if (!r->running) continue;
            ctxs[k] = r->c;
            feeds[k] = step ? &r->next : r->feed;
            n_feeds[k] = step ? 1 : r->n_feed;
            which[k++] = i;
        }
        if (!k) break;
        int rc = paw_decode_batch(ctxs, feeds, n_feeds, k, logits);
        if (!step) t_first = paw_now();
        for (int j = 0; j < k; j++) {
            row *r = &rows[which[j]];
            if (rc) { r->rc = rc; r->running = 0; continue; }
            if (step) r->n_forward++;
            if (advance(r, logits[j], max, &outs[which[j]], out_lens ? &out_lens[which[j]] : NULL))
                r->running = 0;
        }
    }
    const double t1 = paw_now();
    for (int i = 0; i < n; i++) {
        row *r = &rows[i];
        rcs[i] = r->rc;
        if (r->rc) {
            free(outs[i]);
            outs[i] = NULL;
            if (out_lens) out_lens[i] = 0;
        } else {
            paw_program_stats *st = paw_program_stats_of(r->p);
            st->n_calls++;
            st->n_prompt = r->n_prompt;
            st->n_forward = r->n_forward;
            st->n_drafted = st->n_accepted = 0;
            st->prefill_ms = (t_first - t0) * 1e3;
            st->decode_ms = (t1 - t_first) * 1e3;
            st->total_ms = (t1 - t0) * 1e3;
        }
        free(r->ids);
        free(r->gen);
    }
    free(rows); free(ctxs); free(feeds); free(n_feeds); free(logits); free(which);
    return PAW_OK;
}
