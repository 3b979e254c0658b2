/* cmd_train.c — `paw train`: fit a LoRA adapter on {"input","output"} pairs
 * through a frozen model, and write it as a llama.cpp GGUF adapter (and
 * optionally as a PEFT directory).  Progress goes to stderr.
 *
 * Prompts are tokenized the way the program runtime (src/runtime/program.c)
 * tokenizes a call, so that training sees the token ids inference will:
 * template prefix (BOS + special tokens parsed) = the shared prefix; then
 * input + the suffix's text up to its first special token, as plain text;
 * then the rest of the suffix with special tokens parsed.  The output is
 * tokenized as plain text and followed by the model's EOS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "cli.h"

static const char usage_text[] =
    "usage: paw train -m MODEL --data TRAIN.jsonl -o ADAPTER.gguf [--template TEMPLATE.txt]\n"
    "                 [--rank R] [--alpha A] [--targets q,k,v,o,gate,up,down] [--steps N]\n"
    "                 [--lr LR] [--batch B] [--seed S] [--warmup N] [--schedule cosine|linear|constant]\n"
    "                 [--wd W] [--clip C] [--type f32|f16|q8_0|q4_0] [--peft DIR] [-t THREADS]\n"
    "                 [--init ADAPTER.gguf]\n"
    "  TRAIN.jsonl holds one {\"input\": ..., \"output\": ...} object per line.  The template\n"
    "  has one {INPUT_PLACEHOLDER}; its text before that is the prefix every example shares\n"
    "  (default: the bare input).  Loss is on the output tokens (+ EOS) only.\n"
    "  --init starts from an existing adapter of the same rank (warm start or resume).\n"
    "  Defaults: rank 8, alpha 16, all targets, 100 steps, lr 5e-4, batch 8, warmup 10,\n"
    "  cosine, wd 0, clip 1, type f32.\n";

static int parse_targets(const char *s, uint32_t *out)
{
    static const struct { const char *name; uint32_t bit; } names[] = {
        {"q", PAW_TARGET_Q}, {"k", PAW_TARGET_K}, {"v", PAW_TARGET_V}, {"qkv", PAW_TARGET_QKV},
        {"o", PAW_TARGET_O}, {"gate", PAW_TARGET_GATE}, {"up", PAW_TARGET_UP},
        {"down", PAW_TARGET_DOWN}, {"all", PAW_TARGET_ALL},
    };
    *out = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == n && !strncmp(names[i].name, s, n)) {
                *out |= names[i].bit;
                found = 1;
            }
        if (!found) return 0;
        s += n + (s[n] == ',');
    }
    return *out != 0;
}

typedef struct example {
    int32_t *ids;
    int32_t  n, n_prompt;
} example;

/* Is `id` a token only special-token parsing produces (as program.c)? */
static int only_special(const paw_tokenizer *t, int32_t id, char **text, size_t *len)
{
    *text = NULL;
    if (paw_detokenize(t, &id, 1, 1, text, len)) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    int special = *len == 0 || paw_tokenize(t, *text, *len, 0, 0, &ids, &n) || n != 1 || ids[0] != id;
    free(ids);
    return special;
}

/* Cuts the template suffix at its first special token: *plain_len bytes of
 * plain text, then the tokenized rest. */
static int split_suffix(const paw_tokenizer *tok, const char *suf, size_t n, size_t *plain_len,
                        int32_t **tail, size_t *n_tail)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    *tail = NULL;
    *n_tail = 0;
    int rc = paw_tokenize(tok, suf, n, 0, 1, &ids, &n_ids);
    if (rc) return rc;
    size_t cut = n;
    for (size_t i = 0; i < n_ids; i++) {
        char *text;
        size_t len;
        int sp = only_special(tok, ids[i], &text, &len);
        if (sp && text && len) {
            const char *at = memmem(suf, n, text, len);
            if (at) cut = (size_t)(at - suf);
        }
        free(text);
        if (sp) break;
    }
    free(ids);
    *plain_len = cut;
    return cut == n ? PAW_OK : paw_tokenize(tok, suf + cut, n - cut, 0, 1, tail, n_tail);
}

/* Reads the JSONL file into examples (prompt = input + plain suffix + tail,
 * then output + EOS). */
static int load_data(const char *path, const paw_tokenizer *tok, const char *suf, size_t suf_len,
                     int bos_in_prompt, int32_t room, example **out, int32_t *n_out)
{
    paw_program_example *pairs = NULL;
    size_t n_pairs = 0;
    int *lines = NULL;
    if (cli_load_examples_at("train", path, &pairs, &n_pairs, &lines)) return 1;
    size_t plain_len, n_tail;
    int32_t *tail;
    if (split_suffix(tok, suf, suf_len, &plain_len, &tail, &n_tail)) {
        cli_free_examples(pairs, n_pairs);
        return cli_fail("train");
    }
    example *ex = calloc(n_pairs, sizeof *ex);
    int32_t n = 0;
    int bad = !ex;
    if (bad) fprintf(stderr, "paw train: out of memory\n");
    for (size_t k = 0; !bad && k < n_pairs; k++) {
        size_t il = strlen(pairs[k].input), ol = strlen(pairs[k].output);
        char *text = malloc(il + plain_len + 1);
        int32_t *mid = NULL, *oid = NULL;
        size_t n_mid = 0, n_oid = 0;
        int rc = !text;
        if (!rc) {
            memcpy(text, pairs[k].input, il);
            memcpy(text + il, suf, plain_len);
            rc = paw_tokenize(tok, text, il + plain_len, bos_in_prompt, 0, &mid, &n_mid);
        }
        if (!rc) rc = paw_tokenize(tok, pairs[k].output, ol, 0, 0, &oid, &n_oid);
        free(text);
        const size_t total = n_mid + n_tail + n_oid + 1;
        int32_t *ids = rc ? NULL : malloc(total * sizeof *ids);
        if (rc || !ids || n_mid + n_tail == 0) {
            fprintf(stderr, "paw train: %s:%d: %s\n", path, lines[k],
                    rc || !ids ? "tokenization failed" : "empty prompt");
            free(ids);
            bad = 1;
        } else if (total > (size_t)room) {
            /* named by its line before any memory is sized from it */
            fprintf(stderr, "paw train: %s:%d: the example is %zu tokens; with the template it must fit "
                    "in %d (the model's context); shorten it\n", path, lines[k], total, (int)room);
            free(ids);
            bad = 1;
        } else {
            memcpy(ids, mid, n_mid * sizeof *ids);
            if (n_tail) memcpy(ids + n_mid, tail, n_tail * sizeof *ids);
            if (n_oid) memcpy(ids + n_mid + n_tail, oid, n_oid * sizeof *ids);
            ids[total - 1] = paw_tokenizer_eos(tok);
            ex[n++] = (example){ ids, (int32_t)total, (int32_t)(n_mid + n_tail) };
        }
        free(mid);
        free(oid);
    }
    free(tail);
    free(lines);
    cli_free_examples(pairs, n_pairs);
    if (bad) {
        for (int32_t i = 0; i < n; i++) free(ex[i].ids);
        free(ex);
        return 1;
    }
    *out = ex;
    *n_out = n;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;   /* Linux reports KB */
}

int cmd_train(int argc, char **argv)
{
    const char *model_arg = NULL, *data_arg = NULL, *tmpl_arg = NULL, *out_arg = NULL, *peft_arg = NULL;
    const char *init_arg = NULL;
    paw_train_params p = paw_train_params_default();
    double rank = p.rank, alpha = -1, steps = p.steps, lr = p.lr, batch = 8, seed = 0, threads = 0;
    double warmup = -1, wd = p.weight_decay, clip = p.clip;
    int type = PAW_TYPE_F32;
    /* Every option takes a value (except -h), so arguments go in pairs. */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); return 0; }
        else if (!v) ok = 0;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "--data")) data_arg = v;
        else if (!strcmp(a, "--template")) tmpl_arg = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_arg = v;
        else if (!strcmp(a, "--peft")) peft_arg = v;
        else if (!strcmp(a, "--init")) init_arg = v;
        else if (!strcmp(a, "--rank")) ok = cli_num_arg(v, 1, 4096, &rank);
        else if (!strcmp(a, "--alpha")) ok = cli_num_arg(v, 1e-6, 1e6, &alpha);
        else if (!strcmp(a, "--targets")) ok = parse_targets(v, &p.targets);
        else if (!strcmp(a, "--steps")) ok = cli_num_arg(v, 1, 1e9, &steps);
        else if (!strcmp(a, "--lr")) ok = cli_num_arg(v, 0, 10, &lr);
        else if (!strcmp(a, "--batch")) ok = cli_num_arg(v, 1, 1e6, &batch);
        else if (!strcmp(a, "--seed")) ok = cli_num_arg(v, 0, 1.8e19, &seed);
        else if (!strcmp(a, "--warmup")) ok = cli_num_arg(v, 0, 1e9, &warmup);
        else if (!strcmp(a, "--wd")) ok = cli_num_arg(v, 0, 10, &wd);
        else if (!strcmp(a, "--clip")) ok = cli_num_arg(v, 0, 1e9, &clip);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_num_arg(v, 0, 1024, &threads);
        else if (!strcmp(a, "--schedule")) {
            if (!strcmp(v, "cosine")) p.schedule = PAW_LR_COSINE;
            else if (!strcmp(v, "linear")) p.schedule = PAW_LR_LINEAR;
            else if (!strcmp(v, "constant")) p.schedule = PAW_LR_CONSTANT;
            else ok = 0;
        } else if (!strcmp(a, "--type")) {
            if (!strcmp(v, "f32")) type = PAW_TYPE_F32;
            else if (!strcmp(v, "f16")) type = PAW_TYPE_F16;
            else if (!strcmp(v, "q8_0")) type = PAW_TYPE_Q8_0;
            else if (!strcmp(v, "q4_0")) type = PAW_TYPE_Q4_0;
            else ok = 0;
        } else ok = 0;
        if (!ok) {
            fprintf(stderr, "paw train: bad or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    if (!model_arg || !data_arg || !out_arg) {
        fprintf(stderr, "paw train: -m, --data and -o are required\n%s", usage_text);
        return 2;
    }
    if (cli_check_out_path("train", out_arg, 0) || (peft_arg && cli_check_out_path("train", peft_arg, 1)))
        return 1;
    p.rank = (int32_t)rank;
    p.alpha = alpha > 0 ? (float)alpha : 2.0f * p.rank;
    p.steps = (int32_t)steps;
    p.lr = (float)lr;
    p.seed = (uint64_t)seed;
    p.n_threads = (int)threads;
    p.weight_decay = (float)wd;
    p.clip = (float)clip;
    p.warmup = warmup >= 0 ? (int32_t)warmup : (p.steps >= 20 ? 10 : p.steps / 2);

    char path[4096];
    if (paw_model_resolve(model_arg, path, sizeof path)) return cli_fail("train");
    paw_model *m = NULL;
    paw_tokenizer *tok = NULL;
    if (paw_model_load(path, &m)) return cli_fail("train");
    if (paw_tokenizer_from_gguf(paw_model_gguf(m), &tok)) { paw_model_free(m); return cli_fail("train"); }

    char *tmpl = NULL;
    size_t tl = 0;
    if (tmpl_arg) {
        FILE *f = fopen(tmpl_arg, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            long n = ftell(f);
            fseek(f, 0, SEEK_SET);
            tmpl = n >= 0 ? malloc((size_t)n + 1) : NULL;
            if (tmpl && fread(tmpl, 1, (size_t)n, f) == (size_t)n) { tmpl[n] = 0; tl = (size_t)n; }
            else { free(tmpl); tmpl = NULL; }
            fclose(f);
        }
        if (!tmpl) fprintf(stderr, "paw train: cannot read %s\n", tmpl_arg);
    } else {
        tmpl = strdup(PAW_PROGRAM_PLACEHOLDER);
        tl = tmpl ? strlen(tmpl) : 0;
    }
    const char *ph = tmpl ? strstr(tmpl, PAW_PROGRAM_PLACEHOLDER) : NULL;
    if (tmpl && (!ph || strstr(ph + 1, PAW_PROGRAM_PLACEHOLDER)))
        fprintf(stderr, "paw train: the template must contain exactly one %s\n", PAW_PROGRAM_PLACEHOLDER);
    int rc = 1;
    int32_t *prefix = NULL;
    size_t n_prefix = 0;
    example *ex = NULL;
    int32_t n_ex = 0;
    paw_trainer *t = NULL;
    paw_train_example *batch_ex = NULL;
    paw_epoch_order *order = NULL;
    if (!ph || strstr(ph + 1, PAW_PROGRAM_PLACEHOLDER)) goto done;
    const size_t pre_len = (size_t)(ph - tmpl), ph_len = strlen(PAW_PROGRAM_PLACEHOLDER);
    if (pre_len && paw_tokenize(tok, tmpl, pre_len, paw_tokenizer_add_bos(tok), 1, &prefix, &n_prefix)) {
        rc = cli_fail("train");
        goto done;
    }
    if (load_data(data_arg, tok, ph + ph_len, tl - pre_len - ph_len,
                  !n_prefix && paw_tokenizer_add_bos(tok), paw_model_n_ctx_train(m) - (int32_t)n_prefix,
                  &ex, &n_ex))
        goto done;
    if (paw_trainer_new(m, &p, &t)) { rc = cli_fail("train"); goto done; }
    if (init_arg && paw_trainer_init_from_gguf(t, init_arg)) { rc = cli_fail("train"); goto done; }
    const int32_t B = (int32_t)(batch < n_ex ? batch : n_ex);
    batch_ex = malloc((size_t)B * sizeof *batch_ex);
    if (!batch_ex) { fprintf(stderr, "paw train: out of memory\n"); goto done; }
    if (paw_epoch_order_new(n_ex, p.seed, &order)) { rc = cli_fail("train"); goto done; }
    fprintf(stderr, "paw train: %s, %d examples, prefix %zu tokens, rank %d, alpha %g, %lld parameters, "
            "batch %d, %d steps\n", paw_model_arch(m), n_ex, n_prefix, p.rank, p.alpha,
            (long long)paw_trainer_n_params(t), B, p.steps);
    double t0 = now_s(), loss = 0, gnorm = 0, recent = 0, tokens = 0;
    int n_recent = 0;
    const int every = p.steps >= 50 ? p.steps / 50 : 1;
    for (int32_t s = 0; s < p.steps; s++) {
        for (int32_t b = 0; b < B; b++) {
            const example *e = &ex[paw_epoch_order_next(order)];
            batch_ex[b] = (paw_train_example){ e->ids, e->n, e->n_prompt };
            tokens += e->n;
        }
        tokens += (double)n_prefix;
        if (paw_trainer_step(t, prefix, (int32_t)n_prefix, batch_ex, B, &loss, &gnorm)) {
            rc = cli_fail("train");
            goto done;
        }
        if (s >= p.steps - 10) { recent += loss; n_recent++; }
        if ((s + 1) % every == 0 || s + 1 == p.steps) {
            const double el = now_s() - t0, per = el / (s + 1);
            fprintf(stderr, "step %d/%d  loss %.4f  |g| %.3f  %.2f s/step  ETA %.0f s\n",
                    s + 1, p.steps, loss, gnorm, per, per * (p.steps - s - 1));
        }
    }
    const double secs = now_s() - t0;
    if (paw_trainer_save_gguf(t, out_arg, type)) { rc = cli_fail("train"); goto done; }
    if (peft_arg && paw_trainer_save_peft(t, peft_arg, model_arg)) { rc = cli_fail("train"); goto done; }
    fprintf(stderr, "paw train: %d steps, final loss %.4f (mean of last %d: %.4f), %.1f s, "
            "%.0f tokens/s, peak RSS %ld MB -> %s\n", p.steps, loss, n_recent, recent / n_recent, secs,
            tokens / secs, peak_rss_mb(), out_arg);
    rc = 0;
done:
    paw_epoch_order_free(order);
    free(batch_ex);
    paw_trainer_free(t);
    for (int32_t i = 0; i < n_ex; i++) free(ex[i].ids);
    free(ex);
    free(prefix);
    free(tmpl);
    paw_tokenizer_free(tok);
    paw_model_free(m);
    return rc;
}
