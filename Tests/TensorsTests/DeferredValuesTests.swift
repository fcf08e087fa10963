import Foundation
import Synchronization
import Testing

@testable import Tensors

/// A deferred tensor (a weight left in its model file) must read, scale,
/// compare and write exactly as the same values in memory would, and a
/// source that fails must never give an output that looks right.
@Suite("deferred tensors")
struct DeferredValuesTests {
    /// Bytes in memory that can be cut short, as a model file truncated under dfc would be.
    final class MemorySource: TensorSource {
        let bytes: Mutex<[UInt8]>
        let failed = Mutex(false)

        init(_ bytes: [UInt8]) { self.bytes = Mutex(bytes) }

        func truncate(to count: Int) { bytes.withLock { $0.removeLast($0.count - count) } }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
            let ok = bytes.withLock { bytes -> Bool in
                guard offset + buffer.count <= bytes.count else { return false }
                bytes.withUnsafeBytes {
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + buffer.count]))
                }
                return true
            }
            if !ok { failed.withLock { $0 = true } }
            return ok
        }

        func checkUnchanged() throws {
            if failed.withLock({ $0 }) { throw DFCError("cut short", file: "memory", kind: .io) }
        }
    }

    /// `count` seeded fp32 values, and a source holding them after `offset` bytes of something else.
    static func weights(_ count: Int, offset: Int = 12) -> (values: [Float], source: MemorySource) {
        var random = SeededRandom(seed: 5)
        let values = (0..<count).map { _ in Float(Int(random.next() % 20001) - 10000) * 1e-4 }
        let bytes = [UInt8](repeating: 0xA5, count: offset) + Tensor(shape: [count], floats: values).littleEndianBytes
        return (values, MemorySource(bytes))
    }

    /// The bytes a tensor hands out chunk by chunk, and how many chunks.
    static func chunks(_ tensor: Tensor) -> (bytes: [UInt8], chunks: Int, failure: Int32) {
        var bytes: [UInt8] = [], chunks = 0
        let failure = tensor.forEachLittleEndianChunk {
            bytes += $0
            chunks += 1
            return 0
        }
        return (bytes, chunks, failure)
    }

    @Test("a deferred tensor reads, compares and writes as its values in memory, in cache-sized chunks")
    func readsAsInMemory() {
        // 40 x 300 x 3 x 3 fp32: 432,000 bytes, more than one chunk.
        let shape = [40, 300, 3, 3]
        let (values, source) = Self.weights(shape.reduce(1, *))
        let deferred = Tensor(shape: shape, dtype: .float32, source: source, offset: 12)
        let eager = Tensor(shape: shape, floats: values)
        #expect(deferred.isDeferred && !eager.isDeferred)
        #expect(deferred.dtype == .float32 && deferred.count == values.count)
        #expect(deferred.floats == values)
        #expect(deferred == eager && eager == deferred)
        let (bytes, chunks, failure) = Self.chunks(deferred)
        #expect(failure == 0 && bytes == eager.littleEndianBytes)
        #expect(chunks == (values.count * 4 + Tensor.chunkBytes - 1) / Tensor.chunkBytes && chunks > 1)
        #expect(Self.chunks(eager).chunks == 1)
        // int64 values are read the same way.
        let ints: [Int64] = (0..<1000).map { Int64($0 * 7919 - 3_000_000) }
        let intSource = MemorySource(Tensor(shape: [1000], ints: ints).littleEndianBytes)
        #expect(Tensor(shape: [10, 100], dtype: .int64, source: intSource, offset: 0).ints == ints)
    }

    @Test("scaling channels of a deferred tensor keeps it deferred and gives the in-memory result bit for bit")
    func scalesAsInMemory() {
        let shape = [40, 30, 3, 3]
        let (values, source) = Self.weights(shape.reduce(1, *))
        let perChannel = 30 * 3 * 3
        let convScale = (0..<40).map { 0.5 + Double($0) * 0.037 }
        // A Conv's channels are runs; a Gemm's without transB are every `columns`-th element (run 1).
        let gemmScale = (0..<36).map { 1.25 - Double($0) * 0.011 }
        for (scale, run) in [(convScale, perChannel), (gemmScale, 1)] {
            var deferred = Tensor(shape: shape, dtype: .float32, source: source, offset: 12)
            var eager = Tensor(shape: shape, floats: values)
            deferred.scaleChannels(by: scale, run: run)
            eager.scaleChannels(by: scale, run: run)
            #expect(deferred.isDeferred && !eager.isDeferred)
            let expected = values.indices.map { Float(Double(values[$0]) * scale[($0 / run) % scale.count]) }
            #expect(eager.floats == expected)
            #expect(deferred.floats == expected)
            #expect(Self.chunks(deferred).bytes == eager.littleEndianBytes)
            // Twice (a BatchNormalization, then a Mul folded after it): each step rounds to fp32 as before.
            deferred.scaleChannels(by: scale.reversed(), run: run)
            eager.scaleChannels(by: scale.reversed(), run: run)
            #expect(deferred.isDeferred && deferred.floats == eager.floats)
            #expect(Self.chunks(deferred).bytes == eager.littleEndianBytes)
        }
    }

    @Test("scaling values in memory does not copy them when the tensor owns them")
    func scalesInPlace() {
        var tensor = Tensor(shape: [4, 256], floats: (0..<1024).map { Float($0) })
        let before = tensor.floats.withUnsafeBufferPointer { $0.baseAddress }
        tensor.scaleChannels(by: [1, 2, 3, 4], run: 256)
        #expect(tensor.floats.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(tensor.floats[256] == 512 && tensor.floats[1023] == 4092)
    }

    @Test("a source cut short reads as zeros, stops the chunks with EIO, and its check throws")
    func failedReads() throws {
        let (_, source) = Self.weights(100_000)
        let deferred = Tensor(shape: [100_000], dtype: .float32, source: source, offset: 12)
        var scaled = deferred
        scaled.scaleChannels(by: [2], run: 1)
        try Tensor.checkSources(of: [deferred, scaled, Tensor(shape: [1], floats: [1])])
        source.truncate(to: 12 + 200_000)
        var delivered = 0
        let failure = deferred.forEachLittleEndianChunk {
            delivered += $0.count
            return 0
        }
        #expect(failure == EIO && delivered < 200_000)
        #expect(scaled.floats.allSatisfy { $0 == 0 })
        let error = #expect(throws: DFCError.self) { try Tensor.checkSources(of: [scaled]) }
        #expect(error?.kind == .io && error?.file == "memory")
    }
}
