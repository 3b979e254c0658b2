/* cmd_run.c — `paw run PROGRAM [INPUT]`, `paw run --base -m MODEL [INPUT]`.
 *
 * A .paw file is installed into the program cache on first use (unless
 * --no-install), so that its prefix KV persists between runs.
 *
 * With INPUT: prints the output.  Without: reads stdin, one input per line,
 * and writes one output per line, flushed as soon as it is ready, so that
 * `tail -f app.log | paw run triage.paw` works.  Newlines inside an output
 * become spaces there (one line in, one line out); --jsonl gives the exact
 * text: it reads {"input": ...} objects and writes {"input","output","finish",
 * "ms"}.
 * --batch N (default RUN_BATCH_DEFAULT) runs the lines already read, up to
 * N, together (paw_program_call_batch over N handles), printed in order.
 * A line that fails (malformed JSON, an input over the context) gets an
 * error on stderr naming its line number and an empty output line (or an
 * {"line","error"} object), the rest still runs, and the exit status is 1.
 *
 * A closed-label program (meta.json "labels") answers one of its labels;
 * --free decodes freely instead, --scores adds every label's probability
 * (a tab and a JSON object after the output; "scores" in --jsonl), and
 * --min-confidence P prints --fallback TEXT (default "") instead of a label
 * whose probability is below P. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"

/* Lines per batch by default (bench/bench_run_batch.sh measures it). */
#define RUN_BATCH_DEFAULT 4

static const char usage_text[] =
    "usage: paw run [options] PROGRAM [INPUT]\n"
    "       paw run --base [options] [INPUT]\n"
    "  PROGRAM is a .paw file, an alias, an installed program's ID (or unique prefix), or a\n"
    "  hub program: its ID, user/slug, user/slug@vN or an official name (fetched on first use).\n"
    "  Without INPUT, stdin is read: one input per line, one output per line.\n"
    "  -m MODEL            base model (default: the one the program names, pulled on first\n"
    "                      use; smollm2-135m when it names none paw knows)\n"
    "  -n, --max-tokens N  new tokens per output (default 512)\n"
    "  -t, --threads N     threads (default: one per CPU)\n"
    "  -c, --ctx N         context size (default 2048)\n"
    "  --int8              int8 products: faster prompts on AVX-512 VNNI CPUs (elsewhere\n"
    "                      ignored); outputs within float rounding of llama.cpp's, not its bits\n"
    "  --jsonl             stdin holds {\"input\": ...} lines; writes {\"input\",\"output\",\"finish\",\"ms\"}\n"
    "                      (finish: \"stop\", or \"length\" when cut by -n or the context)\n"
    "  --batch N           run up to N stdin lines together in one batched forward pass\n"
    "                      (default 4; 1 = one at a time; outputs are the same, in order)\n"
    "  --base              no program: the bare base model, chat template only\n"
    "  --no-install        do not install a .paw file into the program cache (by default\n"
    "                      it is, so that its prefix KV is cached on disk)\n"
    "  --program P, --input X   the SDK CLI's spellings of PROGRAM and INPUT\n"
    "  closed-label programs (compiled with labels, see paw info):\n"
    "  --free              decode freely instead of within the program's labels\n"
    "  --scores            also print each label's probability (a tab, then a JSON object)\n"
    "  --min-confidence P  abstain when the chosen label's probability is below P:\n"
    "  --fallback TEXT     print TEXT instead (default: an empty line)\n";

/* --scores / --min-confidence / --fallback */
typedef struct label_opts {
    int scores;
    double min_conf;        /* < 0: never abstain */
    const char *fallback;
} label_opts;

/* One call: plain, or with the labels' scores (*scores: a JSON object of
 * label -> probability, NULL when not asked for) and abstention. */
static int call_one(paw_program *p, const label_opts *lo, const char *input, size_t len, int32_t max_tokens,
                    char **out, size_t *out_len, json_t **scores)
{
    *scores = NULL;
    if (!lo->scores && lo->min_conf < 0) return paw_program_call(p, input, len, max_tokens, out, out_len);
    int32_t n = paw_program_n_labels(p), best = 0;
    double *pr = calloc(n > 0 ? (size_t)n : 1, sizeof *pr);
    if (!pr) return PAW_ENOMEM;
    int rc = paw_program_call_scores(p, input, len, pr, &best, out, out_len);
    if (!rc && lo->scores) {
        *scores = json_object();
        for (int32_t i = 0; i < n; i++) json_object_set_new(*scores, paw_program_label(p, i), json_real(pr[i]));
    }
    if (!rc && lo->min_conf >= 0 && pr[best] < lo->min_conf) {
        free(*out);
        *out = strdup(lo->fallback);
        if (!*out) rc = PAW_ENOMEM;
        else if (out_len) *out_len = strlen(*out);
    }
    free(pr);
    return rc;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void print_json_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (s) puts(s);
    else puts("{\"error\":\"cannot encode the output as JSON\"}");
    free(s);
    fflush(stdout);
}

/* "stop" (end of turn) or "length" (max tokens or a full context) for the
 * last call, as OpenAI-style APIs say it.  An output cut by the end of the
 * context is also announced on stderr (lineno 0: the INPUT argument), so
 * that a truncated answer never passes for a whole one. */
static const char *finish_reason(const paw_program *p, size_t lineno)
{
    paw_program_stats st;
    paw_program_get_stats(p, &st);
    if (st.stop_reason == PAW_STOP_CTX_FULL) {
        if (lineno) fprintf(stderr, "paw run: stdin line %zu: ", lineno);
        else fputs("paw run: ", stderr);
        fputs("the output stopped at the end of the context; raise -c/--ctx\n", stderr);
    }
    return st.stop_reason == PAW_STOP_CTX_FULL || st.stop_reason == PAW_STOP_MAX_TOKENS ? "length" : "stop";
}

static void print_scores(json_t *sc)
{
    char *s = sc ? json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    if (s) printf("\t%s", s);
    free(s);
}

/* The input of one stdin line: the line, or with --jsonl its "input"
 * (*req holds the parsed object).  A malformed line returns 1 with the
 * message in msg (print_bad_line reports it). */
static int parse_line(char *line, size_t len, size_t lineno, int jsonl, const char **input, size_t *in_len,
                      json_t **req, char msg[300])
{
    *input = line;
    *in_len = len;
    *req = NULL;
    if (!jsonl) return 0;
    json_error_t je;
    *req = json_loadb(line, len, 0, &je);
    json_t *v = json_is_object(*req) ? json_object_get(*req, "input") : NULL;
    if (!json_is_string(v)) {
        snprintf(msg, 300, "line %zu: %s", lineno, !*req ? je.text : "expected a JSON object with a string \"input\"");
        json_decref(*req);
        *req = NULL;
        return 1;
    }
    *input = json_string_value(v);
    *in_len = json_string_length(v);
    return 0;
}

static int print_bad_line(const char *msg, size_t lineno)
{
    fprintf(stderr, "paw run: stdin %s\n", msg);
    json_t *o = json_pack("{s:I,s:s}", "line", (json_int_t)lineno, "error", msg);
    print_json_line(o);
    json_decref(o);
    return 1;
}

/* Prints one line's result (rc: its call's status, with paw_last_error()
 * its message); returns 0 on success, 1 if the line failed. */
static int print_result(const paw_program *p, const char *input, size_t in_len, int rc, char *out, size_t out_len,
                        json_t *sc, double ms, size_t lineno, int jsonl)
{
    if (rc) fprintf(stderr, "paw run: stdin line %zu: %s\n", lineno, paw_last_error());
    const char *finish = rc ? NULL : finish_reason(p, lineno);
    if (jsonl) {
        json_t *o = json_object();
        json_object_set_new(o, "input", json_stringn(input, in_len));
        if (rc) json_object_set_new(o, "error", json_string(paw_last_error()));
        else json_object_set_new(o, "output", json_stringn(out, out_len));
        if (finish) json_object_set_new(o, "finish", json_string(finish));
        if (sc) json_object_set(o, "scores", sc);
        json_object_set_new(o, "ms", json_real(ms));
        print_json_line(o);
        json_decref(o);
    } else {
        for (size_t i = 0; i < out_len; i++)
            if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
        if (out_len) fwrite(out, 1, out_len, stdout);
        print_scores(sc);
        putchar('\n');
        fflush(stdout);
    }
    return rc ? 1 : 0;
}

/* One stdin line; returns 0 on success, 1 if the line failed. */
static int run_line(paw_program *p, const label_opts *lo, char *line, size_t len, size_t lineno, int jsonl,
                    int32_t max_tokens)
{
    const char *input;
    size_t in_len;
    json_t *req;
    char msg[300];
    if (parse_line(line, len, lineno, jsonl, &input, &in_len, &req, msg)) return print_bad_line(msg, lineno);
    char *out = NULL;
    size_t out_len = 0;
    double t0 = now_ms();
    json_t *sc = NULL;
    int rc = call_one(p, lo, input, in_len, max_tokens, &out, &out_len, &sc);
    rc = print_result(p, input, in_len, rc, out, out_len, sc, now_ms() - t0, lineno, jsonl);
    free(out);
    json_decref(sc);
    json_decref(req);
    return rc;
}

/* ---------------------------------------------------- batched stdin
 * --batch N: up to N lines run as one paw_program_call_batch over N handles
 * of the program (opened as needed), outputs printed in input order.  A
 * batch never waits for lines that have not arrived: it takes the lines
 * already readable, so a slow stream (tail -f) still gets each output as
 * soon as its line is in.  stdin is read with read(2) for that, not stdio. */
typedef struct line_reader {
    char  *buf;
    size_t len, cap, pos;
    int    eof;
} line_reader;

/* 1: *line (malloc'd, no newline) of *n bytes; 0: none readable now (only
 * when !wait); -1: end of input. */
static int next_line(line_reader *r, int wait, char **line, size_t *n)
{
    for (;;) {
        char *nl = r->pos < r->len ? memchr(r->buf + r->pos, '\n', r->len - r->pos) : NULL;
        if (nl || (r->eof && r->pos < r->len)) {
            size_t k = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
            if (!(*line = malloc(k + 1))) return -1;
            memcpy(*line, r->buf + r->pos, k);
            (*line)[k] = 0;
            *n = k;
            r->pos += k + (nl != NULL);
            return 1;
        }
        if (r->eof) return -1;
        if (!wait) {
            struct pollfd pf = { .fd = 0, .events = POLLIN };
            if (poll(&pf, 1, 0) <= 0) return 0;
        }
        if (r->pos) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        if (r->len == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 65536;
            char *b = realloc(r->buf, cap);
            if (!b) return -1;
            r->buf = b;
            r->cap = cap;
        }
        ssize_t got = read(0, r->buf + r->len, r->cap - r->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) r->eof = 1;
        else r->len += (size_t)got;
    }
}

typedef struct run_handles {
    paw_program **h;
    int           n, cap;
    const paw_model *m;
    const char   *program;        /* NULL: --base */
    paw_program_opts opts;
} run_handles;

/* One batch of k lines: parse, run the good ones together, print all in
 * order.  A row that failed is run again alone for its own message. */
static int run_lines(run_handles *hs, char **lines, const size_t *lens, const size_t *linenos, int k, int jsonl,
                     int32_t max_tokens)
{
    const char *in[k], *pin[k];
    size_t in_len[k], plen[k], olen[k];
    json_t *req[k];
    char *out[k], msg[k][300];
    int bad[k], rcs[k], row[k], n = 0, status = 0;
    paw_program *ps[k];
    for (int i = 0; i < k; i++) {
        bad[i] = parse_line(lines[i], lens[i], linenos[i], jsonl, &in[i], &in_len[i], &req[i], msg[i]);
        row[i] = bad[i] ? -1 : n;
        if (!bad[i]) pin[n] = in[i], plen[n] = in_len[i], n++;
    }
    while (hs->n < n) {
        paw_program *p = NULL;
        int rc = hs->program ? paw_program_open(hs->m, hs->program, &hs->opts, &p)
                             : paw_program_open_base(hs->m, &hs->opts, &p);
        if (rc) break;
        hs->h[hs->n++] = p;
    }
    for (int j = 0; j < n; j++) ps[j] = hs->h[j < hs->n ? j : 0];
    double t0 = now_ms();
    /* one line alone: a plain call (it may verify drafts, see paw.h) */
    int brc = n >= 2 && hs->n >= n ? paw_program_call_batch(ps, pin, plen, n, max_tokens, out, olen, rcs) : -1;
    double ms = now_ms() - t0;
    for (int i = 0; i < k; i++) {
        if (bad[i]) { status |= print_bad_line(msg[i], linenos[i]); continue; }
        const int j = row[i];
        paw_program *p = ps[j];
        char *o = brc ? NULL : out[j];
        size_t ol = brc ? 0 : olen[j];
        int rc = brc ? brc : rcs[j];
        if (rc) {   /* alone (a failed row: the same error, now with its message) */
            double t1 = now_ms();
            p = hs->h[0];
            rc = paw_program_call(p, in[i], in_len[i], max_tokens, &o, &ol);
            ms = now_ms() - t1;
        }
        status |= print_result(p, in[i], in_len[i], rc, o, ol, NULL, ms, linenos[i], jsonl);
        free(o);
        json_decref(req[i]);
    }
    return status;
}

static int run_batched(run_handles *hs, int jsonl, int32_t max_tokens)
{
    line_reader r = {0};
    int status = 0, eof = 0;
    size_t lineno = 0;
    char **lines = malloc((size_t)hs->cap * sizeof *lines);
    size_t *lens = malloc((size_t)hs->cap * sizeof *lens), *nos = malloc((size_t)hs->cap * sizeof *nos);
    if (!lines || !lens || !nos) eof = 1, status = 1;
    while (!eof) {
        int k = 0;
        while (k < hs->cap) {
            char *l;
            size_t n;
            int got = next_line(&r, k == 0, &l, &n);
            if (got <= 0) { eof = got < 0; break; }
            lineno++;
            if (n && l[n - 1] == '\r') l[--n] = 0;
            size_t b = 0;
            while (jsonl && b < n && (l[b] == ' ' || l[b] == '\t')) b++;
            if (jsonl && b == n) { free(l); continue; }   /* blank lines separate nothing in JSONL */
            lines[k] = l, lens[k] = n, nos[k] = lineno, k++;
        }
        if (k) status |= run_lines(hs, lines, lens, nos, k, jsonl, max_tokens);
        for (int i = 0; i < k; i++) free(lines[i]);
    }
    free(lines); free(lens); free(nos); free(r.buf);
    return status;
}

int cmd_run(int argc, char **argv)
{
    const char *model_arg = NULL, *program = NULL, *input = NULL;
    long max_tokens = PAW_PROGRAM_MAX_TOKENS, threads = 0, n_ctx = 0, batch = RUN_BATCH_DEFAULT;
    int base = 0, jsonl = 0, no_install = 0, free_dec = 0, int8 = 0;
    label_opts lo = {.min_conf = -1, .fallback = ""};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = (model_arg = v) != NULL;
        else if (!strcmp(a, "--program")) ok = (program = v) != NULL;
        else if (!strcmp(a, "--input")) ok = (input = v) != NULL;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens"))
            ok = v && (max_tokens = strtol(v, &end, 10)) > 0 && !*end && max_tokens < (1L << 30);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            ok = v && (threads = strtol(v, &end, 10)) >= 0 && threads < 1024 && !*end;
        else if (!strcmp(a, "--min-confidence"))
            ok = v && (lo.min_conf = strtod(v, &end)) >= 0 && lo.min_conf <= 1 && !*end;
        else if (!strcmp(a, "--fallback")) ok = (lo.fallback = v) != NULL;
        else if (!strcmp(a, "--batch"))
            ok = v && (batch = strtol(v, &end, 10)) >= 1 && batch <= 64 && !*end;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx"))
            ok = v && (n_ctx = strtol(v, &end, 10)) >= 0 && n_ctx <= (1L << 20) && !*end;
        else {
            takes = 0;
            if (!strcmp(a, "--base")) base = 1;
            else if (!strcmp(a, "--jsonl")) jsonl = 1;
            else if (!strcmp(a, "--no-install")) no_install = 1;
            else if (!strcmp(a, "--free")) free_dec = 1;
            else if (!strcmp(a, "--int8")) int8 = 1;
            else if (!strcmp(a, "--scores")) lo.scores = 1;
            else if (a[0] == '-' && a[1]) ok = 0;
            else if (!program && !base) program = a;
            else if (!input) input = a;
            else { fprintf(stderr, "paw run: too many arguments\n%s", usage_text); return 2; }
        }
        if (!ok) {
            fprintf(stderr, "paw run: bad or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        }
        i += takes;
    }
    if (!base == !program) {
        fprintf(stderr, "paw run: give a PROGRAM or --base\n%s", usage_text);
        return 2;
    }
    if (input && jsonl) {
        fprintf(stderr, "paw run: --jsonl reads stdin; drop INPUT\n");
        return 2;
    }
    if ((lo.scores || lo.min_conf >= 0) && (free_dec || base)) {
        fprintf(stderr, "paw run: --scores and --min-confidence need a program's labels (not --free or --base)\n");
        return 2;
    }
    char path[4096], base_path[4096];
    paw_model *m = NULL;
    paw_program *p = NULL;
    paw_program_opts opts = {.n_threads = (int)threads, .n_ctx = (int32_t)n_ctx, .no_fetch = 1,
                             .free_decoding = free_dec, .int8 = int8};
    /* A .paw file is installed on first use, as the SDK caches the programs
     * it runs: the install is content-addressed and idempotent, and it gives
     * the prefix KV a home on disk, so the next `paw run` of the same file
     * skips the prefix evaluation.  Any other PROGRAM is fetched here (a
     * no-op for an installed one), with progress bars, before the model
     * loads. */
    char id[PAW_PROGRAM_ID_LEN + 1];
    paw_program_ref ref;
    int is_file = !base && !paw_program_resolve(program, &ref) && ref.is_file;
    if (is_file && !no_install && !ref.dir[0] && !paw_program_install_file(program, NULL, id))
        program = id;
    else if (!base && !is_file) {
        if (cli_fetch_program("run", program, id, NULL, 0)) return 1;
        program = id;
    }
    if (!model_arg && !base) {
        /* The program's own base, pulled on first use. */
        cli_bar mb = { .name = "base model", .tty = isatty(2) };
        int rc = paw_program_base_model(program, 1, cli_progress, &mb, base_path, sizeof base_path);
        if (mb.drawn) fputc('\n', stderr);
        if (rc == PAW_OK) model_arg = base_path;
        else if (rc != PAW_EUNSUPPORTED) return cli_fail("run");
    }
    if (!model_arg) model_arg = "smollm2-135m";
    if (paw_model_resolve(model_arg, path, sizeof path) || paw_model_load(path, &m)) return cli_fail("run");
    int rc = base ? paw_program_open_base(m, &opts, &p) : paw_program_open(m, program, &opts, &p);
    if (rc) {
        cli_fail("run");
        paw_model_free(m);
        return 1;
    }
    int status = 0;
    if ((lo.scores || lo.min_conf >= 0) && !paw_program_n_labels(p)) {
        fprintf(stderr, "paw run: --scores and --min-confidence need a closed-label program; this one has no "
                "labels (meta.json \"labels\")\n");
        status = 2;
    } else if (input) {
        char *out = NULL;
        size_t out_len = 0;
        json_t *sc = NULL;
        if (call_one(p, &lo, input, strlen(input), (int32_t)max_tokens, &out, &out_len, &sc)) {
            status = cli_fail("run");
        } else {
            fwrite(out, 1, out_len, stdout);
            print_scores(sc);
            putchar('\n');
            finish_reason(p, 0);
        }
        json_decref(sc);
        free(out);
    } else if (batch > 1 && !lo.scores && lo.min_conf < 0) {
        paw_program *hv[64] = { p };
        run_handles hs = { hv, 1, (int)batch, m, base ? NULL : program, opts };
        status = run_batched(&hs, jsonl, (int32_t)max_tokens);
        for (int i = 1; i < hs.n; i++) paw_program_close(hv[i]);
    } else {
        char *line = NULL;
        size_t cap = 0, lineno = 0;
        ssize_t got;
        while ((got = getline(&line, &cap, stdin)) >= 0) {
            size_t len = (size_t)got;
            lineno++;
            if (len && line[len - 1] == '\n') len--;
            if (len && line[len - 1] == '\r') len--;
            if (jsonl) {
                size_t k = 0;
                while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
                if (k == len) continue;  /* blank lines separate nothing in JSONL */
            }
            status |= run_line(p, &lo, line, len, lineno, jsonl, (int32_t)max_tokens);
        }
        free(line);
    }
    paw_program_close(p);
    paw_model_free(m);
    return status;
}
