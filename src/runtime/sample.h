/* sample.h — the token sampler behind paw_generate (temperature, top-k,
 * top-p).  Not part of the API: callers choose sampling through paw_sampling. */
#ifndef PAW_SAMPLE_H
#define PAW_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

typedef struct paw_sampler paw_sampler;
int     paw_sampler_new(const paw_sampling *p, int32_t n_vocab, paw_sampler **out);
void    paw_sampler_free(paw_sampler *s);
/* Picks a token from logits[0..n_vocab). */
int32_t paw_sampler_sample(paw_sampler *s, const float *logits);

#endif
