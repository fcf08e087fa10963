#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

// The reflected Castagnoli polynomial.
static const uint32_t polynomial = 0x82F63B78u;

// Large buffers are cut into blocks of three lanes whose CRCs are computed
// together: one crc32 instruction has a latency of three cycles but the CPU
// starts one every cycle, so three independent chains run at memory speed.
enum { lane_bytes = 8192 };

// a * b modulo the polynomial, both bit-reflected (bit 31 is x^0).
static uint32_t multiply_modulo(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = (b & 1) ? (b >> 1) ^ polynomial : b >> 1;
    }
    return product;
}

// x^(8 * lane_bytes) modulo the polynomial: multiplying a register by it
// advances the register over one lane of zero bytes. lane_bytes is 2^13, so
// x^(2^16) is x squared sixteen times.
static uint32_t lane_shift(void) {
    uint32_t power = 1u << 30;  // x^1
    for (int i = 0; i < 16; i++) power = multiply_modulo(power, power);
    return power;
}

int dfc_crc32c_hardware_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2"))) uint32_t dfc_crc32c_hardware_update(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = data;
    uint64_t c0 = crc;
    while (count > 0 && ((uintptr_t)p & 7) != 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        count--;
    }
    if (count >= 3 * lane_bytes) {
        const uint32_t shift = lane_shift();
        while (count >= 3 * lane_bytes) {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < lane_bytes; i += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p + i, 8);
                memcpy(&w1, p + lane_bytes + i, 8);
                memcpy(&w2, p + 2 * lane_bytes + i, 8);
                c0 = _mm_crc32_u64(c0, w0);
                c1 = _mm_crc32_u64(c1, w1);
                c2 = _mm_crc32_u64(c2, w2);
            }
            // The register is linear: CRC(A B) = CRC(A) advanced over |B| zero bytes, XOR CRC of B from zero.
            c0 = multiply_modulo((uint32_t)c0, shift) ^ (uint32_t)c1;
            c0 = multiply_modulo((uint32_t)c0, shift) ^ (uint32_t)c2;
            p += 3 * lane_bytes;
            count -= 3 * lane_bytes;
        }
    }
    for (; count >= 8; count -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c0 = _mm_crc32_u64(c0, w);
    }
    for (; count > 0; count--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return (uint32_t)c0;
}

#else

int dfc_crc32c_hardware_available(void) { return 0; }

uint32_t dfc_crc32c_hardware_update(uint32_t crc, const void *data, size_t count) {
    (void)data;
    (void)count;
    return crc;
}

#endif
