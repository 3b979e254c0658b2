/* spec_examples.c — input/output examples written inside a spec's text
 * (paw_compile_spec_examples in paw.h).  Official users have no examples
 * argument: they write their examples into the spec, so the compiler reads
 * them from there.  The spec itself is never changed.
 *
 * The text is read line by line (CRLF and CR become LF).  A line may match:
 *   JSON     {"input": "...", "output": "..."} (one trailing comma allowed,
 *            as in a JSON array written one object per line);
 *   ARROW    [Input:] X (→ | -> | =>) [Output:] Y on one line;
 *   LABELLED Input: X [Output: Y] on one line, or X may continue on
 *            following lines that are neither blank nor labelled, up to an
 *            Output: Y line (Y is that line's rest); an arrow inside X then
 *            stays part of X.
 * Labels are case-insensitive; a list marker ("- ", "* ", "• ", "1. ",
 * "1) ") may come before them.  An arrow line without an "Input:" label is
 * an example only inside an examples block: after a header line ("Examples:",
 * "For example:", "## Examples", ...), up to the first non-blank line that
 * matches no form (so prose such as "maps A -> B" elsewhere is not taken).
 * In the one-line forms a value wrapped in double quotes loses them ("a" ->
 * "b" is the pair a, b); values of the multi-line labelled form are kept as
 * written.  Every value is stripped of surrounding whitespace; a pair with an
 * empty side is skipped. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "compile/compile_internal.h"

typedef struct line { const char *s; size_t n; } line;

static int lower_eq(const char *s, size_t n, const char *word)
{
    size_t k = strlen(word);
    if (n < k) return 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return 0;
    }
    return 1;
}

static line strip(line l)
{
    while (l.n && paw_compile_is_ws(*l.s)) { l.s++; l.n--; }
    while (l.n && paw_compile_is_ws(l.s[l.n - 1])) l.n--;
    return l;
}

/* Drops a leading list marker. */
static line unmark(line l)
{
    l = strip(l);
    if (l.n >= 2 && (l.s[0] == '-' || l.s[0] == '*') && l.s[1] == ' ') { l.s += 2; l.n -= 2; }
    else if (l.n >= 4 && !memcmp(l.s, "\xe2\x80\xa2 ", 4)) { l.s += 4; l.n -= 4; }
    else {
        size_t d = 0;
        while (d < l.n && d < 4 && l.s[d] >= '0' && l.s[d] <= '9') d++;
        if (d && d + 1 < l.n && (l.s[d] == '.' || l.s[d] == ')') && l.s[d + 1] == ' ') { l.s += d + 2; l.n -= d + 2; }
    }
    return strip(l);
}

/* If l starts with "label:" (case-insensitive), the rest after it. */
static int label(line l, const char *word, line *rest)
{
    size_t k = strlen(word);
    if (!lower_eq(l.s, l.n, word) || l.n <= k || l.s[k] != ':') return 0;
    *rest = strip((line){l.s + k + 1, l.n - k - 1});
    return 1;
}

/* The first arrow in l: its offset and length, or 0. */
static size_t find_arrow(line l, size_t *at)
{
    for (size_t i = 0; i < l.n; i++) {
        if (i + 3 <= l.n && !memcmp(l.s + i, "\xe2\x86\x92", 3)) { *at = i; return 3; }
        if (i + 2 <= l.n && (!memcmp(l.s + i, "->", 2) || !memcmp(l.s + i, "=>", 2))) { *at = i; return 2; }
    }
    return 0;
}

/* " Output:" inside l (case-insensitive, after whitespace): its offset. */
static int find_output_label(line l, size_t *at)
{
    for (size_t i = 1; i + 7 <= l.n; i++)
        if (paw_compile_is_ws(l.s[i - 1]) && lower_eq(l.s + i, l.n - i, "output:")) { *at = i; return 1; }
    return 0;
}

static line unquote(line l)
{
    l = strip(l);
    if (l.n >= 2 && l.s[0] == '"' && l.s[l.n - 1] == '"') return strip((line){l.s + 1, l.n - 2});
    return l;
}

static int add(paw_exlist *out, line in, line o)
{
    if (!in.n || !o.n) return PAW_OK;
    char *a = paw_compile_strip(in.s, in.n), *b = paw_compile_strip(o.s, o.n);
    int rc = a && b ? paw_exlist_add(out, a, b) : paw_err(PAW_ENOMEM, "compile: out of memory");
    free(a);
    free(b);
    return rc;
}

/* A JSON example line; 1 when it was one (added), 0 when not, < 0 error. */
static int json_line(line l, paw_exlist *out)
{
    if (l.n && l.s[l.n - 1] == ',') l.n--;
    if (l.n < 2 || l.s[0] != '{' || l.s[l.n - 1] != '}') return 0;
    json_error_t e;
    json_t *j = json_loadb(l.s, l.n, JSON_REJECT_DUPLICATES, &e);
    json_t *in = json_object_get(j, "input"), *o = json_object_get(j, "output");
    int rc = 0;
    if (json_is_string(in) && json_is_string(o)) {
        const char *a = json_string_value(in), *b = json_string_value(o);
        /* A NUL inside a JSON string would cut it short: not an example. */
        if (strlen(a) == json_string_length(in) && strlen(b) == json_string_length(o))
            rc = add(out, (line){a, strlen(a)}, (line){b, strlen(b)});
        rc = rc < 0 ? rc : 1;
    }
    json_decref(j);
    return rc;
}

/* A one-line pair ("[Input:] X -> [Output:] Y", "Input: X Output: Y");
 * 1 added, 0 not one, < 0 error.  Unlabelled arrows only when in_block. */
static int one_line(line l, int in_block, paw_exlist *out)
{
    line rest;
    int labelled = label(l, "input", &rest);
    if (!labelled) {
        if (!in_block) return 0;
        rest = l;
    }
    size_t at = 0, an = find_arrow(rest, &at);
    line in, o;
    if (an) {
        in = (line){rest.s, at};
        o = strip((line){rest.s + at + an, rest.n - at - an});
        line lo;
        if (label(o, "output", &lo)) o = lo;
    } else if (labelled && find_output_label(rest, &at)) {
        in = (line){rest.s, at};
        o = strip((line){rest.s + at + 7, rest.n - at - 7});
    } else {
        return 0;
    }
    in = unquote(in);
    o = unquote(o);
    if (!in.n || !o.n) return 0;
    int rc = add(out, in, o);
    return rc < 0 ? rc : 1;
}

static int is_header(line l)
{
    l = strip(l);
    while (l.n && (*l.s == '#' || *l.s == ' ')) { l.s++; l.n--; }
    int colon = l.n && l.s[l.n - 1] == ':';
    if (colon) l.n--;
    l = strip(l);
    /* "Examples", or a short line ending in "example(s):" */
    static const char *const words[] = {"examples", "example"};
    for (int w = 0; w < 2; w++) {
        size_t k = strlen(words[w]);
        if (l.n == k && lower_eq(l.s, l.n, words[w])) return 1;
        if (colon && l.n > k && l.n <= 40 && lower_eq(l.s + l.n - k, k, words[w]) && l.s[l.n - k - 1] == ' ')
            return 1;
    }
    return 0;
}

static int scan(const char *text, paw_exlist *out)
{
    /* the lines, CR and CRLF taken as LF */
    size_t n_lines = 1;
    for (const char *p = text; *p; p++) n_lines += *p == '\n' || (*p == '\r' && p[1] != '\n');
    line *ls = malloc(n_lines * sizeof *ls);
    if (!ls) return paw_err(PAW_ENOMEM, "compile: out of memory");
    size_t k = 0;
    for (const char *p = text;;) {
        size_t n = strcspn(p, "\r\n");
        ls[k++] = (line){p, n};
        if (!p[n]) break;
        p += n + (p[n] == '\r' && p[n + 1] == '\n' ? 2 : 1);
    }
    int rc = PAW_OK, in_block = 0;
    for (size_t i = 0; rc >= 0 && i < k; i++) {
        line l = unmark(ls[i]), rest;
        if (!l.n) continue;                          /* blank: blocks go on */
        if (is_header(l)) { in_block = 1; continue; }
        rc = json_line(l, out);
        /* "Input: a -> b" followed by an Output: line is the two-line form
         * with an arrow inside the input */
        line o0;
        int next_out = i + 1 < k && label(unmark(ls[i + 1]), "output", &o0);
        if (!rc && !next_out) rc = one_line(l, in_block, out);
        if (!rc && label(l, "input", &rest)) {
            /* the multi-line labelled form: X continues up to an Output: line */
            const char *start = rest.s, *end = rest.s + rest.n;
            size_t j = i + 1;
            line o = {0};
            int found = 0;
            for (; j < k; j++) {
                line m = unmark(ls[j]);
                if (!m.n || label(m, "input", &o)) break;
                if (label(m, "output", &o)) { found = 1; break; }
                end = ls[j].s + ls[j].n;
            }
            if (found) {
                rc = add(out, (line){start, (size_t)(end - start)}, o);
                i = j;
            }
            rc = rc < 0 ? rc : 1;
        }
        if (!rc && !label(l, "output", &rest)) in_block = 0;
    }
    free(ls);
    return rc < 0 ? rc : PAW_OK;
}

int paw_compile_spec_examples(const char *spec, paw_program_example **out, size_t *n_out)
{
    if (!spec || !out || !n_out) return paw_err(PAW_EINVAL, "paw_compile_spec_examples: NULL argument");
    *out = NULL;
    *n_out = 0;
    paw_exlist l = {0};
    int rc = scan(spec, &l);
    /* One block: the array, then every string, so paw_free releases all. */
    size_t bytes = (l.n ? l.n : 1) * sizeof(paw_program_example);
    for (size_t i = 0; !rc && i < l.n; i++) bytes += strlen(l.v[i].input) + strlen(l.v[i].output) + 2;
    paw_program_example *ex = rc ? NULL : malloc(bytes);
    if (!rc && !ex) rc = paw_err(PAW_ENOMEM, "compile: out of memory");
    if (!rc) {
        char *p = (char *)(ex + (l.n ? l.n : 1));
        for (size_t i = 0; i < l.n; i++) {
            size_t a = strlen(l.v[i].input) + 1, b = strlen(l.v[i].output) + 1;
            ex[i].input = memcpy(p, l.v[i].input, a);
            ex[i].output = memcpy(p + a, l.v[i].output, b);
            p += a + b;
        }
        *out = ex;
        *n_out = l.n;
    }
    paw_exlist_clear(&l);
    return rc;
}
