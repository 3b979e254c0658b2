/* test_matmul.c — the thread pool, the AVX2 kernels against their scalar
 * references (every type, odd row counts, T = 1 and T > 1, 1 and 2 threads)
 * and the quantised product against the f32 reference within a proven bound
 * of the activation quantisation error; decode bits equal prefill bits, and
 * the AVX2 kernels' bits equal ggml's own (golden data). */
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>
#include "testutil.h"
#include "core/common.h"
#include "core/kernels.h"
#include "core/matmul.h"
#include "matmul_golden.h"
#include "core/quant.h"

static uint64_t rng_state = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float frnd(void) { return (float)rnd() / 2147483648.0f - 1.0f; }   /* [-1, 1) */

/* Whether the CPU has AVX2, FMA and F16C, from the kernel's own account in
 * /proc/cpuinfo (which also leaves them out where the OS does not save the
 * ymm state): a source independent of cpu.c's CPUID code.  The AVX2 kernel
 * tests run on this, not on paw_cpu_avx2(), so that they still run under
 * PAW_SIMD=scalar, which only changes what paw_matmul dispatches to. */
static int cpuinfo_has(const char *flags, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)) != NULL; p += n)
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}
static int cpu_avx2_flags(void)
{
    static int known = -1;
    if (known >= 0) return known;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) fail_msg("cannot read /proc/cpuinfo");
    static char line[16384];
    known = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            known = cpuinfo_has(line, "avx2") && cpuinfo_has(line, "fma") && cpuinfo_has(line, "f16c");
            break;
        }
    fclose(f);
    return known;
}
/* Does /proc/cpuinfo list every flag of the space-separated list? */
static int cpu_flags_all(const char *list)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) fail_msg("cannot read /proc/cpuinfo");
    static char line[16384];
    int all = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            all = 1;
            char flag[64];
            for (const char *p = list; sscanf(p, "%63s", flag) == 1; p += strspn(p, " ") + strlen(flag))
                all &= cpuinfo_has(line, flag);
            break;
        }
    fclose(f);
    return all;
}

/* On a CPU without AVX2 the AVX2 kernels cannot run: what can be checked
 * there is that paw took the scalar path. */
#define NEED_AVX2_CPU() do { \
        if (!cpu_avx2_flags()) { assert_string_equal(paw_simd_name(), "scalar"); return; } \
    } while (0)

/* Random weights of `type`: random quant bytes with finite fp16 scales. */
static void *random_weights(int type, int64_t rows, int64_t n)
{
    size_t bytes = paw_type_row_bytes(type, n) * (size_t)rows;
    uint8_t *w = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd();
    if (type == PAW_TYPE_F32 || type == PAW_TYPE_F16 || type == PAW_TYPE_BF16) {
        float *f = malloc((size_t)(rows * n) * sizeof(float));
        for (int64_t i = 0; i < rows * n; i++) f[i] = frnd();
        paw_quantize(type, f, w, rows * n);
        free(f);
        return w;
    }
    int offs[2] = { 0, -1 };
    if (type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1 || type == PAW_TYPE_Q4_K || type == PAW_TYPE_Q5_K)
        offs[1] = 2;
    if (type == PAW_TYPE_Q6_K) offs[0] = 208;
    size_t bb = paw_type_block_bytes(type);
    float scale = type == PAW_TYPE_Q4_K || type == PAW_TYPE_Q5_K || type == PAW_TYPE_Q6_K ? 0.002f : 0.05f;
    for (size_t b = 0; b < bytes / bb; b++)
        for (int k = 0; k < 2; k++)
            if (offs[k] >= 0) {
                uint16_t h = paw_f32_to_f16(frnd() * scale);
                memcpy(w + b * bb + offs[k], &h, 2);
            }
    return w;
}

static float *random_x(int64_t n)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frnd() * (1.0f + (float)(i % 7));
    return x;
}

/* Activations of row x as the kernels see them (scalar quantiser). */
static void *quant_act(int type, const float *x, int64_t n, int64_t T, size_t *row)
{
    const paw_type_traits *tt = paw_type_get(type);
    int at = tt->vec_dot_type;
    if (at == PAW_TYPE_F32) { *row = (size_t)n * 4; return memcpy(malloc(*row * T), x, *row * T); }
    *row = paw_type_row_bytes(at, n);
    uint8_t *a = malloc(*row * (size_t)T);
    /* the run-time activation quantiser of this CPU's path (AVX2: the same
     * bytes as the scalar paw_quantize_row_q8_0/1; scalar: ggml's reference
     * ones), as paw_matmul uses it */
    paw_from_float_fn q = paw_act_quantizer(at);
    for (int64_t t = 0; t < T; t++) q(x + t * n, a + *row * t, n);
    return a;
}

/* The activation row a (of w's activation type) as f32. */
static void act_to_float(int type, const void *a, float *af, int64_t n)
{
    int at = paw_type_get(type)->vec_dot_type;
    if (at == PAW_TYPE_F32) memcpy(af, a, (size_t)n * 4);
    else if (at == PAW_TYPE_Q8_K) {
        const paw_block_q8_K *b = a;
        for (int64_t i = 0; i < n; i++) af[i] = b[i / 256].qs[i % 256] * b[i / 256].d;
    } else paw_type_get(at)->to_float(a, af, n);
}

/* sum |w_k a_k| in f64: the scale of the rounding error of any summation
 * order (wf, af: dequantised weight row and activation row). */
static double abs_dot(const float *wf, const float *af, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)wf[i] * af[i]);
    return s;
}

static void test_act_quant_avx2_same_bytes(void **state)
{
    (void)state;
    NEED_AVX2_CPU();
    enum { N = 4096 };
    float *x = random_x(N);
    for (int i = 64; i < 96; i++) x[i] = 0.0f;
    x[200] = 1e-30f;
    static paw_block_q8_0 a0[N / 32], b0[N / 32];
    static paw_block_q8_1 a1[N / 32], b1[N / 32];
    paw_quantize_row_q8_0(x, a0, N);
    paw_quantize_row_q8_0_avx2(x, b0, N);
    assert_memory_equal(a0, b0, sizeof a0);
    paw_quantize_row_q8_1(x, a1, N);
    paw_quantize_row_q8_1_avx2(x, b1, N);
    assert_memory_equal(a1, b1, sizeof a1);
    free(x);
}

/* Every AVX2 vec_dot and gemm against the scalar vec_dot, per output. */
static void test_avx2_vs_scalar(void **state)
{
    (void)state;
    NEED_AVX2_CPU();
    for (size_t ti = 0; ti < PAW_ARRAY_LEN(all_weight_types); ti++) {
        int type = all_weight_types[ti];
        const int64_t n = paw_type_block_size(type) == 1 ? 517 : 768, R = 7, T = 6;
        paw_kernel ks = paw_kernel_scalar(type), kv = paw_simd_kernel_avx2(type);
        assert_non_null(kv.vec_dot);
        uint8_t *w = random_weights(type, R, n);
        float *x = random_x(n * T);
        size_t arow, wrow = paw_type_row_bytes(type, n);
        uint8_t *a = quant_act(type, x, n, T, &arow);
        float g[6 * 7], *wf = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
        if (kv.gemm) kv.gemm(n, (int)R, (int)T, w, wrow, a, arow, g, (size_t)R);
        for (int64_t r = 0; r < R; r++)
            for (int64_t t = 0; t < T; t++) {
                float s_ref, s_vec;
                ks.vec_dot(n, &s_ref, w + r * wrow, a + t * arow);
                kv.vec_dot(n, &s_vec, w + r * wrow, a + t * arow);
                paw_type_get(type)->to_float(w + r * wrow, wf, n);
                act_to_float(type, a + t * arow, af, n);
                double tol = 2e-5 * abs_dot(wf, af, n) + 1e-30;
                if (fabs(s_ref - s_vec) > tol)
                    fail_msg("%s vec_dot row %lld tok %lld: scalar %.9g avx2 %.9g (tol %.3g)",
                             paw_type_name(type), (long long)r, (long long)t, s_ref, s_vec, tol);
                if (kv.gemm && fabs(s_ref - g[t * R + r]) > tol)
                    fail_msg("%s gemm row %lld tok %lld: scalar %.9g avx2 %.9g (tol %.3g)",
                             paw_type_name(type), (long long)r, (long long)t, s_ref, g[t * R + r], tol);
            }
        free(w); free(x); free(a); free(wf); free(af);
    }
}

/* paw_matmul (whatever kernels this CPU gets, 0/1/2 threads) against scalar
 * vec_dot per output, and against paw_matmul_ref within the bound
 *   |err| <= sum_blocks sum_k |w_k| * amax_block(x) / 254
 * (half a quantisation step of the activation per element) for quantised
 * weights, or a float-rounding bound for float weights. */
static void check_matmul(paw_pool *pool, int type, int64_t rows, int64_t n, int64_t T)
{
    const paw_type_traits *tt = paw_type_get(type);
    uint8_t *w = random_weights(type, rows, n);
    float *x = random_x(n * T);
    float *y = malloc((size_t)(rows * T) * 4), *yr = malloc((size_t)(rows * T) * 4);
    float *wf = malloc((size_t)n * 4);
    size_t arow, wrow = paw_type_row_bytes(type, n);
    uint8_t *a = quant_act(type, x, n, T, &arow);
    paw_matmul(pool, y, w, type, rows, n, x, T);
    paw_matmul_ref(yr, w, type, rows, n, x, T);
    float *af = malloc((size_t)(n * T) * 4);
    for (int64_t t = 0; t < T; t++) act_to_float(type, a + t * arow, af + t * n, n);
    int qb = tt->vec_dot_type == PAW_TYPE_Q8_K ? 256 : tt->vec_dot_type == PAW_TYPE_F32 ? 1 : 32;
    for (int64_t r = 0; r < rows; r++) {
        tt->to_float(w + r * wrow, wf, n);
        for (int64_t t = 0; t < T; t++) {
            float s_ref;
            tt->vec_dot(n, &s_ref, w + r * wrow, a + t * arow);
            float got = y[t * rows + r];
            double tol = 2e-5 * abs_dot(wf, af + t * n, n) + 1e-30;
            /* The scalar kernel itself equals the f64 product of the
             * dequantised operands (Q4_1/Q5_1 use Q8_1's fp16-rounded s, so
             * they get fp16 rounding room). */
            double exact = 0;
            for (int64_t k = 0; k < n; k++) exact += (double)wf[k] * af[t * n + k];
            double tol_exact = tol * (tt->vec_dot_type == PAW_TYPE_Q8_1 ? 50 : 1);
            if (!(fabs(s_ref - exact) <= tol_exact))
                fail_msg("%s scalar vec_dot %.9g vs f64 dequantised product %.9g", tt->name, s_ref, exact);
            if (!(fabs(got - s_ref) <= tol))
                fail_msg("%s rows %lld n %lld T %lld threads %d: y[%lld][%lld] = %.9g, scalar %.9g",
                         tt->name, (long long)rows, (long long)n, (long long)T, paw_pool_size(pool),
                         (long long)t, (long long)r, got, s_ref);
            double bound = 0, mag = 0;
            const float *xt = x + t * n;
            for (int64_t b = 0; b < n; b += qb) {
                double sw = 0, amax = 0;
                for (int64_t k = b; k < b + qb; k++) {
                    sw += fabs(wf[k]);
                    amax = fmax(amax, fabs(xt[k]));
                    mag += fabs((double)wf[k] * xt[k]);
                }
                bound += sw * amax / 254.0;
            }
            if (tt->vec_dot_type == PAW_TYPE_F32) bound = 0;
            bound = bound * 1.01 + 1e-5 * mag + 1e-30;
            if (!(fabs(got - yr[t * rows + r]) <= bound))
                fail_msg("%s vs f32 reference: y[%lld][%lld] = %.9g, ref %.9g, bound %.3g", tt->name,
                         (long long)t, (long long)r, got, yr[t * rows + r], bound);
        }
    }
    free(w); free(x); free(y); free(yr); free(wf); free(a); free(af);
}

static void test_matmul_all_weight_types(void **state)
{
    (void)state;
    paw_pool *p1 = paw_pool_new(1), *p2 = paw_pool_new(2);
    assert_non_null(p1);
    assert_non_null(p2);
    paw_pool *pools[] = { NULL, p1, p2 };
    static const int64_t rows_list[] = { 1, 37, 131 };
    static const int64_t T_list[] = { 1, 3, 4, 9 };
    for (size_t ti = 0; ti < PAW_ARRAY_LEN(all_weight_types); ti++) {
        int type = all_weight_types[ti];
        int64_t n = paw_type_block_size(type) == 256 ? 512 : paw_type_block_size(type) == 1 ? 80 : 160;
        for (size_t pi = 0; pi < 3; pi++)
            for (size_t ri = 0; ri < PAW_ARRAY_LEN(rows_list); ri++)
                for (size_t k = 0; k < PAW_ARRAY_LEN(T_list); k++)
                    check_matmul(pools[pi], type, rows_list[ri], n, T_list[k]);
    }
    /* a large enough product that both threads take several chunks */
    check_matmul(p2, PAW_TYPE_Q4_1, 1000, 576, 1);
    check_matmul(p2, PAW_TYPE_Q8_0, 1000, 576, 70);
    paw_pool_free(p1);
    paw_pool_free(p2);
}

/* paw_matmul against ggml itself: tests/golden/matmul/ holds, per type,
 * weights, activations and the outputs of ggml's own AVX2 vec_dot (quantised
 * types: after ggml's own activation quantiser), written through ctypes by
 * scripts/gen_matmul_golden.py from llama.cpp's libggml-cpu.  The AVX2
 * kernels (and the VNNI sets built from the same source) sum in ggml's
 * order, so every output must match bit for bit, at
 * T = 3 (prefill tiles) and T = 1 (decode), with 1 and 2 threads.  Where
 * paw_matmul takes the scalar path (PAW_SIMD=scalar, or no AVX2), it must
 * equal ggml's plain C build bit for bit instead (tests/golden/matmul-generic,
 * as test_parity_scalar checks too). */
static void test_matmul_bits_equal_ggml(void **state)
{
    (void)state;
    /* Every SIMD set (avx2, avxvnni, avx512) sums in ggml's AVX2 order. */
    if (strcmp(paw_simd_name(), "scalar") != 0)
        assert_int_equal(matmul_golden_mismatches("matmul"), 0);
    else
        assert_int_equal(matmul_golden_mismatches("matmul-generic"), 0);
}

/* Decode and prefill give the same bits: paw_matmul with T tokens at once
 * equals T calls with one token each, for every type, several shapes (n
 * with and without a tail past the kernels' 32-element steps, row counts
 * that leave every tile edge) and 1 and 2 threads.  The forward pass relies
 * on it: a prompt evaluated in one batch or token by token must produce the
 * same logits, as in llama.cpp. */
static void test_matmul_decode_equals_prefill(void **state)
{
    (void)state;
    paw_pool *p2 = paw_pool_new(2);
    assert_non_null(p2);
    paw_pool *pools[] = { NULL, p2 };
    static const int64_t rows_list[] = { 1, 3, 6, 37, 200 };
    static const int64_t T_list[] = { 2, 5, 9, 67 };
    for (size_t ti = 0; ti < PAW_ARRAY_LEN(all_weight_types); ti++) {
        int type = all_weight_types[ti];
        int bs = paw_type_block_size(type);
        int64_t n_list[2] = { bs == 256 ? 512 : bs == 1 ? 96 : 160, bs == 256 ? 1024 : bs == 1 ? 517 : 576 };
        for (size_t ni = 0; ni < 2; ni++)
            for (size_t ri = 0; ri < PAW_ARRAY_LEN(rows_list); ri++)
                for (size_t k = 0; k < PAW_ARRAY_LEN(T_list); k++) {
                    int64_t n = n_list[ni], rows = rows_list[ri], T = T_list[k];
                    uint8_t *w = random_weights(type, rows, n);
                    float *x = random_x(n * T);
                    float *yp = malloc((size_t)(rows * T) * 4), *yd = malloc((size_t)rows * 4);
                    for (size_t pi = 0; pi < 2; pi++) {
                        paw_matmul(pools[pi], yp, w, type, rows, n, x, T);
                        for (int64_t t = 0; t < T; t++) {
                            paw_matmul(pools[1 - pi], yd, w, type, rows, n, x + t * n, 1);
                            for (int64_t r = 0; r < rows; r++)
                                if (memcmp(&yd[r], &yp[t * rows + r], 4))
                                    fail_msg("%s rows %lld n %lld T %lld threads %d: token %lld row %lld: "
                                             "decode %.9g, prefill %.9g", paw_type_name(type),
                                             (long long)rows, (long long)n, (long long)T,
                                             paw_pool_size(pools[pi]), (long long)t, (long long)r,
                                             yd[r], yp[t * rows + r]);
                        }
                    }
                    free(w); free(x); free(yp); free(yd);
                }
    }
    paw_pool_free(p2);
}

static void test_matmul_bad_type_gives_nan(void **state)
{
    (void)state;
    float x[32] = { 0 }, y[2] = { 0, 0 };
    uint8_t w[64] = { 0 };
    paw_matmul(NULL, y, w, 10 /* Q2_K: unsupported */, 2, 32, x, 1);
    assert_true(isnan(y[0]) && isnan(y[1]));
}

/* ----------------------------------------------------------------- pool */

typedef struct {
    atomic_int hits[8];
    atomic_int calls;
    int        nth_seen;
} pool_ctx;

static void pool_task(void *vctx, int ith, int nth)
{
    pool_ctx *c = vctx;
    atomic_fetch_add(&c->hits[ith], 1);
    atomic_fetch_add(&c->calls, 1);
    c->nth_seen = nth;
}

static void test_pool(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        paw_pool *p = paw_pool_new(n);
        assert_non_null(p);
        assert_int_equal(paw_pool_size(p), n);
        pool_ctx c;
        memset(&c, 0, sizeof c);
        for (int i = 0; i < 2000; i++) {
            paw_pool_run(p, pool_task, &c);
            /* every run is complete when paw_pool_run returns */
            assert_int_equal(atomic_load(&c.calls), (i + 1) * n);
            if (i % 500 == 0) usleep(20000);   /* let workers fall asleep: the wake path */
        }
        for (int t = 0; t < n; t++) assert_int_equal(atomic_load(&c.hits[t]), 2000);
        assert_int_equal(c.nth_seen, n);
        paw_pool_free(p);
    }
    pool_ctx c;
    memset(&c, 0, sizeof c);
    paw_pool_run(NULL, pool_task, &c);
    assert_int_equal(atomic_load(&c.hits[0]), 1);
    assert_int_equal(c.nth_seen, 1);
    assert_int_equal(paw_pool_size(NULL), 1);
    paw_pool_free(NULL);
    paw_pool *p = paw_pool_new(0);
    assert_true(paw_pool_size(p) >= 1);
    paw_pool_free(p);
}

static void test_simd_name(void **state)
{
    (void)state;
    /* The kernel set follows PAW_SIMD (run.sh and test_simd force only sets
     * the CPU has) or else the CPU's flags as /proc/cpuinfo reports them. */
    const char *env = getenv("PAW_SIMD"), *want = "scalar";
    if (env && *env) want = env;
    else if (cpu_flags_all("avx512f avx512bw avx512vl avx512_vnni avx2 fma f16c")) want = "avx512";
    else if (cpu_flags_all("avx_vnni avx2 fma f16c")) want = "avxvnni";
    else if (cpu_avx2_flags()) want = "avx2";
    assert_string_equal(paw_simd_name(), want);
    assert_int_equal(paw_cpu_avx2(), strcmp(want, "scalar") != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_name),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_act_quant_avx2_same_bytes),
        cmocka_unit_test(test_avx2_vs_scalar),
        cmocka_unit_test(test_matmul_all_weight_types),
        cmocka_unit_test(test_matmul_decode_equals_prefill),
        cmocka_unit_test(test_matmul_bits_equal_ggml),
        cmocka_unit_test(test_matmul_bad_type_gives_nan),
    };
    /* PAW_TEST_FILTER=test_pool runs one test (cmocka glob pattern) */
    if (getenv("PAW_TEST_FILTER")) cmocka_set_test_filter(getenv("PAW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
