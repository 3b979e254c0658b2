/* trainer.c — LoRA parameters and the model's forward and backward pass over
 * a packed batch.
 *
 * A batch is one shared prefix (the pseudo-program) and n examples.  They are
 * packed into one sequence of N = P + sum(n_i - 1) tokens: the prefix at
 * positions 0..P-1, then each example at positions P..P+n_i-2 (its last
 * token is only a target).  Attention masks each token to the prefix plus
 * its own example (paw_attn_seg, attention.c), so
 * the prefix's rows are computed once per step and its K/V gradients collect
 * the contributions of every example in one backward pass — the same sums
 * as running each example on its own, without repeating the prefix.
 *
 * Every layer works on all N rows at once, so each frozen weight panel is
 * dequantised once per step and reused for N tokens; the top layer, from its
 * O projection on, only on the M loss rows (nothing reads the others), and
 * layer 0 computes no input gradient.  The forward calls the layer functions
 * of forward.c (norms, rope, GELU) and paw_matmul, so it computes what
 * inference computes (SwiGLU and softmaxes use a vector e^x within a few ulp
 * of expf); where the AVX-512 set runs, the frozen products go through the
 * model's int8 packs instead (what a ctx with int8 products computes, within
 * float rounding of the default path: core/i8gemm.h).  Attention is
 * attention.c's, which keeps its softmax rows for the backward.
 *
 * Memory is planned as a table of sizes (plan()) and allocated once, grown
 * only when a larger batch arrives. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "core/common.h"
#include "core/quant.h"
#include "train/train.h"

_Static_assert(PAW_TARGET_Q == 1u << PAW_PROJ_Q && PAW_TARGET_QKV == 1u << PAW_PROJ_QKV &&
               PAW_TARGET_O == 1u << PAW_PROJ_O && PAW_TARGET_DOWN == 1u << PAW_PROJ_DOWN,
               "target bits follow enum paw_proj");

/* Loss rows whose logits are formed at once: bounds the [rows][n_vocab]
 * logits buffer (49152-word vocabularies make each row 192 KB). */
#define LOGIT_CHUNK 32

static int build_all_wt(paw_trainer *t);
static int build_fwd_packs(paw_trainer *t);

paw_train_params paw_train_params_default(void)
{
    paw_train_params p = {
        .rank = 8, .alpha = 16.0f, .targets = PAW_TARGET_ALL, .seed = 0,
        .lr = 5e-4f, .weight_decay = 0.0f, .beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f,
        .clip = 1.0f, .steps = 100, .warmup = 10, .schedule = PAW_LR_COSINE, .n_threads = 0,
    };
    return p;
}

/* Uniform in [-1, 1) from splitmix64, so that an adapter's initial values
 * depend on the seed alone. */
static float rng_uniform(uint64_t *s)
{
    return (float)((double)(paw_splitmix64(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

int paw_trainer_new(const paw_model *m, const paw_train_params *p, paw_trainer **out)
{
    *out = NULL;
    if (!m || !p) return paw_err(PAW_EINVAL, "train: NULL model or params");
    if (p->rank < 1 || p->rank > 4096) return paw_err(PAW_EINVAL, "train: rank %d out of range", p->rank);
    if (!(p->alpha > 0) || !(p->lr >= 0) || !(p->beta1 >= 0 && p->beta1 < 1) ||
        !(p->beta2 >= 0 && p->beta2 < 1) || !(p->adam_eps > 0) || !(p->clip >= 0) ||
        !(p->weight_decay >= 0) || p->steps < 0 || p->warmup < 0)
        return paw_err(PAW_EINVAL, "train: bad optimiser settings");
    if (m->hp.head_dim > PAW_TRAIN_MAX_HEAD || m->hp.head_dim_v > PAW_TRAIN_MAX_HEAD)
        return paw_err(PAW_EUNSUPPORTED, "train: head size %d is over %d", m->hp.head_dim, PAW_TRAIN_MAX_HEAD);
    paw_trainer *t = calloc(1, sizeof *t);
    int rc_wt;
    if (!t) return paw_err(PAW_ENOMEM, "train: out of memory");
    const paw_hparams *hp = &m->hp;
    t->model = m;
    t->rank = p->rank;
    t->alpha = p->alpha;
    t->scale = p->alpha / (float)p->rank;
    t->opt = (paw_adamw){ .lr = p->lr, .beta1 = p->beta1, .beta2 = p->beta2, .eps = p->adam_eps,
                          .weight_decay = p->weight_decay, .clip = p->clip, .warmup = p->warmup,
                          .total = p->steps, .schedule = p->schedule };
    t->pool = paw_pool_new(p->n_threads);
    t->slot_of = malloc(sizeof(int32_t) * (size_t)hp->n_layer * PAW_PROJ_COUNT);
    t->slots = calloc((size_t)hp->n_layer * PAW_PROJ_COUNT, sizeof *t->slots);
    if (!t->pool || !t->slot_of || !t->slots) {
        paw_trainer_free(t);
        return paw_err(PAW_ENOMEM, "train: out of memory");
    }
    t->n_threads = paw_pool_size(t->pool);
    uint32_t want = p->targets ? p->targets : PAW_TARGET_ALL;
    int64_t off = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const paw_layer *L = &m->layers[il];
        uint32_t w = want;
        /* GPT-2 has one fused q|k|v projection: asking for q, k or v adapts it. */
        if (L->proj[PAW_PROJ_QKV].w && (w & (PAW_TARGET_Q | PAW_TARGET_K | PAW_TARGET_V)))
            w |= PAW_TARGET_QKV;
        for (int pr = 0; pr < PAW_PROJ_COUNT; pr++) {
            t->slot_of[il * PAW_PROJ_COUNT + pr] = -1;
            if (!L->proj[pr].w || !(w & (1u << pr))) continue;
            paw_lora_slot *s = &t->slots[t->n_slots];
            *s = (paw_lora_slot){ .layer = il, .proj = pr, .n_in = L->proj[pr].n_in,
                                  .rows = L->proj[pr].rows, .a_off = off };
            off += (int64_t)p->rank * s->n_in;
            s->b_off = off;
            off += s->rows * p->rank;
            t->slot_of[il * PAW_PROJ_COUNT + pr] = t->n_slots++;
            t->targets |= 1u << pr;
        }
    }
    if (!t->n_slots) {
        paw_trainer_free(t);
        return paw_err(PAW_EINVAL, "train: no projection of this %s model matches the targets",
                       m->arch->name);
    }
    t->n_params = off;
    t->params = calloc((size_t)off * 4, sizeof(float));
    if (!t->params) {
        paw_trainer_free(t);
        return paw_err(PAW_ENOMEM, "train: out of memory for %lld parameters", (long long)off);
    }
    t->grads = t->params + off;
    t->m = t->grads + off;
    t->v = t->m + off;
    if ((rc_wt = build_fwd_packs(t)) || (!p->exact_backward && (rc_wt = build_all_wt(t)))) {
        paw_trainer_free(t);
        return rc_wt;
    }
    /* A: kaiming-uniform as PEFT does (bound 1/sqrt(d_in)); B = 0, so the
     * adapter starts as the identity and A gets no gradient until B moves. */
    uint64_t rng = p->seed;
    for (int32_t i = 0; i < t->n_slots; i++) {
        const paw_lora_slot *s = &t->slots[i];
        const float bound = 1.0f / sqrtf((float)s->n_in);
        for (int64_t k = 0; k < (int64_t)p->rank * s->n_in; k++)
            t->params[s->a_off + k] = bound * rng_uniform(&rng);
    }
    *out = t;
    return PAW_OK;
}

/* ------------------------------------------------ transposed weights */

/* Does W get a Q8_0 Wᵀ?  Quantised W only (float weights are exact and as
 * fast either way), and whole Q8_0 blocks along W's rows. */
static int wants_wt(const paw_mat *w)
{
    const paw_type_traits *tt = paw_type_get(w->type);
    return w->w && tt && tt->is_quant && w->rows % 32 == 0;
}

static size_t wt_bytes(const paw_mat *w)
{
    return (size_t)w->n_in * paw_type_row_bytes(PAW_TYPE_Q8_0, w->rows);
}

/* Wᵀ row c = column c of W: W is dequantised 32 rows at a time, so each
 * group of 32 gives one Q8_0 block of every Wᵀ row, stored as Q8_0 rows
 * (dst) or into a pack.  Groups are split over the pool (the 49152-row
 * head alone is 1536 of them). */
typedef struct wt_job {
    const paw_mat *w;
    uint8_t *dst;
    paw_i8pack *pack;
    int64_t n_groups;
    atomic_llong next;
    atomic_int failed;
} wt_job;

static void wt_task(void *arg, int ith, int nth)
{
    wt_job *j = arg;
    (void)nth;
    const int64_t rows = j->w->rows, n_in = j->w->n_in;
    const size_t wrow = paw_type_row_bytes(j->w->type, n_in), trow = paw_type_row_bytes(PAW_TYPE_Q8_0, rows);
    float *buf = malloc(sizeof(float) * 32 * (size_t)n_in), col[32];
    if (!buf) { atomic_store(&j->failed, 1); return; }
    for (int64_t g = ith; g < j->n_groups; g = atomic_fetch_add(&j->next, 1)) {
        const int64_t r0 = g * 32;
        for (int r = 0; r < 32; r++)
            paw_dequantize(j->w->type, (const uint8_t *)j->w->w + (size_t)(r0 + r) * wrow, buf + (int64_t)r * n_in, n_in);
        for (int64_t c = 0; c < n_in; c++) {
            paw_block_q8_0 blk;
            for (int r = 0; r < 32; r++) col[r] = buf[(int64_t)r * n_in + c];
            paw_quantize_row_q8_0(col, &blk, 32);
            if (j->pack) paw_i8pack_set_q8_0(j->pack, c, g, &blk);
            else memcpy(j->dst + (size_t)c * trow + (size_t)g * sizeof blk, &blk, sizeof blk);
        }
    }
    free(buf);
}

static int build_wt(paw_trainer *t, const paw_mat *w, uint8_t *dst, paw_i8pack *pack)
{
    wt_job j = { .w = w, .dst = dst, .pack = pack, .n_groups = w->rows / 32 };
    atomic_init(&j.next, t->n_threads);
    atomic_init(&j.failed, 0);
    paw_pool_run(t->pool, wt_task, &j);
    return atomic_load(&j.failed) ? paw_err(PAW_ENOMEM, "train: out of memory") : PAW_OK;
}

/* The frozen matrix i: a projection, or the output head (i = last). */
static const paw_mat *frozen_mat(const paw_trainer *t, int64_t i)
{
    const paw_model *m = t->model;
    return i < (int64_t)m->hp.n_layer * PAW_PROJ_COUNT ? &m->layers[i / PAW_PROJ_COUNT].proj[i % PAW_PROJ_COUNT]
                                                         : &m->output;
}

static int64_t n_frozen(const paw_trainer *t) { return (int64_t)t->model->hp.n_layer * PAW_PROJ_COUNT + 1; }

static const paw_i8pack *pack_at(const paw_i8pack *packs, int64_t i)
{
    return packs && packs[i].data ? &packs[i] : NULL;
}

static int build_all_wt(paw_trainer *t)
{
    const int64_t n = n_frozen(t);
    if (paw_i8_fast()) {
        if (!(t->bwd = calloc((size_t)n, sizeof *t->bwd))) return paw_err(PAW_ENOMEM, "train: out of memory");
        for (int64_t i = 0; i < n; i++) {
            const paw_mat *w = frozen_mat(t, i);
            if (!wants_wt(w)) continue;
            int rc = paw_i8pack_init(&t->bwd[i], w->n_in, w->rows, 128, PAW_I8_PLAIN, 0);
            if (!rc) rc = build_wt(t, w, NULL, &t->bwd[i]);
            if (rc) return rc;
        }
        return PAW_OK;
    }
    t->wt = calloc((size_t)n, sizeof *t->wt);
    if (!t->wt) return paw_err(PAW_ENOMEM, "train: out of memory");
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
        if (wants_wt(frozen_mat(t, i))) total += wt_bytes(frozen_mat(t, i));
    if (!total) return PAW_OK;
    t->wt_mem = malloc(total);
    if (!t->wt_mem) return paw_err(PAW_ENOMEM, "train: out of memory for %zu MB of transposed weights", total >> 20);
    uint8_t *cur = t->wt_mem;
    for (int64_t i = 0; i < n; i++) {
        const paw_mat *w = frozen_mat(t, i);
        if (!wants_wt(w)) continue;
        int rc = build_wt(t, w, cur, NULL);
        if (rc) return rc;
        t->wt[i] = cur;
        cur += wt_bytes(w);
    }
    return PAW_OK;
}

/* The forward reads the model's int8 packs (AVX-512 only: elsewhere the
 * GGUF-row kernels are the faster path), shared with int8 ctxs. */
static int build_fwd_packs(paw_trainer *t)
{
    if (!paw_i8_fast()) return PAW_OK;
    return paw_model_i8(t->model, &t->fwd);
}

/* Y = X Wᵀ for frozen matrix i: through its forward pack when it has one. */
static void frozen_matmul(paw_trainer *t, int64_t i, float *Y, const float *X, int64_t T)
{
    const paw_mat *w = frozen_mat(t, i);
    const paw_i8pack *pk = pack_at(t->fwd, i);
    if (pk) paw_i8_matmul(t->pool, Y, pk, X, T);
    else paw_matmul(t->pool, Y, w->w, w->type, w->rows, w->n_in, X, T);
}

static int has_int8_wt(const paw_trainer *t, int64_t i)
{
    return pack_at(t->bwd, i) || (t->wt && t->wt[i]);
}

/* dX (+)= dY · W for frozen matrix i: through its Wᵀ pack or Q8_0 Wᵀ and
 * the int8 kernels when there is one, else from W's own rows in f32.
 * tmp: [T][n_in] scratch. */
static void input_grad(paw_trainer *t, int64_t i, float *dX, const float *dY, int64_t T, int accumulate,
                       float *tmp)
{
    const paw_mat *w = frozen_mat(t, i);
    const paw_i8pack *pk = pack_at(t->bwd, i);
    if (!has_int8_wt(t, i)) {
        paw_matmul_backward(t->pool, dX, w->w, w->type, w->rows, w->n_in, dY, T, accumulate);
        return;
    }
    float *out = accumulate ? tmp : dX;
    if (pk) paw_i8_matmul(t->pool, out, pk, dY, T);
    else paw_matmul(t->pool, out, t->wt[i], PAW_TYPE_Q8_0, w->n_in, w->rows, dY, T);
    if (accumulate)
        for (int64_t k = 0; k < T * w->n_in; k++) dX[k] += tmp[k];
}

void paw_trainer_free(paw_trainer *t)
{
    if (!t) return;
    for (int64_t i = 0; t->bwd && i < n_frozen(t); i++) paw_i8pack_free(&t->bwd[i]);
    free(t->bwd);
    free(t->wt);
    free(t->wt_mem);
    paw_pool_free(t->pool);
    free(t->slot_of);
    free(t->slots);
    free(t->params);
    free(t->arena);
    free(t);
}

int64_t paw_trainer_n_params(const paw_trainer *t) { return t ? t->n_params : 0; }

/* ------------------------------------------------------------ the plan */

typedef struct layer_acts {
    float *xn1, *q_pre, *q, *k_pre, *k, *v, *probs, *att, *x_mid, *xn2, *ffa, *ffb;
    float *u[PAW_PROJ_COUNT];        /* A x of adapted projections, [N][r]   */
} layer_acts;

typedef struct batch {
    int64_t N, M, n_probs, n_pos;    /* tokens, loss rows, probs per layer   */
    int32_t n_seg, n_items, n_kblocks;
    /* inputs */
    int32_t *ids, *pos, *loss_row, *loss_tgt;
    float *loss_w;
    const int32_t **loss_choice;     /* [M]: an example's choices (or NULL)  */
    int32_t *loss_n_choice;
    paw_attn_seg *segs;              /* the prefix (if any), then examples   */
    paw_attn_item *items;
    int32_t *kblocks;
    paw_attn_layout lay;
    /* saved activations */
    float *xs;                       /* [n_layer + 1][N][E] residual stream   */
    layer_acts *L;
    float *rope_cs;                  /* [n_pos][n_rot/2][2]                   */
    float *xf, *xfn;                 /* [M][E] final rows, normed              */
    float *top_att, *top_res;        /* [M][ad], [M][E]: the top layer's loss rows */
    /* scratch */
    float *tmp, *h, *qkv;            /* [N][max rows], [N][F], [N][qkv]       */
    float *dx, *dxn, *dq, *dk, *dv, *dq2, *dk2, *datt, *dh, *dffa, *dffb, *du;
    float *lora_scr;                 /* [2][max rows][r]: paw_lora_* scratch   */
    float *logits, *dxf, *dxf_in;    /* [LOGIT_CHUNK][V], [M][E], [M][E]      */
    float *top_datt;                 /* [M][ad]                               */
    float *attn_scratch;
} batch;

static void *take(uint8_t **cur, size_t bytes)
{
    void *p = *cur;
    *cur += (bytes + 63) & ~(size_t)63;
    return p;
}
#define TAKEF(n) ((float *)take(&cur, (size_t)(n) * sizeof(float)))

/* Lays out every buffer of a batch from `base` (NULL: just measures) and
 * returns the bytes used.  The counts in b (N, M, n_probs, n_pos) are set. */
static size_t plan(const paw_trainer *t, batch *b, uint8_t *base, int want_grad)
{
    const paw_model *m = t->model;
    const paw_hparams *hp = &m->hp;
    const int64_t N = b->N, E = hp->n_embd, F = hp->n_ff, r = t->rank;
    const int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v, ad = (int64_t)hp->n_head * hp->head_dim_v;
    const int qnorm = m->layers[0].q_norm != NULL, fused = m->layers[0].proj[PAW_PROJ_QKV].w != NULL;
    int64_t max_rows = PAW_MAX(PAW_MAX(PAW_MAX(E, F), qd + kd + vd), ad);
    uint8_t *cur = base;
    b->ids = take(&cur, sizeof(int32_t) * N);
    b->pos = take(&cur, sizeof(int32_t) * N);
    b->loss_row = take(&cur, sizeof(int32_t) * b->M);
    b->loss_tgt = take(&cur, sizeof(int32_t) * b->M);
    b->loss_w = TAKEF(b->M);
    b->loss_choice = take(&cur, sizeof(*b->loss_choice) * b->M);
    b->loss_n_choice = take(&cur, sizeof(int32_t) * b->M);
    b->segs = take(&cur, sizeof(paw_attn_seg) * (size_t)b->n_seg);
    b->items = take(&cur, sizeof(paw_attn_item) * (size_t)b->n_items);
    b->kblocks = take(&cur, sizeof(int32_t) * 3 * (size_t)b->n_kblocks);
    b->L = take(&cur, sizeof(layer_acts) * hp->n_layer);
    b->xs = TAKEF((hp->n_layer + 1) * N * E);
    for (int il = 0; il < hp->n_layer; il++) {
        layer_acts *a = base ? &b->L[il] : &(layer_acts){0};
        a->xn1 = TAKEF(N * E);
        a->q = TAKEF(N * qd);
        a->k = TAKEF(N * kd);
        /* Without q/k norms the pre-rope values are not needed: rope is
         * linear and its backward is the inverse rotation. */
        a->q_pre = qnorm ? TAKEF(N * qd) : a->q;
        a->k_pre = qnorm ? TAKEF(N * kd) : a->k;
        a->v = TAKEF(N * vd);
        a->probs = TAKEF(b->n_probs);
        a->att = TAKEF(N * ad);
        a->x_mid = TAKEF(N * E);
        a->xn2 = TAKEF(N * E);
        a->ffa = TAKEF(N * F);
        a->ffb = m->arch->ffn == PAW_FFN_SWIGLU ? TAKEF(N * F) : NULL;
        for (int pr = 0; pr < PAW_PROJ_COUNT; pr++)
            a->u[pr] = t->slot_of[il * PAW_PROJ_COUNT + pr] >= 0 ? TAKEF(N * r) : NULL;
    }
    b->rope_cs = TAKEF(b->n_pos * PAW_MAX(hp->n_rot, 2));
    b->xf = TAKEF(b->M * E);
    b->xfn = TAKEF(b->M * E);
    b->top_att = TAKEF(b->M * ad);
    b->top_res = TAKEF(b->M * E);
    b->tmp = TAKEF(N * max_rows);
    b->lora_scr = TAKEF(2 * max_rows * r);
    b->h = TAKEF(N * F);
    b->qkv = fused ? TAKEF(N * (qd + kd + vd)) : NULL;
    b->logits = TAKEF(LOGIT_CHUNK * hp->n_vocab);
    /* the layout's counts are final here; its arrays are filled later */
    b->lay = (paw_attn_layout){ .n_seg = b->n_seg, .n_items = b->n_items,
                                .n_kblocks = b->n_kblocks, .per_head = b->n_probs / hp->n_head };
    paw_attn_shape as = { N, hp->n_head, hp->n_head_kv, hp->head_dim, hp->head_dim_v };
    b->attn_scratch = TAKEF(paw_attention_scratch_floats(&b->lay, &as));
    if (want_grad) {
        b->dx = TAKEF(N * E);
        b->dxn = TAKEF(N * E);
        b->dq = TAKEF(N * qd);
        b->dk = TAKEF(N * kd);
        b->dv = TAKEF(N * vd);
        b->dq2 = TAKEF(N * qd);
        b->dk2 = TAKEF(N * kd);
        b->datt = TAKEF(N * ad);
        b->dh = TAKEF(N * F);
        b->dffa = TAKEF(N * F);
        b->dffb = TAKEF(N * F);
        b->du = TAKEF(N * r);
        b->dxf = TAKEF(b->M * E);
        b->dxf_in = TAKEF(b->M * E);
        b->top_datt = TAKEF(b->M * ad);
    }
    return (size_t)(cur - base);
}

/* An example's last token is never packed: no loss row reads its output
 * and no other row sees it, so it would only cost work. */
static int32_t packed_len(const paw_train_example *e) { return e->n - 1; }

/* Whether output token k of e is a loss row: always, unless e restricts
 * it to a single choice (nothing to learn there). */
static int is_loss_row(const paw_train_example *e, int32_t k)
{
    return !e->choices || e->n_choices[k] != 1;
}

/* The loss rows of e (checked choices). */
static int32_t loss_rows(const paw_train_example *e)
{
    int32_t rows = 0;
    for (int32_t k = 0; k < e->n - e->n_prompt; k++) rows += is_loss_row(e, k);
    return rows;
}

/* Checks e's choices (paw.h's contract). */
static int check_choices(const paw_train_example *e, int32_t V, int32_t i)
{
    const int32_t n_out = e->n - e->n_prompt;
    if (!e->choices) return PAW_OK;
    if (!e->n_choices) return paw_err(PAW_EINVAL, "train: example %d has choices without counts", i);
    for (int32_t k = 0; k < n_out; k++) {
        const int32_t *ch = e->choices[k], n = e->n_choices[k], tgt = e->ids[e->n_prompt + k];
        int has_tgt = 0;
        if (!ch || n < 1 || n > PAW_TRAIN_MAX_CHOICES)
            return paw_err(PAW_EINVAL, "train: example %d, output token %d: 1 to %d choices needed", i, k,
                           PAW_TRAIN_MAX_CHOICES);
        for (int32_t j = 0; j < n; j++) {
            if (ch[j] < 0 || ch[j] >= V)
                return paw_err(PAW_EINVAL, "train: example %d: choice id %d outside the vocabulary", i, ch[j]);
            has_tgt |= ch[j] == tgt;
        }
        if (!has_tgt)
            return paw_err(PAW_EINVAL, "train: example %d, output token %d: its id %d is not among its choices", i,
                           k, tgt);
    }
    if (!loss_rows(e))
        return paw_err(PAW_EINVAL, "train: example %d has no output token with more than one choice", i);
    return PAW_OK;
}

/* Adds one attention segment's counts to b. */
static void count_seg(batch *b, int32_t len, int32_t pre_end)
{
    const paw_attn_seg sg = { 0, len, pre_end };
    int64_t ph;
    b->n_items += paw_attn_items(NULL, &sg, 1, &ph);
    b->n_kblocks += paw_attn_key_blocks(NULL, &sg, 1);
    b->n_probs += ph;
    b->n_seg++;
}

/* Checks the batch and fills its counts. */
static int batch_counts(const paw_trainer *t, const int32_t *prefix, int32_t P,
                        const paw_train_example *ex, int32_t n_ex, batch *b)
{
    const paw_hparams *hp = &t->model->hp;
    if (P < 0 || n_ex < 1 || (P && !prefix) || !ex) return paw_err(PAW_EINVAL, "train: empty batch");
    int64_t N = P, M = 0, maxn = 0;
    b->n_probs = b->n_seg = b->n_items = b->n_kblocks = 0;
    if (P) count_seg(b, P, 0);
    for (int32_t i = 0; i < n_ex; i++) {
        const paw_train_example *e = &ex[i];
        if (!e->ids || e->n_prompt < 1 || e->n <= e->n_prompt)
            return paw_err(PAW_EINVAL, "train: example %d needs >= 1 prompt and >= 1 output token", i);
        int rc = check_choices(e, hp->n_vocab, i);
        if (rc) return rc;
        N += packed_len(e);
        M += loss_rows(e);
        count_seg(b, packed_len(e), P);
        maxn = PAW_MAX(maxn, e->n);
    }
    if (P + maxn > hp->n_ctx_train)
        return paw_err(PAW_ERANGE, "train: prefix %d + example %lld tokens exceed the context %d",
                       P, (long long)maxn, hp->n_ctx_train);
    b->N = N;
    b->M = M;
    b->n_probs *= hp->n_head;
    b->n_pos = P + maxn;
    return PAW_OK;
}

static int batch_fill(const paw_trainer *t, const int32_t *prefix, int32_t P,
                      const paw_train_example *ex, int32_t n_ex, batch *b)
{
    const int32_t V = t->model->hp.n_vocab;
    int64_t row = 0, lr = 0;
    int32_t ns = 0;
    for (int32_t i = -1; i < n_ex; i++) {
        const int32_t *ids = i < 0 ? prefix : ex[i].ids;
        const int32_t n = i < 0 ? P : ex[i].n, packed = i < 0 ? P : packed_len(&ex[i]);
        if (!n) continue;
        b->segs[ns++] = (paw_attn_seg){ (int32_t)row, packed, i < 0 ? 0 : P };
        const int32_t rows = i < 0 ? 0 : loss_rows(&ex[i]);
        for (int32_t j = 0; j < n; j++) {
            if (ids[j] < 0 || ids[j] >= V)
                return paw_err(PAW_EINVAL, "train: token id %d outside the vocabulary", ids[j]);
            /* Token j of the output is predicted by the row before it. */
            const int32_t k = j - (i >= 0 ? ex[i].n_prompt : 0);
            if (i >= 0 && k >= 0 && is_loss_row(&ex[i], k)) {
                b->loss_row[lr] = (int32_t)row - 1;
                b->loss_tgt[lr] = ids[j];
                b->loss_w[lr] = 1.0f / ((float)n_ex * (float)rows);
                b->loss_choice[lr] = ex[i].choices ? ex[i].choices[k] : NULL;
                b->loss_n_choice[lr] = ex[i].choices ? ex[i].n_choices[k] : 0;
                lr++;
            }
            if (j >= packed) continue;
            b->ids[row] = ids[j];
            b->pos[row] = i < 0 ? j : P + j;
            row++;
        }
    }
    paw_attn_items(b->items, b->segs, b->n_seg, NULL);
    paw_attn_key_blocks(b->kblocks, b->segs, b->n_seg);
    b->lay.segs = b->segs;
    b->lay.items = b->items;
    b->lay.kblocks = b->kblocks;
    return PAW_OK;
}

/* ------------------------------------------------------------- forward */

/* y[T][rows] = W x + bias + scale B (A x); A x is kept in u for the backward. */
static void lin(paw_trainer *t, batch *b, int il, int pr, float *y, const float *x, int64_t T)
{
    const paw_mat *w = &t->model->layers[il].proj[pr];
    frozen_matmul(t, (int64_t)il * PAW_PROJ_COUNT + pr, y, x, T);
    if (w->b)
        for (int64_t i = 0; i < T; i++)
            for (int64_t r = 0; r < w->rows; r++) y[i * w->rows + r] += w->b[r];
    const int32_t si = t->slot_of[il * PAW_PROJ_COUNT + pr];
    if (si < 0) return;
    const paw_lora_slot *s = &t->slots[si];
    paw_lora_forward(t->pool, y, b->L[il].u[pr], x, t->params + s->a_off, t->params + s->b_off, T,
                     s->n_in, s->rows, t->rank, t->scale, b->lora_scr);
}

/* dX = dY · W (frozen, from its stored rows) plus the LoRA path, whose A
 * and B gradients are added to t->grads; accumulate: dX += instead; dX
 * NULL: the LoRA gradients alone (nothing below needs dX). */
static void lin_backward(paw_trainer *t, batch *b, int il, int pr, float *dX, const float *dY,
                         const float *x, int64_t T, int accumulate)
{
    const int32_t si = t->slot_of[il * PAW_PROJ_COUNT + pr];
    const int64_t wi = (int64_t)il * PAW_PROJ_COUNT + pr;
    /* With a LoRA the frozen part's sum is added in its token pass. */
    const int via_tmp = accumulate && has_int8_wt(t, wi) && si >= 0;
    if (dX) input_grad(t, wi, via_tmp ? b->tmp : dX, dY, T, accumulate && !via_tmp, b->tmp);
    if (si < 0) return;
    const paw_lora_slot *s = &t->slots[si];
    paw_lora_backward(t->pool, dX, via_tmp ? b->tmp : NULL, b->du, dY, x, b->L[il].u[pr],
                      t->params + s->a_off, t->params + s->b_off, t->grads + s->a_off,
                      t->grads + s->b_off, T, s->n_in, s->rows, t->rank, t->scale, b->lora_scr);
}

static void norm_fwd(paw_trainer *t, float *out, const float *x, const float *w,
                     const float *bias, int64_t T)
{
    paw_par_norm(t->pool, t->model, out, NULL, x, w, bias, T);
}

static void norm_bwd(paw_trainer *t, float *dx, const float *dy, const float *x, const float *w,
                     int64_t T)
{
    paw_par_norm(t->pool, t->model, dx, dy, x, w, NULL, T);
}

static void rope_rows(paw_trainer *t, const batch *b, float *x, int n_heads, int backward)
{
    const paw_model *m = t->model;
    if (m->arch->rope == PAW_ROPE_NONE || m->hp.n_rot <= 0) return;
    paw_par_rope(t->pool, x, b->rope_cs, b->pos, b->N, n_heads, m->hp.head_dim, m->hp.n_rot,
                 m->arch->rope, backward);
}

static paw_attn_shape attn_shape(const paw_model *m, const batch *b)
{
    const paw_hparams *hp = &m->hp;
    return (paw_attn_shape){ b->N, hp->n_head, hp->n_head_kv, hp->head_dim, hp->head_dim_v };
}

static void embed(const paw_model *m, batch *b)
{
    const int64_t E = m->hp.n_embd;
    const size_t row = paw_type_row_bytes(m->tok_embd.type, E);
    for (int64_t i = 0; i < b->N; i++)
        paw_dequantize(m->tok_embd.type, (const uint8_t *)m->tok_embd.w + (size_t)b->ids[i] * row,
                       b->xs + i * E, E);
    if (!m->pos_embd.w) return;
    const size_t prow = paw_type_row_bytes(m->pos_embd.type, E);
    for (int64_t i = 0; i < b->N; i++) {
        paw_dequantize(m->pos_embd.type, (const uint8_t *)m->pos_embd.w + (size_t)b->pos[i] * prow,
                       b->tmp, E);
        for (int64_t c = 0; c < E; c++) b->xs[i * E + c] += b->tmp[c];
    }
}

/* Only the loss rows of the top layer's output are ever read, so from its
 * O projection on the top layer works on those M rows, gathered in order
 * (row i is packed row loss_row[i]); every other layer on all N. */
static int is_top(const paw_trainer *t, int il) { return il == t->model->hp.n_layer - 1; }

/* The feed-forward half on T rows: x_out = x_mid + ffn(norm(x_mid)). */
static void ffn_forward(paw_trainer *t, batch *b, int il, int64_t T, float *x_out)
{
    const paw_model *m = t->model;
    const paw_layer *L = &m->layers[il];
    layer_acts *a = &b->L[il];
    const int64_t E = m->hp.n_embd, F = m->hp.n_ff;
    norm_fwd(t, a->xn2, a->x_mid, L->ffn_norm, L->ffn_norm_b, T);
    if (m->arch->ffn == PAW_FFN_SWIGLU) {
        lin(t, b, il, PAW_PROJ_GATE, a->ffa, a->xn2, T);
        lin(t, b, il, PAW_PROJ_UP, a->ffb, a->xn2, T);
        paw_par_swiglu_forward(t->pool, b->h, a->ffa, a->ffb, T * F);
    } else {
        lin(t, b, il, PAW_PROJ_UP, a->ffa, a->xn2, T);
        paw_par_gelu_forward(t->pool, b->h, a->ffa, T * F);
    }
    lin(t, b, il, PAW_PROJ_DOWN, b->tmp, b->h, T);
    paw_par_add(t->pool, x_out, a->x_mid, b->tmp, T * E);
}

static void layer_forward(paw_trainer *t, batch *b, int il)
{
    const paw_model *m = t->model;
    const paw_hparams *hp = &m->hp;
    const paw_layer *L = &m->layers[il];
    layer_acts *a = &b->L[il];
    const int top = is_top(t, il);
    const int64_t N = b->N, E = hp->n_embd, T = top ? b->M : N;
    const int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v, ad = (int64_t)hp->n_head * hp->head_dim_v;
    const float *x_in = b->xs + il * N * E;
    float *x_out = b->xs + (il + 1) * N * E;

    norm_fwd(t, a->xn1, x_in, L->attn_norm, L->attn_norm_b, N);
    if (L->proj[PAW_PROJ_QKV].w) {
        lin(t, b, il, PAW_PROJ_QKV, b->qkv, a->xn1, N);
        for (int64_t i = 0; i < N; i++) {
            const float *row = b->qkv + i * (qd + kd + vd);
            memcpy(a->q_pre + i * qd, row, (size_t)qd * sizeof(float));
            memcpy(a->k_pre + i * kd, row + qd, (size_t)kd * sizeof(float));
            memcpy(a->v + i * vd, row + qd + kd, (size_t)vd * sizeof(float));
        }
    } else {
        lin(t, b, il, PAW_PROJ_Q, a->q_pre, a->xn1, N);
        lin(t, b, il, PAW_PROJ_K, a->k_pre, a->xn1, N);
        lin(t, b, il, PAW_PROJ_V, a->v, a->xn1, N);
    }
    if (L->q_norm) {
        paw_rmsnorm_forward(a->q, a->q_pre, L->q_norm, N * hp->n_head, hp->head_dim, hp->norm_eps);
        paw_rmsnorm_forward(a->k, a->k_pre, L->k_norm, N * hp->n_head_kv, hp->head_dim, hp->norm_eps);
    }
    rope_rows(t, b, a->q, hp->n_head, 0);
    rope_rows(t, b, a->k, hp->n_head_kv, 0);
    paw_attn_shape s = attn_shape(m, b);
    paw_attention_train_forward(t->pool, a->att, a->probs, a->q, a->k, a->v, &b->lay, &s,
                                b->attn_scratch);
    const float *att = a->att, *res = x_in;
    if (top) {   /* gather the loss rows */
        for (int64_t i = 0; i < T; i++) {
            memcpy(b->top_att + i * ad, a->att + (int64_t)b->loss_row[i] * ad, (size_t)ad * sizeof(float));
            memcpy(b->top_res + i * E, x_in + (int64_t)b->loss_row[i] * E, (size_t)E * sizeof(float));
        }
        att = b->top_att;
        res = b->top_res;
    }
    lin(t, b, il, PAW_PROJ_O, b->tmp, att, T);
    paw_par_add(t->pool, a->x_mid, res, b->tmp, T * E);
    ffn_forward(t, b, il, T, x_out);
}

/* The feed-forward half's backward on T rows: dx holds the gradient at
 * x_out; on return, at x_mid (the residual's share plus the norm's). */
static void ffn_backward(paw_trainer *t, batch *b, int il, int64_t T, float *dx)
{
    const paw_model *m = t->model;
    const paw_layer *L = &m->layers[il];
    layer_acts *a = &b->L[il];
    const int64_t F = m->hp.n_ff;
    /* the activation is recomputed rather than stored */
    if (m->arch->ffn == PAW_FFN_SWIGLU) paw_par_swiglu_forward(t->pool, b->h, a->ffa, a->ffb, T * F);
    else paw_par_gelu_forward(t->pool, b->h, a->ffa, T * F);
    lin_backward(t, b, il, PAW_PROJ_DOWN, b->dh, dx, b->h, T, 0);
    memset(b->dffa, 0, (size_t)(T * F) * sizeof(float));
    if (m->arch->ffn == PAW_FFN_SWIGLU) {
        memset(b->dffb, 0, (size_t)(T * F) * sizeof(float));
        paw_par_swiglu_backward(t->pool, b->dffa, b->dffb, b->dh, a->ffa, a->ffb, T * F);
        lin_backward(t, b, il, PAW_PROJ_GATE, b->dxn, b->dffa, a->xn2, T, 0);
        lin_backward(t, b, il, PAW_PROJ_UP, b->dxn, b->dffb, a->xn2, T, 1);
    } else {
        paw_par_gelu_backward(t->pool, b->dffa, b->dh, a->ffa, T * F);
        lin_backward(t, b, il, PAW_PROJ_UP, b->dxn, b->dffa, a->xn2, T, 0);
    }
    norm_bwd(t, dx, b->dxn, a->x_mid, L->ffn_norm, T);
}

/* b->dx holds the gradient at the layer's output (for the top layer: b->dxf_in,
 * its M loss rows); on return b->dx holds it at the layer's input, except
 * for layer 0, whose input gradient nothing reads. */
static void layer_backward(paw_trainer *t, batch *b, int il)
{
    const paw_model *m = t->model;
    const paw_hparams *hp = &m->hp;
    const paw_layer *L = &m->layers[il];
    layer_acts *a = &b->L[il];
    const int top = is_top(t, il);
    const int64_t N = b->N, E = hp->n_embd, T = top ? b->M : N;
    const int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v, ad = (int64_t)hp->n_head * hp->head_dim_v;
    const float *x_in = b->xs + il * N * E;
    float *dx = top ? b->dxf_in : b->dx;

    ffn_backward(t, b, il, T, dx);
    /* attention */
    lin_backward(t, b, il, PAW_PROJ_O, top ? b->top_datt : b->datt, dx, top ? b->top_att : a->att, T, 0);
    if (top) {   /* scatter the loss rows back */
        memset(b->datt, 0, (size_t)(N * ad) * sizeof(float));
        memset(b->dx, 0, (size_t)(N * E) * sizeof(float));
        for (int64_t i = 0; i < T; i++) {
            const int64_t r = b->loss_row[i];
            memcpy(b->datt + r * ad, b->top_datt + i * ad, (size_t)ad * sizeof(float));
            memcpy(b->dx + r * E, dx + i * E, (size_t)E * sizeof(float));
        }
    }
    memset(b->dq, 0, (size_t)(N * qd) * sizeof(float));
    memset(b->dk, 0, (size_t)(N * kd) * sizeof(float));
    memset(b->dv, 0, (size_t)(N * vd) * sizeof(float));
    paw_attn_shape s = attn_shape(m, b);
    paw_attention_train_backward(t->pool, b->dq, b->dk, b->dv, b->datt, a->probs, a->q, a->k, a->v,
                                 &b->lay, &s, b->attn_scratch);
    rope_rows(t, b, b->dq, hp->n_head, 1);
    rope_rows(t, b, b->dk, hp->n_head_kv, 1);
    float *dq = b->dq, *dk = b->dk;
    if (L->q_norm) {
        memset(b->dq2, 0, (size_t)(N * qd) * sizeof(float));
        memset(b->dk2, 0, (size_t)(N * kd) * sizeof(float));
        paw_rmsnorm_backward(b->dq2, b->dq, a->q_pre, L->q_norm, N * hp->n_head, hp->head_dim, hp->norm_eps);
        paw_rmsnorm_backward(b->dk2, b->dk, a->k_pre, L->k_norm, N * hp->n_head_kv, hp->head_dim, hp->norm_eps);
        dq = b->dq2;
        dk = b->dk2;
    }
    float *dxn = il ? b->dxn : NULL;   /* layer 0: the LoRA gradients only */
    if (L->proj[PAW_PROJ_QKV].w) {
        for (int64_t i = 0; i < N; i++) {
            float *row = b->qkv + i * (qd + kd + vd);
            memcpy(row, dq + i * qd, (size_t)qd * sizeof(float));
            memcpy(row + qd, dk + i * kd, (size_t)kd * sizeof(float));
            memcpy(row + qd + kd, b->dv + i * vd, (size_t)vd * sizeof(float));
        }
        lin_backward(t, b, il, PAW_PROJ_QKV, dxn, b->qkv, a->xn1, N, 0);
    } else {
        lin_backward(t, b, il, PAW_PROJ_Q, dxn, dq, a->xn1, N, 0);
        lin_backward(t, b, il, PAW_PROJ_K, dxn, dk, a->xn1, N, 1);
        lin_backward(t, b, il, PAW_PROJ_V, dxn, b->dv, a->xn1, N, 1);
    }
    if (dxn) norm_bwd(t, b->dx, b->dxn, x_in, L->attn_norm, N);
}

/* Cross-entropy of the loss rows; with want_grad, b->dxf gets the gradient
 * at the final-normed rows. */
static double head_loss(paw_trainer *t, batch *b, int want_grad)
{
    const paw_model *m = t->model;
    const int64_t E = m->hp.n_embd, V = m->hp.n_vocab;
    double loss = 0;
    for (int64_t r0 = 0; r0 < b->M; r0 += LOGIT_CHUNK) {
        const int64_t n = PAW_MIN(LOGIT_CHUNK, b->M - r0);
        frozen_matmul(t, n_frozen(t) - 1, b->logits, b->xfn + r0 * E, n);
        double row_loss[LOGIT_CHUNK];
        paw_par_xent(t->pool, b->logits, V, n, b->loss_tgt + r0, b->loss_w + r0, b->loss_choice + r0,
                     b->loss_n_choice + r0, want_grad, row_loss);
        for (int64_t i = 0; i < n; i++) loss += row_loss[i];
        if (want_grad)
            input_grad(t, n_frozen(t) - 1, b->dxf + r0 * E, b->logits, n, 0, NULL);
    }
    return loss;
}

int paw_trainer_run(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                    const paw_train_example *ex, int32_t n_ex, int want_grad, double *loss)
{
    if (!t || !loss) return paw_err(PAW_EINVAL, "train: NULL argument");
    const paw_model *m = t->model;
    const paw_hparams *hp = &m->hp;
    batch b = {0};
    int rc = batch_counts(t, prefix, n_prefix, ex, n_ex, &b);
    if (rc) return rc;
    const size_t need = plan(t, &b, NULL, 1);  /* sized for a backward too */
    if (need > t->arena_bytes) {
        free(t->arena);
        t->arena_bytes = 0;
        t->arena = malloc(need);
        if (!t->arena) return paw_err(PAW_ENOMEM, "train: out of memory (%zu MB of activations)", need >> 20);
        t->arena_bytes = need;
    }
    plan(t, &b, t->arena, 1);
    if ((rc = batch_fill(t, prefix, n_prefix, ex, n_ex, &b))) return rc;

    const int64_t N = b.N, E = hp->n_embd;
    embed(m, &b);
    if (m->arch->rope != PAW_ROPE_NONE && hp->n_rot > 0)
        paw_rope_table(b.rope_cs, 0, b.n_pos, hp, m->rope_freqs);
    for (int il = 0; il < hp->n_layer; il++) layer_forward(t, &b, il);
    /* the top layer left its M loss rows, in order, at the start of its output */
    memcpy(b.xf, b.xs + (int64_t)hp->n_layer * N * E, (size_t)(b.M * E) * sizeof(float));
    norm_fwd(t, b.xfn, b.xf, m->out_norm, m->out_norm_b, b.M);
    *loss = head_loss(t, &b, want_grad);
    if (!want_grad) return PAW_OK;

    memset(t->grads, 0, (size_t)t->n_params * sizeof(float));
    /* Only loss rows get a gradient from the head (the top layer's
     * backward starts from these M rows); the prefix and prompt rows get
     * theirs through attention alone. */
    memset(b.dxf_in, 0, (size_t)(b.M * E) * sizeof(float));
    norm_bwd(t, b.dxf_in, b.dxf, b.xf, m->out_norm, b.M);
    for (int il = hp->n_layer - 1; il >= 0; il--) layer_backward(t, &b, il);
    return PAW_OK;
}

int paw_trainer_loss(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                     const paw_train_example *ex, int32_t n_ex, double *loss)
{
    return paw_trainer_run(t, prefix, n_prefix, ex, n_ex, 0, loss);
}

int paw_trainer_step(paw_trainer *t, const int32_t *prefix, int32_t n_prefix,
                     const paw_train_example *ex, int32_t n_ex, double *loss, double *grad_norm)
{
    double l;
    int rc = paw_trainer_run(t, prefix, n_prefix, ex, n_ex, 1, &l);
    if (rc) return rc;
    if (!isfinite(l)) return paw_err(PAW_ERANGE, "train: loss is not finite at step %d", t->step);
    t->step++;
    t->last_grad_norm = paw_adamw_update(t->pool, &t->opt, t->step, t->params, t->grads, t->m, t->v,
                                         t->n_params);
    if (loss) *loss = l;
    if (grad_norm) *grad_norm = t->last_grad_norm;
    return PAW_OK;
}
