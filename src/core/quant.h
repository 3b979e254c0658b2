/* quant.h — tensor element types: quant block layouts, the per-type table,
 * row (de)quantisers and the scalar dot-product kernels.
 *
 * The block layouts are ggml's (and so GGUF's) byte for byte: a GGUF tensor
 * of type Q4_K is an array of `paw_block_q4_K` exactly as written by ggml.
 * fp16 fields are kept as raw uint16_t bits (paw_f16_to_f32 converts).
 * Internal to libpaw; the public surface is in paw.h. */
#ifndef PAW_QUANT_H
#define PAW_QUANT_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "paw.h"

#define PAW_QK   32   /* elements per block of the "legacy" quants   */
#define PAW_QK_K 256  /* elements per super-block of the K-quants    */
#define PAW_K_SCALE_BYTES 12  /* packed 6-bit scales+mins of Q4_K/Q5_K */

typedef uint16_t paw_f16;  /* IEEE binary16 bits */

/* Q4_0: x = d * (q - 8), q in 0..15. */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    uint8_t qs[PAW_QK / 2];     /* nibbles: low = elements 0..15, high = 16..31 */
} paw_block_q4_0;
_Static_assert(sizeof(paw_block_q4_0) == 18, "q4_0 layout");

/* Q4_1: x = d * q + m, q in 0..15. */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    paw_f16 m;                  /* minimum (offset)                        */
    uint8_t qs[PAW_QK / 2];     /* nibbles, as in Q4_0                     */
} paw_block_q4_1;
_Static_assert(sizeof(paw_block_q4_1) == 20, "q4_1 layout");

/* Q5_0: x = d * (q - 16), q in 0..31; the 5th bits live in qh. */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    uint8_t qh[4];              /* bit j = 5th bit of element j (LE u32)   */
    uint8_t qs[PAW_QK / 2];     /* low 4 bits, as in Q4_0                  */
} paw_block_q5_0;
_Static_assert(sizeof(paw_block_q5_0) == 22, "q5_0 layout");

/* Q5_1: x = d * q + m, q in 0..31. */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    paw_f16 m;                  /* minimum (offset)                        */
    uint8_t qh[4];              /* 5th bits, as in Q5_0                    */
    uint8_t qs[PAW_QK / 2];     /* low 4 bits                              */
} paw_block_q5_1;
_Static_assert(sizeof(paw_block_q5_1) == 24, "q5_1 layout");

/* Q8_0: x = d * q, q in -127..127 (the activation type of Q4_0/Q5_0/Q8_0). */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    int8_t  qs[PAW_QK];         /* quants                                  */
} paw_block_q8_0;
_Static_assert(sizeof(paw_block_q8_0) == 34, "q8_0 layout");

/* Q8_1: Q8_0 plus s = d * sum(q), which lets Q4_1/Q5_1 apply their minimum
 * with one multiply per block (activation type only). */
typedef struct {
    paw_f16 d;                  /* scale                                   */
    paw_f16 s;                  /* d * sum(qs)                             */
    int8_t  qs[PAW_QK];         /* quants                                  */
} paw_block_q8_1;
_Static_assert(sizeof(paw_block_q8_1) == 36, "q8_1 layout");

/* Q4_K: 8 sub-blocks of 32; x = d*sc_j * q - dmin*m_j, with 6-bit sc_j, m_j
 * packed into `scales` (see paw_k_scale_min). */
typedef struct {
    paw_f16 d;                  /* super-block scale of the sub-scales     */
    paw_f16 dmin;               /* super-block scale of the sub-mins       */
    uint8_t scales[PAW_K_SCALE_BYTES]; /* 8 scales + 8 mins, 6 bits each   */
    uint8_t qs[PAW_QK_K / 2];   /* nibbles: 64-element groups, low nibble =
                                   first 32, high nibble = next 32         */
} paw_block_q4_K;
_Static_assert(sizeof(paw_block_q4_K) == 144, "q4_K layout");

/* Q5_K: Q4_K with a 5th bit per element. */
typedef struct {
    paw_f16 d;                  /* super-block scale of the sub-scales     */
    paw_f16 dmin;               /* super-block scale of the sub-mins       */
    uint8_t scales[PAW_K_SCALE_BYTES]; /* as in Q4_K                       */
    uint8_t qh[PAW_QK_K / 8];   /* bit 2g / 2g+1 of qh[l] = 5th bit of element
                                   l of sub-block 2g / 2g+1                */
    uint8_t qs[PAW_QK_K / 2];   /* low 4 bits, as in Q4_K                  */
} paw_block_q5_K;
_Static_assert(sizeof(paw_block_q5_K) == 176, "q5_K layout");

/* Q6_K: 16 sub-blocks of 16; x = d * sc_j * (q - 32), q in 0..63. */
typedef struct {
    uint8_t ql[PAW_QK_K / 2];   /* low 4 bits                              */
    uint8_t qh[PAW_QK_K / 4];   /* high 2 bits                             */
    int8_t  scales[PAW_QK_K / 16]; /* 8-bit signed sub-block scales        */
    paw_f16 d;                  /* super-block scale                       */
} paw_block_q6_K;
_Static_assert(sizeof(paw_block_q6_K) == 210, "q6_K layout");

/* Q8_K: the activation type of the K-quants; f32 scale and per-16 sums. */
typedef struct {
    float   d;                  /* scale                                   */
    int8_t  qs[PAW_QK_K];       /* quants                                  */
    int16_t bsums[PAW_QK_K / 16]; /* sum of each group of 16 quants        */
} paw_block_q8_K;
_Static_assert(sizeof(paw_block_q8_K) == 292, "q8_K layout");

/* Row converters: n elements (a multiple of the block size). */
typedef void (*paw_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*paw_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w, a) over n elements; w is a row of the weight type, a a row of
 * its activation type (f32 for the float types). */
typedef void (*paw_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);

/* What paw knows about one type.  Indexed by enum paw_type; rows with a zero
 * block_size are ids paw does not support. */
typedef struct paw_type_traits {
    const char       *name;
    int               block_size;   /* elements per block                  */
    size_t            block_bytes;  /* bytes per block                     */
    int               is_quant;     /* 1 for block-quantised types         */
    paw_to_float_fn   to_float;     /* NULL for the activation-only Q8_K   */
    paw_from_float_fn from_float;   /* quantiser (NULL if paw has none); for
                                       activation types the run-time one   */
    paw_vec_dot_fn    vec_dot;      /* scalar reference kernel (NULL for
                                       activation-only types)              */
    int               vec_dot_type; /* activation type the kernel expects  */
} paw_type_traits;

/* The row for `type`, or NULL if paw does not know it. */
const paw_type_traits *paw_type_get(int type);

/* 6-bit scale and min j (0..7) of a Q4_K/Q5_K super-block. */
static inline void paw_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m  = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m  = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Activation quantisers of the AVX2 matmul path: round half to even after
 * multiplying by 127/amax, which is what ggml's AVX2 quantisers (the ones
 * llama.cpp runs on this class of CPU) compute.  These scalar versions
 * produce the same bytes as the AVX2 ones (matmul_avx2.c).  Q8_K follows
 * ggml's reference (x86 has no SIMD version) on both paths. */
void paw_quantize_row_q8_0(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_K(const float *x, void *y, int64_t n);

/* ggml's reference quantisers: multiply by id = 1/d with d = amax/127 (not
 * by 127/amax, which can differ by an ulp) and round half away from zero
 * (roundf).  gguf-py's quantize matches them byte for byte, so paw_quantize
 * uses them for stored tensors; and they are what ggml runs for activations
 * when built without SIMD, so paw's scalar matmul path (PAW_SIMD=scalar or a
 * CPU without AVX2) quantises activations with them too. */
void paw_quantize_row_q8_0_ref(const float *x, void *y, int64_t n);
void paw_quantize_row_q8_1_ref(const float *x, void *y, int64_t n);
void paw_quantize_row_q4_0_ref(const float *x, void *y, int64_t n);

/* Scalar reference dot products (src/core/quant_dot.c); the AVX2 kernels in
 * matmul_avx2.c are tested against these. */
void paw_vec_dot_f32_f32(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_f16_f32(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_bf16_f32(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void paw_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *w, const void *a);

static inline float paw_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* 1 when the AVX2/FMA/F16C kernels may run (decided once; src/core/cpu.c). */
int paw_cpu_avx2(void);

/* Round to nearest, ties to even, for |v| < 2^22 without libm calls. */
static inline int paw_nearest_int(float v)
{
    float t = v + 12582912.0f;  /* 1.5 * 2^23: the fraction bits now hold v */
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Dequantise n elements (a multiple of the block size) of `type` to f32.
 * Bit-exact with ggml's reference dequantisation. */
int paw_dequantize(int type, const void *src, float *dst, int64_t n);
/* Quantise n f32 values to `type` (F32, F16, BF16, Q8_0, Q4_0 supported).
 * dst must hold paw_type_row_bytes(type, n) bytes. */
int paw_quantize(int type, const float *src, void *dst, int64_t n);

/* IEEE half <-> float (round to nearest even). */
float    paw_f16_to_f32(uint16_t h);
uint16_t paw_f32_to_f16(float f);

#endif
