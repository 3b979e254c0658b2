/* compile.c — the compiler's no-teacher path: spec + examples -> a neural
 * program (pseudo-program text + LoRA adapter), by training.
 *
 * Stages: (1) normalise the examples (strip, drop duplicate inputs) and write
 * the pseudo-program in paw.md §1.3's form from the spec and the first (up to
 * six) examples; (2) render the official runtime prompt (§1.5): the chat
 * template around "pseudo_program.strip() \n\n[INPUT]\n{INPUT_PLACEHOLDER}\n
 * [END_INPUT]" with the assistant header; (3) train a LoRA through the frozen
 * model on the examples, each tokenized by the program runtime itself
 * (paw_program_input_ids, so training sees the ids a call evaluates), the
 * target being the output + the end-of-turn token the runtime stops on;
 * every eval_every steps the adapter is run through paw_program_call on the
 * validation set and training stops at 100% exact match; (4) export the
 * adapter as Q4_0 (F16 when Q4_0 loses validation matches) and assemble the
 * bundle.  Nothing here prints; progress goes to opts->progress. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "core/common.h"
#include "runtime/fetch.h"

#define MAX_PSEUDO_EXAMPLES 6
#define VAL_MIN_EXAMPLES 16

static int is_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static char *strip_dup(const char *s)
{
    size_t n = strlen(s);
    while (n && is_ws(*s)) { s++; n--; }
    while (n && is_ws(s[n - 1])) n--;
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

static void free_examples(paw_program_example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(ex[i].input); free(ex[i].output); }
    free(ex);
}

/* Stripped copies, first occurrence of each input kept, order preserved. */
static int normalise(const paw_program_example *ex, size_t n, paw_program_example **out, size_t *n_out)
{
    paw_program_example *r = calloc(n ? n : 1, sizeof *r);
    if (!r) return paw_err(PAW_ENOMEM, "compile: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ex[i].input || !ex[i].output) { free_examples(r, k); return paw_err(PAW_EINVAL, "compile: example %zu lacks input or output", i + 1); }
        char *in = strip_dup(ex[i].input), *o = strip_dup(ex[i].output);
        if (!in || !o) { free(in); free(o); free_examples(r, k); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++) dup = !strcmp(r[j].input, in);
        if (dup || !*o) { free(in); free(o); continue; }
        r[k].input = in;
        r[k++].output = o;
    }
    *out = r;
    *n_out = k;
    return PAW_OK;
}

int paw_compile_pseudo_program(const char *spec, const paw_program_example *ex, size_t n_ex,
                               char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "compile: out of memory");
    char *s = strip_dup(spec);
    fprintf(f, "[PSEUDO_PROGRAM]\nTask: %s\n\nExamples:\n", s ? s : "");
    free(s);
    for (size_t i = 0; i < n_ex && i < MAX_PSEUDO_EXAMPLES; i++)
        fprintf(f, "Input: %s\nOutput: %s\n", ex[i].input, ex[i].output);
    fputs("[END_PSEUDO_PROGRAM]", f);
    if (fclose(f) || !buf) { free(buf); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
    *out = buf;
    if (len) *len = n;
    return PAW_OK;
}

/* The runtime prompt (paw.md §1.5); a model with no chat template gets the
 * user message as is. */
static int runtime_template(const paw_model *m, const char *pseudo, char **out, size_t *len)
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

static void progress(const paw_compile_opts *o, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void progress(const paw_compile_opts *o, const char *stage, const char *fmt, ...)
{
    if (!o->progress) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->progress(o->ud, stage, msg);
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct cexample {
    int32_t *ids;
    int32_t  n, n_prompt, n_out;   /* n_out: output tokens (EOT excluded) */
    const paw_program_example *src;
} cexample;

typedef struct compiler {
    const paw_model *m;
    paw_compile_opts o;
    char *tmpl;
    size_t tmpl_len;
    char tmp_path[64];
} compiler;

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return paw_err(PAW_EIO, "compile: cannot read %s", path);
    int rc = PAW_OK;
    if (fseek(f, 0, SEEK_END)) rc = PAW_EIO;
    long n = rc ? -1 : ftell(f);
    uint8_t *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!b || fseek(f, 0, SEEK_SET) || fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return paw_err(PAW_EIO, "compile: cannot read %s", path);
    }
    fclose(f);
    *out = b;
    *len = (size_t)n;
    return PAW_OK;
}

/* The trainer's adapter as GGUF bytes of `type` (through a temp file). */
static int adapter_bytes(compiler *c, const paw_trainer *t, int type, uint8_t **out, size_t *len)
{
    int rc = paw_trainer_save_gguf(t, c->tmp_path, type);
    if (!rc) rc = read_file(c->tmp_path, out, len);
    unlink(c->tmp_path);
    return rc;
}

/* Greedy exact matches of the adapter on ex[0..n) through the runtime. */
static int eval_em(compiler *c, uint8_t *adapter, size_t adapter_len, const cexample *ex, int32_t n,
                   int32_t *hits)
{
    paw_program_bundle b;
    memset(&b, 0, sizeof b);
    b.adapter = adapter;
    b.adapter_len = adapter_len;
    b.prompt_template = c->tmpl;
    b.prompt_template_len = c->tmpl_len;
    paw_program_opts po = {.n_threads = c->o.n_threads, .no_disk_cache = 1, .no_base_check = 1};
    paw_program *p = NULL;
    int rc = paw_program_open_bundle(c->m, &b, &po, &p);
    *hits = 0;
    for (int32_t i = 0; !rc && i < n; i++) {
        char *text = NULL;
        /* A few tokens past the output: enough to see the EOT, or not. */
        rc = paw_program_call(p, ex[i].src->input, strlen(ex[i].src->input), ex[i].n_out + 4, &text, NULL);
        if (!rc) *hits += paw_exact_match(ex[i].src->output, text);
        free(text);
    }
    paw_program_close(p);
    return rc;
}

/* The end-of-turn token a call stops on: <|im_end|> for ChatML models,
 * else the model's EOS. */
static int32_t eot_token(const paw_tokenizer *tok)
{
    static const char im_end[] = "<|im_end|>";
    int32_t id = paw_tokenizer_find(tok, im_end, sizeof im_end - 1);
    if (id >= 0 && paw_tokenizer_is_eog(tok, id)) return id;
    return paw_tokenizer_eos(tok);
}

static int tokenize_examples(paw_program *tp, const paw_tokenizer *tok, const paw_program_example *ex,
                             size_t n, cexample *out)
{
    const int32_t eot = eot_token(tok);
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
            out[i] = (cexample){ids, (int32_t)total, (int32_t)n_in, (int32_t)n_o, &ex[i]};
        } else free(ids);
        free(in);
        free(o);
        if (rc) return rc;
    }
    return PAW_OK;
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

/* meta.json: everything but the adapter, from inputs and results. */
static int fill_meta(compiler *c, const char *spec, const paw_program_example *ex, size_t n_ex,
                     const paw_compile_result *r, paw_program_meta *meta)
{
    char sha[65];
    int rc = base_sha(c->m, sha);
    if (rc) return rc;
    meta->spec = strdup(spec);
    interp_names(c->m, &meta->interpreter, &meta->runtime_id);
    meta->lora_rank = c->o.rank;
    meta->lora_alpha = c->o.alpha;
    meta->created_at = strdup(PAW_COMPILE_CREATED_AT);
    meta->version = 3;
    meta->base_sha256 = strdup(sha);
    meta->examples = calloc(n_ex ? n_ex : 1, sizeof *meta->examples);
    if (meta->examples)
        for (size_t i = 0; i < n_ex; i++) {
            meta->examples[i].input = strdup(ex[i].input);
            meta->examples[i].output = strdup(ex[i].output);
            if (!meta->examples[i].input || !meta->examples[i].output) rc = PAW_ENOMEM;
            meta->n_examples = i + 1;
        }
    meta->compiler_name = strdup("paw-ft");
    meta->compiler_version = strdup(PAW_VERSION);
    json_t *set = json_pack("{s:s,s:i,s:f,s:f,s:i,s:i,s:I,s:s}", "mode", "no-teacher", "rank", c->o.rank,
                            "alpha", decimal(c->o.alpha), "lr", decimal(c->o.lr), "max_steps", c->o.steps,
                            "eval_every", c->o.eval_every, "seed", (json_int_t)c->o.seed,
                            "adapter_type", r->adapter_type == PAW_TYPE_Q4_0 ? "q4_0" : "f16");
    json_t *met = json_pack("{s:f,s:f,s:f,s:f,s:i,s:i,s:i,s:I}", "train_em", r->train_em, "val_em", r->val_em,
                            "loss_first", r->loss_first, "loss_last", r->loss_last, "steps", r->steps,
                            "n_train", r->n_train, "n_val", r->n_val, "seed", (json_int_t)c->o.seed);
    if (met && c->o.record_timings) {
        json_t *sec = json_pack("{s:f,s:f,s:f}", "pseudo_program", r->seconds_pseudo, "train", r->seconds_train,
                                "export", r->seconds_export);
        if (sec) json_object_set_new(met, "seconds", sec);
    }
    meta->compiler_settings_json = set ? json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    meta->metrics_json = met ? json_dumps(met, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(set);
    json_decref(met);
    if (!meta->spec || !meta->interpreter || !meta->runtime_id || !meta->created_at || !meta->base_sha256 ||
        !meta->examples || !meta->compiler_name || !meta->compiler_version || !meta->compiler_settings_json ||
        !meta->metrics_json || rc)
        return paw_err(PAW_ENOMEM, "compile: out of memory");
    return PAW_OK;
}

void paw_compile_result_clear(paw_compile_result *r)
{
    if (!r) return;
    paw_program_bundle_free(r->bundle);
    memset(r, 0, sizeof *r);
}

int paw_compile(const paw_model *m, const char *spec, const paw_program_example *ex_in, size_t n_in,
                const paw_compile_opts *opts, paw_compile_result *r)
{
    if (!m || !spec || (!ex_in && n_in) || !r) return paw_err(PAW_EINVAL, "paw_compile: NULL argument");
    memset(r, 0, sizeof *r);
    compiler c = {.m = m};
    if (opts) c.o = *opts;
    if (c.o.rank <= 0) c.o.rank = 8;
    if (c.o.alpha <= 0) c.o.alpha = 2.0f * (float)c.o.rank;
    if (c.o.lr <= 0) c.o.lr = 2e-3f;
    if (c.o.steps <= 0) c.o.steps = 60;
    if (c.o.eval_every <= 0) c.o.eval_every = 10;
    const char *tmpdir = getenv("TMPDIR");
    snprintf(c.tmp_path, sizeof c.tmp_path, "%.40s/paw-compile-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(c.tmp_path);
    if (fd < 0) return paw_err(PAW_EIO, "compile: cannot create a temporary file in %s", tmpdir ? tmpdir : "/tmp");
    close(fd);

    paw_program_example *ex = NULL;
    size_t n_ex = 0;
    char *pseudo = NULL, *spec_s = strip_dup(spec);
    paw_tokenizer *tok = NULL;
    paw_program *tp = NULL;
    cexample *cex = NULL;
    paw_trainer *t = NULL;
    paw_train_example *batch = NULL;
    int32_t *order = NULL;
    uint8_t *adapter = NULL, *alt = NULL;
    size_t adapter_len = 0, alt_len = 0;
    paw_program_bundle *b = NULL;
    double t0 = paw_now();
    int rc = spec_s ? PAW_OK : paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc && !*spec_s) rc = paw_err(PAW_EINVAL, "compile: the spec is empty");
    if (!rc) rc = normalise(ex_in, n_in, &ex, &n_ex);
    if (!rc && !n_ex) rc = paw_err(PAW_EINVAL, "compile: no examples (each needs an input and a non-empty output)");

    /* Stage 1: pseudo-program and runtime template. */
    if (!rc) rc = paw_compile_pseudo_program(spec_s, ex, n_ex, &pseudo, NULL);
    if (!rc) rc = runtime_template(m, pseudo, &c.tmpl, &c.tmpl_len);
    if (!rc) progress(&c.o, "pseudo-program", "%zu examples (%zu after normalising), %zu shown in the pseudo-program",
                      n_in, n_ex, n_ex < MAX_PSEUDO_EXAMPLES ? n_ex : (size_t)MAX_PSEUDO_EXAMPLES);
    r->seconds_pseudo = paw_now() - t0;

    /* Stage 2: tokenize through the runtime; split train / validation. */
    t0 = paw_now();
    paw_program_opts po = {.n_threads = c.o.n_threads, .no_disk_cache = 1, .no_prefix_cache = 1};
    if (!rc) rc = paw_tokenizer_from_gguf(paw_model_gguf(m), &tok);
    if (!rc) rc = paw_program_open_template(m, c.tmpl, c.tmpl_len, &po, &tp);
    if (!rc && !(cex = calloc(n_ex, sizeof *cex))) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) rc = tokenize_examples(tp, tok, ex, n_ex, cex);
    /* Held-out validation (every 4th example) only with enough examples. */
    int32_t n_tr = 0, n_va = 0;
    cexample *tr = NULL, *va = NULL;
    if (!rc && !(tr = calloc(2 * n_ex, sizeof *tr))) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) {
        va = tr + n_ex;
        for (size_t i = 0; i < n_ex; i++) {
            if (n_ex >= VAL_MIN_EXAMPLES && i % 4 == 3) va[n_va++] = cex[i];
            else tr[n_tr++] = cex[i];
        }
        if (!n_va) { memcpy(va, tr, (size_t)n_tr * sizeof *va); n_va = n_tr; }
        r->n_train = n_tr;
        r->n_val = n_ex >= VAL_MIN_EXAMPLES ? n_va : 0;
    }
    paw_train_params p = paw_train_params_default();
    p.rank = c.o.rank;
    p.alpha = c.o.alpha;
    p.lr = c.o.lr;
    p.steps = c.o.steps;
    p.warmup = c.o.steps >= 20 ? 5 : 0;
    p.seed = c.o.seed;
    p.n_threads = c.o.n_threads;
    p.schedule = PAW_LR_CONSTANT;
    if (!rc) rc = paw_trainer_new(m, &p, &t);
    const int32_t B = n_tr < 8 ? n_tr : 8;
    if (!rc && (!(batch = malloc((size_t)(B ? B : 1) * sizeof *batch)) ||
                !(order = malloc((size_t)(n_tr ? n_tr : 1) * sizeof *order))))
        rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    int32_t n_prefix = 0;
    const int32_t *prefix = tp ? paw_program_prefix_ids(tp, &n_prefix) : NULL;
    if (!rc) {
        progress(&c.o, "train", "%d train / %d validation examples, prefix %d tokens, rank %d, alpha %g, "
                 "lr %g, at most %d steps", n_tr, n_va, n_prefix, p.rank, p.alpha, p.lr, p.steps);
        for (int32_t i = 0; i < n_tr; i++) order[i] = i;
    }
    uint64_t rng = c.o.seed ^ 0x5eedull;
    int32_t cursor = n_tr, hits = 0;
    for (int32_t s = 0; !rc && s < p.steps; s++) {
        for (int32_t k = 0; k < B; k++) {
            if (cursor == n_tr) {
                for (int32_t i = n_tr - 1; i > 0; i--) {
                    int32_t j = (int32_t)(mix(&rng) % (uint64_t)(i + 1)), x = order[i];
                    order[i] = order[j];
                    order[j] = x;
                }
                cursor = 0;
            }
            const cexample *e = &tr[order[cursor++]];
            batch[k] = (paw_train_example){e->ids, e->n, e->n_prompt};
        }
        double loss = 0;
        rc = paw_trainer_step(t, prefix, n_prefix, batch, B, &loss, NULL);
        if (rc) break;
        if (s == 0) r->loss_first = loss;
        r->loss_last = loss;
        r->steps = s + 1;
        if ((s + 1) % c.o.eval_every == 0 || s + 1 == p.steps) {
            free(adapter);
            adapter = NULL;
            rc = adapter_bytes(&c, t, PAW_TYPE_F16, &adapter, &adapter_len);
            if (!rc) rc = eval_em(&c, adapter, adapter_len, va, n_va, &hits);
            if (rc) break;
            progress(&c.o, "train", "step %d/%d  loss %.4f  validation exact match %d/%d", s + 1, p.steps,
                     loss, hits, n_va);
            if (hits == n_va) break;
        }
    }
    r->val_em = n_va ? (double)hits / n_va : 0;
    r->seconds_train = paw_now() - t0;

    /* Stage 3: export Q4_0 unless it loses validation matches. */
    t0 = paw_now();
    if (!rc) rc = adapter_bytes(&c, t, PAW_TYPE_Q4_0, &alt, &alt_len);
    int32_t q_hits = 0;
    if (!rc) rc = eval_em(&c, alt, alt_len, va, n_va, &q_hits);
    r->adapter_type = PAW_TYPE_F16;
    if (!rc && q_hits >= hits) {
        free(adapter);
        adapter = alt;
        adapter_len = alt_len;
        alt = NULL;
        r->adapter_type = PAW_TYPE_Q4_0;
    }
    int32_t tr_hits = 0;
    if (!rc) rc = eval_em(&c, adapter, adapter_len, tr, n_tr, &tr_hits);
    if (!rc) {
        r->train_em = n_tr ? (double)tr_hits / n_tr : 0;
        if (n_ex < VAL_MIN_EXAMPLES) r->val_em = r->train_em;
        progress(&c.o, "export", "adapter %s (Q4_0 validation %d/%d vs F16 %d/%d), train exact match %d/%d",
                 r->adapter_type == PAW_TYPE_Q4_0 ? "Q4_0" : "F16", q_hits, n_va, hits, n_va, tr_hits, n_tr);
    }
    if (!rc && !(b = calloc(1, sizeof *b))) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) {
        b->adapter = adapter;
        b->adapter_len = adapter_len;
        adapter = NULL;
        b->prompt_template = c.tmpl;
        b->prompt_template_len = c.tmpl_len;
        c.tmpl = NULL;
        b->pseudo_program = pseudo;
        b->pseudo_program_len = strlen(pseudo);
        pseudo = NULL;
        r->seconds_export = paw_now() - t0;
        rc = fill_meta(&c, spec_s, ex, n_ex, r, &b->meta);
    }
    if (!rc) rc = paw_program_id(b, b->id);
    if (!rc) {
        memcpy(r->id, b->id, sizeof r->id);
        r->bundle = b;
        b = NULL;
    }
    paw_program_bundle_free(b);
    free(adapter);
    free(alt);
    free(order);
    free(batch);
    paw_trainer_free(t);
    for (size_t i = 0; cex && i < n_ex; i++) free(cex[i].ids);
    free(cex);
    free(tr);
    paw_program_close(tp);
    paw_tokenizer_free(tok);
    free(pseudo);
    free(c.tmpl);
    free_examples(ex, n_ex);
    free(spec_s);
    unlink(c.tmp_path);
    return rc;
}
