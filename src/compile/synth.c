/* synth.c — training examples synthesised by a teacher from the spec.
 *
 * Two kinds of request, both greedy: for diverse inputs (25 per request,
 * each later request shown the inputs already written; replies parsed
 * leniently: a JSON array, a numbered or bulleted list, or plain lines),
 * then one per kept input for its output, with the spec and
 * a few examples (the user's, which are gold, else the teacher's own
 * pseudo-program examples) in front.  Asking for outputs one input at a
 * time keeps each reply short and a bad one costs one example, not a batch.
 * Every candidate passes filters (empty, over-long, duplicate, equal to a
 * user's input, prompt markup; outputs shaped like the user's: one line
 * when theirs are, one of their labels when their outputs are a small set),
 * and each drop is counted by reason.  Inputs are checked against the
 * user's, so a user example always wins over a synthetic one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "compile/compile_internal.h"

#define INPUT_MAX_BYTES     512   /* without user examples to compare with  */
#define INPUT_MAX_BYTES_CAP 2048
#define OUTPUT_MAX_BYTES    1024
#define PROMPT_MAX_EXAMPLES 8
#define PROMPT_MAX_PREVIOUS 16   /* earlier inputs shown, not to repeat    */
#define INPUT_BATCH 25           /* inputs asked for per request           */
/* User outputs form a label set when there are at least this many
 * examples and at most a third as many distinct outputs. */
#define LABELS_MIN_EXAMPLES 6

static const char *const markup[] = {
    "[INPUT]", "[END_INPUT]", "[PSEUDO_PROGRAM]", "[END_PSEUDO_PROGRAM]", "[SPEC]", "[END_SPEC]",
};

static int has_markup(const char *s)
{
    for (size_t i = 0; i < PAW_ARRAY_LEN(markup); i++)
        if (strstr(s, markup[i])) return 1;
    return 0;
}

void paw_synth_free_inputs(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

/* ------------------------------------------------------------ input replies */

typedef struct strvec { char **v; size_t n, cap; } strvec;

/* Takes ownership of s (NULL: out of memory). */
static int push(strvec *l, char *s)
{
    if (s && l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v) { l->v = v; l->cap = cap; }
        else { free(s); s = NULL; }
    }
    if (!s) return paw_err(PAW_ENOMEM, "compile: out of memory");
    l->v[l->n++] = s;
    return PAW_OK;
}

/* s stripped, then without one pair of surrounding matching quotes. */
static char *unquote(const char *s, size_t n)
{
    char *r = paw_compile_strip(s, n);
    size_t k = r ? strlen(r) : 0;
    if (k >= 2 && (r[0] == '"' || r[0] == '\'' || r[0] == '`') && r[k - 1] == r[0]) {
        memmove(r, r + 1, k - 2);
        r[k - 2] = 0;
        char *t = paw_compile_strip(r, k - 2);
        free(r);
        r = t;
    }
    return r;
}

/* A JSON array anywhere in the reply (from the first '[' to the last ']'):
 * 1 when found and taken, 0 when there is none. */
static int parse_json_array(const char *reply, strvec *out, int *rc)
{
    const char *a = strchr(reply, '['), *b = strrchr(reply, ']');
    if (!a || !b || b < a) return 0;
    json_t *j = json_loadb(a, (size_t)(b - a) + 1, 0, NULL);
    if (!json_is_array(j)) { json_decref(j); return 0; }
    size_t i;
    json_t *e;
    *rc = PAW_OK;
    json_array_foreach(j, i, e) {
        if (json_is_object(e)) e = json_object_get(e, "input");
        const char *s = json_string_value(e);
        if (!*rc) *rc = push(out, paw_compile_strip(s ? s : "", s ? json_string_length(e) : 0));
    }
    json_decref(j);
    return 1;
}

/* Length of a list marker at the start of a stripped line ("12. ", "3) ",
 * "(4) ", "- ", "* ", "• "), 0 if none. */
static size_t list_marker(const char *s)
{
    size_t k = 0;
    if (s[0] == '(') k++;
    size_t d = strspn(s + k, "0123456789");
    if (d && d <= 4) {
        k += d;
        if (s[0] == '(' ? s[k] == ')' : (s[k] == '.' || s[k] == ')' || s[k] == ':')) k++;
        else return 0;
    } else if (s[0] == '-' || s[0] == '*') k = 1;
    else if (!strncmp(s, "\xe2\x80\xa2", 3)) k = 3;
    else return 0;
    return s[k] == 0 || s[k] == ' ' || s[k] == '\t' ? k : 0;
}

int paw_synth_parse_inputs(const char *reply, char ***items, size_t *n)
{
    strvec l = {0};
    int rc = PAW_OK;
    *items = NULL;
    *n = 0;
    if (!parse_json_array(reply, &l, &rc)) {
        /* List items if there are any (chatter around them is dropped), else
         * every non-blank line that is not a code fence. */
        int listed = 0;
        for (int pass = 0; pass < 2 && !rc; pass++) {
            for (const char *p = reply; *p && !rc;) {
                size_t len = strcspn(p, "\r\n");
                char *line = paw_compile_strip(p, len);
                if (!line) { rc = paw_err(PAW_ENOMEM, "compile: out of memory"); break; }
                size_t m = list_marker(line);
                if (pass == 0) listed |= m > 0;
                else if (listed ? m > 0 : (*line && strncmp(line, "```", 3)))
                    rc = push(&l, unquote(line + m, strlen(line + m)));
                free(line);
                p += len;
                p += strspn(p, "\r\n");
            }
        }
    }
    if (rc) { paw_synth_free_inputs(l.v, l.n); return rc; }
    *items = l.v;
    *n = l.n;
    return PAW_OK;
}

/* ------------------------------------------------------------ output replies */

int paw_synth_clean_output(const char *reply, const paw_output_shape *shape, char **out, int *reason)
{
    *out = NULL;
    *reason = -1;
    char *r = paw_compile_strip(reply, strlen(reply));
    if (!r) return paw_err(PAW_ENOMEM, "compile: out of memory");
    /* A code fence around the whole reply: keep what is inside. */
    size_t k = strlen(r);
    if (!strncmp(r, "```", 3) && k > 6 && !strcmp(r + k - 3, "```")) {
        const char *body = strchr(r, '\n');
        char *t = body ? paw_compile_strip(body, (size_t)(r + k - 3 - body)) : strdup("");
        free(r);
        if (!(r = t)) return paw_err(PAW_ENOMEM, "compile: out of memory");
    }
    if (!strncasecmp(r, "Output:", 7)) {
        char *t = paw_compile_strip(r + 7, strlen(r + 7));
        free(r);
        if (!(r = t)) return paw_err(PAW_ENOMEM, "compile: out of memory");
    }
    if (!shape->keep_quotes) {
        char *t = unquote(r, strlen(r));
        free(r);
        if (!(r = t)) return paw_err(PAW_ENOMEM, "compile: out of memory");
    }
    if (!*r) *reason = PAW_DROP_EMPTY;
    else if (has_markup(r)) *reason = PAW_DROP_MARKER;
    else if (shape->one_line && strchr(r, '\n')) *reason = PAW_DROP_MULTILINE;
    else if (strlen(r) > shape->max_len) *reason = PAW_DROP_TOO_LONG;
    else if (shape->labels) {
        /* One of the user's labels; a label in another case is the label. */
        const char *match = NULL;
        for (size_t i = 0; i < shape->labels->n && !match; i++)
            if (!strcmp(shape->labels->v[i].output, r)) match = shape->labels->v[i].output;
        for (size_t i = 0; i < shape->labels->n && !match; i++)
            if (!strcasecmp(shape->labels->v[i].output, r)) match = shape->labels->v[i].output;
        if (!match) *reason = PAW_DROP_LABEL;
        else if (strcmp(match, r)) {
            char *t = strdup(match);
            free(r);
            if (!(r = t)) return paw_err(PAW_ENOMEM, "compile: out of memory");
        }
    }
    if (*reason >= 0) free(r);
    else *out = r;
    return PAW_OK;
}

/* The shape of the user's outputs (nothing is required without them). */
static paw_output_shape output_shape(const paw_exlist *user)
{
    paw_output_shape s = {.one_line = user->n > 0, .max_len = OUTPUT_MAX_BYTES};
    size_t longest = 0, distinct = 0;
    for (size_t i = 0; i < user->n; i++) {
        const char *o = user->v[i].output;
        if (strchr(o, '\n')) s.one_line = 0;
        if (o[0] == '"' || o[0] == '\'' || o[0] == '`') s.keep_quotes = 1;
        longest = PAW_MAX(longest, strlen(o));
        size_t j = 0;
        while (j < i && strcmp(user->v[j].output, o)) j++;
        distinct += j == i;
    }
    if (user->n) s.max_len = PAW_MIN((size_t)OUTPUT_MAX_BYTES, PAW_MAX((size_t)32, 3 * longest));
    if (user->n >= LABELS_MIN_EXAMPLES && 3 * distinct <= user->n) s.labels = user;
    return s;
}

/* ------------------------------------------------------------ prompts */

/* The examples shown to the teacher: the user's, else the pseudo-program's. */
static void shown_examples(const paw_exlist *user, const paw_pseudo *pseudo, const paw_program_example **ex,
                           size_t *n)
{
    if (user->n || !pseudo || !pseudo->text) {
        *ex = user->v;
        *n = PAW_MIN(user->n, (size_t)PROMPT_MAX_EXAMPLES);
    } else {
        *ex = pseudo->pairs;
        *n = (size_t)pseudo->n_pairs;
    }
}

static const char inputs_system[] =
    "You write test inputs for a text-to-text function described in English.";

/* Both synthesis prompts are built in a memory stream that starts with the
 * spec block; prompt_close hands the text over (or fails as out of memory). */
static FILE *prompt_open(const char *spec, char **buf, size_t *n)
{
    FILE *f = open_memstream(buf, n);
    if (f) fprintf(f, "[SPEC]\n%s\n[END_SPEC]\n\n", spec);
    return f;
}

/* buf: the stream's buffer pointer, valid only once the stream is closed. */
static int prompt_close(FILE *f, char **buf, char **out)
{
    if (fclose(f) || !*buf) { free(*buf); return paw_err(PAW_ENOMEM, "compile: out of memory"); }
    *out = *buf;
    return PAW_OK;
}

/* Asks for `want` inputs; `prev` are the ones already written in earlier
 * batches (the latest few are shown, not to be repeated). */
static int inputs_prompt(const char *spec, const paw_program_example *ex, size_t n_ex, const strvec *prev,
                         int32_t want, char **out)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = prompt_open(spec, &buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "compile: out of memory");
    if (n_ex) {
        fputs("Inputs it has been given:\n", f);
        for (size_t i = 0; i < n_ex; i++) fprintf(f, "- %s\n", ex[i].input);
        fputc('\n', f);
    }
    if (prev->n) {
        fputs("Inputs already written:\n", f);
        for (size_t i = prev->n > PROMPT_MAX_PREVIOUS ? prev->n - PROMPT_MAX_PREVIOUS : 0; i < prev->n; i++)
            fprintf(f, "- %s\n", prev->v[i]);
        fputc('\n', f);
    }
    fprintf(f, "Write %d new inputs for this function, as varied as real use: typical cases, edge cases "
               "and tricky ones, each in the style and length of a real input.%s Write one input per line, "
               "numbered 1. 2. 3. and so on, and nothing else: no outputs, no comments.\n",
            want, n_ex || prev->n ? " Do not repeat the inputs above." : "");
    return prompt_close(f, &buf, out);
}

static const char output_system[] =
    "You compute a text-to-text function described in English. Reply with the function's output for "
    "the given input and nothing else: no explanation, no label, no quotes.";

static int output_prompt(const char *spec, const paw_program_example *ex, size_t n_ex, const char *input,
                         char **out)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = prompt_open(spec, &buf, &n);
    if (!f) return paw_err(PAW_ENOMEM, "compile: out of memory");
    if (n_ex) {
        fputs("Examples:\n", f);
        for (size_t i = 0; i < n_ex; i++) fprintf(f, "Input: %s\nOutput: %s\n", ex[i].input, ex[i].output);
        fputc('\n', f);
    }
    fprintf(f, "What is the output for this input? Reply with the output only, written exactly as %s.\n"
               "[INPUT]\n%s\n[END_INPUT]\n", n_ex ? "in the examples" : "the specification asks", input);
    return prompt_close(f, &buf, out);
}

/* ------------------------------------------------------------ the stage */

/* Keeps (copies of) the candidates that pass, in order: at most `want`
 * from this batch. */
static int filter_inputs(char **cand, size_t n, const paw_exlist *user, int32_t want, strvec *kept,
                         paw_drops *drops)
{
    size_t longest = 0;
    for (size_t i = 0; i < user->n; i++) longest = PAW_MAX(longest, strlen(user->v[i].input));
    size_t limit = user->n ? PAW_MIN((size_t)INPUT_MAX_BYTES_CAP, PAW_MAX((size_t)64, 4 * longest))
                           : INPUT_MAX_BYTES;
    int32_t taken = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = cand[i];
        int dup = 0;
        for (size_t j = 0; j < kept->n && !dup; j++) dup = !strcmp(kept->v[j], c);
        int why = !*c ? PAW_DROP_EMPTY : strlen(c) > limit ? PAW_DROP_TOO_LONG
                : has_markup(c) ? PAW_DROP_MARKER : paw_exlist_has_input(user, c) ? PAW_DROP_USER_INPUT
                : dup ? PAW_DROP_DUPLICATE : taken >= want ? PAW_DROP_OVER_COUNT : -1;
        if (why >= 0) { drops->n[why]++; continue; }
        int rc = push(kept, strdup(c));
        if (rc) return rc;
        taken++;
    }
    return PAW_OK;
}

/* The inputs, INPUT_BATCH per request: a small teacher writes a long list
 * badly, and each request's reply must fit its context. */
static int synth_inputs(paw_teacher *t, const paw_compile_opts *o, const char *spec, const paw_program_example *ex,
                        size_t n_ex, const paw_exlist *user, int32_t n_synth, strvec *kept, paw_synth_report *rep)
{
    int rc = PAW_OK;
    for (int32_t done = 0; !rc && done < n_synth; done += INPUT_BATCH) {
        int32_t want = PAW_MIN(INPUT_BATCH, n_synth - done);
        char *prompt = NULL, *reply = NULL, **cand = NULL;
        size_t n_cand = 0, before = kept->n;
        rc = inputs_prompt(spec, ex, n_ex, kept, want, &prompt);
        if (!rc) rc = paw_compile_ask(t, o, "synthesising inputs", inputs_system, prompt, 64 + 48 * want, &reply);
        if (!rc) rc = paw_synth_parse_inputs(reply, &cand, &n_cand);
        if (!rc) rc = filter_inputs(cand, n_cand, user, want, kept, &rep->drops);
        rep->candidates += (int32_t)n_cand;
        if (!rc) {
            char why[256];
            paw_drops_describe(&rep->drops, why, sizeof why);
            paw_compile_progress(o, "synthesis", "%zu candidate inputs from the teacher, %zu kept%s%s%s", n_cand,
                                 kept->n - before, *why ? " (dropped so far: " : "", why, *why ? ")" : "");
        }
        paw_synth_free_inputs(cand, n_cand);
        free(prompt);
        free(reply);
    }
    return rc;
}

/* One output per input, each checked against the user's shape. */
static int synth_outputs(paw_teacher *t, const paw_compile_opts *o, const char *spec, const paw_program_example *ex,
                         size_t n_ex, const paw_exlist *user, const strvec *inputs, paw_exlist *out,
                         paw_synth_report *rep)
{
    paw_output_shape shape = output_shape(user);
    size_t before = out->n;
    int rc = PAW_OK;
    for (size_t i = 0; !rc && i < inputs->n; i++) {
        char *prompt = NULL, *answer = NULL, *clean = NULL;
        int reason = -1;
        rc = output_prompt(spec, ex, n_ex, inputs->v[i], &prompt);
        if (!rc) rc = paw_compile_ask(t, o, "synthesising outputs", output_system, prompt,
                                      (int32_t)PAW_MIN((size_t)512, shape.max_len + 16), &answer);
        if (!rc) rc = paw_synth_clean_output(answer, &shape, &clean, &reason);
        if (!rc && reason >= 0) rep->drops.n[reason]++;
        if (!rc && clean) rc = paw_exlist_add(out, inputs->v[i], clean);
        free(prompt);
        free(answer);
        free(clean);
        if (!rc && ((i + 1) % 8 == 0 || i + 1 == inputs->n)) {
            char why[256];
            paw_drops_describe(&rep->drops, why, sizeof why);
            paw_compile_progress(o, "synthesis", "outputs %zu/%zu, %zu accepted%s%s%s", i + 1, inputs->n,
                                 out->n - before, *why ? " (dropped so far: " : "", why, *why ? ")" : "");
        }
    }
    rep->accepted = (int32_t)(out->n - before);
    return rc;
}

int paw_synthesise(paw_teacher *t, const paw_compile_opts *o, const char *spec, const paw_pseudo *pseudo,
                   const paw_exlist *user, int32_t n_synth, paw_exlist *out, paw_synth_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->asked = n_synth;
    if (n_synth <= 0) return PAW_OK;
    const paw_program_example *ex;
    size_t n_ex;
    shown_examples(user, pseudo, &ex, &n_ex);
    strvec inputs = {0};
    int rc = synth_inputs(t, o, spec, ex, n_ex, user, n_synth, &inputs, rep);
    if (!rc) rc = synth_outputs(t, o, spec, ex, n_ex, user, &inputs, out, rep);
    paw_synth_free_inputs(inputs.v, inputs.n);
    return rc;
}
