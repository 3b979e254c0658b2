/* generate.c — the generation loop: prefill the prompt, then sample and
 * decode one token at a time until an end-of-generation token, a stop
 * string, max_tokens or a full context.
 *
 * Streaming: the text of all generated ids is re-detokenized after each token
 * (cheap next to a forward pass) and only its final part is handed out: an
 * incomplete UTF-8 character at the end, or a tail that could still grow into
 * a stop string, is held back until the next token settles it. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "model/model.h"
#include "runtime/sample.h"

void paw_gen_result_free(paw_gen_result *r)
{
    if (!r) return;
    free(r->ids);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Length of an incomplete UTF-8 sequence at the end of s (0 if complete). */
static size_t utf8_incomplete_tail(const char *s, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char ch = (unsigned char)s[n - back];
        if ((ch & 0xC0) == 0x80) continue;          /* continuation byte */
        size_t need = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_prefix_tail(const char *s, size_t n, const paw_gen_params *p)
{
    size_t best = 0;
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t sl = strlen(p->stop[k]);
        for (size_t l = sl ? sl - 1 : 0; l > best; l--)
            if (l <= n && !memcmp(s + n - l, p->stop[k], l)) { best = l; break; }
    }
    return best;
}

/* Earliest occurrence of any stop string in s, or -1. */
static long find_stop(const char *s, size_t n, const paw_gen_params *p)
{
    long best = -1;
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t sl = strlen(p->stop[k]);
        if (!sl || sl > n) continue;
        for (size_t i = 0; i + sl <= n; i++)
            if (!memcmp(s + i, p->stop[k], sl)) {
                if (best < 0 || (long)i < best) best = (long)i;
                break;
            }
    }
    return best;
}

typedef struct gen_state {
    const paw_gen_params *p;
    const paw_tokenizer  *tok;
    paw_gen_result       *r;
    size_t                emitted;    /* bytes of text already streamed */
    size_t                ids_cap;
} gen_state;

static int emit(gen_state *g, size_t upto)
{
    int stop = 0;
    if (upto > g->emitted && g->p->on_text)
        stop = g->p->on_text(g->p->ud, g->r->text + g->emitted, upto - g->emitted);
    if (upto > g->emitted) g->emitted = upto;
    return stop;
}

/* Re-renders the text after a new token; returns 1 when a stop string or the
 * callback ends generation. */
static int update_text(gen_state *g, int final, int *rc)
{
    paw_gen_result *r = g->r;
    if (!g->tok) return 0;
    char *text;
    size_t len;
    *rc = paw_detokenize(g->tok, r->ids, r->n_ids, 0, &text, &len);
    if (*rc) return 1;
    free(r->text);
    r->text = text;
    r->len = len;
    long at = find_stop(text, len, g->p);
    if (at >= 0) {
        r->len = (size_t)at;
        r->text[at] = 0;
        emit(g, r->len);
        r->stop_reason = PAW_STOP_STRING;
        return 1;
    }
    size_t safe = len;
    if (!final) {
        size_t hold = PAW_MAX(utf8_incomplete_tail(text, len), stop_prefix_tail(text, len, g->p));
        safe = len - hold;
    }
    if (emit(g, safe) && !final) {
        r->stop_reason = PAW_STOP_CALLBACK;
        return 1;
    }
    return 0;
}

int paw_generate(paw_ctx *c, const paw_tokenizer *tok, const int32_t *prompt,
                 size_t n_prompt, const paw_gen_params *p, paw_gen_result *out)
{
    memset(out, 0, sizeof *out);
    if (!p || n_prompt == 0 || n_prompt > INT32_MAX)
        return paw_err(PAW_EINVAL, "generate: the prompt must hold at least one token");
    if (p->max_tokens < 0) return paw_err(PAW_EINVAL, "generate: negative max_tokens");
    const int32_t n_vocab = c->model->hp.n_vocab;
    paw_sampler *smp;
    int rc = paw_sampler_new(&p->sampling, n_vocab, &smp);
    if (rc) return rc;
    gen_state g = {.p = p, .tok = tok, .r = out};
    out->n_prompt = (int32_t)n_prompt;

    const float *logits;
    double t0 = paw_now();
    rc = paw_decode(c, prompt, (int32_t)n_prompt, 0, &logits);
    out->prefill_s = paw_now() - t0;
    if (rc) goto fail;
    if (!(out->text = calloc(1, 1))) { rc = paw_err(PAW_ENOMEM, "generate: out of memory"); goto fail; }

    t0 = paw_now();
    for (;;) {
        if (p->max_tokens && out->n_ids >= (size_t)p->max_tokens) {
            out->stop_reason = PAW_STOP_MAX_TOKENS;
            break;
        }
        if ((rc = paw_logits_check(logits, n_vocab))) goto fail;
        int32_t id = paw_sampler_sample(smp, logits);
        if (tok && paw_tokenizer_is_eog(tok, id)) {
            out->stop_reason = PAW_STOP_EOG;
            break;
        }
        if (out->n_ids == g.ids_cap) {
            size_t cap = g.ids_cap ? g.ids_cap * 2 : 64;
            int32_t *ids = realloc(out->ids, cap * sizeof *ids);
            if (!ids) { rc = paw_err(PAW_ENOMEM, "generate: out of memory"); goto fail; }
            out->ids = ids;
            g.ids_cap = cap;
        }
        out->ids[out->n_ids++] = id;
        if (update_text(&g, 0, &rc)) {
            if (rc) goto fail;
            goto done;
        }
        if (p->max_tokens && out->n_ids >= (size_t)p->max_tokens) {
            out->stop_reason = PAW_STOP_MAX_TOKENS;
            break;
        }
        if (paw_ctx_n_past(c) >= paw_ctx_n_ctx(c)) {
            out->stop_reason = PAW_STOP_CTX_FULL;
            break;
        }
        if ((rc = paw_decode(c, &id, 1, 0, &logits))) goto fail;
        out->n_decode++;
    }
    /* Flush what was held back for a stop string that never came. */
    update_text(&g, 1, &rc);
    if (rc) goto fail;
done:
    out->decode_s = paw_now() - t0;
    paw_sampler_free(smp);
    return PAW_OK;
fail:
    paw_sampler_free(smp);
    paw_gen_result_free(out);
    return rc;
}
