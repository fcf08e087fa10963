#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a deferred tensor's bytes are read from: a model file the importer keeps open.
///
/// Reads go through `pread`, never a mapping, so a file that shrinks under dfc is a failed read (no SIGBUS),
/// and the weights never count towards the process's resident memory while they wait.
public protocol TensorSource: AnyObject, Sendable {
    /// Fills `buffer` with the bytes from `offset`; false when they cannot all be read. A failed read is
    /// remembered: `checkUnchanged` throws from then on.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool
    /// Throws (naming the file) when a read failed or the file was modified since it was opened.
    func checkUnchanged() throws
}

/// The values of a tensor that are not in memory: a large weight left in its
/// model file until it is written to the program, possibly scaled per output
/// channel by folded BatchNormalizations. Reading it gives the same values,
/// bit for bit, as reading the file and scaling at import would have.
final class DeferredValues: Sendable {
    enum Origin: Sendable {
        /// `count` little-endian values at `offset` of `source`.
        case source(any TensorSource, offset: Int)
        /// An fp32 tensor whose element i is multiplied by `scale[(i / run) % scale.count]` (in Double, then
        /// rounded to Float: FoldBatchNorm's arithmetic).
        case scaled(Tensor, scale: [Double], run: Int)
    }

    let origin: Origin
    let dtype: DType
    let count: Int

    init(_ origin: Origin, dtype: DType, count: Int) {
        (self.origin, self.dtype, self.count) = (origin, dtype, count)
    }

    /// The sources the values come from.
    var sources: [any TensorSource] {
        switch origin {
        case .source(let source, _): [source]
        case .scaled(let base, _, _): base.sources
        }
    }

    /// Writes the little-endian bytes of the elements in `range` to `buffer` (exactly their size); false when
    /// the source could not be read.
    func fill(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let width = dtype.byteSize
        precondition(buffer.count == range.count * width && range.upperBound <= count, "deferred range out of bounds")
        switch origin {
        case .source(let source, let offset):
            return source.read(into: buffer, at: offset + range.lowerBound * width)
        case .scaled(let base, let scale, let run):
            guard base.fill(range, into: buffer) else { return false }
            #if _endian(little)
                buffer.withMemoryRebound(to: Float.self) {
                    Self.scale($0, from: range.lowerBound, by: scale, run: run)
                }
            #else
                var values = (0..<range.count).map {
                    Float(bitPattern: UInt32(littleEndian: buffer.load(fromByteOffset: 4 * $0, as: UInt32.self)))
                }
                values.withUnsafeMutableBufferPointer { Self.scale($0, from: range.lowerBound, by: scale, run: run) }
                for (i, value) in values.enumerated() {
                    buffer.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            #endif
            return true
        }
    }

    /// Multiplies `values`, elements `first...` of a tensor, by `scale[(i / run) % scale.count]` for element
    /// i, in Double, rounded to Float: channel by channel, so that the inner loop vectorizes.
    static func scale(_ values: UnsafeMutableBufferPointer<Float>, from first: Int, by scale: [Double], run: Int) {
        var position = first
        let end = first + values.count
        while position < end {
            let block = position / run
            let blockEnd = min(end, (block + 1) * run)
            let factor = scale[block % scale.count]
            for i in (position - first)..<(blockEnd - first) { values[i] = Float(Double(values[i]) * factor) }
            position = blockEnd
        }
    }

    /// The values, read now. A failed read (which the source remembers) gives zeros.
    func load() -> Tensor.Storage {
        func read(into raw: UnsafeMutableRawBufferPointer) {
            if !fill(0..<count, into: raw) { raw.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        switch dtype {
        case .float32:
            return .float(
                [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    read(into: UnsafeMutableRawBufferPointer(buffer))
                    #if _endian(big)
                        for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
                    #endif
                    initialized = count
                })
        case .int64:
            return .int64(
                [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
                    read(into: UnsafeMutableRawBufferPointer(buffer))
                    #if _endian(big)
                        for i in 0..<count { buffer[i] = Int64(littleEndian: buffer[i]) }
                    #endif
                    initialized = count
                })
        case .bool:
            preconditionFailure("a deferred tensor holds fp32 or int64 values")
        }
    }
}

extension Tensor {
    /// The largest chunk a deferred tensor is read in: small enough to stay in the cache between the read, the
    /// checksum and the write.
    static let chunkBytes = 256 << 10

    /// A tensor of `shape` whose little-endian `dtype` values (fp32 or int64) are at `offset` in `source`,
    /// read only when asked for (the importer keeps large weights in the model file this way).
    public init(shape: [Int], dtype: DType, source: any TensorSource, offset: Int) {
        precondition(dtype != .bool, "a deferred tensor holds fp32 or int64 values")
        let count = shape.reduce(1, *)
        self.init(shape: shape, deferred: DeferredValues(.source(source, offset: offset), dtype: dtype, count: count))
    }

    /// Whether the values are still in a file (read at each use), not in memory.
    public var isDeferred: Bool {
        if case .deferred = backing { return true }
        return false
    }

    /// The files a deferred tensor's values come from (none for values in memory).
    var sources: [any TensorSource] {
        if case .deferred(let deferred) = backing { return deferred.sources }
        return []
    }

    /// Throws when a file any of `tensors` is read from failed a read or was modified since it was opened:
    /// what a command checks before it keeps an output made from them.
    public static func checkSources(of tensors: some Sequence<Tensor>) throws {
        var seen: Set<ObjectIdentifier> = []
        for tensor in tensors {
            for source in tensor.sources where seen.insert(ObjectIdentifier(source)).inserted {
                try source.checkUnchanged()
            }
        }
    }

    /// Multiplies fp32 element i by `scale[(i / run) % scale.count]` (in Double, rounded to Float): a
    /// per-output-channel scale folded into weights, where each channel's weights are runs of `run`
    /// elements. Values in memory are scaled in place (not copied when this tensor is their only
    /// owner); deferred values stay deferred, scaled when they are read.
    public mutating func scaleChannels(by scale: [Double], run: Int) {
        precondition(dtype == .float32 && run > 0 && !scale.isEmpty, "scaleChannels needs fp32 values and a scale")
        if case .deferred = backing {
            backing = .deferred(DeferredValues(.scaled(self, scale: scale, run: run), dtype: .float32, count: count))
            return
        }
        guard var values = takeFloats() else { return }
        values.withUnsafeMutableBufferPointer { DeferredValues.scale($0, from: 0, by: scale, run: run) }
        backing = .values(.float(values))
    }

    /// The fp32 values in memory, which this tensor then no longer holds: they are not copied when changed, if
    /// it was their only owner.
    private mutating func takeFloats() -> [Float]? {
        guard case .values(.float(let values)) = backing else { return nil }
        backing = .values(.float([]))
        return values
    }

    /// Writes the little-endian bytes of the elements in `range` to `buffer` (exactly their size); false when a
    /// deferred tensor's source could not be read.
    func fill(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        switch backing {
        case .deferred(let deferred): return deferred.fill(range, into: buffer)
        case .values(let storage):
            let width = dtype.byteSize
            precondition(buffer.count == range.count * width, "fill: buffer size")
            func copy(_ bytes: UnsafeRawBufferPointer) {
                buffer.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: bytes[range.lowerBound * width..<range.upperBound * width]))
            }
            #if _endian(little)
                switch storage {
                case .float(let values): values.withUnsafeBytes(copy)
                case .int64(let values): values.withUnsafeBytes(copy)
                case .bool: littleEndianBytes.withUnsafeBytes(copy)
                }
            #else
                littleEndianBytes.withUnsafeBytes(copy)
            #endif
            return true
        }
    }

    /// Calls `body` with the values' little-endian bytes, in order, in one chunk or (deferred) several, until it
    /// returns non-zero, and returns that; 0 after the last, `EIO` when a deferred tensor's file could not be
    /// read (its source remembers why). Values in memory are handed out from where they are.
    public func forEachLittleEndianChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32 {
        guard case .deferred = backing else {
            #if _endian(little)
                switch storage {
                case .float(let values): return values.withUnsafeBytes(body)
                case .int64(let values): return values.withUnsafeBytes(body)
                case .bool: break
                }
            #endif
            return littleEndianBytes.withUnsafeBytes(body)
        }
        let width = dtype.byteSize
        let perChunk = max(1, min(count, Self.chunkBytes / width))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: perChunk * width, alignment: 64)
        defer { buffer.deallocate() }
        var start = 0
        while start < count {
            let end = min(count, start + perChunk)
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(end - start) * width])
            guard fill(start..<end, into: chunk) else { return EIO }
            let failure = body(UnsafeRawBufferPointer(chunk))
            guard failure == 0 else { return failure }
            start = end
        }
        return 0
    }
}
