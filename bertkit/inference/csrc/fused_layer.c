/* One transformer layer for a pass of few tokens (one or a few short texts), in one call.
 *
 * A pass of a few tokens reads every weight for a few multiply-adds: it is bound by memory
 * bandwidth and by the cost of each call more than by arithmetic. This file computes a whole
 * post-LN layer (QKV product, attention, output product + residual + LayerNorm, feed-forward
 * with its activation, product + residual + LayerNorm) inside one OpenMP region, with the
 * weights in the layout the loop streams: [out / 16][in][16], 16 output columns side by side,
 * as float32 or bfloat16 (widened to float32 in registers, so the only rounding is the
 * weights' own), or int8 (`int8_products.h`), or bfloat16 pairs for AMX tiles
 * (`amx_products.h`). Activations between the products are float32. See fused_layer.py for
 * how it is built, loaded and called.
 *
 * Written in 16-lane vectors (simd16.h) and compiled twice, each build loaded only on CPUs that
 * run it (fused_layer.py):
 * - with -mavx512f -mfma: 512-bit registers, two column blocks of 12 rows in flight; the int8
 *   functions compiled for AVX512-VNNI too, the AMX ones for AMX, each called only where the
 *   CPU has it;
 * - with -mavx2 -mfma: 256-bit registers (16 of them, not 32), one column block of 6 rows in
 *   flight; int8 products in exact 16-bit pairs.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "simd16.h"
#include "activations.h"

#define MAX_ROWS 128 /* rows a call takes: fused_layer.py decides, per precision, up to how many it is given */
#define ACC 16       /* a tile's sums: acc[m] for the first column block, acc[ACC + m] for the second */
#ifdef __AVX512F__
#define TILE 12      /* rows whose sums stay in registers: 2 x 12 accumulators for two column blocks */
#define PAIRS 1      /* column blocks computed together: 1, two; 0, one */
#else
#define TILE 6       /* 6 rows x 2 registers of sums for one column block: 12 of the 16 registers */
#define PAIRS 0
#endif

enum { WEIGHT_F32 = 0, WEIGHT_BF16 = 1, WEIGHT_I8 = 2, WEIGHT_BF16_AMX = 3 };

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

#include "int8_products.h"
#include "amx_products.h"

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
int64_t fused_layer_workspace(const Layer *layer, int rows) {
    const int64_t hidden = layer->attention_output.out, inner = layer->inner.out;
    const int64_t widest = inner > hidden ? inner : hidden, padded = (rows + 15) / 16 * 16;
    return (int64_t)rows * (3 * hidden + hidden + hidden + inner) + rows + padded * widest / 2 + 16;
}

/* x (rows x hidden) -> out (rows x hidden); returns 0, or -1 if rows is out of range. */
int fused_layer_forward(const Layer *layer, int rows, const float *x, float *out, float *workspace,
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

int fused_layer_max_rows(void) { return MAX_ROWS; }

int64_t fused_layer_struct_size(void) { return (int64_t)sizeof(Layer); }  /* checked against fused_layer.py's _Layer */
