/* follow.c — `tail -F`-style following of files by name (see follow.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "follow.h"

enum { READ_CHUNK = 64 * 1024 };

typedef struct {
    char   *path;
    int     fd;            /* -1: not open (missing, unreadable)            */
    dev_t   dev;
    ino_t   ino;
    off_t   offset;        /* bytes of the open file consumed               */
    struct timespec mtime; /* the file's mtime when it was mtime_at long    */
    off_t   mtime_at;      /* -1: none recorded for the open file           */
    char   *buf;           /* the unfinished line, at most 2 * max_line     */
    size_t  len;
    int     capped;        /* the unfinished line lost its head             */
    int     told_missing;  /* "cannot open" said once per absence           */
    int     started;       /* seen at least one poll (first open = at start) */
} follow_file;

struct cli_follow {
    follow_file *files;
    size_t n, max_line;
    int from_start;
    cli_follow_line_fn on_line;
    cli_follow_note_fn on_note;
    void *ud;
    char *out;             /* scratch for the sanitised line                 */
    size_t delivered;
};

cli_follow *cli_follow_new(const char *const *paths, size_t n, size_t max_line, int from_start,
                           cli_follow_line_fn on_line, cli_follow_note_fn on_note, void *ud)
{
    if (max_line < 16) max_line = 16;
    cli_follow *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->files = calloc(n ? n : 1, sizeof *f->files);
    /* A sanitised line grows at most 3x (each bad byte -> 3-byte U+FFFD). */
    f->out = malloc(3 * max_line + 1);
    if (!f->files || !f->out) { cli_follow_free(f); return NULL; }
    f->n = n;
    f->max_line = max_line;
    f->from_start = from_start;
    f->on_line = on_line;
    f->on_note = on_note;
    f->ud = ud;
    for (size_t i = 0; i < n; i++) {
        f->files[i].fd = -1;
        f->files[i].path = strdup(paths[i]);
        f->files[i].buf = malloc(2 * max_line);
        if (!f->files[i].path || !f->files[i].buf) { cli_follow_free(f); return NULL; }
    }
    return f;
}

void cli_follow_free(cli_follow *f)
{
    if (!f) return;
    for (size_t i = 0; f->files && i < f->n; i++) {
        if (f->files[i].fd >= 0) close(f->files[i].fd);
        free(f->files[i].path);
        free(f->files[i].buf);
    }
    free(f->files);
    free(f->out);
    free(f);
}

static void note(cli_follow *f, follow_file *ff, const char *what)
{
    if (f->on_note) f->on_note(f->ud, ff->path, what);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid there. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Delivers ff's unfinished line as a complete one and empties it. */
static void deliver(cli_follow *f, follow_file *ff)
{
    const unsigned char *s = (const unsigned char *)ff->buf;
    size_t n = ff->len, start = 0;
    if (n && s[n - 1] == '\r') n--;
    int capped = ff->capped;
    if (n > f->max_line) {
        start = n - f->max_line;
        capped = 1;
    }
    /* A cut head starts at a character, not in the middle of one. */
    if (capped)
        for (size_t k = 0; k < 3 && start < n && (s[start] & 0xC0) == 0x80; k++) start++;
    size_t o = 0;
    for (size_t i = start; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (!l) {
            memcpy(f->out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(f->out + o, s + i, l);
            if (l == 1 && s[i] == 0) f->out[o] = ' ';
            o += l;
            i += l;
        }
    }
    f->out[o] = 0;
    ff->len = 0;
    ff->capped = 0;
    f->delivered++;
    f->on_line(f->ud, ff->path, f->out, o, capped);
}

/* Appends bytes of the unfinished line, keeping at most its last max_line
 * bytes once it outgrows 2 * max_line (so the copy cost stays linear). */
static void append(cli_follow *f, follow_file *ff, const char *p, size_t n)
{
    size_t cap = 2 * f->max_line;
    if (n >= f->max_line) {
        memcpy(ff->buf, p + n - f->max_line, f->max_line);
        ff->capped |= ff->len > 0 || n > f->max_line;
        ff->len = f->max_line;
        return;
    }
    if (ff->len + n > cap) {
        size_t keep = f->max_line - n;
        memmove(ff->buf, ff->buf + ff->len - keep, keep);
        ff->len = keep;
        ff->capped = 1;
    }
    memcpy(ff->buf + ff->len, p, n);
    ff->len += n;
}

/* Reads ff's open file to its current end, delivering complete lines. */
static void drain(cli_follow *f, follow_file *ff)
{
    char chunk[READ_CHUNK];
    for (;;) {
        ssize_t r = read(ff->fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r < 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "read failed: %s", strerror(errno));
                note(f, ff, msg);
            }
            return;
        }
        ff->offset += r;
        size_t i = 0;
        while (i < (size_t)r) {
            char *nl = memchr(chunk + i, '\n', (size_t)r - i);
            size_t seg = nl ? (size_t)(nl - (chunk + i)) : (size_t)r - i;
            append(f, ff, chunk + i, seg);
            i += seg;
            if (nl) {
                deliver(f, ff);
                i++;
            }
        }
    }
}

/* Opens ff->path; at_start: a file there when watching began is read from
 * its end (unless from_start).  Returns 1 if it is now open. */
static int open_file(cli_follow *f, follow_file *ff, int at_start)
{
    int fd = open(ff->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) || S_ISDIR(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EISDIR;
    }
    if (fd < 0) {
        if (!ff->told_missing) {
            char msg[200];
            snprintf(msg, sizeof msg, "cannot open: %s; following the name until it can be read",
                     strerror(errno));
            note(f, ff, msg);
            ff->told_missing = 1;
        }
        return 0;
    }
    if (ff->told_missing) note(f, ff, "has appeared; reading it from the start");
    ff->told_missing = 0;
    ff->fd = fd;
    ff->dev = st.st_dev;
    ff->ino = st.st_ino;
    ff->offset = 0;
    ff->mtime_at = -1;
    ff->len = 0;
    ff->capped = 0;
    if (at_start && !f->from_start && S_ISREG(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end > 0) ff->offset = end;
        else lseek(fd, 0, SEEK_SET);
    }
    return 1;
}

static void close_file(follow_file *ff)
{
    if (ff->fd >= 0) close(ff->fd);
    ff->fd = -1;
}

static void poll_file(cli_follow *f, follow_file *ff, int at_eof)
{
    int at_start = !ff->started;
    ff->started = 1;
    if (ff->fd < 0 && !open_file(f, ff, at_start)) return;
    drain(f, ff);
    struct stat by_name, open_st;
    int named = stat(ff->path, &by_name) == 0;
    if (!named || by_name.st_dev != ff->dev || by_name.st_ino != ff->ino) {
        /* Rotated or removed: finish the old file, then follow the name. */
        drain(f, ff);
        if (ff->len) deliver(f, ff);
        close_file(ff);
        note(f, ff, named ? "has been replaced; following the new file"
                          : "has been removed or renamed; waiting for a new file");
        if (!named) {
            ff->told_missing = 1;
            return;
        }
        if (open_file(f, ff, 0)) drain(f, ff);
    } else if (fstat(ff->fd, &open_st) == 0 && S_ISREG(open_st.st_mode) &&
               (open_st.st_size < ff->offset ||
                (open_st.st_size == ff->offset && ff->offset == ff->mtime_at && ff->offset > 0 &&
                 (open_st.st_mtim.tv_sec != ff->mtime.tv_sec ||
                  open_st.st_mtim.tv_nsec != ff->mtime.tv_nsec)))) {
        /* Shorter than what was read, or as long but rewritten since (an
         * append would have made it longer): truncated and written again. */
        note(f, ff, "file truncated; reading it from the start");
        lseek(ff->fd, 0, SEEK_SET);
        ff->offset = 0;
        ff->mtime_at = -1;
        ff->len = 0;
        ff->capped = 0;
        drain(f, ff);
    }
    if (ff->fd >= 0 && fstat(ff->fd, &open_st) == 0 && open_st.st_size == ff->offset) {
        ff->mtime = open_st.st_mtim;
        ff->mtime_at = ff->offset;
    }
    if (at_eof && ff->len) deliver(f, ff);
}

size_t cli_follow_poll(cli_follow *f, int at_eof)
{
    size_t before = f->delivered;
    for (size_t i = 0; i < f->n; i++) poll_file(f, &f->files[i], at_eof);
    return f->delivered - before;
}
