/* test_watch.c — `paw watch`, driving the real binary ($PAW_BIN) on files in
 * a scratch directory: the regex prefilter, rotation by rename, truncation
 * (shorter, and rewritten to the same length), a file that appears later or
 * is deleted and recreated, capped long lines, the stall alarm, the --exec
 * hook (hostile log text reaches it only as data) and usage errors.
 *
 * The program: a 2-step compile on the tiny stories260K fixture (fast under
 * sanitizers too) whose template is then replaced by the bare input, so the
 * output (3 tokens of story continuation) differs from line to line.  The
 * reference for what the watcher must report for a line is the library's
 * own program runtime called in this process on that line (the watcher is a
 * different client of it), and the alert label of a test is picked from
 * those reference outputs. */
#include <ctype.h>
#include <glob.h>
#include <signal.h>
#include <strings.h>
#include <spawn.h>
#include <time.h>
#include <jansson.h>
#include "bundle_fixtures.h"

extern char **environ;

#define NTOK "3"
static char g_prog[600];     /* the .paw under g_tmp                           */
static paw_model *g_model;
static paw_bundle *g_bundle;
static pid_t g_live;         /* a watcher still running (killed at teardown if a test failed) */

static const char *paw_bin(void)
{
    const char *b = getenv("PAW_BIN");
    return b ? b : "./build/paw";
}

static const char *stories(void) { return tu_shared("fixtures/stories260k/stories260K.gguf"); }

/* What the program outputs for line (malloc'd): the oracle. */
static char *expect_out(const char *line)
{
    paw_program_opts o = {.n_threads = 1, .no_disk_cache = 1};
    paw_program *p = NULL;
    if (paw_program_open_bundle(g_model, g_bundle, &o, &p)) fail_msg("open: %s", paw_last_error());
    char *out = NULL;
    if (paw_program_call(p, line, strlen(line), atoi(NTOK), &out, NULL))
        fail_msg("call: %s", paw_last_error());
    paw_program_close(p);
    return out;
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int watch_setup(void **state)
{
    if (setup(state)) return -1;
    FILE *f = fopen(tpath("ex.jsonl"), "w");
    if (!f) return -1;
    fputs("{\"input\":\"disk full\",\"output\":\"ALERT\"}\n{\"input\":\"user login\",\"output\":\"QUIET\"}\n"
          "{\"input\":\"kernel panic\",\"output\":\"ALERT\"}\n{\"input\":\"cache hit\",\"output\":\"QUIET\"}\n", f);
    fclose(f);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s compile 'Label ALERT or QUIET' --examples %s -m %s --steps 2 -t 1 -o %s "
             ">/dev/null 2>%s", paw_bin(), tpath("ex.jsonl"), stories(), tpath("c.paw"), tpath("c.err"));
    if (sh(cmd)) return -1;
    paw_bundle *b = NULL;
    if (paw_bundle_read(tpath("c.paw"), &b)) return -1;
    free(b->prompt_template);
    b->prompt_template = strdup(PAW_PROGRAM_PLACEHOLDER);
    b->prompt_template_len = strlen(b->prompt_template);
    snprintf(g_prog, sizeof g_prog, "%s", tpath("w.paw"));
    if (paw_bundle_write(b, g_prog)) return -1;
    g_bundle = b;
    return paw_model_load(stories(), &g_model) ? -1 : 0;
}

static int watch_teardown(void **state)
{
    if (g_live > 0) {
        kill(g_live, SIGKILL);
        waitpid(g_live, NULL, 0);
    }
    paw_bundle_free(g_bundle);
    paw_model_free(g_model);
    g_bundle = NULL;
    g_model = NULL;
    return teardown(state);
}

static void write_file(const char *name, const char *mode, const char *text)
{
    FILE *f = fopen(tpath(name), mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Starts `paw watch ARGS` in g_tmp, stdout/stderr into out.txt/err.txt. */
static pid_t start_watch(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && exec %s watch %s --program %s -m %s -n " NTOK " -t 1 >out.txt 2>err.txt",
             g_tmp, paw_bin(), args, g_prog, stories());
    char *argv[] = {"sh", "-c", cmd, NULL};
    pid_t pid;
    /* an earlier watcher's output must not be read as this one's */
    unlink(tpath("out.txt"));
    unlink(tpath("err.txt"));
    assert_int_equal(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
    g_live = pid;
    return pid;
}

/* Waits for a --once watcher; its exit status. */
static int wait_watch(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    g_live = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int stop_watch(pid_t pid)
{
    kill(pid, SIGTERM);
    return wait_watch(pid);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The JSON events in out.txt. */
static json_t *events(void)
{
    json_t *a = json_array();
    char *s = tu_read_file(tpath("out.txt"), NULL);
    for (char *line = s ? strtok(s, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o) fail_msg("not JSON: %s", line);
        json_array_append_new(a, o);
    }
    free(s);
    return a;
}

/* Waits (up to 60 s: the machine may be busy) until out.txt holds n events. */
static json_t *wait_events(size_t n)
{
    double t0 = now_s();
    for (;;) {
        json_t *a = events();
        if (json_array_size(a) >= n || now_s() - t0 > 60) return a;
        json_decref(a);
        nap(20);
    }
}

static int file_has(const char *name, const char *needle)
{
    char *s = tu_read_file(tpath(name), NULL);
    int r = s && strstr(s, needle);
    free(s);
    return r;
}

static void wait_stderr(const char *needle)
{
    double t0 = now_s();
    while (!file_has("err.txt", needle)) {
        if (now_s() - t0 > 60) fail_msg("no '%s' on the watcher's stderr", needle);
        nap(20);
    }
}

static const char *ev_str(json_t *a, size_t i, const char *key)
{
    const char *s = json_string_value(json_object_get(json_array_get(a, i), key));
    if (!s) fail_msg("event %zu has no string %s", i, key);
    return s;
}

/* Event i reports line with the reference output. */
static void check_line_event(json_t *a, size_t i, const char *line)
{
    assert_string_equal(ev_str(a, i, "line"), line);
    char *want = expect_out(line);
    assert_string_equal(ev_str(a, i, "output"), want);
    free(want);
}

/* --once --from-start: the prefilter, CRLF, invalid UTF-8, a last line
 * without a newline, blank lines; then the alert rule on its own. */
static void test_once_prefilter(void **state)
{
    (void)state;
    write_file("a.log", "w", "keep one\r\nkeep but drop this\n\nskip me\nkeep \xff bad byte\n   \nlast keep");
    char args[512];
    snprintf(args, sizeof args, "a.log --once --all --json --focus 'keep' --ignore 'drop'");
    pid_t pid = start_watch(args);
    assert_int_equal(wait_watch(pid), 0);
    json_t *a = events();
    assert_int_equal(json_array_size(a), 3);
    check_line_event(a, 0, "keep one");
    check_line_event(a, 1, "keep \xEF\xBF\xBD bad byte");
    check_line_event(a, 2, "last keep");
    assert_true(file_has("err.txt", "7 lines, 3 classified"));
    json_decref(a);

    /* Without --all only lines whose output is the label (any case) are
     * reported; the label is one line's reference output, upper-cased. */
    const char *lines[] = {"Lily", "hello world", "The dog", "x"};
    write_file("b.log", "w", "Lily\nhello world\nThe dog\nx\n");
    char *outs[4], label[128];
    for (int i = 0; i < 4; i++) outs[i] = expect_out(lines[i]);
    snprintf(label, sizeof label, "%s", outs[2]);
    for (char *c = label; *c; c++) *c = (char)toupper((unsigned char)*c);
    snprintf(args, sizeof args, "b.log --once --json --alert-label '%s'", label);
    pid = start_watch(args);
    assert_int_equal(wait_watch(pid), 0);
    a = events();
    size_t k = 0;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(outs[i], label)) {
            assert_true(k < json_array_size(a));
            assert_string_equal(ev_str(a, k, "event"), "alert");
            check_line_event(a, k++, lines[i]);
        }
    assert_int_equal(json_array_size(a), k);
    assert_true(k >= 1);
    json_decref(a);
    for (int i = 0; i < 4; i++) free(outs[i]);
}

/* Following: only new lines; rotation by rename (lines written just before
 * it kept); truncation to a shorter file and rewrite to the same length; a
 * file that appears later, is deleted and recreated; a long line capped to
 * its last 1000 bytes. */
static void test_follow_rotation_truncation(void **state)
{
    (void)state;
    write_file("a.log", "w", "old line, there before the watcher\n");
    pid_t pid = start_watch("a.log later.log --all --json --poll 20");
    /* later.log's note comes from the first poll: the watcher is reading */
    wait_stderr("later.log: cannot open");
    write_file("a.log", "a", "alpha\n");
    json_t *a = wait_events(1);
    assert_int_equal(json_array_size(a), 1);
    check_line_event(a, 0, "alpha");
    json_decref(a);

    write_file("a.log", "a", "beta\n");
    assert_int_equal(rename(tpath("a.log"), tpath("a.log.1")), 0);
    write_file("a.log", "w", "gamma\n");
    a = wait_events(3);
    assert_int_equal(json_array_size(a), 3);
    check_line_event(a, 1, "beta");
    check_line_event(a, 2, "gamma");
    json_decref(a);

    write_file("a.log", "w", "d\n");             /* truncated, shorter */
    a = wait_events(4);
    assert_int_equal(json_array_size(a), 4);
    check_line_event(a, 3, "d");
    json_decref(a);
    nap(100);                                    /* a later mtime */
    write_file("a.log", "w", "f\n");             /* same length, rewritten */
    a = wait_events(5);
    assert_int_equal(json_array_size(a), 5);
    check_line_event(a, 4, "f");
    json_decref(a);

    write_file("later.log", "w", "late one\n");
    a = wait_events(6);
    assert_int_equal(json_array_size(a), 6);
    check_line_event(a, 5, "late one");
    assert_string_equal(ev_str(a, 5, "file"), "later.log");
    json_decref(a);
    assert_int_equal(unlink(tpath("later.log")), 0);
    wait_stderr("later.log: has been removed");
    write_file("later.log", "w", "late two\n");
    a = wait_events(7);
    assert_int_equal(json_array_size(a), 7);
    check_line_event(a, 6, "late two");
    json_decref(a);

    size_t big = 100000;
    char *longline = malloc(big + 2);
    memset(longline, 'x', big);
    memcpy(longline + big - 8, " the end", 8);
    longline[big] = '\n';
    longline[big + 1] = 0;
    write_file("a.log", "a", longline);
    a = wait_events(8);
    assert_int_equal(json_array_size(a), 8);
    longline[big] = 0;
    check_line_event(a, 7, longline + big - 1000);
    assert_true(json_is_true(json_object_get(json_array_get(a, 7), "capped")));
    json_decref(a);
    free(longline);

    assert_int_equal(stop_watch(pid), 0);
    assert_true(file_has("err.txt", "a.log: has been"));  /* replaced, or removed then appeared */
    assert_true(file_has("err.txt", "a.log: file truncated"));
    assert_true(file_has("err.txt", "later.log: has appeared"));
    assert_false(file_has("out.txt", "old line"));
}

/* --stall: one alarm per silence, to stdout and to the hook, re-armed by a
 * new line. */
static void test_stall(void **state)
{
    (void)state;
    write_file("s.log", "w", "");
    setenv("HOOK_DIR", g_tmp, 1);
    pid_t pid = start_watch("s.log --json --stall 0.3 --poll 20 "
                            "--exec 'echo \"$PAW_ALERT_KIND $PAW_ALERT_LINE\" >> \"$HOOK_DIR/hook.txt\"'");
    json_t *a = wait_events(1);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(ev_str(a, 0, "event"), "stall");
    assert_string_equal(ev_str(a, 0, "line"), "no new lines for 0.3 s");
    json_decref(a);
    nap(900);                                    /* still silent: no second alarm */
    a = events();
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
    /* The line re-arms the alarm; it is an alert itself when the program
     * labels it ALERT (the runtime in this process says whether). */
    char *label = expect_out("a line");
    const int alert = strcmp(label, "ALERT") == 0;
    free(label);
    write_file("s.log", "a", "a line\n");
    a = wait_events(2 + alert);
    assert_int_equal(json_array_size(a), 2 + alert);
    if (alert) assert_string_equal(ev_str(a, 1, "event"), "alert");
    assert_string_equal(ev_str(a, 1 + alert, "event"), "stall");
    json_decref(a);
    assert_int_equal(stop_watch(pid), 0);
    char *h = tu_read_file(tpath("hook.txt"), NULL);
    assert_non_null(h);
    assert_string_equal(h, alert ? "stall no new lines for 0.3 s\nalert a line\nstall no new lines for 0.3 s\n"
                                 : "stall no new lines for 0.3 s\nstall no new lines for 0.3 s\n");
    free(h);
}

/* --exec: hostile text reaches the hook only as data (env var, stdin JSON);
 * nothing in it is run. */
static void test_exec_hook(void **state)
{
    (void)state;
    const char *hostile = "$(touch PWNED1); touch PWNED2 `touch PWNED3` 'q\" \\ && touch PWNED4";
    char *label = expect_out(hostile);
    const char *others[] = {"Lily", "hello world", "The dog"};
    size_t n_alerts = 1;
    for (int i = 0; i < 3; i++) {
        char *o = expect_out(others[i]);
        n_alerts += !strcasecmp(o, label);
        free(o);
    }
    char text[512];
    snprintf(text, sizeof text, "Lily\n%s\nhello world\nThe dog\n", hostile);
    write_file("h.log", "w", text);
    setenv("HOOK_DIR", g_tmp, 1);
    char args[1024];
    snprintf(args, sizeof args,
             "h.log --once --alert-label \"$LABEL\" --exec 'printf %%s \"$PAW_ALERT_LINE\" > \"$HOOK_DIR/env.$$\"; "
             "cat > \"$HOOK_DIR/stdin.$$\"; printf %%s \"$PAW_ALERT_KIND|$PAW_ALERT_OUTPUT|$PAW_ALERT_FILE\" > "
             "\"$HOOK_DIR/meta.$$\"'");
    setenv("LABEL", label, 1);  /* any quotes in it stay data */
    pid_t pid = start_watch(args);
    assert_int_equal(wait_watch(pid), 0);
    /* the hook ran once per alert; find the hostile line's run */
    glob_t g;
    char pat[600];
    snprintf(pat, sizeof pat, "%s/env.*", g_tmp);
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, n_alerts);
    int found = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *env = tu_read_file(g.gl_pathv[i], NULL);
        if (env && !strcmp(env, hostile)) {
            found = 1;
            const char *pidpart = strrchr(g.gl_pathv[i], '.');
            char p2[700];
            snprintf(p2, sizeof p2, "%s/stdin%s", g_tmp, pidpart);
            char *in = tu_read_file(p2, NULL);
            json_error_t e;
            json_t *o = in ? json_loads(in, 0, &e) : NULL;
            assert_non_null(o);
            assert_string_equal(json_string_value(json_object_get(o, "line")), hostile);
            assert_string_equal(json_string_value(json_object_get(o, "event")), "alert");
            json_decref(o);
            free(in);
            snprintf(p2, sizeof p2, "%s/meta%s", g_tmp, pidpart);
            char *meta = tu_read_file(p2, NULL), want[300];
            snprintf(want, sizeof want, "alert|%s|h.log", label);
            assert_non_null(meta);
            assert_string_equal(meta, want);
            free(meta);
        }
        free(env);
    }
    globfree(&g);
    assert_true(found);
    for (int i = 1; i <= 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "PWNED%d", i);
        assert_true(access(tpath(name), F_OK) != 0);
    }
    free(label);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s watch x.log 2>%s", paw_bin(), tpath("e1"));
    assert_int_equal(sh(cmd), 2);
    assert_true(file_has("e1", "--program"));
    snprintf(cmd, sizeof cmd, "%s watch x.log --program %s -m %s --focus '(' 2>%s", paw_bin(), g_prog, stories(),
             tpath("e2"));
    assert_int_equal(sh(cmd), 2);
    assert_true(file_has("e2", "--focus: bad regex"));
    snprintf(cmd, sizeof cmd, "%s watch x.log --program %s --window 0 2>%s", paw_bin(), g_prog, tpath("e3"));
    assert_int_equal(sh(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s watch x.log --program %s/nope.paw -m %s 2>%s", paw_bin(), g_tmp, stories(),
             tpath("e4"));
    assert_int_equal(sh(cmd), 1);
    assert_true(file_has("e4", "paw watch: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_prefilter),
        cmocka_unit_test(test_follow_rotation_truncation),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_exec_hook),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, watch_setup, watch_teardown);
}
