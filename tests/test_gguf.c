/* test_gguf.c — the GGUF reader and writer.
 *
 * Expectations for the real files were read with the `gguf` Python package
 * (an independent reader) and are committed here as literals:
 *   python3 -c "import gguf; r = gguf.GGUFReader(PATH); ..."   (fields, tensors,
 *   tensor_type, shape, n_bytes, data_offset).
 * Corrupt files are built byte by byte below, so each test states exactly
 * which field is wrong. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "paw.h"
#include "model/gguf.h"

/* ----------------------------------------------------------- helpers */

static void assert_err(int rc, int want_rc, const char *substr)
{
    if (rc != want_rc || !strstr(paw_last_error(), substr))
        fail_msg("want %s containing \"%s\", got %s: \"%s\"", paw_status_name(want_rc), substr,
                 paw_status_name(rc), paw_last_error());
}

static int str_eq(paw_str s, const char *z) { return s.len == strlen(z) && !memcmp(s.ptr, z, s.len); }

/* Bytes of a file from `off`, read independently of the reader. */
static void read_at(const char *path, uint64_t off, void *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fread(buf, 1, n, f), n);
    fclose(f);
}

static char tmpdir[256];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/paw_test_gguf.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char b[4][512];
    static int slot;
    char *p = b[slot++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", tmpdir, name);
    return p;
}

/* ------------------------------------------------------- real files */

static void test_stories260k(void **state)
{
    (void)state;
    const char *path = tu_shared("fixtures/stories260k/stories260K.gguf");
    paw_gguf *g = NULL;
    int rc = paw_gguf_open(path, &g);
    if (rc) fail_msg("%s", paw_last_error());
    assert_int_equal(paw_gguf_version(g), 3);
    assert_int_equal(paw_gguf_alignment(g), 32);
    assert_int_equal(paw_gguf_file_size(g), 1185376);
    assert_int_equal(paw_gguf_n_kv(g), 19);
    assert_int_equal(paw_gguf_n_tensors(g), 48);

    paw_str s;
    assert_int_equal(paw_gguf_get_str(g, "general.architecture", &s), PAW_OK);
    assert_true(str_eq(s, "llama"));
    assert_int_equal(paw_gguf_get_str(g, "tokenizer.ggml.model", &s), PAW_OK);
    assert_true(str_eq(s, "llama"));
    static const struct { const char *key; uint32_t v; } u32s[] = {
        {"llama.context_length", 2048}, {"llama.embedding_length", 64},
        {"llama.feed_forward_length", 172}, {"llama.attention.head_count", 8},
        {"llama.attention.head_count_kv", 4}, {"llama.block_count", 5},
        {"llama.rope.dimension_count", 8}, {"tokenizer.ggml.bos_token_id", 1},
        {"tokenizer.ggml.eos_token_id", 2}, {"tokenizer.ggml.padding_token_id", 4294967295u},
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v = 0;
        assert_int_equal(paw_gguf_get_u32(g, u32s[i].key, &v), PAW_OK);
        assert_int_equal(v, u32s[i].v);
    }
    float eps;
    assert_int_equal(paw_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps), PAW_OK);
    assert_true(eps == 1e-5f);

    const paw_gguf_kv *tok = paw_gguf_find_kv(g, "tokenizer.ggml.tokens");
    assert_non_null(tok);
    assert_int_equal(tok->type, PAW_GGUF_ARRAY);
    assert_int_equal(tok->arr_type, PAW_GGUF_STRING);
    assert_int_equal(tok->n, 512);
    assert_true(str_eq(tok->strs[0], "<unk>"));
    assert_true(str_eq(tok->strs[3], "<0x00>"));
    assert_true(str_eq(tok->strs[300], "\xe2\x96\x81ha"));
    assert_true(str_eq(tok->strs[511], "\xe2\x80\x8a"));
    const paw_gguf_kv *sc = paw_gguf_find_kv(g, "tokenizer.ggml.scores");
    assert_int_equal(sc->arr_type, PAW_GGUF_F32);
    assert_int_equal(sc->n, 512);
    float f;
    memcpy(&f, (const char *)sc->data + 511 * 4, 4);
    assert_true(f == -252.0f);
    const paw_gguf_kv *tt = paw_gguf_find_kv(g, "tokenizer.ggml.token_type");
    assert_int_equal(tt->arr_type, PAW_GGUF_I32);
    int32_t ty[2];
    memcpy(ty, tt->data, 8);
    assert_int_equal(ty[0], 2);
    assert_int_equal(ty[1], 3);

    for (int64_t i = 0; i < 48; i++) assert_int_equal(paw_gguf_tensor_at(g, i)->type, PAW_TYPE_F32);
    const paw_gguf_tensor *t = paw_gguf_tensor_at(g, 0);
    assert_string_equal(t->name, "token_embd.weight");
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->nbytes, 131072);
    float first[3];
    read_at(path, 14176, first, sizeof first);  /* python: data_offset 14176 */
    assert_memory_equal(t->data, first, sizeof first);
    assert_true(first[0] == -0.29474878f);
    t = paw_gguf_find_tensor(g, "blk.4.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 172);
    assert_int_equal(t->ne[1], 64);
    assert_int_equal(t->nbytes, 44032);
    assert_int_equal(t->offset, 1097056 - 14176);
    t = paw_gguf_find_tensor(g, "blk.4.ffn_norm.weight");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->offset + t->nbytes + 14176, 1185376);  /* last tensor ends the file */
    assert_null(paw_gguf_find_tensor(g, "blk.5.ffn_norm.weight"));
    assert_null(paw_gguf_find_kv(g, "general.alignment"));
    assert_err(paw_gguf_get_u32(g, "no.such.key", &(uint32_t){0}), PAW_ENOTFOUND, "'no.such.key' not found");
    assert_err(paw_gguf_get_u32(g, "general.name", &(uint32_t){0}), PAW_EFORMAT, "expected an integer");
    paw_gguf_close(g);
}

static void test_smollm2(void **state)
{
    (void)state;
    const char *path = tu_smollm2();
    paw_gguf *g = NULL;
    if (paw_gguf_open(path, &g)) fail_msg("%s (fetch it with `paw pull smollm2-135m`)", paw_last_error());
    assert_int_equal(paw_gguf_version(g), 3);
    assert_int_equal(paw_gguf_file_size(g), 98362432);
    assert_int_equal(paw_gguf_n_kv(g), 33);
    assert_int_equal(paw_gguf_n_tensors(g), 272);
    paw_str s;
    assert_int_equal(paw_gguf_get_str(g, "general.name", &s), PAW_OK);
    assert_true(str_eq(s, "Smollm2 135M 8k Lc100K Mix1 Ep2"));
    assert_int_equal(paw_gguf_get_str(g, "tokenizer.ggml.pre", &s), PAW_OK);
    assert_true(str_eq(s, "smollm"));
    uint32_t u;
    assert_int_equal(paw_gguf_get_u32(g, "general.file_type", &u), PAW_OK);
    assert_int_equal(u, 3);
    assert_int_equal(paw_gguf_get_u32(g, "llama.embedding_length", &u), PAW_OK);
    assert_int_equal(u, 576);
    int64_t i64;
    assert_int_equal(paw_gguf_get_i64(g, "llama.vocab_size", &i64), PAW_OK);
    assert_int_equal(i64, 49152);
    float f;
    assert_int_equal(paw_gguf_get_f32(g, "llama.rope.freq_base", &f), PAW_OK);
    assert_true(f == 100000.0f);
    int b = 1;
    assert_int_equal(paw_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), PAW_OK);
    assert_int_equal(b, 0);
    assert_err(paw_gguf_get_bool(g, "llama.vocab_size", &b), PAW_EFORMAT, "expected bool");

    const paw_gguf_kv *tok = paw_gguf_find_kv(g, "tokenizer.ggml.tokens");
    assert_int_equal(tok->n, 49152);
    assert_true(str_eq(tok->strs[0], "<|endoftext|>"));
    assert_true(str_eq(tok->strs[2], "<|im_end|>"));
    assert_true(str_eq(tok->strs[49151], "ectable"));
    const paw_gguf_kv *mg = paw_gguf_find_kv(g, "tokenizer.ggml.merges");
    assert_int_equal(mg->n, 48900);
    assert_true(str_eq(mg->strs[0], "\xc4\xa0 t"));
    assert_true(str_eq(mg->strs[48899], "ect able"));
    const paw_gguf_kv *lang = paw_gguf_find_kv(g, "general.languages");
    assert_int_equal(lang->arr_type, PAW_GGUF_STRING);
    assert_int_equal(lang->n, 1);

    int n_q41 = 0, n_f32 = 0, n_q80 = 0;
    uint64_t total = 0;
    for (int64_t i = 0; i < 272; i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        n_q41 += t->type == PAW_TYPE_Q4_1;
        n_f32 += t->type == PAW_TYPE_F32;
        n_q80 += t->type == PAW_TYPE_Q8_0;
        total += t->nbytes;
        assert_int_equal(t->offset % 32, 0);
    }
    assert_int_equal(n_q41, 210);
    assert_int_equal(n_f32, 61);
    assert_int_equal(n_q80, 1);
    assert_int_equal(total, 96576768);
    const paw_gguf_tensor *t = paw_gguf_find_tensor(g, "token_embd.weight");
    assert_int_equal(t->type, PAW_TYPE_Q8_0);
    assert_int_equal(t->ne[0], 576);
    assert_int_equal(t->ne[1], 49152);
    assert_int_equal(t->nbytes, 30081024);
    t = paw_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    assert_int_equal(t->type, PAW_TYPE_Q4_1);
    assert_int_equal(t->ne[0], 1536);
    assert_int_equal(t->ne[1], 576);
    assert_int_equal(t->nbytes, 552960);
    uint8_t want[64];
    read_at(path, 31868992, want, sizeof want);  /* python: data_offset of blk.0.ffn_down.weight */
    assert_memory_equal(t->data, want, sizeof want);
    t = paw_gguf_find_tensor(g, "output_norm.weight");
    assert_ptr_equal((const char *)t->data + t->nbytes, (const char *)paw_gguf_tensor_at(g, 0)->data - 1785664 + 98362432);
    assert_null(paw_gguf_find_tensor(g, "output.weight"));  /* tied embeddings */
    paw_gguf_close(g);
}

static void test_open_errors(void **state)
{
    (void)state;
    paw_gguf *g = (paw_gguf *)1;
    assert_err(paw_gguf_open(tmp_path("missing.gguf"), &g), PAW_EIO, "missing.gguf: cannot open");
    assert_null(g);
    assert_err(paw_gguf_open(tmpdir, &g), PAW_EIO, "not a regular file");
    assert_err(paw_gguf_open(tu_shared("fixtures/stories260k/reference.jsonl"), &g), PAW_EFORMAT,
               "reference.jsonl: gguf: not a GGUF file (bad magic)");
    assert_err(paw_gguf_open_mem("GGU", 3, &g), PAW_EFORMAT, "bad magic");
    assert_err(paw_gguf_open_mem(NULL, 0, &g), PAW_EFORMAT, "bad magic");
    paw_gguf_close(NULL);
}

/* ---------------------------------------------------- writer round trip */

static void fill_bytes(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_non_null(w);
    /* Every scalar type. */
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    int64_t i64 = -5000000000ll; double f64 = 3.25; uint8_t bl = 1;
    assert_int_equal(paw_gguf_writer_set_val(w, "t.u8", PAW_GGUF_U8, &u8), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.i8", PAW_GGUF_I8, &i8), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.u16", PAW_GGUF_U16, &u16), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.i16", PAW_GGUF_I16, &i16), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_u32(w, "t.u32", 4000000000u), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_i32(w, "t.i32", -7), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "t.f32", 0.5f), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_bool(w, "t.bool", 1), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.bool2", PAW_GGUF_BOOL, &bl), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "t.str", "h\0llo", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "t.empty", "", 0), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.i64", PAW_GGUF_I64, &i64), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "t.f64", PAW_GGUF_F64, &f64), PAW_OK);
    /* Arrays of every fixed type, an empty one and strings. */
    static const int arr_types[] = {PAW_GGUF_U8, PAW_GGUF_I8, PAW_GGUF_U16, PAW_GGUF_I16, PAW_GGUF_U32,
                                    PAW_GGUF_I32, PAW_GGUF_F32, PAW_GGUF_BOOL, PAW_GGUF_U64, PAW_GGUF_I64,
                                    PAW_GGUF_F64};
    static const int arr_sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 8, 8};
    uint8_t arr[11][40];
    char key[32];
    for (int i = 0; i < 11; i++) {
        fill_bytes(arr[i], sizeof arr[i], (uint32_t)i);
        if (arr_types[i] == PAW_GGUF_BOOL) for (int j = 0; j < 5; j++) arr[i][j] &= 1;
        snprintf(key, sizeof key, "a.%d", arr_types[i]);
        assert_int_equal(paw_gguf_writer_set_arr(w, key, arr_types[i], arr[i], (uint64_t)(40 / arr_sizes[i] < 5 ? 40 / arr_sizes[i] : 5)), PAW_OK);
    }
    assert_int_equal(paw_gguf_writer_set_arr(w, "a.empty", PAW_GGUF_I32, NULL, 0), PAW_OK);
    paw_str strs[] = {{"one", 3}, {"", 0}, {"thr\xc3\xa9\xc3\xa9", 7}};
    assert_int_equal(paw_gguf_writer_set_arr_str(w, "a.str", strs, 3), PAW_OK);
    /* Setting a key twice replaces the value in place. */
    assert_int_equal(paw_gguf_writer_set_i32(w, "t.i32", -8), PAW_OK);
    assert_err(paw_gguf_writer_set_arr(w, "bad", PAW_GGUF_STRING, strs, 1), PAW_EINVAL, "not a fixed-size");
    assert_err(paw_gguf_writer_set_val(w, "bad", PAW_GGUF_ARRAY, &u8), PAW_EINVAL, "not a fixed-size");

    /* Tensors of several types and ranks. */
    static const struct { const char *name; int type, n_dims; int64_t ne[4]; size_t nbytes; } ts[] = {
        {"f32", PAW_TYPE_F32, 2, {8, 3, 1, 1}, 96},
        {"f16", PAW_TYPE_F16, 1, {17, 1, 1, 1}, 34},
        {"q8_0", PAW_TYPE_Q8_0, 2, {64, 2, 1, 1}, 4 * 34},
        {"q4_k", PAW_TYPE_Q4_K, 3, {256, 1, 2, 1}, 2 * 144},
        {"bf16", PAW_TYPE_BF16, 4, {4, 2, 3, 2}, 96},
        {"q4_1", PAW_TYPE_Q4_1, 2, {32, 3, 1, 1}, 3 * 20},
    };
    uint8_t data[6][300];
    for (int i = 0; i < 6; i++) {
        fill_bytes(data[i], sizeof data[i], 100u + (uint32_t)i);
        assert_int_equal(paw_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, data[i]), PAW_OK);
    }
    assert_err(paw_gguf_writer_add_tensor(w, "f32", PAW_TYPE_F32, 1, ts[0].ne, data[0]), PAW_EINVAL, "duplicate tensor");
    assert_err(paw_gguf_writer_add_tensor(w, "x", PAW_TYPE_Q8_0, 1, (int64_t[]){16}, data[0]), PAW_EINVAL, "not a multiple");
    assert_err(paw_gguf_writer_add_tensor(w, "x", PAW_TYPE_F32, 5, ts[0].ne, data[0]), PAW_EINVAL, "n_dims 5");
    assert_err(paw_gguf_writer_add_tensor(w, "x", 5, 1, ts[0].ne, data[0]), PAW_EINVAL, "unknown type 5");
    assert_err(paw_gguf_writer_add_tensor(w, "x", PAW_TYPE_F32, 1, (int64_t[]){0}, data[0]), PAW_EINVAL, "ne[0]=0");

    const char *path = tmp_path("rt.gguf");
    assert_int_equal(paw_gguf_writer_write(w, path), PAW_OK);
    /* tests/oracle/test_gguf_writer.py reads this same file with the gguf package. */
    const char *keep = getenv("PAW_GGUF_KEEP");
    if (keep) assert_int_equal(paw_gguf_writer_write(w, keep), PAW_OK);
    paw_gguf_writer_free(w);

    paw_gguf *g = NULL;
    if (paw_gguf_open(path, &g)) fail_msg("%s", paw_last_error());
    assert_int_equal(paw_gguf_version(g), 3);
    assert_int_equal(paw_gguf_alignment(g), 32);
    assert_int_equal(paw_gguf_n_kv(g), 14 + 11 + 2);
    /* Insertion order, with the replaced key in its first position. */
    assert_string_equal(paw_gguf_kv_at(g, 0)->key, "t.u8");
    assert_string_equal(paw_gguf_kv_at(g, 5)->key, "t.i32");
    assert_string_equal(paw_gguf_kv_at(g, 26)->key, "a.str");
    assert_null(paw_gguf_kv_at(g, 27));

    uint32_t u = 0; int64_t v = 0; float f = 0; int b = 0; paw_str s;
    assert_int_equal(paw_gguf_get_u32(g, "t.u8", &u), PAW_OK);      assert_int_equal(u, 200);
    assert_int_equal(paw_gguf_get_i64(g, "t.i8", &v), PAW_OK);      assert_int_equal(v, -100);
    assert_int_equal(paw_gguf_get_u32(g, "t.u16", &u), PAW_OK);     assert_int_equal(u, 60000);
    assert_int_equal(paw_gguf_get_i64(g, "t.i16", &v), PAW_OK);     assert_int_equal(v, -30000);
    assert_int_equal(paw_gguf_get_u32(g, "t.u32", &u), PAW_OK);     assert_int_equal(u, 4000000000u);
    assert_int_equal(paw_gguf_get_i64(g, "t.i32", &v), PAW_OK);     assert_int_equal(v, -8);
    assert_int_equal(paw_gguf_get_f32(g, "t.f32", &f), PAW_OK);     assert_true(f == 0.5f);
    assert_int_equal(paw_gguf_get_bool(g, "t.bool", &b), PAW_OK);   assert_int_equal(b, 1);
    assert_int_equal(paw_gguf_get_str(g, "t.str", &s), PAW_OK);     assert_true(s.len == 5 && !memcmp(s.ptr, "h\0llo", 5));
    assert_int_equal(paw_gguf_get_str(g, "t.empty", &s), PAW_OK);   assert_int_equal(s.len, 0);
    assert_int_equal(paw_gguf_get_i64(g, "t.i64", &v), PAW_OK);     assert_true(v == -5000000000ll);
    assert_int_equal(paw_gguf_get_f32(g, "t.f64", &f), PAW_OK);     assert_true(f == 3.25f);
    assert_int_equal(paw_gguf_find_kv(g, "t.u64")->type, PAW_GGUF_U64);
    assert_int_equal(paw_gguf_find_kv(g, "t.f64")->type, PAW_GGUF_F64);
    /* Range checks of the integer getters. */
    assert_err(paw_gguf_get_u32(g, "t.i8", &u), PAW_EFORMAT, "-100 does not fit in u32");
    assert_err(paw_gguf_get_u32(g, "t.u64", &u), PAW_EFORMAT, "does not fit in u32");
    assert_err(paw_gguf_get_i64(g, "t.u64", &v), PAW_EFORMAT, "does not fit in i64");
    assert_err(paw_gguf_get_f32(g, "t.u32", &f), PAW_EFORMAT, "expected f32 or f64");
    assert_err(paw_gguf_get_str(g, "t.u32", &s), PAW_EFORMAT, "expected string");

    for (int i = 0; i < 11; i++) {
        snprintf(key, sizeof key, "a.%d", arr_types[i]);
        const paw_gguf_kv *kv = paw_gguf_find_kv(g, key);
        assert_non_null(kv);
        assert_int_equal(kv->type, PAW_GGUF_ARRAY);
        assert_int_equal(kv->arr_type, arr_types[i]);
        assert_int_equal(kv->n, 5);
        assert_memory_equal(kv->data, arr[i], 5 * (size_t)arr_sizes[i]);
    }
    assert_int_equal(paw_gguf_find_kv(g, "a.empty")->n, 0);
    const paw_gguf_kv *kv = paw_gguf_find_kv(g, "a.str");
    assert_int_equal(kv->arr_type, PAW_GGUF_STRING);
    assert_int_equal(kv->n, 3);
    for (int i = 0; i < 3; i++) assert_true(kv->strs[i].len == strs[i].len && !memcmp(kv->strs[i].ptr, strs[i].ptr, strs[i].len));

    assert_int_equal(paw_gguf_n_tensors(g), 6);
    for (int i = 0; i < 6; i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        assert_string_equal(t->name, ts[i].name);
        assert_ptr_equal(paw_gguf_find_tensor(g, ts[i].name), t);
        assert_int_equal(t->type, ts[i].type);
        assert_int_equal(t->n_dims, ts[i].n_dims);
        for (int d = 0; d < 4; d++) assert_int_equal(t->ne[d], ts[i].ne[d]);
        assert_int_equal(t->nbytes, ts[i].nbytes);
        assert_int_equal(t->offset % 32, 0);
        assert_memory_equal(t->data, data[i], ts[i].nbytes);
    }
    paw_gguf_close(g);
}

static void test_writer_alignment_and_atomicity(void **state)
{
    (void)state;
    float x[16] = {1, 2, 3};
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_u32(w, "general.alignment", 48), PAW_OK);
    assert_int_equal(paw_gguf_writer_add_tensor(w, "a", PAW_TYPE_F32, 1, (int64_t[]){3}, x), PAW_OK);
    assert_int_equal(paw_gguf_writer_add_tensor(w, "b", PAW_TYPE_F32, 1, (int64_t[]){16}, x), PAW_OK);
    assert_err(paw_gguf_writer_write(w, tmp_path("al.gguf")), PAW_EINVAL, "48 is not a power of two");
    assert_int_equal(paw_gguf_writer_set_u32(w, "general.alignment", 64), PAW_OK);
    assert_int_equal(paw_gguf_writer_write(w, tmp_path("al.gguf")), PAW_OK);
    /* Fails at rename (the target is a directory): the temp file must be gone. */
    const char *dir = tmp_path("adir");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_err(paw_gguf_writer_write(w, dir), PAW_EIO, "renaming");
    assert_err(paw_gguf_writer_write(w, tmp_path("nodir/x.gguf")), PAW_EIO, "cannot create temp file");
    paw_gguf_writer_free(w);
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d))) if (strstr(e->d_name, ".tmp.")) fail_msg("temp file left: %s", e->d_name);
    closedir(d);

    paw_gguf *g = NULL;
    if (paw_gguf_open(tmp_path("al.gguf"), &g)) fail_msg("%s", paw_last_error());
    assert_int_equal(paw_gguf_alignment(g), 64);
    assert_int_equal(paw_gguf_tensor_at(g, 0)->offset, 0);
    assert_int_equal(paw_gguf_tensor_at(g, 1)->offset, 64);
    assert_memory_equal(paw_gguf_tensor_at(g, 1)->data, x, sizeof x);
    paw_gguf_close(g);

    /* A vocab-only file (no tensors) round-trips too. */
    w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "llama", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_write(w, tmp_path("vocab.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    assert_int_equal(paw_gguf_open(tmp_path("vocab.gguf"), &g), PAW_OK);
    assert_int_equal(paw_gguf_n_tensors(g), 0);
    paw_gguf_close(g);
}

/* ------------------------------------------------- truncation, corruption */

/* A small valid file whose last tensor ends the file (no trailing padding),
 * so every strict prefix is invalid. */
static char *small_file(size_t *len)
{
    paw_gguf_writer *w = paw_gguf_writer_new();
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    paw_str strs[] = {{"a", 1}, {"bc", 2}};
    int32_t ids[3] = {1, 2, 3};
    paw_gguf_writer_set_str(w, "general.architecture", "llama", 5);
    paw_gguf_writer_set_u32(w, "llama.block_count", 1);
    paw_gguf_writer_set_bool(w, "x.flag", 1);
    paw_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 2);
    paw_gguf_writer_set_arr(w, "x.ids", PAW_GGUF_I32, ids, 3);
    paw_gguf_writer_add_tensor(w, "a", PAW_TYPE_F32, 2, (int64_t[]){4, 2}, x);
    paw_gguf_writer_add_tensor(w, "b", PAW_TYPE_F32, 1, (int64_t[]){16}, x);
    assert_int_equal(paw_gguf_writer_write(w, tmp_path("small.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    char *p = tu_read_file(tmp_path("small.gguf"), len);
    assert_non_null(p);
    return p;
}

static void test_truncation(void **state)
{
    (void)state;
    size_t len = 0;
    char *full = small_file(&len);
    paw_gguf *g = NULL;
    assert_int_equal(paw_gguf_open_mem(full, len, &g), PAW_OK);
    paw_gguf_close(g);
    for (size_t n = 0; n < len; n++) {
        /* An exact-size copy, so ASan catches any read past the end. */
        char *p = malloc(n ? n : 1);
        memcpy(p, full, n);
        int rc = paw_gguf_open_mem(p, n, &g);
        if (rc != PAW_EFORMAT || strncmp(paw_last_error(), "gguf: ", 6))
            fail_msg("prefix of %zu/%zu bytes: %s %s", n, len, paw_status_name(rc), paw_last_error());
        assert_null(g);
        free(p);
    }
    free(full);
}

/* A growable byte buffer for building files by hand. */
typedef struct { uint8_t b[4096]; size_t n; } bb;
static void put(bb *x, const void *p, size_t n) { assert_true(x->n + n <= sizeof x->b); memcpy(x->b + x->n, p, n); x->n += n; }
static void u32(bb *x, uint32_t v) { put(x, &v, 4); }
static void u64(bb *x, uint64_t v) { put(x, &v, 8); }
static void str(bb *x, const char *s) { u64(x, strlen(s)); put(x, s, strlen(s)); }
static void hdr(bb *x, uint32_t version, uint64_t n_t, uint64_t n_kv) { x->n = 0; put(x, "GGUF", 4); u32(x, version); u64(x, n_t); u64(x, n_kv); }
static void kv_u32(bb *x, const char *k, uint32_t v) { str(x, k); u32(x, PAW_GGUF_U32); u32(x, v); }
static void tensor(bb *x, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off)
{
    str(x, name); u32(x, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) u64(x, ne[d]);
    u32(x, type); u64(x, off);
}
/* Pads to 32 and appends n zero bytes of data. */
static void data(bb *x, size_t n) { while (x->n % 32) x->b[x->n++] = 0; memset(x->b + x->n, 0, n); x->n += n; }

static void expect(const bb *x, int want_rc, const char *substr)
{
    paw_gguf *g = NULL;
    uint8_t *p = malloc(x->n);
    memcpy(p, x->b, x->n);
    assert_err(paw_gguf_open_mem(p, x->n, &g), want_rc, substr);
    assert_null(g);
    free(p);
}

static void test_corruptions(void **state)
{
    (void)state;
    bb x;
    const uint64_t ne8[] = {8}, ne0[] = {8, 0}, ne5[] = {1, 1, 1, 1, 1};
    const uint64_t big[] = {1ull << 40, 1ull << 40};

    /* The baseline these are variants of is valid. */
    hdr(&x, 3, 2, 1); kv_u32(&x, "k", 1);
    tensor(&x, "t0", 1, ne8, PAW_TYPE_F32, 0); tensor(&x, "t1", 1, ne8, PAW_TYPE_F32, 32); data(&x, 64);
    paw_gguf *g = NULL;
    assert_int_equal(paw_gguf_open_mem(x.b, x.n, &g), PAW_OK);
    assert_int_equal(paw_gguf_n_tensors(g), 2);
    paw_gguf_close(g);
    x.b[4] = 2;  /* v2 has the same layout as v3 */
    assert_int_equal(paw_gguf_open_mem(x.b, x.n, &g), PAW_OK);
    assert_int_equal(paw_gguf_version(g), 2);
    paw_gguf_close(g);

    x.b[3] = 'X';                                 expect(&x, PAW_EFORMAT, "not a GGUF file (bad magic)");
    hdr(&x, 1, 0, 0); data(&x, 0);               expect(&x, PAW_EUNSUPPORTED, "version 1 is not supported");
    hdr(&x, 4, 0, 0); data(&x, 0);               expect(&x, PAW_EUNSUPPORTED, "unsupported version 4");
    hdr(&x, 0x03000000u, 0, 0); data(&x, 0);     expect(&x, PAW_EUNSUPPORTED, "big-endian");
    hdr(&x, 3, 0, 1ull << 60); data(&x, 64);     expect(&x, PAW_EFORMAT, "kv count 1152921504606846976 cannot fit");
    hdr(&x, 3, 1ull << 40, 0); data(&x, 64);     expect(&x, PAW_EFORMAT, "tensor count 1099511627776 cannot fit");
    /* Huge string length, as a key and as a value. */
    hdr(&x, 3, 0, 1); u64(&x, UINT64_MAX); data(&x, 32);
    expect(&x, PAW_EFORMAT, "gguf: kv 0: key at offset 24 has length 18446744073709551615 but only 32 bytes remain");
    hdr(&x, 3, 0, 1); str(&x, "k"); u32(&x, PAW_GGUF_STRING); u64(&x, 1ull << 62); data(&x, 32);
    expect(&x, PAW_EFORMAT, "gguf: key 'k': string value at offset 37 has length 4611686018427387904");
    /* Huge array counts (fixed-size and string elements); the product would wrap. */
    hdr(&x, 3, 0, 1); str(&x, "arr"); u32(&x, PAW_GGUF_ARRAY); u32(&x, PAW_GGUF_U64); u64(&x, 1ull << 61); data(&x, 32);
    expect(&x, PAW_EFORMAT, "key 'arr': array of 2305843009213693952 u64 elements cannot fit");
    hdr(&x, 3, 0, 1); str(&x, "arr"); u32(&x, PAW_GGUF_ARRAY); u32(&x, PAW_GGUF_STRING); u64(&x, 1000); data(&x, 32);
    expect(&x, PAW_EFORMAT, "key 'arr': array of 1000 strings cannot fit");
    hdr(&x, 3, 0, 1); str(&x, "arr"); u32(&x, PAW_GGUF_ARRAY); u32(&x, PAW_GGUF_ARRAY); u64(&x, 1); data(&x, 32);
    expect(&x, PAW_EUNSUPPORTED, "key 'arr': nested array");
    hdr(&x, 3, 0, 1); str(&x, "arr"); u32(&x, PAW_GGUF_ARRAY); u32(&x, 77); u64(&x, 1); data(&x, 32);
    expect(&x, PAW_EFORMAT, "key 'arr': unknown array element type 77");
    hdr(&x, 3, 0, 1); str(&x, "k"); u32(&x, 13); u32(&x, 0); data(&x, 0);
    expect(&x, PAW_EFORMAT, "key 'k' has unknown value type 13");
    hdr(&x, 3, 0, 1); str(&x, "k"); u32(&x, PAW_GGUF_BOOL); put(&x, "\2", 1); data(&x, 32);
    expect(&x, PAW_EFORMAT, "key 'k': bool value 2 is not 0 or 1");
    hdr(&x, 3, 0, 2); kv_u32(&x, "dup", 1); kv_u32(&x, "dup", 2); data(&x, 0);
    expect(&x, PAW_EFORMAT, "duplicate key 'dup'");
    hdr(&x, 3, 0, 1); kv_u32(&x, "", 1); data(&x, 0);
    expect(&x, PAW_EFORMAT, "kv 0 has an empty name");
    /* Alignment: not a power of two, zero, wrong type. */
    hdr(&x, 3, 0, 1); kv_u32(&x, "general.alignment", 48); data(&x, 0);
    expect(&x, PAW_EFORMAT, "general.alignment 48 is not a power of two");
    hdr(&x, 3, 0, 1); kv_u32(&x, "general.alignment", 0); data(&x, 0);
    expect(&x, PAW_EFORMAT, "general.alignment 0 is not a power of two");
    hdr(&x, 3, 0, 1); str(&x, "general.alignment"); u32(&x, PAW_GGUF_U64); u64(&x, 32); data(&x, 0);
    expect(&x, PAW_EFORMAT, "general.alignment has type u64, expected u32");
    /* Tensor infos. */
    hdr(&x, 3, 1, 0); tensor(&x, "t", 0, ne8, PAW_TYPE_F32, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': n_dims 0 is not in 1..4");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 5, ne5, PAW_TYPE_F32, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': n_dims 5 is not in 1..4");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 2, ne0, PAW_TYPE_F32, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': dimension 1 is 0");
    hdr(&x, 3, 1, 0); tensor(&x, "blk.0.attn_q.weight", 1, ne8, 99, 0); data(&x, 32);
    expect(&x, PAW_EUNSUPPORTED, "tensor 'blk.0.attn_q.weight' has unknown type id 99");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 1, ne8, 4, 0); data(&x, 32);  /* 4 = removed Q4_2 */
    expect(&x, PAW_EUNSUPPORTED, "tensor 't' has unknown type id 4");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 1, ne8, PAW_TYPE_Q8_0, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': ne[0]=8 is not a multiple of the Q8_0 block size 32");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 2, big, PAW_TYPE_F32, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': element count overflows");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 1, ne8, PAW_TYPE_F32, 8); data(&x, 64);
    expect(&x, PAW_EFORMAT, "tensor 't': offset 8 is not a multiple of the alignment 32");
    hdr(&x, 3, 2, 0); tensor(&x, "a", 1, ne8, PAW_TYPE_F32, 0); tensor(&x, "a", 1, ne8, PAW_TYPE_F32, 32); data(&x, 64);
    expect(&x, PAW_EFORMAT, "duplicate tensor name 'a'");
    hdr(&x, 3, 2, 0); tensor(&x, "a", 1, ne8, PAW_TYPE_F32, 32); tensor(&x, "b", 2, (uint64_t[]){8, 2}, PAW_TYPE_F32, 0);
    data(&x, 96);
    expect(&x, PAW_EFORMAT, "tensors 'b' [0,64) and 'a' [32,64) overlap");
    hdr(&x, 3, 2, 0); tensor(&x, "a", 2, (uint64_t[]){16, 1}, PAW_TYPE_F32, 0); tensor(&x, "b", 1, ne8, PAW_TYPE_F32, 32);
    data(&x, 96);
    expect(&x, PAW_EFORMAT, "tensors 'a' [0,64) and 'b' [32,64) overlap");
    hdr(&x, 3, 1, 0); tensor(&x, "blk.0.attn_q.weight", 1, ne8, PAW_TYPE_F32, 32); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 'blk.0.attn_q.weight': data [128,160) past end of file (size 128)");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 1, ne8, PAW_TYPE_F32, UINT64_MAX - 31); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 't': data offset 18446744073709551584 + 32 bytes overflows");
    hdr(&x, 3, 1, 0); tensor(&x, "t", 1, ne8, PAW_TYPE_F32, 0);  /* no padding, no data */
    expect(&x, PAW_EFORMAT, "data section at 64 starts past end of file (size 57)");
    hdr(&x, 3, 1, 0); tensor(&x, "0123456789012345678901234567890123456789012345678901234567890123456789", 1, ne8,
                             PAW_TYPE_F32, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 0: name length 70 exceeds 64");
    hdr(&x, 3, 1, 0); str(&x, "a"); x.b[x.n - 1] = 0; u32(&x, 1); u64(&x, 8); u32(&x, 0); u64(&x, 0); data(&x, 32);
    expect(&x, PAW_EFORMAT, "tensor 0 has a NUL byte in its name");
}

/* ------------------------------------------------------------- paw info */

static const char *paw_bin(void)
{
    const char *b = getenv("PAW_BIN");
    return b ? b : "build/paw";
}

/* Runs `paw info ARGS`, returns exit status; stdout into *out (malloc'd). */
static int run_info(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' info %s 2>%s/stderr.txt", paw_bin(), args, tmpdir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_info(void **state)
{
    (void)state;
    char args[1200], *out;
    snprintf(args, sizeof args, "'%s' --json", tu_shared("fixtures/stories260k/stories260K.gguf"));
    assert_int_equal(run_info(args, &out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);  /* exactly one JSON object, nothing else */
    if (!j) fail_msg("bad JSON (%s): %.200s", je.text, out);
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "architecture")), "llama");
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
    json_t *hp = json_object_get(j, "hyperparameters");
    assert_int_equal(json_integer_value(json_object_get(hp, "llama.embedding_length")), 64);
    assert_int_equal(json_object_size(hp), 8);
    json_t *ts = json_object_get(j, "tensors");
    assert_int_equal(json_array_size(ts), 48);
    json_t *t0 = json_array_get(ts, 0);
    assert_string_equal(json_string_value(json_object_get(t0, "name")), "token_embd.weight");
    assert_string_equal(json_string_value(json_object_get(t0, "type")), "F32");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(t0, "shape"), 1)), 512);
    assert_int_equal(json_integer_value(json_object_get(t0, "bytes")), 131072);
    json_t *tk = json_object_get(j, "tokenizer");
    assert_string_equal(json_string_value(json_object_get(tk, "model")), "llama");
    assert_int_equal(json_integer_value(json_object_get(tk, "vocab_size")), 512);
    assert_int_equal(json_integer_value(json_object_get(tk, "eos_id")), 2);
    json_decref(j);
    free(out);

    snprintf(args, sizeof args, "'%s'", tu_shared("fixtures/stories260k/stories260K.gguf"));
    assert_int_equal(run_info(args, &out), 0);
    assert_non_null(strstr(out, "llama.block_count"));
    assert_non_null(strstr(out, "blk.4.ffn_norm.weight"));
    free(out);

    snprintf(args, sizeof args, "'%s'", tu_shared("fixtures/stories260k/reference.jsonl"));
    assert_int_equal(run_info(args, &out), 1);
    free(out);
    char *err = tu_read_file(tmp_path("stderr.txt"), NULL);
    assert_non_null(strstr(err, "not a GGUF file"));
    free(err);
    assert_int_equal(run_info("", &out), 2);
    free(out);

    /* Strings are not UTF-8-checked by the reader; --json must still emit
     * valid JSON, with U+FFFD for the bad bytes. */
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "x", 1), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.name", "\xff\xc3ok", 4), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_val(w, "x.f64", PAW_GGUF_F64, &(double){0.25}), PAW_OK);
    assert_int_equal(paw_gguf_writer_write(w, tmp_path("utf8.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    snprintf(args, sizeof args, "'%s' --json", tmp_path("utf8.gguf"));
    assert_int_equal(run_info(args, &out), 0);
    j = json_loads(out, 0, &je);
    if (!j) fail_msg("bad JSON (%s): %.200s", je.text, out);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "\xef\xbf\xbd\xef\xbf\xbdok");
    assert_true(json_real_value(json_object_get(json_object_get(j, "hyperparameters"), "x.f64")) == 0.25);
    assert_int_equal(json_array_size(json_object_get(j, "tensors")), 0);
    json_decref(j);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_writer_alignment_and_atomicity),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_cli_info),
    };
    /* PAW_TEST_FILTER=test_roundtrip runs one test (cmocka glob pattern). */
    if (getenv("PAW_TEST_FILTER")) cmocka_set_test_filter(getenv("PAW_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
