/* fuzz_tokenizer.c — libFuzzer target for the tokenizers.
 *
 * Tokenizers are loaded once, from the GGUFs listed in $PAW_FUZZ_TOKENIZERS
 * (colon-separated; default: stories260K from $PAW_SHARED or ../shared, and
 * the cached SmolLM2-135M if present).  The first input byte picks the
 * tokenizer and the flags (parse_special, add_bos, render_special); the rest
 * is the text, arbitrary bytes.  Checks, beyond ASan/UBSan:
 *   - every id is inside the vocabulary;
 *   - decode(encode(text)) == text whenever the tokenizer can round-trip at
 *     all (probed at start: every single byte must come back, and no
 *     normaliser may rewrite text) and special parsing is off;
 *   - otherwise what is lost is lost once: with y = decode(encode(text)),
 *     decode(encode(y)) == y;
 *   - the same input bytes read as token ids decode without crashing, and
 *     ids outside the vocabulary are refused with PAW_EINVAL.
 * Build with `make fuzz`; see fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "paw.h"

#define MAX_TOK 8

static paw_tokenizer *toks[MAX_TOK];
static int exact[MAX_TOK];     /* round trip asserted for this tokenizer */
static int n_toks;

static int roundtrips(paw_tokenizer *t, const char *s, size_t n)
{
    int32_t *ids = NULL;
    size_t k = 0, m = 0;
    char *back = NULL;
    int ok = paw_tokenize(t, s, n, 0, 0, &ids, &k) == PAW_OK &&
             paw_detokenize(t, ids, k, 1, &back, &m) == PAW_OK && m == n && !memcmp(back, s, n);
    free(ids);
    free(back);
    return ok;
}

static void load(const char *path)
{
    if (n_toks == MAX_TOK) return;
    paw_gguf *g = NULL;
    paw_tokenizer *t = NULL;
    if (paw_gguf_open(path, &g) == PAW_OK && paw_tokenizer_from_gguf(g, &t) == PAW_OK) {
        int ok = roundtrips(t, "e\xCC\x81", 3);   /* NFC would compose this */
        for (int c = 0; c < 256 && ok; c++) {
            char b = (char)c;
            ok = roundtrips(t, &b, 1);
        }
        exact[n_toks] = ok;
        toks[n_toks++] = t;
        fprintf(stderr, "fuzz_tokenizer: %s (%d tokens, round trip %s)\n", path,
                (int)paw_tokenizer_n_vocab(t), ok ? "checked" : "not checked");
    } else {
        fprintf(stderr, "fuzz_tokenizer: skipping %s: %s\n", path, paw_last_error());
    }
    paw_gguf_close(g);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *list = getenv("PAW_FUZZ_TOKENIZERS");
    char buf[4096];
    if (list) {
        snprintf(buf, sizeof buf, "%s", list);
        for (char *save = NULL, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save))
            load(p);
    } else {
        const char *sh = getenv("PAW_SHARED");
        snprintf(buf, sizeof buf, "%s/fixtures/stories260k/stories260K.gguf", sh ? sh : "../shared");
        load(buf);
        const char *home = getenv("HOME");
        snprintf(buf, sizeof buf, "%s/.cache/paw/models/smollm2-135m.gguf", home ? home : ".");
        load(buf);
    }
    if (!n_toks) {
        fprintf(stderr, "fuzz_tokenizer: no tokenizer loaded\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    paw_tokenizer *t = toks[(ctl >> 3) % n_toks];
    int exact_rt = exact[(ctl >> 3) % n_toks];
    int special = ctl & 1, bos = (ctl >> 1) & 1, render = (ctl >> 2) & 1;
    size_t n = size - 1;
    char *text = malloc(n ? n : 1);     /* exact size, so ASan sees overreads */
    if (!text) return 0;
    memcpy(text, data + 1, n);
    int32_t nv = paw_tokenizer_n_vocab(t);

    int32_t *ids = NULL;
    size_t k = 0;
    if (paw_tokenize(t, text, n, bos, special, &ids, &k) == PAW_OK) {
        for (size_t i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= nv) abort();
        char *back = NULL;
        size_t m = 0;
        if (paw_detokenize(t, ids, k, render, &back, &m) != PAW_OK) abort();
        if (strlen(back) > m) abort();   /* NUL-terminated at m */
        free(back);
        if (exact_rt && !special && !bos) {
            /* SentencePiece turns a literal U+2581 into a space, and text
             * spelling "<0x41>" may merge into that byte token (as in
             * llama.cpp): skip those. */
            if (!memmem(text, n, "\xE2\x96\x81", 3) && !memmem(text, n, "<0x", 3) && !render) {
                back = NULL;
                if (paw_detokenize(t, ids, k, 1, &back, &m) != PAW_OK) abort();
                if (m != n || memcmp(back, text, n)) abort();
                free(back);
            }
        }
        /* Whatever the tokenizer loses (bytes without a token, NFC, ▁) is
         * lost once: decode(encode(y)) == y for y = decode(encode(text)). */
        if (!special && !bos) {
            char *y = NULL, *z = NULL;
            size_t ny = 0, nz = 0, k2 = 0;
            int32_t *ids2 = NULL;
            if (paw_detokenize(t, ids, k, 1, &y, &ny) != PAW_OK ||
                paw_tokenize(t, y, ny, 0, 0, &ids2, &k2) != PAW_OK ||
                paw_detokenize(t, ids2, k2, 1, &z, &nz) != PAW_OK)
                abort();
            if (ny != nz || memcmp(y, z, ny)) abort();
            free(y); free(z); free(ids2);
        }
        free(ids);
    }

    /* The bytes as token ids: in-range ones decode, any bad one is refused. */
    size_t nid = n / 4;
    int32_t *raw = malloc((nid ? nid : 1) * sizeof *raw);
    if (raw) {
        int bad = 0;
        for (size_t i = 0; i < nid; i++) {
            uint32_t v;
            memcpy(&v, text + 4 * i, 4);
            raw[i] = (v & 0x80000000u) ? (int32_t)(v % (uint32_t)nv) : (int32_t)v;
            bad |= raw[i] >= nv;
        }
        char *back = NULL;
        int rc = paw_detokenize(t, raw, nid, render, &back, NULL);
        if (bad ? rc != PAW_EINVAL : rc != PAW_OK) abort();
        free(back);
        free(raw);
    }
    free(text);
    return 0;
}
