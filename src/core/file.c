/* file.c — opening files that come from users without hanging on them.
 *
 * open(2) of a FIFO for reading blocks until a writer appears, and a device
 * node can block or stream forever; a model, bundle, adapter or prefix-KV path
 * that names one must be refused, not waited on.  So files are opened
 * O_NONBLOCK (which never blocks in open), checked with fstat, and only then
 * switched back to blocking reads.  paw_read_file reads a whole small file
 * (a template, a prompt) the same way. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"

int paw_open_regular(const char *path, int extra_flags, int *fd_out, struct stat *st_out)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | extra_flags);
    if (fd < 0)
        return paw_err(errno == ENOENT ? PAW_ENOTFOUND : PAW_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return paw_err(PAW_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return paw_err(PAW_EIO, "%s: not a regular file (%s)", path,
                       S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
        int e = errno;
        close(fd);
        return paw_err(PAW_EIO, "%s: fcntl: %s", path, strerror(e));
    }
    *fd_out = fd;
    if (st_out) *st_out = st;
    return PAW_OK;
}

int paw_read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
    if (!path || !out) return paw_err(PAW_EINVAL, "read_file: NULL argument");
    *out = NULL;
    if (len) *len = 0;
    int fd;
    struct stat st;
    int rc = paw_open_regular(path, 0, &fd, &st);
    if (rc) return rc;
    /* A size limit keeps a wrong path (a model given as a template) from
     * filling memory. */
    if (max_bytes && (uint64_t)st.st_size > max_bytes)
        rc = paw_err(PAW_ERANGE, "%s is %lld bytes, over the limit of %zu", path, (long long)st.st_size, max_bytes);
    char *buf = rc ? NULL : malloc((size_t)st.st_size + 1);
    if (!rc && !buf) rc = paw_err(PAW_ENOMEM, "%s: out of memory", path);
    size_t got = 0;
    while (!rc && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = paw_err(PAW_EIO, "%s: %s", path, strerror(errno));
        else if (r == 0) break;   /* the file shrank while being read */
        else got += (size_t)r;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[got] = 0;
    *out = buf;
    if (len) *len = got;
    return PAW_OK;
}
