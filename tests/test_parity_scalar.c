/* test_parity_scalar.c — paw's portable scalar path against llama.cpp's
 * portable C path, bit for bit, on the real SmolLM2-135M Q4_1 weights.
 *
 * The golden file tests/golden/model/smollm2-generic.json comes from
 * llama.cpp built with no SIMD at all (ggml-cpu's plain C loops; the cmake
 * command is in scripts/gen_model_golden.py), through llama-cpp-python, with
 * an f32 KV cache and flash attention off.  paw runs with PAW_SIMD=scalar,
 * whose kernels and layer functions do the same float operations in the same
 * order (activation quantisers with 1/d and roundf, Q4_1 x Q8_1 / Q8_0 x Q8_0
 * block dots, f32 dots as float products summed in double, libm expf in
 * softmax and SiLU, ...).  The golden logits are the exact float32 values, so
 * the test asserts exact equality: max |dlogit| must be 0, every argmax the
 * same, every greedy step the same token with the same winning logit.
 *
 * Why 0 and not a tolerance: with equal inputs every operation gives equal
 * results, and any difference of one ulp before an 8-bit activation
 * quantiser moves a value by a whole quantum now and then, which 30 layers
 * carry to the logits at the 0.1..1 level (the AVX2 path, which differs only
 * in ggml's vectorised expf, is 1.16 away from its oracle).  So a small
 * non-zero bound would not be "almost right", it would hide a different
 * operation.
 *
 * Exactness also needs the C library's expf, sinf, cosf and powf to give the
 * bits they gave when the golden data was made (llama.cpp's plain C build
 * calls them as paw does).  The golden files carry a fingerprint of those
 * functions (scripts/gen_model_golden.py, libm_fingerprint); where this
 * machine's differs the model tests fail, saying why (the golden data must
 * then be made again on this C library with scripts/gen_model_golden.py;
 * test_model.c still holds the scalar path to llama.cpp within its
 * tolerance).  The kernel test does not depend on libm. */
#include "testutil.h"
#include "testjson.h"
#include <math.h>
#include <unistd.h>
#include "paw.h"
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "matmul_golden.h"

#define PARITY_MAX_DLOGIT 0.0
#define PARITY_MIN_GREEDY 4   /* of 5 continuations identical throughout */

/* libm_fingerprint of scripts/gen_model_golden.py, computed here. */
static uint64_t libm_fingerprint(int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        double u = (double)((uint32_t)i * 2654435761u) / 4294967296.0;
        float v[4] = { expf((float)(u * 80.0 - 40.0)), sinf((float)(u * 1024.0)),
                       cosf((float)(u * 1024.0)),
                       powf((float)(1000.0 + u * 1e6), (float)(-2.0 / (1 + i % 256))) };
        const uint8_t *b = (const uint8_t *)v;
        for (size_t k = 0; k < sizeof v; k++) h = (h ^ b[k]) * 0x100000001b3ULL;
    }
    return h;
}

/* Fails the test unless this libm gives the bits the golden file `g` was
 * made with. */
static void need_same_libm(json_t *g)
{
    json_t *lm = json_object_get(g, "libm");
    int n = (int)json_integer_value(json_object_get(lm, "n"));
    const char *want = json_string_value(json_object_get(lm, "fnv1a"));
    char got[17];
    snprintf(got, sizeof got, "%016llx", (unsigned long long)libm_fingerprint(n));
    if (want && n > 0 && strcmp(got, want) == 0) return;
    fail_msg("this libm's expf/sinf/cosf/powf differ from the golden data's "
             "(fingerprint %s, golden %s): bit-exact parity cannot hold; make the golden "
             "files again on this C library (scripts/gen_model_golden.py)",
             got, want ? want : "none");
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static void test_smollm2_scalar_parity(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    assert_string_equal(paw_simd_name(), "scalar");
    paw_model *m = NULL;
    if (paw_model_load(tu_smollm2(), &m)) fail_msg("load: %s", paw_last_error());
    const int32_t V = paw_model_n_vocab(m);
    assert_int_equal(V, 49152);
    paw_ctx_params p = {.n_ctx = 512, .n_threads = 2, .kv_type = PAW_TYPE_F32};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    json_t *g = tu_load_json("tests/golden/model/smollm2-generic.json");
    need_same_libm(g);
    json_t *fixed = json_object_get(g, "fixed_ids"), *cases = json_object_get(g, "cases");
    assert_int_equal(json_array_size(cases), 5);

    double worst = 0, worst_sum = 0;
    int flips = 0, greedy_ok = 0, n_pos = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci);
        size_t n, n_greedy;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        int32_t *want = tu_json_ids(json_object_get(cs, "greedy"), &n_greedy);
        json_t *pos = json_object_get(cs, "positions"), *gtop = json_object_get(cs, "greedy_top");
        assert_int_equal(json_array_size(pos), n);
        assert_int_equal(json_array_size(gtop), n_greedy);

        /* The prompt in one batch, logits at every position. */
        const float *lg;
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &lg), PAW_OK);
        for (size_t t = 0; t < n; t++, n_pos++) {
            const float *row = lg + t * V;
            json_t *pt = json_array_get(pos, t);
            json_t *top = json_object_get(pt, "top"), *fx = json_object_get(pt, "fixed");
            if (argmax(row, V) != (int32_t)json_integer_value(json_object_get(pt, "argmax"))) flips++;
            for (size_t k = 0; k < json_array_size(top); k++) {
                json_t *pr = json_array_get(top, k);
                int32_t id = (int32_t)json_integer_value(json_array_get(pr, 0));
                worst = fmax(worst, fabs(row[id] - json_number_value(json_array_get(pr, 1))));
            }
            for (size_t k = 0; k < json_array_size(fx); k++) {
                int32_t id = (int32_t)json_integer_value(json_array_get(fixed, k));
                worst = fmax(worst, fabs(row[id] - json_number_value(json_array_get(fx, k))));
            }
            /* All V logits, through their float64 sum in index order. */
            double sum = 0;
            for (int32_t i = 0; i < V; i++) sum += row[i];
            worst_sum = fmax(worst_sum, fabs(sum - json_number_value(json_object_get(pt, "sum"))));
        }

        /* Greedy, free-running: prefill, then one token at a time, each
         * step's argmax fed back, as the golden run did. */
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 0, &lg), PAW_OK);
        size_t same = 0;
        /* The golden run stopped after 64 tokens or at end-of-text. */
        for (size_t k = 0; k < n_greedy; k++) {
            int32_t mine = argmax(lg, V);
            if (mine != want[k]) break;
            if (lg[mine] != json_number_value(json_array_get(gtop, k))) {
                print_message("prompt %zu step %zu: same token %d, logit %.9g vs %.9g\n", ci, k,
                              mine, lg[mine], json_number_value(json_array_get(gtop, k)));
                worst = fmax(worst, fabs(lg[mine] - json_number_value(json_array_get(gtop, k))));
            }
            same = k + 1;
            if (k + 1 < n_greedy) assert_int_equal(paw_decode(c, &mine, 1, 0, &lg), PAW_OK);
        }
        greedy_ok += same == n_greedy;
        print_message("smollm2 scalar prompt %zu: %zu tokens; greedy identical for %zu of %zu steps\n",
                      ci, n, same, n_greedy);
        free(ids);
        free(want);
    }
    print_message("smollm2 scalar vs llama.cpp generic: max |dlogit| %.9g (bound %g), "
                  "max |dsum| %.9g, %d argmax flips in %d positions, %d of 5 continuations "
                  "identical throughout\n",
                  worst, PARITY_MAX_DLOGIT, worst_sum, flips, n_pos, greedy_ok);
    assert_true(worst <= PARITY_MAX_DLOGIT);
    assert_true(worst_sum <= PARITY_MAX_DLOGIT);
    assert_int_equal(flips, 0);
    assert_true(greedy_ok >= PARITY_MIN_GREEDY);
    json_decref(g);
    paw_ctx_free(c);
    paw_model_free(m);
}

/* The kernels one by one: tests/golden/matmul-generic/T.y holds ggml's own
 * plain C vec_dot for every weight type, after its own reference activation
 * quantiser, on the weights and activations of tests/golden/matmul/
 * (scripts/gen_matmul_golden.py generic, through ctypes).  paw_matmul on the
 * scalar path must give the same bits, prefill (T = 3) and decode (T = 1),
 * with 1 and 2 threads. */
static void test_scalar_kernels_bits_equal_ggml_generic(void **state)
{
    (void)state;
    assert_string_equal(paw_simd_name(), "scalar");
    assert_int_equal(matmul_golden_mismatches("matmul-generic"), 0);
}

/* A second model shape: the random-weight Qwen3 GGUF (F32 weights, so the
 * f32 dot in every projection; NEOX rope; q/k RMS norms; head_dim 32 !=
 * n_embd / n_head; 4 query heads on 2 KV heads), all logits of every
 * position of four sequences, checked through exact summaries from the
 * plain C build: argmax, the float64 sum and sum of squares of the row, the
 * first 8 logits.  Prefill in chunks of 16 (n_batch), as test_model does. */
static void test_qwen3_tiny_scalar_parity(void **state)
{
    (void)state;
    assert_string_equal(paw_simd_name(), "scalar");
    paw_model *m = NULL;
    if (paw_model_load("tests/golden/model/qwen3-tiny.gguf", &m)) fail_msg("load: %s", paw_last_error());
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx_params p = {.n_ctx = 128, .n_batch = 16, .n_threads = 2, .kv_type = PAW_TYPE_F32};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    json_t *g = tu_load_json("tests/golden/model/qwen3-tiny-generic.json");
    need_same_libm(g);
    json_t *cases = json_object_get(g, "cases");
    assert_int_equal(json_array_size(cases), 4);
    double worst = 0;
    int rows = 0, bad = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *want = json_object_get(cs, "rows");
        size_t n;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        assert_int_equal(json_array_size(want), n);
        const float *lg;
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &lg), PAW_OK);
        for (size_t t = 0; t < n; t++, rows++) {
            const float *row = lg + t * V;
            json_t *w = json_array_get(want, t), *first = json_object_get(w, "first");
            double sum = 0, sumsq = 0, d = 0;
            for (int32_t v = 0; v < V; v++) {
                sum += row[v];
                sumsq += (double)row[v] * row[v];
            }
            d = fmax(d, fabs(sum - json_number_value(json_object_get(w, "sum"))));
            d = fmax(d, fabs(sumsq - json_number_value(json_object_get(w, "sumsq"))));
            for (size_t k = 0; k < json_array_size(first); k++)
                d = fmax(d, fabs(row[k] - json_number_value(json_array_get(first, k))));
            if (argmax(row, V) != (int32_t)json_integer_value(json_object_get(w, "argmax"))) bad++;
            worst = fmax(worst, d);
        }
        free(ids);
    }
    print_message("qwen3-tiny scalar vs llama.cpp generic: %d rows, max |d| of sums and logits %.3g, "
                  "%d argmax flips\n", rows, worst, bad);
    assert_true(worst <= PARITY_MAX_DLOGIT);
    assert_int_equal(bad, 0);
    json_decref(g);
    paw_ctx_free(c);
    paw_model_free(m);
}

int main(void)
{
    /* Before anything asks: cpu.c decides the kernel set once per process. */
    setenv("PAW_SIMD", "scalar", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_kernels_bits_equal_ggml_generic),
        cmocka_unit_test(test_qwen3_tiny_scalar_parity),
        cmocka_unit_test(test_smollm2_scalar_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
