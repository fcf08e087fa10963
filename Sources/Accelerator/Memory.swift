import Foundation

/// One flat memory (SRAM or DRAM) of fp32 words: the only place the executor
/// touches raw pointers. Zeroed on creation (lazily, by calloc, so a large DRAM
/// costs only the pages used); freed with the last reference.
final class Memory {
    let words: Int
    private let base: UnsafeMutablePointer<Float>

    /// nil if the host cannot provide the memory.
    init?(bytes: Int) {
        precondition(bytes >= 0 && bytes % 4 == 0, "memory size must be a multiple of 4")
        words = bytes / 4
        guard let raw = calloc(max(1, words), 4) else { return nil }
        base = raw.bindMemory(to: Float.self, capacity: max(1, words))
    }

    deinit { free(base) }

    /// A view of the whole memory by word index, bounds-checked in debug builds.
    var view: Words { Words(base: base, count: words) }

    /// Copies raw bytes in at a byte address (constants, inputs of any dtype).
    func write(_ bytes: UnsafeRawBufferPointer, at byteAddress: Int) {
        precondition(byteAddress >= 0 && byteAddress + bytes.count <= words * 4)
        guard let s = bytes.baseAddress else { return }
        UnsafeMutableRawPointer(base).advanced(by: byteAddress).copyMemory(from: s, byteCount: bytes.count)
    }

    func write(_ bytes: ArraySlice<UInt8>, at byteAddress: Int) {
        bytes.withUnsafeBytes { write($0, at: byteAddress) }
    }

    /// Reads raw bytes from a byte address.
    func read(_ byteAddress: Int, count: Int) -> [UInt8] {
        precondition(byteAddress >= 0 && byteAddress + count <= words * 4)
        return [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(base).advanced(by: byteAddress), count: count))
    }
}

/// Word-indexed access to a `Memory`; kernels use only this.
struct Words {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    @inline(__always) subscript(i: Int) -> Float {
        get {
            assert(i >= 0 && i < count, "memory read out of bounds")
            return base[i]
        }
        nonmutating set {
            assert(i >= 0 && i < count, "memory write out of bounds")
            base[i] = newValue
        }
    }

    /// Loads 8 consecutive words from word `i`, checked in debug builds.
    @inline(__always) func load8(_ i: Int) -> SIMD8<Float> {
        assert(i >= 0 && i + 8 <= count, "memory read out of bounds")
        return UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Pointer to `n` words from word `i`, checked in debug builds.
    @inline(__always) func at(_ i: Int, _ n: Int) -> UnsafeMutablePointer<Float> {
        assert(n <= 0 || (i >= 0 && i + n <= count), "memory range out of bounds")
        return base + i
    }
}

/// Host-side working space for kernels (not part of the modeled machine):
/// a few independent buffers, reused across instructions and grown on demand.
final class Scratch {
    private var memories = [Memory](repeating: Memory(bytes: 0)!, count: 3)

    /// At least `count` words of buffer `slot` (contents unspecified). A
    /// kernel uses each slot for one thing at a time.
    func words(_ count: Int, slot: Int = 0) -> Words {
        // At most a few times the input of one instruction, which fits in the SRAM already allocated.
        if memories[slot].words < count { memories[slot] = Memory(bytes: 4 * count)! }
        return memories[slot].view
    }
}

/// A zeroed array of UInt32 (lazily, by calloc), for the hazard checker's shadow memory.
final class ShadowWords {
    let count: Int
    let base: UnsafeMutablePointer<UInt32>

    /// nil if the host cannot provide the memory.
    init?(count: Int) {
        self.count = count
        guard let raw = calloc(max(1, count), 4) else { return nil }
        base = raw.bindMemory(to: UInt32.self, capacity: max(1, count))
    }

    deinit { free(base) }

    /// Pointer to `n` words from word `i`, checked in debug builds.
    @inline(__always) func at(_ i: Int, _ n: Int) -> UnsafeMutablePointer<UInt32> {
        assert(n <= 0 || (i >= 0 && i + n <= count), "shadow range out of bounds")
        return base + i
    }
}
