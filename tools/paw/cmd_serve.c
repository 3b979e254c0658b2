/* cmd_serve.c — `paw serve ARGS`: runs the HTTP server, a front end of its
 * own (tools/server, built as paw-serve beside paw), so that the CLI does
 * not link the HTTP library.  paw-serve is looked for next to this
 * executable, then on $PATH. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cmd_serve(int argc, char **argv)
{
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    argv[0] = (char *)"paw-serve";
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            slash[1] = 0;
            snprintf(path, sizeof path, "%spaw-serve", self);
            execv(path, argv);
        }
    }
    execvp("paw-serve", argv);
    (void)argc;
    fprintf(stderr, "paw serve: cannot run paw-serve (%s); build it with `make`\n", strerror(errno));
    return 1;
}
