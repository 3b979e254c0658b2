/* cmd_train.c — `paw train`: fit a LoRA adapter on {"input","output"} pairs
 * through a frozen model, and write it as a llama.cpp GGUF adapter (and
 * optionally as a PEFT directory).  Progress goes to stderr.
 *
 * The training itself is paw_fit, the loop paw_compile uses too: examples
 * tokenized as the program runtime tokenizes a call on the template, each
 * target ended by the model's end-of-turn token (paw_fit_end_token). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "cli.h"
#include "train/train.h"

static const char usage_text[] =
    "usage: paw train -m MODEL --data TRAIN.jsonl -o ADAPTER.gguf [--template TEMPLATE.txt]\n"
    "                 [--rank R] [--alpha A] [--targets q,k,v,o,gate,up,down] [--steps N]\n"
    "                 [--lr LR] [--batch B] [--seed S] [--warmup N] [--schedule cosine|linear|constant]\n"
    "                 [--wd W] [--clip C] [--type f32|f16|q8_0|q4_0] [--peft DIR] [-t THREADS]\n"
    "                 [--init ADAPTER.gguf]\n"
    "  TRAIN.jsonl holds one {\"input\": ..., \"output\": ...} object per line.  The template\n"
    "  has one {INPUT_PLACEHOLDER}; its text before that is the prefix every example shares\n"
    "  (default: the bare input).  Loss is on the output tokens (+ the end-of-turn token) only.\n"
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

/* Progress lines on stderr, ~50 per run, and the mean loss of the last 10
 * steps for the summary. */
typedef struct train_progress {
    int32_t every, n_recent;
    double recent;
    paw_fit_step last;
} train_progress;

static int on_step(void *ud, const paw_fit_step *s)
{
    train_progress *tp = ud;
    tp->last = *s;
    if (s->step > s->steps - 10) { tp->recent += s->loss; tp->n_recent++; }
    if (s->step % tp->every == 0 || s->step == s->steps) {
        const double per = s->seconds / s->step;
        fprintf(stderr, "step %d/%d  loss %.4f  |g| %.3f  %.2f s/step  ETA %.0f s\n", s->step, s->steps,
                s->loss, s->grad_norm, per, per * (s->steps - s->step));
    }
    return 0;
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
    paw_program_example *pairs = NULL;
    size_t n_pairs = 0;
    paw_trainer *t = NULL;
    int *lines = NULL;
    int rc = 1;
    if (tmpl_arg && paw_read_file(tmpl_arg, 1 << 20, &tmpl, &tl)) { rc = cli_fail("train"); goto done; }
    if (cli_load_examples_at("train", data_arg, &pairs, &n_pairs, &lines)) goto done;
    train_progress prog = {.every = p.steps >= 50 ? p.steps / 50 : 1};
    int32_t bad = -1;
    paw_fit_params fp = {.train = p, .batch = (int32_t)batch, .init_adapter = init_arg,
                         .on_step = on_step, .ud = &prog, .failed_example = &bad};
    fprintf(stderr, "paw train: %s, %zu examples, rank %d, alpha %g, batch %d, %d steps\n",
            paw_model_arch(m), n_pairs, p.rank, p.alpha, (int)(batch < (double)n_pairs ? batch : (double)n_pairs),
            p.steps);
    if (paw_fit(m, tmpl, tl, pairs, n_pairs, &fp, &t)) {
        /* An error about one example names its line in the file. */
        if (bad >= 0) fprintf(stderr, "paw train: %s:%d: %s\n", data_arg, lines[bad], paw_last_error());
        else cli_fail("train");
        goto done;
    }
    if (paw_trainer_save_gguf(t, out_arg, type)) { rc = cli_fail("train"); goto done; }
    if (peft_arg && paw_trainer_save_peft(t, peft_arg, model_arg)) { rc = cli_fail("train"); goto done; }
    fprintf(stderr, "paw train: %lld parameters, %d steps, final loss %.4f (mean of last %d: %.4f), %.1f s, "
            "%.0f tokens/s, peak RSS %ld MB -> %s\n", (long long)paw_trainer_n_params(t), p.steps, prog.last.loss,
            prog.n_recent, prog.recent / (prog.n_recent ? prog.n_recent : 1), prog.last.seconds,
            prog.last.tokens / (prog.last.seconds > 0 ? prog.last.seconds : 1), peak_rss_mb(), out_arg);
    rc = 0;
done:
    paw_trainer_free(t);
    free(lines);
    cli_free_examples(pairs, n_pairs);
    free(tmpl);
    paw_tokenizer_free(tok);
    paw_model_free(m);
    return rc;
}
