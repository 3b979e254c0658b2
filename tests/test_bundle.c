/* test_bundle.c — the .paw bundle reader and writer, meta.json and program
 * IDs.  The official bundle (bundle_fixtures.h) is read; hostile variants of
 * it, made by editing that ZIP, must each be refused with a clear error and
 * leave nothing in the program cache. */
#include "bundle_fixtures.h"
#include "model/gguf.h"

/* ------------------------------------------------------------- reading */

static void test_official_layout_reads(void **state)
{
    (void)state;
    size_t zlen;
    uint8_t *z = official_zip(&zlen);
    paw_bundle *b = NULL;
    int rc = paw_bundle_read_mem(z, zlen, &b);
    if (rc) fail_msg("%s", paw_last_error());
    assert_string_equal(b->meta.program_id, "a6b454023d41ac9ca845");
    assert_string_equal(b->meta.interpreter, "Qwen/Qwen3-0.6B");
    assert_string_equal(b->meta.runtime_id, "qwen3-0.6b-q6_k");
    assert_string_equal(b->meta.spec, "Classify emails as urgent or not urgent.");
    assert_string_equal(b->meta.created_at, "2026-04-07T12:00:00Z");
    assert_int_equal(b->meta.lora_rank, 64);
    assert_true(b->meta.lora_alpha == 16.0);
    assert_int_equal(b->meta.version, 3);
    assert_int_equal(b->meta.n_examples, 0);
    /* Fields paw does not model travel in extra_json, sorted and compact. */
    assert_non_null(b->meta.extra_json);
    assert_non_null(strstr(b->meta.extra_json, "\"compiler_snapshot\":\"paw-4b-qwen3-0.6b-20260407\""));
    assert_non_null(strstr(b->meta.extra_json, "\"runtime\":{\"n_ctx\":2048}"));
    assert_non_null(strstr(b->meta.extra_json, "\"prefix_steps\":null"));
    assert_memory_equal(b->prompt_template, QWEN3_TEMPLATE, strlen(QWEN3_TEMPLATE));
    assert_int_equal(b->prompt_template_len, strlen(QWEN3_TEMPLATE));
    assert_string_equal(b->pseudo_program, PSEUDO);
    size_t alen;
    uint8_t *adapter = make_adapter("adapter", "lora", &alen);
    assert_int_equal(b->adapter_len, alen);
    assert_memory_equal(b->adapter, adapter, alen);
    /* Our content ID, not theirs, keys the cache. */
    assert_true(is_hex_id(b->id));
    assert_string_not_equal(b->id, b->meta.program_id);
    char id[PAW_PROGRAM_ID_LEN + 1];
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_equal(id, b->id);

    /* The ID ignores program_id and created_at, and sees everything else. */
    free(b->meta.program_id); b->meta.program_id = strdup("0123456789abcdef0123");
    free(b->meta.created_at); b->meta.created_at = strdup("2030-01-01T00:00:00Z");
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_equal(id, b->id);
    b->meta.lora_rank = 32;
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);
    b->meta.lora_rank = 64;
    b->adapter[b->adapter_len - 1] ^= 1;
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);
    b->adapter[b->adapter_len - 1] ^= 1;
    b->prompt_template[0] = '!';
    assert_int_equal(paw_program_id(b, id), PAW_OK);
    assert_string_not_equal(id, b->id);

    /* Seeds for fuzz/fuzz_bundle.c: PAW_FUZZ_SEED_DIR=fuzz/corpus/bundle. */
    const char *seeds = getenv("PAW_FUZZ_SEED_DIR");
    if (seeds) {
        char sp[600];
        snprintf(sp, sizeof sp, "%s/official.paw", seeds);
        write_bytes(sp, z, zlen);
        paw_bundle *mine = make_paw_bundle("Decide whether an email is urgent.");
        /* tiny.paw: the smallest valid bundle, one 32x1 Q4_0 tensor padded
         * to the 1024-byte adapter minimum, so mutations stay cheap. */
        paw_gguf_writer *w = paw_gguf_writer_new();
        static const uint8_t block[18] = {0x00, 0x2C, 0x12, 0x34};
        char pad[800];
        memset(pad, 'p', sizeof pad);
        int64_t ne[2] = {32, 1};
        assert_int_equal(paw_gguf_writer_set_str(w, "general.type", "adapter", 7), PAW_OK);
        assert_int_equal(paw_gguf_writer_set_str(w, "adapter.type", "lora", 4), PAW_OK);
        assert_int_equal(paw_gguf_writer_set_str(w, "general.name", pad, sizeof pad), PAW_OK);
        assert_int_equal(paw_gguf_writer_add_tensor(w, "blk.0.attn_q.weight.lora_a", PAW_TYPE_Q4_0, 2,
                                                    ne, block), PAW_OK);
        assert_int_equal(paw_gguf_writer_write(w, tpath("tiny.gguf")), PAW_OK);
        paw_gguf_writer_free(w);
        paw_program_meta_clear(&mine->meta);
        free(mine->adapter);
        free(mine->pseudo_program);
        mine->pseudo_program = NULL;
        mine->adapter = (uint8_t *)tu_read_file(tpath("tiny.gguf"), &mine->adapter_len);
        free(mine->prompt_template);
        mine->prompt_template = strdup("Q: {INPUT_PLACEHOLDER}\nA:");
        mine->prompt_template_len = strlen(mine->prompt_template);
        mine->meta.interpreter = strdup("gpt2");
        snprintf(sp, sizeof sp, "%s/tiny.paw", seeds);
        if (paw_bundle_write(mine, sp)) fail_msg("%s", paw_last_error());
        /* The same members in fuzz_bundle's structured form ('S' ...). */
        char *meta;
        size_t ml;
        assert_int_equal(paw_program_meta_json(&mine->meta, &meta, &ml), PAW_OK);
        snprintf(sp, sizeof sp, "%s/structured-tiny.bin", seeds);
        FILE *f = fopen(sp, "wb");
        assert_non_null(f);
        uint8_t l16[2] = {(uint8_t)ml, (uint8_t)(ml >> 8)};
        fputc('S', f);
        fwrite(l16, 1, 2, f);
        fwrite(meta, 1, ml, f);
        l16[0] = (uint8_t)mine->prompt_template_len;
        l16[1] = (uint8_t)(mine->prompt_template_len >> 8);
        fwrite(l16, 1, 2, f);
        fwrite(mine->prompt_template, 1, mine->prompt_template_len, f);
        fwrite(mine->adapter, 1, mine->adapter_len, f);
        fclose(f);
        free(meta);
        paw_bundle_free(mine);
    }

    /* Also from a file. */
    paw_bundle *b2 = NULL;
    write_bytes(tpath("official.paw"), z, zlen);
    rc = paw_bundle_read(tpath("official.paw"), &b2);
    if (rc) fail_msg("%s", paw_last_error());
    free(adapter);
    paw_bundle_free(b2);
    paw_bundle_free(b);
    free(z);
}


static void test_roundtrip_byte_identical(void **state)
{
    (void)state;
    paw_bundle *b = make_paw_bundle("Decide whether an email is urgent.");
    assert_null(b->meta.program_id);
    int rc = paw_bundle_write(b, tpath("p1.paw"));
    if (rc) fail_msg("%s", paw_last_error());
    /* The writer names the program by its content ID. */
    assert_true(is_hex_id(b->id));
    assert_string_equal(b->meta.program_id, b->id);

    paw_bundle *r = NULL;
    rc = paw_bundle_read(tpath("p1.paw"), &r);
    if (rc) fail_msg("%s", paw_last_error());
    assert_same_content(b, r);
    assert_int_equal(r->meta.n_examples, 2);
    assert_string_equal(r->meta.examples[0].input, "server down — all users affected");
    assert_string_equal(r->meta.compiler_name, "paw-train");
    assert_string_equal(r->meta.compiler_settings_json, "{\"lr\":0.001,\"steps\":200}");
    assert_string_equal(r->meta.metrics_json, "{\"holdout_acc\":0.75,\"train_acc\":1.0}");
    assert_null(r->meta.extra_json);

    /* Written again, a second later (timestamps must not leak in), from the
     * read-back copy: the same bytes. */
    sleep(1);
    rc = paw_bundle_write(r, tpath("p2.paw"));
    if (rc) fail_msg("%s", paw_last_error());
    size_t l1, l2;
    char *f1 = tu_read_file(tpath("p1.paw"), &l1), *f2 = tu_read_file(tpath("p2.paw"), &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(f1, f2, l1);
    /* No temp files left beside the output. */
    assert_int_equal(count_entries(g_tmp), 2);
    free(f1);
    free(f2);

    /* An official bundle re-packed by paw keeps its ID and its program_id. */
    size_t zlen;
    uint8_t *z = official_zip(&zlen);
    paw_bundle *o = NULL, *o2 = NULL;
    assert_int_equal(paw_bundle_read_mem(z, zlen, &o), PAW_OK);
    uint8_t *w1, *w2;
    size_t wl1, wl2;
    assert_int_equal(paw_bundle_write_mem(o, &w1, &wl1), PAW_OK);
    assert_int_equal(paw_bundle_read_mem(w1, wl1, &o2), PAW_OK);
    assert_same_content(o, o2);
    assert_string_equal(o2->meta.program_id, "a6b454023d41ac9ca845");
    assert_int_equal(paw_bundle_write_mem(o2, &w2, &wl2), PAW_OK);
    assert_int_equal(wl1, wl2);
    assert_memory_equal(w1, w2, wl1);

    free(w1); free(w2); free(z);
    paw_bundle_free(o); paw_bundle_free(o2);
    paw_bundle_free(r);
    paw_bundle_free(b);
}

static void test_writer_refuses_invalid(void **state)
{
    (void)state;
    paw_bundle *b = make_paw_bundle("x");
    free(b->prompt_template);
    b->prompt_template = strdup("no placeholder here");
    b->prompt_template_len = strlen(b->prompt_template);
    assert_int_equal(paw_bundle_write(b, tpath("bad.paw")), PAW_EFORMAT);
    assert_non_null(strstr(paw_last_error(), "exactly one {INPUT_PLACEHOLDER}"));
    assert_int_equal(count_entries(g_tmp), 0);
    paw_bundle_free(b);

    b = make_paw_bundle("x");
    free(b->meta.interpreter);
    b->meta.interpreter = NULL;
    assert_int_equal(paw_bundle_write(b, tpath("bad.paw")), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "interpreter"));
    b->meta.interpreter = strdup("gpt2");
    b->meta.extra_json = strdup("{\"spec\": \"twice\"}");
    assert_int_equal(paw_bundle_write(b, tpath("bad.paw")), PAW_EINVAL);
    assert_non_null(strstr(paw_last_error(), "repeats the key \"spec\""));
    assert_int_equal(count_entries(g_tmp), 0);
    paw_bundle_free(b);
}

/* ----------------------------------------------------------- abuses */

/* Rewrites the uncompressed size of member `name` in its local header and in
 * the central directory, keeping the ZIP self-consistent (so the lie is only
 * visible when inflating). */
static void patch_size(uint8_t *z, size_t n, const char *name, uint32_t size)
{
    size_t nl = strlen(name);
    int patched = 0;
    for (size_t i = 0; i + 46 < n; i++) {
        uint32_t sig = (uint32_t)z[i] | (uint32_t)z[i + 1] << 8 | (uint32_t)z[i + 2] << 16 |
                       (uint32_t)z[i + 3] << 24;
        size_t off_name, off_size, len_at;
        if (sig == 0x04034b50) { off_name = 30; off_size = 22; len_at = 26; }
        else if (sig == 0x02014b50) { off_name = 46; off_size = 24; len_at = 28; }
        else continue;
        size_t l = (size_t)z[i + len_at] | (size_t)z[i + len_at + 1] << 8;
        if (l != nl || i + off_name + l > n || memcmp(z + i + off_name, name, nl)) continue;
        for (int k = 0; k < 4; k++) z[i + off_size + k] = (uint8_t)(size >> (8 * k));
        patched++;
    }
    assert_int_equal(patched, 2);
}

static void replace_all(uint8_t *z, size_t n, const char *from, const char *to)
{
    size_t l = strlen(from);
    int hits = 0;
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(z + i, from, l)) { memcpy(z + i, to, l); hits++; }
    assert_true(hits >= 2);
}

/* Expects the bundle bytes to be refused with `status` and a message holding
 * `msg`, both from memory and as a file given to install, which must leave
 * the cache without any program. */
static void expect_refused(const uint8_t *z, size_t n, int status, const char *msg)
{
    paw_bundle *b = (paw_bundle *)1;
    int rc = paw_bundle_read_mem(z, n, &b);
    if (rc != status || !strstr(paw_last_error(), msg))
        fail_msg("expected %s \"%s\", got %s \"%s\"", paw_status_name(status), msg,
                 paw_status_name(rc), paw_last_error());
    assert_null(b);
    if (getenv("PAW_TEST_VERBOSE")) print_message("refused: %s\n", paw_last_error());
    write_bytes(tpath("hostile.paw"), z, n);
    char id[PAW_PROGRAM_ID_LEN + 1];
    rc = paw_program_install_file(tpath("hostile.paw"), "hostile", id);
    assert_int_equal(rc, status);
    assert_non_null(strstr(paw_last_error(), tpath("hostile.paw")));  /* names the file */
    assert_cache_has_no_program();
}

/* One variant of the official bundle: member i replaced (data != NULL),
 * renamed (name != NULL) or dropped (drop). */
static void refuse_variant(int i, const char *name, const void *data, size_t len, int drop, int symlink,
                           int status, const char *msg)
{
    official o;
    official_init(&o);
    if (name) o.m[i].name = name;
    if (data) { o.m[i].data = data; o.m[i].len = len; }
    o.m[i].symlink = symlink;
    if (drop) o.m[i] = o.m[3];
    size_t zl;
    uint8_t *z = zbuild(o.m, drop ? 3 : 4, &zl);
    expect_refused(z, zl, status, msg);
    free(z);
    free(o.adapter);
}

static void test_refuses_bad_names(void **state)
{
    (void)state;
    refuse_variant(3, "../evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "path traversal");
    refuse_variant(3, "docs/../../evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "path traversal");
    refuse_variant(3, "/etc/evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "absolute path");
    refuse_variant(3, "C:/evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "absolute path");
    refuse_variant(3, "docs\\evil.txt", NULL, 0, 0, 0, PAW_EFORMAT, "backslash");
    refuse_variant(3, "link", "/etc/passwd", 11, 0, 1, PAW_EFORMAT, "symbolic link");
    /* Even a required member may not be a link. */
    refuse_variant(1, NULL, NULL, 0, 0, 1, PAW_EFORMAT, "symbolic link");
}

static void test_refuses_duplicates_and_missing(void **state)
{
    (void)state;
    /* Two meta.json: made by renaming pseudo_program.txt's twin in the bytes. */
    official o;
    official_init(&o);
    o.m[3] = (zmember){"meta.jsoX", "{}", 2, 0};
    size_t zl;
    uint8_t *z = zbuild(o.m, 4, &zl);
    replace_all(z, zl, "meta.jsoX", "meta.json");
    expect_refused(z, zl, PAW_EFORMAT, "duplicate member");
    free(z);
    free(o.adapter);

    refuse_variant(0, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member adapter.gguf is missing");
    refuse_variant(1, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member prompt_template.txt is missing");
    refuse_variant(2, NULL, NULL, 0, 1, 0, PAW_EFORMAT, "required member meta.json is missing");

    static const uint8_t junk[] = "this is not a zip file at all, just some text";
    expect_refused(junk, sizeof junk, PAW_EFORMAT, "not a valid ZIP archive");
}

static void test_refuses_bad_members(void **state)
{
    (void)state;
    const char *two = "{INPUT_PLACEHOLDER} and again {INPUT_PLACEHOLDER}";
    refuse_variant(1, NULL, two, strlen(two), 0, 0, PAW_EFORMAT, "exactly one {INPUT_PLACEHOLDER}, found 2");
    const char *zero = "<|im_start|>user\n{INPUT}<|im_end|>";
    refuse_variant(1, NULL, zero, strlen(zero), 0, 0, PAW_EFORMAT, "exactly one {INPUT_PLACEHOLDER}, found 0");
    const char *latin1 = "caf\xe9 {INPUT_PLACEHOLDER}";
    refuse_variant(1, NULL, latin1, strlen(latin1), 0, 0, PAW_EFORMAT, "invalid UTF-8");

    static uint8_t not_gguf[2048];
    memset(not_gguf, 'x', sizeof not_gguf);
    refuse_variant(0, NULL, not_gguf, sizeof not_gguf, 0, 0, PAW_EFORMAT, "not a GGUF file");
    refuse_variant(0, NULL, "GGUF", 4, 0, 0, PAW_EFORMAT, "an adapter has at least 1024");
    size_t ml, tl;
    uint8_t *model = make_adapter("model", NULL, &ml);
    refuse_variant(0, NULL, model, ml, 0, 0, PAW_EFORMAT, "general.type is not \"adapter\"");
    free(model);
    model = make_adapter("adapter", "control_vector", &ml);
    refuse_variant(0, NULL, model, ml, 0, 0, PAW_EFORMAT, "adapter.type is not \"lora\"");
    /* GGUF magic and a header, then truncated. */
    uint8_t *trunc = make_adapter("adapter", "lora", &tl);
    refuse_variant(0, NULL, trunc, 1500, 0, 0, PAW_EFORMAT, "adapter.gguf");
    free(trunc);
    free(model);

    const char *bad_json = "{\"program_id\": \"a6b454023d41ac9ca845\", \"interpreter\": ";
    refuse_variant(2, NULL, bad_json, strlen(bad_json), 0, 0, PAW_EFORMAT, "meta.json: invalid JSON");
    refuse_variant(2, NULL, "[3]", 3, 0, 0, PAW_EFORMAT, "meta.json: not a JSON object");
    const char *no_interp = "{\"program_id\": \"a6b454023d41ac9ca845\", \"version\": 3}";
    refuse_variant(2, NULL, no_interp, strlen(no_interp), 0, 0, PAW_EFORMAT, "missing \"interpreter\"");
    const char *bad_rank = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"lora_rank\": \"64\"}";
    refuse_variant(2, NULL, bad_rank, strlen(bad_rank), 0, 0, PAW_EFORMAT, "\"lora_rank\" must be");
    const char *dup_key = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"interpreter\": \"x\"}";
    refuse_variant(2, NULL, dup_key, strlen(dup_key), 0, 0, PAW_EFORMAT, "duplicate");
    const char *v2 = "{\"program_id\": \"a6\", \"interpreter\": \"gpt2\", \"version\": 2}";
    refuse_variant(2, NULL, v2, strlen(v2), 0, 0, PAW_EUNSUPPORTED, "version 2 is not supported");
}

static void test_refuses_oversize(void **state)
{
    (void)state;
    size_t zl;
    /* Declared: the central directory claims 512 MB + 1 for one member. */
    uint8_t *z = official_zip(&zl);
    patch_size(z, zl, "pseudo_program.txt", (512u << 20) + 1);
    expect_refused(z, zl, PAW_ERANGE, "possible ZIP bomb");
    free(z);
    /* Declared over the text cap for a member we would parse. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", 17u << 20);
    expect_refused(z, zl, PAW_ERANGE, "meta.json declares");
    free(z);
    /* Actual: meta.json declares fewer bytes than it inflates to. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", 100);
    expect_refused(z, zl, PAW_ERANGE, "inflates to more than its declared 100 bytes");
    free(z);
    /* The other way round: declares more than it holds. */
    z = official_zip(&zl);
    patch_size(z, zl, "meta.json", (uint32_t)strlen(OFFICIAL_META) + 10);
    expect_refused(z, zl, PAW_EFORMAT, "meta.json");
    free(z);

    /* 257 members. */
    official o;
    official_init(&o);
    static zmember many[257];
    static char names[257][16];
    for (int i = 0; i < 257; i++) {
        if (i < 4) { many[i] = o.m[i]; continue; }
        snprintf(names[i], sizeof names[i], "extra%03d.txt", i);
        many[i] = (zmember){names[i], "x", 1, 0};
    }
    z = zbuild(many, 257, &zl);
    expect_refused(z, zl, PAW_ERANGE, "257 members, the limit is 256");
    free(z);
    /* 256 is fine. */
    z = zbuild(many, 256, &zl);
    paw_bundle *b = NULL;
    assert_int_equal(paw_bundle_read_mem(z, zl, &b), PAW_OK);
    paw_bundle_free(b);
    free(z);
    free(o.adapter);

    /* A file over 256 MB (sparse: its size alone must refuse it). */
    int fd = open(tpath("huge.paw"), O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(257u << 20)), 0);
    close(fd);
    assert_int_equal(paw_bundle_read(tpath("huge.paw"), &b), PAW_ERANGE);
    assert_non_null(strstr(paw_last_error(), "over the 268435456-byte limit"));
    assert_int_equal(paw_program_install_file(tpath("huge.paw"), NULL, NULL), PAW_ERANGE);
    assert_cache_has_no_program();
}

static void test_meta_shapes_kept(void **state)
{
    (void)state;
    /* Fields in shapes paw does not model survive a read/write cycle, and a
     * differently formatted but equal meta.json gives the same ID. */
    const char *m1 = "{\"program_id\":\"abc\",\"interpreter\":\"gpt2\",\"examples\":[\"a\",\"b\"],"
                     "\"compiler\":{\"name\":\"x\",\"extra\":1},\"lora_alpha\":16,\"spec\":\"s\\u00e9\"}";
    const char *m2 = "{\n  \"spec\": \"s\xc3\xa9\", \"compiler\": {\"extra\": 1, \"name\": \"x\"},\n"
                     "  \"lora_alpha\": 16.0, \"examples\": [\"a\", \"b\"], \"interpreter\": \"gpt2\",\n"
                     "  \"program_id\": \"def\", \"version\": 3, \"created_at\": \"now\"\n}";
    official o;
    official_init(&o);
    paw_bundle *b1 = NULL, *b2 = NULL, *b3 = NULL;
    size_t zl;
    o.m[2] = (zmember){"meta.json", m1, strlen(m1), 0};
    uint8_t *z = zbuild(o.m, 4, &zl);
    assert_int_equal(paw_bundle_read_mem(z, zl, &b1), PAW_OK);
    free(z);
    o.m[2] = (zmember){"meta.json", m2, strlen(m2), 0};
    z = zbuild(o.m, 4, &zl);
    assert_int_equal(paw_bundle_read_mem(z, zl, &b2), PAW_OK);
    free(z);
    assert_string_equal(b1->id, b2->id);
    assert_string_equal(b1->meta.extra_json, "{\"compiler\":{\"extra\":1,\"name\":\"x\"},\"examples\":[\"a\",\"b\"]}");
    assert_int_equal(b1->meta.n_examples, 0);
    assert_string_equal(b1->meta.spec, "s\xc3\xa9");
    uint8_t *w;
    assert_int_equal(paw_bundle_write_mem(b1, &w, &zl), PAW_OK);
    assert_int_equal(paw_bundle_read_mem(w, zl, &b3), PAW_OK);
    assert_same_content(b1, b3);
    free(w);

    /* A caller's meta saying "absent" as a null in extra_json: the writer's
     * ID is still the one the reader computes from the file. */
    paw_bundle *c = make_paw_bundle("nulls"), *rc = NULL;
    free(c->meta.runtime_id);
    c->meta.runtime_id = NULL;
    free(c->meta.extra_json);
    c->meta.extra_json = strdup("{\"runtime_id\": null, \"x\": [1, 2.5]}");
    assert_int_equal(paw_bundle_write_mem(c, &w, &zl), PAW_OK);
    assert_int_equal(paw_bundle_read_mem(w, zl, &rc), PAW_OK);
    assert_string_equal(rc->id, c->id);
    assert_string_equal(rc->meta.program_id, c->id);
    assert_null(rc->meta.runtime_id);
    assert_string_equal(rc->meta.extra_json, "{\"x\":[1,2.5]}");
    free(w);
    paw_bundle_free(rc);
    paw_bundle_free(c);

    free(o.adapter);
    paw_bundle_free(b1);
    paw_bundle_free(b2);
    paw_bundle_free(b3);
}

/* The committed golden bundles carry IDs computed by an independent Python
 * implementation of the recipe (tests/golden/bundle/program_id.py); and
 * program.paw, written by an earlier paw, must still be rewritten to the
 * very same bytes, so the format cannot drift unnoticed. */
static void test_golden_ids(void **state)
{
    (void)state;
    static const char *names[] = {"program", "official"};
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof p, "tests/golden/bundle/%s.id", names[i]);
        char *want = tu_read_file(p, NULL);
        assert_non_null(want);
        want[strcspn(want, "\n")] = 0;
        snprintf(p, sizeof p, "tests/golden/bundle/%s.paw", names[i]);
        paw_bundle *b = NULL;
        int rc = paw_bundle_read(p, &b);
        if (rc) fail_msg("%s", paw_last_error());
        assert_string_equal(b->id, want);
        if (i == 0) {
            assert_string_equal(b->meta.program_id, want);
            size_t gl, wl;
            char *golden = tu_read_file(p, &gl);
            uint8_t *w;
            assert_int_equal(paw_bundle_write_mem(b, &w, &wl), PAW_OK);
            assert_int_equal(wl, gl);
            assert_memory_equal(w, golden, gl);
            free(w);
            free(golden);
        }
        paw_bundle_free(b);
        free(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_official_layout_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_byte_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_duplicates_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_oversize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_shapes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
