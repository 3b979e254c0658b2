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

/* progstream.c.  Replaces invalid UTF-8 with U+FFFD (as the SDK's
 * errors="replace") and strips surrounding ASCII whitespace (its .strip()):
 * a call's output.  *out malloc'd. */
int  paw_clean_output(const char *s, size_t n, char **out, size_t *out_len);

/* A streaming call's state: what was sent to fn so far, and for plain
 * decoding the raw text so far. */
typedef struct paw_streamer {
    paw_text_fn fn;
    void       *ud;
    char       *sent;        /* what was sent so far (malloc'd)             */
    size_t      n_sent;
    char       *raw;         /* plain decoding: the text so far             */
    size_t      raw_len, raw_cap;
    int         stop;        /* fn asked to stop                            */
} paw_streamer;

/* Sends what `text` (the raw output so far, or with `final` the whole
 * cleaned output) adds to what was sent. */
int  paw_stream_emit(paw_streamer *st, const char *text, size_t n, int final);
/* A paw_text_fn for paw_generate (ud: the paw_streamer). */
int  paw_stream_text(void *ud, const char *text, size_t len);
/* An ids callback for paw_spec_generate_cb (ud: a paw_stream_ids_ctx). */
typedef struct paw_stream_ids_ctx { paw_streamer *st; const paw_tokenizer *tok; } paw_stream_ids_ctx;
int  paw_stream_ids(void *ud, const int32_t *ids, size_t n);

#endif
