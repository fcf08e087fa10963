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

// One output row of max (max != 0) or average pooling, every tap at once: o[j] for j < n becomes -inf
// (max) or 0, then for each tap t in order, where lo[t] <= j < hi[t], the maximum with (NaN ignored, as
// dfc_max_strided) or the sum with rows[t][(j - lo[t]) * stride]: what dfc_max_strided and
// dfc_add_strided give tap by tap (which it is without AVX-512), with the row kept in registers.
void dfc_pool_row(float *o, size_t n, int max, const float *const *rows, const size_t *lo, const size_t *hi,
                  size_t taps, size_t stride);

// o[j] = x[j * stride] for j < n; x need not be word-aligned (the constants of a mapped program).
// Stride 2 with AVX-512 takes the even words of pairs of vectors.
void dfc_copy_strided(float *o, const void *x, size_t stride, size_t n);

// 1 when the row functions take their AVX2 path on this CPU, else 0.
int dfc_kernels_vectorized(void);

// 1 when the CPU has AVX-512F and the OS saves its registers, else 0.
int dfc_kernels_avx512(void);

#endif
