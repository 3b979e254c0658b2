/* test_hub.c — programs by name from the hub (src/net): references, resolve,
 * download (200, 302 to a CDN, 202 then 200), errors, offline mode, pinned
 * versions, storing once, the base model a program runs on, and the CLI
 * (`paw pull PROGRAM`, `paw run user/slug`, `paw programs --remote`).
 *
 * The hub is tests/mock_hub.py on 127.0.0.1 (a second port plays the CDN):
 * it serves bundles built here — real programs for the stories260K fixture,
 * a tiny Llama — with answers the tests script per route.  The reference for
 * "the fetched program runs" is the same bundle opened from memory with
 * paw_program_open_bundle: the hub path must give the same outputs. */
#include <signal.h>
#include <spawn.h>
#include <jansson.h>
#include "bundle_fixtures.h"
#include "core/common.h"
#include "net/hub.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

extern char **environ;

static char g_hubdir[256];       /* the mock's DIR: routes.json, bundles, log */
static pid_t g_hub_pid;
static int g_hub_port, g_cdn_port;
static paw_model *g_model;
static char g_stories[1024], g_stories_sha[65];
static uint64_t g_stories_size;

#define ID1 "a6b454023d41ac9ca845"
#define ID2 "d67162f3ab9562fe2826"
#define ID3 "0123456789abcdef0123"
#define ID4 "fedcba98765432100123456789abcdef"
#define TEST_RUNTIME "stories260k-test"
#define TEMPLATE "Once upon a time, " PAW_PROGRAM_PLACEHOLDER " and then"

/* ------------------------------------------------------------ the mock */

static const char *hdir(const char *name)
{
    static char b[4][512];
    static int slot;
    char *p = b[slot++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", g_hubdir, name);
    return p;
}

static int start_hub(void)
{
    snprintf(g_hubdir, sizeof g_hubdir, "/tmp/paw-test-hub-XXXXXX");
    if (!mkdtemp(g_hubdir)) return -1;
    /* Tests run from the repository root (tests/run.sh); else beside $PAW_BIN's
     * build directory. */
    char script[1024] = "tests/mock_hub.py";
    const char *bin = getenv("PAW_BIN");
    if (access(script, R_OK) && bin) {
        char repo[900];
        snprintf(repo, sizeof repo, "%s", bin);
        for (int up = 0; up < 2; up++) { char *s = strrchr(repo, '/'); if (s) *s = 0; }
        snprintf(script, sizeof script, "%s/tests/mock_hub.py", repo);
    }
    char *argv[] = {"python3", script, g_hubdir, NULL};
    if (posix_spawnp(&g_hub_pid, "python3", NULL, NULL, argv, environ)) return -1;
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(hdir("ports"), "r");
        if (f) {
            int ok = fscanf(f, "%d %d", &g_hub_port, &g_cdn_port) == 2;
            fclose(f);
            if (ok) return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "mock hub (%s) did not start\n", script);
    return -1;
}

static void stop_hub(void)
{
    if (g_hub_pid > 0) {
        kill(g_hub_pid, SIGTERM);
        waitpid(g_hub_pid, NULL, 0);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_hubdir);
    if (system(cmd)) {}
}

/* routes.json from a JSON text (single quotes become double quotes, so that
 * the tests' literals stay readable). */
static void routes(const char *json)
{
    char *s = strdup(json);
    for (char *p = s; *p; p++) if (*p == '\'') *p = '"';
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    if (!o) fail_msg("bad routes JSON: %s: %s", je.text, s);
    json_decref(o);
    write_bytes(hdir("routes.json.tmp"), s, strlen(s));
    rename(hdir("routes.json.tmp"), hdir("routes.json"));
    free(s);
}

/* Requests logged whose server is `server` and whose path contains `needle`;
 * *with_key counts those that carried an X-API-Key. */
static int requests(const char *server, const char *needle, int *with_key)
{
    char *log = tu_read_file(hdir("requests.log"), NULL);
    int n = 0, k = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *srv = json_string_value(json_object_get(o, "server"));
        const char *path = json_string_value(json_object_get(o, "path"));
        if (srv && path && !strcmp(srv, server) && strstr(path, needle)) {
            n++;
            k += json_is_string(json_object_get(o, "key"));
        }
        json_decref(o);
    }
    free(log);
    if (with_key) *with_key = k;
    return n;
}

static int total_requests(void) { return requests("hub", "", NULL) + requests("cdn", "", NULL); }

/* ------------------------------------------------------------ bundles */

/* A LoRA for stories260K (dim 64, 5 layers): attn_q and attn_v, F32, rank 4,
 * random A and B large enough to change the greedy continuation. */
static uint8_t *stories_adapter(uint32_t seed, size_t *len)
{
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "llama", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 4.0f), PAW_OK);
    static float a[5][2][64 * 4], b[5][2][64 * 4];
    uint32_t x = seed;
    for (int l = 0; l < 5; l++)
        for (int p = 0; p < 2; p++) {
            int d_out = p ? 32 : 64;
            for (int i = 0; i < 64 * 4; i++) {
                x = x * 1664525u + 1013904223u;
                a[l][p][i] = ((float)(x >> 8) / 16777216.0f - 0.5f);
                x = x * 1664525u + 1013904223u;
                b[l][p][i] = ((float)(x >> 8) / 16777216.0f - 0.5f);
            }
            char name[64];
            int64_t ne_a[2] = {64, 4}, ne_b[2] = {4, d_out};
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, p ? "attn_v" : "attn_q");
            assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_a, a[l][p]), PAW_OK);
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, p ? "attn_v" : "attn_q");
            assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_b, b[l][p]), PAW_OK);
        }
    assert_int_equal(paw_gguf_writer_write(w, tpath("lora.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    uint8_t *p = (uint8_t *)tu_read_file(tpath("lora.gguf"), len);
    assert_non_null(p);
    unlink(tpath("lora.gguf"));
    return p;
}

/* An official-layout bundle (ZIP by libzip's defaults) for hub program
 * hub_id, written to the mock's DIR as <file>; returns its bytes. */
static uint8_t *hub_bundle(const char *file, const char *hub_id, const char *spec, const char *runtime,
                           uint32_t seed, size_t *len)
{
    size_t alen = 0;
    uint8_t *adapter = stories_adapter(seed, &alen);
    char meta[1024];
    snprintf(meta, sizeof meta,
             "{\"version\": 3, \"program_id\": \"%s\", \"spec\": \"%s\", \"interpreter\": \"stories260K\", "
             "\"runtime_id\": \"%s\", \"runtime_manifest_version\": 1, \"lora_rank\": 4, \"lora_alpha\": 4.0, "
             "\"base_sha256\": \"%s\", \"created_at\": \"2026-12-01T00:00:00Z\"}",
             hub_id, spec, runtime, g_stories_sha);
    zmember m[3] = {
        {"adapter.gguf", adapter, alen, 0},
        {"prompt_template.txt", TEMPLATE, strlen(TEMPLATE), 0},
        {"meta.json", meta, strlen(meta), 0},
    };
    uint8_t *z = zbuild(m, 3, len);
    free(adapter);
    if (file) write_bytes(hdir(file), z, *len);
    return z;
}

/* The reference output: the bundle z opened from memory. */
static char *reference_output(const uint8_t *z, size_t len, const char *input)
{
    paw_bundle *b;
    assert_int_equal(paw_bundle_read_mem(z, len, &b), PAW_OK);
    paw_program_opts o = {.n_threads = 1, .no_disk_cache = 1};
    paw_program *p;
    assert_int_equal(paw_program_open_bundle(g_model, b, &o, &p), PAW_OK);
    char *out = NULL;
    assert_int_equal(paw_program_call(p, input, strlen(input), 8, &out, NULL), PAW_OK);
    paw_program_close(p);
    paw_bundle_free(b);
    return out;
}

/* Opens `ref` through the library (paw_program_open: the hub fallback
 * included) and runs one input. */
static char *run_ref(const char *ref, const char *input)
{
    paw_program_opts o = {.n_threads = 1};
    paw_program *p;
    int rc = paw_program_open(g_model, ref, &o, &p);
    if (rc) fail_msg("paw_program_open(%s): %s", ref, paw_last_error());
    char *out = NULL;
    assert_int_equal(paw_program_call(p, input, strlen(input), 8, &out, NULL), PAW_OK);
    paw_program_close(p);
    return out;
}

static void expect_error(int rc, int want, const char *needle)
{
    if (rc != want) fail_msg("status %s, expected %s (%s)", paw_status_name(rc), paw_status_name(want),
                             paw_last_error());
    if (needle && !strstr(paw_last_error(), needle)) fail_msg("'%s' lacks '%s'", paw_last_error(), needle);
}

static int programs_installed(void)
{
    paw_program_info *list;
    size_t n;
    assert_int_equal(paw_program_list(&list, &n), PAW_OK);
    paw_program_list_free(list, n);
    return (int)n;
}

/* ------------------------------------------------------------- set-up */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_stories, sizeof g_stories, "%s", tu_shared("fixtures/stories260k/stories260K.gguf"));
    if (paw_model_load(g_stories, &g_model) || paw_sha256_file(g_stories, g_stories_sha)) {
        fprintf(stderr, "cannot load %s: %s\n", g_stories, paw_last_error());
        return -1;
    }
    struct stat st;
    if (stat(g_stories, &st)) return -1;
    g_stories_size = (uint64_t)st.st_size;
    if (start_hub()) return -1;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/models/stories260K.gguf", g_cdn_port);
    return paw_hub_test_runtime(TEST_RUNTIME, "stories260k", url, g_stories_size, g_stories_sha) ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_hub();
    paw_model_free(g_model);
    return 0;
}

static int hub_setup(void **state)
{
    if (setup(state)) return -1;
    unlink(hdir("requests.log"));
    unlink(hdir("routes.json"));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", g_hub_port);
    setenv("PAW_API_URL", url, 1);
    unsetenv("PAW_API_KEY");
    unsetenv("PAW_OFFLINE");
    return 0;
}

static int hub_teardown(void **state)
{
    unsetenv("PAW_API_URL");
    unsetenv("PAW_OFFLINE");
    unsetenv("PAW_API_KEY");
    return teardown(state);
}

/* --------------------------------------------------------------- tests */

static void test_ref_shapes(void **state)
{
    (void)state;
    static const char *yes[] = {ID1, ID4, "email-triage", "alice/triage", "alice/triage@v2",
                                "Alice_1/tri.age-2@v10"};
    static const char *no[] = {"", "a/b/c", "../x", "alice/../x", "x@v1", "alice/triage@v", "alice/triage@2",
                               "alice/", "/triage", "tri age", ".hidden", "alice/tri%41", "ABCDEF0123456789ABCDEF/x/y",
                               "build/triage.paw", "x.paw", "dx6x671/Tn..no"};
    for (size_t i = 0; i < N_OF(yes); i++)
        if (!paw_hub_ref_shape(yes[i])) fail_msg("'%s' should be a hub reference", yes[i]);
    for (size_t i = 0; i < N_OF(no); i++)
        if (paw_hub_ref_shape(no[i])) fail_msg("'%s' should not be a hub reference", no[i]);
}

/* Every reference form: resolve + download + run, outputs equal to the
 * bundle opened from memory. */
static void test_reference_forms(void **state)
{
    (void)state;
    size_t l1, l2, l3, l4;
    uint8_t *z1 = hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &l1);
    uint8_t *z2 = hub_bundle("p2.paw", ID2, "two", TEST_RUNTIME, 2, &l2);
    uint8_t *z3 = hub_bundle("p3.paw", ID3, "three", TEST_RUNTIME, 3, &l3);
    uint8_t *z4 = hub_bundle("p4.paw", ID4, "four", TEST_RUNTIME, 4, &l4);
    routes("{'/api/v1/programs/resolve/alice/triage': {'json': {'program_id': '" ID1 "'}},"
           " '/api/v1/programs/resolve/email-triage': {'json': {'program_id': '" ID2 "'}},"
           " '/api/v1/programs/resolve/alice/triage@v2': {'json': {'program_id': '" ID3 "'}},"
           " '/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'},"
           " '/api/v1/programs/" ID2 "/download': {'file': 'p2.paw'},"
           " '/api/v1/programs/" ID3 "/download': {'file': 'p3.paw'},"
           " '/api/v1/programs/" ID4 "/download': {'file': 'p4.paw'}}");
    const char *in = "a cat";
    struct { const char *ref; uint8_t *z; size_t len; } c[] = {
        {"alice/triage", z1, l1}, {"email-triage", z2, l2}, {"alice/triage@v2", z3, l3}, {ID4, z4, l4}};
    char *outs[4];
    for (int i = 0; i < 4; i++) {
        char *want = reference_output(c[i].z, c[i].len, in);
        /* paw_program_open fetches a hub reference itself (no explicit fetch) */
        char *got = run_ref(c[i].ref, in);
        assert_string_equal(got, want);
        outs[i] = want;
        free(got);
        /* and paw_program_fetch names the same installed program */
        char id[PAW_PROGRAM_ID_LEN + 1];
        assert_int_equal(paw_program_fetch(c[i].ref, NULL, NULL, id), PAW_OK);
        paw_bundle *b;
        assert_int_equal(paw_bundle_read_mem(c[i].z, c[i].len, &b), PAW_OK);
        assert_string_equal(id, b->id);
        paw_bundle_free(b);
        free(c[i].z);
    }
    /* the adapters differ, so the outputs tell the programs apart */
    assert_true(strcmp(outs[0], outs[1]) || strcmp(outs[1], outs[2]) || strcmp(outs[2], outs[3]));
    for (int i = 0; i < 4; i++) free(outs[i]);
    assert_int_equal(programs_installed(), 4);
    /* each bundle downloaded once; IDs resolve again without the network */
    assert_int_equal(requests("hub", "/download", NULL), 4);
    int before = total_requests();
    paw_program_ref ref;
    assert_int_equal(paw_program_resolve(ID4, &ref), PAW_OK);
    assert_int_equal(paw_program_resolve("alice/triage@v2", &ref), PAW_OK);
    assert_int_equal(total_requests(), before);
}

/* 302 to the CDN (another port): followed, and the API key stays with the hub. */
static void test_redirect_to_cdn(void **state)
{
    (void)state;
    size_t len;
    free(hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &len));
    routes("{'/api/v1/programs/" ID1 "/download': {'status': 302, 'cdn': '/paw-programs/" ID1 ".paw'},"
           " 'cdn:/paw-programs/" ID1 ".paw': {'file': 'p1.paw'}}");
    setenv("PAW_API_KEY", "paw_sk_test", 1);
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = paw_program_fetch(ID1, NULL, NULL, id);
    if (rc) fail_msg("%s", paw_last_error());
    int hub_keyed, cdn_keyed;
    assert_int_equal(requests("hub", "/download", &hub_keyed), 1);
    assert_int_equal(hub_keyed, 1);
    assert_int_equal(requests("cdn", "/paw-programs/", &cdn_keyed), 1);
    assert_int_equal(cdn_keyed, 0);
    assert_int_equal(programs_installed(), 1);
}

/* 202 + Retry-After while the hub builds the bundle, then 200. */
static void test_202_then_200(void **state)
{
    (void)state;
    size_t len;
    free(hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &len));
    routes("{'/api/v1/programs/" ID1 "/download': [{'status': 202, 'headers': {'Retry-After': '1'},"
           " 'json': {'status': 'generating'}}, {'status': 202, 'headers': {'Retry-After': '0'}},"
           " {'file': 'p1.paw'}]}");
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = paw_program_fetch(ID1, NULL, NULL, id);
    if (rc) fail_msg("%s", paw_last_error());
    assert_int_equal(requests("hub", "/download", NULL), 3);
    assert_int_equal(programs_installed(), 1);
}

/* A bundle that stays "being generated" is polled only up to the limit. */
static void test_202_forever(void **state)
{
    (void)state;
    routes("{'/api/v1/programs/" ID1 "/download': {'status': 202, 'headers': {'Retry-After': '1'}}}");
    paw_hub_test_poll_limit(2);
    char id[PAW_PROGRAM_ID_LEN + 1];
    double t0 = paw_now();
    int rc = paw_program_fetch(ID1, NULL, NULL, id);
    double waited = paw_now() - t0;
    paw_hub_test_poll_limit(60);
    expect_error(rc, PAW_ENET, "still generating the bundle after 2 s");
    /* it gives up instead of sleeping past the limit (2 polls 1 s apart;
     * fewer on a slow machine) */
    int n = requests("hub", "/download", NULL);
    assert_true(n >= 1 && n <= 2);
    assert_true(waited < 2.0 + 1.0);
    assert_cache_has_no_program();
}

/* 404, 401, 429 and 500, on resolve and on download: a clear error each,
 * and nothing in the cache. */
static void test_http_errors(void **state)
{
    (void)state;
    static const struct { int status; int rc; const char *says; } e[] = {
        {404, PAW_ENOTFOUND, "not found on the hub (HTTP 404"},
        {401, PAW_EINVAL, "refused the request (HTTP 401"},
        {429, PAW_ENET, "rate limited by the hub (HTTP 429"},
        {500, PAW_ENET, "hub server error (HTTP 500"},
    };
    for (size_t i = 0; i < N_OF(e); i++) {
        char r[600];
        snprintf(r, sizeof r,
                 "{'/api/v1/programs/resolve/alice/triage': {'status': %d, 'json': {'detail': 'says %d'},"
                 " 'headers': {'Retry-After': '30'}},"
                 " '/api/v1/programs/" ID1 "/download': {'status': %d, 'json': {'detail': 'says %d'}}}",
                 e[i].status, e[i].status, e[i].status, e[i].status);
        routes(r);
        char id[PAW_PROGRAM_ID_LEN + 1], says[32];
        snprintf(says, sizeof says, "\"says %d\"", e[i].status);
        expect_error(paw_program_fetch("alice/triage", NULL, NULL, id), e[i].rc, e[i].says);
        assert_non_null(strstr(paw_last_error(), says));   /* the hub's own words */
        if (e[i].status == 429) assert_non_null(strstr(paw_last_error(), "Retry-After: 30"));
        expect_error(paw_program_fetch(ID1, NULL, NULL, id), e[i].rc, e[i].says);
        if (e[i].status == 401) assert_non_null(strstr(paw_last_error(), "PAW_API_KEY"));
        assert_cache_has_no_program();
        char p[600];
        snprintf(p, sizeof p, "%s/programs/slug_cache.json", g_cache);
        assert_int_equal(access(p, F_OK), -1);
    }
    /* a key that would inject headers is refused before any request */
    int before = total_requests();
    setenv("PAW_API_KEY", "paw_sk_x\r\nX-Other: 1", 1);
    char id0[PAW_PROGRAM_ID_LEN + 1];
    expect_error(paw_program_fetch("alice/triage", NULL, NULL, id0), PAW_EINVAL, "control characters");
    unsetenv("PAW_API_KEY");
    assert_int_equal(total_requests(), before);
    /* a hub that is not there at all */
    setenv("PAW_API_URL", "http://127.0.0.1:1", 1);
    char id[PAW_PROGRAM_ID_LEN + 1];
    expect_error(paw_program_fetch("alice/triage", NULL, NULL, id), PAW_ENET, "127.0.0.1:1");
    assert_cache_has_no_program();
}

/* Truncated, tampered and mislabelled downloads are refused; nothing stays. */
static void test_bad_downloads(void **state)
{
    (void)state;
    size_t len;
    uint8_t *z = hub_bundle("good.paw", ID1, "one", TEST_RUNTIME, 1, &len);
    /* flip a byte inside adapter.gguf's compressed data (its local header is
     * first: 30 bytes + the name) */
    uint8_t *t = malloc(len);
    memcpy(t, z, len);
    t[30 + strlen("adapter.gguf") + 200] ^= 0x55;
    write_bytes(hdir("tampered.paw"), t, len);
    free(t);
    /* a bundle that says it is another program */
    free(hub_bundle("other.paw", ID2, "one", TEST_RUNTIME, 1, &len));
    /* a runtime paw does not know */
    free(hub_bundle("alien.paw", ID1, "one", "llama-7b-q4_0", 1, &len));
    char r[1200];
    static const struct { const char *spec; int rc; const char *says; } c[] = {
        {"{'file': 'good.paw', 'truncate': 1000}", PAW_ENET, "GET"},
        {"{'file': 'good.paw', 'truncate': 1000, 'no_length': true}", PAW_EFORMAT, ID1},
        {"{'file': 'tampered.paw'}", 0, "adapter.gguf"},   /* inflate or CRC error */
        {"{'file': 'other.paw'}", PAW_EFORMAT, "names program_id \"" ID2 "\""},
        {"{'file': 'alien.paw'}", PAW_EUNSUPPORTED, "runtime \"llama-7b-q4_0\""},
        {"{'body': 'not a zip at all'}", PAW_EFORMAT, ID1},
        {"{'status': 302}", PAW_ENET, "HTTP 302"},
    };
    for (size_t i = 0; i < N_OF(c); i++) {
        snprintf(r, sizeof r, "{'/api/v1/programs/" ID1 "/download': %s}", c[i].spec);
        routes(r);
        char id[PAW_PROGRAM_ID_LEN + 1];
        int rc = paw_program_fetch(ID1, NULL, NULL, id);
        expect_error(rc, c[i].rc ? c[i].rc : rc ? rc : PAW_EFORMAT, c[i].says);
        assert_cache_has_no_program();
    }
    free(z);
}

/* PAW_OFFLINE=1: cached references work with no request at all; others
 * fail naming what is missing.  A hub that cannot be reached falls back to
 * the cached ID of a bare slug. */
static void test_offline(void **state)
{
    (void)state;
    size_t l1;
    uint8_t *z1 = hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &l1);
    routes("{'/api/v1/programs/resolve/email-triage': {'json': {'program_id': '" ID1 "'}},"
           " '/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'}}");
    char id[PAW_PROGRAM_ID_LEN + 1], id2[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_fetch("email-triage", NULL, NULL, id), PAW_OK);
    int before = total_requests();
    setenv("PAW_OFFLINE", "1", 1);
    assert_int_equal(paw_program_fetch("email-triage", NULL, NULL, id2), PAW_OK);
    assert_string_equal(id, id2);
    assert_int_equal(paw_program_fetch(ID1, NULL, NULL, id2), PAW_OK);
    char *want = reference_output(z1, l1, "a dog");
    char *got = run_ref("email-triage", "a dog");
    assert_string_equal(got, want);
    free(got);
    expect_error(paw_program_fetch("alice/other", NULL, NULL, id2), PAW_ENOTFOUND, "\"alice/other\"");
    assert_non_null(strstr(paw_last_error(), "PAW_OFFLINE=1"));
    expect_error(paw_program_fetch(ID2, NULL, NULL, id2), PAW_ENOTFOUND, ID2);
    paw_program *p;
    expect_error(paw_program_open(g_model, "alice/other", NULL, &p), PAW_ENOTFOUND, "alice/other");
    char *json;
    expect_error(paw_hub_search("x", &json, NULL), PAW_EINVAL, "PAW_OFFLINE");
    assert_int_equal(total_requests(), before);
    unsetenv("PAW_OFFLINE");

    /* opts.no_fetch: no network for that call, cached names still open */
    paw_program_opts o = {.n_threads = 1, .no_fetch = 1};
    expect_error(paw_program_open(g_model, "alice/other", &o, &p), PAW_ENOTFOUND, "alice/other");
    assert_int_equal(paw_program_open(g_model, "email-triage", &o, &p), PAW_OK);
    paw_program_close(p);
    assert_int_equal(total_requests(), before);

    /* online but the hub is down: the bare slug's cached ID is used */
    setenv("PAW_API_URL", "http://127.0.0.1:1", 1);
    assert_int_equal(paw_program_fetch("email-triage", NULL, NULL, id2), PAW_OK);
    assert_string_equal(id, id2);
    free(want);
    free(z1);
}

/* A pinned version is resolved once and never again; a bare slug is
 * rechecked and follows the hub to a new version. */
static void test_pinned_and_moving(void **state)
{
    (void)state;
    size_t len, len2;
    uint8_t *z1 = hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &len);
    uint8_t *z2 = hub_bundle("p2.paw", ID2, "two", TEST_RUNTIME, 2, &len2);
    const char *dl = " '/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'},"
                     " '/api/v1/programs/" ID2 "/download': {'file': 'p2.paw'}}";
    char r[1200];
    snprintf(r, sizeof r, "{'/api/v1/programs/resolve/alice/triage@v1': {'json': {'program_id': '" ID1 "'}},"
             " '/api/v1/programs/resolve/alice/triage': {'json': {'program_id': '" ID1 "'}},%s", dl);
    routes(r);
    char a[PAW_PROGRAM_ID_LEN + 1], b[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_fetch("alice/triage@v1", NULL, NULL, a), PAW_OK);
    assert_int_equal(paw_program_fetch("alice/triage", NULL, NULL, b), PAW_OK);
    assert_string_equal(a, b);
    assert_int_equal(requests("hub", "/resolve/alice/triage@v1", NULL), 1);
    /* the hub now says both point at ID2 */
    snprintf(r, sizeof r, "{'/api/v1/programs/resolve/alice/triage@v1': {'json': {'program_id': '" ID2 "'}},"
             " '/api/v1/programs/resolve/alice/triage': {'json': {'program_id': '" ID2 "'}},%s", dl);
    routes(r);
    assert_int_equal(paw_program_fetch("alice/triage@v1", NULL, NULL, b), PAW_OK);
    assert_string_equal(a, b);                                   /* pinned: unchanged */
    assert_int_equal(requests("hub", "/resolve/alice/triage@v1", NULL), 1);
    char *want = reference_output(z1, len, "x");
    char *got = run_ref("alice/triage@v1", "x");
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(requests("hub", "/resolve/alice/triage@v1", NULL), 1);
    assert_int_equal(paw_program_fetch("alice/triage", NULL, NULL, b), PAW_OK);
    assert_string_not_equal(a, b);                               /* moved on */
    want = reference_output(z2, len2, "x");
    got = run_ref("alice/triage", "x");
    assert_string_equal(got, want);
    free(got);
    free(want);
    /* @v1 once; the bare slug at each of its three fetches */
    assert_int_equal(requests("hub", "/resolve/alice/triage", NULL), 4);
    free(z1);
    free(z2);
}

/* An official GPT-2 bundle's prefix_cache.bin / prefix_tokens.json are
 * never trusted: they pass the reader's member checks, are not installed,
 * and paw computes the prefix itself (here they are garbage, and the output
 * is still the one of the bundle without them). */
static void test_prefix_members_ignored(void **state)
{
    (void)state;
    size_t len, plen;
    uint8_t *plain = hub_bundle(NULL, ID1, "one", TEST_RUNTIME, 1, &len);
    paw_bundle *b;
    assert_int_equal(paw_bundle_read_mem(plain, len, &b), PAW_OK);
    char meta[1024];
    snprintf(meta, sizeof meta,
             "{\"version\": 3, \"program_id\": \"%s\", \"spec\": \"one\", \"interpreter\": \"stories260K\", "
             "\"runtime_id\": \"%s\", \"runtime_manifest_version\": 1, \"lora_rank\": 4, \"lora_alpha\": 4.0, "
             "\"base_sha256\": \"%s\", \"created_at\": \"2026-12-01T00:00:00Z\", \"prefix_steps\": 64}",
             ID1, TEST_RUNTIME, g_stories_sha);
    static const char cache[] = "not a llama.cpp session file at all";
    static const char toks[] = "[1, 2, 3, 99999]";
    zmember m[5] = {
        {"adapter.gguf", b->adapter, b->adapter_len, 0},
        {"prompt_template.txt", TEMPLATE, strlen(TEMPLATE), 0},
        {"meta.json", meta, strlen(meta), 0},
        {"prefix_cache.bin", cache, sizeof cache, 0},
        {"prefix_tokens.json", toks, strlen(toks), 0},
    };
    uint8_t *z = zbuild(m, 5, &plen);
    write_bytes(hdir("gpt2ish.paw"), z, plen);
    routes("{'/api/v1/programs/" ID1 "/download': {'file': 'gpt2ish.paw'}}");
    char *want = reference_output(plain, len, "a bird");
    char *got = run_ref(ID1, "a bird");
    assert_string_equal(got, want);
    char id[PAW_PROGRAM_ID_LEN + 1], p[700];
    assert_int_equal(paw_program_fetch(ID1, NULL, NULL, id), PAW_OK);
    snprintf(p, sizeof p, "%s/programs/%s/prefix_cache.bin", g_cache, id);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/programs/%s/prefix_tokens.json", g_cache, id);
    assert_int_equal(access(p, F_OK), -1);
    free(got);
    free(want);
    free(z);
    free(plain);
    paw_bundle_free(b);
}

/* The same program fetched twice, by ID and by slug, or under two hub IDs
 * with the same content, is downloaded once per hub ID and stored once. */
static void test_stored_once(void **state)
{
    (void)state;
    size_t len;
    free(hub_bundle("p1.paw", ID1, "same", TEST_RUNTIME, 7, &len));
    free(hub_bundle("p3.paw", ID3, "same", TEST_RUNTIME, 7, &len));   /* same content, other hub ID */
    routes("{'/api/v1/programs/resolve/alice/triage': {'json': {'program_id': '" ID1 "'}},"
           " '/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'},"
           " '/api/v1/programs/" ID3 "/download': {'file': 'p3.paw'}}");
    char a[PAW_PROGRAM_ID_LEN + 1], b[PAW_PROGRAM_ID_LEN + 1], c[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_fetch(ID1, NULL, NULL, a), PAW_OK);
    assert_int_equal(paw_program_fetch(ID1, NULL, NULL, b), PAW_OK);
    assert_int_equal(paw_program_fetch("alice/triage", NULL, NULL, b), PAW_OK);
    assert_string_equal(a, b);
    assert_int_equal(requests("hub", "/" ID1 "/download", NULL), 1);
    assert_int_equal(paw_program_fetch(ID3, NULL, NULL, c), PAW_OK);
    assert_string_equal(a, c);
    assert_int_equal(programs_installed(), 1);
    char p[600];
    snprintf(p, sizeof p, "%s/programs", g_cache);
    assert_int_equal(count_entries(p), 1 + 4);   /* <id>, .locks, .staging, hub_ids.json, slug_cache.json */
}

/* Entries of the models directory other than the digest memo (.sha256/,
 * which remembers hashes of files by identity, not files themselves). */
static int model_files(const char *models)
{
    char memo[700];
    snprintf(memo, sizeof memo, "%s/.sha256", models);
    int n = count_entries(models);
    return n - (n > 0 && access(memo, F_OK) == 0);
}

/* The base model: pulled on first use from the runtime's source, checked
 * against its pinned size and SHA-256, then reused; a manifest naming
 * another hash and a tampered model are refused, leaving nothing. */
static void test_base_model(void **state)
{
    (void)state;
    size_t len;
    free(hub_bundle("p1.paw", ID1, "one", TEST_RUNTIME, 1, &len));
    routes("{'/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'},"
           " '/api/v1/models/runtimes/" TEST_RUNTIME "': {'json': {'runtime_id': '" TEST_RUNTIME "'}},"
           " 'cdn:/models/stories260K.gguf': {'body': 'not the model'}}");
    char id[PAW_PROGRAM_ID_LEN + 1], path[1024], models[600];
    snprintf(models, sizeof models, "%s/models", g_cache);
    assert_int_equal(paw_program_fetch(ID1, NULL, NULL, id), PAW_OK);
    expect_error(paw_program_base_model(ID1, 0, NULL, NULL, path, sizeof path), PAW_ENOTFOUND, "paw pull");
    /* the server has the wrong bytes */
    expect_error(paw_program_base_model(ID1, 1, NULL, NULL, path, sizeof path), PAW_EHASH, NULL);
    assert_true(model_files(models) <= 0);
    /* offline: named, not fetched */
    setenv("PAW_OFFLINE", "1", 1);
    expect_error(paw_program_base_model(ID1, 1, NULL, NULL, path, sizeof path), PAW_ENOTFOUND, "stories260k");
    unsetenv("PAW_OFFLINE");
    /* the real file: the runtime manifest is fetched and kept */
    char cp[1200];
    snprintf(cp, sizeof cp, "cp '%s' '%s'", g_stories, hdir("stories260K.gguf"));
    assert_int_equal(system(cp), 0);
    routes("{'/api/v1/programs/" ID1 "/download': {'file': 'p1.paw'},"
           " '/api/v1/models/runtimes/" TEST_RUNTIME "': {'json': {'runtime_id': '" TEST_RUNTIME "'}},"
           " 'cdn:/models/stories260K.gguf': {'file': 'stories260K.gguf'}}");
    assert_int_equal(paw_program_base_model(ID1, 1, NULL, NULL, path, sizeof path), PAW_OK);
    char hex[65];
    assert_int_equal(paw_sha256_file(path, hex), PAW_OK);
    assert_string_equal(hex, g_stories_sha);
    int n = requests("cdn", "/models/", NULL);
    assert_int_equal(paw_program_base_model(ID1, 1, NULL, NULL, path, sizeof path), PAW_OK);
    assert_int_equal(requests("cdn", "/models/", NULL), n);     /* reused */
    char mf[600];
    snprintf(mf, sizeof mf, "%s/runtimes/" TEST_RUNTIME ".json", g_cache);
    assert_int_equal(access(mf, R_OK), 0);
    /* the model it pulled runs the program as the fixture does */
    paw_model *m;
    assert_int_equal(paw_model_load(path, &m), PAW_OK);
    paw_program *p;
    assert_int_equal(paw_program_open(m, ID1, NULL, &p), PAW_OK);
    paw_program_close(p);
    paw_model_free(m);

    /* a manifest that names another base is refused before any download */
    unlink(path);
    unlink(mf);
    routes("{'/api/v1/models/runtimes/" TEST_RUNTIME "': {'json': {'base_model': {'sha256': "
           "'0000000000000000000000000000000000000000000000000000000000000000'}}},"
           " 'cdn:/models/stories260K.gguf': {'file': 'stories260K.gguf'}}");
    n = requests("cdn", "/models/", NULL);
    expect_error(paw_program_base_model(ID1, 1, NULL, NULL, path, sizeof path), PAW_EHASH, "manifest");
    assert_int_equal(requests("cdn", "/models/", NULL), n);
    assert_true(model_files(models) <= 0);
}

/* An official runtime's base (gpt2-q8_0 -> gpt2) is checked against the pin
 * in pull.c: a server offering other bytes is refused, nothing is kept. */
static void test_official_runtime_pin(void **state)
{
    (void)state;
    size_t len;
    free(hub_bundle("g.paw", ID2, "gpt", "gpt2-q8_0", 1, &len));
    routes("{'/api/v1/programs/" ID2 "/download': {'file': 'g.paw'},"
           " 'cdn:/gpt2.gguf': {'body': 'GGUF but not gpt2'}}");
    char id[PAW_PROGRAM_ID_LEN + 1], path[1024], u[128], models[600];
    assert_int_equal(paw_program_fetch(ID2, NULL, NULL, id), PAW_OK);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/gpt2.gguf", g_cdn_port);
    setenv("PAW_MODEL_URL_GPT2", u, 1);
    expect_error(paw_program_base_model(ID2, 1, NULL, NULL, path, sizeof path), PAW_EHASH, "expected 139804832");
    unsetenv("PAW_MODEL_URL_GPT2");
    snprintf(models, sizeof models, "%s/models", g_cache);
    assert_true(model_files(models) <= 0);
    /* the runtime manifest (404 here) was asked for before the download */
    assert_int_equal(requests("hub", "/models/runtimes/gpt2-q8_0", NULL), 1);
}

/* ---------------------------------------------------------------- CLI */

static int run_paw(const char *args, char **out)
{
    const char *bin = getenv("PAW_BIN");
    if (!bin) fail_msg("PAW_BIN is not set (tests/run.sh sets it)");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2>&1 < /dev/null", bin, args, tpath("out.txt"));
    int st = system(cmd);
    if (out) *out = tu_read_file(tpath("out.txt"), NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    size_t len;
    /* The CLI is another process, which does not know this binary's test
     * runtime: the bundle names a runtime paw knows, and its base_sha256
     * (checked first at open) pins the fixture passed with -m. */
    uint8_t *z = hub_bundle("p1.paw", ID1, "one", "smollm2-135m-q4_1", 1, &len);
    routes("{'/api/v1/programs/resolve/alice/triage': {'json': {'program_id': '" ID1 "'}},"
           " '/api/v1/programs/" ID1 "/download': {'status': 302, 'cdn': '/p1.paw'},"
           " 'cdn:/p1.paw': {'file': 'p1.paw'},"
           " '/api/v1/programs?q=tri%20age': {'json': {'programs': [{'id': '" ID1 "', 'slug': 'alice/triage',"
           " 'spec': 'Say whether an email is urgent.\\nMore.'}], 'total': 1}}}");
    char *out, args[1400];
    assert_int_equal(run_paw("pull alice/triage --no-base", &out), 0);
    assert_non_null(strstr(out, "ready offline"));
    free(out);
    char *want = reference_output(z, len, "a cat");
    snprintf(args, sizeof args, "run alice/triage 'a cat' -m '%s' -n 8 -t 1", g_stories);
    assert_int_equal(run_paw(args, &out), 0);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n') out[--n] = 0;
    assert_string_equal(out, want);
    free(out);
    free(want);
    assert_int_equal(requests("hub", "/download", NULL), 1);

    assert_int_equal(run_paw("programs --remote 'tri age'", &out), 0);
    assert_non_null(strstr(out, ID1));
    assert_non_null(strstr(out, "alice/triage"));
    assert_non_null(strstr(out, "Say whether an email is urgent."));
    assert_null(strstr(out, "More."));
    free(out);

    /* errors: exit 1 and the hub's answer in the message */
    assert_int_equal(run_paw("pull bob/missing", &out), 1);
    assert_non_null(strstr(out, "HTTP 404"));
    free(out);
    /* an unknown runtime is refused by `paw pull` too, and nothing is kept */
    free(hub_bundle("alien.paw", ID2, "two", "llama-7b-q4_0", 2, &len));
    routes("{'/api/v1/programs/" ID2 "/download': {'file': 'alien.paw'}}");
    assert_int_equal(run_paw("pull " ID2, &out), 1);
    assert_non_null(strstr(out, "does not know"));
    free(out);
    /* without -m, `paw run` pulls the base the runtime names: here gpt2,
     * from a server with the wrong bytes, refused against the pin */
    free(hub_bundle("g.paw", ID3, "gpt", "gpt2-q8_0", 3, &len));
    routes("{'/api/v1/programs/" ID3 "/download': {'file': 'g.paw'}, 'cdn:/gpt2.gguf': {'body': 'nope'}}");
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/gpt2.gguf", g_cdn_port);
    setenv("PAW_MODEL_URL_GPT2", u, 1);
    assert_int_equal(run_paw("run " ID3 " 'x'", &out), 1);
    unsetenv("PAW_MODEL_URL_GPT2");
    assert_non_null(strstr(out, "pull gpt2"));
    assert_non_null(strstr(out, "expected 139804832"));
    free(out);
    assert_int_equal(requests("cdn", "/gpt2.gguf", NULL), 1);
    setenv("PAW_OFFLINE", "1", 1);
    snprintf(args, sizeof args, "run bob/other 'x' -m '%s'", g_stories);
    assert_int_equal(run_paw(args, &out), 1);
    assert_non_null(strstr(out, "PAW_OFFLINE"));
    free(out);
    unsetenv("PAW_OFFLINE");
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_shapes),
        cmocka_unit_test_setup_teardown(test_reference_forms, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_redirect_to_cdn, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_202_then_200, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_202_forever, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_bad_downloads, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_offline, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_pinned_and_moving, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_stored_once, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_prefix_members_ignored, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_base_model, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_official_runtime_pin, hub_setup, hub_teardown),
        cmocka_unit_test_setup_teardown(test_cli, hub_setup, hub_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
