/* cmd_compile.c — `paw compile`: spec (+ examples, + a teacher) -> an
 * installed neural program (paw_compile).  Stages and progress on stderr;
 * the program ID on stdout, then a short report. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

static const char usage_text[] =
    "usage: paw compile \"SPEC\" [--examples FILE.jsonl] [-m/--base MODEL] [-o OUT.paw]\n"
    "                   [--teacher MODEL.gguf|NAME | --teacher-url URL [--teacher-model NAME] | --no-teacher]\n"
    "                   [--synth N] [--min-examples N] [--rank R] [--steps N] [--min-steps N] [--lr LR]\n"
    "                   [--seed S] [-t THREADS] [--timings] [--no-spec-examples] [--no-labels]\n"
    "                   [--cv-folds K | --no-cv] [--augment N | --no-augment] [--label-loss | --vocab-loss]\n"
    "  FILE.jsonl holds one {\"input\": ..., \"output\": ...} object per line.  A teacher writes\n"
    "  the pseudo-program and synthesises N more examples (default 24; --synth 0: none):\n"
    "  --teacher runs a local instruct GGUF (a path or a pulled model name), --teacher-url any\n"
    "  OpenAI-compatible chat endpoint (key from $PAW_TEACHER_API_KEY, else $OPENAI_API_KEY;\n"
    "  --teacher-model names the model it serves).  Without a teacher (--no-teacher, the\n"
    "  default) the examples are all it trains on.  Examples written in SPEC are used too\n"
    "  (\"Input: x\" / \"Output: y\" lines, \"Input: x -> Output: y\", \"x -> y\" lines under\n"
    "  \"Examples:\", {\"input\": .., \"output\": ..} lines; --no-spec-examples: not), after\n"
    "  FILE.jsonl's: on the same input, FILE.jsonl's wins.  Fewer than --min-examples valid\n"
    "  examples (default 4) stop the compile.  Outputs that form a small label set (2 or more\n"
    "  distinct one-line outputs, at most 128 and at most half the examples) make a\n"
    "  closed-label program that only answers its labels (--no-labels: never); it trains on\n"
    "  the loss over the whole vocabulary (--vocab-loss, the default) or, with --label-loss,\n"
    "  over only the tokens that decoding within its labels chooses between.  The report\n"
    "  gives a K-fold cross-validated exact match on the examples with --cv-folds K (it costs\n"
    "  about K times the training; default and --no-cv: not estimated).  Training stops at the first check (every 10 steps) where\n"
    "  every example matches, once --min-steps are done.  The program is installed\n"
    "  in the program cache (and written to OUT.paw with -o).  --timings records seconds per\n"
    "  stage in meta.metrics (the bundle bytes then vary from run to run).  When outputs copy\n"
    "  words of their inputs (names, numbers, keys), N variants of each such example, those\n"
    "  words replaced by others of the same shape, train beside it (--augment N; --no-augment:\n"
    "  none; never for a closed-label program).\n"
    "  Defaults: base smollm2-135m, rank 8, alpha 2*rank, lr 2e-3, at least 20 and at most 60\n"
    "  steps, seed 0, augment 8.\n";

static void on_progress(void *ud, const char *stage, const char *msg)
{
    (void)ud;
    fprintf(stderr, "paw compile: [%s] %s\n", stage, msg);
}

/* Everything the command line says. */
typedef struct compile_args {
    const char *spec, *examples, *model, *out;
    const char *teacher, *teacher_url, *teacher_model;
    int no_teacher, timings, synth_given, no_spec, no_labels, no_cv, no_augment, label_loss;
    double rank, steps, lr, seed, threads, synth, min_examples, cv_folds, min_steps, augment;
} compile_args;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "paw compile: %s%s%s%s\n%s", msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "", usage_text);
    return 2;
}

/* 0 when the arguments make sense, else the exit status (2, or 0 for -h). */
static int parse_args(int argc, char **argv, compile_args *a, int *help)
{
    *a = (compile_args){.model = "smollm2-135m", .rank = 8, .steps = 60, .lr = 2e-3, .synth = 24};
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(k, "-h") || !strcmp(k, "--help")) { *help = 1; return 0; }
        else if (!strcmp(k, "--no-teacher")) { a->no_teacher = 1; takes = 0; }
        else if (!strcmp(k, "--timings")) { a->timings = 1; takes = 0; }
        else if (!strcmp(k, "--no-spec-examples")) { a->no_spec = 1; takes = 0; }
        else if (!strcmp(k, "--no-labels")) { a->no_labels = 1; takes = 0; }
        else if (!strcmp(k, "--no-cv")) { a->no_cv = 1; takes = 0; }
        else if (!strcmp(k, "--no-augment")) { a->no_augment = 1; takes = 0; }
        else if (!strcmp(k, "--label-loss") || !strcmp(k, "--vocab-loss")) {
            if (a->label_loss) return usage_error("give one loss: --label-loss or --vocab-loss", NULL);
            a->label_loss = k[2] == 'l' ? 1 : -1;
            takes = 0;
        }
        else if (k[0] != '-' || !k[1]) {
            takes = 0;
            if (a->spec) ok = 0; else a->spec = k;
        } else if (!v) ok = 0;
        else if (!strcmp(k, "--examples")) a->examples = v;
        else if (!strcmp(k, "-m") || !strcmp(k, "--base") || !strcmp(k, "--model")) a->model = v;
        else if (!strcmp(k, "-o") || !strcmp(k, "--output")) a->out = v;
        else if (!strcmp(k, "--teacher")) a->teacher = v;
        else if (!strcmp(k, "--teacher-url")) a->teacher_url = v;
        else if (!strcmp(k, "--teacher-model")) a->teacher_model = v;
        else if (!strcmp(k, "--synth")) { ok = cli_num_arg(v, 0, 100000, &a->synth); a->synth_given = 1; }
        else if (!strcmp(k, "--min-examples")) ok = cli_num_arg(v, 1, 1e7, &a->min_examples);
        else if (!strcmp(k, "--rank")) ok = cli_num_arg(v, 1, 4096, &a->rank);
        else if (!strcmp(k, "--cv-folds")) ok = cli_num_arg(v, 2, 100, &a->cv_folds);
        else if (!strcmp(k, "--steps")) ok = cli_num_arg(v, 1, 1e7, &a->steps);
        else if (!strcmp(k, "--min-steps")) ok = cli_num_arg(v, 1, 1e7, &a->min_steps);
        else if (!strcmp(k, "--augment")) ok = cli_num_arg(v, 1, 64, &a->augment);
        else if (!strcmp(k, "--lr")) ok = cli_num_arg(v, 1e-9, 10, &a->lr);
        else if (!strcmp(k, "--seed")) ok = cli_num_arg(v, 0, 1.8e19, &a->seed);
        else if (!strcmp(k, "-t") || !strcmp(k, "--threads")) ok = cli_num_arg(v, 0, 1024, &a->threads);
        else ok = 0;
        if (!ok) return usage_error("bad or incomplete argument", k);
        i += takes;
    }
    const char *tflag = a->teacher ? "--teacher" : a->teacher_url ? "--teacher-url"
                      : a->teacher_model ? "--teacher-model" : a->synth_given ? "--synth" : NULL;
    if (!a->spec) return usage_error("a SPEC is required", NULL);
    if (a->no_teacher && tflag) return usage_error("--no-teacher cannot be combined with", tflag);
    if (a->teacher && a->teacher_url) return usage_error("give one teacher: --teacher or --teacher-url", NULL);
    if (a->teacher_model && !a->teacher_url) return usage_error("--teacher-model needs --teacher-url", NULL);
    if (a->synth_given && !a->teacher && !a->teacher_url)
        return usage_error("--synth needs a teacher (--teacher or --teacher-url)", NULL);
    if (a->no_cv && a->cv_folds) return usage_error("--no-cv cannot be combined with", "--cv-folds");
    if (a->no_augment && a->augment) return usage_error("--no-augment cannot be combined with", "--augment");
    return 0;
}

/* The teacher the arguments name (NULL, 0 when none); 1 on failure. */
static int open_teacher(const compile_args *a, paw_teacher **t)
{
    *t = NULL;
    const char *key = getenv("PAW_TEACHER_API_KEY");
    if (!key || !*key) key = getenv("OPENAI_API_KEY");
    paw_teacher_opts to = {.n_threads = (int)a->threads, .model_name = a->teacher_model,
                           .api_key = key && *key ? key : NULL, .seed = (uint64_t)a->seed};
    char path[4096];
    if ((a->teacher_url && paw_teacher_open_url(a->teacher_url, &to, t)) ||
        (a->teacher && (paw_model_resolve(a->teacher, path, sizeof path) || paw_teacher_open_model(path, &to, t)))) {
        fprintf(stderr, "paw compile: teacher: %s\n", paw_last_error());
        return 1;
    }
    if (*t) fprintf(stderr, "paw compile: [teacher] %s\n", paw_teacher_name(*t));
    return 0;
}

/* The honest part of the report: the cross-validated estimate, per-label
 * precision/recall and the training examples the program gets wrong. */
static void print_estimate(const paw_compile_result *r)
{
    if (r->cv_folds)
        printf("cross-validated exact match %.1f%% (%d-fold, on the %d training examples only): the estimate "
               "for new inputs like them\n", 100 * r->cv_em, r->cv_folds, r->n_train + r->n_val);
    else
        printf("exact match on new inputs: not estimated (--cv-folds K estimates it from the training examples, "
               "at about K times the training time; it needs at least 2K examples)\n");
    if (r->cv_folds) printf("cross-validation took %.1f s\n", r->seconds_cv);
    if (r->n_spec) printf("examples from the spec's text: %d found, %d used\n", r->n_spec, r->n_spec_used);
    json_error_t e;
    json_t *met = json_loads(r->bundle->meta.metrics_json, 0, &e);
    json_t *lab = json_object_get(json_object_get(met, "cv"), "labels"), *v;
    const char *k;
    if (r->n_labels) printf("closed-label program: %d labels\n", r->n_labels);
    json_object_foreach(lab, k, v) {
        json_t *p = json_object_get(v, "precision"), *rc = json_object_get(v, "recall");
        printf("  %-20s precision %s%.0f%%  recall %s%.0f%%  (%lld examples)\n", k, json_is_null(p) ? "n/a " : "",
               json_is_null(p) ? 0 : 100 * json_real_value(p), json_is_null(rc) ? "n/a " : "",
               json_is_null(rc) ? 0 : 100 * json_real_value(rc),
               (long long)json_integer_value(json_object_get(v, "support")));
    }
    json_t *wrong = json_object_get(met, "train_wrong");
    if (json_array_size(wrong)) printf("training examples the program gets wrong (%d):\n", r->n_train_wrong);
    size_t i;
    json_array_foreach(wrong, i, v)
        printf("  %.60s -> %.40s (expected %.40s)\n", json_string_value(json_object_get(v, "input")),
               json_string_value(json_object_get(v, "got")), json_string_value(json_object_get(v, "output")));
    json_decref(met);
}

static void print_report(const paw_compile_result *r, const paw_teacher *t)
{
    printf("steps %d  loss %.4f -> %.4f  train exact match %.0f%% (%d)  validation exact match %.0f%% (%s)  "
           "adapter %s  seconds: pseudo-program %.1f, synthesis %.1f, train %.1f, export %.1f\n",
           r->steps, r->loss_first, r->loss_last, 100 * r->train_em, r->n_train, 100 * r->val_em,
           r->n_val ? "held out" : "on train", r->adapter_type == PAW_TYPE_Q4_0 ? "q4_0" : "f16",
           r->seconds_pseudo, r->seconds_synth, r->seconds_train, r->seconds_export);
    printf("teacher %s  pseudo-program %s  examples: %d user (%d dropped), %d synthesised (%d rejected)\n",
           t ? paw_teacher_name(t) : "none", r->pseudo_source ? r->pseudo_source : "?", r->n_user,
           r->n_user_dropped, r->n_synth, r->n_synth_rejected);
    print_estimate(r);
}

int cmd_compile(int argc, char **argv)
{
    compile_args a;
    int help = 0, st = parse_args(argc, argv, &a, &help);
    if (help) { fputs(usage_text, stdout); return 0; }
    if (st) return st;
    if (a.out && cli_check_out_path("compile", a.out, 0)) return 1;
    paw_program_example *ex = NULL;
    size_t n_ex = 0;
    if (a.examples && cli_load_examples("compile", a.examples, &ex, &n_ex)) return 1;
    char path[4096];
    paw_model *m = NULL;
    paw_teacher *teacher = NULL;
    paw_compile_result r;
    memset(&r, 0, sizeof r);
    int rc = 1;
    if (paw_model_resolve(a.model, path, sizeof path) || paw_model_load(path, &m)) {
        rc = cli_fail("compile");
        goto done;
    }
    fprintf(stderr, "paw compile: [load] %s (%s), %zu examples%s%s\n", path, paw_model_arch(m), n_ex,
            a.examples ? " from " : "", a.examples ? a.examples : "");
    if (open_teacher(&a, &teacher)) goto done;
    paw_compile_opts o = {.teacher = teacher, .n_synth = a.synth > 0 ? (int32_t)a.synth : -1,
                          .min_examples = (int32_t)a.min_examples, .rank = (int32_t)a.rank, .lr = (float)a.lr,
                          .steps = (int32_t)a.steps, .seed = (uint64_t)a.seed, .n_threads = (int)a.threads,
                          .record_timings = a.timings, .progress = on_progress, .no_spec_examples = a.no_spec,
                          .no_labels = a.no_labels, .cv_folds = a.no_cv ? -1 : (int32_t)a.cv_folds,
                          .min_steps = (int32_t)a.min_steps, .augment = a.no_augment ? -1 : (int32_t)a.augment,
                          .label_loss = a.label_loss};
    if (paw_compile(m, a.spec, ex, n_ex, &o, &r)) { rc = cli_fail("compile"); goto done; }
    if (a.out && paw_bundle_write(r.bundle, a.out)) { rc = cli_fail("compile"); goto done; }
    char id[PAW_PROGRAM_ID_LEN + 1];
    if (paw_program_install(r.bundle, NULL, id)) { rc = cli_fail("compile"); goto done; }
    fprintf(stderr, "paw compile: [install] %s%s%s\n", id, a.out ? " -> " : "", a.out ? a.out : "");
    printf("%s\n", id);
    print_report(&r, teacher);
    rc = 0;
done:
    paw_compile_result_clear(&r);
    paw_teacher_free(teacher);
    paw_model_free(m);
    cli_free_examples(ex, n_ex);
    return rc;
}
