/* Test-only stand-in for <immintrin.h>: the AVX-512 intrinsics fused_layer.c's AVX-512 build uses,
 * in portable C (SIMDe, Debian's libsimde-dev, plus the few it lacks, below), so that build's
 * logic runs on a CPU without AVX-512 (tests/simde/run.sh). AMX and AVX512-BF16 are stubs that
 * abort: the run claims neither, so they are never called. */
#ifndef BERTKIT_SIMDE_IMMINTRIN
#define BERTKIT_SIMDE_IMMINTRIN
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
typedef simde__mmask16 __mmask16;

static inline float _mm512_reduce_max_ps(__m512 a) {
    float v[16], m;
    _mm512_storeu_ps(v, a);
    m = v[0];
    for (int i = 1; i < 16; i++) m = v[i] > m ? v[i] : m;
    return m;
}
static inline float _mm512_reduce_add_ps(__m512 a) {
    float v[16], s = 0;
    _mm512_storeu_ps(v, a);
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}
static inline __m128i _mm512_cvtepi32_epi8(__m512i a) {  /* vpmovdb: truncates */
    int32_t v[16];
    int8_t o[16];
    _mm512_storeu_si512(v, a);
    for (int i = 0; i < 16; i++) o[i] = (int8_t)v[i];
    return _mm_loadu_si128((const void *)o);
}
static inline __m512i _mm512_cvtepu16_epi32(__m256i a) {
    uint16_t v[16];
    int32_t o[16];
    _mm256_storeu_si256((void *)v, a);
    for (int i = 0; i < 16; i++) o[i] = v[i];
    return _mm512_loadu_si512(o);
}
static inline __m512 _mm512_cvtepi32_ps(__m512i a) {
    int32_t v[16];
    float o[16];
    _mm512_storeu_si512(v, a);
    for (int i = 0; i < 16; i++) o[i] = (float)v[i];
    return _mm512_loadu_ps(o);
}
static inline __m512i _mm512_cvtps_epi32(__m512 a) {  /* round to nearest even, as vcvtps2dq */
    float v[16];
    int32_t o[16];
    _mm512_storeu_ps(v, a);
    for (int i = 0; i < 16; i++) o[i] = (int32_t)__builtin_nearbyintf(v[i]);
    return _mm512_loadu_si512(o);
}
#define _mm512_cvtneps_pbh(x) (abort(), _mm256_setzero_si256())
#define _tile_loadconfig(p) abort()
#define _tile_release() abort()
#define _tile_zero(t) abort()
#define _tile_loadd(t, p, s) abort()
#define _tile_stored(t, p, s) abort()
#define _tile_dpbf16ps(a, b, c) abort()
#endif
