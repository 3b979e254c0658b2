/* kvcache.c — truncating the KV cache and saving/restoring a prefix of it,
 * in memory and through a file.
 *
 * A program's prefix (pseudo-program tokens) is evaluated once and its K/V
 * reused for every input, so a state is tied to the exact weights that made
 * it: the model id and the id of the active adapter set.
 *
 * File layout (little-endian):
 *   "PAWKVST\0"  u32 version (1)  u32 dtype (0 = f32, 1 = f16)
 *   u8 model_id[32]  u8 adapter_id[32]
 *   u32 n_layer  u32 kv_dim  u32 vo_dim  u32 n_tokens
 *   i32 tokens[n_tokens]
 *   for each layer: K[n_tokens][kv_dim], V[n_tokens][vo_dim] of dtype
 *   u64 FNV-1a of every byte above (detects truncation and corruption) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/common.h"
#include "model/model.h"

struct paw_kv_state {
    uint8_t  model_id[32], adapter_id[32];
    int32_t  n_layer, kv_dim, vo_dim, n;
    int      kv_type;            /* PAW_TYPE_F32 or PAW_TYPE_F16     */
    size_t   elt;                /* bytes per value                  */
    int32_t *tokens;             /* n                                */
    uint8_t *k, *v;              /* [n_layer][n][kv_dim / vo_dim]    */
};

static const char kv_magic[8] = {'P', 'A', 'W', 'K', 'V', 'S', 'T', 0};
enum { KV_VERSION = 1, KV_HEADER = 8 + 4 + 4 + 32 + 32 + 16 };

int paw_kv_truncate(paw_ctx *c, int32_t n_past)
{
    if (n_past < 0 || n_past > c->n_past)
        return paw_err(PAW_EINVAL, "kv: cannot truncate %d cached positions to %d", c->n_past, n_past);
    c->n_past = n_past;
    return PAW_OK;
}

void paw_kv_state_free(paw_kv_state *s)
{
    if (!s) return;
    free(s->tokens);
    free(s->k);
    free(s->v);
    free(s);
}

int32_t paw_kv_state_n(const paw_kv_state *s) { return s->n; }

static paw_kv_state *state_alloc(int32_t n_layer, int32_t kv_dim, int32_t vo_dim, int32_t n,
                                 int kv_type)
{
    paw_kv_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_layer = n_layer; s->kv_dim = kv_dim; s->vo_dim = vo_dim; s->n = n;
    s->kv_type = kv_type;
    s->elt = kv_type == PAW_TYPE_F16 ? 2 : 4;
    size_t nn = (size_t)(n ? n : 1);
    s->tokens = malloc(nn * sizeof(int32_t));
    s->k = malloc((size_t)n_layer * nn * kv_dim * s->elt);
    s->v = malloc((size_t)n_layer * nn * vo_dim * s->elt);
    if (!s->tokens || !s->k || !s->v) { paw_kv_state_free(s); return NULL; }
    return s;
}

int paw_kv_save(const paw_ctx *c, int32_t n, paw_kv_state **out)
{
    *out = NULL;
    if (n < 0 || n > c->n_past)
        return paw_err(PAW_EINVAL, "kv: cannot save %d positions, %d are cached", n, c->n_past);
    const int32_t L = c->model->hp.n_layer;
    paw_kv_state *s = state_alloc(L, c->kv_dim, c->vo_dim, n, c->kv_type);
    if (!s) return paw_err(PAW_ENOMEM, "kv: out of memory saving %d positions", n);
    memcpy(s->model_id, c->model->id, 32);
    memcpy(s->adapter_id, c->adapter_id, 32);
    memcpy(s->tokens, c->tokens, (size_t)n * sizeof(int32_t));
    const size_t e = c->kv_elt;
    for (int32_t l = 0; l < L; l++) {
        memcpy(s->k + (size_t)l * n * c->kv_dim * e,
               (const uint8_t *)c->k_cache + (size_t)l * c->n_ctx * c->kv_dim * e, (size_t)n * c->kv_dim * e);
        memcpy(s->v + (size_t)l * n * c->vo_dim * e,
               (const uint8_t *)c->v_cache + (size_t)l * c->n_ctx * c->vo_dim * e, (size_t)n * c->vo_dim * e);
    }
    *out = s;
    return PAW_OK;
}

/* Everything that must hold before a state may enter a ctx. */
static int state_fits(const paw_ctx *c, const paw_kv_state *s)
{
    if (memcmp(s->model_id, c->model->id, 32))
        return paw_err(PAW_EINVAL, "kv: the state was made with another model");
    if (memcmp(s->adapter_id, c->adapter_id, 32))
        return paw_err(PAW_EINVAL, "kv: the state was made with other adapters");
    if (s->n_layer != c->model->hp.n_layer || s->kv_dim != c->kv_dim || s->vo_dim != c->vo_dim)
        return paw_err(PAW_EINVAL, "kv: the state's shape does not match the model");
    if (s->kv_type != c->kv_type)
        return paw_err(PAW_EINVAL, "kv: the state holds %s values, the ctx caches %s",
                       paw_type_name(s->kv_type), paw_type_name(c->kv_type));
    if (s->n > c->n_ctx)
        return paw_err(PAW_ERANGE, "kv: the state holds %d positions, the ctx only %d", s->n, c->n_ctx);
    for (int32_t i = 0; i < s->n; i++)
        if (s->tokens[i] < 0 || s->tokens[i] >= c->model->hp.n_vocab)
            return paw_err(PAW_EFORMAT, "kv: the state holds token id %d outside the vocabulary",
                           s->tokens[i]);
    return PAW_OK;
}

int paw_kv_restore(paw_ctx *c, const paw_kv_state *s)
{
    int rc = state_fits(c, s);
    if (rc) return rc;
    const int32_t n = s->n;
    const size_t e = c->kv_elt;
    memcpy(c->tokens, s->tokens, (size_t)n * sizeof(int32_t));
    for (int32_t l = 0; l < s->n_layer; l++) {
        memcpy((uint8_t *)c->k_cache + (size_t)l * c->n_ctx * c->kv_dim * e,
               s->k + (size_t)l * n * c->kv_dim * e, (size_t)n * c->kv_dim * e);
        memcpy((uint8_t *)c->v_cache + (size_t)l * c->n_ctx * c->vo_dim * e,
               s->v + (size_t)l * n * c->vo_dim * e, (size_t)n * c->vo_dim * e);
    }
    c->n_past = n;
    return PAW_OK;
}

/* ------------------------------------------------------------------ files */

typedef struct hashed_file {
    FILE    *f;
    uint64_t h;      /* FNV-1a of the bytes so far */
    int      ok;
} hashed_file;

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) { *h ^= b[i]; *h *= 0x100000001b3ULL; }
}

static void hf_write(hashed_file *w, const void *p, size_t n)
{
    fnv(&w->h, p, n);
    if (w->ok && n && fwrite(p, 1, n, w->f) != n) w->ok = 0;
}

static void hf_read(hashed_file *r, void *p, size_t n)
{
    if (!r->ok) { memset(p, 0, n); return; }
    if (n && fread(p, 1, n, r->f) != n) { r->ok = 0; memset(p, 0, n); return; }
    fnv(&r->h, p, n);
}

static void put_u32(hashed_file *w, uint32_t v) { hf_write(w, &v, 4); }
static uint32_t get_u32(hashed_file *r) { uint32_t v; hf_read(r, &v, 4); return v; }

int paw_kv_save_file(const paw_ctx *c, int32_t n, const char *path)
{
    paw_kv_state *s;
    int rc = paw_kv_save(c, n, &s);
    if (rc) return rc;
    /* pid + a counter: unique across processes and across threads. */
    static unsigned seq;
    unsigned k = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), k) >= sizeof tmp) {
        paw_kv_state_free(s);
        return paw_err(PAW_ERANGE, "kv: path too long");
    }
    hashed_file w = {fopen(tmp, "wb"), 0xcbf29ce484222325ULL, 1};
    if (!w.f) {
        paw_kv_state_free(s);
        return paw_err(PAW_EIO, "kv: cannot create %s: %s", tmp, strerror(errno));
    }
    hf_write(&w, kv_magic, 8);
    put_u32(&w, KV_VERSION);
    put_u32(&w, s->kv_type == PAW_TYPE_F16 ? 1 : 0);
    hf_write(&w, s->model_id, 32);
    hf_write(&w, s->adapter_id, 32);
    put_u32(&w, (uint32_t)s->n_layer);
    put_u32(&w, (uint32_t)s->kv_dim);
    put_u32(&w, (uint32_t)s->vo_dim);
    put_u32(&w, (uint32_t)s->n);
    hf_write(&w, s->tokens, (size_t)n * sizeof(int32_t));
    for (int32_t l = 0; l < s->n_layer; l++) {
        hf_write(&w, s->k + (size_t)l * n * s->kv_dim * s->elt, (size_t)n * s->kv_dim * s->elt);
        hf_write(&w, s->v + (size_t)l * n * s->vo_dim * s->elt, (size_t)n * s->vo_dim * s->elt);
    }
    uint64_t sum = w.h;
    if (w.ok && fwrite(&sum, 1, 8, w.f) != 8) w.ok = 0;
    if (w.ok && (fflush(w.f) || fsync(fileno(w.f)))) w.ok = 0;
    if (fclose(w.f)) w.ok = 0;
    paw_kv_state_free(s);
    if (!w.ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return paw_err(PAW_EIO, "kv: cannot write %s: %s", path, strerror(e));
    }
    return PAW_OK;
}

int paw_kv_load_file(paw_ctx *c, const char *path)
{
    /* A FIFO planted at a prefix-KV path must not block the program open. */
    int fd;
    int orc = paw_open_regular(path, 0, &fd, NULL);
    if (orc) return paw_err_wrap(orc == PAW_ENOTFOUND ? PAW_EIO : orc, "kv");  /* as before: EIO */
    hashed_file r = {fdopen(fd, "rb"), 0xcbf29ce484222325ULL, 1};
    if (!r.f) { close(fd); return paw_err(PAW_EIO, "kv: cannot open %s: %s", path, strerror(errno)); }
    int rc = PAW_OK;
    paw_kv_state *s = NULL;
    char magic[8];
    hf_read(&r, magic, 8);
    uint32_t version = get_u32(&r), dtype = get_u32(&r);
    uint8_t mid[32], aid[32];
    hf_read(&r, mid, 32);
    hf_read(&r, aid, 32);
    uint32_t L = get_u32(&r), kvd = get_u32(&r), vod = get_u32(&r), n = get_u32(&r);
    if (!r.ok || memcmp(magic, kv_magic, 8)) {
        rc = paw_err(PAW_EFORMAT, "kv: %s is not a paw KV state file", path);
        goto done;
    }
    if (version != KV_VERSION || dtype > 1) {
        rc = paw_err(PAW_EUNSUPPORTED, "kv: %s: version %u / dtype %u not supported", path, version, dtype);
        goto done;
    }
    const int kv_type = dtype ? PAW_TYPE_F16 : PAW_TYPE_F32;
    /* Identity and shape are checked before sizing anything from the file. */
    if (memcmp(mid, c->model->id, 32)) {
        rc = paw_err(PAW_EINVAL, "kv: %s was made with another model", path);
        goto done;
    }
    if (memcmp(aid, c->adapter_id, 32)) {
        rc = paw_err(PAW_EINVAL, "kv: %s was made with other adapters", path);
        goto done;
    }
    if ((int32_t)L != c->model->hp.n_layer || (int32_t)kvd != c->kv_dim || (int32_t)vod != c->vo_dim) {
        rc = paw_err(PAW_EFORMAT, "kv: %s: shape does not match the model", path);
        goto done;
    }
    if (kv_type != c->kv_type) {
        rc = paw_err(PAW_EINVAL, "kv: %s holds %s values, the ctx caches %s", path,
                     paw_type_name(kv_type), paw_type_name(c->kv_type));
        goto done;
    }
    if (n > (uint32_t)c->n_ctx) {
        rc = paw_err(PAW_ERANGE, "kv: %s holds %u positions, the ctx only %d", path, n, c->n_ctx);
        goto done;
    }
    s = state_alloc((int32_t)L, (int32_t)kvd, (int32_t)vod, (int32_t)n, kv_type);
    if (!s) { rc = paw_err(PAW_ENOMEM, "kv: out of memory"); goto done; }
    memcpy(s->model_id, mid, 32);
    memcpy(s->adapter_id, aid, 32);
    hf_read(&r, s->tokens, (size_t)n * sizeof(int32_t));
    for (uint32_t l = 0; l < L; l++) {
        hf_read(&r, s->k + (size_t)l * n * kvd * s->elt, (size_t)n * kvd * s->elt);
        hf_read(&r, s->v + (size_t)l * n * vod * s->elt, (size_t)n * vod * s->elt);
    }
    uint64_t want = r.h, got = 0;
    char extra;
    if (!r.ok || fread(&got, 1, 8, r.f) != 8 || got != want || fread(&extra, 1, 1, r.f) != 0) {
        rc = paw_err(PAW_EFORMAT, "kv: %s is truncated or corrupt (checksum mismatch)", path);
        goto done;
    }
    rc = paw_kv_restore(c, s);
done:
    paw_kv_state_free(s);
    fclose(r.f);
    return rc;
}
