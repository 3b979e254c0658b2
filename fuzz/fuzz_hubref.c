/* fuzz_hubref.c — libFuzzer target for the hub client's local parsers
 * (src/net/hub.c): the program-reference grammar and the two cache maps
 * (programs/slug_cache.json, programs/hub_ids.json).
 *
 * Input: REFERENCE '\n' MAP.  The map bytes become both map files of a
 * scratch cache; then:
 *   - paw_hub_ref_shape(REFERENCE) must accept only names that are safe in a
 *     URL path and a cache key: characters [A-Za-z0-9._@/-], no "..", every
 *     '/'-separated part starting with a letter or digit, at most one '/';
 *   - paw_hub_lookup_cached must never succeed (nothing is installed in the
 *     scratch cache), whatever the maps say, and must set an error message
 *     for anything but "not found".
 * The hub itself (HTTP) is not exercised: the tests cover it against
 * tests/mock_hub.py.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "paw.h"
#include "net/hub.h"

static char g_progs[256];

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_progs, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void check_shape(const char *s)
{
    if (!paw_hub_ref_shape(s)) return;
    if (strstr(s, "..") || s[0] == '/' || s[0] == '.') abort();
    int slashes = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@' || c == '/'))
            abort();
        if (c == '/') {
            slashes++;
            char n = p[1];
            if (!((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9'))) abort();
        }
    }
    if (slashes > 1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_progs[0]) {
        char root[] = "/tmp/paw-fuzz-hubref-XXXXXX";
        if (!mkdtemp(root)) abort();
        setenv("PAW_CACHE_DIR", root, 1);
        setenv("PAW_OFFLINE", "1", 1);   /* never the network */
        snprintf(g_progs, sizeof g_progs, "%s/programs", root);
        mkdir(g_progs, 0755);
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ref_len = nl ? (size_t)(nl - data) : size;
    char *ref = malloc(ref_len + 1);
    if (!ref) return 0;
    memcpy(ref, data, ref_len);
    ref[ref_len] = 0;
    const uint8_t *map = nl ? nl + 1 : data + size;
    size_t map_len = (size_t)(data + size - map);
    write_file("slug_cache.json", map, map_len);
    write_file("hub_ids.json", map, map_len);

    check_shape(ref);
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = paw_hub_lookup_cached(ref, id);
    if (rc == PAW_OK) abort();                       /* nothing is installed */
    if (rc != PAW_ENOTFOUND && !paw_last_error()[0]) abort();
    free(ref);
    return 0;
}
