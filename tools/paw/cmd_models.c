/* cmd_models.c — `paw models [--json]`: what is in <cache>/models.  Every
 * file is listed, so leftovers of interrupted pulls (.part files, temp files,
 * .pull-* directories) and files paw does not know are visible, marked as
 * such, instead of silently taking disk space. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

/* The known model whose cache file name starts with `file` up to `stem_len`. */
static const paw_known_model *known_stem(const char *file, size_t stem_len)
{
    for (int i = 0; paw_known_model_at(i); i++) {
        const paw_known_model *m = paw_known_model_at(i);
        if (strlen(m->name) == stem_len && !memcmp(m->name, file, stem_len)) return m;
    }
    return NULL;
}

/* Fills name and status for one directory entry. */
static void classify(const char *file, const struct stat *st, char *name, size_t ncap,
                     char *status, size_t scap)
{
    const char *tmp = strstr(file, ".gguf.tmp.");
    size_t n = strlen(file);
    snprintf(name, ncap, "%s", file);
    if (S_ISDIR(st->st_mode)) {
        snprintf(status, scap, !strncmp(file, ".pull-", 6) ? "temp dir of a running or interrupted pull"
                                                            : "unknown directory");
    } else if (ends_with(file, ".gguf.part")) {
        const paw_known_model *m = known_stem(file, n - 10);
        snprintf(name, ncap, "%.*s", (int)(n - 10), file);
        if (m)
            snprintf(status, scap, "partial (%.1f%%; `paw pull %s` resumes)",
                     100.0 * (double)st->st_size / (double)m->size, m->name);
        else
            snprintf(status, scap, "partial download, unknown model");
    } else if (tmp) {
        snprintf(name, ncap, "%.*s", (int)(tmp - file), file);
        snprintf(status, scap, "partial (temp file of a running or interrupted pull)");
    } else if (ends_with(file, ".gguf")) {
        const paw_known_model *m = known_stem(file, n - 5);
        snprintf(name, ncap, "%.*s", (int)(n - 5), file);
        if (!m)
            snprintf(status, scap, "unknown (not a model paw pulls)");
        else if ((uint64_t)st->st_size == m->size) {
            /* Same size is not enough: a same-size edit must not say "ok".
             * The digest is remembered per file identity, so this reads the
             * file only when it changed since it was last hashed. */
            char p[4096];
            if (paw_cache_check(m->name, 1, p, sizeof p) == PAW_EHASH)
                snprintf(status, scap, "corrupt (wrong sha256; `paw pull %s` replaces it)", m->name);
            else
                snprintf(status, scap, "ok");
        }
        else
            snprintf(status, scap, "wrong size (expected %llu bytes; `paw pull %s` replaces it)",
                     (unsigned long long)m->size, m->name);
    } else {
        snprintf(status, scap, "unknown file");
    }
}

int cmd_models(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else { fprintf(stderr, "usage: paw models [--json]\n"); return 2; }
    }
    char root[4096], dir[4200];
    if (paw_cache_dir(root, sizeof root)) return cli_fail("models");
    snprintf(dir, sizeof dir, "%s/models", root);

    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) n = 0;   /* no cache yet: an empty list, not an error */
    int cached[16] = {0}, shown = 0;
    if (json) printf("[");
    else printf("cache: %s\n", dir);
    for (int i = 0; i < n; i++) {
        const char *f = ents[i]->d_name;
        char path[8400], name[256], status[256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, f);
        /* .sha256/ is paw's own memo of model digests, not a leftover */
        if (strcmp(f, ".") && strcmp(f, "..") && strcmp(f, ".sha256") && lstat(path, &st) == 0) {
            classify(f, &st, name, sizeof name, status, sizeof status);
            if (!strcmp(status, "ok"))
                for (int k = 0; paw_known_model_at(k) && k < 16; k++)
                    if (!strcmp(paw_known_model_at(k)->name, name)) cached[k] = 1;
            if (json) {
                printf("%s\n  {\"name\": ", shown ? "," : "");
                cli_json_str(stdout, name, strlen(name));
                printf(", \"size\": %lld, \"status\": ", (long long)st.st_size);
                cli_json_str(stdout, status, strlen(status));
                printf(", \"path\": ");
                cli_json_str(stdout, path, strlen(path));
                printf("}");
            } else {
                if (!shown) printf("%-16s %10s  %-40s %s\n", "NAME", "SIZE", "STATUS", "PATH");
                printf("%-16s %8.1fMB  %-40s %s\n", name, (double)st.st_size / 1e6, status, path);
            }
            shown++;
        }
        free(ents[i]);
    }
    free(ents);
    if (json) { printf("%s]\n", shown ? "\n" : ""); return 0; }
    if (!shown) printf("(no models cached)\n");
    int missing = 0;
    for (int k = 0; paw_known_model_at(k) && k < 16; k++) {
        if (cached[k]) continue;
        printf("%s%s", missing ? ", " : "not downloaded: ", paw_known_model_at(k)->name);
        missing++;
    }
    if (missing) printf("  (paw pull NAME)\n");
    return 0;
}
