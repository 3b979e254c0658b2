/* util.c — small helpers shared by the CLI commands. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

int cli_fail(const char *cmd)
{
    fprintf(stderr, "paw %s: %s\n", cmd, paw_last_error());
    return 1;
}

void cli_json_str(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':  fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

void cli_put_text(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            fprintf(f, "\\x%02x", c);
        } else if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9F) {
            fprintf(f, "\\u%04x", (unsigned char)s[++i]);
        } else {
            fputc(c, f);
        }
    }
}

int cli_num_arg(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

char *cli_read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return NULL; }
            buf = nb; cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        if (r == 0) break;
        n += r;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

void cli_free_examples(paw_program_example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) { free(ex[i].input); free(ex[i].output); }
    free(ex);
}

int cli_load_examples(const char *cmd, const char *path, paw_program_example **out, size_t *n_out)
{
    return cli_load_examples_at(cmd, path, out, n_out, NULL);
}

int cli_load_examples_at(const char *cmd, const char *path, paw_program_example **out, size_t *n_out,
                         int **lines_out)
{
    int *lines = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "paw %s: cannot open %s\n", cmd, path); return 1; }
    paw_program_example *ex = NULL;
    size_t n = 0, cap = 0;
    int lineno = 0, bad = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (!bad && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        json_error_t e;
        int bom = lineno == 1 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3);
        json_t *j = bom ? NULL : json_loadb(line, (size_t)len, 0, &e);
        json_t *in = j ? json_object_get(j, "input") : NULL, *o = j ? json_object_get(j, "output") : NULL;
        if (bom) {
            fprintf(stderr, "paw %s: %s:1: the file starts with a UTF-8 byte order mark; save it "
                    "without one (JSONL is plain UTF-8)\n", cmd, path);
            bad = 1;
        } else if (!j) {
            /* the parser's own words: where and what went wrong */
            fprintf(stderr, "paw %s: %s:%d: invalid JSON at column %d: %s\n", cmd, path, lineno, e.column,
                    e.text);
            bad = 1;
        } else if (!json_is_string(in) || !json_is_string(o)) {
            fprintf(stderr, "paw %s: %s:%d: expected {\"input\": string, \"output\": string}\n", cmd, path,
                    lineno);
            bad = 1;
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                paw_program_example *ne = realloc(ex, cap * sizeof *ex);
                if (!ne) bad = 1; else ex = ne;
                int *nl = bad ? NULL : realloc(lines, cap * sizeof *lines);
                if (!nl) bad = 1; else lines = nl;
            }
            if (!bad) {
                lines[n] = lineno;
                ex[n].input = strdup(json_string_value(in));
                ex[n].output = strdup(json_string_value(o));
                n++;
                if (!ex[n - 1].input || !ex[n - 1].output) bad = 1;
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (!bad && !n) { fprintf(stderr, "paw %s: %s has no examples\n", cmd, path); bad = 1; }
    if (bad) {
        cli_free_examples(ex, n);
        free(lines);
        return 1;
    }
    *out = ex;
    *n_out = n;
    if (lines_out) *lines_out = lines;
    else free(lines);
    return 0;
}

int cli_check_out_path(const char *cmd, const char *path, int is_dir)
{
    struct stat st;
    char dir[4096];
    const char *why = NULL;
    if (!*path) why = "empty path";
    else if (!stat(path, &st)) {
        if (!is_dir && S_ISDIR(st.st_mode)) why = "is a directory";
        else if (is_dir && !S_ISDIR(st.st_mode)) why = "exists and is not a directory";
        else if (!is_dir && !S_ISREG(st.st_mode)) why = "exists and is not a regular file";
        else if (access(path, W_OK)) why = strerror(errno);
    }
    if (!why) {
        /* the file is written beside itself and renamed, so its directory
         * must exist and be writable */
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == dir) slash[1] = 0;
        else *slash = 0;
        if (stat(dir, &st) || !S_ISDIR(st.st_mode)) why = "its directory does not exist";
        else if (access(dir, W_OK | X_OK)) why = "its directory is not writable";
    }
    if (!why) return 0;
    fprintf(stderr, "paw %s: cannot write %s: %s (checked before any work is done)\n", cmd, path, why);
    return 1;
}
