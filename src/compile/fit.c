/* fit.c — paw_fit: the one training loop behind `paw train` and paw_compile.
 *
 * A program's adapter must be trained on exactly the token ids a call will
 * evaluate, so the examples are tokenized by the program runtime itself: the
 * template is opened as a program (paw_program_open_template), its prefix is
 * the prefix every example shares, and each input becomes
 * paw_program_input_ids (input + the suffix's plain text, then the suffix's
 * special tokens).  The target is the output followed by the end-of-turn
 * token (paw_fit_end_token), the token greedy decoding must produce for the
 * call to stop where the output ends.
 *
 * With labels (a closed-label program), each output token's loss ranges
 * only over the ids that decoding within the labels chooses between at
 * that point (paw_labels_new builds the paths for both), so training spends
 * nothing on pushing down the rest of the vocabulary, which such a program
 * never decodes, nor on the tokens a label's first tokens already force.
 *
 * Batches come from paw_epoch_order (every example once per epoch, in an
 * order drawn from the seed), so the same data, parameters, seed and thread
 * count give the same adapter bytes.  Nothing here prints: the caller sees
 * every step through on_step, which can also stop or cancel. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "runtime/chat.h"
#include "runtime/labels.h"
#include "runtime/program.h"
#include "train/train.h"

int32_t paw_fit_end_token(const paw_model *m, const paw_tokenizer *tok)
{
    return paw_chat_end_token(m, tok);
}

typedef struct fit_example {
    int32_t *ids;
    int32_t  n, n_prompt;
    /* a closed-label loss's choices per output token (NULL: none) */
    const int32_t **choices;
    int32_t *n_choices, *choice_ids;
} fit_example;

static void fit_example_clear(fit_example *e)
{
    free(e->ids);
    free(e->choices);
    free(e->n_choices);
    free(e->choice_ids);
}

/* e's output (its ids after n_prompt) must be one label's path; output
 * token k then chooses between the k-th ids of the labels that share the
 * path's first k ids (distinct, in label order). */
static int label_choices(const paw_labels *l, fit_example *e, size_t idx)
{
    const int32_t *out = e->ids + e->n_prompt, n_out = e->n - e->n_prompt;
    int found = 0;
    for (int32_t L = 0; !found && L < l->n; L++)
        found = l->n_ids[L] == n_out && !memcmp(l->ids[L], out, (size_t)n_out * sizeof *out);
    if (!found) return paw_err(PAW_EINVAL, "fit: example %zu: its output is not one of the labels", idx + 1);
    e->choices = calloc((size_t)n_out, sizeof *e->choices);
    e->n_choices = calloc((size_t)n_out, sizeof *e->n_choices);
    e->choice_ids = malloc((size_t)n_out * (size_t)l->n * sizeof *e->choice_ids);
    if (!e->choices || !e->n_choices || !e->choice_ids) return paw_err(PAW_ENOMEM, "fit: out of memory");
    int32_t *next = e->choice_ids;
    for (int32_t k = 0; k < n_out; k++) {
        int32_t m = 0;
        for (int32_t L = 0; L < l->n; L++) {
            if (l->n_ids[L] <= k || memcmp(l->ids[L], out, (size_t)k * sizeof *out)) continue;
            int dup = 0;
            for (int32_t j = 0; j < m && !dup; j++) dup = next[j] == l->ids[L][k];
            if (!dup) next[m++] = l->ids[L][k];
        }
        if (m > PAW_TRAIN_MAX_CHOICES)
            return paw_err(PAW_ERANGE, "fit: more than %d labels branch at one token", PAW_TRAIN_MAX_CHOICES);
        e->choices[k] = next;
        e->n_choices[k] = m;
        next += m;
    }
    return PAW_OK;
}

/* ex[i] -> input ids (as a call evaluates them after the prefix), output
 * ids, end token; each must fit in `room` tokens.  Errors name the example
 * (1-based) and set *bad to its index. */
static int tokenize_examples(paw_program *tp, const paw_tokenizer *tok, int32_t end, int32_t room,
                             const paw_program_example *ex, size_t n, fit_example *out, int32_t *bad)
{
    for (size_t i = 0; i < n; i++) {
        *bad = (int32_t)i;
        if (!ex[i].input || !ex[i].output)
            return paw_err(PAW_EINVAL, "fit: example %zu: NULL input or output", i + 1);
        int32_t *in = NULL, *o = NULL;
        size_t n_in = 0, n_o = 0;
        int rc = paw_program_input_ids(tp, ex[i].input, strlen(ex[i].input), &in, &n_in);
        if (!rc) rc = paw_tokenize(tok, ex[i].output, strlen(ex[i].output), 0, 0, &o, &n_o);
        if (rc) rc = paw_err_wrap(rc, "fit: example %zu", i + 1);
        else if (!n_in) rc = paw_err(PAW_EINVAL, "fit: example %zu: empty prompt (empty input and template)", i + 1);
        if (!rc && n_in + n_o + 1 > (size_t)room)
            rc = paw_err(PAW_ERANGE, "fit: example %zu is %zu tokens; with the template it must fit in %d (the "
                         "model's context); shorten it", i + 1, n_in + n_o + 1, (int)room);
        int32_t *ids = rc ? NULL : malloc((n_in + n_o + 1) * sizeof *ids);
        if (!rc && !ids) rc = paw_err(PAW_ENOMEM, "fit: out of memory");
        if (!rc) {
            memcpy(ids, in, n_in * sizeof *ids);
            if (n_o) memcpy(ids + n_in, o, n_o * sizeof *ids);
            size_t total = n_in + n_o;
            if (end >= 0) ids[total++] = end;
            out[i] = (fit_example){.ids = ids, .n = (int32_t)total, .n_prompt = (int32_t)n_in};
        }
        free(in);
        free(o);
        if (rc) return rc;
    }
    *bad = -1;
    return PAW_OK;
}

int paw_fit(const paw_model *m, const char *tmpl, size_t tmpl_len, const paw_program_example *ex,
            size_t n_ex, const paw_fit_params *fp, paw_trainer **out)
{
    if (!m || !ex || !fp || !out) return paw_err(PAW_EINVAL, "fit: NULL argument");
    *out = NULL;
    if (!n_ex) return paw_err(PAW_EINVAL, "fit: no examples");
    if (n_ex > INT32_MAX) return paw_err(PAW_ERANGE, "fit: too many examples");
    if (!tmpl) {
        tmpl = PAW_PROGRAM_PLACEHOLDER;
        tmpl_len = strlen(tmpl);
    }
    paw_program_opts po = {.n_threads = fp->train.n_threads, .no_disk_cache = 1, .no_prefix_cache = 1};
    paw_program *tp = NULL;
    paw_tokenizer *tok = NULL;
    fit_example *fx = calloc(n_ex, sizeof *fx);
    const int32_t n = (int32_t)n_ex;
    const int32_t B = fp->batch > 0 && fp->batch < n ? fp->batch : (fp->batch > 0 || n < 8 ? n : 8);
    paw_train_example *batch = malloc((size_t)B * sizeof *batch);
    paw_epoch_order *order = NULL;
    paw_trainer *t = NULL;
    int rc = !fx || !batch ? paw_err(PAW_ENOMEM, "fit: out of memory") : PAW_OK;
    if (!rc) rc = paw_program_open_template(m, tmpl, tmpl_len, &po, &tp);
    if (!rc) rc = paw_tokenizer_from_gguf(paw_model_gguf(m), &tok);
    int32_t n_prefix = 0, bad = -1;
    const int32_t *prefix = rc ? NULL : paw_program_prefix_ids(tp, &n_prefix);
    if (!rc)
        rc = tokenize_examples(tp, tok, paw_fit_end_token(m, tok), paw_model_n_ctx_train(m) - n_prefix, ex, n_ex,
                               fx, &bad);
    paw_labels *labels = NULL;
    if (!rc && fp->n_labels) {
        rc = fp->labels ? paw_labels_new(fp->labels, fp->n_labels, m, tok, "fit", &labels)
                        : paw_err(PAW_EINVAL, "fit: n_labels without labels");
        for (size_t i = 0; !rc && i < n_ex; i++)
            if ((rc = label_choices(labels, &fx[i], i))) bad = (int32_t)i;
    }
    paw_labels_free(labels);
    if (fp->failed_example) *fp->failed_example = bad;
    if (!rc) rc = paw_trainer_new(m, &fp->train, &t);
    if (!rc && fp->init_adapter) rc = paw_trainer_init_from_gguf(t, fp->init_adapter);
    if (!rc) rc = paw_epoch_order_new(n, fp->train.seed, &order);
    paw_fit_step st = {.steps = fp->train.steps, .batch = B, .n_prefix = n_prefix, .trainer = t};
    const double t0 = paw_now();
    for (int32_t s = 0; !rc && s < fp->train.steps; s++) {
        for (int32_t b = 0; b < B; b++) {
            const fit_example *e = &fx[paw_epoch_order_next(order)];
            batch[b] = (paw_train_example){e->ids, e->n, e->n_prompt, e->choices, e->n_choices};
            st.tokens += e->n;
        }
        st.tokens += n_prefix;
        rc = paw_trainer_step(t, prefix, n_prefix, batch, B, &st.loss, &st.grad_norm);
        if (rc) break;
        st.step = s + 1;
        st.seconds = paw_now() - t0;
        int verdict = fp->on_step ? fp->on_step(fp->ud, &st) : 0;
        if (verdict == PAW_FIT_STOP) break;
        if (verdict) rc = paw_err(PAW_ECANCELED, "fit: cancelled at step %d of %d", s + 1, fp->train.steps);
    }
    paw_epoch_order_free(order);
    free(batch);
    for (size_t i = 0; fx && i < n_ex; i++) fit_example_clear(&fx[i]);
    free(fx);
    paw_tokenizer_free(tok);
    paw_program_close(tp);
    if (rc) {
        paw_trainer_free(t);
        return rc;
    }
    *out = t;
    return PAW_OK;
}
