/* bundle.h — internals shared by the .paw bundle reader/writer (bundle.c),
 * meta.json handling and program IDs (progmeta.c) and the program cache
 * (progcache.c).  Not part of the public API. */
#ifndef PAW_RUNTIME_BUNDLE_H
#define PAW_RUNTIME_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* The official v3 reader's limits (programasweights SDK), which we enforce on
 * every bundle so that a bundle paw accepts is one the SDK accepts too. */
#define PAW_BUNDLE_MAX_FILE      ((uint64_t)256 << 20)  /* compressed .paw      */
#define PAW_BUNDLE_MAX_MEMBERS   256
#define PAW_BUNDLE_MAX_EXPANDED  ((uint64_t)512 << 20)  /* sum of member sizes  */
/* Our own cap for the text members: a template or meta.json of more than this
 * is not a program but an attack on the JSON parser or the tokenizer. */
#define PAW_BUNDLE_MAX_TEXT      ((uint64_t)16 << 20)
#define PAW_ADAPTER_MIN_BYTES    1024

#define PAW_MEMBER_ADAPTER  "adapter.gguf"
#define PAW_MEMBER_TEMPLATE "prompt_template.txt"
#define PAW_MEMBER_META     "meta.json"
#define PAW_MEMBER_PSEUDO   "pseudo_program.txt"

/* Member validation; each returns PAW_OK or a paw_err naming the member. */
int paw_bundle_check_adapter(const uint8_t *p, size_t n);
int paw_bundle_check_template(const char *p, size_t n);
int paw_bundle_check_text(const char *member, const char *p, size_t n);

/* Parses meta.json text into *m (cleared first; cleared again on failure). */
int paw_meta_parse(const char *txt, size_t len, paw_program_meta *m);
/* Serialises *m.  for_id: the compact form hashed into the content ID
 * (without program_id and created_at); else the pretty form stored in bundles
 * and the cache.  *out is malloc'd and NUL-terminated. */
int paw_meta_dump(const paw_program_meta *m, int for_id, char **out, size_t *len);

/* Validates the members of a bundle assembled by a reader (template, optional
 * pseudo-program, adapter) and sets b->id. */
int paw_bundle_finish(paw_bundle *b);

/* Validates a bundle assembled by a caller as a reader would, sets b->id,
 * fills meta.program_id with it when absent, and returns meta.json as it is to
 * be stored (malloc'd). */
int paw_bundle_prepare(paw_bundle *b, char **meta, size_t *meta_len);

/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. */
int paw_write_file_atomic(const char *path, const void *data, size_t len);
/* fsync a directory so that a rename inside it is durable. */
int paw_fsync_dir(const char *dir);
/* Reads a whole regular file (not following a symlink) of at most `cap` bytes;
 * *out malloc'd with a NUL after the data. */
int paw_read_file_capped(const char *path, uint64_t cap, uint8_t **out, size_t *len);

/* Reads the program a resolved reference names: the installed directory,
 * checked against its content ID (PAW_EHASH naming the program and the fix
 * when its files were modified), or else the .paw file. */
int paw_program_read_ref(const paw_program_ref *ref, paw_bundle **out);

/* The checks `paw install` makes on a program's adapter (progcheck.c):
 * well-formed pairs, ranks that agree, finite weights,
 * and shapes and layers that fit the declared interpreter when it is cached. */
int paw_program_check_adapter(const paw_bundle *b);

/* The name paw_pull knows the program's interpreter by ("smollm2-135m"),
 * from meta's runtime_id or interpreter; 0 and "" when it names none. */
int paw_meta_known_base(const paw_program_meta *meta, char known[64]);

/* paw_program_resolve without the hub maps: a file, an alias, an installed
 * content ID or prefix (progcache.c). */
int paw_program_resolve_local(const char *arg, paw_program_ref *out);

#endif
