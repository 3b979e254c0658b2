/* runtimes.c — which base model a program runs on, and getting it.
 *
 * A program names its runtime (meta.runtime_id, e.g. "qwen3-0.6b-q6_k"; older
 * bundles only an interpreter, "Qwen/Qwen3-0.6B").  paw maps the runtimes it
 * knows to the models paw_pull knows, whose size and SHA-256 are pinned in
 * pull.c; a runtime outside this table is refused rather than guessed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "core/common.h"
#include "net/hub.h"
#include "runtime/bundle.h"
#include "runtime/fetch.h"

typedef struct runtime {
    const char *id;           /* meta.runtime_id                              */
    const char *interpreter;  /* meta.interpreter of bundles without one      */
    const char *model;        /* the paw_pull name                            */
} runtime;

static const runtime builtin[] = {
    { "qwen3-0.6b-q6_k",   "Qwen/Qwen3-0.6B",                     "qwen3-0.6b" },
    { "gpt2-q8_0",         "gpt2",                                "gpt2" },
    /* programs paw compiles on its default interpreter */
    { "smollm2-135m-q4_1", "HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m" },
    { "smollm2-135m",      NULL,                                  "smollm2-135m" },
};

/* Test runtimes (paw_hub_test_runtime): the base comes from a local URL. */
typedef struct test_runtime {
    char id[64], model[64], url[512], sha[65];
    uint64_t size;
} test_runtime;
static pthread_mutex_t test_lock = PTHREAD_MUTEX_INITIALIZER;
static test_runtime tests[4];
static int n_tests;

int paw_hub_test_runtime(const char *runtime_id, const char *model, const char *url,
                         uint64_t size, const char *sha256)
{
    if (!runtime_id || !model || !url || !sha256 || !paw_sha256_hex_valid(sha256))
        return paw_err(PAW_EINVAL, "paw_hub_test_runtime: bad argument");
    pthread_mutex_lock(&test_lock);
    int rc = PAW_OK;
    if (n_tests == (int)PAW_ARRAY_LEN(tests)) rc = paw_err(PAW_ERANGE, "paw_hub_test_runtime: table full");
    else {
        test_runtime *t = &tests[n_tests++];
        snprintf(t->id, sizeof t->id, "%s", runtime_id);
        snprintf(t->model, sizeof t->model, "%s", model);
        snprintf(t->url, sizeof t->url, "%s", url);
        snprintf(t->sha, sizeof t->sha, "%s", sha256);
        t->size = size;
    }
    pthread_mutex_unlock(&test_lock);
    return rc;
}

/* What a program needs: the runtime label, the model, where it comes from. */
typedef struct need {
    char runtime[64], model[64], url[512], sha[65];
    uint64_t size;
} need;

static int find_runtime(const paw_program_meta *m, need *n)
{
    memset(n, 0, sizeof *n);
    const char *rid = m->runtime_id, *interp = m->interpreter;
    pthread_mutex_lock(&test_lock);
    for (int i = 0; i < n_tests; i++)
        if (rid && !strcmp(rid, tests[i].id)) {
            /* same field sizes: whole, NUL-terminated copies */
            memcpy(n->runtime, tests[i].id, sizeof n->runtime);
            memcpy(n->model, tests[i].model, sizeof n->model);
            memcpy(n->url, tests[i].url, sizeof n->url);
            memcpy(n->sha, tests[i].sha, sizeof n->sha);
            n->size = tests[i].size;
        }
    pthread_mutex_unlock(&test_lock);
    if (n->model[0]) return PAW_OK;
    for (size_t i = 0; i < PAW_ARRAY_LEN(builtin); i++) {
        const runtime *r = &builtin[i];
        int hit = rid ? !strcasecmp(rid, r->id) : interp && r->interpreter && !strcasecmp(interp, r->interpreter);
        if (!hit) continue;
        const paw_known_model *k = paw_known_model_find(r->model);
        if (!k) break;
        snprintf(n->runtime, sizeof n->runtime, "%s", r->id);
        snprintf(n->model, sizeof n->model, "%s", r->model);
        memcpy(n->sha, k->sha256, sizeof n->sha);
        n->size = k->size;
        return PAW_OK;
    }
    return PAW_ENOTFOUND;
}

int hub_runtime_check(const paw_program_meta *m, const char *program)
{
    need n;
    if (!find_runtime(m, &n)) return PAW_OK;
    char known[256] = "";
    for (size_t i = 0; i < PAW_ARRAY_LEN(builtin); i++) {
        size_t l = strlen(known);
        snprintf(known + l, sizeof known - l, "%s%s", i ? ", " : "", builtin[i].id);
    }
    return paw_err(PAW_EUNSUPPORTED, "program %s needs runtime \"%s\", which paw does not know (known: %s)",
                   program, m->runtime_id ? m->runtime_id : m->interpreter ? m->interpreter : "(none named)",
                   known);
}

int paw_program_base_model(const char *program, int pull, paw_progress_fn progress, void *ud,
                           char *path, size_t cap)
{
    if (!program || !path || !cap) return paw_err(PAW_EINVAL, "paw_program_base_model: NULL argument");
    path[0] = 0;
    paw_bundle *b;
    int rc = paw_bundle_load(program, &b);
    if (rc) return rc;
    need n;
    rc = hub_runtime_check(&b->meta, b->meta.program_id ? b->meta.program_id : b->id);
    if (!rc) find_runtime(&b->meta, &n);
    paw_bundle_free(b);
    if (rc) return rc;

    char dir[PAW_PATH_MAX];
    if ((rc = paw_models_dir(dir, sizeof dir, 0)) || (rc = paw_path_fmt(path, cap, "%s/%s.gguf", dir, n.model)))
        return rc;
    struct stat st;
    /* A file of the pinned size was hash-checked before it was renamed into
     * place (paw_pull and paw_download never install anything else). */
    if (!stat(path, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size == n.size) return PAW_OK;
    if (!pull)
        return paw_err(PAW_ENOTFOUND, "program %s runs on %s (runtime %s), which is not in the cache; "
                       "run `paw pull %s`", program, n.model, n.runtime, program);
    if (hub_offline())
        return paw_err(PAW_ENOTFOUND, "program %s runs on %s (runtime %s), which is not in the cache, and "
                       "PAW_OFFLINE=1 forbids downloading it", program, n.model, n.runtime);
    if ((rc = hub_manifest_check(n.runtime, n.model, n.sha))) return rc;
    if (n.url[0]) {
        if ((rc = paw_models_dir(dir, sizeof dir, 1))) return rc;
        rc = paw_download(n.url, path, n.size, n.sha, progress, ud);
        if (rc) rc = paw_err_wrap(rc, "pull %s", n.model);
    } else {
        rc = paw_pull(n.model, progress, ud);
    }
    return rc;
}
