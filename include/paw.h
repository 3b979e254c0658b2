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
 *   - Buffers returned through `T **out` parameters are owned by the caller
 *     and released with paw_free(), unless the comment says they point into
 *     an object (objects have their own free/close function).
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

/* Marks the functions libpaw.so exports: the library is built with
 * -fvisibility=hidden, so nothing outside this header is visible to a program
 * linking the shared object. */
#if defined(PAW_BUILDING_LIBRARY) && defined(__GNUC__)
#define PAW_API __attribute__((visibility("default")))
#else
#define PAW_API
#endif

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
    PAW_ECANCELED    = -10, /* the caller asked the operation to stop         */
};

/* Releases a buffer the library returned (text, ids, serialised bundles or
 * adapters); NULL is fine.  Use it instead of free(): the caller may not
 * share libpaw's C allocator (another language, another C runtime). */
PAW_API void paw_free(void *p);

/* Reads the whole regular file at path into *out (NUL-terminated; release
 * with paw_free); *len (may be NULL) gets its length.  Never blocks on a
 * FIFO or device (refused with PAW_EIO, as a directory is); a file over
 * max_bytes (0 = no limit) is PAW_ERANGE; a missing one PAW_ENOTFOUND. */
PAW_API int paw_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* The message of the last failing call on this thread ("" if none). */
PAW_API const char *paw_last_error(void);
/* A short constant name for a status code ("EFORMAT", ...). */
PAW_API const char *paw_status_name(int status);

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
PAW_API const char *paw_type_name(int type);
/* Elements per block (1 for float types, 32 or 256 for quants); 0 if unknown. */
PAW_API int paw_type_block_size(int type);
/* Bytes per block; 0 if unknown. */
PAW_API size_t paw_type_block_bytes(int type);
/* Bytes for a row of n elements (n must be a multiple of the block size). */
PAW_API size_t paw_type_row_bytes(int type, int64_t n);

/* Which kernel set the CPU check picked: "avx512" (AVX-512 F/BW/VL + VNNI),
 * "avxvnni" (AVX-VNNI on ymm), "avx2" or "scalar".  The environment variable
 * PAW_SIMD=scalar|avx2|avxvnni|avx512 forces a set; forcing one the CPU lacks
 * is refused (paw_model_load fails with PAW_EUNSUPPORTED and the reason). */
PAW_API const char *paw_simd_name(void);
/* Writes what was picked and why (set, forced or not, CPU features) as a
 * few "key: value" lines, snprintf-style; returns the length it needed. */
PAW_API int paw_simd_describe(char *buf, size_t cap);
/* PAW_OK, or PAW_EUNSUPPORTED (message: which features are missing) when
 * PAW_SIMD names a set this CPU lacks or no set at all. */
PAW_API int paw_simd_check(void);

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
                                 array (little-endian, possibly unaligned);
                                 NULL for STRING and array-of-STRING kvs       */
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
PAW_API int  paw_gguf_open(const char *path, paw_gguf **out);
/* Same, over caller memory that must outlive the object (used by fuzzers). */
PAW_API int  paw_gguf_open_mem(const void *buf, size_t len, paw_gguf **out);
PAW_API void paw_gguf_close(paw_gguf *g);

PAW_API uint32_t paw_gguf_version(const paw_gguf *g);
PAW_API uint32_t paw_gguf_alignment(const paw_gguf *g);
PAW_API size_t   paw_gguf_file_size(const paw_gguf *g);
PAW_API int64_t  paw_gguf_n_kv(const paw_gguf *g);
PAW_API const paw_gguf_kv *paw_gguf_kv_at(const paw_gguf *g, int64_t i);
PAW_API const paw_gguf_kv *paw_gguf_find_kv(const paw_gguf *g, const char *key);
PAW_API int64_t  paw_gguf_n_tensors(const paw_gguf *g);
PAW_API const paw_gguf_tensor *paw_gguf_tensor_at(const paw_gguf *g, int64_t i);
PAW_API const paw_gguf_tensor *paw_gguf_find_tensor(const paw_gguf *g, const char *name);

/* Typed getters.  Integer getters accept any integer kv whose value fits;
 * float getters accept F32/F64.  PAW_ENOTFOUND if absent, PAW_EFORMAT if the
 * type does not fit. */
PAW_API int paw_gguf_get_u32(const paw_gguf *g, const char *key, uint32_t *out);
PAW_API int paw_gguf_get_i64(const paw_gguf *g, const char *key, int64_t *out);
PAW_API int paw_gguf_get_f32(const paw_gguf *g, const char *key, float *out);
PAW_API int paw_gguf_get_bool(const paw_gguf *g, const char *key, int *out);
PAW_API int paw_gguf_get_str(const paw_gguf *g, const char *key, paw_str *out);

/* -------------------------------------------------------------- tokenizer */

typedef struct paw_tokenizer paw_tokenizer;

/* Builds a tokenizer from the GGUF's tokenizer.* metadata alone
 * (tokenizer.ggml.model "llama" = SentencePiece, "gpt2" = byte-level BPE with
 * the pre-tokenizer named by tokenizer.ggml.pre).  Copies what it needs; the
 * gguf may be closed afterwards. */
PAW_API int  paw_tokenizer_from_gguf(const paw_gguf *g, paw_tokenizer **out);
PAW_API void paw_tokenizer_free(paw_tokenizer *t);

PAW_API int32_t paw_tokenizer_n_vocab(const paw_tokenizer *t);
PAW_API int32_t paw_tokenizer_bos(const paw_tokenizer *t);   /* -1 if none */
PAW_API int32_t paw_tokenizer_eos(const paw_tokenizer *t);   /* -1 if none */
/* Whether the model's metadata asks for a BOS token at the start of a prompt. */
PAW_API int     paw_tokenizer_add_bos(const paw_tokenizer *t);
/* Is `id` an end-of-generation token (EOS, EOT, <|im_end|>, ...)? */
PAW_API int     paw_tokenizer_is_eog(const paw_tokenizer *t, int32_t id);
/* Looks up a token by its exact text; -1 if absent. */
PAW_API int32_t paw_tokenizer_find(const paw_tokenizer *t, const char *text, size_t len);
/* The vocabulary entry of `id` as stored (e.g. "Ġthe", "▁the", "<0x0A>"). */
PAW_API paw_str paw_tokenizer_piece(const paw_tokenizer *t, int32_t id);

/* Encodes text.  add_bos: prepend BOS.  parse_special: recognise the text of
 * special/added tokens (e.g. "<|im_end|>") as those tokens; otherwise they are
 * ordinary text.  Invalid UTF-8 is encoded (byte tokens) but never crashes.
 * *ids is malloc'd. */
PAW_API int paw_tokenize(const paw_tokenizer *t, const char *text, size_t len,
                 int add_bos, int parse_special, int32_t **ids, size_t *n_ids);

/* Decodes ids to bytes; *text is malloc'd and NUL-terminated.  Special tokens
 * are rendered as their text when render_special, else omitted. */
PAW_API int paw_detokenize(const paw_tokenizer *t, const int32_t *ids, size_t n_ids,
                   int render_special, char **text, size_t *len);

/* Converts a Hugging Face tokenizer.json (with tokenizer_config.json beside
 * it, if present: chat template, special tokens) into a vocab-only GGUF. */
PAW_API int paw_vocab_from_hf(const char *tokenizer_json, const char *out_gguf);

/* ------------------------------------------------------ models on disk */

/* The cache root: $PAW_CACHE_DIR, else $XDG_CACHE_HOME/paw, else
 * ~/.cache/paw.  Writes at most cap bytes. */
PAW_API int paw_cache_dir(char *buf, size_t cap);

/* Progress callback for downloads: bytes done and total (0 if unknown).
 * Return 0 to go on, non-zero to cancel: the call then fails with
 * PAW_ECANCELED (a partial download is kept for the next call to resume;
 * nothing half-written is installed). */
typedef int (*paw_progress_fn)(void *ud, uint64_t done, uint64_t total);

/* Fetch a known model ("smollm2-135m", "qwen3-0.6b", "gpt2") into
 * <cache>/models/<name>.gguf, verified against the size and SHA-256 pinned in
 * the source, written atomically.  A cached file of the pinned size and hash
 * is kept (the hash remembered per file identity, so an untouched file is not
 * re-read); any other file there is replaced. */
PAW_API int paw_pull(const char *name, paw_progress_fn progress, void *ud);
/* Where paw_pull(name) fetches from: $PAW_MODEL_URL_<NAME> when set, else the
 * known model's source.  NULL for an unknown name. */
PAW_API const char *paw_pull_source(const char *name);

/* Resolve a model argument: an existing path is returned as is; a known model
 * name becomes its cache path (PAW_ENOTFOUND, with the pull command in the
 * message, if it is not cached). */
PAW_API int paw_model_resolve(const char *name_or_path, char *buf, size_t cap);

/* Hex SHA-256 of a file (65 bytes incl. NUL). */
PAW_API int paw_sha256_file(const char *path, char hex[65]);

/* A model paw_pull knows, with the size and SHA-256 pinned in the source. */
typedef struct paw_known_model {
    const char *name;         /* "smollm2-135m", "qwen3-0.6b", "gpt2"          */
    const char *description;
    uint64_t    size;         /* bytes                                         */
    const char *sha256;       /* lowercase hex                                 */
    const char *source;       /* where paw_pull gets it: a URL, or
                                 "pip package <requirement>"                   */
} paw_known_model;

/* The i-th known model (i from 0), NULL past the end. */
PAW_API const paw_known_model *paw_known_model_at(int i);
/* The known model called `name`, NULL if there is none. */
PAW_API const paw_known_model *paw_known_model_find(const char *name);

/* Is known model `name` in the cache with its pinned size (and SHA-256 when
 * check_hash)?  Writes the cache path to buf either way.  PAW_ENOTFOUND if it
 * is absent (or `name` is unknown), PAW_EHASH if size or hash is wrong.
 * check_hash 1 trusts a digest remembered for the file's unchanged identity
 * (device, inode, size, mtime, ctime); 2 always hashes the bytes again. */
PAW_API int paw_cache_check(const char *name, int check_hash, char *buf, size_t cap);

/* ------------------------------------------- interpreter (models, decoding) */
/* (section owned by the interpreter work: model loading, KV cache, LoRA, generation) */

/* A loaded base model: the mapped GGUF, its hyperparameters (read from the
 * `<arch>.*` metadata) and pointers to every weight.  Read-only after load, so
 * one model may serve several paw_ctx, also from different threads. */
typedef struct paw_model paw_model;

/* Maps `path` and checks that the architecture is known (llama, qwen3, gpt2)
 * and that every tensor it needs is present with the shape the metadata
 * implies.  PAW_EUNSUPPORTED for an unknown arch or weight type,
 * PAW_EFORMAT/PAW_ENOTFOUND for a missing or mis-shaped tensor or key. */
PAW_API int  paw_model_load(const char *path, paw_model **out);
PAW_API void paw_model_free(paw_model *m);

/* The GGUF the model was loaded from (for paw_tokenizer_from_gguf). */
PAW_API const paw_gguf *paw_model_gguf(const paw_model *m);
PAW_API const char *paw_model_arch(const paw_model *m);   /* "llama", "qwen3", "gpt2" */
PAW_API int32_t paw_model_n_vocab(const paw_model *m);
PAW_API int32_t paw_model_n_embd(const paw_model *m);
PAW_API int32_t paw_model_n_layer(const paw_model *m);
PAW_API int32_t paw_model_n_ctx_train(const paw_model *m);

/* One generation stream: KV cache, scratch buffers, thread pool. */
typedef struct paw_ctx paw_ctx;

typedef struct paw_ctx_params {
    int32_t n_ctx;      /* KV positions; 0 = min(2048, the model's training ctx) */
    int32_t n_batch;    /* most tokens per forward chunk; 0 = 512               */
    int     n_threads;  /* 0 = one per online CPU                               */
    int     kv_type;    /* PAW_TYPE_F32 (0, default) or PAW_TYPE_F16: half the
                           memory, k/v rounded to half precision (llama.cpp's
                           default)                                             */
    int     flash_attn; /* 1 = attention in the arithmetic of llama.cpp's CPU flash
                           attention (its -fa): q, k, v rounded to half precision,
                           online softmax, half-precision accumulator.  For parity
                           with llama.cpp runs made that way; 0 (default) = plain
                           attention, as llama.cpp without -fa                  */
    int     int8;       /* 1 = every weight product through int8 copies of the
                           weights interleaved 16 rows at a time (Q4_0, Q4_1,
                           Q5_0, Q5_1, Q8_0 weights; AVX-512 VNNI CPUs, elsewhere
                           ignored): 2-3x faster prompt processing, about 1.25
                           bytes more memory per weight (made once per model),
                           logits equal to llama.cpp's within float rounding but
                           not bit for bit.  0 (default) = ggml's arithmetic,
                           llama.cpp's bits                                     */
} paw_ctx_params;

/* params may be NULL (all defaults).  All memory is allocated here, none per
 * token afterwards (except the all-positions logits buffer, grown on demand). */
PAW_API int  paw_ctx_new(const paw_model *m, const paw_ctx_params *params, paw_ctx **out);
PAW_API void paw_ctx_free(paw_ctx *c);
/* Bytes the ctx holds (KV cache, scratch, logits): what a server budgets. */
PAW_API size_t paw_ctx_memory(const paw_ctx *c);
PAW_API const paw_model *paw_ctx_model(const paw_ctx *c);
/* 1 when the ctx runs int8 products (asked for and available), else 0. */
PAW_API int paw_ctx_int8(const paw_ctx *c);
/* 1 when int8 products run in this process (the AVX-512 VNNI set), else 0:
 * elsewhere paw_ctx_params.int8 is ignored. */
PAW_API int paw_int8_available(void);
PAW_API int32_t paw_ctx_n_ctx(const paw_ctx *c);
/* Positions filled in the KV cache (= tokens evaluated since the last reset). */
PAW_API int32_t paw_ctx_n_past(const paw_ctx *c);
/* The token ids in the KV cache, n_past of them (points into the ctx). */
PAW_API const int32_t *paw_ctx_tokens(const paw_ctx *c);

/* Runs the transformer over ids[0..n) at positions n_past.., appending their
 * K/V to the cache.  *logits (may be NULL) then points into the ctx, valid
 * until the next eval: n_vocab floats for the last position, or n*n_vocab
 * (position-major) when logits_all.  PAW_ERANGE if n_past+n exceeds n_ctx
 * (nothing is evaluated); PAW_EINVAL for an id outside the vocabulary. */
PAW_API int paw_decode(paw_ctx *c, const int32_t *ids, int32_t n, int logits_all,
             const float **logits);

/* Batched decode: sequence i evaluates ids[i][0..n_ids[i]) at ctxs[i]'s
 * n_past.., appending to ctxs[i]'s KV cache, with ctxs[i]'s adapters, all
 * sequences in one forward pass (the rows of all of them share each weight
 * matrix's product; attention, rope and LoRA stay per sequence).  The ctxs
 * must be distinct and on one model; the pass runs on ctxs[0]'s threads.
 * logits (may be NULL): an array of n_seq pointers, logits[i] then points
 * into ctxs[i] (n_vocab floats for its last position, valid until its next
 * eval).  Exact: each sequence's logits and KV equal, bit for bit, what
 * paw_decode of that sequence alone on its ctx gives (any SIMD set, any
 * mix of lengths, positions, adapters and KV types).  Errors as paw_decode
 * (PAW_ERANGE, PAW_EINVAL), checked for all sequences before any is
 * evaluated.  Scratch: about 30 KB per row (SmolLM2-135M), at most 512 rows
 * per pass; longer batches run in several passes. */
PAW_API int paw_decode_batch(paw_ctx *const *ctxs, const int32_t *const *ids, const int32_t *n_ids,
                             int n_seq, const float **logits);

/* Forgets cached positions >= n_past (0 = empty the cache). */
PAW_API int paw_kv_truncate(paw_ctx *c, int32_t n_past);

/* A snapshot of the first n positions of a ctx's KV cache (a program's
 * prefix), restorable into any ctx of the same model (and adapters). */
typedef struct paw_kv_state paw_kv_state;
/* n <= paw_ctx_n_past(c); *out is owned by the caller. */
PAW_API int  paw_kv_save(const paw_ctx *c, int32_t n, paw_kv_state **out);
/* Replaces the ctx's cache with the snapshot (n_past becomes its length).
 * PAW_EINVAL if it was taken from another model or adapter set,
 * PAW_ERANGE if it does not fit the ctx. */
PAW_API int  paw_kv_restore(paw_ctx *c, const paw_kv_state *s);
PAW_API void paw_kv_state_free(paw_kv_state *s);
PAW_API int32_t paw_kv_state_n(const paw_kv_state *s);
/* Same, through a file (written atomically).  The file's header holds the
 * model id and adapter id; a file from another model/adapter (PAW_EINVAL),
 * or a truncated or corrupted one (PAW_EFORMAT), is rejected and the ctx is
 * left as it was. */
PAW_API int  paw_kv_save_file(const paw_ctx *c, int32_t n, const char *path);
PAW_API int  paw_kv_load_file(paw_ctx *c, const char *path);

/* ---- LoRA adapters
 * llama.cpp's GGUF LoRA convention: general.type "adapter", adapter.type
 * "lora", adapter.lora.alpha (f32; absent = 0), general.architecture of the
 * base, and per adapted projection blk.N.<stem>.weight.lora_a (ne [d_in, r])
 * and .lora_b (ne [r, d_out]); stems attn_q, attn_k, attn_v, attn_output,
 * ffn_gate, ffn_up, ffn_down (GPT-2: attn_qkv, attn_output, ffn_up, ffn_down).
 * Any weight type (F32, F16, BF16, Q8_0, Q4_0, ...); one rank r throughout.
 * Applied unmerged: each projection computes W x + sum_adapters s * B (A x),
 * s = scale * alpha / r, or s = scale when alpha is 0 (as llama.cpp does).
 * An adapter is read-only after load: one adapter may serve many ctx, on
 * several threads, and must outlive every ctx it is attached to. */
typedef struct paw_adapter paw_adapter;

/* Reads and validates an adapter file on its own (metadata, tensor names,
 * pairs, ranks, types); shapes are checked against a model on attach.
 * PAW_EFORMAT (not an adapter, unexpected tensor, unpaired lora_a/lora_b,
 * inconsistent rank), PAW_EUNSUPPORTED (adapter.type other than lora, an
 * architecture or tensor type paw does not run); the message names the key
 * or tensor. */
PAW_API int  paw_adapter_load(const char *path, paw_adapter **out);
/* Same, from memory (copied; e.g. the adapter.gguf of a bundle). */
PAW_API int  paw_adapter_load_mem(const void *buf, size_t len, paw_adapter **out);
PAW_API void paw_adapter_free(paw_adapter *a);
PAW_API const char *paw_adapter_arch(const paw_adapter *a);
PAW_API int32_t paw_adapter_rank(const paw_adapter *a);
PAW_API float   paw_adapter_alpha(const paw_adapter *a);
/* Number of adapted projections (lora_a/lora_b pairs). */
PAW_API int32_t paw_adapter_n_pairs(const paw_adapter *a);
/* The adapter's content id: SHA-256 of its file bytes. */
PAW_API void paw_adapter_id(const paw_adapter *a, uint8_t id[32]);
/* Does the adapter fit the model?  PAW_EINVAL, naming the tensor, for another
 * architecture, a layer the model lacks or a shape that does not match. */
PAW_API int  paw_adapter_check(const paw_adapter *a, const paw_model *m);

/* Adds `a` to the ctx's adapters with weight `scale` (or sets its scale if
 * attached already); checks it with paw_adapter_check first.  Several
 * adapters may be attached (at most 64); their contributions add up.
 * Whenever the effective adapter set changes, the KV cache is emptied: its
 * K/V were computed under the old set. */
PAW_API int  paw_ctx_attach_adapter(paw_ctx *c, const paw_adapter *a, float scale);
/* PAW_ENOTFOUND if `a` is not attached. */
PAW_API int  paw_ctx_detach_adapter(paw_ctx *c, const paw_adapter *a);
/* Replaces all attached adapters by `a` (NULL: none): switching programs. */
PAW_API int  paw_ctx_set_adapter(paw_ctx *c, const paw_adapter *a, float scale);
PAW_API int  paw_ctx_n_adapters(const paw_ctx *c);
/* The id KV states are tied to: all zeros when no adapter with a non-zero
 * scale is attached (the base model), else a SHA-256 over the sorted
 * (adapter id, scale) pairs. */
PAW_API void paw_ctx_adapter_id(const paw_ctx *c, uint8_t id[32]);

/* Sampling.  temp <= 0 is greedy (argmax; ties to the lowest id). */
typedef struct paw_sampling {
    float    temp;      /* 0 = greedy                                       */
    int32_t  top_k;     /* 0 = off                                          */
    float    top_p;     /* 1 (or 0) = off                                   */
    uint64_t seed;
} paw_sampling;

/* Chat templates, exactly as the models' Jinja templates render them. */
enum paw_chat_style {
    PAW_CHAT_NONE   = 0,  /* plain text, messages concatenated (GPT-2)          */
    PAW_CHAT_CHATML = 1,  /* <|im_start|>role\n...<|im_end|>\n (SmolLM2: adds its
                             default system message when none is given)          */
    PAW_CHAT_QWEN3  = 2,  /* ChatML + empty think block after the assistant header */
};
typedef struct paw_chat_msg {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;
} paw_chat_msg;
/* Which template a model uses (from its arch and tokenizer.chat_template). */
PAW_API int paw_chat_style_of(const paw_model *m);
/* Renders messages as the model's template does; add_assistant appends the
 * assistant header (the generation prompt; for Qwen3 with the empty think
 * block, i.e. enable_thinking=False).  *out is malloc'd, NUL-terminated. */
PAW_API int paw_chat_format(const paw_model *m, const paw_chat_msg *msgs, size_t n_msgs,
                    int add_assistant, char **out, size_t *len);

/* Generation. */
/* Called with each new piece of text as it becomes final (whole UTF-8
 * characters, stop strings withheld); return non-zero to stop. */
typedef int (*paw_text_fn)(void *ud, const char *text, size_t len);

typedef struct paw_gen_params {
    int32_t            max_tokens;  /* 0 = until EOG or the ctx is full      */
    paw_sampling       sampling;
    const char *const *stop;        /* stop strings (not included in text)   */
    size_t             n_stop;
    paw_text_fn        on_text;     /* may be NULL                            */
    void              *ud;
} paw_gen_params;

enum paw_stop_reason { PAW_STOP_EOG = 0, PAW_STOP_STRING, PAW_STOP_MAX_TOKENS,
                       PAW_STOP_CTX_FULL, PAW_STOP_CALLBACK };

typedef struct paw_gen_result {
    int32_t *ids;          /* generated ids (malloc'd; EOG token excluded) */
    size_t   n_ids;
    char    *text;         /* malloc'd, NUL-terminated, stop string cut     */
    size_t   len;
    int      stop_reason;  /* enum paw_stop_reason                          */
    int32_t  n_prompt;
    int32_t  n_decode;     /* single-token forward passes run            */
    double   prefill_s, decode_s;
} paw_gen_result;

/* Evaluates prompt[0..n_prompt) after whatever the ctx already holds (a
 * restored prefix, say), then samples until EOG, a stop string, max_tokens
 * or a full ctx.  tok may be NULL (then no text, no EOG, no stop strings). */
PAW_API int  paw_generate(paw_ctx *c, const paw_tokenizer *tok, const int32_t *prompt,
                  size_t n_prompt, const paw_gen_params *p, paw_gen_result *out);
PAW_API void paw_gen_result_free(paw_gen_result *r);

/* ---- training (src/train; owned by the training work)
 * LoRA adapters trained through the frozen, still-quantised base model:
 * y = W x + (alpha / r) B (A x) on a chosen set of projections.  Examples of
 * a batch share a prefix (the pseudo-program); its forward and backward run
 * once per step, not once per example.  Loss: token cross-entropy on each
 * example's output span, averaged over its tokens, then over examples.
 * Deterministic: same data, params, seed and n_threads give the same bytes. */
#define PAW_TARGET_Q    (1u << 0)
#define PAW_TARGET_K    (1u << 1)
#define PAW_TARGET_V    (1u << 2)
#define PAW_TARGET_QKV  (1u << 3)   /* GPT-2's fused c_attn                  */
#define PAW_TARGET_O    (1u << 4)
#define PAW_TARGET_GATE (1u << 5)
#define PAW_TARGET_UP   (1u << 6)
#define PAW_TARGET_DOWN (1u << 7)
#define PAW_TARGET_ALL  0xFFu       /* every projection the architecture has */

enum paw_lr_schedule { PAW_LR_COSINE = 0, PAW_LR_LINEAR = 1, PAW_LR_CONSTANT = 2 };

typedef struct paw_train_params {
    int32_t  rank;          /* LoRA rank r                                    */
    float    alpha;         /* scale = alpha / r                              */
    uint32_t targets;       /* PAW_TARGET_* (Q/K/V on GPT-2 mean its QKV)     */
    uint64_t seed;          /* A's init (kaiming-uniform, bound 1/sqrt(d_in)); B = 0 */
    float    lr, weight_decay, beta1, beta2, adam_eps;
    float    clip;          /* global gradient-norm clip; 0 = off             */
    int32_t  steps;         /* schedule length                                */
    int32_t  warmup;        /* linear warmup steps                            */
    int      schedule;      /* enum paw_lr_schedule after warmup: cosine or
                               linear from lr down to lr/10 at `steps`      */
    int      n_threads;     /* 0 = one per online CPU                         */
    int      exact_backward;/* 0: a quantised W gets a Q8_0 copy of Wᵀ (+~1.06
                               bytes/weight) so dX = dY·W runs on the int8
                               kernels (activations quantised as in the
                               forward); 1: dX from W's own blocks in f32.
                               F32/F16/BF16 weights always take the f32 path. */
} paw_train_params;

/* rank 8, alpha 16, all targets, seed 0, lr 5e-4, wd 0, betas 0.9/0.999,
 * eps 1e-8, clip 1, 100 steps, warmup 10, cosine. */
PAW_API paw_train_params paw_train_params_default(void);

/* One example: tokens that follow the shared prefix, the first n_prompt of
 * them prompt (no loss, n_prompt >= 1), the rest the output to learn. */
typedef struct paw_train_example {
    const int32_t *ids;
    int32_t        n;
    int32_t        n_prompt;
    /* Optional (NULL: every output token's softmax spans the vocabulary): a
     * closed-label loss.  Output token k (ids[n_prompt + k]) is scored
     * against choices[k][0..n_choices[k]) only: distinct ids, at most
     * PAW_TRAIN_MAX_CHOICES, its own id among them (a label trie's children
     * at that depth).  A token with one choice is no loss row; each example
     * needs at least one with more.  An example's weight is spread over its
     * loss rows either way. */
    const int32_t *const *choices;
    const int32_t *n_choices;
} paw_train_example;
#define PAW_TRAIN_MAX_CHOICES 4096

typedef struct paw_trainer paw_trainer;
/* The model must outlive the trainer; one thread at a time uses a trainer
 * (it runs its own pool of n_threads).  PAW_EINVAL for bad params. */
PAW_API int  paw_trainer_new(const paw_model *m, const paw_train_params *p, paw_trainer **out);
PAW_API void paw_trainer_free(paw_trainer *t);
/* Trainable parameter count (A and B of every adapted projection). */
PAW_API int64_t paw_trainer_n_params(const paw_trainer *t);
/* The mean loss of a batch without updating anything. */
PAW_API int  paw_trainer_loss(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                      const paw_train_example *ex, int32_t n_ex, double *loss);
/* One optimisation step on a batch: forward, backward, clip, AdamW.
 * *loss (may be NULL) is the batch loss before the update; *grad_norm (may
 * be NULL) the gradient norm before clipping.  PAW_ERANGE if a sequence
 * exceeds the model's context; PAW_EINVAL for a bad token id or example. */
PAW_API int  paw_trainer_step(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                      const paw_train_example *ex, int32_t n_ex, double *loss,
                      double *grad_norm);
/* Starts from an existing adapter GGUF (a warm start, as PAW's compiler
 * starts from its mapper's LoRA, or a resume): A and B of every pair it
 * holds are loaded (any type paw dequantises), B rescaled by
 * alpha_file / alpha so that the adapter computes the same function; the
 * trainer's other projections keep their init.  PAW_EINVAL for another
 * architecture or rank, a pair the trainer does not adapt, or a shape that
 * does not match.  Adam moments are left as they are. */
PAW_API int  paw_trainer_init_from_gguf(paw_trainer *t, const char *path);
/* Writes the adapter as a llama.cpp LoRA GGUF (loadable by paw_adapter_load)
 * with tensors of `type`: F32, F16, Q8_0 or Q4_0 (quantised lora_b needs
 * r % 32 == 0; else it is written F16).  Atomic. */
PAW_API int  paw_trainer_save_gguf(const paw_trainer *t, const char *path, int type);
/* The same GGUF bytes into memory (*out released with paw_free). */
PAW_API int  paw_trainer_save_gguf_mem(const paw_trainer *t, int type, uint8_t **out, size_t *len);
/* Writes dir/adapter_model.safetensors (F32) and dir/adapter_config.json in
 * Hugging Face PEFT's layout (creates dir).  Llama's q/k lora_B rows are
 * written in HF order (llama.cpp's converter permutes those rows). */
PAW_API int  paw_trainer_save_peft(const paw_trainer *t, const char *dir, const char *base_model_name);

/* ------------------------------------------------------- neural programs */
/* (section owned by the programs work: .paw bundles, program cache) */

/* A neural program = adapter.gguf (a LoRA GGUF) + prompt_template.txt (with
 * exactly one {INPUT_PLACEHOLDER}) + meta.json (+ optional pseudo_program.txt),
 * shipped as a `.paw` ZIP bundle compatible with the official v3 format.
 *
 * Program identity: every program has a content ID, PAW_PROGRAM_ID_LEN
 * lowercase hex chars, computed from its content (see paw_program_id).  The
 * program cache is keyed by it.  meta.program_id is kept for display: official
 * bundles carry the server's id there; bundles written by paw carry the
 * content ID (the writer fills it in when meta.program_id is NULL). */
#define PAW_PROGRAM_ID_LEN 20
#define PAW_PROGRAM_PLACEHOLDER "{INPUT_PLACEHOLDER}"

typedef struct paw_program_example {
    char *input;
    char *output;
} paw_program_example;

/* meta.json, parsed.  All strings are malloc'd and NUL-terminated; NULL (or 0)
 * means absent.  Keys this struct does not name (and examples or compiler in
 * shapes other than paw's) are kept, verbatim, in extra_json, so that reading
 * and writing a bundle loses nothing.  Free with paw_program_meta_clear. */
typedef struct paw_program_meta {
    char   *program_id;    /* display id (official: server id; paw: content ID) */
    char   *spec;          /* the English description it was compiled from      */
    char   *interpreter;   /* required: e.g. "Qwen/Qwen3-0.6B", "gpt2"          */
    char   *runtime_id;    /* e.g. "qwen3-0.6b-q6_k"                             */
    int     lora_rank;     /* 0 = absent                                         */
    double  lora_alpha;    /* 0 = absent                                         */
    char   *created_at;    /* ISO 8601 UTC, e.g. "2026-11-26T06:00:00Z"          */
    int     version;       /* bundle format version: 3 (0 is written as 3)       */
    char   *base_sha256;   /* hex SHA-256 of the interpreter GGUF it was trained on */
    paw_program_example *examples;  /* the examples it was compiled from       */
    size_t  n_examples;
    char   *compiler_name;          /* meta.compiler.name                       */
    char   *compiler_version;       /* meta.compiler.version                    */
    char   *compiler_settings_json; /* meta.compiler.settings, any JSON value   */
    char   *metrics_json;           /* meta.metrics, any JSON value             */
    char   *extra_json;             /* a JSON object of all other keys          */
} paw_program_meta;

typedef struct paw_bundle {
    uint8_t *adapter;              /* adapter.gguf bytes                       */
    size_t   adapter_len;
    char    *prompt_template;      /* prompt_template.txt, NUL-terminated      */
    size_t   prompt_template_len;
    char    *pseudo_program;       /* pseudo_program.txt, NULL if absent       */
    size_t   pseudo_program_len;
    paw_program_meta meta;
    char     id[PAW_PROGRAM_ID_LEN + 1];  /* content ID, set by the readers    */
} paw_bundle;

/* Reads and validates a .paw bundle.  Enforces the official limits: file
 * <= 256 MB, <= 256 members, <= 512 MB expanded (declared sizes and the bytes
 * actually inflated), no absolute or `..` paths, backslashes, symlinks,
 * duplicate names or encrypted members; the three required members present;
 * exactly one {INPUT_PLACEHOLDER} in a UTF-8 template; adapter.gguf a valid
 * GGUF (>= 1024 bytes) with general.type=adapter and adapter.type=lora;
 * meta.json an object with the fields' expected types.  Other members
 * (adapter_config.json, GPT-2 prefix_cache.bin, ...) must pass the same
 * name and size checks and are then ignored.  Otherwise
 * PAW_EFORMAT (PAW_ERANGE for a size or count limit, PAW_EUNSUPPORTED for an
 * unknown bundle version or an encrypted member) with a message naming the
 * problem; a file path is prefixed to it. */
PAW_API int  paw_bundle_read(const char *path, paw_bundle **out);
PAW_API int  paw_bundle_read_mem(const void *buf, size_t len, paw_bundle **out);
/* Reads an unpacked program directory (a cache entry), same validation. */
PAW_API int  paw_bundle_read_dir(const char *dir, paw_bundle **out);
/* Frees the bundle and everything it owns (NULL is fine). */
PAW_API void paw_bundle_free(paw_bundle *b);
/* Frees the strings and arrays of a meta (not the struct itself). */
PAW_API void paw_program_meta_clear(paw_program_meta *m);

/* Writes b as a .paw bundle with deterministic bytes (fixed member order,
 * 1980-01-01 timestamps, fixed compression, sorted-key JSON): the same content
 * always gives the same file.  Atomic (temp file, fsync, rename).  The bundle
 * is validated as the reader would.  Sets b->id. */
PAW_API int  paw_bundle_write(paw_bundle *b, const char *path);
/* Same, into memory (*out malloc'd). */
PAW_API int  paw_bundle_write_mem(paw_bundle *b, uint8_t **out, size_t *len);
/* meta.json exactly as the writer stores it (NUL-terminated, malloc'd). */
PAW_API int  paw_program_meta_json(const paw_program_meta *m, char **out, size_t *len);

/* The content ID of a bundle: the first 20 hex chars of
 *   SHA-256( "paw-program-v1\0"
 *            || u64le(len) || adapter.gguf
 *            || u64le(len) || prompt_template.txt
 *            || u64le(len) || pseudo_program.txt     (len 0 when absent)
 *            || u64le(len) || M )
 * where M is meta.json as paw writes it, minus program_id and created_at, in
 * compact form (jansson JSON_COMPACT | JSON_SORT_KEYS: sorted keys, ","/":"
 * separators, UTF-8 unescaped, integers as such, reals as C's %.17g with
 * ".0" added when that reads as an integer; known keys that are null are left
 * out; version defaults to 3).  So the ID names what the program does, not
 * when or by whom it was packed; reading a bundle and writing it back keeps
 * the ID.  An independent Python version: tests/golden/bundle/program_id.py. */
PAW_API int  paw_program_id(const paw_bundle *b, char id[PAW_PROGRAM_ID_LEN + 1]);

/* ---- the program cache: <cache root>/programs/ (root from paw_cache_dir)
 *   programs/<id>/{adapter.gguf,prompt_template.txt,meta.json[,pseudo_program.txt]}
 *   programs/<id>/... later: derived files such as the prefix KV cache
 *     (<id> is the content ID, also for official bundles, whose own id stays
 *     in meta.program_id; meta.json there is the writer's canonical form)
 *   programs/aliases.json        {"alias": "<id>", ...}
 *   programs/.staging/           installs are unpacked here, then renamed
 *   programs/.locks/<id>.lock    flock per program; aliases.lock for aliases
 */

/* Installs a bundle under its content ID (atomic, safe against concurrent
 * installs; installing a present program is a no-op).  alias (may be NULL)
 * is then pointed at it.  id_out (may be NULL) receives the ID. */
PAW_API int  paw_program_install(paw_bundle *b, const char *alias,
                         char id_out[PAW_PROGRAM_ID_LEN + 1]);
/* Reads the .paw file at path and installs it. */
PAW_API int  paw_program_install_file(const char *path, const char *alias,
                              char id_out[PAW_PROGRAM_ID_LEN + 1]);

/* Points alias at an installed program (id: full ID or unique prefix), or
 * removes the alias when id is NULL.  Aliases are 1-64 chars of
 * [A-Za-z0-9._@/-], start with a letter or digit, contain no "..", and are
 * not all hex digits (so that they cannot be mistaken for an ID). */
PAW_API int  paw_program_alias_set(const char *alias, const char *id);

#define PAW_PROGRAM_PATH_MAX 4096
typedef struct paw_program_ref {
    int  is_file;                       /* the argument was a .paw file        */
    char id[PAW_PROGRAM_ID_LEN + 1];    /* content ID                          */
    char file[PAW_PROGRAM_PATH_MAX];    /* the .paw path if is_file, else ""   */
    char dir[PAW_PROGRAM_PATH_MAX];     /* programs/<id> if installed, else "" */
} paw_program_ref;

/* Resolves a PROGRAM argument, in this order: an existing file (read and
 * validated as a .paw bundle), an alias, a full installed ID, a unique
 * prefix (>= 4 chars) of an installed ID, a hub reference fetched before
 * (from the local maps only: this never touches the network; see "programs
 * from the hub").  PAW_ENOTFOUND if nothing matches,
 * PAW_EINVAL for an ambiguous prefix (the message lists the candidates). */
PAW_API int  paw_program_resolve(const char *arg, paw_program_ref *out);

/* Same, for untrusted names (a server's request): an alias, a full
 * installed ID or a unique prefix, never a file path; so a name reaches the
 * filesystem only as a validated ID.  PAW_ENOTFOUND / PAW_EINVAL as above. */
PAW_API int  paw_program_resolve_installed(const char *name, paw_program_ref *out);

/* Reads a resolved program (from its cache dir if installed, else its file). */
PAW_API int  paw_bundle_load(const char *arg, paw_bundle **out);

typedef struct paw_program_info {
    char     id[PAW_PROGRAM_ID_LEN + 1];
    char    *aliases;       /* comma-separated, sorted; "" if none             */
    char    *program_id;    /* meta.program_id ("" if absent)                  */
    char    *spec_line;     /* first line of meta.spec ("" if absent)          */
    char    *interpreter;   /* meta.interpreter ("" if unreadable)             */
    uint64_t size;          /* bytes of the files in the directory             */
} paw_program_info;

/* Lists the installed programs, sorted by ID. */
PAW_API int  paw_program_list(paw_program_info **out, size_t *n);
PAW_API void paw_program_list_free(paw_program_info *list, size_t n);

/* ---- program runtime: running a program (or the bare base model) on inputs.
 * Official SDK semantics (paw.md §1.5-1.6): the prompt template is split at
 * {INPUT_PLACEHOLDER}; the prefix is tokenized (special tokens parsed; BOS
 * only when the model's metadata asks for one, which SmolLM2, Qwen3 and GPT-2
 * do not) and evaluated once; each call then rewinds the KV cache to the
 * prefix, evaluates input + suffix (the template's special-token text is
 * parsed as those tokens, the input's never is: an input cannot forge chat
 * markers), decodes greedily until an end-of-generation token or max_tokens,
 * detokenizes (invalid UTF-8 becomes U+FFFD) and strips surrounding ASCII
 * whitespace.  A prompt of n_ctx tokens or more is refused (PAW_ERANGE), never
 * truncated.
 *
 * The prefix KV is kept in the handle and, for installed programs, on disk as
 * programs/<id>/prefix_kv.<key>.bin, where <key> hashes the model id, the
 * adapter set and the KV dtype; a missing, stale or corrupt file is recomputed
 * and rewritten atomically.  A program opened from a .paw file that is not
 * installed keeps its prefix in memory only.
 *
 * Decoding is speculative unless opts.no_speculation: after the first output
 * token, the handle's most recent earlier output (or, before it has any, a
 * bundle example's output) that starts the same way is verified as a draft
 * in one batched forward call, and greedy keeps the longest prefix it agrees
 * with.  Outputs are exactly those of one-token-at-a-time decoding (a batch
 * row's logits equal one-token decoding's bit for bit); only time changes.
 * Drafting pauses while the handle measures verifying calls to cost more per
 * output token than single-token calls (busy cores: decoding is then bound
 * by arithmetic, not by reading the weights), probing again now and then.
 *
 * Threads: a handle is NOT safe for concurrent calls (it owns one KV cache
 * and its table of recent outputs).
 * Open one handle per thread; handles may share one paw_model (read-only),
 * and writing the same prefix file from several handles at once is safe. */
typedef struct paw_program paw_program;

#define PAW_PROGRAM_MAX_TOKENS 512   /* the SDK CLI's default                */

typedef struct paw_program_opts {
    int32_t n_ctx;            /* 0 = min(2048, the model's training ctx), as
                                 the SDK's n_ctx=2048                        */
    int     n_threads;        /* 0 = one per online CPU                       */
    int     kv_type;          /* PAW_TYPE_F32 (0) or PAW_TYPE_F16              */
    int     no_disk_cache;    /* keep the prefix KV in memory only            */
    int     no_prefix_cache;  /* evaluate the whole prompt on every call (the
                                 cold path, for measurements and tests)        */
    int     no_base_check;    /* skip the base-model check (experts only)     */
    int     no_speculation;   /* decode one token per forward call instead of
                                 verifying drafts from earlier outputs (the
                                 outputs are the same either way)            */
    int     spec_always;      /* verify drafts even while this handle's timings
                                 say single-token calls are faster (tests and
                                 measurements of the mechanism)               */
    int     no_fetch;         /* never contact the hub: a hub reference must
                                 have been fetched before (see "programs from
                                 the hub"); PAW_OFFLINE=1 has the same effect */
    int     free_decoding;    /* ignore a closed-label program's labels and
                                 decode freely (paw run --free)               */
    int     int8;             /* run with int8 products (paw_ctx_params.int8:
                                 faster prompts on AVX-512 VNNI CPUs, outputs
                                 within float rounding of llama.cpp's instead
                                 of its bits; paw run --int8)                 */
} paw_program_opts;

/* Where a handle's prefix KV came from when it was opened. */
enum paw_prefix_source {
    PAW_PREFIX_NONE = 0,      /* empty prefix, or no_prefix_cache             */
    PAW_PREFIX_COMPUTED,      /* evaluated (and written to disk if installed) */
    PAW_PREFIX_DISK,          /* read back from programs/<id>/prefix_kv.*.bin */
};

typedef struct paw_program_stats {
    int32_t  n_prefix;        /* tokens of the template prefix                */
    int      prefix_source;   /* enum paw_prefix_source                       */
    int      prefix_rewritten;/* a disk file existed but was stale or corrupt */
    double   prefix_ms;       /* time to get the prefix KV at open            */
    uint64_t n_calls;
    /* the last call */
    int32_t  n_prompt;        /* tokens evaluated (input + suffix; the whole
                                 prompt with no_prefix_cache)                 */
    int32_t  n_gen;           /* tokens generated (EOG excluded)              */
    int      stop_reason;     /* enum paw_stop_reason                         */
    double   prefill_ms, decode_ms, total_ms;
    /* speculative decoding: a handle remembers its recent outputs (and the
     * bundle's example outputs) and, after the first output token, checks
     * the one that continues it as a draft in one batched forward call;
     * greedy decides, so outputs never change.  Last call, then totals. */
    int32_t  n_forward;       /* forward calls after the prefill              */
    int32_t  n_drafted;       /* draft tokens verified                        */
    int32_t  n_accepted;      /* draft tokens greedy agreed with              */
    uint64_t total_drafted, total_accepted;
} paw_program_stats;

/* Opens PROGRAM (a .paw path, an alias, an ID or a unique ID prefix; see
 * paw_program_resolve; or a hub reference, fetched first with
 * paw_program_fetch unless opts.no_fetch) on model m, attaches its adapter and readies the
 * prefix KV.  The program must have been made for this base: meta.base_sha256
 * (when present) must equal the SHA-256 of the model's GGUF; otherwise the
 * base named by meta.runtime_id / meta.interpreter must match the model's
 * architecture and general.basename/size_label.  A mismatch is PAW_EINVAL with
 * a message naming the base needed and the `paw pull` command that gets it.
 * opts may be NULL. */
PAW_API int  paw_program_open(const paw_model *m, const char *program,
                      const paw_program_opts *opts, paw_program **out);
/* Same for an installed program only, named as paw_program_resolve_installed
 * takes it (never a file path). */
PAW_API int  paw_program_open_installed(const paw_model *m, const char *name,
                                const paw_program_opts *opts, paw_program **out);
/* Same for a bundle in memory (not installed: memory prefix cache only). */
PAW_API int  paw_program_open_bundle(const paw_model *m, const paw_bundle *b,
                             const paw_program_opts *opts, paw_program **out);
/* The adapter-free base mode (SDK: paw.function(None, interpreter=...)): the
 * model's chat template with the input as the only user message and the
 * assistant header after it.  For Qwen3 this is exactly the SDK's bare
 * template; GPT-2 (no chat template) gets the input as is; SmolLM2's template
 * inserts its default system message (the SDK has no SmolLM2 mode; we use
 * what the model's own template renders). */
PAW_API int  paw_program_open_base(const paw_model *m, const paw_program_opts *opts, paw_program **out);
/* A handle for any prompt template holding exactly one {INPUT_PLACEHOLDER}
 * (rendered text, special tokens allowed), no adapter, memory prefix cache:
 * what the evaluation baselines run on. */
PAW_API int  paw_program_open_template(const paw_model *m, const char *tmpl, size_t len,
                               const paw_program_opts *opts, paw_program **out);

/* Runs the program on input[0..len).  max_tokens: 0 = PAW_PROGRAM_MAX_TOKENS,
 * < 0 = until EOG or a full context.  *out (malloc'd, NUL-terminated) is the
 * stripped output; out_len may be NULL. */
PAW_API int  paw_program_call(paw_program *p, const char *input, size_t len, int32_t max_tokens,
                      char **out, size_t *out_len);
/* Same, streaming: on_text (may be NULL) is called with each piece of the
 * output as soon as it is final, on the calling thread, while decoding goes
 * on; the pieces concatenated are exactly *out (surrounding whitespace is
 * held back until it is known not to be stripped, an incomplete UTF-8
 * character until it is complete).  A closed-label program's label comes as
 * one piece once decided.  on_text returning non-zero stops decoding: *out
 * is then the output so far and the stats' stop_reason PAW_STOP_CALLBACK. */
PAW_API int  paw_program_call_stream(paw_program *p, const char *input, size_t len, int32_t max_tokens,
                             paw_text_fn on_text, void *ud, char **out, size_t *out_len);
PAW_API void paw_program_close(paw_program *p);
/* Several calls at once: handle ps[i] runs inputs[i][0..lens[i]) as
 * paw_program_call(ps[i], ..., max_tokens) would, and all of them decode
 * greedily in lockstep, one paw_decode_batch per step over the rows still
 * running (each with its own prefix KV, adapter and labels; rows finish at
 * different steps).  Outputs are exactly the one-at-a-time outputs.  The
 * handles must be distinct (each holds one KV cache; open several handles
 * of a program to batch its inputs) and on one model; they may run the same
 * program or different ones.  Runs on ps[0]'s threads; no speculation.
 * outs[i] (malloc'd) and out_lens[i] (out_lens may be NULL) as
 * paw_program_call's; rcs[i] = PAW_OK or the error code that call would
 * give (outs[i] NULL; paw_last_error() holds the last row's message, so call
 * that row alone for its own).  Returns PAW_OK once every row was tried;
 * PAW_EINVAL (a NULL argument, a shared handle, mixed models) or PAW_ENOMEM
 * before any. */
PAW_API int  paw_program_call_batch(paw_program *const *ps, const char *const *inputs, const size_t *lens,
                                    int n, int32_t max_tokens, char **outs, size_t *out_lens, int *rcs);

/* Closed-label programs: a bundle whose meta.json holds "labels": [string,
 * ...] (2 or more distinct, non-empty; paw's compiler writes it, see
 * paw_compile) is decoded only within that set unless opts.free_decoding:
 * the labels' token paths (tokens(label) + the end-of-turn token) form a
 * trie, and greedy decoding picks the highest-logit child at each node, so a
 * call's output is always exactly one of the labels (max_tokens is then
 * ignored).  Programs without labels, and official bundles, decode as
 * before.  The number of labels in force (0: none, or free_decoding) and
 * label i (pointing into the handle): */
PAW_API int32_t     paw_program_n_labels(const paw_program *p);
PAW_API const char *paw_program_label(const paw_program *p, int32_t i);
/* A call that also scores every label: probs[i] (n_labels of them, the
 * caller's array) is P(label i | input) = the product, along label i's path,
 * of each token's probability under the full-vocabulary softmax (the end
 * token included), divided by the sum of those products over the labels, so
 * the probs sum to 1.  *out is the greedy label (as paw_program_call gives;
 * almost always, but not necessarily, the label of the highest prob), and
 * *best (may be NULL) its index.  Costs one forward call per trie node, not
 * just the greedy path's.  PAW_EINVAL when no labels are in force. */
PAW_API int  paw_program_call_scores(paw_program *p, const char *input, size_t len, double *probs,
                             int32_t *best, char **out, size_t *out_len);

PAW_API void paw_program_get_stats(const paw_program *p, paw_program_stats *out);
/* The content ID ("" in base/template mode) and the prefix KV file ("" when
 * there is none). */
PAW_API const char *paw_program_handle_id(const paw_program *p);
PAW_API const char *paw_program_prefix_path(const paw_program *p);
/* Bytes the handle holds (its ctx, adapter and prompt pieces; the shared
 * model not counted): what a server budgets its resident programs by. */
PAW_API size_t paw_program_memory(const paw_program *p);

/* ---- programs from the hub (src/net; paw.md §5.4-5.5)
 * Hub references, accepted wherever a PROGRAM is (after the local forms: a
 * .paw file, an alias, an installed ID or prefix, which win):
 *   - a hub program ID: 16-64 lowercase hex digits ("d67162f3ab9562fe2826");
 *   - "user/slug" and an official bare name ("email-triage"): resolved with
 *     GET /api/v1/programs/resolve/{slug} each time they are fetched (the
 *     slug may point at a new version); when the hub cannot be reached (or
 *     answers 429/5xx) the ID it gave last time is used;
 *   - "user/slug@vN": pinned and immutable, resolved once, never again.
 * The bundle comes from GET /api/v1/programs/{id}/download (200; a 3xx to a
 * CDN, followed without the API key; 202 + Retry-After while the hub builds
 * it, polled for up to 60 s), is validated exactly as paw_bundle_read does,
 * must name the requested ID in meta.program_id and a runtime paw knows, and
 * is installed by content ID (the same program fetched twice, or by ID and by
 * slug, is stored once).  Maps: programs/slug_cache.json (slug -> hub ID)
 * and programs/hub_ids.json (hub ID -> content ID), written only after a
 * successful install; a failed fetch leaves nothing in the cache.
 * Official GPT-2 bundles' prefix_cache.bin / prefix_tokens.json are never
 * used: paw computes the prefix KV itself (see "program runtime").
 * Environment: PAW_API_URL (default https://programasweights.com),
 * PAW_API_KEY (sent as X-API-Key, to the hub only), PAW_OFFLINE=1 (never
 * touch the network; a reference not cached is PAW_ENOTFOUND naming it).
 * Errors: 404 PAW_ENOTFOUND; 401/403 PAW_EINVAL; 429, 5xx and transport
 * failures PAW_ENET; a bad bundle PAW_EFORMAT (or the reader's code). */

/* Makes PROGRAM runnable offline: a local form resolves as in
 * paw_program_resolve (a .paw file not installed is installed); a hub
 * reference is resolved, downloaded and installed as above.  id_out gets the
 * content ID.  progress (may be NULL) reports the bundle download. */
PAW_API int  paw_program_fetch(const char *program, paw_progress_fn progress, void *ud,
                       char id_out[PAW_PROGRAM_ID_LEN + 1]);

/* Same for untrusted names (a server's request): an installed alias, ID or
 * unique prefix (paw_program_resolve_installed), else a hub reference
 * fetched as above; never a file path, so a name reaches the filesystem
 * only as a validated ID.  The same errors as paw_program_fetch. */
PAW_API int  paw_program_fetch_installed(const char *name, paw_progress_fn progress, void *ud,
                                 char id_out[PAW_PROGRAM_ID_LEN + 1]);

/* The base model PROGRAM (anything paw_program_resolve accepts) runs on:
 * its meta.runtime_id (else meta.interpreter) mapped to a model paw_pull
 * knows (qwen3-0.6b-q6_k -> qwen3-0.6b, gpt2-q8_0 -> gpt2,
 * smollm2-135m-q4_1 -> smollm2-135m).  Writes the model's cache path.  When
 * it is not cached: PAW_ENOTFOUND if !pull or PAW_OFFLINE=1, else it is
 * pulled (pinned size + SHA-256; the hub's runtime manifest, when it names
 * another SHA-256, makes it PAW_EHASH).  An unknown runtime is
 * PAW_EUNSUPPORTED. */
PAW_API int  paw_program_base_model(const char *program, int pull, paw_progress_fn progress, void *ud,
                            char *path, size_t cap);

/* GET /api/v1/programs?q=QUERY: the hub's JSON answer, as sent (validated as
 * JSON; *json NUL-terminated, release with paw_free). */
PAW_API int  paw_hub_search(const char *query, char **json, size_t *len);

/* ---- evaluation suites: JSONL, one task per line (../shared/eval format):
 *   {"id": "...", "category": "...", "spec": "...",
 *    "train": [{"input": "...", "output": "..."}, ...], "test": [...]}
 * Scored by exact match after stripping surrounding whitespace (paw.md §7). */
typedef struct paw_suite_task {
    char   *id, *category, *spec;        /* category may be "" */
    paw_program_example *train, *test;
    size_t  n_train, n_test;
} paw_suite_task;

/* Reads a suite; blank lines are skipped.  PAW_EFORMAT naming the line
 * number for a line that is not such an object (or a duplicate id). */
PAW_API int  paw_suite_read(const char *path, paw_suite_task **tasks, size_t *n);
PAW_API void paw_suite_free(paw_suite_task *tasks, size_t n);

/* The prompt baselines (base model, no adapter), as prompt templates for
 * paw_program_open_template: the model's chat template with one user message
 *   zero-shot:  SPEC "\n\nInput: " {INPUT_PLACEHOLDER} "\nOutput:"
 *   few-shot:   SPEC "\n\nExamples:\n\n" ("Input: " x "\nOutput: " y "\n\n")
 *               for each train example, then "Input: " {INPUT_PLACEHOLDER}
 *               "\nOutput:"
 * and the assistant header.  So the spec (and examples) are a fixed prefix
 * per task whose KV is computed once. */
enum paw_baseline { PAW_BASELINE_ZERO_SHOT = 1, PAW_BASELINE_FEW_SHOT = 2 };
PAW_API int  paw_baseline_template(const paw_model *m, const paw_suite_task *t, int kind,
                           char **out, size_t *len);
/* 1 if output equals expected after stripping surrounding ASCII whitespace. */
PAW_API int  paw_exact_match(const char *expected, const char *output);

/* ---- fitting a program's adapter (src/compile/fit.c): the training loop
 * `paw train` and paw_compile share.  Examples are tokenized exactly as the
 * program runtime tokenizes a call on `tmpl` (its prefix shared by every
 * example, input + suffix as the prompt), and the target is the output
 * followed by paw_fit_end_token, so a fitted program stops where its output
 * ends. */

/* What on_step sees after each optimisation step. */
typedef struct paw_fit_step {
    int32_t step, steps;      /* steps done (from 1), steps planned            */
    int32_t batch, n_prefix;  /* examples per step, shared prefix tokens       */
    double  loss;             /* the batch loss before this step's update      */
    double  grad_norm;        /* gradient norm before clipping                 */
    double  seconds;          /* since fitting started                         */
    double  tokens;           /* tokens processed so far (prefix once a step)  */
    const paw_trainer *trainer; /* the adapter as it is now (e.g. to evaluate:
                                   paw_trainer_save_gguf_mem)                  */
} paw_fit_step;

/* on_step's answers: 0 goes on; PAW_FIT_STOP ends fitting with the adapter
 * as it is (paw_fit succeeds); any other value cancels (PAW_ECANCELED). */
#define PAW_FIT_STOP 1
typedef int (*paw_fit_fn)(void *ud, const paw_fit_step *s);

typedef struct paw_fit_params {
    paw_train_params train;   /* rank, alpha, targets, lr, steps, seed, ...    */
    int32_t     batch;        /* examples per step; 0 = 8 (at most all)        */
    const char *init_adapter; /* start from this adapter GGUF (NULL: fresh)    */
    paw_fit_fn  on_step;      /* may be NULL                                   */
    void       *ud;
    int32_t    *failed_example; /* may be NULL; receives the index of the
                                   example an error is about, else -1       */
    /* Optional: a closed-label program's labels (2 to 4096, non-empty, no
     * two that tokenize the same).  Each example's output must be one of
     * them, and its loss ranges over the labels' trie (the ids
     * that decoding within the labels chooses between: paw_train_example's
     * choices), not the whole vocabulary. */
    const char *const *labels;
    size_t      n_labels;
} paw_fit_params;

/* The token that ends an example's target: the token the model's own chat
 * template writes after an assistant message (<|im_end|> for ChatML and
 * Qwen3), the model's EOS when it has no chat template. */
PAW_API int32_t paw_fit_end_token(const paw_model *m, const paw_tokenizer *tok);
/* Trains a new adapter on ex[0..n_ex) through template tmpl[0..tmpl_len)
 * (exactly one {INPUT_PLACEHOLDER}; NULL = the bare input) and returns the
 * trainer holding it (save it with paw_trainer_save_gguf / _mem / _peft;
 * free with paw_trainer_free).  PAW_EINVAL naming the example for one that
 * cannot be tokenized, PAW_ERANGE for one that does not fit the model's
 * context with the template, PAW_ECANCELED when on_step cancels. */
PAW_API int  paw_fit(const paw_model *m, const char *tmpl, size_t tmpl_len,
                     const paw_program_example *ex, size_t n_ex,
                     const paw_fit_params *p, paw_trainer **out);

/* ---- the compiler (src/compile): spec + examples -> neural program.
 * Stages: (1) the pseudo-program (paw.md §1.3 form): with a teacher, the
 * teacher rewrites the spec and the user's examples into it (validated;
 * asked once more when malformed, then the no-teacher form is used and the
 * report says "fallback"); without one it is built from the spec and the
 * first examples; (2) the training data: the user's examples (stripped,
 * first of each input kept) plus, with a teacher, examples it synthesises
 * (inputs first, then one output each, filtered and deduplicated; a user
 * example always wins); fewer than min_examples valid ones stop the
 * compile; (3) the LoRA is trained through the frozen model with the
 * official runtime prompt (§1.5), and training stops early once greedy
 * exact match on the validation set (with >= 16 examples a held-out
 * quarter, taken from the user's examples first, at most half of them;
 * else the training set), run through the real program runtime, reaches
 * 100%; (4) the adapter is Q4_0 unless that loses validation matches (F16).
 * Deterministic: the same model, inputs, teacher replies, options and
 * n_threads give the same bundle bytes (created_at is fixed at
 * PAW_COMPILE_CREATED_AT; wall-clock times go into meta.metrics only with
 * record_timings).
 *
 * Examples written inside the spec (paw_compile_spec_examples) are used
 * unless opts.no_spec_examples: after the ones passed in ex, so that on the
 * same input a passed example wins; the spec text is kept as written.
 * Closed-label rule: when every training output is a single line of at most
 * 64 bytes and the distinct outputs number 2 to 128 and at most half the
 * examples (each label seen twice on average), the program is a closed-label
 * program: meta.json gets "labels" (in order of first appearance) and the
 * runtime decodes within them (see "Closed-label programs"); validation and
 * the report decode the same way.  opts.no_labels turns the rule off.
 * The report (meta.metrics): "cv" = {folds, steps, n, em[, labels: {label:
 * {precision, recall, support}}]}, a k-fold cross-validation of the recipe
 * on the compile's own examples only (example i held out in fold i mod k;
 * each fold trains a fresh adapter for the steps the program itself took,
 * then predicts its held-out examples through the runtime; without a
 * teacher each fold's pseudo-program shows only its own training examples;
 * "curve": [{steps, em}] at every check on the way); computed only when
 * cv_folds >= 2 and there are at least 2k examples.  "train_wrong" = the training
 * examples (at most 20) the program gets wrong, with its output. */
#define PAW_COMPILE_CREATED_AT "1980-01-01T00:00:00Z"

/* Teachers (src/compile/teacher*.c): the model that writes the
 * pseudo-program and synthesises training examples.  A local instruct GGUF
 * run by paw's own engine, or any OpenAI-compatible chat endpoint
 * (POST {url}/v1/chat/completions; url may already end in /v1 or in
 * /v1/chat/completions).  Replies are greedy (temperature 0, the seed sent
 * along), so a teacher that honours that is deterministic. */
typedef struct paw_teacher paw_teacher;
typedef struct paw_teacher_opts {
    int      n_threads;      /* local teacher: 0 = one per online CPU          */
    int32_t  n_ctx;          /* local teacher: 0 = min(4096, the model's)      */
    const char *model_name;  /* url teacher: "model" field; NULL = "default"   */
    const char *api_key;     /* url teacher: Bearer token; NULL = none (the CLI
                                reads it from $PAW_TEACHER_API_KEY or
                                $OPENAI_API_KEY, never from argv)              */
    double   timeout_s;      /* url teacher: whole request; 0 = 300            */
    uint64_t seed;
} paw_teacher_opts;
/* Loads a local GGUF teacher (its chat template from its metadata). */
PAW_API int  paw_teacher_open_model(const char *gguf_path, const paw_teacher_opts *o, paw_teacher **out);
/* Checks the URL's form only; nothing is sent until the first chat. */
PAW_API int  paw_teacher_open_url(const char *url, const paw_teacher_opts *o, paw_teacher **out);
/* One greedy chat turn: system (may be NULL) + user -> *reply (malloc'd, the
 * assistant text with surrounding whitespace stripped).  PAW_ENET when the
 * endpoint cannot be reached or answers HTTP >= 400 (message names the URL
 * and status), PAW_EFORMAT for a reply that is not the OpenAI shape; the
 * error message says which. */
PAW_API int  paw_teacher_chat(paw_teacher *t, const char *system, const char *user,
                      int32_t max_tokens, char **reply);
/* "gguf:<file name>:<sha256 prefix>" or "url:<url>#<model name>". */
PAW_API const char *paw_teacher_name(const paw_teacher *t);
PAW_API void paw_teacher_free(paw_teacher *t);

typedef struct paw_compile_opts {
    paw_teacher *teacher;    /* NULL = the no-teacher path (not owned)         */
    int32_t  n_synth;        /* with a teacher: inputs to synthesise; 0 = 24,
                                < 0 = none (the teacher writes the
                                pseudo-program only)                           */
    int32_t  min_examples;   /* fewer valid examples -> PAW_EINVAL; 0 = 4      */
    int32_t  rank;           /* 0 = 8                                          */
    float    alpha;          /* 0 = 2 * rank                                   */
    float    lr;             /* 0 = 2e-3                                       */
    int32_t  steps;          /* max steps; 0 = 60                              */
    int32_t  eval_every;     /* 0 = 10                                         */
    uint64_t seed;
    int      n_threads;      /* 0 = one per online CPU                         */
    int      record_timings; /* put seconds per stage into meta.metrics        */
    int      no_spec_examples; /* do not read examples from the spec's text  */
    int      no_labels;      /* never make a closed-label program              */
    int32_t  cv_folds;       /* folds of the cross-validated estimate, >= 2;
                                <= 0 = no estimate (the default: k folds cost
                                about k times the training)                    */
    const char *model_path;  /* the GGUF m was loaded from: base_sha256        */
    /* progress (may be NULL): a stage name and a line of text */
    void   (*progress)(void *ud, const char *stage, const char *msg);
    void    *ud;
    /* cancellation (may be NULL): polled between stages, teacher requests
     * and training steps; non-zero stops the compile with PAW_ECANCELED
     * (nothing is written, as on any failure) */
    int    (*cancelled)(void *ud);
    /* the stopping rule: 100% validation exact match stops training only at
     * a check at or after this step (0 = the default, 20: chosen by
     * bench/recipe_study.py; >= steps: always train all steps) */
    int32_t  min_steps;
    /* variants per example of a program whose outputs copy words of their
     * inputs (those words replaced by others of the same shape, in input
     * and output alike: see src/compile/augment.c), added to the training
     * examples only; never for a closed-label program.  0 = the default,
     * < 0 = none, at most 64 */
    int32_t  augment;
    /* a closed-label program's training loss: > 0 = over its labels only
     * (each output token scored against the tokens decoding within the
     * labels chooses between: paw_fit_params.labels), < 0 = over the whole
     * vocabulary, 0 = the default */
    int32_t  label_loss;
} paw_compile_opts;

typedef struct paw_compile_result {
    paw_bundle *bundle;   /* the program (id set)                       */
    char    id[PAW_PROGRAM_ID_LEN + 1];
    double  train_em, val_em, loss_first, loss_last;
    int32_t steps, n_train, n_val;  /* n_val 0: validated on the training set */
    int     adapter_type;         /* PAW_TYPE_Q4_0 or PAW_TYPE_F16              */
    /* where the program's text and data came from (also in meta.json) */
    const char *pseudo_source;    /* "teacher", "fallback" (the teacher's was
                                     unusable twice) or "spec" (no teacher);
                                     a static string                           */
    int32_t n_user;               /* user examples kept (after normalising)     */
    int32_t n_user_dropped;       /* duplicate inputs, empty outputs            */
    int32_t n_synth;              /* synthesised examples accepted              */
    int32_t n_synth_rejected;     /* synthesised candidates dropped             */
    double  seconds_pseudo, seconds_synth, seconds_train, seconds_export;
    /* round 2 */
    int32_t n_spec;               /* examples found in the spec's text         */
    int32_t n_spec_used;          /* of those, kept (inputs not already given) */
    int32_t n_labels;             /* > 0: a closed-label program (meta.labels)  */
    int32_t cv_folds;             /* 0: no cross-validated estimate             */
    double  cv_em;                /* cross-validated exact match (see paw_compile) */
    int32_t n_train_wrong;        /* training examples the program gets wrong   */
    double  seconds_cv;
    int32_t n_variants;           /* augmented variants trained beside the
                                     training examples (paw_compile_opts.augment) */
} paw_compile_result;

/* Compiles; result->bundle is not installed or written (see
 * paw_program_install / paw_bundle_write).  PAW_EINVAL for an empty
 * spec or fewer than min_examples valid examples (the message says how many
 * were valid and why the others were dropped); a teacher's PAW_ENET or
 * PAW_EFORMAT (each request is tried twice) is returned, naming the teacher
 * and the stage.  Nothing is written anywhere on failure. */
PAW_API int  paw_compile(const paw_model *m, const char *spec, const paw_program_example *ex, size_t n_ex,
                 const paw_compile_opts *opts, paw_compile_result *result);
PAW_API void paw_compile_result_clear(paw_compile_result *r);
/* The input/output examples written inside a spec's text, in order (the
 * forms: src/compile/spec_examples.c): "Input: X" / "Output: Y" lines,
 * "Input: X -> Output: Y" (or → or =>) on one line, "X -> Y" lines in an
 * "Examples:" block, {"input": X, "output": Y} JSON lines.  *ex is one
 * block (the strings inside it): release it with paw_free(*ex).  paw_compile
 * calls this itself unless opts.no_spec_examples. */
PAW_API int  paw_compile_spec_examples(const char *spec, paw_program_example **ex, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* PAW_H */
