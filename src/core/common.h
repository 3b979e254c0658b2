/* common.h — internal helpers shared by every libpaw module: error reporting,
 * overflow-checked arithmetic, little-endian loads.  Not part of the API. */
#ifndef PAW_COMMON_H
#define PAW_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "paw.h"

/* Records a formatted message for paw_last_error() and returns `status`, so
 * that error paths read `return paw_err(PAW_EFORMAT, "gguf: ...", ...);`. */
int paw_err(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current error message with context ("loading x: <old msg>"). */
int paw_err_wrap(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define PAW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PAW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PAW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* a*b and a+b that report overflow instead of wrapping (1 = overflow). */
static inline int paw_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_mul_overflow(a, b, r); }
static inline int paw_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{ return __builtin_add_overflow(a, b, r); }

/* Unaligned little-endian loads (x86 and ARM are little-endian; memcpy keeps
 * UBSan quiet about alignment). */
static inline uint16_t paw_ld_u16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t paw_ld_u32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t paw_ld_u64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline float    paw_ld_f32(const void *p) { float v; memcpy(&v, p, 4); return v; }

/* Opens path read-only (O_CLOEXEC | extra_flags, e.g. O_NOFOLLOW) without
 * ever blocking: a FIFO, device or directory is refused with a PAW_EIO error
 * saying what it is, a missing file is PAW_ENOTFOUND.  On success *fd_out is
 * a blocking descriptor of a regular file and *st_out (may be NULL) its
 * fstat (file.c). */
struct stat;
int paw_open_regular(const char *path, int extra_flags, int *fd_out, struct stat *st_out);

/* PAW_OK when all n logits are finite, else an error saying that the model
 * (or an adapter on it) produced NaN/Inf: sampling from such a row would
 * pick token 0 or an arbitrary one and end as an empty or garbage answer
 * with no sign of the fault (sample.c). */
int paw_logits_check(const float *logits, int32_t n);

/* Monotonic clock in seconds. */
double paw_now(void);

#endif
