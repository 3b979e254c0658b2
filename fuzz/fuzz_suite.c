/* fuzz_suite.c — libFuzzer target for the evaluation-suite reader
 * (paw_suite_read: JSONL, one task per line).
 *
 * The reader takes a path, so each input is written to a memfd and read
 * through /proc/self/fd.  An accepted suite must keep the reader's promises:
 * at least one task, every task with a non-empty id, strings that are NUL-
 * terminated, at least one test example, ids unique.  Any broken promise
 * aborts.  Build with `make fuzz`; seeds in fuzz/corpus/suite/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "paw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("suite", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    paw_suite_task *t = NULL;
    size_t n = 0;
    if (paw_suite_read(path, &t, &n) == PAW_OK) {
        if (!n || !t) abort();
        for (size_t i = 0; i < n; i++) {
            if (!t[i].id[0] || !t[i].n_test || !t[i].spec || !t[i].category) abort();
            for (size_t j = 0; j < t[i].n_test; j++)
                if (!paw_exact_match(t[i].test[j].output, t[i].test[j].output)) abort();
            for (size_t j = 0; j < i; j++)
                if (!strcmp(t[i].id, t[j].id)) abort();
        }
        paw_suite_free(t, n);
    }
    close(fd);
    return 0;
}
