/* file.c — opening files that come from users without hanging on them.
 *
 * open(2) of a FIFO for reading blocks until a writer appears, and a device
 * node can block or stream forever; a model, bundle, adapter or prefix-KV path
 * that names one must be refused, not waited on.  So files are opened
 * O_NONBLOCK (which never blocks in open), checked with fstat, and only then
 * switched back to blocking reads. */
#include <errno.h>
#include <fcntl.h>
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
