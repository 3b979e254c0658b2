/* cmd_programs.c — the program cache from the command line:
 *   paw programs [--json]               list installed programs
 *   paw programs --remote [QUERY]       search the hub (GET /programs?q=)
 *   paw install FILE.paw [--alias NAME] install a bundle (prints its ID)
 * and cli_info_program(), which `paw info` calls for a .paw file or an
 * installed program: spec, pseudo-program, base, adapter shape, metrics. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

/* The first string among keys in o ("" if none). */
static const char *first_str(json_t *o, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (json_is_string(v)) return json_string_value(v);
    }
    return "";
}

/* `paw programs --remote [QUERY]`: the hub's GET /programs?q=.  The answer's
 * list may be the top level or under programs/items/results; each entry's
 * id, slug and first line of its spec (or name/description) are shown. */
static int list_remote(const char *query, int as_json)
{
    char *txt = NULL;
    if (paw_hub_search(query, &txt, NULL)) return cli_fail("programs");
    if (as_json) {
        puts(txt);
        paw_free(txt);
        return 0;
    }
    json_t *o = json_loads(txt, 0, NULL);
    paw_free(txt);
    json_t *list = o;
    static const char *const lists[] = {"programs", "items", "results", "data", NULL};
    for (int i = 0; lists[i] && !json_is_array(list); i++) list = json_object_get(o, lists[i]);
    if (!json_is_array(list)) {
        json_decref(o);
        fprintf(stderr, "paw programs: the hub's answer holds no list of programs (try --json)\n");
        return 1;
    }
    static const char *const ids[] = {"id", "program_id", NULL}, *const slugs[] = {"slug", "full_slug", NULL},
                             *const specs[] = {"spec", "description", "name", NULL};
    size_t i;
    json_t *e;
    if (!json_array_size(list)) puts("no programs found");
    else printf("%-20s  %-32s  %s\n", "ID", "SLUG", "SPEC");
    json_array_foreach(list, i, e) {
        if (!json_is_object(e)) continue;
        const char *spec = first_str(e, specs), *slug = first_str(e, slugs);
        printf("%-20s  %-32s  %.*s\n", first_str(e, ids), *slug ? slug : "-", (int)strcspn(spec, "\r\n"), spec);
    }
    json_decref(o);
    return 0;
}

int cmd_programs(int argc, char **argv)
{
    int as_json = 0, remote = 0;
    const char *query = NULL;
    static const char use[] = "usage: paw programs [--json]\n       paw programs --remote [QUERY] [--json]\n";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) as_json = 1;
        else if (!strcmp(argv[i], "--remote")) remote = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(use, stdout);
            return 0;
        } else if (remote && !query && argv[i][0] != '-') {
            query = argv[i];
        } else {
            fprintf(stderr, "paw programs: unknown argument '%s'\n%s", argv[i], use);
            return 2;
        }
    }
    if (remote) return list_remote(query, as_json);
    paw_program_info *list = NULL;
    size_t n = 0;
    if (paw_program_list(&list, &n)) return cli_fail("programs");
    if (as_json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "id", list[i].id,
                                               "aliases", list[i].aliases, "program_id", list[i].program_id,
                                               "interpreter", list[i].interpreter, "spec", list[i].spec_line,
                                               "size", (json_int_t)list[i].size));
        char *s = json_dumps(a, JSON_COMPACT);
        if (s) puts(s);
        free(s);
        json_decref(a);
    } else if (!n) {
        puts("no programs installed (paw install FILE.paw)");
    } else {
        printf("%-20s  %-16s  %-36s  %8s  %s\n", "ID", "ALIASES", "INTERPRETER", "SIZE", "SPEC");
        for (size_t i = 0; i < n; i++) {
            /* aliases are validated; interpreter and spec come from meta.json */
            printf("%-20s  %-16s  ", list[i].id, list[i].aliases[0] ? list[i].aliases : "-");
            size_t il = strlen(list[i].interpreter), sl = strlen(list[i].spec_line);
            cli_put_text(stdout, list[i].interpreter, il);
            printf("%*s  %7.1fM  ", il < 36 ? (int)(36 - il) : 0, "", list[i].size / 1048576.0);
            cli_put_text(stdout, list[i].spec_line, sl < 60 ? sl : 60);
            putchar('\n');
        }
    }
    paw_program_list_free(list, n);
    return 0;
}

int cmd_install(int argc, char **argv)
{
    const char *file = NULL, *alias = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--alias") && i + 1 < argc) alias = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: paw install FILE.paw [--alias NAME]");
            return 0;
        } else if (argv[i][0] == '-' || file) {
            fprintf(stderr, "paw install: bad argument '%s'\nusage: paw install FILE.paw [--alias NAME]\n",
                    argv[i]);
            return 2;
        } else {
            file = argv[i];
        }
    }
    if (!file) { fputs("usage: paw install FILE.paw [--alias NAME]\n", stderr); return 2; }
    char id[PAW_PROGRAM_ID_LEN + 1];
    if (paw_program_install_file(file, alias, id)) return cli_fail("install");
    printf("%s\n", id);
    if (alias) fprintf(stderr, "paw install: %s installed as %s\n", id, alias);
    return 0;
}

/* Adapter shape from its GGUF: rank, tensor type, layers and projections. */
static json_t *adapter_json(const paw_bundle *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "bytes", json_integer((json_int_t)b->adapter_len));
    paw_gguf *g = NULL;
    if (paw_gguf_open_mem(b->adapter, b->adapter_len, &g)) {
        json_object_set_new(o, "error", json_string(paw_last_error()));
        return o;
    }
    paw_str s;
    if (!paw_gguf_get_str(g, "adapter.type", &s)) json_object_set_new(o, "type", json_stringn(s.ptr, s.len));
    if (!paw_gguf_get_str(g, "general.architecture", &s))
        json_object_set_new(o, "architecture", json_stringn(s.ptr, s.len));
    float alpha;
    if (!paw_gguf_get_f32(g, "adapter.lora.alpha", &alpha)) json_object_set_new(o, "alpha", json_real(alpha));
    json_t *targets = json_array(), *types = json_array();
    int64_t rank = 0, max_layer = -1, n_params = 0;
    for (int64_t i = 0; i < paw_gguf_n_tensors(g); i++) {
        const paw_gguf_tensor *t = paw_gguf_tensor_at(g, i);
        n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        const char *tn = paw_type_name(t->type);
        json_t *jt = json_string(tn ? tn : "?");
        size_t k;
        json_t *e;
        int seen = 0;
        json_array_foreach(types, k, e) seen |= json_equal(e, jt);
        if (!seen) json_array_append(types, jt);
        json_decref(jt);
        /* blk.N.<stem>.weight.lora_a: ne[1] of lora_a is the rank. */
        int layer = -1, off = 0;
        if (sscanf(t->name, "blk.%d.%n", &layer, &off) != 1 || off <= 0) continue;
        const char *stem = t->name + off, *dot = strstr(stem, ".weight.lora_a");
        if (!dot) continue;
        if (layer > max_layer) max_layer = layer;
        rank = t->ne[1];
        json_t *js = json_stringn(stem, (size_t)(dot - stem));
        seen = 0;
        json_array_foreach(targets, k, e) seen |= json_equal(e, js);
        if (!seen) json_array_append(targets, js);
        json_decref(js);
    }
    json_object_set_new(o, "rank", json_integer(rank));
    json_object_set_new(o, "layers", json_integer(max_layer + 1));
    json_object_set_new(o, "targets", targets);
    json_object_set_new(o, "tensor_types", types);
    json_object_set_new(o, "params", json_integer(n_params));
    paw_gguf_close(g);
    return o;
}

static json_t *json_or_null(const char *s)
{
    json_t *j = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

int cli_info_program(const char *arg, int as_json)
{
    paw_program_ref ref;
    paw_bundle *b = NULL;
    /* paw_bundle_load checks an installed program against its content ID. */
    if (paw_program_resolve(arg, &ref) || paw_bundle_load(arg, &b)) return cli_fail("info");
    const paw_program_meta *m = &b->meta;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "installed", json_boolean(ref.dir[0] != 0));
    json_object_set_new(o, "program_id", str_or_null(m->program_id));
    json_object_set_new(o, "spec", str_or_null(m->spec));
    json_object_set_new(o, "pseudo_program", b->pseudo_program ? json_stringn(b->pseudo_program,
                                                                              b->pseudo_program_len) : json_null());
    json_object_set_new(o, "interpreter", str_or_null(m->interpreter));
    json_object_set_new(o, "runtime_id", str_or_null(m->runtime_id));
    json_object_set_new(o, "base_sha256", str_or_null(m->base_sha256));
    json_object_set_new(o, "lora_rank", json_integer(m->lora_rank));
    json_object_set_new(o, "lora_alpha", json_real(m->lora_alpha));
    json_object_set_new(o, "adapter", adapter_json(b));
    json_object_set_new(o, "compiler", m->compiler_name ? json_pack("{s:s,s:s?,s:o}", "name", m->compiler_name,
                                                                    "version", m->compiler_version, "settings",
                                                                    json_or_null(m->compiler_settings_json))
                                                        : json_null());
    json_object_set_new(o, "metrics", json_or_null(m->metrics_json));
    /* a closed-label program's labels (meta.json "labels"), null otherwise */
    json_t *x = json_or_null(m->extra_json), *labels = json_object_get(x, "labels");
    json_object_set(o, "labels", labels ? labels : json_null());
    json_decref(x);
    json_object_set_new(o, "examples", json_integer((json_int_t)m->n_examples));
    json_object_set_new(o, "created_at", str_or_null(m->created_at));
    json_object_set_new(o, "template_bytes", json_integer((json_int_t)b->prompt_template_len));
    paw_bundle_free(b);
    char *s = NULL;
    if (as_json) {
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (s) puts(s);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            if (json_is_string(v) && strchr(json_string_value(v), '\n')) {
                printf("%s:\n", k);
                const char *p = json_string_value(v);
                while (*p) {
                    size_t l = strcspn(p, "\n");
                    fputs("    ", stdout);
                    cli_put_text(stdout, p, l);
                    putchar('\n');
                    p += l + (p[l] == '\n');
                }
                continue;
            }
            char *vs = json_is_string(v) ? strdup(json_string_value(v))
                                         : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
            printf("%-15s ", k);
            cli_put_text(stdout, vs ? vs : "?", vs ? strlen(vs) : 1);
            putchar('\n');
            free(vs);
        }
    }
    free(s);
    json_decref(o);
    return 0;
}
