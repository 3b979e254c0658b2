/* test_program_batch.c — paw_program_call_batch against paw_program_call.
 *
 * Programs on SmolLM2-135M, assembled in memory from committed adapters:
 * a free-decoding program (the paw-trained adapter), a closed-label program
 * (labels in meta.json, rank 8 F16 adapter), another free one (rank 32 Q4_0)
 * and an adapter-free template.  Each runs a list of inputs one at a time
 * on one handle (the reference, speculation on as by default) and then in
 * batches over several handles — the same program on two handles, different
 * programs together, rows finishing at different steps, an empty input —
 * and every output must be the same string.  Also: a row whose prompt is
 * over the context fails alone with the code paw_program_call gives, and
 * handles shared within a batch are refused. */
#include <sys/wait.h>
#include "testutil.h"
#include "paw.h"

#define NPROG 4
#define MAXTOK 12

static const char *TMPL =
    "<|im_start|>system\nAnswer with one short phrase.<|im_end|>\n<|im_start|>user\n"
    "{INPUT_PLACEHOLDER}<|im_end|>\n<|im_start|>assistant\n";

static const char *INPUTS[] = {
    "server down — all users affected",
    "lunch on friday?",
    "",
    "Your invoice #4471 is overdue; please pay within 3 days or the account will be suspended.",
    "hi",
    "The build failed again on main after the last merge, can someone look at it today?",
    "Win a free cruise!!! click here",
};
#define NIN (sizeof INPUTS / sizeof INPUTS[0])

static paw_bundle *make_bundle(const char *adapter_path, const char *extra_json)
{
    paw_bundle *b = calloc(1, sizeof *b);
    assert_non_null(b);
    size_t n = 0;
    b->adapter = (uint8_t *)tu_read_file(adapter_path, &n);
    assert_non_null(b->adapter);
    b->adapter_len = n;
    b->prompt_template = strdup(TMPL);
    b->prompt_template_len = strlen(TMPL);
    b->meta.interpreter = strdup("HuggingFaceTB/SmolLM2-135M-Instruct");
    b->meta.version = 3;
    if (extra_json) b->meta.extra_json = strdup(extra_json);
    return b;
}

static paw_program *open_prog(const paw_model *m, const paw_bundle *b, int n_ctx)
{
    paw_program_opts o = {.n_ctx = n_ctx, .n_threads = 2, .no_base_check = 1};
    paw_program *p = NULL;
    int rc = b ? paw_program_open_bundle(m, b, &o, &p) : paw_program_open_template(m, TMPL, strlen(TMPL), &o, &p);
    if (rc) fail_msg("open: %s", paw_last_error());
    return p;
}

static void test_batch_equals_single(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    paw_model *m = NULL;
    if (paw_model_load(tu_smollm2(), &m)) fail_msg("load: %s", paw_last_error());
    paw_bundle *b[NPROG] = {
        make_bundle("tests/golden/lora/smollm2-paw-trained.gguf", NULL),
        make_bundle("tests/golden/lora/smollm2-f16-r8.gguf", "{\"labels\": [\"urgent\", \"not urgent\", \"spam\"]}"),
        make_bundle("tests/golden/lora/smollm2-q4_0-r32.gguf", NULL),
        NULL,
    };
    /* the reference: each program alone, one input at a time */
    char *ref[NPROG][NIN];
    for (int p = 0; p < NPROG; p++) {
        paw_program *h = open_prog(m, b[p], 256);
        if (p == 1) assert_int_equal(paw_program_n_labels(h), 3);
        for (size_t i = 0; i < NIN; i++)
            if (paw_program_call(h, INPUTS[i], strlen(INPUTS[i]), MAXTOK, &ref[p][i], NULL))
                fail_msg("call: %s", paw_last_error());
        paw_program_close(h);
    }
    /* outputs worth comparing: not all empty, and not all alike */
    int nonempty = 0, distinct = 0;
    for (int p = 0; p < NPROG; p++)
        for (size_t i = 0; i < NIN; i++) {
            printf("# program %d, input %zu: \"", p, i);
            for (const char *c = ref[p][i]; *c; c++) putchar(*c == '\n' ? ' ' : *c);
            printf("\"\n");
            nonempty += ref[p][i][0] != 0;
            distinct += i && strcmp(ref[p][i], ref[p][0]);
        }
    assert_true(nonempty > NPROG * (int)NIN / 2);
    assert_true(distinct > 0);
    /* two handles per program */
    paw_program *h[2 * NPROG];
    for (int k = 0; k < 2 * NPROG; k++) h[k] = open_prog(m, b[k % NPROG], 256);
    /* three rounds of 8 rows (every handle once per round), each row a
     * different (program, input) pair; the handles are reused across
     * rounds, as a stream would */
    int lengths_differ = 0;
    for (int round = 0; round < 3; round++) {
        const char *in[2 * NPROG];
        size_t lens[2 * NPROG], olen[2 * NPROG];
        char *out[2 * NPROG];
        int rcs[2 * NPROG];
        size_t idx[2 * NPROG];
        for (int k = 0; k < 2 * NPROG; k++) {
            idx[k] = (size_t)(k + 3 * round) % NIN;
            in[k] = INPUTS[idx[k]];
            lens[k] = strlen(in[k]);
        }
        assert_int_equal(paw_program_call_batch(h, in, lens, 2 * NPROG, MAXTOK, out, olen, rcs), PAW_OK);
        int32_t n_gen0 = -1;
        for (int k = 0; k < 2 * NPROG; k++) {
            assert_int_equal(rcs[k], PAW_OK);
            const char *want = ref[k % NPROG][idx[k]];
            if (strcmp(out[k], want))
                fail_msg("round %d, program %d, input %zu: batched \"%s\", alone \"%s\"", round, k % NPROG,
                         idx[k], out[k], want);
            assert_int_equal(olen[k], strlen(want));
            paw_program_stats st;
            paw_program_get_stats(h[k], &st);
            if (n_gen0 < 0) n_gen0 = st.n_gen;
            else if (st.n_gen != n_gen0) lengths_differ = 1;
            free(out[k]);
        }
    }
    assert_true(lengths_differ);   /* rows did finish at different steps */
    /* the handles still answer single calls the same afterwards */
    char *o = NULL;
    assert_int_equal(paw_program_call(h[1], INPUTS[0], strlen(INPUTS[0]), MAXTOK, &o, NULL), PAW_OK);
    assert_string_equal(o, ref[1][0]);
    free(o);

    /* a row over the context fails alone, as paw_program_call would */
    char *big = malloc(4001);
    assert_non_null(big);
    for (int i = 0; i < 4000; i++) big[i] = "abcd efg "[i % 9];
    big[4000] = 0;
    const char *in2[3] = { INPUTS[1], big, INPUTS[4] };
    size_t l2[3] = { strlen(INPUTS[1]), 4000, strlen(INPUTS[4]) };
    char *out2[3];
    int rc2[3];
    paw_program *h2[3] = { h[0], h[1], h[2] };
    assert_int_equal(paw_program_call_batch(h2, in2, l2, 3, MAXTOK, out2, NULL, rc2), PAW_OK);
    assert_int_equal(rc2[1], PAW_ERANGE);
    assert_null(out2[1]);
    assert_int_equal(paw_program_call(h[1], big, 4000, MAXTOK, &o, NULL), PAW_ERANGE);
    assert_int_equal(rc2[0], PAW_OK);
    assert_int_equal(rc2[2], PAW_OK);
    assert_string_equal(out2[0], ref[0][1]);
    assert_string_equal(out2[2], ref[2][4]);
    free(out2[0]);
    free(out2[2]);
    free(big);

    /* a handle twice in one batch is refused, nothing run */
    paw_program *dup[2] = { h[0], h[0] };
    assert_int_equal(paw_program_call_batch(dup, in2, l2, 2, MAXTOK, out2, NULL, rc2), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "share a handle"));

    for (int k = 0; k < 2 * NPROG; k++) paw_program_close(h[k]);
    for (int p = 0; p < NPROG; p++) {
        for (size_t i = 0; i < NIN; i++) free(ref[p][i]);
        paw_bundle_free(b[p]);
    }
    paw_model_free(m);
}

/* Runs `cmd < stdin_path`; returns its stdout (malloc'd) and exit status. */
static char *run_cmd(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) { cap *= 2; buf = realloc(buf, cap); assert_non_null(buf); }
    }
    buf[n] = 0;
    int rc = pclose(p);
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return buf;
}

/* `paw run --batch N` over stdin gives the --batch 1 output, line for
 * line and in order, for plain lines and --jsonl (with a malformed line and
 * an input over the context among them: their errors stay in place). */
static void test_cli_batch(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    const char *bin = getenv("PAW_BIN");
    TU_NEED_BIN(bin);
    char dir[] = "/tmp/paw-test-batch-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char paw[300], txt[300], jl[300], cmd[2048];
    snprintf(paw, sizeof paw, "%s/labels.paw", dir);
    snprintf(txt, sizeof txt, "%s/in.txt", dir);
    snprintf(jl, sizeof jl, "%s/in.jsonl", dir);
    paw_bundle *b = make_bundle("tests/golden/lora/smollm2-paw-trained.gguf", NULL);
    assert_int_equal(paw_bundle_write(b, paw), PAW_OK);
    paw_bundle_free(b);
    FILE *f = fopen(txt, "w"), *g = fopen(jl, "w");
    assert_non_null(f);
    assert_non_null(g);
    for (size_t i = 0; i < NIN; i++) {
        fprintf(f, "%s\n", INPUTS[i]);
        fprintf(g, "{\"input\": \"%s\"}\n", INPUTS[i]);
        if (i == 2) fprintf(g, "{\"input\": 5}\n\n");
        if (i == 4) {
            fputs("{\"input\": \"", g);
            for (int k = 0; k < 600; k++) fputs("overflow ", g);
            fputs("\"}\n", g);
        }
    }
    fclose(f);
    fclose(g);
    char *ref[2] = { NULL, NULL };
    for (int jsonl = 0; jsonl < 2; jsonl++)
        for (int batch = 1; batch <= 4; batch += 3) {
            snprintf(cmd, sizeof cmd, "%s run '%s' --no-install -m '%s' -c 256 -t 2 -n %d --batch %d %s < '%s' 2>/dev/null",
                     bin, paw, tu_smollm2(), MAXTOK, batch, jsonl ? "--jsonl" : "", jsonl ? jl : txt);
            int st;
            char *out = run_cmd(cmd, &st);
            assert_int_equal(st, jsonl ? 1 : 0);
            if (jsonl) {   /* "ms" differs; drop it */
                for (char *m; (m = strstr(out, ",\"ms\":"));) {
                    char *e = strchr(m, '}');
                    memmove(m, e, strlen(e) + 1);
                }
            }
            if (batch == 1) { ref[jsonl] = out; continue; }
            assert_string_equal(out, ref[jsonl]);
            free(out);
        }
    /* paw eval --batch 3 reports the --batch 1 outputs */
    char suite[300];
    snprintf(suite, sizeof suite, "%s/suite.jsonl", dir);
    f = fopen(suite, "w");
    assert_non_null(f);
    fputs("{\"id\": \"labels\", \"spec\": \"s\", \"test\": [", f);
    for (size_t i = 0; i < NIN; i++)
        fprintf(f, "%s{\"input\": \"%s\", \"output\": \"%s\"}", i ? ", " : "", INPUTS[i], i % 2 ? "blue" : "x");
    fputs("]}\n", f);
    fclose(f);
    char *ev[2];
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s eval '%s' --programs '%s' -m '%s' -c 256 -t 2 -n %d --batch %d 2>&1 >/dev/null "
                 "--json '%s/r%d.json' && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); "
                 "print([(x[\"input\"], x[\"output\"], x[\"ok\"]) for x in r[\"tasks\"][0][\"results\"]])' "
                 "'%s/r%d.json'", bin, suite, dir, tu_smollm2(), MAXTOK, k ? 3 : 1, dir, k, dir, k);
        int st;
        ev[k] = run_cmd(cmd, &st);
        assert_int_equal(st, 0);
    }
    assert_non_null(strstr(ev[0], "'blue', True"));   /* the program's "blue" answers score */
    assert_string_equal(ev[1], ev[0]);
    free(ev[0]);
    free(ev[1]);
    int lines = 0;
    for (char *c = ref[0]; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, (int)NIN);
    assert_non_null(strstr(ref[1], "\"error\""));
    free(ref[0]);
    free(ref[1]);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_cli_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
