/* tokenizer.c — builds a tokenizer from a GGUF's tokenizer.* metadata and
 * implements the public tokenizer API.  The text is first cut at special
 * tokens (when asked to), then each plain fragment goes to the SentencePiece
 * (tok_spm.c) or byte-level BPE (tok_bpe.c) encoder.  Behaviour follows
 * llama.cpp's, which is what the GGUF metadata was written for. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "model/tokenizer.h"

/* ------------------------------------------------------------ small tools */

static uint64_t tok_hash(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ull;            /* FNV-1a */
    for (size_t i = 0; i < len; i++) { h ^= (uint8_t)k[i]; h *= 1099511628211ull; }
    return h ^ (h >> 29);
}

int tok_map_init(tok_map *m, size_t n_expected)
{
    size_t cap = 16;
    while (cap < n_expected * 2) cap *= 2;
    m->cap = cap;
    m->key = calloc(cap, sizeof *m->key);
    m->klen = calloc(cap, sizeof *m->klen);
    m->val = calloc(cap, sizeof *m->val);
    if (!m->key || !m->klen || !m->val) { tok_map_free(m); return PAW_ENOMEM; }
    return PAW_OK;
}

void tok_map_free(tok_map *m)
{
    free(m->key); free(m->klen); free(m->val);
    memset(m, 0, sizeof *m);
}

/* The map is sized at init for every key it will hold, so put never grows. */
void tok_map_put(tok_map *m, const char *k, size_t len, int32_t v)
{
    size_t mask = m->cap - 1, i = tok_hash(k, len) & mask;
    while (m->key[i]) {
        if (m->klen[i] == len && !memcmp(m->key[i], k, len)) { m->val[i] = v; return; }
        i = (i + 1) & mask;
    }
    m->key[i] = k; m->klen[i] = (uint32_t)len; m->val[i] = v;
}

int32_t tok_map_get(const tok_map *m, const char *k, size_t len)
{
    if (!m->cap) return -1;
    size_t mask = m->cap - 1, i = tok_hash(k, len) & mask;
    while (m->key[i]) {
        if (m->klen[i] == len && !memcmp(m->key[i], k, len)) return m->val[i];
        i = (i + 1) & mask;
    }
    return -1;
}

int tok_ids_push(tok_ids *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
        o->v = v; o->cap = cap;
    }
    o->v[o->n++] = id;
    return PAW_OK;
}

int tok_buf_reserve(tok_buf *b, size_t need)
{
    if (need <= b->cap) return PAW_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return paw_err(PAW_ENOMEM, "tokenizer: text too large");
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
    b->p = p; b->cap = cap;
    return PAW_OK;
}

int tok_buf_append(tok_buf *b, const void *p, size_t n)
{
    int rc = tok_buf_reserve(b, b->n + n + 1);
    if (rc) return rc;
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return PAW_OK;
}

static int bigram_before(const tok_bigram *a, const tok_bigram *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

int tok_heap_push(tok_heap *h, tok_bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_bigram *v = realloc(h->v, cap * sizeof *v);
        if (!v) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
        h->v = v; h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return PAW_OK;
}

int tok_heap_pop(tok_heap *h, tok_bigram *out)
{
    if (!h->n) return 0;
    *out = h->v[0];
    tok_bigram last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&h->v[c + 1], &h->v[c])) c++;
        if (!bigram_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n) h->v[i] = last;
    return 1;
}

int tok_scratch_syms(tok_scratch *s, size_t n)
{
    if (n <= s->sym_cap) return PAW_OK;
    size_t cap = s->sym_cap ? s->sym_cap : 64;
    while (cap < n) cap *= 2;
    tok_sym *p = realloc(s->sym, cap * sizeof *p);
    if (!p) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
    s->sym = p; s->sym_cap = cap;
    return PAW_OK;
}

int tok_split_symbols(tok_scratch *s, const char *w, size_t wn, int32_t *nsym)
{
    int rc = tok_scratch_syms(s, wn);
    if (rc) return rc;
    int32_t n = 0;
    for (size_t off = 0; off < wn; n++) {
        size_t l = tok_utf8_len(w + off, wn - off);
        s->sym[n] = (tok_sym){off, l, n - 1, n + 1};
        off += l;
    }
    s->sym[n - 1].next = -1;
    s->heap.n = 0;
    *nsym = n;
    return PAW_OK;
}

/* ---------------------------------------------------------------- loading */

/* Reads element i of an integer array kv as int64. */
static int kv_int_at(const paw_gguf_kv *kv, uint64_t i, int64_t *out)
{
    const uint8_t *p = kv->data;
    switch (kv->arr_type) {
    case PAW_GGUF_U8:  *out = p[i]; return 0;
    case PAW_GGUF_I8:  *out = (int8_t)p[i]; return 0;
    case PAW_GGUF_U16: *out = paw_ld_u16(p + 2 * i); return 0;
    case PAW_GGUF_I16: *out = (int16_t)paw_ld_u16(p + 2 * i); return 0;
    case PAW_GGUF_U32: *out = paw_ld_u32(p + 4 * i); return 0;
    case PAW_GGUF_I32: *out = (int32_t)paw_ld_u32(p + 4 * i); return 0;
    case PAW_GGUF_U64: case PAW_GGUF_I64: *out = (int64_t)paw_ld_u64(p + 8 * i); return 0;
    default: return -1;
    }
}

/* A token id key, or `dflt` if absent; ids outside the vocabulary (GGUF
 * writers use 0xFFFFFFFF for "none") read as -1. */
static int32_t get_id(const paw_gguf *g, const char *key, int32_t dflt, int32_t n_vocab)
{
    int64_t v;
    if (paw_gguf_get_i64(g, key, &v) != PAW_OK) return dflt < n_vocab ? dflt : -1;
    return v >= 0 && v < n_vocab ? (int32_t)v : -1;
}

static int get_flag(const paw_gguf *g, const char *key, int dflt)
{
    int v;
    return paw_gguf_get_bool(g, key, &v) == PAW_OK ? v : dflt;
}

typedef struct { uint8_t first; uint32_t len; int32_t id; } special_key;

static int special_cmp(const void *a, const void *b)
{
    const special_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_specials(paw_tokenizer *t)
{
    size_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_CONTROL || ty == TOK_USER_DEFINED || ty == TOK_UNKNOWN) && t->text[i].len)
            n++;
    }
    special_key *k = malloc((n ? n : 1) * sizeof *k);
    t->special = malloc((n ? n : 1) * sizeof *t->special);
    if (!k || !t->special) { free(k); return paw_err(PAW_ENOMEM, "tokenizer: out of memory"); }
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_CONTROL || ty == TOK_USER_DEFINED || ty == TOK_UNKNOWN) && t->text[i].len)
            k[n++] = (special_key){(uint8_t)t->text[i].ptr[0], (uint32_t)t->text[i].len, i};
    }
    qsort(k, n, sizeof *k, special_cmp);
    size_t j = 0;
    for (int c = 0; c < 256; c++) {
        t->special_start[c] = (uint32_t)j;
        while (j < n && k[j].first == c) { t->special[j] = k[j].id; j++; }
    }
    t->special_start[256] = (uint32_t)n;
    t->n_special = n;
    free(k);
    return PAW_OK;
}

/* Control tokens that end a turn in common chat formats; llama.cpp treats
 * them as end-of-generation whatever the eos id says. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
};

static void mark_eog(paw_tokenizer *t)
{
    for (size_t k = 0; k < PAW_ARRAY_LEN(eog_texts); k++) {
        int32_t id = tok_map_get(&t->vocab, eog_texts[k], strlen(eog_texts[k]));
        if (id >= 0 && (t->type[id] == TOK_CONTROL || t->type[id] == TOK_USER_DEFINED))
            t->eog[id] = 1;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
}

static int load_vocab(paw_tokenizer *t, const paw_gguf *g)
{
    const paw_gguf_kv *tk = paw_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tk) return paw_err(PAW_EFORMAT, "tokenizer: no tokenizer.ggml.tokens");
    if (tk->type != PAW_GGUF_ARRAY || tk->arr_type != PAW_GGUF_STRING || !tk->strs)
        return paw_err(PAW_EFORMAT, "tokenizer: tokenizer.ggml.tokens is not a string array");
    if (tk->n == 0 || tk->n > INT32_MAX)
        return paw_err(PAW_EFORMAT, "tokenizer: bad vocabulary size %llu",
                       (unsigned long long)tk->n);
    t->n_vocab = (int32_t)tk->n;
    uint64_t total = 0;
    for (uint64_t i = 0; i < tk->n; i++) {
        if (tk->strs[i].len > UINT32_MAX || paw_add_overflow_u64(total, tk->strs[i].len + 1, &total))
            return paw_err(PAW_EFORMAT, "tokenizer: token %llu too long", (unsigned long long)i);
    }
    if (total > SIZE_MAX / 2) return paw_err(PAW_EFORMAT, "tokenizer: vocabulary too large");
    size_t n = (size_t)tk->n;
    t->arena = malloc((size_t)total + 1);
    t->text = malloc(n * sizeof *t->text);
    t->type = malloc(n);
    t->eog = calloc(n, 1);
    if (!t->arena || !t->text || !t->type || !t->eog || tok_map_init(&t->vocab, n))
        return paw_err(PAW_ENOMEM, "tokenizer: out of memory for %zu tokens", n);
    char *p = t->arena;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)tk->strs[i].len;
        if (len) memcpy(p, tk->strs[i].ptr, len);
        p[len] = 0;
        t->text[i] = (paw_str){p, len};
        p += len + 1;
    }
    for (size_t i = 0; i < n; i++) tok_map_put(&t->vocab, t->text[i].ptr, t->text[i].len, (int32_t)i);

    const paw_gguf_kv *ty = paw_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (ty && (ty->type != PAW_GGUF_ARRAY || ty->n != tk->n))
        return paw_err(PAW_EFORMAT, "tokenizer: token_type does not match the vocabulary");
    for (size_t i = 0; i < n; i++) {
        int64_t v = TOK_NORMAL;
        if (ty && kv_int_at(ty, i, &v))
            return paw_err(PAW_EFORMAT, "tokenizer: token_type is not an integer array");
        t->type[i] = v >= 0 && v <= TOK_BYTE ? (uint8_t)v : TOK_UNDEFINED;
    }
    const paw_gguf_kv *sc = paw_gguf_find_kv(g, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != PAW_GGUF_ARRAY || sc->arr_type != PAW_GGUF_F32 || sc->n != tk->n)
            return paw_err(PAW_EFORMAT, "tokenizer: scores do not match the vocabulary");
        t->score = malloc(n * sizeof *t->score);
        if (!t->score) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
        for (size_t i = 0; i < n; i++) t->score[i] = paw_ld_f32((const char *)sc->data + 4 * i);
    }
    return PAW_OK;
}

int paw_tokenizer_from_gguf(const paw_gguf *g, paw_tokenizer **out)
{
    if (!g || !out) return paw_err(PAW_EINVAL, "tokenizer: NULL argument");
    *out = NULL;
    paw_str model;
    int rc = paw_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rc) return paw_err(rc, "tokenizer: no tokenizer.ggml.model in the GGUF");
    paw_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return paw_err(PAW_ENOMEM, "tokenizer: out of memory");
    if (model.len == 5 && !memcmp(model.ptr, "llama", 5)) t->kind = TOK_SPM;
    else if (model.len == 4 && !memcmp(model.ptr, "gpt2", 4)) t->kind = TOK_BPE;
    else {
        paw_tokenizer_free(t);
        return paw_err(PAW_EUNSUPPORTED, "tokenizer: model '%.*s' not supported (llama, gpt2)",
                       (int)PAW_MIN(model.len, 64), model.ptr);
    }
    if ((rc = load_vocab(t, g))) goto fail;

    int spm = t->kind == TOK_SPM;
    /* llama.cpp's defaults for SentencePiece vocabularies lacking the keys. */
    t->bos = get_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, t->n_vocab);
    t->eos = get_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, t->n_vocab);
    t->unk = get_id(g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, t->n_vocab);
    t->eot = get_id(g, "tokenizer.ggml.eot_token_id", -1, t->n_vocab);
    t->eom = get_id(g, "tokenizer.ggml.eom_token_id", -1, t->n_vocab);
    t->pad = get_id(g, "tokenizer.ggml.padding_token_id", -1, t->n_vocab);
    t->add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", spm);
    t->add_space_prefix = spm && get_flag(g, "tokenizer.ggml.add_space_prefix", 1);
    if ((rc = build_specials(t))) goto fail;
    mark_eog(t);

    if (spm) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            static const char hex[] = "0123456789ABCDEF";
            name[0] = '<'; name[1] = '0'; name[2] = 'x';
            name[3] = hex[b >> 4]; name[4] = hex[b & 15]; name[5] = '>';
            t->byte_tok[b] = tok_map_get(&t->vocab, name, 6);
        }
    } else {
        paw_str pre = {"default", 7};
        if (paw_gguf_get_str(g, "tokenizer.ggml.pre", &pre) != PAW_OK) pre = (paw_str){"default", 7};
        paw_str norm;
        if (paw_gguf_get_str(g, "tokenizer.paw.normalizer", &norm) == PAW_OK) {
            if (norm.len == 3 && !strncasecmp(norm.ptr, "nfc", 3)) t->nfc = 1;
            else if (!(norm.len == 4 && !strncasecmp(norm.ptr, "none", 4))) {
                rc = paw_err(PAW_EUNSUPPORTED, "tokenizer: normalizer '%.*s' not supported",
                             (int)PAW_MIN(norm.len, 64), norm.ptr);
                goto fail;
            }
        }
        const paw_gguf_kv *mk = paw_gguf_find_kv(g, "tokenizer.ggml.merges");
        if (!mk || mk->type != PAW_GGUF_ARRAY || mk->arr_type != PAW_GGUF_STRING || !mk->strs) {
            rc = paw_err(PAW_EFORMAT, "tokenizer: gpt2 model without tokenizer.ggml.merges");
            goto fail;
        }
        uint64_t total = 0;
        for (uint64_t i = 0; i < mk->n; i++)
            if (mk->strs[i].len > UINT32_MAX || mk->n > INT32_MAX ||
                paw_add_overflow_u64(total, mk->strs[i].len, &total)) {
                rc = paw_err(PAW_EFORMAT, "tokenizer: merges too large");
                goto fail;
            }
        if (total > SIZE_MAX / 2 || !(t->merge_arena = malloc((size_t)total + 1)) ||
            tok_map_init(&t->merges, (size_t)mk->n)) {
            rc = paw_err(PAW_ENOMEM, "tokenizer: out of memory for merges");
            goto fail;
        }
        char *p = t->merge_arena;
        for (uint64_t i = 0; i < mk->n; i++) {
            size_t len = (size_t)mk->strs[i].len;
            if (len) memcpy(p, mk->strs[i].ptr, len);
            /* First rank wins if a merge is listed twice: insert in reverse. */
            p += len;
        }
        p = t->merge_arena + total;
        for (uint64_t i = mk->n; i-- > 0;) {
            size_t len = (size_t)mk->strs[i].len;
            p -= len;
            tok_map_put(&t->merges, p, len, (int32_t)i);
        }
        if ((rc = tok_bpe_init(t, pre.ptr, (size_t)pre.len))) goto fail;
    }
    *out = t;
    return PAW_OK;
fail:
    paw_tokenizer_free(t);
    return rc;
}

void paw_tokenizer_free(paw_tokenizer *t)
{
    if (!t) return;
    tok_bpe_free(t);
    tok_map_free(&t->vocab);
    tok_map_free(&t->merges);
    free(t->merge_arena);
    free(t->arena); free(t->text); free(t->type); free(t->score); free(t->eog);
    free(t->special);
    free(t);
}

/* ------------------------------------------------------------- accessors */

int32_t paw_tokenizer_n_vocab(const paw_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t paw_tokenizer_bos(const paw_tokenizer *t) { return t ? t->bos : -1; }
int32_t paw_tokenizer_eos(const paw_tokenizer *t) { return t ? t->eos : -1; }
int     paw_tokenizer_add_bos(const paw_tokenizer *t) { return t ? t->add_bos : 0; }

int paw_tokenizer_is_eog(const paw_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_vocab && t->eog[id];
}

int32_t paw_tokenizer_find(const paw_tokenizer *t, const char *text, size_t len)
{
    if (!t || (!text && len)) return -1;
    return tok_map_get(&t->vocab, text ? text : "", len);
}

paw_str paw_tokenizer_piece(const paw_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab) return (paw_str){NULL, 0};
    return t->text[id];
}

/* --------------------------------------------------------------- encoding */

void tok_scratch_free(tok_scratch *s)
{
    free(s->text.p); free(s->word.p); free(s->key.p);
    free(s->sym); free(s->heap.v); free(s->frag); free(s->frag2);
    tok_bpe_free_match(s);
    memset(s, 0, sizeof *s);
}

/* The special token starting at s[0], longest first; -1 if none. */
static int32_t special_at(const paw_tokenizer *t, const char *s, size_t left)
{
    uint8_t c = (uint8_t)s[0];
    for (uint32_t k = t->special_start[c]; k < t->special_start[c + 1]; k++) {
        int32_t id = t->special[k];
        size_t len = t->text[id].len;
        if (len <= left && !memcmp(t->text[id].ptr, s, len)) return id;
    }
    return -1;
}

static int encode_fragment(const paw_tokenizer *t, const char *s, size_t n, int after_special,
                           tok_scratch *sc, tok_ids *out)
{
    if (t->kind == TOK_SPM)
        return tok_spm_encode(t, s, n, t->add_space_prefix && after_special, sc, out);
    return tok_bpe_encode(t, s, n, sc, out);
}

int paw_tokenize(const paw_tokenizer *t, const char *text, size_t len,
                 int add_bos, int parse_special, int32_t **ids, size_t *n_ids)
{
    if (!t || (!text && len) || !ids || !n_ids)
        return paw_err(PAW_EINVAL, "tokenize: NULL argument");
    *ids = NULL; *n_ids = 0;
    tok_ids out = {0};
    tok_scratch sc = {0};
    int rc = PAW_OK;
    if (add_bos && t->bos >= 0 && (rc = tok_ids_push(&out, t->bos))) goto done;

    /* Special tokens split the text into plain fragments (llama.cpp's
     * partition); SentencePiece puts its leading space at the start of the
     * text and after every special token.  USER_DEFINED tokens are matched
     * only with parse_special too: text from users must not turn into
     * control tokens by accident (llama.cpp always matches them). */
    size_t frag = 0;
    int after_special = 1;
    if (parse_special && t->n_special) {
        for (size_t i = 0; i < len; i++) {
            uint8_t c = (uint8_t)text[i];
            if (t->special_start[c] == t->special_start[c + 1]) continue;
            int32_t id = special_at(t, text + i, len - i);
            if (id < 0) continue;
            if (i > frag && (rc = encode_fragment(t, text + frag, i - frag, after_special, &sc, &out)))
                goto done;
            if ((rc = tok_ids_push(&out, id))) goto done;
            after_special = 1;
            i += t->text[id].len - 1;
            frag = i + 1;
        }
    }
    if (len > frag && (rc = encode_fragment(t, text + frag, len - frag, after_special, &sc, &out)))
        goto done;
done:
    tok_scratch_free(&sc);
    if (rc) { free(out.v); return rc; }
    if (!out.v && !(out.v = malloc(sizeof *out.v)))
        return paw_err(PAW_ENOMEM, "tokenize: out of memory");
    *ids = out.v; *n_ids = out.n;
    return PAW_OK;
}

/* --------------------------------------------------------------- decoding */

int paw_detokenize(const paw_tokenizer *t, const int32_t *ids, size_t n_ids,
                   int render_special, char **text, size_t *len)
{
    if (!t || (!ids && n_ids) || !text)
        return paw_err(PAW_EINVAL, "detokenize: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    tok_buf b = {0};
    int rc = tok_buf_reserve(&b, 64);
    /* SentencePiece's leading space was added by the encoder: drop it from
     * the first text produced (after an omitted BOS, too). */
    int strip = t->add_space_prefix;
    for (size_t i = 0; !rc && i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            rc = paw_err(PAW_EINVAL, "detokenize: token id %d outside the vocabulary (%d)",
                         (int)id, (int)t->n_vocab);
            break;
        }
        size_t before = b.n;
        int ty = t->type[id];
        if (ty == TOK_CONTROL || ty == TOK_UNKNOWN) {
            if (render_special) rc = tok_buf_append(&b, t->text[id].ptr, t->text[id].len);
        } else if (ty == TOK_USER_DEFINED) {
            rc = tok_buf_append(&b, t->text[id].ptr, t->text[id].len);
        } else if (t->kind == TOK_SPM) {
            rc = tok_spm_decode_piece(t, id, &b);
        } else {
            rc = tok_bpe_decode_piece(t, id, &b);
        }
        if (strip && b.n > before) {
            if (b.p[before] == ' ') { memmove(b.p + before, b.p + before + 1, b.n - before - 1); b.n--; }
            strip = 0;
        }
    }
    if (rc) { free(b.p); return rc; }
    b.p[b.n] = 0;
    *text = b.p;
    if (len) *len = b.n;
    return PAW_OK;
}
