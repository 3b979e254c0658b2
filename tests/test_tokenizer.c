/* test_tokenizer.c — tokenizers built from GGUF metadata, checked against
 * independent tokenizations: llama.cpp's for stories260K (SentencePiece) and
 * SmolLM2 (byte-level BPE, golden data from scripts/gen_smollm2_tokens.py),
 * transformers.js's for Qwen3 (vocab GGUF converted from tokenizer.json). */
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "paw.h"

#define PAW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PAW_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static paw_tokenizer *load_tok(const char *path)
{
    paw_gguf *g = NULL;
    paw_tokenizer *t = NULL;
    if (paw_gguf_open(path, &g) != PAW_OK) {
        print_error("open %s: %s\n", path, paw_last_error());
        return NULL;
    }
    if (paw_tokenizer_from_gguf(g, &t) != PAW_OK) print_error("tokenizer %s: %s\n", path, paw_last_error());
    paw_gguf_close(g);
    return t;
}

/* Loads a JSONL file: one JSON object per non-empty line (a JSON array). */
static json_t *load_jsonl(const char *path)
{
    size_t len;
    char *buf = tu_read_file(path, &len);
    if (!buf) return NULL;
    json_t *arr = json_array();
    for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl) nl = buf + len;
        if (nl == line) continue;
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)(nl - line), JSON_ALLOW_NUL, &e);
        if (!o) { print_error("%s:%d: %s\n", path, e.line, e.text); json_decref(arr); free(buf); return NULL; }
        json_array_append_new(arr, o);
    }
    free(buf);
    return arr;
}

/* Tokenizes `text` and compares with the JSON array `want`; prints the first
 * mismatch.  Returns 1 on match. */
static int check_ids(const paw_tokenizer *t, const char *text, size_t len, int special, json_t *want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (paw_tokenize(t, text, len, 0, special, &ids, &n) != PAW_OK) {
        print_error("tokenize failed: %s\n", paw_last_error());
        return 0;
    }
    int ok = n == json_array_size(want);
    for (size_t i = 0; ok && i < n; i++) ok = ids[i] == json_integer_value(json_array_get(want, i));
    if (!ok) {
        print_error("mismatch for \"%.*s\" (special=%d)\n  got :", (int)PAW_MIN(len, 200), text, special);
        for (size_t i = 0; i < n && i < 40; i++) print_error(" %d", ids[i]);
        print_error("\n  want:");
        for (size_t i = 0; i < json_array_size(want) && i < 40; i++)
            print_error(" %d", (int)json_integer_value(json_array_get(want, i)));
        print_error("\n");
    }
    free(ids);
    return ok;
}

/* decode(encode(s)) == s, byte for byte. */
static int check_roundtrip(const paw_tokenizer *t, const char *text, size_t len, int special)
{
    int32_t *ids = NULL;
    size_t n = 0, m = 0;
    char *back = NULL;
    if (paw_tokenize(t, text, len, 0, special, &ids, &n) != PAW_OK) return 0;
    int rc = paw_detokenize(t, ids, n, special, &back, &m);
    free(ids);
    int ok = rc == PAW_OK && m == len && !memcmp(back, text, len);
    if (!ok) print_error("round trip failed for \"%.*s\" -> \"%s\"\n", (int)PAW_MIN(len, 200), text,
                         back ? back : "(null)");
    free(back);
    return ok;
}

/* ---------------------------------------------------------- stories260K */

static void test_stories_reference(void **state)
{
    (void)state;
    paw_tokenizer *t = load_tok(tu_shared("fixtures/stories260k/stories260K.gguf"));
    assert_non_null(t);
    assert_int_equal(paw_tokenizer_n_vocab(t), 512);
    assert_int_equal(paw_tokenizer_bos(t), 1);
    assert_int_equal(paw_tokenizer_eos(t), 2);
    assert_true(paw_tokenizer_add_bos(t));
    assert_true(paw_tokenizer_is_eog(t, 2));
    assert_false(paw_tokenizer_is_eog(t, 1));
    assert_false(paw_tokenizer_is_eog(t, -1));
    assert_false(paw_tokenizer_is_eog(t, 512));
    assert_int_equal(paw_tokenizer_find(t, "<0x0A>", 6), 13);
    assert_int_equal(paw_tokenizer_find(t, "no such token", 13), -1);
    assert_null(paw_tokenizer_piece(t, 512).ptr);
    assert_string_equal(paw_tokenizer_piece(t, 1).ptr, "<s>");
    json_t *ref = load_jsonl(tu_shared("fixtures/stories260k/reference.jsonl"));
    assert_non_null(ref);
    assert_int_equal(json_array_size(ref), 8);
    size_t i;
    json_t *o;
    int bad = 0;
    json_array_foreach(ref, i, o) {
        json_t *tx = json_object_get(o, "text");
        bad += !check_ids(t, json_string_value(tx), json_string_length(tx), 0, json_object_get(o, "ids"));
        bad += !check_roundtrip(t, json_string_value(tx), json_string_length(tx), 0);
    }
    /* add_bos puts BOS first; decoding skips it and the leading space. */
    int32_t *ids;
    size_t n;
    char *s;
    assert_int_equal(paw_tokenize(t, "Hello", 5, 1, 0, &ids, &n), PAW_OK);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(paw_detokenize(t, ids, n, 0, &s, NULL), PAW_OK);
    assert_string_equal(s, "Hello");
    free(s);
    free(ids);
    /* Characters outside the 512-token vocabulary use <0xNN> byte tokens. */
    assert_int_equal(paw_tokenize(t, "é\n", 3, 0, 0, &ids, &n), PAW_OK);
    assert_true(n >= 3);
    assert_string_equal(paw_tokenizer_piece(t, ids[n - 1]).ptr, "<0x0A>");
    free(ids);
    assert_true(check_roundtrip(t, "  two  spaces\tand 漢字 ▂", strlen("  two  spaces\tand 漢字 ▂"), 0));
    assert_int_equal(bad, 0);
    json_decref(ref);
    paw_tokenizer_free(t);
}

/* ---------------------------------------------------------------- Qwen3 */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/paw_tok_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static paw_tokenizer *qwen3_tok(void)
{
    char out[320];
    snprintf(out, sizeof out, "%s/qwen3-vocab.gguf", tmpdir);
    struct stat st;
    if (stat(out, &st) != 0 &&
        paw_vocab_from_hf(tu_shared("fixtures/qwen3-tokenizer/tokenizer.json"), out) != PAW_OK) {
        print_error("vocab: %s\n", paw_last_error());
        return NULL;
    }
    return load_tok(out);
}

static void test_qwen3_reference(void **state)
{
    (void)state;
    paw_tokenizer *t = qwen3_tok();
    assert_non_null(t);
    assert_int_equal(paw_tokenizer_n_vocab(t), 151669);
    assert_int_equal(paw_tokenizer_bos(t), -1);
    assert_int_equal(paw_tokenizer_eos(t), 151645);
    assert_false(paw_tokenizer_add_bos(t));
    assert_true(paw_tokenizer_is_eog(t, 151645));   /* <|im_end|>    */
    assert_true(paw_tokenizer_is_eog(t, 151643));   /* <|endoftext|> */
    assert_false(paw_tokenizer_is_eog(t, 151644));  /* <|im_start|>  */
    assert_int_equal(paw_tokenizer_find(t, "<think>", 7), 151667);
    json_t *ref = load_jsonl(tu_shared("fixtures/qwen3-tokenizer/reference.jsonl"));
    assert_non_null(ref);
    assert_int_equal(json_array_size(ref), 303);
    size_t i;
    json_t *o;
    int bad = 0, bad_rt = 0;
    json_array_foreach(ref, i, o) {
        json_t *tx = json_object_get(o, "text");
        bad += !check_ids(t, json_string_value(tx), json_string_length(tx), 1, json_object_get(o, "ids"));
        bad_rt += !check_roundtrip(t, json_string_value(tx), json_string_length(tx), 1);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(bad_rt, 0);
    /* NFC (recorded as tokenizer.paw.normalizer): a decomposed é encodes
     * like the composed one. */
    int32_t *a, *b;
    size_t na, nb;
    assert_int_equal(paw_tokenize(t, "caf\xC3\xA9", 5, 0, 0, &a, &na), PAW_OK);
    assert_int_equal(paw_tokenize(t, "cafe\xCC\x81", 6, 0, 0, &b, &nb), PAW_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    free(a);
    free(b);
    json_decref(ref);
    paw_tokenizer_free(t);
}

/* Hugging Face tokenizers' output on Unicode corners (scripts/gen_qwen3_tokens.py). */
static void test_qwen3_hf_golden(void **state)
{
    (void)state;
    paw_tokenizer *t = qwen3_tok();
    assert_non_null(t);
    json_t *ref = load_jsonl("tests/golden/tokenizer/qwen3_hf.jsonl");
    assert_non_null(ref);
    assert_int_equal(json_array_size(ref), 400);
    size_t i;
    json_t *o;
    int bad = 0;
    json_array_foreach(ref, i, o) {
        json_t *tx = json_object_get(o, "text");
        bad += !check_ids(t, json_string_value(tx), json_string_length(tx), 1, json_object_get(o, "ids"));
    }
    assert_int_equal(bad, 0);
    json_decref(ref);
    paw_tokenizer_free(t);
}

/* Special-token text is ordinary text unless parse_special is set. */
static void test_qwen3_parse_special(void **state)
{
    (void)state;
    paw_tokenizer *t = qwen3_tok();
    assert_non_null(t);
    const char *s = "<|im_start|>user\nhi<think>x</think><|im_end|>";
    int32_t *ids;
    size_t n;
    char *back;
    assert_int_equal(paw_tokenize(t, s, strlen(s), 0, 1, &ids, &n), PAW_OK);
    assert_int_equal(ids[0], 151644);
    assert_int_equal(ids[n - 1], 151645);
    /* Without render_special, control tokens vanish; user-defined stay. */
    assert_int_equal(paw_detokenize(t, ids, n, 0, &back, NULL), PAW_OK);
    assert_string_equal(back, "user\nhi<think>x</think>");
    free(back);
    free(ids);
    assert_int_equal(paw_tokenize(t, s, strlen(s), 0, 0, &ids, &n), PAW_OK);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] < 151643);
    free(ids);
    assert_true(check_roundtrip(t, s, strlen(s), 0));
    /* Bad ids are an error, not a crash. */
    int32_t badid = 151669;
    assert_int_equal(paw_detokenize(t, &badid, 1, 1, &back, NULL), PAW_EINVAL);
    paw_tokenizer_free(t);
}

/* Invalid UTF-8 never crashes; byte-level BPE and SentencePiece byte
 * fallback both give the bytes back. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "\xff", "\x80", "abc\xc3", "\xc3(", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80 surrogate",
        "\xc0\xaf overlong", "\xf8\x88\x80\x80\x80", "mixed \xfe\xfe text\x80\xbf end",
        "  \xa0 \xe2\x80\xaf", "x\0y", "<|im_end\xff|>", "\xf4\x90\x80\x80",
    };
    paw_tokenizer *q = qwen3_tok();
    paw_tokenizer *st = load_tok(tu_shared("fixtures/stories260k/stories260K.gguf"));
    assert_non_null(q);
    assert_non_null(st);
    for (size_t i = 0; i < PAW_ARRAY_LEN_T(cases); i++) {
        size_t len = i == 11 ? 3 : strlen(cases[i]);
        assert_true(check_roundtrip(q, cases[i], len, 0));
        assert_true(check_roundtrip(q, cases[i], len, 1));
        assert_true(check_roundtrip(st, cases[i], len, 0));
    }
    /* Every single byte value, and all bytes at once. */
    char all[256];
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
        char one = (char)c;
        assert_true(check_roundtrip(q, &one, 1, 0));
        assert_true(check_roundtrip(st, &one, 1, 0));
    }
    assert_true(check_roundtrip(q, all, 256, 0));
    assert_true(check_roundtrip(st, all, 256, 0));
    paw_tokenizer_free(q);
    paw_tokenizer_free(st);
}

/* ------------------------------------------------------------- SmolLM2 */

static void test_smollm2_golden(void **state)
{
    (void)state;
    struct stat stt;
    if (stat(tu_smollm2(), &stt) != 0)
        fail_msg("SmolLM2 not cached (%s): run `./paw pull smollm2-135m`", tu_smollm2());
    paw_tokenizer *t = load_tok(tu_smollm2());
    assert_non_null(t);
    assert_int_equal(paw_tokenizer_n_vocab(t), 49152);
    assert_false(paw_tokenizer_add_bos(t));
    assert_true(paw_tokenizer_is_eog(t, 2));   /* <|im_end|> = eos   */
    assert_true(paw_tokenizer_is_eog(t, 0));   /* <|endoftext|>      */
    assert_false(paw_tokenizer_is_eog(t, 1));  /* <|im_start|>       */
    json_t *ref = load_jsonl("tests/golden/tokenizer/smollm2.jsonl");
    assert_non_null(ref);
    assert_true(json_array_size(ref) >= 200);
    size_t i;
    json_t *o;
    int bad = 0, bad_rt = 0;
    json_array_foreach(ref, i, o) {
        json_t *tx = json_object_get(o, "text");
        int special = json_is_true(json_object_get(o, "special"));
        bad += !check_ids(t, json_string_value(tx), json_string_length(tx), special, json_object_get(o, "ids"));
        bad_rt += !check_roundtrip(t, json_string_value(tx), json_string_length(tx), special);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(bad_rt, 0);
    json_decref(ref);
    paw_tokenizer_free(t);
}

/* ------------------------------------------------------------ paw vocab */

static int write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(s, f);
    return fclose(f);
}

static void tiny_ids(const char *json, int32_t *out, size_t *n)
{
    char dir[300], in[340], outp[340];
    snprintf(dir, sizeof dir, "%s/tiny", tmpdir);
    mkdir(dir, 0700);
    snprintf(in, sizeof in, "%s/tokenizer.json", dir);
    snprintf(outp, sizeof outp, "%s/tiny.gguf", dir);
    assert_int_equal(write_text(in, json), 0);
    assert_int_equal(paw_vocab_from_hf(in, outp), PAW_OK);
    paw_tokenizer *t = load_tok(outp);
    assert_non_null(t);
    int32_t *ids;
    assert_int_equal(paw_tokenize(t, "ab cab", 6, 0, 0, &ids, n), PAW_OK);
    memcpy(out, ids, *n * sizeof *ids);
    free(ids);
    paw_tokenizer_free(t);
}

/* Both merge spellings of tokenizer.json give the same tokenizer. */
static void test_vocab_merge_forms(void **state)
{
    (void)state;
    static const char head[] =
        "{\"added_tokens\":[],\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,"
        "\"ab\":4,\"\\u0120c\":5,\"\\u0120cab\":6,\"\\u0120ca\":7},\"merges\":";
    char buf[1024];
    int32_t x[16], y[16];
    size_t nx, ny;
    snprintf(buf, sizeof buf, "%s[\"a b\",\"\\u0120 c\",\"\\u0120c a\",\"\\u0120ca b\"]}}", head);
    tiny_ids(buf, x, &nx);
    snprintf(buf, sizeof buf, "%s[[\"a\",\"b\"],[\"\\u0120\",\"c\"],[\"\\u0120c\",\"a\"],[\"\\u0120ca\",\"b\"]]}}", head);
    tiny_ids(buf, y, &ny);
    /* "ab" | " cab": a+b (rank 0) goes first, so " cab" ends as Ġc + ab. */
    assert_int_equal(nx, 3);
    assert_int_equal(x[0], 4);
    assert_int_equal(x[1], 5);
    assert_int_equal(x[2], 4);
    assert_int_equal(ny, nx);
    assert_memory_equal(x, y, nx * sizeof *x);
}

static void test_vocab_errors(void **state)
{
    (void)state;
    char in[320], out[320];
    struct stat st;
    snprintf(in, sizeof in, "%s/bad.json", tmpdir);
    snprintf(out, sizeof out, "%s/bad.gguf", tmpdir);
    assert_int_equal(write_text(in, "{\"model\": {\"vocab\": {\"a\": 0,}"), 0);
    assert_int_equal(paw_vocab_from_hf(in, out), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "malformed JSON"));
    assert_int_not_equal(stat(out, &st), 0);
    assert_int_equal(write_text(in, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}"), 0);
    assert_int_equal(paw_vocab_from_hf(in, out), PAW_EUNSUPPORTED);
    assert_int_equal(write_text(in, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}"), 0);
    assert_int_equal(paw_vocab_from_hf(in, out), PAW_EFORMAT);
    assert_int_equal(write_text(in, "[1, 2]"), 0);
    assert_int_equal(paw_vocab_from_hf(in, out), PAW_EFORMAT);
    assert_int_not_equal(stat(out, &st), 0);
    snprintf(in, sizeof in, "%s/missing.json", tmpdir);
    assert_int_equal(paw_vocab_from_hf(in, out), PAW_EIO);
}

/* -------------------------------------------------------- paw tokenize */

static char *run_cli(const char *args)
{
    const char *bin = getenv("PAW_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", bin ? bin : "./paw", args);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    static char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    return pclose(p) == 0 ? out : NULL;
}

static void test_cli_tokenize(void **state)
{
    (void)state;
    char args[1024];
    const char *m = tu_shared("fixtures/stories260k/stories260K.gguf");
    snprintf(args, sizeof args, "tokenize -m '%s' --json 'Hello'", m);
    char *out = run_cli(args);
    assert_non_null(out);
    assert_string_equal(out, "{\"ids\":[346,306,414]}\n");
    snprintf(args, sizeof args, "tokenize -m '%s' --bos 'Hello'", m);
    out = run_cli(args);
    assert_non_null(out);
    assert_string_equal(out, "1\t\"<s>\"\n346\t\"▁He\"\n306\t\"ll\"\n414\t\"o\"\n");
    snprintf(args, sizeof args, "printf 'Tom and Sue' | %s tokenize -m '%s' --json -",
             getenv("PAW_BIN") ? getenv("PAW_BIN") : "./paw", m);
    FILE *p = popen(args, "r");
    assert_non_null(p);
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    (void)n;
    assert_int_equal(pclose(p), 0);
    assert_string_equal(buf, "{\"ids\":[274,287,269,301,425,411]}\n");
    /* Usage errors exit non-zero. */
    assert_null(run_cli("tokenize --json"));
    assert_null(run_cli("tokenize -m /nonexistent/x.gguf hi"));
}

static void test_cli_vocab(void **state)
{
    (void)state;
    char dir[300], args[1024];
    snprintf(dir, sizeof dir, "%s/cli", tmpdir);
    mkdir(dir, 0700);
    snprintf(args, sizeof args, "%s/tokenizer.json", dir);
    assert_int_equal(write_text(args,
        "{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"added_tokens\":[{\"id\":3,"
        "\"content\":\"<|end|>\",\"special\":true}],\"model\":{\"type\":\"BPE\","
        "\"vocab\":{\"h\":0,\"i\":1,\"hi\":2},\"merges\":[\"h i\"]}}"), 0);
    snprintf(args, sizeof args, "%s/tokenizer_config.json", dir);
    assert_int_equal(write_text(args, "{\"eos_token\": {\"content\": \"<|end|>\"},"
                                      " \"chat_template\": \"{{ x }}\"}"), 0);
    snprintf(args, sizeof args, "vocab '%s/tokenizer.json' -o '%s/v.gguf'", dir, dir);
    assert_non_null(run_cli(args));
    snprintf(args, sizeof args, "tokenize -m '%s/v.gguf' --special --json 'hih<|end|>'", dir);
    char *out = run_cli(args);
    assert_non_null(out);
    assert_string_equal(out, "{\"ids\":[2,0,3]}\n");
    snprintf(args, sizeof args, "%s/v.gguf", dir);
    paw_tokenizer *t = load_tok(args);
    assert_non_null(t);
    assert_int_equal(paw_tokenizer_eos(t), 3);
    assert_true(paw_tokenizer_is_eog(t, 3));
    paw_tokenizer_free(t);
    /* Malformed input: exit status 1, and no output file. */
    snprintf(args, sizeof args, "%s/tokenizer.json", dir);
    assert_int_equal(write_text(args, "{\"model\": "), 0);
    snprintf(args, sizeof args, "vocab '%s/tokenizer.json' -o '%s/w.gguf'", dir, dir);
    assert_null(run_cli(args));
    snprintf(args, sizeof args, "%s/w.gguf", dir);
    struct stat st;
    assert_int_not_equal(stat(args, &st), 0);
    assert_null(run_cli("vocab"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_reference),
        cmocka_unit_test(test_qwen3_reference),
        cmocka_unit_test(test_qwen3_hf_golden),
        cmocka_unit_test(test_qwen3_parse_special),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_smollm2_golden),
        cmocka_unit_test(test_vocab_merge_forms),
        cmocka_unit_test(test_vocab_errors),
        cmocka_unit_test(test_cli_tokenize),
        cmocka_unit_test(test_cli_vocab),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
