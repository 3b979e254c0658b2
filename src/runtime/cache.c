/* cache.c — where models live on disk: the cache root, <cache>/models, the
 * mapping from a model name to its file, and the fsync+rename step that makes
 * every install atomic (a reader sees the old file, or the whole new one). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "runtime/fetch.h"

int paw_path_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || cap == 0) return paw_err(PAW_EINVAL, "path: no buffer");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0;
        return paw_err(PAW_ERANGE, "path: longer than %zu bytes", cap - 1);
    }
    return PAW_OK;
}

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int paw_cache_dir(char *buf, size_t cap)
{
    const char *v = nonempty_env("PAW_CACHE_DIR");
    if (v) return paw_path_fmt(buf, cap, "%s", v);
    /* The XDG spec says a relative $XDG_CACHE_HOME is invalid and must be
     * ignored; honouring it would put the cache wherever the user happens to
     * be standing. */
    v = nonempty_env("XDG_CACHE_HOME");
    if (v && v[0] == '/') return paw_path_fmt(buf, cap, "%s/paw", v);
    v = nonempty_env("HOME");
    if (!v) {
        struct passwd *pw = getpwuid(getuid());
        v = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    if (!v) {
        if (buf && cap) buf[0] = 0;
        return paw_err(PAW_ENOTFOUND, "cache: no home directory; set PAW_CACHE_DIR");
    }
    return paw_path_fmt(buf, cap, "%s/.cache/paw", v);
}

int paw_mkdir_p(const char *path)
{
    char tmp[PAW_PATH_MAX];
    int rc = paw_path_fmt(tmp, sizeof tmp, "%s", path);
    if (rc) return rc;
    /* Create each prefix in turn; EEXIST is fine, the final stat decides. */
    for (char *p = tmp + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return paw_err(PAW_EIO, "cache: cannot create %s: %s", tmp, strerror(errno));
            *p = c;
            if (c == 0) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return paw_err(PAW_EIO, "cache: %s is not a directory", path);
    return PAW_OK;
}

int paw_models_dir(char *buf, size_t cap, int create)
{
    char root[PAW_PATH_MAX];
    int rc = paw_cache_dir(root, sizeof root);
    if (rc) return rc;
    if ((rc = paw_path_fmt(buf, cap, "%s/models", root))) return rc;
    return create ? paw_mkdir_p(buf) : PAW_OK;
}

int paw_model_cache_path(const char *name, char *buf, size_t cap)
{
    char dir[PAW_PATH_MAX];
    int rc = paw_models_dir(dir, sizeof dir, 0);
    if (rc) return rc;
    return paw_path_fmt(buf, cap, "%s/%s.gguf", dir, name);
}

static int fsync_parent_dir(const char *path)
{
    char dir[PAW_PATH_MAX];
    int rc = paw_path_fmt(dir, sizeof dir, "%s", path);
    if (rc) return rc;
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return paw_err(PAW_EIO, "cache: cannot open %s: %s", dir, strerror(errno));
    /* Some filesystems refuse fsync on directories (EINVAL); the rename is
     * still done, so only real I/O errors count. */
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL && e != EROFS)
        return paw_err(PAW_EIO, "cache: fsync %s: %s", dir, strerror(e));
    return PAW_OK;
}

int paw_install_file(int fd, const char *tmp, const char *dest)
{
    if (fsync(fd) != 0)
        return paw_err(PAW_EIO, "cache: fsync %s: %s", tmp, strerror(errno));
    if (rename(tmp, dest) != 0)
        return paw_err(PAW_EIO, "cache: rename %s -> %s: %s", tmp, dest, strerror(errno));
    return fsync_parent_dir(dest);
}

int paw_cache_check(const char *name, int check_hash, char *buf, size_t cap)
{
    if (!name || !buf) return paw_err(PAW_EINVAL, "model check: NULL argument");
    const paw_known_model *m = paw_known_model_find(name);
    if (!m) {
        if (cap) buf[0] = 0;
        return paw_err(PAW_ENOTFOUND, "unknown model '%s'", name);
    }
    int rc = paw_model_cache_path(name, buf, cap);
    if (rc) return rc;
    struct stat st;
    if (stat(buf, &st) != 0) {
        if (errno == ENOENT)
            return paw_err(PAW_ENOTFOUND, "model '%s' is not downloaded; run `paw pull %s`",
                           name, name);
        return paw_err(PAW_EIO, "cannot stat %s: %s", buf, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return paw_err(PAW_EHASH, "%s is not a regular file", buf);
    if ((uint64_t)st.st_size != m->size)
        return paw_err(PAW_EHASH, "%s has %lld bytes, expected %llu; run `paw pull %s`",
                       buf, (long long)st.st_size, (unsigned long long)m->size, name);
    if (!check_hash) return PAW_OK;
    char hex[65];
    if ((rc = paw_sha256_file_memo(buf, check_hash == 2, hex))) return rc;
    if (!paw_sha256_hex_equal(hex, m->sha256))
        return paw_err(PAW_EHASH, "%s: sha256 %s, expected %s (damaged or modified); "
                       "`paw pull %s` replaces it", buf, hex, m->sha256, name);
    return PAW_OK;
}

int paw_model_resolve(const char *name_or_path, char *buf, size_t cap)
{
    if (!name_or_path || !*name_or_path || !buf)
        return paw_err(PAW_EINVAL, "model: empty model argument");
    struct stat st;
    /* A file the user points at wins over a name, so a local file called
     * "gpt2" is never shadowed by the cache. */
    if (stat(name_or_path, &st) == 0 && !S_ISDIR(st.st_mode))
        return paw_path_fmt(buf, cap, "%s", name_or_path);
    if (stat(name_or_path, &st) == 0 && !paw_known_model_find(name_or_path)) {
        if (cap) buf[0] = 0;
        return paw_err(PAW_EINVAL, "model: %s is a directory, not a GGUF file", name_or_path);
    }
    if (paw_known_model_find(name_or_path)) {
        int rc = paw_model_cache_path(name_or_path, buf, cap);
        if (rc) return rc;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) return PAW_OK;
        return paw_err(PAW_ENOTFOUND, "model '%s' is not downloaded; run `paw pull %s`",
                       name_or_path, name_or_path);
    }
    if (cap) buf[0] = 0;
    if (strchr(name_or_path, '/') || strstr(name_or_path, ".gguf"))
        return paw_err(PAW_ENOTFOUND, "model: no such file: %s", name_or_path);
    char known[256] = "";
    for (int i = 0; paw_known_model_at(i); i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", paw_known_model_at(i)->name);
    }
    return paw_err(PAW_ENOTFOUND, "model: '%s' is neither a file nor a known model (%s)",
                   name_or_path, known);
}
