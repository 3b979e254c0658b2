/* fuzz_teacher_text.c — libFuzzer target for the compiler's parsers of what
 * a teacher writes: the pseudo-program block (paw_pseudo_parse), lists of
 * synthesised inputs (paw_synth_parse_inputs) and synthesised outputs
 * (paw_synth_clean_output).  Teachers are models or remote endpoints, so
 * their text is untrusted.
 *
 * The input (NUL-terminated copy in an exact-size heap buffer) goes to all
 * three.  Invariants: an accepted pseudo-program starts with
 * [PSEUDO_PROGRAM], ends with [END_PSEUDO_PROGRAM], has 3..6 pairs with
 * non-empty values and no CR; a refused one leaves text NULL; parsed input
 * items are NUL-terminated strings; a cleaned output is accepted with
 * reason -1 and a non-NULL string, or refused with a reason >= 0 and NULL.
 * Anything else is abort()ed.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "paw.h"
#include "compile/compile_internal.h"

static void check_pseudo(const char *s)
{
    paw_pseudo p;
    memset(&p, 0, sizeof p);
    int rc = paw_pseudo_parse(s, &p);
    if (rc == PAW_OK) {
        static const char head[] = "[PSEUDO_PROGRAM]", tail[] = "[END_PSEUDO_PROGRAM]";
        size_t n = p.text ? strlen(p.text) : 0;
        if (!p.text || strncmp(p.text, head, sizeof head - 1) || n < sizeof tail - 1 ||
            strcmp(p.text + n - (sizeof tail - 1), tail) || strchr(p.text, '\r'))
            abort();
        if (p.n_pairs < 3 || p.n_pairs > 6) abort();
        for (int i = 0; i < p.n_pairs; i++)
            if (!p.pairs[i].input || !p.pairs[i].output || !*p.pairs[i].output) abort();
    } else if (p.text) {
        abort();
    }
    paw_pseudo_clear(&p);
}

static void check_inputs(const char *s)
{
    char **items = NULL;
    size_t n = 0;
    if (paw_synth_parse_inputs(s, &items, &n) != PAW_OK) return;
    for (size_t i = 0; i < n; i++)
        if (!items[i] || strlen(items[i]) > strlen(s)) abort();
    paw_synth_free_inputs(items, n);
}

static void check_output(const char *s, int one_line)
{
    paw_output_shape shape = {.one_line = one_line, .keep_quotes = 0, .max_len = 64, .labels = NULL};
    char *out = (char *)"sentinel";
    int reason = -2;
    if (paw_synth_clean_output(s, &shape, &out, &reason) != PAW_OK) return;
    if (reason == -1) {
        if (!out || strlen(out) > shape.max_len || (one_line && strchr(out, '\n'))) abort();
        free(out);
    } else if (reason < 0 || out) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    check_pseudo(s);
    check_inputs(s);
    check_output(s, size & 1);
    free(s);
    return 0;
}
