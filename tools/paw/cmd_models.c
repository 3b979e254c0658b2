/* cmd_models.c — placeholder until the module lands. */
#include "cli.h"
int cmd_models(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "paw models: not built yet\n"); return 1; }
