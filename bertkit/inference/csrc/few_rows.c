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
 * Compiled with -O3 -mavx512f -mfma -fopenmp; loaded only on CPUs with AVX-512F; the int8
 * functions are compiled for AVX512-VNNI too, the AMX ones for AMX, and each is called only
 * where the CPU has it.
 */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_ROWS 128 /* rows a call takes: few_rows.py decides, per precision, up to how many it is given */
#define TILE 12      /* rows whose sums stay in registers: 2 x 12 accumulators for two column blocks */
#define ACC 16       /* a tile's sums: acc[m] for the first column block, acc[ACC + m] for the second */
#define LANES 16

enum { WEIGHT_F32 = 0, WEIGHT_BF16 = 1, WEIGHT_I8 = 2, WEIGHT_BF16_AMX = 3 };
enum { ACT_NONE = 0, ACT_GELU = 1, ACT_GELU_TANH = 2, ACT_RELU = 3 };

typedef struct {
    const void *weight;        /* [out / 16][in][16] of the weight type; int8: [out / 16][in / 4][16][4] */
    const float *scale;        /* int8: (out,) per output column; otherwise NULL */
    const float *bias;         /* (out,) or NULL */
    const float *in_scale;     /* int8: (in,) factors the input is multiplied by first (smoothing), or NULL */
    const int32_t *column_sum; /* int8: (out,) 128 x the sum of each column's int8 weights */
    int64_t in, out;
} Dense;

typedef struct {
    Dense qkv, attention_output, inner, outer;
    const float *norm1_weight, *norm1_bias, *norm2_weight, *norm2_bias;
    double norm1_eps, norm2_eps;
    int64_t heads, weight_type, activation;
} Layer;

/* ---- 16 weights as float32 ---- */

static inline __m512 load_f32(const void *w, int64_t k) { return _mm512_loadu_ps((const float *)w + k * LANES); }

static inline __m512 load_bf16(const void *w, int64_t k) {
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + k * LANES));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- elementwise functions, vectorised ---- */

static inline __m512 exp512(__m512 x) {  /* e^x, relative error ~1e-7 */
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);  /* ln 2 in two parts */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);  /* Taylor to r^7 on |r| <= ln2 / 2 */
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 erf512(__m512 x) {  /* Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 */
    __m512 a = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 y = _mm512_fnmadd_ps(p, exp512(_mm512_mul_ps(_mm512_mul_ps(a, a), _mm512_set1_ps(-1.0f))), _mm512_set1_ps(1.0f));
    /* erf is odd: put x's sign back */
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

static inline __m512 activate(__m512 v, int activation) {
    if (activation == ACT_GELU) {  /* x/2 (1 + erf(x / sqrt 2)) */
        __m512 e = erf512(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678f)));
        return _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.5f)), _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
    }
    if (activation == ACT_GELU_TANH) {  /* x/2 (1 + tanh(u)), tanh(u) = 1 - 2 / (e^2u + 1) */
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608f),
                                 _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(v, v), v), _mm512_set1_ps(0.044715f), v));
        __m512 e = exp512(_mm512_mul_ps(u, _mm512_set1_ps(2.0f)));
        __m512 th = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
        return _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.5f)), _mm512_add_ps(th, _mm512_set1_ps(1.0f)));
    }
    if (activation == ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    return v;
}

/* ---- float32 / bfloat16 weights on FMAs: one or two blocks of 16 columns, up to TILE rows ---- */

/* Accumulators for `rows` <= TILE rows and `pair` (0 or 1) extra blocks: constants at every
 * call site (see ROW_CASES), so each copy is unrolled with its sums in registers. Two blocks
 * share each broadcast of x: 10 loads for 16 multiply-adds at 8 rows, not 9 for 8. */
#define DEFINE_BLOCK(NAME, LOAD)                                                                   \
    static inline __attribute__((always_inline)) void NAME(                                       \
        const float *x, int64_t in, const void *w0, const void *w1, __m512 *acc, int rows, int pair) { \
        __m512 s0[TILE], s1[TILE]; /* local: through `acc` they would be stored at each k */      \
        for (int m = 0; m < rows; m++) s0[m] = s1[m] = _mm512_setzero_ps();                       \
        for (int64_t k = 0; k < in; k++) {                                                         \
            __m512 a = LOAD(w0, k), b = pair ? LOAD(w1, k) : a;                                    \
            for (int m = 0; m < rows; m++) {                                                       \
                __m512 xm = _mm512_set1_ps(x[m * in + k]);                                         \
                s0[m] = _mm512_fmadd_ps(xm, a, s0[m]);                                             \
                if (pair) s1[m] = _mm512_fmadd_ps(xm, b, s1[m]);                                   \
            }                                                                                      \
        }                                                                                          \
        for (int m = 0; m < rows; m++) {                                                           \
            acc[m] = s0[m];                                                                        \
            if (pair) acc[ACC + m] = s1[m];                                                        \
        }                                                                                          \
    }

DEFINE_BLOCK(block_f32, load_f32)
DEFINE_BLOCK(block_bf16, load_bf16)

#define ROW_CASE(BLOCK, R, P) case R: BLOCK(x, in, w0, w1, acc, R, P); break;
#define ROW_CASES_OF(BLOCK, P)                                                                     \
    switch (rows) {                                                                                \
        ROW_CASE(BLOCK, 1, P) ROW_CASE(BLOCK, 2, P) ROW_CASE(BLOCK, 3, P) ROW_CASE(BLOCK, 4, P)    \
        ROW_CASE(BLOCK, 5, P) ROW_CASE(BLOCK, 6, P) ROW_CASE(BLOCK, 7, P) ROW_CASE(BLOCK, 8, P)    \
        ROW_CASE(BLOCK, 9, P) ROW_CASE(BLOCK, 10, P) ROW_CASE(BLOCK, 11, P) ROW_CASE(BLOCK, 12, P) \
    }
#define ROW_CASES(BLOCK) if (pair) { ROW_CASES_OF(BLOCK, 1) } else { ROW_CASES_OF(BLOCK, 0) }

static void block_product(const float *x, int64_t in, const void *w0, const void *w1, int weight_type,
                          __m512 *acc, int rows, int pair) {
    if (weight_type == WEIGHT_BF16) { ROW_CASES(block_bf16) }
    else { ROW_CASES(block_f32) }
}

/* y = act(acc + bias) + residual for one block of 16 columns, `rows` rows. */
static inline void epilogue(const Dense *d, const __m512 *acc, int64_t col, int rows, int activation,
                            const float *residual, float *y) {
    __m512 bias = d->bias ? _mm512_loadu_ps(d->bias + col) : _mm512_setzero_ps();
    for (int m = 0; m < rows; m++) {
        __m512 v = activate(_mm512_add_ps(acc[m], bias), activation);
        if (residual) v = _mm512_add_ps(v, _mm512_loadu_ps(residual + m * d->out + col));
        _mm512_storeu_ps(y + m * d->out + col, v);
    }
}

/* ---- int8 on AVX512-VNNI: sums (xq @ Wq.T - column_sum) * row_scale * scale ---- */

#define VNNI __attribute__((target("avx512vnni")))

/* Each row of x (times in_scale) to 8 bits: q = round(x / r) + 128 in [1, 255], r = max|x| / 127,
 * so q - 128 is the symmetric code; the 128s are taken back out with column_sum. */
static void quantize_rows(const float *x, int rows, int64_t in, const float *in_scale, uint8_t *xq, float *row_scale) {
#pragma omp for schedule(static)
    for (int m = 0; m < rows; m++) {
        const float *row = x + m * in;
        __m512 top = _mm512_setzero_ps();
        for (int64_t k = 0; k < in; k += LANES) {
            __m512 v = _mm512_loadu_ps(row + k);
            if (in_scale) v = _mm512_mul_ps(v, _mm512_loadu_ps(in_scale + k));
            top = _mm512_max_ps(top, _mm512_abs_ps(v));
        }
        const float largest = _mm512_reduce_max_ps(top);
        const float r = largest > 0.0f ? largest / 127.0f : 1.0f;
        row_scale[m] = r;
        const __m512 inverse = _mm512_set1_ps(1.0f / r);
        for (int64_t k = 0; k < in; k += LANES) {
            __m512 v = _mm512_loadu_ps(row + k);
            if (in_scale) v = _mm512_mul_ps(v, _mm512_loadu_ps(in_scale + k));
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inverse)), _mm512_set1_epi32(128));
            q = _mm512_max_epi32(_mm512_min_epi32(q, _mm512_set1_epi32(255)), _mm512_set1_epi32(1));
            _mm_storeu_si128((__m128i *)(xq + m * in + k), _mm512_cvtepi32_epi8(q));
        }
    }
}

static inline __attribute__((always_inline)) VNNI void block_vnni(
    const uint8_t *xq, int64_t in, const int8_t *w0, const int8_t *w1, __m512i *acc, int rows, int pair) {
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

#define VNNI_CASE(R, P) case R: block_vnni(xq, in, w0, w1, acc, R, P); break;

#define VNNI_CASES_OF(P)                                                                           \
    switch (rows) {                                                                                \
        VNNI_CASE(1, P) VNNI_CASE(2, P) VNNI_CASE(3, P) VNNI_CASE(4, P) VNNI_CASE(5, P) VNNI_CASE(6, P) \
        VNNI_CASE(7, P) VNNI_CASE(8, P) VNNI_CASE(9, P) VNNI_CASE(10, P) VNNI_CASE(11, P) VNNI_CASE(12, P) \
    }

static VNNI void block_product_vnni(const uint8_t *xq, int64_t in, const int8_t *w0, const int8_t *w1,
                                    __m512i *acc, int rows, int pair) {
    if (pair) { VNNI_CASES_OF(1) } else { VNNI_CASES_OF(0) }
}

/* One tile of `rows` quantised rows against one or two column blocks from `col`, as float sums. */
static VNNI void tile_int8(const Dense *d, const uint8_t *xq, const float *row_scale, const int8_t *w0,
                           const int8_t *w1, int64_t col, __m512 *acc, int rows, int pair) {
    __m512i sums[2 * ACC];
    block_product_vnni(xq, d->in, w0, w1, sums, rows, pair);
    for (int b = 0; b <= pair; b++) {
        const __m512 scale = _mm512_loadu_ps(d->scale + col + b * LANES);
        const __m512i column_sum = _mm512_loadu_si512(d->column_sum + col + b * LANES);
        for (int m = 0; m < rows; m++)
            acc[b * ACC + m] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sums[b * ACC + m], column_sum)),
                                             _mm512_mul_ps(scale, _mm512_set1_ps(row_scale[m])));
    }
}

/* ---- bf16 on AMX tiles: tmm0, tmm1 sums of two column blocks; tmm2 16 rows of x; tmm3, tmm4 weights ---- */

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
static AMX void tile_amx(int64_t in, const uint16_t *xb, const uint16_t *w0, const uint16_t *w1, __m512 *acc,
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

/* ---- y = act(x @ W.T + bias) + residual, inside a parallel region ---- */

/* The input rows in the form the kernel reads (int8 codes, bfloat16 rows), then the column
 * blocks, in pairs, shared among the threads; each pair's weights come from memory once, for
 * the first tile of rows, and from the cache for the others. */
static void dense(int weight_type, const Dense *d, const float *x, int rows, int activation, const float *residual,
                  float *y, void *scratch, float *row_scale) {
    if (weight_type == WEIGHT_I8) quantize_rows(x, rows, d->in, d->in_scale, scratch, row_scale);  /* barrier */
    if (weight_type == WEIGHT_BF16_AMX) rows_to_bf16(x, rows, d->in, scratch);                     /* barrier */
    const int64_t blocks = d->out / LANES, in = d->in;
    const int tile = weight_type == WEIGHT_BF16_AMX ? 16 : TILE;
    const size_t element_size = weight_type == WEIGHT_F32 ? 4 : weight_type == WEIGHT_I8 ? 1 : 2;
    const size_t block_bytes = (size_t)in * LANES * element_size;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < (blocks + 1) / 2; i++) {
        const int64_t j = 2 * i;
        const int pair = j + 1 < blocks;
        const char *w0 = (const char *)d->weight + (size_t)j * block_bytes, *w1 = w0 + block_bytes;
        for (int first = 0; first < rows; first += tile) {
            const int n = rows - first < tile ? rows - first : tile;
            __m512 acc[2 * ACC];
            if (weight_type == WEIGHT_I8)
                tile_int8(d, (const uint8_t *)scratch + first * in, row_scale + first, (const int8_t *)w0,
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
                __m512 top[4];
                for (int r = 0; r < 4; r++) top[r] = _mm512_set1_ps(-INFINITY);
                for (int j = 0; j < padded; j += LANES) {
                    __m512 dot[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                    for (int64_t c = 0; c < size; c++) {
                        const __m512 key = _mm512_load_ps(keys + c * padded + j);
                        for (int r = 0; r < 4; r++) dot[r] = _mm512_fmadd_ps(_mm512_set1_ps(q[r][c]), key, dot[r]);
                    }
                    const __mmask16 real = n - j >= LANES ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
                    for (int r = 0; r < 4; r++) {
                        dot[r] = _mm512_mask_blend_ps(real, _mm512_set1_ps(-INFINITY), _mm512_mul_ps(dot[r], _mm512_set1_ps(scale)));
                        _mm512_store_ps(p + r * padded + j, dot[r]);
                        top[r] = _mm512_max_ps(top[r], dot[r]);
                    }
                }
                for (int r = 0; r < queries; r++) {
                    float *pr = p + r * padded;
                    const __m512 largest = _mm512_set1_ps(_mm512_reduce_max_ps(top[r]));
                    __m512 sum = _mm512_setzero_ps();
                    for (int j = 0; j < padded; j += LANES) {
                        const __mmask16 real = n - j >= LANES ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
                        __m512 e = _mm512_maskz_mov_ps(real, exp512(_mm512_sub_ps(_mm512_load_ps(pr + j), largest)));
                        _mm512_store_ps(pr + j, e);  /* padding keys weigh nothing */
                        sum = _mm512_add_ps(sum, e);
                    }
                    const __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
                    float *out = context + (start + first + r) * hidden + h * size;
                    for (int64_t c = 0; c < size; c += LANES) {  /* the values' weighted sum, 4 keys at a time */
                        const float *v = qkv + start * stride + 2 * hidden + h * size + c;
                        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                        int j = 0;
                        for (; j + 4 <= n; j += 4)
                            for (int u = 0; u < 4; u++)
                                acc[u] = _mm512_fmadd_ps(_mm512_set1_ps(pr[j + u]), _mm512_loadu_ps(v + (j + u) * stride), acc[u]);
                        for (; j < n; j++) acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(pr[j]), _mm512_loadu_ps(v + j * stride), acc[0]);
                        const __m512 total = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
                        _mm512_storeu_ps(out + c, _mm512_mul_ps(total, inverse));
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
