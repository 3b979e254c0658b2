/* bundle_fixtures.h — what tests/test_bundle.c and tests/test_progcache.c
 * share: a scratch directory and PAW_CACHE_DIR per test, a Q4_0 LoRA adapter
 * GGUF, and the official v3 bundle built exactly as the official exporter lays
 * it out (paw.md §5.3): a ZIP made with libzip's defaults (not paw's writer)
 * holding a Q4_0 LoRA GGUF with llama.cpp's adapter keys and tensor names, a
 * Qwen3 chat-rendered prompt template and the official meta.json fields. */
#ifndef PAW_TEST_BUNDLE_FIXTURES_H
#define PAW_TEST_BUNDLE_FIXTURES_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include "paw.h"
#include "testutil.h"
#include "model/gguf.h"

static char g_tmp[256];    /* per-test scratch directory                 */
static char g_cache[300];  /* PAW_CACHE_DIR for the test                 */

static inline const char *tpath(const char *name)
{
    static char b[4][512];
    static int slot;
    char *p = b[slot++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", g_tmp, name);
    return p;
}

static inline int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/paw-test-bundle-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_tmp);
    setenv("PAW_CACHE_DIR", g_cache, 1);
    return 0;
}

static inline int teardown(void **state)
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
static inline uint8_t *make_adapter(const char *general_type, const char *adapter_type, size_t *len)
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
static inline uint8_t *zbuild(const zmember *m, int n, size_t *len)
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

static inline void official_init(official *o)
{
    o->adapter = make_adapter("adapter", "lora", &o->adapter_len);
    o->m[0] = (zmember){"adapter.gguf", o->adapter, o->adapter_len, 0};
    o->m[1] = (zmember){"prompt_template.txt", QWEN3_TEMPLATE, strlen(QWEN3_TEMPLATE), 0};
    o->m[2] = (zmember){"meta.json", OFFICIAL_META, strlen(OFFICIAL_META), 0};
    o->m[3] = (zmember){"pseudo_program.txt", PSEUDO, strlen(PSEUDO), 0};
}

static inline uint8_t *official_zip(size_t *len)
{
    official o;
    official_init(&o);
    uint8_t *z = zbuild(o.m, 4, len);
    free(o.adapter);
    return z;
}

static inline void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static inline int is_hex_id(const char *s)
{
    if (strlen(s) != PAW_PROGRAM_ID_LEN) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return 0;
    return 1;
}

/* Names in dir other than "." and ".."; -1 if dir does not exist. */
static inline int count_entries(const char *dir)
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
static inline void assert_cache_has_no_program(void)
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

/* A program paw compiled: every field of ours set. */
static inline paw_bundle *make_paw_bundle(const char *spec)
{
    paw_bundle *b = calloc(1, sizeof *b);
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

static inline void assert_same_content(const paw_bundle *a, const paw_bundle *b)
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

#endif
