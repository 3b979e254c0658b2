/* fuzz_bundle.c — libFuzzer target for the .paw bundle reader.
 *
 * Each input is copied into an exact-size heap buffer (so ASan sees any read
 * past its end) and read as a ZIP through paw_bundle_read_mem (libzip
 * over zip_source_buffer).  An accepted bundle must keep the reader's
 * promises — one placeholder, a 20-hex content ID — and must survive the
 * writer: written back and read again it has the same ID and the same bytes,
 * and writing that copy gives the same file.  Any broken promise aborts.
 *
 * Mutated ZIPs rarely get past libzip's CRC check, so inputs starting with
 * 'S' are taken as members instead — 'S', u16le meta length, meta.json,
 * u16le template length, prompt_template.txt, then adapter.gguf — and zipped
 * here first, which lets the fuzzer reach meta.json parsing, template and
 * GGUF validation, the content ID and the writer.
 * Build with `make fuzz`; seeds in fuzz/corpus/bundle/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include "paw.h"

/* Zips the members of a structured input; NULL if the input is too short. */
static uint8_t *zip_members(const uint8_t *d, size_t n, size_t *out_len)
{
    const uint8_t *part[3];
    size_t len[3];
    size_t off = 1;
    for (int i = 0; i < 2; i++) {
        if (n - off < 2) return NULL;
        len[i] = (size_t)d[off] | (size_t)d[off + 1] << 8;
        off += 2;
        if (n - off < len[i]) return NULL;
        part[i] = d + off;
        off += len[i];
    }
    part[2] = d + off;
    len[2] = n - off;
    static const char *names[3] = {"meta.json", "prompt_template.txt", "adapter.gguf"};
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    zip_error_fini(&ze);
    if (!za) { zip_source_free(src); return NULL; }
    zip_source_keep(src);
    for (int i = 0; i < 3; i++) {
        zip_source_t *s = zip_source_buffer(za, part[i], len[i], 0);
        if (!s || zip_file_add(za, names[i], s, 0) < 0) abort();
        zip_set_file_compression(za, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    }
    if (zip_close(za)) abort();
    uint8_t *buf = NULL;
    zip_int64_t total = 0;
    if (zip_source_open(src) || zip_source_seek(src, 0, SEEK_END) || (total = zip_source_tell(src)) < 0 ||
        zip_source_seek(src, 0, SEEK_SET) || !(buf = malloc((size_t)total + 1)) ||
        zip_source_read(src, buf, (zip_uint64_t)total) != total)
        abort();
    zip_source_close(src);
    zip_source_free(src);
    *out_len = (size_t)total;
    return buf;
}

static void check_accepted(paw_bundle *b)
{
    const char *ph = PAW_PROGRAM_PLACEHOLDER;
    const char *first = strstr(b->prompt_template, ph);
    if (!first || strstr(first + 1, ph) || strlen(b->prompt_template) != b->prompt_template_len)
        abort();
    if (strlen(b->id) != PAW_PROGRAM_ID_LEN || !b->meta.interpreter || !b->meta.program_id) abort();

    uint8_t *w1 = NULL, *w2 = NULL;
    size_t l1 = 0, l2 = 0;
    paw_bundle *r = NULL;
    if (paw_bundle_write_mem(b, &w1, &l1) != PAW_OK) abort();
    if (paw_bundle_read_mem(w1, l1, &r) != PAW_OK) abort();
    if (strcmp(r->id, b->id) || r->adapter_len != b->adapter_len ||
        memcmp(r->adapter, b->adapter, b->adapter_len) ||
        strcmp(r->prompt_template, b->prompt_template))
        abort();
    if (paw_bundle_write_mem(r, &w2, &l2) != PAW_OK || l1 != l2 || memcmp(w1, w2, l1)) abort();
    paw_bundle_free(r);
    free(w1);
    free(w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    if (size && data[0] == 'S') {
        if (!(buf = zip_members(data, size, &size))) return 0;
    } else {
        if (!(buf = malloc(size ? size : 1))) return 0;
        memcpy(buf, data, size);
    }
    paw_bundle *b = NULL;
    if (paw_bundle_read_mem(buf, size, &b) == PAW_OK) {
        check_accepted(b);
        paw_bundle_free(b);
    } else if (b) {
        abort();  /* a refused bundle must not hand anything out */
    }
    free(buf);
    return 0;
}
