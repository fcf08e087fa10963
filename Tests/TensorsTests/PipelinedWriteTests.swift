import Foundation
import TestSupport
import Testing

@testable import Tensors

/// `PipelinedWrite`: a large output is made on the calling thread and written on another, and the file must
/// get exactly the bytes one thread writing each chunk in turn gives it, and the same failure.
@Suite("pipelined writes")
struct PipelinedWriteTests {
    /// A tensor's little-endian bytes as a part: what a program's constants segment hands out.
    struct TensorPart: ByteChunks {
        let tensor: Tensor
        var count: Int { tensor.count * tensor.dtype.byteSize }
        func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32 { tensor.forEachLittleEndianChunk(body) }
        func fill<Sink: ByteSink>(_ sink: inout Sink) -> Int32 { tensor.fillLittleEndian(&sink) }
    }

    /// Arrays of odd sizes around a deferred weight scaled per channel (read where the buffers have room)
    /// and values in memory.
    static func parts(weights count: Int) -> (parts: [any ByteChunks], source: DeferredValuesTests.MemorySource) {
        let (values, source) = DeferredValuesTests.weights(count)
        var deferred = Tensor(shape: [count], dtype: .float32, source: source, offset: 12)
        deferred.scaleChannels(by: [0.5, 3, -1.25], run: 37)
        let parts: [any ByteChunks] = [
            [UInt8](repeating: 7, count: 7), TensorPart(tensor: deferred), [UInt8](),
            TensorPart(tensor: Tensor(shape: [count], floats: values)), (0..<5001).map { UInt8($0 % 251) }
        ]
        return (parts, source)
    }

    /// The bytes of `parts` as one thread hands them out.
    static func joined(_ parts: [any ByteChunks]) -> [UInt8] {
        var bytes: [UInt8] = []
        for part in parts {
            _ = part.forEachChunk {
                bytes += $0
                return 0
            }
        }
        return bytes
    }

    /// Writes `parts` through the pipeline into a new file; the failure and what the file then holds.
    static func pipelined(_ parts: [any ByteChunks], bufferBytes: Int, in folder: ScratchFolder) throws -> (
        failure: Int32, bytes: [UInt8]
    ) {
        let path = folder.path("pipelined-\(bufferBytes)")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0)
        let failure = PipelinedWrite.write(parts, to: descriptor, bufferBytes: bufferBytes)
        close(descriptor)
        return (failure, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    @Test(
        "buffers of any size get the bytes one thread writes, a deferred weight read in place",
        arguments: [
            1, 3, 4099, 1 << 20
        ])
    func sameBytes(bufferBytes: Int) throws {
        let folder = try ScratchFolder("pipelined-write")
        defer { folder.remove() }
        let (parts, _) = Self.parts(weights: bufferBytes < 8 ? 3_000 : 300_000)
        let expected = Self.joined(parts)
        #expect(expected.count == parts.reduce(0) { $0 + $1.count })
        let (failure, bytes) = try Self.pipelined(parts, bufferBytes: bufferBytes, in: folder)
        #expect(failure == 0)
        #expect(bytes == expected)
    }

    @Test("an output large enough to be pipelined replaces its file with exactly its bytes")
    func outputFile() throws {
        let folder = try ScratchFolder("pipelined-output")
        defer { folder.remove() }
        let (parts, _) = Self.parts(weights: 700_000)
        let path = folder.path("program.dfx")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try OutputFile(path).write(parts)
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.count > 4 * PipelinedWrite.bufferBytes)
        #expect(written == Self.joined(parts))
        #expect(try folder.entries() == ["program.dfx"])
    }

    @Test("a failed write stops the stream and is the error")
    func failedWrite() throws {
        let (parts, _) = Self.parts(weights: 1_200_000)
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        guard full >= 0 else { return }  // no /dev/full on this system
        defer { close(full) }
        #expect(PipelinedWrite.write(parts, to: full, bufferBytes: 4096) == ENOSPC)
        let error = #expect(throws: DFCError.self) { try OutputFile("/dev/full").write(parts) }
        #expect(error == DFCError("cannot write: \(OutputFile.describe(ENOSPC))", file: "/dev/full", kind: .io))
    }

    @Test("a weight whose file was cut short stops the stream with EIO and leaves no output")
    func failedRead() throws {
        let folder = try ScratchFolder("pipelined-failed-read")
        defer { folder.remove() }
        let (parts, source) = Self.parts(weights: 1_200_000)
        source.truncate(to: 12 + 4 * 1_000_000)
        let (failure, bytes) = try Self.pipelined(parts, bufferBytes: 1 << 16, in: folder)
        #expect(failure == EIO && bytes.count < 7 + 4 * 1_000_000)
        let error = #expect(throws: DFCError.self) { try OutputFile(folder.path("program.dfx")).write(parts) }
        #expect(error?.kind == .io)
        #expect(try folder.entries() == ["pipelined-65536"])
    }
}
