/* test_model.c — the forward pass against llama.cpp.
 *
 * stories260K: greedy continuations and top-3 probabilities from the fixture
 * (llama.cpp's own output).  SmolLM2-135M Q4_1, and random-weight Qwen3 and
 * GPT-2 GGUFs with the real layer structure: logits against golden data
 * written by scripts/gen_model_golden.py (llama-cpp-python).  Plus the KV
 * cache: prefix save/restore (memory, file), rejection of foreign or corrupt
 * state files, PAW_ERANGE past n_ctx; and model load errors. */
#include "testutil.h"
#include "testjson.h"
#include <math.h>
#include <unistd.h>
#include "paw.h"
#include "model/gguf.h"
#include "runtime/sample.h"
#include "runtime/chat.h"

static paw_model *load_model(const char *path)
{
    paw_model *m = NULL;
    int rc = paw_model_load(path, &m);
    if (rc) fail_msg("load %s: %s", path, paw_last_error());
    return m;
}

static int g_int8;   /* new ctxs run int8 products (test_smollm2_logits_int8) */

static paw_ctx *new_ctx_kv(const paw_model *m, int n_ctx, int n_batch, int kv_type)
{
    paw_ctx_params p = {.n_ctx = n_ctx, .n_batch = n_batch, .n_threads = 2, .kv_type = kv_type,
                        .int8 = g_int8};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    return c;
}

static paw_ctx *new_ctx(const paw_model *m, int n_ctx, int n_batch)
{
    return new_ctx_kv(m, n_ctx, n_batch, PAW_TYPE_F32);
}

#define PAW_MAX_D(a, b) ((a) > (b) ? (a) : (b))

static int32_t argmax(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

/* ------------------------------------------------------------ stories260K */

/* The fixture was made by llama.cpp with flash attention on, which reads q,
 * k and v as half floats and sums the weighted V in half precision.  With
 * paw_ctx_params.flash_attn paw does the same arithmetic, and the issue's
 * bound of 1e-3 holds (llama.cpp itself, run that way today, is 4.2e-4 away
 * with its AVX2 build, 5.9e-4 with an AVX-512 one:
 * scripts/stories_fixture_configs.py).  Plain attention is checked too, with
 * the distance llama.cpp's own plain runs have from the fixture: 2.38e-3 with
 * an f32 KV cache and 1.40e-3 with an f16 one; paw's plain runs are at the
 * same distances. */
#define STORIES_MAX_DP_FLASH 1e-3
#define STORIES_MAX_DP 2.5e-3
#define STORIES_MAX_DP_F16 1.5e-3

static void check_stories_greedy(int kv_type, int flash, double bound)
{
    paw_model *m = load_model(tu_shared("fixtures/stories260k/stories260K.gguf"));
    assert_string_equal(paw_model_arch(m), "llama");
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx_params cp = {.n_ctx = 256, .n_threads = 2, .kv_type = kv_type, .flash_attn = flash};
    paw_ctx *c = NULL;
    assert_int_equal(paw_ctx_new(m, &cp, &c), PAW_OK);
    char *text = tu_read_file(tu_shared("fixtures/stories260k/reference.jsonl"), NULL);
    assert_non_null(text);
    int cases = 0;
    double worst = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        size_t n_ids, n_greedy;
        int32_t *ids = tu_json_ids(json_object_get(j, "ids"), &n_ids);
        int32_t *want = tu_json_ids(json_object_get(j, "greedy"), &n_greedy);
        json_t *top3 = json_object_get(j, "top3_probs");
        int32_t *prompt = malloc((n_ids + 1) * sizeof *prompt);
        prompt[0] = (int32_t)json_integer_value(json_object_get(j, "bos"));
        memcpy(prompt + 1, ids, n_ids * sizeof *ids);
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        const float *logits;
        assert_int_equal(paw_decode(c, prompt, (int32_t)n_ids + 1, 0, &logits), PAW_OK);
        float *p = malloc((size_t)V * sizeof *p);
        for (size_t k = 0; k < n_greedy; k++) {
            /* softmax at temperature 1 */
            float mx = logits[argmax(logits, V)];
            double sum = 0;
            for (int32_t v = 0; v < V; v++) sum += exp((double)logits[v] - mx);
            for (int32_t v = 0; v < V; v++) p[v] = (float)(exp((double)logits[v] - mx) / sum);
            json_t *t3 = json_array_get(top3, k);
            for (size_t r = 0; r < json_array_size(t3); r++) {
                json_t *pair = json_array_get(t3, r);
                int32_t id = (int32_t)json_integer_value(json_array_get(pair, 0));
                double pr = json_real_value(json_array_get(pair, 1));
                double d = fabs(p[id] - pr);
                worst = d > worst ? d : worst;
                if (d > bound)
                    fail_msg("case %d step %zu: p[%d] = %f, llama.cpp %f", cases, k, id, p[id], pr);
            }
            int32_t next = argmax(logits, V);
            if (next != want[k]) fail_msg("case %d step %zu: greedy %d, llama.cpp %d", cases, k, next, want[k]);
            if (k + 1 < n_greedy) assert_int_equal(paw_decode(c, &next, 1, 0, &logits), PAW_OK);
        }
        free(p); free(prompt); free(ids); free(want);
        json_decref(j);
        cases++;
    }
    assert_int_equal(cases, 8);
    print_message("stories260K (%s KV%s): 8 prompts x 48 greedy tokens match, max |dp| %.2e\n",
                  paw_type_name(kv_type), flash ? ", flash attention" : "", worst);
    free(text);
    paw_ctx_free(c);
    paw_model_free(m);
}

static void test_stories_greedy(void **state) { (void)state; check_stories_greedy(PAW_TYPE_F32, 0, STORIES_MAX_DP); }
static void test_stories_greedy_f16kv(void **state) { (void)state; check_stories_greedy(PAW_TYPE_F16, 0, STORIES_MAX_DP_F16); }
/* The check: top-3 within 1e-3 of the fixture, every greedy token equal. */
static void test_stories_greedy_flash(void **state) { (void)state; check_stories_greedy(PAW_TYPE_F16, 1, STORIES_MAX_DP_FLASH); }
static void test_stories_greedy_flash_f32kv(void **state) { (void)state; check_stories_greedy(PAW_TYPE_F32, 1, STORIES_MAX_DP_FLASH); }

/* The same prompts against llama.cpp run with the same attention arithmetic
 * (an f32 KV cache and plain attention, or flash attention; F32 weights):
 * logits agree to float rounding.  Prefill of the prompt and the 47 greedy
 * tokens in one pass, in chunks of 16. */
static void check_stories_logits(const char *golden, int kv_type, int flash, double bound)
{
    paw_model *m = load_model(tu_shared("fixtures/stories260k/stories260K.gguf"));
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx_params cp = {.n_ctx = 256, .n_batch = 16, .n_threads = 2, .kv_type = kv_type, .flash_attn = flash};
    paw_ctx *c = NULL;
    assert_int_equal(paw_ctx_new(m, &cp, &c), PAW_OK);
    json_t *g = tu_load_json(golden), *cases = json_object_get(g, "cases");
    assert_int_equal(json_array_size(cases), 8);
    double worst = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *steps = json_object_get(cs, "top");
        size_t n;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        size_t first = (size_t)json_integer_value(json_object_get(cs, "n_prompt")) - 1;
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        const float *lg;
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &lg), PAW_OK);
        assert_int_equal(json_array_size(steps), n - first);
        for (size_t k = 0; k + first < n; k++) {
            json_t *top = json_array_get(steps, k);
            const float *row = lg + (first + k) * V;
            assert_int_equal(argmax(row, V), json_integer_value(json_array_get(json_array_get(top, 0), 0)));
            for (size_t r = 0; r < json_array_size(top); r++) {
                json_t *pr = json_array_get(top, r);
                double d = fabs(row[json_integer_value(json_array_get(pr, 0))] - json_real_value(json_array_get(pr, 1)));
                worst = d > worst ? d : worst;
            }
        }
        free(ids);
    }
    print_message("stories260K vs llama.cpp (%s): max |dlogit| %.2e\n",
                  flash ? "flash attention, f16 KV" : "f32 KV", worst);
    assert_true(worst < bound);
    json_decref(g);
    paw_ctx_free(c);
    paw_model_free(m);
}

static void test_stories_logits_f32(void **state)
{
    (void)state;
    check_stories_logits("tests/golden/model/stories260k-f32.json", PAW_TYPE_F32, 0, 1e-4);
}

/* Golden from scripts/stories_fixture_configs.py (llama.cpp -fa, f16 KV).
 * Rounding q, k, v and the accumulator to halves turns the float-rounding
 * differences of the F32 projections (1e-5 above) into steps of a half's
 * ulp: llama.cpp's own flash runs of these sequences in one batch and one
 * token at a time differ by 1.27e-2 (its batch and single-token F32
 * products round differently), paw's from its batch run by 1.27e-2 too. */
static void test_stories_logits_flash(void **state)
{
    (void)state;
    check_stories_logits("tests/golden/model/stories260k-flash.json", PAW_TYPE_F16, 1, 2e-2);
}

/* --------------------------------------------------------------- SmolLM2 */

/* Bound on |logit(paw) - logit(llama.cpp)| for SmolLM2-135M Q4_1.
 * Both quantise every matmul input to 8-bit Q8_1/Q8_0 blocks, so an ulp of
 * difference before a quantiser (libm expf vs ggml's vectorised expf in
 * softmax and SiLU, summation order) moves a value by a whole quantum once
 * in a while, and 30 layers carry that to the logits.  Positions whose inputs
 * agree bit for bit (the first few of each prompt) do match exactly.
 * Measured over the 106 positions against an AVX2-only llama.cpp build (the
 * kernels paw's AVX2 path is bit-exact with): max 1.16 with the AVX2 kernels;
 * against the AVX-512 build of the oracle venv 0.92.  The scalar path
 * (PAW_SIMD=scalar, or a CPU without AVX2) follows llama.cpp's plain C build
 * instead, so it is compared with that build's golden data
 * (smollm2-generic.json): there it is exact, 0.0 and 5 of 5 (and
 * tests/test_parity_scalar.c insists on that); llama.cpp's plain C and AVX2
 * builds are 1.65 apart from each other on these prompts.
 * Greedy 64-token continuations: 1 of 5 identical throughout (AVX2 golden),
 * each parting at a near-tie (gap <= 0.26); llama.cpp's own flash-attention and plain
 * attention paths differ from each other by 2.39 on the same prompts, with 2
 * argmax flips (same settings as scripts/gen_model_golden.py).  Hence the
 * bound, and argmax is only required to agree where the top two logits are
 * further apart than that noise. */
#define SMOLLM2_MAX_DLOGIT 1.5
#define SMOLLM2_TIE_MARGIN SMOLLM2_MAX_DLOGIT

static void check_smollm2(const char *golden, const char *label)
{
    TU_NEED_SMOLLM2();
    paw_model *m = load_model(tu_smollm2());
    const int32_t V = paw_model_n_vocab(m);
    assert_int_equal(V, 49152);
    paw_ctx *c = new_ctx(m, 512, 0);
    json_t *g = tu_load_json(golden);
    int exact_pos = 0, n_pos = 0, pos_ties = 0;
    json_t *fixed = json_object_get(g, "fixed_ids"), *cases = json_object_get(g, "cases");
    double worst = 0;
    int greedy_ok = 0, ties = 0;
    double gap = 0;   /* largest logit lead of paw's pick over llama.cpp's */
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci);
        size_t n, n_greedy;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        int32_t *want = tu_json_ids(json_object_get(cs, "greedy"), &n_greedy);
        json_t *pos = json_object_get(cs, "positions");
        assert_int_equal(json_array_size(pos), n);
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        const float *lg;
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &lg), PAW_OK);
        for (size_t t = 0; t < n; t++) {
            const float *row = lg + t * V;
            json_t *pt = json_array_get(pos, t);
            int32_t am = (int32_t)json_integer_value(json_object_get(pt, "argmax"));
            json_t *top = json_object_get(pt, "top"), *fx = json_object_get(pt, "fixed");
            double margin = json_real_value(json_array_get(json_array_get(top, 0), 1)) -
                            json_real_value(json_array_get(json_array_get(top, 1), 1));
            int32_t second = (int32_t)json_integer_value(json_array_get(json_array_get(top, 1), 0));
            if (argmax(row, V) != am) {
                /* Only a near-tie may flip, and then only to llama.cpp's runner-up. */
                if (margin >= SMOLLM2_TIE_MARGIN || argmax(row, V) != second)
                    fail_msg("prompt %zu pos %zu: argmax %d, llama.cpp %d (margin %.3f)",
                             ci, t, argmax(row, V), am, margin);
                ties++;
                pos_ties++;
            }
            double pos_worst = 0;
            for (size_t k = 0; k < json_array_size(top); k++) {
                json_t *pr = json_array_get(top, k);
                int32_t id = (int32_t)json_integer_value(json_array_get(pr, 0));
                double d = fabs(row[id] - json_real_value(json_array_get(pr, 1)));
                pos_worst = d > pos_worst ? d : pos_worst;
            }
            for (size_t k = 0; k < json_array_size(fx); k++) {
                int32_t id = (int32_t)json_integer_value(json_array_get(fixed, k));
                double d = fabs(row[id] - json_number_value(json_array_get(fx, k)));
                pos_worst = d > pos_worst ? d : pos_worst;
            }
            worst = PAW_MAX_D(worst, pos_worst);
            exact_pos += pos_worst == 0;
            n_pos++;
        }
        /* Greedy decoding, one token at a time as llama.cpp did.  Free-running,
         * the two sequences part at the first near-tie (see above), so each step
         * is checked teacher-forced: fed llama.cpp's tokens, paw must pick
         * llama.cpp's next token, or rank it within the noise of its best. */
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 0, &lg), PAW_OK);
        size_t same = n_greedy;
        for (size_t k = 0; k < n_greedy; k++) {
            int32_t mine = argmax(lg, V);
            if (mine != want[k]) {
                if (same == n_greedy) same = k;
                if (lg[mine] - lg[want[k]] >= SMOLLM2_TIE_MARGIN)
                    fail_msg("prompt %zu greedy step %zu: paw %d (%.3f), llama.cpp %d (%.3f)",
                             ci, k, mine, lg[mine], want[k], lg[want[k]]);
                ties++;
                gap = PAW_MAX_D(gap, lg[mine] - lg[want[k]]);
            }
            if (k + 1 < n_greedy) assert_int_equal(paw_decode(c, &want[k], 1, 0, &lg), PAW_OK);
        }
        greedy_ok += same == n_greedy;
        print_message("smollm2 prompt %zu: %zu tokens; greedy identical for %zu of %zu steps\n",
                      ci, n, same, n_greedy);
        free(ids); free(want);
    }
    print_message("%s: max |dlogit| %.4f (bound %.3f), %d near-tie flips, %d of 5 "
                  "continuations identical throughout, largest tie gap %.3f; prompt positions: %d of %d "
                  "argmax flips, %d exact (top 8 and fixed ids)\n",
                  label, worst, SMOLLM2_MAX_DLOGIT, ties, greedy_ok, gap, pos_ties, n_pos, exact_pos);
    assert_true(worst < SMOLLM2_MAX_DLOGIT);
    json_decref(g);
    paw_ctx_free(c);
    paw_model_free(m);
}

static void test_smollm2_logits(void **state)
{
    (void)state;
    if (strcmp(paw_simd_name(), "scalar") != 0)   /* every SIMD set computes the AVX2 bits */
        check_smollm2("tests/golden/model/smollm2.json", "smollm2");
    else
        check_smollm2("tests/golden/model/smollm2-generic.json", "smollm2");
}

/* The same checks against llama.cpp as `pip install llama-cpp-python` builds
 * it (-march=native; on the AVX-512 VNNI machine that made the golden file,
 * see scripts/gen_model_golden.py smollm2-native): the quantised vec_dots
 * are the same arithmetic as its AVX2 build (vpdpbusd gives the same int32
 * as vpmaddubsw + vpmaddwd), but its f32 vector ops (rms norm, softmax, the
 * f32 attention dot products) sum in 16-lane zmm order, so logits are not
 * bit-identical; same bounds as against the AVX2 build.  For the scalar
 * path as well: every path must stay within these bounds of the build users
 * get from pip. */
static void test_smollm2_logits_native(void **state)
{
    (void)state;
    check_smollm2("tests/golden/model/smollm2-native.json", "smollm2 vs native llama.cpp");
}

/* Int8 products (paw_ctx_params.int8) against the same native llama.cpp,
 * whose own AVX-512 build repacks some weight types for its products too:
 * the same bounds (argmax equal wherever the top two are further apart
 * than SMOLLM2_TIE_MARGIN; every logit within SMOLLM2_MAX_DLOGIT).  Where
 * the AVX-512 set does not run, int8 is ignored and this is the test above
 * again. */
static void test_smollm2_logits_int8(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    g_int8 = 1;
    paw_model *m = load_model(tu_smollm2());
    paw_ctx *c = new_ctx(m, 64, 0);
    assert_int_equal(paw_ctx_int8(c), strcmp(paw_simd_name(), "avx512") == 0);
    paw_ctx_free(c);
    paw_model_free(m);
    check_smollm2("tests/golden/model/smollm2-native.json", "smollm2 int8 vs native llama.cpp");
    g_int8 = 0;
}

/* ---------------------------------------------------- random Qwen3 / GPT-2 */

/* All logits at every position against llama.cpp for a tiny random model. */
static void check_tiny(const char *arch, double bound)
{
    char path[256];
    snprintf(path, sizeof path, "tests/golden/model/%s-tiny.gguf", arch);
    paw_model *m = load_model(path);
    assert_string_equal(paw_model_arch(m), arch);
    const int32_t V = paw_model_n_vocab(m);
    snprintf(path, sizeof path, "tests/golden/model/%s-tiny.json", arch);
    json_t *g = tu_load_json(path), *cases = json_object_get(g, "cases");
    /* n_batch 16 splits the longer sequences into several prefill chunks. */
    paw_ctx *c = new_ctx(m, 128, 16);
    double worst = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *want = json_object_get(cs, "logits");
        size_t n;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        const float *lg;
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &lg), PAW_OK);
        for (size_t t = 0; t < n; t++) {
            json_t *row = json_array_get(want, t);
            int32_t am = 0;
            for (int32_t v = 0; v < V; v++) {
                double d = fabs(lg[t * V + v] - json_number_value(json_array_get(row, v)));
                worst = d > worst ? d : worst;
                if (json_number_value(json_array_get(row, v)) > json_number_value(json_array_get(row, am)))
                    am = v;
            }
            assert_int_equal(argmax(lg + t * V, V), am);
        }
        free(ids);
    }
    print_message("%s-tiny: max |dlogit| %.2e (bound %.0e)\n", arch, worst, bound);
    assert_true(worst < bound);
    json_decref(g);
    paw_ctx_free(c);
    paw_model_free(m);
}

/* F32 weights: only summation order differs, logits are O(1). */
static void test_qwen3_tiny(void **state) { (void)state; check_tiny("qwen3", 1e-3); }
/* llama.cpp's GELU reads an fp16 table (relative error ~1e-3 per activation). */
static void test_gpt2_tiny(void **state) { (void)state; check_tiny("gpt2", 2e-2); }


/* ------------------------------------------------------------- KV cache */

static const char *tmp_path(const char *name) { return tu_tmp_path("model", name); }

static void check_kv_prefix(int kv_type)
{
    paw_model *m = load_model(tu_shared("fixtures/stories260k/stories260K.gguf"));
    const int32_t V = paw_model_n_vocab(m);
    int32_t prefix[24], suffix[9];
    for (int i = 0; i < 24; i++) prefix[i] = (i * 37 + 11) % V;
    prefix[0] = 1;
    for (int i = 0; i < 9; i++) suffix[i] = (i * 53 + 7) % V;
    const size_t nb = sizeof suffix / sizeof *suffix * (size_t)V * sizeof(float);

    /* A: prefix, snapshot, suffix. */
    paw_ctx *a = new_ctx_kv(m, 64, 0, kv_type);
    const float *lg;
    assert_int_equal(paw_decode(a, prefix, 24, 0, NULL), PAW_OK);
    paw_kv_state *st = NULL;
    assert_int_equal(paw_kv_save(a, 24, &st), PAW_OK);
    assert_int_equal(paw_kv_state_n(st), 24);
    const char *file = tmp_path("prefix.kv");
    assert_int_equal(paw_kv_save_file(a, 24, file), PAW_OK);
    assert_int_equal(paw_decode(a, suffix, 9, 1, &lg), PAW_OK);
    float *want = malloc(nb);
    memcpy(want, lg, nb);

    /* Recomputing the suffix after truncating back to the prefix. */
    assert_int_equal(paw_kv_truncate(a, 24), PAW_OK);
    assert_int_equal(paw_decode(a, suffix, 9, 1, &lg), PAW_OK);
    assert_memory_equal(lg, want, nb);

    /* B: restored from memory; C: restored from the file. */
    paw_ctx *b = new_ctx_kv(m, 64, 0, kv_type);
    assert_int_equal(paw_kv_restore(b, st), PAW_OK);
    assert_int_equal(paw_ctx_n_past(b), 24);
    assert_memory_equal(paw_ctx_tokens(b), prefix, sizeof prefix);
    assert_int_equal(paw_decode(b, suffix, 9, 1, &lg), PAW_OK);
    assert_memory_equal(lg, want, nb);
    paw_ctx *c = new_ctx_kv(m, 64, 0, kv_type);
    assert_int_equal(paw_kv_load_file(c, file), PAW_OK);
    assert_int_equal(paw_ctx_n_past(c), 24);
    assert_int_equal(paw_decode(c, suffix, 9, 1, &lg), PAW_OK);
    assert_memory_equal(lg, want, nb);

    /* Corrupt and truncated files are rejected; the ctx keeps its state. */
    size_t len = 0;
    char *bytes = tu_read_file(file, &len);
    assert_non_null(bytes);
    const char *bad = tmp_path("bad.kv");
    size_t flips[] = {0, 100, len / 2, len - 1};
    for (size_t i = 0; i < 4; i++) {
        bytes[flips[i]] ^= 0x40;
        FILE *f = fopen(bad, "wb");
        fwrite(bytes, 1, len, f);
        fclose(f);
        bytes[flips[i]] ^= 0x40;
        int rc = paw_kv_load_file(c, bad);
        assert_true(rc == PAW_EFORMAT || rc == PAW_EINVAL);
        assert_int_equal(paw_ctx_n_past(c), 33);
    }
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, len - 5, f);
    fclose(f);
    assert_int_equal(paw_kv_load_file(c, bad), PAW_EFORMAT);
    assert_int_equal(paw_kv_load_file(c, tmp_path("missing.kv")), PAW_EIO);

    /* A state from another model is refused, in memory and as a file. */
    paw_model *other = load_model("tests/golden/model/qwen3-tiny.gguf");
    paw_ctx *o = new_ctx(other, 64, 0);
    assert_int_equal(paw_kv_load_file(o, file), PAW_EINVAL);
    assert_int_equal(paw_kv_restore(o, st), PAW_EINVAL);
    assert_int_equal(paw_ctx_n_past(o), 0);
    /* A state with the other value type, or longer than the ctx, is refused. */
    paw_ctx *other_type = new_ctx_kv(m, 64, 0, kv_type == PAW_TYPE_F32 ? PAW_TYPE_F16 : PAW_TYPE_F32);
    assert_int_equal(paw_kv_restore(other_type, st), PAW_EINVAL);
    assert_int_equal(paw_kv_load_file(other_type, file), PAW_EINVAL);
    paw_ctx_free(other_type);
    paw_ctx *small = new_ctx_kv(m, 16, 0, kv_type);
    assert_int_equal(paw_kv_restore(small, st), PAW_ERANGE);
    assert_int_equal(paw_kv_load_file(small, file), PAW_ERANGE);

    unlink(file);
    unlink(bad);
    free(bytes);
    free(want);
    paw_kv_state_free(st);
    paw_ctx_free(a); paw_ctx_free(b); paw_ctx_free(c); paw_ctx_free(o); paw_ctx_free(small);
    paw_model_free(other);
    paw_model_free(m);
}

static void test_kv_prefix(void **state) { (void)state; check_kv_prefix(PAW_TYPE_F32); }
/* The f16 cache: half the bytes in memory and on disk, same guarantees. */
static void test_kv_prefix_f16(void **state) { (void)state; check_kv_prefix(PAW_TYPE_F16); }

static void test_kv_range(void **state)
{
    (void)state;
    paw_model *m = load_model(tu_shared("fixtures/stories260k/stories260K.gguf"));
    paw_ctx *c = new_ctx(m, 32, 8);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = i + 3;
    assert_int_equal(paw_decode(c, ids, 33, 0, NULL), PAW_ERANGE);
    assert_int_equal(paw_ctx_n_past(c), 0);
    assert_int_equal(paw_decode(c, ids, 20, 0, NULL), PAW_OK);
    assert_int_equal(paw_decode(c, ids, 13, 0, NULL), PAW_ERANGE);
    assert_int_equal(paw_ctx_n_past(c), 20);
    assert_int_equal(paw_decode(c, ids, 12, 0, NULL), PAW_OK);
    assert_int_equal(paw_ctx_n_past(c), 32);
    int32_t bad = paw_model_n_vocab(m);
    assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
    assert_int_equal(paw_decode(c, &bad, 1, 0, NULL), PAW_EINVAL);
    assert_int_equal(paw_kv_truncate(c, 5), PAW_EINVAL);

    /* Chunked prefill (n_batch 8) equals one-token-at-a-time decoding. */
    const int32_t V = paw_model_n_vocab(m);
    const float *lg;
    assert_int_equal(paw_decode(c, ids, 20, 1, &lg), PAW_OK);
    float *all = malloc((size_t)20 * V * sizeof(float));
    memcpy(all, lg, (size_t)20 * V * sizeof(float));
    assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
    double worst = 0;
    for (int t = 0; t < 20; t++) {
        assert_int_equal(paw_decode(c, ids + t, 1, 0, &lg), PAW_OK);
        for (int32_t v = 0; v < V; v++) {
            double d = fabs(lg[v] - all[(size_t)t * V + v]);
            worst = d > worst ? d : worst;
        }
    }
    assert_true(worst < 1e-4);
    free(all);
    paw_ctx_free(c);
    paw_model_free(m);
}

/* ------------------------------------------------------------ load errors */

enum { TL_OK, TL_ARCH, TL_MISSING_TENSOR, TL_BAD_SHAPE, TL_MISSING_KEY, TL_BAD_HEADS };

/* A 1-layer llama GGUF (n_embd 8, 2 heads, vocab 4), broken as asked. */
static void write_tiny_llama(const char *path, int variant)
{
    static float zeros[64 * 8];
    paw_gguf_writer *w = paw_gguf_writer_new();
    const char *arch = variant == TL_ARCH ? "mamba" : "llama";
    char key[64];
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch)), PAW_OK);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", arch, k), key)
    if (variant != TL_MISSING_KEY) paw_gguf_writer_set_u32(w, KEY("block_count"), 1);
    paw_gguf_writer_set_u32(w, KEY("context_length"), 16);
    paw_gguf_writer_set_u32(w, KEY("embedding_length"), 8);
    paw_gguf_writer_set_u32(w, KEY("feed_forward_length"), 16);
    paw_gguf_writer_set_u32(w, KEY("attention.head_count"), 2);
    paw_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), variant == TL_BAD_HEADS ? 3 : 1);
    paw_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
#undef KEY
    struct { const char *name; int64_t ne0, ne1; } t[] = {
        {"token_embd.weight", 8, 4}, {"output_norm.weight", 8, 1},
        {"blk.0.attn_norm.weight", 8, 1}, {"blk.0.attn_q.weight", 8, 8},
        {"blk.0.attn_k.weight", 8, variant == TL_BAD_SHAPE ? 8 : 4}, {"blk.0.attn_v.weight", 8, 4},
        {"blk.0.attn_output.weight", 8, 8}, {"blk.0.ffn_norm.weight", 8, 1},
        {"blk.0.ffn_gate.weight", 8, 16}, {"blk.0.ffn_up.weight", 8, 16},
        {"blk.0.ffn_down.weight", 16, 8},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (variant == TL_MISSING_TENSOR && !strcmp(t[i].name, "blk.0.ffn_up.weight")) continue;
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        assert_int_equal(paw_gguf_writer_add_tensor(w, t[i].name, PAW_TYPE_F32, t[i].ne1 > 1 ? 2 : 1,
                                                    ne, zeros), PAW_OK);
    }
    assert_int_equal(paw_gguf_writer_write(w, path), PAW_OK);
    paw_gguf_writer_free(w);
}

static void test_load_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("tiny.gguf");
    struct { int variant, rc; const char *needle; } cases[] = {
        {TL_ARCH, PAW_EUNSUPPORTED, "mamba"},
        {TL_MISSING_TENSOR, PAW_ENOTFOUND, "blk.0.ffn_up.weight"},
        {TL_BAD_SHAPE, PAW_EFORMAT, "blk.0.attn_k.weight"},
        {TL_MISSING_KEY, PAW_ENOTFOUND, "llama.block_count"},
        {TL_BAD_HEADS, PAW_EFORMAT, "head_count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_tiny_llama(path, cases[i].variant);
        paw_model *m = (paw_model *)1;
        assert_int_equal(paw_model_load(path, &m), cases[i].rc);
        assert_null(m);
        if (!strstr(paw_last_error(), cases[i].needle))
            fail_msg("error '%s' does not name '%s'", paw_last_error(), cases[i].needle);
    }
    /* The intact file loads (tied head, n_embd/n_head head size) and runs. */
    write_tiny_llama(path, TL_OK);
    paw_model *m = load_model(path);
    assert_int_equal(paw_model_n_vocab(m), 4);
    assert_int_equal(paw_model_n_layer(m), 1);
    paw_ctx *c = new_ctx(m, 0, 0);
    assert_int_equal(paw_ctx_n_ctx(c), 16);
    int32_t ids[3] = {1, 2, 3};
    const float *lg;
    assert_int_equal(paw_decode(c, ids, 3, 0, &lg), PAW_OK);
    for (int v = 0; v < 4; v++) assert_true(lg[v] == 0.0f);
    paw_ctx_free(c);
    paw_model_free(m);
    assert_int_equal(paw_model_load(tmp_path("nonexistent.gguf"), &m), PAW_EIO);
    unlink(path);
}

/* --------------------------------------------------------------- sampling */

static void test_sampler(void **state)
{
    (void)state;
    float lg[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    paw_sampler *s;
    assert_int_equal(paw_sampler_new(NULL, 5, &s), PAW_OK);
    assert_int_equal(paw_sampler_sample(s, lg), 1);            /* greedy; ties to the lower id */
    paw_sampler_free(s);
    paw_sampling p = {.temp = 1.0f, .top_k = 1, .seed = 7};
    assert_int_equal(paw_sampler_new(&p, 5, &s), PAW_OK);
    /* top_k 1 keeps one candidate: every draw is the same id, one of the two
     * tied maxima. */
    int32_t k1 = paw_sampler_sample(s, lg);
    assert_true(k1 == 1 || k1 == 3);
    for (int i = 0; i < 50; i++) assert_int_equal(paw_sampler_sample(s, lg), k1);
    paw_sampler_free(s);
    /* top_k 2 keeps exactly the tied pair (not 1.9): each about half the time. */
    p = (paw_sampling){.temp = 1.0f, .top_k = 2, .seed = 7};
    assert_int_equal(paw_sampler_new(&p, 5, &s), PAW_OK);
    int n_one = 0, n_k = 4000;
    for (int i = 0; i < n_k; i++) {
        int32_t id = paw_sampler_sample(s, lg);
        if (id != 1 && id != 3) fail_msg("top_k 2 drew id %d", id);
        n_one += id == 1;
    }
    assert_true(fabs(n_one / (double)n_k - 0.5) < 4 * sqrt(0.25 / n_k));
    paw_sampler_free(s);

    /* p = (1/3, 2/3) at temperature 1; frequencies within 4 sigma. */
    float two[2] = {0.0f, logf(2.0f)};
    p = (paw_sampling){.temp = 1.0f, .seed = 42};
    assert_int_equal(paw_sampler_new(&p, 2, &s), PAW_OK);
    int n1 = 0, N = 20000;
    int32_t first[16];
    for (int i = 0; i < N; i++) {
        int32_t id = paw_sampler_sample(s, two);
        if (i < 16) first[i] = id;
        n1 += id == 1;
    }
    paw_sampler_free(s);
    assert_true(fabs(n1 / (double)N - 2.0 / 3) < 4 * sqrt(2.0 / 9 / N));
    /* Same seed, same draws. */
    assert_int_equal(paw_sampler_new(&p, 2, &s), PAW_OK);
    for (int i = 0; i < 16; i++) assert_int_equal(paw_sampler_sample(s, two), first[i]);
    paw_sampler_free(s);
    /* top_p 0.5 over (0.6, 0.3, 0.1) keeps only the first. */
    float three[3] = {logf(0.3f), logf(0.6f), logf(0.1f)};
    p = (paw_sampling){.temp = 1.0f, .top_p = 0.5f, .seed = 1};
    assert_int_equal(paw_sampler_new(&p, 3, &s), PAW_OK);
    for (int i = 0; i < 200; i++) assert_int_equal(paw_sampler_sample(s, three), 1);
    paw_sampler_free(s);
    p = (paw_sampling){.temp = 1.0f, .top_p = 1.5f};
    assert_int_equal(paw_sampler_new(&p, 3, &s), PAW_EINVAL);
}

/* ------------------------------------------------------------------- chat */

/* Mismatches between paw and every conversation of the golden file for
 * model `name`: tests/golden/chat/templates.json holds each model's own Jinja
 * template rendered by jinja2 (scripts/gen_chat_golden.py; the oracle test
 * tests/oracle/test_chat_golden.py renders it again in every run).  With `m`
 * paw formats through the model (paw_chat_format), else with `style`. */
static int chat_golden_mismatches(const char *name, const paw_model *m, int style)
{
    json_t *g = tu_load_json("tests/golden/chat/templates.json");
    json_t *cases = json_object_get(json_object_get(g, name), "cases");
    assert_true(json_array_size(cases) >= 5);
    int bad = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *jm = json_object_get(c, "messages");
        paw_chat_msg msgs[8];
        size_t n = json_array_size(jm);
        assert_true(n <= 8);
        for (size_t k = 0; k < n; k++) {
            msgs[k].role = json_string_value(json_object_get(json_array_get(jm, k), "role"));
            msgs[k].content = json_string_value(json_object_get(json_array_get(jm, k), "content"));
        }
        int gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        const char *want = json_string_value(json_object_get(c, "text"));
        char *out = NULL;
        size_t len = 0;
        int rc = m ? paw_chat_format(m, msgs, n, gen, &out, &len)
                   : paw_chat_render(style, NULL, msgs, n, gen, &out, &len);
        assert_int_equal(rc, PAW_OK);
        if (strcmp(out, want) != 0 || len != strlen(want)) {
            print_message("%s case %zu: paw gives\n%s\n--- jinja2 gives\n%s\n---\n", name, i, out, want);
            bad++;
        }
        free(out);
    }
    json_decref(g);
    return bad;
}

/* paw_fit_end_token of m, and the id of one special token's text. */
static int32_t end_token_of(const paw_model *m)
{
    paw_tokenizer *tok = NULL;
    assert_int_equal(paw_tokenizer_from_gguf(paw_model_gguf(m), &tok), PAW_OK);
    int32_t id = paw_fit_end_token(m, tok);
    paw_tokenizer_free(tok);
    return id;
}

static int32_t token_of(const paw_model *m, const char *text)
{
    paw_tokenizer *tok = NULL;
    assert_int_equal(paw_tokenizer_from_gguf(paw_model_gguf(m), &tok), PAW_OK);
    int32_t id = paw_tokenizer_find(tok, text, strlen(text));
    paw_tokenizer_free(tok);
    assert_true(id >= 0);
    return id;
}

static void test_chat_templates(void **state)
{
    (void)state;
    paw_chat_msg user = {"user", "PROGRAM\n\n[INPUT]\nx\n[END_INPUT]"};
    char *out;
    size_t len;
    /* Byte for byte the prompt_template.txt of paw.md section 1.5. */
    assert_int_equal(paw_chat_render(PAW_CHAT_QWEN3, NULL, &user, 1, 1, &out, &len), PAW_OK);
    assert_string_equal(out, "<|im_start|>user\nPROGRAM\n\n[INPUT]\nx\n[END_INPUT]<|im_end|>\n"
                             "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    assert_int_equal(len, strlen(out));
    free(out);
    /* Qwen3's own template (jinja2, tests/golden/chat/templates.json). */
    assert_int_equal(chat_golden_mismatches("qwen3", NULL, PAW_CHAT_QWEN3), 0);
    assert_int_equal(paw_chat_render(PAW_CHAT_NONE, NULL, &user, 1, 1, &out, &len), PAW_OK);
    assert_string_equal(out, user.content);
    free(out);
    TU_NEED_SMOLLM2();
    /* SmolLM2's own template (with its default system message). */
    paw_model *m = load_model(tu_smollm2());
    assert_int_equal(paw_chat_style_of(m), PAW_CHAT_CHATML);
    assert_int_equal(chat_golden_mismatches("smollm2", m, 0), 0);
    /* The end of an assistant turn (what programs are trained to end with
     * and closed labels end with): <|im_end|> for ChatML, not the EOS. */
    assert_int_equal(end_token_of(m), token_of(m, "<|im_end|>"));
    assert_int_not_equal(end_token_of(m), token_of(m, "<|endoftext|>"));
    paw_model_free(m);
    m = load_model("tests/golden/model/qwen3-tiny.gguf");
    assert_int_equal(paw_chat_style_of(m), PAW_CHAT_QWEN3);
    paw_model_free(m);
    m = load_model("tests/golden/model/gpt2-tiny.gguf");
    assert_int_equal(paw_chat_style_of(m), PAW_CHAT_NONE);
    paw_model_free(m);
}

/* ------------------------------------------------------------- generation */

typedef struct stream { char buf[4096]; size_t n; int calls; } stream;

static int collect(void *ud, const char *text, size_t len)
{
    stream *s = ud;
    assert_true(s->n + len < sizeof s->buf);
    memcpy(s->buf + s->n, text, len);
    s->n += len;
    s->calls++;
    return 0;
}

static void test_generate(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    paw_model *m = load_model(tu_smollm2());
    paw_tokenizer *tok;
    assert_int_equal(paw_tokenizer_from_gguf(paw_model_gguf(m), &tok), PAW_OK);
    paw_ctx *c = new_ctx(m, 256, 0);
    json_t *g = tu_load_json("tests/golden/model/smollm2.json");
    json_t *cs = json_array_get(json_object_get(g, "cases"), 0);   /* "The capital of France is" */
    size_t n, n_want;
    int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
    int32_t *want = tu_json_ids(json_object_get(cs, "greedy"), &n_want);
    int32_t *mine;
    size_t n_mine;
    assert_int_equal(paw_tokenize(tok, "The capital of France is", 24, 0, 0, &mine, &n_mine), PAW_OK);
    assert_int_equal(n_mine, n);
    assert_memory_equal(mine, ids, n * sizeof *ids);
    free(mine);

    /* Greedy, 5 tokens: llama.cpp's first 5 (before its first near-tie). */
    stream st = {0};
    paw_gen_params gp = {.max_tokens = 5, .on_text = collect, .ud = &st};
    paw_gen_result r;
    assert_int_equal(paw_generate(c, tok, ids, n, &gp, &r), PAW_OK);
    assert_int_equal(r.stop_reason, PAW_STOP_MAX_TOKENS);
    assert_int_equal(r.n_ids, 5);
    assert_memory_equal(r.ids, want, 5 * sizeof *want);
    assert_int_equal(paw_ctx_n_past(c), (int32_t)n + 4);   /* the last token is not evaluated */
    char *text;
    size_t len;
    assert_int_equal(paw_detokenize(tok, want, 5, 0, &text, &len), PAW_OK);
    assert_string_equal(r.text, text);
    assert_int_equal(st.n, r.len);                          /* streamed = final text */
    assert_memory_equal(st.buf, r.text, r.len);
    free(text);
    paw_gen_result_free(&r);

    /* Stop string: the text ends before it and it is never streamed. */
    assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
    const char *stops[] = {"\n"};
    st = (stream){0};
    gp = (paw_gen_params){.max_tokens = 20, .stop = stops, .n_stop = 1, .on_text = collect, .ud = &st};
    assert_int_equal(paw_generate(c, tok, ids, n, &gp, &r), PAW_OK);
    assert_int_equal(r.stop_reason, PAW_STOP_STRING);
    assert_string_equal(r.text, " Paris.");
    assert_int_equal(st.n, r.len);
    assert_memory_equal(st.buf, r.text, r.len);
    paw_gen_result_free(&r);

    /* EOG: the chat prompt's answer ends with <|im_end|>, which is not kept. */
    assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
    paw_chat_msg q = {"user", "Say hello."};
    char *prompt;
    assert_int_equal(paw_chat_format(m, &q, 1, 1, &prompt, &len), PAW_OK);
    int32_t *pids;
    size_t n_p;
    assert_int_equal(paw_tokenize(tok, prompt, len, 0, 1, &pids, &n_p), PAW_OK);
    gp = (paw_gen_params){.max_tokens = 64};
    assert_int_equal(paw_generate(c, tok, pids, n_p, &gp, &r), PAW_OK);
    assert_int_equal(r.stop_reason, PAW_STOP_EOG);
    assert_true(r.n_ids > 0 && r.n_ids < 64);
    assert_null(strstr(r.text, "<|im_end|>"));
    paw_gen_result_free(&r);

    /* A full context stops generation. */
    paw_ctx *small = new_ctx(m, (int)n + 3, 0);
    gp = (paw_gen_params){.max_tokens = 0};
    assert_int_equal(paw_generate(small, tok, ids, n, &gp, &r), PAW_OK);
    assert_int_equal(r.stop_reason, PAW_STOP_CTX_FULL);
    assert_int_equal(r.n_ids, 4);
    paw_gen_result_free(&r);
    paw_ctx_free(small);

    free(prompt); free(pids); free(ids); free(want);
    json_decref(g);
    paw_ctx_free(c);
    paw_tokenizer_free(tok);
    paw_model_free(m);
}

/* `paw generate --json` prints one line with the documented fields. */
static void test_cli_generate(void **state)
{
    (void)state;
    const char *bin = getenv("PAW_BIN");
    TU_NEED_BIN(bin);
    TU_NEED_SMOLLM2();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' -p 'The capital of France is' -n 5 -t 2 --json 2>/dev/null",
             bin, tu_smollm2());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[8192] = {0};
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!j) fail_msg("not JSON: %s", line);
    assert_int_equal(json_array_size(json_object_get(j, "prompt_ids")), 5);
    assert_int_equal(json_array_size(json_object_get(j, "ids")), 5);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "ids"), 0)), 7042);
    assert_true(json_is_string(json_object_get(j, "text")));
    assert_true(json_number_value(json_object_get(j, "prefill_tok_s")) > 0);
    assert_true(json_number_value(json_object_get(j, "decode_tok_s")) > 0);
    json_decref(j);
    snprintf(cmd, sizeof cmd, "'%s' generate -m /nonexistent.gguf -p x 2>/dev/null", bin);
    assert_int_not_equal(system(cmd), 0);
}

/* `paw generate -fa --kv-f16` on the stories260K fixture's first prompt
 * continues exactly as the fixture's llama.cpp run did. */
static void test_cli_generate_flash(void **state)
{
    (void)state;
    const char *bin = getenv("PAW_BIN");
    TU_NEED_BIN(bin);
    char *text = tu_read_file(tu_shared("fixtures/stories260k/reference.jsonl"), NULL);
    assert_non_null(text);
    json_error_t e;
    json_t *ref = json_loadb(text, strcspn(text, "\n"), 0, &e);
    assert_non_null(ref);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' -p '%s' -n 48 -t 2 -fa --kv-f16 --json 2>/dev/null",
             bin, tu_shared("fixtures/stories260k/stories260K.gguf"),
             json_string_value(json_object_get(ref, "text")));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[16384] = {0};
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    json_t *j = json_loads(line, 0, &e);
    if (!j) fail_msg("not JSON: %s", line);
    json_t *got = json_object_get(j, "ids"), *want = json_object_get(ref, "greedy");
    assert_int_equal(json_array_size(got), json_array_size(want));
    for (size_t i = 0; i < json_array_size(want); i++)
        assert_int_equal(json_integer_value(json_array_get(got, i)), json_integer_value(json_array_get(want, i)));
    json_decref(j);
    json_decref(ref);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_greedy),
        cmocka_unit_test(test_stories_greedy_f16kv),
        cmocka_unit_test(test_stories_greedy_flash),
        cmocka_unit_test(test_stories_greedy_flash_f32kv),
        cmocka_unit_test(test_stories_logits_f32),
        cmocka_unit_test(test_stories_logits_flash),
        cmocka_unit_test(test_smollm2_logits),
        cmocka_unit_test(test_smollm2_logits_native),
        cmocka_unit_test(test_smollm2_logits_int8),
        cmocka_unit_test(test_qwen3_tiny),
        cmocka_unit_test(test_gpt2_tiny),
        cmocka_unit_test(test_kv_prefix),
        cmocka_unit_test(test_kv_prefix_f16),
        cmocka_unit_test(test_kv_range),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_chat_templates),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_cli_generate),
        cmocka_unit_test(test_cli_generate_flash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
