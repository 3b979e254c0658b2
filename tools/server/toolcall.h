/* toolcall.h — the glue of tool calling (toolcall_glue.c): reading OpenAI
 * "tools", the argument program's input lines, and typing its answers
 * against a JSON schema.  No model, no server state: the fuzz target
 * fuzz/fuzz_toolcall.c runs these on arbitrary JSON. */
#ifndef PAW_TOOLCALL_H
#define PAW_TOOLCALL_H
#include <stddef.h>
#include <jansson.h>

#define TC_MAX_TOOLS  128
#define TC_MAX_PARAMS 32

typedef struct tc_tool {
    const char *name, *desc;
    json_t     *props;         /* "properties" object or NULL (borrowed)      */
    json_t     *required;      /* array of names or NULL (borrowed)           */
    double      score;         /* P(call), -1 if not scored                   */
    int         called;        /* already called since the last user message */
} tc_tool;

/* Checks "tools" as OpenAI defines it ({type: "function", function: {name,
 * description?, parameters?}}, parameters a JSON-schema object; BFCL's
 * "dict" is taken for "object") and fills t[0..*n) (TC_MAX_TOOLS room),
 * borrowing from tools.  1 if valid, else 0 with err saying what is wrong. */
int tc_read_tools(json_t *tools, tc_tool *t, size_t *n, char *err, size_t cap);
/* A message's text (malloc'd): content a string, text parts, or null ("");
 * NULL for any other content. */
char *tc_msg_text(json_t *msg);
/* s (malloc'd) + fmt with two string arguments; frees s and gives NULL when
 * memory runs out (s NULL in: NULL out). */
char *tc_append(char *s, const char *fmt, const char *a, const char *b);
/* "Parameter: <name> (<type>): <description>[ One of: a, b.]" (malloc'd). */
char *tc_param_line(const char *name, json_t *schema);
/* Strips spaces, quotes and a final period, in place; returns the start. */
char *tc_trim_value(char *v);
/* The argument program's answer v (modified) typed against schema: enum
 * match, integer, number, boolean, array (comma-separated items), object
 * (JSON), string.  A new reference, or NULL when v does not fit. */
json_t *tc_typed_value(char *v, json_t *schema);

#endif
