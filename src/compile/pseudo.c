/* pseudo.c — the pseudo-program (paw.md §1.3): the text in front of every
 * call's input that tells the frozen interpreter what to do.
 *
 * Without a teacher it is the spec and the first examples in the official
 * form.  With one, the teacher rewrites the spec and the user's examples
 * into that form (greedy, at most 512 new tokens, as the official compiler
 * runs its C_p); its reply is parsed and validated, asked for once more
 * with the reason when unusable, and otherwise replaced by the no-teacher
 * form (the caller's fallback).  The block the teacher wrote is used
 * verbatim: the interpreter is trained with exactly the text it will run
 * with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "compile/compile_internal.h"

#define START_MARK "[PSEUDO_PROGRAM]"
#define END_MARK   "[END_PSEUDO_PROGRAM]"
/* Shown to the teacher in the prompt, at most; more add length, not form. */
#define PROMPT_MAX_USER_EXAMPLES 16
#define PSEUDO_MAX_TOKENS 512

int paw_compile_pseudo_program(const char *spec, const paw_program_example *ex, size_t n_ex,
                               char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "compile: out of memory");
    char *s = paw_compile_strip(spec, strlen(spec));
    fprintf(f, START_MARK "\nTask: %s\n\nExamples:\n", s ? s : "");
    free(s);
    for (size_t i = 0; i < n_ex && i < PAW_PSEUDO_MAX_PAIRS; i++)
        fprintf(f, "Input: %s\nOutput: %s\n", ex[i].input, ex[i].output);
    fputs(END_MARK, f);
    if (fclose(f) || !buf) { free(buf); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
    *out = buf;
    if (len) *len = n;
    return PAW_OK;
}

void paw_pseudo_clear(paw_pseudo *p)
{
    free(p->text);
    for (int i = 0; i < p->n_pairs && i < PAW_PSEUDO_MAX_PAIRS; i++) {
        free(p->pairs[i].input);
        free(p->pairs[i].output);
    }
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------ parsing */

/* Text of the prompt's form that a teacher may echo instead of filling in,
 * and markup that has no place inside a pseudo-program. */
static const char *const placeholders[] = {
    "<one paragraph", "<an input>", "<its output>", PAW_PROGRAM_PLACEHOLDER,
    "[INPUT]", "[END_INPUT]", "[SPEC]", "[END_SPEC]", "[EXAMPLES]", "[END_EXAMPLES]",
};

/* The block [start, end) with CRLF and lone CR turned into LF. */
static char *copy_lf(const char *s, size_t n)
{
    char *r = malloc(n + 1), *w = r;
    if (!r) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            *w++ = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else *w++ = s[i];
    }
    *w = 0;
    return r;
}

/* If line (after leading blanks) starts with `key` (case-insensitive),
 * returns what follows it. */
static const char *after_key(const char *line, const char *key)
{
    while (*line == ' ' || *line == '\t') line++;
    size_t k = strlen(key);
    return strncasecmp(line, key, k) ? NULL : line + k;
}

static int is_ellipsis(const char *v)
{
    return !strcmp(v, "...") || !strcmp(v, "\xe2\x80\xa6") || !strcmp(v, "etc.");
}

/* What the line-by-line reader of the block collects. */
enum field { F_NONE, F_TASK, F_INPUT, F_OUTPUT };
typedef struct block_reader {
    enum field at;
    char *task;
    int n_pairs;           /* pairs begun (may exceed the maximum: counted) */
    char *in[PAW_PSEUDO_MAX_PAIRS], *out[PAW_PSEUDO_MAX_PAIRS];
} block_reader;

/* Appends "\n" + line to *v (or sets it). */
static int append_line(char **v, const char *line, size_t n)
{
    size_t old = *v ? strlen(*v) : 0;
    char *r = realloc(*v, old + n + 2);
    if (!r) return paw_err(PAW_ENOMEM, "compile: out of memory");
    if (old) r[old++] = '\n';
    memcpy(r + old, line, n);
    r[old + n] = 0;
    *v = r;
    return PAW_OK;
}

static char **current(block_reader *b)
{
    int i = b->n_pairs - 1;
    switch (b->at) {
    case F_TASK: return &b->task;
    case F_INPUT: return i < PAW_PSEUDO_MAX_PAIRS ? &b->in[i] : NULL;
    case F_OUTPUT: return i < PAW_PSEUDO_MAX_PAIRS ? &b->out[i] : NULL;
    default: return NULL;
    }
}

/* One line of the block's body (no newline, NUL-terminated). */
static int read_line(block_reader *b, const char *line)
{
    const char *v;
    int blank = line[strspn(line, " \t")] == 0;
    if (b->at == F_NONE) {
        if (blank) return PAW_OK;
        if (!(v = after_key(line, "Task:")))
            return paw_err(PAW_EFORMAT, "the block does not start with a \"Task:\" line");
        b->at = F_TASK;
        return append_line(&b->task, v, strlen(v));
    }
    if ((v = after_key(line, "Input:"))) {
        if (b->at == F_INPUT)
            return paw_err(PAW_EFORMAT, "example %d has an Input: but no Output:", b->n_pairs);
        b->n_pairs++;
        b->at = F_INPUT;
    } else if ((v = after_key(line, "Output:"))) {
        if (b->at != F_INPUT)
            return paw_err(PAW_EFORMAT, "an Output: line comes without an Input: before it");
        b->at = F_OUTPUT;
    } else if (b->at == F_TASK && (v = after_key(line, "Examples:")) && !v[strspn(v, " \t")]) {
        return PAW_OK;
    } else {
        v = line;   /* a value running over several lines */
    }
    char **dst = current(b);
    return dst ? append_line(dst, v, strlen(v)) : PAW_OK;
}

/* Strips the collected values and checks them; moves them into out. */
static int finish(block_reader *b, paw_pseudo *out)
{
    if (b->at == F_NONE) return paw_err(PAW_EFORMAT, "the block has no \"Task:\" line");
    if (b->at == F_INPUT) return paw_err(PAW_EFORMAT, "example %d has an Input: but no Output:", b->n_pairs);
    if (b->n_pairs < PAW_PSEUDO_MIN_PAIRS || b->n_pairs > PAW_PSEUDO_MAX_PAIRS)
        return paw_err(PAW_EFORMAT, "the block has %d Input:/Output: examples (%d to %d are needed)",
                       b->n_pairs, PAW_PSEUDO_MIN_PAIRS, PAW_PSEUDO_MAX_PAIRS);
    char *task = paw_compile_strip(b->task, strlen(b->task));
    if (!task) return paw_err(PAW_ENOMEM, "compile: out of memory");
    int empty = !*task, dots = is_ellipsis(task);
    free(task);
    if (empty) return paw_err(PAW_EFORMAT, "the Task: is empty");
    if (dots) return paw_err(PAW_EFORMAT, "the Task: is a placeholder");
    for (int i = 0; i < b->n_pairs; i++) {
        char *in = paw_compile_strip(b->in[i], strlen(b->in[i]));
        char *o = paw_compile_strip(b->out[i], strlen(b->out[i]));
        out->pairs[i] = (paw_program_example){in, o};
        out->n_pairs = i + 1;
        if (!in || !o) return paw_err(PAW_ENOMEM, "compile: out of memory");
        if (!*in || !*o)
            return paw_err(PAW_EFORMAT, "example %d has an empty %s", i + 1, *in ? "Output:" : "Input:");
        if (is_ellipsis(in) || is_ellipsis(o))
            return paw_err(PAW_EFORMAT, "example %d is a placeholder (\"...\")", i + 1);
    }
    return PAW_OK;
}

static int parse_body(const char *text, paw_pseudo *out)
{
    block_reader b = {.at = F_NONE};
    const char *body = text + strlen(START_MARK);
    const char *stop = text + strlen(text) - strlen(END_MARK);
    int rc = PAW_OK;
    char line[PAW_PSEUDO_MAX_BYTES + 1];
    for (const char *p = body; !rc && p < stop;) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        size_t n = (size_t)((nl ? nl : stop) - p);
        memcpy(line, p, n);   /* n < PAW_PSEUDO_MAX_BYTES: checked by the caller */
        line[n] = 0;
        rc = read_line(&b, line);
        p += n + (nl != NULL);
    }
    if (!rc) rc = finish(&b, out);
    free(b.task);
    for (int i = 0; i < b.n_pairs && i < PAW_PSEUDO_MAX_PAIRS; i++) { free(b.in[i]); free(b.out[i]); }
    return rc;
}

int paw_pseudo_parse(const char *reply, paw_pseudo *out)
{
    memset(out, 0, sizeof *out);
    const char *end = reply ? strstr(reply, END_MARK) : NULL;
    const char *start = NULL;
    for (const char *p = reply; p && (p = strstr(p, START_MARK)) && (!end || p < end); p++) start = p;
    if (!start) return paw_err(PAW_EFORMAT, "the reply holds no " START_MARK " block");
    if (!end) return paw_err(PAW_EFORMAT, "the block is not closed by " END_MARK);
    size_t n = (size_t)(end - start) + strlen(END_MARK);
    if (n > PAW_PSEUDO_MAX_BYTES)
        return paw_err(PAW_EFORMAT, "the block is %zu bytes long (at most %d)", n, PAW_PSEUDO_MAX_BYTES);
    char *text = copy_lf(start, n);
    if (!text) return paw_err(PAW_ENOMEM, "compile: out of memory");
    for (size_t i = 0; i < PAW_ARRAY_LEN(placeholders); i++)
        if (strstr(text, placeholders[i])) {
            free(text);
            return paw_err(PAW_EFORMAT, "the block holds \"%s\", text of the prompt's form", placeholders[i]);
        }
    int rc = parse_body(text, out);
    if (rc) {
        paw_pseudo_clear(out);
        free(text);
        return rc;
    }
    out->text = text;
    return PAW_OK;
}

/* ------------------------------------------------------------ the teacher */

static const char pseudo_system[] =
    "You are PAW-Compiler. You turn a description of a text-to-text function into a pseudo-program: "
    "a short, precise instruction that a small language model (the interpreter) follows to map one "
    "input to one output. The interpreter never sees the original description, only your "
    "pseudo-program and one input at a time.";

/* The prompt: the form, the rules, the spec and the user's examples;
 * `fix` (may be NULL) says what was wrong with the previous reply. */
static int pseudo_prompt(const char *spec, const paw_exlist *user, const char *fix, char **out)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "compile: out of memory");
    fputs("Write the pseudo-program for the specification below, in exactly this form:\n\n"
          START_MARK "\n"
          "Task: <one paragraph: what to do, the edge cases, and the exact output format>\n\n"
          "Examples:\n"
          "Input: <an input>\n"
          "Output: <its output>\n"
          "(3 to 6 Input:/Output: examples in all)\n"
          END_MARK "\n\n"
          "Rules: stay under 250 tokens. Give 3 to 6 examples that cover different cases, each Input: "
          "and Output: on its own line, the outputs exactly as the function must write them (same "
          "format, no explanations). Always end with " END_MARK " and write nothing after it.\n\n", f);
    fprintf(f, "[SPEC]\n%s\n[END_SPEC]\n", spec);
    if (user->n) {
        fputs("\nThe user's examples are correct; your examples and the output format must agree "
              "with them:\n[EXAMPLES]\n", f);
        for (size_t i = 0; i < user->n && i < PROMPT_MAX_USER_EXAMPLES; i++)
            fprintf(f, "Input: %s\nOutput: %s\n", user->v[i].input, user->v[i].output);
        fputs("[END_EXAMPLES]\n", f);
    }
    if (fix)
        fprintf(f, "\nYour previous answer could not be used: %s. Answer again with only the "
                START_MARK " block, in exactly the form above.\n", fix);
    if (fclose(f) || !buf) { free(buf); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
    *out = buf;
    return PAW_OK;
}

int paw_pseudo_from_teacher(paw_teacher *t, const paw_compile_opts *o, const char *spec,
                            const paw_exlist *user, paw_pseudo *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    if (why_cap) why[0] = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *prompt = NULL, *reply = NULL;
        int rc = pseudo_prompt(spec, user, attempt ? why : NULL, &prompt);
        if (!rc) rc = paw_compile_ask(t, o, "writing the pseudo-program", pseudo_system, prompt,
                                      PSEUDO_MAX_TOKENS, &reply);
        free(prompt);
        if (rc) return rc;   /* the teacher failed twice, or memory */
        rc = paw_pseudo_parse(reply, out);
        free(reply);
        if (!rc) {
            paw_compile_progress(o, "pseudo-program", "the teacher's: %d examples, %zu bytes", out->n_pairs,
                                 strlen(out->text));
            return PAW_OK;
        }
        if (rc != PAW_EFORMAT || !why_cap) return rc;
        snprintf(why, why_cap, "%s", paw_last_error());
        paw_compile_progress(o, "pseudo-program", "the teacher's reply is unusable: %s; %s", why,
                             attempt ? "falling back to the spec and examples" : "asking once more");
    }
    return PAW_OK;
}
