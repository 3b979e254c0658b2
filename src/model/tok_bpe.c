/* tok_bpe.c — byte-level BPE (tokenizer.ggml.model "gpt2"): optional NFC,
 * pre-tokenizer regexes chosen by tokenizer.ggml.pre, GPT-2's byte-to-
 * character map, then merges by rank inside each pre-token.
 *
 * Pre-tokenizers apply their regexes in sequence; each regex cuts every
 * current piece into its matches and the unmatched stretches between them
 * (Hugging Face's "Isolated" split, and llama.cpp's unicode_regex_split), and
 * a regex only sees its piece, so lookaheads stop at piece boundaries.  PCRE2
 * runs the regexes with PCRE2_MATCH_INVALID_UTF: invalid UTF-8 bytes never
 * match, so they fall into the unmatched stretches and reach the byte-level
 * map unchanged — the text still round-trips byte for byte. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "model/tokenizer.h"

/* llama.cpp's pre-tokenizer regexes (llama-vocab.cpp) for each pre type.
 * `\s` is spelled out as the Unicode White_Space property (what llama.cpp
 * and Hugging Face mean by it): PCRE2's \s also takes U+180E. */
#define WS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])"
/* Qwen2's Hugging Face regex spells the contractions (?i:'s|...); the
 * explicit classes keep case folding from matching e.g. the long s "ſ". */
#define RE_QWEN2_HEAD "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])" \
                      "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
#define RE_QWEN2_TAIL "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

static const char *const pre_gpt2[] = {RE_GPT2};
/* SmolLM2 / StarCoder: every digit on its own, then the GPT-2 split. */
static const char *const pre_smollm[] = {"\\p{N}", RE_GPT2};
static const char *const pre_qwen2[] = {RE_QWEN2_HEAD "|\\p{N}" RE_QWEN2_TAIL};
static const char *const pre_llama3[] = {RE_QWEN2_HEAD "|\\p{N}{1,3}" RE_QWEN2_TAIL};

static const struct pre_type {
    const char *name;
    const char *const *re;
    int n_re;
    int ignore_merges;
} pre_types[] = {
    {"default", pre_gpt2, 1, 0},    {"gpt-2", pre_gpt2, 1, 0},
    {"gpt2", pre_gpt2, 1, 0},       {"phi-2", pre_gpt2, 1, 0},
    {"mpt", pre_gpt2, 1, 0},        {"olmo", pre_gpt2, 1, 0},
    {"jais", pre_gpt2, 1, 0},
    {"smollm", pre_smollm, 2, 0},   {"starcoder", pre_smollm, 2, 0},
    {"refact", pre_smollm, 2, 0},   {"command-r", pre_smollm, 2, 0},
    {"codeshell", pre_smollm, 2, 0},{"exaone", pre_smollm, 2, 0},
    {"minerva-7b", pre_smollm, 2, 0},
    {"qwen2", pre_qwen2, 1, 0},     {"stablelm2", pre_qwen2, 1, 0},
    {"llama-bpe", pre_llama3, 1, 1},{"llama3", pre_llama3, 1, 1},
    {"llama-v3", pre_llama3, 1, 1},
};

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes get code points 256.. in byte order. */
static void byte_level_tables(paw_tokenizer *t)
{
    int next = 256;
    for (int i = 0; i < 0x144; i++) t->bl_dec[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int cp = printable ? b : next++;
        if (cp < 0x80) {
            t->bl_enc[b][0] = (char)cp;
            t->bl_enc_len[b] = 1;
        } else {
            t->bl_enc[b][0] = (char)(0xC0 | (cp >> 6));
            t->bl_enc[b][1] = (char)(0x80 | (cp & 0x3F));
            t->bl_enc_len[b] = 2;
        }
        t->bl_dec[cp] = (int16_t)b;
    }
}

int tok_bpe_init(paw_tokenizer *t, const char *pre, size_t pre_len)
{
    byte_level_tables(t);
    const struct pre_type *pt = NULL;
    for (size_t i = 0; i < PAW_ARRAY_LEN(pre_types); i++)
        if (strlen(pre_types[i].name) == pre_len && !memcmp(pre_types[i].name, pre, pre_len))
            pt = &pre_types[i];
    if (!pt)
        return paw_err(PAW_EUNSUPPORTED, "tokenizer: pre-tokenizer '%.*s' not supported",
                       (int)PAW_MIN(pre_len, 64), pre);
    t->ignore_merges = pt->ignore_merges;
    for (int i = 0; i < pt->n_re; i++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pt->re[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                       &err, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            return paw_err(PAW_EUNSUPPORTED, "tokenizer: regex for '%s' rejected: %s",
                           pt->name, (const char *)msg);
        }
        /* JIT is an optimisation only; without it pcre2_match interprets. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        t->re[t->n_re++] = re;
    }
    return PAW_OK;
}

void tok_bpe_free(paw_tokenizer *t)
{
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    t->n_re = 0;
}

void tok_bpe_free_match(tok_scratch *s)
{
    pcre2_match_data_free(s->match_data);
    s->match_data = NULL;
}

/* Queues the merge of symbols l and r if "left right" is a ranked merge. */
static int try_add(const paw_tokenizer *t, const char *w, tok_scratch *sc, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return PAW_OK;
    const tok_sym *a = &sc->sym[l], *b = &sc->sym[r];
    char *k = sc->key.p;
    memcpy(k, w + a->off, a->n);
    k[a->n] = ' ';
    memcpy(k + a->n + 1, w + b->off, b->n);
    int32_t rank = tok_map_get(&t->merges, k, a->n + 1 + b->n);
    if (rank < 0) return PAW_OK;
    return tok_heap_push(&sc->heap, (tok_bigram){l, r, (double)rank, a->n + b->n});
}

/* One pre-token: map its bytes to byte-level characters, merge, emit. */
static int encode_word(const paw_tokenizer *t, const char *s, size_t n, tok_scratch *sc,
                       tok_ids *out)
{
    tok_buf *wb = &sc->word;
    wb->n = 0;
    int rc = tok_buf_reserve(wb, 2 * n + 1);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        memcpy(wb->p + wb->n, t->bl_enc[c], t->bl_enc_len[c]);
        wb->n += t->bl_enc_len[c];
    }
    const char *w = wb->p;
    size_t wn = wb->n;
    if (t->ignore_merges) {
        int32_t id = tok_map_get(&t->vocab, w, wn);
        if (id >= 0) return tok_ids_push(out, id);
    }
    if ((rc = tok_buf_reserve(&sc->key, wn + 2))) return rc;
    int32_t nsym;
    if ((rc = tok_split_symbols(sc, w, wn, &nsym))) return rc;
    tok_sym *sym = sc->sym;
    for (int32_t i = 1; i < nsym; i++)
        if ((rc = try_add(t, w, sc, i - 1, i))) return rc;
    tok_bigram bg;
    while (tok_heap_pop(&sc->heap, &bg)) {
        tok_sym *a = &sym[bg.left], *b = &sym[bg.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != bg.size) continue;   /* stale */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = bg.left;
        if ((rc = try_add(t, w, sc, a->prev, bg.left))) return rc;
        if ((rc = try_add(t, w, sc, bg.left, sym[bg.left].next))) return rc;
    }
    for (int32_t i = 0; i != -1; i = sym[i].next) {
        int32_t id = tok_map_get(&t->vocab, w + sym[i].off, sym[i].n);
        if (id >= 0) { if ((rc = tok_ids_push(out, id))) return rc; continue; }
        /* Text outside the vocabulary (SmolLM2 lacks some control bytes):
         * emit its byte-level characters that are tokens and drop the rest,
         * as llama.cpp does. */
        const char *p = w + sym[i].off, *e = p + sym[i].n;
        while (p < e) {
            size_t l = tok_utf8_len(p, (size_t)(e - p));
            id = tok_map_get(&t->vocab, p, l);
            if (id >= 0 && (rc = tok_ids_push(out, id))) return rc;
            p += l;
        }
    }
    return PAW_OK;
}

static int frag_reserve(tok_scratch *sc, size_t n_pieces)
{
    if (n_pieces <= sc->frag_cap) return PAW_OK;
    size_t cap = sc->frag_cap ? sc->frag_cap : 64;
    while (cap < n_pieces) cap *= 2;
    size_t *a = realloc(sc->frag, 2 * cap * sizeof *a);
    if (a) sc->frag = a;
    size_t *b = a ? realloc(sc->frag2, 2 * cap * sizeof *b) : NULL;
    if (b) sc->frag2 = b;
    if (!a || !b) return paw_err(PAW_ENOMEM, "tokenize: out of memory");
    sc->frag_cap = cap;
    return PAW_OK;
}

/* Splits s[0..n) by the pre-tokenizer regexes; pieces land in sc->frag as
 * (offset, length) pairs.  Every piece is at least one byte, so n pieces at
 * most. */
static int pre_tokenize(const paw_tokenizer *t, const char *s, size_t n, tok_scratch *sc,
                        size_t *n_out)
{
    int rc = frag_reserve(sc, n + 1);
    if (rc) return rc;
    if (!sc->match_data && !(sc->match_data = pcre2_match_data_create(1, NULL)))
        return paw_err(PAW_ENOMEM, "tokenize: out of memory");
    pcre2_match_data *md = sc->match_data;
    size_t np = 1;
    sc->frag[0] = 0; sc->frag[1] = n;
    for (int r = 0; r < t->n_re; r++) {
        size_t *in = sc->frag, *outp = sc->frag2, no = 0;
        for (size_t k = 0; k < np; k++) {
            size_t o = in[2 * k], l = in[2 * k + 1], last = 0, start = 0;
            const PCRE2_SPTR subj = (PCRE2_SPTR)(s + o);
            while (start < l) {
                int m = pcre2_match(t->re[r], subj, l, start, 0, md, NULL);
                if (m == PCRE2_ERROR_NOMATCH) break;
                if (m < 0) return paw_err(PAW_ERANGE, "tokenize: pre-tokenizer regex failed (%d)", m);
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t m0 = ov[0], m1 = ov[1];
                if (m1 <= m0) {            /* empty match: step over one character */
                    start = m0 + tok_utf8_len(s + o + m0, l - m0);
                    continue;
                }
                if (m0 > last) { outp[2 * no] = o + last; outp[2 * no + 1] = m0 - last; no++; }
                outp[2 * no] = o + m0; outp[2 * no + 1] = m1 - m0; no++;
                last = start = m1;
            }
            if (last < l) { outp[2 * no] = o + last; outp[2 * no + 1] = l - last; no++; }
        }
        sc->frag2 = in; sc->frag = outp;
        np = no;
    }
    *n_out = np;
    return PAW_OK;
}

int tok_bpe_encode(const paw_tokenizer *t, const char *s, size_t n, tok_scratch *sc, tok_ids *out)
{
    utf8proc_uint8_t *nfc = NULL;
    if (t->nfc) {
        size_t i = 0;
        while (i < n && (uint8_t)s[i] < 0x80) i++;
        /* ASCII is already NFC; invalid UTF-8 is left as it is (utf8proc
         * refuses it) so that its bytes still reach the byte-level map. */
        if (i < n) {
            utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n,
                                              &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (m == UTF8PROC_ERROR_NOMEM) return paw_err(PAW_ENOMEM, "tokenize: out of memory");
            if (m >= 0) { s = (const char *)nfc; n = (size_t)m; }
            else { free(nfc); nfc = NULL; }
        }
    }
    size_t np = 0;
    int rc = pre_tokenize(t, s, n, sc, &np);
    for (size_t k = 0; !rc && k < np; k++)
        rc = encode_word(t, s + sc->frag[2 * k], sc->frag[2 * k + 1], sc, out);
    free(nfc);
    return rc;
}

int tok_bpe_decode_piece(const paw_tokenizer *t, int32_t id, tok_buf *out)
{
    paw_str p = t->text[id];
    int rc = tok_buf_reserve(out, out->n + p.len + 1);
    if (rc) return rc;
    const uint8_t *s = (const uint8_t *)p.ptr;
    for (size_t i = 0; i < p.len;) {
        size_t l = tok_utf8_len(p.ptr + i, p.len - i);
        int cp = -1;
        if (l == 1 && s[i] < 0x80) cp = s[i];
        else if (l == 2 && (s[i + 1] & 0xC0) == 0x80) cp = ((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
        if (cp >= 0 && cp < 0x144 && t->bl_dec[cp] >= 0) {
            out->p[out->n++] = (char)t->bl_dec[cp];
        } else {
            /* Not a byte-level character: keep the text as it is. */
            memcpy(out->p + out->n, p.ptr + i, l);
            out->n += l;
        }
        i += l;
    }
    out->p[out->n] = 0;
    return PAW_OK;
}
