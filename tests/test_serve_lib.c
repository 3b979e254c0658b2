/* test_serve_lib.c — what libpaw gives the HTTP server (tools/server):
 *   - paw_program_resolve_installed: a request's name reaches the program
 *     cache only, never a file of that name;
 *   - paw_ctx_memory / paw_program_memory: the bytes a handle holds, checked
 *     against the KV cache arithmetic of the model's shapes;
 *   - paw_compile_opts.cancelled: a compile asked to stop returns
 *     PAW_ECANCELED with no bundle.
 * The HTTP behaviour itself is tested over real HTTP by tests/server/
 * (pytest). */
#include "bundle_fixtures.h"

/* The default model, found before a test points PAW_CACHE_DIR elsewhere. */
static char g_model[1024];

static void test_resolve_installed_ignores_files(void **state)
{
    (void)state;
    paw_bundle *a = make_paw_bundle("the installed program");
    paw_bundle *f = make_paw_bundle("a file in the working directory");
    char id[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_install(a, "myprog", id), PAW_OK);
    assert_int_equal(paw_bundle_write(f, tpath("myprog")), PAW_OK);
    assert_int_equal(paw_bundle_write(f, tpath("other.paw")), PAW_OK);
    assert_int_equal(chdir(g_tmp), 0);

    paw_program_ref ref;
    /* The CLI's resolver takes the file "myprog" first ... */
    assert_int_equal(paw_program_resolve("myprog", &ref), PAW_OK);
    assert_true(ref.is_file);
    assert_string_equal(ref.id, f->id);
    /* ... the server's never does: the alias wins, a path is unknown. */
    assert_int_equal(paw_program_resolve_installed("myprog", &ref), PAW_OK);
    assert_false(ref.is_file);
    assert_string_equal(ref.id, id);
    assert_non_null(strstr(ref.dir, id));
    assert_int_equal(paw_program_resolve_installed("other.paw", &ref), PAW_ENOTFOUND);
    assert_int_equal(paw_program_resolve_installed(tpath("other.paw"), &ref), PAW_ENOTFOUND);
    assert_int_equal(paw_program_resolve_installed("../../etc/passwd", &ref), PAW_ENOTFOUND);
    char prefix[9];
    memcpy(prefix, id, 8);
    prefix[8] = 0;
    assert_int_equal(paw_program_resolve_installed(prefix, &ref), PAW_OK);
    assert_string_equal(ref.id, id);
    assert_int_equal(chdir("/"), 0);
    paw_bundle_free(a);
    paw_bundle_free(f);
}

static void test_memory_matches_kv_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(paw_program_memory(NULL), 0);
    assert_int_equal(paw_ctx_memory(NULL), 0);
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(g_model, &m), PAW_OK);
    paw_program *p[2] = {NULL, NULL};
    const int32_t ctx[2] = {512, 1024};   /* n_batch is min(512, n_ctx): the same for both */
    for (int k = 0; k < 2; k++) {
        paw_program_opts o = {.n_ctx = ctx[k], .n_threads = 1};
        const char *t = "Q: {INPUT_PLACEHOLDER}\nA:";
        assert_int_equal(paw_program_open_template(m, t, strlen(t), &o, &p[k]), PAW_OK);
    }
    size_t small = paw_program_memory(p[0]), big = paw_program_memory(p[1]);
    /* SmolLM2-135M: 30 layers, 3 KV heads x 64 dims for K and for V, f32
     * cache; per position also one token id and one attention score per
     * thread.  Nothing else depends on n_ctx. */
    assert_int_equal(paw_model_n_layer(m), 30);
    size_t per_pos = 30 * (192 + 192) * 4 + 4 + 4;
    assert_int_equal(big - small, (size_t)(ctx[1] - ctx[0]) * per_pos);
    assert_true(small > (size_t)ctx[0] * per_pos);
    assert_true(small < (size_t)64 << 20);
    paw_program_close(p[0]);
    paw_program_close(p[1]);
    paw_model_free(m);
}

static int calls;
static int cancel_after_first(void *ud)
{
    (void)ud;
    return ++calls > 1;
}

static void test_compile_cancelled(void **state)
{
    (void)state;
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(tu_shared("fixtures/stories260k/stories260K.gguf"), &m), PAW_OK);
    paw_program_example ex[4] = {{"a", "x"}, {"b", "y"}, {"c", "x"}, {"d", "y"}};
    paw_compile_opts o = {.steps = 50, .n_threads = 1, .cancelled = cancel_after_first};
    paw_compile_result r;
    calls = 0;
    assert_int_equal(paw_compile(m, "Map a letter to x or y.", ex, 4, &o, &r), PAW_ECANCELED);
    assert_null(r.bundle);
    assert_true(r.steps < 50);
    assert_string_equal(paw_status_name(PAW_ECANCELED), "ECANCELED");
    assert_non_null(strstr(paw_last_error(), "cancelled"));
    paw_compile_result_clear(&r);
    paw_model_free(m);
}

int main(void)
{
    snprintf(g_model, sizeof g_model, "%s", tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve_installed_ignores_files, setup, teardown),
        cmocka_unit_test(test_memory_matches_kv_arithmetic),
        cmocka_unit_test(test_compile_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
