/* cmd_pull.c — `paw pull NAME [--verify]`: fetch a known model into the cache;
 * `paw pull PROGRAM [--no-base]`: fetch a hub program (ID, user/slug[@vN],
 * official name) and the base model it runs on, without running it.
 * The library does the fetching and verification; this file only parses
 * arguments, draws the progress bar on stderr and reports where the file is. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_progress(void *ud, uint64_t done, uint64_t total)
{
    cli_bar *b = ud;
    double t = now_s();
    if (b->t0 == 0) { b->t0 = t; b->done0 = done; }
    double mb = (double)done / 1e6;
    double rate = t > b->t0 ? (double)(done - b->done0) / 1e6 / (t - b->t0) : 0;
    if (b->tty) {
        /* Redrawing more than ~10 times a second only costs time. */
        if (done != total && t - b->last < 0.1) return 0;
        b->last = t;
        if (total) {
            int width = 30, fill = (int)((double)width * (double)done / (double)total);
            char cells[31];
            for (int i = 0; i < width; i++) cells[i] = i < fill ? '#' : '.';
            cells[width] = 0;
            fprintf(stderr, "\r%s [%s] %5.1f%% %7.1f/%.1f MB %6.1f MB/s ", b->name, cells,
                    100.0 * (double)done / (double)total, mb, (double)total / 1e6, rate);
        } else {
            fprintf(stderr, "\r%s %7.1f MB %6.1f MB/s ", b->name, mb, rate);
        }
        b->drawn = 1;
    } else if (total) {
        /* Logs (CI) get a handful of lines rather than thousands of \r. */
        int q = (int)(4 * done / total);
        if (q > b->last_quarter) {
            b->last_quarter = q;
            fprintf(stderr, "%s: %3d%% (%.1f of %.1f MB)\n", b->name, 25 * q, mb, (double)total / 1e6);
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: paw pull NAME [--verify] [--force]\n"
                    "       paw pull PROGRAM [--no-base]   (hub ID, user/slug, user/slug@vN, official name)\n"
            "  --verify  hash the file again even if it is unchanged since it was last hashed\n"
            "  --force   delete the cached file and fetch it again\n  known models:\n");
    for (int i = 0; paw_known_model_at(i); i++) {
        const paw_known_model *m = paw_known_model_at(i);
        fprintf(stderr, "    %-14s %6.1f MB  %s\n", m->name, (double)m->size / 1e6, m->description);
    }
}

int cmd_pull(int argc, char **argv)
{
    const char *name = NULL;
    int verify = 0, force = 0, no_base = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--verify")) verify = 1;
        else if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "--no-base")) no_base = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(); return 0; }
        else if (argv[i][0] == '-' || name) { usage(); return 2; }
        else name = argv[i];
    }
    if (!name) { usage(); return 2; }
    const paw_known_model *m = paw_known_model_find(name);
    if (!m) {
        /* Not a model: a program reference (anything `paw run` takes). */
        char id[PAW_PROGRAM_ID_LEN + 1], model[4096];
        if (cli_fetch_program("pull", name, id, no_base ? NULL : model, sizeof model)) {
            fprintf(stderr, "paw pull: '%s' is not a known model either; known models:", name);
            for (int i = 0; paw_known_model_at(i); i++)
                fprintf(stderr, "%s %s", i ? "," : "", paw_known_model_at(i)->name);
            fputc('\n', stderr);
            return 1;
        }
        printf("%s: program %s", name, id);
        if (!no_base) printf(", base model %s", model);
        printf(" (ready offline)\n");
        return 0;
    }

    char path[4096];
    /* The hash is always checked: from the memo when the file is untouched,
     * afresh with --verify (paw_cache_check). */
    int rc = paw_cache_check(name, verify ? 2 : 1, path, sizeof path);
    if (rc == PAW_OK && !force) {
        printf("%s is already present: %s (size and sha256 verified%s)\n", name, path,
               verify ? "" : "; --force fetches it again");
        return 0;
    }
    if (rc == PAW_EHASH || (rc == PAW_OK && force)) {
        /* Wrong bytes (or --force): drop the file, then fetch it anew. */
        if (rc == PAW_EHASH) fprintf(stderr, "paw pull: %s; fetching it again\n", paw_last_error());
        if (unlink(path) != 0) { perror("paw pull: unlink"); return 1; }
    }

    /* pip prints nothing here (its output goes to a log), so say what is
     * happening before a possibly long quiet phase. */
    fprintf(stderr, "paw pull: fetching %s (%.1f MB) from %s\n", name, (double)m->size / 1e6,
            paw_pull_source(name));
    cli_bar b = { .name = name, .tty = isatty(2), .start = now_s() };
    rc = paw_pull(name, cli_progress, &b);
    if (b.drawn) fputc('\n', stderr);
    if (rc) return cli_fail("pull");
    if ((rc = paw_cache_check(name, 0, path, sizeof path))) return cli_fail("pull");
    printf("stored %s at %s (%llu bytes, sha256 %s verified) in %.1f s\n", name, path,
           (unsigned long long)m->size, m->sha256, now_s() - b.start);
    return 0;
}

int cli_fetch_program(const char *cmd, const char *program, char id[PAW_PROGRAM_ID_LEN + 1],
                      char *model, size_t model_cap)
{
    cli_bar b = { .name = program, .tty = isatty(2), .start = now_s() };
    int rc = paw_program_fetch(program, cli_progress, &b, id);
    if (b.drawn) fputc('\n', stderr);
    if (rc) return cli_fail(cmd);
    if (!model) return 0;
    cli_bar mb = { .name = "base model", .tty = isatty(2), .start = now_s() };
    rc = paw_program_base_model(id, 1, cli_progress, &mb, model, model_cap);
    if (mb.drawn) fputc('\n', stderr);
    return rc ? cli_fail(cmd) : 0;
}
