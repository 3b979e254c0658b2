/* fuzz_toolcall.c — libFuzzer target for the tool-calling glue of `paw
 * serve` (tools/server/toolcall_glue.c), which reads a request's "tools"
 * and types the argument program's free-text answers against those
 * schemas.
 *
 * Input: VALUE '\n' JSON.  JSON is parsed (jansson); as the request body's
 * "tools" it goes through tc_read_tools, which must either accept it (then
 * every tool has a name and its properties are schema objects) or fill the
 * error message.  For each accepted parameter, tc_param_line must give a
 * line starting "Parameter: ", and tc_typed_value(VALUE) must give NULL or a
 * value of the schema's JSON type.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../tools/server/toolcall_glue.c"

static void check_param(const char *name, json_t *schema, const char *value)
{
    char *line = tc_param_line(name, schema);
    if (!line || strncmp(line, "Parameter: ", 11)) abort();
    free(line);
    char *v = strdup(value);
    if (!v) abort();
    json_t *x = tc_typed_value(tc_trim_value(v), schema);
    free(v);
    if (!x) return;
    json_t *en = json_object_get(schema, "enum");
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (json_is_array(en) && json_array_size(en)) {
        size_t i;
        json_t *e;
        int found = 0;
        json_array_foreach(en, i, e) found |= json_equal(e, x);
        if (!found) abort();
    } else if (type && !strcmp(type, "integer") && !json_is_integer(x)) {
        abort();
    } else if (type && !strcmp(type, "boolean") && !json_is_boolean(x)) {
        abort();
    } else if (type && !strcmp(type, "array") && !json_is_array(x)) {
        abort();
    }
    json_decref(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    char *value = strndup((const char *)data, (size_t)(nl - data));
    if (!value) return 0;
    json_t *tools = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, 0, NULL);
    tc_tool t[TC_MAX_TOOLS];
    size_t n = 0;
    char err[256] = "";
    if (tools && tc_read_tools(tools, t, &n, err, sizeof err)) {
        for (size_t i = 0; i < n; i++) {
            if (!t[i].name || !*t[i].name) abort();
            const char *pn;
            json_t *ps;
            json_object_foreach(t[i].props, pn, ps) {
                if (!json_is_object(ps)) abort();
                check_param(pn, ps, value);
            }
        }
    } else if (tools && !err[0]) {
        abort();
    }
    json_decref(tools);
    free(value);
    return 0;
}
