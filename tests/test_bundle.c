/* test_bundle.c — the .paw bundle reader/writer and the program cache.
 *
 * The "official" bundle is built here exactly as the official v3 exporter
 * lays it out (paw.md §5.3): a ZIP made with libzip's defaults (not paw's
 * writer) holding a Q4_0 LoRA GGUF with llama.cpp's adapter keys and tensor
 * names, a Qwen3 chat-rendered prompt template and the official meta.json
 * fields.  Hostile variants of it are made by editing that ZIP. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include "paw.h"
#include "testutil.h"

static char g_tmp[256];    /* per-test scratch directory                 */
static char g_cache[300];  /* PAW_CACHE_DIR for the test                 */

static const char *tpath(const char *name)
{
    static char b[4][512];
    static int slot;
    char *p = b[slot++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", g_tmp, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/paw-test-bundle-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_tmp);
    setenv("PAW_CACHE_DIR", g_cache, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ fixtures */

/* A Q4_0 LoRA adapter GGUF in llama.cpp's layout, written with paw's GGUF
 * writer: layer 0, all seven Qwen3 projections, A = [r, d_in] and
 * B = [d_out, r] in numpy order (ggml ne reversed), r = 32, d = 64. */
static uint8_t *make_adapter(const char *general_type, const char *adapter_type, size_t *len)
{
    static const char *stems[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                  "ffn_gate", "ffn_up", "ffn_down"};
    enum { R = 32, D = 64, BLOCK = 18 };
    static uint8_t data[14][D * R / 32 * BLOCK];
    uint32_t x = 12345;
    for (size_t t = 0; t < 14; t++)
        for (size_t i = 0; i < sizeof data[0]; i++) {
            x = x * 1664525u + 1013904223u;
            data[t][i] = (uint8_t)(x >> 24);
        }
    for (size_t t = 0; t < 14; t++)  /* a sane fp16 scale (0.0625) per block */
        for (size_t blk = 0; blk < sizeof data[0] / BLOCK; blk++) {
            data[t][blk * BLOCK] = 0x00;
            data[t][blk * BLOCK + 1] = 0x2C;
        }
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "qwen3", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.type", general_type, strlen(general_type)), PAW_OK);
    if (adapter_type)
        assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", adapter_type, strlen(adapter_type)),
                         PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 16.0f), PAW_OK);
    for (int s = 0; s < 7; s++) {
        char name[64];
        int64_t ne_a[2] = {D, R}, ne_b[2] = {R, D};
        snprintf(name, sizeof name, "blk.0.%s.weight.lora_a", stems[s]);
        assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_Q4_0, 2, ne_a, data[2 * s]), PAW_OK);
        snprintf(name, sizeof name, "blk.0.%s.weight.lora_b", stems[s]);
        assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_Q4_0, 2, ne_b, data[2 * s + 1]),
                         PAW_OK);
    }
    assert_int_equal(paw_gguf_writer_write(w, tpath("adapter.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    uint8_t *p = (uint8_t *)tu_read_file(tpath("adapter.gguf"), len);
    assert_non_null(p);
    unlink(tpath("adapter.gguf"));
    return p;
}

#define PSEUDO "[PSEUDO_PROGRAM]\nTask: Classify the email as urgent or not.\n\nExamples:\n" \
               "Input: server down\nOutput: urgent\n[END_PSEUDO_PROGRAM]"
/* The Qwen3 chat rendering of the interpreter prompt (paw.md §1.5). */
#define QWEN3_TEMPLATE "<|im_start|>user\n" PSEUDO "\n\n[INPUT]\n{INPUT_PLACEHOLDER}\n[END_INPUT]" \
                       "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
#define OFFICIAL_META \
    "{\"version\": 3, \"program_id\": \"a6b454023d41ac9ca845\", " \
    "\"spec\": \"Classify emails as urgent or not urgent.\", \"examples\": null, " \
    "\"interpreter\": \"Qwen/Qwen3-0.6B\", \"compiler_snapshot\": \"paw-4b-qwen3-0.6b-20260407\", " \
    "\"compiler_fingerprint\": \"3f9a\", \"compiler_kind\": \"mapper_lora\", " \
    "\"pseudo_program_strategy\": \"examples\", \"runtime_id\": \"qwen3-0.6b-q6_k\", " \
    "\"runtime_manifest_version\": 1, \"runtime\": {\"n_ctx\": 2048}, \"lora_rank\": 64, " \
    "\"lora_alpha\": 16.0, \"prefix_steps\": null, \"created_at\": \"2026-04-07T12:00:00Z\"}"

typedef struct zmember {
    const char *name;
    const void *data;
    size_t      len;
    int         symlink;
} zmember;

/* Builds a ZIP in memory with libzip's defaults (deflate, current time). */
static uint8_t *zbuild(const zmember *m, int n, size_t *len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(src);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, m[i].data, m[i].len, 0);
        zip_int64_t idx = zip_file_add(za, m[i].name, s, 0);
        assert_true(idx >= 0);
        if (m[i].symlink)
            assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                                              0120777u << 16), 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_open(src), 0);
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t n_bytes = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n_bytes);
    assert_int_equal(zip_source_read(src, buf, (zip_uint64_t)n_bytes), n_bytes);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    *len = (size_t)n_bytes;
    return buf;
}

typedef struct official {
    uint8_t *adapter;
    size_t   adapter_len;
    zmember  m[4];
} official;

static void official_init(official *o)
{
    o->adapter = make_adapter("adapter", "lora", &o->adapter_len);
    o->m[0] = (zmember){"adapter.gguf", o->adapter, o->adapter_len, 0};
    o->m[1] = (zmember){"prompt_template.txt", QWEN3_TEMPLATE, strlen(QWEN3_TEMPLATE), 0};
    o->m[2] = (zmember){"meta.json", OFFICIAL_META, strlen(OFFICIAL_META), 0};
    o->m[3] = (zmember){"pseudo_program.txt", PSEUDO, strlen(PSEUDO), 0};
}

static uint8_t *official_zip(size_t *len)
{
    official o;
    official_init(&o);
    uint8_t *z = zbuild(o.m, 4, len);
    free(o.adapter);
    return z;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int is_hex_id(const char *s)
{
    if (strlen(s) != PAW_PROGRAM_ID_LEN) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return 0;
    return 1;
}

/* Names in dir other than "." and ".."; -1 if dir does not exist. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The cache holds no program and no half-unpacked one. */
static void assert_cache_has_no_program(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/programs", g_cache);
    DIR *d = opendir(p);
    if (!d) return;  /* never created: nothing written */
    struct dirent *e;
    while ((e = readdir(d)))
        assert_true(e->d_name[0] == '.');  /* only ., .., .locks, .staging */
    closedir(d);
    snprintf(p, sizeof p, "%s/programs/.staging", g_cache);
    assert_true(count_entries(p) <= 0);
}

/* ------------------------------------------------------------- reading */

static paw_program_bundle *make_paw_bundle(const char *spec);

static void test_official_layout_reads(void **state)
{
    (void)state;
    size_t zlen;
    uint8_t *z = official_zip(&zlen);
    paw_program_bundle *b = NULL;
    int rc = paw_program_bundle_read_mem(z, zlen, &b);
    if (rc) fail_msg("%s", paw_last_error());
    assert_string_equal(b->meta.program_id, "a6b454023d41ac9ca845");
    assert_string_equal(b->meta.interpreter, "Qwen/Qwen3-0.6B");
    assert_string_equal(b->meta.runtime_id, "qwen3-0.6b-q6_k");
    assert_string_equal(b->meta.spec, "Classify emails as urgent or not urgent.");
    assert_string_equal(b->meta.created_at, "2026-04-07T12:00:00Z");
    assert_int_equal(b->meta.lora_rank, 64);
    assert_true(b->meta.lora_alpha == 16.0);
    assert_int_equal(b->meta.version, 3);
    assert_int_equal(b->meta.n_examples, 0);
    /* Fields paw does not model travel in extra_json, sorted and compact. */
    assert_non_null(b->meta.extra_json);
    assert_non_null(strstr(b->meta.extra_json, "\"compiler_snapshot\":\"paw-4b-qwen3-0.6b-20260407\""));
    assert_non_null(strstr(b->meta.extra_json, "\"runtime\":{\"n_ctx\":2048}"));
    assert_non_null(strstr(b->meta.extra_json, "\"prefix_steps\":null"));
    assert_memory_equal(b->prompt_template, QWEN3_TEMPLATE, strlen(QWEN3_TEMPLATE));
    assert_int_equal(b->prompt_template_len, strlen(QWEN3_TEMPLATE));
    assert_string_equal(b->pseudo_program, PSEUDO);
    size_t alen;
    uint8_t *adapter = make_adapter("adapter", "lora", &alen);
    assert_int_equal(b->adapter_len, alen);
    assert_memory_equal(b->adapter, adapter, alen);
    /* Our content ID, not theirs, keys the cache. */
    assert_true(is_hex_id(b->id));
    assert_string_not_equal(b->id, b->meta.program_id);
    char id[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_equal(id, b->id);

    /* The ID ignores program_id and created_at, and sees everything else. */
    free(b->meta.program_id); b->meta.program_id = strdup("0123456789abcdef0123");
    free(b->meta.created_at); b->meta.created_at = strdup("2030-01-01T00:00:00Z");
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_equal(id, b->id);
    b->meta.lora_rank = 32;
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);
    b->meta.lora_rank = 64;
    b->adapter[b->adapter_len - 1] ^= 1;
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);
    b->adapter[b->adapter_len - 1] ^= 1;
    b->prompt_template[0] = '!';
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);

    /* Seeds for fuzz/fuzz_bundle.c: PAW_FUZZ_SEED_DIR=fuzz/corpus/bundle. */
    const char *seeds = getenv("PAW_FUZZ_SEED_DIR");
    if (seeds) {
        char sp[600];
        snprintf(sp, sizeof sp, "%s/official.paw", seeds);
        write_bytes(sp, z, zlen);
        paw_program_bundle *mine = make_paw_bundle("Decide whether an email is urgent.");
        /* tiny.paw: the smallest valid bundle, one 32x1 Q4_0 tensor padded
         * to the 1024-byte adapter minimum, so mutations stay cheap. */
        paw_gguf_writer *w = paw_gguf_writer_new();
        static const uint8_t block[18] = {0x00, 0x2C, 0x12, 0x34};
        char pad[800];
        memset(pad, 'p', sizeof pad);
        int64_t ne[2] = {32, 1};
        assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
        assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
        assert_int_equal(paw_gguf_writer_set_str(w, "general.name", pad, sizeof pad), PAW_OK);
        assert_int_equal(paw_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.lora_a", PAW_TYPE_Q4_0, 2,
                                                    ne, block), PAW_OK);
        assert_int_equal(paw_gguf_writer_write(w, tpath("tiny.gguf")), PAW_OK);
        paw_gguf_writer_free(w);
        paw_program_meta_clear(&mine->meta);
        free(mine->adapter);
        free(mine->pseudo_program);
        mine->pseudo_program = NULL;
        mine->adapter = (uint8_t *)tu_read_file(tpath("tiny.gguf"), &mine->adapter_len);
        free(mine->prompt_template);
        mine->prompt_template = strdup("Q: {INPUT_PLACEHOLDER}\nA:");
        mine->prompt_template_len = strlen(mine->prompt_template);
        mine->meta.interpreter = strdup("gpt2");
        snprintf(sp, sizeof sp, "%s/tiny.paw", seeds);
        if (paw_program_bundle_write(mine, sp)) fail_msg("%s", paw_last_error());
        /* The same members in fuzz_bundle's structured form ('S' ...). */
        char *meta;
        size_t ml;
        assert_int_equal(paw_program_meta_json(&mine->meta, &meta, &ml), PAW_OK);
        snprintf(sp, sizeof sp, "%s/structured-tiny.bin", seeds);
        FILE *f = fopen(sp, "wb");
        assert_non_null(f);
        uint8_t l16[2] = {(uint8_t)ml, (uint8_t)(ml >> 8)};
        fputc('S', f);
        fwrite(l16, 1, 2, f);
        fwrite(meta, 1, ml, f);
        l16[0] = (uint8_t)mine->prompt_template_len;
        l16[1] = (uint8_t)(mine->prompt_template_len >> 8);
        fwrite(l16, 1, 2, f);
        fwrite(mine->prompt_template, 1, mine->prompt_template_len, f);
        fwrite(mine->adapter, 1, mine->adapter_len, f);
        fclose(f);
        free(meta);
        paw_program_bundle_free(mine);
    }

    /* Also from a file. */
    paw_program_bundle *b2 = NULL;
    write_bytes(tpath("official.paw"), z, zlen);
    rc = paw_program_bundle_read(tpath("official.paw"), &b2);
    if (rc) fail_msg("%s", paw_last_error());
    free(adapter);
    paw_program_bundle_free(b2);
    paw_program_bundle_free(b);
    free(z);
}

/* A program paw compiled: every field of ours set. */
static paw_program_bundle *make_paw_bundle(const char *spec)
{
    paw_program_bundle *b = calloc(1, sizeof *b);
    b->adapter = make_adapter("adapter", "lora", &b->adapter_len);
    b->prompt_template = strdup(QWEN3_TEMPLATE);
    b->prompt_template_len = strlen(QWEN3_TEMPLATE);
    b->pseudo_program = strdup(PSEUDO);
    b->pseudo_program_len = strlen(PSEUDO);
    paw_program_meta *m = &b->meta;
    m->spec = strdup(spec);
    m->interpreter = strdup("HuggingFaceTB/SmolLM2-135M-Instruct");
    m->runtime_id = strdup("smollm2-135m-q4_1");
    m->lora_rank = 32;
    m->lora_alpha = 16;
    m->created_at = strdup("2026-11-26T06:00:00Z");
    m->base_sha256 = strdup("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    m->n_examples = 2;
    m->examples = calloc(2, sizeof *m->examples);
    m->examples[0].input = strdup("server down — all users affected");
    m->examples[0].output = strdup("urgent");
    m->examples[1].input = strdup("lunch on friday?");
    m->examples[1].output = strdup("not urgent");
    m->compiler_name = strdup("paw-train");
    m->compiler_version = strdup("0.1.0");
    m->compiler_settings_json = strdup("{\"steps\": 200, \"lr\": 0.001}");
    m->metrics_json = strdup("{\"train_acc\": 1.0, \"holdout_acc\": 0.75}");
    return b;
}

static void assert_same_content(const paw_program_bundle *a, const paw_program_bundle *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->adapter_len, b->adapter_len);
    assert_memory_equal(a->adapter, b->adapter, a->adapter_len);
    assert_string_equal(a->prompt_template, b->prompt_template);
    assert_true((a->pseudo_program == NULL) == (b->pseudo_program == NULL));
    if (a->pseudo_program) assert_string_equal(a->pseudo_program, b->pseudo_program);
    char *ma, *mb;
    size_t la, lb;
    assert_int_equal(paw_program_meta_json(&a->meta, &ma, &la), PAW_OK);
    assert_int_equal(paw_program_meta_json(&b->meta, &mb, &lb), PAW_OK);
    assert_string_equal(ma, mb);
    free(ma);
    free(mb);
}

static void test_roundtrip_byte_identical(void **state)
{
    (void)state;
    paw_program_bundle *b = make_paw_bundle("Decide whether an email is urgent.");
    assert_null(b->meta.program_id);
    int rc = paw_program_bundle_write(b, tpath("p1.paw"));
    if (rc) fail_msg("%s", paw_last_error());
    /* The writer names the program by its content ID. */
    assert_true(is_hex_id(b->id));
    assert_string_equal(b->meta.program_id, b->id);

    paw_program_bundle *r = NULL;
    rc = paw_program_bundle_read(tpath("p1.paw"), &r);
    if (rc) fail_msg("%s", paw_last_error());
    assert_same_content(b, r);
    assert_int_equal(r->meta.n_examples, 2);
    assert_string_equal(r->meta.examples[0].input, "server down — all users affected");
    assert_string_equal(r->meta.compiler_name, "paw-train");
    assert_string_equal(r->meta.compiler_settings_json, "{\"lr\":0.001,\"steps\":200}");
    assert_string_equal(r->meta.metrics_json, "{\"holdout_acc\":0.75,\"train_acc\":1.0}");
    assert_null(r->meta.extra_json);

    /* Written again, a second later (timestamps must not leak in), from the
     * read-back copy: the same bytes. */
    sleep(1);
    rc = paw_program_bundle_write(r, tpath("p2.paw"));
    if (rc) fail_msg("%s", paw_last_error());
    size_t l1, l2;
    char *f1 = tu_read_file(tpath("p1.paw"), &l1), *f2 = tu_read_file(tpath("p2.paw"), &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(f1, f2, l1);
    /* No temp files left beside the output. */
    assert_int_equal(count_entries(g_tmp), 2);
    free(f1);
    free(f2);

    /* An official bundle re-packed by paw keeps its ID and its program_id. */
    size_t zlen;
    uint8_t *z = official_zip(&zlen);
    paw_program_bundle *o = NULL, *o2 = NULL;
    assert_int_equal(paw_program_bundle_read_mem(z, zlen, &o), PAW_OK);
    uint8_t *w1, *w2;
    size_t wl1, wl2;
    assert_int_equal(paw_program_bundle_write_mem(o, &w1, &wl1), PAW_OK);
    assert_int_equal(paw_program_bundle_read_mem(w1, wl1, &o2), PAW_OK);
    assert_same_content(o, o2);
    assert_string_equal(o2->meta.program_id, "a6b454023d41ac9ca845");
    assert_int_equal(paw_program_bundle_write_mem(o2, &w2, &wl2), PAW_OK);
    assert_int_equal(wl1, wl2);
    assert_memory_equal(w1, w2, wl1);

    free(w1); free(w2); free(z);
    paw_program_bundle_free(o); paw_program_bundle_free(o2);
    paw_program_bundle_free(r);
    paw_program_bundle_free(b);
}

static void test_writer_refuses_invalid(void **state)
{
    (void)state;
    paw_program_bundle *b = make_paw_bundle("x");
    free(b->prompt_template);
    b->prompt_template = strdup("no placeholder here");
    b->prompt_template_len = strlen(b->prompt_template);
    assert_int_equal(paw_program_bundle_write(b, tpath("bad.paw")), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "exactly one {INPUT_PLACEHOLDER}"));
    assert_int_equal(count_entries(g_tmp), 0);
    paw_program_bundle_free(b);

    b = make_paw_bundle("x");
    free(b->meta.interpreter);
    b->meta.interpreter = NULL;
    assert_int_equal(paw_program_bundle_write(b, tpath("bad.paw")), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "interpreter"));
    b->meta.interpreter = strdup("gpt2");
    b->meta.extra_json = strdup("{\"spec\": \"twice\"}");
    assert_int_equal(paw_program_bundle_write(b, tpath("bad.paw")), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "repeats the key \"spec\""));
    assert_int_equal(count_entries(g_tmp), 0);
    paw_program_bundle_free(b);
}

/* ----------------------------------------------------------- abuses */

/* Rewrites the uncompressed size of member `name` in its local header and in
 * the central directory, keeping the ZIP self-consistent (so the lie is only
 * visible when inflating). */
static void patch_size(uint8_t *z, size_t n, const char *name, uint32_t size)
{
    size_t nl = strlen(name);
    int patched = 0;
    for (size_t i = 0; i + 46 < n; i++) {
        uint32_t sig = (uint32_t)z[i] | (uint32_t)z[i + 1] << 8 | (uint32_t)z[i + 2] << 16 |
                       (uint32_t)z[i + 3] << 24;
        size_t off_name, off_size, len_at;
        if (sig == 0x04034b50) { off_name = 30; off_size = 22; len_at = 26; }
        else if (sig == 0x02014b50) { off_name = 46; off_size = 24; len_at = 28; }
        else continue;
        size_t l = (size_t)z[i + len_at] | (size_t)z[i + len_at + 1] << 8;
        if (l != nl || i + off_name + l > n || memcmp(z + i + off_name, name, nl)) continue;
        for (int k = 0; k < 4; k++) z[i + off_size + k] = (uint8_t)(size >> (8 * k));
        patched++;
    }
    assert_int_equal(patched, 2);
}

static void replace_all(uint8_t *z, size_t n, const char *from, const char *to)
{
    size_t l = strlen(from);
    int hits = 0;
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(z + i, from, l)) { memcpy(z + i, to, l); hits++; }
    assert_true(hits >= 2);
}

/* Expects the bundle bytes to be refused with `status` and a message holding
 * `msg`, both from memory and as a file given to install, which must leave
 * the cache without any program. */
static void expect_refused(const uint8_t *z, size_t n, int status, const char *msg)
{
    paw_program_bundle *b = (paw_program_bundle *)1;
    int rc = paw_program_bundle_read_mem(z, n, &b);
    if (rc != status || !strstr(paw_last_error(), msg))
        fail_msg("expected %s \"%s\", got %s \"%s\"", paw_status_name(status), msg,
                 paw_status_name(rc), paw_last_error());
    assert_null(b);
    if (getenv("PAW_TEST_VERBOSE")) print_message("refused: %s\n", paw_last_error());
    write_bytes(tpath("hostile.paw"), z, n);
    char id[PAW_PROGRAM_ID_LEN + 1];
    rc = paw_program_install_file(tpath("hostile.paw"), "hostile", id);
    assert_int_equal(rc, status);
    assert_non_null(strstr(paw_last_error(), tpath("hostile.paw")));  /* names the file */
    assert_cache_has_no_program();
}

/* One variant of the official bundle: member i replaced (data != NULL),
 * renamed (name != NULL) or dropped (drop). */
static void refuse_variant(int i, const char *name, const void *data, size_t len, int drop, int symlink,
                           int status, const char *msg)
{
    official o;
    official_init(&o);
    if (name) o.m[i].name = name;
    if (data) { o.m[i].data = data; o.m[i].len = len; }
    o.m[i].symlink = symlink;
    if (drop) o.m[i] = o.m[3];
    size_t zl;
    uint8_t *z = zbuild(o.m, drop ? 3 : 4, &zl);
    expect_refused(z, zl, status, msg);
    free(z);
    free(o.adapter);
}

static void test_refuses_bad_names(void **state)
{
    (void)state;
    refuse_variant(3, "../evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "path traversal");
    refuse_variant(3, "docs/../../evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "path traversal");
    refuse_variant(3, "/etc/evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "absolute path");
    refuse_variant(3, "C:/evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "absolute path");
    refuse_variant(3, "docs\\evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "backslash");
    refuse_variant(3, "link", "/etc/passwd", 11, 0, 1, PAW_EFORMAT, "symbolic link");
    /* Even a required member may not be a link. */
    refuse_variant(1, NULL, NULL, 0, 0, 1, PAW_EFORMAT, "symbolic link");
}

static void test_refuses_duplicates_and_missing(void **state)
{
    (void)state;
    /* Two meta.json: made by renaming pseudo_program.txt's twin in the bytes. */
    official o;
    official_init(&o);
    o.m[3] = (zmember){"meta.jsoX", "{}", 2, 0};
    size_t zl;
    uint8_t *z = zbuild(o.m, 4, &zl);
    replace_all(z, zl, "meta.jsoX", "meta.json");
    expect_refused(z, zl, PAW_EFORMAT, "duplicate member");
    free(z);
    free(o.adapter);

    refuse_variant(0, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member adapter.gguf is missing");
    refuse_variant(1, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member prompt_template.txt is missing");
    refuse_variant(2, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member meta.json is missing");

    static const uint8_t junk[] = "this is not a zip file at all, just some text";
    expect_refused(junk, sizeof junk, PAW_EFORMAT, "not a valid ZIP archive");
}

static void test_refuses_bad_members(void **state)
{
    (void)state;
    const char *two = "{INPUT_PLACEHOLDER} and again {INPUT_PLACEHOLDER}";
    refuse_variant(1, NULL, two, strlen(two), 0, 0, PAW_EFORMAT, "exactly one {INPUT_PLACEHOLDER}, found 2");
    const char *zero = "<|im_start|>user\n{INPUT}<|im_end|>";
    refuse_variant(1, NULL, zero, strlen(zero), 0, 0, PAW_EFORMAT, "exactly one {INPUT_PLACEHOLDER}, found 0");
    const char *latin1 = "caf\xe9 {INPUT_PLACEHOLDER}";
    refuse_variant(1, NULL, latin1, strlen(latin1), 0, 0, PAW_EFORMAT, "invalid UTF-8");

    static uint8_t not_gguf[2048];
    memset(not_gguf, 'x', sizeof not_gguf);
    refuse_variant(0, NULL, not_gguf, sizeof not_gguf, 0, 0, PAW_EFORMAT, "not a GGUF file");
    refuse_variant(0, NULL, "GGUF", 4, 0, 0, PAW_EFORMAT, "an adapter has at least 1024");
    size_t ml, tl;
    uint8_t *model = make_adapter("model", NULL, &ml);
    refuse_variant(0, NULL, model, ml, 0, 0, PAW_EFORMAT, "general.type is not \"adapter\"");
    free(model);
    model = make_adapter("adapter", "control_vector", &ml);
    refuse_variant(0, NULL, model, ml, 0, 0, PAW_EFORMAT, "adapter.type is not \"lora\"");
    /* GGUF magic and a header, then truncated. */
    uint8_t *trunc = make_adapter("adapter", "lora", &tl);
    refuse_variant(0, NULL, trunc, 1500, 0, 0, PAW_EFORMAT, "adapter.gguf");
    free(trunc);
    free(model);

    const char *bad_json = "{\"program_id\": \"a6b454023d41ac9ca845\", \"interpreter\": ";
    refuse_variant(2, NULL, bad_json, strlen(bad_json), 0, 0, PAW_EFORMAT, "meta.json: invalid JSON");
    refuse_variant(2, NULL, "[3]", 3, 0, 0, PAW_EFORMAT, "meta.json: not a JSON object");
    const char *no_interp = "{\"program_id\": \"a6b454023d41ac9ca845\", \"version\": 3}";
    refuse_variant(2, NULL, no_interp, strlen(no_interp), 0, 0, PAW_EFORMAT, "missing \"interpreter\"");
    const char *bad_rank = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"lora_rank\": \"64\"}";
    refuse_variant(2, NULL, bad_rank, strlen(bad_rank), 0, 0, PAW_EFORMAT, "\"lora_rank\" must be");
    const char *dup_key = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"interpreter\": \"x\"}";
    refuse_variant(2, NULL, dup_key, strlen(dup_key), 0, 0, PAW_EFORMAT, "duplicate");
    const char *v2 = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"version\": 2}";
    refuse_variant(2, NULL, v2, strlen(v2), 0, 0, PAW_EUNSUPPORTED, "version 2 is not supported");
}

static void test_refuses_oversize(void **state)
{
    (void)state;
    size_t zl;
    /* Declared: the central directory claims 512 MB + 1 for one member. */
    uint8_t *z = official_zip(&zl);
    patch_size(z, zl, "pseudo_program.txt", (512u << 20) + 1);
    expect_refused(z, zl, PAW_ERANGE, "possible ZIP bomb");
    free(z);
    /* Declared over the text cap for a member we would parse. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", 17u << 20);
    expect_refused(z, zl, PAW_ERANGE, "meta.json declares");
    free(z);
    /* Actual: meta.json declares fewer bytes than it inflates to. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", 100);
    expect_refused(z, zl, PAW_ERANGE, "inflates to more than its declared 100 bytes");
    free(z);
    /* The other way round: declares more than it holds. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", (uint32_t)strlen(OFFICIAL_META) + 10);
    expect_refused(z, zl, PAW_EFORMAT, "meta.json");
    free(z);

    /* 257 members. */
    official o;
    official_init(&o);
    static zmember many[257];
    static char names[257][16];
    for (int i = 0; i < 257; i++) {
        if (i < 4) { many[i] = o.m[i]; continue; }
        snprintf(names[i], sizeof names[i], "extra%03d.txt", i);
        many[i] = (zmember){names[i], "x", 1, 0};
    }
    z = zbuild(many, 257, &zl);
    expect_refused(z, zl, PAW_ERANGE, "257 members, the limit is 256");
    free(z);
    /* 256 is fine. */
    z = zbuild(many, 256, &zl);
    paw_program_bundle *b = NULL;
    assert_int_equal(paw_program_bundle_read_mem(z, zl, &b), PAW_OK);
    paw_program_bundle_free(b);
    free(z);
    free(o.adapter);

    /* A file over 256 MB (sparse: its size alone must refuse it). */
    int fd = open(tpath("huge.paw"), O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(257u << 20)), 0);
    close(fd);
    assert_int_equal(paw_program_bundle_read(tpath("huge.paw"), &b), PAW_ERANGE);
    assert_non_null(strstr(paw_last_error(), "over the 268435456-byte limit"));
    assert_int_equal(paw_program_install_file(tpath("huge.paw"), NULL, NULL), PAW_ERANGE);
    assert_cache_has_no_program();
}

/* ------------------------------------------------------------- cache */

static void programs_path(char *buf, size_t cap, const char *rest)
{
    snprintf(buf, cap, "%s/programs/%s", g_cache, rest);
}

static void test_install_and_resolve(void **state)
{
    (void)state;
    paw_program_bundle *b = make_paw_bundle("Decide whether an email is urgent.");
    assert_int_equal(paw_program_bundle_write(b, tpath("mine.paw")), PAW_OK);
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = paw_program_install_file(tpath("mine.paw"), "email-urgent", id);
    if (rc) fail_msg("%s", paw_last_error());
    assert_string_equal(id, b->id);

    /* The directory holds the members, meta.json as the writer stores it. */
    char p[700], *meta;
    size_t ml, fl;
    programs_path(p, sizeof p, id);
    assert_int_equal(count_entries(p), 4);
    assert_int_equal(paw_program_meta_json(&b->meta, &meta, &ml), PAW_OK);
    programs_path(p, sizeof p, "");
    strcat(p, id); strcat(p, "/meta.json");
    char *stored = tu_read_file(p, &fl);
    assert_int_equal(fl, ml);
    assert_memory_equal(stored, meta, ml);
    free(stored);
    free(meta);

    /* Installing again is a no-op with the same ID. */
    char id2[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_install(b, NULL, id2), PAW_OK);
    assert_string_equal(id2, id);

    paw_program_ref ref;
    assert_int_equal(paw_program_resolve(tpath("mine.paw"), &ref), PAW_OK);
    assert_true(ref.is_file);
    assert_string_equal(ref.id, id);
    assert_string_equal(ref.file, tpath("mine.paw"));
    programs_path(p, sizeof p, id);
    assert_string_equal(ref.dir, p);
    const char *args[] = {id, "email-urgent", NULL};
    char prefix[8];
    memcpy(prefix, id, 6);
    prefix[6] = 0;
    args[2] = prefix;
    for (int i = 0; i < 3; i++) {
        rc = paw_program_resolve(args[i], &ref);
        if (rc) fail_msg("%s: %s", args[i], paw_last_error());
        assert_false(ref.is_file);
        assert_string_equal(ref.id, id);
        assert_string_equal(ref.dir, p);
        paw_program_bundle *l = NULL;
        assert_int_equal(paw_program_load(args[i], &l), PAW_OK);
        assert_same_content(b, l);
        paw_program_bundle_free(l);
    }
    assert_int_equal(paw_program_resolve("no-such-program", &ref), PAW_ENOTFOUND);
    assert_non_null(strstr(paw_last_error(), "neither a .paw file"));
    memcpy(prefix, id, 3);
    prefix[3] = 0;
    assert_int_equal(paw_program_resolve(prefix, &ref), PAW_ENOTFOUND);  /* too short */

    /* A second program; then an ambiguous prefix. */
    paw_program_bundle *c = make_paw_bundle("Is this log line about an outage?");
    assert_int_equal(paw_program_install(c, "outage", NULL), PAW_OK);
    assert_string_not_equal(c->id, id);
    char twin[PAW_PROGRAM_ID_LEN + 1], cmd[1600];
    memcpy(twin, id, sizeof twin);
    twin[PAW_PROGRAM_ID_LEN - 1] = twin[PAW_PROGRAM_ID_LEN - 1] == '0' ? '1' : '0';
    snprintf(cmd, sizeof cmd, "cp -r '%s/programs/%s' '%s/programs/%s'", g_cache, id, g_cache, twin);
    assert_int_equal(system(cmd), 0);
    memcpy(prefix, id, 6);
    prefix[6] = 0;
    assert_int_equal(paw_program_resolve(prefix, &ref), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "ambiguous"));
    assert_non_null(strstr(paw_last_error(), twin));
    assert_int_equal(paw_program_resolve(id, &ref), PAW_OK);  /* the full ID still works */

    /* Aliases: validation, moving, removal. */
    assert_int_equal(paw_program_alias_set("cafe", id), PAW_EINVAL);
    assert_int_equal(paw_program_alias_set("../x", id), PAW_EINVAL);
    assert_int_equal(paw_program_alias_set("ok", "ffffffffffffffffffff"), PAW_ENOTFOUND);
    assert_int_equal(paw_program_alias_set("user/triage@v1", c->id), PAW_OK);
    assert_int_equal(paw_program_resolve("user/triage@v1", &ref), PAW_OK);
    assert_string_equal(ref.id, c->id);
    assert_int_equal(paw_program_alias_set("email-urgent", c->id), PAW_OK);  /* moved */
    assert_int_equal(paw_program_resolve("email-urgent", &ref), PAW_OK);
    assert_string_equal(ref.id, c->id);
    assert_int_equal(paw_program_alias_set("email-urgent", id), PAW_OK);

    paw_program_info *list;
    size_t n;
    assert_int_equal(paw_program_list(&list, &n), PAW_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i + 1 < n; i++) assert_true(strcmp(list[i].id, list[i + 1].id) < 0);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(list[i].id, id)) {
            seen |= 1;
            assert_string_equal(list[i].aliases, "email-urgent");
            assert_string_equal(list[i].spec_line, "Decide whether an email is urgent.");
            assert_string_equal(list[i].interpreter, "HuggingFaceTB/SmolLM2-135M-Instruct");
            assert_string_equal(list[i].program_id, id);
            uint64_t want = b->adapter_len + b->prompt_template_len + b->pseudo_program_len + ml;
            assert_int_equal(list[i].size, want);
        } else if (!strcmp(list[i].id, c->id)) {
            seen |= 2;
            assert_string_equal(list[i].aliases, "outage,user/triage@v1");
        }
    }
    assert_int_equal(seen, 3);
    paw_program_list_free(list, n);

    assert_int_equal(paw_program_alias_set("outage", NULL), PAW_OK);
    assert_int_equal(paw_program_resolve("outage", &ref), PAW_ENOTFOUND);
    assert_int_equal(paw_program_alias_set("outage", NULL), PAW_ENOTFOUND);

    /* A corrupt aliases.json is reported, not silently replaced. */
    programs_path(p, sizeof p, "aliases.json");
    write_bytes(p, "{\"a\": 5}", 8);
    assert_int_equal(paw_program_alias_set("new-alias", id), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "aliases.json is corrupt"));

    paw_program_bundle_free(c);
    paw_program_bundle_free(b);
}

static void test_concurrent_installs(void **state)
{
    (void)state;
    paw_program_bundle *b = make_paw_bundle("Concurrent installs.");
    assert_int_equal(paw_program_bundle_write(b, tpath("c.paw")), PAW_OK);
    enum { KIDS = 3, ROUNDS = 4 };
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            int ok = 1;
            for (int r = 0; r < ROUNDS && ok; r++) {
                char id[PAW_PROGRAM_ID_LEN + 1], alias[32];
                snprintf(alias, sizeof alias, "kid-%d", k);
                ok = paw_program_install_file(tpath("c.paw"), r & 1 ? "shared" : alias, id) == PAW_OK &&
                     !strcmp(id, b->id);
            }
            _exit(ok ? 0 : 1);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    char p[700];
    programs_path(p, sizeof p, ".staging");
    assert_int_equal(count_entries(p), 0);
    programs_path(p, sizeof p, "");
    /* <id>, aliases.json, .locks, .staging */
    assert_int_equal(count_entries(p), 4);
    paw_program_bundle *l = NULL;
    const char *names[] = {"shared", "kid-0", "kid-1", "kid-2"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(paw_program_load(names[i], &l), PAW_OK);
        assert_same_content(b, l);
        paw_program_bundle_free(l);
    }
    paw_program_bundle_free(b);
}

static void test_failed_install_leaves_nothing(void **state)
{
    (void)state;
    paw_program_bundle *b = make_paw_bundle("A failing install.");
    char id[PAW_PROGRAM_ID_LEN + 1], p[700];
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    /* A file where the program's directory must go makes the final rename
     * fail after everything was staged. */
    programs_path(p, sizeof p, "");
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    programs_path(p, sizeof p, id);
    write_bytes(p, "in the way", 10);
    assert_int_equal(paw_program_install(b, "failing", NULL), PAW_EIO);
    assert_non_null(strstr(paw_last_error(), "cannot move"));
    programs_path(p, sizeof p, ".staging");
    assert_int_equal(count_entries(p), 0);
    /* The alias was not set either. */
    paw_program_ref ref;
    assert_int_equal(paw_program_resolve("failing", &ref), PAW_ENOTFOUND);
    /* Once the obstacle is gone the install works. */
    programs_path(p, sizeof p, id);
    unlink(p);
    assert_int_equal(paw_program_install(b, "failing", NULL), PAW_OK);
    assert_int_equal(paw_program_resolve("failing", &ref), PAW_OK);
    paw_program_bundle_free(b);
}

static void test_meta_shapes_kept(void **state)
{
    (void)state;
    /* Fields in shapes paw does not model survive a read/write cycle, and a
     * differently formatted but equal meta.json gives the same ID. */
    const char *m1 = "{\"program_id\":\"abc\",\"interpreter\":\"gpt2\",\"examples\":[\"a\",\"b\"],"
                     "\"compiler\":{\"name\":\"x\",\"extra\":1},\"lora_alpha\":16,\"spec\":\"s\\u00e9\"}";
    const char *m2 = "{\n  \"spec\": \"s\xc3\xa9\", \"compiler\": {\"extra\": 1, \"name\": \"x\"},\n"
                     "  \"lora_alpha\": 16.0, \"examples\": [\"a\", \"b\"], \"interpreter\": \"gpt2\",\n"
                     "  \"program_id\": \"def\", \"version\": 3, \"created_at\": \"now\"\n}";
    official o;
    official_init(&o);
    paw_program_bundle *b1 = NULL, *b2 = NULL, *b3 = NULL;
    size_t zl;
    o.m[2] = (zmember){"meta.json", m1, strlen(m1), 0};
    uint8_t *z = zbuild(o.m, 4, &zl);
    assert_int_equal(paw_program_bundle_read_mem(z, zl, &b1), PAW_OK);
    free(z);
    o.m[2] = (zmember){"meta.json", m2, strlen(m2), 0};
    z = zbuild(o.m, 4, &zl);
    assert_int_equal(paw_program_bundle_read_mem(z, zl, &b2), PAW_OK);
    free(z);
    assert_string_equal(b1->id, b2->id);
    assert_string_equal(b1->meta.extra_json, "{\"compiler\":{\"extra\":1,\"name\":\"x\"},\"examples\":[\"a\",\"b\"]}");
    assert_int_equal(b1->meta.n_examples, 0);
    assert_string_equal(b1->meta.spec, "s\xc3\xa9");
    uint8_t *w;
    assert_int_equal(paw_program_bundle_write_mem(b1, &w, &zl), PAW_OK);
    assert_int_equal(paw_program_bundle_read_mem(w, zl, &b3), PAW_OK);
    assert_same_content(b1, b3);
    free(w);

    /* A caller's meta saying "absent" as a null in extra_json: the writer's
     * ID is still the one the reader computes from the file. */
    paw_program_bundle *c = make_paw_bundle("nulls"), *rc = NULL;
    free(c->meta.runtime_id);
    c->meta.runtime_id = NULL;
    free(c->meta.extra_json);
    c->meta.extra_json = strdup("{\"runtime_id\": null, \"x\": [1, 2.5]}");
    assert_int_equal(paw_program_bundle_write_mem(c, &w, &zl), PAW_OK);
    assert_int_equal(paw_program_bundle_read_mem(w, zl, &rc), PAW_OK);
    assert_string_equal(rc->id, c->id);
    assert_string_equal(rc->meta.program_id, c->id);
    assert_null(rc->meta.runtime_id);
    assert_string_equal(rc->meta.extra_json, "{\"x\":[1,2.5]}");
    free(w);
    paw_program_bundle_free(rc);
    paw_program_bundle_free(c);

    free(o.adapter);
    paw_program_bundle_free(b1);
    paw_program_bundle_free(b2);
    paw_program_bundle_free(b3);
}

/* The committed golden bundles carry IDs computed by an independent Python
 * implementation of the recipe (tests/golden/bundle/program_id.py); and
 * program.paw, written by an earlier paw, must still be rewritten to the
 * very same bytes, so the format cannot drift unnoticed. */
static void test_golden_ids(void **state)
{
    (void)state;
    static const char *names[] = {"program", "official"};
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof p, "tests/golden/bundle/%s.id", names[i]);
        char *want = tu_read_file(p, NULL);
        assert_non_null(want);
        want[strcspn(want, "\n")] = 0;
        snprintf(p, sizeof p, "tests/golden/bundle/%s.paw", names[i]);
        paw_program_bundle *b = NULL;
        int rc = paw_program_bundle_read(p, &b);
        if (rc) fail_msg("%s", paw_last_error());
        assert_string_equal(b->id, want);
        if (i == 0) {
            assert_string_equal(b->meta.program_id, want);
            size_t gl, wl;
            char *golden = tu_read_file(p, &gl);
            uint8_t *w;
            assert_int_equal(paw_program_bundle_write_mem(b, &w, &wl), PAW_OK);
            assert_int_equal(wl, gl);
            assert_memory_equal(w, golden, gl);
            free(w);
            free(golden);
        }
        paw_program_bundle_free(b);
        free(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_official_layout_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_duplicates_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_oversize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_installs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_install_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_shapes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
