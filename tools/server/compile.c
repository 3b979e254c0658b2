/* compile.c — POST /api/v1/compile jobs, run one at a time on a thread of
 * their own with paw_compile (the no-teacher path: the spec and the given
 * examples).  A job reports its stage and progress from the library's
 * progress callback; DELETE asks the library to stop (paw_compile_opts
 * .cancelled), and a stopped or failed compile installs nothing.  A finished
 * program is installed into the program cache and can be called at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "server.h"

#define KEEP_JOBS 64
#define SPEC_MIN  10
#define SPEC_MAX  16000
#define EX_MAX    1000

enum { C_QUEUED, C_RUNNING, C_SUCCEEDED, C_FAILED, C_CANCELLED };
static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled"};

typedef struct cjob {
    char     id[40];
    int      state, cancel;
    char     stage[32], message[512], error[512];
    double   progress;
    char    *spec, *alias;
    paw_program_example *ex;
    size_t   n_ex;
    int32_t  steps;
    char     program_id[PAW_PROGRAM_ID_LEN + 1];
    double   train_em, val_em, seconds;
    uint64_t seq;
    struct cjob *next;
} cjob;

struct compiler {
    srv            *s;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t       tid;
    int             started, stop;
    cjob           *jobs;       /* newest first */
    uint64_t        seq;
};

static void cjob_free(cjob *j)
{
    for (size_t i = 0; i < j->n_ex; i++) { free(j->ex[i].input); free(j->ex[i].output); }
    free(j->ex);
    free(j->spec);
    free(j->alias);
    free(j);
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    return s;
}

static char *err_json(int *status, int st, const char *code, const char *msg)
{
    *status = st;
    return dump(json_pack("{s:{s:s,s:s,s:s},s:s}", "error", "code", code, "message", msg, "type",
                          st >= 500 ? "server_error" : "invalid_request_error", "detail", msg));
}

/* ---------------------------------------------------------- the thread */

static compiler *the_compiler;   /* one per process */

static void on_progress(void *ud, const char *stage, const char *msg)
{
    cjob *j = ud;
    int s = 0, n = 0;
    double p = -1;
    if (!strcmp(stage, "train") && sscanf(msg, "step %d/%d", &s, &n) == 2 && n > 0) p = 0.1 + 0.85 * s / n;
    else if (!strcmp(stage, "export")) p = 0.97;
    else if (!strcmp(stage, "train")) p = 0.1;
    else p = 0.05;
    pthread_mutex_t *mu = &the_compiler->mu;   /* GET reads these under it */
    pthread_mutex_lock(mu);
    snprintf(j->stage, sizeof j->stage, "%s", stage);
    snprintf(j->message, sizeof j->message, "%s", msg);
    if (p > j->progress) j->progress = p;
    pthread_mutex_unlock(mu);
}

static int is_cancelled(void *ud)
{
    cjob *j = ud;
    pthread_mutex_lock(&the_compiler->mu);
    int c = j->cancel || the_compiler->stop;
    pthread_mutex_unlock(&the_compiler->mu);
    return c;
}

static void run_job(compiler *c, cjob *j)
{
    srv *s = c->s;
    paw_compile_opts o = {.steps = j->steps, .n_threads = s->cfg.threads, .model_path = s->model_path,
                          .progress = on_progress, .ud = j, .cancelled = is_cancelled};
    paw_compile_result r;
    double t0 = srv_now_ms();
    int rc = paw_compile(s->model, j->spec, j->ex, j->n_ex, &o, &r);
    char id[PAW_PROGRAM_ID_LEN + 1] = "";
    if (!rc) rc = paw_program_install(r.bundle, j->alias, id);
    pthread_mutex_lock(&c->mu);
    j->seconds = (srv_now_ms() - t0) / 1e3;
    if (rc == PAW_ECANCELED || (rc && j->cancel)) {
        j->state = C_CANCELLED;
    } else if (rc) {
        j->state = C_FAILED;
        snprintf(j->error, sizeof j->error, "%s", paw_last_error());
    } else {
        j->state = C_SUCCEEDED;
        j->progress = 1;
        memcpy(j->program_id, id, sizeof id);
        j->train_em = r.train_em;
        j->val_em = r.val_em;
    }
    pthread_mutex_unlock(&c->mu);
    if (!rc) progs_invalidate(s->progs);
    paw_compile_result_clear(&r);
}

static void *compile_main(void *arg)
{
    compiler *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        cjob *next = NULL;
        for (cjob *j = c->jobs; j; j = j->next)   /* oldest queued job first */
            if (j->state == C_QUEUED && (!next || j->seq < next->seq)) next = j;
        if (c->stop) break;
        if (!next) { pthread_cond_wait(&c->cv, &c->mu); continue; }
        next->state = C_RUNNING;
        pthread_mutex_unlock(&c->mu);
        run_job(c, next);
        pthread_mutex_lock(&c->mu);
    }
    for (cjob *j = c->jobs; j; j = j->next)
        if (j->state == C_QUEUED) j->state = C_CANCELLED;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int compiler_new(srv *s, compiler **out)
{
    compiler *c = calloc(1, sizeof *c);
    if (!c) return PAW_ENOMEM;
    c->s = s;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    the_compiler = c;
    if (pthread_create(&c->tid, NULL, compile_main, c)) { free(c); return PAW_ENOMEM; }
    c->started = 1;
    *out = c;
    return PAW_OK;
}

void compiler_free(compiler *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started) pthread_join(c->tid, NULL);
    for (cjob *j = c->jobs, *n; j; j = n) { n = j->next; cjob_free(j); }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* ------------------------------------------------------------- routes */

static json_t *job_json(cjob *j)
{
    return json_pack("{s:s,s:s,s:s,s:f,s:s,s:s?,s:s?,s:s?,s:{s:f},s:f,s:f}", "job_id", j->id, "status",
                     state_names[j->state], "stage", j->stage, "progress", j->progress, "message", j->message,
                     "program_id", j->program_id[0] ? j->program_id : NULL, "alias", j->alias, "error",
                     j->error[0] ? j->error : NULL, "timings", "total_s", j->seconds, "train_em", j->train_em,
                     "val_em", j->val_em);
}

char *compiler_submit(compiler *c, const char *body, size_t len, int *status)
{
    json_error_t e;
    json_t *o = json_loadb(body ? body : "", len, 0, &e);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_json(status, 400, "invalid_json", "the body must be a JSON object {spec, examples}");
    }
    json_t *spec = json_object_get(o, "spec"), *ex = json_object_get(o, "examples");
    json_t *alias = json_object_get(o, "alias"), *steps = json_object_get(o, "steps");
    if (!alias) alias = json_object_get(o, "slug");
    char *err = NULL;
    if (!json_is_string(spec) || json_string_length(spec) < SPEC_MIN || json_string_length(spec) > SPEC_MAX) {
        err = err_json(status, 422, "invalid_spec", "spec must be a string of 10 to 16000 characters");
    } else if (!json_is_array(ex) || json_array_size(ex) > EX_MAX) {
        err = err_json(status, 400, "invalid_parameter", "examples must be an array of {input, output} (at most 1000)");
    } else if (alias && !json_is_null(alias) && !json_is_string(alias)) {
        err = err_json(status, 400, "invalid_parameter", "alias must be a string");
    } else if (steps && !json_is_null(steps) &&
               (!json_is_integer(steps) || json_integer_value(steps) < 1 || json_integer_value(steps) > 2000)) {
        err = err_json(status, 400, "invalid_parameter", "steps must be an integer in [1, 2000]");
    }
    if (err) { json_decref(o); return err; }
    cjob *j = calloc(1, sizeof *j);
    size_t n = json_array_size(ex), i;
    int ok = j && (j->ex = calloc(n ? n : 1, sizeof *j->ex)) && (j->spec = strdup(json_string_value(spec)));
    json_t *x;
    json_array_foreach(ex, i, x) {
        json_t *in = json_object_get(x, "input"), *out = json_object_get(x, "output");
        if (!ok) break;
        if (!json_is_string(in) || !json_is_string(out)) {
            cjob_free(j);
            json_decref(o);
            return err_json(status, 400, "invalid_parameter", "each example needs string input and output");
        }
        j->ex[i].input = strdup(json_string_value(in));
        j->ex[i].output = strdup(json_string_value(out));
        j->n_ex = i + 1;
        ok = j->ex[i].input && j->ex[i].output;
    }
    if (ok && json_is_string(alias) && json_string_length(alias)) ok = (j->alias = strdup(json_string_value(alias))) != NULL;
    if (!ok) {
        if (j) cjob_free(j);
        json_decref(o);
        return err_json(status, 503, "out_of_memory", "out of memory");
    }
    j->steps = json_is_integer(steps) ? (int32_t)json_integer_value(steps) : 0;
    snprintf(j->stage, sizeof j->stage, "queued");
    json_decref(o);

    pthread_mutex_lock(&c->mu);
    j->seq = ++c->seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(j->id, sizeof j->id, "cj%08llx%06llx", (unsigned long long)ts.tv_sec, (unsigned long long)j->seq);
    j->next = c->jobs;
    c->jobs = j;
    /* Forget the oldest finished jobs beyond KEEP_JOBS. */
    int k = 0;
    for (cjob **pp = &c->jobs; *pp;) {
        cjob *q = *pp;
        if (++k > KEEP_JOBS && q->state >= C_SUCCEEDED) { *pp = q->next; cjob_free(q); }
        else pp = &q->next;
    }
    char *s = dump(job_json(j));
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    *status = 202;
    return s;
}

static cjob *find_job(compiler *c, const char *id)
{
    for (cjob *j = c->jobs; j; j = j->next)
        if (!strcmp(j->id, id)) return j;
    return NULL;
}

char *compiler_get(compiler *c, const char *id, int *status)
{
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, id);
    char *s = j ? dump(job_json(j)) : NULL;
    pthread_mutex_unlock(&c->mu);
    if (!j) return err_json(status, 404, "job_not_found", "no compile job with that id");
    *status = 200;
    return s;
}

char *compiler_cancel(compiler *c, const char *id, int *status)
{
    pthread_mutex_lock(&c->mu);
    cjob *j = find_job(c, id);
    if (j) {
        j->cancel = 1;
        if (j->state == C_QUEUED) j->state = C_CANCELLED;
    }
    char *s = j ? dump(job_json(j)) : NULL;
    pthread_mutex_unlock(&c->mu);
    if (!j) return err_json(status, 404, "job_not_found", "no compile job with that id");
    *status = 200;
    return s;
}
