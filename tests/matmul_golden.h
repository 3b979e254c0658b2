/* matmul_golden.h — the check behind test_matmul's and test_parity_scalar's
 * "bits equal ggml" tests: paw_matmul on the weights and activations of
 * tests/golden/matmul/<TYPE>.{w,x} against the outputs one ggml build gave
 * (tests/golden/<ydir>/<TYPE>.y, scripts/gen_matmul_golden.py), for every
 * weight type, prefill (T = 3) and decode (T = 1), 1 and 2 threads.
 * Include after testutil.h and paw's internal headers. */
#ifndef PAW_TEST_MATMUL_GOLDEN_H
#define PAW_TEST_MATMUL_GOLDEN_H

/* Every weight type paw multiplies by. */
static const int all_weight_types[] = { PAW_TYPE_F32, PAW_TYPE_F16, PAW_TYPE_BF16, PAW_TYPE_Q4_0,
                                    PAW_TYPE_Q4_1, PAW_TYPE_Q5_0, PAW_TYPE_Q5_1, PAW_TYPE_Q8_0,
                                    PAW_TYPE_Q4_K, PAW_TYPE_Q5_K, PAW_TYPE_Q6_K };

/* Returns how many outputs differ in any bit (each one printed). */
static int matmul_golden_mismatches(const char *ydir)
{
    enum { ROWS = 5, TOKENS = 3 };
    paw_pool *p2 = paw_pool_new(2);
    assert_non_null(p2);
    int bad = 0;
    for (size_t ti = 0; ti < sizeof all_weight_types / sizeof all_weight_types[0]; ti++) {
        const int type = all_weight_types[ti];
        const int64_t n = paw_type_block_size(type) == 256 ? 768 : paw_type_block_size(type) == 1 ? 519 : 352;
        char path[128];
        size_t wlen, xlen, ylen;
        snprintf(path, sizeof path, "tests/golden/matmul/%s.w", paw_type_name(type));
        uint8_t *w = (uint8_t *)tu_read_file(path, &wlen);
        snprintf(path, sizeof path, "tests/golden/matmul/%s.x", paw_type_name(type));
        float *x = (float *)tu_read_file(path, &xlen);
        snprintf(path, sizeof path, "tests/golden/%s/%s.y", ydir, paw_type_name(type));
        float *want = (float *)tu_read_file(path, &ylen);
        if (!w || !x || !want) fail_msg("missing golden data for %s", paw_type_name(type));
        assert_int_equal(wlen, paw_type_row_bytes(type, n) * ROWS);
        assert_int_equal(xlen, (size_t)n * TOKENS * 4);
        assert_int_equal(ylen, (size_t)ROWS * TOKENS * 4);
        float y[ROWS * TOKENS];
        for (int pi = 0; pi < 2; pi++) {
            paw_pool *pool = pi ? p2 : NULL;
            paw_matmul(pool, y, w, type, ROWS, n, x, TOKENS);
            for (int t = 0; t < TOKENS; t++) {
                float y1[ROWS];
                paw_matmul(pool, y1, w, type, ROWS, n, x + t * n, 1);
                for (int r = 0; r < ROWS; r++) {
                    const float g = want[t * ROWS + r];
                    if (memcmp(&y[t * ROWS + r], &g, 4) || memcmp(&y1[r], &g, 4)) {
                        print_message("%s token %d row %d: ggml %.9g (%a), paw prefill %.9g, decode %.9g\n",
                                      paw_type_name(type), t, r, g, g, y[t * ROWS + r], y1[r]);
                        bad++;
                    }
                }
            }
        }
        free(w); free(x); free(want);
    }
    paw_pool_free(p2);
    return bad;
}
#endif
