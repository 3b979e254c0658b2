/* sample.c — picking the next token from logits.
 *
 * Greedy (temp <= 0) is the default and what PAW programs use.  Otherwise the
 * order is Hugging Face's: divide by temperature, keep the top_k, keep the
 * smallest set whose probability reaches top_p, renormalise, draw with a
 * seeded generator (splitmix64: small, fast, reproducible
 * across platforms). */
#include <math.h>
#include <stdlib.h>
#include "core/common.h"
#include "runtime/sample.h"

typedef struct cand { float logit; int32_t id; } cand;

struct paw_sampler {
    paw_sampling p;
    int32_t      n_vocab;
    uint64_t     rng;
    cand        *c;              /* n_vocab candidates */
};

int paw_sampler_new(const paw_sampling *p, int32_t n_vocab, paw_sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0) return paw_err(PAW_EINVAL, "sampler: n_vocab %d", n_vocab);
    if (p && (!isfinite(p->temp) || p->top_k < 0 || !(p->top_p >= 0 && p->top_p <= 1)))
        return paw_err(PAW_EINVAL, "sampler: bad parameters (temp %g, top_k %d, top_p %g)",
                       (double)p->temp, p->top_k, (double)p->top_p);
    paw_sampler *s = calloc(1, sizeof *s);
    if (!s) return paw_err(PAW_ENOMEM, "sampler: out of memory");
    if (p) s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = s->p.seed;
    if (s->p.temp > 0 && !(s->c = malloc((size_t)n_vocab * sizeof *s->c))) {
        free(s);
        return paw_err(PAW_ENOMEM, "sampler: out of memory");
    }
    *out = s;
    return PAW_OK;
}

void paw_sampler_free(paw_sampler *s)
{
    if (!s) return;
    free(s->c);
    free(s);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k largest candidates to c[0..k), in no particular order, by
 * quickselect (average O(n), so top-k does not pay for a full sort). */
static void select_top(cand *c, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[lo + (hi - lo) / 2].logit;
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (c[i].logit > pivot) i++;
            while (c[j].logit < pivot) j--;
            if (i <= j) { cand t = c[i]; c[i] = c[j]; c[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

int32_t paw_sampler_sample(paw_sampler *s, const float *logits)
{
    const int32_t n = s->n_vocab;
    if (!(s->p.temp > 0)) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    cand *c = s->c;
    for (int32_t i = 0; i < n; i++) { c[i].logit = logits[i] / s->p.temp; c[i].id = i; }
    int32_t k = n;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        k = s->p.top_k;
        select_top(c, n, k);
    }
    const int use_p = s->p.top_p > 0 && s->p.top_p < 1;
    if (use_p) qsort(c, (size_t)k, sizeof *c, cand_desc);
    float mx = -INFINITY;
    for (int32_t i = 0; i < k; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    double sum = 0;
    for (int32_t i = 0; i < k; i++) { c[i].logit = expf(c[i].logit - mx); sum += c[i].logit; }
    if (use_p) {
        double cum = 0;
        int32_t keep = 0;
        while (keep < k) {
            cum += c[keep++].logit / sum;
            if (cum >= s->p.top_p) break;
        }
        k = keep;
        sum = 0;
        for (int32_t i = 0; i < k; i++) sum += c[i].logit;
    }
    /* 53 random bits -> u in [0, 1). */
    double u = (double)(splitmix64(&s->rng) >> 11) * 0x1.0p-53 * sum, acc = 0;
    for (int32_t i = 0; i < k; i++) {
        acc += c[i].logit;
        if (u < acc) return c[i].id;
    }
    return c[k - 1].id;
}

int paw_logits_check(const float *logits, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (!isfinite(logits[i]))
            return paw_err(PAW_EFORMAT, "the model produced non-finite logits (%s for token %d): its "
                           "weights or an attached LoRA adapter hold values that overflow; the "
                           "adapter (program) is broken", isnan(logits[i]) ? "NaN" : "Inf", (int)i);
    return PAW_OK;
}
