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

// 1 when the functions above take their AVX2 path on this CPU, else 0.
int dfc_kernels_vectorized(void);

#endif
