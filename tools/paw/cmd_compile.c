/* cmd_compile.c — `paw compile`: spec + examples -> an installed neural
 * program (paw_compile).  Stages and progress on stderr; the program ID on
 * stdout, then a short report. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

static const char usage_text[] =
    "usage: paw compile \"SPEC\" --examples FILE.jsonl [-m/--base MODEL] [-o OUT.paw] [--no-teacher]\n"
    "                   [--rank R] [--steps N] [--lr LR] [--seed S] [-t THREADS] [--timings]\n"
    "  FILE.jsonl holds one {\"input\": ..., \"output\": ...} object per line.  --no-teacher\n"
    "  (the only mode so far) trains on these examples alone.  The program is installed in\n"
    "  the program cache (and written to OUT.paw with -o).  --timings records seconds per\n"
    "  stage in meta.metrics (the bundle bytes then vary from run to run).\n"
    "  Defaults: base smollm2-135m, rank 8, alpha 2*rank, lr 2e-3, at most 60 steps, seed 0.\n";

static int load_examples(const char *path, paw_program_example **out, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "paw compile: cannot open %s\n", path); return 1; }
    paw_program_example *ex = NULL;
    size_t n = 0, cap = 0;
    int lineno = 0, bad = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (!bad && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)len, 0, &e);
        json_t *in = j ? json_object_get(j, "input") : NULL, *o = j ? json_object_get(j, "output") : NULL;
        if (!json_is_string(in) || !json_is_string(o)) {
            fprintf(stderr, "paw compile: %s:%d: expected {\"input\": string, \"output\": string}\n", path, lineno);
            bad = 1;
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                paw_program_example *ne = realloc(ex, cap * sizeof *ex);
                if (!ne) bad = 1; else ex = ne;
            }
            if (!bad) {
                ex[n].input = strdup(json_string_value(in));
                ex[n].output = strdup(json_string_value(o));
                n++;
                if (!ex[n - 1].input || !ex[n - 1].output) bad = 1;
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (!bad && !n) { fprintf(stderr, "paw compile: %s has no examples\n", path); bad = 1; }
    if (bad) {
        for (size_t i = 0; i < n; i++) { free(ex[i].input); free(ex[i].output); }
        free(ex);
        return 1;
    }
    *out = ex;
    *n_out = n;
    return 0;
}

static void on_progress(void *ud, const char *stage, const char *msg)
{
    (void)ud;
    fprintf(stderr, "paw compile: [%s] %s\n", stage, msg);
}

int cmd_compile(int argc, char **argv)
{
    const char *spec = NULL, *examples_arg = NULL, *model_arg = "smollm2-135m", *out_arg = NULL;
    double rank = 8, steps = 60, lr = 2e-3, seed = 0, threads = 0;
    int timings = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); return 0; }
        else if (!strcmp(a, "--no-teacher")) takes = 0;
        else if (!strcmp(a, "--timings")) { timings = 1; takes = 0; }
        else if (!strcmp(a, "--teacher") || !strcmp(a, "--teacher-url")) {
            fprintf(stderr, "paw compile: %s is not implemented yet; use --no-teacher with --examples\n", a);
            return 2;
        } else if (a[0] != '-' || !a[1]) {
            takes = 0;
            if (spec) ok = 0; else spec = a;
        } else if (!v) ok = 0;
        else if (!strcmp(a, "--examples")) examples_arg = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--base") || !strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_arg = v;
        else if (!strcmp(a, "--rank")) ok = cli_num_arg(v, 1, 4096, &rank);
        else if (!strcmp(a, "--steps")) ok = cli_num_arg(v, 1, 1e7, &steps);
        else if (!strcmp(a, "--lr")) ok = cli_num_arg(v, 1e-9, 10, &lr);
        else if (!strcmp(a, "--seed")) ok = cli_num_arg(v, 0, 1.8e19, &seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_num_arg(v, 0, 1024, &threads);
        else ok = 0;
        if (!ok) {
            fprintf(stderr, "paw compile: bad or incomplete argument '%s'\n%s", a, usage_text);
            return 2;
        }
        i += takes;
    }
    if (!spec) { fprintf(stderr, "paw compile: a SPEC is required\n%s", usage_text); return 2; }
    if (!examples_arg) {
        fprintf(stderr, "paw compile: no teacher available yet: pass --examples FILE.jsonl "
                "(or --teacher, once implemented)\n");
        return 2;
    }
    paw_program_example *ex = NULL;
    size_t n_ex = 0;
    if (load_examples(examples_arg, &ex, &n_ex)) return 1;
    char path[4096];
    paw_model *m = NULL;
    paw_compile_result r;
    memset(&r, 0, sizeof r);
    int rc = 1;
    if (paw_model_resolve(model_arg, path, sizeof path) || paw_model_load(path, &m)) {
        rc = cli_fail("compile");
        goto done;
    }
    fprintf(stderr, "paw compile: [load] %s (%s), %zu examples from %s\n", path, paw_model_arch(m), n_ex,
            examples_arg);
    paw_compile_opts o = {.rank = (int32_t)rank, .lr = (float)lr, .steps = (int32_t)steps,
                          .seed = (uint64_t)seed, .n_threads = (int)threads, .record_timings = timings,
                          .progress = on_progress};
    if (paw_compile(m, spec, ex, n_ex, &o, &r)) { rc = cli_fail("compile"); goto done; }
    if (out_arg && paw_program_bundle_write(r.bundle, out_arg)) { rc = cli_fail("compile"); goto done; }
    char id[PAW_PROGRAM_ID_LEN + 1];
    if (paw_program_install(r.bundle, NULL, id)) { rc = cli_fail("compile"); goto done; }
    fprintf(stderr, "paw compile: [install] %s%s%s\n", id, out_arg ? " -> " : "", out_arg ? out_arg : "");
    printf("%s\n", id);
    printf("steps %d  loss %.4f -> %.4f  train exact match %.0f%% (%d)  validation exact match %.0f%% (%s)  "
           "adapter %s  seconds: pseudo-program %.1f, train %.1f, export %.1f\n",
           r.steps, r.loss_first, r.loss_last, 100 * r.train_em, r.n_train, 100 * r.val_em,
           r.n_val ? "held out" : "on train", r.adapter_type == PAW_TYPE_Q4_0 ? "q4_0" : "f16",
           r.seconds_pseudo, r.seconds_train, r.seconds_export);
    rc = 0;
done:
    paw_compile_result_clear(&r);
    paw_model_free(m);
    for (size_t i = 0; i < n_ex; i++) { free(ex[i].input); free(ex[i].output); }
    free(ex);
    return rc;
}
