/* epoch.c — the order in which training visits its examples: epochs of a
 * seeded Fisher–Yates shuffle, so that every example is seen once per epoch
 * and a run repeats exactly from its seed.  `paw train` and the compiler
 * both draw their batches here. */
#include <stdlib.h>
#include "core/common.h"
#include "train/train.h"

struct paw_epoch_order {
    int32_t  n, cursor;
    uint64_t rng;
    int32_t  order[];
};

uint64_t paw_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int paw_epoch_order_new(int32_t n, uint64_t seed, paw_epoch_order **out)
{
    *out = NULL;
    if (n <= 0) return paw_err(PAW_EINVAL, "train: no examples to order");
    paw_epoch_order *o = malloc(sizeof *o + (size_t)n * sizeof(int32_t));
    if (!o) return paw_err(PAW_ENOMEM, "train: out of memory");
    o->n = n;
    o->cursor = n;            /* the first call shuffles */
    o->rng = seed ^ 0x5eedull;
    for (int32_t i = 0; i < n; i++) o->order[i] = i;
    *out = o;
    return PAW_OK;
}

int32_t paw_epoch_order_next(paw_epoch_order *o)
{
    if (o->cursor == o->n) {
        /* A new epoch: shuffle the previous epoch's order in place. */
        for (int32_t i = o->n - 1; i > 0; i--) {
            int32_t j = (int32_t)(paw_splitmix64(&o->rng) % (uint64_t)(i + 1)), x = o->order[i];
            o->order[i] = o->order[j];
            o->order[j] = x;
        }
        o->cursor = 0;
    }
    return o->order[o->cursor++];
}

void paw_epoch_order_free(paw_epoch_order *o) { free(o); }
