/* fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Each input is copied into an exact-size heap buffer (so ASan sees any read
 * past its end) and opened with paw_gguf_open_mem.  When the reader accepts
 * it, every pointer it handed out is walked end to end — kv data, strings,
 * tensor bytes — because the reader promises they all lie inside the input,
 * and the getters are run over every key.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "paw.h"

static size_t kv_value_bytes(const paw_gguf_kv *kv)
{
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    int t = kv->type == PAW_GGUF_ARRAY ? kv->arr_type : kv->type;
    if (t < 0 || t > PAW_GGUF_F64) abort();  /* the reader must reject unknown types */
    return sizes[t] * (size_t)kv->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    paw_gguf *g = NULL;
    if (paw_gguf_open_mem(buf, size, &g) == PAW_OK) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < paw_gguf_n_kv(g); i++) {
            const paw_gguf_kv *kv = paw_gguf_kv_at(g, i);
            if (paw_gguf_find_kv(g, kv->key) != kv) abort();
            size_t nb = kv_value_bytes(kv);
            for (size_t k = 0; k < nb; k++) sink ^= ((const uint8_t *)kv->data)[k];
            int is_str = kv->type == PAW_GGUF_STRING || kv->arr_type == PAW_GGUF_STRING;
            for (uint64_t s = 0; is_str && s < kv->n; s++)
                for (uint64_t k = 0; k < kv->strs[s].len; k++) sink ^= (uint8_t)kv->strs[s].ptr[k];
            uint32_t u; int64_t v; float f; int b; paw_str str;
            (void)paw_gguf_get_u32(g, kv->key, &u);
            (void)paw_gguf_get_i64(g, kv->key, &v);
            (void)paw_gguf_get_f32(g, kv->key, &f);
            (void)paw_gguf_get_bool(g, kv->key, &b);
            (void)paw_gguf_get_str(g, kv->key, &str);
        }
        for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
            const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
            if (paw_gguf_find_tensor(g, t->name) != t) abort();
            if (t->n_dims < 1 || t->n_dims > 4 || t->offset % paw_gguf_alignment(g)) abort();
            const uint8_t *p = t->data;
            /* First and last byte are enough for ASan; the whole range when small. */
            if (t->nbytes <= 4096)
                for (uint64_t k = 0; k < t->nbytes; k++) sink ^= p[k];
            else
                sink ^= p[0] ^ p[t->nbytes - 1];
        }
        (void)sink;
        paw_gguf_close(g);
    } else if (g || !paw_last_error()[0]) {
        abort();  /* a failure must leave *out NULL and say why */
    }
    free(buf);
    return 0;
}
