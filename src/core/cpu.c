/* cpu.c — picks the kernel set once per process: AVX2/FMA/F16C when the CPU
 * and the OS support them, else the portable scalar path.  PAW_SIMD=scalar in
 * the environment forces the scalar path (for tests and for comparing). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "core/quant.h"

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int cpu_avx2;

#if defined(__x86_64__) || defined(__i386__)
/* CPUID directly: clang's __builtin_cpu_supports does not know "f16c". */
static int x86_has_avx2_fma_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return 0;
    /* The OS must save the ymm state on context switches: XCR0 bits 1-2. */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;  /* AVX2 */
}
#endif

static void cpu_detect(void)
{
    const char *env = getenv("PAW_SIMD");
    if (env && strcmp(env, "scalar") == 0) return;
#if defined(__x86_64__) || defined(__i386__)
    cpu_avx2 = x86_has_avx2_fma_f16c();
#endif
}

int paw_cpu_avx2(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_avx2;
}

const char *paw_simd_name(void)
{
    return paw_cpu_avx2() ? "avx2" : "scalar";
}
