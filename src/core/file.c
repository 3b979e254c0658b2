/*
 * file.c — paw_read_file: a whole (small) file into memory.
 *
 * Prompts, templates and example files come from users, so the file is
 * opened without blocking and must be a regular file: a FIFO or a device
 * given by mistake (or on purpose) is refused at once instead of hanging the
 * reader, and a size limit keeps a wrong path from filling memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/common.h"

int paw_read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
    if (!path || !out) return paw_err(PAW_EINVAL, "read_file: NULL argument");
    *out = NULL;
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return paw_err(errno == ENOENT ? PAW_ENOTFOUND : PAW_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = PAW_OK;
    if (fstat(fd, &st) != 0) rc = paw_err(PAW_EIO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode)) rc = paw_err(PAW_EINVAL, "%s is a directory, not a file", path);
    else if (!S_ISREG(st.st_mode)) rc = paw_err(PAW_EINVAL, "%s is not a regular file", path);
    else if (max_bytes && (uint64_t)st.st_size > max_bytes)
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
