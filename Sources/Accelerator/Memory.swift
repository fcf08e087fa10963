import Foundation

/// One flat memory (SRAM or DRAM) of fp32 words: the only place the executor
/// touches raw pointers. Zeroed on creation, lazily (a large DRAM costs only
/// the pages used); freed with the last reference. A large memory is an
/// anonymous mapping that asks for transparent huge pages where the system
/// offers them: the first touch of each 2 MiB then costs one page fault
/// instead of 512, which is most of a first write's cost.
final class Memory {
    let words: Int
    private let base: UnsafeMutablePointer<Float>
    /// The mapping's length, or 0 when `base` came from calloc.
    private let mappedBytes: Int

    /// nil if the host cannot provide the memory.
    init?(bytes: Int) {
        precondition(bytes >= 0 && bytes % 4 == 0, "memory size must be a multiple of 4")
        words = bytes / 4
        #if os(Linux)
            if bytes >= 1 << 22 {
                let length = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
                // Over-allocate by one huge page so that the base can sit on a huge-page boundary.
                let mapping = mmap(
                    nil, length + Self.hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                guard let mapping, mapping != MAP_FAILED else { return nil }
                let start = (Int(bitPattern: mapping) + Self.hugePage - 1) / Self.hugePage * Self.hugePage
                let head = start - Int(bitPattern: mapping), tail = Self.hugePage - head
                if head > 0 { munmap(mapping, head) }
                if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + length), tail) }
                let aligned = UnsafeMutableRawPointer(bitPattern: start)!
                _ = madvise(aligned, length, MADV_HUGEPAGE)  // advice only, ignored where unsupported
                mappedBytes = length
                base = aligned.bindMemory(to: Float.self, capacity: words)
                return
            }
        #endif
        guard let raw = calloc(max(1, words), 4) else { return nil }
        mappedBytes = 0
        base = raw.bindMemory(to: Float.self, capacity: max(1, words))
    }

    deinit {
        #if os(Linux)
            if mappedBytes > 0 {
                munmap(base, mappedBytes)
                return
            }
        #endif
        free(base)
    }

    private static let hugePage = 1 << 21

    /// Words of a huge page: the first touch of a word maps and zeroes (at most) these around it.
    static let hugePageWords = hugePage / 4

    /// Writes a zero (the value of every word not yet written) into the
    /// first word and then one word a page of `range`, so that the page
    /// faults happen now. Only before anything else writes the memory.
    func touchPages(_ range: Range<Int>) {
        let page = 1024  // words
        var word = max(0, range.lowerBound)
        while word < min(range.upperBound, words) {
            base[word] = 0
            word = (word / page + 1) * page
        }
    }

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

/// Read-only words at any byte alignment: the constants segment where the
/// loaded .dfx file holds it, which need not start on a word boundary.
struct RawWords {
    let base: UnsafeRawPointer
    let count: Int

    @inline(__always) subscript(i: Int) -> Float {
        assert(i >= 0 && i < count, "memory read out of bounds")
        return base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
    }

    /// Pointer to the bytes of `n` words from word `i`, checked in debug builds.
    @inline(__always) func at(_ i: Int, _ n: Int) -> UnsafeRawPointer {
        assert(n <= 0 || (i >= 0 && i + n <= count), "memory range out of bounds")
        return base + 4 * i
    }
}

extension Words {
    /// The same words, read-only.
    var raw: RawWords { RawWords(base: UnsafeRawPointer(base), count: count) }
}

/// Host-side working space for kernels (not part of the modeled machine):
/// a few independent buffers, reused across instructions and grown on demand.
/// Slot 0 holds CONV's tap matrix (kept for the next CONV that reads the same
/// input, `GatheredTaps`), slot 1 its sums, slot 2 LRN's rows.
final class Scratch {
    private var memories = [Memory](repeating: Memory(bytes: 0)!, count: 3)

    /// At least `count` words of buffer `slot` (contents unspecified). A
    /// kernel uses each slot for one thing at a time.
    func words(_ count: Int, slot: Int) -> Words {
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
