#ifndef DFC_GEMM_H
#define DFC_GEMM_H

#include <stddef.h>

#include "dfc_kernels.h"

// The executor's matrix products with AVX-512, or AVX2 and FMA (asked of the CPU at run time):
// a tile of six rows by up to 64 columns of the result (16 with AVX2) lives in 24 registers (12) while the
// products over k are added into it, in order of k, from a unpacked and b unpacked (AVX-512) or, with AVX2,
// copied a strip at a time into micro-panels of sixteen columns where its rows lie far apart or off cache-line
// boundaries. Why not only OpenBLAS: the executor's products are small (a band of a convolution: 32 to 512
// rows, 28 to 300 columns), where OpenBLAS spends much of its time packing its operands or in its small-matrix
// path, and a convolution that reads its input rows in place needs no tap matrix at all.

// 1 when dfc_sgemm and dfc_conv_row run: the CPU and the OS support AVX-512F, or AVX2 and FMA (eight-lane
// tiles, the same operations in the same order), else 0.
int dfc_gemm_available(void);

// 1 when dfc_sgemm_finished runs: AVX-512F, else 0 (it writes nothing).
int dfc_gemm_finishing(void);

// c[i][j] = (accumulate ? c[i][j] : 0) + sum over p < k of a[i * lda + p] * b[p * ldb + j],
// for i < m and j < n; the products of each c[i][j] are added in order of p, onto c[i][j] when
// accumulating. Row-major operands with leading dimensions; a may not overlap c.
void dfc_sgemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
               size_t ldc, int accumulate);

// What dfc_sgemm_finished does to each result before storing it, in this order:
// add bias[i] to row i's sums (when bias is not NULL); with `onto`, add the value already at the result's
// place (old + (sum + bias)); then ReLU (activation 1: v < 0 ? 0 : v) or Clip (2: v = alpha >= v ? alpha
// : v, then beta < v ? beta : v), the executor's own expressions, so the bits of a pass over the stored
// sums. Row i's column j is stored at c + i * ldc + (j / width) * row_stride + j % width (an output tile
// whose rows are not adjacent), or at c + i * ldc + j when width is 0.
typedef struct {
    const float *bias;
    int onto, activation;
    float alpha, beta;
    size_t width, row_stride;
} dfc_epilogue;

// dfc_sgemm with `e` applied to every result as it is stored (after the last pass over k). With a width
// (`e->width` > 0), accumulate must be 0 (`e->onto` adds instead), and the product runs in one pass over
// all of k (the same sums); returns 0 and writes nothing when accumulating with a width, else 1.
int dfc_sgemm_finished(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                       float *c, size_t ldc, int accumulate, const dfc_epilogue *e);

// `e` applied to rows [0, rows) of sums (row i at sums + i * ld, its columns [col0, col0 + columns) from
// sums + i * ld) and stored into row i of c (c + i * ldc, columns dense or placed as dfc_epilogue says):
// the finishing of dfc_sgemm_finished as a pass of its own over sums already computed.
void dfc_finish_product(const float *sums, size_t ld, size_t rows, size_t col0, size_t columns, float *c, size_t ldc,
                        const dfc_epilogue *e);

// The depth of one pass over k in dfc_sgemm.
size_t dfc_sgemm_depth(void);

// One output row of a convolution with column stride 1, for m output channels: for co < m and
// ow < width,
//   out[co * ocs + ow] = (accumulate ? out[co * ocs + ow] : 0)
//       + sum over (ci < cin, ky < kh, kx < kw) in that order, where rows[ky] is not NULL and
//         lo[kx] <= ow < hi[kx], of w[co * lda + (ci * kh + ky) * kw + kx] * rows[ky][ci * cs + kx * dw + ow].
// rows[ky] points at the input row kernel row ky reads (channel 0, the column output column 0 reads
// with kx = 0), NULL when that row lies outside the window (its taps add nothing); [lo[kx], hi[kx])
// are the output columns whose input column for tap kx lies inside the window.
void dfc_conv_row(size_t m, size_t width, const float *w, size_t lda, size_t cin, size_t kh, size_t kw,
                  const float *const *rows, size_t cs, size_t dw, const size_t *lo, const size_t *hi, float *out,
                  size_t ocs, int accumulate);

// A convolution's matrix product with the tap matrix packed a panel at a time, for CPUs with AVX2 and FMA but
// not AVX-512: c = weights (m x k) times the taps (k x n), by output columns in strips of 64, and per strip
// in passes of dfc_sgemm_depth() rows of the taps, each pass's panel of taps gathered into the caller's
// work buffer and multiplied there while it is in this core's cache.
// Why: gathering the whole tap matrix first and multiplying it after leaves it in the last-level cache, and
// on two cores half of it in the other core's; a 3x3 CONV of ResNet-18 ran at about half the speed of the
// same product on a tap matrix already in cache. Each sum is the chain of fused multiply-adds of dfc_sgemm
// in the same order (from 0, or from c's value with `accumulate`), then `e` as dfc_sgemm_finished applies
// it (bias, onto, ReLU or Clip, columns placed in rows of `e.width`); so the bits of dfc_sgemm and a pass
// of bias and activation.
typedef struct {
    size_t m, n, k;
    const float *weights;  // m x k, leading dimension lda
    size_t lda;
    const dfc_taps *taps;  // the tap matrix's source (k = channels x kernel_h x kernel_w)
    float *c;  // row i at c + i * ldc, its columns dense or placed by e.width and e.row_stride
    size_t ldc;
    int accumulate;  // the chains start from c's values (dense c only; placed results add with e.onto)
    dfc_epilogue e;  // e.bias from row 0 of this product
} dfc_conv_product;

// Words of work buffer one call of dfc_conv_product_run with `rows` rows needs (64-byte aligned).
size_t dfc_conv_product_work(size_t rows);

// Rows [row0, row1) and columns [col0, col1) of the product (col0 a multiple of 16 for full vectors), with
// `work` the calling core's buffer. Returns 0 and writes nothing where it does not run: without AVX2 and
// FMA, or with AVX-512 (dfc_sgemm's tiles run there), or with `accumulate` and a placement.
int dfc_conv_product_run(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1, float *work);

// The tap matrix of a product kept for the products after it that read the same taps (the output channels of
// one layer split over several CONVs read the same input): strips of PANEL = 64 columns, each all k rows.
// Words for an n x k tap matrix (the buffer 64-byte aligned).
size_t dfc_conv_panels_words(size_t n, size_t k);

// Gathers strip `strip` (columns 64 strip on) of p's tap matrix into `panels` (dfc_conv_panels_words words);
// strips are disjoint, so the cores may gather different ones at once.
void dfc_conv_gather_strip(const dfc_conv_product *p, size_t strip, float *panels);

// dfc_conv_product_run on the tap matrix in `panels` (every strip gathered for p's taps): the same sums,
// bit for bit. Returns 0 and writes nothing where dfc_conv_product_run does not run.
int dfc_conv_product_run_gathered(const dfc_conv_product *p, size_t row0, size_t row1, size_t col0, size_t col1,
                                  const float *panels, float *work);

#endif
