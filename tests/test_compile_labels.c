/* test_compile_labels.c — the compiler's second round: examples written in
 * the spec, closed-label programs (decoding within the labels, scores,
 * abstention) and the compile report's cross-validated estimate.
 *
 * Spec examples: every form paw_compile_spec_examples reads, the prose it
 * must not read, and how `paw compile` mixes them with --examples (the
 * file's example wins on the same input) — compiles of one step, since what
 * is checked is the data, not accuracy.
 *
 * Labels and the estimate: a toy sentiment task invented here (12 training
 * examples, POS/NEG) is written as a one-task suite whose *test* split
 * carries a marker string, and compiled by bench/compile_suite.sh exactly as
 * the suite is measured.  The marker must appear nowhere in what the
 * compiler wrote (its log, meta.json), and the estimate must count the 12
 * training examples only.  On the program: every output is one of its
 * labels (also with labels the model would never write freely); with
 * free_decoding it behaves exactly as the same bundle without labels; the
 * scores sum to 1 and equal an independent computation (one batched forward
 * pass over prefix + input + label through a plain paw_ctx with the
 * adapter); `paw run --min-confidence` abstains just above the chosen
 * label's probability and not just below it.  Under sanitizers the model is
 * stories260K with 3 steps: it learns nothing, but every one of these
 * properties must hold for any model. */
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "bundle_fixtures.h"
#include "runtime/program.h"
#include "compile/compile_internal.h"

static char g_model_path[1024];
#define MARKER "QZXMARKER"

static int run_paw(const char *args, const char *out_file)
{
    const char *bin = getenv("PAW_BIN") ? getenv("PAW_BIN") : "./build/paw";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s < /dev/null > %s 2> %s", bin, args, out_file, tpath("err.txt"));
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ------------------------------------------------------------ spec examples */

static void expect_pairs(const char *spec, const char *const *want, size_t n_want)
{
    paw_program_example *ex = NULL;
    size_t n = 99;
    assert_int_equal(paw_compile_spec_examples(spec, &ex, &n), PAW_OK);
    if (n != n_want) {
        for (size_t i = 0; i < n; i++) fprintf(stderr, "  got [%s] -> [%s]\n", ex[i].input, ex[i].output);
        fail_msg("spec %.40s...: %zu pairs, expected %zu", spec, n, n_want);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(ex[i].input, want[2 * i]);
        assert_string_equal(ex[i].output, want[2 * i + 1]);
    }
    paw_free(ex);   /* one block: array and strings */
}

static void test_spec_forms(void **state)
{
    (void)state;
    /* Input:/Output: lines; a value may run over lines; CRLF */
    static const char *const a[] = {"good movie", "POS", "bad\nfilm", "NEG", "p", "q"};
    expect_pairs("Classify.\nInput: good movie\nOutput: POS\n\ninput:  bad\nfilm\nOUTPUT: NEG\r\nInput: p\r\n"
                 "Output: q\r\n", a, 3);
    /* one-line forms with arrows or a second label, quotes, list markers */
    static const char *const b[] = {"a b", "X", "c", "d", "e", "f", "g", "h", "i -> j", "k"};
    expect_pairs("Map it.\n- Input: \"a b\" \xe2\x86\x92 Output: \"X\"\nINPUT: c -> OUTPUT: d\n2. Input: e => f\n"
                 "Input: g Output: h\nInput: i -> j\nOutput: k\n", b, 5);
    /* an examples block: bare arrows count there only, up to the first
     * line of prose; blank lines inside do not end it */
    static const char *const c[] = {"one", "1", "two", "2", "three", "3", "four", "4"};
    expect_pairs("Convert words. This maps a -> b in general.\nExamples:\n  one -> 1\n  \"two\" \xe2\x86\x92 \"2\"\n\n"
                 "  3) three => 3\nThat is all.\nso a -> b\n## For example:\nfour -> 4\n", c, 4);
    /* JSON lines (a trailing comma allowed), other JSON ignored */
    static const char *const d[] = {"x", "y", "z", "w \"q\"", "n", "m"};
    expect_pairs("Rules.\n{\"input\": \"x\", \"output\": \"y\"}\n{\"input\": \"z\", \"output\": \"w \\\"q\\\"\"},\n"
                 "{\"in\": 1}\n{\"input\": 3, \"output\": \"no\"}\n  {\"output\": \"m\", \"input\": \"n\"}\n", d, 3);
    /* an Input: with no Output: before the next Input: is skipped; empty
     * sides are skipped; prose with arrows outside a block is not read */
    static const char *const e[] = {"b", "c"};
    expect_pairs("Input: a\nInput: b\nOutput: c\nInput:  -> Output: x\nx -> y\nGo from A => B.\n", e, 1);
    expect_pairs("Just classify the sentiment.", NULL, 0);
    expect_pairs("", NULL, 0);
    paw_program_example *ex = NULL;
    size_t n = 0;
    assert_int_equal(paw_compile_spec_examples(NULL, &ex, &n), PAW_EINVAL);
}

#define SPEC6 "Label a sentiment word as POS or NEG.\n\nExamples:\nInput: wonderful\nOutput: POS\n" \
              "Input: terrible\nOutput: NEG\nInput: great -> Output: POS\nawful -> NEG\n"          \
              "{\"input\": \"lovely\", \"output\": \"POS\"}\nInput: nasty\nOutput: NEG\n"

/* `paw compile` on a spec with examples inside: used with no other
 * argument; mixed after --examples (whose example wins on the same input);
 * printed; a spec with none and no --examples is refused clearly. */
static void test_spec_compile(void **state)
{
    (void)state;
    char args[4096];
    FILE *f = fopen(tpath("ex.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"input\": \"great\", \"output\": \"NEG\"}\n{\"input\": \"happy\", \"output\": \"POS\"}\n");
    fclose(f);
    /* the spec alone */
    snprintf(args, sizeof args, "compile '" SPEC6 "' -m %s --steps 1 --no-cv -t 2 -o %s", g_model_path,
             tpath("a.paw"));
    assert_int_equal(run_paw(args, tpath("out.txt")), 0);
    char *err = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(err);
    if (!strstr(err, "6 examples in the spec's text, 6 used") || !strstr(err, "awful -> NEG"))
        fail_msg("the extraction is not reported:\n%s", err);
    free(err);
    paw_bundle *b = NULL;
    assert_int_equal(paw_bundle_read(tpath("a.paw"), &b), PAW_OK);
    static const char *const want_a[] = {"wonderful", "POS", "terrible", "NEG", "great", "POS",
                                         "awful", "NEG", "lovely", "POS", "nasty", "NEG"};
    assert_int_equal(b->meta.n_examples, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(b->meta.examples[i].input, want_a[2 * i]);
        assert_string_equal(b->meta.examples[i].output, want_a[2 * i + 1]);
    }
    /* the spec is kept as written (stripped) */
    assert_int_equal(strlen(b->meta.spec), strlen(SPEC6) - 1);
    assert_memory_equal(b->meta.spec, SPEC6, strlen(SPEC6) - 1);
    paw_bundle_free(b);
    /* with --examples: the file's come first and win on "great" */
    snprintf(args, sizeof args, "compile '" SPEC6 "' --examples %s -m %s --steps 1 --no-cv -t 2 -o %s",
             tpath("ex.jsonl"), g_model_path, tpath("b.paw"));
    assert_int_equal(run_paw(args, tpath("out.txt")), 0);
    err = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(err);
    if (!strstr(err, "6 examples in the spec's text, 5 used")) fail_msg("mixing not reported:\n%s", err);
    free(err);
    assert_int_equal(paw_bundle_read(tpath("b.paw"), &b), PAW_OK);
    static const char *const want_b[] = {"great", "NEG", "happy", "POS", "wonderful", "POS", "terrible", "NEG",
                                         "awful", "NEG", "lovely", "POS", "nasty", "NEG"};
    assert_int_equal(b->meta.n_examples, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(b->meta.examples[i].input, want_b[2 * i]);
        assert_string_equal(b->meta.examples[i].output, want_b[2 * i + 1]);
    }
    assert_non_null(strstr(b->meta.metrics_json, "\"n_spec_examples\":6"));
    paw_bundle_free(b);
    /* --no-spec-examples: the file's two only, too few */
    snprintf(args, sizeof args, "compile '" SPEC6 "' --examples %s --no-spec-examples -m %s --steps 1 --no-cv",
             tpath("ex.jsonl"), g_model_path);
    assert_int_equal(run_paw(args, tpath("out.txt")), 1);
    /* no examples anywhere: a clear error naming both ways to give them */
    snprintf(args, sizeof args, "compile 'Label a sentiment word.' -m %s --steps 1", g_model_path);
    assert_int_equal(run_paw(args, tpath("out.txt")), 1);
    err = tu_read_file(tpath("err.txt"), NULL);
    assert_non_null(err);
    if (!strstr(err, "only 0 valid examples") || !strstr(err, "Input:/Output: lines in the spec"))
        fail_msg("unclear error:\n%s", err);
    free(err);
}

/* ------------------------------------------------------------ labels */

static const char *const toy[][2] = {
    {"wonderful", "POS"}, {"terrible", "NEG"}, {"delightful", "POS"}, {"awful", "NEG"},
    {"great", "POS"},     {"horrible", "NEG"}, {"lovely", "POS"},     {"nasty", "NEG"},
    {"excellent", "POS"}, {"dreadful", "NEG"}, {"happy", "POS"},      {"miserable", "NEG"},
};
#define N_TOY 12
/* inputs beyond the training set, some far from the task */
static const char *const probe[] = {"superb", "ugly", "the", "12345", "", "Please reply with hello world."};
#define N_PROBE 6

/* The toy task compiled through bench/compile_suite.sh, the test split
 * carrying MARKER; the bundle read back. */
static paw_bundle *compile_toy_suite(void)
{
    FILE *f = fopen(tpath("suite.jsonl"), "w");
    assert_non_null(f);
    fprintf(f, "{\"id\": \"toy\", \"category\": \"classification\", \"spec\": \"Label a sentiment word as POS or "
               "NEG.\", \"train\": [");
    for (int i = 0; i < N_TOY; i++)
        fprintf(f, "%s{\"input\": \"%s\", \"output\": \"%s\"}", i ? ", " : "", toy[i][0], toy[i][1]);
    fprintf(f, "], \"test\": [{\"input\": \"" MARKER " glorious\", \"output\": \"" MARKER "POS\"}, {\"input\": "
               "\"" MARKER " grim\", \"output\": \"NEG\"}]}\n");
    fclose(f);
    const char *bin = getenv("PAW_BIN") ? getenv("PAW_BIN") : "./build/paw";
    char root[1024], cmd[4096];
    snprintf(root, sizeof root, "%s", bin);
    for (int k = 0; k < 2; k++) {   /* <repo>/<build>/paw -> <repo> */
        char *s = strrchr(root, '/');
        assert_non_null(s);
        *s = 0;
    }
    /* the script's `paw eval` runs on the default base: the model under
     * test, named so in the scratch cache */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/models && ln -sf %s %s/models/smollm2-135m.gguf", g_cache,
             g_model_path, g_cache);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "PAW=%s bash %s/bench/compile_suite.sh %s %s -t 2 -- --no-teacher --cv-folds 3 -m %s %s > %s 2>&1",
             bin, root, tpath("suite.jsonl"), tpath("suite"), g_model_path, PAW_TEST_SANITIZED ? "--steps 3" : "",
             tpath("suite.txt"));
    int st = system(cmd);
    char *log = tu_read_file(tpath("suite/logs/toy.log"), NULL);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        char *txt = tu_read_file(tpath("suite.txt"), NULL);
        fail_msg("compile_suite.sh failed:\n%s\n%s", txt ? txt : "", log ? log : "(no log)");
    }
    assert_non_null(log);
    /* the compiler never saw the test split */
    if (strstr(log, MARKER)) fail_msg("the test split's marker is in the compile's output:\n%s", log);
    free(log);
    paw_bundle *b = NULL;
    assert_int_equal(paw_bundle_read(tpath("suite/programs/toy.paw"), &b), PAW_OK);
    char *meta = NULL;
    size_t n = 0;
    assert_int_equal(paw_program_meta_json(&b->meta, &meta, &n), PAW_OK);
    if (strstr(meta, MARKER)) fail_msg("the test split's marker is in meta.json:\n%s", meta);
    paw_free(meta);
    return b;
}

/* P(label) by one batched pass per label through a plain ctx with the
 * adapter: the product of the full-softmax probabilities of tokens(label) +
 * <end> after prefix + input ids, renormalised. */
static void reference_probs(const paw_model *m, const paw_bundle *b, paw_program *p, const char *input,
                            double *probs)
{
    paw_adapter *ad = NULL;
    paw_ctx *ctx = NULL;
    paw_tokenizer *tok = NULL;
    assert_int_equal(paw_adapter_load_mem(b->adapter, b->adapter_len, &ad), PAW_OK);
    paw_ctx_params cp = {.n_threads = 2};
    assert_int_equal(paw_ctx_new(m, &cp, &ctx), PAW_OK);
    assert_int_equal(paw_ctx_set_adapter(ctx, ad, 1.0f), PAW_OK);
    assert_int_equal(paw_tokenizer_from_gguf(paw_model_gguf(m), &tok), PAW_OK);
    int32_t n_pre = 0, *in = NULL;
    size_t n_in = 0;
    const int32_t *pre = paw_program_prefix_ids(p, &n_pre);
    assert_int_equal(paw_program_input_ids(p, input, strlen(input), &in, &n_in), PAW_OK);
    const int32_t nv = paw_model_n_vocab(m);
    int32_t eot = paw_tokenizer_find(tok, "<|im_end|>", 10);
    if (eot < 0 || !paw_tokenizer_is_eog(tok, eot)) eot = paw_tokenizer_eos(tok);
    double lp[8], mx = -INFINITY, sum = 0;
    const int32_t nl = paw_program_n_labels(p);
    for (int32_t l = 0; l < nl; l++) {
        const char *s = paw_program_label(p, l);
        int32_t *li = NULL;
        size_t k = 0;
        assert_int_equal(paw_tokenize(tok, s, strlen(s), 0, 0, &li, &k), PAW_OK);
        size_t n = (size_t)n_pre + n_in + k + 1;
        int32_t *ids = malloc(n * sizeof *ids);
        memcpy(ids, pre, (size_t)n_pre * sizeof *ids);
        memcpy(ids + n_pre, in, n_in * sizeof *ids);
        memcpy(ids + n_pre + n_in, li, k * sizeof *ids);
        ids[n - 1] = eot;
        const float *lg = NULL;
        assert_int_equal(paw_kv_truncate(ctx, 0), PAW_OK);
        assert_int_equal(paw_decode(ctx, ids, (int32_t)n - 1, 1, &lg), PAW_OK);
        lp[l] = 0;
        for (size_t t = (size_t)n_pre + n_in - 1; t + 1 < n; t++) {   /* row t predicts ids[t+1] */
            const float *row = lg + t * (size_t)nv;
            double rm = row[0], z = 0;
            for (int32_t v = 1; v < nv; v++) rm = row[v] > rm ? row[v] : rm;
            for (int32_t v = 0; v < nv; v++) z += exp(row[v] - rm);
            lp[l] += row[ids[t + 1]] - rm - log(z);
        }
        mx = lp[l] > mx ? lp[l] : mx;
        free(ids);
        free(li);
    }
    for (int32_t l = 0; l < nl; l++) sum += (probs[l] = exp(lp[l] - mx));
    for (int32_t l = 0; l < nl; l++) probs[l] /= sum;
    free(in);
    paw_tokenizer_free(tok);
    paw_ctx_free(ctx);
    paw_adapter_free(ad);
}

static int in_set(const char *s, const char *const *set, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, set[i])) return 1;
    return 0;
}

static void test_labels(void **state)
{
    (void)state;
    paw_bundle *b = compile_toy_suite();
    /* the rule made it a closed-label program; the estimate is over the 12
     * training examples only (the test split has 2) */
    assert_string_equal(b->meta.extra_json, "{\"labels\":[\"POS\",\"NEG\"]}");
    json_error_t je;
    json_t *met = json_loads(b->meta.metrics_json, 0, &je), *cv = json_object_get(met, "cv");
    assert_non_null(cv);
    assert_int_equal(json_integer_value(json_object_get(cv, "n")), N_TOY);
    assert_int_equal(json_integer_value(json_object_get(cv, "folds")), 3);
    double em = json_real_value(json_object_get(cv, "em"));
    assert_true(em >= 0 && em <= 1);
    assert_non_null(json_object_get(json_object_get(json_object_get(cv, "labels"), "POS"), "recall"));
    assert_true(json_is_array(json_object_get(met, "train_wrong")));
    json_decref(met);

    paw_model *m = NULL;
    assert_int_equal(paw_model_load(g_model_path, &m), PAW_OK);
    paw_program_opts po = {.n_threads = 2, .no_disk_cache = 1};
    paw_program *p = NULL, *pf = NULL, *pn = NULL, *pz = NULL;
    assert_int_equal(paw_program_open_bundle(m, b, &po, &p), PAW_OK);
    assert_int_equal(paw_program_n_labels(p), 2);
    /* free decoding = the same bundle without labels */
    paw_program_opts pof = po;
    pof.free_decoding = 1;
    assert_int_equal(paw_program_open_bundle(m, b, &pof, &pf), PAW_OK);
    assert_int_equal(paw_program_n_labels(pf), 0);
    paw_bundle nolab = *b;
    nolab.meta.extra_json = NULL;
    nolab.id[0] = 0;
    assert_int_equal(paw_program_open_bundle(m, &nolab, &po, &pn), PAW_OK);
    /* labels the model never writes freely */
    paw_bundle odd = *b;
    odd.meta.extra_json = "{\"labels\":[\"zebra crossing\",\"NEG\",\"N\"]}";
    odd.id[0] = 0;
    assert_int_equal(paw_program_open_bundle(m, &odd, &po, &pz), PAW_OK);
    static const char *const labels[] = {"POS", "NEG"}, *const odd_labels[] = {"zebra crossing", "NEG", "N"};
    int free_outside_odd = 0;
    for (int i = 0; i < N_TOY + N_PROBE; i++) {
        const char *in = i < N_TOY ? toy[i][0] : probe[i - N_TOY];
        char *o = NULL, *of = NULL, *on = NULL, *oz = NULL, *os = NULL;
        assert_int_equal(paw_program_call(p, in, strlen(in), 16, &o, NULL), PAW_OK);
        assert_int_equal(paw_program_call(pf, in, strlen(in), 16, &of, NULL), PAW_OK);
        assert_int_equal(paw_program_call(pn, in, strlen(in), 16, &on, NULL), PAW_OK);
        assert_int_equal(paw_program_call(pz, in, strlen(in), 16, &oz, NULL), PAW_OK);
        if (!in_set(o, labels, 2)) fail_msg("input '%s': output '%s' is not a label", in, o);
        if (!in_set(oz, odd_labels, 3)) fail_msg("input '%s': output '%s' is not a label", in, oz);
        assert_string_equal(of, on);
        free_outside_odd += !in_set(of, odd_labels, 3);
        /* scores: the same greedy label, sum 1, equal to the reference */
        double pr[3], ref[3];
        int32_t best = -1;
        assert_int_equal(paw_program_call_scores(pz, in, strlen(in), pr, &best, &os, NULL), PAW_OK);
        assert_string_equal(os, oz);
        assert_string_equal(paw_program_label(pz, best), oz);
        assert_true(fabs(pr[0] + pr[1] + pr[2] - 1) < 1e-9);
        if (i < 3 || i >= N_TOY) {
            reference_probs(m, &odd, pz, in, ref);
            for (int l = 0; l < 3; l++)
                if (fabs(pr[l] - ref[l]) > 1e-4) fail_msg("input '%s' label %d: %g vs reference %g", in, l, pr[l], ref[l]);
        }
        free(o); free(of); free(on); free(oz); free(os);
    }
    /* the constraint did something: free decoding wrote other text */
    assert_true(free_outside_odd > 0);
    double pr[3];
    char *os = NULL;
    assert_int_equal(paw_program_call_scores(pf, "great", 5, pr, NULL, &os, NULL), PAW_EINVAL);
    paw_program_close(p);
    paw_program_close(pf);
    paw_program_close(pn);
    paw_program_close(pz);
    paw_model_free(m);

    /* paw run: --scores, abstention on both sides of the threshold */
    char args[2048];
    snprintf(args, sizeof args, "run %s -m %s -t 2 --scores wonderful", tpath("suite/programs/toy.paw"),
             g_model_path);
    assert_int_equal(run_paw(args, tpath("run.txt")), 0);
    char *out = tu_read_file(tpath("run.txt"), NULL), *tab = out ? strchr(out, '\t') : NULL;
    assert_non_null(tab);
    *tab = 0;
    assert_true(in_set(out, labels, 2));
    json_t *sc = json_loads(tab + 1, 0, &je);
    assert_non_null(sc);
    double pbest = json_real_value(json_object_get(sc, out));
    double total = json_real_value(json_object_get(sc, "POS")) + json_real_value(json_object_get(sc, "NEG"));
    assert_true(fabs(total - 1) < 1e-5);
    char label[16];
    snprintf(label, sizeof label, "%s", out);
    json_decref(sc);
    free(out);
    const double thr[2] = {pbest + 2e-6, pbest - 2e-6};
    for (int k = 0; k < 2; k++) {
        if (thr[k] > 1 || thr[k] < 0) continue;
        snprintf(args, sizeof args, "run %s -m %s -t 2 --min-confidence %.9f --fallback UNSURE wonderful",
                 tpath("suite/programs/toy.paw"), g_model_path, thr[k]);
        assert_int_equal(run_paw(args, tpath("run.txt")), 0);
        out = tu_read_file(tpath("run.txt"), NULL);
        assert_non_null(out);
        assert_string_equal(out, k == 0 ? "UNSURE\n" : strcat(label, "\n"));
        free(out);
    }
    /* scores on a program without labels: refused */
    snprintf(args, sizeof args, "run %s -m %s --free --scores wonderful", tpath("suite/programs/toy.paw"),
             g_model_path);
    assert_int_equal(run_paw(args, tpath("run.txt")), 2);
    paw_bundle_free(b);
}

/* ------------------------------------------------------------ the label rule */

/* paw_compile_choose_labels on its own (no model): n_lab distinct one-line
 * outputs, each on two examples; the rule's bounds are 2..128 labels and at
 * most half the examples.  77 is Banking77's intent set, which a single
 * program must be able to answer within its labels. */
static int32_t rule_labels(int n_lab, int per)
{
    paw_compiler c;
    memset(&c, 0, sizeof c);
    char in[32], out[32];
    for (int k = 0; k < per; k++)
        for (int i = 0; i < n_lab; i++) {
            snprintf(in, sizeof in, "input %d %d", i, k);
            snprintf(out, sizeof out, "intent_%d", i);
            assert_int_equal(paw_exlist_add(&c.ex, in, out), PAW_OK);
        }
    paw_compile_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(paw_compile_choose_labels(&c, &r), PAW_OK);
    assert_int_equal(r.n_labels, c.n_labels);
    if (c.n_labels) {
        /* every label, in order of first appearance */
        json_error_t je;
        json_t *j = json_loads(c.labels_json, 0, &je), *arr = json_object_get(j, "labels");
        assert_int_equal((int)json_array_size(arr), c.n_labels);
        assert_string_equal(json_string_value(json_array_get(arr, 0)), "intent_0");
        snprintf(out, sizeof out, "intent_%d", n_lab - 1);
        assert_string_equal(json_string_value(json_array_get(arr, (size_t)n_lab - 1)), out);
        json_decref(j);
    }
    free(c.labels_json);
    paw_exlist_clear(&c.ex);
    return c.n_labels;
}

static void test_label_rule(void **state)
{
    (void)state;
    assert_int_equal(rule_labels(2, 2), 2);
    assert_int_equal(rule_labels(77, 2), 77);
    assert_int_equal(rule_labels(128, 2), 128);
    assert_int_equal(rule_labels(129, 2), 0);   /* too many labels          */
    assert_int_equal(rule_labels(77, 1), 0);    /* one-off answers, not labels */
}

/* ------------------------------------------------------------ the validation split */

/* The compiler holds out every 4th example for validation.  Examples
 * listed in a repeating label order (north, east, south, west, north, ...)
 * would put only `west` in validation and leave none to train on, so a
 * closed-label program is then split per label: the 4th of each label's 6
 * (4 held out, 20 training).  An order that rotates keeps the plain split
 * (6 held out, every label still trained). */
static int held_out(int rotate)
{
    static char way[4][6] = {"north", "east", "south", "west"};
    paw_program_example ex[24];
    char in[24][16];
    for (int i = 0; i < 24; i++) {
        snprintf(in[i], sizeof in[i], "x%d", i + 1);
        ex[i] = (paw_program_example){in[i], way[(i + (rotate ? i / 4 : 0)) % 4]};
    }
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(g_model_path, &m), PAW_OK);
    paw_compile_opts o = {.steps = 1, .n_threads = 2};
    paw_compile_result r;
    assert_int_equal(paw_compile(m, "Say which way the sign points.", ex, 24, &o, &r), PAW_OK);
    assert_int_equal(r.n_labels, 4);
    assert_int_equal(r.n_train + r.n_val, 24);
    int n_val = r.n_val;
    paw_compile_result_clear(&r);
    paw_model_free(m);
    return n_val;
}

static void test_split_keeps_every_label(void **state)
{
    (void)state;
    assert_int_equal(held_out(0), 4);   /* repeating order: per label, one of each */
    assert_int_equal(held_out(1), 6);   /* the order rotates every 4: the plain split */
}

/* ------------------------------------------------------------ the estimate's folds */

/* The cross-validation folds: labels listed in a repeating order (a, b, c,
 * a, b, c, ...) with k = 3 must not hold out one whole label per fold (with
 * i mod k every fold would train without the label it is scored on); every
 * fold holds out n / k examples and trains on every label; two examples of
 * one label land in different folds; all-distinct outputs keep i mod k. */
static void folds_of(const char *const *outs, int n, int k, int32_t *fold)
{
    static paw_program_example src[32];
    paw_cexample ex[32];
    for (int i = 0; i < n; i++) {
        src[i] = (paw_program_example){(char *)"x", (char *)outs[i]};
        ex[i] = (paw_cexample){.src = &src[i]};
    }
    assert_int_equal(paw_compile_cv_folds(ex, n, k, fold), PAW_OK);
}

static void test_cv_folds_keep_every_label(void **state)
{
    (void)state;
    static const char *const rep[] = {"a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"};
    int32_t fold[32];
    folds_of(rep, 12, 3, fold);
    for (int f = 0; f < 3; f++) {
        int held = 0, trained[3] = {0};
        for (int i = 0; i < 12; i++) {
            assert_true(fold[i] >= 0 && fold[i] < 3);
            if (fold[i] == f) held++;
            else trained[rep[i][0] - 'a'] = 1;
        }
        assert_int_equal(held, 4);
        assert_true(trained[0] && trained[1] && trained[2]);
    }
    static const char *const pairs[] = {"x", "y", "z", "w", "x", "y", "z", "w"};
    folds_of(pairs, 8, 3, fold);
    for (int i = 0; i < 4; i++) assert_int_not_equal(fold[i], fold[i + 4]);
    static const char *const uniq[] = {"1", "2", "3", "4", "5", "6", "7"};
    folds_of(uniq, 7, 3, fold);
    for (int i = 0; i < 7; i++) assert_int_equal(fold[i], i % 3);
}

/* ------------------------------------------------------------ the estimate's honesty */

/* A mapping nobody can infer: each output is a random string, so a held-out
 * example can only be answered by copying it from the prompt.  Each fold
 * must write its own pseudo-program from its own training examples (the
 * program's shows all six), so the cross-validated exact match is exactly
 * 0; the curve has one point per check (10, 20 steps), its last equal to
 * the estimate; min_steps keeps training past any earlier full match. */
static void test_cv_honest(void **state)
{
    (void)state;
    static const paw_program_example ex[] = {
        {"k1", "xq7Lm"}, {"k2", "Bv9wa"}, {"k3", "t4ZpQ"}, {"k4", "rM2sj"}, {"k5", "Yh8dN"}, {"k6", "c3KuE"},
    };
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(g_model_path, &m), PAW_OK);
    paw_compile_opts o = {.steps = 20, .min_steps = 20, .cv_folds = 3, .n_threads = 2, .no_labels = 1};
    paw_compile_result r;
    assert_int_equal(paw_compile(m, "Map a key to its code.", ex, 6, &o, &r), PAW_OK);
    assert_int_equal(r.steps, 20);
    assert_int_equal(r.cv_folds, 3);
    json_error_t je;
    json_t *met = json_loads(r.bundle->meta.metrics_json, 0, &je), *cv = json_object_get(met, "cv");
    assert_non_null(cv);
    json_t *fm = json_object_get(met, "first_match_step");
    assert_true(json_is_integer(fm));
    assert_true(json_integer_value(fm) == 0 || json_integer_value(fm) == 10 || json_integer_value(fm) == 20);
    assert_true(r.cv_em == 0.0);
    json_t *curve = json_object_get(cv, "curve");
    assert_int_equal(json_array_size(curve), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(curve, 0), "steps")), 10);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(curve, 1), "steps")), 20);
    assert_true(json_real_value(json_object_get(json_array_get(curve, 1), "em")) == r.cv_em);
    assert_true(json_real_value(json_object_get(json_array_get(curve, 0), "em")) == 0.0);
    /* the program itself shows all six examples in its pseudo-program */
    assert_non_null(strstr(r.bundle->pseudo_program, "Input: k6\nOutput: c3KuE"));
    json_decref(met);
    paw_compile_result_clear(&r);
    paw_model_free(m);
}

int main(void)
{
    snprintf(g_model_path, sizeof g_model_path, "%s",
             PAW_TEST_SANITIZED ? tu_shared("fixtures/stories260k/stories260K.gguf") : tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_forms),
        cmocka_unit_test(test_label_rule),
        cmocka_unit_test(test_cv_folds_keep_every_label),
        cmocka_unit_test_setup_teardown(test_spec_compile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cv_honest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_keeps_every_label, setup, teardown),
    };
    if (getenv("PAW_TEST_FILTER")) cmocka_set_test_filter(getenv("PAW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
