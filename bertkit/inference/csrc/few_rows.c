/* One transformer layer for a pass of few tokens (one or a few short texts), in one call.
 *
 * A pass of a few tokens reads every weight for a few multiply-adds: it is bound by memory
 * bandwidth and by the cost of each call more than by arithmetic. This file computes a whole
 * post-LN layer (QKV product, attention, output product + residual + LayerNorm, feed-forward
 * with its activation, product + residual + LayerNorm) inside one OpenMP region, with the
 * weights in the layout the loop streams: [out / 16][in][16], 16 output columns side by side,
 * as float32 or bfloat16 (widened to float32 in registers, so the only rounding is the
 * weights' own), or int8 for AVX512-VNNI: [out / 16][in / 4][16][4], one scale per output
 * column, each product's input rows quantised to 8 bits with one scale per row (after the
 * SmoothQuant division, where given), 4 multiply-adds per lane and instruction, exact in
 * 32 bits. Activations between the products are float32. See few_rows.py for how it is
 * built, loaded and called.
 *
 * On CPUs with AMX, bf16 products run on the tile units instead: weights [out / 16][in / 2][16][2]
 * (the tiles' pair layout), each product's input rows rounded to bfloat16 (as oneDNN's AMX
 * products do), 16 rows x 32 columns of k per tile product, sums in float32.
 *
 * Written in 16-lane vectors (simd16.h) and compiled twice, each build loaded only on CPUs that
 * run it (few_rows.py):
 * - with -mavx512f -mfma: 512-bit registers, two column blocks of 12 rows in flight; the int8
 *   functions compiled for AVX512-VNNI too, the AMX ones for AMX, each called only where the
 *   CPU has it;
 * - with -mavx2 -mfma: 256-bit registers (16 of them, not 32), one column block of 6 rows in
 *   flight; int8 products as exact int32 sums of 16-bit pairs (`vpmaddwd`: each int8 weight
 *   and code widened to 16 bits, so nothing saturates, unlike `vpmaddubsw`), the weights
 *   [out / 16][in / 2][16][2]. Every code and sum is the VNNI build's, so are the outputs.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "simd16.h"

#define MAX_ROWS 128 /* rows a call takes: few_rows.py decides, per precision, up to how many it is given */
#define ACC 16       /* a tile's sums: acc[m] for the first column block, acc[ACC + m] for the second */
#ifdef __AVX512F__
#define TILE 12      /* rows whose sums stay in registers: 2 x 12 accumulators for two column blocks */
#define PAIRS 1      /* column blocks computed together: 1, two; 0, one */
#else
#define TILE 6       /* 6 rows x 2 registers of sums for one column block: 12 of the 16 registers */
#define PAIRS 0
#endif

enum { WEIGHT_F32 = 0, WEIGHT_BF16 = 1, WEIGHT_I8 = 2, WEIGHT_BF16_AMX = 3 };
enum { ACT_NONE = 0, ACT_GELU = 1, ACT_GELU_TANH = 2, ACT_RELU = 3 };

typedef struct {
    const void *weight;        /* [out / 16][in][16] of the weight type; int8: [out / 16][in / 4][16][4] (AVX2: [in / 2][16][2]) */
    const float *scale;        /* int8: (out,) per output column; otherwise NULL */
    const float *bias;         /* (out,) or NULL */
    const float *in_scale;     /* int8: (in,) factors the input is multiplied by first (smoothing), or NULL */
    const int32_t *column_sum; /* int8 on VNNI: (out,) 128 x the sum of each column's int8 weights */
    int64_t in, out;
} Dense;

typedef struct {
    Dense qkv, attention_output, inner, outer;
    const float *norm1_weight, *norm1_bias, *norm2_weight, *norm2_bias;
    double norm1_eps, norm2_eps;
    int64_t heads, weight_type, activation;
} Layer;

/* ---- 16 weights as float32 ---- */

INLINE vf load_f32(const void *w, int64_t k) { return vf_load((const float *)w + k * LANES); }

INLINE vf load_bf16(const void *w, int64_t k) { return vf_load_bf16((const uint16_t *)w + k * LANES); }

/* ---- elementwise functions, vectorised ---- */

static inline vf exp16(vf x) {  /* e^x, relative error ~1e-7 */
    x = vf_max(vf_min(x, vf_set1(88.3f)), vf_set1(-87.3f));
    vf n = vf_round(vf_mul(x, vf_set1(1.44269504f)));
    vf r = vf_fnmadd(n, vf_set1(0.693145752f), x);  /* ln 2 in two parts */
    r = vf_fnmadd(n, vf_set1(1.42860677e-6f), r);
    vf p = vf_set1(1.0f / 5040);  /* Taylor to r^7 on |r| <= ln2 / 2 */
    p = vf_fmadd(p, r, vf_set1(1.0f / 720));
    p = vf_fmadd(p, r, vf_set1(1.0f / 120));
    p = vf_fmadd(p, r, vf_set1(1.0f / 24));
    p = vf_fmadd(p, r, vf_set1(1.0f / 6));
    p = vf_fmadd(p, r, vf_set1(0.5f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    return vf_scale2(p, n);
}

static inline vf erf16(vf x) {  /* Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 */
    vf a = vf_abs(x);
    vf t = vf_div(vf_set1(1.0f), vf_fmadd(a, vf_set1(0.3275911f), vf_set1(1.0f)));
    vf p = vf_set1(1.061405429f);
    p = vf_fmadd(p, t, vf_set1(-1.453152027f));
    p = vf_fmadd(p, t, vf_set1(1.421413741f));
    p = vf_fmadd(p, t, vf_set1(-0.284496736f));
    p = vf_fmadd(p, t, vf_set1(0.254829592f));
    p = vf_mul(p, t);
    vf y = vf_fnmadd(p, exp16(vf_mul(vf_mul(a, a), vf_set1(-1.0f))), vf_set1(1.0f));
    return vf_with_sign_of(y, x);  /* erf is odd: put x's sign back */
}

static inline vf activate(vf v, int activation) {
    if (activation == ACT_GELU) {  /* x/2 (1 + erf(x / sqrt 2)) */
        vf e = erf16(vf_mul(v, vf_set1(0.70710678f)));
        return vf_mul(vf_mul(v, vf_set1(0.5f)), vf_add(e, vf_set1(1.0f)));
    }
    if (activation == ACT_GELU_TANH) {  /* x/2 (1 + tanh(u)), tanh(u) = 1 - 2 / (e^2u + 1) */
        vf u = vf_mul(vf_set1(0.7978845608f), vf_fmadd(vf_mul(vf_mul(v, v), v), vf_set1(0.044715f), v));
        vf e = exp16(vf_mul(u, vf_set1(2.0f)));
        vf th = vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(e, vf_set1(1.0f))));
        return vf_mul(vf_mul(v, vf_set1(0.5f)), vf_add(th, vf_set1(1.0f)));
    }
    if (activation == ACT_RELU) return vf_max(v, vf_zero());
    return v;
}

/* ---- float32 / bfloat16 weights on FMAs: one or two blocks of 16 columns, up to TILE rows ---- */

/* Accumulators for `rows` <= TILE rows and `pair` (0 or 1) extra blocks: constants at every
 * call site (see SWITCH_ROWS), so each copy is unrolled with its sums in registers. Two blocks
 * share each broadcast of x: 10 loads for 16 multiply-adds at 8 rows, not 9 for 8. */
#define DEFINE_BLOCK(NAME, LOAD)                                                                   \
    INLINE void NAME(const float *x, int64_t in, const void *w0, const void *w1, vf *acc, int rows, int pair) { \
        vf s0[TILE], s1[TILE]; /* local: through `acc` they would be stored at each k */          \
        for (int m = 0; m < rows; m++) s0[m] = s1[m] = vf_zero();                                 \
        for (int64_t k = 0; k < in; k++) {                                                         \
            vf a = LOAD(w0, k), b = pair ? LOAD(w1, k) : a;                                        \
            for (int m = 0; m < rows; m++) {                                                       \
                vf xm = vf_set1(x[m * in + k]);                                                    \
                s0[m] = vf_fmadd(xm, a, s0[m]);                                                    \
                if (pair) s1[m] = vf_fmadd(xm, b, s1[m]);                                          \
            }                                                                                      \
        }                                                                                          \
        for (int m = 0; m < rows; m++) {                                                           \
            acc[m] = s0[m];                                                                        \
            if (pair) acc[ACC + m] = s1[m];                                                        \
        }                                                                                          \
    }

DEFINE_BLOCK(block_f32, load_f32)
DEFINE_BLOCK(block_bf16, load_bf16)

/* switch (rows) { case R: CALL(R, P); ... } for R = 1 .. TILE, so that R is a constant in each */
#if TILE > 6
#define MORE_ROWS(CALL, P) \
    case 7: CALL(7, P); break; case 8: CALL(8, P); break; case 9: CALL(9, P); break; \
    case 10: CALL(10, P); break; case 11: CALL(11, P); break; case 12: CALL(12, P); break;
#else
#define MORE_ROWS(CALL, P)
#endif
#define SWITCH_ROWS(CALL, P)                                                                       \
    switch (rows) {                                                                                \
        case 1: CALL(1, P); break; case 2: CALL(2, P); break; case 3: CALL(3, P); break;          \
        case 4: CALL(4, P); break; case 5: CALL(5, P); break; case 6: CALL(6, P); break;          \
        MORE_ROWS(CALL, P)                                                                         \
    }
#if PAIRS
#define SWITCH_ROWS_AND_PAIR(CALL) if (pair) { SWITCH_ROWS(CALL, 1) } else { SWITCH_ROWS(CALL, 0) }
#else
#define SWITCH_ROWS_AND_PAIR(CALL) SWITCH_ROWS(CALL, 0)
#endif

#define CALL_F32(R, P) block_f32(x, in, w0, w1, acc, R, P)
#define CALL_BF16(R, P) block_bf16(x, in, w0, w1, acc, R, P)

static void block_product(const float *x, int64_t in, const void *w0, const void *w1, int weight_type,
                          vf *acc, int rows, int pair) {
    if (weight_type == WEIGHT_BF16) { SWITCH_ROWS_AND_PAIR(CALL_BF16) }
    else { SWITCH_ROWS_AND_PAIR(CALL_F32) }
}

/* y = act(acc + bias) + residual for one block of 16 columns, `rows` rows. */
static inline void epilogue(const Dense *d, const vf *acc, int64_t col, int rows, int activation,
                            const float *residual, float *y) {
    vf bias = d->bias ? vf_load(d->bias + col) : vf_zero();
    for (int m = 0; m < rows; m++) {
        vf v = activate(vf_add(acc[m], bias), activation);
        if (residual) v = vf_add(v, vf_load(residual + m * d->out + col));
        vf_store(y + m * d->out + col, v);
    }
}

/* ---- int8: sums of xq @ Wq.T, times row_scale * scale ---- */

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

/* ---- bf16 on AMX tiles: tmm0, tmm1 sums of two column blocks; tmm2 16 rows of x; tmm3, tmm4 weights ---- */

#ifdef __AVX512F__

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512bf16")))

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} TileConfig;

/* Asks Linux for the AMX state (once per process); 0 when AMX may be used. */
int few_rows_amx_init(void) {
    return (int)syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */);
}

/* Tiles 0-4: 16 rows of 64 bytes. A constant in memory: built on the stack, the compiler
 * dropped the stores as dead (gcc 12 does not see ldtilecfg read them). */
static const TileConfig TILES = {
    .palette = 1, .bytes_per_row = {64, 64, 64, 64, 64}, .rows = {16, 16, 16, 16, 16},
};

static AMX void amx_begin(void) { _tile_loadconfig(&TILES); }  /* per thread */

static AMX void amx_end(void) { _tile_release(); }

/* Each row of x to bfloat16 (round to nearest even); shared among the threads by row. The
 * rows after `rows`, up to a multiple of 16, are read by the tile loads but their sums are
 * never stored, so they need no values. */
static AMX void rows_to_bf16(const float *x, int rows, int64_t in, uint16_t *xb) {
#pragma omp for schedule(static)
    for (int m = 0; m < rows; m++)
        for (int64_t k = 0; k < in; k += LANES)
            _mm256_storeu_si256((__m256i *)(xb + m * in + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + m * in + k)));
}

/* One tile of 16 bfloat16 rows (those after `rows` are not stored) against one or two column
 * blocks, 32 k at a time (16 pairs), as float sums. */
static AMX void tile_amx(int64_t in, const uint16_t *xb, const uint16_t *w0, const uint16_t *w1, vf *acc,
                         int rows, int pair) {
    float sums0[16 * 16] __attribute__((aligned(64))), sums1[16 * 16] __attribute__((aligned(64)));
    _tile_zero(0);
    _tile_zero(1);
    for (int64_t c = 0; c < in / 32; c++) {
        _tile_loadd(2, xb + c * 32, in * 2);  /* stride: bytes from one row of xb to the next */
        _tile_loadd(3, w0 + c * 512, 64);
        _tile_dpbf16ps(0, 2, 3);
        if (pair) {
            _tile_loadd(4, w1 + c * 512, 64);
            _tile_dpbf16ps(1, 2, 4);
        }
    }
    _tile_stored(0, sums0, 64);
    if (pair) _tile_stored(1, sums1, 64);
    for (int m = 0; m < rows; m++) {
        acc[m] = _mm512_load_ps(sums0 + m * 16);
        if (pair) acc[ACC + m] = _mm512_load_ps(sums1 + m * 16);
    }
}

#else /* no tiles in the AVX2 build: few_rows.py never asks for them there */

int few_rows_amx_init(void) { return -1; }
static void amx_begin(void) {}
static void amx_end(void) {}
static void rows_to_bf16(const float *x, int rows, int64_t in, uint16_t *xb) { (void)x, (void)rows, (void)in, (void)xb; }
static void tile_amx(int64_t in, const uint16_t *xb, const uint16_t *w0, const uint16_t *w1, vf *acc, int rows, int pair) {
    (void)in, (void)xb, (void)w0, (void)w1, (void)acc, (void)rows, (void)pair;
}

#endif

/* ---- y = act(x @ W.T + bias) + residual, inside a parallel region ---- */

/* The input rows in the form the kernel reads (int8 codes, bfloat16 rows), then the column
 * blocks, in pairs (AVX2: one at a time), shared among the threads; each pair's weights come
 * from memory once, for the first tile of rows, and from the cache for the others. */
static void dense(int weight_type, const Dense *d, const float *x, int rows, int activation, const float *residual,
                  float *y, void *scratch, float *row_scale) {
    if (weight_type == WEIGHT_I8) quantize_rows(x, rows, d->in, d->in_scale, scratch, row_scale);  /* barrier */
    if (weight_type == WEIGHT_BF16_AMX) rows_to_bf16(x, rows, d->in, scratch);                     /* barrier */
    const int64_t blocks = d->out / LANES, in = d->in;
    const int tile = weight_type == WEIGHT_BF16_AMX ? 16 : TILE;
    const size_t element_size = weight_type == WEIGHT_F32 ? 4 : weight_type == WEIGHT_I8 ? 1 : 2;
    const size_t block_bytes = (size_t)in * LANES * element_size;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < (blocks + PAIRS) / (1 + PAIRS); i++) {
        const int64_t j = (1 + PAIRS) * i;
        const int pair = PAIRS && j + 1 < blocks;
        const char *w0 = (const char *)d->weight + (size_t)j * block_bytes, *w1 = w0 + block_bytes;
        for (int first = 0; first < rows; first += tile) {
            const int n = rows - first < tile ? rows - first : tile;
            vf acc[2 * ACC];
            if (weight_type == WEIGHT_I8)
                tile_int8(d, (const Code *)scratch + first * in, row_scale + first, (const int8_t *)w0,
                          (const int8_t *)w1, j * LANES, acc, n, pair);
            else if (weight_type == WEIGHT_BF16_AMX)
                tile_amx(in, (const uint16_t *)scratch + first * in, (const uint16_t *)w0, (const uint16_t *)w1, acc, n, pair);
            else
                block_product(x + first * in, in, w0, w1, weight_type, acc, n, pair);
            const float *tile_residual = residual ? residual + first * d->out : NULL;
            for (int b = 0; b <= pair; b++)
                epilogue(d, acc + b * ACC, (j + b) * LANES, n, activation, tile_residual, y + first * d->out);
        }
    }
}

/* LayerNorm of each row of x (rows x width), in place; shared among the threads by row. */
static void layer_norm(float *x, int rows, int64_t width, const float *weight, const float *bias, double eps) {
#pragma omp for schedule(static)
    for (int m = 0; m < rows; m++) {
        float *row = x + m * width;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < width; i++) sum += row[i];
        const float mean = sum / (float)width;
        float squares = 0.0f;
#pragma omp simd reduction(+ : squares)
        for (int64_t i = 0; i < width; i++) squares += (row[i] - mean) * (row[i] - mean);
        const float inv = 1.0f / sqrtf(squares / (float)width + (float)eps);
#pragma omp simd
        for (int64_t i = 0; i < width; i++) row[i] = (row[i] - mean) * inv * weight[i] + bias[i];
    }
}

/* Scaled dot-product attention of each text on its own rows (offsets[b] .. offsets[b+1]);
 * qkv rows are [q | k | v], each split into `heads` heads of `size` = hidden / heads columns
 * (a multiple of 16, at most 256). Per (text, head), shared among the threads: the keys are
 * transposed once, so a query's scores are 16 keys per FMA; softmax and the weighted sum of
 * the values are vectorised the same way. */
static void attention(const float *qkv, float *context, const int32_t *offsets, int texts, int64_t hidden, int64_t heads) {
    const int64_t size = hidden / heads, stride = 3 * hidden;
    const float scale = 1.0f / sqrtf((float)size);
#pragma omp for schedule(dynamic) collapse(2)
    for (int b = 0; b < texts; b++) {
        for (int64_t h = 0; h < heads; h++) {
            const int start = offsets[b], n = offsets[b + 1] - offsets[b];
            if (n == 0) continue;
            const int padded = (n + LANES - 1) / LANES * LANES;
            float keys[size * padded] __attribute__((aligned(64)));  /* keys[c * padded + j]: key j, column c */
            float p[4 * padded] __attribute__((aligned(64)));  /* scores, then weights, of 4 queries */
            for (int j = 0; j < padded; j++) {
                const float *key = qkv + (start + j) * stride + hidden + h * size;
                for (int64_t c = 0; c < size; c++) keys[c * padded + j] = j < n ? key[c] : 0.0f;
            }
            for (int first = 0; first < n; first += 4) {  /* 4 queries at a time: 4 independent sums */
                const int queries = n - first < 4 ? n - first : 4;
                const float *q[4];
                for (int r = 0; r < 4; r++) q[r] = qkv + (start + first + (r < queries ? r : 0)) * stride + h * size;
                vf top[4];
                for (int r = 0; r < 4; r++) top[r] = vf_set1(-INFINITY);
                for (int j = 0; j < padded; j += LANES) {
                    vf dot[4] = {vf_zero(), vf_zero(), vf_zero(), vf_zero()};
                    for (int64_t c = 0; c < size; c++) {
                        const vf key = vf_load(keys + c * padded + j);
                        for (int r = 0; r < 4; r++) dot[r] = vf_fmadd(vf_set1(q[r][c]), key, dot[r]);
                    }
                    for (int r = 0; r < 4; r++) {  /* padding keys score -inf */
                        dot[r] = vf_first_or(n - j, vf_mul(dot[r], vf_set1(scale)), vf_set1(-INFINITY));
                        vf_store(p + r * padded + j, dot[r]);
                        top[r] = vf_max(top[r], dot[r]);
                    }
                }
                for (int r = 0; r < queries; r++) {
                    float *pr = p + r * padded;
                    const vf largest = vf_set1(vf_reduce_max(top[r]));
                    vf sum = vf_zero();
                    for (int j = 0; j < padded; j += LANES) {
                        vf e = vf_first_or(n - j, exp16(vf_sub(vf_load(pr + j), largest)), vf_zero());
                        vf_store(pr + j, e);  /* padding keys weigh nothing */
                        sum = vf_add(sum, e);
                    }
                    const vf inverse = vf_set1(1.0f / vf_reduce_add(sum));
                    float *out = context + (start + first + r) * hidden + h * size;
                    for (int64_t c = 0; c < size; c += LANES) {  /* the values' weighted sum, 4 keys at a time */
                        const float *v = qkv + start * stride + 2 * hidden + h * size + c;
                        vf acc[4] = {vf_zero(), vf_zero(), vf_zero(), vf_zero()};
                        int j = 0;
                        for (; j + 4 <= n; j += 4)
                            for (int u = 0; u < 4; u++)
                                acc[u] = vf_fmadd(vf_set1(pr[j + u]), vf_load(v + (j + u) * stride), acc[u]);
                        for (; j < n; j++) acc[0] = vf_fmadd(vf_set1(pr[j]), vf_load(v + j * stride), acc[0]);
                        const vf total = vf_add(vf_add(acc[0], acc[1]), vf_add(acc[2], acc[3]));
                        vf_store(out + c, vf_mul(total, inverse));
                    }
                }
            }
        }
    }
}

/* Workspace floats a layer needs for `rows` rows: the products' outputs, the row scales
 * (int8), then the products' input rows as the kernels read them: int8 codes, or bfloat16
 * rows (AMX) up to a multiple of 16, of the widest input. */
int64_t few_rows_workspace(const Layer *layer, int rows) {
    const int64_t hidden = layer->attention_output.out, inner = layer->inner.out;
    const int64_t widest = inner > hidden ? inner : hidden, padded = (rows + 15) / 16 * 16;
    return (int64_t)rows * (3 * hidden + hidden + hidden + inner) + rows + padded * widest / 2 + 16;
}

/* x (rows x hidden) -> out (rows x hidden); returns 0, or -1 if rows is out of range. */
int few_rows_layer(const Layer *layer, int rows, const float *x, float *out, float *workspace,
                   const int32_t *offsets, int texts, int threads) {
    if (rows < 1 || rows > MAX_ROWS) return -1;
    const int64_t hidden = layer->attention_output.out;
    float *qkv = workspace, *context = qkv + rows * 3 * hidden, *attended = context + rows * hidden;
    float *inner = attended + rows * hidden, *row_scale = inner + rows * layer->inner.out;
    void *scratch = (void *)(((uintptr_t)(row_scale + rows) + 63) & ~(uintptr_t)63);  /* 64-byte aligned */
    const int type = (int)layer->weight_type, amx = type == WEIGHT_BF16_AMX;
#pragma omp parallel num_threads(threads)
    {
        if (amx) amx_begin();
        dense(type, &layer->qkv, x, rows, ACT_NONE, NULL, qkv, scratch, row_scale);
        attention(qkv, context, offsets, texts, hidden, layer->heads);
        dense(type, &layer->attention_output, context, rows, ACT_NONE, x, attended, scratch, row_scale);
        layer_norm(attended, rows, hidden, layer->norm1_weight, layer->norm1_bias, layer->norm1_eps);
        dense(type, &layer->inner, attended, rows, (int)layer->activation, NULL, inner, scratch, row_scale);
        dense(type, &layer->outer, inner, rows, ACT_NONE, attended, out, scratch, row_scale);
        layer_norm(out, rows, hidden, layer->norm2_weight, layer->norm2_bias, layer->norm2_eps);
        if (amx) amx_end();
    }
    return 0;
}

int few_rows_max_rows(void) { return MAX_ROWS; }

int64_t few_rows_layer_size(void) { return (int64_t)sizeof(Layer); }  /* checked against few_rows.py's _Layer */
