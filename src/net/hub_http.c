/* hub_http.c — one HTTP GET of a hub URL into memory (libcurl).
 *
 * Redirects are not followed here: the hub client follows them itself so
 * that the X-API-Key header goes to the hub only, never to the CDN a download
 * redirects to (curl would repeat custom headers to any host).  Responses are
 * small JSON documents or one bundle (<= 256 MB by the bundle limits), so
 * memory is the simplest place for them; the cap bounds what a hostile server
 * can make us hold. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <curl/curl.h>
#include "core/common.h"
#include "net/hub.h"

typedef struct http_state {
    hub_resp   *r;
    uint64_t    cap;
    size_t      alloc;
    int         too_big;
    paw_progress_fn progress;
    int cancelled;      /* the progress callback asked to stop */
    void       *ud;
} http_state;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc;
static void init(void) { init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void hub_resp_clear(hub_resp *r)
{
    if (!r) return;
    free(r->body);
    free(r->location);
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    http_state *s = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(line, "HTTP/", 5)) s->r->retry_after = -1;
    static const char key[] = "retry-after:";
    size_t k = sizeof key - 1;
    if (len > k && !strncasecmp(line, key, k)) {
        /* Only the delta-seconds form; an HTTP date counts as absent. */
        size_t i = k;
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        long v = 0;
        int digits = 0;
        while (i < len && isdigit((unsigned char)line[i]) && v < 100000) v = v * 10 + (line[i++] - '0'), digits++;
        if (digits) s->r->retry_after = v;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    http_state *s = ud;
    size_t len = size * n;
    hub_resp *r = s->r;
    if ((uint64_t)r->len + len > s->cap) { s->too_big = 1; return 0; }
    if (r->len + len + 1 > s->alloc) {
        size_t na = s->alloc ? s->alloc : 4096;
        while (na < r->len + len + 1) na *= 2;
        uint8_t *nb = realloc(r->body, na);
        if (!nb) return 0;
        r->body = nb;
        s->alloc = na;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = 0;
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut, curl_off_t un)
{
    (void)ut; (void)un;
    http_state *s = ud;
    if (s->progress && dlnow > 0 && s->progress(s->ud, (uint64_t)dlnow, dltotal > 0 ? (uint64_t)dltotal : 0)) {
        s->cancelled = 1;   /* curl aborts the transfer */
        return 1;
    }
    return 0;
}

int hub_http_get(const char *url, const char *api_key, uint64_t cap,
                 paw_progress_fn progress, void *ud, hub_resp *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    pthread_once(&once, init);
    if (init_rc != CURLE_OK) return paw_err(PAW_ENET, "hub: curl init: %s", curl_easy_strerror(init_rc));
    CURL *c = curl_easy_init();
    if (!c) return paw_err(PAW_ENOMEM, "hub: curl_easy_init failed");
    http_state s = { .r = r, .cap = cap, .progress = progress, .ud = ud };
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    char keyhdr[512];
    if (api_key) {
        /* A newline in the key would smuggle headers into the request. */
        for (const char *k = api_key; *k; k++)
            if ((unsigned char)*k < 0x20 || *k == 0x7f) {
                curl_easy_cleanup(c);
                return paw_err(PAW_EINVAL, "hub: PAW_API_KEY holds control characters");
            }
        if (strlen(api_key) > sizeof keyhdr - 16) {
            curl_easy_cleanup(c);
            return paw_err(PAW_EINVAL, "hub: PAW_API_KEY is too long");
        }
        snprintf(keyhdr, sizeof keyhdr, "X-API-Key: %s", api_key);
        hdr = curl_slist_append(hdr, keyhdr);
    }
    hdr = curl_slist_append(hdr, "Accept: application/json, application/zip, */*");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_USERAGENT, "paw/" PAW_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, progress ? 0L : 1L);

    CURLcode cc = curl_easy_perform(c);
    int rc = PAW_OK;
    if (s.cancelled) {
        rc = paw_err(PAW_ECANCELED, "hub: GET %s: cancelled", url);
    } else if (s.too_big) {
        rc = paw_err(PAW_ERANGE, "hub: %s sent more than %llu bytes", url, (unsigned long long)cap);
    } else if (cc != CURLE_OK) {
        /* CURLE_PARTIAL_FILE: fewer bytes than Content-Length announced. */
        rc = paw_err(PAW_ENET, "hub: GET %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        char *loc = NULL;
        if (r->status >= 300 && r->status < 400 &&
            curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc && *loc &&
            !(r->location = strdup(loc)))
            rc = paw_err(PAW_ENOMEM, "hub: out of memory");
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc) hub_resp_clear(r);
    return rc;
}
