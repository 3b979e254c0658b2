/* cpu.c — picks the kernel set once per process from the CPU's features:
 *
 *   avx512   AVX-512 F/BW/VL + VNNI (and AVX2/FMA/F16C), zmm state saved by
 *            the OS: the integer dot products use vpdpbusd/vpdpwssd;
 *   avxvnni  AVX-VNNI (the VEX vpdpbusd on ymm, recent desktops without
 *            AVX-512) + AVX2/FMA/F16C;
 *   avx2     AVX2/FMA/F16C, ymm state saved by the OS;
 *   scalar   the portable C path.
 *
 * The best set the CPU has is used unless PAW_SIMD names one.  Forcing a set
 * the CPU lacks (or an unknown name) is refused: paw_simd_check() returns the
 * error, which paw_model_load passes on, and the kernels meanwhile run the
 * best set the CPU does have, so nothing executes an instruction the CPU
 * lacks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "core/common.h"
#include "core/cpu.h"
#include "core/quant.h"

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static paw_simd_choice cpu_choice;
static unsigned cpu_fake_mask;
static int cpu_fake;

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* CPUID directly: clang's __builtin_cpu_supports does not know "f16c". */
static unsigned x86_features(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(osxsave && avx)) return 0;
    /* The OS must save the ymm state (XCR0 bits 1-2), and for AVX-512 the
     * opmask and zmm state too (bits 5-7). */
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) return 0;
    const int zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (fma) f |= PAW_CPU_FMA;
    if (f16c) f |= PAW_CPU_F16C;
    if (__get_cpuid_max(0, NULL) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    if ((b >> 5) & 1) f |= PAW_CPU_AVX2;
    if (zmm_ok) {
        if ((b >> 16) & 1) f |= PAW_CPU_AVX512F;
        if ((b >> 30) & 1) f |= PAW_CPU_AVX512BW;
        if ((b >> 31) & 1) f |= PAW_CPU_AVX512VL;
        if ((c >> 11) & 1) f |= PAW_CPU_AVX512VNNI;
    }
    __cpuid_count(7, 1, a, b, c, d);
    if ((a >> 4) & 1) f |= PAW_CPU_AVXVNNI;
    return f;
}
#endif

unsigned paw_cpu_features_detected(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return x86_features();
#else
    return 0;
#endif
}

static const char *const simd_names[] = { "scalar", "avx2", "avxvnni", "avx512" };

const char *paw_simd_level_name(int level)
{
    return level >= 0 && level <= PAW_SIMD_AVX512 ? simd_names[level] : "?";
}

/* What each set needs. */
static unsigned simd_needs(int level)
{
    const unsigned base = PAW_CPU_AVX2 | PAW_CPU_FMA | PAW_CPU_F16C;
    switch (level) {
    case PAW_SIMD_AVX2: return base;
    case PAW_SIMD_AVXVNNI: return base | PAW_CPU_AVXVNNI;
    case PAW_SIMD_AVX512:
        return base | PAW_CPU_AVX512F | PAW_CPU_AVX512BW | PAW_CPU_AVX512VL | PAW_CPU_AVX512VNNI;
    default: return 0;
    }
}

static const char *feature_name(unsigned bit)
{
    switch (bit) {
    case PAW_CPU_AVX2: return "avx2";
    case PAW_CPU_FMA: return "fma";
    case PAW_CPU_F16C: return "f16c";
    case PAW_CPU_AVXVNNI: return "avx_vnni";
    case PAW_CPU_AVX512F: return "avx512f";
    case PAW_CPU_AVX512BW: return "avx512bw";
    case PAW_CPU_AVX512VL: return "avx512vl";
    case PAW_CPU_AVX512VNNI: return "avx512_vnni";
    default: return "?";
    }
}

size_t paw_cpu_features_str(unsigned f, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap) buf[0] = '\0';
    for (unsigned bit = 1; bit <= PAW_CPU_AVX512VNNI; bit <<= 1)
        if ((f & bit) && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", feature_name(bit));
    if (!n && cap) n = (size_t)snprintf(buf, cap, "none");
    return n;
}

static int simd_best(unsigned f)
{
    for (int l = PAW_SIMD_AVX512; l > PAW_SIMD_SCALAR; l--)
        if ((f & simd_needs(l)) == simd_needs(l)) return l;
    return PAW_SIMD_SCALAR;
}

void paw_simd_select(const char *env, unsigned features, paw_simd_choice *out)
{
    memset(out, 0, sizeof *out);
    out->features = features;
    out->level = simd_best(features);
    if (!env || !*env) {
        snprintf(out->why, sizeof out->why, "the best set this CPU supports (PAW_SIMD unset)");
        return;
    }
    out->forced = 1;
    int want = -1;
    for (int l = 0; l <= PAW_SIMD_AVX512; l++)
        if (!strcmp(env, simd_names[l])) want = l;
    if (want < 0) {
        out->refused = 1;
        snprintf(out->why, sizeof out->why,
                 "PAW_SIMD=%.32s is not a kernel set (scalar, avx2, avxvnni or avx512)", env);
        return;
    }
    unsigned missing = simd_needs(want) & ~features;
    if (missing) {
        char m[128];
        paw_cpu_features_str(missing, m, sizeof m);
        out->refused = 1;
        snprintf(out->why, sizeof out->why,
                 "PAW_SIMD=%s refused: this CPU lacks %s (running %s instead)", env, m,
                 simd_names[out->level]);
        return;
    }
    out->level = want;
    snprintf(out->why, sizeof out->why, "forced by PAW_SIMD=%s", env);
}

static void cpu_detect(void)
{
    unsigned f = cpu_fake ? cpu_fake_mask : paw_cpu_features_detected();
    paw_simd_select(getenv("PAW_SIMD"), f, &cpu_choice);
}

void paw_cpu_fake_features(unsigned mask)
{
    cpu_fake = 1;
    cpu_fake_mask = mask;
}

const paw_simd_choice *paw_simd_choice_get(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return &cpu_choice;
}

int paw_cpu_simd(void) { return paw_simd_choice_get()->level; }

int paw_cpu_avx2(void) { return paw_cpu_simd() >= PAW_SIMD_AVX2; }

int paw_simd_check(void)
{
    const paw_simd_choice *c = paw_simd_choice_get();
    return c->refused ? paw_err(PAW_EUNSUPPORTED, "%s", c->why) : PAW_OK;
}

const char *paw_simd_name(void) { return simd_names[paw_cpu_simd()]; }

int paw_simd_describe(char *buf, size_t cap)
{
    const paw_simd_choice *c = paw_simd_choice_get();
    char f[256];
    paw_cpu_features_str(c->features, f, sizeof f);
    /* int8 products (core/i8gemm.h) run on the AVX-512 set only */
    const char *i8 = c->level == PAW_SIMD_AVX512 ? "available (paw run --int8, paw_ctx_params.int8)"
                                                 : "not available (they need the avx512 set)";
    return snprintf(buf, cap, "kernels: %s\nwhy: %s\ncpu features: %s\nint8 products: %s\n",
                    simd_names[c->level], c->why, f, i8);
}
