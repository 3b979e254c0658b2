/* test_train_loss.c — the closed-label loss (paw_train_example.choices,
 * paw_fit_params.labels): its gradient against finite differences, its
 * equivalences with the vocabulary-wide loss (choices spanning the whole
 * vocabulary; a token with one choice is no loss row), its contract errors,
 * and paw_fit/paw_compile building the choices from a program's labels. */
#include "train_fixtures.h"
#include <jansson.h>

static const int32_t g_prefix[] = {1, 7, 3, 19, 5};
static const int32_t g_e0[] = {4, 9, 11, 2}, g_e1[] = {8, 8, 21, 6, 13, 0}, g_e2[] = {17, 12, 22};

/* The choices of one example: token k of its output may be any of c[k]. */
static const int32_t c_a[] = {11, 3, 20}, c_b[] = {2, 9};
static const int32_t c_c[] = {21, 5}, c_d[] = {6}, c_e[] = {13, 1, 2, 3}, c_f[] = {0, 23};
static const int32_t c_g[] = {22, 12, 4};
static const int32_t *const ch0[] = {c_a, c_b}, *const ch1[] = {c_c, c_d, c_e, c_f}, *const ch2[] = {c_g};
static const int32_t n0[] = {3, 2}, n1[] = {2, 1, 4, 2}, n2[] = {3};

/* The restricted softmax's gradient, single-choice rows included, matches
 * finite differences of its loss on every architecture. */
static void test_grad_choices(void **state)
{
    (void)state;
    const paw_train_example ex[] = {
        {g_e0, 4, 2, ch0, n0}, {g_e1, 6, 2, ch1, n1}, {g_e2, 3, 2, ch2, n2},
    };
    const tbatch b = {g_prefix, 5, ex, 3};
    grad_check_batch("llama", &b);
    grad_check_batch("qwen3", &b);
    grad_check_batch("gpt2", &b);
}

/* Loss and gradient of a batch, the trainer's parameters perturbed the same
 * way each time (seeded). */
static double run(paw_trainer *t, const paw_train_example *ex, int32_t n, float *grads)
{
    double loss = 0;
    assert_int_equal(paw_trainer_run(t, g_prefix, 5, ex, n, 1, &loss), PAW_OK);
    memcpy(grads, t->grads, (size_t)t->n_params * sizeof *grads);
    return loss;
}

static void assert_close(const float *a, const float *b, int64_t n, double loss_a, double loss_b)
{
    assert_true(fabs(loss_a - loss_b) <= 1e-5 * fabs(loss_b) + 1e-7);
    double worst = 0, big = 0;
    for (int64_t k = 0; k < n; k++) {
        worst = fmax(worst, fabs((double)a[k] - b[k]));
        big = fmax(big, fabs((double)b[k]));
    }
    if (worst > 1e-5 * big + 1e-8) fail_msg("gradients differ by %g (largest %g)", worst, big);
}

/* Choices spanning the whole vocabulary are the vocabulary-wide loss; a
 * token whose only choice is itself adds nothing, so an example whose last
 * output token is forced trains like the same example one token shorter. */
static void test_choices_equivalences(void **state)
{
    (void)state;
    paw_model *m = load_tiny("llama");
    paw_trainer *t = new_trainer(m, 3, PAW_TARGET_ALL, 2, 5);
    for (int32_t i = 0; i < t->n_slots; i++)
        for (int64_t k = 0; k < t->slots[i].rows * t->rank; k++)
            t->params[t->slots[i].b_off + k] = 0.3f * frand();
    const int64_t n = t->n_params;
    float *ga = malloc((size_t)n * sizeof *ga), *gb = malloc((size_t)n * sizeof *gb);
    int32_t all[TV];
    for (int32_t v = 0; v < TV; v++) all[v] = TV - 1 - v;   /* any order */
    const int32_t *const every[4] = {all, all, all, all};
    const int32_t n_every[4] = {TV, TV, TV, TV};

    const paw_train_example full[] = {{g_e0, 4, 2, NULL, NULL}, {g_e1, 6, 3, NULL, NULL}};
    const paw_train_example spanned[] = {{g_e0, 4, 2, every, n_every}, {g_e1, 6, 3, every, n_every}};
    double la = run(t, spanned, 2, ga), lb = run(t, full, 2, gb);
    assert_close(ga, gb, n, la, lb);

    /* g_e1's last output token (0) forced: its two other tokens carry the
     * example's weight, as in the 5-token example. */
    static const int32_t only0[] = {0};
    const int32_t *const forced[3] = {all, all, only0};
    const int32_t n_forced[3] = {TV, TV, 1};
    const paw_train_example last_forced[] = {{g_e0, 4, 2, NULL, NULL}, {g_e1, 6, 3, forced, n_forced}};
    const paw_train_example shorter[] = {{g_e0, 4, 2, NULL, NULL}, {g_e1, 5, 3, NULL, NULL}};
    la = run(t, last_forced, 2, ga);
    lb = run(t, shorter, 2, gb);
    assert_close(ga, gb, n, la, lb);

    /* Fewer choices than the vocabulary: a smaller loss (the same target
     * logit against a partial sum) */
    const paw_train_example narrow[] = {{g_e0, 4, 2, ch0, n0}};
    double l_narrow = run(t, narrow, 1, ga), l_full = run(t, full, 1, gb);
    assert_true(l_narrow < l_full);
    free(ga);
    free(gb);
    paw_trainer_free(t);
    paw_model_free(m);
}

/* paw.h's contract: each refused with PAW_EINVAL and a message. */
static void test_choices_errors(void **state)
{
    (void)state;
    paw_model *m = load_tiny("llama");
    paw_trainer *t = new_trainer(m, 2, PAW_TARGET_ALL, 1, 1);
    double loss;
    static const int32_t not_tgt[] = {3, 4}, outside[] = {11, TV}, one11[] = {11}, one2[] = {2};
    const int32_t *const miss[2] = {not_tgt, c_b}, *const out[2] = {outside, c_b};
    const int32_t *const both_forced[2] = {one11, one2}, *const null_row[2] = {NULL, c_b};
    const int32_t n2x[2] = {2, 2}, n11[2] = {1, 1}, n0x[2] = {0, 2};
    const paw_train_example bad[] = {
        {g_e0, 4, 2, miss, n2x},         /* the target is not a choice      */
        {g_e0, 4, 2, out, n2x},          /* an id outside the vocabulary    */
        {g_e0, 4, 2, both_forced, n11},  /* nothing left to learn           */
        {g_e0, 4, 2, null_row, n2x},     /* a row without choices           */
        {g_e0, 4, 2, ch0, n0x},          /* zero choices                    */
        {g_e0, 4, 2, ch0, NULL},         /* choices without counts          */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(paw_trainer_run(t, g_prefix, 5, &bad[i], 1, 1, &loss), PAW_EINVAL);
        assert_non_null(strstr(paw_last_error(), "example 0"));
    }
    paw_trainer_free(t);
    paw_model_free(m);
}

/* ------------------------------------------------------------ through paw_fit */

/* paw_fit with labels: the choices are built from the labels' token paths
 * (the checks above refuse any that miss a target), and an output that is
 * no label is refused, naming the example. */
static void test_fit_labels(void **state)
{
    (void)state;
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(tu_shared("fixtures/stories260k/stories260K.gguf"), &m), PAW_OK);
    static const char *const labels[] = {"happy", "sad", "sadder"};
    const paw_program_example ex[] = {
        {"Lily smiled at the sun", "happy"}, {"Tom lost his red ball", "sad"},
        {"the dog played in the park", "happy"}, {"Tom lost his dog and his ball", "sadder"},
    };
    paw_fit_params fp = {.train = paw_train_params_default(), .labels = labels, .n_labels = 3};
    fp.train.steps = 2;
    fp.train.n_threads = 2;
    paw_trainer *t = NULL;
    assert_int_equal(paw_fit(m, NULL, 0, ex, 4, &fp, &t), PAW_OK);
    paw_trainer_free(t);

    const paw_program_example odd[] = {{"Lily smiled", "happy"}, {"Tom cried", "gloomy"}};
    int32_t bad = -2;
    fp.failed_example = &bad;
    t = NULL;
    assert_int_equal(paw_fit(m, NULL, 0, odd, 2, &fp, &t), PAW_EINVAL);
    assert_null(t);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(paw_last_error(), "not one of the labels"));
    paw_model_free(m);
}

/* ------------------------------------------------------------ through paw_compile */

/* settings.loss of a compile: "labels" only for a closed-label program
 * compiled with label_loss > 0 (the training then ran with the choices:
 * paw_fit above refuses outputs outside them). */
static const char *compiled_loss(paw_model *m, const paw_program_example *ex, size_t n, int32_t label_loss,
                                 char *buf, size_t cap)
{
    paw_compile_opts o = {.steps = 2, .min_steps = 2, .n_threads = 2, .label_loss = label_loss};
    paw_compile_result r;
    assert_int_equal(paw_compile(m, "Say how the sentence feels.", ex, n, &o, &r), PAW_OK);
    json_error_t e;
    json_t *set = json_loads(r.bundle->meta.compiler_settings_json, 0, &e);
    assert_non_null(set);
    const char *loss = json_string_value(json_object_get(set, "loss"));
    assert_non_null(loss);
    snprintf(buf, cap, "%s", loss);
    json_decref(set);
    paw_compile_result_clear(&r);
    return buf;
}

static void test_compile_label_loss(void **state)
{
    (void)state;
    paw_model *m = NULL;
    assert_int_equal(paw_model_load(tu_shared("fixtures/stories260k/stories260K.gguf"), &m), PAW_OK);
    static const paw_program_example label[] = {
        {"Lily smiled at the sun", "happy"}, {"Tom lost his red ball", "sad"},
        {"the dog played in the park", "happy"}, {"the cat could not find her mom", "sad"},
        {"they ate cake together", "happy"}, {"the toy broke in two", "sad"},
    };
    static const paw_program_example one_off[] = {
        {"Lily", "Lily smiled"}, {"Tom", "Tom ran"}, {"Sue", "Sue sat"}, {"Max", "Max hid"},
    };
    char buf[32];
    assert_string_equal(compiled_loss(m, label, 6, 1, buf, sizeof buf), "labels");
    assert_string_equal(compiled_loss(m, label, 6, -1, buf, sizeof buf), "vocab");
    assert_string_equal(compiled_loss(m, one_off, 4, 1, buf, sizeof buf), "vocab");
    paw_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_choices),
        cmocka_unit_test(test_choices_equivalences),
        cmocka_unit_test(test_choices_errors),
        cmocka_unit_test(test_fit_labels),
        cmocka_unit_test(test_compile_label_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
