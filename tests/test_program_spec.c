/* test_program_spec.c — speculative decoding in the program runtime, on the
 * real SmolLM2-135M.
 *
 * Speculation is only allowed because it cannot change an output: a draft is
 * verified by one batched forward call, and that is exact only if the logits
 * of row j of a batch equal, bit for bit, the logits of the same token
 * evaluated alone after rows 0..j-1.  The first tests check exactly that
 * (f32 and f16 KV, with and without a rank-64 Q4_0 adapter on all seven
 * projections, as official programs have); the others compare the outputs of
 * handles with and without speculation on many inputs, and check that drafts
 * do get accepted. */
#include <unistd.h>
#include "testutil.h"
#include "paw.h"
#include "core/quant.h"
#include "model/gguf.h"

static paw_model *g_model;
static uint8_t *g_adapter;      /* Q4_0 rank-64 LoRA on every projection    */
static size_t g_adapter_len;

static float frand(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return ((float)(*x >> 8) / 16777216.0f - 0.5f);
}

/* A Q4_0 LoRA of rank 64, alpha 16, on all seven projections of every layer
 * (the official programs' shape); B large enough to change the outputs. */
static uint8_t *make_adapter(size_t *len)
{
    static const char *const stems[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    const int rank = 64;
    paw_gguf *g = (paw_gguf *)paw_model_gguf(g_model);
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "llama", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 16.0f), PAW_OK);
    int n_layer = paw_model_n_layer(g_model), nb = 0;
    void **bufs = calloc((size_t)n_layer * 14, sizeof *bufs);
    uint32_t x = 7;
    for (int l = 0; l < n_layer; l++)
        for (int s = 0; s < 7; s++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, stems[s]);
            const paw_gguf_tensor *t = paw_gguf_find_tensor(g, name);
            assert_non_null(t);
            int64_t ne_a[2] = {t->ne[0], rank}, ne_b[2] = {rank, t->ne[1]};
            for (int k = 0; k < 2; k++) {
                const int64_t *ne = k ? ne_b : ne_a, n = ne[0] * ne[1];
                float *f = malloc((size_t)n * sizeof *f);
                void *q = malloc(paw_type_row_bytes(PAW_TYPE_Q4_0, n));
                for (int64_t i = 0; i < n; i++) f[i] = frand(&x) * (k ? 0.02f : 0.1f);
                paw_quantize(PAW_TYPE_Q4_0, f, q, n);
                free(f);
                bufs[nb++] = q;
                snprintf(name, sizeof name, "blk.%d.%s.weight.lora_%c", l, stems[s], k ? 'b' : 'a');
                assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_Q4_0, 2, ne, q), PAW_OK);
            }
        }
    char path[256];
    snprintf(path, sizeof path, "/tmp/paw-test-spec-%ld.gguf", (long)getpid());
    assert_int_equal(paw_gguf_writer_write(w, path), PAW_OK);
    paw_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    uint8_t *p = (uint8_t *)tu_read_file(path, len);
    assert_non_null(p);
    unlink(path);
    return p;
}

static int setup(void **state)
{
    (void)state;
    if (access(tu_smollm2(), R_OK)) {
        fprintf(stderr, "model missing: %s (run `paw pull smollm2-135m`)\n", tu_smollm2());
        return -1;
    }
    if (paw_model_load(tu_smollm2(), &g_model)) return -1;
    g_adapter = make_adapter(&g_adapter_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_adapter);
    paw_model_free(g_model);
    return 0;
}

/* ------------------------------------------- batched == one at a time */

/* Evaluates a prompt, then the same continuation once token by token and
 * once as one batch with logits for every row: each row's logits must be
 * identical, and so must the K/V they leave (checked by one more token
 * evaluated after each). */
static void check_batch_equals_steps(int kv_type, int with_adapter, int n_threads)
{
    paw_ctx_params cp = {.n_ctx = 256, .n_threads = n_threads, .kv_type = kv_type};
    paw_ctx *c;
    assert_int_equal(paw_ctx_new(g_model, &cp, &c), PAW_OK);
    paw_adapter *a = NULL;
    if (with_adapter) {
        assert_int_equal(paw_adapter_load_mem(g_adapter, g_adapter_len, &a), PAW_OK);
        assert_int_equal(paw_ctx_set_adapter(c, a, 1.0f), PAW_OK);
    }
    const int32_t nv = paw_model_n_vocab(g_model);
    int32_t prompt[40];
    uint32_t x = 99;
    for (int i = 0; i < 40; i++) { x = x * 1664525u + 1013904223u; prompt[i] = (int32_t)(x >> 8) % 20000 + 100; }
    /* drafts of several lengths, at several positions */
    static const int lens[] = {1, 2, 3, 5, 8, 13};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int n = lens[li], n0 = 20 + (int)li;
        const int32_t *cont = prompt + n0;
        float *steps = malloc((size_t)(n + 1) * nv * sizeof *steps);
        const float *lg;
        assert_int_equal(paw_kv_truncate(c, 0), PAW_OK);
        assert_int_equal(paw_decode(c, prompt, n0, 0, &lg), PAW_OK);
        for (int i = 0; i <= n; i++) {
            assert_int_equal(paw_decode(c, cont + i, 1, 0, &lg), PAW_OK);
            memcpy(steps + (size_t)i * nv, lg, (size_t)nv * sizeof *lg);
        }
        assert_int_equal(paw_kv_truncate(c, n0), PAW_OK);
        assert_int_equal(paw_decode(c, cont, n, 1, &lg), PAW_OK);
        for (int i = 0; i < n; i++)
            if (memcmp(steps + (size_t)i * nv, lg + (size_t)i * nv, (size_t)nv * sizeof *lg))
                fail_msg("kv %d adapter %d threads %d: row %d of a %d-token batch differs from "
                         "one-token decoding", kv_type, with_adapter, n_threads, i, n);
        assert_int_equal(paw_decode(c, cont + n, 1, 0, &lg), PAW_OK);
        assert_memory_equal(steps + (size_t)n * nv, lg, (size_t)nv * sizeof *lg);
        free(steps);
    }
    paw_ctx_free(c);
    paw_adapter_free(a);
}

static void test_batch_equals_steps_f32(void **state)
{
    (void)state;
    check_batch_equals_steps(PAW_TYPE_F32, 0, 2);
    check_batch_equals_steps(PAW_TYPE_F32, 1, 2);
    check_batch_equals_steps(PAW_TYPE_F32, 1, 1);
}

static void test_batch_equals_steps_f16(void **state)
{
    (void)state;
    check_batch_equals_steps(PAW_TYPE_F16, 0, 2);
    check_batch_equals_steps(PAW_TYPE_F16, 1, 2);
}

/* ------------------------------------------- speculative == plain */

static const char *const inputs[] = {
    "The production database is down and customers cannot pay.",
    "Lunch on Friday?",
    "URGENT: the office is on fire",
    "Your weekly newsletter is here",
    "Server room temperature 45C and rising",
    "Can you review my pull request when you have time?",
    "All payments failing since 09:00, revenue impact",
    "Happy birthday!",
    "The production database is down and customers cannot pay.",
    "Reminder: dentist appointment next month",
    "Security breach detected on the VPN gateway",
    "Lunch on Friday?",
    "",
    "ok",
};
#define N_INPUTS (int)(sizeof inputs / sizeof inputs[0])

static paw_program *open_prog(int with_adapter, int kv_type, int no_spec, int always)
{
    char user[512];
    /* A task whose answers vary with the input and often share first
     * tokens: drafts are accepted in part, in full, or not at all. */
    snprintf(user, sizeof user, "Is this message urgent? Answer Yes or No, then give the reason.\n\n%s",
             PAW_PROGRAM_PLACEHOLDER);
    paw_chat_msg msg = {"user", user};
    paw_bundle b = {0};
    assert_int_equal(paw_chat_format(g_model, &msg, 1, 1, &b.prompt_template, &b.prompt_template_len),
                     PAW_OK);
    /* always: checks of the drafting itself must not depend on this
     * machine's timings (which decide whether drafting pauses). */
    paw_program_opts o = {.n_threads = 2, .kv_type = kv_type, .no_base_check = 1,
                          .no_speculation = no_spec, .spec_always = always};
    paw_program *p = NULL;
    if (with_adapter) {
        paw_program_example ex[2] = {{"a", "URGENT"}, {"b", "NORMAL"}};
        b.adapter = g_adapter;
        b.adapter_len = g_adapter_len;
        b.meta.interpreter = "HuggingFaceTB/SmolLM2-135M-Instruct";
        b.meta.examples = ex;
        b.meta.n_examples = 2;
        assert_int_equal(paw_program_open_bundle(g_model, &b, &o, &p), PAW_OK);
    } else {
        assert_int_equal(paw_program_open_template(g_model, b.prompt_template, b.prompt_template_len,
                                                   &o, &p), PAW_OK);
    }
    free(b.prompt_template);
    return p;
}

static char *call(paw_program *p, const char *in, int max_tokens, paw_program_stats *st)
{
    char *out = NULL;
    if (paw_program_call(p, in, strlen(in), max_tokens, &out, NULL))
        fail_msg("paw_program_call: %s", paw_last_error());
    paw_program_get_stats(p, st);
    return out;
}

/* Every input, at several max_tokens, through a speculating handle and a
 * plain one: same text, same ids count, same stop reason. */
static void check_same_outputs(int with_adapter, int kv_type, int always)
{
    paw_program *spec = open_prog(with_adapter, kv_type, 0, always),
                *plain = open_prog(with_adapter, kv_type, 1, 0);
    static const int maxes[] = {16, 2, 3};
    int hits = 0;
    for (size_t k = 0; k < sizeof maxes / sizeof maxes[0]; k++)
        for (int i = 0; i < N_INPUTS; i++) {
            paw_program_stats ss, ps;
            char *a = call(spec, inputs[i], maxes[k], &ss), *b = call(plain, inputs[i], maxes[k], &ps);
            if (strcmp(a, b))
                fail_msg("adapter %d kv %d max %d input %d: speculative \"%s\" != plain \"%s\"",
                         with_adapter, kv_type, maxes[k], i, a, b);
            assert_int_equal(ss.n_gen, ps.n_gen);
            assert_int_equal(ss.stop_reason, ps.stop_reason);
            assert_int_equal(ps.n_drafted, 0);
            assert_int_equal(ps.n_forward, ps.n_gen - (ps.stop_reason == PAW_STOP_MAX_TOKENS));
            assert_true(ss.n_accepted <= ss.n_drafted);
            /* one forward call per token not taken from an accepted draft */
            assert_int_equal(ss.n_forward, ps.n_forward - ss.n_accepted);
            hits += ss.n_accepted > 0;
            if (getenv("SPEC_VERBOSE"))
                fprintf(stderr, "max %d in %d: \"%s\" gen %d drafted %d accepted %d\n", maxes[k], i, a,
                        ss.n_gen, ss.n_drafted, ss.n_accepted);
            free(a);
            free(b);
        }
    paw_program_stats st;
    paw_program_get_stats(spec, &st);
    if (always) {  /* (a default handle may pause drafting throughout) */
        assert_true(hits > 0);
        assert_true(st.total_accepted > 0);
        assert_true(st.total_accepted < st.total_drafted);  /* misses happened too */
    }
    paw_program_close(spec);
    paw_program_close(plain);
}

static void test_same_outputs_no_adapter(void **state)
{
    (void)state;
    check_same_outputs(0, PAW_TYPE_F32, 1);
}

static void test_same_outputs_adapter(void **state)
{
    (void)state;
    check_same_outputs(1, PAW_TYPE_F32, 1);
}

/* The default handle: drafting pauses and resumes with its timings, and
 * the outputs stay the same whatever it decides. */
static void test_same_outputs_auto(void **state)
{
    (void)state;
    check_same_outputs(1, PAW_TYPE_F32, 0);
}

static void test_same_outputs_f16(void **state)
{
    (void)state;
    check_same_outputs(1, PAW_TYPE_F16, 1);
}

/* The same input twice: the second call's draft is the first call's output,
 * all of it accepted, so the whole answer takes one forward call after the
 * prefill. */
static void test_repeat_is_one_forward(void **state)
{
    (void)state;
    paw_program *p = open_prog(1, PAW_TYPE_F32, 0, 1);
    static const int maxes[] = {9, 4};  /* drafts of <= 8 tokens: one call */
    for (size_t k = 0; k < 2; k++) {
        paw_program_stats s1, s2;
        char *a = call(p, inputs[4], maxes[k], &s1), *b = call(p, inputs[4], maxes[k], &s2);
        assert_string_equal(a, b);
        assert_true(s2.n_gen >= 2);
        assert_int_equal(s2.n_forward, 1);
        assert_int_equal(s2.n_accepted, s2.n_drafted);
        assert_int_equal(s2.n_accepted, s2.n_gen - 1 - (s2.stop_reason == PAW_STOP_MAX_TOKENS));
        free(a);
        free(b);
    }
    paw_program_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_steps_f32),
        cmocka_unit_test(test_batch_equals_steps_f16),
        cmocka_unit_test(test_same_outputs_no_adapter),
        cmocka_unit_test(test_same_outputs_adapter),
        cmocka_unit_test(test_same_outputs_f16),
        cmocka_unit_test(test_same_outputs_auto),
        cmocka_unit_test(test_repeat_is_one_forward),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
