/* work.c — the bounded job queue and the model workers.
 *
 * A fixed number of workers (cfg.workers) take jobs in arrival order; each
 * job's model work runs with threads_per_worker threads, so that workers x
 * threads never exceeds the cores asked for, however many requests arrive.
 * The queue holds at most cfg.queue waiting jobs; a full queue is refused
 * at once (the HTTP layer answers 429), which bounds the memory and the wait
 * of everything that was accepted. */
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

static void run_program(worker *w, job *j)
{
    srv *s = w->s;
    paw_program *h = NULL;
    int rc = progs_acquire(s->progs, j->program, s->threads_per_worker, &h);
    if (rc) { job_fail(j, rc, paw_last_error()); return; }
    char *out = NULL;
    size_t out_len = 0;
    j->score = -1;
    int32_t nl = j->score_label ? paw_program_n_labels(h) : 0;
    if (nl > 0) {
        double probs[64];
        if (nl > 64) nl = 64;
        rc = paw_program_call_scores(h, j->input, j->input_len, probs, NULL, &out, &out_len);
        for (int32_t i = 0; !rc && i < nl; i++)
            if (!strcmp(paw_program_label(h, i), j->score_label)) j->score = probs[i];
    } else {
        rc = paw_program_call(h, j->input, j->input_len, j->max_tokens, &out, &out_len);
    }
    if (rc) {
        job_fail(j, rc, paw_last_error());
    } else {
        paw_program_stats st;
        paw_program_get_stats(h, &st);
        pthread_mutex_lock(&j->mu);
        j->output = out;
        j->output_len = j->streamed = out_len;
        j->n_prompt = st.n_prefix + st.n_prompt;
        j->n_gen = st.n_gen;
        j->finish_length = st.stop_reason == PAW_STOP_MAX_TOKENS;
        pthread_mutex_unlock(&j->mu);
        out = NULL;
    }
    paw_free(out);
    progs_release(s->progs, h);
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
        paw_ctx_params cp = {.n_ctx = s->cfg.n_ctx, .n_threads = s->threads_per_worker};
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
        s->running++;
        pthread_mutex_unlock(&s->qmu);

        pthread_mutex_lock(&j->mu);
        int skip = j->abandoned;
        j->state = JOB_RUNNING;
        j->t_start = srv_now_ms();
        pthread_mutex_unlock(&j->mu);
        if (!skip) {
            if (j->kind == JOB_PROGRAM) run_program(w, j);
            else run_chat(w, j);
        }
        pthread_mutex_lock(&j->mu);
        j->state = JOB_DONE;
        j->t_end = srv_now_ms();
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        job_unref(j);

        pthread_mutex_lock(&s->qmu);
        s->running--;
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
