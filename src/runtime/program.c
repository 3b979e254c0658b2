/* program.c — running neural programs: the handle behind paw_program_open and
 * paw_program_call (semantics in paw.h, "program runtime").
 *
 * The prompt is template_prefix + input + template_suffix.  The prefix is the
 * same for every input, so its K/V is computed once and kept: in the handle's
 * ctx (each call only rewinds the cache to the prefix, as the SDK does; calls
 * never write below it) and on disk next to an installed program.  No second
 * copy is kept in memory: for Qwen3-0.6B a 700-token prefix is 160 MB of
 * f32 K/V.  The suffix holds chat markers that must
 * become special tokens while the input must not, so the suffix is cut at its
 * first special token: input + the plain text before it is tokenized as
 * ordinary text (one fragment, exactly as the SDK's tokenizer sees it), and
 * the rest of the suffix, tokenized once at open, is appended. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "core/common.h"
#include "model/model.h"
#include "runtime/bundle.h"
#include "runtime/draft.h"
#include "runtime/fetch.h"
#include "model/gguf.h"
#include "model/model.h"
#include "runtime/program.h"

#include "net/hub.h"
#include "runtime/labels.h"

struct paw_program {
    const paw_model  *model;
    paw_tokenizer    *tok;
    paw_ctx          *ctx;
    paw_adapter      *adapter;        /* NULL in base/template mode          */
    size_t            adapter_bytes;  /* its GGUF's size (paw_program_memory) */
    paw_program_opts  opts;
    char              id[PAW_PROGRAM_ID_LEN + 1];
    char              kv_path[PAW_PATH_MAX];
    int32_t          *prefix;         /* template prefix ids                 */
    int32_t           n_prefix;
    char             *plain;          /* suffix text before its first special
                                         token (tokenized with the input)    */
    size_t            plain_len;
    int32_t          *tail;           /* the rest of the suffix, tokenized   */
    size_t            n_tail;
    int               prefix_dirty;   /* the ctx's last prefix position was
                                         re-evaluated (empty input + suffix) */
    paw_drafts       *drafts;         /* recent outputs (draft.c); NULL with
                                         opts.no_speculation                 */
    paw_labels       *labels;         /* closed-label program (labels.c);
                                         NULL: free decoding                 */
    paw_program_stats stats;
};

/* ------------------------------------------------------ base model check */

/* SHA-256 of a model's GGUF, memoized by the identity of the file it was
 * mapped from (device, inode, size, mtime, ctime; hashmemo.c): hashing
 * Qwen3-0.6B's 600 MB costs about a second, and every `paw run` of a program
 * that names its base by hash would pay it.  The memo is never keyed by the
 * model id, which samples only the ends of each tensor: an edit of a
 * tensor's middle changes the file's mtime and ctime and so is re-hashed.
 * The bytes hashed are the mapped ones, the bytes that will run. */
static pthread_mutex_t sha_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { paw_file_id id; char hex[65]; } sha_memo[8];
static int sha_memo_n;

static int model_sha256(const paw_model *m, char hex[65])
{
    const paw_gguf *g = paw_model_gguf(m);
    struct stat st;
    paw_file_id id = {0};
    if (paw_gguf_file_stat(g, &st)) paw_file_id_from_stat(&st, &id);
    if (id.valid) {
        pthread_mutex_lock(&sha_lock);
        for (int i = 0; i < sha_memo_n; i++)
            if (!memcmp(&sha_memo[i].id, &id, sizeof id)) {
                memcpy(hex, sha_memo[i].hex, 65);
                pthread_mutex_unlock(&sha_lock);
                return PAW_OK;
            }
        pthread_mutex_unlock(&sha_lock);
    }
    if (!id.valid || !paw_sha256_memo_get(&id, hex)) {
        paw_sha256 *h = paw_sha256_new();
        if (!h) return paw_err(PAW_ENOMEM, "program: cannot start SHA-256");
        int rc = paw_sha256_update(h, paw_gguf_bytes(g), paw_gguf_file_size(g));
        if (!rc) rc = paw_sha256_final_hex(h, hex);
        paw_sha256_free(h);
        if (rc) return rc;
        if (id.valid) paw_sha256_memo_put(&id, hex);
    }
    if (!id.valid) return PAW_OK;
    pthread_mutex_lock(&sha_lock);
    int slot = sha_memo_n < 8 ? sha_memo_n++ : 7;
    sha_memo[slot].id = id;
    memcpy(sha_memo[slot].hex, hex, 65);
    pthread_mutex_unlock(&sha_lock);
    return PAW_OK;
}

/* A base model named the way meta.json names it: "Qwen/Qwen3-0.6B",
 * "qwen3-0.6b-q6_k", "HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2". */
typedef struct base_name {
    char family[32];   /* "qwen3", "smollm2", "gpt2"                          */
    char size[16];     /* "0.6b", "135m", "" when the name has none           */
    char known[64];    /* the paw_pull name ("qwen3-0.6b"), "" if none        */
} base_name;

static void lower_alnum(char *dst, size_t cap, const char *s, size_t n, int keep_dot)
{
    size_t o = 0;
    for (size_t i = 0; i < n && s[i] && o + 1 < cap; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (keep_dot && c == '.')) dst[o++] = c;
    }
    dst[o] = 0;
}

/* "0.6b", "135m", "1.7b", "124m": digits and dots, then one of k/m/b. */
static int is_size(const char *s, size_t n)
{
    if (n < 2) return 0;
    char u = s[n - 1];
    if (!strchr("kmbKMB", u)) return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) return 0;
    return s[0] != '.';
}

static int parse_base(const char *s, base_name *b)
{
    memset(b, 0, sizeof *b);
    if (!s || !*s) return 0;
    const char *slash = strrchr(s, '/');
    if (slash) s = slash + 1;
    size_t fam = strcspn(s, "-_ ");
    lower_alnum(b->family, sizeof b->family, s, fam, 0);
    if (s[fam]) {
        const char *z = s + fam + 1;
        size_t zn = strcspn(z, "-_ ");
        if (is_size(z, zn)) lower_alnum(b->size, sizeof b->size, z, zn, 1);
    }
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", b->family, b->size[0] ? "-" : "", b->size);
    if (paw_known_model_find(name)) snprintf(b->known, sizeof b->known, "%s", name);
    else if (paw_known_model_find(b->family)) snprintf(b->known, sizeof b->known, "%s", b->family);
    return b->family[0] != 0;
}

int paw_meta_known_base(const paw_program_meta *meta, char known[64])
{
    base_name need;
    known[0] = 0;
    if (!parse_base(meta->runtime_id, &need) || !need.known[0]) parse_base(meta->interpreter, &need);
    snprintf(known, 64, "%s", need.known);
    return known[0] != 0;
}

/* The architecture a model family runs as, NULL when paw does not know. */
static const char *family_arch(const char *family)
{
    if (!strcmp(family, "qwen3")) return "qwen3";
    if (!strcmp(family, "gpt2")) return "gpt2";
    if (!strcmp(family, "smollm2") || !strcmp(family, "smollm") || !strcmp(family, "llama") ||
        !strcmp(family, "tinyllama"))
        return "llama";
    return NULL;
}

static void gguf_str(const paw_model *m, const char *key, char *buf, size_t cap, int keep_dot)
{
    paw_str s;
    buf[0] = 0;
    if (paw_gguf_get_str(paw_model_gguf(m), key, &s) == PAW_OK)
        lower_alnum(buf, cap, s.ptr, (size_t)s.len, keep_dot);
}

/* "Get it with `paw pull NAME` and pass -m NAME." or how to get another base. */
static void pull_hint(const base_name *need, const char *label, char *buf, size_t cap)
{
    if (need->known[0])
        snprintf(buf, cap, "get it with `paw pull %s` and run with -m %s", need->known, need->known);
    else
        snprintf(buf, cap, "paw cannot pull it: pass the GGUF of %s with -m", label);
}

static int check_base(const paw_model *m, const paw_bundle *b)
{
    const paw_program_meta *meta = &b->meta;
    base_name need;
    const char *label = meta->runtime_id ? meta->runtime_id : meta->interpreter;
    if (!parse_base(meta->runtime_id, &need)) parse_base(meta->interpreter, &need);
    if (!need.known[0] && meta->runtime_id) {
        /* runtime_id may use a family paw does not pull; the interpreter
         * field may still name one it does. */
        base_name alt;
        if (parse_base(meta->interpreter, &alt) && alt.known[0]) need = alt;
    }
    char hint[256];
    pull_hint(&need, label ? label : "?", hint, sizeof hint);
    const char *want_interp = meta->interpreter ? meta->interpreter : "?";

    if (meta->base_sha256 && paw_sha256_hex_valid(meta->base_sha256)) {
        char have[65];
        int rc = model_sha256(m, have);
        if (rc) return rc;
        if (paw_sha256_hex_equal(have, meta->base_sha256)) return PAW_OK;
        return paw_err(PAW_EINVAL, "program %s needs the base model %s (%s, GGUF SHA-256 %.16s...), "
                       "but the loaded model's GGUF has SHA-256 %.16s...; %s",
                       b->id, label ? label : want_interp, want_interp, meta->base_sha256, have, hint);
    }
    char basename[64], size[16];
    gguf_str(m, "general.basename", basename, sizeof basename, 0);
    gguf_str(m, "general.size_label", size, sizeof size, 1);
    const char *arch = paw_model_arch(m), *need_arch = family_arch(need.family);
    int ok = need.family[0] != 0;
    if (ok && need_arch && strcmp(need_arch, arch)) ok = 0;
    if (ok && basename[0] && strcmp(basename, need.family)) ok = 0;
    if (ok && size[0] && need.size[0] && strcmp(size, need.size)) ok = 0;
    if (ok) return PAW_OK;
    return paw_err(PAW_EINVAL, "program %s needs the base model %s (%s), but the loaded model is "
                   "%s%s%s%s%s; %s", b->id, label ? label : want_interp, want_interp, arch,
                   basename[0] ? " " : "", basename, size[0] ? " " : "", size, hint);
}

/* -------------------------------------------------------------- helpers */

/* Is `id` a token that only special-token parsing produces (a chat marker)?
 * Its text, tokenized as ordinary text, gives something else. */
static int only_special(const paw_tokenizer *t, int32_t id, char **text, size_t *len)
{
    *text = NULL;
    if (paw_detokenize(t, &id, 1, 1, text, len)) return 0;
    int32_t *ids = NULL;
    size_t n = 0;
    int special = *len == 0 || paw_tokenize(t, *text, *len, 0, 0, &ids, &n) || n != 1 || ids[0] != id;
    free(ids);
    return special;
}

/* Splits the suffix into plain text and the tokenized rest (see the top). */
static int split_suffix(paw_program *p, const char *suf, size_t n)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = paw_tokenize(p->tok, suf, n, 0, 1, &ids, &n_ids);
    if (rc) return rc;
    size_t cut = n;
    for (size_t i = 0; i < n_ids; i++) {
        char *text;
        size_t len;
        int sp = only_special(p->tok, ids[i], &text, &len);
        if (sp && text && len) {
            const char *at = memmem(suf, n, text, len);
            if (at) cut = (size_t)(at - suf);
        }
        free(text);
        if (sp) break;
    }
    free(ids);
    p->plain = malloc(cut + 1);
    if (!p->plain) return paw_err(PAW_ENOMEM, "program: out of memory");
    memcpy(p->plain, suf, cut);
    p->plain[cut] = 0;
    p->plain_len = cut;
    if (cut == n) return PAW_OK;
    return paw_tokenize(p->tok, suf + cut, n - cut, 0, 1, &p->tail, &p->n_tail);
}

/* ------------------------------------------------------- the prefix KV */

/* programs/<id>/prefix_kv.<key>.bin: key = the first 16 hex digits of a
 * SHA-256 over what the K/V depend on: model id, adapter set, KV dtype, and
 * for int8 products that arithmetic (ggml's adds nothing, so its keys stay
 * those of earlier versions). */
static int kv_file_path(paw_program *p, const char *dir)
{
    uint8_t mid[32], aid[32];
    unsigned char kvt = (unsigned char)p->opts.kv_type;
    paw_model_id(p->model, mid);
    paw_ctx_adapter_id(p->ctx, aid);
    paw_sha256 *h = paw_sha256_new();
    char hex[65];
    int rc = h ? PAW_OK : paw_err(PAW_ENOMEM, "program: cannot start SHA-256");
    if (!rc) rc = paw_sha256_update(h, mid, 32);
    if (!rc) rc = paw_sha256_update(h, aid, 32);
    if (!rc) rc = paw_sha256_update(h, &kvt, 1);
    if (!rc && paw_ctx_int8(p->ctx)) rc = paw_sha256_update(h, "int8-products", 13);
    if (!rc) rc = paw_sha256_final_hex(h, hex);
    paw_sha256_free(h);
    if (rc) return rc;
    return paw_path_fmt(p->kv_path, sizeof p->kv_path, "%s/prefix_kv.%.16s.bin", dir, hex);
}

/* Writes the prefix file through a temp name unique to this process and
 * thread, so that handles racing to write it never share a temp file; the
 * last rename wins and every version is whole. */
static void kv_file_write(paw_program *p)
{
    static int counter;
    char tmp[PAW_PATH_MAX + 64];
    int k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    snprintf(tmp, sizeof tmp, "%s.w%ld.%d", p->kv_path, (long)getpid(), k);
    if (paw_kv_save_file(p->ctx, p->n_prefix, tmp) || rename(tmp, p->kv_path)) {
        unlink(tmp);
        return;  /* a read-only cache only costs the next open a recompute */
    }
    char dir[PAW_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", p->kv_path);
    char *slash = strrchr(dir, '/');
    if (slash) { *slash = 0; paw_fsync_dir(dir); }
}

/* Removes prefix-KV temp files (<kv file>.w<pid>.<n>, see kv_file_write)
 * whose writer process no longer exists: a `paw run` killed while writing
 * leaves one, and nothing else would ever remove it.  A live writer's file
 * (kill(pid, 0) succeeds or says EPERM) is left alone, and so are this
 * process's own. */
static void sweep_kv_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[PAW_PATH_MAX];
    while ((e = readdir(d))) {
        const char *w = strstr(e->d_name, ".bin.w");
        if (strncmp(e->d_name, "prefix_kv.", 10) || !w) continue;
        char *end;
        long pid = strtol(w + 6, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) && errno == ESRCH && !paw_path_fmt(p, sizeof p, "%s/%s", dir, e->d_name))
            unlink(p);
    }
    closedir(d);
}

/* Does the ctx hold exactly the prefix (and maybe more after it)? */
static int ctx_has_prefix(const paw_program *p)
{
    return paw_ctx_n_past(p->ctx) >= p->n_prefix &&
           !memcmp(paw_ctx_tokens(p->ctx), p->prefix, (size_t)p->n_prefix * sizeof(int32_t));
}

static int ready_prefix(paw_program *p)
{
    if (!p->n_prefix || p->opts.no_prefix_cache) return PAW_OK;
    double t0 = paw_now();
    if (p->kv_path[0]) {
        if (!access(p->kv_path, F_OK)) {
            int rc = paw_kv_load_file(p->ctx, p->kv_path);
            if (!rc && paw_ctx_n_past(p->ctx) == p->n_prefix && ctx_has_prefix(p)) {
                p->stats.prefix_source = PAW_PREFIX_DISK;
            } else {
                if (rc == PAW_ENOMEM) return rc;
                p->stats.prefix_rewritten = 1;  /* stale, corrupt or foreign */
            }
        }
    }
    if (p->stats.prefix_source != PAW_PREFIX_DISK) {
        paw_kv_truncate(p->ctx, 0);
        int rc = paw_decode(p->ctx, p->prefix, p->n_prefix, 0, NULL);
        if (rc) return rc;
        p->stats.prefix_source = PAW_PREFIX_COMPUTED;
        if (p->kv_path[0]) kv_file_write(p);
    }
    p->stats.prefix_ms = (paw_now() - t0) * 1e3;
    return PAW_OK;
}

/* Rewinds the ctx to the prefix for a call: free when it holds it intact,
 * a fresh evaluation otherwise. */
static int rewind_prefix(paw_program *p)
{
    if (ctx_has_prefix(p) && !p->prefix_dirty) return paw_kv_truncate(p->ctx, p->n_prefix);
    int rc = paw_kv_truncate(p->ctx, 0);
    if (!rc) rc = paw_decode(p->ctx, p->prefix, p->n_prefix, 0, NULL);
    if (!rc) p->prefix_dirty = 0;
    return rc;
}

/* ------------------------------------------------------------- opening */

static int open_template(const paw_model *m, const char *tmpl, size_t len, const uint8_t *adapter,
                         size_t adapter_len, const char *id, const char *dir,
                         const paw_program_opts *opts, paw_program **out)
{
    *out = NULL;
    const char *ph = PAW_PROGRAM_PLACEHOLDER;
    const size_t phn = strlen(ph);
    const char *at = memmem(tmpl, len, ph, phn);
    if (!at || memmem(at + phn, len - (size_t)(at - tmpl) - phn, ph, phn))
        return paw_err(PAW_EFORMAT, "program: the prompt template must hold exactly one %s", ph);
    paw_program *p = calloc(1, sizeof *p);
    if (!p) return paw_err(PAW_ENOMEM, "program: out of memory");
    p->model = m;
    if (opts) p->opts = *opts;
    if (id) snprintf(p->id, sizeof p->id, "%s", id);
    paw_ctx_params cp = {.n_ctx = p->opts.n_ctx, .n_threads = p->opts.n_threads,
                         .kv_type = p->opts.kv_type, .int8 = p->opts.int8};
    int rc = paw_tokenizer_from_gguf(paw_model_gguf(m), &p->tok);
    if (!rc) rc = paw_ctx_new(m, &cp, &p->ctx);
    if (!rc && adapter) {
        /* The program's adapter is attached here, once, at scale 1.0 (the
         * SDK's llama_adapter_lora set with scale 1). */
        rc = paw_adapter_load_mem(adapter, adapter_len, &p->adapter);
        p->adapter_bytes = adapter_len;
        if (!rc) rc = paw_ctx_set_adapter(p->ctx, p->adapter, 1.0f);
        if (rc) rc = paw_err_wrap(rc, "program %s: adapter.gguf", p->id);
    }
    size_t n_pre = (size_t)(at - tmpl);
    if (!rc && n_pre) {
        int32_t *ids = NULL;
        size_t n = 0;
        rc = paw_tokenize(p->tok, tmpl, n_pre, paw_tokenizer_add_bos(p->tok), 1, &ids, &n);
        p->prefix = ids;
        p->n_prefix = (int32_t)n;
        if (!rc && n >= (size_t)paw_ctx_n_ctx(p->ctx))
            rc = paw_err(PAW_ERANGE, "program: the template prefix is %zu tokens, the context only %d",
                         n, paw_ctx_n_ctx(p->ctx));
    }
    if (!rc) rc = split_suffix(p, at + phn, len - n_pre - phn);
    if (!rc && !p->opts.no_speculation && !(p->drafts = calloc(1, sizeof *p->drafts)))
        rc = paw_err(PAW_ENOMEM, "program: out of memory");
    if (!rc && p->drafts) p->drafts->always = p->opts.spec_always;
    if (!rc && dir && dir[0]) sweep_kv_temps(dir);
    if (!rc && dir && dir[0] && !p->opts.no_disk_cache && !p->opts.no_prefix_cache)
        rc = kv_file_path(p, dir);
    p->stats.n_prefix = p->n_prefix;
    if (!rc) rc = ready_prefix(p);
    if (rc) { paw_program_close(p); return rc; }
    *out = p;
    return PAW_OK;
}

/* The outputs of the examples a program was compiled from are likely
 * outputs: first drafts before the handle has outputs of its own.  Best
 * effort (a draft only ever costs a wasted row of a forward call). */
static void seed_drafts(paw_program *p, const paw_program_meta *meta)
{
    if (!p->drafts) return;
    for (size_t i = meta->n_examples; i-- > 0;) {
        const char *o = meta->examples[i].output;
        int32_t *ids = NULL;
        size_t n = 0;
        if (o && !paw_tokenize(p->tok, o, strlen(o), 0, 0, &ids, &n)) paw_drafts_add(p->drafts, ids, n);
        free(ids);
    }
}

static int open_bundle(const paw_model *m, const paw_bundle *b, const char *dir,
                       const paw_program_opts *opts, paw_program **out)
{
    *out = NULL;
    if (!m || !b) return paw_err(PAW_EINVAL, "paw_program_open: NULL argument");
    if (!(opts && opts->no_base_check)) {
        /* A bundle assembled in memory has no ID until one is computed. */
        paw_bundle named = *b;
        int rc = b->id[0] ? PAW_OK : paw_program_id(b, named.id);
        if (!rc) rc = check_base(m, &named);
        if (rc) return rc;
    }
    int rc = open_template(m, b->prompt_template, b->prompt_template_len, b->adapter, b->adapter_len,
                           b->id, dir, opts, out);
    if (!rc) seed_drafts(*out, &b->meta);
    if (!rc && !(*out)->opts.free_decoding) rc = paw_labels_from_meta(&b->meta, m, (*out)->tok, &(*out)->labels);
    if (rc && *out) {
        paw_program_close(*out);
        *out = NULL;
    }
    return rc;
}

int paw_program_open_bundle(const paw_model *m, const paw_bundle *b,
                            const paw_program_opts *opts, paw_program **out)
{
    if (!out) return paw_err(PAW_EINVAL, "paw_program_open_bundle: NULL argument");
    return open_bundle(m, b, NULL, opts, out);
}

int paw_program_open(const paw_model *m, const char *program, const paw_program_opts *opts,
                     paw_program **out)
{
    if (!out || !m || !program) return paw_err(PAW_EINVAL, "paw_program_open: NULL argument");
    *out = NULL;
    paw_program_ref ref;
    int rc;
    char id[PAW_PROGRAM_ID_LEN + 1];
    /* A hub reference that is not a local name is fetched (or, for a bare
     * slug, rechecked) unless the caller asked for no network. */
    if (!(opts && opts->no_fetch) && paw_hub_ref_shape(program) &&
        paw_program_resolve_local(program, &ref) == PAW_ENOTFOUND) {
        if ((rc = paw_program_fetch(program, NULL, NULL, id))) return rc;
        program = id;
    }
    rc = paw_program_resolve(program, &ref);
    if (rc) return rc;
    paw_bundle *b;
    rc = paw_program_read_ref(&ref, &b);  /* hashes the members once per open */
    if (rc) return rc;
    rc = open_bundle(m, b, ref.dir, opts, out);
    paw_bundle_free(b);
    return rc;
}

int paw_program_open_installed(const paw_model *m, const char *name, const paw_program_opts *opts,
                               paw_program **out)
{
    if (!out || !m || !name) return paw_err(PAW_EINVAL, "paw_program_open_installed: NULL argument");
    *out = NULL;
    paw_program_ref ref;
    int rc = paw_program_resolve_installed(name, &ref);
    if (rc) return rc;
    paw_bundle *b;
    if ((rc = paw_bundle_read_dir(ref.dir, &b))) return rc;
    rc = open_bundle(m, b, ref.dir, opts, out);
    paw_bundle_free(b);
    return rc;
}

int paw_program_open_template(const paw_model *m, const char *tmpl, size_t len,
                              const paw_program_opts *opts, paw_program **out)
{
    if (!out || !m || !tmpl) return paw_err(PAW_EINVAL, "paw_program_open_template: NULL argument");
    return open_template(m, tmpl, len, NULL, 0, NULL, NULL, opts, out);
}

int paw_program_open_base(const paw_model *m, const paw_program_opts *opts, paw_program **out)
{
    if (!out || !m) return paw_err(PAW_EINVAL, "paw_program_open_base: NULL argument");
    *out = NULL;
    paw_chat_msg msg = {"user", PAW_PROGRAM_PLACEHOLDER};
    char *tmpl;
    size_t len;
    int rc = paw_chat_format(m, &msg, 1, 1, &tmpl, &len);
    if (rc) return rc;
    rc = open_template(m, tmpl, len, NULL, 0, NULL, NULL, opts, out);
    free(tmpl);
    return rc;
}

void paw_program_close(paw_program *p)
{
    if (!p) return;
    paw_ctx_free(p->ctx);
    paw_adapter_free(p->adapter);  /* after the ctx it was attached to */
    paw_tokenizer_free(p->tok);
    free(p->prefix);
    free(p->plain);
    free(p->tail);
    free(p->drafts);
    paw_labels_free(p->labels);
    free(p);
}

int32_t paw_program_n_labels(const paw_program *p) { return p && p->labels ? p->labels->n : 0; }
const char *paw_program_label(const paw_program *p, int32_t i)
{
    return p && p->labels && i >= 0 && i < p->labels->n ? p->labels->text[i] : NULL;
}

void paw_program_get_stats(const paw_program *p, paw_program_stats *out) { *out = p->stats; }
const char *paw_program_handle_id(const paw_program *p) { return p->id; }
const char *paw_program_prefix_path(const paw_program *p) { return p->kv_path; }

size_t paw_program_memory(const paw_program *p)
{
    if (!p) return 0;
    return sizeof *p + paw_ctx_memory(p->ctx) + p->adapter_bytes +
           ((size_t)p->n_prefix + p->n_tail) * sizeof(int32_t) + p->plain_len;
}

/* ---------------------------------------------------------------- calls */

/* ids = [prefix if cold] + tokens(input + plain) + tail. */
static int call_ids(paw_program *p, const char *input, size_t len, int cold, int32_t **out, size_t *n)
{
    *out = NULL;
    char *text = malloc(len + p->plain_len + 1);
    if (!text) return paw_err(PAW_ENOMEM, "program: out of memory");
    memcpy(text, input, len);
    memcpy(text + len, p->plain, p->plain_len);
    int32_t *mid = NULL;
    size_t n_mid = 0;
    int rc = PAW_OK;
    if (len + p->plain_len)
        rc = paw_tokenize(p->tok, text, len + p->plain_len, !p->n_prefix && paw_tokenizer_add_bos(p->tok),
                          0, &mid, &n_mid);
    free(text);
    if (rc) return rc;
    size_t n_pre = cold ? (size_t)p->n_prefix : 0;
    size_t total = n_pre + n_mid + p->n_tail;
    int32_t *ids = malloc((total ? total : 1) * sizeof *ids);
    if (!ids) { free(mid); return paw_err(PAW_ENOMEM, "program: out of memory"); }
    if (n_pre) memcpy(ids, p->prefix, n_pre * sizeof *ids);
    if (n_mid) memcpy(ids + n_pre, mid, n_mid * sizeof *ids);
    if (p->n_tail) memcpy(ids + n_pre + n_mid, p->tail, p->n_tail * sizeof *ids);
    free(mid);
    *out = ids;
    *n = total;
    return PAW_OK;
}

const int32_t *paw_program_prefix_ids(const paw_program *p, int32_t *n)
{
    *n = p->n_prefix;
    return p->prefix;
}

int paw_program_input_ids(paw_program *p, const char *input, size_t len, int32_t **ids, size_t *n)
{
    if (!p || (!input && len) || !ids || !n) return paw_err(PAW_EINVAL, "paw_program_input_ids: NULL argument");
    return call_ids(p, input ? input : "", len, 0, ids, n);
}

/* One token per forward call (opts.no_speculation): paw_generate. */
static int call_plain(paw_program *p, const int32_t *run, size_t n, int32_t max, paw_streamer *st, char **out,
                      size_t *out_len)
{
    paw_gen_params gp = {.max_tokens = max};
    if (st && st->fn) { gp.on_text = paw_stream_text; gp.ud = st; }
    paw_gen_result res = {0};
    int rc = paw_generate(p->ctx, p->tok, run, n, &gp, &res);
    if (rc) return rc;
    rc = paw_clean_output(res.text, res.len, out, out_len);
    p->stats.n_gen = (int32_t)res.n_ids;
    p->stats.stop_reason = res.stop_reason;
    p->stats.prefill_ms = res.prefill_s * 1e3;
    p->stats.decode_ms = res.decode_s * 1e3;
    p->stats.n_forward = res.n_decode;
    p->stats.n_drafted = p->stats.n_accepted = 0;
    paw_gen_result_free(&res);
    return rc;
}

/* The same outputs, drafts verified in batches (draft.c). */
static int call_speculative(paw_program *p, const int32_t *run, size_t n, int32_t max, paw_streamer *st,
                            char **out, size_t *out_len)
{
    paw_spec_result res;
    paw_stream_ids_ctx sc = {st, p->tok};
    int rc = paw_spec_generate_cb(p->ctx, p->tok, p->drafts, run, n, max, st && st->fn ? paw_stream_ids : NULL,
                                  &sc, &res);
    if (rc) return rc;
    char *text = NULL;
    size_t len = 0;
    rc = paw_detokenize(p->tok, res.ids, res.n_ids, 0, &text, &len);
    if (!rc) rc = paw_clean_output(text ? text : "", text ? len : 0, out, out_len);
    free(text);
    p->stats.n_gen = (int32_t)res.n_ids;
    p->stats.stop_reason = res.stop_reason;
    p->stats.prefill_ms = res.prefill_s * 1e3;
    p->stats.decode_ms = res.decode_s * 1e3;
    p->stats.n_forward = res.n_forward;
    p->stats.n_drafted = res.n_drafted;
    p->stats.n_accepted = res.n_accepted;
    p->stats.total_drafted += (uint64_t)res.n_drafted;
    p->stats.total_accepted += (uint64_t)res.n_accepted;
    free(res.ids);
    return rc;
}

/* Within a closed-label program's labels (labels.c). */
static int call_labels(paw_program *p, const int32_t *run, size_t n, double *probs, int32_t *best,
                       char **out, size_t *out_len)
{
    double t0 = paw_now();
    int32_t b = 0, nf = 0;
    int rc = paw_labels_decode(p->ctx, p->labels, run, n, probs, &b, &nf);
    if (rc) return rc;
    const char *s = p->labels->text[b];
    if (!(*out = strdup(s))) return paw_err(PAW_ENOMEM, "program: out of memory");
    if (out_len) *out_len = strlen(s);
    if (best) *best = b;
    p->stats.n_gen = p->labels->n_ids[b] - 1;
    p->stats.stop_reason = PAW_STOP_EOG;
    p->stats.prefill_ms = 0;
    p->stats.decode_ms = (paw_now() - t0) * 1e3;
    p->stats.n_forward = nf;
    p->stats.n_drafted = p->stats.n_accepted = 0;
    return PAW_OK;
}

static int call(paw_program *p, const char *input, size_t len, int32_t max_tokens, double *probs,
                int32_t *best, paw_streamer *st, char **out, size_t *out_len);

int paw_program_call_scores(paw_program *p, const char *input, size_t len, double *probs,
                            int32_t *best, char **out, size_t *out_len)
{
    if (!p || (!input && len) || !probs || !out) return paw_err(PAW_EINVAL, "paw_program_call_scores: NULL argument");
    if (!p->labels) return paw_err(PAW_EINVAL, "program: scores need a closed-label program (meta.json "
                                   "\"labels\"), decoded within its labels (not free decoding)");
    return call(p, input, len, 0, probs, best, NULL, out, out_len);
}

int paw_program_call(paw_program *p, const char *input, size_t len, int32_t max_tokens,
                     char **out, size_t *out_len)
{
    if (!p || (!input && len) || !out) return paw_err(PAW_EINVAL, "paw_program_call: NULL argument");
    return call(p, input, len, max_tokens, NULL, NULL, NULL, out, out_len);
}

int paw_program_call_stream(paw_program *p, const char *input, size_t len, int32_t max_tokens,
                            paw_text_fn on_text, void *ud, char **out, size_t *out_len)
{
    if (!p || (!input && len) || !out) return paw_err(PAW_EINVAL, "paw_program_call_stream: NULL argument");
    paw_streamer st = {.fn = on_text, .ud = ud};
    size_t n = 0;
    int rc = call(p, input, len, max_tokens, NULL, NULL, &st, out, &n);
    /* The rest of the output (all of it for a label; trailing pieces held
     * back): unless the callback asked to stop, what was sent is now all. */
    if (!rc) rc = paw_stream_emit(&st, *out, n, 1);
    if (rc) { free(*out); *out = NULL; n = 0; }
    if (out_len) *out_len = n;
    free(st.sent);
    free(st.raw);
    return rc;
}

/* Everything a call does before decoding: the ids of input + suffix, the
 * context check, the KV cache rewound to the prefix.  *run (n tokens) is
 * what to evaluate next, pointing into *ids (the caller frees it) or into
 * the prefix. */
int paw_program_prepare(paw_program *p, const char *input, size_t len, int32_t **ids_out,
                        const int32_t **run_out, size_t *n_out)
{
    *ids_out = NULL;
    const int cold = p->opts.no_prefix_cache || !p->n_prefix;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = call_ids(p, input ? input : "", len, cold, &ids, &n);
    if (rc) return rc;
    const int32_t n_ctx = paw_ctx_n_ctx(p->ctx);
    size_t prompt = (cold ? 0 : (size_t)p->n_prefix) + n;
    if (prompt >= (size_t)n_ctx) {
        free(ids);
        return paw_err(PAW_ERANGE, "program: the prompt is %zu tokens (input %zu bytes), over the "
                       "context of %d tokens; shorten the input", prompt, len, n_ctx);
    }
    if (!prompt) {
        free(ids);
        return paw_err(PAW_EINVAL, "program: empty prompt (empty template and input)");
    }
    /* Rewind to the prefix (see rewind_prefix).  An empty input + suffix
     * re-evaluates the last prefix token so that there are logits to start
     * from. */
    const int32_t *run = ids;
    rc = cold ? paw_kv_truncate(p->ctx, 0) : rewind_prefix(p);
    if (!rc && !cold && !n) {
        /* The same values are recomputed, but maybe not bit for bit (one
         * token instead of a batch), so the next call re-evaluates. */
        rc = paw_kv_truncate(p->ctx, p->n_prefix - 1);
        run = p->prefix + p->n_prefix - 1;
        n = 1;
        p->prefix_dirty = 1;
    }
    if (rc) { free(ids); return rc; }
    *ids_out = ids;
    *run_out = run;
    *n_out = n;
    return PAW_OK;
}

paw_ctx *paw_program_ctx(paw_program *p) { return p->ctx; }
const paw_tokenizer *paw_program_tok(const paw_program *p) { return p->tok; }
const paw_labels *paw_program_labels(const paw_program *p) { return p->labels; }
paw_program_stats *paw_program_stats_of(paw_program *p) { return &p->stats; }

static int call(paw_program *p, const char *input, size_t len, int32_t max_tokens, double *probs,
                int32_t *best, paw_streamer *st, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    double t0 = paw_now();
    int32_t *ids = NULL;
    const int32_t *run = NULL;
    size_t n = 0;
    int rc = paw_program_prepare(p, input, len, &ids, &run, &n);
    if (rc) return rc;
    const int32_t max = max_tokens == 0 ? PAW_PROGRAM_MAX_TOKENS : max_tokens < 0 ? 0 : max_tokens;
    if (p->labels) rc = call_labels(p, run, n, probs, best, out, out_len);
    else if (p->drafts) rc = call_speculative(p, run, n, max, st, out, out_len);
    else rc = call_plain(p, run, n, max, st, out, out_len);
    free(ids);
    if (rc) return rc;
    p->stats.n_calls++;
    p->stats.n_prompt = (int32_t)n;
    p->stats.total_ms = (paw_now() - t0) * 1e3;
    return rc;
}
