/* cmd_info.c — `paw info FILE [--json]`: describe a model file.
 *
 * The file kind is sniffed from its first bytes, so that other formats (the
 * .paw program bundles, which are ZIP archives) can get their own describer
 * beside info_gguf() without changing the command line. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"

/* llama.cpp's llama_ftype numbering, as stored in general.file_type. */
static const char *file_type_name(uint32_t ft)
{
    static const char *const names[] = {
        [0] = "ALL_F32", [1] = "MOSTLY_F16", [2] = "MOSTLY_Q4_0", [3] = "MOSTLY_Q4_1",
        [7] = "MOSTLY_Q8_0", [8] = "MOSTLY_Q5_0", [9] = "MOSTLY_Q5_1", [10] = "MOSTLY_Q2_K",
        [11] = "MOSTLY_Q3_K_S", [12] = "MOSTLY_Q3_K_M", [13] = "MOSTLY_Q3_K_L", [14] = "MOSTLY_Q4_K_S",
        [15] = "MOSTLY_Q4_K_M", [16] = "MOSTLY_Q5_K_S", [17] = "MOSTLY_Q5_K_M", [18] = "MOSTLY_Q6_K",
        [32] = "MOSTLY_BF16",
    };
    return ft < sizeof names / sizeof names[0] && names[ft] ? names[ft] : "unknown";
}

/* jansson needs valid UTF-8; GGUF strings usually are but are not checked by
 * the reader, so invalid bytes become U+FFFD here. */
static json_t *json_str(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *b = malloc(n * 3 + 1);
    size_t o = 0;
    if (!b) return json_null();
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        json_t *probe = len && i + len <= n ? json_stringn(s + i, len) : NULL;
        if (probe) {
            memcpy(b + o, s + i, len);
            o += len;
            i += len;
            json_decref(probe);
        } else {
            memcpy(b + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(b, o);
    free(b);
    return j ? j : json_null();
}

/* The double nearest to the shortest decimal that reads back as f, so that
 * an f32 1e-5 prints as 1e-5 rather than 9.99999975e-6. */
static double f32_short(float f)
{
    char buf[32];
    for (int p = 1; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

/* One element (index i) of a fixed-size kv value as JSON. */
static json_t *json_scalar(int type, const void *data, uint64_t i)
{
    const uint8_t *p = (const uint8_t *)data;
    int8_t i8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
    int64_t i64; uint64_t u64; float f; double d;
    switch (type) {
    case PAW_GGUF_U8:   return json_integer(p[i]);
    case PAW_GGUF_I8:   memcpy(&i8, p + i, 1); return json_integer(i8);
    case PAW_GGUF_BOOL: return json_boolean(p[i]);
    case PAW_GGUF_U16:  memcpy(&u16, p + 2 * i, 2); return json_integer(u16);
    case PAW_GGUF_I16:  memcpy(&i16, p + 2 * i, 2); return json_integer(i16);
    case PAW_GGUF_U32:  memcpy(&u32, p + 4 * i, 4); return json_integer(u32);
    case PAW_GGUF_I32:  memcpy(&i32, p + 4 * i, 4); return json_integer(i32);
    case PAW_GGUF_F32:  memcpy(&f, p + 4 * i, 4); return json_real(f32_short(f));
    case PAW_GGUF_I64:  memcpy(&i64, p + 8 * i, 8); return json_integer(i64);
    case PAW_GGUF_F64:  memcpy(&d, p + 8 * i, 8); return json_real(d);
    case PAW_GGUF_U64:
        memcpy(&u64, p + 8 * i, 8);
        /* json_int_t is signed: larger values become reals rather than wrap. */
        return u64 <= (uint64_t)INT64_MAX ? json_integer((json_int_t)u64) : json_real((double)u64);
    default: return json_null();
    }
}

/* A kv value as JSON; arrays longer than `max` are cut (with a count left to
 * the caller), so that printing a 49k-entry vocabulary stays cheap. */
static json_t *json_kv(const paw_gguf_kv *kv, uint64_t max)
{
    if (kv->type == PAW_GGUF_STRING) return json_str(kv->strs[0].ptr, kv->strs[0].len);
    if (kv->type != PAW_GGUF_ARRAY) return json_scalar(kv->type, kv->data, 0);
    json_t *a = json_array();
    for (uint64_t i = 0; i < kv->n && i < max; i++)
        json_array_append_new(a, kv->arr_type == PAW_GGUF_STRING ? json_str(kv->strs[i].ptr, kv->strs[i].len)
                                                                 : json_scalar(kv->arr_type, kv->data, i));
    return a;
}

static json_t *kv_or_null(const paw_gguf *g, const char *key)
{
    const paw_gguf_kv *kv = paw_gguf_find_kv(g, key);
    return kv ? json_kv(kv, 16) : json_null();
}

static json_t *array_len(const paw_gguf *g, const char *key)
{
    const paw_gguf_kv *kv = paw_gguf_find_kv(g, key);
    return kv && kv->type == PAW_GGUF_ARRAY ? json_integer((json_int_t)kv->n) : json_null();
}

/* Everything `paw info` reports, as one JSON object; the text output is
 * rendered from it too, so both views always agree. */
static json_t *describe_gguf(const char *path, const paw_gguf *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", json_str(path, strlen(path)));
    json_object_set_new(o, "format", json_string("gguf"));
    json_object_set_new(o, "version", json_integer(paw_gguf_version(g)));
    json_object_set_new(o, "alignment", json_integer(paw_gguf_alignment(g)));
    json_object_set_new(o, "size", json_integer((json_int_t)paw_gguf_file_size(g)));
    json_object_set_new(o, "architecture", kv_or_null(g, "general.architecture"));
    json_object_set_new(o, "name", kv_or_null(g, "general.name"));
    uint32_t ft;
    if (paw_gguf_get_u32(g, "general.file_type", &ft) == PAW_OK) {
        json_object_set_new(o, "file_type", json_integer(ft));
        json_object_set_new(o, "file_type_name", json_string(file_type_name(ft)));
    } else {
        json_object_set_new(o, "file_type", json_null());
        json_object_set_new(o, "file_type_name", json_null());
    }
    json_object_set_new(o, "kv_count", json_integer(paw_gguf_n_kv(g)));

    /* Hyperparameters: every "<arch>." key. */
    json_t *hp = json_object();
    paw_str arch;
    /* An arch with a NUL byte could never prefix a key (and would fool strncmp). */
    if (paw_gguf_get_str(g, "general.architecture", &arch) == PAW_OK && arch.len && !memchr(arch.ptr, 0, arch.len))
        for (int64_t i = 0; i < paw_gguf_n_kv(g); i++) {
            const paw_gguf_kv *kv = paw_gguf_kv_at(g, i);
            if (!strncmp(kv->key, arch.ptr, arch.len) && kv->key[arch.len] == '.') {
                json_t *key = json_str(kv->key, strlen(kv->key));
                json_object_set_new(hp, json_string_value(key) ? json_string_value(key) : "?", json_kv(kv, 16));
                json_decref(key);
            }
        }
    json_object_set_new(o, "hyperparameters", hp);

    json_t *tk = json_object();
    json_object_set_new(tk, "model", kv_or_null(g, "tokenizer.ggml.model"));
    json_object_set_new(tk, "pre", kv_or_null(g, "tokenizer.ggml.pre"));
    json_object_set_new(tk, "vocab_size", array_len(g, "tokenizer.ggml.tokens"));
    json_object_set_new(tk, "merges", array_len(g, "tokenizer.ggml.merges"));
    json_object_set_new(tk, "bos_id", kv_or_null(g, "tokenizer.ggml.bos_token_id"));
    json_object_set_new(tk, "eos_id", kv_or_null(g, "tokenizer.ggml.eos_token_id"));
    json_object_set_new(o, "tokenizer", tk);

    json_t *ts = json_array();
    uint64_t total = 0;
    for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        json_t *jt = json_object(), *shape = json_array();
        for (int d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->ne[d]));
        json_object_set_new(jt, "name", json_str(t->name, strlen(t->name)));
        json_object_set_new(jt, "type", json_string(paw_type_name(t->type)));
        json_object_set_new(jt, "shape", shape);
        json_object_set_new(jt, "bytes", json_integer((json_int_t)t->nbytes));
        json_object_set_new(jt, "offset", json_integer((json_int_t)t->offset));
        json_array_append_new(ts, jt);
        total += t->nbytes;
    }
    json_object_set_new(o, "n_tensors", json_integer(paw_gguf_n_tensors(g)));
    json_object_set_new(o, "tensor_bytes", json_integer((json_int_t)total));
    json_object_set_new(o, "tensors", ts);
    return o;
}

/* Prints a JSON value compactly for the text view ("-" for null). */
static void print_value(const json_t *v)
{
    if (json_is_null(v)) { fputs("-", stdout); return; }
    if (json_is_string(v)) { cli_put_text(stdout, json_string_value(v), json_string_length(v)); return; }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (s) fputs(s, stdout);
    free(s);
}

static void print_text(const json_t *o)
{
    const json_t *tk = json_object_get(o, "tokenizer");
    printf("file:          %s\n", json_string_value(json_object_get(o, "file")));
    printf("format:        GGUF v%lld, alignment %lld, %lld bytes, %lld keys\n",
           (long long)json_integer_value(json_object_get(o, "version")),
           (long long)json_integer_value(json_object_get(o, "alignment")),
           (long long)json_integer_value(json_object_get(o, "size")),
           (long long)json_integer_value(json_object_get(o, "kv_count")));
    fputs("architecture:  ", stdout); print_value(json_object_get(o, "architecture"));
    fputs("\nname:          ", stdout); print_value(json_object_get(o, "name"));
    fputs("\nfile type:     ", stdout); print_value(json_object_get(o, "file_type"));
    if (!json_is_null(json_object_get(o, "file_type_name")))
        printf(" (%s)", json_string_value(json_object_get(o, "file_type_name")));
    fputs("\n\nhyperparameters:\n", stdout);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(o, "hyperparameters"), key, v) {
        fputs("  ", stdout);
        cli_put_text(stdout, key, strlen(key));
        printf("%*s ", strlen(key) < 40 ? (int)(40 - strlen(key)) : 0, "");
        print_value(v);
        fputc('\n', stdout);
    }
    fputs("\ntokenizer:     model ", stdout); print_value(json_object_get(tk, "model"));
    fputs(", pre ", stdout);          print_value(json_object_get(tk, "pre"));
    fputs(", vocab ", stdout);        print_value(json_object_get(tk, "vocab_size"));
    fputs(", merges ", stdout);       print_value(json_object_get(tk, "merges"));
    fputs(", bos ", stdout);          print_value(json_object_get(tk, "bos_id"));
    fputs(", eos ", stdout);          print_value(json_object_get(tk, "eos_id"));
    printf("\n\ntensors:       %lld, %lld bytes\n", (long long)json_integer_value(json_object_get(o, "n_tensors")),
           (long long)json_integer_value(json_object_get(o, "tensor_bytes")));
    size_t i;
    json_array_foreach((json_t *)json_object_get(o, "tensors"), i, v) {
        char shape[128] = "";
        size_t k, n = 0;
        json_t *d;
        json_array_foreach(json_object_get(v, "shape"), k, d)
            n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", k ? " x " : "", (long long)json_integer_value(d));
        /* tensor names come from the file: escaped like any untrusted text */
        const json_t *jn = json_object_get(v, "name");
        size_t nl = json_string_length(jn);
        fputs("  ", stdout);
        cli_put_text(stdout, json_string_value(jn), nl);
        printf("%*s %-6s %-24s %12lld\n", nl < 40 ? (int)(40 - nl) : 0, "",
               json_string_value(json_object_get(v, "type")), shape,
               (long long)json_integer_value(json_object_get(v, "bytes")));
    }
}

static int info_gguf(const char *path, int as_json)
{
    paw_gguf *g;
    if (paw_gguf_open(path, &g) != PAW_OK) return cli_fail("info");
    json_t *o = describe_gguf(path, g);
    paw_gguf_close(g);
    if (as_json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (s) puts(s);
        free(s);
    } else {
        print_text(o);
    }
    json_decref(o);
    return 0;
}

/* `paw info --system`: the kernel set paw runs on this machine and why. */
static int info_system(void)
{
    char buf[512];
    paw_simd_describe(buf, sizeof buf);
    fputs(buf, stdout);
    if (paw_simd_check() != PAW_OK) return cli_fail("info");
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--system")) return info_system();
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: paw info FILE.gguf [--json] | paw info --system");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "paw info: unknown option '%s'\nusage: paw info FILE.gguf [--json]\n", argv[i]);
            return 2;
        } else if (path) {
            fprintf(stderr, "paw info: one file at a time\nusage: paw info FILE.gguf [--json]\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: paw info FILE.gguf [--json]\n");
        return 2;
    }
    /* Sniff the format.  Anything not recognised goes to the GGUF reader,
     * whose error says plainly that the file is not GGUF. */
    char magic[4] = {0};
    /* Non-blocking open: a FIFO must not hang `paw info`; the readers
     * below refuse anything that is not a regular file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    int f = fd >= 0;
    if (f && !fstat(fd, &st) && S_ISREG(st.st_mode)) {
        ssize_t n = read(fd, magic, sizeof magic);
        (void)n;
    }
    if (fd >= 0) close(fd);
    /* .paw bundles are ZIPs; a name that is no file may be an installed
     * program's alias or ID. */
    if (!memcmp(magic, "PK\3\4", 4) || (!f && paw_program_resolve(path, &(paw_program_ref){0}) == PAW_OK))
        return cli_info_program(path, as_json);
    return info_gguf(path, as_json);
}
