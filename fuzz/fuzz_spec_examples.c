/* fuzz_spec_examples.c — libFuzzer target for the reader of examples
 * written inside a spec (paw_compile_spec_examples).  Specs come from
 * users and from SDK callers, so their text is untrusted.
 *
 * The input (NUL-terminated copy in an exact-size heap buffer) is read as
 * a spec.  Invariants: PAW_OK (the only other outcome is PAW_ENOMEM); every
 * pair has non-empty input and output strings without surrounding ASCII
 * whitespace, inside the one block that paw_free releases (ASan checks the
 * reads); no pair has more bytes than the spec.  Anything else is
 * abort()ed.  Build with `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "paw.h"

static int ws(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    paw_program_example *ex = NULL;
    size_t n = 0;
    int rc = paw_compile_spec_examples(s, &ex, &n);
    if (rc == PAW_OK) {
        if (!ex) abort();
        for (size_t i = 0; i < n; i++) {
            const char *a = ex[i].input, *b = ex[i].output;
            size_t la = strlen(a), lb = strlen(b);
            if (!la || !lb || la > size || lb > size) abort();
            if (ws(a[0]) || ws(a[la - 1]) || ws(b[0]) || ws(b[lb - 1])) abort();
        }
    } else if (rc != PAW_ENOMEM || ex || n) {
        abort();
    }
    paw_free(ex);
    free(s);
    return 0;
}
