/* bf16 products on AMX tiles for fused_layer.c (included there once, after the tile macros).
 *
 * Weights [out / 16][in / 2][16][2] (the tiles' pair layout), each product's input rows rounded
 * to bfloat16 (as oneDNN's AMX products do), 16 rows x 32 columns of k per tile product, sums
 * in float32. Tiles: tmm0, tmm1 the sums of two column blocks; tmm2 16 rows of x; tmm3, tmm4
 * the weights. The AVX-512 build only (stubs in the AVX2 one), called only where the CPU has AMX.
 */
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __AVX512F__

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512bf16")))

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} TileConfig;

/* Asks Linux for the AMX state (once per process); 0 when AMX may be used. */
int fused_layer_amx_init(void) {
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

#else /* no tiles in the AVX2 build: fused_layer.py never asks for them there */

int fused_layer_amx_init(void) { return -1; }
static void amx_begin(void) {}
static void amx_end(void) {}
static void rows_to_bf16(const float *x, int rows, int64_t in, uint16_t *xb) { (void)x, (void)rows, (void)in, (void)xb; }
static void tile_amx(int64_t in, const uint16_t *xb, const uint16_t *w0, const uint16_t *w1, vf *acc, int rows, int pair) {
    (void)in, (void)xb, (void)w0, (void)w1, (void)acc, (void)rows, (void)pair;
}

#endif
