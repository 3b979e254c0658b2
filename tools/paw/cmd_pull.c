/* cmd_pull.c — placeholder until the module lands. */
#include "cli.h"
int cmd_pull(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "paw pull: not built yet\n"); return 1; }
