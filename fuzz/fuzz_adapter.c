/* fuzz_adapter.c — libFuzzer target for the LoRA adapter loader.
 *
 * Each input is loaded with paw_adapter_load_mem (the loader copies it, so
 * the GGUF reader and the pair/rank checks run on a private buffer).  An
 * accepted adapter must keep the loader's promises — a known architecture, a
 * positive rank, at least one pair — and, when it fits the tiny Qwen3 test
 * model (tests/golden/model/qwen3-tiny.gguf, or $PAW_FUZZ_MODEL), it is
 * attached and run over a few tokens, which reads every tensor it has: the
 * shape checks of paw_adapter_check must make that safe.  A refused input
 * must leave *out NULL and an error message.  Build with `make fuzz`; seeds
 * in fuzz/corpus/adapter/. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "paw.h"

static paw_model *model;
static paw_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *path = getenv("PAW_FUZZ_MODEL");
    if (paw_model_load(path ? path : "tests/golden/model/qwen3-tiny.gguf", &model)) abort();
    paw_ctx_params p = {.n_ctx = 16, .n_batch = 4, .n_threads = 1};
    if (paw_ctx_new(model, &p, &ctx)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    paw_adapter *a = (paw_adapter *)1;
    if (paw_adapter_load_mem(data, size, &a) != PAW_OK) {
        if (a || !*paw_last_error()) abort();
        return 0;
    }
    if (paw_adapter_rank(a) <= 0 || paw_adapter_n_pairs(a) <= 0 || !*paw_adapter_arch(a)) abort();
    if (paw_ctx_attach_adapter(ctx, a, 0.5f) == PAW_OK) {
        int32_t ids[6] = {1, 2, 3, 4, 5, 6};
        const float *lg;
        if (paw_kv_truncate(ctx, 0) || paw_decode(ctx, ids, 6, 0, &lg)) abort();
        volatile float sink = lg[0];
        (void)sink;
        if (paw_ctx_detach_adapter(ctx, a)) abort();
    } else if (paw_ctx_n_adapters(ctx) != 0) {
        abort();   /* a refused attach must leave the ctx as it was */
    }
    paw_adapter_free(a);
    return 0;
}
