/* labels.h — closed-label decoding for the program runtime (labels.c).
 * Internal to libpaw (src/runtime, and src/compile for the label loss);
 * the semantics are in paw.h ("Closed-label programs"). */
#ifndef PAW_LABELS_H
#define PAW_LABELS_H
#include <stddef.h>
#include <stdint.h>
#include "paw.h"

typedef struct paw_labels {
    int32_t   n;
    char    **text;       /* the labels as meta.json has them              */
    int32_t **ids;        /* tokens(label) + the end-of-turn token          */
    int32_t  *n_ids;
    int32_t   max_ids;
    int32_t  *cand;       /* scratch: label indices, n of them              */
} paw_labels;

/* Labels from text[0..n): 2 to 4096 non-empty strings, no two that
 * tokenize the same (else PAW_EFORMAT, the message starting with source).
 * Each label path is tokens(label) + paw_chat_end_token(m, tok): what
 * decoding walks, and what a label loss trains (src/compile/fit.c). */
int  paw_labels_new(const char *const *text, size_t n, const paw_model *m, const paw_tokenizer *tok,
                    const char *source, paw_labels **out);
/* The labels of meta.extra_json's "labels" ( *out NULL when there is no
 * such key).  PAW_EFORMAT when "labels" is not an array of >= 2 distinct
 * non-empty strings, or two labels tokenize the same.  Each label path ends
 * with paw_chat_end_token(m, tok). */
int  paw_labels_from_meta(const paw_program_meta *meta, const paw_model *m, const paw_tokenizer *tok,
                          paw_labels **out);
void paw_labels_free(paw_labels *l);

/* Evaluates run[0..n) at the ctx's n_past, then decodes within the labels
 * (greedy in the trie).  *best: the label chosen.  probs (may be NULL): each
 * label's probability (paw.h), which walks the whole trie.  *n_forward:
 * forward calls after the prompt.  The KV cache is left at some position
 * >= the prompt's end; the caller rewinds it. */
int  paw_labels_decode(paw_ctx *ctx, const paw_labels *l, const int32_t *run, size_t n, double *probs,
                       int32_t *best, int32_t *n_forward);
/* One step of greedy decoding within the labels (what paw_labels_decode
 * does between forward calls; for batched calls).  cand[0..*nc): the
 * candidates still in play at depth d (all labels at d = 0), logits: the
 * distribution at this node.  Returns the token greedy takes and narrows
 * cand to the labels through it; *done: the label is decided (cand[0]),
 * else the token is evaluated and the next step is depth d + 1. */
int32_t paw_labels_step(const paw_labels *l, int32_t *cand, int32_t *nc, int32_t d, const float *logits,
                        int *done);
#endif
