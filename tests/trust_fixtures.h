/* trust_fixtures.h — what tests/test_trust.c and tests/test_trust_run.c
 * share: running the real `paw` binary ($PAW_BIN) with its output captured,
 * paths in the per-test program cache, and F32 LoRA adapters built to order
 * (bad ranks, NaN/Inf, layers and shapes that fit a base or not). */
#ifndef PAW_TEST_TRUST_FIXTURES_H
#define PAW_TEST_TRUST_FIXTURES_H
#include <math.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include "bundle_fixtures.h"

static inline const char *paw_bin(void)
{
    const char *b = getenv("PAW_BIN");
    return b ? b : "./build/paw";
}

/* Runs `paw ARGS` via the shell, stdin from in_file (NULL: /dev/null), under
 * `timeout 60` so that a hang fails instead of stalling the suite; stdout and
 * stderr land in out.txt / err.txt.  Returns the exit status. */
static inline int run_paw(const char *args, const char *in_file)
{
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "timeout 60 %s %s < %s > %s 2> %s", paw_bin(), args,
             in_file ? in_file : "/dev/null", tpath("out.txt"), tpath("err.txt"));
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (getenv("PAW_TEST_VERBOSE")) {
        char *e = tu_read_file(tpath("err.txt"), NULL);
        fprintf(stderr, "paw %s -> %d\n%s", args, rc, e ? e : "");
        free(e);
    }
    return rc;
}

static inline char *out_txt(void) { return tu_read_file(tpath("out.txt"), NULL); }
static inline char *err_txt(void) { return tu_read_file(tpath("err.txt"), NULL); }

static inline void expect_err(const char *needle)
{
    char *e = err_txt();
    assert_non_null(e);
    if (!strstr(e, needle)) fail_msg("stderr lacks \"%s\":\n%s", needle, e);
    free(e);
}

static inline void prog_path(char *buf, size_t cap, const char *id, const char *member)
{
    snprintf(buf, cap, "%s/programs/%s%s%s", g_cache, id, member ? "/" : "", member ? member : "");
}

static inline int exists(const char *p)
{
    struct stat st;
    return !lstat(p, &st);
}

/* An F32 LoRA for a llama-arch base: one pair on blk.<layer>.attn_q with
 * A = [d_in, ra], B = [rb, d_out]; `poison` puts a NaN (1) or Inf (2) in B. */
static inline uint8_t *f32_adapter(int layer, int d_in, int d_out, int ra, int rb, int poison, size_t *len)
{
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "llama", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 8.0f), PAW_OK);
    float *a = calloc((size_t)d_in * ra, sizeof *a), *b = calloc((size_t)rb * d_out, sizeof *b);
    for (int i = 0; i < d_in * ra; i++) a[i] = 0.01f * (float)(i % 7);
    for (int i = 0; i < rb * d_out; i++) b[i] = 0.001f * (float)(i % 5);
    if (poison) b[rb * d_out / 2] = poison == 1 ? NAN : INFINITY;
    int64_t ne_a[2] = {d_in, ra}, ne_b[2] = {rb, d_out};
    char name[96];
    snprintf(name, sizeof name, "blk.%d.attn_q.weight.lora_a", layer);
    assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_a, a), PAW_OK);
    snprintf(name, sizeof name, "blk.%d.attn_q.weight.lora_b", layer);
    assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_b, b), PAW_OK);
    assert_int_equal(paw_gguf_writer_write(w, tpath("f32.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    free(a);
    free(b);
    uint8_t *p = (uint8_t *)tu_read_file(tpath("f32.gguf"), len);
    assert_non_null(p);
    return p;
}

/* (adapter, &len) in one call would read len before the callee sets it:
 * the order in which arguments are evaluated is unspecified.) */
static inline paw_bundle *bundle_with_adapter(uint8_t *adapter, const size_t *len_p)
{
    size_t len = *len_p;
    paw_bundle *b = make_paw_bundle("Adapter checks.");
    free(b->adapter);
    b->adapter = adapter;
    b->adapter_len = len;
    return b;
}

#endif
