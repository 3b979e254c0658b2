/* arch.h — transformer architectures described as data.
 *
 * GGUF names tensors the same way for every architecture ("blk.3.attn_q.weight"),
 * so one table lists every weight a model may have, with its shape written in
 * terms of the hyperparameters.  An architecture is then a row saying which of
 * those weights it requires, which are optional, and how its layers compute:
 * norm kind, feed-forward kind, rope mode, q/k norm, learned positions.
 * Adding an architecture of the same family is one row in arch.c. */
#ifndef PAW_ARCH_H
#define PAW_ARCH_H
#include <stdint.h>

enum paw_norm_kind { PAW_NORM_RMS, PAW_NORM_LAYER };
enum paw_ffn_kind  { PAW_FFN_SWIGLU, PAW_FFN_GELU };
/* NORMAL rotates adjacent pairs (x[2i], x[2i+1]); NEOX rotates the two halves
 * (x[i], x[i + n_rot/2]). */
enum paw_rope_mode { PAW_ROPE_NONE, PAW_ROPE_NORMAL, PAW_ROPE_NEOX };

/* The linear projections of a layer: what LoRA adapters attach to. */
enum paw_proj {
    PAW_PROJ_Q, PAW_PROJ_K, PAW_PROJ_V,
    PAW_PROJ_QKV,               /* fused q|k|v (GPT-2's c_attn)        */
    PAW_PROJ_O,
    PAW_PROJ_GATE, PAW_PROJ_UP, PAW_PROJ_DOWN,
    PAW_PROJ_COUNT
};

/* Symbolic dimensions a tensor shape is written in. */
enum paw_dim {
    PAW_D_NONE,   /* unused dimension (1)                         */
    PAW_D_EMBD,   /* n_embd                                       */
    PAW_D_Q,      /* n_head * head_dim                            */
    PAW_D_KV,     /* n_head_kv * head_dim                         */
    PAW_D_VO,     /* n_head_kv * head_dim_v                       */
    PAW_D_ATT,    /* n_head * head_dim_v (attention output)       */
    PAW_D_QKV,    /* PAW_D_Q + PAW_D_KV + PAW_D_VO                */
    PAW_D_FF,     /* n_ff                                         */
    PAW_D_HEAD,   /* head_dim                                     */
    PAW_D_ROT2,   /* n_rot / 2                                    */
    PAW_D_VOCAB,  /* n_vocab                                      */
    PAW_D_CTX,    /* n_ctx_train                                  */
};

/* Every per-layer weight.  Projections come first, in enum paw_proj order,
 * so that PAW_LT_W(p) / PAW_LT_B(p) find a projection's weight and bias. */
enum paw_layer_tensor {
    PAW_LT_Q, PAW_LT_K, PAW_LT_V, PAW_LT_QKV, PAW_LT_O, PAW_LT_GATE, PAW_LT_UP, PAW_LT_DOWN,
    PAW_LT_Q_B, PAW_LT_K_B, PAW_LT_V_B, PAW_LT_QKV_B, PAW_LT_O_B,
    PAW_LT_GATE_B, PAW_LT_UP_B, PAW_LT_DOWN_B,
    PAW_LT_ATTN_NORM, PAW_LT_ATTN_NORM_B, PAW_LT_FFN_NORM, PAW_LT_FFN_NORM_B,
    PAW_LT_Q_NORM, PAW_LT_K_NORM,
    PAW_LT_COUNT
};
#define PAW_LT_W(proj) ((enum paw_layer_tensor)(proj))
#define PAW_LT_B(proj) ((enum paw_layer_tensor)(PAW_LT_Q_B + (proj)))

enum paw_global_tensor {
    PAW_GT_TOK_EMBD, PAW_GT_POS_EMBD, PAW_GT_OUT_NORM, PAW_GT_OUT_NORM_B, PAW_GT_OUTPUT,
    PAW_GT_ROPE_FREQS,
    PAW_GT_COUNT
};

/* How a tensor is named and shaped.  ne[0] is GGUF's innermost dimension
 * (a matrix's n_in), ne[1] its rows. */
typedef struct paw_tensor_spec {
    const char *name;      /* printf pattern; "%d" is the layer index   */
    uint8_t     ne[2];     /* enum paw_dim                              */
} paw_tensor_spec;

extern const paw_tensor_spec paw_layer_tensor_specs[PAW_LT_COUNT];
extern const paw_tensor_spec paw_global_tensor_specs[PAW_GT_COUNT];

enum { PAW_REQ_NO = 0, PAW_REQ_YES = 1, PAW_REQ_OPT = 2 };

typedef struct paw_arch {
    const char *name;            /* general.architecture                     */
    uint8_t     norm;            /* enum paw_norm_kind                       */
    uint8_t     ffn;             /* enum paw_ffn_kind                        */
    uint8_t     rope;            /* enum paw_rope_mode                       */
    uint8_t     layer_req[PAW_LT_COUNT];   /* PAW_REQ_* per layer tensor      */
    uint8_t     global_req[PAW_GT_COUNT];  /* PAW_GT_OUTPUT optional = tied  */
} paw_arch;

/* The architecture called `name`, or NULL. */
const paw_arch *paw_arch_find(const char *name);
/* Names the architectures paw runs, comma-separated (for error messages). */
const char *paw_arch_list(void);

#endif
