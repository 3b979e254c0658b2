/* train_fixtures.h — tiny random models (llama, qwen3, gpt2) written with
 * the GGUF writer, and the finite-difference check of a trainer's gradient
 * on a batch: shared by the training tests. */
#ifndef PAW_TEST_TRAIN_FIXTURES_H
#define PAW_TEST_TRAIN_FIXTURES_H
#include "testutil.h"
#include <math.h>
#include <unistd.h>
#include "paw.h"
#include "train/train.h"
#include "model/gguf.h"

static inline const char *tmp_path(const char *name) { return tu_tmp_path("train", name); }

#define PAW_MAX_D(a, b) ((a) > (b) ? (a) : (b))

static uint64_t rs = 88172645463325252ull;
static inline float frand(void)  /* [-1, 1) */
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ------------------------------------------------------- tiny models */

enum { TV = 24, TE = 16, TH = 4, TKV = 2, THD = 4, TF = 24, TL = 2, TCTX = 64 };

static inline float *rand_vec(int64_t n, float base, float amp)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = base + amp * frand();
    return v;
}

/* A 2-layer model of `arch` with random F32 weights: GQA (4 q heads over 2
 * kv heads) for llama and qwen3, an untied head, biases for gpt2. */
static inline void write_tiny(const char *path, const char *arch)
{
    const int gpt2 = !strcmp(arch, "gpt2"), qwen3 = !strcmp(arch, "qwen3");
    const int nkv = gpt2 ? TH : TKV;
    const int64_t qd = TH * THD, kd = nkv * THD;
    paw_gguf_writer *w = paw_gguf_writer_new();
    char key[96];
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", arch, k), key)
    paw_gguf_writer_set_str(w, "general.architecture", arch, strlen(arch));
    paw_gguf_writer_set_u32(w, KEY("block_count"), TL);
    paw_gguf_writer_set_u32(w, KEY("context_length"), TCTX);
    paw_gguf_writer_set_u32(w, KEY("embedding_length"), TE);
    paw_gguf_writer_set_u32(w, KEY("feed_forward_length"), TF);
    paw_gguf_writer_set_u32(w, KEY("attention.head_count"), TH);
    paw_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), nkv);
    paw_gguf_writer_set_f32(w, gpt2 ? KEY("attention.layer_norm_epsilon")
                                    : KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    if (qwen3) paw_gguf_writer_set_f32(w, KEY("rope.freq_base"), 1000.0f);
#undef KEY
    float *bufs[64];
    int nb = 0;
    char name[96];
#define ADD(nm, ne0, ne1, base, amp) do { \
        int64_t ne_[2] = {(ne0), (ne1)}; \
        bufs[nb] = rand_vec((int64_t)(ne0) * (ne1), (base), (amp)); \
        assert_int_equal(paw_gguf_writer_add_tensor(w, (nm), PAW_TYPE_F32, (ne1) > 1 ? 2 : 1, ne_, bufs[nb]), PAW_OK); \
        nb++; } while (0)
    ADD("token_embd.weight", TE, TV, 0, 1.0f);
    if (gpt2) ADD("position_embd.weight", TE, TCTX, 0, 0.3f);
    ADD("output_norm.weight", TE, 1, 1, 0.2f);
    if (gpt2) ADD("output_norm.bias", TE, 1, 0, 0.1f);
    ADD("output.weight", TE, TV, 0, 0.5f);
    for (int il = 0; il < TL; il++) {
#define L(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        ADD(L("attn_norm.weight"), TE, 1, 1, 0.2f);
        if (gpt2) {
            ADD(L("attn_norm.bias"), TE, 1, 0, 0.1f);
            ADD(L("attn_qkv.weight"), TE, qd + 2 * kd, 0, 0.6f);
            ADD(L("attn_qkv.bias"), qd + 2 * kd, 1, 0, 0.1f);
        } else {
            ADD(L("attn_q.weight"), TE, qd, 0, 0.6f);
            ADD(L("attn_k.weight"), TE, kd, 0, 0.6f);
            ADD(L("attn_v.weight"), TE, kd, 0, 0.6f);
        }
        if (qwen3) {
            ADD(L("attn_q_norm.weight"), THD, 1, 1, 0.2f);
            ADD(L("attn_k_norm.weight"), THD, 1, 1, 0.2f);
        }
        ADD(L("attn_output.weight"), qd, TE, 0, 0.4f);
        if (gpt2) ADD(L("attn_output.bias"), TE, 1, 0, 0.1f);
        ADD(L("ffn_norm.weight"), TE, 1, 1, 0.2f);
        if (gpt2) ADD(L("ffn_norm.bias"), TE, 1, 0, 0.1f);
        if (!gpt2) ADD(L("ffn_gate.weight"), TE, TF, 0, 0.5f);
        ADD(L("ffn_up.weight"), TE, TF, 0, 0.5f);
        if (gpt2) ADD(L("ffn_up.bias"), TF, 1, 0, 0.1f);
        ADD(L("ffn_down.weight"), TF, TE, 0, 0.4f);
        if (gpt2) ADD(L("ffn_down.bias"), TE, 1, 0, 0.1f);
#undef L
    }
#undef ADD
    assert_int_equal(paw_gguf_writer_write(w, path), PAW_OK);
    paw_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
}

static inline paw_model *load_tiny(const char *arch)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.gguf", arch);
    const char *path = tmp_path(nm);
    write_tiny(path, arch);
    paw_model *m = NULL;
    if (paw_model_load(path, &m)) fail_msg("load tiny %s: %s", arch, paw_last_error());
    unlink(path);
    return m;
}

static inline paw_trainer *new_trainer(const paw_model *m, int rank, uint32_t targets, int threads, uint64_t seed)
{
    paw_train_params p = paw_train_params_default();
    p.rank = rank;
    p.alpha = 2.0f * rank;
    p.targets = targets;
    p.n_threads = threads;
    p.seed = seed;
    paw_trainer *t = NULL;
    if (paw_trainer_new(m, &p, &t)) fail_msg("trainer: %s", paw_last_error());
    return t;
}

/* A fixed batch: a 5-token prefix and three examples of 4, 6 and 3 tokens. */
/* ------------------------------------------------------ finite differences */

/* For every adapted projection of every layer, the directional derivative
 * of the loss along a random direction of its A, then of its B, by central
 * differences in double-checked steps, against the analytic gradient. */
typedef struct tbatch {
    const int32_t *prefix;
    int32_t n_prefix;
    const paw_train_example *ex;
    int32_t n_ex;
} tbatch;

static inline void grad_check_batch(const char *arch, const tbatch *bt)
{
    paw_model *m = load_tiny(arch);
    paw_trainer *t = new_trainer(m, 3, PAW_TARGET_ALL, 1, 7);
    /* B starts at zero, which would leave A without gradient: randomise it. */
    for (int32_t i = 0; i < t->n_slots; i++)
        for (int64_t k = 0; k < t->slots[i].rows * t->rank; k++)
            t->params[t->slots[i].b_off + k] = 0.3f * frand();
    double loss;
    assert_int_equal(paw_trainer_run(t, bt->prefix, bt->n_prefix, bt->ex, bt->n_ex, 1, &loss), PAW_OK);
    assert_true(isfinite(loss) && loss > 0);
    const int64_t n = t->n_params;
    float *g = malloc((size_t)n * sizeof(float)), *p0 = malloc((size_t)n * sizeof(float));
    float *dir = calloc((size_t)n, sizeof(float));
    memcpy(g, t->grads, (size_t)n * sizeof(float));
    memcpy(p0, t->params, (size_t)n * sizeof(float));
    double worst = 0;
    uint32_t seen = 0;
    for (int32_t i = 0; i < t->n_slots; i++) {
        const paw_lora_slot *s = &t->slots[i];
        for (int which = 0; which < 2; which++) {
            const int64_t off = which ? s->b_off : s->a_off, cnt = s->rows * t->rank;
            memset(dir, 0, (size_t)n * sizeof(float));
            /* A random unit direction plus the unit gradient: the slope is
             * then never tiny, so fp32 rounding in the loss stays far below
             * the 1e-3 bound. */
            double an = 0, nn = 0, ng = 0;
            for (int64_t k = 0; k < cnt; k++) {
                dir[off + k] = frand();
                nn += (double)dir[off + k] * dir[off + k];
                ng += (double)g[off + k] * g[off + k];
            }
            double nd = 0;
            for (int64_t k = 0; k < cnt; k++) {
                dir[off + k] = (float)(dir[off + k] / sqrt(nn) + (ng > 0 ? g[off + k] / sqrt(ng) : 0));
                nd += (double)dir[off + k] * dir[off + k];
            }
            for (int64_t k = 0; k < cnt; k++) {
                dir[off + k] /= (float)sqrt(nd);
                an += (double)g[off + k] * dir[off + k];
            }
            /* Five-point central difference (error O(h^4)) with steps of
             * 1e-2 and 2e-2 along the unit direction. */
            const float h = 1e-2f;
            double l[4];
            const float steps[4] = {2 * h, h, -h, -2 * h};
            for (int si = 0; si < 4; si++) {
                for (int64_t k = 0; k < n; k++) t->params[k] = p0[k] + steps[si] * dir[k];
                assert_int_equal(paw_trainer_run(t, bt->prefix, bt->n_prefix, bt->ex, bt->n_ex, 0, &l[si]), PAW_OK);
            }
            memcpy(t->params, p0, (size_t)n * sizeof(float));
            const double fd = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12.0 * h);
            const double rel = fabs(fd - an) / PAW_MAX_D(PAW_MAX_D(fabs(fd), fabs(an)), 1e-4);
            if (rel > worst) worst = rel;
            if (rel > 1e-3)
                fail_msg("%s layer %d proj %d lora_%c: analytic %.8g vs numeric %.8g (rel %.2e)",
                         arch, s->layer, s->proj, which ? 'b' : 'a', an, fd, rel);
            seen |= 1u << s->proj;
        }
    }
    print_message("%s: %d slots, worst relative error %.2e\n", arch, t->n_slots, worst);
    assert_int_equal(seen, t->targets);
    free(g);
    free(p0);
    free(dir);
    paw_trainer_free(t);
    paw_model_free(m);
}

#endif
