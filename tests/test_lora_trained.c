/* test_lora_trained.c — an adapter trained by `paw train` runs the same in
 * llama.cpp as in paw, and its PEFT export runs the same in Hugging Face
 * peft + transformers.  tests/golden/lora/stories-paw-trained.gguf was
 * trained by paw on the stories260K fixture (rank 4, all 7 projections,
 * f32) and tests/golden/lora/stories-paw-trained.json holds what llama.cpp
 * (llama-cpp-python, KV cache f32, flash attention off) computed with it:
 * every position's logits for 4 prompts and a 24-token greedy continuation,
 * with and without the adapter (scripts/gen_paw_adapter_golden.py).  So the
 * file paw writes is read by llama.cpp as paw means it (names, shapes,
 * A/B orientation, alpha / rank scale), and paw's LoRA forward agrees. */
#include "testutil.h"
#include "testjson.h"
#include <math.h>
#include "paw.h"

#define GOLDEN "tests/golden/lora/"
/* stories260K in f32 agrees with llama.cpp to 1.2e-5 without an adapter
 * (test_model); an f32 adapter adds float-rounding differences only.
 * Measured: 9.3e-6 with the adapter (PAW_SIMD=scalar: 1.4e-5), while the
 * adapter moves logits by up to 30. */
#define MAX_DLOGIT 1e-4

static int32_t argmax(const float *x, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

/* Compares paw on `c` with the golden runs `runs`; returns the largest
 * |dlogit| and adds up how far the golden logits are from `other` (the
 * golden runs of the other setting) in *shift. */
static double check_runs(paw_ctx *c, int32_t V, json_t *runs, json_t *other, double *shift)
{
    double worst = 0;
    assert_int_equal(json_array_size(runs), 4);
    for (size_t pi = 0; pi < json_array_size(runs); pi++) {
        json_t *r = json_array_get(runs, pi), *lg = json_object_get(r, "logits");
        json_t *olg = json_object_get(json_array_get(other, pi), "logits");
        size_t n, n_greedy;
        int32_t *ids = tu_json_ids(json_object_get(r, "ids"), &n);
        int32_t *greedy = tu_json_ids(json_object_get(r, "greedy"), &n_greedy);
        assert_int_equal(json_array_size(lg), n);
        const float *out;
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &out), PAW_OK);
        for (size_t t = 0; t < n; t++) {
            json_t *row = json_array_get(lg, t), *orow = json_array_get(olg, t);
            assert_int_equal(json_array_size(row), (size_t)V);
            for (int32_t v = 0; v < V; v++) {
                double w = json_number_value(json_array_get(row, (size_t)v));
                worst = fmax(worst, fabs(out[t * V + v] - w));
                *shift = fmax(*shift, fabs(w - json_number_value(json_array_get(orow, (size_t)v))));
            }
        }
        /* Greedy continuation, one token at a time. */
        int32_t next = argmax(out + (n - 1) * V, V);
        for (size_t k = 0; k < n_greedy; k++) {
            if (next != greedy[k])
                fail_msg("prompt %zu step %zu: paw %d, llama.cpp %d", pi, k, next, greedy[k]);
            assert_int_equal(paw_decode(c, &next, 1, 0, &out), PAW_OK);
            next = argmax(out, V);
        }
        free(ids);
        free(greedy);
    }
    return worst;
}

static void test_paw_trained_adapter_in_llamacpp(void **state)
{
    (void)state;
    json_t *g = tu_load_json(GOLDEN "stories-paw-trained.json");
    paw_model *m = NULL;
    if (paw_model_load(tu_shared("fixtures/stories260k/stories260K.gguf"), &m))
        fail_msg("load: %s", paw_last_error());
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx_params p = {.n_ctx = 128, .n_threads = 2, .kv_type = PAW_TYPE_F32};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    paw_adapter *a = NULL;
    if (paw_adapter_load(GOLDEN "stories-paw-trained.gguf", &a)) fail_msg("adapter: %s", paw_last_error());
    assert_int_equal(paw_adapter_rank(a), 4);
    assert_int_equal(paw_adapter_n_pairs(a), 7 * 5);
    json_t *with = json_object_get(g, "with_adapter"), *base = json_object_get(g, "base");
    double shift = 0;
    double d_base = check_runs(c, V, base, with, &shift);
    assert_int_equal(paw_ctx_attach_adapter(c, a, 1.0f), PAW_OK);
    double d_with = check_runs(c, V, with, base, &shift);
    print_message("paw-trained adapter on stories260K vs llama.cpp: max |dlogit| %.2e with it, %.2e without "
                  "(bound %.0e); the adapter moves llama.cpp's logits by up to %.2f\n",
                  d_with, d_base, MAX_DLOGIT, shift);
    assert_true(d_with <= MAX_DLOGIT);
    assert_true(d_base <= MAX_DLOGIT);
    assert_true(shift > 1.0);   /* the adapter's effect is real, far above the bound */
    paw_adapter_free(a);
    paw_ctx_free(c);
    paw_model_free(m);
    json_decref(g);
}

/* The PEFT export in Hugging Face: tests/golden/lora/smollm2-paw-trained.gguf
 * and a PEFT directory came from one `paw train` run on SmolLM2-135M (rank 2,
 * q/k/v, f32); tests/golden/lora/smollm2-peft.json holds what transformers +
 * peft (CPU torch, float32 weights dequantised from the same Q4_1 GGUF)
 * computed with the PEFT export, at a set of ids per position, with the
 * adapter and with it disabled (scripts/gen_peft_golden.py).  paw quantises
 * activations to 8 bits where HF runs float32, so the logits themselves
 * differ by quantisation noise; what the adapter adds (adapted - base) is
 * compared, where most of that noise cancels.  A q/k export in GGUF row
 * order (not un-permuted for HF), a wrong alpha/r or a swapped A/B would
 * change the adapter's effect by its own size.  Measured: the effect
 * differs by max 1.30, mean 0.31 over 403 logits (PAW_SIMD=scalar: 1.76,
 * 0.38), where the effect itself is up to 28.7, 7.6 on average, and the
 * base logits differ by up to 1.03 (1.32). */
#define PEFT_MAX_DDELTA  2.5
#define PEFT_MEAN_DDELTA 0.6

static void test_peft_export_in_transformers(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    json_t *g = tu_load_json(GOLDEN "smollm2-peft.json"), *cases = json_object_get(g, "cases");
    assert_int_equal(json_array_size(cases), 3);
    paw_model *m = NULL;
    if (paw_model_load(tu_smollm2(), &m)) fail_msg("load: %s", paw_last_error());
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx_params p = {.n_ctx = 128, .n_threads = 2, .kv_type = PAW_TYPE_F32};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    paw_adapter *a = NULL;
    if (paw_adapter_load(GOLDEN "smollm2-paw-trained.gguf", &a)) fail_msg("adapter: %s", paw_last_error());
    double worst = 0, sum = 0, shift = 0, effect = 0, d_base = 0;
    size_t n_vals = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *rows = json_object_get(cs, "rows");
        size_t n;
        int32_t *ids = tu_json_ids(json_object_get(cs, "ids"), &n);
        assert_int_equal(json_array_size(rows), n);
        const float *out;
        float *base = malloc(n * (size_t)V * sizeof *base);
        assert_int_equal(paw_ctx_set_adapter(c, NULL, 0), PAW_OK);
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &out), PAW_OK);
        memcpy(base, out, n * (size_t)V * sizeof *base);
        assert_int_equal(paw_ctx_set_adapter(c, a, 1.0f), PAW_OK);
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, ids, (int32_t)n, 1, &out), PAW_OK);
        for (size_t t = 0; t < n; t++) {
            json_t *r = json_array_get(rows, t), *sel = json_object_get(r, "ids");
            json_t *ha = json_object_get(r, "adapted"), *hb = json_object_get(r, "base");
            for (size_t k = 0; k < json_array_size(sel); k++) {
                size_t v = (size_t)json_integer_value(json_array_get(sel, k));
                double hfa = json_number_value(json_array_get(ha, k)), hfb = json_number_value(json_array_get(hb, k));
                double d = fabs((out[t * V + v] - base[t * V + v]) - (hfa - hfb));
                worst = fmax(worst, d);
                sum += d;
                n_vals++;
                shift = fmax(shift, fabs(hfa - hfb));
                effect += fabs(hfa - hfb);
                d_base = fmax(d_base, fabs(base[t * V + v] - hfb));
            }
        }
        free(base);
        free(ids);
    }
    print_message("paw-trained adapter, PEFT export in transformers vs paw's GGUF export in paw: the adapter's "
                  "effect differs by max %.3f, mean %.4f over %zu logits (bounds %.2f, %.3f); it moves HF's "
                  "logits by up to %.2f; base logits differ by up to %.2f\n",
                  worst, sum / (double)n_vals, n_vals, PEFT_MAX_DDELTA, PEFT_MEAN_DDELTA, shift, d_base);
    assert_true(worst <= PEFT_MAX_DDELTA);
    assert_true(sum / (double)n_vals <= PEFT_MEAN_DDELTA);
    assert_true(shift > 5 * PEFT_MAX_DDELTA);
    assert_true(effect / (double)n_vals > 10 * PEFT_MEAN_DDELTA);
    paw_adapter_free(a);
    paw_ctx_free(c);
    paw_model_free(m);
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paw_trained_adapter_in_llamacpp),
        cmocka_unit_test(test_peft_export_in_transformers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
