/* download.c — HTTP(S) download into the cache with libcurl.
 *
 * Bytes land in <dest>.part, which survives a failed transfer so that the next
 * attempt asks for the rest with a Range header instead of starting over (base
 * models are hundreds of MB).  Only a file of the expected size and SHA-256 is
 * renamed to <dest>; a wrong hash deletes the .part, since resuming from bad
 * bytes could never succeed.  The .part is flock'ed so two pulls of the same
 * model cannot interleave their writes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>
#include "core/common.h"
#include "runtime/fetch.h"

enum body_mode { BODY_UNDECIDED, BODY_APPEND, BODY_DISCARD };

typedef struct dl_state {
    CURL       *curl;
    const char *url;
    int         fd;
    uint64_t    have;        /* bytes of the .part we asked the server to skip */
    uint64_t    written;     /* bytes appended by this transfer               */
    uint64_t    expected;    /* 0 = unknown                                   */
    paw_sha256 *hash;        /* NULL when no hash is to be checked            */
    int         body;        /* enum body_mode, decided on the first body byte */
    int         err;         /* our own abort reason (a PAW_E* code), or 0    */
    int         have_range;  /* the current response carried Content-Range   */
    uint64_t    range_start;
    uint64_t    range_total; /* the "/N" of Content-Range, 0 if absent or "*" */
    paw_progress_fn progress;
    void       *ud;
} dl_state;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Called once per header line of every response (redirects included), so
 * range state is reset at each status line and only the final response's
 * Content-Range counts. */
static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    dl_state *d = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(line, "HTTP/", 5)) {
        d->have_range = 0;
        d->range_start = 0;
        d->range_total = 0;
        return len;
    }
    static const char key[] = "content-range:";
    size_t k = sizeof key - 1;
    if (len > k && !strncasecmp(line, key, k)) {
        char tmp[128];
        size_t m = PAW_MIN(len - k, sizeof tmp - 1);
        memcpy(tmp, line + k, m);
        tmp[m] = 0;
        const char *p = tmp;
        while (*p == ' ' || *p == '\t') p++;
        if (!strncasecmp(p, "bytes", 5)) {
            p += 5;
            while (*p == ' ') p++;
            if (isdigit((unsigned char)*p)) {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);
                if (*end == '-') { d->have_range = 1; d->range_start = v; }
                const char *slash = strchr(end, '/');
                if (slash && isdigit((unsigned char)slash[1]))
                    d->range_total = strtoull(slash + 1, NULL, 10);
            }
        }
    }
    return len;
}

/* Restarts the .part from zero: the server sent the whole file instead of the
 * range we asked for. */
static int restart_part(dl_state *d)
{
    if (ftruncate(d->fd, 0) != 0)
        return paw_err(PAW_EIO, "download: truncate: %s", strerror(errno));
    d->have = 0;
    d->written = 0;
    return d->hash ? paw_sha256_reset(d->hash) : PAW_OK;
}

/* The server announced a file of another size than the pinned one: fail
 * now rather than after downloading hundreds of MB of the wrong file. */
static int check_announced(dl_state *d, uint64_t total)
{
    if (d->expected && total && total != d->expected)
        return paw_err(PAW_EHASH, "download %s: server offers %" PRIu64 " bytes, expected %"
                       PRIu64, d->url, total, d->expected);
    return PAW_OK;
}

static int decide_body(dl_state *d)
{
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206) {
        if (!d->have_range || d->range_start != d->have)
            return paw_err(PAW_ENET, "download %s: server resumed at the wrong offset "
                           "(asked for %" PRIu64 ")", d->url, d->have);
        d->body = BODY_APPEND;
        return check_announced(d, d->range_total);
    }
    if (code == 200) {
        curl_off_t cl = -1;
        curl_easy_getinfo(d->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        int rc = check_announced(d, cl > 0 ? (uint64_t)cl : 0);
        if (rc) return rc;
        d->body = BODY_APPEND;
        return d->have ? restart_part(d) : PAW_OK;
    }
    if (code == 416 && d->have) {
        /* "Range not satisfiable": we may already hold the whole file; the
         * size and hash checks after the transfer decide. */
        d->body = BODY_DISCARD;
        return PAW_OK;
    }
    return paw_err(PAW_ENET, "download %s: HTTP %ld", d->url, code);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    dl_state *d = ud;
    size_t len = size * n;
    if (d->body == BODY_UNDECIDED) {
        int rc = decide_body(d);
        if (rc) { d->err = rc; return 0; }
    }
    if (d->body == BODY_DISCARD) return len;
    uint64_t end = d->have + d->written + len;
    /* A server (or a man in the middle) streaming forever must not fill the
     * disk: never keep more than the pinned size. */
    if (d->expected && end > d->expected) {
        d->err = paw_err(PAW_EHASH, "download %s: server sent more than the expected "
                         "%" PRIu64 " bytes", d->url, d->expected);
        return 0;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = pwrite(d->fd, data + off, len - off, (off_t)(d->have + d->written + off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            d->err = paw_err(PAW_EIO, "download: write: %s", strerror(errno));
            return 0;
        }
        off += (size_t)w;
    }
    if (d->hash && paw_sha256_update(d->hash, data, len) != PAW_OK) {
        d->err = PAW_EIO;
        return 0;
    }
    d->written += len;
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dlnow; (void)ultotal; (void)ulnow;
    dl_state *d = ud;
    if (d->progress) {
        uint64_t total = d->expected ? d->expected
                       : dltotal > 0 ? d->have + (uint64_t)dltotal : 0;
        if (d->progress(d->ud, d->have + d->written, total)) {
            /* The caller cancelled: curl aborts the transfer; the .part
             * keeps what arrived, so a later call resumes. */
            d->err = paw_err(PAW_ECANCELED, "download %s: cancelled", d->url);
            return 1;
        }
    }
    return 0;
}

/* Runs one GET of d->url asking for bytes d->have.. and appends them. */
static int transfer(dl_state *d)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return paw_err(PAW_ENET, "download: curl init: %s", curl_easy_strerror(curl_init_rc));
    CURL *c = curl_easy_init();
    if (!c) return paw_err(PAW_ENOMEM, "download: curl_easy_init failed");
    d->curl = c;
    char errbuf[CURL_ERROR_SIZE] = "";
    char range[48];
    snprintf(range, sizeof range, "%" PRIu64 "-", d->have);

    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    /* Model files are plain HTTP(S) downloads; refusing file://, ftp:// etc.
     * keeps a URL override from reading arbitrary local files. */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "paw/" PAW_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled connection fails after a minute below 1 KB/s instead of
     * hanging forever; the .part keeps what arrived. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    /* CURLOPT_RANGE rather than RESUME_FROM: curl then hands us a 200 reply
     * to a ranged request instead of failing, and we restart the .part. */
    if (d->have) curl_easy_setopt(c, CURLOPT_RANGE, range);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, d->progress ? 0L : 1L);

    CURLcode cc = curl_easy_perform(c);
    int rc = PAW_OK;
    if (d->err) {
        rc = d->err;
    } else if (cc != CURLE_OK) {
        uint64_t kept = d->have + d->written;
        if (kept)
            rc = paw_err(PAW_ENET, "download %s: %s (%" PRIu64 " bytes kept; run again to resume)",
                         d->url, errbuf[0] ? errbuf : curl_easy_strerror(cc), kept);
        else
            rc = paw_err(PAW_ENET, "download %s: %s", d->url,
                         errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (d->body == BODY_UNDECIDED) {
        /* No body at all: an error page without content, or an empty file. */
        rc = decide_body(d);
    }
    curl_easy_cleanup(c);
    d->curl = NULL;
    return rc;
}

static int file_size(int fd, uint64_t *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return paw_err(PAW_EIO, "download: stat: %s", strerror(errno));
    *out = (uint64_t)st.st_size;
    return PAW_OK;
}

int paw_download(const char *url, const char *dest, uint64_t expected_size,
                 const char *sha256_hex, paw_progress_fn progress, void *ud)
{
    if (!url || !dest || !*url || !*dest) return paw_err(PAW_EINVAL, "download: empty url or dest");
    if (sha256_hex && !paw_sha256_hex_valid(sha256_hex))
        return paw_err(PAW_EINVAL, "download: '%s' is not a hex SHA-256", sha256_hex);
    char part[PAW_PATH_MAX];
    int rc = paw_path_fmt(part, sizeof part, "%s.part", dest);
    if (rc) return rc;

    dl_state d = { .url = url, .expected = expected_size, .progress = progress, .ud = ud };
    d.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d.fd < 0) return paw_err(PAW_EIO, "download: cannot open %s: %s", part, strerror(errno));
    if (flock(d.fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(d.fd);
        if (e == EWOULDBLOCK)
            return paw_err(PAW_EIO, "download: another download of %s is in progress", dest);
        return paw_err(PAW_EIO, "download: lock %s: %s", part, strerror(e));
    }
    int remove_part = 0;
    if ((rc = file_size(d.fd, &d.have))) goto out;
    if (expected_size && d.have > expected_size) {
        /* Longer than the file can be: not a prefix of it. */
        if ((rc = restart_part(&d))) goto out;
    }
    if (sha256_hex) {
        if (!(d.hash = paw_sha256_new())) { rc = paw_err(PAW_ENOMEM, "download: out of memory"); goto out; }
        /* Resuming: the bytes already on disk are part of the digest. */
        if ((rc = paw_sha256_fd_prefix(d.hash, d.fd, d.have))) goto out;
    }
    if (!(expected_size && d.have == expected_size)) {
        rc = transfer(&d);
        if (rc == PAW_EHASH) remove_part = 1;
        if (rc) goto out;
    }
    if (progress && progress(ud, d.have + d.written, expected_size)) {
        rc = paw_err(PAW_ECANCELED, "download %s: cancelled", url);
        goto out;
    }

    uint64_t got;
    if ((rc = file_size(d.fd, &got))) goto out;
    /* The transfer ended cleanly (an interrupted one failed above and kept
     * its .part), so a size other than the pinned one is the server's file
     * being different; resuming it again would not help. */
    if (expected_size && got != expected_size) {
        remove_part = 1;
        rc = paw_err(PAW_EHASH, "download %s: %" PRIu64 " bytes, expected %" PRIu64,
                     url, got, expected_size);
        goto out;
    }
    if (d.hash) {
        char hex[65];
        if ((rc = paw_sha256_final_hex(d.hash, hex))) goto out;
        if (!paw_sha256_hex_equal(hex, sha256_hex)) {
            remove_part = 1;
            rc = paw_err(PAW_EHASH, "download %s: sha256 %s, expected %s", url, hex, sha256_hex);
            goto out;
        }
    }
    rc = paw_install_file(d.fd, part, dest);
    if (rc) remove_part = 1;

out:
    if (rc != PAW_OK && !remove_part) {
        /* Keep a useful .part for resuming, but not an empty one left by a
         * refused connection or an error page. */
        uint64_t sz;
        if (file_size(d.fd, &sz) == PAW_OK && sz == 0) remove_part = 1;
    }
    if (remove_part) unlink(part);
    paw_sha256_free(d.hash);
    close(d.fd);
    return rc;
}
