/* cmd_eval.c — `paw eval SUITE.jsonl`: run every task's test inputs through
 * a program (--programs DIR: DIR/<task id>.paw) or a prompt baseline on the
 * bare base model (--baseline zero-shot|few-shot), score exact match after
 * stripping, and print one line per task, an overall line and, last,
 * `mean_em=<percent>` (the mean of the per-task EMs).  Greedy decoding,
 * 64 new tokens at most unless -n says otherwise. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"

static const char usage_text[] =
    "usage: paw eval SUITE.jsonl (--programs DIR | --baseline zero-shot|few-shot)\n"
    "                [-m MODEL] [--limit N] [-n MAX_TOKENS] [-t THREADS] [-c N_CTX] [--batch N]\n"
    "                [--json REPORT] [--progress S] [--int8]\n"
    "  --programs DIR   task <id> runs DIR/<id>.paw\n"
    "  --baseline B     the base model prompted with the spec (zero-shot) or the spec\n"
    "                   and the task's train examples (few-shot)\n"
    "  -m MODEL         base model (default smollm2-135m)\n"
    "  --limit N        only the first N test inputs of each task\n"
    "  -n MAX_TOKENS    new tokens per output (default 64)\n"
    "  -c N_CTX         context size (default 2048)\n"
    "  --batch N        run N test inputs of a task together in one batched forward pass\n"
    "                   (default 4; 1 = one at a time; the outputs are the same)\n"
    "  --json REPORT    also write a machine-readable report to REPORT\n"
    "  --int8           int8 products (paw run --int8)\n"
    "  --progress S     a progress line on stderr every S seconds (default: 1 on a\n"
    "                   terminal, rewritten in place; 30 otherwise; 0 = after every batch)\n";

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Progress of one task on stderr: inputs done, exact matches so far, time
 * spent and an estimate of what is left.  A test set of thousands of inputs
 * takes minutes, and stdout only gets the task's line at its end.  On a
 * terminal the line is rewritten in place; in a log, one line per report. */
typedef struct {
    double every_ms, t_start, last;
    int tty;
} eval_progress;

static void progress_report(eval_progress *pg, const char *id, size_t done, size_t n, size_t ok)
{
    double now = now_ms();
    if (done < n && now - pg->last < pg->every_ms) return;
    if (done == n && !pg->tty && pg->every_ms > 0 && now - pg->t_start < pg->every_ms) return;
    pg->last = now;
    double spent = (now - pg->t_start) / 1e3, left = done ? spent * (double)(n - done) / (double)done : 0;
    fprintf(stderr, "%spaw eval: %s: %zu/%zu inputs, %zu exact, %.0f s, ~%.0f s left%s", pg->tty ? "\r" : "",
            id, done, n, ok, spent, left, pg->tty ? (done == n ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

static int write_report(const char *path, json_t *report)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (json_dump_file(report, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) ||
        rename(tmp, path)) {
        unlink(tmp);
        fprintf(stderr, "paw eval: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *suite = NULL, *programs = NULL, *baseline = NULL, *model_arg = "smollm2-135m",
               *json_path = NULL;
    long limit = 0, max_tokens = 64, threads = 0, n_ctx = 0, batch = 4;
    int int8 = 0;
    double progress_s = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); return 0; }
        if (!strcmp(a, "--int8")) { int8 = 1; continue; }
        if (!strcmp(a, "--programs")) programs = v;
        else if (!strcmp(a, "--baseline")) baseline = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_arg = v;
        else if (!strcmp(a, "--json")) json_path = v;
        else if (!strcmp(a, "--limit")) ok = v && (limit = strtol(v, &end, 10)) > 0 && !*end;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens"))
            ok = v && (max_tokens = strtol(v, &end, 10)) > 0 && !*end;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            ok = v && (threads = strtol(v, &end, 10)) >= 0 && threads < 1024 && !*end;
        else if (!strcmp(a, "--progress"))
            ok = v && (progress_s = strtod(v, &end)) >= 0 && progress_s <= 86400 && !*end && end != v;
        else if (!strcmp(a, "--batch")) ok = v && (batch = strtol(v, &end, 10)) >= 1 && batch <= 64 && !*end;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx"))  /* a few-shot prompt of long examples */
            ok = v && (n_ctx = strtol(v, &end, 10)) >= 0 && n_ctx <= (1L << 20) && !*end;
        else if (a[0] == '-' && a[1]) ok = 0;
        else if (suite) { fprintf(stderr, "paw eval: one suite at a time\n%s", usage_text); return 2; }
        else { suite = a; continue; }
        if (!ok || !v) {
            fprintf(stderr, "paw eval: bad or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        }
        i++;
    }
    int kind = 0;
    if (baseline && !strcmp(baseline, "zero-shot")) kind = PAW_BASELINE_ZERO_SHOT;
    else if (baseline && !strcmp(baseline, "few-shot")) kind = PAW_BASELINE_FEW_SHOT;
    else if (baseline) {
        fprintf(stderr, "paw eval: unknown baseline '%s' (zero-shot or few-shot)\n", baseline);
        return 2;
    }
    if (!suite || !!programs == !!kind) { fputs(usage_text, stderr); return 2; }

    paw_suite_task *tasks = NULL;
    size_t n_tasks = 0;
    if (paw_suite_read(suite, &tasks, &n_tasks)) return cli_fail("eval");
    /* Every program must be there before hours of work start. */
    char **paths = calloc(n_tasks, sizeof *paths);
    int rc = paths ? 0 : 1;
    for (size_t t = 0; !rc && programs && t < n_tasks; t++) {
        /* The id becomes a file name: no path separators, no "." or "..",
         * nothing a terminal or a shell would read as more than a name. */
        const char *id = tasks[t].id;
        int bad_id = !id[0] || !strcmp(id, ".") || !strcmp(id, "..") || strlen(id) > 200;
        for (const char *c = id; !bad_id && *c; c++) bad_id = *c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f;
        if (bad_id) {
            fputs("paw eval: task ", stderr);
            cli_put_text(stderr, id, strlen(id));
            fprintf(stderr, " (task %zu): the id cannot name a program file under --programs (it must be a "
                    "plain file name: no '/', not \".\" or \"..\", no control characters)\n", t + 1);
            rc = 1;
            break;
        }
        size_t n = strlen(programs) + strlen(tasks[t].id) + 8;
        paths[t] = malloc(n);
        snprintf(paths[t], n, "%s/%s.paw", programs, tasks[t].id);
        struct stat st;
        if (stat(paths[t], &st) || !S_ISREG(st.st_mode)) {
            fprintf(stderr, "paw eval: task %s: no program %s\n", tasks[t].id, paths[t]);
            rc = 1;
        }
    }
    char model_path[4096];
    paw_model *m = NULL;
    if (!rc && (paw_model_resolve(model_arg, model_path, sizeof model_path) ||
                paw_model_load(model_path, &m)))
        rc = cli_fail("eval");
    json_t *report = json_object(), *jtasks = json_array();
    json_object_set_new(report, "suite", json_string(suite));
    json_object_set_new(report, "model", json_string(model_arg));
    json_object_set_new(report, "mode", json_string(programs ? "programs" : baseline));
    json_object_set_new(report, "max_tokens", json_integer(max_tokens));
    json_object_set_new(report, "limit", json_integer(limit));
    json_object_set_new(report, "tasks", jtasks);

    double sum_em = 0, sum_ms = 0;
    size_t all_n = 0, all_ok = 0, n_errors = 0, n_broken = 0;
    paw_program_opts opts = {.n_threads = (int)threads, .n_ctx = (int32_t)n_ctx, .int8 = int8};
    eval_progress pg = {.tty = isatty(STDERR_FILENO)};
    pg.every_ms = progress_s >= 0 ? progress_s * 1e3 : pg.tty ? 1e3 : 30e3;
    for (size_t t = 0; !rc && t < n_tasks; t++) {
        const paw_suite_task *task = &tasks[t];
        paw_program *p = NULL;
        int orc;
        double t_open = now_ms();
        if (programs) {
            orc = paw_program_open(m, paths[t], &opts, &p);
        } else {
            char *tmpl = NULL;
            size_t len = 0;
            orc = paw_baseline_template(m, task, kind, &tmpl, &len);
            if (!orc) orc = paw_program_open_template(m, tmpl, len, &opts, &p);
            free(tmpl);
        }
        if (orc) {
            /* A broken program fails its own task (every input counts as
             * wrong) and the suite goes on; the exit status says so. */
            fprintf(stderr, "paw eval: task %s: %s\n", task->id, paw_last_error());
            size_t n = task->n_test;
            if (limit && (size_t)limit < n) n = (size_t)limit;
            printf("%-32s %-16s em=%6.2f%% (0/%zu)  error: the program did not open\n", task->id,
                   task->category, 0.0, n);
            fflush(stdout);
            all_n += n;
            n_errors += n;
            n_broken++;
            json_t *jt = json_object();
            json_object_set_new(jt, "id", json_string(task->id));
            json_object_set_new(jt, "category", json_string(task->category));
            json_object_set_new(jt, "n", json_integer((json_int_t)n));
            json_object_set_new(jt, "correct", json_integer(0));
            json_object_set_new(jt, "em", json_real(0));
            json_object_set_new(jt, "error", json_string(paw_last_error()));
            json_array_append_new(jtasks, jt);
            continue;
        }
        /* --batch: more handles of the same program, and inputs in
         * batches through paw_program_call_batch; a row that failed there
         * runs again alone for its own message.  "ms" is then the batch's
         * time divided by its inputs. */
        paw_program *hs[64] = { p };
        int n_h = 1;
        while (n_h < batch && (size_t)n_h < (limit && (size_t)limit < task->n_test ? (size_t)limit : task->n_test)) {
            int hrc;
            if (programs) {
                hrc = paw_program_open(m, paths[t], &opts, &hs[n_h]);
            } else {
                char *tmpl = NULL;
                size_t len = 0;
                hrc = paw_baseline_template(m, task, kind, &tmpl, &len);
                if (!hrc) hrc = paw_program_open_template(m, tmpl, len, &opts, &hs[n_h]);
                free(tmpl);
            }
            if (hrc) break;
            n_h++;
        }
        t_open = now_ms() - t_open;
        size_t n = task->n_test, ok = 0;
        if (limit && (size_t)limit < n) n = (size_t)limit;
        double task_ms = 0;
        json_t *jres = json_array();
        pg.t_start = pg.last = now_ms();
        for (size_t i0 = 0; i0 < n; i0 += (size_t)n_h) {
            const int k = (int)(n - i0 < (size_t)n_h ? n - i0 : (size_t)n_h);
            const char *ins[64];
            size_t lens[64], olens[64];
            char *outs[64];
            int rcs[64];
            for (int j = 0; j < k; j++) ins[j] = task->test[i0 + j].input, lens[j] = strlen(ins[j]);
            double t0 = now_ms();
            int brc = k > 1 ? paw_program_call_batch(hs, ins, lens, k, (int32_t)max_tokens, outs, olens, rcs) : 1;
            double batch_ms = (now_ms() - t0) / k;
            for (int j = 0; j < k; j++) {
                const size_t i = i0 + (size_t)j;
                const paw_program_example *ex = &task->test[i];
                char *out = brc ? NULL : outs[j];
                size_t out_len = brc ? 0 : olens[j];
                int crc = brc ? 1 : rcs[j];
                double ms = batch_ms;
                if (crc) {
                    t0 = now_ms();
                    crc = paw_program_call(p, ex->input, strlen(ex->input), (int32_t)max_tokens, &out, &out_len);
                    ms = now_ms() - t0;
                }
                task_ms += ms;
                int hit = !crc && paw_exact_match(ex->output, out);
                ok += hit;
                json_t *r = json_object();
                json_object_set_new(r, "input", json_string(ex->input));
                json_object_set_new(r, "expected", json_string(ex->output));
                json_object_set_new(r, "output", crc ? json_null() : json_stringn(out, out_len));
                json_object_set_new(r, "ok", json_boolean(hit));
                json_object_set_new(r, "ms", json_real(ms));
                if (crc) {
                    n_errors++;
                    json_object_set_new(r, "error", json_string(paw_last_error()));
                    fprintf(stderr, "paw eval: task %s input %zu: %s\n", task->id, i + 1, paw_last_error());
                }
                json_array_append_new(jres, r);
                free(out);
            }
            progress_report(&pg, task->id, i0 + (size_t)k, n, ok);
        }
        for (int j = 1; j < n_h; j++) paw_program_close(hs[j]);
        paw_program_stats st;
        paw_program_get_stats(p, &st);
        paw_program_close(p);
        double em = n ? 100.0 * ok / n : 0, mean = n ? task_ms / n : 0;
        printf("%-32s %-16s em=%6.2f%% (%zu/%zu)  mean_ms=%.1f  prefix=%d tok (%.0f ms)\n", task->id,
               task->category, em, ok, n, mean, st.n_prefix, t_open);
        fflush(stdout);
        sum_em += em;
        sum_ms += task_ms;
        all_n += n;
        all_ok += ok;
        json_t *jt = json_object();
        json_object_set_new(jt, "id", json_string(task->id));
        json_object_set_new(jt, "category", json_string(task->category));
        json_object_set_new(jt, "n", json_integer((json_int_t)n));
        json_object_set_new(jt, "correct", json_integer((json_int_t)ok));
        json_object_set_new(jt, "em", json_real(em));
        json_object_set_new(jt, "mean_ms", json_real(mean));
        json_object_set_new(jt, "prefix_tokens", json_integer(st.n_prefix));
        json_object_set_new(jt, "open_ms", json_real(t_open));
        json_object_set_new(jt, "results", jres);
        json_array_append_new(jtasks, jt);
    }
    if (!rc) {
        double mean_em = sum_em / (double)n_tasks, mean_ms = all_n ? sum_ms / all_n : 0;
        json_object_set_new(report, "mean_em", json_real(mean_em));
        json_object_set_new(report, "micro_em", json_real(all_n ? 100.0 * all_ok / all_n : 0));
        json_object_set_new(report, "mean_ms", json_real(mean_ms));
        json_object_set_new(report, "errors", json_integer((json_int_t)n_errors));
        if (json_path) rc = write_report(json_path, report);
        printf("overall: %zu tasks, %zu inputs, %zu correct (micro %.2f%%), mean latency %.1f ms/input, "
               "%zu errors\n", n_tasks, all_n, all_ok, all_n ? 100.0 * all_ok / all_n : 0, mean_ms, n_errors);
        printf("mean_em=%.2f\n", mean_em);
        if (n_broken) {
            fprintf(stderr, "paw eval: %zu task(s) failed because their program did not open\n", n_broken);
            rc = 1;
        }
    }
    json_decref(report);
    for (size_t t = 0; paths && t < n_tasks; t++) free(paths[t]);
    free(paths);
    paw_model_free(m);
    paw_suite_free(tasks, n_tasks);
    return rc;
}
