/* test_quant.c — the type table, fp16 conversion, dequantisation of every
 * weight type and the quantisers, against golden output of gguf-py
 * (tests/golden/quant/, written by scripts/gen_quant_golden.py). */
#include <math.h>
#include "testutil.h"
#include "core/common.h"
#include "core/quant.h"

#define GOLDEN "tests/golden/quant/"

static void *read_golden(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, GOLDEN "%s", name);
    void *p = tu_read_file(path, len);
    if (!p) fail_msg("cannot read %s (run from the repository root)", path);
    return p;
}

static void test_type_table(void **state)
{
    (void)state;
    static const struct { int type; const char *name; int bs; size_t bytes; } want[] = {
        { PAW_TYPE_F32, "F32", 1, 4 },       { PAW_TYPE_F16, "F16", 1, 2 },
        { PAW_TYPE_BF16, "BF16", 1, 2 },     { PAW_TYPE_Q4_0, "Q4_0", 32, 18 },
        { PAW_TYPE_Q4_1, "Q4_1", 32, 20 },   { PAW_TYPE_Q5_0, "Q5_0", 32, 22 },
        { PAW_TYPE_Q5_1, "Q5_1", 32, 24 },   { PAW_TYPE_Q8_0, "Q8_0", 32, 34 },
        { PAW_TYPE_Q8_1, "Q8_1", 32, 36 },   { PAW_TYPE_Q4_K, "Q4_K", 256, 144 },
        { PAW_TYPE_Q5_K, "Q5_K", 256, 176 }, { PAW_TYPE_Q6_K, "Q6_K", 256, 210 },
        { PAW_TYPE_Q8_K, "Q8_K", 256, 292 },
    };
    for (size_t i = 0; i < PAW_ARRAY_LEN(want); i++) {
        assert_string_equal(paw_type_name(want[i].type), want[i].name);
        assert_int_equal(paw_type_block_size(want[i].type), want[i].bs);
        assert_int_equal(paw_type_block_bytes(want[i].type), want[i].bytes);
        assert_int_equal(paw_type_row_bytes(want[i].type, 1024), 1024 / want[i].bs * want[i].bytes);
    }
    /* ggml ids paw does not implement (Q2_K = 10, IQ types, ...) and junk. */
    static const int unknown[] = { -1, 4, 5, 10, 11, 16, 29, 31, 39, 40, 1000 };
    for (size_t i = 0; i < PAW_ARRAY_LEN(unknown); i++) {
        assert_null(paw_type_name(unknown[i]));
        assert_int_equal(paw_type_block_size(unknown[i]), 0);
        assert_int_equal(paw_type_block_bytes(unknown[i]), 0);
        assert_int_equal(paw_type_row_bytes(unknown[i], 256), 0);
    }
}

/* Every weight type dequantises bit-exactly like gguf-py. */
static void test_dequantize_golden(void **state)
{
    (void)state;
    static const int types[] = { PAW_TYPE_F32, PAW_TYPE_F16, PAW_TYPE_BF16, PAW_TYPE_Q4_0,
                                 PAW_TYPE_Q4_1, PAW_TYPE_Q5_0, PAW_TYPE_Q5_1, PAW_TYPE_Q8_0,
                                 PAW_TYPE_Q4_K, PAW_TYPE_Q5_K, PAW_TYPE_Q6_K };
    for (size_t i = 0; i < PAW_ARRAY_LEN(types); i++) {
        const char *name = paw_type_name(types[i]);
        char fn[64];
        size_t nraw, nref;
        snprintf(fn, sizeof fn, "%s.bin", name);
        uint8_t *raw = read_golden(fn, &nraw);
        snprintf(fn, sizeof fn, "%s.f32", name);
        float *ref = read_golden(fn, &nref);
        int64_t n = (int64_t)(nref / sizeof(float));
        assert_int_equal(paw_type_row_bytes(types[i], n), nraw);
        float *out = malloc(nref);
        assert_int_equal(paw_dequantize(types[i], raw, out, n), PAW_OK);
        for (int64_t k = 0; k < n; k++) {
            uint32_t a, b;
            memcpy(&a, &out[k], 4);
            memcpy(&b, &ref[k], 4);
            if (a != b)
                fail_msg("%s element %lld: got %.9g (0x%08x), gguf-py %.9g (0x%08x)", name,
                         (long long)k, out[k], a, ref[k], b);
        }
        free(raw); free(ref); free(out);
    }
}

/* F16, BF16, Q8_0, Q4_0 quantisation gives gguf-py's bytes exactly. */
static void test_quantize_golden(void **state)
{
    (void)state;
    size_t nin;
    float *x = read_golden("quant_in.f32", &nin);
    int64_t n = (int64_t)(nin / sizeof(float));
    static const int types[] = { PAW_TYPE_F16, PAW_TYPE_BF16, PAW_TYPE_Q8_0, PAW_TYPE_Q4_0 };
    for (size_t i = 0; i < PAW_ARRAY_LEN(types); i++) {
        char fn[64];
        size_t nref;
        snprintf(fn, sizeof fn, "%s.q", paw_type_name(types[i]));
        uint8_t *ref = read_golden(fn, &nref);
        assert_int_equal(paw_type_row_bytes(types[i], n), nref);
        uint8_t *out = malloc(nref);
        assert_int_equal(paw_quantize(types[i], x, out, n), PAW_OK);
        for (size_t k = 0; k < nref; k++)
            if (out[k] != ref[k])
                fail_msg("%s byte %zu (block %zu): got 0x%02x, gguf-py 0x%02x",
                         paw_type_name(types[i]), k, k / paw_type_block_bytes(types[i]), out[k], ref[k]);
        free(ref); free(out);
    }
    float *back = malloc(nin);
    assert_int_equal(paw_quantize(PAW_TYPE_F32, x, back, n), PAW_OK);
    assert_memory_equal(back, x, nin);
    free(back); free(x);
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* All 65536 halves: exact round trip, and every midpoint between adjacent
 * finite halves (exact in f32) rounds to the even neighbour. */
static void test_f16_exhaustive(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = paw_f16_to_f32((uint16_t)h);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            assert_true(isnan(f));
            assert_true((paw_f32_to_f16(f) & 0x7fff) > 0x7c00);
            continue;
        }
        assert_int_equal(paw_f32_to_f16(f), h);
        uint16_t mag = h & 0x7fff;
        if (mag >= 0x7bff) continue;             /* 65504 and inf: no finite next */
        float next = paw_f16_to_f32((uint16_t)(h + 1));
        float mid = (float)(((double)f + (double)next) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(paw_f32_to_f16(mid), even);
        /* just above / below the midpoint round away from / towards h */
        uint32_t mb = f32_bits(mid);
        assert_int_equal(paw_f32_to_f16(bits_f32(mb + 1)), h + 1);
        assert_int_equal(paw_f32_to_f16(bits_f32(mb - 1)), h);
    }
    /* overflow: 65519.99 -> 65504, 65520 -> inf; tiny -> signed zero */
    assert_int_equal(paw_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(paw_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(paw_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(paw_f32_to_f16(-1e-10f), 0x8000);
    assert_int_equal(paw_f32_to_f16(INFINITY), 0x7c00);
}

static void test_errors(void **state)
{
    (void)state;
    float x[256] = { 0 }, y[256];
    uint8_t buf[1024] = { 0 };
    assert_int_equal(paw_dequantize(10, buf, y, 256), PAW_EUNSUPPORTED);
    assert_int_equal(paw_dequantize(-3, buf, y, 256), PAW_EUNSUPPORTED);
    assert_int_equal(paw_dequantize(PAW_TYPE_Q4_0, buf, y, 33), PAW_EINVAL);
    assert_int_equal(paw_dequantize(PAW_TYPE_Q4_K, buf, y, 32), PAW_EINVAL);
    assert_int_equal(paw_dequantize(PAW_TYPE_Q8_K, buf, y, 256), PAW_EUNSUPPORTED);
    assert_int_equal(paw_dequantize(PAW_TYPE_Q4_0, NULL, y, 32), PAW_EINVAL);
    assert_int_equal(paw_dequantize(PAW_TYPE_Q4_0, NULL, NULL, 0), PAW_OK);
    assert_int_equal(paw_quantize(PAW_TYPE_Q4_K, x, buf, 256), PAW_EUNSUPPORTED);
    assert_int_equal(paw_quantize(PAW_TYPE_Q8_0, x, buf, 31), PAW_EINVAL);
    assert_true(strstr(paw_last_error(), "block size") != NULL);
}

/* The activation quantisers: every value within half a step of the input,
 * the block sums and Q8_1's s field consistent with the quants. */
static void test_activation_quant(void **state)
{
    (void)state;
    enum { N = 1024 };
    float x[N];
    srand(7);
    for (int i = 0; i < N; i++) x[i] = ((float)((double)rand() / RAND_MAX) - 0.5f) * (float)(1 + i % 97);
    for (int i = 256; i < 288; i++) x[i] = 0.0f;   /* a zero Q8_0 block */
    paw_block_q8_0 q0[N / 32];
    paw_block_q8_1 q1[N / 32];
    paw_block_q8_K qk[N / 256];
    paw_quantize_row_q8_0(x, q0, N);
    paw_quantize_row_q8_1(x, q1, N);
    paw_quantize_row_q8_K(x, qk, N);
    for (int b = 0; b < N / 32; b++) {
        float d0 = paw_f16_to_f32(q0[b].d);
        int sum = 0;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        for (int j = 0; j < 32; j++) {
            float v = x[32 * b + j];
            assert_true(fabsf(q0[b].qs[j] * d0 - v) <= 0.5f * d0 + 1e-3f * fabsf(v) + 1e-30f);
            assert_int_equal(q1[b].qs[j], q0[b].qs[j]);
            sum += q1[b].qs[j];
        }
        assert_int_equal(q1[b].d, q0[b].d);
        assert_int_equal(q1[b].d, paw_f32_to_f16(amax / 127.0f));
        /* s uses the unrounded scale, as ggml does */
        assert_int_equal(q1[b].s, paw_f32_to_f16(amax / 127.0f * (float)sum));
    }
    for (int j = 0; j < 32; j++) assert_int_equal(q0[8].qs[j], 0);

    /* ggml's reference Q8_1 (the scalar matmul path's quantiser): the quants
     * and scale of the reference Q8_0 (held to gguf-py's bytes above), and
     * s = fp16(sum * d). */
    paw_block_q8_0 r0[N / 32];
    paw_block_q8_1 r1[N / 32];
    paw_quantize_row_q8_0_ref(x, r0, N);
    paw_quantize_row_q8_1_ref(x, r1, N);
    for (int b = 0; b < N / 32; b++) {
        int sum = 0;
        assert_int_equal(r1[b].d, r0[b].d);
        for (int j = 0; j < 32; j++) {
            assert_int_equal(r1[b].qs[j], r0[b].qs[j]);
            sum += r1[b].qs[j];
        }
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        assert_int_equal(r1[b].s, paw_f32_to_f16((float)sum * (amax / 127.0f)));
    }
    /* Ties: with amax 127 the scale is 1, so 2.5 and -4.5 are exact halves;
     * the reference rounds them away from zero, the AVX2-path quantisers to
     * even. */
    float t[32] = { 127.0f, 2.5f, -4.5f, 0.5f };
    paw_block_q8_1 ta, tb;
    paw_quantize_row_q8_1_ref(t, &ta, 32);
    paw_quantize_row_q8_1(t, &tb, 32);
    assert_int_equal(ta.qs[1], 3);
    assert_int_equal(ta.qs[2], -5);
    assert_int_equal(ta.qs[3], 1);
    assert_int_equal(tb.qs[1], 2);
    assert_int_equal(tb.qs[2], -4);
    assert_int_equal(tb.qs[3], 0);
    assert_int_equal(ta.s, paw_f32_to_f16(127.0f + 3 - 5 + 1));
    for (int b = 0; b < N / 256; b++) {
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) {
                float v = x[256 * b + 16 * g + l];
                int8_t q = qk[b].qs[16 * g + l];
                assert_true(fabsf(q * qk[b].d - v) <= 0.5f * fabsf(qk[b].d) * 1.0001f + 1e-6f);
                s += q;
            }
            assert_int_equal(qk[b].bsums[g], s);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_dequantize_golden),
        cmocka_unit_test(test_quantize_golden),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_activation_quant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
