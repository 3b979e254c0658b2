/* threads.c — the persistent worker pool behind paw_pool_run.
 *
 * A run publishes (fn, ctx) and bumps a generation counter; workers that are
 * spinning see it within ~100 ns, workers that went to sleep are woken by a
 * condition variable.  Workers spin only for a bounded time after their last
 * task (SPIN_ITERS) and then block, so an idle pool costs no CPU — on a
 * 2-core machine an endless spinner would steal the time slice of the very
 * thread it is waiting for.  The caller is worker 0 and waits for the others
 * the same way (spin, then block).
 *
 * Runs must not be nested or issued concurrently on one pool. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include "core/common.h"
#include "core/kernels.h"

/* ~0.1-0.5 ms of PAUSE: long enough to bridge the small serial ops between
 * two matmuls of a forward pass, short enough not to burn a core when idle. */
#define SPIN_ITERS 20000

#define CACHE_LINE 64

struct paw_pool;

/* A paw_pool_run_items call: lives on the caller's stack. */
typedef struct {
    paw_item_fn  fn;
    void        *ctx;
    int64_t      n;
    _Alignas(CACHE_LINE) atomic_llong next;   /* next unclaimed item      */
    _Alignas(CACHE_LINE) atomic_llong done;   /* items finished           */
} pool_items;

typedef struct {
    struct paw_pool *pool;
    int              ith;
    /* The items call this worker is working on (a hazard pointer): the
     * caller does not return while a worker holds its call. */
    _Alignas(CACHE_LINE) _Atomic(pool_items *) hold;
} pool_worker;

struct paw_pool {
    int          n;             /* threads including the caller            */
    pthread_t   *threads;       /* n-1 workers                             */
    pool_worker *workers;
    int          n_started;     /* workers actually created                */

    paw_task_fn  fn;            /* current task, published before gen++    */
    void        *ctx;

    /* Hot counters on their own cache lines (no false sharing). */
    /* Bumped once per run: even for paw_pool_run, odd for
     * paw_pool_run_items (the worker must know which kind it saw). */
    _Alignas(CACHE_LINE) atomic_uint gen;
    _Alignas(CACHE_LINE) _Atomic(pool_items *) items;  /* current items call */
    _Alignas(CACHE_LINE) atomic_int  pending;  /* workers still running fn  */
    _Alignas(CACHE_LINE) atomic_int  sleepers; /* workers blocked on `wake` */
    atomic_int   caller_sleeping;              /* caller blocked on `done`  */
    atomic_int   stop;

    pthread_mutex_t mu;
    pthread_cond_t  wake;       /* workers wait here for a new generation  */
    pthread_cond_t  done;       /* the caller waits here for pending == 0  */
};

/* One step of a spin-wait.  Every 256th step yields the CPU: with more
 * runnable threads than cores (other processes, or a pool larger than the
 * machine) the thread being waited for may need this very core. */
static inline void spin_step(int i)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
    if ((i & 255) == 255) sched_yield();
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    paw_pool *p = w->pool;
#if defined(__x86_64__) || defined(__i386__)
    /* Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ):
     * tiny activations would otherwise take slow microcode paths. */
    _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop) && spins < SPIN_ITERS)
            spin_step(spins++);
        if (g == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            /* sleepers is raised before gen is re-read (both seq_cst), so a
             * run either sees the sleeper or this thread sees the new gen. */
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        if (g & 1) {
            /* An items call: help if it is still open.  Publishing `hold`
             * before re-reading p->items (both seq_cst) means the caller,
             * which clears p->items and then waits for holds to drop,
             * either sees this hold or this thread sees the call closed. */
            pool_items *t = atomic_load(&p->items);
            if (!t) continue;
            atomic_store(&w->hold, t);
            if (atomic_load(&p->items) == t) {
                int64_t i;
                while ((i = atomic_fetch_add(&t->next, 1)) < t->n) {
                    t->fn(t->ctx, i, w->ith);
                    atomic_fetch_add(&t->done, 1);
                }
            }
            atomic_store(&w->hold, NULL);
            continue;
        }
        p->fn(p->ctx, w->ith, p->n);
        /* seq_cst, paired with the caller's store of caller_sleeping */
        if (atomic_fetch_sub(&p->pending, 1) == 1 &&
            atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

paw_pool *paw_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)PAW_MIN(n, 256) : 1;
    }
    paw_pool *p = aligned_alloc(CACHE_LINE, (sizeof *p + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->n = n_threads;
    if (pthread_mutex_init(&p->mu, NULL)) { free(p); return NULL; }
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->workers = aligned_alloc(CACHE_LINE, ((size_t)n_threads - 1) * sizeof *p->workers);
        if (!p->threads || !p->workers) { paw_pool_free(p); return NULL; }
        memset(p->workers, 0, ((size_t)n_threads - 1) * sizeof *p->workers);
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].ith = i + 1;
            if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i])) {
                paw_pool_free(p);
                return NULL;
            }
            p->n_started++;
        }
    }
    return p;
}

void paw_pool_free(paw_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->workers);
    free(p);
}

int paw_pool_size(const paw_pool *p)
{
    return p ? p->n : 1;
}

void paw_pool_run(paw_pool *p, paw_task_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    /* the next even value; seq_cst: publishes fn/ctx/pending */
    atomic_store(&p->gen, (atomic_load(&p->gen) | 1u) + 1u);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS)
        spin_step(spins++);
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1);
        /* caller_sleeping is set before pending is re-read, so the last
         * worker either sees it (and signals under the mutex) or we see 0. */
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

void paw_pool_run_items(paw_pool *p, paw_item_fn fn, void *ctx, int64_t n_items)
{
    if (n_items <= 0) return;
    if (!p || p->n == 1 || n_items == 1) {
        for (int64_t i = 0; i < n_items; i++) fn(ctx, i, 0);
        return;
    }
    pool_items t = { .fn = fn, .ctx = ctx, .n = n_items };
    atomic_init(&t.next, 0);
    atomic_init(&t.done, 0);
    atomic_store(&p->items, &t);
    atomic_store(&p->gen, (atomic_load(&p->gen) + 1u) | 1u);  /* the next odd value */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    int64_t i;
    while ((i = atomic_fetch_add(&t.next, 1)) < n_items) {
        fn(ctx, i, 0);
        atomic_fetch_add(&t.done, 1);
    }
    /* Only items a worker has claimed can be outstanding: a worker that has
     * not arrived yet is not waited for. */
    int spins = 0;
    while (atomic_load_explicit(&t.done, memory_order_acquire) < n_items) spin_step(spins++);
    atomic_store(&p->items, NULL);
    for (int k = 0; k < p->n_started; k++)
        while (atomic_load(&p->workers[k].hold) == &t) spin_step(spins++);
}
