/* avx2_util.h — small helpers shared by the AVX2 kernel files (internal to
 * src/core; include only from files compiled with -mavx2 -mfma -mf16c).
 *
 * One source, several kernel sets.  matmul_avx2.c and kquant_avx2.c are
 * compiled three times (Makefile, ISA_SRC): as they are for AVX2, with
 * -DPAW_ISA_AVXVNNI -mavxvnni, and with -DPAW_ISA_AVX512 -mavx512f/bw/vl/vnni.
 * Each compile exports its table under its own name (ISA_NAME) and cpu.c
 * picks one at run time.  Why a per-set compile rather than per-function
 * target attributes or a copy per set: the kernels are always-inlined
 * bodies specialised by compile-time arguments, and a whole-file compile
 * lets every one of them use the set (EVEX encodings and 32 vector registers
 * for the register tiles under AVX-512) while the source stays one body per
 * kernel; what differs per set is only the integer core below.
 *
 * Bits: vpdpbusd adds the four u8 x s8 products of each 32-bit lane into an
 * int32 exactly; vpmaddubsw + vpmaddwd give the same int32 whenever the
 * int16 pair sums of vpmaddubsw do not saturate, which holds for every
 * operand range the kernels feed it (their comments say why).  vpdpwssd is
 * vpmaddwd + vpaddd in one instruction, also exact.  So all three sets
 * produce identical float results, which are ggml's AVX2 (and, with VNNI,
 * ggml's -march=native) vec_dot arithmetic. */
#ifndef PAW_AVX2_UTIL_H
#define PAW_AVX2_UTIL_H
#include <immintrin.h>
#include "core/common.h"

#define AI static inline __attribute__((always_inline))

#if defined(PAW_ISA_AVX512)
#define ISA_NAME(f) f##_avx512
#elif defined(PAW_ISA_AVXVNNI)
#define ISA_NAME(f) f##_avxvnni
#else
#define ISA_NAME(f) f##_avx2
#endif

/* int32 lane j = sum of u[4j+i] * s[4j+i] (u unsigned, s signed bytes) plus
 * acc[j].  Callers guarantee u[2k]s[2k] + u[2k+1]s[2k+1] fits in int16. */
AI __m256i dot_u8s8_acc(__m256i acc, __m256i u, __m256i s)
{
#if defined(PAW_ISA_AVX512)
    return _mm256_dpbusd_epi32(acc, u, s);
#elif defined(PAW_ISA_AVXVNNI)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* The same with acc = 0 (AVX2: no add). */
AI __m256i dot_u8s8(__m256i u, __m256i s)
{
#if defined(PAW_ISA_AVX512) || defined(PAW_ISA_AVXVNNI)
    return dot_u8s8_acc(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* acc + vpmaddwd(p, s): int32 lane j += p[2j] s[2j] + p[2j+1] s[2j+1]. */
AI __m256i dot_i16_acc(__m256i acc, __m256i p, __m256i s)
{
#if defined(PAW_ISA_AVX512)
    return _mm256_dpwssd_epi32(acc, p, s);
#elif defined(PAW_ISA_AVXVNNI)
    return _mm256_dpwssd_avx_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}

AI float h2f(const uint8_t *p) { return _cvtsh_ss(paw_ld_u16(p)); }

AI float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#endif
