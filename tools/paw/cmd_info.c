/* cmd_info.c — placeholder until the module lands. */
#include "cli.h"
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "paw info: not built yet\n"); return 1; }
