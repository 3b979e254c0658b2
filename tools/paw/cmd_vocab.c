/* cmd_vocab.c — placeholder until the module lands. */
#include "cli.h"
int cmd_vocab(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "paw vocab: not built yet\n"); return 1; }
