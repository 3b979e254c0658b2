/* error.c — the thread-local "last error" message behind paw_last_error(). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "core/common.h"

static _Thread_local char err_msg[1024];

int paw_err(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return status;
}

int paw_err_wrap(int status, const char *fmt, ...)
{
    char prefix[512], old[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    /* Truncation is fine here: the message is for humans. */
    size_t n = strlen(prefix);
    memcpy(err_msg, prefix, n);
    size_t rest = sizeof err_msg - n - 1;
    if (rest > 2) {
        memcpy(err_msg + n, ": ", 2);
        size_t m = PAW_MIN(strlen(old), rest - 2);
        memcpy(err_msg + n + 2, old, m);
        err_msg[n + 2 + m] = 0;
    } else {
        err_msg[n] = 0;
    }
    return status;
}

const char *paw_last_error(void) { return err_msg; }

const char *paw_status_name(int status)
{
    switch (status) {
    case PAW_OK: return "OK";
    case PAW_EIO: return "EIO";
    case PAW_EFORMAT: return "EFORMAT";
    case PAW_ENOMEM: return "ENOMEM";
    case PAW_EINVAL: return "EINVAL";
    case PAW_EUNSUPPORTED: return "EUNSUPPORTED";
    case PAW_ENOTFOUND: return "ENOTFOUND";
    case PAW_EHASH: return "EHASH";
    case PAW_ENET: return "ENET";
    case PAW_ERANGE: return "ERANGE";
    case PAW_ECANCELED: return "ECANCELED";
    default: return "EUNKNOWN";
    }
}

double paw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
