/* progcache.c — the program cache: <cache root>/programs/<id>/, aliases, and
 * resolving a PROGRAM argument.
 *
 * Layout and rules (see also paw.h):
 *   programs/<id>/            one installed program, named by its content ID;
 *                             appears whole or not at all (unpacked in
 *                             programs/.staging/, fsynced, renamed into place)
 *   programs/.locks/<id>.lock flock held while installing <id>, so that two
 *                             processes installing the same program do the
 *                             work once and never see each other's halves
 *   programs/.locks/aliases.lock  flock around read-modify-write of aliases
 *   programs/aliases.json     {"alias": "<id>"}, replaced atomically
 * Readers take no locks: every change they can observe is a rename. */
#include <dirent.h>
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
#include "runtime/bundle.h"
#include "runtime/fetch.h"
#include "net/hub.h"

#define ALIASES_FILE "aliases.json"
#define MIN_PREFIX 4
/* A staging directory older than this belongs to a process that died. */
#define STALE_STAGING_SECONDS (6 * 3600)

static int programs_dir(char *buf, size_t cap, int create)
{
    char root[PAW_PATH_MAX];
    int rc = paw_cache_dir(root, sizeof root);
    if (!rc) rc = paw_path_fmt(buf, cap, "%s/programs", root);
    if (!rc && create) rc = paw_mkdir_p(buf);
    return rc;
}

static int is_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == PAW_PROGRAM_ID_LEN;
}

static int is_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

/* Takes an exclusive flock on programs/.locks/<name>.lock; *fd to close. */
static int lock_take(const char *progs, const char *name, int *fd)
{
    char p[PAW_PATH_MAX];
    int rc = paw_path_fmt(p, sizeof p, "%s/.locks", progs);
    if (!rc) rc = paw_mkdir_p(p);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/.locks/%s.lock", progs, name);
    if (rc) return rc;
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return paw_err(PAW_EIO, "program cache: cannot open lock %s: %s", p, strerror(errno));
    while (flock(*fd, LOCK_EX)) {
        if (errno == EINTR) continue;
        rc = paw_err(PAW_EIO, "program cache: cannot lock %s: %s", p, strerror(errno));
        close(*fd);
        *fd = -1;
        return rc;
    }
    return PAW_OK;
}

static void lock_drop(int fd)
{
    if (fd >= 0) close(fd);  /* closing releases the flock */
}

/* Removes a staging directory: it only ever holds plain files. */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PAW_PATH_MAX];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                !paw_path_fmt(p, sizeof p, "%s/%s", dir, e->d_name))
                unlink(p);
        closedir(d);
    }
    rmdir(dir);
}

/* 1 if no process holds <id>'s install lock now.  Every staging directory
 * <id>-* is written with that lock held (install, clear_damaged), so a free
 * lock means its writer is gone: killed, crashed, or done and failed to
 * clean up.  Our own held lock reads as busy (flock is per open file). */
static int writer_gone(const char *progs, const char *id)
{
    char p[PAW_PATH_MAX];
    if (paw_path_fmt(p, sizeof p, "%s/.locks/%s.lock", progs, id)) return 0;
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT;  /* never locked: no writer */
    int gone = !flock(fd, LOCK_EX | LOCK_NB);
    close(fd);  /* releases it again */
    return gone;
}

/* Removes staging directories whose writer is gone: at once when the name
 * says whose lock it was written under, after STALE_STAGING_SECONDS
 * otherwise (names of older versions).  Run whenever the cache is opened
 * (resolve, install), so that a kill -9 leaves nothing that lasts. */
static void sweep_staging(const char *progs)
{
    char staging[PAW_PATH_MAX];
    if (paw_path_fmt(staging, sizeof staging, "%s/.staging", progs)) return;
    DIR *d = opendir(staging);
    if (!d) return;
    struct dirent *e;
    char p[PAW_PATH_MAX], id[PAW_PROGRAM_ID_LEN + 1];
    time_t now = time(NULL);
    struct stat st;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || paw_path_fmt(p, sizeof p, "%s/%s", staging, e->d_name)) continue;
        if (lstat(p, &st) || !S_ISDIR(st.st_mode)) continue;
        memcpy(id, e->d_name, PAW_PROGRAM_ID_LEN);
        id[PAW_PROGRAM_ID_LEN] = 0;
        int named = strlen(e->d_name) > PAW_PROGRAM_ID_LEN && e->d_name[PAW_PROGRAM_ID_LEN] == '-' &&
                    is_id(id);
        if (named ? writer_gone(progs, id) : now - st.st_mtime > STALE_STAGING_SECONDS)
            remove_flat_dir(p);
    }
    closedir(d);
}

static int write_member(const char *dir, const char *name, const void *data, size_t len)
{
    char p[PAW_PATH_MAX];
    int rc = paw_path_fmt(p, sizeof p, "%s/%s", dir, name);
    if (rc) return rc;
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return paw_err(PAW_EIO, "program cache: %s: %s", p, strerror(errno));
    const uint8_t *b = data;
    size_t done = 0;
    while (done < len && !rc) {
        ssize_t w = write(fd, b + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rc = paw_err(PAW_EIO, "program cache: writing %s: %s", p, strerror(errno));
        else done += (size_t)w;
    }
    if (!rc && fsync(fd)) rc = paw_err(PAW_EIO, "program cache: fsync %s: %s", p, strerror(errno));
    if (close(fd) && !rc) rc = paw_err(PAW_EIO, "program cache: closing %s: %s", p, strerror(errno));
    return rc;
}

/* 1 if programs/<id> is a complete install.  meta.json is enough to know:
 * the directory only ever appears by rename, with all its members. */
static int installed(const char *progs, const char *id)
{
    char p[PAW_PATH_MAX];
    struct stat st;
    return !paw_path_fmt(p, sizeof p, "%s/%s/%s", progs, id, PAW_MEMBER_META) &&
           !stat(p, &st) && S_ISREG(st.st_mode);
}

static int stage_and_rename(const char *progs, const paw_bundle *b, const char *meta,
                            size_t meta_len)
{
    char staging[PAW_PATH_MAX], tmp[PAW_PATH_MAX], dest[PAW_PATH_MAX];
    int rc = paw_path_fmt(staging, sizeof staging, "%s/.staging", progs);
    if (!rc) rc = paw_mkdir_p(staging);
    if (!rc) rc = paw_path_fmt(tmp, sizeof tmp, "%s/%s-XXXXXX", staging, b->id);
    if (!rc) rc = paw_path_fmt(dest, sizeof dest, "%s/%s", progs, b->id);
    if (rc) return rc;
    if (!mkdtemp(tmp)) return paw_err(PAW_EIO, "program cache: mkdtemp in %s: %s", staging, strerror(errno));
    chmod(tmp, 0755);  /* mkdtemp makes 0700; the cache is readable like the models */
    rc = write_member(tmp, PAW_MEMBER_META, meta, meta_len);
    if (!rc) rc = write_member(tmp, PAW_MEMBER_TEMPLATE, b->prompt_template, b->prompt_template_len);
    if (!rc && b->pseudo_program)
        rc = write_member(tmp, PAW_MEMBER_PSEUDO, b->pseudo_program, b->pseudo_program_len);
    if (!rc) rc = write_member(tmp, PAW_MEMBER_ADAPTER, b->adapter, b->adapter_len);
    if (!rc) rc = paw_fsync_dir(tmp);
    if (!rc && rename(tmp, dest)) {
        /* Someone installed it without our lock (another host on a shared
         * cache): theirs is as good as ours.  errno is kept before
         * installed() overwrites it, so the error names the real cause. */
        int err = errno;
        if ((err == ENOTEMPTY || err == EEXIST) && installed(progs, b->id)) rc = PAW_OK;
        else rc = paw_err(PAW_EIO, "program cache: cannot move %s into place as %s: %s", tmp, dest,
                          strerror(err));
        remove_flat_dir(tmp);
        return rc;
    }
    if (rc) { remove_flat_dir(tmp); return rc; }
    return paw_fsync_dir(progs);
}

static int alias_valid(const char *a);

static int alias_invalid(const char *alias)
{
    return paw_err(PAW_EINVAL, "invalid alias \"%s\": use 1-64 chars of [A-Za-z0-9._@/-], "
                   "starting with a letter or digit, no \"..\", not all hex digits", alias);
}

/* 1 if programs/<id> is installed and its files still hash to <id>. */
static int intact(const char *progs, const char *id)
{
    char dir[PAW_PATH_MAX];
    paw_bundle *b = NULL;
    if (!installed(progs, id) || paw_path_fmt(dir, sizeof dir, "%s/%s", progs, id) ||
        paw_bundle_read_dir(dir, &b))
        return 0;
    int ok = !strcmp(b->id, id);
    paw_bundle_free(b);
    return ok;
}

/* Moves aside and removes a programs/<id> directory that is not an intact
 * install (a member missing, edited or swapped), so that installing the
 * program again repairs it.  Called with <id>'s lock held, so no installer
 * is writing it; a reader that has it open keeps its open files. */
static int clear_damaged(const char *progs, const char *id)
{
    char dest[PAW_PATH_MAX], aside[PAW_PATH_MAX];
    struct stat st;
    int rc = paw_path_fmt(dest, sizeof dest, "%s/%s", progs, id);
    if (rc || lstat(dest, &st) || !S_ISDIR(st.st_mode)) return rc;  /* nothing there, or not ours */
    rc = paw_path_fmt(aside, sizeof aside, "%s/.staging", progs);
    if (!rc) rc = paw_mkdir_p(aside);
    if (!rc) rc = paw_path_fmt(aside, sizeof aside, "%s/.staging/%s-damaged-%ld", progs, id, (long)getpid());
    if (rc) return rc;
    remove_flat_dir(aside);  /* a leftover of an earlier process with our pid */
    if (rename(dest, aside))
        return paw_err(PAW_EIO, "program cache: cannot move the damaged %s aside: %s", dest, strerror(errno));
    remove_flat_dir(aside);
    return PAW_OK;
}

int paw_program_install(paw_bundle *b, const char *alias, char id_out[PAW_PROGRAM_ID_LEN + 1])
{
    if (!b) return paw_err(PAW_EINVAL, "paw_program_install: NULL bundle");
    /* Everything that can be refused is refused before the cache changes. */
    if (alias && !alias_valid(alias)) return alias_invalid(alias);
    char *meta = NULL;
    size_t meta_len = 0;
    char progs[PAW_PATH_MAX];
    int rc = paw_bundle_prepare(b, &meta, &meta_len);
    if (!rc) rc = paw_program_check_adapter(b);
    if (!rc) rc = programs_dir(progs, sizeof progs, 1);
    if (!rc) sweep_staging(progs);
    int fd = -1;
    if (!rc) rc = lock_take(progs, b->id, &fd);
    if (!rc && !intact(progs, b->id)) rc = clear_damaged(progs, b->id);
    if (!rc && !installed(progs, b->id)) rc = stage_and_rename(progs, b, meta, meta_len);
    lock_drop(fd);
    free(meta);
    if (!rc && alias) rc = paw_program_alias_set(alias, b->id);
    if (!rc && id_out) memcpy(id_out, b->id, PAW_PROGRAM_ID_LEN + 1);
    return rc ? paw_err_wrap(rc, "installing program") : PAW_OK;
}

int paw_program_install_file(const char *path, const char *alias, char id_out[PAW_PROGRAM_ID_LEN + 1])
{
    paw_bundle *b;
    int rc = paw_bundle_read(path, &b);
    if (rc) return rc;
    rc = paw_program_install(b, alias, id_out);
    paw_bundle_free(b);
    return rc;
}

/* ------------------------------------------------------------- aliases */

static int alias_valid(const char *a)
{
    size_t n = strlen(a);
    if (n < 1 || n > 64 || strstr(a, "..") || is_hex(a)) return 0;
    if (!((a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z') || (a[0] >= '0' && a[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

/* Loads aliases.json (an empty object if absent).  A corrupt file is an
 * error, not an empty map: silently rewriting it would drop every alias. */
static int aliases_load(const char *progs, json_t **out)
{
    char p[PAW_PATH_MAX];
    uint8_t *buf;
    size_t len;
    int rc = paw_path_fmt(p, sizeof p, "%s/%s", progs, ALIASES_FILE);
    if (!rc) rc = paw_read_file_capped(p, PAW_BUNDLE_MAX_TEXT, &buf, &len);
    if (rc == PAW_ENOTFOUND) {
        *out = json_object();
        return *out ? PAW_OK : paw_err(PAW_ENOMEM, "out of memory");
    }
    if (rc) return rc;
    json_error_t je;
    json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    int ok = o && json_is_object(o);
    const char *k;
    json_t *v;
    if (ok) json_object_foreach(o, k, v) ok &= json_is_string(v) && is_id(json_string_value(v));
    if (!ok) {
        json_decref(o);
        return paw_err(PAW_EFORMAT, "program cache: %s is corrupt (expected {\"alias\": \"<id>\"}); "
                       "fix or delete it", p);
    }
    *out = o;
    return PAW_OK;
}

/* Full ID or unique prefix -> installed ID.  Prefixes shorter than
 * MIN_PREFIX are refused: they become ambiguous as soon as a cache grows. */
static int find_installed(const char *progs, const char *arg, char id[PAW_PROGRAM_ID_LEN + 1])
{
    size_t n = strlen(arg);
    if (n < MIN_PREFIX || n > PAW_PROGRAM_ID_LEN || !is_hex(arg))
        return paw_err(PAW_ENOTFOUND, "no installed program matches \"%s\"", arg);
    if (n == PAW_PROGRAM_ID_LEN) {
        if (!installed(progs, arg)) return paw_err(PAW_ENOTFOUND, "program %s is not installed", arg);
        memcpy(id, arg, PAW_PROGRAM_ID_LEN + 1);
        return PAW_OK;
    }
    DIR *d = opendir(progs);
    if (!d) return paw_err(PAW_ENOTFOUND, "no installed program matches \"%s\"", arg);
    int count = 0;
    char list[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_id(e->d_name) || strncmp(e->d_name, arg, n) || !installed(progs, e->d_name)) continue;
        if (count++ == 0) memcpy(id, e->d_name, PAW_PROGRAM_ID_LEN + 1);
        size_t l = strlen(list);
        if (l + PAW_PROGRAM_ID_LEN + 3 < sizeof list) {  /* d_name is an ID here */
            if (l) { memcpy(list + l, ", ", 2); l += 2; }
            memcpy(list + l, e->d_name, PAW_PROGRAM_ID_LEN + 1);
        }
    }
    closedir(d);
    if (count == 0) return paw_err(PAW_ENOTFOUND, "no installed program matches \"%s\"", arg);
    if (count > 1)
        return paw_err(PAW_EINVAL, "\"%s\" is ambiguous: %d installed programs match (%s)", arg, count,
                       list);
    return PAW_OK;
}

int paw_program_alias_set(const char *alias, const char *id)
{
    if (!alias) return paw_err(PAW_EINVAL, "paw_program_alias_set: NULL alias");
    if (!alias_valid(alias)) return alias_invalid(alias);
    char progs[PAW_PATH_MAX], full[PAW_PROGRAM_ID_LEN + 1], p[PAW_PATH_MAX];
    int rc = programs_dir(progs, sizeof progs, 1);
    if (!rc && id) rc = find_installed(progs, id, full);
    if (!rc) rc = paw_path_fmt(p, sizeof p, "%s/%s", progs, ALIASES_FILE);
    if (rc) return rc;
    int fd = -1;
    json_t *o = NULL;
    if ((rc = lock_take(progs, "aliases", &fd))) return rc;
    rc = aliases_load(progs, &o);
    if (!rc && id && json_object_set_new(o, alias, json_string(full)))
        rc = paw_err(PAW_ENOMEM, "out of memory");
    if (!rc && !id && json_object_del(o, alias))
        rc = paw_err(PAW_ENOTFOUND, "no alias \"%s\"", alias);
    if (!rc) {
        char *s = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
        if (!s) rc = paw_err(PAW_ENOMEM, "out of memory");
        else {
            size_t n = strlen(s);
            s[n] = '\n';  /* json_dumps's NUL becomes the file's last newline */
            rc = paw_write_file_atomic(p, s, n + 1);
            free(s);
        }
    }
    json_decref(o);
    lock_drop(fd);
    return rc;
}

/* ------------------------------------------------------------ resolving */

/* files: try arg as a .paw path first (the CLI); 0: the cache only. */
static int resolve(const char *arg, paw_program_ref *out, int files)
{
    if (!arg || !out) return paw_err(PAW_EINVAL, "paw_program_resolve: NULL argument");
    memset(out, 0, sizeof *out);
    if (!arg[0]) return paw_err(PAW_EINVAL, "empty program argument");
    char progs[PAW_PATH_MAX];
    int have_cache = !programs_dir(progs, sizeof progs, 0);
    if (have_cache) sweep_staging(progs);  /* debris of killed installs */
    struct stat st;
    if (files && !stat(arg, &st)) {
        if (!S_ISREG(st.st_mode))
            return paw_err(PAW_EINVAL, "%s is not a .paw file (%s)", arg,
                           S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file");
        paw_bundle *b;
        int rc = paw_bundle_read(arg, &b);
        if (rc) return rc;
        memcpy(out->id, b->id, sizeof out->id);
        paw_bundle_free(b);
        out->is_file = 1;
        if ((rc = paw_path_fmt(out->file, sizeof out->file, "%s", arg))) return rc;
        if (have_cache && installed(progs, out->id))
            return paw_path_fmt(out->dir, sizeof out->dir, "%s/%s", progs, out->id);
        return PAW_OK;
    }
    if (!have_cache) return paw_err(PAW_ENOTFOUND, "no .paw file or program cache for \"%s\"", arg);

    json_t *aliases = NULL;
    int rc = aliases_load(progs, &aliases);
    if (rc) return rc;
    json_t *v = json_object_get(aliases, arg);
    if (v) {
        memcpy(out->id, json_string_value(v), PAW_PROGRAM_ID_LEN + 1);  /* is_id checked */
        json_decref(aliases);
        if (!installed(progs, out->id))
            return paw_err(PAW_ENOTFOUND, "alias \"%s\" points at %s, which is not installed", arg,
                           out->id);
    } else {
        json_decref(aliases);
        rc = find_installed(progs, arg, out->id);
        if (rc == PAW_ENOTFOUND)
            return paw_err(PAW_ENOTFOUND, "\"%s\" is neither a .paw file, an alias, nor the ID "
                           "(or a unique prefix of >= %d chars) of an installed program", arg,
                           MIN_PREFIX);
        if (rc) return rc;
    }
    return paw_path_fmt(out->dir, sizeof out->dir, "%s/%s", progs, out->id);
}

int paw_program_resolve_local(const char *arg, paw_program_ref *out) { return resolve(arg, out, 1); }

/* Reads an installed program and checks that its files still hash to the ID
 * they are filed under: a swapped adapter.gguf or an edited template would
 * otherwise run as the program the user asked for. */
static int read_installed(const char *dir, const char *id, paw_bundle **out)
{
    paw_bundle *b;
    int rc = paw_bundle_read_dir(dir, &b);
    if (rc) return paw_err_wrap(rc, "program %s is damaged; reinstall it with `paw install FILE.paw`", id);
    if (strcmp(b->id, id)) {
        rc = paw_err(PAW_EHASH, "program %s: its files in %s hash to %s, not to the ID they are "
                     "installed under (modified or damaged); reinstall it with `paw install FILE.paw` "
                     "or remove the directory", id, dir, b->id);
        paw_bundle_free(b);
        return rc;
    }
    *out = b;
    return PAW_OK;
}

int paw_program_read_ref(const paw_program_ref *ref, paw_bundle **out)
{
    *out = NULL;
    return ref->dir[0] ? read_installed(ref->dir, ref->id, out) : paw_bundle_read(ref->file, out);
}

int paw_program_resolve(const char *arg, paw_program_ref *out)
{
    int rc = paw_program_resolve_local(arg, out);
    if (rc != PAW_ENOTFOUND || !paw_hub_ref_shape(arg)) return rc;
    /* A hub reference fetched before (src/net/hub.c): its maps, no network. */
    char progs[PAW_PATH_MAX], id[PAW_PROGRAM_ID_LEN + 1], msg[1024];
    snprintf(msg, sizeof msg, "%s", paw_last_error());
    int hrc = paw_hub_lookup_cached(arg, id);
    if (hrc == PAW_ENOTFOUND) return paw_err(rc, "%s", msg);   /* the local lookup's message stands */
    if (hrc || (hrc = programs_dir(progs, sizeof progs, 0))) return hrc;
    memcpy(out->id, id, sizeof out->id);
    return paw_path_fmt(out->dir, sizeof out->dir, "%s/%s", progs, id);
}

int paw_program_resolve_installed(const char *name, paw_program_ref *out)
{
    return resolve(name, out, 0);
}

int paw_bundle_load(const char *arg, paw_bundle **out)
{
    if (!out) return paw_err(PAW_EINVAL, "paw_bundle_load: NULL argument");
    *out = NULL;
    paw_program_ref ref;
    int rc = paw_program_resolve(arg, &ref);
    if (rc) return rc;
    return paw_program_read_ref(&ref, out);
}

/* -------------------------------------------------------------- listing */

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const paw_program_info *)a)->id, ((const paw_program_info *)b)->id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *first_line(const char *s)
{
    if (!s) return strdup("");
    size_t n = strcspn(s, "\r\n");
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

/* Fills everything but id from the directory; best effort for a damaged
 * entry (it is still listed, so the user can see and remove it). */
static int fill_info(const char *progs, json_t *aliases, paw_program_info *info)
{
    char dir[PAW_PATH_MAX], p[PAW_PATH_MAX];
    int rc = paw_path_fmt(dir, sizeof dir, "%s/%s", progs, info->id);
    if (rc) return rc;
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    while (d && (e = readdir(d)))
        if (!paw_path_fmt(p, sizeof p, "%s/%s", dir, e->d_name) && !lstat(p, &st) && S_ISREG(st.st_mode))
            info->size += (uint64_t)st.st_size;
    if (d) closedir(d);

    paw_program_meta m = {0};
    uint8_t *buf = NULL;
    size_t len;
    int ok = !paw_path_fmt(p, sizeof p, "%s/%s", dir, PAW_MEMBER_META) &&
             !paw_read_file_capped(p, PAW_BUNDLE_MAX_TEXT, &buf, &len) &&
             !paw_meta_parse((const char *)buf, len, &m);
    free(buf);
    info->program_id = strdup(ok && m.program_id ? m.program_id : "");
    info->spec_line = first_line(ok ? m.spec : NULL);
    info->interpreter = strdup(ok && m.interpreter ? m.interpreter : "");
    paw_program_meta_clear(&m);

    const char *names[256];
    size_t n = 0, total = 1;
    const char *k;
    json_t *v;
    json_object_foreach(aliases, k, v)
        if (n < PAW_ARRAY_LEN(names) && !strcmp(json_string_value(v), info->id)) names[n++] = k;
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) total += strlen(names[i]) + 1;
    info->aliases = malloc(total);
    if (info->aliases) {
        info->aliases[0] = 0;
        for (size_t i = 0; i < n; i++) {
            if (i) strcat(info->aliases, ",");
            strcat(info->aliases, names[i]);
        }
    }
    if (!info->program_id || !info->spec_line || !info->interpreter || !info->aliases)
        return paw_err(PAW_ENOMEM, "out of memory");
    return PAW_OK;
}

void paw_program_list_free(paw_program_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].aliases);
        free(list[i].program_id);
        free(list[i].spec_line);
        free(list[i].interpreter);
    }
    free(list);
}

int paw_program_list(paw_program_info **out, size_t *n_out)
{
    if (!out || !n_out) return paw_err(PAW_EINVAL, "paw_program_list: NULL argument");
    *out = NULL;
    *n_out = 0;
    char progs[PAW_PATH_MAX];
    int rc = programs_dir(progs, sizeof progs, 0);
    if (rc) return rc;
    DIR *d = opendir(progs);
    if (!d) return errno == ENOENT ? PAW_OK : paw_err(PAW_EIO, "%s: %s", progs, strerror(errno));
    json_t *aliases = NULL;
    if ((rc = aliases_load(progs, &aliases))) { closedir(d); return rc; }
    paw_program_info *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!is_id(e->d_name) || !installed(progs, e->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            paw_program_info *t = realloc(list, nc * sizeof *t);
            if (!t) { rc = paw_err(PAW_ENOMEM, "out of memory"); break; }
            list = t;
            cap = nc;
        }
        memset(&list[n], 0, sizeof list[n]);
        memcpy(list[n].id, e->d_name, PAW_PROGRAM_ID_LEN + 1);
        rc = fill_info(progs, aliases, &list[n++]);
    }
    closedir(d);
    json_decref(aliases);
    if (rc) { paw_program_list_free(list, n); return rc; }
    if (n) qsort(list, n, sizeof *list, cmp_info);
    *out = list;
    *n_out = n;
    return PAW_OK;
}
