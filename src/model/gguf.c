/* gguf.c — GGUF v2/v3 reader.
 *
 * The file is mapped read-only and validated completely at open time, so that
 * every pointer handed out afterwards (key/value data, strings, tensor data)
 * is known to lie inside the mapping.  Callers can then use them without any
 * further bounds checks.  Layout (all little-endian):
 *
 *   header   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv     string key, u32 type, value
 *   n_tensor string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset
 *   padding  to `general.alignment` (default 32)
 *   data     tensor bytes; each offset is relative to the start of this section
 *
 * A string is u64 length + bytes (no NUL).  An array is u32 element type +
 * u64 count + elements.  Every length read from the file is untrusted: it is
 * compared against the bytes that remain before anything is allocated or
 * read, with overflow-checked arithmetic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "model/gguf.h"

#define GGUF_MAGIC        "GGUF"
#define GGUF_DEFAULT_ALIGN 32u
/* The spec caps tensor names at 64 bytes (ggml's GGML_MAX_NAME) and keys at
 * 65535; enforcing both keeps hostile files from producing absurd names. */
#define GGUF_MAX_NAME     64u
#define GGUF_MAX_KEY      65535u
/* Smallest encodings, used to bound counts by the remaining bytes before any
 * allocation: a kv is key length (8) + type (4) + a 1-byte value; a tensor
 * info is name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES     13u
#define GGUF_MIN_TENSOR_BYTES 32u

struct paw_gguf {
    const uint8_t   *base;      /* the file bytes                               */
    size_t           size;
    void            *map;       /* mmap'd region to unmap, NULL for open_mem    */
    struct stat      st;        /* the file's fstat at open (st_ino 0: memory)  */
    uint32_t         version;
    uint32_t         alignment;
    uint64_t         data_off;  /* start of the data section in the file        */
    int64_t          n_kv;
    paw_gguf_kv     *kvs;
    int64_t          n_tensors;
    paw_gguf_tensor *tensors;
    /* Open-addressing hash tables of (index + 1), 0 = empty; sized to a power
     * of two at least twice the count.  They give O(1) find and make the
     * duplicate checks linear even for hostile counts. */
    uint32_t        *kv_index;
    uint32_t        *tensor_index;
    uint64_t         index_mask_kv, index_mask_tensor;
};

/* ------------------------------------------------------------ the cursor */

/* Reading position over the file.  Every read goes through need(), which is
 * the single place where lengths meet the file size.  Its messages carry no
 * "gguf:" prefix: every caller wraps them with what was being read. */
typedef struct {
    const uint8_t *base;
    size_t         size;
    size_t         pos;
} cursor;

static int need(const cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return paw_err(PAW_EFORMAT,
                       "truncated: %s at offset %zu needs %llu bytes, %zu remain (file size %zu)",
                       what, c->pos, (unsigned long long)n, c->size - c->pos, c->size);
    return PAW_OK;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc) return rc;
    *v = paw_ld_u32(c->base + c->pos);
    c->pos += 4;
    return PAW_OK;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc) return rc;
    *v = paw_ld_u64(c->base + c->pos);
    c->pos += 8;
    return PAW_OK;
}

/* Reads a string in place: s points into the file. */
static int rd_str(cursor *c, paw_str *s, const char *what)
{
    uint64_t len;
    int rc = rd_u64(c, &len, what);
    if (rc) return rc;
    if (len > c->size - c->pos)
        return paw_err(PAW_EFORMAT,
                       "%s at offset %zu has length %llu but only %zu bytes remain (file size %zu)",
                       what, c->pos - 8, (unsigned long long)len, c->size - c->pos, c->size);
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return PAW_OK;
}

/* ------------------------------------------------------------ value types */

static const char *const type_names[] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
    "string", "array", "u64", "i64", "f64",
};

/* Size of one fixed-size value; 0 for STRING/ARRAY; -1 for an unknown id. */
static int value_size(uint32_t type)
{
    switch (type) {
    case PAW_GGUF_U8: case PAW_GGUF_I8: case PAW_GGUF_BOOL: return 1;
    case PAW_GGUF_U16: case PAW_GGUF_I16: return 2;
    case PAW_GGUF_U32: case PAW_GGUF_I32: case PAW_GGUF_F32: return 4;
    case PAW_GGUF_U64: case PAW_GGUF_I64: case PAW_GGUF_F64: return 8;
    case PAW_GGUF_STRING: case PAW_GGUF_ARRAY: return 0;
    default: return -1;
    }
}

static const char *value_type_name(int type)
{
    return type >= 0 && (size_t)type < PAW_ARRAY_LEN(type_names) ? type_names[type] : "?";
}

/* -------------------------------------------------------------- hashing */

static uint64_t hash_bytes(const char *s, size_t n)
{
    /* FNV-1a: tiny, and good enough for a few hundred thousand names. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int index_alloc(uint32_t **tab, uint64_t *mask, int64_t count)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)count * 2) cap <<= 1;
    *tab = calloc(cap, sizeof **tab);
    if (!*tab) return paw_err(PAW_ENOMEM, "gguf: out of memory for an index of %lld names", (long long)count);
    *mask = cap - 1;
    return PAW_OK;
}

/* The slot holding `name`, or the empty slot where it would go.  `name_of`
 * returns the NUL-terminated name of entry i. */
static uint32_t *index_slot(uint32_t *tab, uint64_t mask, const char *name,
                            const char *(*name_of)(const paw_gguf *, uint32_t), const paw_gguf *g)
{
    uint64_t h = hash_bytes(name, strlen(name)) & mask;
    while (tab[h] && strcmp(name_of(g, tab[h] - 1), name) != 0) h = (h + 1) & mask;
    return &tab[h];
}

static const char *kv_name(const paw_gguf *g, uint32_t i) { return g->kvs[i].key; }
static const char *tensor_name(const paw_gguf *g, uint32_t i) { return g->tensors[i].name; }

/* A NUL-terminated copy of a name read from the file.  Names with an
 * embedded NUL are rejected: they would be ambiguous once terminated. */
static int copy_name(paw_str s, const char *what, uint64_t idx, const char **out)
{
    if (s.len == 0) return paw_err(PAW_EFORMAT, "gguf: %s %llu has an empty name", what, (unsigned long long)idx);
    if (memchr(s.ptr, 0, s.len))
        return paw_err(PAW_EFORMAT, "gguf: %s %llu has a NUL byte in its name", what, (unsigned long long)idx);
    char *p = malloc(s.len + 1);
    if (!p) return paw_err(PAW_ENOMEM, "gguf: out of memory");
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    *out = p;
    return PAW_OK;
}

/* --------------------------------------------------------- key/values */

/* Reads the value of kv (type already set) at the cursor. */
static int read_value(cursor *c, paw_gguf_kv *kv)
{
    uint32_t type = (uint32_t)kv->type;
    if (type == PAW_GGUF_STRING) {
        paw_str *s = malloc(sizeof *s);
        if (!s) return paw_err(PAW_ENOMEM, "gguf: out of memory");
        kv->strs = s;
        kv->n = 1;
        int rc = rd_str(c, s, "string value");
        return rc ? paw_err_wrap(rc, "gguf: key '%s'", kv->key) : PAW_OK;
    }
    if (type != PAW_GGUF_ARRAY) {
        int sz = value_size(type);
        int rc = need(c, (uint64_t)sz, "value");
        if (rc) return paw_err_wrap(rc, "gguf: key '%s'", kv->key);
        if (type == PAW_GGUF_BOOL && c->base[c->pos] > 1)
            return paw_err(PAW_EFORMAT, "gguf: key '%s': bool value %u is not 0 or 1", kv->key, c->base[c->pos]);
        kv->data = c->base + c->pos;
        kv->n = 1;
        c->pos += (size_t)sz;
        return PAW_OK;
    }

    uint32_t at;
    uint64_t n;
    int rc = rd_u32(c, &at, "array element type");
    if (!rc) rc = rd_u64(c, &n, "array length");
    if (rc) return paw_err_wrap(rc, "gguf: key '%s'", kv->key);
    if (at == PAW_GGUF_ARRAY)
        return paw_err(PAW_EUNSUPPORTED, "gguf: key '%s': nested array (array of arrays) is not supported", kv->key);
    int esz = value_size(at);
    if (esz < 0)
        return paw_err(PAW_EFORMAT, "gguf: key '%s': unknown array element type %u", kv->key, at);
    kv->arr_type = (int)at;
    kv->n = n;
    size_t remain = c->size - c->pos;
    if (at == PAW_GGUF_STRING) {
        /* Each string needs at least its 8-byte length, which bounds the
         * allocation below by the file size. */
        if (n > remain / 8)
            return paw_err(PAW_EFORMAT,
                           "gguf: key '%s': array of %llu strings cannot fit in the %zu bytes that remain",
                           kv->key, (unsigned long long)n, remain);
        paw_str *s = malloc((size_t)(n ? n : 1) * sizeof *s);
        if (!s) return paw_err(PAW_ENOMEM, "gguf: out of memory for %llu strings", (unsigned long long)n);
        kv->strs = s;
        for (uint64_t i = 0; i < n; i++) {
            rc = rd_str(c, &s[i], "array string");
            if (rc) return paw_err_wrap(rc, "gguf: key '%s' element %llu", kv->key, (unsigned long long)i);
        }
        return PAW_OK;
    }
    uint64_t bytes;
    if (paw_mul_overflow_u64(n, (uint64_t)esz, &bytes) || bytes > remain)
        return paw_err(PAW_EFORMAT,
                       "gguf: key '%s': array of %llu %s elements cannot fit in the %zu bytes that remain",
                       kv->key, (unsigned long long)n, value_type_name((int)at), remain);
    if (at == PAW_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (c->base[c->pos + i] > 1)
                return paw_err(PAW_EFORMAT, "gguf: key '%s' element %llu: bool value %u is not 0 or 1",
                               kv->key, (unsigned long long)i, c->base[c->pos + i]);
    kv->data = c->base + c->pos;
    c->pos += (size_t)bytes;
    return PAW_OK;
}

static int read_kvs(paw_gguf *g, cursor *c)
{
    int rc = index_alloc(&g->kv_index, &g->index_mask_kv, g->n_kv);
    if (rc) return rc;
    for (int64_t i = 0; i < g->n_kv; i++) {
        paw_gguf_kv *kv = &g->kvs[i];
        paw_str key;
        uint32_t type;
        if ((rc = rd_str(c, &key, "key"))) return paw_err_wrap(rc, "gguf: kv %lld", (long long)i);
        if (key.len > GGUF_MAX_KEY)
            return paw_err(PAW_EFORMAT, "gguf: kv %lld: key length %llu exceeds %u", (long long)i,
                           (unsigned long long)key.len, GGUF_MAX_KEY);
        if ((rc = copy_name(key, "kv", (uint64_t)i, &kv->key))) return rc;
        uint32_t *slot = index_slot(g->kv_index, g->index_mask_kv, kv->key, kv_name, g);
        if (*slot) return paw_err(PAW_EFORMAT, "gguf: duplicate key '%s' (kv %u and %lld)", kv->key, *slot - 1, (long long)i);
        *slot = (uint32_t)i + 1;
        if ((rc = rd_u32(c, &type, "value type"))) return paw_err_wrap(rc, "gguf: key '%s'", kv->key);
        if (value_size(type) < 0)
            return paw_err(PAW_EFORMAT, "gguf: key '%s' has unknown value type %u", kv->key, type);
        kv->type = (int)type;
        kv->arr_type = -1;
        if ((rc = read_value(c, kv))) return rc;
    }
    return PAW_OK;
}

/* ------------------------------------------------------------- tensors */

static int read_tensor_info(paw_gguf *g, cursor *c, int64_t i)
{
    paw_gguf_tensor *t = &g->tensors[i];
    paw_str name;
    uint32_t n_dims, type;
    int rc;
    if ((rc = rd_str(c, &name, "tensor name"))) return paw_err_wrap(rc, "gguf: tensor %lld", (long long)i);
    if (name.len > GGUF_MAX_NAME)
        return paw_err(PAW_EFORMAT, "gguf: tensor %lld: name length %llu exceeds %u", (long long)i,
                       (unsigned long long)name.len, GGUF_MAX_NAME);
    if ((rc = copy_name(name, "tensor", (uint64_t)i, &t->name))) return rc;
    uint32_t *slot = index_slot(g->tensor_index, g->index_mask_tensor, t->name, tensor_name, g);
    if (*slot) return paw_err(PAW_EFORMAT, "gguf: duplicate tensor name '%s'", t->name);
    *slot = (uint32_t)i + 1;

    if ((rc = rd_u32(c, &n_dims, "n_dims"))) return paw_err_wrap(rc, "gguf: tensor '%s'", t->name);
    if (n_dims < 1 || n_dims > 4)
        return paw_err(PAW_EFORMAT, "gguf: tensor '%s': n_dims %u is not in 1..4", t->name, n_dims);
    t->n_dims = (int)n_dims;
    uint64_t n_elem = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < n_dims && (rc = rd_u64(c, &ne, "dimension")))
            return paw_err_wrap(rc, "gguf: tensor '%s'", t->name);
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return paw_err(PAW_EFORMAT, "gguf: tensor '%s': dimension %d is %llu (must be 1..2^63-1)",
                           t->name, d, (unsigned long long)ne);
        if (paw_mul_overflow_u64(n_elem, ne, &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return paw_err(PAW_EFORMAT, "gguf: tensor '%s': element count overflows", t->name);
        t->ne[d] = (int64_t)ne;
    }
    if ((rc = rd_u32(c, &type, "tensor type"))) return paw_err_wrap(rc, "gguf: tensor '%s'", t->name);
    int bs = type < PAW_TYPE_COUNT && paw_type_name((int)type) ? paw_type_block_size((int)type) : 0;
    uint64_t bb = bs > 0 ? paw_type_block_bytes((int)type) : 0;
    if (bs <= 0 || bb == 0)
        return paw_err(PAW_EUNSUPPORTED, "gguf: tensor '%s' has unknown type id %u", t->name, type);
    t->type = (int)type;
    if ((uint64_t)t->ne[0] % (uint64_t)bs)
        return paw_err(PAW_EFORMAT, "gguf: tensor '%s': ne[0]=%lld is not a multiple of the %s block size %d",
                       t->name, (long long)t->ne[0], paw_type_name(t->type), bs);
    /* Blocks per tensor = n_elem / bs, exact because ne[0] is a multiple. */
    if (paw_mul_overflow_u64(n_elem / (uint64_t)bs, bb, &t->nbytes))
        return paw_err(PAW_EFORMAT, "gguf: tensor '%s': byte size overflows", t->name);
    if ((rc = rd_u64(c, &t->offset, "tensor offset"))) return paw_err_wrap(rc, "gguf: tensor '%s'", t->name);
    if (t->offset % g->alignment)
        return paw_err(PAW_EFORMAT, "gguf: tensor '%s': offset %llu is not a multiple of the alignment %u",
                       t->name, (unsigned long long)t->offset, g->alignment);
    return PAW_OK;
}

/* (offset, bytes) of one tensor, for the overlap check. */
typedef struct { uint64_t off, n; uint32_t idx; } span;

static int cmp_span(const void *a, const void *b)
{
    uint64_t x = ((const span *)a)->off, y = ((const span *)b)->off;
    return x < y ? -1 : x > y;
}

/* Checks every tensor's bytes lie in the file and no two overlap. */
static int check_tensor_data(paw_gguf *g)
{
    for (int64_t i = 0; i < g->n_tensors; i++) {
        paw_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (paw_add_overflow_u64(g->data_off, t->offset, &start) ||
            paw_add_overflow_u64(start, t->nbytes, &end))
            return paw_err(PAW_EFORMAT, "gguf: tensor '%s': data offset %llu + %llu bytes overflows",
                           t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (end > g->size)
            return paw_err(PAW_EFORMAT, "gguf: tensor '%s': data [%llu,%llu) past end of file (size %zu)",
                           t->name, (unsigned long long)start, (unsigned long long)end, g->size);
        t->data = g->base + start;
    }
    if (g->n_tensors < 2) return PAW_OK;
    span *sp = malloc((size_t)g->n_tensors * sizeof *sp);
    if (!sp) return paw_err(PAW_ENOMEM, "gguf: out of memory");
    for (int64_t i = 0; i < g->n_tensors; i++)
        sp[i] = (span){g->tensors[i].offset, g->tensors[i].nbytes, (uint32_t)i};
    qsort(sp, (size_t)g->n_tensors, sizeof *sp, cmp_span);
    int rc = PAW_OK;
    for (int64_t i = 1; i < g->n_tensors && !rc; i++) {
        /* off + n cannot overflow: both were checked against the file above. */
        const span *a = &sp[i - 1], *b = &sp[i];
        if (b->off < a->off + a->n)
            rc = paw_err(PAW_EFORMAT, "gguf: tensors '%s' [%llu,%llu) and '%s' [%llu,%llu) overlap",
                         g->tensors[a->idx].name, (unsigned long long)a->off, (unsigned long long)(a->off + a->n),
                         g->tensors[b->idx].name, (unsigned long long)b->off, (unsigned long long)(b->off + b->n));
    }
    free(sp);
    return rc;
}

/* ---------------------------------------------------------------- open */

static int parse(paw_gguf *g)
{
    cursor c = {g->base, g->size, 0};
    uint32_t version;
    uint64_t n_tensors, n_kv;
    int rc;
    if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4) != 0)
        return paw_err(PAW_EFORMAT, "gguf: not a GGUF file (bad magic)");
    c.pos = 4;
    if ((rc = rd_u32(&c, &version, "version"))) return paw_err_wrap(rc, "gguf: header");
    if (version == 1)
        return paw_err(PAW_EUNSUPPORTED, "gguf: version 1 is not supported (only v2 and v3; re-convert the model)");
    if (version >= 0x01000000u && (version & 0xffffu) == 0)
        return paw_err(PAW_EUNSUPPORTED, "gguf: big-endian GGUF (version %u byte-swapped) is not supported",
                       __builtin_bswap32(version));
    if (version != 2 && version != 3)
        return paw_err(PAW_EUNSUPPORTED, "gguf: unsupported version %u (only v2 and v3)", version);
    g->version = version;
    if ((rc = rd_u64(&c, &n_tensors, "tensor count")) || (rc = rd_u64(&c, &n_kv, "kv count")))
        return paw_err_wrap(rc, "gguf: header");

    /* Counts are bounded by what the rest of the file could possibly hold,
     * so that the arrays allocated here stay proportional to the file. */
    size_t remain = c.size - c.pos;
    if (n_kv > remain / GGUF_MIN_KV_BYTES || n_kv > UINT32_MAX - 1)
        return paw_err(PAW_EFORMAT, "gguf: kv count %llu cannot fit in the %zu bytes after the header",
                       (unsigned long long)n_kv, remain);
    if (n_tensors > remain / GGUF_MIN_TENSOR_BYTES || n_tensors > UINT32_MAX - 1)
        return paw_err(PAW_EFORMAT, "gguf: tensor count %llu cannot fit in the %zu bytes after the header",
                       (unsigned long long)n_tensors, remain);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors) return paw_err(PAW_ENOMEM, "gguf: out of memory");

    if ((rc = read_kvs(g, &c))) return rc;

    g->alignment = GGUF_DEFAULT_ALIGN;
    const paw_gguf_kv *al = paw_gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->type != PAW_GGUF_U32)
            return paw_err(PAW_EFORMAT, "gguf: general.alignment has type %s, expected u32", value_type_name(al->type));
        uint32_t a = paw_ld_u32(al->data);
        if (a == 0 || (a & (a - 1)))
            return paw_err(PAW_EFORMAT, "gguf: general.alignment %u is not a power of two", a);
        g->alignment = a;
    }

    if ((rc = index_alloc(&g->tensor_index, &g->index_mask_tensor, g->n_tensors))) return rc;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((rc = read_tensor_info(g, &c, i))) return rc;

    /* The data section starts at the next multiple of the alignment.  A file
     * without tensors (a vocab-only GGUF) may end before that padding. */
    uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_off = (uint64_t)c.pos + pad;
    if (g->data_off > g->size) {
        if (g->n_tensors)
            return paw_err(PAW_EFORMAT, "gguf: data section at %llu starts past end of file (size %zu)",
                           (unsigned long long)g->data_off, g->size);
        g->data_off = g->size;
    }
    return check_tensor_data(g);
}

static int open_common(paw_gguf *g, paw_gguf **out)
{
    int rc = parse(g);
    if (rc) {
        paw_gguf_close(g);
        return rc;
    }
    *out = g;
    return PAW_OK;
}

int paw_gguf_open_mem(const void *buf, size_t len, paw_gguf **out)
{
    if (!out || (!buf && len)) return paw_err(PAW_EINVAL, "gguf: NULL argument");
    *out = NULL;
    paw_gguf *g = calloc(1, sizeof *g);
    if (!g) return paw_err(PAW_ENOMEM, "gguf: out of memory");
    g->base = buf;
    g->size = len;
    return open_common(g, out);
}

int paw_gguf_open(const char *path, paw_gguf **out)
{
    if (!path || !out) return paw_err(PAW_EINVAL, "gguf: NULL argument");
    *out = NULL;
    int fd;
    struct stat st;
    int rc0 = paw_open_regular(path, 0, &fd, &st);  /* a FIFO is refused, not waited on */
    if (rc0) return rc0 == PAW_ENOTFOUND ? paw_err(PAW_EIO, "%s: cannot open: %s", path, strerror(ENOENT))
                                         : rc0;
    if (st.st_size < 24) {
        close(fd);
        return paw_err(PAW_EFORMAT, "%s: gguf: file too small (%lld bytes) to be a GGUF file", path,
                       (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);  /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return paw_err(PAW_EIO, "%s: cannot mmap: %s", path, strerror(e));
    paw_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(map, (size_t)st.st_size);
        return paw_err(PAW_ENOMEM, "gguf: out of memory");
    }
    g->map = map;
    g->base = map;
    g->size = (size_t)st.st_size;
    g->st = st;
    int rc = open_common(g, out);
    return rc ? paw_err_wrap(rc, "%s", path) : PAW_OK;
}

void paw_gguf_close(paw_gguf *g)
{
    if (!g) return;
    if (g->kvs)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free((char *)g->kvs[i].key);
            free((paw_str *)g->kvs[i].strs);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index);
    free(g->tensor_index);
    if (g->map) munmap(g->map, g->size);
    free(g);
}

/* ------------------------------------------------------------ accessors */

uint32_t paw_gguf_version(const paw_gguf *g) { return g->version; }
uint32_t paw_gguf_alignment(const paw_gguf *g) { return g->alignment; }
size_t   paw_gguf_file_size(const paw_gguf *g) { return g->size; }

int paw_gguf_file_stat(const paw_gguf *g, struct stat *st)
{
    if (!g->map) return 0;
    *st = g->st;
    return 1;
}
const void *paw_gguf_bytes(const paw_gguf *g) { return g->base; }
int64_t  paw_gguf_n_kv(const paw_gguf *g) { return g->n_kv; }
int64_t  paw_gguf_n_tensors(const paw_gguf *g) { return g->n_tensors; }

const paw_gguf_kv *paw_gguf_kv_at(const paw_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const paw_gguf_tensor *paw_gguf_tensor_at(const paw_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const paw_gguf_kv *paw_gguf_find_kv(const paw_gguf *g, const char *key)
{
    if (!g->kv_index || !key) return NULL;
    uint32_t *slot = index_slot(g->kv_index, g->index_mask_kv, key, kv_name, g);
    return *slot ? &g->kvs[*slot - 1] : NULL;
}

const paw_gguf_tensor *paw_gguf_find_tensor(const paw_gguf *g, const char *name)
{
    if (!g->tensor_index || !name) return NULL;
    uint32_t *slot = index_slot(g->tensor_index, g->index_mask_tensor, name, tensor_name, g);
    return *slot ? &g->tensors[*slot - 1] : NULL;
}

/* -------------------------------------------------------------- getters */

/* The kv named `key`, or NULL with a PAW_ENOTFOUND error recorded. */
static const paw_gguf_kv *find_or_err(const paw_gguf *g, const char *key)
{
    const paw_gguf_kv *kv = paw_gguf_find_kv(g, key);
    if (!kv) paw_err(PAW_ENOTFOUND, "gguf: key '%s' not found", key);
    return kv;
}

/* Reads an integer kv as a sign + magnitude pair so that every integer type
 * can be range-checked against every target. */
static int get_int(const paw_gguf *g, const char *key, int *neg, uint64_t *mag)
{
    const paw_gguf_kv *kv = find_or_err(g, key);
    if (!kv) return PAW_ENOTFOUND;
    const uint8_t *p = kv->data;
    int64_t s = 0;
    *neg = 0;
    switch (kv->type) {
    case PAW_GGUF_U8:  *mag = p[0]; return PAW_OK;
    case PAW_GGUF_U16: *mag = paw_ld_u16(p); return PAW_OK;
    case PAW_GGUF_U32: *mag = paw_ld_u32(p); return PAW_OK;
    case PAW_GGUF_U64: *mag = paw_ld_u64(p); return PAW_OK;
    case PAW_GGUF_I8:  s = (int8_t)p[0]; break;
    case PAW_GGUF_I16: s = (int16_t)paw_ld_u16(p); break;
    case PAW_GGUF_I32: s = (int32_t)paw_ld_u32(p); break;
    case PAW_GGUF_I64: s = (int64_t)paw_ld_u64(p); break;
    default:
        return paw_err(PAW_EFORMAT, "gguf: key '%s' has type %s, expected an integer", key, value_type_name(kv->type));
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return PAW_OK;
}

int paw_gguf_get_u32(const paw_gguf *g, const char *key, uint32_t *out)
{
    int neg;
    uint64_t m;
    int rc = get_int(g, key, &neg, &m);
    if (rc) return rc;
    if (neg || m > UINT32_MAX)
        return paw_err(PAW_EFORMAT, "gguf: key '%s' value %s%llu does not fit in u32", key, neg ? "-" : "",
                       (unsigned long long)m);
    *out = (uint32_t)m;
    return PAW_OK;
}

int paw_gguf_get_i64(const paw_gguf *g, const char *key, int64_t *out)
{
    int neg;
    uint64_t m;
    int rc = get_int(g, key, &neg, &m);
    if (rc) return rc;
    if (!neg && m > (uint64_t)INT64_MAX)
        return paw_err(PAW_EFORMAT, "gguf: key '%s' value %llu does not fit in i64", key, (unsigned long long)m);
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return PAW_OK;
}

int paw_gguf_get_f32(const paw_gguf *g, const char *key, float *out)
{
    const paw_gguf_kv *kv = find_or_err(g, key);
    if (!kv) return PAW_ENOTFOUND;
    if (kv->type == PAW_GGUF_F32) { *out = paw_ld_f32(kv->data); return PAW_OK; }
    if (kv->type == PAW_GGUF_F64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return PAW_OK;
    }
    return paw_err(PAW_EFORMAT, "gguf: key '%s' has type %s, expected f32 or f64", key, value_type_name(kv->type));
}

int paw_gguf_get_bool(const paw_gguf *g, const char *key, int *out)
{
    const paw_gguf_kv *kv = find_or_err(g, key);
    if (!kv) return PAW_ENOTFOUND;
    if (kv->type != PAW_GGUF_BOOL)
        return paw_err(PAW_EFORMAT, "gguf: key '%s' has type %s, expected bool", key, value_type_name(kv->type));
    *out = *(const uint8_t *)kv->data != 0;
    return PAW_OK;
}

int paw_gguf_get_str(const paw_gguf *g, const char *key, paw_str *out)
{
    const paw_gguf_kv *kv = find_or_err(g, key);
    if (!kv) return PAW_ENOTFOUND;
    if (kv->type != PAW_GGUF_STRING)
        return paw_err(PAW_EFORMAT, "gguf: key '%s' has type %s, expected string", key, value_type_name(kv->type));
    *out = kv->strs[0];
    return PAW_OK;
}
