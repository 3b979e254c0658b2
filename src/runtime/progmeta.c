/* progmeta.c — meta.json of a neural program (parse, validate, canonical
 * serialisation) and the program content ID.
 *
 * Why a typed struct plus extra_json instead of keeping the raw JSON: callers
 * (compiler, runtime, CLI) read and fill plain C fields, while keys we do not
 * model (official bundles carry compiler_snapshot, runtime, prefix_steps...)
 * travel through extra_json untouched.  The content ID is computed from the
 * serialisation of the struct, never from the bytes read, so a bundle read
 * and written back by paw keeps its ID even if its meta.json was formatted
 * differently by another tool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "core/common.h"
#include "runtime/bundle.h"

void paw_program_meta_clear(paw_program_meta *m)
{
    if (!m) return;
    free(m->program_id); free(m->spec); free(m->interpreter); free(m->runtime_id);
    free(m->created_at); free(m->base_sha256);
    for (size_t i = 0; i < m->n_examples && m->examples; i++) {
        free(m->examples[i].input);
        free(m->examples[i].output);
    }
    free(m->examples);
    free(m->compiler_name); free(m->compiler_version); free(m->compiler_settings_json);
    free(m->metrics_json); free(m->extra_json);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------- parsing */

static int dup_str(const char *s, char **out)
{
    *out = strdup(s);
    return *out ? PAW_OK : paw_err(PAW_ENOMEM, "meta.json: out of memory");
}

/* A known string key: absent or null -> NULL; a string -> copy; else error. */
static int get_opt_str(json_t *root, const char *key, char **out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return PAW_OK;
    if (!json_is_string(v))
        return paw_err(PAW_EFORMAT, "meta.json: \"%s\" must be a string", key);
    return dup_str(json_string_value(v), out);
}

static int dump_value(json_t *v, char **out)
{
    *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return *out ? PAW_OK : paw_err(PAW_ENOMEM, "meta.json: out of memory");
}

static int is_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

static int is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* examples is typed only in the shape paw writes (a list of objects with
 * exactly string "input" and "output"); any other shape is somebody else's
 * field and goes to extra_json instead of being rejected. */
static int examples_typed(json_t *v)
{
    if (!json_is_array(v)) return 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_object(e) || json_object_size(e) != 2) return 0;
        if (!json_is_string(json_object_get(e, "input")) ||
            !json_is_string(json_object_get(e, "output"))) return 0;
    }
    return 1;
}

static int compiler_typed(json_t *v)
{
    if (!json_is_object(v)) return 0;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!strcmp(k, "settings")) continue;
        if (strcmp(k, "name") && strcmp(k, "version")) return 0;
        if (!json_is_string(x)) return 0;
    }
    return 1;
}

static int parse_obj(json_t *root, paw_program_meta *m)
{
    int rc;
    if ((rc = get_opt_str(root, "program_id", &m->program_id)) ||
        (rc = get_opt_str(root, "spec", &m->spec)) ||
        (rc = get_opt_str(root, "interpreter", &m->interpreter)) ||
        (rc = get_opt_str(root, "runtime_id", &m->runtime_id)) ||
        (rc = get_opt_str(root, "created_at", &m->created_at)) ||
        (rc = get_opt_str(root, "base_sha256", &m->base_sha256)))
        return rc;

    /* The official SDK refuses a bundle without these two. */
    if (!m->program_id || !m->program_id[0])
        return paw_err(PAW_EFORMAT, "meta.json: missing \"program_id\"");
    size_t idn = strlen(m->program_id), bad = idn > 128;
    for (size_t i = 0; i < idn; i++) bad |= !is_id_char(m->program_id[i]);
    if (bad)
        return paw_err(PAW_EFORMAT, "meta.json: \"program_id\" must be 1-128 chars of "
                           "[A-Za-z0-9._-]");
    if (!m->interpreter || !m->interpreter[0])
        return paw_err(PAW_EFORMAT, "meta.json: missing \"interpreter\"");
    if (m->base_sha256 && !is_lower_hex(m->base_sha256, 64))
        return paw_err(PAW_EFORMAT, "meta.json: \"base_sha256\" must be 64 lowercase hex chars");

    json_t *v = json_object_get(root, "version");
    if (!v || json_is_null(v)) {
        m->version = 3;  /* normalised so that writing it back keeps the ID */
    } else if (!json_is_integer(v)) {
        return paw_err(PAW_EFORMAT, "meta.json: \"version\" must be an integer");
    } else {
        json_int_t ver = json_integer_value(v);
        /* 4 is what the JS SDK writes for the same member layout. */
        if (ver != 3 && ver != 4)
            return paw_err(PAW_EUNSUPPORTED, "meta.json: bundle version %lld is not supported "
                           "(paw reads versions 3 and 4)", (long long)ver);
        m->version = (int)ver;
    }

    v = json_object_get(root, "lora_rank");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536)
            return paw_err(PAW_EFORMAT, "meta.json: \"lora_rank\" must be an integer in 1..65536");
        m->lora_rank = (int)json_integer_value(v);
    }
    v = json_object_get(root, "lora_alpha");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return paw_err(PAW_EFORMAT, "meta.json: \"lora_alpha\" must be a number");
        m->lora_alpha = json_number_value(v);
    }

    v = json_object_get(root, "examples");
    if (v && examples_typed(v) && json_array_size(v) > 0) {
        size_t n = json_array_size(v);
        m->examples = calloc(n, sizeof *m->examples);
        if (!m->examples) return paw_err(PAW_ENOMEM, "meta.json: out of memory");
        m->n_examples = n;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if ((rc = dup_str(json_string_value(json_object_get(e, "input")),
                              &m->examples[i].input)) ||
                (rc = dup_str(json_string_value(json_object_get(e, "output")),
                              &m->examples[i].output)))
                return rc;
        }
    }
    v = json_object_get(root, "compiler");
    if (v && compiler_typed(v)) {
        json_t *x;
        if ((x = json_object_get(v, "name")) && (rc = dup_str(json_string_value(x), &m->compiler_name)))
            return rc;
        if ((x = json_object_get(v, "version")) &&
            (rc = dup_str(json_string_value(x), &m->compiler_version)))
            return rc;
        if ((x = json_object_get(v, "settings")) && (rc = dump_value(x, &m->compiler_settings_json)))
            return rc;
    }
    v = json_object_get(root, "metrics");
    if (v && !json_is_null(v) && (rc = dump_value(v, &m->metrics_json))) return rc;

    /* Everything not consumed above goes to extra_json, verbatim. */
    static const char *const known[] = {
        "program_id", "spec", "interpreter", "runtime_id", "created_at", "base_sha256",
        "version", "lora_rank", "lora_alpha", "metrics",
    };
    json_t *extra = json_object();
    if (!extra) return paw_err(PAW_ENOMEM, "meta.json: out of memory");
    const char *k;
    json_object_foreach(root, k, v) {
        int skip = 0;
        for (size_t i = 0; i < PAW_ARRAY_LEN(known); i++) skip |= !strcmp(k, known[i]);
        if (!strcmp(k, "examples")) skip = examples_typed(v);
        if (!strcmp(k, "compiler")) skip = compiler_typed(v);
        if (!skip && json_object_set(extra, k, v)) { json_decref(extra); return paw_err(PAW_ENOMEM, "meta.json: out of memory"); }
    }
    rc = json_object_size(extra) ? dump_value(extra, &m->extra_json) : PAW_OK;
    json_decref(extra);
    return rc;
}

int paw_meta_parse(const char *txt, size_t len, paw_program_meta *m)
{
    memset(m, 0, sizeof *m);
    if (len > PAW_BUNDLE_MAX_TEXT)
        return paw_err(PAW_ERANGE, "meta.json: %zu bytes, over the %llu-byte limit", len,
                       (unsigned long long)PAW_BUNDLE_MAX_TEXT);
    json_error_t je;
    json_t *root = json_loadb(txt, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return paw_err(PAW_EFORMAT, "meta.json: invalid JSON at line %d column %d: %s",
                       je.line, je.column, je.text);
    int rc = json_is_object(root) ? parse_obj(root, m)
                                  : paw_err(PAW_EFORMAT, "meta.json: not a JSON object");
    json_decref(root);
    if (rc) paw_program_meta_clear(m);
    return rc;
}

/* -------------------------------------------------------- serialising */

static int set_new(json_t *o, const char *key, json_t *v)
{
    if (!v) return paw_err(PAW_EINVAL, "meta: invalid value for \"%s\"", key);
    if (json_object_set_new(o, key, v)) return paw_err(PAW_ENOMEM, "meta: out of memory");
    return PAW_OK;
}

static int set_str(json_t *o, const char *key, const char *s)
{
    if (!s) return PAW_OK;
    /* json_string refuses invalid UTF-8, which must never reach a bundle. */
    json_t *v = json_string(s);
    if (!v) return paw_err(PAW_EINVAL, "meta: \"%s\" is not valid UTF-8", key);
    return set_new(o, key, v);
}

static int set_parsed(json_t *o, const char *key, const char *txt)
{
    if (!txt) return PAW_OK;
    json_error_t je;
    json_t *v = json_loads(txt, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v) return paw_err(PAW_EINVAL, "meta: \"%s\" is not valid JSON: %s", key, je.text);
    return set_new(o, key, v);
}

static int build(const paw_program_meta *m, int for_id, json_t *o)
{
    int rc;
    if (!for_id && (rc = set_str(o, "program_id", m->program_id))) return rc;
    if (!for_id && (rc = set_str(o, "created_at", m->created_at))) return rc;
    if ((rc = set_str(o, "spec", m->spec)) || (rc = set_str(o, "interpreter", m->interpreter)) ||
        (rc = set_str(o, "runtime_id", m->runtime_id)) ||
        (rc = set_str(o, "base_sha256", m->base_sha256)))
        return rc;
    if ((rc = set_new(o, "version", json_integer(m->version ? m->version : 3)))) return rc;
    if (m->lora_rank && (rc = set_new(o, "lora_rank", json_integer(m->lora_rank)))) return rc;
    if (m->lora_alpha != 0 && (rc = set_new(o, "lora_alpha", json_real(m->lora_alpha)))) return rc;
    if (m->n_examples) {
        json_t *arr = json_array();
        if ((rc = set_new(o, "examples", arr))) return rc;
        for (size_t i = 0; i < m->n_examples; i++) {
            json_t *e = json_object();
            if (!e || json_array_append_new(arr, e)) return paw_err(PAW_ENOMEM, "meta: out of memory");
            if (!m->examples[i].input || !m->examples[i].output)
                return paw_err(PAW_EINVAL, "meta: example %zu lacks input or output", i);
            if ((rc = set_str(e, "input", m->examples[i].input)) ||
                (rc = set_str(e, "output", m->examples[i].output)))
                return rc;
        }
    }
    if (m->compiler_name || m->compiler_version || m->compiler_settings_json) {
        json_t *c = json_object();
        if ((rc = set_new(o, "compiler", c)) || (rc = set_str(c, "name", m->compiler_name)) ||
            (rc = set_str(c, "version", m->compiler_version)) ||
            (rc = set_parsed(c, "settings", m->compiler_settings_json)))
            return rc;
    }
    if ((rc = set_parsed(o, "metrics", m->metrics_json))) return rc;
    if (m->extra_json) {
        json_error_t je;
        json_t *x = json_loads(m->extra_json, JSON_REJECT_DUPLICATES, &je);
        if (!x || !json_is_object(x)) {
            json_decref(x);
            return paw_err(PAW_EINVAL, "meta: extra_json is not a JSON object");
        }
        const char *k;
        json_t *v;
        json_object_foreach(x, k, v) {
            if (json_object_get(o, k)) {
                int rc2 = paw_err(PAW_EINVAL, "meta: extra_json repeats the key \"%s\"", k);
                json_decref(x);  /* owns k: only after the message is made */
                return rc2;
            }
            if (for_id && (!strcmp(k, "program_id") || !strcmp(k, "created_at"))) continue;
            json_object_set(o, k, v);
        }
        json_decref(x);
    }
    return PAW_OK;
}

int paw_meta_dump(const paw_program_meta *m, int for_id, char **out, size_t *len)
{
    *out = NULL;
    json_t *o = json_object();
    if (!o) return paw_err(PAW_ENOMEM, "meta: out of memory");
    int rc = build(m, for_id, o);
    if (!rc) {
        size_t flags = JSON_SORT_KEYS | (for_id ? JSON_COMPACT : JSON_INDENT(2));
        char *s = json_dumps(o, flags);
        if (!s) {
            rc = paw_err(PAW_ENOMEM, "meta: out of memory");
        } else if (!for_id) {
            /* A trailing newline, as text files should have. */
            size_t n = strlen(s);
            char *t = realloc(s, n + 2);
            if (!t) { free(s); rc = paw_err(PAW_ENOMEM, "meta: out of memory"); }
            else { t[n] = '\n'; t[n + 1] = 0; *out = t; *len = n + 1; }
        } else {
            *out = s;
            *len = strlen(s);
        }
    }
    json_decref(o);
    return rc;
}

int paw_program_meta_json(const paw_program_meta *m, char **out, size_t *len)
{
    if (!m || !out || !len) return paw_err(PAW_EINVAL, "paw_program_meta_json: NULL argument");
    return paw_meta_dump(m, 0, out, len);
}

/* ------------------------------------------------------------- the ID */

static int hash_part(EVP_MD_CTX *c, const void *p, size_t n)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    return EVP_DigestUpdate(c, len, 8) && (n == 0 || EVP_DigestUpdate(c, p, n));
}

/* The recipe is documented at paw_program_id in paw.h; change it only with a
 * new domain tag ("paw-program-v2"), since IDs name cache directories. */
int paw_program_id(const paw_bundle *b, char id[PAW_PROGRAM_ID_LEN + 1])
{
    if (!b || !id) return paw_err(PAW_EINVAL, "paw_program_id: NULL argument");
    char *meta;
    size_t meta_len;
    int rc = paw_meta_dump(&b->meta, 1, &meta, &meta_len);
    if (rc) return rc;
    static const char tag[] = "paw-program-v1";  /* hashed with its NUL */
    uint8_t d[32];
    unsigned dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(c, tag, sizeof tag) &&
             hash_part(c, b->adapter, b->adapter_len) &&
             hash_part(c, b->prompt_template, b->prompt_template_len) &&
             hash_part(c, b->pseudo_program, b->pseudo_program ? b->pseudo_program_len : 0) &&
             hash_part(c, meta, meta_len) && EVP_DigestFinal_ex(c, d, &dl);
    EVP_MD_CTX_free(c);
    free(meta);
    if (!ok) return paw_err(PAW_ENOMEM, "program id: SHA-256 failed");
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < PAW_PROGRAM_ID_LEN / 2; i++) {
        id[2 * i] = hex[d[i] >> 4];
        id[2 * i + 1] = hex[d[i] & 15];
    }
    id[PAW_PROGRAM_ID_LEN] = 0;
    return PAW_OK;
}
