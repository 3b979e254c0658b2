/* hashmemo.c — SHA-256 of model files, remembered by file identity.
 *
 * Hashing a 600 MB GGUF costs about a second, so its digest is kept in
 * <cache>/models/.sha256/<dev>-<ino> together with the identity it was
 * computed for: size, mtime and ctime (nanoseconds).  Any write to the file
 * changes mtime and ctime (ctime cannot be set back by a user), so a same-size
 * edit of a tensor's middle is hashed again instead of being trusted.  One
 * memo file per inode: a re-hash replaces it, the directory does not grow. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"
#include "runtime/bundle.h"
#include "runtime/fetch.h"

void paw_file_id_from_stat(const struct stat *st, paw_file_id *id)
{
    memset(id, 0, sizeof *id);
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_s = (int64_t)st->st_mtim.tv_sec;
    id->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    id->ctime_s = (int64_t)st->st_ctim.tv_sec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
    id->valid = 1;
}

static int memo_path(const paw_file_id *id, char *buf, size_t cap, int create)
{
    char dir[PAW_PATH_MAX];
    int rc = paw_models_dir(dir, sizeof dir, create);
    if (!rc) rc = paw_path_fmt(buf, cap, "%s/" PAW_SHA256_MEMO_DIR, dir);
    if (!rc && create) rc = paw_mkdir_p(buf);
    if (!rc) rc = paw_path_fmt(buf, cap, "%s/" PAW_SHA256_MEMO_DIR "/%" PRIu64 "-%" PRIu64, dir, id->dev, id->ino);
    return rc;
}

static void memo_line(const paw_file_id *id, const char *hex, char *line, size_t cap)
{
    snprintf(line, cap, "%" PRIu64 " %" PRId64 ".%09" PRId64 " %" PRId64 ".%09" PRId64 " %s\n", id->size,
             id->mtime_s, id->mtime_ns, id->ctime_s, id->ctime_ns, hex ? hex : "");
}

int paw_sha256_memo_get(const paw_file_id *id, char hex[65])
{
    char p[PAW_PATH_MAX], want[160];
    uint8_t *txt = NULL;
    size_t len = 0;
    if (!id->valid || memo_path(id, p, sizeof p, 0) || paw_read_file_capped(p, 256, &txt, &len)) return 0;
    memo_line(id, NULL, want, sizeof want);
    size_t wl = strlen(want) - 1;  /* the identity part, up to the digest */
    int hit = len == wl + 65 && !memcmp(txt, want, wl) && txt[len - 1] == '\n';
    if (hit) {
        memcpy(hex, txt + wl, 64);
        hex[64] = 0;
        hit = paw_sha256_hex_valid(hex);
    }
    free(txt);
    return hit;
}

void paw_sha256_memo_put(const paw_file_id *id, const char hex[65])
{
    char p[PAW_PATH_MAX], line[160];
    if (!id->valid || memo_path(id, p, sizeof p, 1)) return;
    memo_line(id, hex, line, sizeof line);
    /* best effort: a read-only cache only costs the next check a rehash */
    paw_write_file_atomic(p, line, strlen(line));
}

int paw_sha256_file_memo(const char *path, int fresh, char hex[65])
{
    int fd;
    struct stat st, after;
    int rc = paw_open_regular(path, 0, &fd, &st);
    if (rc) return rc;
    paw_file_id id;
    paw_file_id_from_stat(&st, &id);
    if (!fresh && paw_sha256_memo_get(&id, hex)) { close(fd); return PAW_OK; }
    paw_sha256 *h = paw_sha256_new();
    if (!h) { close(fd); return paw_err(PAW_ENOMEM, "sha256: out of memory"); }
    rc = paw_sha256_fd_prefix(h, fd, id.size);
    if (!rc) rc = paw_sha256_final_hex(h, hex);
    paw_sha256_free(h);
    /* A file written while it was hashed gets no memo: the digest may mix
     * old and new bytes. */
    int same = !fstat(fd, &after) && after.st_mtim.tv_sec == st.st_mtim.tv_sec &&
               after.st_mtim.tv_nsec == st.st_mtim.tv_nsec && after.st_ctim.tv_sec == st.st_ctim.tv_sec &&
               after.st_ctim.tv_nsec == st.st_ctim.tv_nsec && after.st_size == st.st_size;
    close(fd);
    if (rc) return paw_err_wrap(rc, "%s", path);
    if (same) paw_sha256_memo_put(&id, hex);
    return PAW_OK;
}
