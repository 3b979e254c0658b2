/* avx2_util.h — small helpers shared by the AVX2 kernel files (internal to
 * src/core; include only from files compiled with -mavx2 -mfma -mf16c). */
#ifndef PAW_AVX2_UTIL_H
#define PAW_AVX2_UTIL_H
#include <immintrin.h>
#include "core/common.h"

#define AI static inline __attribute__((always_inline))

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
