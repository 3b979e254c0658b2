/* test_batch.c — paw_decode_batch against paw_decode, bit for bit.
 *
 * The reference for every sequence is the same tokens run through
 * paw_decode alone on a ctx of its own with the same adapters: the batched
 * logits must be memcmp-equal, at the first step (prefill of different
 * lengths at different positions) and at later decode steps (which read
 * the KV the batch wrote).  Models: the stories260K fixture (llama, with a
 * trained adapter at two scales, f16 KV, flash attention, a batch over the
 * 512-row pass limit), the tiny Qwen3 (q/k norms) and GPT-2 (fused qkv,
 * learned positions, biases) goldens with their adapters, and SmolLM2-135M
 * with two adapters of different types and rank.  The whole suite reruns
 * as a child process under every other SIMD set this CPU has
 * (PAW_SIMD=scalar, avx2, avxvnni, avx512); under sanitizers only the
 * scalar set reruns (the plain build checks the SIMD sets' bits, and each
 * rerun costs minutes there).  Then the argument checks. */
#include <sys/wait.h>
#include "testutil.h"

#include "paw.h"
#include "core/cpu.h"

#define MAXSEQ 8
#define STORIES "fixtures/stories260k/stories260K.gguf"

static paw_model *load_model(const char *path)
{
    paw_model *m = NULL;
    if (paw_model_load(path, &m)) fail_msg("load %s: %s", path, paw_last_error());
    return m;
}

static paw_adapter *load_adapter(const char *path)
{
    paw_adapter *a = NULL;
    if (paw_adapter_load(path, &a)) fail_msg("adapter %s: %s", path, paw_last_error());
    return a;
}

/* One sequence of a case: its ctx settings, adapter, prefix and steps. */
typedef struct seq_spec {
    paw_adapter *ad;
    float        scale;
    int          kv_f16, flash;
    int32_t      n_prefix;   /* evaluated before the batch (its position) */
    int32_t      n_first;    /* tokens of the first batched step          */
} seq_spec;

static int g_int8;   /* new ctxs run int8 products (paw_ctx_params.int8) */

static paw_ctx *new_ctx(const paw_model *m, const seq_spec *s, int n_ctx)
{
    paw_ctx_params p = {.n_ctx = n_ctx, .n_threads = 2, .kv_type = s->kv_f16 ? PAW_TYPE_F16 : PAW_TYPE_F32,
                        .flash_attn = s->flash, .int8 = g_int8};
    paw_ctx *c = NULL;
    if (paw_ctx_new(m, &p, &c)) fail_msg("ctx: %s", paw_last_error());
    if (s->ad && paw_ctx_attach_adapter(c, s->ad, s->scale)) fail_msg("attach: %s", paw_last_error());
    return c;
}

/* Deterministic token ids in [1, n_vocab). */
static int32_t tok_at(int seq, int i, int32_t n_vocab)
{
    uint32_t h = (uint32_t)(seq * 7919 + i * 104729 + 17);
    h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
    return 1 + (int32_t)(h % (uint32_t)(n_vocab - 1));
}

/* Runs the case: a batched first step of n_first tokens per sequence, then
 * `steps` batched single-token steps (each sequence's greedy token from its
 * last logits), each compared with the same tokens decoded alone. */
static void run_case(const paw_model *m, const seq_spec *spec, int n, int n_ctx, int steps)
{
    const int32_t V = paw_model_n_vocab(m);
    paw_ctx *bc[MAXSEQ], *rc[MAXSEQ];
    int32_t *ids[MAXSEQ], n_ids[MAXSEQ], next[MAXSEQ];
    assert_true(n <= MAXSEQ);
    for (int s = 0; s < n; s++) {
        bc[s] = new_ctx(m, &spec[s], n_ctx);
        rc[s] = new_ctx(m, &spec[s], n_ctx);
        ids[s] = malloc((size_t)(spec[s].n_prefix + spec[s].n_first) * sizeof(int32_t));
        assert_non_null(ids[s]);
        for (int i = 0; i < spec[s].n_prefix + spec[s].n_first; i++) ids[s][i] = tok_at(s, i, V);
        if (spec[s].n_prefix) {
            assert_int_equal(paw_decode(bc[s], ids[s], spec[s].n_prefix, 0, NULL), PAW_OK);
            assert_int_equal(paw_decode(rc[s], ids[s], spec[s].n_prefix, 0, NULL), PAW_OK);
        }
    }
    for (int step = 0; step <= steps; step++) {
        const int32_t *bi[MAXSEQ];
        const float *bl[MAXSEQ];
        for (int s = 0; s < n; s++) {
            bi[s] = step ? &next[s] : ids[s] + spec[s].n_prefix;
            n_ids[s] = step ? 1 : spec[s].n_first;
        }
        if (paw_decode_batch(bc, bi, n_ids, n, bl)) fail_msg("decode_batch: %s", paw_last_error());
        for (int s = 0; s < n; s++) {
            const float *rl = NULL;
            if (paw_decode(rc[s], bi[s], n_ids[s], 0, &rl)) fail_msg("decode: %s", paw_last_error());
            assert_non_null(bl[s]);
            if (memcmp(bl[s], rl, (size_t)V * sizeof(float))) {
                int32_t at = 0;
                while (bl[s][at] == rl[at]) at++;
                fail_msg("step %d, sequence %d: logit %d is %.9g batched, %.9g alone", step, s, at,
                         (double)bl[s][at], (double)rl[at]);
            }
            assert_int_equal(paw_ctx_n_past(bc[s]), paw_ctx_n_past(rc[s]));
            assert_memory_equal(paw_ctx_tokens(bc[s]), paw_ctx_tokens(rc[s]),
                                (size_t)paw_ctx_n_past(rc[s]) * sizeof(int32_t));
            int32_t best = 0;
            for (int32_t i = 1; i < V; i++) if (rl[i] > rl[best]) best = i;
            next[s] = best;
        }
    }
    for (int s = 0; s < n; s++) {
        paw_ctx_free(bc[s]);
        paw_ctx_free(rc[s]);
        free(ids[s]);
    }
}

/* stories260K: an adapter at two scales and none; f32 and f16 KV, plain
 * and flash attention; lengths 1..7 at positions 0..40. */
static void test_stories(void **state)
{
    (void)state;
    paw_model *m = load_model(tu_shared(STORIES));
    paw_adapter *a = load_adapter("tests/golden/lora/stories-paw-trained.gguf");
    const seq_spec spec[] = {
        { a, 1.0f, 0, 0, 12, 5 },
        { NULL, 0, 0, 0, 0, 1 },
        { a, 1.0f, 0, 0, 3, 1 },      /* same adapter as the first: one LoRA group */
        { a, 1.0f, 0, 0, 40, 7 },
        { a, 0.5f, 1, 0, 7, 2 },
        { NULL, 0, 1, 1, 20, 3 },
        { a, 2.0f, 0, 1, 1, 1 },
    };
    run_case(m, spec, 7, 128, 6);
    /* one sequence alone, and two of the same ctx settings */
    run_case(m, spec, 1, 128, 2);
    paw_adapter_free(a);
    paw_model_free(m);
}

/* More rows than one pass holds (512): three prefills of 200 tokens. */
static void test_stories_long(void **state)
{
    (void)state;
    paw_model *m = load_model(tu_shared(STORIES));
    paw_adapter *a = load_adapter("tests/golden/lora/stories-paw-trained.gguf");
    const seq_spec spec[] = {
        { a, 1.0f, 0, 0, 0, 200 },
        { NULL, 0, 0, 0, 5, 200 },
        { a, 0.5f, 0, 0, 9, 200 },
    };
    run_case(m, spec, 3, 256, 2);
    paw_adapter_free(a);
    paw_model_free(m);
}

/* Qwen3 (q/k norms, two adapters at once on one sequence) and GPT-2 (fused
 * qkv with bias, learned positions, layer norm). */
static void test_tiny_archs(void **state)
{
    (void)state;
    paw_model *q = load_model("tests/golden/model/qwen3-tiny.gguf");
    paw_adapter *qa = load_adapter("tests/golden/lora/qwen3-a.gguf");
    paw_adapter *qb = load_adapter("tests/golden/lora/qwen3-b.gguf");
    seq_spec qs[] = {
        { qa, 1.0f, 0, 0, 4, 3 },
        { qb, 1.0f, 0, 0, 0, 6 },
        { NULL, 0, 1, 0, 9, 1 },
        { qa, 1.0f, 0, 0, 2, 2 },
    };
    run_case(q, qs, 4, 64, 4);
    /* a ctx with both adapters attached beside ones with one */
    paw_ctx_params p = {.n_ctx = 64, .n_threads = 2};
    paw_ctx *b2[2], *r2[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(paw_ctx_new(q, &p, &b2[i]), PAW_OK);
        assert_int_equal(paw_ctx_new(q, &p, &r2[i]), PAW_OK);
        assert_int_equal(paw_ctx_attach_adapter(b2[i], qa, 1.0f), PAW_OK);
        assert_int_equal(paw_ctx_attach_adapter(r2[i], qa, 1.0f), PAW_OK);
    }
    assert_int_equal(paw_ctx_attach_adapter(b2[1], qb, 0.7f), PAW_OK);
    assert_int_equal(paw_ctx_attach_adapter(r2[1], qb, 0.7f), PAW_OK);
    const int32_t t0[3] = { 5, 9, 11 }, t1[2] = { 7, 3 };
    const int32_t *bi[2] = { t0, t1 }, nb[2] = { 3, 2 };
    const float *bl[2], *rl;
    assert_int_equal(paw_decode_batch(b2, bi, nb, 2, bl), PAW_OK);
    const int32_t V = paw_model_n_vocab(q);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(paw_decode(r2[i], bi[i], nb[i], 0, &rl), PAW_OK);
        assert_memory_equal(bl[i], rl, (size_t)V * sizeof(float));
        paw_ctx_free(b2[i]);
        paw_ctx_free(r2[i]);
    }
    paw_adapter_free(qa);
    paw_adapter_free(qb);
    paw_model_free(q);

    paw_model *g = load_model("tests/golden/model/gpt2-tiny.gguf");
    paw_adapter *ga = load_adapter("tests/golden/lora/gpt2-a.gguf");
    const seq_spec gs[] = {
        { ga, 1.0f, 0, 0, 3, 4 },
        { NULL, 0, 0, 0, 0, 2 },
        { ga, 0.25f, 1, 0, 11, 1 },
    };
    run_case(g, gs, 3, 64, 4);
    paw_adapter_free(ga);
    paw_model_free(g);
}

/* SmolLM2-135M (Q4_1 weights): rank 8 F16 and rank 32 Q4_0 adapters, and
 * the base, with prompts of program-call size. */
static void test_smollm2(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    paw_model *m = load_model(tu_smollm2());
    paw_adapter *a = load_adapter("tests/golden/lora/smollm2-f16-r8.gguf");
    paw_adapter *b = load_adapter("tests/golden/lora/smollm2-q4_0-r32.gguf");
    const seq_spec spec[] = {
        { a, 1.0f, 0, 0, 30, 9 },
        { a, 1.0f, 0, 0, 30, 4 },
        { b, 1.0f, 0, 0, 25, 12 },
        { NULL, 0, 0, 0, 10, 1 },
        { b, 0.5f, 1, 0, 2, 6 },
    };
    run_case(m, spec, 5, 96, 3);
    /* With int8 products (AVX-512 VNNI; elsewhere the same run again): the
     * packs' outputs do not depend on the rows beside them either. */
    g_int8 = 1;
    run_case(m, spec, 5, 96, 3);
    g_int8 = 0;
    paw_adapter_free(a);
    paw_adapter_free(b);
    paw_model_free(m);
}

/* Bad arguments: refused before anything is evaluated. */
static void test_errors(void **state)
{
    (void)state;
    paw_model *m = load_model(tu_shared(STORIES));
    paw_model *m2 = load_model(tu_shared(STORIES));
    paw_ctx_params p = {.n_ctx = 16, .n_threads = 2};
    paw_ctx *c[3];
    assert_int_equal(paw_ctx_new(m, &p, &c[0]), PAW_OK);
    assert_int_equal(paw_ctx_new(m, &p, &c[1]), PAW_OK);
    assert_int_equal(paw_ctx_new(m2, &p, &c[2]), PAW_OK);
    const int32_t a[2] = { 5, 6 }, big[20] = { 1 }, bad[1] = { 1 << 30 };
    const int32_t *ids[2] = { a, a }, n2[2] = { 2, 2 };
    const float *lg[2];
    paw_ctx *same[2] = { c[0], c[0] }, *other[2] = { c[0], c[2] };
    assert_int_equal(paw_decode_batch(same, ids, n2, 2, lg), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "share a ctx"));
    assert_int_equal(paw_decode_batch(other, ids, n2, 2, lg), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "another model"));
    assert_int_equal(paw_decode_batch(c, ids, n2, 0, lg), PAW_EINVAL);
    const int32_t *ib[2] = { a, big }, nb[2] = { 2, 20 };
    assert_int_equal(paw_decode_batch(c, ib, nb, 2, lg), PAW_ERANGE);
    assert_null(lg[0]);
    const int32_t *ix[2] = { a, bad }, nx[2] = { 2, 1 };
    assert_int_equal(paw_decode_batch(c, ix, nx, 2, lg), PAW_EINVAL);
    const int32_t n0[2] = { 2, 0 };
    assert_int_equal(paw_decode_batch(c, ids, n0, 2, lg), PAW_EINVAL);
    /* ctxs of one batch agree on int8 products */
    paw_ctx_params p8 = {.n_ctx = 16, .n_threads = 2, .int8 = 1};
    paw_ctx *c8 = NULL;
    assert_int_equal(paw_ctx_new(m, &p8, &c8), PAW_OK);
    paw_ctx *mixed[2] = { c[0], c8 };
    if (paw_ctx_int8(c8)) {
        assert_int_equal(paw_decode_batch(mixed, ids, n2, 2, lg), PAW_EINVAL);
        assert_non_null(strstr(paw_last_error(), "int8"));
    }
    paw_ctx_free(c8);
    /* nothing was evaluated by any refused call */
    assert_int_equal(paw_ctx_n_past(c[0]), 0);
    assert_int_equal(paw_ctx_n_past(c[1]), 0);
    /* logits NULL: evaluated, no head */
    assert_int_equal(paw_decode_batch(c, ids, n2, 2, NULL), PAW_OK);
    assert_int_equal(paw_ctx_n_past(c[1]), 2);
    for (int i = 0; i < 3; i++) paw_ctx_free(c[i]);
    paw_model_free(m);
    paw_model_free(m2);
}

/* The suite again under every other kernel set this CPU has. */
static void test_every_set(void **state)
{
    (void)state;
    const unsigned f = paw_cpu_features_detected();
    paw_simd_choice best;
    paw_simd_select(NULL, f, &best);
    int ran = 0;
    for (int level = PAW_SIMD_SCALAR; level <= PAW_SIMD_AVX512; level++) {
        paw_simd_choice c;
        paw_simd_select(paw_simd_level_name(level), f, &c);
        if (level == best.level || c.refused || (PAW_TEST_SANITIZED && level != PAW_SIMD_SCALAR)) {
            printf("# %s: %s\n", paw_simd_level_name(level), c.refused ? "not on this CPU"
                   : level == best.level ? "the default, run above" : "not rerun under sanitizers");
            continue;
        }
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "PAW_BATCH_CHILD=1 PAW_SIMD=%s /proc/%d/exe >/dev/null 2>&1",
                 paw_simd_level_name(level), (int)getpid());
        int rc = system(cmd);
        rc = rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
        if (rc) fail_msg("test_batch under PAW_SIMD=%s: exit %d", paw_simd_level_name(level), rc);
        printf("# test_batch passes under PAW_SIMD=%s\n", paw_simd_level_name(level));
        ran++;
    }
    assert_true(ran >= 1);   /* scalar at least, on any CPU with SIMD */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories),
        cmocka_unit_test(test_stories_long),
        cmocka_unit_test(test_tiny_archs),
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_every_set),
    };
    /* A child run (test_every_set) runs all but itself. */
    const size_t n = sizeof tests / sizeof tests[0] - (getenv("PAW_BATCH_CHILD") ? 1 : 0);
    return _cmocka_run_group_tests("test_batch", tests, n, NULL, NULL);
}
