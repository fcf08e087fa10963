#include "dfc_kernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// AVX2 and FMA reported by cpuid, and the YMM state enabled by the OS (OSXSAVE and XCR0).
static int detect(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & bit_FMA) || !(ecx & bit_OSXSAVE) || !(ecx & bit_AVX)) return 0;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ebx & bit_AVX2) != 0;
}

// `*slot` is -1 until the first call asks the CPU; a benign race (every thread stores the same value).
static int cached(int *slot, int (*ask)(void)) {
    int a = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (a < 0) {
        a = ask();
        __atomic_store_n(slot, a, __ATOMIC_RELAXED);
    }
    return a;
}

static int available = -1;

int dfc_kernels_vectorized(void) { return cached(&available, detect); }

// Eight values x[j * stride .. ] for stride 1 or 2 (the even lanes of sixteen).
__attribute__((target("avx2"))) static inline __m256 load_strided(const float *x, size_t stride) {
    if (stride == 1) return _mm256_loadu_ps(x);
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x), even);
    __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 8), even);
    return _mm256_blend_ps(lo, hi, 0xF0);
}

// Lanes below `count` (0...8) set: the mask of a partial vector.
__attribute__((target("avx2"))) static inline __m256i lanes_below(long count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), index);
}

// The last r (1...7) values x[j * stride] of a row for stride 1 or 2, with
// masked loads that touch nothing past x[(r - 1) * stride] (they do not fault
// on masked-off lanes).
__attribute__((target("avx2"))) static inline __m256 load_strided_tail(const float *x, size_t stride, size_t r) {
    if (stride == 1) return _mm256_maskload_ps(x, lanes_below((long)r));
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    long last = 2 * (long)r - 1;  // words x[0..<last] are in the row
    __m256 lo = _mm256_permutevar8x32_ps(_mm256_maskload_ps(x, lanes_below(last)), even);
    __m256 hi = _mm256_permutevar8x32_ps(_mm256_maskload_ps(x + 8, lanes_below(last - 8)), even);
    return _mm256_blend_ps(lo, hi, 0xF0);
}

// The full vectors stop where a load of sixteen would pass x[(n - 1) * stride];
// the rest (fewer than eight, or nine with stride 2) goes through masked loads and stores.
#define ROW_LOOP(op)                                                                                   \
    size_t j = 0;                                                                                      \
    for (; j + 8 <= n && (j + 8) * stride <= (n - 1) * stride + 1; j += 8) {                           \
        __m256 xv = load_strided(x + j * stride, stride), ov = _mm256_loadu_ps(o + j);                 \
        _mm256_storeu_ps(o + j, op);                                                                   \
    }                                                                                                  \
    while (j < n) {                                                                                    \
        size_t r = n - j < 8 ? n - j : 7;                                                              \
        __m256i mask = lanes_below((long)r);                                                           \
        __m256 xv = load_strided_tail(x + j * stride, stride, r), ov = _mm256_maskload_ps(o + j, mask); \
        _mm256_maskstore_ps(o + j, mask, op);                                                          \
        j += r;                                                                                        \
    }                                                                                                  \
    return j;

__attribute__((target("avx2,fma"))) static size_t axpy_avx2(float *o, const float *x, size_t stride, float w,
                                                             size_t n) {
    const __m256 wv = _mm256_set1_ps(w);
    ROW_LOOP(_mm256_fmadd_ps(wv, xv, ov))
}

__attribute__((target("avx2"))) static size_t max_avx2(float *o, const float *x, size_t stride, size_t n) {
    ROW_LOOP(_mm256_max_ps(xv, ov))
}

__attribute__((target("avx2"))) static size_t add_avx2(float *o, const float *x, size_t stride, size_t n) {
    ROW_LOOP(_mm256_add_ps(xv, ov))
}

// AVX-512F reported by cpuid, and the opmask and ZMM state enabled by the OS (XCR0 bits 1, 2, 5, 6, 7).
static int detect512(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!detect()) return 0;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ebx & bit_AVX512F) != 0 && (ebx & bit_BMI2) != 0;  // BMI2: pdep in load_lanes
}

static int available512 = -1;

int dfc_kernels_avx512(void) { return cached(&available512, detect512); }

// Lanes `valid` of x[i * stride] for i < 16: stride 1 is one masked load; stride 2 takes the even words
// of two masked loads (pdep spreads lane i's bit to word 2 i) instead of a gather; other strides gather.
// Lanes outside `valid` are 0 and load nothing.
__attribute__((target("avx512f,bmi2"))) static inline __m512 load_lanes(const float *x, size_t stride, __mmask16 valid,
                                                                         __m512i step) {
    if (stride == 1) return _mm512_maskz_loadu_ps(valid, x);
    if (stride == 2) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        __mmask16 low = (__mmask16)_pdep_u32(valid & 0xFF, 0x5555), high = (__mmask16)_pdep_u32(valid >> 8, 0x5555);
        return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(low, x), even, _mm512_maskz_loadu_ps(high, x + 16));
    }
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, step, x, 4);
}

// The lanes of `inside` whose column lies in lo <= column < hi: those a tap reads.
__attribute__((target("avx512f"))) static inline __mmask16 tap_lanes(__mmask16 inside, __m512i column, size_t lo,
                                                                      size_t hi) {
    __mmask16 valid = _mm512_mask_cmpge_epi32_mask(inside, column, _mm512_set1_epi32((int)lo));
    return _mm512_mask_cmplt_epi32_mask(valid, column, _mm512_set1_epi32((int)hi));
}

// Sixteen output columns j0.. at a time, all taps in registers; lanes outside a tap's columns (or past n)
// load nothing (masked loads do not touch them) and add nothing.
__attribute__((target("avx512f,bmi2"))) static void depthwise_row_avx512(float *o, size_t n, int accumulate,
                                                                     const float *const *rows, const float *weights,
                                                                     const size_t *lo, const size_t *hi, size_t taps,
                                                                     size_t stride) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)stride));
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        __mmask16 inside = (__mmask16)(n - j0 >= 16 ? 0xFFFF : (1u << (n - j0)) - 1);
        __m512 acc = accumulate ? _mm512_maskz_loadu_ps(inside, o + j0) : _mm512_setzero_ps();
        __m512i column = _mm512_add_epi32(lane, _mm512_set1_epi32((int)j0));
        for (size_t t = 0; t < taps; t++) {
            if (hi[t] <= j0 || lo[t] >= j0 + 16) continue;
            __mmask16 valid = tap_lanes(inside, column, lo[t], hi[t]);
            // The input word of column j0 (before the row's first valid word when j0 < lo[t]: only valid lanes load).
            const float *x = rows[t] + ((ptrdiff_t)j0 - (ptrdiff_t)lo[t]) * (ptrdiff_t)stride;
            __m512 v = load_lanes(x, stride, valid, step);
            acc = _mm512_mask3_fmadd_ps(_mm512_set1_ps(weights[t]), v, acc, valid);
        }
        _mm512_mask_storeu_ps(o + j0, inside, acc);
    }
}

// Sixteen output columns j0.. at a time, every tap's maximum or sum kept in a register; lanes outside a
// tap's columns (or past n) load nothing and keep their value.
__attribute__((target("avx512f,bmi2"))) static void pool_row_avx512(float *o, size_t n, int max, const float *const *rows,
                                                                const size_t *lo, const size_t *hi, size_t taps,
                                                                size_t stride) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)stride));
    const __m512 start = _mm512_set1_ps(max ? -__builtin_inff() : 0.0f);
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        __mmask16 inside = (__mmask16)(n - j0 >= 16 ? 0xFFFF : (1u << (n - j0)) - 1);
        __m512 acc = start;
        __m512i column = _mm512_add_epi32(lane, _mm512_set1_epi32((int)j0));
        for (size_t t = 0; t < taps; t++) {
            if (hi[t] <= j0 || lo[t] >= j0 + 16) continue;
            __mmask16 valid = tap_lanes(inside, column, lo[t], hi[t]);
            const float *x = rows[t] + ((ptrdiff_t)j0 - (ptrdiff_t)lo[t]) * (ptrdiff_t)stride;
            __m512 v = load_lanes(x, stride, valid, step);
            // max(x, o) keeps o where x is NaN, as dfc_max_strided.
            acc = max ? _mm512_mask_max_ps(acc, valid, v, acc) : _mm512_mask_add_ps(acc, valid, acc, v);
        }
        _mm512_mask_storeu_ps(o + j0, inside, acc);
    }
}

// ceil(a / b) for b > 0 and any a.
static inline long ceil_div(long a, long b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The kernel rows ky0 <= ky < ky1 (of kh, dilation dh) whose input row top + ky * dh lies inside 0..<extent.
static inline void window_rows(long top, long dh, long extent, long kh, long *ky0, long *ky1) {
    long first = ceil_div(-top, dh), end = ceil_div(extent - top, dh);
    *ky0 = first < 0 ? 0 : first;
    *ky1 = end > kh ? kh : end;
}

// The rows of a pooling window starting at input row `top` inside the padded extent: count_include_pad's
// row factor of the divisor (its columns' are `counted`).
static inline int pool_rows_counted(const dfc_pool *d, long top) {
    int rows = 0;
    for (size_t ky = 0; ky < d->kernel_h; ky++) {
        long ty = top + (long)(ky * d->dilation_h);
        rows += ty >= -d->pad_top && ty < d->extent_h + d->pad_bottom;
    }
    return rows;
}

// The input and output planes of channels ch..<ch + count.
static inline void pool_planes(const dfc_pool *d, size_t ch, int count, const float **plane, float **out) {
    for (int c = 0; c < count; c++) {
        plane[c] = d->input + (ch + c) * d->input_channel_stride;
        out[c] = d->output + (ch + c) * d->output_channel_stride;
    }
}

// The input planes, weights and output planes of output channels co..<co + count.
static inline void depthwise_planes(const dfc_depthwise *d, size_t co, int count, const float **plane,
                                    const float **w, float **out) {
    for (int c = 0; c < count; c++) {
        plane[c] = d->input + (co + c) / d->multiplier * d->input_channel_stride;
        w[c] = d->weights + (co + c) * d->kernel_h * d->kernel_w;
        out[c] = d->output + (co + c) * d->output_channel_stride;
    }
}

// dfc_depthwise_conv's loops for CB channels from `co` at once: CB independent chains of fused multiply-adds
// (one chain alone waits on each addition's latency) sharing the window's masks and kernel rows.
// masks[v * (kw + 1)] holds vector v's columns inside the row, masks[v * (kw + 1) + 1 + kx] those whose input
// for kernel column kx lies inside the window.
#define DEPTHWISE_BLOCK(CB)                                                                                            \
    __attribute__((target("avx512f,bmi2"))) static void depthwise_block_##CB(const dfc_depthwise *d, size_t co,       \
                                                                             const __mmask16 *masks, size_t nv) {      \
        const size_t kh = d->kernel_h, kw = d->kernel_w, sw = d->stride_w, dw = d->dilation_w, dh = d->dilation_h;    \
        const size_t irs = d->input_row_stride;                                                                        \
        const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);                  \
        const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw));                                     \
        const __m512 zero = _mm512_setzero_ps(), alpha = _mm512_set1_ps(d->alpha), beta = _mm512_set1_ps(d->beta);    \
        const int accumulate = d->accumulate, activation = d->activation;                                              \
        const float *plane[CB], *w[CB];                                                                                \
        float *out[CB];                                                                                                \
        __m512 bias[CB];                                                                                               \
        depthwise_planes(d, co, CB, plane, w, out);                                                                    \
        for (int c = 0; c < CB; c++) bias[c] = _mm512_set1_ps(d->bias ? d->bias[co + c] : 0.0f);                       \
        for (size_t oh = 0; oh < d->height; oh++) {                                                                    \
            /* The kernel rows whose input row lies inside the window: ky0 <= ky < ky1. */                             \
            long top = d->origin_y + (long)(oh * d->stride_h);                                                         \
            long ky0, ky1;                                                                                             \
            window_rows(top, (long)dh, d->extent_h, (long)kh, &ky0, &ky1);                                             \
            size_t row = oh * d->stride_h * irs, orow = oh * d->output_row_stride;                                     \
            for (size_t v = 0; v < nv; v++) {                                                                          \
                const __mmask16 *m = masks + v * (kw + 1);                                                             \
                __m512 acc[CB];                                                                                        \
                for (int c = 0; c < CB; c++)                                                                           \
                    acc[c] = accumulate ? _mm512_maskz_loadu_ps(m[0], out[c] + orow + 16 * v) : zero;                  \
                for (long ky = ky0; ky < ky1; ky++) {                                                                  \
                    size_t x = row + (size_t)ky * dh * irs + 16 * v * sw;                                              \
                    for (size_t kx = 0; kx < kw; kx++) {                                                               \
                        __mmask16 valid = m[1 + kx];                                                                   \
                        if (!valid) continue;                                                                          \
                        size_t tap = (size_t)ky * kw + kx;                                                             \
                        for (int c = 0; c < CB; c++) {                                                                 \
                            __m512 xv = load_lanes(plane[c] + x + kx * dw, sw, valid, step);                           \
                            acc[c] = _mm512_mask3_fmadd_ps(_mm512_set1_ps(w[c][tap]), xv, acc[c], valid);              \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
                for (int c = 0; c < CB; c++) {                                                                         \
                    __m512 a = acc[c];                                                                                 \
                    if (d->bias) a = _mm512_add_ps(a, bias[c]);                                                        \
                    if (activation == 1) {                                                                             \
                        a = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, zero, _CMP_LT_OQ), a, zero);                    \
                    } else if (activation == 2) {                                                                      \
                        a = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(alpha, a, _CMP_GE_OQ), a, alpha);                  \
                        a = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(beta, a, _CMP_LT_OQ), a, beta);                    \
                    }                                                                                                  \
                    _mm512_mask_storeu_ps(out[c] + orow + 16 * v, m[0], a);                                            \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
DEPTHWISE_BLOCK(8)
DEPTHWISE_BLOCK(4)
DEPTHWISE_BLOCK(2)
DEPTHWISE_BLOCK(1)

// The AVX2 taps of dfc_depthwise_conv, column strides 1 and 2: vector v's lanes (eight output columns) that
// kernel column kx reads, and the words of the two loads that serve them with stride 2 (the even words of
// sixteen, as load_strided_tail).
typedef struct {
    __m256i valid, low, high;
    int any;
    // In a vector's first entry (its columns inside the row): 1 when, with stride 1, every lane of the vector
    // and of each kernel column is inside, so plain loads and stores serve it and no blend is needed.
    int whole;
} tap_lanes8;

// Lanes of `bits` (bit i: lane i) as a vector mask.
__attribute__((target("avx2"))) static inline __m256i mask8(unsigned bits) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), bit), bit);
}

// Words 2 i of a run of eight for the bits i of `lanes` below 4 (from 0) or from 4 (shift 4).
static unsigned even_words(unsigned lanes, unsigned shift) {
    unsigned words = 0;
    for (unsigned i = 0; i < 4; i++)
        if (lanes >> (i + shift) & 1) words |= 1u << (2 * i);
    return words;
}

// x[i * stride] for the lanes of t (stride 1 or 2); other lanes 0, and no word outside them is touched.
__attribute__((target("avx2"))) static inline __m256 load_taps8(const float *x, size_t stride, const tap_lanes8 *t) {
    if (stride == 1) return _mm256_maskload_ps(x, t->valid);
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256 lo = _mm256_permutevar8x32_ps(_mm256_maskload_ps(x, t->low), even);
    __m256 hi = _mm256_permutevar8x32_ps(_mm256_maskload_ps(x + 8, t->high), even);
    return _mm256_blend_ps(lo, hi, 0xF0);
}

// depthwise_block's loops with eight-lane vectors; taps[v * (kw + 1)] holds vector v's columns inside the row,
// taps[v * (kw + 1) + 1 + kx] kernel column kx's. A lane a tap does not read keeps its sum (a blend), so every
// sum gets the fused multiply-adds of dfc_axpy_strided, tap by tap, and nothing else.
#define DEPTHWISE_BLOCK8(CB)                                                                                           \
    __attribute__((target("avx2,fma"))) static void depthwise_block8_##CB(const dfc_depthwise *d, size_t co,           \
                                                                          const tap_lanes8 *taps, size_t nv) {         \
        const size_t kh = d->kernel_h, kw = d->kernel_w, sw = d->stride_w, dw = d->dilation_w, dh = d->dilation_h;    \
        const size_t irs = d->input_row_stride;                                                                        \
        const __m256 zero = _mm256_setzero_ps(), alpha = _mm256_set1_ps(d->alpha), beta = _mm256_set1_ps(d->beta);    \
        const int accumulate = d->accumulate, activation = d->activation;                                              \
        const float *plane[CB], *w[CB];                                                                                \
        float *out[CB];                                                                                                \
        __m256 bias[CB];                                                                                               \
        depthwise_planes(d, co, CB, plane, w, out);                                                                    \
        for (int c = 0; c < CB; c++) bias[c] = _mm256_set1_ps(d->bias ? d->bias[co + c] : 0.0f);                       \
        for (size_t oh = 0; oh < d->height; oh++) {                                                                    \
            long top = d->origin_y + (long)(oh * d->stride_h);                                                         \
            long ky0, ky1;                                                                                             \
            window_rows(top, (long)dh, d->extent_h, (long)kh, &ky0, &ky1);                                             \
            size_t row = oh * d->stride_h * irs, orow = oh * d->output_row_stride;                                     \
            for (size_t v = 0; v < nv; v++) {                                                                          \
                const tap_lanes8 *m = taps + v * (kw + 1);                                                             \
                __m256 acc[CB];                                                                                        \
                if (m[0].whole) {                                                                                      \
                    /* The same fused multiply-adds without masks or blends (AMD's masked moves are slow). */          \
                    for (int c = 0; c < CB; c++) acc[c] = accumulate ? _mm256_loadu_ps(out[c] + orow + 8 * v) : zero; \
                    for (long ky = ky0; ky < ky1; ky++) {                                                              \
                        size_t x = row + (size_t)ky * dh * irs + 8 * v;                                                \
                        for (size_t kx = 0; kx < kw; kx++) {                                                           \
                            size_t tap = (size_t)ky * kw + kx;                                                         \
                            for (int c = 0; c < CB; c++)                                                               \
                                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(w[c][tap]),                                    \
                                                         _mm256_loadu_ps(plane[c] + x + kx * dw), acc[c]);             \
                        }                                                                                              \
                    }                                                                                                  \
                } else {                                                                                               \
                    for (int c = 0; c < CB; c++)                                                                       \
                        acc[c] = accumulate ? _mm256_maskload_ps(out[c] + orow + 8 * v, m[0].valid) : zero;            \
                    for (long ky = ky0; ky < ky1; ky++) {                                                              \
                        size_t x = row + (size_t)ky * dh * irs + 8 * v * sw;                                           \
                        for (size_t kx = 0; kx < kw; kx++) {                                                           \
                            const tap_lanes8 *t = m + 1 + kx;                                                          \
                            if (!t->any) continue;                                                                     \
                            size_t tap = (size_t)ky * kw + kx;                                                         \
                            for (int c = 0; c < CB; c++) {                                                             \
                                __m256 xv = load_taps8(plane[c] + x + kx * dw, sw, t);                                 \
                                __m256 sum = _mm256_fmadd_ps(_mm256_set1_ps(w[c][tap]), xv, acc[c]);                   \
                                acc[c] = _mm256_blendv_ps(acc[c], sum, _mm256_castsi256_ps(t->valid));                 \
                            }                                                                                          \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
                for (int c = 0; c < CB; c++) {                                                                         \
                    __m256 a = acc[c];                                                                                 \
                    if (d->bias) a = _mm256_add_ps(a, bias[c]);                                                        \
                    if (activation == 1) {                                                                             \
                        a = _mm256_blendv_ps(a, zero, _mm256_cmp_ps(a, zero, _CMP_LT_OQ));                             \
                    } else if (activation == 2) {                                                                      \
                        a = _mm256_blendv_ps(a, alpha, _mm256_cmp_ps(alpha, a, _CMP_GE_OQ));                           \
                        a = _mm256_blendv_ps(a, beta, _mm256_cmp_ps(beta, a, _CMP_LT_OQ));                             \
                    }                                                                                                  \
                    if (m[0].whole)                                                                                    \
                        _mm256_storeu_ps(out[c] + orow + 8 * v, a);                                                    \
                    else                                                                                               \
                        _mm256_maskstore_ps(out[c] + orow + 8 * v, m[0].valid, a);                                     \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
DEPTHWISE_BLOCK8(4)
DEPTHWISE_BLOCK8(2)
DEPTHWISE_BLOCK8(1)

// dfc_depthwise_conv without AVX-512: AVX2 and FMA, column strides 1 and 2 (dfc_axpy_strided's vector
// paths, whose bits these are), rows of at most 256 columns and kernels at most 16 wide (the taps' lanes, up
// to 70 KiB, live on the stack); 0 elsewhere.
__attribute__((target("avx2"))) static int depthwise_conv_avx2(const dfc_depthwise *d, size_t first, size_t end) {
    enum { MAX_VECTORS = 32, MAX_KW = 16 };
    size_t kw = d->kernel_w, nv = (d->width + 7) / 8;
    if (!dfc_kernels_vectorized() || (d->stride_w != 1 && d->stride_w != 2) || kw > MAX_KW || nv > MAX_VECTORS ||
        d->dilation_h == 0 || d->multiplier == 0)
        return 0;
    if (first >= end || d->height == 0 || d->width == 0) return 1;
    tap_lanes8 taps[nv * (kw + 1)];
    for (size_t v = 0; v < nv; v++) {
        long j0 = 8 * (long)v, width = (long)d->width;
        for (size_t kx = 0; kx <= kw; kx++) {
            long lo = 0, hi = width;
            if (kx > 0) {
                long offset = d->origin_x + (long)((kx - 1) * d->dilation_w);
                lo = ceil_div(-offset, (long)d->stride_w), hi = ceil_div(d->extent_w - offset, (long)d->stride_w);
                lo = lo < 0 ? 0 : lo, hi = hi > width ? width : hi;
            }
            lo = lo < j0 ? j0 : lo, hi = hi > j0 + 8 ? j0 + 8 : hi;
            unsigned bits = hi > lo ? (((unsigned)1 << (hi - lo)) - 1) << (lo - j0) : 0;
            tap_lanes8 *t = &taps[v * (kw + 1) + kx];
            t->valid = mask8(bits), t->any = bits != 0, t->whole = bits == 0xFF;
            t->low = mask8(even_words(bits, 0)), t->high = mask8(even_words(bits, 4));
        }
    }
    for (size_t v = 0; v < nv; v++) {
        int whole = d->stride_w == 1;
        for (size_t kx = 0; kx <= kw; kx++) whole = whole && taps[v * (kw + 1) + kx].whole;
        taps[v * (kw + 1)].whole = whole;
    }
    size_t co = first;
    for (; co + 4 <= end; co += 4) depthwise_block8_4(d, co, taps, nv);
    if (co + 2 <= end) depthwise_block8_2(d, co, taps, nv), co += 2;
    if (co < end) depthwise_block8_1(d, co, taps, nv);
    return 1;
}

// dfc_pool_run's loops for CB channels from `ch` at once. masks as depthwise_block's; nonempty[v]: vector v's
// columns with at least one valid kernel column; counted[j]: output column j's kernel columns inside the
// window grown by the padding.
#define POOL_BLOCK(CB)                                                                                                 \
    __attribute__((target("avx512f,bmi2"))) static void pool_block_##CB(const dfc_pool *d, size_t ch,                  \
                                                                        const __mmask16 *masks,                        \
                                                                        const __mmask16 *nonempty, const int *counted, \
                                                                        size_t nv) {                                   \
        const size_t kh = d->kernel_h, kw = d->kernel_w, sw = d->stride_w, dw = d->dilation_w, dh = d->dilation_h;    \
        const size_t irs = d->input_row_stride;                                                                        \
        const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);                  \
        const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw));                                     \
        const __m512 start = _mm512_set1_ps(d->max ? -__builtin_inff() : 0.0f), zero = _mm512_setzero_ps();            \
        const int max = d->max;                                                                                        \
        const float *plane[CB];                                                                                        \
        float *out[CB];                                                                                                \
        pool_planes(d, ch, CB, plane, out);                                                                            \
        for (size_t oh = 0; oh < d->height; oh++) {                                                                    \
            long top = d->origin_y + (long)(oh * d->stride_h);                                                         \
            long ky0, ky1;                                                                                             \
            window_rows(top, (long)dh, d->extent_h, (long)kh, &ky0, &ky1);                                             \
            int rows_counted = pool_rows_counted(d, top);                                                              \
            size_t row = oh * d->stride_h * irs, orow = oh * d->output_row_stride;                                     \
            for (size_t v = 0; v < nv; v++) {                                                                          \
                const __mmask16 *m = masks + v * (kw + 1);                                                             \
                __m512 acc[CB];                                                                                        \
                for (int c = 0; c < CB; c++) acc[c] = start;                                                           \
                for (long ky = ky0; ky < ky1; ky++) {                                                                  \
                    size_t x = row + (size_t)ky * dh * irs + 16 * v * sw;                                              \
                    for (size_t kx = 0; kx < kw; kx++) {                                                               \
                        __mmask16 valid = m[1 + kx];                                                                   \
                        if (!valid) continue;                                                                          \
                        for (int c = 0; c < CB; c++) {                                                                 \
                            __m512 xv = load_lanes(plane[c] + x + kx * dw, sw, valid, step);                           \
                            acc[c] = max ? _mm512_mask_max_ps(acc[c], valid, xv, acc[c])                               \
                                         : _mm512_mask_add_ps(acc[c], valid, acc[c], xv);                              \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
                __mmask16 keep;                                                                                        \
                __m512 divisor = zero;                                                                                 \
                if (max) {                                                                                             \
                    keep = ky1 > ky0 ? nonempty[v] : 0;                                                                \
                } else {                                                                                               \
                    __m512i n = _mm512_mullo_epi32(_mm512_set1_epi32(rows_counted),                                    \
                                                   _mm512_loadu_si512((const void *)(counted + 16 * v)));              \
                    keep = _mm512_cmpgt_epi32_mask(n, _mm512_setzero_si512());                                         \
                    divisor = _mm512_cvtepi32_ps(n);                                                                   \
                }                                                                                                      \
                for (int c = 0; c < CB; c++) {                                                                         \
                    __m512 a = max ? _mm512_maskz_mov_ps(keep, acc[c]) : _mm512_maskz_div_ps(keep, acc[c], divisor);   \
                    _mm512_mask_storeu_ps(out[c] + orow + 16 * v, m[0], a);                                            \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
POOL_BLOCK(8)
POOL_BLOCK(1)

// pool_block's loops with eight-lane vectors (taps as depthwise_block8's; counted[j] as pool_block's). A lane a
// tap does not read keeps its value (a blend); a tap's maximum and sum are dfc_max_strided's and
// dfc_add_strided's vector operations, max(x, o) and x + o, so the bits of the row path.
#define POOL_BLOCK8(CB)                                                                                                \
    __attribute__((target("avx2"))) static void pool_block8_##CB(const dfc_pool *d, size_t ch,                         \
                                                                 const tap_lanes8 *taps, const int *nonempty,          \
                                                                 const int *counted, size_t nv) {                      \
        const size_t kh = d->kernel_h, kw = d->kernel_w, sw = d->stride_w, dw = d->dilation_w, dh = d->dilation_h;    \
        const size_t irs = d->input_row_stride;                                                                        \
        const __m256 start = _mm256_set1_ps(d->max ? -__builtin_inff() : 0.0f), zero = _mm256_setzero_ps();            \
        const int max = d->max;                                                                                        \
        const float *plane[CB];                                                                                        \
        float *out[CB];                                                                                                \
        pool_planes(d, ch, CB, plane, out);                                                                            \
        for (size_t oh = 0; oh < d->height; oh++) {                                                                    \
            long top = d->origin_y + (long)(oh * d->stride_h);                                                         \
            long ky0, ky1;                                                                                             \
            window_rows(top, (long)dh, d->extent_h, (long)kh, &ky0, &ky1);                                             \
            int rows_counted = pool_rows_counted(d, top);                                                              \
            size_t row = oh * d->stride_h * irs, orow = oh * d->output_row_stride;                                     \
            for (size_t v = 0; v < nv; v++) {                                                                          \
                const tap_lanes8 *m = taps + v * (kw + 1);                                                             \
                __m256 acc[CB];                                                                                        \
                for (int c = 0; c < CB; c++) acc[c] = start;                                                           \
                for (long ky = ky0; ky < ky1; ky++) {                                                                  \
                    size_t x = row + (size_t)ky * dh * irs + 8 * v * sw;                                               \
                    for (size_t kx = 0; kx < kw; kx++) {                                                               \
                        const tap_lanes8 *t = m + 1 + kx;                                                              \
                        if (!t->any) continue;                                                                         \
                        for (int c = 0; c < CB; c++) {                                                                 \
                            __m256 xv = load_taps8(plane[c] + x + kx * dw, sw, t);                                     \
                            __m256 y = max ? _mm256_max_ps(xv, acc[c]) : _mm256_add_ps(xv, acc[c]);                    \
                            acc[c] = _mm256_blendv_ps(acc[c], y, _mm256_castsi256_ps(t->valid));                       \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
                __m256 keep, divisor = zero;                                                                           \
                if (max) {                                                                                             \
                    keep = _mm256_castsi256_ps(mask8(ky1 > ky0 ? (unsigned)nonempty[v] : 0));                          \
                } else {                                                                                               \
                    __m256i n = _mm256_mullo_epi32(_mm256_set1_epi32(rows_counted),                                    \
                                                   _mm256_loadu_si256((const __m256i *)(counted + 8 * v)));            \
                    keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(n, _mm256_setzero_si256()));                         \
                    divisor = _mm256_cvtepi32_ps(n);                                                                   \
                }                                                                                                      \
                for (int c = 0; c < CB; c++) {                                                                         \
                    __m256 a = max ? acc[c] : _mm256_div_ps(acc[c], divisor);                                          \
                    _mm256_maskstore_ps(out[c] + orow + 8 * v, m[0].valid, _mm256_and_ps(a, keep));                   \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
POOL_BLOCK8(4)
POOL_BLOCK8(1)

// dfc_pool_run without AVX-512: AVX2, column strides 1 and 2, rows of at most 256 columns and kernels at
// most 16 wide; 0 elsewhere.
__attribute__((target("avx2"))) static int pool_run_avx2(const dfc_pool *d, size_t first, size_t end) {
    enum { MAX_VECTORS = 32, MAX_KW = 16 };
    size_t kw = d->kernel_w, nv = (d->width + 7) / 8;
    if (!dfc_kernels_vectorized() || (d->stride_w != 1 && d->stride_w != 2) || kw > MAX_KW || nv > MAX_VECTORS ||
        d->dilation_h == 0)
        return 0;
    if (first >= end || d->height == 0 || d->width == 0) return 1;
    tap_lanes8 taps[nv * (kw + 1)];
    int nonempty[MAX_VECTORS], counted[MAX_VECTORS * 8];
    long width = (long)d->width;
    for (size_t v = 0; v < nv; v++) {
        long j0 = 8 * (long)v;
        unsigned any = 0;
        for (size_t kx = 0; kx <= kw; kx++) {
            long lo = 0, hi = width;
            if (kx > 0) {
                long offset = d->origin_x + (long)((kx - 1) * d->dilation_w);
                lo = ceil_div(-offset, (long)d->stride_w), hi = ceil_div(d->extent_w - offset, (long)d->stride_w);
                lo = lo < 0 ? 0 : lo, hi = hi > width ? width : hi;
            }
            lo = lo < j0 ? j0 : lo, hi = hi > j0 + 8 ? j0 + 8 : hi;
            unsigned bits = hi > lo ? (((unsigned)1 << (hi - lo)) - 1) << (lo - j0) : 0;
            tap_lanes8 *t = &taps[v * (kw + 1) + kx];
            t->valid = mask8(bits), t->any = bits != 0;
            t->low = mask8(even_words(bits, 0)), t->high = mask8(even_words(bits, 4));
            if (kx > 0) any |= bits;
        }
        nonempty[v] = (int)any;
    }
    for (long j = 0; j < 8 * (long)nv; j++) {
        counted[j] = 0;
        for (size_t kx = 0; kx < kw && j < width; kx++) {
            long tx = d->origin_x + j * (long)d->stride_w + (long)(kx * d->dilation_w);
            counted[j] += tx >= -d->pad_left && tx < d->extent_w + d->pad_right;
        }
    }
    size_t ch = first;
    for (; ch + 4 <= end; ch += 4) pool_block8_4(d, ch, taps, nonempty, counted, nv);
    for (; ch < end; ch++) pool_block8_1(d, ch, taps, nonempty, counted, nv);
    return 1;
}

// o[j] = x[2 j] for j < n: the even words of two vectors; the last vector's loads are masked to the row.
__attribute__((target("avx512f"))) static void copy_even_avx512(float *o, const float *x, size_t n) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    size_t j = 0;
    for (; j + 16 < n; j += 16) {
        __m512 a = _mm512_loadu_ps(x + 2 * j), b = _mm512_loadu_ps(x + 2 * j + 16);
        _mm512_storeu_ps(o + j, _mm512_permutex2var_ps(a, even, b));
    }
    size_t r = n - j, words = 2 * r - 1;  // 1...16 outputs from x[2j ..< 2j + words]
    __mmask16 first = (__mmask16)(words >= 16 ? 0xFFFF : (1u << words) - 1);
    __mmask16 second = (__mmask16)(words > 16 ? (1u << (words - 16)) - 1 : 0);
    __m512 a = _mm512_maskz_loadu_ps(first, x + 2 * j), b = _mm512_maskz_loadu_ps(second, x + 2 * j + 16);
    _mm512_mask_storeu_ps(o + j, (__mmask16)(r >= 16 ? 0xFFFF : (1u << r) - 1), _mm512_permutex2var_ps(a, even, b));
}

#define VECTOR_PART(call) ((stride == 1 || stride == 2) && dfc_kernels_vectorized() ? (call) : 0)
#else
int dfc_kernels_vectorized(void) { return 0; }
int dfc_kernels_avx512(void) { return 0; }
#define VECTOR_PART(call) 0
#endif

void dfc_axpy_strided(float *o, const float *x, size_t stride, float w, size_t n) {
    size_t j = VECTOR_PART(axpy_avx2(o, x, stride, w, n));
    for (; j < n; j++) o[j] += w * x[j * stride];
}

void dfc_max_strided(float *o, const float *x, size_t stride, size_t n) {
    size_t j = VECTOR_PART(max_avx2(o, x, stride, n));
    for (; j < n; j++) {
        float v = x[j * stride];
        o[j] = v >= o[j] ? v : o[j];
    }
}

void dfc_add_strided(float *o, const float *x, size_t stride, size_t n) {
    size_t j = VECTOR_PART(add_avx2(o, x, stride, n));
    for (; j < n; j++) o[j] += x[j * stride];
}

void dfc_pool_row(float *o, size_t n, int max, const float *const *rows, const size_t *lo, const size_t *hi,
                  size_t taps, size_t stride) {
#if defined(__x86_64__)
    if (dfc_kernels_avx512()) {
        pool_row_avx512(o, n, max, rows, lo, hi, taps, stride);
        return;
    }
#endif
    for (size_t j = 0; j < n; j++) o[j] = max ? -__builtin_inff() : 0.0f;
    for (size_t t = 0; t < taps; t++) {
        if (max)
            dfc_max_strided(o + lo[t], rows[t], stride, hi[t] - lo[t]);
        else
            dfc_add_strided(o + lo[t], rows[t], stride, hi[t] - lo[t]);
    }
}

void dfc_copy_strided(float *o, const void *x, size_t stride, size_t n) {
    const unsigned char *bytes = x;
    if (n == 0) return;
    if (stride == 1) {
        memcpy(o, x, 4 * n);
        return;
    }
#if defined(__x86_64__)
    if (stride == 2 && dfc_kernels_avx512()) {
        copy_even_avx512(o, x, n);
        return;
    }
#endif
    for (size_t j = 0; j < n; j++) memcpy(o + j, bytes + 4 * j * stride, 4);
}

void dfc_gather_taps(float *x, const dfc_taps *t, size_t first, size_t end) {
    size_t kh = t->kernel_h, kw = t->kernel_w, ho = t->height, wo = t->width, n = ho * wo;
    for (size_t ci = first; ci < end; ci++) {
        for (size_t ky = 0; ky < kh; ky++) {
            for (size_t kx = 0; kx < kw; kx++) {
                float *row = x + ((ci * kh + ky) * kw + kx) * n;
                size_t lo = t->lo[kx], hi = t->hi[kx];
                for (size_t oh = 0; oh < ho; oh++) {
                    size_t ih = oh * t->stride_h + ky * t->dilation_h;
                    long ty = t->origin_y + (long)ih;
                    float *out = row + oh * wo;
                    if (ty < 0 || ty >= t->extent_h || lo >= hi) {
                        memset(out, 0, 4 * wo);
                        continue;
                    }
                    const float *src = t->input + ci * t->channel_stride + ih * t->row_stride + kx * t->dilation_w;
                    if (lo > 0) memset(out, 0, 4 * lo);
                    dfc_copy_strided(out + lo, src + lo * t->stride_w, t->stride_w, hi - lo);
                    if (hi < wo) memset(out + hi, 0, 4 * (wo - hi));
                }
            }
        }
    }
}

int dfc_depthwise_conv(const dfc_depthwise *d, size_t first, size_t end) {
#if defined(__x86_64__)
    enum { MAX_VECTORS = 64, MAX_KW = 64 };
    size_t kw = d->kernel_w, nv = (d->width + 15) / 16;
    if (!dfc_kernels_avx512()) return depthwise_conv_avx2(d, first, end);
    if (kw > MAX_KW || nv > MAX_VECTORS || d->stride_w == 0 || d->dilation_h == 0 || d->multiplier == 0) return 0;
    if (first >= end || d->height == 0 || d->width == 0) return 1;
    __mmask16 masks[MAX_VECTORS * (MAX_KW + 1)];
    for (size_t v = 0; v < nv; v++) {
        long j0 = 16 * (long)v, width = (long)d->width;
        for (size_t kx = 0; kx <= kw; kx++) {
            long lo = 0, hi = width;
            if (kx > 0) {  // the output columns whose input column for kernel column kx - 1 is inside the window
                long offset = d->origin_x + (long)((kx - 1) * d->dilation_w);
                lo = ceil_div(-offset, (long)d->stride_w), hi = ceil_div(d->extent_w - offset, (long)d->stride_w);
                lo = lo < 0 ? 0 : lo, hi = hi > width ? width : hi;
            }
            lo = lo < j0 ? j0 : lo, hi = hi > j0 + 16 ? j0 + 16 : hi;
            masks[v * (kw + 1) + kx] = hi > lo ? (__mmask16)((((unsigned)1 << (hi - lo)) - 1) << (lo - j0)) : 0;
        }
    }
    size_t co = first;
    for (; co + 8 <= end; co += 8) depthwise_block_8(d, co, masks, nv);
    if (co + 4 <= end) depthwise_block_4(d, co, masks, nv), co += 4;
    if (co + 2 <= end) depthwise_block_2(d, co, masks, nv), co += 2;
    if (co < end) depthwise_block_1(d, co, masks, nv);
    return 1;
#else
    (void)d, (void)first, (void)end;
    return 0;
#endif
}

int dfc_pool_run(const dfc_pool *d, size_t first, size_t end) {
#if defined(__x86_64__)
    enum { MAX_VECTORS = 64, MAX_KW = 64 };
    size_t kw = d->kernel_w, nv = (d->width + 15) / 16;
    if (!dfc_kernels_avx512()) return pool_run_avx2(d, first, end);
    if (kw > MAX_KW || nv > MAX_VECTORS || d->stride_w == 0 || d->dilation_h == 0) return 0;
    if (first >= end || d->height == 0 || d->width == 0) return 1;
    __mmask16 masks[MAX_VECTORS * (MAX_KW + 1)], nonempty[MAX_VECTORS];
    int counted[MAX_VECTORS * 16];
    long width = (long)d->width;
    for (size_t v = 0; v < nv; v++) {
        long j0 = 16 * (long)v;
        nonempty[v] = 0;
        for (size_t kx = 0; kx <= kw; kx++) {
            long lo = 0, hi = width;
            if (kx > 0) {
                long offset = d->origin_x + (long)((kx - 1) * d->dilation_w);
                lo = ceil_div(-offset, (long)d->stride_w), hi = ceil_div(d->extent_w - offset, (long)d->stride_w);
                lo = lo < 0 ? 0 : lo, hi = hi > width ? width : hi;
            }
            lo = lo < j0 ? j0 : lo, hi = hi > j0 + 16 ? j0 + 16 : hi;
            __mmask16 mask = hi > lo ? (__mmask16)((((unsigned)1 << (hi - lo)) - 1) << (lo - j0)) : 0;
            masks[v * (kw + 1) + kx] = mask;
            if (kx > 0) nonempty[v] |= mask;
        }
    }
    for (long j = 0; j < 16 * (long)nv; j++) {
        counted[j] = 0;
        for (size_t kx = 0; kx < kw && j < width; kx++) {
            long tx = d->origin_x + j * (long)d->stride_w + (long)(kx * d->dilation_w);
            counted[j] += tx >= -d->pad_left && tx < d->extent_w + d->pad_right;
        }
    }
    size_t ch = first;
    for (; ch + 8 <= end; ch += 8) pool_block_8(d, ch, masks, nonempty, counted, nv);
    for (; ch < end; ch++) pool_block_1(d, ch, masks, nonempty, counted, nv);
    return 1;
#else
    (void)d, (void)first, (void)end;
    return 0;
#endif
}

void dfc_depthwise_row(float *o, size_t n, int accumulate, const float *const *rows, const float *weights,
                       const size_t *lo, const size_t *hi, size_t taps, size_t stride) {
#if defined(__x86_64__)
    if (dfc_kernels_avx512()) {
        depthwise_row_avx512(o, n, accumulate, rows, weights, lo, hi, taps, stride);
        return;
    }
#endif
    if (!accumulate)
        for (size_t j = 0; j < n; j++) o[j] = 0;
    for (size_t t = 0; t < taps; t++) dfc_axpy_strided(o + lo[t], rows[t], stride, weights[t], hi[t] - lo[t]);
}
