/* export.c — writing a trained adapter.
 *
 * GGUF, llama.cpp's LoRA convention (what paw_adapter_load and llama.cpp's
 * llama_adapter_lora_init read): general.type "adapter", adapter.type
 * "lora", adapter.lora.alpha, and per adapted projection
 *   blk.N.<stem>.weight.lora_a  ne [d_in, r]   (A, row-major [r][d_in])
 *   blk.N.<stem>.weight.lora_b  ne [r, d_out]  (B, row-major [d_out][r])
 * which are exactly the trainer's layouts, in the base model's row order.
 *
 * PEFT: adapter_model.safetensors + adapter_config.json with Hugging Face
 * module names.  One difference from the GGUF: llama.cpp's converter permutes
 * the rows of Llama's q and k projections (HF rotates halves, GGUF "llama"
 * rope rotates adjacent pairs), so B of q/k is written back in HF row order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "core/common.h"
#include "train/train.h"
#include "core/quant.h"
#include "model/gguf.h"

/* -------------------------------------------------------------- GGUF */

/* The adapter as GGUF: to `path` (atomic) when it is not NULL, else into
 * *out / *out_len. */
static int save_gguf(const paw_trainer *t, int type, const char *path, uint8_t **out, size_t *out_len)
{
    if (type != PAW_TYPE_F32 && type != PAW_TYPE_F16 && type != PAW_TYPE_Q8_0 && type != PAW_TYPE_Q4_0)
        return paw_err(PAW_EUNSUPPORTED, "train: adapters are written as F32, F16, Q8_0 or Q4_0, not %s",
                       paw_type_name(type) ? paw_type_name(type) : "?");
    const char *arch = t->model->arch->name;
    paw_gguf_writer *w = paw_gguf_writer_new();
    void **bufs = calloc((size_t)t->n_slots * 2, sizeof *bufs);
    int rc = !w || !bufs ? paw_err(PAW_ENOMEM, "train: out of memory") : PAW_OK;
    if (!rc) rc = paw_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch));
    if (!rc) rc = paw_gguf_writer_set_str(w, "general.type", "adapter", 7);
    if (!rc) rc = paw_gguf_writer_set_str(w, "adapter.type", "lora", 4);
    if (!rc) rc = paw_gguf_writer_set_f32(w, "adapter.lora.alpha", t->alpha);
    for (int32_t i = 0; !rc && i < t->n_slots; i++) {
        const paw_lora_slot *s = &t->slots[i];
        for (int which = 0; !rc && which < 2; which++) {
            const int64_t inner = which ? t->rank : s->n_in, outer = which ? s->rows : t->rank;
            const float *src = t->params + (which ? s->b_off : s->a_off);
            /* A quant block must not straddle rows: a rank that is not a
             * multiple of 32 gets B (and a narrow A) in F16 instead. */
            int ty = type;
            if (inner % paw_type_block_size(ty)) ty = PAW_TYPE_F16;
            const void *data = src;
            if (ty != PAW_TYPE_F32) {
                size_t bytes = paw_type_row_bytes(ty, inner) * (size_t)outer;
                bufs[2 * i + which] = malloc(bytes);
                if (!bufs[2 * i + which]) { rc = paw_err(PAW_ENOMEM, "train: out of memory"); break; }
                if ((rc = paw_quantize(ty, src, bufs[2 * i + which], inner * outer))) break;
                data = bufs[2 * i + which];
            }
            char name[128];
            snprintf(name, sizeof name, paw_layer_tensor_specs[PAW_LT_W(s->proj)].name, s->layer);
            strcat(name, which ? ".lora_b" : ".lora_a");
            int64_t ne[2] = { inner, outer };
            rc = paw_gguf_writer_add_tensor(w, name, ty, 2, ne, data);
        }
    }
    if (!rc) rc = path ? paw_gguf_writer_write(w, path) : paw_gguf_writer_write_mem(w, out, out_len);
    paw_gguf_writer_free(w);
    if (bufs)
        for (int32_t i = 0; i < 2 * t->n_slots; i++) free(bufs[i]);
    free(bufs);
    return rc;
}

int paw_trainer_save_gguf(const paw_trainer *t, const char *path, int type)
{
    if (!t || !path) return paw_err(PAW_EINVAL, "train: NULL argument");
    return save_gguf(t, type, path, NULL, NULL);
}

int paw_trainer_save_gguf_mem(const paw_trainer *t, int type, uint8_t **out, size_t *len)
{
    if (!t || !out || !len) return paw_err(PAW_EINVAL, "train: NULL argument");
    return save_gguf(t, type, NULL, out, len);
}

/* Loads one matrix of `rows` x `cols` f32 values from tensor `name`. */
static int load_matrix(const paw_gguf *g, const char *name, int64_t cols, int64_t rows, float *dst)
{
    const paw_gguf_tensor *tt = paw_gguf_find_tensor(g, name);
    if (!tt) return paw_err(PAW_EINVAL, "train: adapter lacks '%s'", name);
    if (tt->n_dims != 2 || tt->ne[0] != cols || tt->ne[1] != rows)
        return paw_err(PAW_EINVAL, "train: adapter tensor '%s' is [%lld, %lld], expected [%lld, %lld]",
                       name, (long long)tt->ne[0], (long long)tt->ne[1], (long long)cols, (long long)rows);
    int rc = paw_dequantize(tt->type, tt->data, dst, cols * rows);
    return rc ? paw_err_wrap(rc, "train: adapter tensor '%s'", name) : PAW_OK;
}

int paw_trainer_init_from_gguf(paw_trainer *t, const char *path)
{
    if (!t || !path) return paw_err(PAW_EINVAL, "train: NULL argument");
    paw_gguf *g = NULL;
    int rc = paw_gguf_open(path, &g);
    if (rc) return rc;
    paw_str arch, type;
    float alpha = 0;
    if (paw_gguf_get_str(g, "general.architecture", &arch) || arch.len != strlen(t->model->arch->name) ||
        memcmp(arch.ptr, t->model->arch->name, arch.len) || paw_gguf_get_str(g, "adapter.type", &type) ||
        type.len != 4 || memcmp(type.ptr, "lora", 4)) {
        paw_gguf_close(g);
        return paw_err(PAW_EINVAL, "train: %s is not a LoRA adapter for %s", path, t->model->arch->name);
    }
    if (paw_gguf_get_f32(g, "adapter.lora.alpha", &alpha) || !(alpha > 0)) alpha = (float)t->rank;
    /* Every pair must land in a slot: count the file's pairs as they load. */
    int64_t n_loaded = 0, n_tensors = paw_gguf_n_tensors(g);
    float *a = NULL, *b = NULL;
    /* Loaded into a copy, so that a failure leaves the trainer as it was. */
    float *saved = malloc(sizeof(float) * (size_t)t->n_params);
    if (!saved) { paw_gguf_close(g); return paw_err(PAW_ENOMEM, "train: out of memory"); }
    memcpy(saved, t->params, sizeof(float) * (size_t)t->n_params);
    for (int32_t i = 0; !rc && i < t->n_slots; i++) {
        const paw_lora_slot *s = &t->slots[i];
        char name[160];
        snprintf(name, sizeof name, paw_layer_tensor_specs[PAW_LT_W(s->proj)].name, s->layer);
        strcat(name, ".lora_a");
        if (!paw_gguf_find_tensor(g, name)) continue;
        const paw_gguf_tensor *ta = paw_gguf_find_tensor(g, name);
        if (ta->ne[1] != t->rank) {
            rc = paw_err(PAW_EINVAL, "train: adapter rank %lld, trainer rank %d", (long long)ta->ne[1], t->rank);
            break;
        }
        float *na = realloc(a, sizeof(float) * (size_t)(t->rank * s->n_in));
        if (na) a = na;
        float *nb = na ? realloc(b, sizeof(float) * (size_t)(s->rows * t->rank)) : NULL;
        if (nb) b = nb;
        if (!na || !nb) { rc = paw_err(PAW_ENOMEM, "train: out of memory"); break; }
        if ((rc = load_matrix(g, name, s->n_in, t->rank, a))) break;
        name[strlen(name) - 1] = 'b';
        if ((rc = load_matrix(g, name, t->rank, s->rows, b))) break;
        memcpy(t->params + s->a_off, a, sizeof(float) * (size_t)(t->rank * s->n_in));
        const float k = alpha / t->alpha;
        for (int64_t j = 0; j < s->rows * t->rank; j++) t->params[s->b_off + j] = b[j] * k;
        n_loaded += 2;
    }
    free(a);
    free(b);
    if (!rc && n_loaded != n_tensors)
        rc = paw_err(PAW_EINVAL, "train: %s holds %lld tensors the trainer does not adapt (check --targets)",
                     path, (long long)(n_tensors - n_loaded));
    if (rc) memcpy(t->params, saved, sizeof(float) * (size_t)t->n_params);
    free(saved);
    paw_gguf_close(g);
    return rc;
}

/* -------------------------------------------------------------- PEFT */

/* HF module path of a projection (NULL if it has none). */
static const char *hf_module(const char *arch, int proj)
{
    static const char *llama[PAW_PROJ_COUNT] = {
        [PAW_PROJ_Q] = "self_attn.q_proj", [PAW_PROJ_K] = "self_attn.k_proj",
        [PAW_PROJ_V] = "self_attn.v_proj", [PAW_PROJ_O] = "self_attn.o_proj",
        [PAW_PROJ_GATE] = "mlp.gate_proj", [PAW_PROJ_UP] = "mlp.up_proj", [PAW_PROJ_DOWN] = "mlp.down_proj",
    };
    static const char *gpt2[PAW_PROJ_COUNT] = {
        [PAW_PROJ_QKV] = "attn.c_attn", [PAW_PROJ_O] = "attn.c_proj",
        [PAW_PROJ_UP] = "mlp.c_fc", [PAW_PROJ_DOWN] = "mlp.c_proj",
    };
    return !strcmp(arch, "gpt2") ? gpt2[proj] : llama[proj];
}

/* Writes len bytes to path through a temp file, fsync and rename. */
static int write_atomic(const char *path, const void *const *parts, const size_t *lens, int n)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= sizeof tmp)
        return paw_err(PAW_EINVAL, "train: path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return paw_err(PAW_EIO, "train: cannot create %s: %s", tmp, strerror(errno));
    int ok = 1;
    for (int i = 0; ok && i < n; i++) {
        const uint8_t *p = parts[i];
        size_t left = lens[i];
        while (ok && left) {
            ssize_t k = write(fd, p, left);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) ok = 0;
            else { p += k; left -= (size_t)k; }
        }
    }
    if (ok && fsync(fd)) ok = 0;
    if (close(fd)) ok = 0;
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return paw_err(PAW_EIO, "train: writing %s failed: %s", path, strerror(e));
    }
    return PAW_OK;
}

/* B of a Llama q/k projection in HF row order: GGUF row 2j + half of a head
 * is HF row half * hd/2 + j. */
static void unpermute_rows(float *dst, const float *src, int64_t rows, int64_t r, int hd)
{
    for (int64_t row = 0; row < rows; row++) {
        const int64_t head = row / hd, i = row % hd, j = i / 2, half = i % 2;
        memcpy(dst + (head * hd + half * (hd / 2) + j) * r, src + row * r, (size_t)r * sizeof(float));
    }
}

int paw_trainer_save_peft(const paw_trainer *t, const char *dir, const char *base_model_name)
{
    if (!t || !dir) return paw_err(PAW_EINVAL, "train: NULL argument");
    if (mkdir(dir, 0755) && errno != EEXIST)
        return paw_err(PAW_EIO, "train: cannot create %s: %s", dir, strerror(errno));
    const char *arch = t->model->arch->name;
    const int permute = !strcmp(arch, "llama");
    const paw_hparams *hp = &t->model->hp;
    json_t *hdr = json_object(), *cfg = json_object(), *mods = json_array();
    float *data = malloc((size_t)t->n_params * sizeof(float));
    int rc = !hdr || !cfg || !mods || !data ? paw_err(PAW_ENOMEM, "train: out of memory") : PAW_OK;
    uint64_t off = 0;
    uint32_t seen = 0;
    for (int32_t i = 0; !rc && i < t->n_slots; i++) {
        const paw_lora_slot *s = &t->slots[i];
        const char *mod = hf_module(arch, s->proj);
        if (!mod) { rc = paw_err(PAW_EUNSUPPORTED, "train: no PEFT name for a %s projection", arch); break; }
        if (!(seen & (1u << s->proj))) {
            seen |= 1u << s->proj;
            json_array_append_new(mods, json_string(strrchr(mod, '.') + 1));
        }
        for (int which = 0; which < 2; which++) {
            const int64_t n = which ? s->rows * t->rank : t->rank * s->n_in;
            const float *src = t->params + (which ? s->b_off : s->a_off);
            if (which && permute && (s->proj == PAW_PROJ_Q || s->proj == PAW_PROJ_K))
                unpermute_rows(data + off / 4, src, s->rows, t->rank, hp->head_dim);
            else
                memcpy(data + off / 4, src, (size_t)n * sizeof(float));
            char name[256];
            snprintf(name, sizeof name, "base_model.model.%s.%d.%s.lora_%c.weight",
                     !strcmp(arch, "gpt2") ? "transformer.h" : "model.layers", s->layer, mod,
                     which ? 'B' : 'A');
            json_t *e = json_pack("{s:s, s:[I,I], s:[I,I]}", "dtype", "F32", "shape",
                                  (json_int_t)(which ? s->rows : t->rank),
                                  (json_int_t)(which ? t->rank : s->n_in),
                                  "data_offsets", (json_int_t)off, (json_int_t)(off + (uint64_t)n * 4));
            if (!e || json_object_set_new(hdr, name, e)) { rc = paw_err(PAW_ENOMEM, "train: out of memory"); break; }
            off += (uint64_t)n * 4;
        }
    }
    char *h = NULL, *c = NULL;
    if (!rc) {
        json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
        h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(cfg, "peft_type", json_string("LORA"));
        json_object_set_new(cfg, "task_type", json_string("CAUSAL_LM"));
        json_object_set_new(cfg, "r", json_integer(t->rank));
        json_object_set_new(cfg, "lora_alpha", json_real(t->alpha));
        json_object_set_new(cfg, "lora_dropout", json_real(0.0));
        json_object_set_new(cfg, "bias", json_string("none"));
        json_object_set_new(cfg, "fan_in_fan_out", json_boolean(!strcmp(arch, "gpt2")));
        json_object_set_new(cfg, "inference_mode", json_true());
        json_object_set_new(cfg, "base_model_name_or_path",
                            json_string(base_model_name ? base_model_name : ""));
        json_object_set(cfg, "target_modules", mods);
        c = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!h || !c) rc = paw_err(PAW_ENOMEM, "train: out of memory");
    }
    if (!rc) {
        /* safetensors: u64 header length, JSON header padded with spaces to
         * 8 bytes so the data that follows is aligned, then the data. */
        size_t hl = strlen(h), padded = (hl + 7) & ~(size_t)7;
        char *hp8 = malloc(padded + 8);
        if (!hp8) rc = paw_err(PAW_ENOMEM, "train: out of memory");
        else {
            uint64_t n = padded;
            memcpy(hp8, &n, 8);
            memcpy(hp8 + 8, h, hl);
            memset(hp8 + 8 + hl, ' ', padded - hl);
            char path[4096];
            snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
            const void *parts[2] = { hp8, data };
            size_t lens[2] = { padded + 8, (size_t)off };
            rc = write_atomic(path, parts, lens, 2);
            free(hp8);
        }
    }
    if (!rc) {
        char path[4096];
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        const void *parts[2] = { c, "\n" };
        size_t lens[2] = { strlen(c), 1 };
        rc = write_atomic(path, parts, lens, 2);
    }
    free(h);
    free(c);
    free(data);
    json_decref(hdr);
    json_decref(cfg);
    json_decref(mods);
    return rc;
}
