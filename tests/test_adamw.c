/* test_adamw.c — paw's optimiser (src/train/adamw.c) against an independent
 * implementation: tests/golden/train/adamw.json holds AdamW steps (decoupled
 * weight decay, bias correction, global-norm clipping) and learning-rate
 * schedules computed in float64 by numpy (scripts/gen_adamw_golden.py;
 * tests/oracle/test_adamw_golden.py recomputes it in every test run). */
#include "testutil.h"
#include "testjson.h"
#include <math.h>
#include "paw.h"
#include "core/common.h"
#include "train/train.h"

/* paw updates in float32 with the bias corrections in double; the reference
 * is float64 throughout.  After 6 steps of size ~lr the two agree to a few
 * float32 ulps of the parameters (|p| up to ~4; measured 2.4e-7), while a step
 * without bias correction, without weight decay or with an unclipped
 * gradient moves parameters by 1e-4 and more. */
#define ADAMW_MAX_DIFF 1e-6
/* The schedule is computed in double and returned as float. */
#define LR_MAX_REL 1e-6

static paw_adamw read_opt(json_t *o)
{
    paw_adamw a = {0};
    a.lr = (float)json_number_value(json_object_get(o, "lr"));
    a.beta1 = (float)json_number_value(json_object_get(o, "beta1"));
    a.beta2 = (float)json_number_value(json_object_get(o, "beta2"));
    a.eps = (float)json_number_value(json_object_get(o, "eps"));
    a.weight_decay = (float)json_number_value(json_object_get(o, "weight_decay"));
    a.clip = (float)json_number_value(json_object_get(o, "clip"));
    a.warmup = (int32_t)json_integer_value(json_object_get(o, "warmup"));
    a.total = (int32_t)json_integer_value(json_object_get(o, "total"));
    a.schedule = (int)json_integer_value(json_object_get(o, "schedule"));
    return a;
}

static float *read_floats(json_t *arr, size_t n)
{
    assert_int_equal(json_array_size(arr), n);
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)json_number_value(json_array_get(arr, i));
    return x;
}

static void test_adamw_vs_numpy(void **state)
{
    (void)state;
    json_t *g = tu_load_json("tests/golden/train/adamw.json");
    json_t *cases = json_object_get(g, "cases");
    assert_int_equal(json_array_size(cases), 5);
    paw_pool *pool = paw_pool_new(2);
    assert_non_null(pool);
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t ci = 0; ci < json_array_size(cases); ci++) {
            json_t *c = json_array_get(cases, ci);
            const char *name = json_string_value(json_object_get(c, "name"));
            paw_adamw o = read_opt(json_object_get(c, "opt"));
            size_t n = json_array_size(json_object_get(c, "params0"));
            float *p = read_floats(json_object_get(c, "params0"), n);
            float *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
            json_t *grads = json_object_get(c, "grads"), *want = json_object_get(c, "params");
            double worst = 0;
            for (size_t s = 0; s < json_array_size(grads); s++) {
                float *gr = read_floats(json_array_get(grads, s), n);
                double norm = paw_adamw_update(threads == 2 ? pool : NULL, &o, (int32_t)s + 1, p, gr, m, v,
                                               (int64_t)n);
                double want_norm = json_number_value(json_array_get(json_object_get(c, "norms"), s));
                assert_true(fabs(norm - want_norm) <= 1e-9 * want_norm);
                float *w = read_floats(json_array_get(want, s), n);
                for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)p[i] - w[i]));
                free(w);
                free(gr);
            }
            print_message("adamw %-16s %d thread(s): max |p - numpy| %.2e after %zu steps\n", name, threads,
                          worst, json_array_size(grads));
            assert_true(worst <= ADAMW_MAX_DIFF);
            free(p);
            free(m);
            free(v);
        }
    }
    paw_pool_free(pool);
    json_decref(g);
}

static void test_lr_schedules_vs_numpy(void **state)
{
    (void)state;
    json_t *g = tu_load_json("tests/golden/train/adamw.json");
    json_t *sch = json_object_get(g, "schedules");
    assert_int_equal(json_array_size(sch), 12);
    for (size_t k = 0; k < json_array_size(sch); k++) {
        json_t *s = json_array_get(sch, k), *lr = json_object_get(s, "lr");
        paw_adamw o = read_opt(json_object_get(s, "opt"));
        for (size_t step = 0; step < json_array_size(lr); step++) {
            double want = json_number_value(json_array_get(lr, step));
            double got = paw_adamw_lr(&o, (int32_t)step);
            if (fabs(got - want) > LR_MAX_REL * want)
                fail_msg("schedule %d warmup %d total %d step %zu: paw %.9g, numpy %.9g", o.schedule, o.warmup,
                         o.total, step, got, want);
        }
    }
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_vs_numpy),
        cmocka_unit_test(test_lr_schedules_vs_numpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
