/* Shared helpers for the cmocka test binaries: where the fixtures are, and
 * small file utilities.  Every test reads real data from ../shared/ (or the
 * committed golden files under tests/golden/), never from the network. */
#ifndef PAW_TESTUTIL_H
#define PAW_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* 1 in an AddressSanitizer build (gcc defines __SANITIZE_ADDRESS__, clang
 * answers __has_feature): tests that would take minutes there use a smaller
 * model or fewer cases. */
#if defined(__SANITIZE_ADDRESS__)
#define PAW_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAW_TEST_SANITIZED 1
#endif
#endif
#ifndef PAW_TEST_SANITIZED
#define PAW_TEST_SANITIZED 0
#endif

/* Path to a file under the shared/ directory that sits beside the repository. */
static inline const char *tu_shared(const char *rel)
{
    static char buf[4][1024];
    static int slot;
    const char *root = getenv("PAW_SHARED");
    char *b = buf[slot++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", root ? root : "../shared", rel);
    return b;
}

/* A scratch file path $TMPDIR/paw_test_<tag>_<pid>_<name> (default /tmp),
 * one of four rotating buffers so that a call can take several. */
static inline const char *tu_tmp_path(const char *tag, const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ & 3];
    snprintf(p, sizeof buf[0], "%s/paw_test_%s_%ld_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag,
             (long)getpid(), name);
    return p;
}

/* Path to the cached SmolLM2-135M GGUF (fetched by `paw pull smollm2-135m`). */
static inline const char *tu_smollm2(void)
{
    static char b[1024];
    const char *c = getenv("PAW_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (c)      snprintf(b, sizeof b, "%s/models/smollm2-135m.gguf", c);
    else if (x) snprintf(b, sizeof b, "%s/paw/models/smollm2-135m.gguf", x);
    else        snprintf(b, sizeof b, "%s/.cache/paw/models/smollm2-135m.gguf", h ? h : ".");
    return b;
}

/* A missing prerequisite is a failure that names the fix, never a skip:
 * tests/run.sh fails a run that skips anything. */
#define TU_NEED_FILE(path, fix) do { \
        if (access((path), R_OK)) fail_msg("missing %s: %s", (path), (fix)); \
    } while (0)
#define TU_NEED_SMOLLM2() TU_NEED_FILE(tu_smollm2(), "run `./paw pull smollm2-135m`")
#define TU_NEED_BIN(bin) do { \
        if (!(bin) || access((bin), X_OK)) \
            fail_msg("$PAW_BIN (%s) is not an executable paw: run the suite with `make test`", \
                     (bin) ? (bin) : "unset"); \
    } while (0)

/* Reads a whole file; returns malloc'd bytes (NUL-terminated) or NULL. */
static inline char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = 0; if (len) *len = (size_t)n; }
    return p;
}
#endif
