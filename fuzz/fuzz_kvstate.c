/* fuzz_kvstate.c — libFuzzer target for the KV state file reader
 * (paw_kv_load_file: the prefix caches under programs/<id>/).
 *
 * The reader checks a magic, a version, the model's and adapters' hashes,
 * the shape, then sizes buffers from the header and verifies a trailing
 * FNV-1a checksum.  Mutated files almost never get past the hashes and the
 * checksum, so inputs come in two forms:
 *   'C' + file without its checksum: the target writes the real magic and
 *       the ctx's model/adapter hashes over the header (when long enough)
 *       and appends the right checksum — the fuzzer then drives version,
 *       type, shape, position count and payload length into the sizing and
 *       restore code;
 *   anything else: the bytes after the first, as they are.
 * An accepted file must restore n_past <= n_ctx, evaluate a token, and save
 * back to the identical bytes.  A refused one must leave the ctx as it was
 * (n_past unchanged).  Anything else aborts.
 *
 * The model is tests/golden/model/qwen3-tiny.gguf (run from the repository
 * root, or set PAW_FUZZ_MODEL).  PAW_FUZZ_SEED_OUT=DIR writes the two seeds
 * of fuzz/corpus/kvstate/ (a valid 4-position state in both forms) and exits.
 * Build with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "paw.h"

enum { HEADER = 96, IDS_AT = 16, IDS_LEN = 64 };

static paw_model *model;
static paw_ctx *ctx;
static uint8_t *valid;          /* a real state file of 4 positions */
static size_t valid_len;
static char in_path[64], out_path[64];

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    return h;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int spit(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *mp = getenv("PAW_FUZZ_MODEL");
    if (paw_model_load(mp ? mp : "tests/golden/model/qwen3-tiny.gguf", &model)) {
        fprintf(stderr, "fuzz_kvstate: %s\n", paw_last_error());
        exit(1);
    }
    paw_ctx_params p = {.n_ctx = 32, .n_threads = 1};
    if (paw_ctx_new(model, &p, &ctx)) exit(1);
    snprintf(in_path, sizeof in_path, "/tmp/fuzz-kvstate-in.%ld", (long)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/fuzz-kvstate-out.%ld", (long)getpid());
    const int32_t ids[4] = {1, 7, 42, 99};
    if (paw_decode(ctx, ids, 4, 0, NULL) || paw_kv_save_file(ctx, 4, in_path)) exit(1);
    valid = slurp(in_path, &valid_len);
    if (!valid || valid_len < HEADER + 8) exit(1);
    const char *seeds = getenv("PAW_FUZZ_SEED_OUT");
    if (seeds) {
        char path[4096];
        uint8_t *b = malloc(valid_len + 1);
        b[0] = 'C';
        memcpy(b + 1, valid, valid_len - 8);
        snprintf(path, sizeof path, "%s/valid-fixed-up", seeds);
        int rc = spit(path, b, valid_len - 7);
        b[0] = 'R';
        memcpy(b + 1, valid, valid_len);
        snprintf(path, sizeof path, "%s/valid-raw", seeds);
        rc |= spit(path, b, valid_len + 1);
        free(b);
        exit(rc ? 1 : 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *file = malloc(n + 8);
    if (!file) return 0;
    memcpy(file, data + 1, n);
    if (data[0] == 'C') {
        if (n >= HEADER) {
            memcpy(file, valid, 8);                                 /* magic */
            memcpy(file + IDS_AT, valid + IDS_AT, IDS_LEN);         /* model + adapter ids */
        }
        uint64_t h = fnv1a(file, n);
        memcpy(file + n, &h, 8);
        n += 8;
    }
    if (spit(in_path, file, n)) abort();
    /* Start each input from a known state: 3 positions. */
    if (paw_kv_truncate(ctx, 0) || paw_decode(ctx, (const int32_t[]){1, 2, 3}, 3, 0, NULL)) abort();
    if (paw_kv_load_file(ctx, in_path) == PAW_OK) {
        const int32_t past = paw_ctx_n_past(ctx);
        if (past < 0 || past > paw_ctx_n_ctx(ctx)) abort();
        if (past > 0) {
            /* The restored state must round-trip to the same bytes. */
            if (paw_kv_save_file(ctx, past, out_path)) abort();
            size_t len = 0;
            uint8_t *back = slurp(out_path, &len);
            if (!back || len != n || memcmp(back, file, n)) abort();
            free(back);
        }
        if (past < paw_ctx_n_ctx(ctx) && paw_decode(ctx, (const int32_t[]){5}, 1, 0, NULL)) abort();
    } else if (paw_ctx_n_past(ctx) != 3 || !paw_last_error()[0]) {
        abort();
    }
    free(file);
    return 0;
}
