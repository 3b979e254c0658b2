/* cmd_vocab.c — `paw vocab TOKENIZER.json -o VOCAB.gguf`: converts a Hugging
 * Face tokenizer (with tokenizer_config.json beside it, if present) into a
 * vocab-only GGUF that `paw tokenize -m` and the library can load. */
#include <string.h>
#include "cli.h"

static int usage(void)
{
    fprintf(stderr, "usage: paw vocab TOKENIZER.json -o VOCAB.gguf\n");
    return 2;
}

int cmd_vocab(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (++i >= argc) return usage();
            out = argv[i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "paw vocab: unknown option %s\n", argv[i]);
            return usage();
        } else if (!in) in = argv[i];
        else return usage();
    }
    if (!in || !out) return usage();
    if (paw_vocab_from_hf(in, out) != PAW_OK) return cli_fail("vocab");
    paw_gguf *g = NULL;
    int32_t n = 0;
    paw_tokenizer *t = NULL;
    /* Load what was written, so that a vocabulary the tokenizer cannot use
     * is reported now rather than at first use. */
    if (paw_gguf_open(out, &g) == PAW_OK && paw_tokenizer_from_gguf(g, &t) == PAW_OK)
        n = paw_tokenizer_n_vocab(t);
    paw_gguf_close(g);
    if (!t) return cli_fail("vocab");
    paw_tokenizer_free(t);
    fprintf(stderr, "paw vocab: wrote %s (%d tokens)\n", out, (int)n);
    return 0;
}
