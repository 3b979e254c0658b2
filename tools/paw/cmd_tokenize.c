/* cmd_tokenize.c — placeholder until the module lands. */
#include "cli.h"
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "paw tokenize: not built yet\n"); return 1; }
