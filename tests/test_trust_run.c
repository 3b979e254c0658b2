/* test_trust_run.c — trust checks that run the real SmolLM2-135M (read from
 * the user's cache, as test_program.c does): a same-size edit of the model is
 * caught and `paw pull` repairs it, adapters are checked against the cached
 * interpreter, non-finite logits are an error, prefix-KV temp files of
 * killed runs are swept, a full context is reported, `paw eval` survives a
 * broken program, an over-long example is named by its line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "trust_fixtures.h"
#include "model/model.h"
#include "runtime/program.h"

static paw_model *g_model;
static char g_model_path[1024];  /* taken before any test sets PAW_CACHE_DIR */

static int model_group_setup(void **state)
{
    (void)state;
    /* A missing model is a failure of every test below, never a skip. */
    if (paw_model_load(g_model_path, &g_model)) g_model = NULL;
    return 0;
}

static int model_group_teardown(void **state)
{
    (void)state;
    paw_model_free(g_model);
    return 0;
}

#define NEED_MODEL() do { if (!g_model) fail_msg("SmolLM2 missing (%s): run `paw pull smollm2-135m`", \
                                                  g_model_path); } while (0)

/* The per-test cache gets the model as models/smollm2-135m.gguf: a symlink,
 * or a private copy when the test edits it. */
static void cache_model(int copy)
{
    char d[700], cmd[3000];
    snprintf(d, sizeof d, "%s/models", g_cache);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && %s '%s' '%s/smollm2-135m.gguf'", d,
             copy ? "cp" : "ln -s", g_model_path, d);
    assert_int_equal(system(cmd), 0);
}

/* A SmolLM2 program: F32 LoRA on attn_q of every layer (A = a, B = b
 * everywhere), the chat scaffold around the official [INPUT] markers. */
static paw_bundle *smol_bundle(float a_val, float b_val, const char *base_sha)
{
    enum { D = 576, R = 4, L = 30 };
    paw_gguf_writer *w = paw_gguf_writer_new();
    assert_int_equal(paw_gguf_writer_set_str(w, "general.architecture", "llama", 5), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
    assert_int_equal(paw_gguf_writer_set_f32(w, "adapter.lora.alpha", 4.0f), PAW_OK);
    float *a = malloc(D * R * sizeof *a), *b = malloc(D * R * sizeof *b);
    for (int i = 0; i < D * R; i++) { a[i] = a_val * (float)((i % 3) - 1); b[i] = b_val * (float)((i % 5) - 2); }
    int64_t ne_a[2] = {D, R}, ne_b[2] = {R, D};
    for (int l = 0; l < L; l++) {
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_q.weight.lora_a", l);
        assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_a, a), PAW_OK);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight.lora_b", l);
        assert_int_equal(paw_gguf_writer_add_tensor(w, name, PAW_TYPE_F32, 2, ne_b, b), PAW_OK);
    }
    assert_int_equal(paw_gguf_writer_write(w, tpath("smol.gguf")), PAW_OK);
    paw_gguf_writer_free(w);
    free(a);
    free(b);
    paw_bundle *bd = make_paw_bundle("Answer briefly.");
    free(bd->adapter);
    bd->adapter = (uint8_t *)tu_read_file(tpath("smol.gguf"), &bd->adapter_len);
    char user[512];
    snprintf(user, sizeof user, "Answer briefly.\n\n[INPUT]\n%s\n[END_INPUT]", PAW_PROGRAM_PLACEHOLDER);
    paw_chat_msg msg = {"user", user};
    free(bd->prompt_template);
    size_t tl;
    assert_int_equal(paw_chat_format(g_model, &msg, 1, 1, &bd->prompt_template, &tl), PAW_OK);
    bd->prompt_template_len = tl;
    free(bd->meta.base_sha256);
    bd->meta.base_sha256 = base_sha ? strdup(base_sha) : NULL;
    bd->meta.lora_rank = R;
    return bd;
}

/* A one-file HTTP server for `paw pull`: serves `path` for any GET. */
static pid_t serve_file(const char *path, int *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid) { close(lfd); return pid; }
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) continue;
        char req[4096];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t r = read(c, req + got, sizeof req - 1 - got);
            if (r <= 0) break;
            got += (size_t)r;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        int fd = open(path, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        char hdr[200];
        int hl = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n",
                          (long long)st.st_size);
        if (write(c, hdr, (size_t)hl) == hl) {
            char buf[1 << 16];
            ssize_t r;
            while ((r = read(fd, buf, sizeof buf)) > 0)
                if (write(c, buf, (size_t)r) != r) break;
        }
        close(fd);
        close(c);
    }
}

/* A same-size edit of the middle of the model's tensors: the model id (which
 * samples only the ends of each tensor) does not change, but the memo keyed
 * by file identity re-hashes, so the program refuses the model, `paw models`
 * says "corrupt", and the suggested `paw pull` really repairs it. */
static void test_model_same_size_edit(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(1);
    char model[700], hex_ok[65];
    snprintf(model, sizeof model, "%s/models/smollm2-135m.gguf", g_cache);
    const paw_known_model *km = paw_known_model_find("smollm2-135m");
    snprintf(hex_ok, sizeof hex_ok, "%s", km->sha256);
    paw_bundle *b = smol_bundle(0.01f, 0.0f, hex_ok);
    char id[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_install(b, NULL, id), PAW_OK);
    paw_model *m;
    assert_int_equal(paw_model_load(model, &m), PAW_OK);
    uint8_t id_before[32], id_after[32];
    paw_model_id(m, id_before);
    paw_program *p = NULL;
    int rc = paw_program_open(m, id, NULL, &p);
    if (rc) fail_msg("%s", paw_last_error());
    paw_program_close(p);
    paw_model_free(m);
    char memo[800];
    snprintf(memo, sizeof memo, "%s/models/.sha256", g_cache);
    assert_int_equal(count_entries(memo), 1);  /* the digest was remembered */

    /* Overwrite 64 bytes in the middle of every tensor of 16 KiB or more. */
    paw_gguf *g;
    assert_int_equal(paw_gguf_open(model, &g), PAW_OK);
    const uint8_t *base = paw_gguf_bytes(g);
    int fd = open(model, O_WRONLY);
    assert_true(fd >= 0);
    int edited = 0;
    for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        if (t->nbytes < 16384) continue;
        uint8_t junk[64];
        for (int k = 0; k < 64; k++) junk[k] = (uint8_t)(((const uint8_t *)t->data)[t->nbytes / 2 + k] ^ 0x5a);
        off_t at = (off_t)((const uint8_t *)t->data - base) + (off_t)(t->nbytes / 2);
        assert_int_equal(pwrite(fd, junk, 64, at), 64);
        edited++;
    }
    close(fd);
    paw_gguf_close(g);
    assert_true(edited > 100);
    assert_int_equal(paw_model_load(model, &m), PAW_OK);
    paw_model_id(m, id_after);
    assert_memory_equal(id_before, id_after, 32);  /* an id-keyed memo would be fooled */
    assert_int_equal(paw_program_open(m, id, NULL, &p), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "paw pull smollm2-135m"));
    paw_model_free(m);
    char path[800];
    assert_int_equal(paw_cache_check("smollm2-135m", 1, path, sizeof path), PAW_EHASH);
    assert_int_equal(run_paw("models", NULL), 0);
    char *o = out_txt();
    assert_non_null(strstr(o, "corrupt"));
    free(o);

    /* The repair the message suggests. */
    int port;
    pid_t srv = serve_file(g_model_path, &port);
    char url[200], args[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/smollm2.gguf", port);
    setenv("PAW_MODEL_URL_SMOLLM2_135M", url, 1);
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    snprintf(args, sizeof args, "pull smollm2-135m");
    rc = run_paw(args, NULL);
    kill(srv, SIGKILL);
    waitpid(srv, NULL, 0);
    unsetenv("PAW_MODEL_URL_SMOLLM2_135M");
    if (rc) fail_msg("paw pull: %s", err_txt());
    expect_err("fetching it again");
    assert_int_equal(paw_cache_check("smollm2-135m", 2, path, sizeof path), PAW_OK);
    assert_int_equal(paw_model_load(model, &m), PAW_OK);
    assert_int_equal(paw_program_open(m, id, NULL, &p), PAW_OK);
    paw_program_close(p);
    paw_model_free(m);
    /* and now it is simply present */
    assert_int_equal(run_paw("pull smollm2-135m", NULL), 0);
    o = out_txt();
    assert_non_null(strstr(o, "already present"));
    free(o);
    paw_bundle_free(b);
}

/* With the interpreter cached, install checks layers and shapes against it;
 * a program whose weights overflow fails at run time with an error instead
 * of an empty answer (library, `paw run`, `paw generate --lora`). */
static void test_adapter_fits_base_and_logits_finite(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(0);
    size_t len;
    paw_bundle *b = bundle_with_adapter(f32_adapter(40, 576, 576, 4, 4, 0, &len), &len);
    assert_int_equal(paw_program_install(b, NULL, NULL), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "layer 40"));
    assert_non_null(strstr(paw_last_error(), "smollm2-135m"));
    paw_bundle_free(b);
    b = bundle_with_adapter(f32_adapter(0, 64, 64, 4, 4, 0, &len), &len);
    assert_int_equal(paw_program_install(b, NULL, NULL), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "shape"));
    paw_bundle_free(b);
    assert_cache_has_no_program();

    /* finite weights whose products overflow */
    b = smol_bundle(1e18f, 1e18f, NULL);
    paw_program_opts o = {.n_ctx = 512, .no_base_check = 1};
    paw_program *p = NULL;
    int rc = paw_program_open_bundle(g_model, b, &o, &p);
    if (rc == PAW_OK) {
        char *out = NULL;
        rc = paw_program_call(p, "hello", 5, 8, &out, NULL);
        free(out);
        paw_program_close(p);
    }
    assert_int_equal(rc, PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "non-finite"));
    assert_int_equal(paw_program_install(b, "overflow", NULL), PAW_OK);  /* every weight is finite */
    assert_int_equal(run_paw("run -c 512 overflow hello", NULL), 1);
    expect_err("non-finite");
    char *out = out_txt();
    assert_string_equal(out, "");
    free(out);
    write_bytes(tpath("overflow.gguf"), b->adapter, b->adapter_len);
    char args[3000];
    snprintf(args, sizeof args, "generate -m smollm2-135m -c 256 -n 4 --lora %s -p hello", tpath("overflow.gguf"));
    assert_int_equal(run_paw(args, NULL), 1);
    expect_err("non-finite");
    paw_bundle_free(b);
}

/* Prefix-KV temp files of killed writers are removed when the program is
 * next opened; a live writer's is not.  Then `paw run` is killed at many
 * points of its first run (which computes and writes the prefix file). */
static int g_run_kills, g_run_temps;

static void test_kv_temps_swept(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(0);
    paw_bundle *b = smol_bundle(0.01f, 0.0f, NULL);
    char id[PAW_PROGRAM_ID_LEN + 1], dir[700], dead_f[900], live_f[900], glob_cmd[1200];
    assert_int_equal(paw_program_install(b, "kv", id), PAW_OK);
    prog_path(dir, sizeof dir, id, NULL);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    pid_t live = fork();
    if (live == 0) { pause(); _exit(0); }
    snprintf(dead_f, sizeof dead_f, "%s/prefix_kv.0123456789abcdef.bin.w%ld.0", dir, (long)dead);
    snprintf(live_f, sizeof live_f, "%s/prefix_kv.0123456789abcdef.bin.w%ld.0", dir, (long)live);
    write_bytes(dead_f, "half", 4);
    write_bytes(live_f, "half", 4);
    paw_program_opts o = {.n_ctx = 512};
    paw_program *p = NULL;
    assert_int_equal(paw_program_open(g_model, "kv", &o, &p), PAW_OK);
    paw_program_close(p);
    assert_false(exists(dead_f));
    assert_true(exists(live_f));
    kill(live, SIGKILL);
    waitpid(live, NULL, 0);
    unlink(live_f);

    /* A FIFO where the prefix-KV file goes is not read (it would block):
     * the prefix is recomputed and a regular file replaces it. */
    assert_int_equal(paw_program_open(g_model, "kv", &o, &p), PAW_OK);
    char kv[900];
    snprintf(kv, sizeof kv, "%s", paw_program_prefix_path(p));
    paw_program_close(p);
    assert_true(kv[0] != 0);
    assert_int_equal(unlink(kv), 0);
    assert_int_equal(mkfifo(kv, 0644), 0);
    alarm(60);
    assert_int_equal(paw_program_open(g_model, "kv", &o, &p), PAW_OK);
    alarm(0);
    paw_program_stats pst;
    paw_program_get_stats(p, &pst);
    assert_int_equal(pst.prefix_source, PAW_PREFIX_COMPUTED);
    paw_program_close(p);
    struct stat kst;
    assert_int_equal(lstat(kv, &kst), 0);
    assert_true(S_ISREG(kst.st_mode));

    /* kill -9 of `paw run` at many points of its first run */
    snprintf(glob_cmd, sizeof glob_cmd, "ls '%s' | grep -c '\\.bin\\.w' > '%s'", dir, tpath("n.txt"));
    enum { POINTS = 24 };
    for (int i = 0; i < POINTS; i++) {
        char cmd[4000];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/prefix_kv.*", dir);
        assert_int_equal(system(cmd), 0);
        pid_t kid = fork();
        assert_true(kid >= 0);
        if (kid == 0) {
            int nul = open("/dev/null", O_RDWR);
            dup2(nul, 1);
            dup2(nul, 2);
            execl(paw_bin(), paw_bin(), "run", "-c", "512", "-n", "1", "-t", "1", "kv", "hi", (char *)NULL);
            _exit(127);
        }
        usleep((useconds_t)(40000 * i));  /* 0 .. ~1 s: load, prefix, write, answer */
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        g_run_kills++;
        int sr = system(glob_cmd);  /* grep -c exits 1 when it counts 0 */
        (void)sr;
        char *nt = tu_read_file(tpath("n.txt"), NULL);
        g_run_temps += nt && atoi(nt) > 0;
        free(nt);
        assert_int_equal(paw_program_open(g_model, "kv", &o, &p), PAW_OK);  /* whole or recomputed */
        char *out = NULL;
        assert_int_equal(paw_program_call(p, "hi", 2, 1, &out, NULL), PAW_OK);
        free(out);
        paw_program_close(p);
        sr = system(glob_cmd);
        (void)sr;
        char *n = tu_read_file(tpath("n.txt"), NULL);
        assert_int_equal(atoi(n), 0);
        free(n);
    }
    print_message("paw run kill points %d: a prefix-KV temp file was left by %d (all swept)\n", g_run_kills,
                  g_run_temps);
    paw_bundle_free(b);
}

/* Generation cut by the end of the context says so: a stderr notice and
 * "finish":"length" in JSON; a normal stop is "stop". */
static void test_ctx_full_reported(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(0);
    paw_program_opts o = {0};
    paw_program *p = NULL;
    assert_int_equal(paw_program_open_base(g_model, &o, &p), PAW_OK);
    const char *in = "Write a long story about a dragon.";
    int32_t n_pre;
    paw_program_prefix_ids(p, &n_pre);
    int32_t *ids;
    size_t n_in;
    assert_int_equal(paw_program_input_ids(p, in, strlen(in), &ids, &n_in), PAW_OK);
    free(ids);
    paw_program_close(p);
    const int ctx = n_pre + (int)n_in + 6;
    char args[3000];
    write_bytes(tpath("in.jsonl"), "{\"input\": \"Write a long story about a dragon.\"}\n", 48);
    snprintf(args, sizeof args, "run --base -c %d -n 100 --jsonl", ctx);
    assert_int_equal(run_paw(args, tpath("in.jsonl")), 0);
    char *out = out_txt();
    assert_non_null(strstr(out, "\"finish\":\"length\""));
    free(out);
    expect_err("end of the context");
    snprintf(args, sizeof args, "run --base -c %d -n 100 'Write a long story about a dragon.'", ctx);
    assert_int_equal(run_paw(args, NULL), 0);
    expect_err("end of the context");
    snprintf(args, sizeof args, "generate -m smollm2-135m -c %d -n 100 --json -p 'Write a long story'", 12);
    assert_int_equal(run_paw(args, NULL), 0);
    out = out_txt();
    assert_non_null(strstr(out, "\"finish\":\"length\""));
    free(out);
    expect_err("end of the context");
    /* -n cuts: "length", no context notice */
    assert_int_equal(run_paw("run --base -n 2 --jsonl", tpath("in.jsonl")), 0);
    out = out_txt();
    assert_non_null(strstr(out, "\"finish\":\"length\""));
    free(out);
    char *e = err_txt();
    assert_null(strstr(e, "end of the context"));
    free(e);
}

/* `paw eval --programs`: a task id that is no file name is refused before
 * any work; a broken program fails its own task and the suite goes on. */
static void test_eval_task_failures(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(0);
    char dir[600], args[1500];
    snprintf(dir, sizeof dir, "%s/progs", g_tmp);
    mkdir(dir, 0755);
    paw_bundle *good = smol_bundle(0.01f, 0.0f, NULL);
    char p[800];
    snprintf(p, sizeof p, "%s/good.paw", dir);
    assert_int_equal(paw_bundle_write(good, p), PAW_OK);
    paw_bundle *bad = smol_bundle(0.01f, 0.0f, NULL);  /* for another base: will not open */
    free(bad->meta.interpreter);
    bad->meta.interpreter = strdup("Qwen/Qwen3-0.6B");
    free(bad->meta.runtime_id);
    bad->meta.runtime_id = strdup("qwen3-0.6b-q6_k");
    snprintf(p, sizeof p, "%s/broken.paw", dir);
    assert_int_equal(paw_bundle_write(bad, p), PAW_OK);
    const char *suite =
        "{\"id\": \"broken\", \"category\": \"c\", \"spec\": \"s\", \"train\": [], \"test\": [{\"input\": \"a\", \"output\": \"b\"}]}\n"
        "{\"id\": \"good\", \"category\": \"c\", \"spec\": \"s\", \"train\": [], \"test\": [{\"input\": \"a\", \"output\": \"b\"}]}\n";
    write_bytes(tpath("suite.jsonl"), suite, strlen(suite));
    snprintf(args, sizeof args, "eval %s --programs %s -n 2 -t 1", tpath("suite.jsonl"), dir);
    assert_int_equal(run_paw(args, NULL), 1);
    char *out = out_txt();
    assert_non_null(strstr(out, "broken"));
    assert_non_null(strstr(out, "error: the program did not open"));
    assert_non_null(strstr(out, "\ngood "));  /* the next task still ran */
    assert_non_null(strstr(out, "mean_em="));
    free(out);
    expect_err("task broken");
    const char *evil = "{\"id\": \"../good\", \"category\": \"c\", \"spec\": \"s\", \"train\": [], \"test\": [{\"input\": \"a\", \"output\": \"b\"}]}\n";
    write_bytes(tpath("evil.jsonl"), evil, strlen(evil));
    snprintf(args, sizeof args, "eval %s --programs %s/sub -n 2 -t 1", tpath("evil.jsonl"), dir);
    assert_int_equal(run_paw(args, NULL), 1);
    expect_err("plain file name");
    paw_bundle_free(good);
    paw_bundle_free(bad);
}

/* An example over the model's context is named by its line in the file. */
static void test_long_example_named(void **state)
{
    (void)state;
    NEED_MODEL();
    cache_model(0);
    FILE *f = fopen(tpath("long.jsonl"), "wb");
    fputs("{\"input\": \"a\", \"output\": \"b\"}\n\n{\"input\": \"", f);
    for (int i = 0; i < 9000; i++) fputs("word ", f);
    fputs("\", \"output\": \"b\"}\n", f);
    fclose(f);
    char args[3000];
    snprintf(args, sizeof args, "train -m smollm2-135m --data %s -o %s/a.gguf --steps 1", tpath("long.jsonl"), g_tmp);
    assert_int_equal(run_paw(args, NULL), 1);
    expect_err("long.jsonl:3:");
    expect_err("context");
}

int main(void)
{
    snprintf(g_model_path, sizeof g_model_path, "%s", tu_smollm2());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_same_size_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adapter_fits_base_and_logits_finite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_temps_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_full_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_task_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_example_named, setup, teardown),
    };
    return cmocka_run_group_tests(tests, model_group_setup, model_group_teardown);
}
