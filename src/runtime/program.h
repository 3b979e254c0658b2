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

#endif
