/* work.c — the bounded job queue and the model workers.
 *
 * A fixed number of workers (cfg.workers) take jobs in arrival order; each
 * job's model work runs with threads_per_worker threads, so that workers x
 * threads never exceeds the cores asked for, however many requests arrive.
 * The queue holds at most cfg.queue waiting jobs; a full queue is refused
 * at once (the HTTP layer answers 429), which bounds the memory and the wait
 * of everything that was accepted.
 *
 * A worker that takes a program job also takes the program jobs waiting
 * behind it (up to SRV_MAX_BATCH, any programs) and runs them together through
 * paw_program_call_batch: one forward pass per decoding step for all, each
 * row with its own program's adapter and prefix, the answers exactly those
 * of one-at-a-time calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "server.h"

double srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

job *job_new(int kind)
{
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->refs = 1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    return j;
}

void job_unref(job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->program);
    free(j->input);
    free(j->output);
    free(j);
}

static void job_ref(job *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

/* ------------------------------------------------------------ workers */

typedef struct worker {
    srv           *s;
    paw_ctx       *chat_ctx;   /* base-model chat, made on first use */
    paw_tokenizer *tok;
} worker;

static void job_fail(job *j, int rc, const char *msg)
{
    j->rc = rc ? rc : PAW_EINVAL;
    snprintf(j->err, sizeof j->err, "%s", msg);
}

static int on_text(void *ud, const char *text, size_t len);

/* The answer of a call on h, into the job (replacing the pieces streamed so
 * far, which add up to it). */
static void job_answer(job *j, paw_program *h, char *out, size_t out_len)
{
    paw_program_stats st;
    paw_program_get_stats(h, &st);
    pthread_mutex_lock(&j->mu);
    free(j->output);
    j->output = out;
    j->output_len = j->streamed = out_len;
    j->n_prompt = st.n_prefix + st.n_prompt;
    j->n_gen = st.n_gen;
    j->finish_length = st.stop_reason == PAW_STOP_MAX_TOKENS;
    pthread_mutex_unlock(&j->mu);
}

/* A call that also scores j->score_label (a closed-label program): j->score
 * is its probability, -1 when the program has no such label. */
static int call_scored(paw_program *h, job *j, char **out, size_t *out_len)
{
    j->score = -1;
    const int32_t nl = paw_program_n_labels(h);
    if (nl <= 0) return paw_program_call(h, j->input, j->input_len, j->max_tokens, out, out_len);
    double *probs = malloc((size_t)nl * sizeof *probs);
    if (!probs) return PAW_ENOMEM;
    int rc = paw_program_call_scores(h, j->input, j->input_len, probs, NULL, out, out_len);
    for (int32_t i = 0; !rc && i < nl; i++)
        if (!strcmp(paw_program_label(h, i), j->score_label)) j->score = probs[i];
    free(probs);
    return rc;
}

/* Program jobs js[0..n): a handle each, then one batched call.  A job alone
 * (or a row the batch failed, run again for its own error message) is a
 * streaming call: its pieces reach the job as they are decoded.  Rows
 * decoded in a batch get their whole answer at once when the batch ends. */
static void run_programs(worker *w, job **js, int n)
{
    srv *s = w->s;
    paw_program *hs[SRV_MAX_BATCH];
    job *rows[SRV_MAX_BATCH];
    const char *in[SRV_MAX_BATCH];
    size_t lens[SRV_MAX_BATCH], olens[SRV_MAX_BATCH];
    char *outs[SRV_MAX_BATCH];
    int rcs[SRV_MAX_BATCH], k = 0;
    for (int i = 0; i < n; i++) {
        paw_program *h = NULL;
        int rc = progs_acquire(s->progs, js[i]->program, s->threads_per_worker, &h);
        if (rc) { job_fail(js[i], rc, paw_last_error()); continue; }
        hs[k] = h, rows[k] = js[i], in[k] = js[i]->input, lens[k] = js[i]->input_len, k++;
    }
    /* Batch the plain calls whose max_tokens equal the first plain call's;
     * scored calls (tool calling) run alone. */
    int b = 0, ref = -1;
    for (int i = 0; i < k && ref < 0; i++)
        if (!rows[i]->score_label) ref = i;
    const int32_t batch_max = ref >= 0 ? rows[ref]->max_tokens : 0;
    for (int i = 0; ref >= 0 && i < k; i++)
        if (!rows[i]->score_label && rows[i]->max_tokens == batch_max) {
            paw_program *th = hs[b]; hs[b] = hs[i]; hs[i] = th;
            job *tj = rows[b]; rows[b] = rows[i]; rows[i] = tj;
            const char *ti = in[b]; in[b] = in[i]; in[i] = ti;
            size_t tl = lens[b]; lens[b] = lens[i]; lens[i] = tl;
            b++;
        }
    int brc = b > 1 ? paw_program_call_batch(hs, in, lens, b, batch_max, outs, olens, rcs) : -1;
    if (!brc) metrics_batch(s->metrics, b);
    for (int i = 0; i < k; i++) {
        char *out = NULL;
        size_t out_len = 0;
        int rc = i < b && !brc ? rcs[i] : -1;
        if (!rc) {
            out = outs[i], out_len = olens[i];
        } else if (rows[i]->score_label) {
            rc = call_scored(hs[i], rows[i], &out, &out_len);
        } else {
            metrics_batch(s->metrics, 1);
            rc = paw_program_call_stream(hs[i], rows[i]->input, rows[i]->input_len, rows[i]->max_tokens,
                                         on_text, rows[i], &out, &out_len);
        }
        if (rc) job_fail(rows[i], rc, paw_last_error());
        else job_answer(rows[i], hs[i], out, out_len), out = NULL;
        paw_free(out);
        progs_release(s->progs, hs[i]);
    }
}

/* Streams each final piece of text into the job, where the connection's
 * thread picks it up; stops generating once nobody waits for it. */
static int on_text(void *ud, const char *text, size_t len)
{
    job *j = ud;
    pthread_mutex_lock(&j->mu);
    int stop = j->abandoned;
    char *o = realloc(j->output, j->output_len + len + 1);
    if (o) {
        memcpy(o + j->output_len, text, len);
        j->output = o;
        j->output_len += len;
        o[j->output_len] = 0;
        j->streamed = j->output_len;
    } else {
        stop = 1;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return stop;
}

static void run_chat(worker *w, job *j)
{
    srv *s = w->s;
    int rc = PAW_OK;
    if (!w->chat_ctx) {
        paw_ctx_params cp = {.n_ctx = s->cfg.n_ctx, .n_threads = s->threads_per_worker, .int8 = s->cfg.int8};
        rc = paw_ctx_new(s->model, &cp, &w->chat_ctx);
        if (!rc) rc = paw_tokenizer_from_gguf(paw_model_gguf(s->model), &w->tok);
        if (rc) { job_fail(j, rc, paw_last_error()); return; }
    }
    int32_t *ids = NULL;
    size_t n = 0;
    rc = paw_tokenize(w->tok, j->input, j->input_len, paw_tokenizer_add_bos(w->tok), 1, &ids, &n);
    if (!rc && (int64_t)n >= paw_ctx_n_ctx(w->chat_ctx))
        rc = PAW_ERANGE, snprintf(j->err, sizeof j->err, "the prompt is %zu tokens; the context "
                                  "holds %d", n, paw_ctx_n_ctx(w->chat_ctx));
    if (!rc) rc = paw_kv_truncate(w->chat_ctx, 0);
    paw_gen_result res = {0};
    if (!rc) {
        paw_gen_params gp = {.max_tokens = j->max_tokens,
                             .sampling = {.temp = j->temperature, .seed = j->seed},
                             .on_text = on_text, .ud = j};
        rc = paw_generate(w->chat_ctx, w->tok, ids, n, &gp, &res);
    }
    if (rc) {
        if (!j->err[0]) snprintf(j->err, sizeof j->err, "%s", paw_last_error());
        j->rc = rc;
    } else {
        pthread_mutex_lock(&j->mu);
        j->n_prompt = (int32_t)n;
        j->n_gen = (int32_t)res.n_ids;
        j->finish_length = res.stop_reason == PAW_STOP_MAX_TOKENS ||
                           res.stop_reason == PAW_STOP_CTX_FULL;
        pthread_mutex_unlock(&j->mu);
    }
    paw_gen_result_free(&res);
    paw_free(ids);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    srv *s = w->s;
    for (;;) {
        pthread_mutex_lock(&s->qmu);
        while (!s->qhead && !s->stopping) pthread_cond_wait(&s->qcv, &s->qmu);
        job *j = s->qhead;
        if (!j) { pthread_mutex_unlock(&s->qmu); break; }   /* stopping, queue empty */
        s->qhead = j->next;
        if (!s->qhead) s->qtail = NULL;
        s->qlen--;
        /* a program job takes the program jobs waiting behind it along */
        job *js[SRV_MAX_BATCH] = { j };
        int n = 1;
        for (job **pp = &s->qhead, *prev = NULL; j->kind == JOB_PROGRAM && *pp && n < s->cfg.max_batch;) {
            job *q = *pp;
            if (q->kind != JOB_PROGRAM) { prev = q; pp = &q->next; continue; }
            *pp = q->next;
            if (s->qtail == q) s->qtail = prev;
            s->qlen--;
            js[n++] = q;
        }
        s->running += n;
        pthread_mutex_unlock(&s->qmu);

        job *run[SRV_MAX_BATCH];
        int k = 0;
        for (int i = 0; i < n; i++) {
            pthread_mutex_lock(&js[i]->mu);
            if (!js[i]->abandoned) run[k++] = js[i];
            js[i]->state = JOB_RUNNING;
            js[i]->t_start = srv_now_ms();
            pthread_mutex_unlock(&js[i]->mu);
        }
        if (k && j->kind == JOB_PROGRAM) run_programs(w, run, k);
        else if (k) run_chat(w, j);
        for (int i = 0; i < n; i++) {
            pthread_mutex_lock(&js[i]->mu);
            js[i]->state = JOB_DONE;
            js[i]->t_end = srv_now_ms();
            pthread_cond_broadcast(&js[i]->cv);
            pthread_mutex_unlock(&js[i]->mu);
            job_unref(js[i]);
        }

        pthread_mutex_lock(&s->qmu);
        s->running -= n;
        pthread_mutex_unlock(&s->qmu);
    }
    paw_ctx_free(w->chat_ctx);
    paw_tokenizer_free(w->tok);
    free(w);
    return NULL;
}

int work_start(srv *s)
{
    s->worker_tids = calloc((size_t)s->cfg.workers, sizeof *s->worker_tids);
    if (!s->worker_tids) return -1;
    for (int i = 0; i < s->cfg.workers; i++) {
        worker *w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->s = s;
        if (pthread_create(&s->worker_tids[i], NULL, worker_main, w)) { free(w); return -1; }
        s->n_workers++;
    }
    return 0;
}

int work_submit(srv *s, job *j)
{
    pthread_mutex_lock(&s->qmu);
    int rc = 0;
    if (s->stopping) rc = -2;
    else if (s->qlen >= s->cfg.queue) rc = -1;
    if (!rc) {
        job_ref(j);
        j->t_submit = srv_now_ms();
        j->next = NULL;
        if (s->qtail) s->qtail->next = j;
        else s->qhead = j;
        s->qtail = j;
        s->qlen++;
        pthread_cond_signal(&s->qcv);
    }
    pthread_mutex_unlock(&s->qmu);
    return rc;
}

/* Takes j out of the queue if it is still there; 1 if it was. */
static int withdraw(srv *s, job *j)
{
    int found = 0;
    pthread_mutex_lock(&s->qmu);
    for (job **pp = &s->qhead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp != j) continue;
        *pp = j->next;
        if (s->qtail == j) s->qtail = prev;
        s->qlen--;
        found = 1;
        break;
    }
    pthread_mutex_unlock(&s->qmu);
    if (found) job_unref(j);   /* the queue's reference */
    return found;
}

int work_wait(srv *s, job *j, double timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double sec = timeout_ms / 1e3;
    dl.tv_sec += (time_t)sec;
    dl.tv_nsec += (long)((sec - (double)(time_t)sec) * 1e9);
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&j->mu);
    int err = 0;
    while (j->state != JOB_DONE && err != ETIMEDOUT) err = pthread_cond_timedwait(&j->cv, &j->mu, &dl);
    int done = j->state == JOB_DONE;
    if (!done) j->abandoned = 1;
    pthread_mutex_unlock(&j->mu);
    if (!done) withdraw(s, j);
    return done;
}

void work_stop(srv *s)
{
    pthread_mutex_lock(&s->qmu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
    for (int i = 0; i < s->n_workers; i++) pthread_join(s->worker_tids[i], NULL);
    free(s->worker_tids);
    s->worker_tids = NULL;
    s->n_workers = 0;
}

int work_queue_depth(srv *s)
{
    pthread_mutex_lock(&s->qmu);
    int n = s->qlen;
    pthread_mutex_unlock(&s->qmu);
    return n;
}
