/* test_progcache.c — the program cache: install, resolve by path, ID,
 * prefix and alias, aliases, listing, concurrent installs from several
 * processes, and failed installs that must leave nothing behind. */
#include <sys/file.h>
#include "bundle_fixtures.h"

/* ------------------------------------------------------------- cache */

static void programs_path(char *buf, size_t cap, const char *rest)
{
    snprintf(buf, cap, "%s/programs/%s", g_cache, rest);
}

static void test_install_and_resolve(void **state)
{
    (void)state;
    paw_bundle *b = make_paw_bundle("Decide whether an email is urgent.");
    assert_int_equal(paw_bundle_write(b, tpath("mine.paw")), PAW_OK);
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = paw_program_install_file(tpath("mine.paw"), "email-urgent", id);
    if (rc) fail_msg("%s", paw_last_error());
    assert_string_equal(id, b->id);

    /* The directory holds the members, meta.json as the writer stores it. */
    char p[700], *meta;
    size_t ml, fl;
    programs_path(p, sizeof p, id);
    assert_int_equal(count_entries(p), 4);
    assert_int_equal(paw_program_meta_json(&b->meta, &meta, &ml), PAW_OK);
    programs_path(p, sizeof p, "");
    strcat(p, id); strcat(p, "/meta.json");
    char *stored = tu_read_file(p, &fl);
    assert_int_equal(fl, ml);
    assert_memory_equal(stored, meta, ml);
    free(stored);
    free(meta);

    /* Installing again is a no-op with the same ID. */
    char id2[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_install(b, NULL, id2), PAW_OK);
    assert_string_equal(id2, id);

    paw_program_ref ref;
    assert_int_equal(paw_program_resolve(tpath("mine.paw"), &ref), PAW_OK);
    assert_true(ref.is_file);
    assert_string_equal(ref.id, id);
    assert_string_equal(ref.file, tpath("mine.paw"));
    programs_path(p, sizeof p, id);
    assert_string_equal(ref.dir, p);
    const char *args[] = {id, "email-urgent", NULL};
    char prefix[8];
    memcpy(prefix, id, 6);
    prefix[6] = 0;
    args[2] = prefix;
    for (int i = 0; i < 3; i++) {
        rc = paw_program_resolve(args[i], &ref);
        if (rc) fail_msg("%s: %s", args[i], paw_last_error());
        assert_false(ref.is_file);
        assert_string_equal(ref.id, id);
        assert_string_equal(ref.dir, p);
        paw_bundle *l = NULL;
        assert_int_equal(paw_bundle_load(args[i], &l), PAW_OK);
        assert_same_content(b, l);
        paw_bundle_free(l);
    }
    assert_int_equal(paw_program_resolve("no-such-program", &ref), PAW_ENOTFOUND);
    assert_non_null(strstr(paw_last_error(), "neither a .paw file"));
    memcpy(prefix, id, 3);
    prefix[3] = 0;
    assert_int_equal(paw_program_resolve(prefix, &ref), PAW_ENOTFOUND);  /* too short */

    /* A second program; then an ambiguous prefix. */
    paw_bundle *c = make_paw_bundle("Is this log line about an outage?");
    assert_int_equal(paw_program_install(c, "outage", NULL), PAW_OK);
    assert_string_not_equal(c->id, id);
    char twin[PAW_PROGRAM_ID_LEN + 1], cmd[1600];
    memcpy(twin, id, sizeof twin);
    twin[PAW_PROGRAM_ID_LEN - 1] = twin[PAW_PROGRAM_ID_LEN - 1] == '0' ? '1' : '0';
    snprintf(cmd, sizeof cmd, "cp -r '%s/programs/%s' '%s/programs/%s'", g_cache, id, g_cache, twin);
    assert_int_equal(system(cmd), 0);
    memcpy(prefix, id, 6);
    prefix[6] = 0;
    assert_int_equal(paw_program_resolve(prefix, &ref), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "ambiguous"));
    assert_non_null(strstr(paw_last_error(), twin));
    assert_int_equal(paw_program_resolve(id, &ref), PAW_OK);  /* the full ID still works */

    /* Aliases: validation, moving, removal. */
    assert_int_equal(paw_program_alias_set("cafe", id), PAW_EINVAL);
    assert_int_equal(paw_program_alias_set("../x", id), PAW_EINVAL);
    assert_int_equal(paw_program_alias_set("ok", "ffffffffffffffffffff"), PAW_ENOTFOUND);
    assert_int_equal(paw_program_alias_set("user/triage@v1", c->id), PAW_OK);
    assert_int_equal(paw_program_resolve("user/triage@v1", &ref), PAW_OK);
    assert_string_equal(ref.id, c->id);
    assert_int_equal(paw_program_alias_set("email-urgent", c->id), PAW_OK);  /* moved */
    assert_int_equal(paw_program_resolve("email-urgent", &ref), PAW_OK);
    assert_string_equal(ref.id, c->id);
    assert_int_equal(paw_program_alias_set("email-urgent", id), PAW_OK);

    paw_program_info *list;
    size_t n;
    assert_int_equal(paw_program_list(&list, &n), PAW_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i + 1 < n; i++) assert_true(strcmp(list[i].id, list[i + 1].id) < 0);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(list[i].id, id)) {
            seen |= 1;
            assert_string_equal(list[i].aliases, "email-urgent");
            assert_string_equal(list[i].spec_line, "Decide whether an email is urgent.");
            assert_string_equal(list[i].interpreter, "HuggingFaceTB/SmolLM2-135M-Instruct");
            assert_string_equal(list[i].program_id, id);
            uint64_t want = b->adapter_len + b->prompt_template_len + b->pseudo_program_len + ml;
            assert_int_equal(list[i].size, want);
        } else if (!strcmp(list[i].id, c->id)) {
            seen |= 2;
            assert_string_equal(list[i].aliases, "outage,user/triage@v1");
        }
    }
    assert_int_equal(seen, 3);
    paw_program_list_free(list, n);

    assert_int_equal(paw_program_alias_set("outage", NULL), PAW_OK);
    assert_int_equal(paw_program_resolve("outage", &ref), PAW_ENOTFOUND);
    assert_int_equal(paw_program_alias_set("outage", NULL), PAW_ENOTFOUND);

    /* A corrupt aliases.json is reported, not silently replaced. */
    programs_path(p, sizeof p, "aliases.json");
    write_bytes(p, "{\"a\": 5}", 8);
    assert_int_equal(paw_program_alias_set("new-alias", id), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "aliases.json is corrupt"));

    paw_bundle_free(c);
    paw_bundle_free(b);
}

static void test_concurrent_installs(void **state)
{
    (void)state;
    paw_bundle *b = make_paw_bundle("Concurrent installs.");
    assert_int_equal(paw_bundle_write(b, tpath("c.paw")), PAW_OK);
    enum { KIDS = 3, ROUNDS = 4 };
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            int ok = 1;
            for (int r = 0; r < ROUNDS && ok; r++) {
                char id[PAW_PROGRAM_ID_LEN + 1], alias[32];
                snprintf(alias, sizeof alias, "kid-%d", k);
                ok = paw_program_install_file(tpath("c.paw"), r & 1 ? "shared" : alias, id) == PAW_OK &&
                     !strcmp(id, b->id);
            }
            _exit(ok ? 0 : 1);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    char p[700];
    programs_path(p, sizeof p, ".staging");
    assert_int_equal(count_entries(p), 0);
    programs_path(p, sizeof p, "");
    /* <id>, aliases.json, .locks, .staging */
    assert_int_equal(count_entries(p), 4);
    paw_bundle *l = NULL;
    const char *names[] = {"shared", "kid-0", "kid-1", "kid-2"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(paw_bundle_load(names[i], &l), PAW_OK);
        assert_same_content(b, l);
        paw_bundle_free(l);
    }
    paw_bundle_free(b);
}

static void test_failed_install_leaves_nothing(void **state)
{
    (void)state;
    paw_bundle *b = make_paw_bundle("A failing install.");
    char id[PAW_PROGRAM_ID_LEN + 1], p[700];
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    /* A file where the program's directory must go makes the final rename
     * fail after everything was staged. */
    programs_path(p, sizeof p, "");
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    programs_path(p, sizeof p, id);
    write_bytes(p, "in the way", 10);
    assert_int_equal(paw_program_install(b, "failing", NULL), PAW_EIO);
    assert_non_null(strstr(paw_last_error(), "cannot move"));
    programs_path(p, sizeof p, ".staging");
    assert_int_equal(count_entries(p), 0);
    /* The alias was not set either. */
    paw_program_ref ref;
    assert_int_equal(paw_program_resolve("failing", &ref), PAW_ENOTFOUND);
    /* Once the obstacle is gone the install works. */
    programs_path(p, sizeof p, id);
    unlink(p);
    assert_int_equal(paw_program_install(b, "failing", NULL), PAW_OK);
    assert_int_equal(paw_program_resolve("failing", &ref), PAW_OK);
    paw_bundle_free(b);
}

/* A staging directory left by a crashed install is swept by a later install
 * as soon as its writer is gone (the program's install lock is free); one
 * whose writer still holds the lock (in flight) is left alone. */
static void test_stale_staging_swept(void **state)
{
    (void)state;
    char stale[700], fresh[700], lock[700], cmd[3000];
    programs_path(stale, sizeof stale, ".staging/0123456789abcdef0123-dead01");
    programs_path(fresh, sizeof fresh, ".staging/abcdef01234567890123-live01");
    programs_path(lock, sizeof lock, ".locks/abcdef01234567890123.lock");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s' && echo x > '%s/adapter.gguf' && mkdir -p '%s/programs/.locks'",
             stale, fresh, stale, g_cache);
    assert_int_equal(system(cmd), 0);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);  /* the in-flight writer's lock */
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    paw_bundle *b = make_paw_bundle("Sweep.");
    assert_int_equal(paw_program_install(b, NULL, NULL), PAW_OK);
    struct stat st;
    assert_int_not_equal(stat(stale, &st), 0);
    assert_int_equal(stat(fresh, &st), 0);
    close(fd);  /* the writer is gone */
    assert_int_equal(paw_program_install(b, NULL, NULL), PAW_OK);
    assert_int_not_equal(stat(fresh, &st), 0);
    paw_bundle_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_install_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_installs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_install_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_staging_swept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
