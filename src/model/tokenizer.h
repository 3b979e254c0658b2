/* tokenizer.h — internals shared by the tokenizer files (tokenizer.c: loading,
 * special tokens, public API; tok_spm.c: SentencePiece; tok_bpe.c: byte-level
 * BPE and pre-tokenizers).  Not part of the public API. */
#ifndef PAW_TOKENIZER_H
#define PAW_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "core/common.h"

/* GGUF token types (tokenizer.ggml.token_type), llama.cpp's numbering. */
enum tok_type {
    TOK_UNDEFINED = 0, TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3,
    TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6
};

enum tok_kind { TOK_SPM = 1, TOK_BPE = 2 };

/* Open-addressing hash map from byte strings to int32.  Keys are not copied:
 * they point into storage owned by the tokenizer (the token text arena, the
 * merges arena), which lives as long as the map. */
typedef struct tok_map {
    const char **key;
    uint32_t    *klen;
    int32_t     *val;
    size_t       cap;   /* power of two; 0 = empty map */
} tok_map;

int     tok_map_init(tok_map *m, size_t n_expected);
void    tok_map_free(tok_map *m);
/* Inserts or overwrites (the last insert of a key wins, as in llama.cpp). */
void    tok_map_put(tok_map *m, const char *k, size_t len, int32_t v);
int32_t tok_map_get(const tok_map *m, const char *k, size_t len); /* -1 if absent */

/* A growable id vector; push fails only on allocation failure. */
typedef struct tok_ids {
    int32_t *v;
    size_t   n, cap;
} tok_ids;
int tok_ids_push(tok_ids *o, int32_t id);

/* A growable byte buffer for scratch text. */
typedef struct tok_buf {
    char  *p;
    size_t n, cap;
} tok_buf;
int tok_buf_reserve(tok_buf *b, size_t need);
int tok_buf_append(tok_buf *b, const void *p, size_t n);

/* A candidate merge of two adjacent symbols.  Lower `key` wins; ties go to
 * the leftmost pair (both SentencePiece and BPE break ties that way). */
typedef struct tok_bigram {
    int32_t left, right;
    double  key;
    size_t  size;      /* byte length of the merged text when queued */
} tok_bigram;

typedef struct tok_heap {
    tok_bigram *v;
    size_t      n, cap;
} tok_heap;
int  tok_heap_push(tok_heap *h, tok_bigram b);
int  tok_heap_pop(tok_heap *h, tok_bigram *out);   /* 0 if empty */

/* One symbol of a word being merged: a byte range, linked to its neighbours. */
typedef struct tok_sym {
    size_t  off, n;
    int32_t prev, next;
} tok_sym;

/* Per-call scratch, so that encoding allocates once per paw_tokenize call
 * rather than once per word, and stays thread-safe on a const tokenizer. */
typedef struct tok_scratch {
    tok_buf  text;       /* escaped / normalised text of a fragment          */
    tok_buf  word;       /* byte-level encoded word                         */
    tok_buf  key;        /* merge lookup key "left right"                   */
    tok_sym *sym;
    size_t   sym_cap;
    tok_heap heap;
    void    *match_data; /* pcre2_match_data_8 *                             */
    size_t  *frag;       /* (offset, length) pairs of pre-tokenizer pieces  */
    size_t  *frag2;
    size_t   frag_cap;
} tok_scratch;
void tok_scratch_free(tok_scratch *s);
int  tok_scratch_syms(tok_scratch *s, size_t n);
/* Splits w[0..wn) (wn > 0) into one symbol per UTF-8 character in s->sym,
 * linked as a list, and empties the merge heap: the starting point of both
 * the BPE and the SentencePiece merge loops.  *nsym gets the count. */
int  tok_split_symbols(tok_scratch *s, const char *w, size_t wn, int32_t *nsym);

#define TOK_MAX_REGEX 4

struct paw_tokenizer {
    int      kind;              /* enum tok_kind                              */
    int32_t  n_vocab;
    char    *arena;             /* all token texts, back to back              */
    paw_str *text;              /* per id, into arena                         */
    uint8_t *type;              /* per id, enum tok_type                      */
    float   *score;             /* per id (SentencePiece); NULL for BPE       */
    uint8_t *eog;               /* per id: 1 if end-of-generation             */
    tok_map  vocab;             /* text -> id                                 */

    int32_t  bos, eos, eot, eom, unk, pad;
    int      add_bos;
    int      add_space_prefix;  /* SentencePiece: prepend ▁ to the text       */

    /* Tokens matched as a whole in the text (CONTROL, USER_DEFINED, UNKNOWN),
     * sorted by first byte then by length, longest first; those starting
     * with byte c are special[special_start[c] .. special_start[c+1]). */
    int32_t *special;
    size_t   n_special;
    uint32_t special_start[257];

    /* SentencePiece: the <0xNN> token of each byte (-1 if missing). */
    int32_t  byte_tok[256];

    /* Byte-level BPE */
    char    *merge_arena;       /* merge strings "left right"                 */
    tok_map  merges;            /* "left right" -> rank                       */
    int      ignore_merges;     /* whole-word tokens skip BPE (llama3)        */
    int      nfc;               /* NFC-normalise text (tokenizer.paw.normalizer) */
    void    *re[TOK_MAX_REGEX]; /* pcre2_code_8 *, applied in order           */
    int      n_re;
    char     bl_enc[256][3];    /* byte -> byte-level char (UTF-8, NUL-ended) */
    uint8_t  bl_enc_len[256];
    int16_t  bl_dec[0x144];     /* byte-level code point -> byte, -1 if none  */
};

/* tok_spm.c */
int tok_spm_encode(const paw_tokenizer *t, const char *s, size_t n, int prefix_space,
                   tok_scratch *sc, tok_ids *out);
int tok_spm_decode_piece(const paw_tokenizer *t, int32_t id, tok_buf *out);

/* tok_bpe.c */
int  tok_bpe_init(paw_tokenizer *t, const char *pre, size_t pre_len);
void tok_bpe_free(paw_tokenizer *t);
int  tok_bpe_encode(const paw_tokenizer *t, const char *s, size_t n,
                    tok_scratch *sc, tok_ids *out);
int  tok_bpe_decode_piece(const paw_tokenizer *t, int32_t id, tok_buf *out);
void tok_bpe_free_match(tok_scratch *s);   /* frees s->match_data */

/* Length of the UTF-8 character starting at s[0], as llama.cpp splits text:
 * by the lead byte, clipped to the bytes left.  Unlike llama.cpp, a lead byte
 * whose continuation bytes are missing is a character of its own, so that an
 * invalid byte cannot swallow the start of the next (valid) character. */
static inline size_t tok_utf8_len(const char *s, size_t left)
{
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    size_t l = lookup[(uint8_t)s[0] >> 4];
    if (l > left) return 1;
    for (size_t i = 1; i < l; i++)
        if (((uint8_t)s[i] & 0xC0) != 0x80) return 1;
    return l;
}

#endif
