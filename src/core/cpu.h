/* cpu.h — which kernel set runs (src/core/cpu.c; internal to paw). */
#ifndef PAW_CPU_H
#define PAW_CPU_H
#include <stddef.h>

/* CPU feature bits as paw_cpu_features_detected() reports them. */
enum {
    PAW_CPU_AVX2       = 1u << 0,
    PAW_CPU_FMA        = 1u << 1,
    PAW_CPU_F16C       = 1u << 2,
    PAW_CPU_AVXVNNI    = 1u << 3,
    PAW_CPU_AVX512F    = 1u << 4,
    PAW_CPU_AVX512BW   = 1u << 5,
    PAW_CPU_AVX512VL   = 1u << 6,
    PAW_CPU_AVX512VNNI = 1u << 7,
};

/* Kernel sets, in order of preference (each implies the ones below it, so
 * code written for AVX2 runs under all three SIMD sets). */
enum { PAW_SIMD_SCALAR = 0, PAW_SIMD_AVX2 = 1, PAW_SIMD_AVXVNNI = 2, PAW_SIMD_AVX512 = 3 };

typedef struct paw_simd_choice {
    int      level;     /* the set that runs: PAW_SIMD_*                      */
    unsigned features;  /* the CPU's features (PAW_CPU_* bits)                */
    int      forced;    /* PAW_SIMD was set                                   */
    int      refused;   /* ... to a set this CPU lacks, or to no known set    */
    char     why[192];  /* one line: why `level`                              */
} paw_simd_choice;

/* Pure: the choice for PAW_SIMD value `env` (NULL/"" = unset) on a CPU with
 * `features`.  A refused choice keeps the best set the CPU has in level. */
void paw_simd_select(const char *env, unsigned features, paw_simd_choice *out);
/* The process's choice (made once, on first use). */
const paw_simd_choice *paw_simd_choice_get(void);
int      paw_cpu_simd(void);                 /* paw_simd_choice_get()->level */
unsigned paw_cpu_features_detected(void);    /* CPUID + XCR0, every call     */
const char *paw_simd_level_name(int level);
/* The names of the bits of f, space-separated ("none" for 0). */
size_t paw_cpu_features_str(unsigned f, char *buf, size_t cap);
/* Test hook: the process's choice is made as if the CPU had exactly `mask`.
 * Only effective before the first paw_simd_choice_get(). */
void paw_cpu_fake_features(unsigned mask);

#endif
