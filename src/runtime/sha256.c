/* sha256.c — SHA-256 over OpenSSL's EVP interface.  Hashing is not the heart
 * of this project, so we use libcrypto's tuned implementation (SHA-NI/AVX2)
 * rather than writing our own; the pinned model hashes are checked with it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "core/common.h"
#include "runtime/fetch.h"

struct paw_sha256 {
    EVP_MD_CTX *ctx;
};

paw_sha256 *paw_sha256_new(void)
{
    paw_sha256 *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || paw_sha256_reset(h) != PAW_OK) {
        paw_sha256_free(h);
        return NULL;
    }
    return h;
}

void paw_sha256_free(paw_sha256 *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int paw_sha256_reset(paw_sha256 *h)
{
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        return paw_err(PAW_ENOMEM, "sha256: cannot initialise digest");
    return PAW_OK;
}

int paw_sha256_update(paw_sha256 *h, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return paw_err(PAW_EIO, "sha256: digest update failed");
    return PAW_OK;
}

int paw_sha256_final_hex(paw_sha256 *h, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        return paw_err(PAW_EIO, "sha256: digest final failed");
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i]     = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
    return PAW_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int paw_sha256_hex_valid(const char *s)
{
    if (!s) return 0;
    for (int i = 0; i < 64; i++)
        if (hexval(s[i]) < 0) return 0;   /* also stops at a NUL */
    return s[64] == 0;
}

int paw_sha256_hex_equal(const char *a, const char *b)
{
    if (!paw_sha256_hex_valid(a) || !paw_sha256_hex_valid(b)) return 0;
    for (int i = 0; i < 64; i++)
        if (hexval(a[i]) != hexval(b[i])) return 0;
    return 1;
}

int paw_sha256_fd_prefix(paw_sha256 *h, int fd, uint64_t n)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return paw_err(PAW_ENOMEM, "sha256: out of memory");
    uint64_t off = 0;
    int rc = PAW_OK;
    while (off < n) {
        size_t want = (size_t)PAW_MIN((uint64_t)CHUNK, n - off);
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = paw_err(PAW_EIO, "sha256: read: %s", strerror(errno)); break; }
        if (r == 0) { rc = paw_err(PAW_EIO, "sha256: file shorter than expected"); break; }
        if ((rc = paw_sha256_update(h, buf, (size_t)r)) != PAW_OK) break;
        off += (uint64_t)r;
    }
    free(buf);
    return rc;
}

int paw_sha256_file(const char *path, char hex[65])
{
    if (!path || !hex) return paw_err(PAW_EINVAL, "sha256: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return paw_err(PAW_EIO, "sha256: cannot open %s: %s", path, strerror(errno));
    paw_sha256 *h = paw_sha256_new();
    if (!h) { close(fd); return paw_err(PAW_ENOMEM, "sha256: out of memory"); }
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    int rc = buf ? PAW_OK : paw_err(PAW_ENOMEM, "sha256: out of memory");
    while (rc == PAW_OK) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rc = paw_err(PAW_EIO, "sha256: read %s: %s", path, strerror(errno)); break; }
        if (r == 0) break;
        rc = paw_sha256_update(h, buf, (size_t)r);
    }
    if (rc == PAW_OK) rc = paw_sha256_final_hex(h, hex);
    free(buf);
    paw_sha256_free(h);
    close(fd);
    return rc;
}
