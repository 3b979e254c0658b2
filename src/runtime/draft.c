/* draft.c — exact speculative decoding for programs.
 *
 * Most programs (classification, routing, extraction of a field) answer with
 * a few tokens from a small set, so a handle's earlier outputs predict its
 * next one well.  Once the prefill has given the first output token, the most
 * recent earlier output that starts the same way is taken as a draft of what
 * follows, and all of it is checked in ONE forward call over [last token,
 * draft...] with logits for every row: row j says what greedy decoding picks
 * after the draft's first j tokens.  The longest prefix on which greedy
 * agrees is kept, plus the token greedy picked where it first disagreed (or
 * after the whole draft), and the K/V of rejected rows are dropped.
 *
 * This changes no output because paw's forward pass computes each row of a
 * batch exactly as it computes that token alone (every kernel keeps one
 * accumulator per output and sums in the same order whatever the batch;
 * attention is per query), which tests/test_program_spec.c checks bit for
 * bit.  Whether it saves time depends on the machine: it does where a
 * single-token forward call is bound by reading the weights, so that a call
 * over a few tokens costs about the same.  On the 2-core AVX2 dev box it is
 * not: the int8 kernels are bound by arithmetic (and each verified row also
 * pays the 49152-row output head), so SmolLM2-135M takes 5.4 ms for 1
 * token, 9.2 for 2, 13.1 for 4; with half the draft tokens accepted, decoding
 * got ~25% slower.  So each handle measures both: the time per output token
 * of single-token calls and of verifying calls; while verifying costs more
 * per token it drafts nothing,
 * except on every PROBE_EVERY-th call, which refreshes the measurement. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "runtime/draft.h"
#include "runtime/sample.h"

void paw_drafts_add(paw_drafts *d, const int32_t *ids, size_t n)
{
    if (n < 2) return;
    if (n > PAW_DRAFT_MAX_IDS) n = PAW_DRAFT_MAX_IDS;
    d->clock++;
    for (int i = 0; i < d->n; i++)
        if ((size_t)d->seq[i].n == n && !memcmp(d->seq[i].ids, ids, n * sizeof *ids)) {
            d->seq[i].used = d->clock;
            return;
        }
    int slot = d->n < PAW_DRAFT_SLOTS ? d->n++ : 0;
    if (d->n == PAW_DRAFT_SLOTS)
        for (int i = 1; i < d->n; i++)
            if (d->seq[i].used < d->seq[slot].used) slot = i;
    memcpy(d->seq[slot].ids, ids, n * sizeof *ids);
    d->seq[slot].n = (int32_t)n;
    d->seq[slot].used = d->clock;
}

size_t paw_drafts_find(paw_drafts *d, const int32_t *ids, size_t n, const int32_t **out)
{
    int best = -1;
    for (int i = 0; i < d->n; i++) {
        const paw_draft_seq *s = &d->seq[i];
        if ((size_t)s->n <= n || memcmp(s->ids, ids, n * sizeof *ids)) continue;
        if (best < 0 || s->used > d->seq[best].used) best = i;
    }
    if (best < 0) return 0;
    d->seq[best].used = ++d->clock;
    *out = d->seq[best].ids + n;
    return (size_t)d->seq[best].n - n;
}

/* Draft tokens verified per forward call: bounds what a wrong draft wastes;
 * a longer right one is verified 8 tokens at a time (the next call finds the
 * same sequence again). */
#define PAW_DRAFT_VERIFY 8
/* Verifying calls measured before drafting may pause; calls between probes. */
#define MIN_SPEC_SAMPLES 4
#define PROBE_EVERY 32

/* A running mean that follows changes in machine load. */
static void ema(double *m, double x) { *m = *m > 0 ? 0.8 * *m + 0.2 * x : x; }

static int push_id(paw_spec_result *r, size_t *cap, int32_t id)
{
    if (r->n_ids == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *p = realloc(r->ids, nc * sizeof *p);
        if (!p) return paw_err(PAW_ENOMEM, "generate: out of memory");
        r->ids = p;
        *cap = nc;
    }
    r->ids[r->n_ids++] = id;
    return PAW_OK;
}

int paw_spec_generate(paw_ctx *c, const paw_tokenizer *tok, paw_drafts *d, const int32_t *prompt,
                      size_t n_prompt, int32_t max_tokens, paw_spec_result *out)
{
    return paw_spec_generate_cb(c, tok, d, prompt, n_prompt, max_tokens, NULL, NULL, out);
}

int paw_spec_generate_cb(paw_ctx *c, const paw_tokenizer *tok, paw_drafts *d, const int32_t *prompt,
                         size_t n_prompt, int32_t max_tokens, paw_ids_fn on_ids, void *ud,
                         paw_spec_result *out)
{
    memset(out, 0, sizeof *out);
    if (n_prompt == 0 || n_prompt > INT32_MAX || max_tokens < 0)
        return paw_err(PAW_EINVAL, "generate: bad prompt or max_tokens");
    const int32_t nv = paw_model_n_vocab(paw_ctx_model(c)), n_ctx = paw_ctx_n_ctx(c);
    const size_t max = (size_t)max_tokens;
    paw_sampling greedy = {0};
    paw_sampler *smp;
    int rc = paw_sampler_new(&greedy, nv, &smp);
    if (rc) return rc;
    size_t cap = 0;
    const float *lg;
    double t0 = paw_now();
    rc = paw_decode(c, prompt, (int32_t)n_prompt, 0, &lg);
    out->prefill_s = paw_now() - t0;
    t0 = paw_now();
    int32_t batch[PAW_DRAFT_MAX_IDS + 1];
    size_t m = 0;  /* draft tokens in the forward call that made lg */
    int drafting = d != NULL;
    if (d && d->pause > 0) drafting = --d->pause == 0;  /* the probe */
    double t_fwd = 0;
    while (!rc) {
        /* lg holds m + 1 rows: row j follows batch[j] (the prefill: 1 row). */
        const int32_t P = paw_ctx_n_past(c);
        int stop = -1;
        size_t j = 0;
        for (;; j++) {
            if (max && out->n_ids >= max) { stop = PAW_STOP_MAX_TOKENS; break; }
            if ((rc = paw_logits_check(lg + j * (size_t)nv, nv))) break;
            const int32_t id = paw_sampler_sample(smp, lg + j * (size_t)nv);
            if (tok && paw_tokenizer_is_eog(tok, id)) { stop = PAW_STOP_EOG; break; }
            if ((rc = push_id(out, &cap, id))) break;
            if (max && out->n_ids >= max) { stop = PAW_STOP_MAX_TOKENS; break; }
            /* what plain decoding would have in the cache at this row */
            if (P - (int32_t)(m - j) >= n_ctx) { stop = PAW_STOP_CTX_FULL; break; }
            if (j == m || id != batch[j + 1]) break;
            out->n_accepted++;
        }
        if (rc) break;
        if (d && t_fwd > 0) {  /* the forward call that made lg, per token */
            const double per = (paw_now() - t_fwd) * 1e3 / (double)(j + 1);
            if (m) { ema(&d->ms_spec, per); d->n_spec++; }
            else ema(&d->ms_plain, per);
        }
        /* Rows after j were evaluated on a rejected (or unneeded) draft. */
        if (j < m && (rc = paw_kv_truncate(c, P - (int32_t)(m - j)))) break;
        if (stop < 0 && on_ids && on_ids(ud, out->ids, out->n_ids)) stop = PAW_STOP_CALLBACK;
        if (stop >= 0) { out->stop_reason = stop; break; }
        const int32_t last = out->ids[out->n_ids - 1];
        const int32_t *dr = NULL;
        m = drafting ? paw_drafts_find(d, out->ids, out->n_ids, &dr) : 0;
        /* Never more than plain decoding could still use: it stops at
         * max_tokens and at a full context. */
        const int32_t room = n_ctx - paw_ctx_n_past(c) - 1;
        if (max && m > max - out->n_ids - 1) m = max - out->n_ids - 1;
        if (m > (size_t)room) m = (size_t)room;
        if (m > PAW_DRAFT_VERIFY) m = PAW_DRAFT_VERIFY;
        batch[0] = last;
        if (m) memcpy(batch + 1, dr, m * sizeof *dr);
        t_fwd = paw_now();
        rc = paw_decode(c, batch, (int32_t)m + 1, m > 0, &lg);
        out->n_forward++;
        out->n_drafted += (int32_t)m;
    }
    out->decode_s = paw_now() - t0;
    paw_sampler_free(smp);
    if (rc) {
        free(out->ids);
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (d) {
        paw_drafts_add(d, out->ids, out->n_ids);
        if (!d->always && d->n_spec >= MIN_SPEC_SAMPLES && d->ms_plain > 0 && d->ms_spec > d->ms_plain &&
            !d->pause)
            d->pause = PROBE_EVERY;
    }
    return PAW_OK;
}
