/* test_compile.c — the compiler's no-teacher path (paw_compile, `paw compile`).
 *
 * A toy task invented here (sentiment words -> POS/NEG, 12 examples) is
 * compiled on SmolLM2-135M through the CLI; the program must then reproduce
 * all 12 training outputs through `paw run` and through paw_program_call, and
 * a second identical compile must give the same bytes and ID.  Under
 * sanitizers the same pipeline runs on the tiny stories260K model for three
 * steps (it cannot learn the toy task, nor EOS), so the checks there are the
 * pipeline, the bundle's contents and determinism. */
#include <sys/wait.h>
#include "bundle_fixtures.h"

#if defined(__SANITIZE_ADDRESS__)
#define PAW_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAW_TEST_SANITIZED 1
#endif
#endif
#ifndef PAW_TEST_SANITIZED
#define PAW_TEST_SANITIZED 0
#endif

static const paw_program_example toy[] = {
    {"wonderful", "POS"}, {"terrible", "NEG"}, {"delightful", "POS"}, {"awful", "NEG"},
    {"great", "POS"},     {"horrible", "NEG"}, {"lovely", "POS"},     {"nasty", "NEG"},
    {"excellent", "POS"}, {"dreadful", "NEG"}, {"happy", "POS"},      {"miserable", "NEG"},
};
#define N_TOY 12
#define SPEC "Label a sentiment word as POS or NEG."

/* Resolved in main(), before setup() points PAW_CACHE_DIR at a scratch dir. */
static char g_model_path[1024];
static const char *model_path(void) { return g_model_path; }

static int run_paw(const char *args, const char *in_file, const char *out_file)
{
    const char *bin = getenv("PAW_BIN") ? getenv("PAW_BIN") : "./build/paw";
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s < %s > %s 2> %s", bin, args, in_file ? in_file : "/dev/null",
             out_file, tpath("err.txt"));
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_examples(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < N_TOY; i++)
        fprintf(f, "{\"input\": \"%s\", \"output\": \"%s\"}\n", toy[i].input, toy[i].output);
    /* a duplicate input with padding: normalised away */
    fprintf(f, "{\"input\": \"  wonderful \", \"output\": \"POS\"}\n");
    fclose(f);
}

/* The pseudo-program has paw.md §1.3's form, with the first six examples. */
static void test_pseudo_program(void **state)
{
    (void)state;
    char *s = NULL;
    size_t n = 0;
    assert_int_equal(paw_compile_pseudo_program("  " SPEC "\n", toy, N_TOY, &s, &n), PAW_OK);
    assert_string_equal(s, "[PSEUDO_PROGRAM]\nTask: " SPEC "\n\nExamples:\n"
                           "Input: wonderful\nOutput: POS\nInput: terrible\nOutput: NEG\n"
                           "Input: delightful\nOutput: POS\nInput: awful\nOutput: NEG\n"
                           "Input: great\nOutput: POS\nInput: horrible\nOutput: NEG\n"
                           "[END_PSEUDO_PROGRAM]");
    assert_int_equal(n, strlen(s));
    free(s);
}

/* Missing examples or a teacher flag: clear usage errors, exit 2. */
static void test_cli_errors(void **state)
{
    (void)state;
    assert_int_equal(run_paw("compile \"" SPEC "\" --no-teacher", NULL, tpath("out.txt")), 2);
    char *e = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(e);
    assert_non_null(strstr(e, "no teacher available yet"));
    free(e);
    assert_int_equal(run_paw("compile \"" SPEC "\" --teacher x", NULL, tpath("out.txt")), 2);
    e = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(strstr(e, "not implemented yet"));
    free(e);
}

static void test_compile_end_to_end(void **state)
{
    (void)state;
    const char *mp = model_path();
    if (access(mp, R_OK)) skip();
    write_examples(tpath("ex.jsonl"));
    char args[2048];
    const char *extra = PAW_TEST_SANITIZED ? "--steps 3" : "";
    char *ids[2];
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "compile \"" SPEC "\" --examples %s --no-teacher -m %s -o %s -t 2 %s",
                 tpath("ex.jsonl"), mp, tpath(k ? "b.paw" : "a.paw"), extra);
        assert_int_equal(run_paw(args, NULL, tpath(k ? "out_b.txt" : "out_a.txt")), 0);
        ids[k] = tu_read_file(tpath(k ? "out_b.txt" : "out_a.txt"), NULL);
        assert_non_null(ids[k]);
        assert_true(strlen(ids[k]) > PAW_PROGRAM_ID_LEN && ids[k][PAW_PROGRAM_ID_LEN] == '\n');
        ids[k][PAW_PROGRAM_ID_LEN] = 0;
    }
    /* Deterministic: same bytes, same ID. */
    assert_string_equal(ids[0], ids[1]);
    size_t la = 0, lb = 0;
    char *a = tu_read_file(tpath("a.paw"), &la), *b = tu_read_file(tpath("b.paw"), &lb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);

    paw_program_bundle *bu = NULL;
    assert_int_equal(paw_program_bundle_read(tpath("a.paw"), &bu), PAW_OK);
    assert_string_equal(bu->id, ids[0]);
    assert_string_equal(bu->meta.spec, SPEC);
    assert_string_equal(bu->meta.compiler_name, "paw-ft");
    assert_int_equal(bu->meta.n_examples, N_TOY);   /* the duplicate is gone */
    assert_int_equal(bu->meta.lora_rank, 8);
    assert_non_null(bu->meta.base_sha256);
    assert_non_null(strstr(bu->meta.metrics_json, "\"train_em\""));
    assert_non_null(strstr(bu->prompt_template, "[END_PSEUDO_PROGRAM]\n\n[INPUT]\n" PAW_PROGRAM_PLACEHOLDER
                                                "\n[END_INPUT]"));
    assert_memory_equal(bu->pseudo_program, "[PSEUDO_PROGRAM]\nTask: " SPEC, strlen(SPEC) + 23);

    /* Installed: runs by ID through the library, on its base. */
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(mp, &m), PAW_OK);
    paw_program *p = NULL;
    paw_program_opts po = {.n_threads = 2};
    assert_int_equal(paw_program_open(m, ids[0], &po, &p), PAW_OK);
    int hits = 0;
    for (int i = 0; i < N_TOY; i++) {
        char *out = NULL;
        assert_int_equal(paw_program_call(p, toy[i].input, strlen(toy[i].input), PAW_TEST_SANITIZED ? 2 : 16,
                                          &out, NULL), PAW_OK);
        hits += paw_exact_match(toy[i].output, out);
        free(out);
    }
    paw_program_close(p);
    paw_model_free(m);
    paw_program_bundle_free(bu);
    if (!PAW_TEST_SANITIZED) {
        assert_int_equal(hits, N_TOY);
        /* and through `paw run`, one input per line */
        FILE *f = fopen(tpath("in.txt"), "w");
        assert_non_null(f);
        for (int i = 0; i < N_TOY; i++) fprintf(f, "%s\n", toy[i].input);
        fclose(f);
        snprintf(args, sizeof args, "run %s -m %s", ids[0], mp);
        assert_int_equal(run_paw(args, tpath("in.txt"), tpath("run.txt")), 0);
        char *o = tu_read_file(tpath("run.txt"), NULL), *line = o, *save = NULL;
        assert_non_null(o);
        for (int i = 0; i < N_TOY; i++) {
            char *tokn = strtok_r(i ? NULL : line, "\n", &save);
            assert_non_null(tokn);
            assert_string_equal(tokn, toy[i].output);
        }
        free(o);
    }
    free(ids[0]);
    free(ids[1]);
}

int main(void)
{
    snprintf(g_model_path, sizeof g_model_path, "%s",
             PAW_TEST_SANITIZED ? tu_shared("fixtures/stories260k/stories260K.gguf") : tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pseudo_program),
        cmocka_unit_test_setup_teardown(test_cli_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compile_end_to_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
