/* test_program_stream.c — paw_program_call_stream: the pieces a streaming
 * call hands out, as it decodes, add up to exactly what paw_program_call
 * answers (plain and speculative decoding, the latter accepting drafts in
 * batches), and a callback asking to stop stops decoding early.  SmolLM2
 * with no adapter, a story template so that outputs are long. */
#include "testutil.h"
#include "paw.h"

static paw_model *g_model;

static const char story[] = "Once upon a time, in a small village," PAW_PROGRAM_PLACEHOLDER;

typedef struct pieces {
    char  *text;          /* the pieces concatenated */
    size_t len;
    int    n;             /* how many pieces */
    int    stop_after;    /* ask to stop after this many (0 = never) */
    int    empty;         /* pieces of length 0 (there must be none) */
} pieces;

static int on_piece(void *ud, const char *text, size_t len)
{
    pieces *p = ud;
    if (!len) p->empty++;
    p->text = realloc(p->text, p->len + len + 1);
    assert_non_null(p->text);
    memcpy(p->text + p->len, text, len);
    p->len += len;
    p->text[p->len] = 0;
    p->n++;
    return p->stop_after && p->n >= p->stop_after;
}

static int setup(void **state)
{
    (void)state;
    if (access(tu_smollm2(), R_OK)) return 0;   /* NEED_MODEL fails the test */
    return paw_model_load(tu_smollm2(), &g_model) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    paw_model_free(g_model);
    return 0;
}

static paw_program *open_story(int no_speculation)
{
    paw_program_opts o = {.n_threads = 2, .no_speculation = no_speculation, .spec_always = 1};
    paw_program *p = NULL;
    if (paw_program_open_template(g_model, story, strlen(story), &o, &p))
        fail_msg("open: %s", paw_last_error());
    return p;
}

/* Both decoders; the second streamed call of an input repeats the first
 * one's output, which the speculative handle then verifies as one draft. */
static void check_equal(int no_speculation)
{
    TU_NEED_SMOLLM2();
    paw_program *ref = open_story(1), *p = open_story(no_speculation);
    static const char *const inputs[] = {"", " there lived a cat", " \xc3\xa9t\xc3\xa9 \xe2\x80\x94"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char *want = NULL;
        size_t want_len = 0;
        assert_int_equal(paw_program_call(ref, inputs[i], strlen(inputs[i]), 24, &want, &want_len), PAW_OK);
        assert_true(want_len > 20);
        for (int round = 0; round < 2; round++) {
            pieces got = {0};
            char *out = NULL;
            size_t out_len = 0;
            assert_int_equal(paw_program_call_stream(p, inputs[i], strlen(inputs[i]), 24, on_piece, &got, &out,
                                                     &out_len), PAW_OK);
            assert_string_equal(out, want);
            assert_int_equal(out_len, want_len);
            assert_non_null(got.text);
            assert_string_equal(got.text, want);   /* the pieces are the output, in order */
            assert_int_equal(got.empty, 0);
            /* Streamed as decoded: plain decoding hands out many pieces; the
             * speculative handle's first call too (no draft matches yet). */
            if (no_speculation || round == 0) assert_true(got.n >= 5);
            paw_program_stats st;
            paw_program_get_stats(p, &st);
            if (!no_speculation && round == 1) assert_true(st.n_accepted > 0);
            free(got.text);
            free(out);
        }
        free(want);
    }
    /* A NULL callback is paw_program_call. */
    char *a = NULL, *b = NULL;
    assert_int_equal(paw_program_call_stream(p, "", 0, 12, NULL, NULL, &a, NULL), PAW_OK);
    assert_int_equal(paw_program_call(ref, "", 0, 12, &b, NULL), PAW_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    paw_program_close(p);
    paw_program_close(ref);
}

static void test_stream_plain(void **state)
{
    (void)state;
    check_equal(1);
}

static void test_stream_speculative(void **state)
{
    (void)state;
    check_equal(0);
}

/* The callback's non-zero answer stops decoding: fewer tokens, and the
 * output is what was decoded until then (a prefix of the full answer). */
static void test_stream_stop(void **state)
{
    (void)state;
    TU_NEED_SMOLLM2();
    for (int nospec = 0; nospec < 2; nospec++) {
        paw_program *p = open_story(nospec);
        char *full = NULL;
        assert_int_equal(paw_program_call(p, "", 0, 32, &full, NULL), PAW_OK);
        paw_program_stats st;
        paw_program_get_stats(p, &st);
        int32_t n_full = st.n_gen;
        pieces got = {.stop_after = 2};
        char *out = NULL;
        paw_program *q = open_story(nospec);   /* no drafts: one token per call */
        assert_int_equal(paw_program_call_stream(q, "", 0, 32, on_piece, &got, &out, NULL), PAW_OK);
        paw_program_get_stats(q, &st);
        assert_int_equal(st.stop_reason, PAW_STOP_CALLBACK);
        assert_int_equal(got.n, 2);
        assert_true(st.n_gen < n_full);
        assert_true(strlen(out) < strlen(full) && !strncmp(out, full, strlen(out)));
        assert_true(!strncmp(got.text, out, got.len));
        free(got.text);
        free(out);
        free(full);
        paw_program_close(p);
        paw_program_close(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_plain),
        cmocka_unit_test(test_stream_speculative),
        cmocka_unit_test(test_stream_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
