/* lora.c — LoRA adapters in llama.cpp's GGUF convention, applied unmerged.
 *
 * An adapter file is a GGUF with general.type = "adapter", adapter.type =
 * "lora", adapter.lora.alpha (f32) and general.architecture naming the base
 * architecture.  For each adapted projection it holds a pair
 *   blk.N.<stem>.weight.lora_a   ne = [d_in, r]   (numpy [r, d_in])
 *   blk.N.<stem>.weight.lora_b   ne = [r, d_out]  (numpy [d_out, r])
 * in any weight type paw multiplies (F32, F16, BF16, Q8_0, Q4_0, ...; a
 * quantised lora_b needs r to be a multiple of its block).
 *
 * The base weights are never modified: every projection computes
 *   y = W x + sum over attached adapters of s * B (A x),
 *   s = scale * alpha / r   (scale alone when alpha is 0 or absent)
 * which is llama.cpp's build_lora_mm, so one mapped base model serves any
 * number of ctx with different adapters, and switching programs costs no
 * reload.  A and B go through paw_matmul, so quantised adapters use the same
 * kernels (and activation quantisation) as the base weights; in a ctx with
 * int8 products, through int8 packs as the base weights do.
 *
 * Identity: an adapter's id is the SHA-256 of its file bytes; a ctx's adapter
 * id (what saved KV states are tied to, see kvcache.c) hashes the ids and
 * scales of its attached adapters, and is all zeros when none is in effect. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "core/common.h"
#include "model/lora.h"
#include "core/quant.h"

/* Bounds that keep a hostile file from sizing tables by its own claims. */
#define LORA_MAX_LAYER 4096
#define LORA_MAX_RANK  65536
#define LORA_MAX_ATTACHED 64
/* Tokens per adapter product: bounds the scratch (CHUNK x d_out floats) while
 * giving paw_matmul's gemm enough tokens to reuse each weight block. */
#define LORA_CHUNK 64

typedef struct lora_pair {
    const paw_gguf_tensor *a, *b;    /* NULL a: this projection is not adapted */
    paw_i8pack pa, pb;               /* int8 packs of A and B for int8 ctxs
                                        (made on first attach to one; no data:
                                        the type has none)                   */
} lora_pair;

struct paw_adapter {
    uint8_t   *bytes;                /* the file, owned (the GGUF points in)    */
    paw_gguf  *gguf;
    char       arch[32];
    float      alpha;                /* 0 when the file has none                */
    int32_t    rank;
    int32_t    n_layer;              /* 1 + highest adapted layer index         */
    int32_t    n_pairs;
    lora_pair *pairs;                /* [n_layer][PAW_PROJ_COUNT]               */
    uint8_t    id[32];               /* SHA-256 of the file                     */
    int        i8_made;              /* the pairs' packs are made (i8_lock)     */
    pthread_mutex_t i8_lock;
};

typedef struct lora_slot {
    const paw_adapter *a;
    float scale;                     /* as the caller gave it                   */
    float eff;                       /* scale * alpha / r                       */
} lora_slot;

struct paw_lora_set {
    lora_slot slots[LORA_MAX_ATTACHED];
    int       n;
    float    *u, *v;                 /* [LORA_CHUNK][max rank], [..][max rows]  */
    float    *xr;                    /* [LORA_CHUNK][max n_in]: rounded inputs  */
    uint16_t *h;                     /* [LORA_CHUNK][max(n_in, rank)]           */
    int64_t   u_cap, v_cap, x_cap;   /* floats (h holds x_cap + u_cap)          */
};

/* --------------------------------------------------------------- loading */

/* The projection and layer a tensor name adapts: "blk.<il>.<stem>.weight"
 * plus ".lora_a" / ".lora_b".  *which = 0 (a) or 1 (b).  Returns 0 if the
 * name is not of that form or names no projection of the architecture. */
static int parse_name(const paw_arch *arch, const char *name, int *il, int *proj, int *which)
{
    size_t n = strlen(name);
    const size_t sfx = 7;            /* ".lora_a" */
    if (n <= sfx || strncmp(name, "blk.", 4)) return 0;
    if (!strcmp(name + n - sfx, ".lora_a")) *which = 0;
    else if (!strcmp(name + n - sfx, ".lora_b")) *which = 1;
    else return 0;
    const char *p = name + 4;
    long v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) v = v * 10 + (*p - '0');
    if (!digits || *p != '.' || (digits > 1 && name[4] == '0')) return 0;
    char base[160];
    if (n - sfx >= sizeof base) return 0;
    memcpy(base, name, n - sfx);
    base[n - sfx] = 0;
    for (int pr = 0; pr < PAW_PROJ_COUNT; pr++) {
        if (arch->layer_req[PAW_LT_W(pr)] == PAW_REQ_NO) continue;
        char want[160];
        snprintf(want, sizeof want, paw_layer_tensor_specs[PAW_LT_W(pr)].name, (int)v);
        if (!strcmp(want, base)) {
            *il = (int)v;
            *proj = pr;
            return 1;
        }
    }
    return 0;
}

/* Which tensor types an adapter may use: those paw_matmul multiplies as
 * weights (not the activation-only Q8_1 / Q8_K). */
static int weight_type_ok(int type)
{
    return paw_type_block_size(type) > 0 && type != PAW_TYPE_Q8_1 && type != PAW_TYPE_Q8_K;
}

static int check_tensor(const paw_gguf_tensor *t)
{
    if (!weight_type_ok(t->type))
        return paw_err(PAW_EUNSUPPORTED, "adapter: tensor '%s' has unsupported type %d", t->name, t->type);
    if (t->ne[2] != 1 || t->ne[3] != 1 || t->ne[0] <= 0 || t->ne[1] <= 0)
        return paw_err(PAW_EFORMAT, "adapter: tensor '%s' is not a matrix", t->name);
    if (t->ne[0] % paw_type_block_size(t->type))
        return paw_err(PAW_EFORMAT, "adapter: tensor '%s': rows of %lld are not a whole number of "
                       "%s blocks", t->name, (long long)t->ne[0], paw_type_name(t->type));
    return PAW_OK;
}

static int read_meta(paw_adapter *a)
{
    const paw_gguf *g = a->gguf;
    paw_str s;
    int rc = paw_gguf_get_str(g, "general.type", &s);
    if (rc == PAW_ENOTFOUND)
        return paw_err(PAW_EFORMAT, "adapter: no general.type key: not a LoRA adapter (a base model?)");
    if (rc) return paw_err_wrap(rc, "adapter: general.type");
    if (!(s.len == 7 && !memcmp(s.ptr, "adapter", 7)))
        return paw_err(PAW_EFORMAT, "adapter: general.type is '%.*s', not 'adapter'",
                       (int)PAW_MIN(s.len, 64), s.ptr);
    rc = paw_gguf_get_str(g, "adapter.type", &s);
    if (rc == PAW_ENOTFOUND) return paw_err(PAW_EFORMAT, "adapter: no adapter.type key");
    if (rc) return paw_err_wrap(rc, "adapter: adapter.type");
    if (!(s.len == 4 && !memcmp(s.ptr, "lora", 4)))
        return paw_err(PAW_EUNSUPPORTED, "adapter: adapter.type '%.*s' is not supported (only 'lora')",
                       (int)PAW_MIN(s.len, 64), s.ptr);
    rc = paw_gguf_get_str(g, "general.architecture", &s);
    if (rc == PAW_ENOTFOUND) return paw_err(PAW_EFORMAT, "adapter: no general.architecture key");
    if (rc) return paw_err_wrap(rc, "adapter: general.architecture");
    if (s.len >= sizeof a->arch || memchr(s.ptr, 0, s.len))
        return paw_err(PAW_EUNSUPPORTED, "adapter: architecture name is not supported");
    memcpy(a->arch, s.ptr, s.len);
    a->arch[s.len] = 0;
    if (!paw_arch_find(a->arch))
        return paw_err(PAW_EUNSUPPORTED, "adapter: architecture '%s' is not supported (paw runs %s)",
                       a->arch, paw_arch_list());
    /* llama.cpp reads a missing alpha as 0, meaning "apply the scale as is". */
    a->alpha = 0;
    rc = paw_gguf_get_f32(g, "adapter.lora.alpha", &a->alpha);
    if (rc && rc != PAW_ENOTFOUND) return paw_err_wrap(rc, "adapter: adapter.lora.alpha");
    if (!isfinite(a->alpha)) return paw_err(PAW_EFORMAT, "adapter: adapter.lora.alpha is not finite");
    return PAW_OK;
}

/* Sorts the tensors into pairs and checks each pair on its own; shapes
 * against a model are checked at attach time (paw_adapter_check). */
static int read_pairs(paw_adapter *a)
{
    const paw_gguf *g = a->gguf;
    const paw_arch *arch = paw_arch_find(a->arch);
    const int64_t nt = paw_gguf_n_tensors(g);
    int max_il = -1;
    for (int64_t i = 0; i < nt; i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        int il, proj, which;
        size_t n = strlen(t->name);
        /* llama.cpp skips norm vectors in adapters (it cannot apply them); so
         * do we, so that an adapter it accepts loads here too. */
        if (n >= 12 && !strcmp(t->name + n - 12, "_norm.weight")) continue;
        if (!parse_name(arch, t->name, &il, &proj, &which))
            return paw_err(PAW_EFORMAT, "adapter: unexpected tensor '%s' (expected "
                           "blk.N.<projection>.weight.lora_a / .lora_b of a %s model)", t->name, a->arch);
        if (il >= LORA_MAX_LAYER)
            return paw_err(PAW_EFORMAT, "adapter: tensor '%s': layer index out of range", t->name);
        max_il = PAW_MAX(max_il, il);
    }
    if (max_il < 0) return paw_err(PAW_EFORMAT, "adapter: no LoRA tensors");
    a->n_layer = max_il + 1;
    a->pairs = calloc((size_t)a->n_layer * PAW_PROJ_COUNT, sizeof *a->pairs);
    if (!a->pairs) return paw_err(PAW_ENOMEM, "adapter: out of memory");
    for (int64_t i = 0; i < nt; i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        int il, proj, which;
        if (!parse_name(arch, t->name, &il, &proj, &which)) continue;
        int rc = check_tensor(t);
        if (rc) return rc;
        lora_pair *p = &a->pairs[(size_t)il * PAW_PROJ_COUNT + proj];
        if (which) p->b = t; else p->a = t;   /* the GGUF reader rejects duplicate names */
    }
    a->rank = 0;
    for (int64_t k = 0; k < (int64_t)a->n_layer * PAW_PROJ_COUNT; k++) {
        lora_pair *p = &a->pairs[k];
        if (!p->a && !p->b) continue;
        if (!p->a || !p->b) {
            const char *have = (p->a ? p->a : p->b)->name;
            size_t n = strlen(have);
            return paw_err(PAW_EFORMAT, "adapter: tensor '%.*s.lora_%c' is missing (its partner '%s' "
                           "is present)", (int)(n - 7), have, p->a ? 'b' : 'a', have);
        }
        /* A is [d_in, r] and B [r, d_out] in GGUF order. */
        if (p->a->ne[1] != p->b->ne[0])
            return paw_err(PAW_EFORMAT, "adapter: tensor '%s' has rank %lld but '%s' has %lld "
                           "(is lora_a transposed?)", p->a->name, (long long)p->a->ne[1],
                           p->b->name, (long long)p->b->ne[0]);
        if (p->a->ne[1] > LORA_MAX_RANK)
            return paw_err(PAW_EFORMAT, "adapter: tensor '%s': rank %lld is out of range",
                           p->a->name, (long long)p->a->ne[1]);
        if (a->rank && p->a->ne[1] != a->rank)
            return paw_err(PAW_EFORMAT, "adapter: tensor '%s' has rank %lld, earlier pairs %d",
                           p->a->name, (long long)p->a->ne[1], a->rank);
        a->rank = (int32_t)p->a->ne[1];
        a->n_pairs++;
    }
    return PAW_OK;
}

static int sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return paw_err(PAW_EIO, "adapter: SHA-256 failed");
    return PAW_OK;
}

/* Takes ownership of bytes (freed on failure too). */
static int adapter_from_bytes(uint8_t *bytes, size_t len, paw_adapter **out)
{
    paw_adapter *a = calloc(1, sizeof *a);
    if (!a) { free(bytes); return paw_err(PAW_ENOMEM, "adapter: out of memory"); }
    pthread_mutex_init(&a->i8_lock, NULL);
    a->bytes = bytes;
    int rc = sha256(bytes, len, a->id);
    if (!rc && (rc = paw_gguf_open_mem(bytes, len, &a->gguf))) paw_err_wrap(rc, "adapter");
    if (!rc) rc = read_meta(a);
    if (!rc) rc = read_pairs(a);
    if (rc) { paw_adapter_free(a); return rc; }
    *out = a;
    return PAW_OK;
}

/* The adapter keeps its own 64-byte aligned copy of the file: tensor data
 * offsets in a GGUF are aligned relative to the file start, so rows stay
 * aligned in memory, and the id is the hash of exactly the bytes in use. */
static uint8_t *alloc_bytes(size_t len)
{
    size_t cap = (len + 63) & ~(size_t)63;
    return aligned_alloc(64, cap ? cap : 64);
}

int paw_adapter_load_mem(const void *buf, size_t len, paw_adapter **out)
{
    *out = NULL;
    if (!buf && len) return paw_err(PAW_EINVAL, "adapter: NULL buffer");
    uint8_t *bytes = alloc_bytes(len);
    if (!bytes) return paw_err(PAW_ENOMEM, "adapter: out of memory for %zu bytes", len);
    if (len) memcpy(bytes, buf, len);
    return adapter_from_bytes(bytes, len, out);
}

int paw_adapter_load(const char *path, paw_adapter **out)
{
    *out = NULL;
    int fd;
    if (paw_open_regular(path, 0, &fd, NULL)) return paw_err_wrap(PAW_EIO, "adapter");
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); return paw_err(PAW_EIO, "adapter: cannot open %s: %s", path, strerror(errno)); }
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX / 2) {
        fclose(f);
        return paw_err(PAW_EIO, "adapter: cannot size %s", path);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *bytes = alloc_bytes(len);
    if (!bytes) {
        fclose(f);
        return paw_err(PAW_ENOMEM, "adapter: out of memory for %s (%zu bytes)", path, len);
    }
    size_t got = len ? fread(bytes, 1, len, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != len || err) {
        free(bytes);
        return paw_err(PAW_EIO, "adapter: cannot read %s", path);
    }
    int rc = adapter_from_bytes(bytes, len, out);
    return rc ? paw_err_wrap(rc, "%s", path) : PAW_OK;
}

void paw_adapter_free(paw_adapter *a)
{
    if (!a) return;
    for (int64_t i = 0; a->pairs && i < (int64_t)a->n_layer * PAW_PROJ_COUNT; i++) {
        paw_i8pack_free(&a->pairs[i].pa);
        paw_i8pack_free(&a->pairs[i].pb);
    }
    pthread_mutex_destroy(&a->i8_lock);
    paw_gguf_close(a->gguf);
    free(a->pairs);
    free(a->bytes);
    free(a);
}

const char *paw_adapter_arch(const paw_adapter *a) { return a->arch; }
int32_t paw_adapter_rank(const paw_adapter *a) { return a->rank; }
float paw_adapter_alpha(const paw_adapter *a) { return a->alpha; }
int32_t paw_adapter_n_pairs(const paw_adapter *a) { return a->n_pairs; }
void paw_adapter_id(const paw_adapter *a, uint8_t id[32]) { memcpy(id, a->id, 32); }

static const lora_pair *pair_at(const paw_adapter *a, int il, int proj)
{
    if (il >= a->n_layer) return NULL;
    const lora_pair *p = &a->pairs[(size_t)il * PAW_PROJ_COUNT + proj];
    return p->a ? p : NULL;
}

int paw_adapter_check(const paw_adapter *a, const paw_model *m)
{
    if (strcmp(a->arch, m->arch->name))
        return paw_err(PAW_EINVAL, "adapter: made for architecture '%s', the model is '%s'",
                       a->arch, m->arch->name);
    for (int il = 0; il < a->n_layer; il++)
        for (int pr = 0; pr < PAW_PROJ_COUNT; pr++) {
            const lora_pair *p = pair_at(a, il, pr);
            if (!p) continue;
            if (il >= m->hp.n_layer)
                return paw_err(PAW_EINVAL, "adapter: tensor '%s' adapts layer %d, the model has %d layers",
                               p->a->name, il, m->hp.n_layer);
            const paw_mat *w = &m->layers[il].proj[pr];
            if (!w->w)
                return paw_err(PAW_EINVAL, "adapter: tensor '%s' adapts a projection the model lacks",
                               p->a->name);
            if (p->a->ne[0] != w->n_in)
                return paw_err(PAW_EINVAL, "adapter: tensor '%s' has shape [%lld, %lld] but the model's "
                               "projection takes %lld inputs (an adapter for another model?)",
                               p->a->name, (long long)p->a->ne[0], (long long)p->a->ne[1],
                               (long long)w->n_in);
            if (p->b->ne[1] != w->rows)
                return paw_err(PAW_EINVAL, "adapter: tensor '%s' has shape [%lld, %lld] but the model's "
                               "projection has %lld outputs (an adapter for another model?)",
                               p->b->name, (long long)p->b->ne[0], (long long)p->b->ne[1],
                               (long long)w->rows);
        }
    return PAW_OK;
}

/* ------------------------------------------------------- ctx attachment */

void paw_lora_set_free(struct paw_lora_set *s)
{
    if (!s) return;
    free(s->u);
    free(s->v);
    free(s->xr);
    free(s->h);
    free(s);
}

static int cmp_entry(const void *x, const void *y)
{
    return memcmp(x, y, 36);
}

/* The ctx's adapter id: zeros when no adapter has a non-zero scale (then
 * every logit is the base model's, bit for bit), else SHA-256 over the sorted
 * (adapter id, scale) entries, so attachment order does not matter.  If the
 * hash cannot be computed the id is all 0xff, which no saved state carries. */
static void compute_set_id(const struct paw_lora_set *s, uint8_t id[32])
{
    uint8_t ent[LORA_MAX_ATTACHED][36];
    int n = 0;
    for (int i = 0; s && i < s->n; i++) {
        if (s->slots[i].scale == 0) continue;
        memcpy(ent[n], s->slots[i].a->id, 32);
        memcpy(ent[n] + 32, &s->slots[i].scale, 4);
        n++;
    }
    memset(id, 0, 32);
    if (!n) return;
    qsort(ent, (size_t)n, sizeof ent[0], cmp_entry);
    uint8_t buf[16 + sizeof ent];
    memcpy(buf, "paw-lora-set-v1", 16);
    memcpy(buf + 16, ent, (size_t)n * 36);
    if (sha256(buf, 16 + (size_t)n * 36, id)) memset(id, 0xff, 32);
}

/* Installs the new set id; a changed id empties the KV cache, whose K/V were
 * computed under the old adapters and would silently mix two functions. */
static void refresh_id(paw_ctx *c)
{
    uint8_t id[32];
    compute_set_id(c->lora, id);
    if (memcmp(id, c->adapter_id, 32)) {
        memcpy(c->adapter_id, id, 32);
        c->n_past = 0;
    }
}

static int grow(void **p, int64_t *cap, int64_t need, size_t elt)
{
    if (need <= *cap) return PAW_OK;
    void *q = realloc(*p, (size_t)need * elt);
    if (!q) return paw_err(PAW_ENOMEM, "adapter: out of memory for scratch");
    *p = q;
    *cap = need;
    return PAW_OK;
}

/* Scratch large enough for any projection of the model and rank r. */
static int grow_scratch(paw_ctx *c, int32_t rank)
{
    struct paw_lora_set *s = c->lora;
    int64_t rows = 0, n_in = 0;
    for (int il = 0; il < c->model->hp.n_layer; il++)
        for (int pr = 0; pr < PAW_PROJ_COUNT; pr++) {
            rows = PAW_MAX(rows, c->model->layers[il].proj[pr].rows);
            n_in = PAW_MAX(n_in, c->model->layers[il].proj[pr].n_in);
        }
    int64_t u_cap = s->u_cap, x_cap = s->x_cap, h_cap = s->u_cap + s->x_cap;
    int rc = grow((void **)&s->u, &u_cap, (int64_t)LORA_CHUNK * rank, sizeof(float));
    if (!rc) rc = grow((void **)&s->v, &s->v_cap, (int64_t)LORA_CHUNK * rows, sizeof(float));
    if (!rc) rc = grow((void **)&s->xr, &x_cap, (int64_t)LORA_CHUNK * n_in, sizeof(float));
    if (!rc) rc = grow((void **)&s->h, &h_cap, u_cap + x_cap, sizeof(uint16_t));
    if (rc) return rc;
    s->u_cap = u_cap;
    s->x_cap = x_cap;
    return PAW_OK;
}

/* A tensor's int8 pack where its type and shape have one (else none). */
static int pack_tensor(const paw_gguf_tensor *t, paw_i8pack *pk)
{
    const int64_t n = t->ne[0], rows = t->ne[1];
    if (!paw_i8pack_type_ok(t->type) || n % paw_type_block_size(t->type) || n % 32) return PAW_OK;
    return paw_i8pack_from_rows(pk, t->data, t->type, rows, n);
}

/* The packs of every pair, made once per adapter (the adapter is shared by
 * ctxs, possibly on several threads; the packs are only read afterwards). */
static int adapter_i8(const paw_adapter *ca)
{
    paw_adapter *a = (paw_adapter *)ca;
    int rc = PAW_OK;
    pthread_mutex_lock(&a->i8_lock);
    for (int64_t i = 0; !a->i8_made && !rc && i < (int64_t)a->n_layer * PAW_PROJ_COUNT; i++) {
        lora_pair *p = &a->pairs[i];
        if (!p->a) continue;
        if (!(rc = pack_tensor(p->a, &p->pa)) && (rc = pack_tensor(p->b, &p->pb))) paw_i8pack_free(&p->pa);
    }
    if (rc)
        for (int64_t i = 0; i < (int64_t)a->n_layer * PAW_PROJ_COUNT; i++) {
            paw_i8pack_free(&a->pairs[i].pa);
            paw_i8pack_free(&a->pairs[i].pb);
        }
    else a->i8_made = 1;
    pthread_mutex_unlock(&a->i8_lock);
    return rc;
}

int paw_ctx_attach_adapter(paw_ctx *c, const paw_adapter *a, float scale)
{
    if (!a) return paw_err(PAW_EINVAL, "adapter: NULL adapter");
    if (!isfinite(scale)) return paw_err(PAW_EINVAL, "adapter: scale is not finite");
    int rc = paw_adapter_check(a, c->model);
    if (rc) return rc;
    if (!c->lora && !(c->lora = calloc(1, sizeof *c->lora)))
        return paw_err(PAW_ENOMEM, "adapter: out of memory");
    struct paw_lora_set *s = c->lora;
    int k = 0;
    while (k < s->n && s->slots[k].a != a) k++;
    if (k == s->n && s->n == LORA_MAX_ATTACHED)
        return paw_err(PAW_ERANGE, "adapter: at most %d adapters per ctx", LORA_MAX_ATTACHED);
    if ((rc = grow_scratch(c, a->rank))) return rc;
    if (c->i8 && (rc = adapter_i8(a))) return rc;
    lora_slot slot = { a, scale, a->alpha != 0 ? scale * a->alpha / (float)a->rank : scale };
    s->slots[k] = slot;
    if (k == s->n) s->n++;
    refresh_id(c);
    return PAW_OK;
}

int paw_ctx_detach_adapter(paw_ctx *c, const paw_adapter *a)
{
    struct paw_lora_set *s = c->lora;
    int k = 0;
    while (s && k < s->n && s->slots[k].a != a) k++;
    if (!s || k == s->n) return paw_err(PAW_ENOTFOUND, "adapter: not attached to this ctx");
    memmove(&s->slots[k], &s->slots[k + 1], (size_t)(s->n - k - 1) * sizeof s->slots[0]);
    s->n--;
    refresh_id(c);
    return PAW_OK;
}

int paw_ctx_set_adapter(paw_ctx *c, const paw_adapter *a, float scale)
{
    if (a) {
        if (!isfinite(scale)) return paw_err(PAW_EINVAL, "adapter: scale is not finite");
        int rc = paw_adapter_check(a, c->model);
        if (rc) return rc;
    }
    if (c->lora) c->lora->n = 0;
    int rc = a ? paw_ctx_attach_adapter(c, a, scale) : PAW_OK;
    refresh_id(c);   /* also after a failed attach (out of memory): none attached */
    return rc;
}

int paw_ctx_n_adapters(const paw_ctx *c) { return c->lora ? c->lora->n : 0; }

void paw_ctx_adapter_id(const paw_ctx *c, uint8_t id[32]) { memcpy(id, c->adapter_id, 32); }

/* ------------------------------------------------------------- forward */

/* The input a weight of `type` multiplies.  ggml multiplies F16 (BF16)
 * weights by activations rounded to F16 (BF16) while paw_matmul keeps them in
 * f32; an adapter does as ggml does, so that it stays within float rounding
 * of llama.cpp (2^-11 relative per input otherwise, which 30 layers of 8-bit
 * activation quantisation then amplify). */
static const float *input_for(int type, const float *x, int64_t n, float *xr, uint16_t *h)
{
    if (type != PAW_TYPE_F16 && type != PAW_TYPE_BF16) return x;
    if (type == PAW_TYPE_F16 && paw_cpu_avx2()) {
        paw_lora_round_f16_avx2(xr, x, n);
        return xr;
    }
    paw_quantize(type, x, h, n);
    paw_dequantize(type, h, xr, n);
    return xr;
}

/* One adapter product for a few tokens: the whole chain (quantise x, A x,
 * quantise u, B u, y += eff v) on one thread, over the rows of the shared
 * scratch that belong to these tokens.  Tokens are independent all the way
 * (per-row activation quantisation; every kernel output has its own
 * accumulator), so splitting a batch by tokens changes no bit. */
typedef struct lora_job {
    struct paw_lora_set *s;
    const lora_pair     *p;
    int                  int8;      /* the ctx runs int8 products             */
    float                eff;
    float               *y;         /* [n][d_out]                             */
    const float         *x;         /* [n][d_in]                              */
    int64_t              n;         /* tokens                                 */
} lora_job;

/* Tokens per work item: the gemm kernels' activation tile, so each item
 * reuses every unpacked weight block 4 times. */
#define LORA_ITEM_TOKENS 4

static void lora_item(void *ctx, int64_t item, int ith)
{
    (void)ith;
    const lora_job *j = ctx;
    struct paw_lora_set *s = j->s;
    const lora_pair *p = j->p;
    const int64_t d_in = p->a->ne[0], r = p->a->ne[1], d_out = p->b->ne[1];
    const int64_t t0 = item * LORA_ITEM_TOKENS, n = PAW_MIN(LORA_ITEM_TOKENS, j->n - t0);
    float *u = s->u + t0 * r, *v = s->v + t0 * d_out;
    const float *xa = input_for(p->a->type, j->x + t0 * d_in, n * d_in, s->xr + t0 * d_in, s->h + t0 * d_in);
    /* int8 ctx: through the pair's packs when both have one (as the base) */
    const int packed = j->int8 && p->pa.data && p->pb.data;
    if (packed) paw_i8_matmul(NULL, u, &p->pa, xa, n);
    else paw_matmul(NULL, u, p->a->data, p->a->type, r, d_in, xa, n);
    const float *ub = input_for(p->b->type, u, n * r, u, s->h + s->x_cap + t0 * r);
    if (packed) paw_i8_matmul(NULL, v, &p->pb, ub, n);
    else paw_matmul(NULL, v, p->b->data, p->b->type, d_out, r, ub, n);
    /* Scaled first, then added: llama.cpp's ggml_scale + ggml_add. */
    float *yt = j->y + t0 * d_out;
    for (int64_t i = 0; i < n * d_out; i++) yt[i] += j->eff * v[i];
}

/* The products are small (rank 64: A is 64 x d_in, B d_out x 64), far too
 * small to split each over the pool's threads (two products and two
 * activation quantisations a projection, each a dispatch and a barrier):
 * the batch is split by tokens instead, one dispatch per projection, none
 * at all for fewer than LORA_ITEM_TOKENS + 1 tokens (decode). */
void paw_lora_apply(paw_ctx *c, int il, int proj, float *y, const float *x, int64_t T)
{
    struct paw_lora_set *s = c->lora;
    if (!s) return;
    for (int k = 0; k < s->n; k++) {
        const lora_slot *sl = &s->slots[k];
        const lora_pair *p = sl->scale != 0 ? pair_at(sl->a, il, proj) : NULL;
        if (!p) continue;
        const int64_t d_in = p->a->ne[0], d_out = p->b->ne[1];
        for (int64_t t0 = 0; t0 < T; t0 += LORA_CHUNK) {
            const int64_t n = PAW_MIN(LORA_CHUNK, T - t0);
            lora_job j = { s, p, c->i8 != NULL, sl->eff, y + t0 * d_out, x + t0 * d_in, n };
            paw_pool_run_items(c->pool, lora_item, &j, (n + LORA_ITEM_TOKENS - 1) / LORA_ITEM_TOKENS);
        }
    }
}
