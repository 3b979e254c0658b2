/*
 * paw.h — the public API of libpaw, the Program-as-Weights engine in C.
 *
 * Conventions (they hold for every function below unless its comment says
 * otherwise):
 *   - Functions that can fail return an int status: PAW_OK (0) on success or a
 *     negative PAW_E* code.  A message naming the problem is then available
 *     from paw_last_error() (thread-local; valid until the next failing call on
 *     the same thread).  The library never prints and never exits.
 *   - Objects come in new/free (or open/close) pairs; free functions accept NULL
 *     and half-built objects.
 *   - Buffers returned through `T **out` parameters are malloc'd and owned by
 *     the caller (free()), unless the comment says they point into an object.
 *   - Token ids are int32_t.  Text is UTF-8, passed with an explicit length.
 */
#ifndef PAW_H
#define PAW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAW_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */

enum paw_status {
    PAW_OK           = 0,
    PAW_EIO          = -1,  /* open/read/write/mmap failed                    */
    PAW_EFORMAT      = -2,  /* malformed or truncated input file or data      */
    PAW_ENOMEM       = -3,  /* allocation failed                              */
    PAW_EINVAL       = -4,  /* bad argument from the caller                   */
    PAW_EUNSUPPORTED = -5,  /* valid but not supported (type, arch, ...)      */
    PAW_ENOTFOUND    = -6,  /* key, tensor, model or program not found        */
    PAW_EHASH        = -7,  /* size or SHA-256 mismatch                       */
    PAW_ENET         = -8,  /* network / transfer failure                     */
    PAW_ERANGE       = -9,  /* value out of range (e.g. prompt over n_ctx)    */
};

/* The message of the last failing call on this thread ("" if none). */
const char *paw_last_error(void);
/* A short constant name for a status code ("EFORMAT", ...). */
const char *paw_status_name(int status);

/* ----------------------------------------------------------- tensor types */

/* Tensor element types.  Values are ggml's (and so GGUF's) type ids. */
enum paw_type {
    PAW_TYPE_F32  = 0,
    PAW_TYPE_F16  = 1,
    PAW_TYPE_Q4_0 = 2,
    PAW_TYPE_Q4_1 = 3,
    PAW_TYPE_Q5_0 = 6,
    PAW_TYPE_Q5_1 = 7,
    PAW_TYPE_Q8_0 = 8,
    PAW_TYPE_Q8_1 = 9,   /* activation type only (paired with Q4_1/Q5_1)    */
    PAW_TYPE_Q4_K = 12,
    PAW_TYPE_Q5_K = 13,
    PAW_TYPE_Q6_K = 14,
    PAW_TYPE_Q8_K = 15,  /* activation type only (paired with K-quants)     */
    PAW_TYPE_BF16 = 30,
    PAW_TYPE_COUNT = 40  /* upper bound of the id space, not a type         */
};

/* Name ("Q4_K"), or NULL for an id paw does not know. */
const char *paw_type_name(int type);
/* Elements per block (1 for float types, 32 or 256 for quants); 0 if unknown. */
int paw_type_block_size(int type);
/* Bytes per block; 0 if unknown. */
size_t paw_type_block_bytes(int type);
/* Bytes for a row of n elements (n must be a multiple of the block size). */
size_t paw_type_row_bytes(int type, int64_t n);

/* Dequantise n elements (a multiple of the block size) of `type` to f32.
 * Bit-exact with ggml's reference dequantisation. */
int paw_dequantize(int type, const void *src, float *dst, int64_t n);
/* Quantise n f32 values to `type` (F32, F16, BF16, Q8_0, Q4_0 supported).
 * dst must hold paw_type_row_bytes(type, n) bytes. */
int paw_quantize(int type, const float *src, void *dst, int64_t n);

/* IEEE half <-> float (round to nearest even). */
float    paw_f16_to_f32(uint16_t h);
uint16_t paw_f32_to_f16(float f);

/* Which kernel set the CPU check picked: "avx2" or "scalar".  The environment
 * variable PAW_SIMD=scalar forces the portable path. */
const char *paw_simd_name(void);

/* ------------------------------------------------------------------- GGUF */

/* GGUF metadata value types (the file's own numbering). */
enum paw_gguf_type {
    PAW_GGUF_U8 = 0, PAW_GGUF_I8 = 1, PAW_GGUF_U16 = 2, PAW_GGUF_I16 = 3,
    PAW_GGUF_U32 = 4, PAW_GGUF_I32 = 5, PAW_GGUF_F32 = 6, PAW_GGUF_BOOL = 7,
    PAW_GGUF_STRING = 8, PAW_GGUF_ARRAY = 9, PAW_GGUF_U64 = 10,
    PAW_GGUF_I64 = 11, PAW_GGUF_F64 = 12
};

/* A length-delimited string.  In a reader it points into the file mapping
 * (NOT NUL-terminated); in writer calls it is the caller's. */
typedef struct paw_str {
    const char *ptr;
    uint64_t    len;
} paw_str;

/* One metadata key/value.  All pointers point into the paw_gguf object and
 * live as long as it does. */
typedef struct paw_gguf_kv {
    const char    *key;       /* NUL-terminated copy of the key                */
    int            type;      /* enum paw_gguf_type                            */
    int            arr_type;  /* element type when type == PAW_GGUF_ARRAY      */
    uint64_t       n;         /* element count for arrays, 1 for scalars       */
    const void    *data;      /* scalar value, or first element of a non-string
                                 array (little-endian, possibly unaligned)     */
    const paw_str *strs;      /* the strings of a STRING or array-of-STRING kv */
} paw_gguf_kv;

/* One tensor of a GGUF file. */
typedef struct paw_gguf_tensor {
    const char *name;         /* NUL-terminated                                */
    int         type;         /* enum paw_type                                 */
    int         n_dims;       /* 1..4                                          */
    int64_t     ne[4];        /* ne[0] is the innermost (contiguous) dimension;
                                 unused dims are 1                              */
    uint64_t    offset;       /* from the start of the data section            */
    uint64_t    nbytes;
    const void *data;         /* points into the mapping                       */
} paw_gguf_tensor;

typedef struct paw_gguf paw_gguf;

/* Map and validate a GGUF v2/v3 file: header, every key/value type, string
 * and array length, tensor shape, type, offset and alignment against the
 * file size.  Nothing is read outside the file. */
int  paw_gguf_open(const char *path, paw_gguf **out);
/* Same, over caller memory that must outlive the object (used by fuzzers). */
int  paw_gguf_open_mem(const void *buf, size_t len, paw_gguf **out);
void paw_gguf_close(paw_gguf *g);

uint32_t paw_gguf_version(const paw_gguf *g);
uint32_t paw_gguf_alignment(const paw_gguf *g);
size_t   paw_gguf_file_size(const paw_gguf *g);
int64_t  paw_gguf_n_kv(const paw_gguf *g);
const paw_gguf_kv *paw_gguf_kv_at(const paw_gguf *g, int64_t i);
const paw_gguf_kv *paw_gguf_find_kv(const paw_gguf *g, const char *key);
int64_t  paw_gguf_n_tensors(const paw_gguf *g);
const paw_gguf_tensor *paw_gguf_tensor_at(const paw_gguf *g, int64_t i);
const paw_gguf_tensor *paw_gguf_find_tensor(const paw_gguf *g, const char *name);

/* Typed getters.  Integer getters accept any integer kv whose value fits;
 * float getters accept F32/F64.  PAW_ENOTFOUND if absent, PAW_EFORMAT if the
 * type does not fit. */
int paw_gguf_get_u32(const paw_gguf *g, const char *key, uint32_t *out);
int paw_gguf_get_i64(const paw_gguf *g, const char *key, int64_t *out);
int paw_gguf_get_f32(const paw_gguf *g, const char *key, float *out);
int paw_gguf_get_bool(const paw_gguf *g, const char *key, int *out);
int paw_gguf_get_str(const paw_gguf *g, const char *key, paw_str *out);

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

/* -------------------------------------------------------------- tokenizer */

typedef struct paw_tokenizer paw_tokenizer;

/* Builds a tokenizer from the GGUF's tokenizer.* metadata alone
 * (tokenizer.ggml.model "llama" = SentencePiece, "gpt2" = byte-level BPE with
 * the pre-tokenizer named by tokenizer.ggml.pre).  Copies what it needs; the
 * gguf may be closed afterwards. */
int  paw_tokenizer_from_gguf(const paw_gguf *g, paw_tokenizer **out);
void paw_tokenizer_free(paw_tokenizer *t);

int32_t paw_tokenizer_n_vocab(const paw_tokenizer *t);
int32_t paw_tokenizer_bos(const paw_tokenizer *t);   /* -1 if none */
int32_t paw_tokenizer_eos(const paw_tokenizer *t);   /* -1 if none */
/* Whether the model's metadata asks for a BOS token at the start of a prompt. */
int     paw_tokenizer_add_bos(const paw_tokenizer *t);
/* Is `id` an end-of-generation token (EOS, EOT, <|im_end|>, ...)? */
int     paw_tokenizer_is_eog(const paw_tokenizer *t, int32_t id);
/* Looks up a token by its exact text; -1 if absent. */
int32_t paw_tokenizer_find(const paw_tokenizer *t, const char *text, size_t len);
/* The vocabulary entry of `id` as stored (e.g. "Ġthe", "▁the", "<0x0A>"). */
paw_str paw_tokenizer_piece(const paw_tokenizer *t, int32_t id);

/* Encodes text.  add_bos: prepend BOS.  parse_special: recognise the text of
 * special/added tokens (e.g. "<|im_end|>") as those tokens; otherwise they are
 * ordinary text.  Invalid UTF-8 is encoded (byte tokens) but never crashes.
 * *ids is malloc'd. */
int paw_tokenize(const paw_tokenizer *t, const char *text, size_t len,
                 int add_bos, int parse_special, int32_t **ids, size_t *n_ids);

/* Decodes ids to bytes; *text is malloc'd and NUL-terminated.  Special tokens
 * are rendered as their text when render_special, else omitted. */
int paw_detokenize(const paw_tokenizer *t, const int32_t *ids, size_t n_ids,
                   int render_special, char **text, size_t *len);

/* Converts a Hugging Face tokenizer.json (with tokenizer_config.json beside
 * it, if present: chat template, special tokens) into a vocab-only GGUF. */
int paw_vocab_from_hf(const char *tokenizer_json, const char *out_gguf);

/* ------------------------------------------------------ models on disk */

/* The cache root: $PAW_CACHE_DIR, else $XDG_CACHE_HOME/paw, else
 * ~/.cache/paw.  Writes at most cap bytes. */
int paw_cache_dir(char *buf, size_t cap);

/* Progress callback for downloads: bytes done and total (0 if unknown). */
typedef void (*paw_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Fetch a known model ("smollm2-135m", "qwen3-0.6b", "gpt2") into
 * <cache>/models/<name>.gguf, verified against the size and SHA-256 pinned in
 * the source, written atomically. */
int paw_pull(const char *name, paw_progress_fn progress, void *ud);

/* Resolve a model argument: an existing path is returned as is; a known model
 * name becomes its cache path (PAW_ENOTFOUND, with the pull command in the
 * message, if it is not cached). */
int paw_model_resolve(const char *name_or_path, char *buf, size_t cap);

/* Download url to dest over HTTP(S) with resume (a dest.part file is kept
 * between attempts), verifying expected_size (0 = unknown) and sha256_hex
 * (NULL = none) before renaming into place. */
int paw_download(const char *url, const char *dest, uint64_t expected_size,
                 const char *sha256_hex, paw_progress_fn progress, void *ud);

/* Hex SHA-256 of a file (65 bytes incl. NUL). */
int paw_sha256_file(const char *path, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif /* PAW_H */
