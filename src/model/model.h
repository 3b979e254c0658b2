/* model.h — the interpreter's three structs (hyperparameters, weights, run
 * state) and the layer functions the forward pass is built from.  Internal:
 * the public face is the interpreter section of paw.h.
 *
 * Memory layout (all f32, row-major, position-major):
 *   activations  x[t * C + c] for t < T tokens of one forward chunk
 *   KV cache     k[layer][pos][kv_dim], v[layer][pos][vo_dim], contiguous per
 *                layer, so a chunk's K projection is written straight into it
 *   logits       [t * n_vocab + v]
 */
#ifndef PAW_MODEL_H
#define PAW_MODEL_H
#include <stdint.h>
#include "paw.h"
#include <pthread.h>
#include "core/i8gemm.h"
#include "core/kernels.h"
#include "model/arch.h"

/* The fstat of the file a GGUF was mapped from, taken when it was opened
 * (its identity for the SHA-256 memo); 0 for a GGUF read from memory. */
struct stat;
int paw_gguf_file_stat(const paw_gguf *g, struct stat *st);

typedef struct paw_hparams {
    int32_t n_vocab, n_embd, n_layer, n_ff;
    int32_t n_head, n_head_kv;
    int32_t head_dim, head_dim_v;   /* attention.key_length / value_length  */
    int32_t n_rot;                  /* rope.dimension_count (<= head_dim)   */
    int32_t n_ctx_train;
    float   rope_base, rope_freq_scale;
    float   norm_eps;
} paw_hparams;

/* A weight matrix as stored in the GGUF: `rows` rows of n_in elements of
 * `type`, pointing into the mapping; b is its bias (f32, rows) or NULL. */
typedef struct paw_mat {
    const void  *w;
    int          type;
    int64_t      rows, n_in;
    const float *b;
} paw_mat;

typedef struct paw_layer {
    paw_mat      proj[PAW_PROJ_COUNT];   /* w == NULL: the arch has none      */
    const float *attn_norm, *attn_norm_b, *ffn_norm, *ffn_norm_b;
    const float *q_norm, *k_norm;        /* per-head RMSNorm weights or NULL  */
} paw_layer;

struct paw_model {
    paw_gguf       *gguf;
    const paw_arch *arch;
    paw_hparams     hp;
    paw_layer      *layers;          /* n_layer                              */
    paw_mat         tok_embd;        /* rows = n_vocab                       */
    paw_mat         pos_embd;        /* learned positions or w == NULL       */
    paw_mat         output;          /* the head; == tok_embd when tied      */
    const float    *out_norm, *out_norm_b;
    const float    *rope_freqs;      /* n_rot/2 divisors or NULL             */
    float          *vecs;            /* owned f32 copies of every 1-D tensor */
    uint8_t         id[32];
    /* Int8 packs of the projections and the head (core/i8gemm.h), made on
     * first use by paw_model_i8 and shared by every ctx and trainer of the
     * model: [n_layer * PAW_PROJ_COUNT], then the head; an entry without
     * data: that matrix's type has no pack. */
    paw_i8pack     *i8;
    pthread_mutex_t i8_lock;
};

/* The model's int8 packs (see above), made on the first call; safe to call
 * from several threads.  PAW_EUNSUPPORTED where the AVX-512 set does not
 * run (paw_i8_fast), PAW_ENOMEM. */
int paw_model_i8(const paw_model *m, const paw_i8pack **out);
/* Index of layer il's projection proj in those packs; the head is
 * PAW_I8_HEAD(m). */
#define PAW_I8_INDEX(il, proj) ((int64_t)(il) * PAW_PROJ_COUNT + (proj))
#define PAW_I8_HEAD(m) ((int64_t)(m)->hp.n_layer * PAW_PROJ_COUNT)

/* Per-stream state.  Scratch buffers are sized for n_batch tokens. */
struct paw_ctx {
    const paw_model *model;
    paw_pool        *pool;
    int32_t  n_ctx, n_batch, n_past;
    int32_t  kv_dim, vo_dim;         /* n_head_kv * head_dim(_v)             */
    int      kv_type;                /* PAW_TYPE_F32 or PAW_TYPE_F16          */
    int      flash_attn;             /* attention as llama.cpp's flash path   */
    const paw_i8pack *i8;            /* the model's int8 packs when the ctx
                                        runs int8 products, else NULL        */
    size_t   kv_elt;                 /* bytes per cached value (4 or 2)       */
    void    *k_cache, *v_cache;      /* [n_layer][n_ctx][kv_dim / vo_dim]    */
    int32_t *tokens;                 /* n_ctx: the ids behind the cache      */
    uint8_t  adapter_id[32];         /* hash of the active adapters, 0 = none */
    struct paw_lora_set *lora;       /* attached adapters (lora.c), or NULL  */
    /* scratch */
    float   *x, *xn, *xb;            /* [n_batch][n_embd]                     */
    float   *q;                      /* [n_batch][n_head * head_dim]          */
    float   *qkv;                    /* [n_batch][q+k+v] (fused arch only)    */
    float   *k_new, *v_new;          /* [n_batch][kv_dim / vo_dim] (f16 cache:
                                        new k/v in f32 before conversion)    */
    float   *att;                    /* [n_batch][n_head * head_dim_v]        */
    float   *ff, *ff2;               /* [n_batch][n_ff]                       */
    float   *scores;                 /* [n_threads][n_ctx]                    */
    float   *vacc;                   /* [n_threads][paw_attn_scratch_floats] */
    float   *rope_cs;                /* [n_batch][n_rot/2][cos, sin]          */
    float   *logits;                 /* [n_vocab]                             */
    float   *logits_all;             /* [cap][n_vocab], grown on demand       */
    int64_t  logits_all_cap;
};

/* ------------------------------------------------------ layer functions
 * Outputs first, then inputs and weights, then sizes (T tokens, C channels).
 * Each has a twin *_backward to be added beside it in the training code. */

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w.  out may equal x. */
void paw_rmsnorm_forward(float *out, const float *x, const float *w, int64_t T, int64_t C, float eps);
/* out[t] = (x[t] - mean) / sqrt(var + eps) * w + b.  out may equal x. */
void paw_layernorm_forward(float *out, const float *x, const float *w, const float *b,
                           int64_t T, int64_t C, float eps);
/* cos/sin table for positions pos0..pos0+T-1: cs[(t*n_rot/2 + i)*2 + {0,1}]. */
void paw_rope_table(float *cs, int64_t pos0, int64_t T, const paw_hparams *hp, const float *freqs);
/* Rotates the first n_rot dims of each of n_heads heads of x[t] in place. */
void paw_rope_forward(float *x, const float *cs, int64_t T, int n_heads, int head_dim,
                      int n_rot, int mode);
/* out = silu(gate) * up, elementwise over n. */
void paw_swiglu_forward(float *out, const float *gate, const float *up, int64_t n);
/* out = gelu(x) (tanh approximation), n elements; out may equal x. */
void paw_gelu_forward(float *out, const float *x, int64_t n);
/* out = gelu(a) (gelu = 1) or swiglu(a, b), split over the pool; the same
 * bits as the single calls above. */
void paw_par_ffn_act(paw_pool *p, int gelu, float *out, const float *a, const float *b, int64_t n);

/* Runs the model over T tokens at positions n_past.. (T <= n_batch), writing
 * K/V into the cache.  logits_out: NULL = none, else T rows (all) or 1 row
 * (the last token) depending on all_rows. */
void paw_forward_chunk(paw_ctx *c, const int32_t *ids, int32_t T, float *logits_out, int all_rows);

/* One attention call of forward.c: T queries at positions pos0.. of one
 * sequence against its layer's cache (k, v).  Work items are (query, head)
 * pairs, run by paw_attention_item; thread ith uses row ith of scores
 * (n_ctx floats apart) and of vacc (vacc_stride floats apart).  Shared with
 * forward_batch.c so that a batch row's attention is the same code. */
typedef struct paw_attn_job {
    float       *out;             /* [T][n_head * head_dim_v]        */
    const float *q;               /* [T][n_head * head_dim]          */
    const void  *k, *v;           /* this layer's cache (f32 or f16)  */
    int          f16, flash;      /* flash: see attn_flash.c          */
    float       *scores;          /* [nth][n_ctx]                     */
    float       *vacc;            /* [nth][vacc_stride]               */
    int64_t      vacc_stride;
    int64_t      T, pos0, n_ctx;
    int          n_head, n_head_kv, head_dim, head_dim_v;
} paw_attn_job;
void paw_attention_item(void *arg, int64_t item, int ith);

/* attn_avx2.c: attention's vector loops (call only when paw_cpu_avx2()). */
/* s[p] = scale * (q . k[p * kstride]) for p < n; returns max s[p].  k holds
 * f32 values, or f16 when f16 (strides count elements). */
float paw_attn_scores_avx2(float *s, const float *q, const void *k, int f16, int64_t kstride,
                           int64_t n, int d, float scale);
/* out[d] = sum_p prob[p] * v[p * vstride + d]; acc: 8 * dv floats. */
void  paw_attn_vsum_avx2(float *out, const float *prob, const void *v, int f16, int64_t vstride,
                         int64_t n, int dv, float *acc);
/* x . y over n floats in llama.cpp's AVX2 order (four 8-lane accumulators
 * over 32-element steps, the tail in double). */
float paw_attn_dot_avx2(const float *x, const float *y, int n);

/* Floats of attention scratch per thread (paw_ctx.vacc): the plain path's 8
 * partial sums of V, or the flash path's half-rounded q, one k row and the
 * accumulator. */
static inline int64_t paw_attn_scratch_floats(const paw_hparams *hp)
{
    const int64_t plain = 8 * (int64_t)hp->head_dim_v, flash = 2 * (int64_t)hp->head_dim + hp->head_dim_v;
    return plain > flash ? plain : flash;
}

/* attn_flash.c: one query of one head in llama.cpp's flash-attention
 * arithmetic (q, k, v as halves, online softmax, half accumulator) over
 * positions 0..n-1; scratch: 2 * d + dv floats. */
void paw_attn_flash(float *out, const float *q, const void *k, const void *v, int f16,
                    int64_t kstride, int64_t vstride, int64_t n, int d, int dv, float scale,
                    float *scratch);

/* The model fingerprint (see paw_model_id). */
int paw_model_compute_id(paw_model *m);

/* A SHA-256 over the model's metadata, tensor table and samples of every
 * tensor's bytes: what a saved KV state is tied to. */
void paw_model_id(const paw_model *m, uint8_t id[32]);

#endif
