/* adamw.c — the optimiser: learning-rate schedule, global-norm clipping and
 * AdamW with decoupled weight decay (Loshchilov & Hutter), over the flat
 * parameter vector of a trainer, in chunks over the thread pool.  Sums run
 * in double in a fixed order, so an update does not depend on the thread
 * count. */
#include <math.h>
#include <stdlib.h>
#include "train/train.h"

float paw_adamw_lr(const paw_adamw *o, int32_t step)
{
    if (o->warmup > 0 && step < o->warmup) return o->lr * (float)(step + 1) / (float)o->warmup;
    if (o->schedule == PAW_LR_CONSTANT || o->total <= o->warmup) return o->lr;
    double frac = (double)(step - o->warmup) / (double)(o->total - o->warmup);
    if (frac > 1) frac = 1;
    /* Decay to 10% of the peak rather than to zero, so the last steps still
     * move (common practice for short LoRA runs). */
    const double floor = 0.1;
    double f = o->schedule == PAW_LR_LINEAR ? 1.0 - frac : 0.5 * (1.0 + cos(M_PI * frac));
    return (float)(o->lr * (floor + (1.0 - floor) * f));
}

/* Parameters per work item: the squared-gradient sum of each chunk is taken
 * in index order and the chunks' sums are added in chunk order, so the norm
 * is the same whatever the thread count. */
#define CHUNK 65536

typedef struct adam_job {
    const paw_adamw *o;
    float *params, *grads, *m, *v;
    double *part, bc1, bc2;
    int64_t n, n_chunks;
    float gscale, lr;
    int pass;                        /* 0: sums of squares, 1: update       */
} adam_job;

static void adam_chunk(adam_job *j, int64_t c)
{
    const int64_t i0 = c * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    if (j->pass == 0) {
        double ss = 0;
        for (int64_t i = i0; i < i1; i++) ss += (double)j->grads[i] * j->grads[i];
        j->part[c] = ss;
        return;
    }
    const paw_adamw *o = j->o;
    const float b1 = o->beta1, b2 = o->beta2;
    for (int64_t i = i0; i < i1; i++) {
        const float g = j->grads[i] * j->gscale;
        j->m[i] = b1 * j->m[i] + (1.0f - b1) * g;
        j->v[i] = b2 * j->v[i] + (1.0f - b2) * g * g;
        const float mh = (float)(j->m[i] / j->bc1), vh = (float)(j->v[i] / j->bc2);
        j->params[i] -= j->lr * (mh / (sqrtf(vh) + o->eps) + o->weight_decay * j->params[i]);
    }
}

static void adam_item(void *arg, int64_t c, int ith)
{
    (void)ith;
    adam_chunk(arg, c);
}

static void adam_pass(paw_pool *p, adam_job *j, int pass)
{
    j->pass = pass;
    paw_pool_run_items(p, adam_item, j, j->n_chunks);
}

double paw_adamw_update(paw_pool *p, const paw_adamw *o, int32_t step, float *params,
                        float *grads, float *m, float *v, int64_t n)
{
    adam_job j = { .o = o, .params = params, .grads = grads, .m = m, .v = v, .n = n,
                   .n_chunks = (n + CHUNK - 1) / CHUNK };
    double ss = 0;
    j.part = malloc(sizeof(double) * (size_t)(j.n_chunks ? j.n_chunks : 1));
    if (j.part) {
        adam_pass(p, &j, 0);
        for (int64_t c = 0; c < j.n_chunks; c++) ss += j.part[c];
        free(j.part);
    } else {   /* no memory for the partial sums: the same sums, serially */
        for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
            double cs = 0;
            for (int64_t i = i0; i < n && i < i0 + CHUNK; i++) cs += (double)grads[i] * grads[i];
            ss += cs;
        }
    }
    const double norm = sqrt(ss);
    j.gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    j.lr = paw_adamw_lr(o, step - 1);
    j.bc1 = 1.0 - pow(o->beta1, step);
    j.bc2 = 1.0 - pow(o->beta2, step);
    adam_pass(p, &j, 1);
    return norm;
}
