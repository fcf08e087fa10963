import Foundation
import Tensors

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bytes of a whole file, read-only: a regular file is mapped (its pages
/// come from the page cache and are never copied), anything else (a FIFO, a
/// device) is read into memory. The only place the loader touches raw
/// pointers; unmapped or freed with the last reference.
final class MappedFile: @unchecked Sendable {
    // Immutable after init, so sharing across threads is safe.
    private let base: UnsafeRawPointer?
    let count: Int
    private let isMapped: Bool

    /// Opens and maps (or reads) `path`; a `ProgramError` on failure.
    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProgramError("cannot read file (\(String(cString: strerror(errno))))", kind: .io) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ProgramError("cannot read file (\(String(cString: strerror(errno))))", kind: .io)
        }
        if (info.st_mode & S_IFMT) == S_IFREG && info.st_size > 0 {
            let size = Int(info.st_size)
            // Not populated here: `Program.read` checksums every page on another core while this one decodes,
            // which maps them for the run's LOADs.
            let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            if let mapped, mapped != MAP_FAILED {
                (base, count, isMapped) = (UnsafeRawPointer(mapped), size, true)
                return
            }
        }
        let data: Data
        do { data = try FileHandle(fileDescriptor: fd, closeOnDealloc: false).readToEnd() ?? Data() } catch {
            throw ProgramError("cannot read file", kind: .io)
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, data.count), alignment: 16)
        data.copyBytes(to: buffer.assumingMemoryBound(to: UInt8.self), count: data.count)
        (base, count, isMapped) = (UnsafeRawPointer(buffer), data.count, false)
    }

    /// A copy of `bytes` (for programs decoded from memory).
    init(copying bytes: UnsafeRawBufferPointer) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        if let source = bytes.baseAddress { buffer.copyMemory(from: source, byteCount: bytes.count) }
        (base, count, isMapped) = (UnsafeRawPointer(buffer), bytes.count, false)
    }

    deinit {
        guard let base else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            base.deallocate()
        }
    }

    /// The bytes in `range` (which must lie within the file), valid inside `body` only.
    func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "file range out of bounds")
        let bytes = UnsafeRawBufferPointer(start: base.map { $0 + range.lowerBound }, count: range.count)
        return try withExtendedLifetime(self) { try body(bytes) }
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withBytes(0..<count, body)
    }
}

/// The bytes of a program's constants segment: an array, the tensors the
/// compiler placed (which are written out from where they are, never joined),
/// or a read-only view of the loaded .dfx file, which is then never copied
/// unless a run needs the values.
public struct ConstantBytes: Equatable, Sendable, ExpressibleByArrayLiteral, ByteChunks {
    private enum Storage {
        case array([UInt8])
        /// Tensors at ascending, non-overlapping byte addresses; zeros between them and up to `count`.
        case pieces([(address: Int, tensor: Tensor)], count: Int)
        case file(MappedFile, Range<Int>)
    }
    private let storage: Storage

    public init(_ bytes: [UInt8]) { storage = .array(bytes) }
    public init(arrayLiteral bytes: UInt8...) { storage = .array(bytes) }
    /// `range` of `file`, not copied.
    init(file: MappedFile, range: Range<Int>) { storage = .file(file, range) }

    /// A segment of `count` bytes holding each tensor's little-endian values at its address (ascending, not
    /// overlapping, inside `count`) and zeros elsewhere. The tensors are shared, not copied.
    public init(pieces: [(address: Int, tensor: Tensor)], count: Int) {
        var end = 0
        for piece in pieces {
            precondition(piece.address >= end, "constant pieces overlap or are out of order")
            end = piece.address + piece.tensor.count * piece.tensor.dtype.byteSize
        }
        precondition(end <= count, "constant pieces run past the segment")
        storage = .pieces(pieces, count: count)
    }

    public var count: Int {
        switch storage {
        case .array(let a): a.count
        case .pieces(_, let count): count
        case .file(_, let range): range.count
        }
    }

    /// The bytes, valid inside `body` only. A segment of pieces is joined into a temporary array for the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .array(let a): return try a.withUnsafeBytes(body)
        case .pieces:
            var joined: [UInt8] = []
            joined.reserveCapacity(count)
            _ = forEachChunk { chunk in
                joined += chunk
                return 0
            }
            return try joined.withUnsafeBytes(body)
        case .file(let file, let range): return try file.withBytes(range, body)
        }
    }

    public func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32 {
        guard case .pieces(let pieces, let count) = storage else { return withUnsafeBytes(body) }
        var position = 0
        func zeros(to end: Int) -> Int32 {
            while position < end {
                let n = min(end - position, Self.zeros.count)
                let failure = Self.zeros.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                guard failure == 0 else { return failure }
                position += n
            }
            return 0
        }
        for (address, tensor) in pieces {
            var failure = zeros(to: address)
            guard failure == 0 else { return failure }
            // Values in memory are written from where they are; a weight still in its model file in chunks.
            failure = tensor.forEachLittleEndianChunk(body)
            guard failure == 0 else { return failure }
            position = address + tensor.count * tensor.dtype.byteSize
        }
        return zeros(to: count)
    }

    private static let zeros = [UInt8](repeating: 0, count: 4096)

    /// Whether the bytes are a view of a loaded file.
    var isFileView: Bool {
        if case .file = storage { return true }
        return false
    }

    /// The bytes as an array (shared, not copied, when they are one).
    public var array: [UInt8] {
        switch storage {
        case .array(let a): a
        case .pieces, .file: withUnsafeBytes { [UInt8]($0) }
        }
    }

    public static func == (a: ConstantBytes, b: ConstantBytes) -> Bool {
        a.count == b.count
            && a.withUnsafeBytes { x in
                b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
            }
    }
}
