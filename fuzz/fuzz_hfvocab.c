/* fuzz_hfvocab.c — libFuzzer target for `paw vocab` (paw_vocab_from_hf).
 *
 * Each input is written as tokenizer.json into a private temp directory and
 * converted.  A conversion must either fail with an error message and leave
 * no output file, or write a GGUF that the tokenizer then loads (or refuses
 * cleanly) and that tokenizes and decodes a fixed text without crashing.
 * Build with `make fuzz`; see fuzz/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "paw.h"

static char in_path[300], out_path[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    static char dir[] = "/tmp/paw_fuzz_hfvocab_XXXXXX";
    if (!mkdtemp(dir)) abort();
    snprintf(in_path, sizeof in_path, "%s/tokenizer.json", dir);
    snprintf(out_path, sizeof out_path, "%s/vocab.gguf", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(in_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    unlink(out_path);
    struct stat st;
    if (paw_vocab_from_hf(in_path, out_path) != PAW_OK) {
        if (!*paw_last_error()) abort();          /* an error must say why */
        if (stat(out_path, &st) == 0) abort();    /* and leave nothing behind */
        return 0;
    }
    paw_gguf *g = NULL;
    paw_tokenizer *t = NULL;
    if (paw_gguf_open(out_path, &g) != PAW_OK) abort();   /* we wrote it */
    if (paw_tokenizer_from_gguf(g, &t) == PAW_OK) {
        static const char text[] = "Hello <|im_end|> wörld 123 \xff!";
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        for (int special = 0; special < 2; special++) {
            if (paw_tokenize(t, text, sizeof text - 1, 1, special, &ids, &n) != PAW_OK) abort();
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= paw_tokenizer_n_vocab(t)) abort();
            if (paw_detokenize(t, ids, n, special, &back, NULL) != PAW_OK) abort();
            free(ids);
            free(back);
        }
        paw_tokenizer_free(t);
    }
    paw_gguf_close(g);
    return 0;
}
