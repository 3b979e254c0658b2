/* gguf.h — the GGUF writer and raw file access: what libpaw's own
 * modules (adapter export, vocab conversion) and the tests use to make GGUF
 * files.  Not part of the API. */
#ifndef PAW_GGUF_INTERNAL_H
#define PAW_GGUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* The whole file's bytes (paw_gguf_file_size of them; e.g. to hash it). */
const void *paw_gguf_bytes(const paw_gguf *g);

/* GGUF writer (version 3).  Keys and tensors are written in insertion order;
 * data pointers given to add_tensor must stay valid until write. */
typedef struct paw_gguf_writer paw_gguf_writer;
paw_gguf_writer *paw_gguf_writer_new(void);
void paw_gguf_writer_free(paw_gguf_writer *w);
int  paw_gguf_writer_set_u32(paw_gguf_writer *w, const char *key, uint32_t v);
int  paw_gguf_writer_set_i32(paw_gguf_writer *w, const char *key, int32_t v);
int  paw_gguf_writer_set_u64(paw_gguf_writer *w, const char *key, uint64_t v);
int  paw_gguf_writer_set_f32(paw_gguf_writer *w, const char *key, float v);
int  paw_gguf_writer_set_bool(paw_gguf_writer *w, const char *key, int v);
int  paw_gguf_writer_set_str(paw_gguf_writer *w, const char *key, const char *s, size_t len);
/* Scalar of any fixed-size `type` (U8..F64, BOOL; not STRING/ARRAY); v points
 * to its value in host (little-endian) layout. */
int  paw_gguf_writer_set_val(paw_gguf_writer *w, const char *key, int type, const void *v);
/* Array of fixed-size elements of `arr_type` (not STRING), copied. */
int  paw_gguf_writer_set_arr(paw_gguf_writer *w, const char *key, int arr_type,
                             const void *data, uint64_t n);
/* Array of strings, copied. */
int  paw_gguf_writer_set_arr_str(paw_gguf_writer *w, const char *key,
                                 const paw_str *strs, uint64_t n);
int  paw_gguf_writer_add_tensor(paw_gguf_writer *w, const char *name, int type,
                                int n_dims, const int64_t *ne, const void *data);
/* Writes to a temp file beside `path`, fsyncs, renames over `path`. */
int  paw_gguf_writer_write(paw_gguf_writer *w, const char *path);
/* The same bytes into memory (*out malloc'd). */
int  paw_gguf_writer_write_mem(paw_gguf_writer *w, uint8_t **out, size_t *len);

#endif
