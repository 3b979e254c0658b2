/* draft.h — exact speculative decoding for the program runtime (draft.c).
 * Internal to src/runtime. */
#ifndef PAW_DRAFT_H
#define PAW_DRAFT_H
#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* Recent outputs of one program handle, as token ids: the drafts. */
#define PAW_DRAFT_SLOTS 32
#define PAW_DRAFT_MAX_IDS 32

typedef struct paw_draft_seq {
    int32_t  ids[PAW_DRAFT_MAX_IDS];
    int32_t  n;
    uint32_t used;            /* clock of the last add or hit (LRU)         */
} paw_draft_seq;

typedef struct paw_drafts {
    paw_draft_seq seq[PAW_DRAFT_SLOTS];
    int           n;
    uint32_t      clock;
    /* Whether drafting pays on this machine (see draft.c): running means of
     * the time per output token of single-token forward calls and of draft
     * verifying calls, and the calls left until the next probe while
     * drafting is paused. */
    double        ms_plain, ms_spec;
    int           n_spec;       /* verifying calls measured                 */
    int           pause;        /* calls left without drafts                */
    int           always;       /* never pause (paw_program_opts.spec_always) */
} paw_drafts;

/* Remembers an output (its first PAW_DRAFT_MAX_IDS ids; outputs of fewer
 * than two ids are no use as drafts and are skipped).  A known sequence only
 * becomes the most recent; a new one takes the least recently used slot. */
void paw_drafts_add(paw_drafts *d, const int32_t *ids, size_t n);

/* The draft after ids[0..n): the continuation of the most recently used
 * known sequence that starts with ids[0..n) and is longer.  Returns its
 * length (0 = none) and points *out at it. */
size_t paw_drafts_find(paw_drafts *d, const int32_t *ids, size_t n, const int32_t **out);

typedef struct paw_spec_result {
    int32_t *ids;             /* generated ids, EOG excluded (malloc'd)     */
    size_t   n_ids;
    int      stop_reason;     /* enum paw_stop_reason                        */
    int32_t  n_forward;       /* forward calls after the prefill            */
    int32_t  n_drafted;       /* draft tokens verified                      */
    int32_t  n_accepted;      /* of those, the ones greedy agreed with      */
    double   prefill_s, decode_s;
} paw_spec_result;

/* Greedy generation (paw_generate's, without stop strings or streaming) that
 * verifies drafts from d in one batched forward call each; d NULL = plain
 * one-token-at-a-time decoding.  Evaluates prompt[0..n_prompt) at the ctx's
 * n_past, then decodes until an end-of-generation token, max_tokens (0 = no
 * limit) or a full context.  The ids, the stop reason and the KV cache left
 * behind are those of plain decoding: the batched forward gives each row the
 * logits one-token decoding gives it, bit for bit (tests/test_program_spec.c),
 * and positions of rejected draft tokens are truncated away. */
int paw_spec_generate(paw_ctx *c, const paw_tokenizer *tok, paw_drafts *d, const int32_t *prompt,
                      size_t n_prompt, int32_t max_tokens, paw_spec_result *out);
/* Called after each forward call with all the ids generated so far (the
 * newest ones final); non-zero stops generation (PAW_STOP_CALLBACK). */
typedef int (*paw_ids_fn)(void *ud, const int32_t *ids, size_t n_ids);
/* paw_spec_generate with on_ids (may be NULL) called as ids are accepted. */
int paw_spec_generate_cb(paw_ctx *c, const paw_tokenizer *tok, paw_drafts *d, const int32_t *prompt,
                         size_t n_prompt, int32_t max_tokens, paw_ids_fn on_ids, void *ud,
                         paw_spec_result *out);

#endif
