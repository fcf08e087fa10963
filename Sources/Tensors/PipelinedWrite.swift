import Foundation
import Synchronization

/// Writes a large stream of chunks on two cores: the calling thread produces the bytes (a program's deferred
/// weights are read and scaled, and checksummed, as they are handed out) into a ring of buffers while another
/// thread writes the full buffers to the descriptor, in order. The file gets the same bytes in the same order
/// as one thread writing each chunk would give it; only the write calls are fewer and larger.
final class PipelinedWrite: @unchecked Sendable {
    /// Buffers in the ring and the size of each: a write call per megabyte, and room for the producer to run
    /// three buffers ahead of a write that stalls.
    static let bufferCount = 4
    static let bufferBytes = 1 << 20

    private let descriptor: Int32
    private let bufferBytes: Int
    private let storage: UnsafeMutableRawBufferPointer
    /// Per buffer, the bytes to write, or -1 for the end of the stream. Set by the producer before it
    /// signals `filled`, read by the writer after it waits for `filled`.
    private let lengths: UnsafeMutablePointer<Int>
    /// The `errno` of the first failed write, which stops the producer early.
    private let writeFailure = Atomic<Int32>(0)
    /// Counts the buffers the producer may fill. Made at 0 and signalled once per buffer: libdispatch traps
    /// when a semaphore is released below the value it was made with, as this one is at the end.
    private let free = DispatchSemaphore(value: 0)
    private let filled = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    private init(_ descriptor: Int32, bufferBytes: Int) {
        precondition(bufferBytes > 0, "a pipelined write needs room in its buffers")
        (self.descriptor, self.bufferBytes) = (descriptor, bufferBytes)
        storage = .allocate(byteCount: Self.bufferCount * bufferBytes, alignment: 4096)
        lengths = .allocate(capacity: Self.bufferCount)
        lengths.initialize(repeating: 0, count: Self.bufferCount)
        for _ in 0..<Self.bufferCount { free.signal() }
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
    }

    /// Writes every byte of `parts` to `descriptor`; returns 0 or the `errno` of the first failure in stream
    /// order (a failed write, or the failure a part reported), as writing them in turn on one thread would.
    /// `bufferBytes` other than the default is for tests.
    static func write(_ parts: [any ByteChunks], to descriptor: Int32, bufferBytes: Int = PipelinedWrite.bufferBytes)
        -> Int32
    {
        let pipeline = PipelinedWrite(descriptor, bufferBytes: bufferBytes)
        DispatchQueue.global().async { pipeline.writeBuffers() }
        return pipeline.produce(parts)
    }

    private func buffer(_ index: Int) -> UnsafeMutableRawPointer {
        storage.baseAddress! + (index % Self.bufferCount) * bufferBytes
    }

    /// The producer: puts the bytes into the ring, handing over each buffer once full, then the end.
    private func produce(_ parts: [any ByteChunks]) -> Int32 {
        free.wait()
        var sink = Sink(pipeline: self)
        var failure: Int32 = 0
        for part in parts where failure == 0 { failure = part.fill(&sink) }
        if failure == 0 && sink.fill > 0 { sink.handOver(sink.fill) }
        sink.handOver(-1)
        finished.wait()
        let written = writeFailure.load(ordering: .relaxed)
        return written != 0 ? written : failure
    }

    /// The producer's side of the ring: the buffer being filled, handed over when full.
    private struct Sink: ByteSink {
        let pipeline: PipelinedWrite
        var index = 0, fill = 0

        func room() -> UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(
                start: pipeline.buffer(index) + fill, count: pipeline.bufferBytes - fill)
        }

        mutating func filled(_ count: Int) -> Int32 {
            fill += count
            guard fill == pipeline.bufferBytes else { return 0 }
            handOver(fill)
            return pipeline.writeFailure.load(ordering: .relaxed)
        }

        /// Hands the current buffer (or the end, -1) to the writer and waits for the next one.
        mutating func handOver(_ length: Int) {
            pipeline.lengths[index % PipelinedWrite.bufferCount] = length
            pipeline.filled.signal()
            index += 1
            fill = 0
            if length >= 0 { pipeline.free.wait() }
        }
    }

    /// The writer: writes each buffer handed over, in order (after a failure only gives them back), until
    /// the end.
    private func writeBuffers() {
        var index = 0
        while true {
            filled.wait()
            let length = lengths[index % Self.bufferCount]
            guard length >= 0 else { break }
            if writeFailure.load(ordering: .relaxed) == 0 {
                let failure = writeAll(descriptor, UnsafeRawBufferPointer(start: buffer(index), count: length))
                writeFailure.store(failure, ordering: .relaxed)
            }
            index += 1
            free.signal()
        }
        finished.signal()
    }
}

/// Writes every byte of `bytes` to `descriptor`, through partial writes and interruptions; returns 0 or the
/// `errno` of the failure.
func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var offset = 0
    while offset < bytes.count {
        let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return errno
        }
        offset += written
    }
    return 0
}
