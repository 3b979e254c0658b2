/* model.c — loading a model: hyperparameters from the `<arch>.*` metadata
 * alone, every tensor found and its shape checked against them, 1-D tensors
 * copied to f32; plus the paw_ctx lifecycle and paw_decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "core/common.h"
#include "core/cpu.h"
#include "model/model.h"
#include "model/lora.h"
#include "core/quant.h"

/* ------------------------------------------------------------ metadata */

/* Reads `<arch>.<suffix>` as u32 into *out.  When absent: keeps *out if
 * !required, else fails. */
static int arch_u32(const paw_gguf *g, const char *arch, const char *suffix,
                    int32_t *out, int required)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    int rc = paw_gguf_get_u32(g, key, &v);
    if (rc == PAW_ENOTFOUND && !required) return PAW_OK;
    if (rc == PAW_ENOTFOUND) return paw_err(PAW_ENOTFOUND, "model: metadata key '%s' missing", key);
    if (rc) return paw_err_wrap(rc, "model: key '%s'", key);
    if (v > (1u << 30)) return paw_err(PAW_EFORMAT, "model: %s = %u is out of range", key, v);
    *out = (int32_t)v;
    return PAW_OK;
}

static int arch_f32(const paw_gguf *g, const char *arch, const char *suffix,
                    float *out, int required)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = paw_gguf_get_f32(g, key, out);
    if (rc == PAW_ENOTFOUND && !required) return PAW_OK;
    if (rc == PAW_ENOTFOUND) return paw_err(PAW_ENOTFOUND, "model: metadata key '%s' missing", key);
    if (rc) return paw_err_wrap(rc, "model: key '%s'", key);
    if (!isfinite(*out)) return paw_err(PAW_EFORMAT, "model: %s is not finite", key);
    return PAW_OK;
}

static int load_hparams(paw_model *m, const char *a)
{
    const paw_gguf *g = m->gguf;
    paw_hparams *hp = &m->hp;
    int rc;
    memset(hp, 0, sizeof *hp);
    if ((rc = arch_u32(g, a, "embedding_length", &hp->n_embd, 1)) ||
        (rc = arch_u32(g, a, "block_count", &hp->n_layer, 1)) ||
        (rc = arch_u32(g, a, "feed_forward_length", &hp->n_ff, 1)) ||
        (rc = arch_u32(g, a, "attention.head_count", &hp->n_head, 1)) ||
        (rc = arch_u32(g, a, "context_length", &hp->n_ctx_train, 1)))
        return rc;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_ctx_train <= 0)
        return paw_err(PAW_EFORMAT, "model: zero-sized hyperparameter in '%s.*' metadata", a);
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = arch_u32(g, a, "attention.head_count_kv", &hp->n_head_kv, 0)) ||
        (rc = arch_u32(g, a, "attention.key_length", &hp->head_dim, 0)))
        return rc;
    hp->head_dim_v = hp->head_dim;
    if ((rc = arch_u32(g, a, "attention.value_length", &hp->head_dim_v, 0))) return rc;
    hp->n_rot = m->arch->rope == PAW_ROPE_NONE ? 0 : hp->head_dim;
    if (m->arch->rope != PAW_ROPE_NONE && (rc = arch_u32(g, a, "rope.dimension_count", &hp->n_rot, 0)))
        return rc;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    if ((rc = arch_f32(g, a, "rope.freq_base", &hp->rope_base, 0))) return rc;
    float factor = 0;
    if ((rc = arch_f32(g, a, "rope.scaling.factor", &factor, 0))) return rc;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    paw_str st;
    if (paw_gguf_get_str(g, key, &st) == PAW_OK && !(st.len == 4 && !memcmp(st.ptr, "none", 4))) {
        if (!(st.len == 6 && !memcmp(st.ptr, "linear", 6)))
            return paw_err(PAW_EUNSUPPORTED, "model: rope scaling '%.*s' is not supported",
                           (int)PAW_MIN(st.len, 32), st.ptr);
        if (factor > 0) hp->rope_freq_scale = 1.0f / factor;
    }
    rc = arch_f32(g, a, m->arch->norm == PAW_NORM_RMS ? "attention.layer_norm_rms_epsilon"
                                                       : "attention.layer_norm_epsilon",
                  &hp->norm_eps, 1);
    if (rc) return rc;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return paw_err(PAW_EFORMAT, "model: head_count %d is not a multiple of head_count_kv %d",
                       hp->n_head, hp->n_head_kv);
    if (hp->head_dim <= 0 || hp->head_dim_v <= 0)
        return paw_err(PAW_EFORMAT, "model: head size is zero");
    if (hp->n_rot < 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return paw_err(PAW_EFORMAT, "model: rope.dimension_count %d does not fit head size %d",
                       hp->n_rot, hp->head_dim);
    if (!(hp->norm_eps >= 0) || !(hp->rope_base > 0))
        return paw_err(PAW_EFORMAT, "model: bad norm epsilon or rope base");
    /* The vocabulary comes from the embedding, checked against vocab_size. */
    const paw_gguf_tensor *te = paw_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return paw_err(PAW_ENOTFOUND, "model: tensor 'token_embd.weight' missing");
    if (te->n_dims != 2 || te->ne[1] <= 0 || te->ne[1] > INT32_MAX)
        return paw_err(PAW_EFORMAT, "model: token_embd.weight is not a [n_embd, n_vocab] matrix");
    hp->n_vocab = (int32_t)te->ne[1];
    int32_t vs = hp->n_vocab;
    if ((rc = arch_u32(g, a, "vocab_size", &vs, 0))) return rc;
    if (vs != hp->n_vocab)
        return paw_err(PAW_EFORMAT, "model: %s.vocab_size %d but token_embd has %d rows",
                       a, vs, hp->n_vocab);
    return PAW_OK;
}

/* -------------------------------------------------------------- tensors */

static int64_t dim_value(const paw_hparams *hp, int d)
{
    switch (d) {
    case PAW_D_NONE:  return 1;
    case PAW_D_EMBD:  return hp->n_embd;
    case PAW_D_Q:     return (int64_t)hp->n_head * hp->head_dim;
    case PAW_D_KV:    return (int64_t)hp->n_head_kv * hp->head_dim;
    case PAW_D_VO:    return (int64_t)hp->n_head_kv * hp->head_dim_v;
    case PAW_D_ATT:   return (int64_t)hp->n_head * hp->head_dim_v;
    case PAW_D_QKV:   return (int64_t)hp->n_head * hp->head_dim + (int64_t)hp->n_head_kv * (hp->head_dim + hp->head_dim_v);
    case PAW_D_FF:    return hp->n_ff;
    case PAW_D_HEAD:  return hp->head_dim;
    case PAW_D_ROT2:  return hp->n_rot / 2;
    case PAW_D_VOCAB: return hp->n_vocab;
    case PAW_D_CTX:   return hp->n_ctx_train;
    }
    return -1;
}

/* Finds the tensor `name` and checks it against `spec`.  *out = NULL when it
 * is absent and optional. */
static int find_tensor(const paw_model *m, const char *name, const paw_tensor_spec *spec,
                       int req, const paw_gguf_tensor **out)
{
    *out = NULL;
    const paw_gguf_tensor *t = paw_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (req == PAW_REQ_YES)
            return paw_err(PAW_ENOTFOUND, "model: %s model has no tensor '%s'", m->arch->name, name);
        return PAW_OK;
    }
    int64_t want0 = dim_value(&m->hp, spec->ne[0]), want1 = dim_value(&m->hp, spec->ne[1]);
    int bad = t->ne[0] != want0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1;
    if (bad)
        return paw_err(PAW_EFORMAT, "model: tensor '%s' has shape [%lld, %lld, %lld, %lld], "
                       "the metadata implies [%lld, %lld]", name, (long long)t->ne[0],
                       (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       (long long)want0, (long long)want1);
    int bs = paw_type_block_size(t->type);
    if (bs <= 0 || t->type == PAW_TYPE_Q8_1 || t->type == PAW_TYPE_Q8_K)
        return paw_err(PAW_EUNSUPPORTED, "model: tensor '%s' has unsupported type %d", name, t->type);
    if (t->ne[0] % bs)
        return paw_err(PAW_EFORMAT, "model: tensor '%s': row of %lld is not a multiple of the %s block",
                       name, (long long)t->ne[0], paw_type_name(t->type));
    *out = t;
    return PAW_OK;
}

static void set_mat(paw_mat *mat, const paw_gguf_tensor *t)
{
    mat->w = t->data;
    mat->type = t->type;
    mat->n_in = t->ne[0];
    mat->rows = t->ne[1];
    mat->b = NULL;
}

/* Copies a 1-D tensor to f32 in the arena (norm weights and biases are tiny;
 * owning them in f32 keeps every kernel single-typed). */
static int take_vec(paw_model *m, const paw_gguf_tensor *t, size_t *used, const float **out)
{
    *out = NULL;
    if (!t) return PAW_OK;
    float *dst = m->vecs + *used;
    int rc = paw_dequantize(t->type, t->data, dst, t->ne[0]);
    if (rc) return paw_err_wrap(rc, "model: tensor '%s'", t->name);
    *used += (size_t)t->ne[0];
    *out = dst;
    return PAW_OK;
}

static int load_tensors(paw_model *m)
{
    const paw_arch *a = m->arch;
    const paw_hparams *hp = &m->hp;
    char name[96];
    int rc;
    /* Pass 1 sizes the f32 arena of 1-D tensors; pass 2 fills it. */
    size_t need = 0;
    for (int g = 0; g < PAW_GT_COUNT; g++)
        if (paw_global_tensor_specs[g].ne[1] == PAW_D_NONE)
            need += (size_t)dim_value(hp, paw_global_tensor_specs[g].ne[0]);
    for (int l = 0; l < PAW_LT_COUNT; l++)
        if (paw_layer_tensor_specs[l].ne[1] == PAW_D_NONE)
            need += (size_t)dim_value(hp, paw_layer_tensor_specs[l].ne[0]) * (size_t)hp->n_layer;
    m->vecs = malloc(need * sizeof(float));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->vecs || !m->layers) return paw_err(PAW_ENOMEM, "model: out of memory");
    size_t used = 0;

    const paw_gguf_tensor *gt[PAW_GT_COUNT];
    for (int g = 0; g < PAW_GT_COUNT; g++) {
        const paw_tensor_spec *s = &paw_global_tensor_specs[g];
        if ((rc = find_tensor(m, s->name, s, a->global_req[g], &gt[g]))) return rc;
    }
    set_mat(&m->tok_embd, gt[PAW_GT_TOK_EMBD]);
    if (gt[PAW_GT_POS_EMBD]) set_mat(&m->pos_embd, gt[PAW_GT_POS_EMBD]);
    set_mat(&m->output, gt[PAW_GT_OUTPUT] ? gt[PAW_GT_OUTPUT] : gt[PAW_GT_TOK_EMBD]);
    if ((rc = take_vec(m, gt[PAW_GT_OUT_NORM], &used, &m->out_norm)) ||
        (rc = take_vec(m, gt[PAW_GT_OUT_NORM_B], &used, &m->out_norm_b)) ||
        (rc = take_vec(m, gt[PAW_GT_ROPE_FREQS], &used, &m->rope_freqs)))
        return rc;

    for (int il = 0; il < hp->n_layer; il++) {
        paw_layer *L = &m->layers[il];
        const paw_gguf_tensor *lt[PAW_LT_COUNT];
        for (int k = 0; k < PAW_LT_COUNT; k++) {
            const paw_tensor_spec *s = &paw_layer_tensor_specs[k];
            lt[k] = NULL;
            if (a->layer_req[k] == PAW_REQ_NO) continue;
            snprintf(name, sizeof name, s->name, il);
            if ((rc = find_tensor(m, name, s, a->layer_req[k], &lt[k]))) return rc;
        }
        for (int p = 0; p < PAW_PROJ_COUNT; p++) {
            if (!lt[PAW_LT_W(p)]) {
                if (lt[PAW_LT_B(p)])
                    return paw_err(PAW_EFORMAT, "model: layer %d has a bias without its weight", il);
                continue;
            }
            set_mat(&L->proj[p], lt[PAW_LT_W(p)]);
            if ((rc = take_vec(m, lt[PAW_LT_B(p)], &used, &L->proj[p].b))) return rc;
        }
        if ((rc = take_vec(m, lt[PAW_LT_ATTN_NORM], &used, &L->attn_norm)) ||
            (rc = take_vec(m, lt[PAW_LT_ATTN_NORM_B], &used, &L->attn_norm_b)) ||
            (rc = take_vec(m, lt[PAW_LT_FFN_NORM], &used, &L->ffn_norm)) ||
            (rc = take_vec(m, lt[PAW_LT_FFN_NORM_B], &used, &L->ffn_norm_b)) ||
            (rc = take_vec(m, lt[PAW_LT_Q_NORM], &used, &L->q_norm)) ||
            (rc = take_vec(m, lt[PAW_LT_K_NORM], &used, &L->k_norm)))
            return rc;
    }
    return PAW_OK;
}

/* The id hashes what identifies the weights without reading all of them:
 * every metadata key and value, the tensor table, and the first and last
 * 4 KiB of each tensor's data. */
int paw_model_compute_id(paw_model *m)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h);
        return paw_err(PAW_ENOMEM, "model: cannot start SHA-256");
    }
    const paw_gguf *g = m->gguf;
    uint64_t fsize = paw_gguf_file_size(g);
    EVP_DigestUpdate(h, &fsize, sizeof fsize);
    for (int64_t i = 0; i < paw_gguf_n_kv(g); i++) {
        const paw_gguf_kv *kv = paw_gguf_kv_at(g, i);
        EVP_DigestUpdate(h, kv->key, strlen(kv->key) + 1);
        EVP_DigestUpdate(h, &kv->type, sizeof kv->type);
        EVP_DigestUpdate(h, &kv->n, sizeof kv->n);
        if (kv->strs) {
            for (uint64_t j = 0; j < kv->n; j++) EVP_DigestUpdate(h, kv->strs[j].ptr, kv->strs[j].len);
        } else if (kv->data) {
            int t = kv->type == PAW_GGUF_ARRAY ? kv->arr_type : kv->type;
            static const uint8_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
            if (t >= 0 && t < (int)sizeof sz) EVP_DigestUpdate(h, kv->data, sz[t] * kv->n);
        }
    }
    for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        EVP_DigestUpdate(h, t->name, strlen(t->name) + 1);
        EVP_DigestUpdate(h, &t->type, sizeof t->type);
        EVP_DigestUpdate(h, t->ne, sizeof t->ne);
        uint64_t head = PAW_MIN(t->nbytes, (uint64_t)4096);
        EVP_DigestUpdate(h, t->data, head);
        EVP_DigestUpdate(h, (const uint8_t *)t->data + (t->nbytes - head), head);
    }
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(h, m->id, &n) == 1 && n == 32;
    EVP_MD_CTX_free(h);
    return ok ? PAW_OK : paw_err(PAW_EIO, "model: SHA-256 failed");
}

int paw_model_load(const char *path, paw_model **out)
{
    *out = NULL;
    /* a PAW_SIMD this CPU cannot honour fails here, before any work */
    int src = paw_simd_check();
    if (src) return src;
    paw_model *m = calloc(1, sizeof *m);
    if (!m) return paw_err(PAW_ENOMEM, "model: out of memory");
    pthread_mutex_init(&m->i8_lock, NULL);
    int rc = paw_gguf_open(path, &m->gguf);
    if (rc) { free(m); return rc; }
    paw_str as;
    rc = paw_gguf_get_str(m->gguf, "general.architecture", &as);
    if (rc) {
        rc = paw_err_wrap(rc, "model: %s: general.architecture", path);
        goto fail;
    }
    char aname[64];
    snprintf(aname, sizeof aname, "%.*s", (int)PAW_MIN(as.len, sizeof aname - 1), as.ptr);
    m->arch = as.len < sizeof aname ? paw_arch_find(aname) : NULL;
    if (!m->arch) {
        rc = paw_err(PAW_EUNSUPPORTED, "model: %s: architecture '%s' is not supported (paw runs %s)",
                     path, aname, paw_arch_list());
        goto fail;
    }
    if ((rc = load_hparams(m, aname)) || (rc = load_tensors(m)) || (rc = paw_model_compute_id(m))) {
        rc = paw_err_wrap(rc, "%s", path);
        goto fail;
    }
    *out = m;
    return PAW_OK;
fail:
    paw_model_free(m);
    return rc;
}

static void free_i8(paw_i8pack *packs, int64_t n)
{
    if (!packs) return;
    for (int64_t i = 0; i < n; i++) paw_i8pack_free(&packs[i]);
    free(packs);
}

int paw_model_i8(const paw_model *cm, const paw_i8pack **out)
{
    *out = NULL;
    if (!paw_i8_fast())
        return paw_err(PAW_EUNSUPPORTED, "model: int8 products need the AVX-512 VNNI kernel set (running %s)",
                       paw_simd_name());
    /* The packs are a cache beside the immutable weights: made once, under
     * the lock, then only read. */
    paw_model *m = (paw_model *)cm;
    pthread_mutex_lock(&m->i8_lock);
    int rc = PAW_OK;
    const int64_t n = PAW_I8_HEAD(m) + 1;
    if (!m->i8) {
        paw_i8pack *packs = calloc((size_t)n, sizeof *packs);
        if (!packs) rc = paw_err(PAW_ENOMEM, "model: out of memory");
        for (int64_t i = 0; i < n && !rc; i++) {
            const paw_mat *w = i < n - 1 ? &m->layers[i / PAW_PROJ_COUNT].proj[i % PAW_PROJ_COUNT] : &m->output;
            if (w->w && paw_i8pack_type_ok(w->type))
                rc = paw_i8pack_from_rows(&packs[i], w->w, w->type, w->rows, w->n_in);
        }
        if (rc) free_i8(packs, n);
        else m->i8 = packs;
    }
    pthread_mutex_unlock(&m->i8_lock);
    if (!rc) *out = m->i8;
    return rc;
}

void paw_model_free(paw_model *m)
{
    if (!m) return;
    free_i8(m->i8, PAW_I8_HEAD(m) + 1);
    pthread_mutex_destroy(&m->i8_lock);
    paw_gguf_close(m->gguf);
    free(m->layers);
    free(m->vecs);
    free(m);
}

const paw_gguf *paw_model_gguf(const paw_model *m) { return m->gguf; }
const char *paw_model_arch(const paw_model *m) { return m->arch->name; }
int32_t paw_model_n_vocab(const paw_model *m) { return m->hp.n_vocab; }
int32_t paw_model_n_embd(const paw_model *m) { return m->hp.n_embd; }
int32_t paw_model_n_layer(const paw_model *m) { return m->hp.n_layer; }
int32_t paw_model_n_ctx_train(const paw_model *m) { return m->hp.n_ctx_train; }
void paw_model_id(const paw_model *m, uint8_t id[32]) { memcpy(id, m->id, 32); }

/* ------------------------------------------------------------------ ctx */

int paw_ctx_new(const paw_model *m, const paw_ctx_params *params, paw_ctx **out)
{
    *out = NULL;
    paw_ctx_params p = {0};
    if (params) p = *params;
    const paw_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_batch < 0)
        return paw_err(PAW_EINVAL, "ctx: negative n_ctx or n_batch");
    if (p.n_ctx == 0) p.n_ctx = PAW_MIN(2048, hp->n_ctx_train);
    /* Learned positions end at the training context; rope has no such limit. */
    if (m->pos_embd.w && p.n_ctx > hp->n_ctx_train)
        return paw_err(PAW_ERANGE, "ctx: n_ctx %d exceeds the model's %d learned positions",
                       p.n_ctx, hp->n_ctx_train);
    if (p.kv_type != PAW_TYPE_F32 && p.kv_type != PAW_TYPE_F16)
        return paw_err(PAW_EINVAL, "ctx: KV cache type must be F32 or F16");
    if (p.n_batch == 0) p.n_batch = 512;
    p.n_batch = PAW_MIN(p.n_batch, p.n_ctx);

    paw_ctx *c = calloc(1, sizeof *c);
    if (!c) return paw_err(PAW_ENOMEM, "ctx: out of memory");
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
    c->vo_dim = hp->n_head_kv * hp->head_dim_v;
    c->kv_type = p.kv_type;
    c->flash_attn = p.flash_attn != 0;
    if (p.int8 && paw_i8_fast()) {
        int rc = paw_model_i8(m, &c->i8);
        if (rc) { free(c); return rc; }
    }
    c->kv_elt = p.kv_type == PAW_TYPE_F16 ? 2 : 4;
    c->pool = paw_pool_new(p.n_threads);
    if (!c->pool) { free(c); return paw_err(PAW_ENOMEM, "ctx: cannot start threads"); }
    size_t B = (size_t)p.n_batch, nctx = (size_t)p.n_ctx, L = (size_t)hp->n_layer;
    size_t qd = (size_t)hp->n_head * hp->head_dim, ad = (size_t)hp->n_head * hp->head_dim_v;
    c->k_cache = malloc(L * nctx * c->kv_dim * c->kv_elt);
    c->v_cache = malloc(L * nctx * c->vo_dim * c->kv_elt);
    if (c->kv_type == PAW_TYPE_F16) {
        c->k_new = malloc(B * c->kv_dim * sizeof(float));
        c->v_new = malloc(B * c->vo_dim * sizeof(float));
    }
    c->tokens = malloc(nctx * sizeof(int32_t));
    c->x = malloc(B * hp->n_embd * sizeof(float));
    c->xn = malloc(B * hp->n_embd * sizeof(float));
    c->xb = malloc(B * hp->n_embd * sizeof(float));
    c->q = malloc(B * qd * sizeof(float));
    if (m->layers[0].proj[PAW_PROJ_QKV].w)
        c->qkv = malloc(B * (qd + c->kv_dim + c->vo_dim) * sizeof(float));
    c->att = malloc(B * ad * sizeof(float));
    c->ff = malloc(B * hp->n_ff * sizeof(float));
    c->ff2 = malloc(B * hp->n_ff * sizeof(float));
    size_t nth = (size_t)paw_pool_size(c->pool);
    c->scores = malloc(nth * nctx * sizeof(float));
    c->vacc = malloc(nth * (size_t)paw_attn_scratch_floats(hp) * sizeof(float));
    c->rope_cs = malloc(B * (size_t)PAW_MAX(hp->n_rot, 2) * sizeof(float));
    c->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!c->k_cache || !c->v_cache || !c->tokens || !c->x || !c->xn || !c->xb || !c->q ||
        (m->layers[0].proj[PAW_PROJ_QKV].w && !c->qkv) ||
        (c->kv_type == PAW_TYPE_F16 && (!c->k_new || !c->v_new)) || !c->att || !c->ff || !c->ff2 ||
        !c->scores || !c->vacc || !c->rope_cs || !c->logits) {
        paw_ctx_free(c);
        return paw_err(PAW_ENOMEM, "ctx: out of memory for a %d-position KV cache", p.n_ctx);
    }
    *out = c;
    return PAW_OK;
}

size_t paw_ctx_memory(const paw_ctx *c)
{
    if (!c) return 0;
    const paw_hparams *hp = &c->model->hp;
    size_t B = (size_t)c->n_batch, nctx = (size_t)c->n_ctx, L = (size_t)hp->n_layer;
    size_t kv = L * nctx * (size_t)(c->kv_dim + c->vo_dim) * c->kv_elt;
    size_t per_tok = 3 * (size_t)hp->n_embd + 2 * (size_t)hp->n_ff + 2 * (size_t)hp->n_head * hp->head_dim +
                     (size_t)(c->kv_dim + c->vo_dim);
    size_t floats = B * per_tok + (size_t)hp->n_vocab * (1 + (size_t)c->logits_all_cap) +
                    nctx * (size_t)paw_pool_size(c->pool);
    return sizeof *c + kv + floats * sizeof(float) + nctx * sizeof(int32_t);
}

void paw_ctx_free(paw_ctx *c)
{
    if (!c) return;
    paw_pool_free(c->pool);
    free(c->k_cache); free(c->v_cache); free(c->k_new); free(c->v_new); free(c->tokens);
    free(c->x); free(c->xn); free(c->xb); free(c->q); free(c->qkv); free(c->att);
    free(c->ff); free(c->ff2); free(c->scores); free(c->vacc); free(c->rope_cs);
    free(c->logits); free(c->logits_all);
    paw_lora_set_free(c->lora);
    free(c);
}

int paw_ctx_int8(const paw_ctx *c) { return c && c->i8 != NULL; }
int paw_int8_available(void) { return paw_i8_fast(); }
const paw_model *paw_ctx_model(const paw_ctx *c) { return c->model; }
int32_t paw_ctx_n_ctx(const paw_ctx *c) { return c->n_ctx; }
int32_t paw_ctx_n_past(const paw_ctx *c) { return c->n_past; }
const int32_t *paw_ctx_tokens(const paw_ctx *c) { return c->tokens; }

int paw_decode(paw_ctx *c, const int32_t *ids, int32_t n, int logits_all, const float **logits)
{
    const int32_t n_vocab = c->model->hp.n_vocab;
    if (logits) *logits = NULL;
    if (n <= 0 || !ids) return paw_err(PAW_EINVAL, "eval: no tokens");
    if ((int64_t)c->n_past + n > c->n_ctx)
        return paw_err(PAW_ERANGE, "eval: %d cached + %d new tokens exceed the context of %d",
                       c->n_past, n, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return paw_err(PAW_EINVAL, "eval: token id %d at %d is outside the vocabulary of %d",
                           ids[i], i, n_vocab);
    if (logits_all && n > c->logits_all_cap) {
        float *p = realloc(c->logits_all, (size_t)n * n_vocab * sizeof(float));
        if (!p) return paw_err(PAW_ENOMEM, "eval: out of memory for %d x %d logits", n, n_vocab);
        c->logits_all = p;
        c->logits_all_cap = n;
    }
    for (int32_t i = 0; i < n; i += c->n_batch) {
        int32_t T = PAW_MIN(c->n_batch, n - i);
        float *dst = NULL;
        if (logits_all) dst = c->logits_all + (size_t)i * n_vocab;
        else if (i + T == n) dst = c->logits;
        memcpy(c->tokens + c->n_past, ids + i, (size_t)T * sizeof(int32_t));
        paw_forward_chunk(c, ids + i, T, dst, logits_all);
        c->n_past += T;
    }
    if (logits) *logits = logits_all ? c->logits_all : c->logits;
    return PAW_OK;
}
