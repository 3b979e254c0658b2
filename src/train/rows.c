/* rows.c — the trainer's pointwise and per-row steps (activations, norms,
 * residual adds, the loss rows' softmax) split over the pool.
 *
 * Between two matmuls these were serial loops: cheap in CPU time, but on two
 * cores each one doubled its share of the wall clock.  Work is cut into
 * chunks that the pool hands out one at a time; each element is computed by one
 * function whatever the split, so results do not change with the thread
 * count. */
#include <math.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "train/train.h"

typedef void (*range_fn)(const void *ctx, int64_t lo, int64_t hi);

typedef struct par_job {
    range_fn fn;
    const void *ctx;
    int64_t n, grain;
} par_job;

static void par_item(void *arg, int64_t c, int ith)
{
    const par_job *j = arg;
    (void)ith;
    j->fn(j->ctx, c * j->grain, PAW_MIN(j->n, (c + 1) * j->grain));
}

/* fn over [0, n) in chunks of grain. */
static void par_for(paw_pool *p, int64_t n, int64_t grain, range_fn fn, const void *ctx)
{
    if (n <= 0) return;
    par_job j = { .fn = fn, .ctx = ctx, .n = n, .grain = grain };
    const int64_t n_chunks = (n + grain - 1) / grain;
    if ((p ? paw_pool_size(p) : 1) < 2 || n_chunks < 2) { fn(ctx, 0, n); return; }
    paw_pool_run_items(p, par_item, &j, n_chunks);
}

/* ------------------------------------------------------- elementwise */

#define ELEMS 16384   /* floats per chunk of an elementwise op */

typedef struct ew_ctx {
    float *o1, *o2;
    const float *a, *b, *c;
    int op;
} ew_ctx;

enum { EW_SWIGLU, EW_SWIGLU_BWD, EW_GELU, EW_GELU_BWD, EW_ADD };

static void ew_range(const void *arg, int64_t lo, int64_t hi)
{
    const ew_ctx *e = arg;
    const int64_t n = hi - lo;
    switch (e->op) {
    case EW_SWIGLU:
        if (paw_cpu_avx2()) paw_swiglu_forward_avx2(e->o1 + lo, e->a + lo, e->b + lo, n);
        else paw_swiglu_forward(e->o1 + lo, e->a + lo, e->b + lo, n);
        break;
    case EW_SWIGLU_BWD:
        if (paw_cpu_avx2()) paw_swiglu_backward_avx2(e->o1 + lo, e->o2 + lo, e->a + lo, e->b + lo, e->c + lo, n);
        else paw_swiglu_backward(e->o1 + lo, e->o2 + lo, e->a + lo, e->b + lo, e->c + lo, n);
        break;
    case EW_GELU: paw_gelu_forward(e->o1 + lo, e->a + lo, n); break;
    case EW_GELU_BWD: paw_gelu_backward(e->o1 + lo, e->a + lo, e->b + lo, n); break;
    default:
        for (int64_t i = lo; i < hi; i++) e->o1[i] = e->a[i] + e->b[i];
        break;
    }
}

void paw_par_swiglu_forward(paw_pool *p, float *h, const float *gate, const float *up, int64_t n)
{
    ew_ctx e = { .o1 = h, .a = gate, .b = up, .op = EW_SWIGLU };
    par_for(p, n, ELEMS, ew_range, &e);
}

void paw_par_swiglu_backward(paw_pool *p, float *dgate, float *dup, const float *dout,
                             const float *gate, const float *up, int64_t n)
{
    ew_ctx e = { .o1 = dgate, .o2 = dup, .a = dout, .b = gate, .c = up, .op = EW_SWIGLU_BWD };
    par_for(p, n, ELEMS, ew_range, &e);
}

void paw_par_gelu_forward(paw_pool *p, float *h, const float *x, int64_t n)
{
    ew_ctx e = { .o1 = h, .a = x, .op = EW_GELU };
    par_for(p, n, ELEMS, ew_range, &e);
}

void paw_par_gelu_backward(paw_pool *p, float *dx, const float *dout, const float *x, int64_t n)
{
    ew_ctx e = { .o1 = dx, .a = dout, .b = x, .op = EW_GELU_BWD };
    par_for(p, n, ELEMS, ew_range, &e);
}

void paw_par_add(paw_pool *p, float *out, const float *a, const float *b, int64_t n)
{
    ew_ctx e = { .o1 = out, .a = a, .b = b, .op = EW_ADD };
    par_for(p, n, ELEMS, ew_range, &e);
}

/* -------------------------------------------------------------- norms */

typedef struct norm_ctx {
    float *out;
    const float *x, *dy, *w, *bias;
    int64_t C;
    float eps;
    int rms, backward;
} norm_ctx;

static void norm_range(const void *arg, int64_t lo, int64_t hi)
{
    const norm_ctx *c = arg;
    const int64_t o = lo * c->C, n = hi - lo;
    if (c->backward && c->rms) paw_rmsnorm_backward(c->out + o, c->dy + o, c->x + o, c->w, n, c->C, c->eps);
    else if (c->backward) paw_layernorm_backward(c->out + o, c->dy + o, c->x + o, c->w, n, c->C, c->eps);
    else if (c->rms) paw_rmsnorm_forward(c->out + o, c->x + o, c->w, n, c->C, c->eps);
    else paw_layernorm_forward(c->out + o, c->x + o, c->w, c->bias, n, c->C, c->eps);
}

void paw_par_norm(paw_pool *p, const paw_model *m, float *out, const float *dy, const float *x,
                  const float *w, const float *bias, int64_t T)
{
    norm_ctx c = { .out = out, .x = x, .dy = dy, .w = w, .bias = bias, .C = m->hp.n_embd,
                   .eps = m->hp.norm_eps, .rms = m->arch->norm == PAW_NORM_RMS, .backward = dy != NULL };
    par_for(p, T, 16, norm_range, &c);
}

/* ------------------------------------------------------ loss rows */

typedef struct xent_ctx {
    float *logits;
    double *row_loss;
    const int32_t *tgt;
    const float *w;
    const int32_t *const *choice;
    const int32_t *n_choice;
    int64_t V;
    int want_grad;
} xent_ctx;

/* One row whose softmax spans only the n ids ch[] (a label trie's
 * children): the same loss and gradient as over the vocabulary with every
 * other logit at -inf. */
static double xent_choices(float *lg, int64_t V, const int32_t *ch, int32_t n, int32_t tgt, float w, int want_grad)
{
    float mx = -INFINITY;
    for (int32_t j = 0; j < n; j++) mx = lg[ch[j]] > mx ? lg[ch[j]] : mx;
    double sum = 0;
    for (int32_t j = 0; j < n; j++) sum += exp((double)lg[ch[j]] - mx);
    const double lse = mx + log(sum), loss = w * (lse - lg[tgt]);
    if (!want_grad) return loss;
    float p[PAW_TRAIN_MAX_CHOICES];
    for (int32_t j = 0; j < n; j++) p[j] = w * (float)exp((double)lg[ch[j]] - lse);
    memset(lg, 0, (size_t)V * sizeof *lg);
    for (int32_t j = 0; j < n; j++) lg[ch[j]] = p[j];
    lg[tgt] -= w;
    return loss;
}

static void xent_range(const void *arg, int64_t lo, int64_t hi)
{
    const xent_ctx *c = arg;
    const int avx2 = paw_cpu_avx2();
    for (int64_t i = lo; i < hi; i++) {
        float *lg = c->logits + i * c->V;
        const float w = c->w[i];
        if (c->choice && c->choice[i]) {
            c->row_loss[i] = xent_choices(lg, c->V, c->choice[i], c->n_choice[i], c->tgt[i], w, c->want_grad);
            continue;
        }
        float mx = -INFINITY;
        for (int64_t v = 0; v < c->V; v++) mx = lg[v] > mx ? lg[v] : mx;
        double sum = 0;
        if (avx2) sum = paw_exp_sum_avx2(lg, c->V, mx);
        else
            for (int64_t v = 0; v < c->V; v++) sum += exp((double)lg[v] - mx);
        const double lse = mx + log(sum);
        c->row_loss[i] = w * (lse - lg[c->tgt[i]]);
        if (!c->want_grad) continue;
        /* d(lse - l_tgt)/dl = softmax - onehot, times the row's weight. */
        if (avx2) paw_exp_scale_avx2(lg, c->V, (float)lse, w);
        else
            for (int64_t v = 0; v < c->V; v++) lg[v] = w * (float)exp((double)lg[v] - lse);
        lg[c->tgt[i]] -= w;
    }
}

void paw_par_xent(paw_pool *p, float *logits, int64_t V, int64_t n, const int32_t *tgt,
                  const float *w, const int32_t *const *choice, const int32_t *n_choice, int want_grad,
                  double *row_loss)
{
    xent_ctx c = { logits, row_loss, tgt, w, choice, n_choice, V, want_grad };
    par_for(p, n, 1, xent_range, &c);
}

/* --------------------------------------------------------------- rope */

typedef struct rope_ctx {
    float *x;
    const float *cs;
    const int32_t *pos;
    int n_heads, head_dim, n_rot, mode, backward;
} rope_ctx;

static void rope_range(const void *arg, int64_t lo, int64_t hi)
{
    const rope_ctx *c = arg;
    const int64_t w = (int64_t)c->n_heads * c->head_dim, half = c->n_rot / 2;
    for (int64_t i = lo; i < hi; i++) {
        const float *cs = c->cs + (int64_t)c->pos[i] * half * 2;
        if (c->backward) paw_rope_backward(c->x + i * w, cs, 1, c->n_heads, c->head_dim, c->n_rot, c->mode);
        else paw_rope_forward(c->x + i * w, cs, 1, c->n_heads, c->head_dim, c->n_rot, c->mode);
    }
}

void paw_par_rope(paw_pool *p, float *x, const float *cs, const int32_t *pos, int64_t N,
                  int n_heads, int head_dim, int n_rot, int mode, int backward)
{
    rope_ctx c = { x, cs, pos, n_heads, head_dim, n_rot, mode, backward };
    par_for(p, N, 64, rope_range, &c);
}
