/* train.h — the training side of the interpreter (internal; the public face
 * is the "training" block of paw.h).
 *
 * Layers of src/train:
 *   backward.c  one *_backward per forward layer function of forward.c (same
 *               argument order: gradients written first, then the forward's
 *               inputs and weights, then sizes), the training attention
 *               (which keeps its probabilities) and the two products a
 *               backward pass needs: dX = dY·W straight from the quantised
 *               rows of a frozen W, and outer-product accumulation for dA/dB.
 *   trainer.c   LoRA parameters and the model forward/backward over a packed
 *               batch (shared prefix + examples), loss.
 *   adamw.c     AdamW, global-norm clipping, learning-rate schedule.
 *   export.c    adapters as llama.cpp GGUF and as PEFT safetensors.
 *
 * Backward functions ADD into their gradient outputs (zeroing is a visible,
 * separate step), except where a comment says "writes". */
#ifndef PAW_TRAIN_H
#define PAW_TRAIN_H
#include <stdint.h>
#include "paw.h"
#include "core/kernels.h"
#include "model/model.h"

/* ------------------------------------------------------------- layers */

/* dx += d(rmsnorm(x) * w)/dx · dy, rows of C; w frozen. */
void paw_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w,
                          int64_t T, int64_t C, float eps);
/* dx += d(layernorm(x) * w + b)/dx · dy; w, b frozen. */
void paw_layernorm_backward(float *dx, const float *dy, const float *x, const float *w,
                            int64_t T, int64_t C, float eps);
/* In place: dx = R(-theta) dx, the transpose of paw_rope_forward's rotation.
 * cs as paw_rope_forward (one row per token). */
void paw_rope_backward(float *dx, const float *cs, int64_t T, int n_heads, int head_dim,
                       int n_rot, int mode);
/* dgate += dout * up * silu'(gate); dup += dout * silu(gate). */
void paw_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                         const float *up, int64_t n);
/* dx += dout * gelu'(x) (tanh approximation). */
void paw_gelu_backward(float *dx, const float *dout, const float *x, int64_t n);

/* Which keys a packed-batch token sees: positions [0, pre_end) (the shared
 * prefix, or for a prefix token the prefix up to itself) and its own
 * segment's [own_start, t]. */
typedef struct paw_attn_span {
    int32_t pre_end, own_start;
} paw_attn_span;

/* Causal attention over a packed batch.  q [T][n_head*hd], k [T][n_kv*hd],
 * v [T][n_kv*hdv], out [T][n_head*hdv] (writes); probs receives the softmax
 * rows: item (t, h) at probs + poff[t] + h * n_keys(t), where n_keys(t) =
 * pre_end + (t - own_start + 1 if own_start <= t). */
/* Largest head size the training attention takes (paw_trainer_new checks). */
#define PAW_TRAIN_MAX_HEAD 512

typedef struct paw_attn_shape {
    int64_t T;
    int     n_head, n_head_kv, head_dim, head_dim_v;
} paw_attn_shape;
void paw_attention_train_forward(paw_pool *p, float *out, float *probs, const float *q,
                                 const float *k, const float *v, const paw_attn_span *span,
                                 const int64_t *poff, const paw_attn_shape *s);
/* dq, dk, dv += the gradient of the above given dout.  scratch: per-thread
 * K/V gradients, paw_attention_scratch_floats() floats. */
void paw_attention_train_backward(paw_pool *p, float *dq, float *dk, float *dv, const float *dout,
                                  const float *probs, const float *q, const float *k,
                                  const float *v, const paw_attn_span *span, const int64_t *poff,
                                  const paw_attn_shape *s, float *scratch);
int64_t paw_attention_scratch_floats(int nth, const paw_attn_shape *s);

/* dX[t][k] (+)= sum_r dY[t][r] W[r][k]: the input gradient of Y = X Wᵀ,
 * computed from W's stored (quantised) rows, dequantised one panel at a time
 * and reused for all T tokens.  accumulate = 0 writes dX. */
void paw_matmul_backward(paw_pool *p, float *dX, const void *W, int type, int64_t rows,
                         int64_t n_in, const float *dY, int64_t T, int accumulate);
/* backward_avx2.c: dX[t][c] += sum_r dY[t][r] P[r][c] over one f32 panel
 * (rows ldx/ldy/ldp floats apart).  Only after paw_cpu_avx2(). */
void paw_panel_backward_avx2(float *dX, int64_t ldx, const float *dY, int64_t ldy,
                             const float *P, int64_t ldp, int64_t T, int64_t nr, int64_t cw);
/* backward_avx2.c: sum a[i] b[i] and y += a x over n floats (attention's
 * vector loops; only after paw_cpu_avx2()). */
float paw_dot_avx2(const float *a, const float *b, int64_t n);
void  paw_axpy_avx2(float *y, float a, const float *x, int64_t n);
/* The training attention's pool tasks built with those inlined (the job is
 * attn_train.inc's attn_train_job). */
void  paw_attn_fwd_task_avx2(void *job, int ith, int nth);
void  paw_attn_bwd_task_avx2(void *job, int ith, int nth);
/* G[o][j] += s * sum_t A[t][o] B[t][j] for o < ro, j < cj: the weight
 * gradient of a linear map (dB = s dYᵀ U, dA = dUᵀ X). */
void paw_outer_accumulate(paw_pool *p, float *G, const float *A, int64_t ro, const float *B,
                          int64_t cj, int64_t T, float s);

/* --------------------------------------------------------------- LoRA */

/* One adapted projection: A [r][n_in], B [rows][r] inside the trainer's flat
 * parameter vector (and at the same offsets in grads and Adam moments). */
typedef struct paw_lora_slot {
    int32_t layer, proj;
    int64_t n_in, rows;
    int64_t a_off, b_off;            /* offsets into params (floats)         */
} paw_lora_slot;

typedef struct paw_adamw {
    float   lr, beta1, beta2, eps, weight_decay, clip;
    int32_t warmup, total;
    int     schedule;                /* enum paw_lr_schedule                 */
} paw_adamw;

struct paw_trainer {
    const paw_model *model;
    paw_pool        *pool;
    int              n_threads;
    int32_t          rank;
    float            alpha, scale;   /* scale = alpha / rank                 */
    uint32_t         targets;        /* PAW_TARGET_* bits actually adapted   */
    int32_t          n_slots;
    paw_lora_slot   *slots;
    int32_t         *slot_of;        /* [n_layer][PAW_PROJ_COUNT], -1 = none */
    int64_t          n_params;
    float           *params, *grads, *m, *v;   /* one allocation, 4 x n_params */
    paw_adamw        opt;
    int32_t          step;           /* optimiser steps taken                */
    double           last_grad_norm;
    /* Q8_0 copies of Wᵀ for the int8 backward (NULL entries: f32 path):
     * [n_layer * PAW_PROJ_COUNT] per projection, then the output head */
    void           **wt;
    void            *wt_mem;
    /* activation arena, grown on demand (see trainer.c: plan) */
    void            *arena;
    size_t           arena_bytes;
};

/* Gradient of the mean loss with respect to every LoRA parameter (writes
 * t->grads) and the loss; grads may be skipped (want_grad = 0). */
int paw_trainer_run(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                    const paw_train_example *ex, int32_t n_ex, int want_grad, double *loss);

/* Learning rate at step `step` (0-based) of the schedule. */
float paw_adamw_lr(const paw_adamw *o, int32_t step);
/* Clips grads to the global norm o->clip (0 = no clip) and applies one AdamW
 * update (step is 1-based for the bias correction).  Returns the norm before
 * clipping. */
double paw_adamw_update(const paw_adamw *o, int32_t step, float *params, float *grads,
                        float *m, float *v, int64_t n);

#endif
