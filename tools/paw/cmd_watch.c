/* cmd_watch.c — `paw watch FILE... --program P`: event-driven log monitoring.
 *
 * Follows the files like `tail -F` (follow.c), drops lines with a cheap
 * regex prefilter (--focus / --ignore, PCRE2), runs the program on each new
 * line (or on the last --window lines of its file joined by newlines, cut to
 * the last --max-chars bytes), and reports a line as an alert when the
 * program's output is the alert label.  Alerts go to stdout as text or JSON
 * lines and, with --exec, to a hook command.  --stall raises an alarm after
 * that many seconds without a new line in any file (a silent log is often
 * the outage: the seed's lesson that stall detection needs a timer, not a
 * classifier).
 *
 * The hook: `/bin/sh -c CMD` with the event in its environment
 * (PAW_ALERT_KIND alert|stall, PAW_ALERT_FILE, PAW_ALERT_LINE,
 * PAW_ALERT_OUTPUT, PAW_ALERT_TIME) and as one JSON line on stdin.  The log
 * text is never put into the command line, so a hostile log line cannot run
 * anything.  At most MAX_HOOKS run at once; the watcher waits for them all
 * before it exits. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "cli.h"
#include "follow.h"

extern char **environ;

enum { MAX_HOOKS = 4, MAX_WINDOW = 64 };

static const char usage_text[] =
    "usage: paw watch FILE... --program P [options]\n"
    "  Follows FILEs like tail -F and runs program P on each new line; reports\n"
    "  the lines whose output is the alert label.  Runs until SIGINT/SIGTERM.\n"
    "  --program P         a .paw file, an alias, or an installed program ID\n"
    "  -m MODEL            base model (default smollm2-135m)\n"
    "  --focus REGEX       classify only lines matching REGEX (PCRE2)\n"
    "  --ignore REGEX      never classify lines matching REGEX\n"
    "  --window N          classify the last N (kept) lines of the file, joined (default 1)\n"
    "  --max-chars N       program input keeps its last N bytes (default 1000)\n"
    "  --alert-label L     output that makes an alert, any case (default ALERT)\n"
    "  --json              one JSON object per event on stdout\n"
    "  --int8              int8 products (paw run --int8)\n"
    "  --all               report every classified line, not only alerts\n"
    "  --exec CMD          run `sh -c CMD` per alert; event in PAW_ALERT_* env vars and stdin\n"
    "  --stall SECONDS     alarm after SECONDS without a new line in any file\n"
    "  --from-start        read the files' existing lines first (default: only new lines)\n"
    "  --once              read what the files hold now, then exit (implies --from-start)\n"
    "  --poll MS           how often to look at the files (default 200)\n"
    "  -n, --max-tokens N  output tokens per line (default 16)\n"
    "  -t, --threads N     threads (default: one per CPU)\n";

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

typedef struct {
    paw_program *prog;
    int32_t max_tokens;
    pcre2_code *focus, *ignore;
    pcre2_match_data *md;
    const char *label, *hook;
    int json, all, window;
    size_t max_chars;
    /* per file: the last `window` kept lines (ring), for --window > 1 */
    const char *const *paths;
    size_t n_paths;
    char **ring;           /* n_paths * window strings                     */
    size_t *ring_n;        /* lines in each file's ring                    */
    char *joined;
    pid_t hooks[MAX_HOOKS];
    int n_hooks;
    double last_line_ms;
    int stalled, failed;
    size_t n_seen, n_classified, n_alerts;
} watch_state;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void utc_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void reap_hooks(watch_state *w, int block)
{
    for (int i = 0; i < w->n_hooks;) {
        int st;
        pid_t r = waitpid(w->hooks[i], &st, block ? 0 : WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) { i++; continue; }
        if (r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fprintf(stderr, "paw watch: --exec hook (pid %ld) failed with status %d\n", (long)r,
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        w->hooks[i] = w->hooks[--w->n_hooks];
    }
}

/* Runs the hook with the event in env vars and as JSON on stdin (a
 * temporary file, so a hook that never reads stdin cannot block us). */
static void run_hook(watch_state *w, const char *kind, const char *file, const char *line,
                     const char *output, const char *when, const char *payload)
{
    while (w->n_hooks >= MAX_HOOKS) reap_hooks(w, 1);
    FILE *in = tmpfile();
    if (!in) { fprintf(stderr, "paw watch: --exec: cannot make a temporary file\n"); return; }
    fputs(payload, in);
    fputc('\n', in);
    fflush(in);
    rewind(in);
    size_t n_env = 0;
    while (environ[n_env]) n_env++;
    char **env = calloc(n_env + 6, sizeof *env);
    char *own[5] = {0};
    const char *names[5] = {"PAW_ALERT_KIND", "PAW_ALERT_FILE", "PAW_ALERT_LINE", "PAW_ALERT_OUTPUT",
                            "PAW_ALERT_TIME"};
    const char *vals[5] = {kind, file, line, output, when};
    size_t k = 0;
    int ok = env != NULL;
    for (size_t i = 0; ok && i < n_env; i++)
        if (strncmp(environ[i], "PAW_ALERT_", 10)) env[k++] = environ[i];
    for (int i = 0; ok && i < 5; i++) {
        size_t len = strlen(names[i]) + strlen(vals[i]) + 2;
        if (!(own[i] = malloc(len))) { ok = 0; break; }
        snprintf(own[i], len, "%s=%s", names[i], vals[i]);
        env[k++] = own[i];
    }
    posix_spawn_file_actions_t fa;
    pid_t pid;
    if (ok && !posix_spawn_file_actions_init(&fa)) {
        posix_spawn_file_actions_adddup2(&fa, fileno(in), 0);
        char *argv[] = {"sh", "-c", (char *)w->hook, NULL};
        int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
        if (rc) fprintf(stderr, "paw watch: --exec: cannot start /bin/sh: %s\n", strerror(rc));
        else w->hooks[w->n_hooks++] = pid;
        posix_spawn_file_actions_destroy(&fa);
    } else {
        fprintf(stderr, "paw watch: --exec: out of memory\n");
    }
    for (int i = 0; i < 5; i++) free(own[i]);
    free(env);
    fclose(in);
}

/* Emits one event: stdout (text or JSON) and, for alerts and stalls, the
 * hook.  o is the event's JSON object (consumed). */
static void emit(watch_state *w, json_t *o, const char *kind, int alert, const char *file,
                 const char *line, const char *output)
{
    char when[32];
    utc_now(when);
    json_object_set_new(o, "time", json_string(when));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (w->json) {
        if (s) puts(s);
    } else if (!strcmp(kind, "stall")) {
        printf("STALL %s\n", line);
    } else {
        /* one event, one line: the output's own newlines become spaces */
        for (const char *c = output; *c; c++) putchar(*c == '\n' || *c == '\r' ? ' ' : *c);
        printf(" %s: %s\n", file, line);
    }
    fflush(stdout);
    if (alert && w->hook && s) run_hook(w, kind, file, line, output, when, s);
    free(s);
    json_decref(o);
}

static int matches(watch_state *w, pcre2_code *re, const char *s, size_t n)
{
    return pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, w->md, NULL) >= 0;
}

static int is_label(const char *out, const char *label)
{
    return !strcasecmp(out, label);
}

/* The program's input for this line: the line, or with --window the file's
 * last lines joined; either way its last max_chars bytes. */
static const char *window_input(watch_state *w, const char *path, const char *line, size_t len,
                                size_t *in_len)
{
    const char *in = line;
    size_t n = len;
    if (w->window > 1) {
        size_t fi = 0;
        while (fi < w->n_paths && strcmp(w->paths[fi], path)) fi++;
        char **ring = w->ring + fi * (size_t)w->window;
        if (w->ring_n[fi] == (size_t)w->window) {
            free(ring[0]);
            memmove(ring, ring + 1, (size_t)(w->window - 1) * sizeof *ring);
            w->ring_n[fi]--;
        }
        ring[w->ring_n[fi]] = strndup(line, len);
        if (!ring[w->ring_n[fi]]) return NULL;
        w->ring_n[fi]++;
        size_t o = 0;
        for (size_t i = 0; i < w->ring_n[fi]; i++) {
            size_t l = strlen(ring[i]);
            if (i) w->joined[o++] = '\n';
            memcpy(w->joined + o, ring[i], l);
            o += l;
        }
        w->joined[o] = 0;
        in = w->joined;
        n = o;
    }
    if (n > w->max_chars) {
        size_t start = n - w->max_chars;
        while (start < n && ((unsigned char)in[start] & 0xC0) == 0x80) start++;
        in += start;
        n -= start;
    }
    *in_len = n;
    return in;
}

static void on_line(void *ud, const char *path, const char *line, size_t len, int capped)
{
    watch_state *w = ud;
    if (g_stop) return;  /* SIGINT/SIGTERM: stop now, not after a backlog */
    w->n_seen++;
    w->last_line_ms = now_ms();
    w->stalled = 0;
    if (strspn(line, " \t\r\f\v") == len) return;  /* nothing to classify */
    if (w->focus && !matches(w, w->focus, line, len)) return;
    if (w->ignore && matches(w, w->ignore, line, len)) return;
    size_t in_len = 0;
    const char *in = window_input(w, path, line, len, &in_len);
    if (!in) { fprintf(stderr, "paw watch: out of memory\n"); w->failed = 1; return; }
    char *out = NULL;
    double t0 = now_ms();
    if (paw_program_call(w->prog, in, in_len, w->max_tokens, &out, NULL)) {
        fprintf(stderr, "paw watch: %s: %s\n", path, paw_last_error());
        w->failed = 1;
        return;
    }
    double ms = now_ms() - t0;
    w->n_classified++;
    int alert = is_label(out, w->label);
    w->n_alerts += alert;
    if (alert || w->all) {
        json_t *o = json_object();
        json_object_set_new(o, "event", json_string(alert ? "alert" : "line"));
        json_object_set_new(o, "file", json_string(path));
        json_object_set_new(o, "line", json_stringn(line, len));
        if (w->window > 1) json_object_set_new(o, "input", json_stringn(in, in_len));
        if (capped) json_object_set_new(o, "capped", json_true());
        json_object_set_new(o, "output", json_string(out));
        json_object_set_new(o, "ms", json_real(ms));
        emit(w, o, "alert", alert, path, line, out);
    }
    free(out);
}

static void on_note(void *ud, const char *path, const char *what)
{
    (void)ud;
    fprintf(stderr, "paw watch: %s: %s\n", path, what);
}

static pcre2_code *compile_re(const char *opt, const char *pattern)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fprintf(stderr, "paw watch: %s: bad regex at offset %zu: %s\n", opt, (size_t)off, (char *)msg);
    }
    return re;
}

static void check_stall(watch_state *w, double stall_s)
{
    if (stall_s <= 0 || w->stalled || now_ms() - w->last_line_ms < stall_s * 1e3) return;
    w->stalled = 1;
    char text[128];
    snprintf(text, sizeof text, "no new lines for %g s", stall_s);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("stall"));
    json_object_set_new(o, "seconds", json_real(stall_s));
    json_object_set_new(o, "line", json_string(text));
    emit(w, o, "stall", 1, "", text, "");
}

int cmd_watch(int argc, char **argv)
{
    const char *model_arg = "smollm2-135m", *program = NULL, *focus = NULL, *ignore = NULL;
    watch_state w = {.label = "ALERT", .window = 1, .max_chars = 1000, .max_tokens = 16};
    double stall_s = 0, poll_ms = 200, num;
    long threads = 0;
    int from_start = 0, once = 0, int8 = 0;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    size_t n_paths = 0;
    if (!paths) { fprintf(stderr, "paw watch: out of memory\n"); return 1; }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); free(paths); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = (model_arg = v) != NULL;
        else if (!strcmp(a, "--program")) ok = (program = v) != NULL;
        else if (!strcmp(a, "--focus")) ok = (focus = v) != NULL;
        else if (!strcmp(a, "--ignore")) ok = (ignore = v) != NULL;
        else if (!strcmp(a, "--alert-label")) ok = (w.label = v) != NULL && *v;
        else if (!strcmp(a, "--exec")) ok = (w.hook = v) != NULL && *v;
        else if (!strcmp(a, "--window")) ok = v && cli_num_arg(v, 1, MAX_WINDOW, &num) && (w.window = (int)num) == num;
        else if (!strcmp(a, "--max-chars"))
            ok = v && cli_num_arg(v, 16, 1 << 20, &num) && (w.max_chars = (size_t)num) == num;
        else if (!strcmp(a, "--stall")) ok = v && cli_num_arg(v, 0.001, 1e9, &stall_s);
        else if (!strcmp(a, "--poll")) ok = v && cli_num_arg(v, 1, 60000, &poll_ms);
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens"))
            ok = v && cli_num_arg(v, 1, 1 << 20, &num) && (w.max_tokens = (int32_t)num) == num;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            ok = v && cli_num_arg(v, 0, 1023, &num) && (threads = (long)num) == num;
        else {
            takes = 0;
            if (!strcmp(a, "--json")) w.json = 1;
            else if (!strcmp(a, "--int8")) int8 = 1;
            else if (!strcmp(a, "--all")) w.all = 1;
            else if (!strcmp(a, "--from-start")) from_start = 1;
            else if (!strcmp(a, "--once")) once = from_start = 1;
            else if (a[0] == '-' && a[1]) ok = 0;
            else paths[n_paths++] = a;
        }
        if (!ok) {
            fprintf(stderr, "paw watch: bad or incomplete option '%s'\n%s", a, usage_text);
            free(paths);
            return 2;
        }
        i += takes;
    }
    if (!program || !n_paths) {
        fprintf(stderr, "paw watch: give at least one FILE and --program P\n%s", usage_text);
        free(paths);
        return 2;
    }
    int status = 2;
    paw_model *m = NULL;
    cli_follow *fol = NULL;
    w.paths = paths;
    w.n_paths = n_paths;
    if ((focus && !(w.focus = compile_re("--focus", focus))) ||
        (ignore && !(w.ignore = compile_re("--ignore", ignore))))
        goto done;
    status = 1;
    w.md = pcre2_match_data_create(4, NULL);
    w.ring = calloc(n_paths * (size_t)w.window, sizeof *w.ring);
    w.ring_n = calloc(n_paths, sizeof *w.ring_n);
    w.joined = malloc((size_t)w.window * (w.max_chars + 1) + 1);
    if (!w.md || !w.ring || !w.ring_n || !w.joined) { fprintf(stderr, "paw watch: out of memory\n"); goto done; }
    char path[4096];
    if (paw_model_resolve(model_arg, path, sizeof path) || paw_model_load(path, &m)) {
        cli_fail("watch");
        goto done;
    }
    /* A .paw file is installed on first use, as `paw run` does, so that its
     * prefix KV is cached on disk between runs. */
    char id[PAW_PROGRAM_ID_LEN + 1];
    paw_program_ref ref;
    if (!paw_program_resolve(program, &ref) && ref.is_file && !ref.dir[0] &&
        !paw_program_install_file(program, NULL, id))
        program = id;
    paw_program_opts opts = {.n_threads = (int)threads, .int8 = int8};
    if (paw_program_open(m, program, &opts, &w.prog)) { cli_fail("watch"); goto done; }
    /* the follower keeps a line's last max_chars bytes: all the input keeps */
    fol = cli_follow_new(paths, n_paths, w.max_chars, from_start, on_line, on_note, &w);
    if (!fol) { fprintf(stderr, "paw watch: out of memory\n"); goto done; }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    w.last_line_ms = now_ms();
    double t0 = now_ms();
    while (!g_stop) {
        cli_follow_poll(fol, once);
        if (once) break;
        check_stall(&w, stall_s);
        reap_hooks(&w, 0);
        struct timespec ts = {(time_t)(poll_ms / 1e3), (long)(poll_ms - (time_t)(poll_ms / 1e3) * 1e3) * 1000000L};
        nanosleep(&ts, NULL);  /* a signal ends it early */
    }
    double secs = (now_ms() - t0) / 1e3;
    fprintf(stderr, "paw watch: %zu lines, %zu classified, %zu alerts in %.1f s (%.1f classified lines/s)\n",
            w.n_seen, w.n_classified, w.n_alerts, secs, secs > 0 ? w.n_classified / secs : 0.0);
    status = w.failed;
done:
    reap_hooks(&w, 1);
    cli_follow_free(fol);
    paw_program_close(w.prog);
    paw_model_free(m);
    for (size_t i = 0; w.ring && i < n_paths * (size_t)w.window; i++) free(w.ring[i]);
    free(w.ring);
    free(w.ring_n);
    free(w.joined);
    pcre2_match_data_free(w.md);
    pcre2_code_free(w.focus);
    pcre2_code_free(w.ignore);
    free(paths);
    return status;
}
