/* lora_avx2.c — the F16 rounding of an adapter's inputs with F16C (compiled
 * with -mavx2 -mfma -mf16c; lora.c calls it only after paw_cpu_avx2()).
 *
 * vcvtps2ph rounds to nearest even, keeps infinities and quiets NaNs with
 * their top payload bits, exactly as paw_f32_to_f16 does, and vcvtph2ps is
 * exact: the same values as paw_quantize + paw_dequantize to F16, 8 at a
 * time. */
#include <immintrin.h>
#include "model/lora.h"

void paw_lora_round_f16_avx2(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) y[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}
