/* hub.c — programs by name from the PAW hub (paw.md §5.4-5.5): references,
 * resolution, download, install, the base model a program runs on.
 *
 * Cache files (beside the program cache, all replaced atomically under
 * programs/.locks/hub.lock):
 *   programs/slug_cache.json  {"user/slug[@vN]": "<hub program id>"}
 *   programs/hub_ids.json     {"<hub program id>": "<content ID>"}
 *   runtimes/<runtime_id>.json  the hub's runtime manifest, as fetched
 * The program itself is installed by content ID (progcache.c), so the same
 * program fetched by ID, by slug or twice is stored once.  Hub program IDs
 * and pinned versions are immutable: once mapped they are never asked for
 * again.  A bare or unpinned slug is asked for every time (it may point at a
 * new version) unless the hub cannot be reached. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "core/common.h"
#include "net/hub.h"
#include "runtime/bundle.h"
#include "runtime/fetch.h"

#define DEFAULT_API_URL   "https://programasweights.com"
#define JSON_CAP          ((uint64_t)4 << 20)
/* How long a bundle still being generated (202) is waited for: the SDK's
 * 60 s; tests shorten it with paw_hub_test_poll_limit. */
static int poll_seconds = 60;
#define MAX_REDIRECTS     5
#define SLUG_FILE         "slug_cache.json"
#define IDS_FILE          "hub_ids.json"

/* ------------------------------------------------------------ settings */

static int offline(void)
{
    const char *v = getenv("PAW_OFFLINE");
    return v && *v && strcmp(v, "0");
}

static const char *api_key(void)
{
    const char *v = getenv("PAW_API_KEY");
    return v && *v ? v : NULL;
}

/* <PAW_API_URL>/api/v1 without a trailing slash. */
static int api_base(char *buf, size_t cap)
{
    const char *v = getenv("PAW_API_URL");
    if (!v || !*v) v = DEFAULT_API_URL;
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
        return paw_err(PAW_EINVAL, "PAW_API_URL \"%s\" is not an http:// or https:// URL", v);
    size_t n = strlen(v);
    while (n && v[n - 1] == '/') n--;
    return paw_path_fmt(buf, cap, "%.*s/api/v1", (int)n, v);
}

/* ------------------------------------------------------------ references */

enum ref_kind { REF_NONE, REF_HEX, REF_SLUG };

static int hex_id(const char *s, size_t lo, size_t hi)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n >= lo && n <= hi;
}

/* One name part of a slug: 1-100 of [A-Za-z0-9._-], starting with a letter
 * or digit, no ".." (the reference becomes part of a URL path). */
static int slug_part(const char *s, size_t n)
{
    if (n < 1 || n > 100) return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
        if (c == '.' && i + 1 < n && s[i + 1] == '.') return 0;   /* no "..", as for aliases */
    }
    return 1;
}

/* REF_HEX, REF_SLUG (*pinned set for "@vN") or REF_NONE. */
static int ref_kind(const char *s, int *pinned)
{
    if (pinned) *pinned = 0;
    if (!s || !*s) return REF_NONE;
    if (hex_id(s, 16, 64)) return REF_HEX;
    size_t n = strlen(s);
    /* "dir/x.paw" that does not exist is a missing file, not a slug. */
    if (n >= 4 && !strcmp(s + n - 4, ".paw")) return REF_NONE;
    const char *at = strchr(s, '@');
    if (at) {
        const char *v = at + 1;
        if (*v++ != 'v' || !*v) return REF_NONE;
        for (const char *p = v; *p; p++)
            if (*p < '0' || *p > '9') return REF_NONE;
        n = (size_t)(at - s);
    }
    const char *slash = memchr(s, '/', n);
    int ok = slash ? slug_part(s, (size_t)(slash - s)) && slug_part(slash + 1, n - (size_t)(slash - s) - 1)
                   : slug_part(s, n);
    if (!ok) return REF_NONE;
    if (at && !slash) return REF_NONE;   /* versions belong to user/slug */
    if (pinned) *pinned = at != NULL;
    return REF_SLUG;
}

int paw_hub_ref_shape(const char *arg) { return ref_kind(arg, NULL) != REF_NONE; }

/* ---------------------------------------------------- the two map files */

static int programs_dir(char *buf, size_t cap)
{
    char root[PAW_PATH_MAX];
    int rc = paw_cache_dir(root, sizeof root);
    return rc ? rc : paw_path_fmt(buf, cap, "%s/programs", root);
}

static int installed(const char *id)
{
    char progs[PAW_PATH_MAX], p[PAW_PATH_MAX];
    struct stat st;
    return !programs_dir(progs, sizeof progs) &&
           !paw_path_fmt(p, sizeof p, "%s/%s/%s", progs, id, PAW_MEMBER_META) &&
           !stat(p, &st) && S_ISREG(st.st_mode);
}

/* Loads programs/<file> ({} when absent).  A corrupt map is an error: it is
 * only ever replaced whole, so corruption means someone edited it. */
static int map_load(const char *file, json_t **out)
{
    char progs[PAW_PATH_MAX], p[PAW_PATH_MAX];
    uint8_t *buf;
    size_t len;
    int rc = programs_dir(progs, sizeof progs);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/%s", progs, file);
    if (!rc) rc = paw_read_file_capped(p, PAW_BUNDLE_MAX_TEXT, &buf, &len);
    if (rc == PAW_ENOTFOUND) {
        *out = json_object();
        return *out ? PAW_OK : paw_err(PAW_ENOMEM, "out of memory");
    }
    if (rc) return rc;
    json_error_t je;
    json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    int ok = json_is_object(o);
    const char *k;
    json_t *v;
    if (ok) json_object_foreach(o, k, v) ok &= json_is_string(v) && hex_id(json_string_value(v), 16, 64);
    if (!ok) {
        json_decref(o);
        return paw_err(PAW_EFORMAT, "hub cache: %s is corrupt; delete it (it is rebuilt from the hub)", p);
    }
    *out = o;
    return PAW_OK;
}

/* The value of key in programs/<file> into out (NUL-terminated). */
static int map_get(const char *file, const char *key, char *out, size_t cap)
{
    json_t *o;
    int rc = map_load(file, &o);
    if (rc) return rc;
    json_t *v = json_object_get(o, key);
    rc = v ? paw_path_fmt(out, cap, "%s", json_string_value(v)) : PAW_ENOTFOUND;
    json_decref(o);
    return rc;
}

static int map_set(const char *file, const char *key, const char *value)
{
    char progs[PAW_PATH_MAX], p[PAW_PATH_MAX];
    int rc = programs_dir(progs, sizeof progs);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/.locks", progs);
    if (!rc) rc = paw_mkdir_p(p);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/.locks/hub.lock", progs);
    if (rc) return rc;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return paw_err(PAW_EIO, "hub cache: cannot open %s: %s", p, strerror(errno));
    while (flock(fd, LOCK_EX) && errno == EINTR) {}
    json_t *o = NULL;
    rc = map_load(file, &o);
    if (!rc && json_object_set_new(o, key, json_string(value))) rc = paw_err(PAW_ENOMEM, "out of memory");
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/%s", progs, file);
    if (!rc) {
        char *s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
        if (!s) rc = paw_err(PAW_ENOMEM, "out of memory");
        else {
            size_t n = strlen(s);
            s[n] = '\n';   /* the NUL becomes the file's last newline */
            rc = paw_write_file_atomic(p, s, n + 1);
            free(s);
        }
    }
    json_decref(o);
    close(fd);
    return rc;
}

/* hub program ID -> installed content ID, from hub_ids.json. */
static int cached_hub_id(const char *hub_id, char id[PAW_PROGRAM_ID_LEN + 1])
{
    char v[80];
    int rc = map_get(IDS_FILE, hub_id, v, sizeof v);
    if (rc) return rc;
    if (strlen(v) != PAW_PROGRAM_ID_LEN || !installed(v)) return PAW_ENOTFOUND;
    memcpy(id, v, PAW_PROGRAM_ID_LEN + 1);
    return PAW_OK;
}

int paw_hub_lookup_cached(const char *arg, char id[PAW_PROGRAM_ID_LEN + 1])
{
    int kind = ref_kind(arg, NULL);
    char hub_id[80];
    if (kind == REF_HEX) return cached_hub_id(arg, id);
    if (kind != REF_SLUG) return PAW_ENOTFOUND;
    int rc = map_get(SLUG_FILE, arg, hub_id, sizeof hub_id);
    return rc ? rc : cached_hub_id(hub_id, id);
}

/* ----------------------------------------------------------------- HTTP */

/* The hub's own message ({"detail": "..."} or {"error": "..."}), if any. */
static const char *server_says(const hub_resp *r, char *buf, size_t cap)
{
    buf[0] = 0;
    json_t *o = r->body ? json_loadb((const char *)r->body, r->len, 0, NULL) : NULL;
    json_t *d = json_is_object(o) ? json_object_get(o, "detail") : NULL;
    if (!json_is_string(d) && json_is_object(o)) d = json_object_get(o, "error");
    if (json_is_object(d)) d = json_object_get(d, "message");
    if (json_is_string(d)) snprintf(buf, cap, ": \"%.200s\"", json_string_value(d));
    json_decref(o);
    return buf;
}

/* A clear error for a non-success status.  ENOTFOUND for 404, EINVAL for a
 * refused key, ENET for what may pass (429, 5xx, anything else). */
static int http_fail(const hub_resp *r, const char *what, const char *url)
{
    char say[240];
    server_says(r, say, sizeof say);
    long s = r->status;
    if (s == 404) return paw_err(PAW_ENOTFOUND, "%s: not found on the hub (HTTP 404 from %s)%s", what, url, say);
    if (s == 401 || s == 403)
        return paw_err(PAW_EINVAL, "%s: the hub refused the request (HTTP %ld from %s)%s; %s", what, s, url,
                       say, api_key() ? "check PAW_API_KEY" : "set PAW_API_KEY to your key");
    if (s == 429) {
        char after[64] = "";
        if (r->retry_after >= 0) snprintf(after, sizeof after, " (Retry-After: %ld s)", r->retry_after);
        return paw_err(PAW_ENET, "%s: rate limited by the hub (HTTP 429 from %s)%s%s; try again later", what,
                       url, after, say);
    }
    if (s >= 500) return paw_err(PAW_ENET, "%s: hub server error (HTTP %ld from %s)%s", what, s, url, say);
    return paw_err(PAW_ENET, "%s: unexpected HTTP %ld from %s%s", what, s, url, say);
}

/* GET <base><path> as JSON (an object). */
static int get_json(const char *path, const char *what, json_t **out)
{
    char url[PAW_PATH_MAX];
    int rc = api_base(url, sizeof url);
    size_t n = strlen(url);
    if (!rc) rc = paw_path_fmt(url + n, sizeof url - n, "%s", path);
    if (rc) return rc;
    hub_resp r;
    if ((rc = hub_http_get(url, api_key(), JSON_CAP, NULL, NULL, &r))) return paw_err_wrap(rc, "%s", what);
    if (r.status != 200) {
        rc = http_fail(&r, what, url);
        hub_resp_clear(&r);
        return rc;
    }
    json_error_t je;
    *out = r.body ? json_loadb((const char *)r.body, r.len, 0, &je) : NULL;
    hub_resp_clear(&r);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return paw_err(PAW_EFORMAT, "%s: %s did not answer with a JSON object", what, url);
    }
    return PAW_OK;
}

/* Percent-encodes what is not [A-Za-z0-9._~-], keeping '/' and '@' when
 * keep_path (a slug's separators). */
static int url_escape(const char *s, int keep_path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '~' || c == '-' || (keep_path && (c == '/' || c == '@'));
        if (o + 4 > cap) return paw_err(PAW_ERANGE, "hub: argument too long");
        if (plain) out[o++] = (char)c;
        else { out[o++] = '%'; out[o++] = hex[c >> 4]; out[o++] = hex[c & 15]; }
    }
    out[o] = 0;
    return PAW_OK;
}

/* GET /programs/resolve/{slug} -> {"program_id": "<hex>"}. */
static int resolve_slug(const char *slug, char hub_id[80])
{
    char path[600], esc[520];
    int rc = url_escape(slug, 1, esc, sizeof esc);
    if (!rc) rc = paw_path_fmt(path, sizeof path, "/programs/resolve/%s", esc);
    if (rc) return rc;
    char what[300];
    snprintf(what, sizeof what, "resolving \"%s\"", slug);
    json_t *o;
    if ((rc = get_json(path, what, &o))) return rc;
    json_t *v = json_object_get(o, "program_id");
    if (json_is_string(v) && hex_id(json_string_value(v), 16, 64)) {
        snprintf(hub_id, 80, "%s", json_string_value(v));
    } else {
        rc = paw_err(PAW_EFORMAT, "%s: the hub's answer has no program_id of 16-64 lowercase hex digits", what);
    }
    json_decref(o);
    return rc;
}

static void sleep_s(long s)
{
    struct timespec ts = { .tv_sec = s, .tv_nsec = 0 };
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* GET /programs/{id}/download: 200 is the bundle, 3xx a CDN to follow
 * (without the API key), 202 + Retry-After a bundle still being generated,
 * polled for up to POLL_SECONDS. */
static int download_bundle(const char *hub_id, paw_progress_fn progress, void *ud, hub_resp *out)
{
    char url[PAW_PATH_MAX];
    int rc = api_base(url, sizeof url);
    size_t n = strlen(url);
    if (!rc) rc = paw_path_fmt(url + n, sizeof url - n, "/programs/%s/download", hub_id);
    if (rc) return rc;
    char what[120];
    snprintf(what, sizeof what, "downloading program %s", hub_id);
    const char *key = api_key();
    int limit = __atomic_load_n(&poll_seconds, __ATOMIC_RELAXED);
    double deadline = paw_now() + limit;
    int hops = 0;
    for (;;) {
        hub_resp r;
        if ((rc = hub_http_get(url, key, PAW_BUNDLE_MAX_FILE, progress, ud, &r)))
            return paw_err_wrap(rc, "%s", what);
        if (r.status == 200) {
            if (!r.len) { hub_resp_clear(&r); return paw_err(PAW_EFORMAT, "%s: %s sent an empty body", what, url); }
            *out = r;
            return PAW_OK;
        }
        if (r.status == 202) {
            long wait = r.retry_after < 0 ? 2 : r.retry_after > 10 ? 10 : r.retry_after;
            hub_resp_clear(&r);
            if (paw_now() + (double)wait > deadline)
                return paw_err(PAW_ENET, "%s: the hub was still generating the bundle after %d s; try again later",
                               what, limit);
            sleep_s(wait);
            continue;
        }
        if (r.status >= 300 && r.status < 400 && r.location) {
            if (++hops > MAX_REDIRECTS) {
                hub_resp_clear(&r);
                return paw_err(PAW_ENET, "%s: more than %d redirects", what, MAX_REDIRECTS);
            }
            rc = paw_path_fmt(url, sizeof url, "%s", r.location);
            hub_resp_clear(&r);
            if (rc) return rc;
            key = NULL;   /* the key is for the hub, not for the CDN */
            continue;
        }
        rc = http_fail(&r, what, url);
        hub_resp_clear(&r);
        return rc;
    }
}

/* ------------------------------------------------------------ fetching */

/* Downloads, validates and installs hub program hub_id (unless hub_ids.json
 * already maps it to an installed program) and records the mapping. */
static int fetch_id(const char *hub_id, paw_progress_fn progress, void *ud, char id[PAW_PROGRAM_ID_LEN + 1])
{
    if (!cached_hub_id(hub_id, id)) return PAW_OK;
    if (offline())
        return paw_err(PAW_ENOTFOUND, "program %s is not in the cache, and PAW_OFFLINE=1 forbids downloading "
                       "it (run `paw pull %s` while online)", hub_id, hub_id);
    hub_resp r;
    int rc = download_bundle(hub_id, progress, ud, &r);
    if (rc) return rc;
    /* The same reader as for a local .paw: limits, member names, traversal,
     * placeholder, adapter GGUF; a truncated or altered ZIP fails its CRC or
     * central-directory checks here. */
    paw_bundle *b = NULL;
    rc = paw_bundle_read_mem(r.body, r.len, &b);
    hub_resp_clear(&r);
    if (rc) return paw_err_wrap(rc, "program %s from the hub", hub_id);
    if (!b->meta.program_id || strcmp(b->meta.program_id, hub_id))
        rc = paw_err(PAW_EFORMAT, "program %s from the hub: its meta.json names program_id \"%s\"; "
                     "refusing a bundle that is not the program asked for", hub_id,
                     b->meta.program_id ? b->meta.program_id : "");
    if (!rc) rc = hub_runtime_check(&b->meta, hub_id);
    if (!rc) rc = paw_program_install(b, NULL, id);
    paw_bundle_free(b);
    if (!rc) rc = map_set(IDS_FILE, hub_id, id);
    return rc;
}

static int fetch_slug(const char *slug, int pinned, paw_progress_fn progress, void *ud,
                      char id[PAW_PROGRAM_ID_LEN + 1])
{
    char cached[80], fresh[80];
    int have = !map_get(SLUG_FILE, slug, cached, sizeof cached);
    if (pinned && have) return fetch_id(cached, progress, ud, id);   /* @vN never changes */
    if (offline()) {
        if (have) return fetch_id(cached, progress, ud, id);
        return paw_err(PAW_ENOTFOUND, "\"%s\" is not in the program cache, and PAW_OFFLINE=1 forbids asking the "
                       "hub for it (run `paw pull %s` while online)", slug, slug);
    }
    int rc = resolve_slug(slug, fresh);
    /* The hub cannot be reached or is failing: the copy we have will do. */
    if (rc == PAW_ENET && have && !cached_hub_id(cached, id)) return PAW_OK;
    if (rc) return rc;
    if ((rc = fetch_id(fresh, progress, ud, id))) return rc;
    if (!have || strcmp(cached, fresh)) rc = map_set(SLUG_FILE, slug, fresh);
    return rc;
}

int paw_program_fetch(const char *ref, paw_progress_fn progress, void *ud, char id_out[PAW_PROGRAM_ID_LEN + 1])
{
    if (!ref || !id_out) return paw_err(PAW_EINVAL, "paw_program_fetch: NULL argument");
    id_out[0] = 0;
    paw_program_ref r;
    int rc = paw_program_resolve_local(ref, &r);
    if (!rc && r.is_file && !r.dir[0]) return paw_program_install_file(ref, NULL, id_out);
    if (!rc) {
        memcpy(id_out, r.id, sizeof r.id);
        return PAW_OK;
    }
    int pinned, kind = ref_kind(ref, &pinned);
    if (rc != PAW_ENOTFOUND || kind == REF_NONE) return rc;
    rc = kind == REF_HEX ? fetch_id(ref, progress, ud, id_out) : fetch_slug(ref, pinned, progress, ud, id_out);
    if (rc) id_out[0] = 0;
    return rc;
}

int paw_program_fetch_installed(const char *name, paw_progress_fn progress, void *ud,
                                char id_out[PAW_PROGRAM_ID_LEN + 1])
{
    if (!name || !id_out) return paw_err(PAW_EINVAL, "paw_program_fetch_installed: NULL argument");
    id_out[0] = 0;
    paw_program_ref r;
    int rc = paw_program_resolve_installed(name, &r);
    if (!rc) {
        memcpy(id_out, r.id, sizeof r.id);
        return PAW_OK;
    }
    /* ref_kind admits no "..", no leading '/' or '.', no ".paw" name: a hub
     * reference reaches the hub as a URL path and the disk only through the
     * maps and the content ID it installs under. */
    int pinned, kind = ref_kind(name, &pinned);
    if (rc != PAW_ENOTFOUND || kind == REF_NONE) return rc;
    rc = kind == REF_HEX ? fetch_id(name, progress, ud, id_out) : fetch_slug(name, pinned, progress, ud, id_out);
    if (rc) id_out[0] = 0;
    return rc;
}

int paw_hub_search(const char *query, char **json, size_t *len)
{
    if (!json) return paw_err(PAW_EINVAL, "paw_hub_search: NULL argument");
    *json = NULL;
    if (len) *len = 0;
    if (offline()) return paw_err(PAW_EINVAL, "searching the hub: PAW_OFFLINE=1 forbids network access");
    char esc[1600], path[1700];
    int rc = url_escape(query ? query : "", 0, esc, sizeof esc);
    if (!rc) rc = paw_path_fmt(path, sizeof path, "/programs?q=%s", esc);
    if (rc) return rc;
    char url[PAW_PATH_MAX];
    if ((rc = api_base(url, sizeof url))) return rc;
    size_t n = strlen(url);
    if ((rc = paw_path_fmt(url + n, sizeof url - n, "%s", path))) return rc;
    hub_resp r;
    if ((rc = hub_http_get(url, api_key(), JSON_CAP, NULL, NULL, &r))) return paw_err_wrap(rc, "searching the hub");
    if (r.status != 200) rc = http_fail(&r, "searching the hub", url);
    json_t *o = rc || !r.body ? NULL : json_loadb((const char *)r.body, r.len, 0, NULL);
    if (!rc && !o) rc = paw_err(PAW_EFORMAT, "searching the hub: %s did not answer with JSON", url);
    json_decref(o);
    if (!rc) {
        *json = (char *)r.body;
        if (len) *len = r.len;
        r.body = NULL;
    }
    hub_resp_clear(&r);
    return rc;
}

/* --------------------------------------------------- runtime manifests */

/* A "sha256" string anywhere in the first levels of the manifest. */
static const char *find_sha(json_t *o, int depth)
{
    if (!json_is_object(o) || depth > 3) return NULL;
    json_t *v = json_object_get(o, "sha256");
    if (json_is_string(v) && paw_sha256_hex_valid(json_string_value(v))) return json_string_value(v);
    const char *k;
    json_object_foreach(o, k, v) {
        const char *s = find_sha(v, depth + 1);
        if (s) return s;
    }
    return NULL;
}

int hub_manifest_check(const char *runtime_id, const char *model, const char *pinned_sha)
{
    char root[PAW_PATH_MAX], p[PAW_PATH_MAX];
    int rc = paw_cache_dir(root, sizeof root);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/runtimes/%s.json", root, runtime_id);
    if (rc) return rc;
    json_t *o = NULL;
    uint8_t *buf;
    size_t len;
    int fresh = 0;
    if (!paw_read_file_capped(p, JSON_CAP, &buf, &len)) {
        o = json_loadb((const char *)buf, len, 0, NULL);
        free(buf);
    }
    if (!o && !offline()) {
        char path[300];
        if (paw_path_fmt(path, sizeof path, "/models/runtimes/%s", runtime_id) ||
            get_json(path, "runtime manifest", &o))
            return PAW_OK;   /* no manifest: the pinned hash alone decides */
        fresh = 1;
    }
    if (!o) return PAW_OK;
    const char *sha = find_sha(o, 0);
    if (sha && !paw_sha256_hex_equal(sha, pinned_sha)) {
        rc = paw_err(PAW_EHASH, "the hub's manifest for runtime %s names a base GGUF with SHA-256 %.16s..., but "
                     "paw pins %s at %.16s...; this paw does not know that version of the runtime",
                     runtime_id, sha, model, pinned_sha);
        json_decref(o);
        return rc;
    }
    if (fresh) {
        char dir[PAW_PATH_MAX];
        char *s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
        if (s && !paw_path_fmt(dir, sizeof dir, "%s/runtimes", root) && !paw_mkdir_p(dir))
            paw_write_file_atomic(p, s, strlen(s));   /* best effort: only saves a request */
        free(s);
    }
    json_decref(o);
    return PAW_OK;
}

int hub_offline(void) { return offline(); }

void paw_hub_test_poll_limit(int seconds) { __atomic_store_n(&poll_seconds, seconds, __ATOMIC_RELAXED); }
