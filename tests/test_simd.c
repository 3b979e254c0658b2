/* test_simd.c — the run-time choice of kernel set (src/core/cpu.c) and the
 * sets against each other:
 *  - the choice for every PAW_SIMD value on CPUs with given features (the
 *    pure selector, fed fake feature masks): best set, forced set, refusal
 *    with a message naming the missing features;
 *  - a refused PAW_SIMD makes paw_model_load fail (the process's feature
 *    mask faked through the internal hook, before first use);
 *  - every set this CPU has gives exactly the AVX2 kernels' bits, per
 *    weight type, decode and prefill, on random and worst-case operands;
 *  - the golden parity suites (test_matmul: ggml's bits; test_model:
 *    llama.cpp's logits) pass again with PAW_SIMD forced to each set this CPU
 *    has, run as child processes;
 *  - `paw info --system` names the set and refuses an unknown one. */
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/kernels.h"
#include "core/matmul.h"

static const int all_weight_types[] = { PAW_TYPE_F32, PAW_TYPE_F16, PAW_TYPE_BF16, PAW_TYPE_Q4_0,
                                        PAW_TYPE_Q4_1, PAW_TYPE_Q5_0, PAW_TYPE_Q5_1, PAW_TYPE_Q8_0,
                                        PAW_TYPE_Q4_K, PAW_TYPE_Q5_K, PAW_TYPE_Q6_K };

static const unsigned AVX2_SET = PAW_CPU_AVX2 | PAW_CPU_FMA | PAW_CPU_F16C;
static const unsigned AVX512_SET = PAW_CPU_AVX512F | PAW_CPU_AVX512BW | PAW_CPU_AVX512VL | PAW_CPU_AVX512VNNI;

static void test_select(void **state)
{
    (void)state;
    paw_simd_choice c;
    paw_simd_select(NULL, AVX2_SET | AVX512_SET | PAW_CPU_AVXVNNI, &c);
    assert_int_equal(c.level, PAW_SIMD_AVX512);
    assert_false(c.forced || c.refused);
    paw_simd_select("", AVX2_SET | PAW_CPU_AVXVNNI, &c);
    assert_int_equal(c.level, PAW_SIMD_AVXVNNI);
    paw_simd_select(NULL, AVX2_SET, &c);
    assert_int_equal(c.level, PAW_SIMD_AVX2);
    /* AVX-512 without VNNI (Skylake-X) is not the avx512 set */
    paw_simd_select(NULL, AVX2_SET | PAW_CPU_AVX512F | PAW_CPU_AVX512BW | PAW_CPU_AVX512VL, &c);
    assert_int_equal(c.level, PAW_SIMD_AVX2);
    paw_simd_select(NULL, PAW_CPU_AVX2 | PAW_CPU_FMA, &c);   /* no F16C */
    assert_int_equal(c.level, PAW_SIMD_SCALAR);
    paw_simd_select(NULL, 0, &c);
    assert_int_equal(c.level, PAW_SIMD_SCALAR);

    paw_simd_select("avx2", AVX2_SET | AVX512_SET, &c);
    assert_int_equal(c.level, PAW_SIMD_AVX2);
    assert_true(c.forced);
    assert_false(c.refused);
    assert_non_null(strstr(c.why, "PAW_SIMD=avx2"));
    paw_simd_select("scalar", 0, &c);
    assert_int_equal(c.level, PAW_SIMD_SCALAR);
    assert_false(c.refused);

    paw_simd_select("avx512", AVX2_SET | PAW_CPU_AVX512F | PAW_CPU_AVX512BW, &c);
    assert_true(c.refused);
    assert_int_equal(c.level, PAW_SIMD_AVX2);   /* what runs meanwhile */
    assert_non_null(strstr(c.why, "avx512vl"));
    assert_non_null(strstr(c.why, "avx512_vnni"));
    assert_null(strstr(c.why, "avx512f "));
    paw_simd_select("avxvnni", AVX2_SET, &c);
    assert_true(c.refused);
    assert_non_null(strstr(c.why, "avx_vnni"));
    paw_simd_select("avx2", 0, &c);
    assert_true(c.refused);
    assert_int_equal(c.level, PAW_SIMD_SCALAR);
    paw_simd_select("AVX512", AVX2_SET | AVX512_SET, &c);   /* names are exact */
    assert_true(c.refused);
    assert_non_null(strstr(c.why, "not a kernel set"));
}

/* The process's own choice, on a CPU faked to have AVX2 only, with
 * PAW_SIMD=avx512: refused, and loading a model says why. */
static void test_refused_in_process(void **state)
{
    (void)state;
    setenv("PAW_SIMD", "avx512", 1);
    paw_cpu_fake_features(AVX2_SET);
    assert_int_equal(paw_simd_check(), PAW_EUNSUPPORTED);
    assert_string_equal(paw_simd_name(), "avx2");
    paw_model *m = NULL;
    assert_int_equal(paw_model_load("tests/golden/model/qwen3-tiny.gguf", &m), PAW_EUNSUPPORTED);
    assert_null(m);
    assert_non_null(strstr(paw_last_error(), "PAW_SIMD=avx512"));
    assert_non_null(strstr(paw_last_error(), "avx512_vnni"));
    unsetenv("PAW_SIMD");
}

static uint64_t rs = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (uint32_t)(rs >> 16);
}

/* Weights: random bytes with finite scales; `worst` makes every quant the
 * extreme value (Q8_0 -128, nibbles 15, Q6_K 63), where vpmaddubsw pair sums
 * are largest. */
static uint8_t *make_w(int type, int64_t rows, int64_t n, int worst)
{
    const size_t bytes = paw_type_row_bytes(type, n) * (size_t)rows;
    uint8_t *w = malloc(bytes);
    assert_non_null(w);
    const int bs = paw_type_block_size(type);
    if (bs == 1) {
        float *f = malloc((size_t)(rows * n) * sizeof(float));
        for (int64_t i = 0; i < rows * n; i++) f[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
        assert_int_equal(paw_quantize(type, f, w, rows * n), PAW_OK);
        free(f);
        return w;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = worst ? (type == PAW_TYPE_Q8_0 ? 0x80 : 0xff) : (uint8_t)rnd();
    /* finite fp16 scales at the positions each block keeps them */
    const size_t bb = paw_type_block_bytes(type);
    for (size_t o = 0; o < bytes; o += bb) {
        size_t at[2] = { 0, 2 };
        int na = (type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1 || type == PAW_TYPE_Q4_K || type == PAW_TYPE_Q5_K) ? 2 : 1;
        if (type == PAW_TYPE_Q6_K) at[0] = 208;
        for (int k = 0; k < na; k++) {
            uint16_t h = paw_f32_to_f16((float)(rnd() % 1000 + 1) / 8000.0f);
            memcpy(w + o + at[k], &h, 2);
        }
    }
    return w;
}

/* Every set the CPU has, every type: vec_dot and gemm give the AVX2 set's
 * bits, for decode (T = 1) and prefill tiles (T up to 9). */
static void test_sets_same_bits(void **state)
{
    (void)state;
    const unsigned f = paw_cpu_features_detected();
    int tested = 0;
    for (int level = PAW_SIMD_AVXVNNI; level <= PAW_SIMD_AVX512; level++) {
        paw_simd_choice c;
        paw_simd_select(paw_simd_level_name(level), f, &c);
        if (c.refused) {
            printf("# %s: not on this CPU (%s)\n", paw_simd_level_name(level), c.why);
            continue;
        }
        tested++;
        for (size_t ti = 0; ti < PAW_ARRAY_LEN(all_weight_types); ti++) {
            const int type = all_weight_types[ti];
            const paw_kernel k2 = paw_kernel_level(type, PAW_SIMD_AVX2), kl = paw_kernel_level(type, level);
            const int act = paw_type_get(type)->vec_dot_type;
            const paw_from_float_fn q = act == PAW_TYPE_F32 ? NULL : paw_type_get(act)->from_float;
            for (int worst = 0; worst < 2; worst++) {
                const int64_t n = paw_type_block_size(type) == 1 ? 259 : 1024, R = 9, T = 9;
                uint8_t *w = make_w(type, R, n, worst);
                float *x = malloc((size_t)(n * T) * sizeof(float));
                for (int64_t i = 0; i < n * T; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) / 997.0f;
                if (worst) for (int64_t i = 0; i < n * T; i++) x[i] = (i & 1) ? 1.0f : -1.0f;
                const size_t arow = paw_type_row_bytes(act, n), wrow = paw_type_row_bytes(type, n);
                uint8_t *a = malloc(arow * (size_t)T);
                for (int64_t t = 0; t < T; t++) {
                    if (q) q(x + t * n, a + (size_t)t * arow, n);
                    else memcpy(a + (size_t)t * arow, x + t * n, arow);
                }
                float y2[81], yl[81];
                static const int ncs[] = { 1, 2, 3, 5, 9 };   /* every tile shape and remainder */
                for (size_t ni = 0; ni < PAW_ARRAY_LEN(ncs); ni++) {
                    const int nc = ncs[ni];
                    memset(y2, 0, sizeof y2);
                    memset(yl, 0xff, sizeof yl);
                    k2.gemm(n, (int)R, nc, w, wrow, a, arow, y2, (size_t)R);
                    kl.gemm(n, (int)R, nc, w, wrow, a, arow, yl, (size_t)R);
                    if (memcmp(y2, yl, sizeof(float) * (size_t)(R * nc)))
                        fail_msg("%s %s gemm nc=%d worst=%d differs from avx2", paw_simd_level_name(level),
                                 paw_type_name(type), nc, worst);
                }
                for (int64_t r = 0; r < R; r++) {
                    float s2, sl;
                    k2.vec_dot(n, &s2, w + (size_t)r * wrow, a);
                    kl.vec_dot(n, &sl, w + (size_t)r * wrow, a);
                    assert_memory_equal(&s2, &sl, sizeof s2);
                    assert_memory_equal(&s2, &y2[r], sizeof s2);   /* decode == prefill */
                }
                free(w); free(x); free(a);
            }
        }
        /* activation quantisers: same bytes */
        float x[1024];
        for (int i = 0; i < 1024; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) / 3.0f;
        uint8_t b2[1200], bl[1200];
        paw_quantize_row_q8_0_avx2(x, b2, 1024);
        (level == PAW_SIMD_AVX512 ? paw_quantize_row_q8_0_avx512 : paw_quantize_row_q8_0_avxvnni)(x, bl, 1024);
        assert_memory_equal(b2, bl, paw_type_row_bytes(PAW_TYPE_Q8_0, 1024));
        paw_quantize_row_q8_1_avx2(x, b2, 1024);
        (level == PAW_SIMD_AVX512 ? paw_quantize_row_q8_1_avx512 : paw_quantize_row_q8_1_avxvnni)(x, bl, 1024);
        assert_memory_equal(b2, bl, paw_type_row_bytes(PAW_TYPE_Q8_1, 1024));
    }
    printf("# %d VNNI set(s) checked against avx2\n", tested);
}

/* Runs `cmd` with PAW_SIMD=set; returns its exit status (-1: did not run). */
static int run_with(const char *set, const char *cmd)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "PAW_SIMD=%s %s >/dev/null 2>&1", set, cmd);
    int rc = system(buf);
    return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static const char *bin_dir(void)
{
    static char d[1024];
    const char *b = getenv("PAW_BIN");
    snprintf(d, sizeof d, "%s", b ? b : "build/paw");
    char *s = strrchr(d, '/');
    if (s) *s = '\0'; else snprintf(d, sizeof d, ".");
    return d;
}

/* The golden suites under every SIMD set the CPU has besides the one the
 * suite itself runs with (the best; scalar has test_parity_scalar). */
static void test_golden_suites_every_set(void **state)
{
    (void)state;
    const unsigned f = paw_cpu_features_detected();
    const char *suites[] = { "test_matmul", "test_model" };
    paw_simd_choice best;
    paw_simd_select(NULL, f, &best);
    for (int level = PAW_SIMD_AVX2; level <= PAW_SIMD_AVX512; level++) {
        paw_simd_choice c;
        paw_simd_select(paw_simd_level_name(level), f, &c);
        if (level == best.level) {
            printf("# %s: the default here, run by the suite itself\n", paw_simd_level_name(level));
            continue;
        }
        if (c.refused) {
            printf("# %s: not on this CPU, suites not rerun\n", paw_simd_level_name(level));
            continue;
        }
        for (size_t i = 0; i < PAW_ARRAY_LEN(suites); i++) {
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "%s/tests/%s", bin_dir(), suites[i]);
            int rc = run_with(paw_simd_level_name(level), cmd);
            if (rc != 0) fail_msg("%s under PAW_SIMD=%s: exit %d", suites[i], paw_simd_level_name(level), rc);
            printf("# %s passes under PAW_SIMD=%s\n", suites[i], paw_simd_level_name(level));
        }
    }
}

static void test_cli_info_system(void **state)
{
    (void)state;
    const char *bin = getenv("PAW_BIN") ? getenv("PAW_BIN") : "build/paw";
    char cmd[1200], out[1024] = "";
    snprintf(cmd, sizeof cmd, "PAW_SIMD=avx2 %s info --system", bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "kernels: avx2\n"));
    assert_non_null(strstr(out, "forced by PAW_SIMD=avx2"));
    assert_non_null(strstr(out, "cpu features:"));
    assert_non_null(strstr(out, "int8 products: not available"));   /* AVX-512 only */
    snprintf(cmd, sizeof cmd, "%s info --system", bin);
    assert_int_equal(run_with("avx3000", cmd), 1);
    snprintf(cmd, sizeof cmd, "%s generate -m %s -p hi -n 1", bin, tu_smollm2());
    assert_int_equal(run_with("avx3000", cmd), 1);
    assert_int_equal(run_with("scalar", cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_in_process),   /* first: fakes the CPU */
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_sets_same_bits),
        cmocka_unit_test(test_cli_info_system),
        cmocka_unit_test(test_golden_suites_every_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
