/* progcheck.c — what `paw install` checks in a program's adapter before the
 * program enters the cache, so that a broken program fails at install and not
 * as garbage (or an empty answer) at run time:
 *   - the LoRA pairs are well formed: every lora_a has its lora_b, A's and
 *     B's ranks agree, every pair has the same rank (paw_adapter_load_mem;
 *     meta.json's lora_rank is informational, the runtime scale uses the
 *     tensors' rank, so it is not compared);
 *   - every weight is finite (no NaN or Inf, after dequantisation);
 *   - when the declared interpreter is one paw pulls and it is in the cache,
 *     every adapted layer exists in it and every shape fits its projection
 *     (paw_adapter_check against the mapped model).  When it is not cached,
 *     these two checks wait for the first run, where opening the program
 *     against the model it is given makes them (paw_ctx_set_adapter) before
 *     anything is evaluated.  Install never downloads a model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "runtime/bundle.h"
#include "runtime/fetch.h"
#include "core/quant.h"

/* Scans every tensor of the adapter GGUF for NaN and Inf, a row at a time. */
static int check_finite(const uint8_t *p, size_t n)
{
    paw_gguf *g;
    int rc = paw_gguf_open_mem(p, n, &g);
    if (rc) return rc;
    float *row = NULL;
    size_t cap = 0;
    for (int64_t i = 0; !rc && i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        const int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        const size_t rb = paw_type_row_bytes(t->type, cols);
        if (!rb || cols <= 0) { rc = paw_err(PAW_EUNSUPPORTED, "tensor '%s': type %d", t->name, t->type); break; }
        if ((size_t)cols > cap) {
            float *nr = realloc(row, (size_t)cols * sizeof *row);
            if (!nr) { rc = paw_err(PAW_ENOMEM, "out of memory"); break; }
            row = nr;
            cap = (size_t)cols;
        }
        for (int64_t r = 0; !rc && r < rows; r++) {
            rc = paw_dequantize(t->type, (const uint8_t *)t->data + (size_t)r * rb, row, cols);
            for (int64_t k = 0; !rc && k < cols; k++)
                if (!isfinite(row[k]))
                    rc = paw_err(PAW_EFORMAT, "tensor '%s' holds %s at row %lld, column %lld", t->name,
                                 isnan(row[k]) ? "NaN" : "Inf", (long long)r, (long long)k);
        }
    }
    free(row);
    paw_gguf_close(g);
    return rc;
}

/* Checks the adapter against the cached interpreter, if there is one. */
static int check_base_fit(const paw_bundle *b, const paw_adapter *a)
{
    char known[64], path[PAW_PATH_MAX];
    if (!paw_meta_known_base(&b->meta, known) || paw_cache_check(known, 0, path, sizeof path))
        return PAW_OK;  /* not cached: checked at the first run (see the top) */
    paw_model *m;
    int rc = paw_model_load(path, &m);
    if (rc) return PAW_OK;  /* a broken cached model is the model's problem, reported when run */
    rc = paw_adapter_check(a, m);
    if (rc) rc = paw_err_wrap(rc, "it does not fit its interpreter %s (%s)", known, path);
    paw_model_free(m);
    return rc;
}

int paw_program_check_adapter(const paw_bundle *b)
{
    paw_adapter *a;
    int rc = paw_adapter_load_mem(b->adapter, b->adapter_len, &a);
    if (!rc) rc = check_finite(b->adapter, b->adapter_len);
    if (!rc) rc = check_base_fit(b, a);
    paw_adapter_free(a);
    return rc ? paw_err_wrap(rc, "%s", PAW_MEMBER_ADAPTER) : PAW_OK;
}
