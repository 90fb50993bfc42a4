/* int8 products for fused_layer.c (included there once, after `Dense` and the tile macros):
 * sums of xq @ Wq.T, times row_scale * scale.
 *
 * The weights have one symmetric scale per output column; each product's input rows are
 * quantised to 8 bits with one scale per row (after the SmoothQuant division, where given).
 * - AVX-512 build, AVX512-VNNI: weights [out / 16][in / 4][16][4], 4 multiply-adds per lane
 *   and instruction (`vpdpbusd`), exact in 32 bits;
 * - AVX2 build: exact int32 sums of 16-bit pairs (`vpmaddwd`: each int8 weight and code
 *   widened to 16 bits, so nothing saturates, unlike `vpmaddubsw`), weights
 *   [out / 16][in / 2][16][2]. Every code and sum is the VNNI build's, so are the outputs.
 */

/* The largest |x * in_scale| of a row, and 1 / (its code's step): r = max / 127. */
static inline float row_step(const float *row, int64_t in, const float *in_scale) {
    vf top = vf_zero();
    for (int64_t k = 0; k < in; k += LANES) {
        vf v = vf_load(row + k);
        if (in_scale) v = vf_mul(v, vf_load(in_scale + k));
        top = vf_max(top, vf_abs(v));
    }
    const float largest = vf_reduce_max(top);
    return largest > 0.0f ? largest / 127.0f : 1.0f;
}

/* Each row's codes c = round(x / r) in [-127, 127] (after the smoothing division, in_scale) */
static inline vi row_codes(const float *row, int64_t k, const float *in_scale, vf inverse) {
    vf v = vf_load(row + k);
    if (in_scale) v = vf_mul(v, vf_load(in_scale + k));
    return vi_clamp(vf_to_vi(vf_mul(v, inverse)), -127, 127);
}

#ifdef __AVX512F__

#define VNNI __attribute__((target("avx512vnni")))

typedef uint8_t Code;  /* an int8 code as the products read it */

/* 16 codes c stored as q = c + 128 in [1, 255] (VNNI multiplies unsigned by signed bytes);
 * the 128s are taken back out with column_sum. */
INLINE void store_codes(Code *xq, vi c) {
    _mm_storeu_si128((__m128i *)xq, _mm512_cvtepi32_epi8(_mm512_add_epi32(c, _mm512_set1_epi32(128))));
}

INLINE VNNI void block_int8(const void *codes, int64_t in, const int8_t *w0, const int8_t *w1, vi *acc, int rows, int pair) {
    const Code *xq = codes;
    __m512i s0[TILE], s1[TILE];
    for (int m = 0; m < rows; m++) s0[m] = s1[m] = _mm512_setzero_si512();  /* int32 sums */
    for (int64_t k = 0; k < in; k += 4) {
        __m512i a = _mm512_loadu_si512(w0 + k * LANES), b = pair ? _mm512_loadu_si512(w1 + k * LANES) : a;
        for (int m = 0; m < rows; m++) {
            __m512i xm = _mm512_set1_epi32(*(const int32_t *)(xq + m * in + k));  /* 4 codes of row m */
            s0[m] = _mm512_dpbusd_epi32(s0[m], xm, a);
            if (pair) s1[m] = _mm512_dpbusd_epi32(s1[m], xm, b);
        }
    }
    for (int m = 0; m < rows; m++) {
        acc[m] = s0[m];
        if (pair) acc[ACC + m] = s1[m];
    }
}

/* the exact sums of the codes c: those of q = c + 128, less 128 x each column's sum */
INLINE vi signed_sums(const Dense *d, vi sums, int64_t col) { return vi_sub(sums, vi_load(d->column_sum + col)); }

#else

#define VNNI

typedef int16_t Code;

/* 16 codes c stored as 16-bit numbers, so that a pair of them is one 32-bit broadcast. */
INLINE void store_codes(Code *xq, vi c) {
    /* packs interleaves the 128-bit halves: the permutation puts lanes 0-15 back in order */
    _mm256_storeu_si256((__m256i *)xq, _mm256_permute4x64_epi64(_mm256_packs_epi32(c.lo, c.hi), 0xD8));
}

/* 16 columns x 2 k a step: each 16 bytes of weights widened to 16 bits, multiplied by the
 * row's two codes and summed in pairs into 32 bits (vpmaddwd), exactly. */
INLINE void block_int8(const void *codes, int64_t in, const int8_t *w0, const int8_t *w1, vi *acc, int rows, int pair) {
    const Code *xq = codes;
    (void)w1, (void)pair;  /* one block at a time */
    vi s[TILE];
    for (int m = 0; m < rows; m++) s[m] = vi_zero();
    for (int64_t k = 0; k < in; k += 2) {
        const __m128i *w = (const __m128i *)(w0 + k * LANES);
        const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128(w)), b = _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 1));
        for (int m = 0; m < rows; m++) {
            const __m256i xm = _mm256_set1_epi32(*(const int32_t *)(xq + m * in + k));  /* 2 codes of row m */
            s[m].lo = _mm256_add_epi32(s[m].lo, _mm256_madd_epi16(a, xm));
            s[m].hi = _mm256_add_epi32(s[m].hi, _mm256_madd_epi16(b, xm));
        }
    }
    for (int m = 0; m < rows; m++) acc[m] = s[m];
}

INLINE vi signed_sums(const Dense *d, vi sums, int64_t col) { (void)d, (void)col; return sums; }

#endif

/* Each row of x (times in_scale) to its codes, with its scale r; shared among the threads by row. */
static void quantize_rows(const float *x, int rows, int64_t in, const float *in_scale, void *codes, float *row_scale) {
    Code *xq = codes;
#pragma omp for schedule(static)
    for (int m = 0; m < rows; m++) {
        const float *row = x + m * in;
        const float r = row_step(row, in, in_scale);
        row_scale[m] = r;
        const vf inverse = vf_set1(1.0f / r);
        for (int64_t k = 0; k < in; k += LANES) store_codes(xq + m * in + k, row_codes(row, k, in_scale, inverse));
    }
}

#define CALL_INT8(R, P) block_int8(xq, in, w0, w1, acc, R, P)

static VNNI void block_product_int8(const void *xq, int64_t in, const int8_t *w0, const int8_t *w1,
                                    vi *acc, int rows, int pair) {
    SWITCH_ROWS_AND_PAIR(CALL_INT8)
}

/* One tile of `rows` quantised rows against one or two column blocks from `col`, as float sums. */
static VNNI void tile_int8(const Dense *d, const void *xq, const float *row_scale, const int8_t *w0,
                           const int8_t *w1, int64_t col, vf *acc, int rows, int pair) {
    vi sums[2 * ACC];
    block_product_int8(xq, d->in, w0, w1, sums, rows, pair);
    for (int b = 0; b <= pair; b++) {
        const vf scale = vf_load(d->scale + col + b * LANES);
        for (int m = 0; m < rows; m++)
            acc[b * ACC + m] = vf_mul(vi_to_vf(signed_sums(d, sums[b * ACC + m], col + b * LANES)),
                                      vf_mul(scale, vf_set1(row_scale[m])));
    }
}
