/* program.h — what the program runtime shares with training: the exact
 * token ids a call evaluates.  Not part of the API. */
#ifndef PAW_PROGRAM_INTERNAL_H
#define PAW_PROGRAM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* The token ids a call evaluates, for training on exactly what inference
 * sees: the template prefix (owned by the handle), and for an input the ids
 * after the prefix: tokens(input + the suffix's plain text) + the suffix's
 * tokenized rest (*ids malloc'd). */
const int32_t *paw_program_prefix_ids(const paw_program *p, int32_t *n);
int  paw_program_input_ids(paw_program *p, const char *input, size_t len, int32_t **ids, size_t *n);

/* For program_batch.c (paw_program_call_batch): a call's preparation,
 * shared with paw_program_call (ids of input + suffix, the context check,
 * the cache rewound; *run/n: what to evaluate next, *ids to free), and the
 * handle's parts. */
struct paw_labels;
int  paw_program_prepare(paw_program *p, const char *input, size_t len, int32_t **ids,
                         const int32_t **run, size_t *n);
paw_ctx                 *paw_program_ctx(paw_program *p);
const paw_tokenizer     *paw_program_tok(const paw_program *p);
const struct paw_labels *paw_program_labels(const paw_program *p);
paw_program_stats       *paw_program_stats_of(paw_program *p);
/* Invalid UTF-8 replaced, surrounding ASCII whitespace stripped (*out malloc'd). */
int  paw_program_clean_output(const char *s, size_t n, char **out, size_t *out_len);

#endif
