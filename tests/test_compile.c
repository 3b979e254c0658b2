/* test_compile.c — the compiler (paw_compile, `paw compile`).
 *
 * No teacher: a toy task invented here (sentiment words -> POS/NEG, 12
 * examples) is compiled on SmolLM2-135M through the CLI; the program must
 * then reproduce all 12 training outputs through `paw run` and through
 * paw_program_call, and a second identical compile must give the same bytes
 * and ID.  Under sanitizers the same pipeline runs on the tiny stories260K
 * model for three steps (it cannot learn the toy task, nor EOS), so the
 * checks there are the pipeline, the bundle's contents and determinism.
 *
 * Teacher: a real OpenAI-compatible HTTP server on 127.0.0.1
 * (tests/openai_server.h) answers through scripted functions that branch on
 * the request's text, so every reply, good or malformed, is known.  These
 * compiles train two steps only: what they check is where the pseudo-program
 * and the examples came from, the filters, the counts, errors and
 * determinism, not accuracy.  The parsers of teacher replies are also tested
 * on their own. */
#include <sys/wait.h>
#include "bundle_fixtures.h"
#include "openai_server.h"
#include "compile/compile_internal.h"

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

/* Runs `paw ARGS`; exit status 2 and `want` in its stderr. */
static void expect_usage_error(const char *args, const char *want)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "compile \"" SPEC "\" %s", args);
    assert_int_equal(run_paw(cmd, NULL, tpath("out.txt")), 2);
    char *e = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(e);
    if (!strstr(e, want)) fail_msg("`paw %s`: expected \"%s\" in:\n%s", cmd, want, e);
    free(e);
}

/* Inconsistent flags: clear usage errors, exit 2, before anything loads. */
static void test_cli_errors(void **state)
{
    (void)state;
    expect_usage_error("--no-cv --cv-folds 4", "--no-cv cannot be combined with '--cv-folds'");
    expect_usage_error("--cv-folds 1", "bad or incomplete argument '--cv-folds'");
    expect_usage_error("--no-augment --augment 2", "--no-augment cannot be combined with '--augment'");
    expect_usage_error("--augment 0", "bad or incomplete argument '--augment'");
    expect_usage_error("--augment 65", "bad or incomplete argument '--augment'");
    expect_usage_error("--label-loss --vocab-loss", "give one loss: --label-loss or --vocab-loss");
    expect_usage_error("--no-teacher --teacher-url http://127.0.0.1:1 --examples x.jsonl",
                       "--no-teacher cannot be combined with '--teacher-url'");
    expect_usage_error("--teacher-url http://127.0.0.1:1 --no-teacher", "--no-teacher cannot be combined");
    expect_usage_error("--no-teacher --teacher smollm2-135m --examples x.jsonl",
                       "--no-teacher cannot be combined with '--teacher'");
    expect_usage_error("--teacher a.gguf --teacher-url http://127.0.0.1:1", "give one teacher");
    expect_usage_error("--teacher-model m --examples x.jsonl", "--teacher-model needs --teacher-url");
    expect_usage_error("--synth 8 --examples x.jsonl", "--synth needs a teacher");
    expect_usage_error("--teacher-url http://127.0.0.1:1 --synth -3", "bad or incomplete argument '--synth'");
    expect_usage_error("--teacher-url http://127.0.0.1:1 --min-examples 0", "bad or incomplete argument");
}

static void test_compile_end_to_end(void **state)
{
    (void)state;
    const char *mp = model_path();
    TU_NEED_FILE(mp, "run `./paw pull smollm2-135m`");
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

    paw_bundle *bu = NULL;
    assert_int_equal(paw_bundle_read(tpath("a.paw"), &bu), PAW_OK);
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
    paw_bundle_free(bu);
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

/* ------------------------------------------------------------ reply parsers */

#define GOOD_PSEUDO                                                                                   \
    "[PSEUDO_PROGRAM]\nTask: Label a single sentiment word: POS if it is positive, NEG if it is "      \
    "negative. Write only the label.\n\nExamples:\nInput: splendid\nOutput: POS\nInput: gloomy\n"     \
    "Output: NEG\nInput: superb\nOutput: POS\n[END_PSEUDO_PROGRAM]"

/* paw_pseudo_parse on `reply`: PAW_EFORMAT with `why` in the message. */
static void expect_pseudo_error(const char *reply, const char *why)
{
    paw_pseudo p;
    assert_int_equal(paw_pseudo_parse(reply, &p), PAW_EFORMAT);
    assert_null(p.text);
    if (!strstr(paw_last_error(), why)) fail_msg("expected \"%s\" in \"%s\"", why, paw_last_error());
}

static void test_pseudo_parse(void **state)
{
    (void)state;
    paw_pseudo p;
    /* Chatter around the block (and an echoed marker before it) is dropped;
     * the block itself is kept byte for byte. */
    assert_int_equal(paw_pseudo_parse("Sure! I will write the [PSEUDO_PROGRAM] now.\n\n" GOOD_PSEUDO
                                      "\n\nLet me know if you need anything else.", &p), PAW_OK);
    assert_string_equal(p.text, GOOD_PSEUDO);
    assert_int_equal(p.n_pairs, 3);
    assert_string_equal(p.pairs[0].input, "splendid");
    assert_string_equal(p.pairs[1].output, "NEG");
    assert_string_equal(p.pairs[2].input, "superb");
    paw_pseudo_clear(&p);

    /* Windows newlines become '\n'; the result is the LF block. */
    char crlf[2048], *w = crlf;
    for (const char *r = GOOD_PSEUDO; *r; r++) {
        if (*r == '\n') *w++ = '\r';
        *w++ = *r;
    }
    *w = 0;
    assert_int_equal(paw_pseudo_parse(crlf, &p), PAW_OK);
    assert_string_equal(p.text, GOOD_PSEUDO);
    assert_string_equal(p.pairs[0].output, "POS");
    paw_pseudo_clear(&p);

    /* A value may run over several lines; case of the keys is free. */
    assert_int_equal(paw_pseudo_parse("[PSEUDO_PROGRAM]\ntask: Reverse the lines.\n  It keeps blanks.\n"
                                      "input: a\nb\noutput: b\na\nINPUT: x\nOUTPUT: x\nInput: 1\n2\n3\n"
                                      "Output: 3\n2\n1\n[END_PSEUDO_PROGRAM]", &p), PAW_OK);
    assert_int_equal(p.n_pairs, 3);
    assert_string_equal(p.pairs[0].input, "a\nb");
    assert_string_equal(p.pairs[2].output, "3\n2\n1");
    paw_pseudo_clear(&p);

    expect_pseudo_error("I could not do it.", "no [PSEUDO_PROGRAM] block");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: x\nInput: a\nOutput: b\nInput: c\nOutput: d\nInput: e\n"
                        "Output: f\n", "not closed by [END_PSEUDO_PROGRAM]");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: Label words.\n\nExamples:\n[END_PSEUDO_PROGRAM]",
                        "has 0 Input:/Output: examples (3 to 6");
    char nine[2048];
    int k = snprintf(nine, sizeof nine, "[PSEUDO_PROGRAM]\nTask: Label words.\n\nExamples:\n");
    for (int i = 0; i < 9; i++) k += snprintf(nine + k, sizeof nine - (size_t)k, "Input: w%d\nOutput: POS\n", i);
    snprintf(nine + k, sizeof nine - (size_t)k, "[END_PSEUDO_PROGRAM]");
    expect_pseudo_error(nine, "has 9 Input:/Output: examples");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nLabel words.\nInput: a\nOutput: b\n[END_PSEUDO_PROGRAM]",
                        "does not start with a \"Task:\" line");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: x\nInput: a\nInput: b\nOutput: c\n[END_PSEUDO_PROGRAM]",
                        "example 1 has an Input: but no Output:");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: x\nOutput: c\n[END_PSEUDO_PROGRAM]", "without an Input:");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: <one paragraph: what to do>\nInput: <an input>\n"
                        "Output: <its output>\n[END_PSEUDO_PROGRAM]", "text of the prompt's form");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: x\nInput: a\nOutput: b\nInput: ...\nOutput: ...\n"
                        "Input: c\nOutput: d\n[END_PSEUDO_PROGRAM]", "placeholder");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask: x\nInput: a\nOutput: b\nInput: c\nOutput:\nInput: e\n"
                        "Output: f\n[END_PSEUDO_PROGRAM]", "example 2 has an empty Output:");
    expect_pseudo_error("[PSEUDO_PROGRAM]\nTask:   \nInput: a\nOutput: b\nInput: c\nOutput: d\nInput: e\n"
                        "Output: f\n[END_PSEUDO_PROGRAM]", "the Task: is empty");
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "[PSEUDO_PROGRAM]\nTask: ", 23);
    memcpy(big + sizeof big - 21, "[END_PSEUDO_PROGRAM]", 20);
    expect_pseudo_error(big, "bytes long");
}

/* The parsed candidates of an input-list reply, '|'-joined. */
static char *joined_inputs(const char *reply)
{
    char **v = NULL;
    size_t n = 0;
    assert_int_equal(paw_synth_parse_inputs(reply, &v, &n), PAW_OK);
    static char buf[1024];
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? "|" : "", v[i]);
    paw_synth_free_inputs(v, n);
    return buf;
}

static void test_synth_parsers(void **state)
{
    (void)state;
    /* A numbered list with chatter before and after; quotes and blanks go. */
    assert_string_equal(joined_inputs("Here are some inputs:\n\n1. splendid\n2)   \"gloomy\"  \n3. \n"
                                      "(4) it's ok\n\nHope this helps!"), "splendid|gloomy||it's ok");
    assert_string_equal(joined_inputs("- a\r\n* b\r\n\xe2\x80\xa2 c\r\n-not a bullet"), "a|b|c");
    /* A JSON array, of strings or of {"input": ...} objects. */
    assert_string_equal(joined_inputs("```json\n[\"x y\", \" z \", \"\"]\n```"), "x y|z|");
    assert_string_equal(joined_inputs("[{\"input\": \"p\", \"output\": \"q\"}, {\"input\": \"r\"}]"), "p|r");
    /* Neither: every non-blank line but code fences. */
    assert_string_equal(joined_inputs("```\nfirst line\n\nsecond line\n```"), "first line|second line");
    /* Brackets that are not JSON: a list still. */
    assert_string_equal(joined_inputs("1. [ERROR] disk full\n2. [INFO] ok"), "[ERROR] disk full|[INFO] ok");

    paw_exlist labels = {0};
    assert_int_equal(paw_exlist_add(&labels, "good", "POS"), PAW_OK);
    assert_int_equal(paw_exlist_add(&labels, "bad", "NEG"), PAW_OK);
    paw_output_shape shape = {.one_line = 1, .max_len = 32, .labels = &labels};
    struct { const char *reply, *want; int reason; } cases[] = {
        {"POS", "POS", -1},
        {"  Output: NEG\n", "NEG", -1},
        {"```\npos\n```", "POS", -1},           /* fence, then the label's case */
        {"\"NEG\"", "NEG", -1},
        {"NEG\nBecause it is sad.", NULL, PAW_DROP_MULTILINE},
        {"MAYBE", NULL, PAW_DROP_LABEL},
        {"", NULL, PAW_DROP_EMPTY},
        {"Output:", NULL, PAW_DROP_EMPTY},
        {"[INPUT]\nx\n[END_INPUT]", NULL, PAW_DROP_MARKER},
        {"POSITIVE POSITIVE POSITIVE POSITIVE", NULL, PAW_DROP_TOO_LONG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        int reason = -2;
        assert_int_equal(paw_synth_clean_output(cases[i].reply, &shape, &out, &reason), PAW_OK);
        if (reason != cases[i].reason) fail_msg("case %zu: reason %d, expected %d", i, reason, cases[i].reason);
        if (cases[i].want) assert_string_equal(out, cases[i].want);
        else assert_null(out);
        free(out);
    }
    paw_exlist_clear(&labels);
}

/* ------------------------------------------------------------ scripted teachers */

/* How the scripted teacher answers, and what it was asked. */
typedef struct script {
    int bad_pseudo;       /* answer the pseudo-program request malformed      */
    int bad_outputs;      /* answer every output request with junk            */
    int n_pseudo, n_inputs, n_outputs;
    int corrective_seen;  /* the second pseudo request says what was wrong    */
    int gold_missing;     /* an output request without the spec and the user's examples */
    int saw_previous;     /* an input request listing earlier batches' inputs */
} script;

static const char inputs_reply[] =
    "Here are 8 inputs for the function:\n\n"
    "1. splendid\n2. gloomy\n3.   joyful  \n4. \"cheerful\"\n5. wonderful\n6. joyful\n7. \n"
    "8. this input is far far far far far far far far far far far far far far far too long\n"
    "9. sad\n10. bright\n\nI hope these help!";

/* Output replies by input: two clean, two repairable, two to drop. */
static const char *scripted_output(const char *input)
{
    static const char *table[][2] = {
        {"splendid", "POS"}, {"gloomy", "NEG"}, {"joyful", "Output: POS"}, {"cheerful", "pos"},
        {"sad", "NEG\nBecause sad is a negative word."}, {"bright", "MAYBE"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i][0], input)) return table[i][1];
    return "UNKNOWN";
}

static char *scripted_teacher(void *ud, const char *system, const char *user, int max_tokens)
{
    script *s = ud;
    (void)system;
    (void)max_tokens;
    if (strstr(user, "Write the pseudo-program")) {
        s->n_pseudo++;
        s->corrective_seen |= strstr(user, "could not be used") != NULL;
        return strdup(s->bad_pseudo ? "Task: label words\nInput: good\nOutput: POS\n" :
                                      "Sure! Here it is:\n\n" GOOD_PSEUDO "\n\nHope this helps.");
    }
    if (strstr(user, "new inputs for this function")) {
        s->n_inputs++;
        s->saw_previous |= strstr(user, "Inputs already written:\n- splendid\n- gloomy\n") != NULL;
        return strdup(inputs_reply);
    }
    s->n_outputs++;
    if (!strstr(user, "[SPEC]\n" SPEC "\n[END_SPEC]") || !strstr(user, "Input: wonderful\nOutput: POS\n"))
        s->gold_missing++;
    if (s->bad_outputs) {
        static const char *junk[] = {"Let me think.\nThe answer is POS.", "", "[END_INPUT]"};
        return strdup(junk[s->n_outputs % 3]);
    }
    const char *in = strstr(user, "[INPUT]\n"), *end = in ? strstr(in, "\n[END_INPUT]") : NULL;
    if (!end) return strdup("no input?");
    char word[256];
    snprintf(word, sizeof word, "%.*s", (int)(end - in - 8), in + 8);
    return strdup(scripted_output(word));
}

/* A teacher on a scripted server; *srv to stop after. */
static paw_teacher *scripted(script *s, tos_server **srv)
{
    *srv = tos_start(scripted_teacher, s);
    assert_non_null(*srv);
    char *url = tos_url(*srv);
    paw_teacher *t = NULL;
    paw_teacher_opts to = {.timeout_s = 60};
    assert_int_equal(paw_teacher_open_url(url, &to, &t), PAW_OK);
    free(url);
    return t;
}

static paw_compile_opts teacher_opts(paw_teacher *t)
{
    return (paw_compile_opts){.teacher = t, .n_synth = 8, .steps = 2, .n_threads = 2};
}

static int has(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle)) return 1;
    print_error("expected \"%s\" in \"%s\"\n", needle, hay ? hay : "(null)");
    return 0;
}

/* A well-formed teacher: its pseudo-program is used verbatim, its examples
 * are parsed, filtered, counted and stored after the user's; a second
 * compile gives the same bytes. */
static void test_teacher_compile(void **state)
{
    (void)state;
    TU_NEED_FILE(model_path(), "run `./paw pull smollm2-135m`");
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(model_path(), &m), PAW_OK);
    script sc = {0};
    tos_server *srv = NULL;
    paw_teacher *t = scripted(&sc, &srv);
    paw_compile_opts o = teacher_opts(t);
    paw_compile_result r[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(paw_compile(m, SPEC, toy, N_TOY, &o, &r[k]), PAW_OK);
        assert_int_equal(paw_bundle_write(r[k].bundle, tpath(k ? "b.paw" : "a.paw")), PAW_OK);
    }
    /* 1 pseudo-program + 1 input list + 6 outputs per compile. */
    assert_int_equal(sc.n_pseudo, 2);
    assert_int_equal(sc.n_inputs, 2);
    assert_int_equal(sc.n_outputs, 12);
    assert_int_equal(tos_requests(srv), 16);
    assert_int_equal(sc.gold_missing, 0);

    const paw_compile_result *a = &r[0];
    assert_string_equal(a->pseudo_source, "teacher");
    const paw_bundle *b = a->bundle;
    assert_string_equal(b->pseudo_program, GOOD_PSEUDO);
    assert_non_null(strstr(b->prompt_template, GOOD_PSEUDO "\n\n[INPUT]\n" PAW_PROGRAM_PLACEHOLDER "\n[END_INPUT]"));
    /* Candidates: 10; dropped at input: a user's input, a duplicate, an
     * empty one, an over-long one; at output: multi-line, not a label. */
    assert_int_equal(a->n_user, N_TOY);
    assert_int_equal(a->n_synth, 4);
    assert_int_equal(a->n_synth_rejected, 6);
    assert_int_equal(b->meta.n_examples, N_TOY + 4);
    for (int i = 0; i < N_TOY; i++) assert_string_equal(b->meta.examples[i].input, toy[i].input);
    static const char *synth[][2] = {{"splendid", "POS"}, {"gloomy", "NEG"}, {"joyful", "POS"}, {"cheerful", "POS"}};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(b->meta.examples[N_TOY + i].input, synth[i][0]);
        assert_string_equal(b->meta.examples[N_TOY + i].output, synth[i][1]);
    }
    /* 16 examples: a quarter held out, all from the user's. */
    assert_int_equal(a->n_val, 4);
    assert_int_equal(a->n_train, 12);
    assert_true(has(b->meta.metrics_json, "\"pseudo_program_source\":\"teacher\""));
    assert_true(has(b->meta.metrics_json, "\"n_synth_accepted\":4"));
    assert_true(has(b->meta.metrics_json, "\"n_synth_rejected\":6"));
    assert_true(has(b->meta.metrics_json, "\"n_synth_candidates\":10"));
    assert_true(has(b->meta.metrics_json, "\"n_user_examples\":12"));
    char name[300];
    snprintf(name, sizeof name, "\"teacher\":\"%s\"", paw_teacher_name(t));
    assert_true(has(b->meta.compiler_settings_json, name));
    assert_true(has(b->meta.compiler_settings_json, "\"mode\":\"teacher\""));
    assert_true(has(b->meta.compiler_settings_json, "\"n_synth\":8"));

    /* Deterministic: same teacher replies, same bytes and ID. */
    assert_string_equal(r[0].id, r[1].id);
    size_t la = 0, lb = 0;
    char *fa = tu_read_file(tpath("a.paw"), &la), *fb = tu_read_file(tpath("b.paw"), &lb);
    assert_non_null(fa);
    assert_non_null(fb);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la);
    free(fa);
    free(fb);
    paw_compile_result_clear(&r[0]);
    paw_compile_result_clear(&r[1]);
    paw_teacher_free(t);
    tos_stop(srv);
    paw_model_free(m);
}

/* Malformed pseudo-program twice: the CLI compiles with the spec's form,
 * says so, and the key comes from the environment. */
static void test_teacher_fallback_cli(void **state)
{
    (void)state;
    TU_NEED_FILE(model_path(), "run `./paw pull smollm2-135m`");
    script sc = {.bad_pseudo = 1};
    tos_server *srv = tos_start(scripted_teacher, &sc);
    assert_non_null(srv);
    char *url = tos_url(srv);
    write_examples(tpath("ex.jsonl"));
    setenv("PAW_TEACHER_API_KEY", "test-key-123", 1);
    char args[2048];
    snprintf(args, sizeof args, "compile \"" SPEC "\" --examples %s --teacher-url %s --teacher-model tiny "
             "--synth 8 --steps 2 -m %s -o %s -t 2", tpath("ex.jsonl"), url, model_path(), tpath("f.paw"));
    int st = run_paw(args, NULL, tpath("out.txt"));
    unsetenv("PAW_TEACHER_API_KEY");
    char *out = tu_read_file(tpath("out.txt"), NULL), *err = tu_read_file(tpath("err.txt"), NULL);
    if (st) fail_msg("paw compile exited %d:\n%s", st, err ? err : "");
    assert_int_equal(sc.n_pseudo, 2);
    assert_int_equal(sc.corrective_seen, 1);
    char *req = tos_last_request(srv);
    assert_true(has(req, "Authorization: Bearer test-key-123"));
    assert_true(has(req, "\"model\":\"tiny\""));
    free(req);
    assert_true(has(out, "pseudo-program fallback"));
    assert_true(has(out, "teacher url:"));
    assert_true(has(out, "examples: 12 user (1 dropped), 4 synthesised (6 rejected)"));
    assert_true(has(err, "the teacher's reply is unusable"));
    assert_true(has(err, "falling back"));
    paw_bundle *b = NULL;
    assert_int_equal(paw_bundle_read(tpath("f.paw"), &b), PAW_OK);
    /* The spec's form, with the first six examples (the user's). */
    char *want = NULL;
    assert_int_equal(paw_compile_pseudo_program(SPEC, toy, N_TOY, &want, NULL), PAW_OK);
    assert_string_equal(b->pseudo_program, want);
    assert_true(has(b->meta.metrics_json, "\"pseudo_program_source\":\"fallback\""));
    free(want);
    paw_bundle_free(b);
    free(out);
    free(err);
    free(url);
    tos_stop(srv);
}

/* Every synthesised output malformed and two user examples: too few, with a
 * message that says why. */
static void test_teacher_too_few(void **state)
{
    (void)state;
    TU_NEED_FILE(model_path(), "run `./paw pull smollm2-135m`");
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(model_path(), &m), PAW_OK);
    script sc = {.bad_outputs = 1};
    tos_server *srv = NULL;
    paw_teacher *t = scripted(&sc, &srv);
    paw_compile_opts o = teacher_opts(t);
    o.n_synth = 30;   /* two requests for inputs: 25, then 5 */
    paw_compile_result r;
    const paw_program_example two[] = {{"wonderful", "POS"}, {"terrible", "NEG"}, {" terrible ", "NEG"}};
    assert_int_equal(paw_compile(m, SPEC, two, 3, &o, &r), PAW_EINVAL);
    const char *e = paw_last_error();
    assert_true(has(e, "only 2 valid examples, at least 4 are needed"));
    assert_true(has(e, "2 of the 3 given by the user (dropped: 1 duplicate input)"));
    assert_true(has(e, "0 synthesised by the teacher, which was asked for 30 inputs and gave 20 candidates"));
    assert_true(has(e, "multi-line output"));
    assert_true(has(e, "empty inputs or outputs"));
    assert_true(has(e, "2 replies holding prompt markup"));
    assert_null(r.bundle);
    assert_int_equal(r.n_synth, 0);
    assert_int_equal(sc.n_inputs, 2);
    assert_int_equal(sc.saw_previous, 1);   /* the second batch was told what the first gave */
    assert_int_equal(sc.n_outputs, 6);      /* the second batch added nothing new */
    paw_teacher_free(t);
    tos_stop(srv);
    paw_model_free(m);
}

/* A port nothing listens on. */
static int closed_port(void)
{
    int port = tos_closed_port();
    assert_true(port > 0);
    return port;
}

/* A refused connection: PAW_ENET, nothing written (CLI: no bundle, nothing
 * installed); a reply that is not the OpenAI shape: asked twice, then
 * PAW_EFORMAT. */
static void test_teacher_errors(void **state)
{
    (void)state;
    TU_NEED_FILE(model_path(), "run `./paw pull smollm2-135m`");
    write_examples(tpath("ex.jsonl"));
    char args[2048];
    snprintf(args, sizeof args, "compile \"" SPEC "\" --examples %s --teacher-url http://127.0.0.1:%d -m %s "
             "-o %s -t 2", tpath("ex.jsonl"), closed_port(), model_path(), tpath("none.paw"));
    assert_int_equal(run_paw(args, NULL, tpath("out.txt")), 1);
    char *err = tu_read_file(tpath("err.txt"), NULL);
    assert_true(has(err, "while writing the pseudo-program"));
    assert_true(has(err, "retrying once"));
    free(err);
    assert_int_equal(access(tpath("none.paw"), F_OK), -1);
    DIR *d = opendir(tpath("cache/programs"));
    int entries = 0;
    for (struct dirent *de; d && (de = readdir(d));) entries += de->d_name[0] != '.';
    if (d) closedir(d);
    assert_int_equal(entries, 0);

    paw_model *m = NULL;
    assert_int_equal(paw_model_load(model_path(), &m), PAW_OK);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    paw_teacher *t = NULL;
    paw_teacher_opts to = {.timeout_s = 30};
    assert_int_equal(paw_teacher_open_url(url, &to, &t), PAW_OK);
    paw_compile_opts o = teacher_opts(t);
    paw_compile_result r;
    assert_int_equal(paw_compile(m, SPEC, toy, N_TOY, &o, &r), PAW_ENET);
    assert_true(has(paw_last_error(), "127.0.0.1"));
    assert_null(r.bundle);
    paw_teacher_free(t);

    script sc = {0};
    tos_server *srv = NULL;
    t = scripted(&sc, &srv);
    tos_set_raw(srv, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n"
                     "Connection: close\r\n\r\nnot json!");
    o = teacher_opts(t);
    assert_int_equal(paw_compile(m, SPEC, toy, N_TOY, &o, &r), PAW_EFORMAT);
    assert_true(has(paw_last_error(), "while writing the pseudo-program"));
    assert_int_equal(tos_requests(srv), 2);
    assert_null(r.bundle);
    paw_teacher_free(t);
    tos_stop(srv);
    paw_model_free(m);
}

int main(void)
{
    snprintf(g_model_path, sizeof g_model_path, "%s",
             PAW_TEST_SANITIZED ? tu_shared("fixtures/stories260k/stories260K.gguf") : tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pseudo_program),
        cmocka_unit_test(test_pseudo_parse),
        cmocka_unit_test(test_synth_parsers),
        cmocka_unit_test_setup_teardown(test_cli_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compile_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teacher_compile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teacher_fallback_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teacher_too_few, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teacher_errors, setup, teardown),
    };
    /* PAW_TEST_FILTER=test_teacher* runs a subset (cmocka's glob). */
    if (getenv("PAW_TEST_FILTER")) cmocka_set_test_filter(getenv("PAW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
