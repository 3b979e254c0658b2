/* bundle.c — the .paw program bundle: a ZIP of adapter.gguf,
 * prompt_template.txt, meta.json and optionally pseudo_program.txt,
 * compatible with the official v3 format.
 *
 * The reader treats every bundle as hostile: the official limits (file size,
 * member count, expanded size) are checked against the central directory
 * before anything is inflated, and again against the bytes actually inflated,
 * since a ZIP can lie about its sizes.  Names are checked even for members we
 * never extract, because another tool unpacking the same file would honour
 * them.
 *
 * The writer produces the same bytes for the same content (fixed order,
 * DOS-epoch timestamps, fixed compression, fixed attributes, canonical JSON):
 * bundles can be diffed, hashed and rebuilt reproducibly. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include "core/common.h"
#include "runtime/bundle.h"

/* ---------------------------------------------------------- validation */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) and no
 * NUL, since templates and pseudo-programs are handed out as C strings. */
static size_t utf8_bad_offset(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return (size_t)-1;
}

int paw_bundle_check_text(const char *member, const char *p, size_t n)
{
    if (n > PAW_BUNDLE_MAX_TEXT)
        return paw_err(PAW_ERANGE, "%s: %zu bytes, over the %llu-byte limit", member, n,
                       (unsigned long long)PAW_BUNDLE_MAX_TEXT);
    size_t bad = utf8_bad_offset((const uint8_t *)p, n);
    if (bad != (size_t)-1)
        return paw_err(PAW_EFORMAT, "%s: invalid UTF-8 or NUL byte at offset %zu", member, bad);
    return PAW_OK;
}

int paw_bundle_check_template(const char *p, size_t n)
{
    int rc = paw_bundle_check_text(PAW_MEMBER_TEMPLATE, p, n);
    if (rc) return rc;
    static const char ph[] = PAW_PROGRAM_PLACEHOLDER;
    size_t count = 0, phl = sizeof ph - 1;
    for (const char *q = p; (q = memmem(q, n - (size_t)(q - p), ph, phl)); q += phl) count++;
    if (count != 1)
        return paw_err(PAW_EFORMAT, "%s: must contain exactly one %s, found %zu",
                       PAW_MEMBER_TEMPLATE, ph, count);
    return PAW_OK;
}

static int str_is(const paw_str *s, const char *want)
{
    return s->len == strlen(want) && !memcmp(s->ptr, want, s->len);
}

int paw_bundle_check_adapter(const uint8_t *p, size_t n)
{
    if (n < PAW_ADAPTER_MIN_BYTES)
        return paw_err(PAW_EFORMAT, "%s: %zu bytes, an adapter has at least %d",
                       PAW_MEMBER_ADAPTER, n, PAW_ADAPTER_MIN_BYTES);
    if (memcmp(p, "GGUF", 4))
        return paw_err(PAW_EFORMAT, "%s: not a GGUF file (no GGUF magic)", PAW_MEMBER_ADAPTER);
    paw_gguf *g;
    int rc = paw_gguf_open_mem(p, n, &g);
    if (rc) return paw_err_wrap(rc, "%s", PAW_MEMBER_ADAPTER);
    paw_str s;
    if (paw_gguf_get_str(g, "general.type", &s) || !str_is(&s, "adapter")) {
        rc = paw_err(PAW_EFORMAT, "%s: general.type is not \"adapter\" (a model, not a LoRA?)",
                     PAW_MEMBER_ADAPTER);
    } else if (paw_gguf_get_str(g, "adapter.type", &s) || !str_is(&s, "lora")) {
        rc = paw_err(PAW_EFORMAT, "%s: adapter.type is not \"lora\"", PAW_MEMBER_ADAPTER);
    } else {
        int64_t n_lora_a = 0;
        for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
            const char *name = paw_gguf_tensor_at(g, i)->name;
            size_t l = strlen(name);
            n_lora_a += l > 7 && !strcmp(name + l - 7, ".lora_a");
        }
        if (!n_lora_a)
            rc = paw_err(PAW_EFORMAT, "%s: no *.lora_a tensor", PAW_MEMBER_ADAPTER);
    }
    paw_gguf_close(g);
    return rc;
}

int paw_bundle_finish(paw_bundle *b)
{
    int rc = paw_bundle_check_template(b->prompt_template, b->prompt_template_len);
    if (!rc && b->pseudo_program)
        rc = paw_bundle_check_text(PAW_MEMBER_PSEUDO, b->pseudo_program, b->pseudo_program_len);
    if (!rc) rc = paw_bundle_check_adapter(b->adapter, b->adapter_len);
    if (!rc) rc = paw_program_id(b, b->id);
    return rc;
}

void paw_bundle_free(paw_bundle *b)
{
    if (!b) return;
    free(b->adapter);
    free(b->prompt_template);
    free(b->pseudo_program);
    paw_program_meta_clear(&b->meta);
    free(b);
}

/* -------------------------------------------------------------- reading */

/* A member name another unzip tool could turn into a write outside its target
 * directory, or that reads differently on Windows, is refused outright. */
static int check_name(const char *name)
{
    if (!name[0]) return paw_err(PAW_EFORMAT, "bundle: member with an empty name");
    if (name[0] == '/' || (((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') && name[1] == ':'))
        return paw_err(PAW_EFORMAT, "bundle: member \"%s\" has an absolute path", name);
    for (const char *p = name; *p; p++) {
        if (*p == '\\')
            return paw_err(PAW_EFORMAT, "bundle: member \"%s\" contains a backslash", name);
        if ((unsigned char)*p < 0x20)
            return paw_err(PAW_EFORMAT, "bundle: member name with a control character");
    }
    for (const char *c = name; c; ) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == 2 && c[0] == '.' && c[1] == '.')
            return paw_err(PAW_EFORMAT, "bundle: member \"%s\" escapes the bundle (path traversal)",
                           name);
        c = e ? e + 1 : NULL;
    }
    return PAW_OK;
}

/* Inflates member idx into a fresh buffer of exactly its declared size,
 * refusing data that is shorter or longer than declared. */
static int extract(zip_t *za, zip_uint64_t idx, const char *name, uint64_t size,
                   uint8_t **out, size_t *len)
{
    zip_file_t *f = zip_fopen_index(za, idx, 0);
    if (!f) return paw_err(PAW_EFORMAT, "bundle: cannot open %s: %s", name, zip_strerror(za));
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) { zip_fclose(f); return paw_err(PAW_ENOMEM, "bundle: %s: out of memory", name); }
    uint64_t got = 0;
    int rc = PAW_OK;
    while (got < size) {
        zip_int64_t r = zip_fread(f, buf + got, size - got);
        if (r < 0) { rc = paw_err(PAW_EFORMAT, "bundle: reading %s: %s", name, zip_file_strerror(f)); break; }
        if (r == 0) break;
        got += (uint64_t)r;
    }
    if (!rc && got < size)
        rc = paw_err(PAW_EFORMAT, "bundle: %s is truncated (%llu of %llu bytes)", name,
                     (unsigned long long)got, (unsigned long long)size);
    if (!rc) {
        uint8_t extra;
        zip_int64_t r = zip_fread(f, &extra, 1);
        if (r > 0)
            rc = paw_err(PAW_ERANGE, "bundle: %s inflates to more than its declared %llu bytes",
                         name, (unsigned long long)size);
        else if (r < 0)
            rc = paw_err(PAW_EFORMAT, "bundle: reading %s: %s", name, zip_file_strerror(f));
    }
    zip_fclose(f);
    if (rc) { free(buf); return rc; }
    buf[size] = 0;
    *out = buf;
    *len = (size_t)size;
    return PAW_OK;
}

enum { M_ADAPTER, M_TEMPLATE, M_META, M_PSEUDO, M_COUNT };
static const char *const member_names[M_COUNT] = {
    PAW_MEMBER_ADAPTER, PAW_MEMBER_TEMPLATE, PAW_MEMBER_META, PAW_MEMBER_PSEUDO,
};

static int read_archive(zip_t *za, paw_bundle *b)
{
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0) return paw_err(PAW_EFORMAT, "bundle: unreadable central directory");
    if (n > PAW_BUNDLE_MAX_MEMBERS)
        return paw_err(PAW_ERANGE, "bundle: %lld members, the limit is %d", (long long)n,
                       PAW_BUNDLE_MAX_MEMBERS);
    const char *names[PAW_BUNDLE_MAX_MEMBERS];
    int64_t found[M_COUNT] = {-1, -1, -1, -1};
    uint64_t sizes[M_COUNT] = {0}, total = 0;

    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) ||
            (st.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE)) != (ZIP_STAT_NAME | ZIP_STAT_SIZE))
            return paw_err(PAW_EFORMAT, "bundle: cannot read entry %lld: %s", (long long)i,
                           zip_strerror(za));
        const char *name = st.name;
        int rc = check_name(name);
        if (rc) return rc;
        for (zip_int64_t j = 0; j < i; j++)
            if (!strcmp(names[j], name))
                return paw_err(PAW_EFORMAT, "bundle: duplicate member \"%s\"", name);
        names[i] = name;

        zip_uint8_t opsys;
        zip_uint32_t attr;
        if (zip_file_get_external_attributes(za, (zip_uint64_t)i, 0, &opsys, &attr))
            return paw_err(PAW_EFORMAT, "bundle: %s: unreadable attributes", name);
        /* Unix mode bits live in the high half; S_IFLNK = 0120000.  Checked
         * whatever the "made by" system says, as some tools mislabel it. */
        if (((attr >> 16) & 0170000) == 0120000)
            return paw_err(PAW_EFORMAT, "bundle: member \"%s\" is a symbolic link", name);
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            return paw_err(PAW_EUNSUPPORTED, "bundle: member \"%s\" is encrypted", name);

        if (paw_add_overflow_u64(total, st.size, &total) || total > PAW_BUNDLE_MAX_EXPANDED)
            return paw_err(PAW_ERANGE, "bundle: members expand to more than %llu bytes "
                           "(the limit); refusing a possible ZIP bomb",
                           (unsigned long long)PAW_BUNDLE_MAX_EXPANDED);
        for (int m = 0; m < M_COUNT; m++)
            if (!strcmp(name, member_names[m])) { found[m] = i; sizes[m] = st.size; }
    }
    for (int m = 0; m < M_PSEUDO; m++)
        if (found[m] < 0)
            return paw_err(PAW_EFORMAT, "bundle: required member %s is missing", member_names[m]);
    for (int m = M_TEMPLATE; m < M_COUNT; m++)
        if (found[m] >= 0 && sizes[m] > PAW_BUNDLE_MAX_TEXT)
            return paw_err(PAW_ERANGE, "bundle: %s declares %llu bytes, over the %llu-byte limit",
                           member_names[m], (unsigned long long)sizes[m],
                           (unsigned long long)PAW_BUNDLE_MAX_TEXT);

    uint8_t *meta = NULL;
    size_t meta_len = 0;
    int rc = extract(za, (zip_uint64_t)found[M_META], PAW_MEMBER_META, sizes[M_META], &meta, &meta_len);
    if (!rc) rc = paw_meta_parse((const char *)meta, meta_len, &b->meta);
    free(meta);
    if (!rc)
        rc = extract(za, (zip_uint64_t)found[M_TEMPLATE], PAW_MEMBER_TEMPLATE, sizes[M_TEMPLATE],
                     (uint8_t **)&b->prompt_template, &b->prompt_template_len);
    if (!rc && found[M_PSEUDO] >= 0)
        rc = extract(za, (zip_uint64_t)found[M_PSEUDO], PAW_MEMBER_PSEUDO, sizes[M_PSEUDO],
                     (uint8_t **)&b->pseudo_program, &b->pseudo_program_len);
    if (!rc)
        rc = extract(za, (zip_uint64_t)found[M_ADAPTER], PAW_MEMBER_ADAPTER, sizes[M_ADAPTER],
                     &b->adapter, &b->adapter_len);
    return rc;
}

int paw_bundle_read_mem(const void *buf, size_t len, paw_bundle **out)
{
    if (!out || (!buf && len)) return paw_err(PAW_EINVAL, "paw_bundle_read_mem: NULL argument");
    *out = NULL;
    if (len > PAW_BUNDLE_MAX_FILE)
        return paw_err(PAW_ERANGE, "bundle: %zu bytes, over the %llu-byte limit", len,
                       (unsigned long long)PAW_BUNDLE_MAX_FILE);
    /* libzip takes an empty buffer for an empty archive; say what it is. */
    if (len < 22)
        return paw_err(PAW_EFORMAT, "bundle: not a ZIP archive (%zu bytes; the smallest ZIP has 22)", len);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!za) {
        /* libzip refuses duplicate names itself when checking consistency. */
        int dup = zip_error_code_zip(&ze) == ZIP_ER_EXISTS;
        int rc = dup ? paw_err(PAW_EFORMAT, "bundle: duplicate member names")
                     : paw_err(PAW_EFORMAT, "bundle: not a valid ZIP archive: %s",
                               zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        return rc;
    }
    zip_error_fini(&ze);
    paw_bundle *b = calloc(1, sizeof *b);
    int rc = b ? read_archive(za, b) : paw_err(PAW_ENOMEM, "bundle: out of memory");
    zip_discard(za);  /* read-only: nothing to write back; also frees src */
    if (!rc) rc = paw_bundle_finish(b);
    if (rc) { paw_bundle_free(b); return rc; }
    *out = b;
    return PAW_OK;
}

int paw_bundle_read(const char *path, paw_bundle **out)
{
    if (!path || !out) return paw_err(PAW_EINVAL, "paw_bundle_read: NULL argument");
    *out = NULL;
    int fd;
    struct stat st;
    int rc0 = paw_open_regular(path, 0, &fd, &st);  /* never blocks on a FIFO */
    if (rc0) return rc0;
    if ((uint64_t)st.st_size > PAW_BUNDLE_MAX_FILE) {
        close(fd);
        return paw_err(PAW_ERANGE, "%s: %lld bytes, over the %llu-byte limit for a .paw bundle",
                       path, (long long)st.st_size, (unsigned long long)PAW_BUNDLE_MAX_FILE);
    }
    void *map = NULL;
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return paw_err(PAW_EIO, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    int rc = paw_bundle_read_mem(map, (size_t)st.st_size, out);
    if (map) munmap(map, (size_t)st.st_size);
    return rc ? paw_err_wrap(rc, "%s", path) : PAW_OK;
}

int paw_read_file_capped(const char *path, uint64_t cap, uint8_t **out, size_t *len)
{
    int fd;
    struct stat st;
    int rc0 = paw_open_regular(path, O_NOFOLLOW, &fd, &st);
    if (rc0) return rc0;
    if ((uint64_t)st.st_size > cap) {
        close(fd);
        return paw_err(PAW_ERANGE, "%s: %lld bytes, over the %llu-byte limit", path,
                       (long long)st.st_size, (unsigned long long)cap);
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n + 1);
    if (!buf) { close(fd); return paw_err(PAW_ENOMEM, "%s: out of memory", path); }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) { free(buf); return paw_err(PAW_EIO, "%s: short read", path); }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return PAW_OK;
}

int paw_bundle_read_dir(const char *dir, paw_bundle **out)
{
    if (!dir || !out) return paw_err(PAW_EINVAL, "paw_bundle_read_dir: NULL argument");
    *out = NULL;
    paw_bundle *b = calloc(1, sizeof *b);
    if (!b) return paw_err(PAW_ENOMEM, "out of memory");
    char p[PAW_PROGRAM_PATH_MAX];
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    int rc = PAW_OK;
#define MEMBER_PATH(name) (snprintf(p, sizeof p, "%s/%s", dir, name) < (int)sizeof p ? p : "")
    rc = paw_read_file_capped(MEMBER_PATH(PAW_MEMBER_META), PAW_BUNDLE_MAX_TEXT, &meta, &meta_len);
    if (!rc) rc = paw_meta_parse((const char *)meta, meta_len, &b->meta);
    free(meta);
    if (!rc)
        rc = paw_read_file_capped(MEMBER_PATH(PAW_MEMBER_TEMPLATE), PAW_BUNDLE_MAX_TEXT,
                                  (uint8_t **)&b->prompt_template, &b->prompt_template_len);
    if (!rc) {
        rc = paw_read_file_capped(MEMBER_PATH(PAW_MEMBER_PSEUDO), PAW_BUNDLE_MAX_TEXT,
                                  (uint8_t **)&b->pseudo_program, &b->pseudo_program_len);
        if (rc == PAW_ENOTFOUND) rc = PAW_OK;
    }
    if (!rc)
        rc = paw_read_file_capped(MEMBER_PATH(PAW_MEMBER_ADAPTER), PAW_BUNDLE_MAX_EXPANDED,
                                  &b->adapter, &b->adapter_len);
#undef MEMBER_PATH
    if (!rc) rc = paw_bundle_finish(b);
    if (rc) {
        paw_bundle_free(b);
        return paw_err_wrap(rc, "program directory %s", dir);
    }
    *out = b;
    return PAW_OK;
}

/* -------------------------------------------------------------- writing */

/* Adds one member with everything that could vary between runs pinned:
 * timestamp 1980-01-01 00:00 (DOS date 0x0021: the DOS epoch, timezone-free),
 * mode 0644 from a Unix host, the given compression. */
static int add_member(zip_t *za, const char *name, const void *data, size_t len, int method)
{
    zip_source_t *s = zip_source_buffer(za, data, len, 0);
    if (!s) return paw_err(PAW_ENOMEM, "bundle: %s: %s", name, zip_strerror(za));
    zip_int64_t idx = zip_file_add(za, name, s, 0);
    if (idx < 0) {
        zip_source_free(s);
        return paw_err(PAW_EIO, "bundle: adding %s: %s", name, zip_strerror(za));
    }
    zip_uint64_t i = (zip_uint64_t)idx;
    if (zip_set_file_compression(za, i, method, method == ZIP_CM_STORE ? 0 : 9) ||
        zip_file_set_dostime(za, i, 0, 0x0021, 0) ||
        zip_file_set_external_attributes(za, i, 0, ZIP_OPSYS_UNIX, 0100644u << 16))
        return paw_err(PAW_EIO, "bundle: setting up %s: %s", name, zip_strerror(za));
    return PAW_OK;
}

int paw_bundle_prepare(paw_bundle *b, char **meta, size_t *meta_len)
{
    *meta = NULL;
    if (!b->prompt_template || !b->adapter)
        return paw_err(PAW_EINVAL, "bundle: adapter and prompt template are required");
    /* Validate what a reader would, so that paw never writes a bundle it
     * would refuse to read. */
    int rc = paw_bundle_check_template(b->prompt_template, b->prompt_template_len);
    if (!rc && b->pseudo_program)
        rc = paw_bundle_check_text(PAW_MEMBER_PSEUDO, b->pseudo_program, b->pseudo_program_len);
    if (!rc) rc = paw_bundle_check_adapter(b->adapter, b->adapter_len);
    if (rc) return rc;

    /* Normalise the meta through its own serialisation first: the ID must be
     * the one a reader of the written file computes, and a caller's struct
     * may say the same thing two ways (a null in extra_json, say).  The
     * program_id placeholder is replaced below; it is not part of the ID. */
    char *text;
    size_t text_len;
    int fill_id = !b->meta.program_id;
    if (fill_id && !(b->meta.program_id = strdup("0")))
        return paw_err(PAW_ENOMEM, "bundle: out of memory");
    rc = paw_meta_dump(&b->meta, 0, &text, &text_len);
    paw_program_meta norm;
    if (!rc) {
        rc = paw_meta_parse(text, text_len, &norm);
        free(text);
        if (rc) rc = paw_err_wrap(PAW_EINVAL, "bundle: meta would not read back");
    }
    if (fill_id) {
        free(b->meta.program_id);
        b->meta.program_id = NULL;
    }
    if (rc) return rc;
    paw_bundle view = *b;
    view.meta = norm;
    rc = paw_program_id(&view, b->id);
    if (!rc && fill_id) {
        free(norm.program_id);
        norm.program_id = strdup(b->id);
        b->meta.program_id = strdup(b->id);
        if (!norm.program_id || !b->meta.program_id) rc = paw_err(PAW_ENOMEM, "bundle: out of memory");
    }
    if (!rc) rc = paw_meta_dump(&norm, 0, meta, meta_len);
    paw_program_meta_clear(&norm);
    return rc;
}

int paw_bundle_write_mem(paw_bundle *b, uint8_t **out, size_t *len)
{
    if (!b || !out || !len) return paw_err(PAW_EINVAL, "paw_bundle_write: NULL argument");
    *out = NULL;
    char *meta;
    size_t meta_len;
    int rc = paw_bundle_prepare(b, &meta, &meta_len);
    if (rc) return rc;

    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!za) {
        rc = paw_err(PAW_ENOMEM, "bundle: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        free(meta);
        return rc;
    }
    zip_error_fini(&ze);
    zip_source_keep(src);  /* survive zip_close so the bytes can be read out */
    /* Small text first, so a listing shows what the program is before the
     * large adapter; the adapter is stored (Q4_0 barely compresses, and a
     * stored member keeps the bytes independent of the zlib version). */
    rc = add_member(za, PAW_MEMBER_META, meta, meta_len, ZIP_CM_DEFLATE);
    if (!rc) rc = add_member(za, PAW_MEMBER_TEMPLATE, b->prompt_template, b->prompt_template_len,
                             ZIP_CM_DEFLATE);
    if (!rc && b->pseudo_program)
        rc = add_member(za, PAW_MEMBER_PSEUDO, b->pseudo_program, b->pseudo_program_len,
                        ZIP_CM_DEFLATE);
    if (!rc) rc = add_member(za, PAW_MEMBER_ADAPTER, b->adapter, b->adapter_len, ZIP_CM_STORE);
    if (!rc && zip_close(za)) rc = paw_err(PAW_EIO, "bundle: %s", zip_strerror(za));
    if (rc) zip_discard(za);
    free(meta);

    uint8_t *buf = NULL;
    zip_int64_t n = 0;
    if (!rc) {
        if (zip_source_open(src) || zip_source_seek(src, 0, SEEK_END) ||
            (n = zip_source_tell(src)) < 0 || zip_source_seek(src, 0, SEEK_SET))
            rc = paw_err(PAW_EIO, "bundle: reading back the archive failed");
        else if (!(buf = malloc((size_t)n + 1)))
            rc = paw_err(PAW_ENOMEM, "bundle: out of memory");
        else if (zip_source_read(src, buf, (zip_uint64_t)n) != n)
            rc = paw_err(PAW_EIO, "bundle: reading back the archive failed");
        zip_source_close(src);
    }
    zip_source_free(src);
    if (rc) { free(buf); return rc; }
    *out = buf;
    *len = (size_t)n;
    return PAW_OK;
}

int paw_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return paw_err(PAW_EIO, "%s: %s", dir, strerror(errno));
    int r = fsync(fd);
    close(fd);
    return r ? paw_err(PAW_EIO, "fsync %s: %s", dir, strerror(errno)) : PAW_OK;
}

int paw_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PAW_PROGRAM_PATH_MAX], dir[PAW_PROGRAM_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return paw_err(PAW_EINVAL, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return paw_err(PAW_EIO, "%s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t done = 0;
    int rc = PAW_OK;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = paw_err(PAW_EIO, "writing %s: %s", tmp, strerror(errno)); break; }
        done += (size_t)w;
    }
    if (!rc && fchmod(fd, 0644)) rc = paw_err(PAW_EIO, "%s: %s", tmp, strerror(errno));
    if (!rc && fsync(fd)) rc = paw_err(PAW_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) && !rc) rc = paw_err(PAW_EIO, "closing %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path)) rc = paw_err(PAW_EIO, "rename to %s: %s", path, strerror(errno));
    if (rc) { unlink(tmp); return rc; }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    return paw_fsync_dir(dir);
}

int paw_bundle_write(paw_bundle *b, const char *path)
{
    if (!path) return paw_err(PAW_EINVAL, "paw_bundle_write: NULL path");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = paw_bundle_write_mem(b, &buf, &len);
    if (!rc) rc = paw_write_file_atomic(path, buf, len);
    free(buf);
    return rc ? paw_err_wrap(rc, "writing %s", path) : PAW_OK;
}
