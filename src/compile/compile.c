/* compile.c — paw_compile: spec (+ examples, + a teacher) -> a neural
 * program (pseudo-program text + LoRA adapter), by training.
 *
 * Stages, one function each: (1) the data: the user's examples normalised
 * (strip, first of each input kept); with a teacher, the pseudo-program it
 * writes (pseudo.c) and the examples it synthesises (synth.c); too few valid
 * examples stop here; without a usable teacher pseudo-program, the spec's
 * (pseudo.c).  (2) The official runtime prompt (paw.md §1.5): the chat
 * template around "pseudo_program \n\n[INPUT]\n{INPUT_PLACEHOLDER}\n
 * [END_INPUT]" with the assistant header.  (3) Training: a LoRA through the
 * frozen model on the training split, each example tokenized by the program
 * runtime itself (paw_program_input_ids, so training sees the ids a call
 * evaluates), the target being the output + the end-of-turn token the
 * runtime stops on; every eval_every steps the adapter is run through
 * paw_program_call on the validation split and training stops at 100%
 * exact match.  (4) Export: Q4_0 (F16 when Q4_0 loses validation matches),
 * the bundle and its meta.json (settings, metrics, where the text and data
 * came from).  Nothing here prints; progress goes to opts->progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "compile/compile_internal.h"
#include "runtime/fetch.h"
#include "model/gguf.h"
#include "train/train.h"
#include "runtime/program.h"
#include "runtime/labels.h"

#define VAL_MIN_EXAMPLES 16
#define DEFAULT_N_SYNTH 24
#define DEFAULT_MIN_EXAMPLES 4
/* The stopping rule's default (bench/recipe_study.py): 100% validation
 * match stops training from this step on: the first match (often at 10
 * steps) stopped too early on store-help-routing (CV 41.7 % at 10 steps,
 * 58.3 % at 20), and 30-40 steps did not help (BENCHMARKS.md). */
#define DEFAULT_MIN_STEPS 20
/* Variants per example whose output copies input words (augment.c): 3-fold
 * CV on the five public tasks whose outputs copy input words, 20 steps
 * (bench/recipe_study.py, BENCHMARKS.md "Augmented examples"): none 30.0 %,
 * 4 46.7 %, 8 41.7 % (48.3 % at 10 steps, 46.7 % at 30; 4: 33.3 / 45.0). */
#define DEFAULT_AUGMENT 8
/* A closed-label program's loss: over the whole vocabulary (-1) or over
 * its labels only (1). */
#define DEFAULT_LABEL_LOSS (-1)


/* ------------------------------------------------------------ stage 1: data */

static int enough_examples(const paw_compiler *c, int32_t min)
{
    if (c->ex.n >= (size_t)min) return PAW_OK;
    char ud[256], sd[512];
    paw_drops_describe(&c->user_drops, ud, sizeof ud);
    paw_drops_describe(&c->synth.drops, sd, sizeof sd);
    const char *uo = *ud ? " (dropped: " : "", *uc = *ud ? ")" : "";
    if (!c->o.teacher)
        return paw_err(PAW_EINVAL, "compile: only %zu valid examples, at least %d are needed: %zu of the %zu "
                       "given%s%s%s, and no teacher to synthesise more; give more examples (--examples, or "
                       "Input:/Output: lines in the spec) or lower min_examples (--min-examples)", c->ex.n, min, c->n_user, c->n_given, uo, ud, uc);
    return paw_err(PAW_EINVAL, "compile: only %zu valid examples, at least %d are needed: %zu of the %zu "
                   "given by the user%s%s%s, and %d synthesised by the teacher, which was asked for %d inputs "
                   "and gave %d candidates%s%s%s; give more examples, ask for more (n_synth, --synth), use a "
                   "stronger teacher, or lower min_examples (--min-examples)", c->ex.n, min, c->n_user,
                   c->n_given, uo, ud, uc, c->synth.accepted, c->synth.asked, c->synth.candidates,
                   *sd ? " (dropped: " : "", sd, *sd ? ")" : "");
}

/* The user's examples: those given, then those written in the spec; the
 * first of each input is kept, so a given example wins over a spec example
 * with the same input. */
static int merge_spec_examples(paw_compiler *c, const paw_program_example *ex, size_t n, paw_compile_result *r)
{
    paw_program_example *sp = NULL, *all = NULL;
    size_t n_sp = 0;
    int rc = c->o.no_spec_examples ? PAW_OK : paw_compile_spec_examples(c->spec, &sp, &n_sp);
    if (!rc && !n_sp) {
        paw_free(sp);   /* one block even when the spec holds no example */
        return paw_compile_normalise(ex, n, &c->ex, &c->user_drops);
    }
    if (!rc && !(all = malloc((n + n_sp) * sizeof *all))) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    paw_exlist given = {0};
    paw_drops gd = {0};
    if (!rc) {
        if (n) memcpy(all, ex, n * sizeof *all);
        memcpy(all + n, sp, n_sp * sizeof *all);
        rc = paw_compile_normalise(ex, n, &given, &gd);
    }
    if (!rc) rc = paw_compile_normalise(all, n + n_sp, &c->ex, &c->user_drops);
    if (!rc) {
        c->n_spec = n_sp;
        c->n_given = n + n_sp;
        r->n_spec = (int32_t)n_sp;
        r->n_spec_used = (int32_t)(c->ex.n - given.n);
        paw_compile_progress(&c->o, "spec", "%zu examples in the spec's text, %d used (%zu with an input "
                             "given already or dropped)", n_sp, r->n_spec_used, n_sp - (size_t)r->n_spec_used);
        for (size_t i = 0; i < n_sp && i < 20; i++)
            paw_compile_progress(&c->o, "spec", "  %.60s -> %.60s", sp[i].input, sp[i].output);
        if (n_sp > 20) paw_compile_progress(&c->o, "spec", "  ... and %zu more", n_sp - 20);
    }
    paw_exlist_clear(&given);
    free(all);
    paw_free(sp);
    return rc;
}

/* The user's examples; with a teacher its pseudo-program and examples. */
static int gather(paw_compiler *c, const paw_program_example *ex, size_t n, paw_compile_result *r)
{
    double t0 = paw_now();
    int rc = merge_spec_examples(c, ex, n, r);
    c->n_user = c->ex.n;
    if (!rc && c->o.teacher) {
        char why[512];
        rc = paw_pseudo_from_teacher(c->o.teacher, &c->o, c->spec, &c->ex, &c->pseudo, why, sizeof why);
        c->pseudo_source = c->pseudo.text ? PAW_PSEUDO_SOURCE_TEACHER : PAW_PSEUDO_SOURCE_FALLBACK;
        r->pseudo_source = c->pseudo_source;
    }
    r->seconds_pseudo = paw_now() - t0;
    t0 = paw_now();
    if (!rc && c->o.teacher && c->o.n_synth > 0) {
        /* Synthesised inputs equal to a user's were dropped: the user's
         * examples come first and win. */
        paw_exlist syn = {0};
        rc = paw_synthesise(c->o.teacher, &c->o, c->spec, &c->pseudo, &c->ex, c->o.n_synth, &syn, &c->synth);
        for (size_t i = 0; !rc && i < syn.n; i++) rc = paw_exlist_add(&c->ex, syn.v[i].input, syn.v[i].output);
        paw_exlist_clear(&syn);
    }
    r->seconds_synth = paw_now() - t0;
    r->n_user = (int32_t)c->n_user;
    r->n_user_dropped = paw_drops_total(&c->user_drops);
    r->n_synth = c->synth.accepted;
    r->n_synth_rejected = paw_drops_total(&c->synth.drops);
    if (!rc) rc = enough_examples(c, c->o.min_examples);
    return rc;
}

/* The runtime prompt (paw.md §1.5); a model with no chat template gets the
 * user message as is. */
int paw_compile_template(const paw_model *m, const char *pseudo, char **out, size_t *len)
{
    char *user = NULL;
    if (asprintf(&user, "%s\n\n[INPUT]\n%s\n[END_INPUT]", pseudo, PAW_PROGRAM_PLACEHOLDER) < 0)
        return paw_err(PAW_ENOMEM, "compile: out of memory");
    paw_chat_msg msg = {"user", user};
    if (paw_chat_format(m, &msg, 1, 1, out, len) == PAW_OK) { free(user); return PAW_OK; }
    *out = user;
    *len = strlen(user);
    return PAW_OK;
}

/* The pseudo-program in use (the spec's form unless the teacher's is) and
 * the template around it. */
static int write_program_text(paw_compiler *c, paw_compile_result *r)
{
    int rc = PAW_OK;
    if (!c->pseudo.text) {
        if (!c->pseudo_source) c->pseudo_source = PAW_PSEUDO_SOURCE_SPEC;
        rc = paw_compile_pseudo_program(c->spec, c->ex.v, c->ex.n, &c->pseudo.text, NULL);
    }
    if (!rc) rc = paw_compile_template(c->m, c->pseudo.text, &c->tmpl, &c->tmpl_len);
    r->pseudo_source = c->pseudo_source;
    if (!rc)
        paw_compile_progress(&c->o, "data", "pseudo-program: %s (%s); examples: %zu given, %zu kept, %d synthesised "
                             "(%d dropped)", c->pseudo_source, c->o.teacher ? paw_teacher_name(c->o.teacher) :
                             "no teacher", c->n_given, c->n_user, r->n_synth, r->n_synth_rejected);
    return rc;
}

/* ------------------------------------------------------------ stage 2: split */

static int tokenize_examples(const paw_model *m, paw_program *tp, const paw_tokenizer *tok,
                             const paw_program_example *ex, size_t n, paw_cexample *out)
{
    const int32_t eot = paw_fit_end_token(m, tok);
    for (size_t i = 0; i < n; i++) {
        int32_t *in = NULL, *o = NULL;
        size_t n_in = 0, n_o = 0;
        int rc = paw_program_input_ids(tp, ex[i].input, strlen(ex[i].input), &in, &n_in);
        if (!rc) rc = paw_tokenize(tok, ex[i].output, strlen(ex[i].output), 0, 0, &o, &n_o);
        int32_t *ids = rc ? NULL : malloc((n_in + n_o + 1) * sizeof *ids);
        if (!rc && (!ids || !n_in)) rc = paw_err(ids ? PAW_EINVAL : PAW_ENOMEM, "compile: example %zu: %s",
                                                 i + 1, ids ? "empty prompt" : "out of memory");
        if (!rc) {
            memcpy(ids, in, n_in * sizeof *ids);
            if (n_o) memcpy(ids + n_in, o, n_o * sizeof *ids);
            size_t total = n_in + n_o;
            if (eot >= 0) ids[total++] = eot;
            out[i] = (paw_cexample){ids, (int32_t)total, (int32_t)n_in, (int32_t)n_o, &ex[i]};
        } else free(ids);
        free(in);
        free(o);
        if (rc) return rc;
    }
    return PAW_OK;
}

/* How many of ex[0..i) have ex[i]'s output. */
static size_t same_output_before(const paw_cexample *ex, size_t i)
{
    size_t j = 0;
    for (size_t h = 0; h < i; h++) j += !strcmp(ex[h].src->output, ex[i].src->output);
    return j;
}

/* k of ex[0..n) evenly spread (every (n/k)-th) into va, the rest into tr.
 * by_label: every (n/k)-th example *of each output* instead, so that each
 * label gives the same share of its examples to validation. */
static void pick(const paw_cexample *ex, size_t n, size_t k, int by_label, paw_compiler *c)
{
    size_t stride = k ? n / k : 0, taken = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = by_label && stride ? same_output_before(ex, i) : i;
        if (taken < k && pos % stride == stride - 1) { c->va[c->n_va++] = ex[i]; taken++; }
        else c->tr[c->n_tr++] = ex[i];
    }
}

/* 1 if a closed-label program's validation split left some label with no
 * training example: examples listed in a repeating label order (a, b, c, d,
 * a, b, ...) put every 4th — all of one label — into validation, and the
 * program could never learn to answer it. */
static int split_loses_a_label(const paw_compiler *c)
{
    for (int32_t v = 0; v < c->n_va; v++) {
        int trained = 0;
        for (int32_t t = 0; !trained && t < c->n_tr; t++)
            trained = !strcmp(c->tr[t].src->output, c->va[v].src->output);
        if (!trained) return 1;
    }
    return 0;
}

/* Held-out validation only with enough examples: a quarter of them, from
 * the user's first (they are gold; the teacher's may be wrong) but at most
 * half of those so that the rest still train, the remainder from the
 * synthesised ones.  Too few: validation on the training set.  A
 * closed-label program whose plain split would take some label out of
 * training entirely is split per label instead (a quarter of each). */
static void split(paw_compiler *c, paw_compile_result *r)
{
    size_t n = c->ex.n, want = n >= VAL_MIN_EXAMPLES ? n / 4 : 0;
    size_t from_user = PAW_MIN(want, c->n_user / 2);
    for (int by_label = 0; by_label < 2; by_label++) {
        c->n_tr = c->n_va = 0;
        pick(c->cex, c->n_user, from_user, by_label, c);
        pick(c->cex + c->n_user, n - c->n_user, want - from_user, by_label, c);
        if (!c->n_labels || !split_loses_a_label(c)) break;
    }
    r->n_train = c->n_tr;
    r->n_val = c->n_va;
    if (!c->n_va) {
        memcpy(c->va, c->tr, (size_t)c->n_tr * sizeof *c->va);
        c->n_va = c->n_tr;
    }
}

static int prepare_training(paw_compiler *c, paw_compile_result *r)
{
    paw_program_opts po = {.n_threads = c->o.n_threads, .no_disk_cache = 1, .no_prefix_cache = 1};
    size_t n = c->ex.n;
    int rc = paw_tokenizer_from_gguf(paw_model_gguf(c->m), &c->tok);
    if (!rc) rc = paw_program_open_template(c->m, c->tmpl, c->tmpl_len, &po, &c->tp);
    if (!rc && (!(c->cex = calloc(n, sizeof *c->cex)) || !(c->tr = calloc(2 * n, sizeof *c->tr))))
        rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) rc = tokenize_examples(c->m, c->tp, c->tok, c->ex.v, n, c->cex);
    if (!rc) {
        c->va = c->tr + n;
        split(c, r);
    }
    return rc;
}

/* ------------------------------------------------------------ stage 3: train */

/* Greedy exact matches of the adapter on ex[0..n) through the runtime (a
 * closed-label program decoded within its labels, as it will run).  preds
 * (may be NULL): each output, malloc'd. */
int paw_compile_eval_em(paw_compiler *c, uint8_t *adapter, size_t adapter_len, const paw_cexample *ex, int32_t n,
                   int32_t *hits, char **preds)
{
    paw_bundle b;
    memset(&b, 0, sizeof b);
    b.adapter = adapter;
    b.adapter_len = adapter_len;
    b.prompt_template = c->tmpl;
    b.prompt_template_len = c->tmpl_len;
    b.meta.extra_json = c->labels_json;
    paw_program_opts po = {.n_threads = c->o.n_threads, .no_disk_cache = 1, .no_base_check = 1};
    paw_program *p = NULL;
    int rc = paw_program_open_bundle(c->m, &b, &po, &p);
    *hits = 0;
    for (int32_t i = 0; !rc && i < n; i++) {
        char *text = NULL;
        /* A few tokens past the output: enough to see the EOT, or not. */
        rc = paw_program_call(p, ex[i].src->input, strlen(ex[i].src->input), ex[i].n_out + 4, &text, NULL);
        if (!rc) *hits += paw_exact_match(ex[i].src->output, text);
        if (preds && !rc) preds[i] = text;
        else free(text);
    }
    paw_program_close(p);
    return rc;
}

/* The recipe's training parameters (the same for the program and for the
 * cross-validation folds). */
static paw_train_params train_params(const paw_compiler *c)
{
    paw_train_params p = paw_train_params_default();
    p.rank = c->o.rank;
    p.alpha = c->o.alpha;
    p.lr = c->o.lr;
    p.steps = c->o.steps;
    p.warmup = c->o.steps >= 20 ? 5 : 0;
    p.seed = c->o.seed;
    p.n_threads = c->o.n_threads;
    p.schedule = PAW_LR_CONSTANT;
    return p;
}


/* on_step of a fit: the compile's cancel callback, then the caller's. */
typedef struct fit_hook {
    paw_compiler *c;
    paw_fit_fn on_step;
    void *ud;
} fit_hook;

static int fit_step(void *ud, const paw_fit_step *s)
{
    fit_hook *h = ud;
    if (paw_compile_check_cancel(&h->c->o)) return -1;
    return h->on_step ? h->on_step(h->ud, s) : 0;
}

/* Variants per training example (augment.c): none for a closed-label
 * program, whose outputs are labels rather than copies. */
int32_t paw_compile_augment_per(const paw_compiler *c)
{
    return c->n_labels || c->o.augment < 0 ? 0 : c->o.augment;
}

int paw_compile_fit(paw_compiler *c, const paw_cexample *tr, int32_t n_tr, int32_t steps, paw_fit_fn on_step,
                    void *ud, paw_trainer **t)
{
    paw_program_example *ex = malloc((size_t)(n_tr ? n_tr : 1) * sizeof *ex);
    paw_exlist var = {0};
    if (!ex) return paw_err(PAW_ENOMEM, "compile: out of memory");
    for (int32_t i = 0; i < n_tr; i++) ex[i] = *tr[i].src;
    /* Variants of these training examples only (a fold's own, in CV). */
    int rc = paw_compile_augment(ex, (size_t)n_tr, paw_compile_augment_per(c), c->o.seed, &var);
    paw_program_example *all = rc ? NULL : realloc(ex, ((size_t)n_tr + var.n + 1) * sizeof *ex);
    if (!rc && !all) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (all) {
        ex = all;
        if (var.n) memcpy(ex + n_tr, var.v, var.n * sizeof *ex);   /* var.v is NULL when empty */
    }
    c->n_variants = (int32_t)var.n;
    fit_hook h = {c, on_step, ud};
    paw_fit_params fp = {.train = train_params(c), .on_step = fit_step, .ud = &h};
    fp.train.steps = steps;
    /* The label loss ranges over all the program's labels, also in a CV
     * fold that lacks some: the fold's program decodes within all of them. */
    json_t *root = NULL;
    const char **label_text = NULL;
    if (!rc && c->n_labels && c->o.label_loss > 0) {
        root = json_loads(c->labels_json, 0, NULL);
        json_t *labels = json_object_get(root, "labels");
        size_t n = json_array_size(labels);
        if (n && (label_text = malloc(n * sizeof *label_text))) {
            for (size_t i = 0; i < n; i++) label_text[i] = json_string_value(json_array_get(labels, i));
            fp.labels = label_text;
            fp.n_labels = n;
        } else {
            rc = paw_err(PAW_ENOMEM, "compile: out of memory");
        }
    }
    if (!rc) rc = paw_fit(c->m, c->tmpl, c->tmpl_len, ex, (size_t)n_tr + var.n, &fp, t);
    free(label_text);
    json_decref(root);
    paw_exlist_clear(&var);
    free(ex);
    /* A cancel through fit_step is the compile's own PAW_ECANCELED. */
    return rc == PAW_ECANCELED ? paw_compile_check_cancel(&c->o) : rc;
}

/* Every eval_every steps (and at the last) the adapter runs through the
 * runtime on the validation split; 100% exact match stops training. */
typedef struct train_state {
    paw_compiler *c;
    paw_compile_result *r;
    int status;                  /* an evaluation's failure                   */
} train_state;

static int train_step(void *ud, const paw_fit_step *s)
{
    train_state *ts = ud;
    paw_compiler *c = ts->c;
    if (s->step == 1) {
        ts->r->loss_first = s->loss;
        if (c->n_variants)
            paw_compile_progress(&c->o, "train", "%d variants of the training examples (their copied words "
                                 "replaced) train beside them", c->n_variants);
    }
    ts->r->loss_last = s->loss;
    ts->r->steps = s->step;
    if (s->step % c->o.eval_every && s->step != s->steps) return 0;
    free(c->adapter);
    c->adapter = NULL;
    int rc = paw_trainer_save_gguf_mem(s->trainer, PAW_TYPE_F16, &c->adapter, &c->adapter_len);
    if (!rc) rc = paw_compile_eval_em(c, c->adapter, c->adapter_len, c->va, c->n_va, &c->val_hits, NULL);
    if (rc) {
        ts->status = rc;
        return -1;
    }
    paw_compile_progress(&c->o, "train", "step %d/%d  loss %.4f  validation exact match %d/%d", s->step,
                         s->steps, s->loss, c->val_hits, c->n_va);
    if (c->val_hits == c->n_va && !c->first_match_step) c->first_match_step = s->step;
    /* The stopping rule: all matched, and at least min_steps trained. */
    return c->val_hits == c->n_va && s->step >= c->o.min_steps ? PAW_FIT_STOP : 0;
}

/* Steps until max steps or 100% validation exact match at or after
 * min_steps; c->adapter is the
 * last evaluated adapter (F16), c->val_hits its matches. */
static int train(paw_compiler *c, paw_compile_result *r)
{
    paw_train_params p = train_params(c);
    int32_t n_prefix = 0;
    paw_program_prefix_ids(c->tp, &n_prefix);
    paw_compile_progress(&c->o, "train", "%d train / %d validation examples, prefix %d tokens, rank %d, "
                         "alpha %g, lr %g, at most %d steps", c->n_tr, c->n_va, n_prefix, p.rank, p.alpha,
                         p.lr, p.steps);
    train_state ts = {c, r, PAW_OK};
    /* The first step's callback reports the variants paw_compile_fit made. */
    int rc = paw_compile_fit(c, c->tr, c->n_tr, p.steps, train_step, &ts, &c->t);
    r->n_variants = c->n_variants;
    if (ts.status) rc = ts.status;
    r->val_em = c->n_va ? (double)c->val_hits / c->n_va : 0;
    return rc;
}

/* ------------------------------------------------------------ stage 4: export */

/* Q4_0 unless it loses validation matches; then the train exact match. */
static int export_adapter(paw_compiler *c, paw_compile_result *r)
{
    uint8_t *q = NULL;
    size_t q_len = 0;
    int32_t q_hits = 0, tr_hits = 0;
    int rc = paw_trainer_save_gguf_mem(c->t, PAW_TYPE_Q4_0, &q, &q_len);
    if (!rc) rc = paw_compile_eval_em(c, q, q_len, c->va, c->n_va, &q_hits, NULL);
    r->adapter_type = PAW_TYPE_F16;
    if (!rc && q_hits >= c->val_hits) {
        free(c->adapter);
        c->adapter = q;
        c->adapter_len = q_len;
        q = NULL;
        r->adapter_type = PAW_TYPE_Q4_0;
    }
    free(q);
    if (!rc && !(c->tr_pred = calloc((size_t)c->n_tr + 1, sizeof *c->tr_pred)))
        rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) rc = paw_compile_eval_em(c, c->adapter, c->adapter_len, c->tr, c->n_tr, &tr_hits, c->tr_pred);
    r->n_train_wrong = c->n_tr - tr_hits;
    if (!rc) {
        r->train_em = c->n_tr ? (double)tr_hits / c->n_tr : 0;
        if (!r->n_val) r->val_em = r->train_em;
        paw_compile_progress(&c->o, "export", "adapter %s (Q4_0 validation %d/%d vs F16 %d/%d), train exact "
                             "match %d/%d", r->adapter_type == PAW_TYPE_Q4_0 ? "Q4_0" : "F16", q_hits, c->n_va,
                             c->val_hits, c->n_va, tr_hits, c->n_tr);
    }
    return rc;
}

static void interp_names(const paw_model *m, char **interp, char **runtime_id)
{
    paw_str b = {0}, s = {0};
    const paw_gguf *g = paw_model_gguf(m);
    int hb = paw_gguf_get_str(g, "general.basename", &b) == PAW_OK && b.len;
    int hs = paw_gguf_get_str(g, "general.size_label", &s) == PAW_OK && s.len;
    char buf[256];
    if (hb) snprintf(buf, sizeof buf, "%.*s%s%.*s", (int)b.len, b.ptr, hs ? "-" : "", hs ? (int)s.len : 0,
                     hs ? s.ptr : "");
    else snprintf(buf, sizeof buf, "%s", paw_model_arch(m));
    *interp = strdup(buf);
    for (char *p = buf; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    *runtime_id = strdup(buf);
}

/* A float option as JSON shows it: its shortest decimal, not the float's
 * binary expansion (2e-3f is 0.0020000000949949026 as a double). */
static double decimal(float v)
{
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)v);
    return strtod(b, NULL);
}

static int base_sha(const paw_model *m, char hex[65])
{
    const paw_gguf *g = paw_model_gguf(m);
    paw_sha256 *h = paw_sha256_new();
    if (!h) return paw_err(PAW_ENOMEM, "compile: out of memory");
    int rc = paw_sha256_update(h, paw_gguf_bytes(g), paw_gguf_file_size(g));
    if (!rc) rc = paw_sha256_final_hex(h, hex);
    paw_sha256_free(h);
    return rc;
}

/* meta.compiler.settings: the inputs that shaped the program. */
static char *settings_json(const paw_compiler *c, const paw_compile_result *r)
{
    json_t *set = json_pack("{s:s,s:i,s:f,s:f,s:i,s:i,s:I,s:s,s:i}", "mode", c->o.teacher ? "teacher" : "no-teacher",
                            "rank", c->o.rank, "alpha", decimal(c->o.alpha), "lr", decimal(c->o.lr), "max_steps",
                            c->o.steps, "eval_every", c->o.eval_every, "seed", (json_int_t)c->o.seed,
                            "adapter_type", r->adapter_type == PAW_TYPE_Q4_0 ? "q4_0" : "f16", "min_examples",
                            c->o.min_examples);
    if (set) {
        json_object_set_new(set, "cv_folds", json_integer(r->cv_folds));
        json_object_set_new(set, "min_steps", json_integer(c->o.min_steps));
        json_object_set_new(set, "labels", json_string(c->o.no_labels ? "off" : "auto"));
        json_object_set_new(set, "spec_examples", json_string(c->o.no_spec_examples ? "off" : "auto"));
        json_object_set_new(set, "augment", json_integer(paw_compile_augment_per(c)));
        json_object_set_new(set, "loss", json_string(c->n_labels && c->o.label_loss > 0 ? "labels" : "vocab"));
    }
    if (set && c->o.teacher) {
        json_object_set_new(set, "teacher", json_string(paw_teacher_name(c->o.teacher)));
        json_object_set_new(set, "n_synth", json_integer(c->o.n_synth > 0 ? c->o.n_synth : 0));
    }
    char *s = set ? json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(set);
    return s;
}

/* meta.metrics: what the compile measured, and where its data came from. */
static char *metrics_json(const paw_compiler *c, const paw_compile_result *r)
{
    json_t *met = json_pack("{s:f,s:f,s:f,s:f,s:i,s:i,s:i,s:I,s:s,s:i,s:i}", "train_em", r->train_em, "val_em",
                            r->val_em, "loss_first", r->loss_first, "loss_last", r->loss_last, "steps", r->steps,
                            "n_train", r->n_train, "n_val", r->n_val, "seed", (json_int_t)c->o.seed,
                            "pseudo_program_source", c->pseudo_source, "n_user_examples", r->n_user,
                            "n_user_dropped", r->n_user_dropped);
    if (met && c->o.teacher) {
        json_object_set_new(met, "teacher", json_string(paw_teacher_name(c->o.teacher)));
        json_object_set_new(met, "n_synth_candidates", json_integer(c->synth.candidates));
        json_object_set_new(met, "n_synth_accepted", json_integer(r->n_synth));
        json_object_set_new(met, "n_synth_rejected", json_integer(r->n_synth_rejected));
    }
    if (met && c->report_json) {
        json_error_t e;
        json_t *rep = json_loads(c->report_json, 0, &e);
        if (rep) json_object_update(met, rep);
        json_decref(rep);
    }
    if (met) json_object_set_new(met, "first_match_step", json_integer(c->first_match_step));
    if (met) json_object_set_new(met, "n_variants", json_integer(r->n_variants));
    if (met && c->n_spec) json_object_set_new(met, "n_spec_examples", json_integer((json_int_t)c->n_spec));
    if (met && c->o.record_timings) {
        json_t *sec = json_pack("{s:f,s:f,s:f,s:f,s:f}", "pseudo_program", r->seconds_pseudo, "synthesis",
                                r->seconds_synth, "train", r->seconds_train, "export", r->seconds_export, "cv",
                                r->seconds_cv);
        if (sec) json_object_set_new(met, "seconds", sec);
    }
    char *s = met ? json_dumps(met, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(met);
    return s;
}

/* meta.json: everything but the adapter, from inputs and results.  The
 * examples are all the program was trained and validated on: the user's
 * first (metrics.n_user_examples of them), then the synthesised ones. */
static int fill_meta(const paw_compiler *c, const paw_compile_result *r, paw_program_meta *meta)
{
    char sha[65];
    int rc = base_sha(c->m, sha);
    if (rc) return rc;
    meta->spec = strdup(c->spec);
    interp_names(c->m, &meta->interpreter, &meta->runtime_id);
    meta->lora_rank = c->o.rank;
    meta->lora_alpha = c->o.alpha;
    meta->created_at = strdup(PAW_COMPILE_CREATED_AT);
    meta->version = 3;
    meta->base_sha256 = strdup(sha);
    meta->examples = calloc(c->ex.n ? c->ex.n : 1, sizeof *meta->examples);
    for (size_t i = 0; meta->examples && i < c->ex.n; i++) {
        meta->examples[i].input = strdup(c->ex.v[i].input);
        meta->examples[i].output = strdup(c->ex.v[i].output);
        if (!meta->examples[i].input || !meta->examples[i].output) rc = PAW_ENOMEM;
        meta->n_examples = i + 1;
    }
    meta->compiler_name = strdup("paw-ft");
    meta->compiler_version = strdup(PAW_VERSION);
    meta->compiler_settings_json = settings_json(c, r);
    meta->metrics_json = metrics_json(c, r);
    if (c->labels_json && !(meta->extra_json = strdup(c->labels_json))) rc = PAW_ENOMEM;
    if (!meta->spec || !meta->interpreter || !meta->runtime_id || !meta->created_at || !meta->base_sha256 ||
        !meta->examples || !meta->compiler_name || !meta->compiler_version || !meta->compiler_settings_json ||
        !meta->metrics_json || rc)
        return paw_err(PAW_ENOMEM, "compile: out of memory");
    return PAW_OK;
}

/* The bundle: the adapter, template and pseudo-program move into it. */
static int assemble(paw_compiler *c, paw_compile_result *r)
{
    paw_bundle *b = calloc(1, sizeof *b);
    if (!b) return paw_err(PAW_ENOMEM, "compile: out of memory");
    b->adapter = c->adapter;
    b->adapter_len = c->adapter_len;
    c->adapter = NULL;
    b->prompt_template = c->tmpl;
    b->prompt_template_len = c->tmpl_len;
    c->tmpl = NULL;
    b->pseudo_program = c->pseudo.text;
    b->pseudo_program_len = strlen(c->pseudo.text);
    c->pseudo.text = NULL;
    int rc = fill_meta(c, r, &b->meta);
    if (!rc) rc = paw_program_id(b, b->id);
    if (rc) {
        paw_bundle_free(b);
        return rc;
    }
    memcpy(r->id, b->id, sizeof r->id);
    r->bundle = b;
    return PAW_OK;
}

/* ------------------------------------------------------------ driver */

void paw_compile_result_clear(paw_compile_result *r)
{
    if (!r) return;
    paw_bundle_free(r->bundle);
    memset(r, 0, sizeof *r);
}

static int compiler_init(paw_compiler *c, const paw_model *m, const char *spec, const paw_compile_opts *opts)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    if (opts) c->o = *opts;
    if (c->o.rank <= 0) c->o.rank = 8;
    if (c->o.alpha <= 0) c->o.alpha = 2.0f * (float)c->o.rank;
    if (c->o.lr <= 0) c->o.lr = 2e-3f;
    if (c->o.steps <= 0) c->o.steps = 60;
    if (c->o.eval_every <= 0) c->o.eval_every = 10;
    if (c->o.min_steps <= 0) c->o.min_steps = DEFAULT_MIN_STEPS;
    if (c->o.n_synth == 0) c->o.n_synth = DEFAULT_N_SYNTH;
    if (c->o.min_examples <= 0) c->o.min_examples = DEFAULT_MIN_EXAMPLES;
    if (c->o.augment == 0) c->o.augment = DEFAULT_AUGMENT;
    if (c->o.label_loss == 0) c->o.label_loss = DEFAULT_LABEL_LOSS;
    if (c->o.augment > PAW_AUGMENT_MAX)
        return paw_err(PAW_EINVAL, "compile: augment %d: at most %d variants per example", (int)c->o.augment,
                       PAW_AUGMENT_MAX);
    if (!(c->spec = paw_compile_strip(spec, strlen(spec)))) return paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!*c->spec) return paw_err(PAW_EINVAL, "compile: the spec is empty");
    return PAW_OK;
}

static void compiler_free(paw_compiler *c)
{
    free(c->adapter);
    for (int32_t i = 0; c->tr_pred && i < c->n_tr; i++) free(c->tr_pred[i]);
    free(c->tr_pred);
    free(c->labels_json);
    free(c->report_json);
    paw_trainer_free(c->t);
    for (size_t i = 0; c->cex && i < c->ex.n; i++) free(c->cex[i].ids);
    free(c->cex);
    free(c->tr);
    paw_program_close(c->tp);
    paw_tokenizer_free(c->tok);
    free(c->tmpl);
    paw_pseudo_clear(&c->pseudo);
    paw_exlist_clear(&c->ex);
    free(c->spec);
}

int paw_compile(const paw_model *m, const char *spec, const paw_program_example *ex, size_t n_ex,
                const paw_compile_opts *opts, paw_compile_result *r)
{
    if (!m || !spec || (!ex && n_ex) || !r) return paw_err(PAW_EINVAL, "paw_compile: NULL argument");
    memset(r, 0, sizeof *r);
    paw_compiler c;
    int rc = compiler_init(&c, m, spec, opts);
    c.n_given = n_ex;
    if (!rc) rc = gather(&c, ex, n_ex, r);
    if (!rc) rc = paw_compile_choose_labels(&c, r);
    if (!rc) rc = write_program_text(&c, r);
    double t0 = paw_now();
    if (!rc) rc = paw_compile_check_cancel(&c.o);
    if (!rc) rc = prepare_training(&c, r);
    if (!rc) rc = train(&c, r);
    r->seconds_train = paw_now() - t0;
    t0 = paw_now();
    if (!rc) rc = paw_compile_check_cancel(&c.o);
    if (!rc) rc = export_adapter(&c, r);
    r->seconds_export = paw_now() - t0;
    if (!rc) rc = paw_compile_report(&c, r);
    if (!rc) rc = assemble(&c, r);
    compiler_free(&c);
    return rc;   /* on failure r keeps the counts; it holds no bundle */
}
