/* arch.c — the tensor table and the architectures paw runs (see arch.h). */
#include <string.h>
#include "model/arch.h"

const paw_tensor_spec paw_layer_tensor_specs[PAW_LT_COUNT] = {
    [PAW_LT_Q]           = {"blk.%d.attn_q.weight",      {PAW_D_EMBD, PAW_D_Q}},
    [PAW_LT_K]           = {"blk.%d.attn_k.weight",      {PAW_D_EMBD, PAW_D_KV}},
    [PAW_LT_V]           = {"blk.%d.attn_v.weight",      {PAW_D_EMBD, PAW_D_VO}},
    [PAW_LT_QKV]         = {"blk.%d.attn_qkv.weight",    {PAW_D_EMBD, PAW_D_QKV}},
    [PAW_LT_O]           = {"blk.%d.attn_output.weight", {PAW_D_ATT, PAW_D_EMBD}},
    [PAW_LT_GATE]        = {"blk.%d.ffn_gate.weight",    {PAW_D_EMBD, PAW_D_FF}},
    [PAW_LT_UP]          = {"blk.%d.ffn_up.weight",      {PAW_D_EMBD, PAW_D_FF}},
    [PAW_LT_DOWN]        = {"blk.%d.ffn_down.weight",    {PAW_D_FF, PAW_D_EMBD}},
    [PAW_LT_Q_B]         = {"blk.%d.attn_q.bias",        {PAW_D_Q, PAW_D_NONE}},
    [PAW_LT_K_B]         = {"blk.%d.attn_k.bias",        {PAW_D_KV, PAW_D_NONE}},
    [PAW_LT_V_B]         = {"blk.%d.attn_v.bias",        {PAW_D_VO, PAW_D_NONE}},
    [PAW_LT_QKV_B]       = {"blk.%d.attn_qkv.bias",      {PAW_D_QKV, PAW_D_NONE}},
    [PAW_LT_O_B]         = {"blk.%d.attn_output.bias",   {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_GATE_B]      = {"blk.%d.ffn_gate.bias",      {PAW_D_FF, PAW_D_NONE}},
    [PAW_LT_UP_B]        = {"blk.%d.ffn_up.bias",        {PAW_D_FF, PAW_D_NONE}},
    [PAW_LT_DOWN_B]      = {"blk.%d.ffn_down.bias",      {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_ATTN_NORM]   = {"blk.%d.attn_norm.weight",   {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_ATTN_NORM_B] = {"blk.%d.attn_norm.bias",     {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_FFN_NORM]    = {"blk.%d.ffn_norm.weight",    {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_FFN_NORM_B]  = {"blk.%d.ffn_norm.bias",      {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_LT_Q_NORM]      = {"blk.%d.attn_q_norm.weight", {PAW_D_HEAD, PAW_D_NONE}},
    [PAW_LT_K_NORM]      = {"blk.%d.attn_k_norm.weight", {PAW_D_HEAD, PAW_D_NONE}},
};

const paw_tensor_spec paw_global_tensor_specs[PAW_GT_COUNT] = {
    [PAW_GT_TOK_EMBD]   = {"token_embd.weight",    {PAW_D_EMBD, PAW_D_VOCAB}},
    [PAW_GT_POS_EMBD]   = {"position_embd.weight", {PAW_D_EMBD, PAW_D_CTX}},
    [PAW_GT_OUT_NORM]   = {"output_norm.weight",   {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_GT_OUT_NORM_B] = {"output_norm.bias",     {PAW_D_EMBD, PAW_D_NONE}},
    [PAW_GT_OUTPUT]     = {"output.weight",        {PAW_D_EMBD, PAW_D_VOCAB}},
    [PAW_GT_ROPE_FREQS] = {"rope_freqs.weight",    {PAW_D_ROT2, PAW_D_NONE}},
};

#define Y PAW_REQ_YES
#define O PAW_REQ_OPT

static const paw_arch archs[] = {
    {   /* Llama 2/3, SmolLM2, TinyStories: RMSNorm, SwiGLU, rope on adjacent pairs.
         * Some converted Llama-family models carry q/k/v/o biases. */
        .name = "llama", .norm = PAW_NORM_RMS, .ffn = PAW_FFN_SWIGLU, .rope = PAW_ROPE_NORMAL,
        .layer_req = {
            [PAW_LT_ATTN_NORM] = Y, [PAW_LT_Q] = Y, [PAW_LT_K] = Y, [PAW_LT_V] = Y, [PAW_LT_O] = Y,
            [PAW_LT_Q_B] = O, [PAW_LT_K_B] = O, [PAW_LT_V_B] = O, [PAW_LT_O_B] = O,
            [PAW_LT_FFN_NORM] = Y, [PAW_LT_GATE] = Y, [PAW_LT_UP] = Y, [PAW_LT_DOWN] = Y,
        },
        .global_req = { [PAW_GT_TOK_EMBD] = Y, [PAW_GT_OUT_NORM] = Y, [PAW_GT_OUTPUT] = O,
                        [PAW_GT_ROPE_FREQS] = O },
    },
    {   /* Qwen3: Llama plus a per-head RMSNorm of q and k before rope; rope on halves. */
        .name = "qwen3", .norm = PAW_NORM_RMS, .ffn = PAW_FFN_SWIGLU, .rope = PAW_ROPE_NEOX,
        .layer_req = {
            [PAW_LT_ATTN_NORM] = Y, [PAW_LT_Q] = Y, [PAW_LT_K] = Y, [PAW_LT_V] = Y, [PAW_LT_O] = Y,
            [PAW_LT_Q_NORM] = Y, [PAW_LT_K_NORM] = Y,
            [PAW_LT_FFN_NORM] = Y, [PAW_LT_GATE] = Y, [PAW_LT_UP] = Y, [PAW_LT_DOWN] = Y,
        },
        .global_req = { [PAW_GT_TOK_EMBD] = Y, [PAW_GT_OUT_NORM] = Y, [PAW_GT_OUTPUT] = O },
    },
    {   /* GPT-2: LayerNorm with bias, fused biased qkv, GELU MLP, learned positions. */
        .name = "gpt2", .norm = PAW_NORM_LAYER, .ffn = PAW_FFN_GELU, .rope = PAW_ROPE_NONE,
        .layer_req = {
            [PAW_LT_ATTN_NORM] = Y, [PAW_LT_ATTN_NORM_B] = Y,
            [PAW_LT_QKV] = Y, [PAW_LT_QKV_B] = Y, [PAW_LT_O] = Y, [PAW_LT_O_B] = Y,
            [PAW_LT_FFN_NORM] = Y, [PAW_LT_FFN_NORM_B] = Y,
            [PAW_LT_UP] = Y, [PAW_LT_UP_B] = Y, [PAW_LT_DOWN] = Y, [PAW_LT_DOWN_B] = Y,
        },
        .global_req = { [PAW_GT_TOK_EMBD] = Y, [PAW_GT_POS_EMBD] = Y, [PAW_GT_OUT_NORM] = Y,
                        [PAW_GT_OUT_NORM_B] = Y, [PAW_GT_OUTPUT] = O },
    },
};

#undef Y
#undef O

const paw_arch *paw_arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const char *paw_arch_list(void) { return "llama, qwen3, gpt2"; }
