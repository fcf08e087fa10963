#ifndef DFC_KERNELS_H
#define DFC_KERNELS_H

#include <stddef.h>

// Row kernels of the executor's depthwise convolution and pooling, with AVX2
// and FMA where the CPU has them.
//
// Why C: Swift compiles for the x86-64 baseline (SSE2: four lanes, no fused
// multiply-add), and it cannot enable wider instructions for one function.
// C can (a target attribute), and each function below asks the CPU once
// (cpuid) whether that path may run; otherwise it runs the portable loop.
// OpenBLAS covers the matrix products; these are the loops it has no call for.

// o[j] += w * x[j * stride] for j < n (fused multiply-add on the AVX2 path).
void dfc_axpy_strided(float *o, const float *x, size_t stride, float w, size_t n);

// o[j] = max(o[j], x[j * stride]) for j < n, NaN in x ignored as in Swift's max.
void dfc_max_strided(float *o, const float *x, size_t stride, size_t n);

// o[j] += x[j * stride] for j < n.
void dfc_add_strided(float *o, const float *x, size_t stride, size_t n);

// One output row of a depthwise convolution, every tap at once: o[j] for j < n
// becomes (accumulate ? o[j] : 0) plus, for each tap t in order, weights[t] *
// rows[t][(j - lo[t]) * stride] where lo[t] <= j < hi[t] (rows[t] points at the
// input word of output column lo[t]). Each tap is one fused multiply-add, as
// dfc_axpy_strided tap by tap (which it is without AVX-512); with AVX-512 the
// row stays in registers, sixteen columns at a time, instead of being read and
// written once a tap.
void dfc_depthwise_row(float *o, size_t n, int accumulate, const float *const *rows, const float *weights,
                       const size_t *lo, const size_t *hi, size_t taps, size_t stride);

// A whole depthwise convolution (one input channel per group) over output channels [first, end): the
// geometry of a CONV instruction on SRAM words (docs/isa.md's loops; a tile's rows and channels at
// any stride). Each output is, in order: its old value (accumulate) or 0, then for each tap (ky, kx)
// whose input lies inside the window one fused multiply-add, then plus the bias, then ReLU (v < 0 ? 0
// : v) or Clip (v' = alpha >= v ? alpha : v, then beta < v' ? beta : v'): the operations, and so the
// bits, of dfc_depthwise_row followed by the executor's bias and activation. Sixteen output columns
// a vector, the window's edges as per-tap lane masks computed once per call, no list of taps.
typedef struct {
    const float *input;  // channel 0, row 0, column 0 of the input tile
    size_t input_channel_stride, input_row_stride;
    float *output;  // channel 0, row 0, column 0 of the output tile
    size_t output_channel_stride, output_row_stride;
    size_t height, width;  // of the output
    size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    long origin_y, origin_x, extent_h, extent_w;  // the window: tile cell (y, x) is window cell (origin_y + y, ...)
    size_t multiplier;  // output channels per input channel
    const float *weights;  // [output channel][kernel_h][kernel_w]
    const float *bias;  // one per output channel, or NULL
    int accumulate;
    int activation;  // 0 none (the caller applies any other kind), 1 ReLU, 2 Clip(alpha, beta)
    float alpha, beta;
} dfc_depthwise;

// 1 when the convolution ran (AVX-512, kernel_w <= 64 and rows of at most 1024 columns; or AVX2 and FMA,
// column stride 1 or 2, kernel_w <= 16 and rows of at most 256 columns); 0 when it did not and nothing was
// written: the caller runs its own loops.
int dfc_depthwise_conv(const dfc_depthwise *d, size_t first, size_t end);

// A whole POOL instruction over channels [first, end), its geometry as dfc_depthwise's plus the padding
// that average pooling counts: each output is -inf (max) or 0, then for each tap (ky, kx) whose input lies
// inside the window, in order, the maximum with (NaN ignored) or the sum with that input; then a maximum
// with no valid tap is 0, and an average is divided by the count of its taps inside the window grown by
// the padding (0 when none): the operations, and so the bits, of the executor's rows through
// dfc_pool_row. Returns 0 (nothing written) where it does not run: as dfc_depthwise_conv.
typedef struct {
    const float *input;
    size_t input_channel_stride, input_row_stride;
    float *output;
    size_t output_channel_stride, output_row_stride;
    size_t height, width, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    long origin_y, origin_x, extent_h, extent_w;
    long pad_top, pad_left, pad_bottom, pad_right;
    int max;
} dfc_pool;

int dfc_pool_run(const dfc_pool *p, size_t first, size_t end);

// One output row of max (max != 0) or average pooling, every tap at once: o[j] for j < n becomes -inf
// (max) or 0, then for each tap t in order, where lo[t] <= j < hi[t], the maximum with (NaN ignored, as
// dfc_max_strided) or the sum with rows[t][(j - lo[t]) * stride]: what dfc_max_strided and
// dfc_add_strided give tap by tap (which it is without AVX-512), with the row kept in registers.
void dfc_pool_row(float *o, size_t n, int max, const float *const *rows, const size_t *lo, const size_t *hi,
                  size_t taps, size_t stride);

// o[j] = x[j * stride] for j < n; x need not be word-aligned (the constants of a mapped program).
// Stride 2 with AVX-512 takes the even words of pairs of vectors.
void dfc_copy_strided(float *o, const void *x, size_t stride, size_t n);

// Rows [first, end) of input channels of a convolution's tap matrix: row (ci, ky, kx), n = height * width
// words from x + ((ci * kernel_h + ky) * kernel_w + kx) * n, column (oh, ow) the input cell that tap reads
// for that output, input[ci * channel_stride + ih * row_stride + kx * dilation_w + ow * stride_w] with ih =
// oh * stride_h + ky * dilation_h, or 0 where the cell lies outside the window (its row: origin_y + ih
// outside [0, extent_h); its column: ow outside [lo[kx], hi[kx])). Why C: rows are a few dozen words, and
// the Swift loop's per-row cost was most of a 3x3 CONV's gather (ResNet-18, one core).
typedef struct {
    const float *input;
    size_t channel_stride, row_stride;
    size_t height, width;  // of the output
    size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    long origin_y, extent_h;
    const size_t *lo, *hi;  // per kernel column
} dfc_taps;

void dfc_gather_taps(float *x, const dfc_taps *t, size_t first, size_t end);

// 1 when the row functions take their AVX2 path on this CPU, else 0.
int dfc_kernels_vectorized(void);

// 1 when the CPU has AVX-512F and the OS saves its registers, else 0.
int dfc_kernels_avx512(void);

#endif
