/* gguf_write.c — GGUF v3 writer.
 *
 * Each key/value is serialised into its own byte buffer when it is set (type
 * id + payload in file encoding), so writing is a plain concatenation and a
 * key set twice simply has its buffer replaced in place (insertion order is
 * kept).  Tensors are described at add time and their data copied from the
 * caller's pointers at write time.  Output goes to a temp file beside the
 * target which is fsync'd and renamed over it, so a crash or error never
 * leaves a half-written model where a reader would find it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "model/gguf.h"

#define GGUF_MAGIC_BYTES   "GGUF"
#define GGUF_VERSION       3u
#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_MAX_NAME      64u     /* the spec's limits on tensor names */
#define GGUF_MAX_KEY       65535u  /* and on keys, as the reader enforces */

typedef struct {
    char    *key;
    uint8_t *val;    /* u32 value type followed by the encoded value */
    size_t   len;
} wkv;

typedef struct {
    char       *name;
    int         type;
    int         n_dims;
    int64_t     ne[4];
    uint64_t    nbytes;
    uint64_t    offset;  /* assigned at write time */
    const void *data;    /* the caller's; must live until write */
} wtensor;

struct paw_gguf_writer {
    wkv     *kvs;
    size_t   n_kv, cap_kv;
    wtensor *ts;
    size_t   n_t, cap_t;
};

paw_gguf_writer *paw_gguf_writer_new(void)
{
    paw_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    return w;
}

void paw_gguf_writer_free(paw_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kvs[i].key); free(w->kvs[i].val); }
    for (size_t i = 0; i < w->n_t; i++) free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w);
}

/* Grows *arr (of elem bytes each) so that one more fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return PAW_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    *arr = p;
    *cap = nc;
    return PAW_OK;
}

/* Takes ownership of val (len bytes) as the encoded value of key. */
static int put_kv(paw_gguf_writer *w, const char *key, uint8_t *val, size_t len)
{
    if (!w || !key || !*key || strlen(key) > GGUF_MAX_KEY) {
        free(val);
        return paw_err(PAW_EINVAL, "gguf writer: missing writer, or key empty or over %u bytes", GGUF_MAX_KEY);
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key)) {
            free(w->kvs[i].val);
            w->kvs[i].val = val;
            w->kvs[i].len = len;
            return PAW_OK;
        }
    char *k = strdup(key);
    if (!k || grow((void **)&w->kvs, &w->cap_kv, w->n_kv, sizeof *w->kvs)) {
        free(k);
        free(val);
        return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    }
    w->kvs[w->n_kv++] = (wkv){k, val, len};
    return PAW_OK;
}

static int elem_size(int type)
{
    switch (type) {
    case PAW_GGUF_U8: case PAW_GGUF_I8: case PAW_GGUF_BOOL: return 1;
    case PAW_GGUF_U16: case PAW_GGUF_I16: return 2;
    case PAW_GGUF_U32: case PAW_GGUF_I32: case PAW_GGUF_F32: return 4;
    case PAW_GGUF_U64: case PAW_GGUF_I64: case PAW_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Encodes a scalar of `type` whose bytes are at v. */
static int put_scalar(paw_gguf_writer *w, const char *key, int type, const void *v)
{
    size_t n = (size_t)elem_size(type);
    uint8_t *b = malloc(4 + n);
    if (!b) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    uint32_t t = (uint32_t)type;
    memcpy(b, &t, 4);
    memcpy(b + 4, v, n);
    return put_kv(w, key, b, 4 + n);
}

int paw_gguf_writer_set_val(paw_gguf_writer *w, const char *key, int type, const void *v)
{
    if (!elem_size(type) || !v)
        return paw_err(PAW_EINVAL, "gguf writer: key '%s': type %d is not a fixed-size scalar type", key ? key : "", type);
    if (type == PAW_GGUF_BOOL && *(const uint8_t *)v > 1)
        return paw_err(PAW_EINVAL, "gguf writer: key '%s': bool value must be 0 or 1", key ? key : "");
    return put_scalar(w, key, type, v);
}

int paw_gguf_writer_set_u32(paw_gguf_writer *w, const char *key, uint32_t v)
{ return put_scalar(w, key, PAW_GGUF_U32, &v); }
int paw_gguf_writer_set_i32(paw_gguf_writer *w, const char *key, int32_t v)
{ return put_scalar(w, key, PAW_GGUF_I32, &v); }
int paw_gguf_writer_set_u64(paw_gguf_writer *w, const char *key, uint64_t v)
{ return put_scalar(w, key, PAW_GGUF_U64, &v); }
int paw_gguf_writer_set_f32(paw_gguf_writer *w, const char *key, float v)
{ return put_scalar(w, key, PAW_GGUF_F32, &v); }
int paw_gguf_writer_set_bool(paw_gguf_writer *w, const char *key, int v)
{ uint8_t b = v != 0; return put_scalar(w, key, PAW_GGUF_BOOL, &b); }

int paw_gguf_writer_set_str(paw_gguf_writer *w, const char *key, const char *s, size_t len)
{
    if (!s && len) return paw_err(PAW_EINVAL, "gguf writer: key '%s': NULL string", key ? key : "");
    uint8_t *b = malloc(12 + len);
    if (!b) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    uint32_t t = PAW_GGUF_STRING;
    uint64_t n = len;
    memcpy(b, &t, 4);
    memcpy(b + 4, &n, 8);
    if (len) memcpy(b + 12, s, len);
    return put_kv(w, key, b, 12 + len);
}

int paw_gguf_writer_set_arr(paw_gguf_writer *w, const char *key, int arr_type,
                            const void *data, uint64_t n)
{
    int es = elem_size(arr_type);
    uint64_t bytes, total;
    if (es == 0)
        return paw_err(PAW_EINVAL, "gguf writer: key '%s': array element type %d is not a fixed-size type",
                       key ? key : "", arr_type);
    if (!data && n) return paw_err(PAW_EINVAL, "gguf writer: key '%s': NULL array data", key ? key : "");
    if (paw_mul_overflow_u64(n, (uint64_t)es, &bytes) || paw_add_overflow_u64(bytes, 16, &total) ||
        total > SIZE_MAX)
        return paw_err(PAW_EINVAL, "gguf writer: key '%s': array too large", key ? key : "");
    uint8_t *b = malloc((size_t)total);
    if (!b) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    uint32_t t = PAW_GGUF_ARRAY, at = (uint32_t)arr_type;
    memcpy(b, &t, 4);
    memcpy(b + 4, &at, 4);
    memcpy(b + 8, &n, 8);
    if (bytes) memcpy(b + 16, data, (size_t)bytes);
    return put_kv(w, key, b, (size_t)total);
}

int paw_gguf_writer_set_arr_str(paw_gguf_writer *w, const char *key, const paw_str *strs, uint64_t n)
{
    if (!strs && n) return paw_err(PAW_EINVAL, "gguf writer: key '%s': NULL string array", key ? key : "");
    uint64_t total = 16;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i].ptr && strs[i].len)
            return paw_err(PAW_EINVAL, "gguf writer: key '%s': NULL string %llu", key ? key : "",
                           (unsigned long long)i);
        if (paw_add_overflow_u64(total, 8, &total) || paw_add_overflow_u64(total, strs[i].len, &total))
            return paw_err(PAW_EINVAL, "gguf writer: key '%s': array too large", key ? key : "");
    }
    if (total > SIZE_MAX) return paw_err(PAW_EINVAL, "gguf writer: key '%s': array too large", key ? key : "");
    uint8_t *b = malloc((size_t)total), *p = b;
    if (!b) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    uint32_t t = PAW_GGUF_ARRAY, at = PAW_GGUF_STRING;
    memcpy(p, &t, 4); p += 4;
    memcpy(p, &at, 4); p += 4;
    memcpy(p, &n, 8); p += 8;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(p, &strs[i].len, 8); p += 8;
        if (strs[i].len) memcpy(p, strs[i].ptr, (size_t)strs[i].len);
        p += strs[i].len;
    }
    return put_kv(w, key, b, (size_t)total);
}

int paw_gguf_writer_add_tensor(paw_gguf_writer *w, const char *name, int type,
                               int n_dims, const int64_t *ne, const void *data)
{
    if (!w || !name || !ne || !data) return paw_err(PAW_EINVAL, "gguf writer: NULL argument to add_tensor");
    size_t nl = strlen(name);
    if (nl == 0 || nl > GGUF_MAX_NAME)
        return paw_err(PAW_EINVAL, "gguf writer: tensor name '%s' must be 1..%u bytes", name, GGUF_MAX_NAME);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->ts[i].name, name))
            return paw_err(PAW_EINVAL, "gguf writer: duplicate tensor '%s'", name);
    int bs = paw_type_name(type) ? paw_type_block_size(type) : 0;
    size_t bb = bs > 0 ? paw_type_block_bytes(type) : 0;
    if (bs <= 0 || bb == 0) return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': unknown type %d", name, type);
    if (n_dims < 1 || n_dims > 4)
        return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': n_dims %d not in 1..4", name, n_dims);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .data = data};
    uint64_t n_elem = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': ne[%d]=%lld", name, d, (long long)ne[d]);
        if (paw_mul_overflow_u64(n_elem, (uint64_t)ne[d], &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': element count overflows", name);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % bs)
        return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': ne[0]=%lld not a multiple of the %s block size %d",
                       name, (long long)t.ne[0], paw_type_name(type), bs);
    if (paw_mul_overflow_u64(n_elem / (uint64_t)bs, bb, &t.nbytes))
        return paw_err(PAW_EINVAL, "gguf writer: tensor '%s': byte size overflows", name);
    if (grow((void **)&w->ts, &w->cap_t, w->n_t, sizeof *w->ts)) return PAW_ENOMEM;
    if (!(t.name = strdup(name))) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    w->ts[w->n_t++] = t;
    return PAW_OK;
}

/* ---------------------------------------------------------------- write */

/* The alignment to use: general.alignment if set (must be a power-of-two u32). */
static int writer_alignment(const paw_gguf_writer *w, uint32_t *out)
{
    *out = GGUF_DEFAULT_ALIGN;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment")) continue;
        uint32_t t = paw_ld_u32(w->kvs[i].val), a;
        if (t != PAW_GGUF_U32) return paw_err(PAW_EINVAL, "gguf writer: general.alignment must be a u32");
        a = paw_ld_u32(w->kvs[i].val + 4);
        if (a == 0 || (a & (a - 1)))
            return paw_err(PAW_EINVAL, "gguf writer: general.alignment %u is not a power of two", a);
        *out = a;
    }
    return PAW_OK;
}

static int put_bytes(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

static int put_zeros(FILE *f, uint64_t n)
{
    static const uint8_t zero[256];
    while (n) {
        size_t k = (size_t)PAW_MIN(n, sizeof zero);
        if (fwrite(zero, 1, k, f) != k) return 0;
        n -= k;
    }
    return 1;
}

static uint64_t pad_to(uint64_t pos, uint32_t align) { return (align - pos % align) % align; }

/* Writes the whole file to f; returns 1 on success (errno set on failure). */
static int write_all(const paw_gguf_writer *w, FILE *f, uint32_t align)
{
    uint32_t version = GGUF_VERSION;
    uint64_t n_t = w->n_t, n_kv = w->n_kv, pos = 24;
    int ok = put_bytes(f, GGUF_MAGIC_BYTES, 4) && put_bytes(f, &version, 4) &&
             put_bytes(f, &n_t, 8) && put_bytes(f, &n_kv, 8);
    for (size_t i = 0; ok && i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kvs[i].key);
        ok = put_bytes(f, &kl, 8) && put_bytes(f, w->kvs[i].key, kl) && put_bytes(f, w->kvs[i].val, w->kvs[i].len);
        pos += 8 + kl + w->kvs[i].len;
    }
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        uint64_t nl = strlen(t->name), ne;
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        ok = put_bytes(f, &nl, 8) && put_bytes(f, t->name, nl) && put_bytes(f, &nd, 4);
        for (int d = 0; ok && d < t->n_dims; d++) ne = (uint64_t)t->ne[d], ok = put_bytes(f, &ne, 8);
        ok = ok && put_bytes(f, &ty, 4) && put_bytes(f, &t->offset, 8);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    ok = ok && put_zeros(f, pad_to(pos, align));
    for (size_t i = 0; ok && i < w->n_t; i++)
        ok = put_bytes(f, w->ts[i].data, (size_t)w->ts[i].nbytes) && put_zeros(f, pad_to(w->ts[i].nbytes, align));
    return ok;
}

/* The alignment, and each tensor's offset: each starts aligned, in insertion
 * order. */
static int writer_layout(paw_gguf_writer *w, uint32_t *align)
{
    int rc = writer_alignment(w, align);
    if (rc) return rc;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->ts[i].offset = off;
        if (paw_add_overflow_u64(off, w->ts[i].nbytes, &off) || paw_add_overflow_u64(off, pad_to(off, *align), &off))
            return paw_err(PAW_EINVAL, "gguf writer: total tensor size overflows");
    }
    return PAW_OK;
}

int paw_gguf_writer_write_mem(paw_gguf_writer *w, uint8_t **out, size_t *len)
{
    if (!w || !out || !len) return paw_err(PAW_EINVAL, "gguf writer: NULL argument to write_mem");
    *out = NULL;
    *len = 0;
    uint32_t align;
    int rc = writer_layout(w, &align);
    if (rc) return rc;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    int ok = write_all(w, f, align);
    if (fclose(f) != 0 || !ok) {
        free(buf);
        return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    }
    *out = (uint8_t *)buf;
    *len = n;
    return PAW_OK;
}

int paw_gguf_writer_write(paw_gguf_writer *w, const char *path)
{
    if (!w || !path || !*path) return paw_err(PAW_EINVAL, "gguf writer: NULL argument to write");
    uint32_t align;
    int rc = writer_layout(w, &align);
    if (rc) return rc;

    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) return paw_err(PAW_ENOMEM, "gguf writer: out of memory");
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = paw_err(PAW_EIO, "gguf writer: cannot create temp file '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    /* mkstemp creates 0600; a model file is as readable as any other output. */
    (void)fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        rc = paw_err(PAW_EIO, "gguf writer: fdopen: %s", strerror(errno));
        close(fd);
        goto fail;
    }
    if (!write_all(w, f, align) || fflush(f) != 0) {
        rc = paw_err(PAW_EIO, "gguf writer: writing '%s': %s", tmp, strerror(errno));
        fclose(f);
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        rc = paw_err(PAW_EIO, "gguf writer: fsync '%s': %s", tmp, strerror(errno));
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0) {
        rc = paw_err(PAW_EIO, "gguf writer: closing '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = paw_err(PAW_EIO, "gguf writer: renaming to '%s': %s", path, strerror(errno));
        goto fail;
    }
    /* Make the rename itself durable; failure here does not undo the write. */
    char *dir = strdup(path);
    if (dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
        free(dir);
    }
    free(tmp);
    return PAW_OK;
fail:
    unlink(tmp);
    free(tmp);
    return rc;
}
