/* fuzz_augment.c — libFuzzer target for the compiler's variants of
 * examples (paw_compile_augment, src/compile/augment.c).  Examples come
 * from users' files and specs, so their text is untrusted.
 *
 * The input is split at NUL bytes into strings, taken in pairs as (input,
 * output) examples (at most 16), and augmented with 3 variants each.
 * Invariants: PAW_OK (or PAW_ENOMEM); at most 3 variants per example; no
 * variant's input equals an example's or another variant's; a variant's
 * output and input are NUL-terminated strings inside the list (ASan checks
 * the reads); the same input gives the same variants.  Anything else is
 * abort()ed.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "compile/compile_internal.h"

#define MAX_EX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    paw_program_example ex[MAX_EX];
    size_t n = 0;
    char *p = s, *end = s + size;
    while (n < MAX_EX && p < end) {
        char *in = p;
        p += strlen(p) + 1;
        if (p > end) break;
        ex[n].input = in;
        ex[n].output = p;
        p += strlen(p) + 1;
        n++;
    }
    paw_exlist a = {0}, b = {0};
    int rc = paw_compile_augment(ex, n, 3, size, &a);
    int rc2 = paw_compile_augment(ex, n, 3, size, &b);
    if (rc != rc2 && rc != PAW_ENOMEM && rc2 != PAW_ENOMEM) abort();
    if (rc == PAW_OK) {
        if (a.n > 3 * n) abort();
        for (size_t i = 0; i < a.n; i++) {
            /* every byte of both strings readable, as ASan sees it */
            if (strlen(a.v[i].input) + strlen(a.v[i].output) > SIZE_MAX / 2) abort();
            for (size_t k = 0; k < n; k++)
                if (!strcmp(a.v[i].input, ex[k].input)) abort();
            for (size_t j = 0; j < i; j++)
                if (!strcmp(a.v[i].input, a.v[j].input)) abort();
        }
        if (rc2 == PAW_OK) {
            if (a.n != b.n) abort();
            for (size_t i = 0; i < a.n; i++)
                if (strcmp(a.v[i].input, b.v[i].input) || strcmp(a.v[i].output, b.v[i].output)) abort();
        }
    } else if (rc != PAW_ENOMEM) {
        abort();
    }
    paw_exlist_clear(&a);
    paw_exlist_clear(&b);
    free(s);
    return 0;
}
