/* adamw.c — the optimiser: learning-rate schedule, global-norm clipping and
 * AdamW with decoupled weight decay (Loshchilov & Hutter), over the flat
 * parameter vector of a trainer.  Sums run in double, in index order, so an
 * update does not depend on the thread count. */
#include <math.h>
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

double paw_adamw_update(const paw_adamw *o, int32_t step, float *params, float *grads,
                        float *m, float *v, int64_t n)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    const double norm = sqrt(ss);
    const float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    const float lr = paw_adamw_lr(o, step - 1);
    const double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    const float b1 = o->beta1, b2 = o->beta2;
    for (int64_t i = 0; i < n; i++) {
        const float g = grads[i] * gscale;
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        const float mh = (float)(m[i] / bc1), vh = (float)(v[i] / bc2);
        params[i] -= lr * (mh / (sqrtf(vh) + o->eps) + o->weight_decay * params[i]);
    }
    return norm;
}
