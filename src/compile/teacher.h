/* teacher.h — internals of the teachers (teacher.c: the handle and the local
 * GGUF teacher; teacher_http.c: OpenAI-compatible endpoints).  Not part of
 * the API; exposed so that tests and fuzzers can reach the pure parts (URL
 * normalisation, reply parsing) without a server. */
#ifndef PAW_COMPILE_TEACHER_H
#define PAW_COMPILE_TEACHER_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* Replies larger than this are refused (PAW_EFORMAT): a teacher's answer is
 * a page of text, and an endless body must not eat the machine's memory. */
#define PAW_TEACHER_MAX_REPLY (8u << 20)

/* Extracts choices[0].message.content from an OpenAI chat.completion body
 * (len bytes; need not be NUL-terminated).  *content is malloc'd, exactly the
 * string the JSON holds (no stripping).  PAW_EFORMAT, with the reason in the
 * error message, for anything else: not JSON, not an object, an "error"
 * object instead of choices, no or empty choices, content missing, null or
 * not a string.  *content is NULL on failure. */
int paw_teacher_parse_reply(const char *body, size_t len, char **content);

/* Turns a user's endpoint into the URL paw POSTs to: "http(s)://host[:port]
 * [/prefix]" gains "/v1/chat/completions", one ending in "/v1" gains
 * "/chat/completions", one ending in "/v1/chat/completions" stays; trailing
 * slashes are dropped, a query string is kept after the path.  PAW_EINVAL for
 * anything but http(s) with a host, for a fragment, or for spaces and control
 * characters.  *out is malloc'd. */
int paw_teacher_normalise_url(const char *url, char **out);

/* ---- the URL teacher (teacher_http.c), driven by teacher.c */
typedef struct paw_teacher_http paw_teacher_http;
int  paw_teacher_http_open(const char *url, const paw_teacher_opts *o, paw_teacher_http **out);
int  paw_teacher_http_chat(paw_teacher_http *h, const char *system, const char *user,
                           int32_t max_tokens, char **reply);
/* "url:<normalised url>#<model name>" */
const char *paw_teacher_http_name(const paw_teacher_http *h);
void paw_teacher_http_free(paw_teacher_http *h);

/* The local teacher's prompt: system (may be NULL) and user rendered by
 * the model's chat template, BOS as its metadata asks.  The template's
 * markers are special tokens; the messages are text, so a message that
 * holds "<|im_end|>" cannot end its turn early.  Messages without such text
 * give exactly `paw generate --chat`'s tokens (the whole rendered prompt
 * tokenized with special parsing); those with it are tokenized apart from
 * the template (a SentencePiece vocabulary then sees a word boundary where
 * each message starts).  *ids is malloc'd.  PAW_EINVAL for a URL teacher. */
int paw_teacher_prompt_ids(const paw_teacher *t, const char *system, const char *user,
                           int32_t **ids, size_t *n_ids);

/* Strips ASCII whitespace from both ends of s in place; returns s. */
char *paw_teacher_strip(char *s);

#endif
