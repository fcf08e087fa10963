#ifndef DFC_CRC32C_H
#define DFC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// CRC-32C (Castagnoli polynomial 0x1EDC6F41, bit-reflected 0x82F63B78) with
// the CPU's crc32 instruction, for the checksum of .dfx files.
//
// Why C: the instruction belongs to SSE4.2, which the x86-64 baseline that
// Swift compiles for does not include. C can enable it for one function
// (a target attribute) and ask the CPU at run time (cpuid) whether that
// function may be called; the portable table-driven code in Swift
// (Accelerator/Checksum.swift) is used otherwise.

// 1 when this CPU runs dfc_crc32c_hardware_update (x86-64 with SSE4.2), else 0.
int dfc_crc32c_hardware_available(void);

// The CRC register after `count` bytes at `data`, given the register before
// them (no inversion before or after: the caller does that). Call only when
// dfc_crc32c_hardware_available() returns 1.
uint32_t dfc_crc32c_hardware_update(uint32_t crc, const void *data, size_t count);

#endif
