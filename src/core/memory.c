/*
 * memory.c — the one way to release what libpaw hands out.
 *
 * Every buffer the library returns through a `T **out` parameter (text,
 * token ids, serialised bundles and adapters, JSON) comes from the C
 * allocator libpaw was linked with.  A caller in another language or behind
 * another C runtime cannot safely call its own free() on it, so the API gives
 * one function for all of them.
 */
#include "paw.h"

#include <stdlib.h>

void paw_free(void *p) { free(p); }
