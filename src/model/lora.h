/* lora.h — the forward pass's side of LoRA adapters (lora.c).  Internal: the
 * public face is the "LoRA adapters" block of paw.h. */
#ifndef PAW_LORA_H
#define PAW_LORA_H
#include <stdint.h>
#include "model/model.h"

/* y[T][rows] += sum over the ctx's adapters of eff_scale * B (A x[T][n_in])
 * for projection `proj` of layer `il`; eff_scale = scale * alpha / r (or
 * scale when the adapter has no alpha, as llama.cpp does).  A no-op when no
 * attached adapter targets this projection. */
void paw_lora_apply(paw_ctx *c, int il, int proj, float *y, const float *x, int64_t T);

/* y = x rounded to F16 (lora_avx2.c; only after paw_cpu_avx2()). */
void paw_lora_round_f16_avx2(float *y, const float *x, int64_t n);

/* Frees the ctx's adapter set (called by paw_ctx_free; NULL is fine). */
void paw_lora_set_free(struct paw_lora_set *s);

#endif
