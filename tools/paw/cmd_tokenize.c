/* cmd_tokenize.c — `paw tokenize -m MODEL [--special] [--json] [--bos] TEXT|-`:
 * prints the token ids of TEXT (or of stdin with `-`) under the model's
 * tokenizer: one `<id>\t<piece as JSON string>` line per token, or a single
 * `{"ids":[...]}` line with --json. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static int usage(void)
{
    fprintf(stderr, "usage: paw tokenize -m MODEL [--special] [--json] [--bos] TEXT|-\n"
                    "  MODEL     a GGUF path or a known model name (smollm2-135m, ...)\n"
                    "  --special parse special-token text such as <|im_end|> as those tokens\n"
                    "  --json    print {\"ids\":[...]} on one line\n"
                    "  --bos     prepend the BOS token\n"
                    "  -         read the text from stdin\n");
    return 2;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL;
    int special = 0, json = 0, bos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (++i >= argc) return usage();
            model = argv[i];
        } else if (!strcmp(argv[i], "--special")) special = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--bos")) bos = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(); return 0; }
        else if (!strcmp(argv[i], "--")) { if (i + 1 < argc && !text) text = argv[++i]; else return usage(); }
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "paw tokenize: unknown option %s\n", argv[i]);
            return usage();
        } else if (!text) text = argv[i];
        else return usage();
    }
    if (!model || !text) return usage();

    char path[PATH_MAX];
    if (paw_model_resolve(model, path, sizeof path) != PAW_OK) return cli_fail("tokenize");
    size_t len;
    char *owned = NULL;
    if (!strcmp(text, "-")) {
        if (!(owned = cli_read_stdin(&len))) {
            fprintf(stderr, "paw tokenize: cannot read stdin\n");
            return 1;
        }
        text = owned;
    } else {
        len = strlen(text);
    }
    paw_gguf *g = NULL;
    paw_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = paw_gguf_open(path, &g);
    if (!rc) rc = paw_tokenizer_from_gguf(g, &t);
    paw_gguf_close(g);
    if (!rc) rc = paw_tokenize(t, text, len, bos, special, &ids, &n);
    if (rc) {
        free(owned);
        paw_tokenizer_free(t);
        return cli_fail("tokenize");
    }
    if (json) {
        fputs("{\"ids\":[", stdout);
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
        fputs("]}\n", stdout);
    } else {
        for (size_t i = 0; i < n; i++) {
            paw_str p = paw_tokenizer_piece(t, ids[i]);
            printf("%d\t", (int)ids[i]);
            cli_json_str(stdout, p.ptr, (size_t)p.len);
            putchar('\n');
        }
    }
    free(ids);
    free(owned);
    paw_tokenizer_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}
