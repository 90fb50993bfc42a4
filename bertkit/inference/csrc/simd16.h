/* 16 float32 (or int32) lanes, the width fused_layer.c is written in, on two instruction sets:
 *
 * - AVX-512 (built with -mavx512f): one 512-bit register, each function one instruction;
 * - AVX2 + FMA (built with -mavx2 -mfma): two 256-bit registers, `lo` lanes 0-7, `hi` 8-15.
 *
 * fused_layer.c is compiled once per instruction set (fused_layer.py picks the build the CPU runs),
 * so one source computes the same layer, lane for lane, on both.
 */
#ifndef BERTKIT_SIMD16_H
#define BERTKIT_SIMD16_H

#include <immintrin.h>
#include <stdint.h>

#define LANES 16
#define INLINE static inline __attribute__((always_inline))

#ifdef __AVX512F__

typedef __m512 vf;
typedef __m512i vi;

INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
INLINE vf vf_set1(float a) { return _mm512_set1_ps(a); }
INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
INLINE void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
INLINE vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
INLINE vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   /* a b + c */
INLINE vf vf_fnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a b */
INLINE vf vf_abs(vf a) { return _mm512_abs_ps(a); }
INLINE float vf_reduce_max(vf a) { return _mm512_reduce_max_ps(a); }
INLINE float vf_reduce_add(vf a) { return _mm512_reduce_add_ps(a); }
INLINE vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
INLINE vf vf_scale2(vf a, vf n) { return _mm512_scalef_ps(a, n); } /* a 2^n, n a whole number */
INLINE vf vf_with_sign_of(vf a, vf sign) {  /* |a| with the sign of `sign` (a >= 0) */
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a),
        _mm512_and_si512(_mm512_castps_si512(sign), _mm512_set1_epi32((int)0x80000000u))));
}
INLINE vf vf_first_or(int n, vf a, vf other) {  /* lanes < n from a, the others from `other` */
    const __mmask16 real = n >= LANES ? 0xFFFF : (__mmask16)((1u << n) - 1);
    return _mm512_mask_blend_ps(real, other, a);
}
/* 16 bfloat16 -> float32 (exact: the bits go to the top half) */
INLINE vf vf_load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

INLINE vi vi_zero(void) { return _mm512_setzero_si512(); }
INLINE vi vi_load(const int32_t *p) { return _mm512_loadu_si512(p); }
INLINE vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
INLINE vf vi_to_vf(vi a) { return _mm512_cvtepi32_ps(a); }
INLINE vi vf_to_vi(vf a) { return _mm512_cvtps_epi32(a); } /* round to nearest even */
INLINE vi vi_clamp(vi a, int low, int high) {
    return _mm512_max_epi32(_mm512_min_epi32(a, _mm512_set1_epi32(high)), _mm512_set1_epi32(low));
}

#elif defined(__AVX2__) && defined(__FMA__)

typedef struct { __m256 lo, hi; } vf;
typedef struct { __m256i lo, hi; } vi;

#define TWO(OP, a, b) ((vf){OP((a).lo, (b).lo), OP((a).hi, (b).hi)})

INLINE vf vf_zero(void) { return (vf){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
INLINE vf vf_set1(float a) { return (vf){_mm256_set1_ps(a), _mm256_set1_ps(a)}; }
INLINE vf vf_load(const float *p) { return (vf){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
INLINE void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
INLINE vf vf_add(vf a, vf b) { return TWO(_mm256_add_ps, a, b); }
INLINE vf vf_sub(vf a, vf b) { return TWO(_mm256_sub_ps, a, b); }
INLINE vf vf_mul(vf a, vf b) { return TWO(_mm256_mul_ps, a, b); }
INLINE vf vf_div(vf a, vf b) { return TWO(_mm256_div_ps, a, b); }
INLINE vf vf_max(vf a, vf b) { return TWO(_mm256_max_ps, a, b); }
INLINE vf vf_min(vf a, vf b) { return TWO(_mm256_min_ps, a, b); }
INLINE vf vf_fmadd(vf a, vf b, vf c) { return (vf){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
INLINE vf vf_fnmadd(vf a, vf b, vf c) { return (vf){_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)}; }
INLINE vf vf_abs(vf a) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    return (vf){_mm256_and_ps(a.lo, magnitude), _mm256_and_ps(a.hi, magnitude)};
}
INLINE float reduce8(__m256 a, int maximum) {
    __m128 h = maximum ? _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1))
                       : _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 s = _mm_movehl_ps(h, h);
    h = maximum ? _mm_max_ps(h, s) : _mm_add_ps(h, s);
    s = _mm_shuffle_ps(h, h, 1);
    h = maximum ? _mm_max_ss(h, s) : _mm_add_ss(h, s);
    return _mm_cvtss_f32(h);
}
INLINE float vf_reduce_max(vf a) { return reduce8(_mm256_max_ps(a.lo, a.hi), 1); }
INLINE float vf_reduce_add(vf a) { return reduce8(_mm256_add_ps(a.lo, a.hi), 0); }
INLINE vf vf_round(vf a) {
    const int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    return (vf){_mm256_round_ps(a.lo, nearest), _mm256_round_ps(a.hi, nearest)};
}
INLINE __m256 scale2_8(__m256 a, __m256 n) {  /* a 2^n, for whole n in [-126, 127]: 2^n built from its exponent bits */
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(a, _mm256_castsi256_ps(bits));
}
INLINE vf vf_scale2(vf a, vf n) { return (vf){scale2_8(a.lo, n.lo), scale2_8(a.hi, n.hi)}; }
INLINE vf vf_with_sign_of(vf a, vf sign) {
    const __m256 bit = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    return (vf){_mm256_or_ps(a.lo, _mm256_and_ps(sign.lo, bit)), _mm256_or_ps(a.hi, _mm256_and_ps(sign.hi, bit))};
}
INLINE vf vf_first_or(int n, vf a, vf other) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), count = _mm256_set1_epi32(n);
    const __m256 lo = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count, lane));
    const __m256 hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count, _mm256_add_epi32(lane, _mm256_set1_epi32(8))));
    return (vf){_mm256_blendv_ps(other.lo, a.lo, lo), _mm256_blendv_ps(other.hi, a.hi, hi)};
}
INLINE __m256 bf16_8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
INLINE vf vf_load_bf16(const uint16_t *p) { return (vf){bf16_8(p), bf16_8(p + 8)}; }

INLINE vi vi_zero(void) { return (vi){_mm256_setzero_si256(), _mm256_setzero_si256()}; }
INLINE vi vi_load(const int32_t *p) {
    return (vi){_mm256_loadu_si256((const __m256i *)p), _mm256_loadu_si256((const __m256i *)(p + 8))};
}
INLINE vi vi_sub(vi a, vi b) { return (vi){_mm256_sub_epi32(a.lo, b.lo), _mm256_sub_epi32(a.hi, b.hi)}; }
INLINE vf vi_to_vf(vi a) { return (vf){_mm256_cvtepi32_ps(a.lo), _mm256_cvtepi32_ps(a.hi)}; }
INLINE vi vf_to_vi(vf a) { return (vi){_mm256_cvtps_epi32(a.lo), _mm256_cvtps_epi32(a.hi)}; }
INLINE vi vi_clamp(vi a, int low, int high) {
    const __m256i l = _mm256_set1_epi32(low), h = _mm256_set1_epi32(high);
    return (vi){_mm256_max_epi32(_mm256_min_epi32(a.lo, h), l), _mm256_max_epi32(_mm256_min_epi32(a.hi, h), l)};
}

#else
#error "fused_layer.c is built with -mavx512f or with -mavx2 -mfma"
#endif

#endif
