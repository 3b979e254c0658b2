/* train.h — the training side of the interpreter (internal; the public face
 * is the "training" block of paw.h).
 *
 * Layers of src/train:
 *   backward.c  one *_backward per forward layer function of forward.c (same
 *               argument order: gradients written first, then the forward's
 *               inputs and weights, then sizes); dX = dY·W straight from the
 *               quantised rows of a frozen W (the exact path); paw_gemm_acc,
 *               the small dense product of attention and LoRA.
 *   backward_avx2.c  its AVX2 kernels, a vector e^x and what uses it.
 *   attention.c the training attention over a packed batch (keeps its
 *               probabilities), forward and backward, as blocked products.
 *   lora_grad.c the LoRA path of a projection, forward and backward.
 *   rows.c      per-element and per-row steps (norms, activations, residual
 *               adds, the loss rows' softmax) over the thread pool.
 *   trainer.c   LoRA parameters and the model forward/backward over a packed
 *               batch (shared prefix + examples), loss.
 *   adamw.c     AdamW, global-norm clipping, learning-rate schedule.
 *   export.c    adapters as llama.cpp GGUF and as PEFT safetensors.
 *   epoch.c     the seeded epoch order of the examples, and splitmix64.
 *
 * Backward functions ADD into their gradient outputs (zeroing is a visible,
 * separate step), except where a comment says "writes". */
#ifndef PAW_TRAIN_H
#define PAW_TRAIN_H
#include <stdint.h>
#include "paw.h"
#include "core/i8gemm.h"
#include "core/kernels.h"
#include "model/model.h"

/* splitmix64: the seeded generator behind adapter init and example order. */
uint64_t paw_splitmix64(uint64_t *state);

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

/* Attention over a packed batch (attention.c).  A segment is the shared
 * prefix or one example: rows [row0, row0 + len), which see the keys
 * [0, pre_end) (the prefix) and their own segment up to themselves. */
typedef struct paw_attn_seg {
    int32_t row0, len, pre_end;
} paw_attn_seg;

/* Query rows per block: a block's probabilities are one dense matrix. */
#define PAW_ATTN_ROWS 48

/* Rows [r0, r1) of segment seg (local indices); per head, its probabilities
 * are [r1 - r0][width] at probs + h * per_head + off, width = pre_end + r1
 * (column c < pre_end is key c, else key row0 + c - pre_end), with zeros
 * where the causal mask hides a key. */
typedef struct paw_attn_item {
    int32_t seg, r0, r1, width;
    int64_t off;
} paw_attn_item;

typedef struct paw_attn_layout {
    const paw_attn_seg  *segs;
    const paw_attn_item *items;
    const int32_t       *kblocks;    /* paw_attn_key_blocks()                 */
    int32_t              n_seg, n_items, n_kblocks;
    int64_t              per_head;   /* probability floats of one head        */
} paw_attn_layout;

/* Fills items (NULL: counts only) and per_head; returns the item count. */
int32_t paw_attn_items(paw_attn_item *items, const paw_attn_seg *segs, int32_t n_seg,
                       int64_t *per_head);
/* Fills kb[3 * i..] = segment, first key, end key of the i-th block of keys
 * that the backward's dK/dV work is split into (NULL: counts only). */
int32_t paw_attn_key_blocks(int32_t *kb, const paw_attn_seg *segs, int32_t n_seg);

/* Largest head size the training attention takes (paw_trainer_new checks). */
#define PAW_TRAIN_MAX_HEAD 512

typedef struct paw_attn_shape {
    int64_t T;
    int     n_head, n_head_kv, head_dim, head_dim_v;
} paw_attn_shape;

/* q [T][n_head*hd], k [T][n_kv*hd], v [T][n_kv*hdv], out [T][n_head*hdv]
 * (writes); probs receives the softmax rows (n_head * per_head floats). */
void paw_attention_train_forward(paw_pool *p, float *out, float *probs, const float *q,
                                 const float *k, const float *v, const paw_attn_layout *l,
                                 const paw_attn_shape *s, float *scratch);
/* dq, dk, dv += the gradient of the above given dout. */
void paw_attention_train_backward(paw_pool *p, float *dq, float *dk, float *dv, const float *dout,
                                  const float *probs, const float *q, const float *k,
                                  const float *v, const paw_attn_layout *l,
                                  const paw_attn_shape *s, float *scratch);
/* Floats of scratch either direction needs. */
int64_t paw_attention_scratch_floats(const paw_attn_layout *l, const paw_attn_shape *s);
/* C[t][c] = (acc ? C[t][c] : 0) + sum_r A[t*as + r*ar] B[r*ldb + c] for
 * t < nt, c < nc, r < nr (rows of C ldc floats apart), each element one FMA
 * chain over r ascending: the small products of attention and LoRA.  The
 * _avx2 kernel (backward_avx2.c) only after paw_cpu_avx2(), the _avx512 one
 * (backward_avx512.c) only on the AVX-512 set; all three give the same bits. */
void paw_gemm_acc(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar, const float *B,
                  int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc);
void paw_gemm_acc_avx2(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                       const float *B, int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc);
/* The same bits on 512-bit registers (backward_avx512.c; the AVX-512 set). */
void paw_gemm_acc_avx512(float *C, int64_t ldc, const float *A, int64_t as, int64_t ar,
                         const float *B, int64_t ldb, int64_t nt, int64_t nc, int64_t nr, int acc);

/* backward_avx2.c, only after paw_cpu_avx2(), with a vector e^x (within a
 * few ulp of expf): one attention softmax row of n scaled scores, zeros after n
 * up to w; its backward in place (d: dP in, dS out); sum_i e^(x_i - m) in
 * double; x = w e^(x - m); paw_swiglu_backward and paw_swiglu_forward. */
void   paw_softmax_row_avx2(float *p, int64_t n, int64_t w, float scale);
void   paw_dsoftmax_row_avx2(float *d, const float *p, int64_t n, int64_t w, float scale);
double paw_exp_sum_avx2(const float *x, int64_t n, float m);
void   paw_exp_scale_avx2(float *x, int64_t n, float m, float w);
void   paw_swiglu_backward_avx2(float *dgate, float *dup, const float *dout, const float *gate,
                                const float *up, int64_t n);
void   paw_swiglu_forward_avx2(float *out, const float *gate, const float *up, int64_t n);

/* rows.c: the per-element and per-row steps of a layer over the pool, each
 * element computed by the serial function named (same results), except
 * SwiGLU, whose AVX2 twins use the vector e^x (within a few ulp of expf). */
void paw_par_swiglu_forward(paw_pool *p, float *h, const float *gate, const float *up, int64_t n);
void paw_par_swiglu_backward(paw_pool *p, float *dgate, float *dup, const float *dout,
                             const float *gate, const float *up, int64_t n);
void paw_par_gelu_forward(paw_pool *p, float *h, const float *x, int64_t n);
void paw_par_gelu_backward(paw_pool *p, float *dx, const float *dout, const float *x, int64_t n);
/* out = a + b */
void paw_par_add(paw_pool *p, float *out, const float *a, const float *b, int64_t n);
/* The model's norm over T rows: out = norm(x) (dy NULL), or its backward
 * out += d norm(x)/dx · dy. */
void paw_par_norm(paw_pool *p, const paw_model *m, float *out, const float *dy, const float *x,
                  const float *w, const float *bias, int64_t T);
/* Rope (or its backward) on N rows of n_heads heads; row i at position
 * pos[i] of the table cs (paw_rope_table's layout). */
void paw_par_rope(paw_pool *p, float *x, const float *cs, const int32_t *pos, int64_t N,
                  int n_heads, int head_dim, int n_rot, int mode, int backward);
/* Cross-entropy of n logit rows: row_loss[i] = w[i] (lse - logit[tgt[i]]);
 * with want_grad the rows become w[i] (softmax - onehot(tgt[i])).  choice
 * (may be NULL, and so may choice[i]): row i's softmax spans only the ids
 * choice[i][0..n_choice[i]) (distinct, tgt[i] among them, at most
 * PAW_TRAIN_MAX_CHOICES); its gradient is 0 at every other id. */
void paw_par_xent(paw_pool *p, float *logits, int64_t V, int64_t n, const int32_t *tgt,
                  const float *w, const int32_t *const *choice, const int32_t *n_choice, int want_grad,
                  double *row_loss);

/* The LoRA path of one projection (lora_grad.c): A [r][n_in], B [rows][r].
 * Forward: u = x Aᵀ (writes, [T][r]) and y += s u Bᵀ; scratch
 * (n_in + rows) * r floats. */
void paw_lora_forward(paw_pool *p, float *y, float *u, const float *x, const float *A,
                      const float *B, int64_t T, int64_t n_in, int64_t rows, int r, float s,
                      float *scratch);
/* Backward given dY: du = s dY B (writes), dX += add (if not NULL) + du A
 * (unless dX is NULL), gA += duᵀ x, gB += s dYᵀ u; scratch r * rows floats. */
void paw_lora_backward(paw_pool *p, float *dX, const float *add, float *du, const float *dY,
                       const float *x, const float *u, const float *A, const float *B,
                       float *gA, float *gB, int64_t T, int64_t n_in, int64_t rows, int r,
                       float s, float *scratch);

/* dX[t][k] (+)= sum_r dY[t][r] W[r][k]: the input gradient of Y = X Wᵀ,
 * computed from W's stored (quantised) rows, dequantised one panel at a time
 * and reused for all T tokens.  accumulate = 0 writes dX. */
void paw_matmul_backward(paw_pool *p, float *dX, const void *W, int type, int64_t rows,
                         int64_t n_in, const float *dY, int64_t T, int accumulate);
/* backward_avx2.c: dX[t][c] += sum_r dY[t][r] P[r][c] over one f32 panel
 * (rows ldx/ldy/ldp floats apart).  Only after paw_cpu_avx2(). */
void paw_panel_backward_avx2(float *dX, int64_t ldx, const float *dY, int64_t ldy,
                             const float *P, int64_t ldp, int64_t T, int64_t nr, int64_t cw);
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
    /* Int8 copies of the frozen weights, indexed [n_layer * PAW_PROJ_COUNT]
     * per projection, then the output head.  With the AVX-512 set
     * (paw_i8_fast) they are row-interleaved packs (core/i8gemm.h): fwd of
     * W for the forward (the model's own, paw_model_i8), bwd of Wᵀ for the
     * int8 backward (an entry without data: none).  Elsewhere the backward's Wᵀ is Q8_0 rows (wt, in
     * wt_mem; NULL entries: the f32 path) through the GGUF-row kernels and
     * the forward reads W's own rows. */
    const paw_i8pack *fwd;
    paw_i8pack      *bwd;
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
double paw_adamw_update(paw_pool *p, const paw_adamw *o, int32_t step, float *params,
                        float *grads, float *m, float *v, int64_t n);

/* The order in which to visit n training examples: epochs of a shuffle drawn
 * from the seed (every example once per epoch; the same seed, the same
 * order).  `paw train` and paw_compile fill their batches from it. */
typedef struct paw_epoch_order paw_epoch_order;
int     paw_epoch_order_new(int32_t n, uint64_t seed, paw_epoch_order **out);
int32_t paw_epoch_order_next(paw_epoch_order *o);   /* an index in [0, n) */
void    paw_epoch_order_free(paw_epoch_order *o);

#endif
