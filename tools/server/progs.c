/* progs.c — resident program handles, least-recently-used under a budget.
 *
 * A paw_program handle is single-threaded, so a program that several workers
 * run at once has several handles; idle ones wait here, keyed by content ID.
 * Opening a handle costs the prefix KV (read from the program cache on disk,
 * or evaluated once and written there), so keeping idle handles is what makes
 * a warm call cheap.  When the bytes of all handles exceed the budget, idle
 * handles of the least recently used programs are closed first; handles in
 * use are never touched.  Names (aliases, prefixes) are resolved through the
 * library's cache-only resolver and remembered for a few seconds, so that a
 * request name reaches the filesystem only as a validated program ID.
 * Hub references (user/slug[@vN], a bare official name, a hub ID) are
 * fetched by progs_fetch on the request's own connection thread, before a
 * job is queued, so a slow hub holds no model worker; requests that name the
 * same program while it downloads wait for that one download. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server.h"

#define NAME_TTL_MS 2000.0
/* A bare slug may be pointed at a new version on the hub: rechecked after
 * this long (a pinned @vN or a hub ID never changes, so this only bounds how
 * stale a bare slug can be, and how often a busy server asks the hub). */
#define HUB_TTL_MS  60000.0
#define NAME_SLOTS  64

/* A hub fetch in progress, shared by the requests that wait for it. */
typedef struct inflight {
    char             name[128];
    int              refs, done, rc;
    char             id[PAW_PROGRAM_ID_LEN + 1];
    char             err[512];
    struct inflight *next;
} inflight;

typedef struct entry {
    char          id[PAW_PROGRAM_ID_LEN + 1];
    paw_program **idle;
    int           n_idle, cap_idle, n_busy;
    size_t        bytes_each;   /* paw_program_memory of its first handle */
    uint64_t      last_use;
    struct entry *next;
} entry;

struct progs {
    srv            *s;
    pthread_mutex_t mu;
    entry          *list;
    size_t          bytes, budget;
    uint64_t        tick;
    struct { char name[128]; char id[PAW_PROGRAM_ID_LEN + 1]; double at, ttl; } names[NAME_SLOTS];
    int             next_name;
    inflight       *fetching;
    pthread_cond_t  fetched;
};

int progs_new(srv *s, progs **out)
{
    progs *p = calloc(1, sizeof *p);
    if (!p) return PAW_ENOMEM;
    p->s = s;
    p->budget = (size_t)(s->cfg.max_memory_mb * 1024.0 * 1024.0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->fetched, NULL);
    *out = p;
    return PAW_OK;
}

void progs_free(progs *p)
{
    if (!p) return;
    for (entry *e = p->list, *next; e; e = next) {
        next = e->next;
        for (int i = 0; i < e->n_idle; i++) paw_program_close(e->idle[i]);
        free(e->idle);
        free(e);
    }
    pthread_cond_destroy(&p->fetched);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void progs_invalidate(progs *p)
{
    pthread_mutex_lock(&p->mu);
    memset(p->names, 0, sizeof p->names);
    pthread_mutex_unlock(&p->mu);
}

/* A remembered name's ID; called with mu held.  1 if found and fresh. */
static int name_lookup(progs *p, const char *name, double now, char id[PAW_PROGRAM_ID_LEN + 1])
{
    for (int i = 0; i < NAME_SLOTS; i++)
        if (p->names[i].at > 0 && now - p->names[i].at < p->names[i].ttl && !strcmp(p->names[i].name, name)) {
            memcpy(id, p->names[i].id, PAW_PROGRAM_ID_LEN + 1);
            return 1;
        }
    return 0;
}

static void name_remember(progs *p, const char *name, const char *id, double now, double ttl)
{
    if (strlen(name) >= sizeof p->names[0].name) return;
    pthread_mutex_lock(&p->mu);
    int k = p->next_name++ % NAME_SLOTS;
    snprintf(p->names[k].name, sizeof p->names[k].name, "%s", name);
    memcpy(p->names[k].id, id, PAW_PROGRAM_ID_LEN + 1);
    p->names[k].at = now;
    p->names[k].ttl = ttl;
    pthread_mutex_unlock(&p->mu);
}

/* name -> content ID, remembered for NAME_TTL_MS. */
int progs_resolve(progs *p, const char *name, char id[PAW_PROGRAM_ID_LEN + 1])
{
    double now = srv_now_ms();
    pthread_mutex_lock(&p->mu);
    int hit = name_lookup(p, name, now, id);
    pthread_mutex_unlock(&p->mu);
    if (hit) return PAW_OK;
    paw_program_ref ref;
    int rc = paw_program_resolve_installed(name, &ref);
    if (rc) return rc;
    memcpy(id, ref.id, PAW_PROGRAM_ID_LEN + 1);
    name_remember(p, name, id, now, NAME_TTL_MS);
    return PAW_OK;
}

static void inflight_unref(progs *p, inflight *f)
{
    if (--f->refs) return;
    for (inflight **pp = &p->fetching; *pp; pp = &(*pp)->next)
        if (*pp == f) { *pp = f->next; break; }
    free(f);
}

int progs_fetch(progs *p, const char *name, char id[PAW_PROGRAM_ID_LEN + 1], int *hub, char *err, size_t cap)
{
    *hub = 0;
    err[0] = 0;
    int rc = progs_resolve(p, name, id);
    if (rc != PAW_ENOTFOUND) {
        if (rc) snprintf(err, cap, "%s", paw_last_error());
        return rc;
    }
    *hub = 1;
    if (strlen(name) >= sizeof p->fetching->name) {
        snprintf(err, cap, "no installed program or hub reference \"%.100s...\"", name);
        return PAW_ENOTFOUND;
    }
    double now = srv_now_ms();
    pthread_mutex_lock(&p->mu);
    if (name_lookup(p, name, now, id)) { pthread_mutex_unlock(&p->mu); return PAW_OK; }
    inflight *f = p->fetching;
    while (f && (f->done || strcmp(f->name, name))) f = f->next;
    if (f) {   /* someone is fetching it: wait for that answer */
        f->refs++;
        while (!f->done) pthread_cond_wait(&p->fetched, &p->mu);
    } else if ((f = calloc(1, sizeof *f))) {
        snprintf(f->name, sizeof f->name, "%s", name);
        f->refs = 1;
        f->next = p->fetching;
        p->fetching = f;
        pthread_mutex_unlock(&p->mu);
        f->rc = paw_program_fetch_installed(name, NULL, NULL, f->id);
        if (f->rc) snprintf(f->err, sizeof f->err, "%s", paw_last_error());
        else name_remember(p, name, f->id, srv_now_ms(), HUB_TTL_MS);
        pthread_mutex_lock(&p->mu);
        f->done = 1;
        pthread_cond_broadcast(&p->fetched);
    } else {
        pthread_mutex_unlock(&p->mu);
        snprintf(err, cap, "out of memory");
        return PAW_ENOMEM;
    }
    rc = f->rc;
    memcpy(id, f->id, PAW_PROGRAM_ID_LEN + 1);
    snprintf(err, cap, "%s", f->err);
    inflight_unref(p, f);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static entry *find(progs *p, const char *id)
{
    for (entry *e = p->list; e; e = e->next)
        if (!strcmp(e->id, id)) return e;
    return NULL;
}

int progs_acquire(progs *p, const char *name, int n_threads, paw_program **out)
{
    *out = NULL;
    char id[PAW_PROGRAM_ID_LEN + 1];
    int rc = progs_resolve(p, name, id);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    entry *e = find(p, id);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) { pthread_mutex_unlock(&p->mu); return PAW_ENOMEM; }
        memcpy(e->id, id, sizeof e->id);
        e->next = p->list;
        p->list = e;
    }
    e->last_use = ++p->tick;
    e->n_busy++;
    if (e->n_idle) {
        *out = e->idle[--e->n_idle];
        pthread_mutex_unlock(&p->mu);
        return PAW_OK;
    }
    pthread_mutex_unlock(&p->mu);

    /* Opened outside the lock: the prefix KV may take a while. */
    paw_program_opts o = {.n_ctx = p->s->cfg.n_ctx, .n_threads = n_threads, .int8 = p->s->cfg.int8};
    rc = paw_program_open_installed(p->s->model, id, &o, out);
    pthread_mutex_lock(&p->mu);
    if (rc) {
        e->n_busy--;
    } else {
        /* One size per program (handles of a program are alike), so that
         * what is added here is what eviction takes off again. */
        if (!e->bytes_each) e->bytes_each = paw_program_memory(*out);
        p->bytes += e->bytes_each;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Closes idle handles, least recently used program first, until the
 * budget holds (or nothing idle is left).  Called with mu held; the handles
 * are closed after it is dropped. */
static int evict(progs *p, paw_program **victims, int cap)
{
    int n = 0;
    while (p->bytes > p->budget && n < cap) {
        entry *lru = NULL;
        for (entry *e = p->list; e; e = e->next)
            if (e->n_idle && (!lru || e->last_use < lru->last_use)) lru = e;
        if (!lru) break;
        paw_program *h = lru->idle[--lru->n_idle];
        p->bytes -= lru->bytes_each;
        victims[n++] = h;
    }
    /* Entries with no handle left are dropped from the list. */
    for (entry **pp = &p->list; *pp;) {
        entry *e = *pp;
        if (!e->n_idle && !e->n_busy) { *pp = e->next; free(e->idle); free(e); }
        else pp = &e->next;
    }
    return n;
}

void progs_release(progs *p, paw_program *h)
{
    if (!h) return;
    paw_program *victims[16];
    pthread_mutex_lock(&p->mu);
    entry *e = find(p, paw_program_handle_id(h));
    int n = 0;
    if (!e) {
        victims[n++] = h;   /* cannot happen: a busy handle keeps its entry */
    } else {
        e->n_busy--;
        if (e->n_idle == e->cap_idle) {
            int cap = e->cap_idle ? 2 * e->cap_idle : 4;
            paw_program **v = realloc(e->idle, (size_t)cap * sizeof *v);
            if (v) { e->idle = v; e->cap_idle = cap; }
        }
        if (e->n_idle < e->cap_idle) {
            e->idle[e->n_idle++] = h;
        } else {
            victims[n++] = h;
            p->bytes -= e->bytes_each;
        }
        n += evict(p, victims + n, (int)(sizeof victims / sizeof victims[0]) - n);
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n; i++) paw_program_close(victims[i]);
}

void progs_stats(progs *p, int *n_programs, int *n_handles, size_t *bytes)
{
    pthread_mutex_lock(&p->mu);
    int np = 0, nh = 0;
    for (entry *e = p->list; e; e = e->next) {
        np++;
        nh += e->n_idle + e->n_busy;
    }
    *n_programs = np;
    *n_handles = nh;
    *bytes = p->bytes;
    pthread_mutex_unlock(&p->mu);
}
