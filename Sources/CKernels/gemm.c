#include "dfc_gemm.h"

#include "dfc_kernels.h"

#include <stdlib.h>
#include <string.h>

// dfc_finish_product's loops; `e` on n sums s into dst, one loop per kind so each vectorizes, in chunks of 64.
#define FINISH_ROWS(NAME, ATTRIBUTE)                                                                                   \
    ATTRIBUTE static void NAME(const float *sums, size_t ld, size_t rows, size_t col0, size_t columns, float *c,       \
                               size_t ldc, const dfc_epilogue *e) {                                                    \
        const int onto = e->onto, activation = e->activation;                                                          \
        const float alpha = e->alpha, beta = e->beta;                                                                  \
        float values[64];                                                                                              \
        for (size_t i = 0; i < rows; i++) {                                                                            \
            float *row = c + i * ldc;                                                                                  \
            const float b = e->bias ? e->bias[i] : 0.0f;                                                               \
            for (size_t j = 0; j < columns;) {                                                                         \
                size_t column = col0 + j, n = columns - j < 64 ? columns - j : 64;                                     \
                float *dst = row + column;                                                                             \
                if (e->width) {                                                                                        \
                    size_t w = column % e->width;                                                                      \
                    dst = row + column / e->width * e->row_stride + w;                                                 \
                    if (e->width - w < n) n = e->width - w;                                                            \
                }                                                                                                      \
                const float *s = sums + i * ld + j;                                                                    \
                for (size_t q = 0; q < n; q++) values[q] = e->bias ? s[q] + b : s[q];                                  \
                if (onto)                                                                                              \
                    for (size_t q = 0; q < n; q++) values[q] = dst[q] + values[q];                                     \
                if (activation == 1) {                                                                                 \
                    for (size_t q = 0; q < n; q++) dst[q] = values[q] < 0 ? 0 : values[q];                             \
                } else if (activation == 2) {                                                                          \
                    for (size_t q = 0; q < n; q++) {                                                                   \
                        float v = alpha >= values[q] ? alpha : values[q];                                              \
                        dst[q] = beta < v ? beta : v;                                                                  \
                    }                                                                                                  \
                } else {                                                                                               \
                    memcpy(dst, values, 4 * n);                                                                        \
                }                                                                                                      \
                j += n;                                                                                                \
            }                                                                                                          \
        }                                                                                                              \
    }

FINISH_ROWS(finish_rows, )

#if defined(__x86_64__)
#include <immintrin.h>

int dfc_gemm_available(void) { return dfc_kernels_avx512() || dfc_kernels_vectorized(); }

int dfc_gemm_finishing(void) { return dfc_kernels_avx512(); }

// Rows of a per tile: six rows by four vectors is 24 accumulators, four loads of b and six broadcasts
// of a for 24 fused multiply-adds (measured against 4, 8 and 12 rows on ResNet-50's band products).
#define MR 6
// Depth of one pass over k: a panel of b of KC rows by 64 columns (96 KiB) stays in L2 while every row
// block of a uses it.
#define KC 384

static inline __mmask16 vector_mask(int v, int nv, __mmask16 last) { return v == nv - 1 ? last : (__mmask16)0xFFFF; }

// Lanes `mask` of a tile's vector `vector` lie in one output row, lane 0 at `offset` words from the row's first.
typedef struct {
    __mmask16 mask;
    size_t vector;
    ptrdiff_t offset;
} segment;

// The segments of `nv` vectors (lanes masks[v]) whose first lanes are columns column0 + 16 v, placed by `e`;
// returns how many (at most 4 * 17).
static size_t segments_of(const dfc_epilogue *e, size_t nv, const __mmask16 *masks, size_t column0, segment *out) {
    size_t count = 0, width = e->width, r = width ? column0 / width : 0, w = width ? column0 % width : column0;
    for (size_t v = 0; v < nv; v++) {
        for (size_t lane = 0; lane < 16;) {
            size_t n = 16 - lane;
            if (width && width - w < n) n = width - w;
            __mmask16 part = (__mmask16)(masks[v] & ((((unsigned)1 << n) - 1) << lane));
            ptrdiff_t offset = width ? (ptrdiff_t)(r * e->row_stride + w) - (ptrdiff_t)lane : (ptrdiff_t)(w + 16 * v);
            if (part) out[count].mask = part, out[count].vector = v, out[count++].offset = offset;
            lane += n;
            if (width && (w += n) == width) w = 0, r++;
        }
    }
    return count;
}

// Finishes a tile of `rows` rows of sums stored at src (64-byte aligned, leading dimension ld) by `e`, row
// i's segments stored from c + i * ldc. Out of line, so that the tiles' loops keep every register for their
// sums.
__attribute__((target("avx512f"), noinline)) static void finish_tile(const dfc_epilogue *e, const float *src, size_t ld,
                                                                     size_t rows, const segment *segments,
                                                                     size_t count, float *c, size_t ldc, size_t row0) {
    const __m512 zero = _mm512_setzero_ps(), alpha = _mm512_set1_ps(e->alpha), beta = _mm512_set1_ps(e->beta);
    const int activation = e->activation, onto = e->onto;
    for (size_t i = 0; i < rows; i++) {
        const __m512 bias = _mm512_set1_ps(e->bias ? e->bias[row0 + i] : 0.0f);
        float *row = c + i * ldc;
        for (size_t s = 0; s < count; s++) {
            __mmask16 part = segments[s].mask;
            float *p = row + segments[s].offset;
            __m512 y = _mm512_load_ps(src + i * ld + 16 * segments[s].vector);
            if (e->bias) y = _mm512_add_ps(y, bias);
            if (onto) y = _mm512_add_ps(_mm512_maskz_loadu_ps(part, p), y);
            if (activation == 1) {
                y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), y, zero);
            } else if (activation == 2) {
                y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(alpha, y, _CMP_GE_OQ), y, alpha);
                y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(beta, y, _CMP_LT_OQ), y, beta);
            }
            _mm512_mask_storeu_ps(p, part, y);
        }
    }
}

// One tile of c: ROWS rows by NV vectors of 16 columns (the last vector's lanes in `last`).
#define GEMM_TILE(ROWS, NV)                                                                                            \
    __attribute__((target("avx512f"))) static void gemm_tile_##ROWS##_##NV(                                            \
        size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, int accumulate,        \
        __mmask16 last, const dfc_epilogue *e, const segment *segments, size_t count, size_t row0) {                   \
        __m512 acc[ROWS][NV];                                                                                          \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++)                                                                               \
                acc[i][v] = accumulate ? _mm512_maskz_loadu_ps(vector_mask(v, NV, last), c + i * ldc + 16 * v)        \
                                       : _mm512_setzero_ps();                                                          \
        for (size_t p = 0; p < k; p++) {                                                                               \
            __m512 bv[NV];                                                                                             \
            for (int v = 0; v < NV; v++)                                                                               \
                bv[v] = _mm512_maskz_loadu_ps(vector_mask(v, NV, last), b + p * ldb + 16 * v);                        \
            for (int i = 0; i < ROWS; i++) {                                                                           \
                __m512 av = _mm512_set1_ps(a[i * lda + p]);                                                            \
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);                        \
            }                                                                                                          \
        }                                                                                                              \
        if (e) {                                                                                                       \
            /* Whole vectors into an aligned buffer (they reach finish_tile's loads by store forwarding). */            \
            __attribute__((aligned(64))) float buffer[ROWS * 16 * NV];                                                 \
            for (int i = 0; i < ROWS; i++)                                                                             \
                for (int v = 0; v < NV; v++) _mm512_store_ps(buffer + (i * NV + v) * 16, acc[i][v]);                  \
            finish_tile(e, buffer, 16 * NV, ROWS, segments, count, c, ldc, row0);                                      \
            return;                                                                                                    \
        }                                                                                                              \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++)                                                                               \
                _mm512_mask_storeu_ps(c + i * ldc + 16 * v, vector_mask(v, NV, last), acc[i][v]);                     \
    }

// One tile of a convolution's output row: ROWS channels by NV vectors of columns, the taps read in place.
#define CONV_TILE(ROWS, NV)                                                                                            \
    __attribute__((target("avx512f"))) static void conv_tile_##ROWS##_##NV(                                            \
        const float *w, size_t lda, size_t cin, size_t kh, size_t kw, const float *const *rows, size_t cs, size_t dw,  \
        const __mmask16 *masks, float *out, size_t ocs, int accumulate) {                                              \
        __m512 acc[ROWS][NV];                                                                                          \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++)                                                                               \
                acc[i][v] =                                                                                            \
                    accumulate ? _mm512_maskz_loadu_ps(masks[v], out + i * ocs + 16 * v) : _mm512_setzero_ps();        \
        for (size_t ci = 0; ci < cin; ci++) {                                                                          \
            for (size_t ky = 0; ky < kh; ky++) {                                                                       \
                if (!rows[ky]) continue;                                                                               \
                const float *x = rows[ky] + ci * cs;                                                                   \
                const float *a = w + (ci * kh + ky) * kw;                                                              \
                for (size_t kx = 0; kx < kw; kx++) {                                                                   \
                    __m512 bv[NV];                                                                                     \
                    for (int v = 0; v < NV; v++)                                                                       \
                        bv[v] = _mm512_maskz_loadu_ps(masks[(kx + 1) * NV + v], x + kx * dw + 16 * v);                \
                    for (int i = 0; i < ROWS; i++) {                                                                   \
                        __m512 av = _mm512_set1_ps(a[i * lda + kx]);                                                   \
                        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);                \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(out + i * ocs + 16 * v, masks[v], acc[i][v]);           \
    }

#define TILES(KIND)                                                                                                    \
    KIND(1, 1) KIND(2, 1) KIND(3, 1) KIND(4, 1) KIND(5, 1) KIND(6, 1) KIND(1, 2) KIND(2, 2) KIND(3, 2) KIND(4, 2)      \
    KIND(5, 2) KIND(6, 2) KIND(1, 3) KIND(2, 3) KIND(3, 3) KIND(4, 3) KIND(5, 3) KIND(6, 3) KIND(1, 4) KIND(2, 4)      \
    KIND(3, 4) KIND(4, 4) KIND(5, 4) KIND(6, 4)
TILES(GEMM_TILE)
TILES(CONV_TILE)

typedef void (*gemm_tile)(size_t, const float *, size_t, const float *, size_t, float *, size_t, int, __mmask16,
                          const dfc_epilogue *, const segment *, size_t, size_t);
typedef void (*conv_tile)(const float *, size_t, size_t, size_t, size_t, const float *const *, size_t, size_t,
                          const __mmask16 *, float *, size_t, int);

// [vectors - 1][rows - 1]
#define TABLE(PREFIX)                                                                                                  \
    {{PREFIX##1_1, PREFIX##2_1, PREFIX##3_1, PREFIX##4_1, PREFIX##5_1, PREFIX##6_1},                                   \
     {PREFIX##1_2, PREFIX##2_2, PREFIX##3_2, PREFIX##4_2, PREFIX##5_2, PREFIX##6_2},                                   \
     {PREFIX##1_3, PREFIX##2_3, PREFIX##3_3, PREFIX##4_3, PREFIX##5_3, PREFIX##6_3},                                   \
     {PREFIX##1_4, PREFIX##2_4, PREFIX##3_4, PREFIX##4_4, PREFIX##5_4, PREFIX##6_4}}
static const gemm_tile gemm_tiles[4][MR] = TABLE(gemm_tile_);
static const conv_tile conv_tiles[4][MR] = TABLE(conv_tile_);

// Lanes [from, to) of the vector whose first lane is column `first`, clipped to 16 lanes.
static __mmask16 lanes(long first, long from, long to) {
    long lo = from - first < 0 ? 0 : from - first, hi = to - first > 16 ? 16 : to - first;
    if (hi <= lo) return 0;
    return (__mmask16)((((unsigned)1 << (hi - lo)) - 1) << lo);
}

// The loops of dfc_sgemm, in passes over k of `depth` (at least 1); `e` applied on the last pass over k
// (with a width, c is the first column's row).
static void sgemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                  size_t ldc, int accumulate, const dfc_epilogue *e, size_t depth) {
    if (m == 0 || n == 0) return;
    for (size_t k0 = 0; k0 == 0 || k0 < k; k0 += depth) {
        size_t kc = k - k0 < depth ? k - k0 : depth;
        int onto = accumulate || k0 > 0;
        const dfc_epilogue *finish = k0 + kc >= k ? e : 0;
        for (size_t n0 = 0; n0 < n; n0 += 64) {
            size_t columns = n - n0 < 64 ? n - n0 : 64, nv = (columns + 15) / 16;
            __mmask16 last = lanes(0, 0, (long)(columns - 16 * (nv - 1)));
            // Where the epilogue stores each vector's lanes, the same for every block of rows: with a width,
            // from the row's first word (column n0 on), else from the tile's.
            segment segments[4 * 17];
            size_t count = 0;
            if (finish) {
                __mmask16 masks[4] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
                masks[nv - 1] = last;
                count = segments_of(finish, nv, masks, finish->width ? n0 : 0, segments);
            }
            for (size_t m0 = 0; m0 < m; m0 += MR) {
                size_t rows = m - m0 < MR ? m - m0 : MR;
                float *tile = finish && finish->width ? c + m0 * ldc : c + m0 * ldc + n0;
                gemm_tiles[nv - 1][rows - 1](kc, a + m0 * lda + k0, lda, b + k0 * ldb + n0, ldb, tile, ldc, onto, last,
                                             finish, segments, count, m0);
            }
        }
    }
}

__attribute__((target("avx2"))) static void sgemm8(size_t m, size_t n, size_t k, const float *a, size_t lda,
                                                    const float *b, size_t ldb, float *c, size_t ldc, int accumulate);
__attribute__((target("avx2"))) static void conv_row8(size_t m, size_t width, const float *w, size_t lda, size_t cin,
                                                      size_t kh, size_t kw, const float *const *rows, size_t cs,
                                                      size_t dw, const size_t *lo, const size_t *hi, float *out,
                                                      size_t ocs, int accumulate);

void dfc_sgemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
               size_t ldc, int accumulate) {
    if (dfc_kernels_avx512())
        sgemm(m, n, k, a, lda, b, ldb, c, ldc, accumulate, 0, KC);
    else if (dfc_kernels_vectorized())
        sgemm8(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

size_t dfc_sgemm_depth(void) { return KC; }

int dfc_sgemm_finished(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                       float *c, size_t ldc, int accumulate, const dfc_epilogue *e) {
    if ((e->width && accumulate) || !dfc_kernels_avx512()) return 0;
    // Placed results are finished in one pass over all of k: the tiles of a later pass would load and
    // store the partial sums where a dense c has them. Each sum is the same (the register holds what a
    // store and a load of the partial sum would give back); the panel of b is k rows of 256 bytes, 240 KiB
    // at MobileNetV2's deepest (960), still within L2.
    sgemm(m, n, k, a, lda, b, ldb, c, ldc, accumulate, e, e->width && k > KC ? k : KC);
    return 1;
}

__attribute__((target("avx2"))) void dfc_conv_row(size_t m, size_t width, const float *w, size_t lda, size_t cin, size_t kh, size_t kw,
                  const float *const *rows, size_t cs, size_t dw, const size_t *lo, const size_t *hi, float *out,
                  size_t ocs, int accumulate) {
    if (!dfc_kernels_avx512()) {
        if (dfc_kernels_vectorized()) conv_row8(m, width, w, lda, cin, kh, kw, rows, cs, dw, lo, hi, out, ocs, accumulate);
        return;
    }
    // masks[v]: the vector's columns inside the row; masks[(kx + 1) * nv + v]: those tap kx reads.
    __mmask16 masks[4 * 64];
    const float *shifted[64];
    if (m == 0 || width == 0 || kw > 62 || kh > 64) return;
    for (size_t n0 = 0; n0 < width; n0 += 64) {
        size_t columns = width - n0 < 64 ? width - n0 : 64, nv = (columns + 15) / 16;
        for (size_t v = 0; v < nv; v++) {
            long first = (long)(n0 + 16 * v);
            masks[v] = lanes(first, first, (long)width);
            for (size_t kx = 0; kx < kw; kx++)
                masks[(kx + 1) * nv + v] = masks[v] & lanes(first, (long)lo[kx], (long)hi[kx]);
        }
        for (size_t ky = 0; ky < kh; ky++) shifted[ky] = rows[ky] ? rows[ky] + n0 : 0;
        for (size_t m0 = 0; m0 < m; m0 += MR) {
            size_t r = m - m0 < MR ? m - m0 : MR;
            conv_tiles[nv - 1][r - 1](w + m0 * lda, lda, cin, kh, kw, shifted, cs, dw, masks, out + m0 * ocs + n0, ocs,
                                      accumulate);
        }
    }
}


// dfc_sgemm and dfc_conv_row with AVX2 and FMA, for CPUs without AVX-512: eight lanes a vector, tiles of six rows by two
// vectors (twelve accumulators, two vectors of b and a broadcast of a: fifteen of the sixteen registers).
// Each result is the same chain of fused multiply-adds in the same order as in the AVX-512 tiles, so the
// same bits. A tile whose every lane lies inside (FULL) loads and stores without masks. Why not OpenBLAS
// (0.3.21, its Zen kernels) here: on one core of an AVX2 EPYC, with the tap matrix gathered as the executor
// does, ResNet-18's 3x3 band products (64 to 512 channels, 14 to 112 columns) run at 77 to 91 GFLOP/s
// against 42 to 79 (OpenBLAS is ahead only on 49-column products, 7x7 maps: 62 against 70). Alone, the
// in-place convolution in eight-lane tiles loses to a gathered product (45 to 82); in the executor it wins
// only for wide kernels (ExecutorConv's readsRowsInPlace has the figures).
#define NR8 2

// The first `count` (0 to 8) lanes as a vector mask.
__attribute__((target("avx2"))) static inline __m256i first_lanes8(long count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define LOAD8(FULL, p, mask) ((FULL) ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask))
#define STORE8(FULL, p, mask, v) ((FULL) ? _mm256_storeu_ps(p, v) : _mm256_maskstore_ps(p, mask, v))

// One tile of c: ROWS rows by NV vectors of eight columns (the last vector's lanes in `last`).
#define GEMM_TILE8(ROWS, NV, FULL)                                                                                     \
    __attribute__((target("avx2,fma"))) static void gemm8_tile_##FULL##_##ROWS##_##NV(                                 \
        size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc, int accumulate,        \
        __m256i last) {                                                                                                \
        const __m256i all = _mm256_set1_epi32(-1);                                                                     \
        __m256 acc[ROWS][NV];                                                                                          \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++)                                                                               \
                acc[i][v] = accumulate ? LOAD8(FULL, c + i * ldc + 8 * v, v == NV - 1 ? last : all)                   \
                                       : _mm256_setzero_ps();                                                          \
        /* Four steps of k a pass: fewer of the loop's own instructions (its counter, the addresses of */              \
        /* a's rows) beside the FMAs, the same chains (ResNet-50, one core: run phase 0.94x). */                       \
        const float *ap[ROWS];                                                                                         \
        for (int i = 0; i < ROWS; i++) ap[i] = a + i * lda;                                                            \
        _Pragma("clang loop unroll_count(4)") for (size_t p = 0; p < k; p++) {                                         \
            __m256 bv[NV];                                                                                             \
            for (int v = 0; v < NV; v++) bv[v] = LOAD8(FULL, b + p * ldb + 8 * v, v == NV - 1 ? last : all);          \
            for (int i = 0; i < ROWS; i++) {                                                                           \
                __m256 av = _mm256_broadcast_ss(ap[i] + p);                                                            \
                for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);                        \
            }                                                                                                          \
        }                                                                                                              \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++) STORE8(FULL, c + i * ldc + 8 * v, v == NV - 1 ? last : all, acc[i][v]);     \
    }

// One tile of a convolution's output row: ROWS channels by NV vectors of columns, the taps read in place;
// masks[v] the vector's columns inside the row, masks[(kx + 1) * NV + v] those tap kx reads.
#define CONV_TILE8(ROWS, NV, FULL)                                                                                     \
    __attribute__((target("avx2,fma"))) static void conv8_tile_##FULL##_##ROWS##_##NV(                                 \
        const float *w, size_t lda, size_t cin, size_t kh, size_t kw, const float *const *rows, size_t cs, size_t dw,  \
        const __m256i *masks, float *out, size_t ocs, int accumulate) {                                                \
        __m256 acc[ROWS][NV];                                                                                          \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++)                                                                               \
                acc[i][v] = accumulate ? LOAD8(FULL, out + i * ocs + 8 * v, masks[v]) : _mm256_setzero_ps();         \
        for (size_t ci = 0; ci < cin; ci++) {                                                                          \
            for (size_t ky = 0; ky < kh; ky++) {                                                                       \
                if (!rows[ky]) continue;                                                                               \
                const float *x = rows[ky] + ci * cs;                                                                   \
                const float *a = w + (ci * kh + ky) * kw;                                                              \
                for (size_t kx = 0; kx < kw; kx++) {                                                                   \
                    __m256 bv[NV];                                                                                     \
                    for (int v = 0; v < NV; v++)                                                                       \
                        bv[v] = LOAD8(FULL, x + kx * dw + 8 * v, masks[(kx + 1) * NV + v]);                            \
                    for (int i = 0; i < ROWS; i++) {                                                                   \
                        __m256 av = _mm256_broadcast_ss(a + i * lda + kx);                                             \
                        for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);                \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (int i = 0; i < ROWS; i++)                                                                                 \
            for (int v = 0; v < NV; v++) STORE8(FULL, out + i * ocs + 8 * v, masks[v], acc[i][v]);                   \
    }

#define TILES8(KIND, FULL)                                                                                             \
    KIND(1, 1, FULL) KIND(2, 1, FULL) KIND(3, 1, FULL) KIND(4, 1, FULL) KIND(5, 1, FULL) KIND(6, 1, FULL)              \
    KIND(1, 2, FULL) KIND(2, 2, FULL) KIND(3, 2, FULL) KIND(4, 2, FULL) KIND(5, 2, FULL) KIND(6, 2, FULL)
TILES8(GEMM_TILE8, 0)
TILES8(GEMM_TILE8, 1)
TILES8(CONV_TILE8, 0)
TILES8(CONV_TILE8, 1)

typedef void (*gemm8_tile)(size_t, const float *, size_t, const float *, size_t, float *, size_t, int, __m256i);
typedef void (*conv8_tile)(const float *, size_t, size_t, size_t, size_t, const float *const *, size_t, size_t,
                           const __m256i *, float *, size_t, int);

// [full][vectors - 1][rows - 1]
#define TABLE8(PREFIX)                                                                                                 \
    {{{PREFIX##0_1_1, PREFIX##0_2_1, PREFIX##0_3_1, PREFIX##0_4_1, PREFIX##0_5_1, PREFIX##0_6_1},                      \
      {PREFIX##0_1_2, PREFIX##0_2_2, PREFIX##0_3_2, PREFIX##0_4_2, PREFIX##0_5_2, PREFIX##0_6_2}},                     \
     {{PREFIX##1_1_1, PREFIX##1_2_1, PREFIX##1_3_1, PREFIX##1_4_1, PREFIX##1_5_1, PREFIX##1_6_1},                      \
      {PREFIX##1_1_2, PREFIX##1_2_2, PREFIX##1_3_2, PREFIX##1_4_2, PREFIX##1_5_2, PREFIX##1_6_2}}}
static const gemm8_tile gemm8_tiles[2][NR8][MR] = TABLE8(gemm8_tile_);
static const conv8_tile conv8_tiles[2][NR8][MR] = TABLE8(conv8_tile_);

// The tiles of one strip of `columns` (at most 64) columns of c: per block of six rows of a, the strip's tiles
// of sixteen columns (the block's words of a stay in L1). Column group g (columns 16 g on) of b starts at
// b + g * group, its rows ldb apart.
__attribute__((target("avx2"))) static void strip8(size_t m, size_t columns, size_t kc, const float *a, size_t lda,
                                                    const float *b, size_t ldb, size_t group, float *c, size_t ldc,
                                                    int onto) {
    for (size_t m0 = 0; m0 < m; m0 += MR) {
        size_t rows = m - m0 < MR ? m - m0 : MR;
        for (size_t j = 0; j < columns; j += 8 * NR8) {
            size_t span = columns - j < 8 * NR8 ? columns - j : 8 * NR8, nv = (span + 7) / 8;
            gemm8_tiles[span == 8 * nv][nv - 1][rows - 1](kc, a + m0 * lda, lda, b + j / 16 * group, ldb,
                                                         c + m0 * ldc + j, ldc, onto,
                                                         first_lanes8((long)(span - 8 * (nv - 1))));
        }
    }
}

// Packs rows [0, kc) of a strip of `columns` (at most 64) columns of b (row p at b + p * ldb) into
// micro-panels of sixteen columns: micro-panel g at out + g * kc * 16, its row p sixteen words at + p * 16
// (lanes past the strip's last column masked off, read as 0), so that a tile streams its kc x 16 words of b
// from one contiguous block instead of one row of b every k step.
__attribute__((target("avx2"))) static void pack_strip8(size_t kc, size_t columns, const float *b, size_t ldb,
                                                         float *out) {
    size_t groups = (columns + 15) / 16;
    for (size_t g = 0; g < groups; g++) {
        size_t first = 16 * g, n = columns - first < 16 ? columns - first : 16;
        const float *src = b + first;
        float *dst = out + g * kc * 16;
        if (n == 16) {
            for (size_t p = 0; p < kc; p++, src += ldb, dst += 16) {
                _mm256_store_ps(dst, _mm256_loadu_ps(src));
                _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
            }
        } else {
            const __m256i low = first_lanes8((long)n), high = first_lanes8((long)n - 8);
            for (size_t p = 0; p < kc; p++, src += ldb, dst += 16) {
                _mm256_store_ps(dst, _mm256_maskload_ps(src, low));
                _mm256_store_ps(dst + 8, _mm256_maskload_ps(src + 8, high));
            }
        }
    }
}

// Each thread's buffer for pack_strip8's micro-panels (KC x 64 words, 64-byte aligned), allocated on its
// first product and kept: the executor's products run on the same few threads.
static _Thread_local float *packed_strip;

// Passes over k of depth KC; per pass, strips of 64 columns of b packed into micro-panels (KC x 64 words stay
// in L2), blocks of six rows of a, and in each block the strip's tiles of sixteen columns (the block's KC x 6
// words of a stay in L1). The packing moves words only: each sum is the same chain of fused multiply-adds.
__attribute__((target("avx2"))) static void sgemm8(size_t m, size_t n, size_t k, const float *a, size_t lda,
                                                    const float *b, size_t ldb, float *c, size_t ldc, int accumulate) {
    if (m == 0 || n == 0) return;
    // b is packed where its rows lie more than 128 words apart, or not on 32-byte boundaries (half of a tile's
    // eight-word loads then span two cache lines), and more than one block of rows of a reads it. One core,
    // m x n x k (b's leading dimension n unless given), best of 1 to 2 s, GFLOP/s unpacked -> packed:
    // 512 x 196 x 1024 77 -> 90, 1024 x 196 x 256 87 -> 95, 64 x 3136 x 256 90 -> 93, 128 x 784 x 512
    // 89-93 -> 94, 2048 x 49 x 512 67 -> 79.5, 512 x 49 x 4608 62-63 -> 72-74, 128 x 100 x 576 80-83 -> 87.
    // Rows 32-byte aligned and close together lost to it: 64 x 56 x 256 93 -> 88, 128 x 56 x 256 91 -> 90,
    // 64 to 512 x 64 x 384 (a panel's rows) 100 -> 95-99, 128 x 64 x 384 with rows 128 apart 99 -> 96.
    const int packs = (ldb > 128 || ldb % 8 != 0 || (size_t)b % 32 != 0) && m > MR;
    float *packed = packed_strip;
    if (packs && !packed) {
        packed = packed_strip = aligned_alloc(64, 4 * KC * 64);
        if (!packed) abort();
    }
    for (size_t k0 = 0; k0 == 0 || k0 < k; k0 += KC) {
        size_t kc = k - k0 < KC ? k - k0 : KC;
        int onto = accumulate || k0 > 0;
        for (size_t n0 = 0; n0 < n; n0 += 64) {
            size_t strip = n - n0 < 64 ? n - n0 : 64;
            if (packs) {
                pack_strip8(kc, strip, b + k0 * ldb + n0, ldb, packed);
                strip8(m, strip, kc, a + k0, lda, packed, 16, 16 * kc, c + n0, ldc, onto);
            } else {
                strip8(m, strip, kc, a + k0, lda, b + k0 * ldb + n0, ldb, 16, c + n0, ldc, onto);
            }
        }
    }
}

// dfc_conv_row with eight-lane tiles: per chunk of 64 columns, the tap masks of its tiles of sixteen, then per
// block of six channels every tile of the chunk (the block's weights stay in L1).
__attribute__((target("avx2"))) static void conv_row8(size_t m, size_t width, const float *w, size_t lda, size_t cin,
                                                      size_t kh, size_t kw, const float *const *rows, size_t cs,
                                                      size_t dw, const size_t *lo, const size_t *hi, float *out,
                                                      size_t ocs, int accumulate) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i masks[4][NR8 * 63];
    int full[4];
    const float *shifted[4][64];
    if (m == 0 || width == 0 || kw > 62 || kh > 64) return;
    for (size_t n0 = 0; n0 < width; n0 += 64) {
        size_t tiles = ((width - n0 < 64 ? width - n0 : 64) + 15) / 16;
        for (size_t t = 0; t < tiles; t++) {
            size_t first = n0 + 16 * t, columns = width - first < 16 ? width - first : 16, nv = (columns + 7) / 8;
            full[t] = columns == 8 * nv;
            for (size_t v = 0; v < nv; v++) {
                // Lanes of columns first + 8 v + lane inside [lo, hi) and inside the row.
                long start = (long)(first + 8 * v);
                __m256i column = _mm256_add_epi32(_mm256_set1_epi32((int)start), lane);
                masks[t][v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), column);
                for (size_t kx = 0; kx < kw; kx++) {
                    __m256i inside = _mm256_and_si256(
                        _mm256_cmpgt_epi32(column, _mm256_set1_epi32((int)lo[kx] - 1)),
                        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi[kx]), column));
                    masks[t][(kx + 1) * nv + v] = _mm256_and_si256(masks[t][v], inside);
                    if (!_mm256_testc_si256(masks[t][(kx + 1) * nv + v], _mm256_set1_epi32(-1))) full[t] = 0;
                }
            }
            for (size_t ky = 0; ky < kh; ky++) shifted[t][ky] = rows[ky] ? rows[ky] + first : 0;
        }
        for (size_t m0 = 0; m0 < m; m0 += MR) {
            size_t r = m - m0 < MR ? m - m0 : MR;
            for (size_t t = 0; t < tiles; t++) {
                size_t first = n0 + 16 * t, columns = width - first < 16 ? width - first : 16;
                conv8_tiles[full[t]][(columns + 7) / 8 - 1][r - 1](w + m0 * lda, lda, cin, kh, kw, shifted[t], cs, dw,
                                                                  masks[t], out + m0 * ocs + first, ocs, accumulate);
            }
        }
    }
}

FINISH_ROWS(finish_rows_avx2, __attribute__((target("avx2"))))

// dfc_conv_product_run's strips: 64 columns, as sgemm8's; the panel is KC x PANEL words and a pad of 16, the sums
// rows x PANEL. The panel's rows are 256 bytes apart, so a tile's sixteen columns of it are a stream that the
// prefetcher follows: unlike sgemm8's b, packing them into micro-panels did not pay (64 to 512 rows by 64 columns,
// one core: 95 to 99 GFLOP/s with the packing against 100 to 101 without).
#define PANEL 64

size_t dfc_conv_product_work(size_t rows) { return KC * PANEL + 16 + rows * PANEL + 16; }

// Panel columns [offset, offset + count) are output row oh's columns [ow, ow + count).
typedef struct {
    size_t offset, oh, ow, count;
} strip_segment;

// The segments of a strip of `count` output columns from column j0 (at most PANEL / width + 2); returns how many.
static size_t strip_segments(size_t j0, size_t count, size_t width, strip_segment *out) {
    size_t n = 0;
    for (size_t j = j0, end = j0 + count; j < end; n++) {
        size_t oh = j / width, ow = j % width, part = end - j < width - ow ? end - j : width - ow;
        out[n] = (strip_segment){j - j0, oh, ow, part};
        j += part;
    }
    return n;
}

// Rows [k0, k0 + kc) of the tap matrix over a strip's columns into the panel (PANEL words a row): its cells
// (dfc_gather_taps' values) gathered segment by segment, with column strides 1 and 2 eight cells a masked
// load (cells outside the window are masked off, so read as 0).
// With `narrow` (column stride 1 and output rows at most eight wide), segments of whole output rows take a
// faster path; a constant in each caller, so that the general path compiles as it would alone (with the other
// path in, it ran 4 to 7% slower on rows 14 to 56 wide).
__attribute__((target("avx2"), always_inline)) static inline void gather_panel_of(const dfc_taps *t, size_t k0,
                                                                                 size_t kc,
                                                                                 const strip_segment *segments,
                                                                                 size_t count, float *panel,
                                                                                 const int narrow) {
    const size_t kh = t->kernel_h, kw = t->kernel_w, sw = t->stride_w;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    size_t ci = k0 / (kh * kw), ky = k0 / kw % kh, kx = k0 % kw;
    // Segments of whole output rows (most of them where rows are narrow: 7 wide, nine to a strip) take the
    // row's vector as tap kx reads it, worked out once per row of taps: a plain load where the window holds
    // all its lanes, else a masked one, or zeros (a row of taps outside the window). The same cells as the
    // general path below, in fewer instructions per segment.
    const size_t width = t->width;
    for (size_t q = 0; q < kc; q++) {
        float *out = panel + q * PANEL;
        const long lo = (long)t->lo[kx], hi = (long)t->hi[kx];
        const float *plane = t->input + ci * t->channel_stride + kx * t->dilation_w;
        __m256i row_mask = _mm256_setzero_si256();
        int row_plain = 0;
        if (narrow) {
            const long to = hi < (long)width ? hi : (long)width;
            row_mask = _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)lo - 1)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)to), lane));
            row_plain = lo <= 0 && 8 <= to;
        }
        for (size_t s = 0; s < count; s++) {
            const strip_segment g = segments[s];
            size_t ih = g.oh * t->stride_h + ky * t->dilation_h;
            long ty = t->origin_y + (long)ih;
            float *o = out + g.offset;
            const float *src = plane + ih * t->row_stride;
            if (narrow && g.ow == 0 && g.count == width) {
                // A run of whole rows from this one: one output row after another, the input rows stride_h
                // apart. Whole vectors, as below: lanes past a row lie in the next segment or the pad.
                size_t last = s;
                while (last + 1 < count && segments[last + 1].ow == 0 && segments[last + 1].count == width) last++;
                const size_t step = t->stride_h * t->row_stride;
                for (; s <= last; s++, ty += (long)t->stride_h, src += step, o += width) {
                    if (ty < 0 || ty >= t->extent_h) {
                        _mm256_storeu_ps(o, _mm256_setzero_ps());
                    } else {
                        __m256 x = row_plain ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, row_mask);
                        _mm256_storeu_ps(o, x);
                    }
                }
                s = last;
                continue;
            }
            // Lanes of output columns ow + j + lane inside [lo, hi) and the segment.
            long end = (long)(g.ow + g.count), from = lo - (long)g.ow, to = (hi < end ? hi : end) - (long)g.ow;
            if (ty < 0 || ty >= t->extent_h) from = 0, to = 0;
            if (sw == 1) {
                size_t j = 0;
                // Whole vectors inside the window first, plain loads (a masked load costs more on AMD).
                if (from <= 0)
                    for (; j + 8 <= (size_t)(to > 0 ? to : 0); j += 8)
                        _mm256_storeu_ps(o + j, _mm256_loadu_ps(src + g.ow + j));
                for (; j < g.count; j += 8) {
                    __m256i column = _mm256_add_epi32(_mm256_set1_epi32((int)j), lane);
                    __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(column, _mm256_set1_epi32((int)from - 1)),
                                                      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)to), column));
                    // Whole vectors: the lanes past the segment (zeros) lie in the next segment or the next row,
                    // written after this one, or in the pad after the panel; AMD's masked stores are slow.
                    _mm256_storeu_ps(o + j, _mm256_maskload_ps(src + g.ow + j, inside));
                }
            } else if (sw == 2) {
                // The even words of two masked loads (odd words masked off too: they may lie past the row).
                const __m256i low = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
                const __m256i high = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
                const __m256i even = _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0);
                const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
                for (size_t j = 0; j < g.count; j += 8) {
                    __m256i column = _mm256_add_epi32(_mm256_set1_epi32((int)j), lane);
                    __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(column, _mm256_set1_epi32((int)from - 1)),
                                                      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)to), column));
                    const float *x = src + 2 * (g.ow + j);
                    __m256 a = _mm256_maskload_ps(x, _mm256_and_si256(_mm256_permutevar8x32_epi32(inside, low), even));
                    __m256 b =
                        _mm256_maskload_ps(x + 8, _mm256_and_si256(_mm256_permutevar8x32_epi32(inside, high), even));
                    a = _mm256_permutevar8x32_ps(a, pick), b = _mm256_permutevar8x32_ps(b, pick);
                    _mm256_storeu_ps(o + j, _mm256_blend_ps(a, b, 0xF0));
                }
            } else {
                for (size_t j = 0; j < g.count; j++)
                    o[j] = (long)j >= from && (long)j < to ? src[(g.ow + j) * sw] : 0.0f;
            }
        }
        if (++kx == kw) {
            kx = 0;
            if (++ky == kh) ky = 0, ci++;
        }
    }
}

__attribute__((target("avx2"), noinline)) static void gather_panel_narrow(const dfc_taps *t, size_t k0, size_t kc,
                                                                          const strip_segment *segments, size_t count,
                                                                          float *panel) {
    gather_panel_of(t, k0, kc, segments, count, panel, 1);
}

__attribute__((target("avx2"))) static void gather_panel(const dfc_taps *t, size_t k0, size_t kc,
                                                          const strip_segment *segments, size_t count, float *panel) {
    if (t->stride_w == 1 && t->width <= 8)
        gather_panel_narrow(t, k0, kc, segments, count, panel);
    else
        gather_panel_of(t, k0, kc, segments, count, panel, 0);
}

// A strip's words in dfc_conv_gather_strip's layout: k rows of PANEL words, and a pad for the vectors that
// gather_panel writes past the last row's columns.
static size_t strip_words(size_t k) { return k * PANEL + 16; }

// dfc_conv_product_run's loops, once it has checked that they run. `panels`: the tap matrix that
// dfc_conv_gather_strip gathered (each piece of columns then stays inside one of its strips), or NULL to gather
// each pass over k into `work`. Either way the same passes over k and the same tiles, so the same sums.
__attribute__((target("avx2"))) static void conv_product8(const dfc_conv_product *p, size_t row0, size_t row1,
                                                           size_t col0, size_t col1, const float *panels,
                                                           float *work) {
    const dfc_epilogue *e = &p->e;
    size_t rows = row1 - row0, k = p->k;
    float *panel = (float *)(((size_t)work + 63) & ~(size_t)63), *sums = panel + KC * PANEL + 16;
    for (size_t n0 = col0; n0 < col1;) {
        size_t end = panels ? (n0 / PANEL + 1) * PANEL : n0 + PANEL;
        if (end > col1) end = col1;
        size_t columns = end - n0;
        const float *kept = panels ? panels + n0 / PANEL * strip_words(k) + n0 % PANEL : NULL;
        strip_segment segments[PANEL + 2];
        size_t count = kept ? 0 : strip_segments(n0, columns, p->taps->width, segments);
        if (p->accumulate)
            for (size_t i = 0; i < rows; i++) memcpy(sums + i * PANEL, p->c + (row0 + i) * p->ldc + n0, 4 * columns);
        for (size_t k0 = 0; k0 == 0 || k0 < k; k0 += KC) {
            size_t kc = k - k0 < KC ? k - k0 : KC;
            if (!kept) gather_panel(p->taps, k0, kc, segments, count, panel);
            int onto = p->accumulate || k0 > 0;
            strip8(rows, columns, kc, p->weights + row0 * p->lda + k0, p->lda, kept ? kept + k0 * PANEL : panel, PANEL,
                   16, sums, PANEL, onto);
        }
        dfc_epilogue part = *e;
        if (e->bias) part.bias = e->bias + row0;
        finish_rows_avx2(sums, PANEL, rows, n0, columns, p->c + row0 * p->ldc, p->ldc, &part);
        n0 = end;
    }
}

int dfc_conv_product_run(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1, float *work) {
    if (dfc_kernels_avx512() || !dfc_kernels_vectorized() || (p->accumulate && p->e.width)) return 0;
    if (row1 > row0 && col1 > col0) conv_product8(p, row0, row1, col0, col1, NULL, work);
    return 1;
}

size_t dfc_conv_panels_words(size_t n, size_t k) { return (n + PANEL - 1) / PANEL * strip_words(k); }

__attribute__((target("avx2"))) void dfc_conv_gather_strip(const dfc_conv_product *p, size_t strip, float *panels) {
    size_t n0 = strip * PANEL;
    if (n0 >= p->n || p->k == 0) return;
    size_t columns = p->n - n0 < PANEL ? p->n - n0 : PANEL;
    strip_segment segments[PANEL + 2];
    size_t count = strip_segments(n0, columns, p->taps->width, segments);
    gather_panel(p->taps, 0, p->k, segments, count, panels + strip * strip_words(p->k));
}

int dfc_conv_product_run_gathered(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1,
                                  const float *panels, float *work) {
    if (dfc_kernels_avx512() || !dfc_kernels_vectorized() || (p->accumulate && p->e.width)) return 0;
    if (row1 > row0 && col1 > col0) conv_product8(p, row0, row1, col0, col1, panels, work);
    return 1;
}

void dfc_finish_product(const float *sums, size_t ld, size_t rows, size_t col0, size_t columns, float *c, size_t ldc,
                        const dfc_epilogue *e) {
    if (dfc_kernels_vectorized())
        finish_rows_avx2(sums, ld, rows, col0, columns, c, ldc, e);
    else
        finish_rows(sums, ld, rows, col0, columns, c, ldc, e);
}
#else
int dfc_gemm_available(void) { return 0; }
int dfc_gemm_finishing(void) { return 0; }
size_t dfc_sgemm_depth(void) { return 0; }
int dfc_sgemm_finished(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                       float *c, size_t ldc, int accumulate, const dfc_epilogue *e) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)accumulate, (void)e;
    return 0;
}
void dfc_sgemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
               size_t ldc, int accumulate) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)accumulate;
}
size_t dfc_conv_product_work(size_t rows) { return rows; }
void dfc_finish_product(const float *sums, size_t ld, size_t rows, size_t col0, size_t columns, float *c, size_t ldc,
                        const dfc_epilogue *e) {
    finish_rows(sums, ld, rows, col0, columns, c, ldc, e);
}
int dfc_conv_product_run(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1, float *work) {
    (void)p, (void)row0, (void)row1, (void)col0, (void)col1, (void)work;
    return 0;
}
size_t dfc_conv_panels_words(size_t n, size_t k) { return n + k; }
void dfc_conv_gather_strip(const dfc_conv_product *p, size_t strip, float *panels) {
    (void)p, (void)strip, (void)panels;
}
int dfc_conv_product_run_gathered(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1,
                                  const float *panels, float *work) {
    (void)p, (void)row0, (void)row1, (void)col0, (void)col1, (void)panels, (void)work;
    return 0;
}
void dfc_conv_row(size_t m, size_t width, const float *w, size_t lda, size_t cin, size_t kh, size_t kw,
                  const float *const *rows, size_t cs, size_t dw, const size_t *lo, const size_t *hi, float *out,
                  size_t ocs, int accumulate) {
    (void)m, (void)width, (void)w, (void)lda, (void)cin, (void)kh, (void)kw, (void)rows, (void)cs, (void)dw, (void)lo,
        (void)hi, (void)out, (void)ocs, (void)accumulate;
}
#endif
