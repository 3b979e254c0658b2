/* test_i8gemm.c — the row-interleaved int8 packs (src/core/i8gemm.c): the
 * AVX-512 VNNI tile gives exactly paw_i8_matmul_ref's bits (odd row counts,
 * 1..19 tokens, 1 and 2 threads) for every type that has a pack; the pack
 * holds W's values (its product is within the activation quantisation's
 * proven error of the f32 product, and for the legacy types the GGUF-row
 * kernels' within float rounding, both against the same Q8_0 activations); a pack written block by block from Q8_0 equals one made
 * from Q8_0 rows; bad shapes and types are refused. */
#include <math.h>
#include <stddef.h>
#include "testutil.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/i8gemm.h"
#include "core/kernels.h"
#include "core/quant.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float frnd(void) { return (float)rnd() / 2147483648.0f - 1.0f; }   /* [-1, 1) */

/* rows x n weights of `type`: random quants and sub-block scales, block
 * scales around 0.02 and, for the types with a minimum, minimums around
 * -0.1 (blocks written directly, since paw_quantize does not make every
 * type). */
static uint8_t *random_rows(int type, int64_t rows, int64_t n)
{
    const paw_type_traits *tt = paw_type_get(type);
    const size_t rb = paw_type_row_bytes(type, n), bsz = tt->block_bytes;
    uint8_t *w = malloc(rb * (size_t)rows);
    assert_non_null(w);
    for (size_t i = 0; i < rb * (size_t)rows; i++) w[i] = (uint8_t)rnd();
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < n / tt->block_size; b++) {
            uint8_t *blk = w + (size_t)r * rb + (size_t)b * bsz;
            const float scale = tt->block_size == PAW_QK_K ? 0.002f : 0.02f;
            const uint16_t d = paw_f32_to_f16(scale * (1.0f + 0.5f * frnd()));
            const uint16_t m = paw_f32_to_f16(type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1
                                                  ? -0.1f + 0.05f * frnd() : 0.003f * (1.0f + 0.5f * frnd()));
            if (type == PAW_TYPE_Q6_K) {
                memcpy(blk + offsetof(paw_block_q6_K, d), &d, 2);
                continue;
            }
            memcpy(blk, &d, 2);
            if (type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1 || type == PAW_TYPE_Q4_K || type == PAW_TYPE_Q5_K)
                memcpy(blk + 2, &m, 2);
        }
    return w;
}

static float *random_acts(int64_t T, int64_t n)
{
    float *x = malloc(sizeof(float) * (size_t)(T * n));
    assert_non_null(x);
    for (int64_t i = 0; i < T * n; i++) x[i] = frnd() * (1.0f + (float)(i % 7));
    return x;
}

/* Every output within the activation quantisation's error of the f32
 * product of the weights' own values: Q8_0 rounds each x to d * q with d =
 * amax/127 (an f16), off by at most d/2 plus d's own rounding (127 * d *
 * 2^-11 < 0.07 d), so |y - y_f32| <= sum_k |w_k| * 0.6 d_k, with float
 * rounding on top. */
static void check_bound(int type, const uint8_t *w, int64_t rows, int64_t n, const float *x, int64_t T,
                        const float *y)
{
    float *wf = malloc(sizeof(float) * (size_t)n);
    assert_non_null(wf);
    for (int64_t r = 0; r < rows; r++) {
        paw_dequantize(type, w + (size_t)r * paw_type_row_bytes(type, n), wf, n);
        for (int64_t t = 0; t < T; t++) {
            double exact = 0, bound = 0, mag = 0;
            for (int64_t b = 0; b < n / 32; b++) {
                float amax = 0;
                for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[t * n + 32 * b + k]));
                for (int k = 0; k < 32; k++) {
                    const double wv = wf[32 * b + k], xv = x[t * n + 32 * b + k];
                    exact += wv * xv;
                    bound += fabs(wv) * 0.6 * amax / 127.0;
                    mag += fabs(wv * xv);
                }
            }
            const double got = y[t * rows + r];
            if (fabs(got - exact) > bound + 1e-5 * mag)
                fail_msg("%s row %lld token %lld: %.6g, f32 product %.6g, bound %.3g", paw_type_name(type),
                         (long long)r, (long long)t, got, exact, bound);
        }
    }
    free(wf);
}

static void test_tile_bits_and_values(void **state)
{
    (void)state;
    const int types[] = { PAW_TYPE_Q4_0, PAW_TYPE_Q4_1, PAW_TYPE_Q5_0, PAW_TYPE_Q5_1, PAW_TYPE_Q8_0,
                          PAW_TYPE_Q4_K, PAW_TYPE_Q5_K, PAW_TYPE_Q6_K };
    const int64_t shapes[][2] = { { 40, 96 }, { 16, 32 }, { 7, 64 }, { 67, 160 }, { 20, 512 } };
    paw_pool *pool2 = paw_pool_new(2);
    assert_non_null(pool2);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int type = types[ti];
            const int64_t rows = shapes[si][0], n = shapes[si][1];
            if (n % paw_type_get(type)->block_size) continue;
            uint8_t *w = random_rows(type, rows, n);
            paw_i8pack pk;
            assert_int_equal(paw_i8pack_from_rows(&pk, w, type, rows, n), PAW_OK);
            for (int64_t T = 1; T <= 19; T += 3) {
                float *x = random_acts(T, n);
                float *ref = malloc(sizeof(float) * (size_t)(T * rows));
                float *y1 = malloc(sizeof(float) * (size_t)(T * rows));
                float *y2 = malloc(sizeof(float) * (size_t)(T * rows));
                float *gg = malloc(sizeof(float) * (size_t)(T * rows));
                paw_i8_matmul_ref(ref, &pk, x, T);
                paw_i8_matmul(NULL, y1, &pk, x, T);
                paw_i8_matmul(pool2, y2, &pk, x, T);
                paw_matmul(NULL, gg, w, type, rows, n, x, T);
                check_bound(type, w, rows, n, x, T, ref);
                /* The legacy types: the same Q8_0 activation quants on both
                 * sides, so the integer sums agree and the float sums differ
                 * in order only (and, for a minimum, Q8_1's f16 s against the
                 * pack's f32 da*sum).  The K-quants' GGUF-row kernels take
                 * Q8_K activations (one scale per 256): check_bound only. */
                const int has_min = type == PAW_TYPE_Q4_1 || type == PAW_TYPE_Q5_1;
                const int kquant = paw_type_get(type)->block_size == PAW_QK_K;
                double worst = 0, scale = 1e-6;
                for (int64_t i = 0; i < T * rows; i++) {
                    if (memcmp(&ref[i], &y1[i], 4) || memcmp(&ref[i], &y2[i], 4))
                        fail_msg("%s %lldx%lld T=%lld out %lld: kernel %.9g / %.9g, reference %.9g",
                                 paw_type_name(type), (long long)rows, (long long)n, (long long)T,
                                 (long long)i, y1[i], y2[i], ref[i]);
                    worst = fmax(worst, fabs((double)ref[i] - gg[i]));
                    scale = fmax(scale, fabs((double)gg[i]));
                }
                if (!kquant && worst > (has_min ? 2e-3 : 2e-5) * scale)
                    fail_msg("%s %lldx%lld T=%lld: pack differs from the GGUF rows by %.3g (max |y| %.3g)",
                             paw_type_name(type), (long long)rows, (long long)n, (long long)T, worst, scale);
                free(x); free(ref); free(y1); free(y2); free(gg);
            }
            paw_i8pack_free(&pk);
            free(w);
        }
    paw_pool_free(pool2);
    print_message("i8gemm: %s kernel\n", paw_i8_fast() ? "AVX-512 VNNI" : "reference (no AVX-512 set)");
}

/* The trainer writes Wᵀ packs block by block from Q8_0 blocks. */
static void test_set_q8_0(void **state)
{
    (void)state;
    const int64_t rows = 21, n = 64;
    uint8_t *w = random_rows(PAW_TYPE_Q8_0, rows, n);
    paw_i8pack a, b;
    assert_int_equal(paw_i8pack_from_rows(&a, w, PAW_TYPE_Q8_0, rows, n), PAW_OK);
    assert_int_equal(paw_i8pack_init(&b, rows, n, 128, PAW_I8_PLAIN, 0), PAW_OK);
    const size_t rb = paw_type_row_bytes(PAW_TYPE_Q8_0, n);
    for (int64_t r = rows - 1; r >= 0; r--)
        for (int64_t k = 0; k < n / 32; k++)
            paw_i8pack_set_q8_0(&b, r, k, w + (size_t)r * rb + (size_t)k * sizeof(paw_block_q8_0));
    assert_int_equal(a.block_bytes, b.block_bytes);
    assert_memory_equal(a.data, b.data, (size_t)a.n_groups * (size_t)(n / 32) * a.block_bytes);
    paw_i8pack_free(&a);
    paw_i8pack_free(&b);
    free(w);
}

static void test_refused(void **state)
{
    (void)state;
    paw_i8pack pk;
    assert_int_equal(paw_i8pack_init(&pk, 16, 48, 128, 0, 0), PAW_EINVAL);
    assert_null(pk.data);
    assert_int_equal(paw_i8pack_init(&pk, 0, 64, 128, 0, 0), PAW_EINVAL);
    assert_int_equal(paw_i8pack_init(&pk, 16, 64, 128, PAW_I8_PLAIN, 1), PAW_EINVAL);   /* 128 is no nibble */
    uint8_t blocks[2 * sizeof(paw_block_q4_K)] = { 0 };
    assert_int_equal(paw_i8pack_from_rows(&pk, blocks, PAW_TYPE_F16, 1, 256), PAW_EUNSUPPORTED);
    assert_non_null(strstr(paw_last_error(), "F16"));
    assert_int_equal(paw_i8pack_from_rows(&pk, blocks, PAW_TYPE_Q4_K, 1, 96), PAW_EINVAL);
    assert_false(paw_i8pack_type_ok(PAW_TYPE_F32));
    assert_true(paw_i8pack_type_ok(PAW_TYPE_Q5_1));
    assert_true(paw_i8pack_type_ok(PAW_TYPE_Q6_K));
    paw_i8pack_free(&pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_bits_and_values),
        cmocka_unit_test(test_set_q8_0),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
