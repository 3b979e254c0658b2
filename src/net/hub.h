/* hub.h — internals of the hub client (src/net): one HTTP GET into memory
 * (hub_http.c) and the program/runtime logic on top of it (hub.c).  Not part
 * of the API; paw.h's "programs from the hub" section is. */
#ifndef PAW_NET_HUB_H
#define PAW_NET_HUB_H

#include <stddef.h>
#include <stdint.h>
#include "paw.h"

/* ---- hub_http.c */
typedef struct hub_resp {
    long     status;          /* HTTP status of the (unfollowed) response     */
    uint8_t *body;            /* malloc'd, NUL after the data; may be NULL    */
    size_t   len;
    long     retry_after;     /* Retry-After in seconds, -1 if absent         */
    char    *location;        /* absolute redirect target (malloc'd) or NULL  */
} hub_resp;

/* GETs url (http or https only) without following redirects, sending
 * X-API-Key: api_key when api_key is non-NULL.  A body beyond `cap` bytes is
 * refused (PAW_ERANGE).  A transfer that fails or is cut short is PAW_ENET;
 * any HTTP status is success here (the caller judges r->status). */
int  hub_http_get(const char *url, const char *api_key, uint64_t cap,
                  paw_progress_fn progress, void *ud, hub_resp *r);
void hub_resp_clear(hub_resp *r);

/* ---- hub.c, for the program cache (src/runtime/progcache.c) */
/* 1 if arg has the shape of a hub reference: 16-64 lowercase hex digits,
 * "user/slug", "user/slug@vN" or a bare official name ("email-triage"). */
int  paw_hub_ref_shape(const char *arg);
/* The content ID a hub reference was installed under, from the local maps
 * only (no network): slug cache -> hub program ID -> content ID.  PAW_OK and
 * id set when that program is installed; PAW_ENOTFOUND otherwise. */
int  paw_hub_lookup_cached(const char *arg, char id[PAW_PROGRAM_ID_LEN + 1]);

/* ---- runtimes.c and hub.c, shared */
/* PAW_OK if paw knows the runtime m names (runtime_id, else interpreter),
 * PAW_EUNSUPPORTED with a clear message otherwise. */
int  hub_runtime_check(const paw_program_meta *m, const char *program);
/* Compares the hub's runtime manifest (GET /models/runtimes/{id}, cached in
 * <cache>/runtimes/<id>.json) with paw's pin: a manifest naming another
 * SHA-256 is PAW_EHASH.  No manifest (offline, 404, unreachable) is PAW_OK:
 * the pinned size and hash of the download still decide. */
int  hub_manifest_check(const char *runtime_id, const char *model, const char *pinned_sha);
/* PAW_OFFLINE is set (and not "0"). */
int  hub_offline(void);

/* ---- tests only: a runtime whose base model comes from `url` (a local test
 * server) with the given size and SHA-256, stored as models/<model>.gguf.
 * Not reachable from the CLI, the environment or a binding: production
 * runtimes are the built-in table with its pinned hashes. */
int  paw_hub_test_runtime(const char *runtime_id, const char *model, const char *url,
                          uint64_t size, const char *sha256);
/* Tests only: how long a 202 (bundle being generated) is polled (default 60 s). */
void paw_hub_test_poll_limit(int seconds);

#endif
