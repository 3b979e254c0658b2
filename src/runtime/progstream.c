/* progstream.c — the output of a program call: cleaning (paw_clean_output)
 * and streaming it while it is decoded (paw_program_call_stream).
 *
 * A call's output is paw_clean_output(raw), raw being the detokenized ids.  What
 * is sent while decoding is clean_output of raw with its leading whitespace
 * dropped, and held back: trailing whitespace (stripped if nothing follows)
 * and a trailing incomplete UTF-8 sequence (U+FFFD now, maybe a character
 * later).  clean_output of such a prefix of raw is a prefix of clean_output
 * of raw (its replacements depend only on bytes already there), so the
 * pieces add up to the final output; the last piece is cut from it. */
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "runtime/program.h"

static int is_ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int paw_clean_output(const char *s, size_t n, char **out, size_t *out_len)
{
    while (n && is_ws(s[n - 1])) n--;
    while (n && is_ws(s[0])) { s++; n--; }
    char *o = malloc(n * 3 + 1);
    if (!o) return paw_err(PAW_ENOMEM, "program: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        int ok = len && i + len <= n;
        for (size_t j = 1; ok && j < len; j++) ok = ((unsigned char)s[i + j] & 0xC0) == 0x80;
        if (ok && len > 1) {  /* overlong forms, surrogates, > U+10FFFF */
            uint32_t cp = c & (0x7F >> len);
            for (size_t j = 1; j < len; j++) cp = cp << 6 | ((unsigned char)s[i + j] & 0x3F);
            static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok) { memcpy(o + k, s + i, len); k += len; i += len; }
        else { memcpy(o + k, "\xEF\xBF\xBD", 3); k += 3; i++; }
    }
    o[k] = 0;
    *out = o;
    if (out_len) *out_len = k;
    return PAW_OK;
}

/* Where a complete-UTF-8 prefix of s[0..n) ends. */
static size_t utf8_complete(const char *s, size_t n)
{
    size_t k = n;
    while (k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) k--;
    if (k == 0) return n;
    unsigned char c = (unsigned char)s[k - 1];
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > 1 && k - 1 + len > n ? k - 1 : n;
}

/* Sends what text (the output so far, or with `final` the whole output)
 * adds to what was sent. */
int paw_stream_emit(paw_streamer *st, const char *text, size_t n, int final)
{
    if (!st->fn || st->stop) return PAW_OK;
    char *clean = NULL;
    size_t cn = 0;
    if (final) {
        clean = (char *)text;
        cn = n;
    } else {
        size_t a = 0;
        while (a < n && is_ws(text[a])) a++;
        size_t b = a + utf8_complete(text + a, n - a);
        while (b > a && is_ws(text[b - 1])) b--;
        if (b == a) return PAW_OK;
        int rc = paw_clean_output(text + a, b - a, &clean, &cn);
        if (rc) return rc;
    }
    /* Never unsend: a text that does not extend what was sent waits (only a
     * detokenizer whose output for a prefix of ids is not a prefix of its
     * output for all of them could cause that). */
    if (cn > st->n_sent && (!st->n_sent || !memcmp(clean, st->sent, st->n_sent))) {
        char *keep = realloc(st->sent, cn);
        if (!keep) {
            if (!final) free(clean);
            return paw_err(PAW_ENOMEM, "program: out of memory");
        }
        memcpy(keep + st->n_sent, clean + st->n_sent, cn - st->n_sent);
        st->sent = keep;
        size_t from = st->n_sent;
        st->n_sent = cn;
        if (st->fn(st->ud, clean + from, cn - from)) st->stop = 1;
    }
    if (!final) free(clean);
    return PAW_OK;
}

/* paw_generate's text callback (plain decoding). */
int paw_stream_text(void *ud, const char *text, size_t len)
{
    paw_streamer *st = ud;
    if (st->raw_len + len + 1 > st->raw_cap) {
        size_t cap = st->raw_cap ? st->raw_cap * 2 : 256;
        while (cap < st->raw_len + len + 1) cap *= 2;
        char *r = realloc(st->raw, cap);
        if (!r) return 1;
        st->raw = r;
        st->raw_cap = cap;
    }
    memcpy(st->raw + st->raw_len, text, len);
    st->raw_len += len;
    return paw_stream_emit(st, st->raw, st->raw_len, 0) || st->stop;
}

/* paw_spec_generate's ids callback (speculative decoding). */
int paw_stream_ids(void *ud, const int32_t *ids, size_t n)
{
    paw_stream_ids_ctx *c = ud;
    char *text = NULL;
    size_t len = 0;
    if (paw_detokenize(c->tok, ids, n, 0, &text, &len)) return 1;
    int rc = paw_stream_emit(c->st, text ? text : "", text ? len : 0, 0);
    free(text);
    return rc || c->st->stop;
}

