import CCRC32C

/// CRC-32C (Castagnoli, bit-reflected polynomial 0x82F63B78), the checksum of
/// .dfx files since format version 4: the CPU's crc32 instruction where there
/// is one (SSE4.2, through the C target `CCRC32C`), else eight table lookups
/// per eight bytes. Both give the same register for the same bytes.
enum CRC32C {
    /// The register before the first byte; the checksum is the register after the last byte XOR this.
    static let start: UInt32 = 0xFFFF_FFFF

    /// Whether this CPU has the instruction (asked once per process).
    static let hardware = dfc_crc32c_hardware_available() != 0

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { update(start, bytes) ^ start }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The register after `bytes`, given the register before them: a checksum
    /// can be taken over pieces that are never joined in memory.
    static func update(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return register }
        return hardware ? dfc_crc32c_hardware_update(register, base, bytes.count) : softwareUpdate(register, bytes)
    }

    static func update(_ register: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { update(register, $0) }
    }

    /// tables[k * 256 + b]: the register after byte b followed by k zero bytes,
    /// from a zero register (slicing by 8: eight lookups per eight input bytes).
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
            tables[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = tables[(k - 1) * 256 + i]
                tables[k * 256 + i] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The portable register update (also what tests compare the instruction with).
    static func softwareUpdate(_ register: UInt32, _ data: UnsafeRawBufferPointer) -> UInt32 {
        var crc = register
        tables.withUnsafeBufferPointer { t in
            var i = 0
            let n = data.count
            while i + 8 <= n {
                let lo = crc ^ UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                let hi = UInt32(littleEndian: data.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                crc =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(data[i])) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return crc
    }
}
