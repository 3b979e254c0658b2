/* tok_spm.c — SentencePiece-style encoding (tokenizer.ggml.model "llama"), as
 * llama.cpp does it from GGUF metadata: spaces become U+2581 "▁", a leading
 * ▁ is added at the start of the text and after special tokens, the text is
 * split into UTF-8 characters, and adjacent pieces are merged greedily, the
 * pair whose merged text is the highest-scoring vocabulary entry first.
 * Characters that end up outside the vocabulary fall back to <0xNN> byte
 * tokens. */
#include <stdlib.h>
#include <string.h>
#include "model/tokenizer.h"

static const char SPM_SPACE[] = "\xE2\x96\x81";   /* U+2581 ▁ */

/* Queues the merge of symbols l and r if their joined text is a token. */
static int try_add(const paw_tokenizer *t, const char *w, tok_scratch *sc, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return PAW_OK;
    const tok_sym *a = &sc->sym[l], *b = &sc->sym[r];
    size_t size = a->n + b->n;
    int32_t id = tok_map_get(&t->vocab, w + a->off, size);
    if (id < 0) return PAW_OK;
    double score = t->score ? t->score[id] : 0.0;
    return tok_heap_push(&sc->heap, (tok_bigram){l, r, -score, size});
}

/* Emits a final symbol: its token, or one byte token per byte. */
static int emit(const paw_tokenizer *t, const char *s, size_t n, tok_ids *out)
{
    int32_t id = tok_map_get(&t->vocab, s, n);
    if (id >= 0) return tok_ids_push(out, id);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        id = t->byte_tok[c];
        if (id < 0) id = tok_map_get(&t->vocab, (const char *)&s[i], 1);
        if (id < 0) id = t->unk;
        if (id < 0)
            return paw_err(PAW_EUNSUPPORTED,
                           "tokenize: byte 0x%02X has no token and the vocabulary has no <unk>", c);
        int rc = tok_ids_push(out, id);
        if (rc) return rc;
    }
    return PAW_OK;
}

int tok_spm_encode(const paw_tokenizer *t, const char *s, size_t n, int prefix_space,
                   tok_scratch *sc, tok_ids *out)
{
    tok_buf *tb = &sc->text;
    tb->n = 0;
    if (n > (SIZE_MAX - 8) / 3) return paw_err(PAW_ENOMEM, "tokenize: text too large");
    int rc = tok_buf_reserve(tb, 3 * n + 4);
    if (rc) return rc;
    if (prefix_space) { memcpy(tb->p, SPM_SPACE, 3); tb->n = 3; }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') { memcpy(tb->p + tb->n, SPM_SPACE, 3); tb->n += 3; }
        else tb->p[tb->n++] = s[i];
    }
    const char *w = tb->p;
    size_t wn = tb->n;
    if (!wn) return PAW_OK;
    int32_t nsym;
    if ((rc = tok_split_symbols(sc, w, wn, &nsym))) return rc;
    tok_sym *sym = sc->sym;
    for (int32_t i = 1; i < nsym; i++)
        if ((rc = try_add(t, w, sc, i - 1, i))) return rc;
    tok_bigram bg;
    while (tok_heap_pop(&sc->heap, &bg)) {
        tok_sym *a = &sym[bg.left], *b = &sym[bg.right];
        /* Stale entry: one side was merged away or grew since it was queued. */
        if (a->n == 0 || b->n == 0 || a->n + b->n != bg.size) continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = bg.left;
        if ((rc = try_add(t, w, sc, a->prev, bg.left))) return rc;
        if ((rc = try_add(t, w, sc, bg.left, sym[bg.left].next))) return rc;
    }
    for (int32_t i = 0; i != -1; i = sym[i].next)
        if ((rc = emit(t, w + sym[i].off, sym[i].n, out))) return rc;
    return PAW_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tok_spm_decode_piece(const paw_tokenizer *t, int32_t id, tok_buf *out)
{
    paw_str p = t->text[id];
    if (t->type[id] == TOK_BYTE && p.len == 6 && !memcmp(p.ptr, "<0x", 3) && p.ptr[5] == '>') {
        int hi = hexval(p.ptr[3]), lo = hexval(p.ptr[4]);
        if (hi >= 0 && lo >= 0) {
            char c = (char)(hi * 16 + lo);
            return tok_buf_append(out, &c, 1);
        }
    }
    int rc = tok_buf_reserve(out, out->n + p.len + 1);
    if (rc) return rc;
    for (size_t i = 0; i < p.len;) {
        if (i + 3 <= p.len && !memcmp(p.ptr + i, SPM_SPACE, 3)) { out->p[out->n++] = ' '; i += 3; }
        else out->p[out->n++] = p.ptr[i++];
    }
    out->p[out->n] = 0;
    return PAW_OK;
}
