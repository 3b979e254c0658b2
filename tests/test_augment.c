/* test_augment.c — the compiler's teacher-free variants (augment.c).
 *
 * On hand-made examples whose expected variants are worked out here: a
 * variant replaces the words an output copies from its input, in both, by
 * a word of the same shape that another example copies (never one the
 * example already has, nor its own), or by a made-up word of that shape
 * when no other example has one (vowel for vowel, a leading zero kept);
 * words touching non-ASCII letters and outputs that copy nothing give no
 * variant; the same seed gives the same variants.  Then through
 * paw_compile (one training step: what is checked is the data): a program
 * whose outputs copy input words trains with variants and says so in
 * meta.json; --no-augment (augment < 0) and closed-label programs have
 * none. */
#include <jansson.h>
#include "testutil.h"
#include "compile/compile_internal.h"

static char g_model_path[1024];

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* s with its first whole-word `from` replaced by `to` (static buffer). */
static const char *swap(const char *s, const char *from, const char *to)
{
    static char buf[4][256];
    static int slot;
    char *b = buf[slot++ & 3];
    size_t n = strlen(from);
    for (const char *p = s; (p = strstr(p, from)); p++) {
        if ((p > s && is_word_char(p[-1])) || is_word_char(p[n])) continue;
        snprintf(b, sizeof buf[0], "%.*s%s%s", (int)(p - s), s, to, p + n);
        return b;
    }
    fail_msg("'%s' not in '%s'", from, s);
    return NULL;
}

static int name_shaped(const char *w)
{
    if (!(w[0] >= 'A' && w[0] <= 'Z') || !w[1]) return 0;
    for (const char *p = w + 1; *p; p++) if (!(*p >= 'a' && *p <= 'z')) return 0;
    return 1;
}

/* Names: another example's copied name of the same shape first, then
 * made-up ones; `per` distinct variants of each example that copies. */
static void test_names(void **state)
{
    (void)state;
    static const paw_program_example ex[] = {
        {"Hi, I'm Priya Patel.", "Priya"},
        {"cheers, Tom", "Tom"},
        {"Name: GARCIA, ELENA", "Elena"},         /* no exact-case copy      */
        {"Best, Dr. Thomas M\xc3\xbcller", "Thomas"},
        {"Gr\xc3\xbc\xc3\x9f" "e J\xc3\xb6rg", "J\xc3\xb6rg"},  /* non-ASCII word */
    };
    paw_exlist out = {0};
    assert_int_equal(paw_compile_augment(ex, 5, 3, 7, &out), PAW_OK);
    int per[5] = {0}, pooled = 0;
    for (size_t i = 0; i < out.n; i++) {
        const char *in = out.v[i].input, *o = out.v[i].output;
        int from = -1;
        for (int k = 0; k < 5 && from < 0; k++)
            if (k != 2 && k != 4 && strcmp(o, ex[k].output) && !strcmp(in, swap(ex[k].input, ex[k].output, o)))
                from = k;
        if (from < 0 || !name_shaped(o)) fail_msg("unexpected variant '%s' -> '%s'", in, o);
        pooled += !strcmp(o, "Priya") || !strcmp(o, "Tom") || !strcmp(o, "Thomas");
        per[from]++;
        for (size_t j = 0; j < i; j++) assert_string_not_equal(in, out.v[j].input);
    }
    assert_int_equal(per[0], 3);
    assert_int_equal(per[1], 3);
    assert_int_equal(per[3], 3);
    assert_true(pooled >= 3);   /* each example's first draw is from the pool */
    /* deterministic in the seed */
    paw_exlist again = {0};
    assert_int_equal(paw_compile_augment(ex, 5, 3, 7, &again), PAW_OK);
    assert_int_equal(again.n, out.n);
    for (size_t i = 0; i < out.n; i++) {
        assert_string_equal(again.v[i].input, out.v[i].input);
        assert_string_equal(again.v[i].output, out.v[i].output);
    }
    paw_exlist_clear(&again);
    paw_exlist_clear(&out);
    /* per <= 0: nothing */
    assert_int_equal(paw_compile_augment(ex, 5, 0, 7, &out), PAW_OK);
    assert_int_equal(out.n, 0);
}

/* Minutes: "15" is a word of the first example's output, so its minutes
 * never become "15"; from the pool only "30" is left, the rest are made up. */
static void test_no_clash(void **state)
{
    (void)state;
    static const paw_program_example ex[] = {
        {"3:45 pm", "15:45"}, {"9:15 am", "09:15"}, {"12:30 AM", "00:30"},
    };
    paw_exlist out = {0};
    assert_int_equal(paw_compile_augment(ex, 3, 4, 1, &out), PAW_OK);
    int first = 0, thirty = 0;
    for (size_t i = 0; i < out.n; i++) {
        char mm[8], in[32];
        if (strncmp(out.v[i].input, "3:", 2)) continue;
        first++;
        assert_int_equal(sscanf(out.v[i].output, "15:%2s", mm), 1);
        assert_int_equal(strlen(mm), 2);
        assert_string_not_equal(mm, "15");
        assert_string_not_equal(mm, "45");
        snprintf(in, sizeof in, "3:%s pm", mm);
        assert_string_equal(out.v[i].input, in);
        thirty += !strcmp(mm, "30");
    }
    assert_int_equal(first, 4);
    assert_int_equal(thirty, 1);
    for (size_t i = 0; i < out.n; i++) {
        for (int k = 0; k < 3; k++) assert_string_not_equal(out.v[i].input, ex[k].input);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(out.v[i].input, out.v[j].input);
    }
    paw_exlist_clear(&out);
}

/* One example, so no pool: made-up words of the same shape. */
static void test_made_up(void **state)
{
    (void)state;
    static const paw_program_example ex[] = {{"Order A-19 ships from zip 0150", "A-19 / 0150"}};
    paw_exlist out = {0};
    assert_int_equal(paw_compile_augment(ex, 1, 5, 3, &out), PAW_OK);
    assert_true(out.n >= 4);
    for (size_t i = 0; i < out.n; i++) {
        char a, d1, d2, z[5];
        assert_int_equal(sscanf(out.v[i].output, "%c-%c%c / %4s", &a, &d1, &d2, z), 4);
        assert_non_null(strchr("EIOU", a));               /* a vowel for A, not A */
        assert_true(d1 >= '1' && d1 <= '9' && d2 >= '0' && d2 <= '9');
        assert_int_equal(strlen(z), 4);
        assert_int_equal(z[0], '0');                      /* leading zero kept    */
        for (int k = 1; k < 4; k++) assert_true(z[k] >= '0' && z[k] <= '9');
        char want[128];
        snprintf(want, sizeof want, "Order %c-%c%c ships from zip %s", a, d1, d2, z);
        assert_string_equal(out.v[i].input, want);
    }
    paw_exlist_clear(&out);
}

/* Outputs that copy nothing (labels, conversions) give no variant. */
static void test_nothing_copied(void **state)
{
    (void)state;
    static const paw_program_example ex[] = {
        {"forty-two", "42"}, {"the spam offer", "ham"}, {"3 pm", "15:00"}, {"", "x"},
    };
    paw_exlist out = {0};
    assert_int_equal(paw_compile_augment(ex, 4, 4, 0, &out), PAW_OK);
    assert_int_equal(out.n, 0);
    /* more than PAW_AUGMENT_MAX per example is refused */
    assert_int_equal(paw_compile_augment(ex, 4, PAW_AUGMENT_MAX + 1, 0, &out), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "at most 64 variants"));
    assert_int_equal(out.n, 0);
    paw_exlist_clear(&out);
}

static json_t *meta_field(const char *json, const char *key)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    assert_non_null(o);
    json_t *v = json_incref(json_object_get(o, key));
    json_decref(o);
    return v;
}

static int32_t compile_variants(paw_model *m, const paw_program_example *ex, size_t n, int32_t augment,
                                int64_t *setting)
{
    paw_compile_opts o = {.steps = 1, .min_steps = 1, .n_threads = 2, .augment = augment};
    paw_compile_result r;
    assert_int_equal(paw_compile(m, "Copy the code after the colon.", ex, n, &o, &r), PAW_OK);
    json_t *set = meta_field(r.bundle->meta.compiler_settings_json, "augment");
    json_t *nv = meta_field(r.bundle->meta.metrics_json, "n_variants");
    assert_true(json_is_integer(set) && json_is_integer(nv));
    assert_int_equal(json_integer_value(nv), r.n_variants);
    *setting = json_integer_value(set);
    json_decref(set);
    json_decref(nv);
    int32_t v = r.n_variants;
    paw_compile_result_clear(&r);
    return v;
}

static void test_compile_variants(void **state)
{
    (void)state;
    static const paw_program_example copy[] = {
        {"code: kiwi", "kiwi"}, {"code: plum", "plum"}, {"code: fig", "fig"},
        {"code: lime", "lime"}, {"code: pear", "pear"}, {"code: date", "date"},
    };
    static const paw_program_example label[] = {
        {"code: kiwi", "kiwi"}, {"code: plum", "kiwi"}, {"code: fig", "plum"},
        {"code: lime", "plum"}, {"code: pear", "kiwi"}, {"code: date", "plum"},
    };
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(g_model_path, &m), PAW_OK);
    int64_t set = -1;
    /* the default: 8 per example (swapping two of these words gives another
     * example, so most are made up) */
    assert_int_equal(compile_variants(m, copy, 6, 0, &set), 48);
    assert_int_equal(set, 8);
    assert_int_equal(compile_variants(m, copy, 6, 2, &set), 12);
    assert_int_equal(set, 2);
    assert_int_equal(compile_variants(m, copy, 6, -1, &set), 0);
    assert_int_equal(set, 0);
    paw_compile_opts o = {.steps = 1, .n_threads = 2, .augment = 65};
    paw_compile_result r;
    assert_int_equal(paw_compile(m, "Copy the code after the colon.", copy, 6, &o, &r), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "augment 65: at most 64"));
    assert_null(r.bundle);
    /* a closed-label program (2 labels, 6 examples): never */
    assert_int_equal(compile_variants(m, label, 6, 4, &set), 0);
    assert_int_equal(set, 0);
    paw_model_free(m);
}

int main(void)
{
    snprintf(g_model_path, sizeof g_model_path, "%s",
             PAW_TEST_SANITIZED ? tu_shared("fixtures/stories260k/stories260K.gguf") : tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_no_clash),
        cmocka_unit_test(test_made_up),
        cmocka_unit_test(test_nothing_copied),
        cmocka_unit_test(test_compile_variants),
    };
    if (getenv("PAW_TEST_FILTER")) cmocka_set_test_filter(getenv("PAW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
