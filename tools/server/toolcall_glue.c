/* toolcall_glue.c — see toolcall.h.  Pure functions over jansson values. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "toolcall.h"

/* ------------------------------------------------------ validation */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') return 0;
    return 1;
}

/* Checks "tools" as OpenAI defines it ({type: "function", function: {name,
 * description?, parameters?}}, parameters a JSON-schema object; BFCL's
 * "dict" is taken for "object").  1 if valid, else 0 with err filled. */
int tc_read_tools(json_t *tools, tc_tool *t, size_t *n, char *err, size_t cap)
{
    if (!json_is_array(tools) || !json_array_size(tools) || json_array_size(tools) > TC_MAX_TOOLS) {
        snprintf(err, cap, "tools must be a non-empty array of at most %d functions", TC_MAX_TOOLS);
        return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(tools, i, e) {
        json_t *type = json_object_get(e, "type"), *fn = json_object_get(e, "function");
        if (!json_is_object(e) || !json_is_string(type) || strcmp(json_string_value(type), "function") ||
            !json_is_object(fn)) {
            snprintf(err, cap, "tools[%zu] must be {\"type\": \"function\", \"function\": {...}}", i);
            return 0;
        }
        json_t *name = json_object_get(fn, "name"), *desc = json_object_get(fn, "description");
        json_t *params = json_object_get(fn, "parameters");
        if (!json_is_string(name) || !name_ok(json_string_value(name))) {
            snprintf(err, cap, "tools[%zu].function.name must be 1 to 64 letters, digits, "
                        "'_', '-' or '.'", i);
            return 0;
        }
        if (desc && !json_is_string(desc) && !json_is_null(desc)) {
            snprintf(err, cap, "tools[%zu].function.description must be a string", i);
            return 0;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(t[k].name, json_string_value(name))) {
                snprintf(err, cap, "tools[%zu]: two functions are called \"%s\"", i, t[k].name);
                return 0;
            }
        t[i] = (tc_tool){json_string_value(name), json_is_string(desc) ? json_string_value(desc) : "", NULL, NULL,
                         -1, 0};
        if (!params || json_is_null(params)) continue;
        json_t *pt = json_object_get(params, "type"), *props = json_object_get(params, "properties");
        json_t *req = json_object_get(params, "required");
        if (!json_is_object(params) || (pt && (!json_is_string(pt) || (strcmp(json_string_value(pt), "object") &&
                                                                       strcmp(json_string_value(pt), "dict"))))) {
            snprintf(err, cap, "tools[%zu].function.parameters must be a JSON schema of type "
                        "\"object\"", i);
            return 0;
        }
        if ((props && !json_is_object(props)) || json_object_size(props) > TC_MAX_PARAMS) {
            snprintf(err, cap, "tools[%zu].function.parameters.properties must be an object of "
                        "at most %d schemas", i, TC_MAX_PARAMS);
            return 0;
        }
        const char *pn;
        json_t *ps;
        json_object_foreach(props, pn, ps)
            if (!json_is_object(ps)) {
                snprintf(err, cap, "tools[%zu]: the schema of parameter \"%.64s\" must be an "
                            "object", i, pn);
                return 0;
            }
        if (req && !json_is_array(req)) {
            snprintf(err, cap, "tools[%zu].function.parameters.required must be an array", i);
            return 0;
        }
        size_t k;
        json_t *rn;
        json_array_foreach(req, k, rn)
            if (!json_is_string(rn) || !json_object_get(props, json_string_value(rn))) {
                snprintf(err, cap, "tools[%zu].function.parameters.required[%zu] names no "
                            "property", i, k);
                return 0;
            }
        t[i].props = props;
        t[i].required = req;
    }
    *n = json_array_size(tools);
    return 1;
}

/* A message's text: a string, an array of {"text": ...} parts, or null. */
char *tc_msg_text(json_t *m)
{
    json_t *c = json_object_get(m, "content");
    if (!c || json_is_null(c)) return strdup("");
    if (json_is_string(c)) return strdup(json_string_value(c));
    if (!json_is_array(c)) return NULL;
    size_t i, len = 0;
    json_t *part;
    char *out = calloc(1, 1);
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        if (!out || !json_is_string(t)) { free(out); return NULL; }
        char *o = realloc(out, len + json_string_length(t) + 1);
        if (!o) { free(out); return NULL; }
        out = o;
        memcpy(out + len, json_string_value(t), json_string_length(t) + 1);
        len += json_string_length(t);
    }
    return out;
}

/* Appends printf-style text to a malloc'd string (NULL on failure). */
char *tc_append(char *s, const char *fmt, const char *a, const char *b)
{
    if (!s) return NULL;
    size_t n = strlen(s), add = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *o = realloc(s, n + add);
    if (!o) { free(s); return NULL; }
    snprintf(o + n, add, fmt, a, b);
    return o;
}

/* ------------------------------------------------------- argument glue */

static const char *schema_type(json_t *schema)
{
    json_t *t = json_object_get(schema, "type");
    if (json_is_array(t)) t = json_array_get(t, 0);   /* ["string", "null"] */
    return json_is_string(t) ? json_string_value(t) : "string";
}

/* The parameter line of the argument program's input (as the training
 * examples write it). */
char *tc_param_line(const char *name, json_t *schema)
{
    const char *type = schema_type(schema);
    char tbuf[96];
    json_t *items = json_object_get(schema, "items");
    if (!strcmp(type, "array") && json_is_object(items))
        snprintf(tbuf, sizeof tbuf, "array of %s", schema_type(items));
    else
        snprintf(tbuf, sizeof tbuf, "%s", type);
    json_t *d = json_object_get(schema, "description");
    char *line = tc_append(strdup(""), "Parameter: %s (%s): ", name, tbuf);
    /* descriptions with runs of whitespace are written with single spaces */
    const char *p = json_is_string(d) ? json_string_value(d) : "";
    for (int sp = 0; line && *p; p++) {
        if (isspace((unsigned char)*p)) { sp = 1; continue; }
        char c[2] = {*p, 0};
        line = tc_append(line, "%s%s", sp && line[strlen(line) - 1] != ' ' ? " " : "", c);
        sp = 0;
    }
    json_t *en = json_object_get(schema, "enum");
    if (line && json_is_array(en) && json_array_size(en)) {
        line = tc_append(line, "%s%s", line[strlen(line) - 1] == ' ' ? "" : " ", "One of: ");
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v) {
            char *txt = json_dumps(v, JSON_ENCODE_ANY);
            const char *shown = json_is_string(v) ? json_string_value(v) : txt ? txt : "";
            line = tc_append(line, "%s%s", i ? ", " : "", shown);
            free(txt);
        }
        line = tc_append(line, "%s%s", ".", "");
    }
    /* "Parameter: x (t): " with an empty description ends in a space the
     * training inputs never have */
    if (line && line[strlen(line) - 1] == ' ') line[strlen(line) - 1] = 0;
    return line;
}

/* Trims spaces, quotes and a final period in place. */
char *tc_trim_value(char *v)
{
    while (isspace((unsigned char)*v) || *v == '"' || *v == '\'' || *v == '`') v++;
    size_t n = strlen(v);
    while (n && (isspace((unsigned char)v[n - 1]) || v[n - 1] == '"' || v[n - 1] == '\'' || v[n - 1] == '`' ||
                 v[n - 1] == '.'))
        v[--n] = 0;
    return v;
}

/* A number written as text ("1,000", "$5", "10 units"), or 0. */
static int parse_number(const char *v, double *out)
{
    char buf[64];
    size_t k = 0;
    for (const char *p = v; *p && k < sizeof buf - 1; p++) {
        if (*p == ',' || *p == '$' || (*p == ' ' && !k)) continue;
        if (!isdigit((unsigned char)*p) && *p != '.' && *p != '-' && *p != '+' && *p != 'e' && *p != 'E') break;
        buf[k++] = *p;
    }
    buf[k] = 0;
    char *end;
    double d = strtod(buf, &end);
    if (!k || end == buf) return 0;
    *out = d;
    return 1;
}

/* One value typed against its schema; NULL when it cannot be. */
json_t *tc_typed_value(char *v, json_t *schema)
{
    const char *type = schema_type(schema);
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en) && json_array_size(en)) {
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e)
            if (json_is_string(e) && !strcasecmp(json_string_value(e), v)) return json_copy(e);
        json_array_foreach(en, i, e)   /* "Fahrenheit degrees" -> "fahrenheit" */
            if (json_is_string(e) && json_string_length(e) && strcasestr(v, json_string_value(e)))
                return json_copy(e);
        return NULL;
    }
    double d;
    if (!strcmp(type, "integer")) {
        /* in range before the cast (a cast of 1e62 is undefined) */
        if (!parse_number(v, &d) || !(d > -9.0e18 && d < 9.0e18) || d != (double)(long long)d) return NULL;
        return json_integer((json_int_t)d);
    }
    if (!strcmp(type, "number") || !strcmp(type, "float")) {
        if (!parse_number(v, &d)) return NULL;
        return json_real(d);
    }
    if (!strcmp(type, "boolean")) {
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes")) return json_true();
        if (!strcasecmp(v, "false") || !strcasecmp(v, "no")) return json_false();
        return NULL;
    }
    if (!strcmp(type, "array")) {
        json_t *items = json_object_get(schema, "items"), *a = json_array();
        for (char *save = NULL, *tok = strtok_r(v, ",;", &save); tok; tok = strtok_r(NULL, ",;", &save)) {
            tok = tc_trim_value(tok);
            if (!strncmp(tok, "and ", 4)) tok += 4;
            json_t *x = *tok ? (json_is_object(items) ? tc_typed_value(tok, items) : json_string(tok)) : NULL;
            if (x) json_array_append_new(a, x);
        }
        if (!json_array_size(a)) { json_decref(a); return NULL; }
        return a;
    }
    if (!strcmp(type, "object") || !strcmp(type, "dict")) {
        json_t *o = json_loads(v, 0, NULL);
        if (json_is_object(o)) return o;
        json_decref(o);
        return NULL;
    }
    return *v ? json_string(v) : NULL;
}

