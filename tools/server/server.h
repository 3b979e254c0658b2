/* server.h — `paw serve`: an HTTP front end of include/paw.h.
 *
 * Threads: libmicrohttpd runs one thread per connection; those threads parse
 * requests, answer the cheap routes (lists, downloads, health, metrics) and
 * hand every model call to the worker pool as a job, then wait for it.  The
 * workers (work.c) are the only threads that run the model; each owns the
 * program handles it has checked out of the shared cache (progs.c), so no
 * handle is ever used by two threads at once.  One paw_model serves all.
 * Compile jobs run on one compile thread of their own (compile.c). */
#ifndef PAW_SERVER_H
#define PAW_SERVER_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* The most program jobs one worker decodes in one batched call (--max-batch). */
#define SRV_MAX_BATCH 8

typedef struct srv_config {
    const char *host;          /* "127.0.0.1"                                */
    int         port;          /* 8080; 0 = any free port (printed)          */
    const char *api_key;       /* NULL = no auth                             */
    const char *model_arg;     /* name or path (paw_model_resolve)           */
    double      max_memory_mb; /* budget for resident program handles       */
    int         queue;         /* jobs waiting beyond the running ones       */
    int         max_batch;     /* program jobs decoded together, 1..SRV_MAX_BATCH */
    int         threads;       /* cores to use in all                        */
    int         workers;       /* model workers; threads split among them    */
    double      timeout_s;     /* per request: queue wait + run              */
    double      idle_timeout_s;/* a connection silent this long is closed    */
    size_t      body_limit;    /* bytes of a request body (uploads too)      */
    int32_t     n_ctx;         /* per handle; 0 = 2048                       */
    int         int8;          /* handles run int8 products (--int8)         */
} srv_config;

/* ------------------------------------------------------------- jobs */

enum job_kind { JOB_PROGRAM = 0, JOB_CHAT };
enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };

typedef struct job {
    int      kind;
    char    *program;          /* JOB_PROGRAM: the requested name           */
    char    *input;            /* JOB_PROGRAM: input; JOB_CHAT: prompt text
                                  already rendered with the chat template    */
    size_t   input_len;
    int32_t  max_tokens;
    float    temperature;
    uint64_t seed;
    const char *score_label;   /* JOB_PROGRAM on a closed-label program: also
                                  score this label (static string), see score */
    /* results, under mu */
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int      state;
    int      abandoned;        /* the waiter gave up (timeout, disconnect)  */
    int      rc;               /* PAW_OK or a PAW_E* code                    */
    char     err[512];
    char    *output;           /* malloc'd, NUL-terminated                   */
    size_t   output_len;
    size_t   streamed;         /* bytes of output already final (streaming)  */
    int32_t  n_prompt, n_gen;
    int      finish_length;    /* stopped by max_tokens                      */
    double   score;            /* P(score_label | input), -1 if not a label  */
    double   t_submit, t_start, t_end;   /* ms, monotonic                   */
    int      refs;
    struct job *next;
} job;

job *job_new(int kind);
void job_unref(job *j);

/* --------------------------------------------------------- server state */

typedef struct srv srv;

typedef struct progs progs;      /* progs.c */
typedef struct compiler compiler;/* compile.c */
typedef struct metrics metrics;  /* metrics.c */

struct srv {
    srv_config  cfg;
    paw_model  *model;
    char        model_name[128]; /* what /v1/models calls the base model     */
    char        model_path[4096];
    progs      *progs;
    compiler   *compiler;
    metrics    *metrics;
    /* work queue */
    pthread_mutex_t qmu;
    pthread_cond_t  qcv;
    job        *qhead, *qtail;
    int         qlen, running;
    int         stopping;        /* workers exit once the queue is empty     */
    pthread_t  *worker_tids;
    int         n_workers;
    int         threads_per_worker;
    /* requests being handled (SIGTERM waits for them) */
    pthread_mutex_t amu;
    pthread_cond_t  acv;
    int         active;
    int         draining;
};

double srv_now_ms(void);

/* work.c */
int  work_start(srv *s);
/* Queues j (a reference is taken).  0, or -1 when the queue is full, -2 when
 * the server is shutting down. */
int  work_submit(srv *s, job *j);
/* Waits until j is done or timeout_ms passed; on timeout a queued job is
 * withdrawn and a running one abandoned.  1 = done, 0 = timed out. */
int  work_wait(srv *s, job *j, double timeout_ms);
/* Lets the queue drain, then joins the workers. */
void work_stop(srv *s);
int  work_queue_depth(srv *s);

/* progs.c: the resident program handles, LRU under a memory budget. */
int  progs_new(srv *s, progs **out);
void progs_free(progs *p);
/* Checks out a handle of program `name` (alias, ID or unique prefix),
 * opening one if none is idle.  PAW_ENOTFOUND for an unknown name. */
int  progs_acquire(progs *p, const char *name, int n_threads, paw_program **out);
void progs_release(progs *p, paw_program *h);
/* name -> content ID through the library's cache-only resolver, remembered
 * for two seconds (a request's name is resolved on its connection's thread
 * and again by the worker). */
int  progs_resolve(progs *p, const char *name, char id[PAW_PROGRAM_ID_LEN + 1]);
/* Like progs_resolve, and a name that is no installed program but a hub
 * reference (user/slug[@vN], a bare name, a hub ID) is fetched through the
 * library (paw_program_fetch_installed; PAW_OFFLINE honoured), one download
 * per name however many requests wait for it.  Runs on the caller's thread:
 * call it on a connection's thread, never on a model worker.  *hub is set
 * when the hub was the answer's source (errors then come from it); err gets
 * the message of a failure. */
int  progs_fetch(progs *p, const char *name, char id[PAW_PROGRAM_ID_LEN + 1], int *hub, char *err, size_t cap);
/* Forget cached name lookups (after an install). */
void progs_invalidate(progs *p);
void progs_stats(progs *p, int *n_programs, int *n_handles, size_t *bytes);

/* metrics.c */
enum route_id {
    R_HEALTH = 0, R_INFER, R_PROGRAMS, R_PROGRAM, R_DOWNLOAD, R_UPLOAD, R_COMPILE,
    R_COMPILE_JOB, R_MODELS, R_CHAT, R_COMPLETIONS, R_METRICS, R_STATIC, R_OTHER, R_COUNT
};
const char *route_name(int r);
int  metrics_new(metrics **out);
void metrics_free(metrics *m);
void metrics_request(metrics *m, int route, int status, double ms);
void metrics_tokens(metrics *m, int32_t prompt, int32_t gen);
void metrics_batch(metrics *m, int rows);   /* calls decoded together (work.c) */
/* Prometheus text exposition (malloc'd). */
char *metrics_render(srv *s, size_t *len);

/* compile.c: POST /api/v1/compile jobs. */
int  compiler_new(srv *s, compiler **out);
/* Cancels what is queued or running and joins the thread. */
void compiler_free(compiler *c);
/* Starts a job from a request body ({spec, examples:[{input,output}], ...}).
 * Fills *status and a malloc'd JSON answer. */
char *compiler_submit(compiler *c, const char *body, size_t len, int *status);
char *compiler_get(compiler *c, const char *job_id, int *status);
char *compiler_cancel(compiler *c, const char *job_id, int *status);

/* http.c */
int  http_start(srv *s);
/* Stops accepting, waits for in-flight requests (at most wait_ms), stops. */
void http_stop(srv *s, double wait_ms);
int  http_port(srv *s);

/* api.c: one route handler each.  They return the HTTP status and fill a
 * malloc'd body (JSON unless *ctype says otherwise). */
typedef struct http_reply {
    int         status;
    char       *body;
    size_t      len;
    const char *ctype;           /* static; NULL = application/json          */
    char        extra_name[64], extra_value[256];  /* one more header        */
    job        *stream_job;      /* SSE: the body is produced from this job  */
    int         stream_chat;     /* SSE shape: chat.completion.chunk or not  */
    char        stream_model[160];
    char        stream_id[48];
} http_reply;

/* {"error": {"code", "message", "type"}, "detail": message} */
void reply_error(http_reply *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void reply_json(http_reply *r, int status, void *json /* json_t*, stolen */);

void api_health(srv *s, http_reply *r);
void api_infer(srv *s, const char *body, size_t len, http_reply *r);
void api_programs(srv *s, const char *query_q, int page, int per_page, http_reply *r);
void api_program(srv *s, const char *id, http_reply *r);
void api_download(srv *s, const char *id, http_reply *r);
void api_upload(srv *s, const char *body, size_t len, const char *alias, http_reply *r);
void api_models(srv *s, http_reply *r);
void api_openai(srv *s, int chat, const char *body, size_t len, http_reply *r);
/* toolcall.c: POST /v1/chat/completions with "tools" (o: the parsed body,
 * borrowed).  Fills *r with a chat.completion or an error. */
void api_toolcall(srv *s, void *o /* json_t* */, http_reply *r);

/* static.c (generated from tools/server/www at build time) */
typedef struct static_file { const char *path, *ctype; const unsigned char *data; size_t len; } static_file;
const static_file *static_find(const char *path);

#endif
