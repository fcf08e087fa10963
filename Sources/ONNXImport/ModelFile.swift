import Foundation
import Synchronization
import Tensors

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A regular model file, open for import, that is never read whole into memory.
///
/// The file is mapped only while its structure is decoded: the wire check
/// walks it, and libprotobuf-c unpacks a copy of it without the `raw_data`
/// bytes of the main graph's initializers (`ElidedModel`), so only the
/// model's structure is ever copied. A large fp32 or int64 initializer stays
/// in the file: its tensor is deferred (`TensorSource`), read with `pread`
/// when a pass or the program writer asks for its values, so a model's
/// weights are not in memory at all while it compiles. Smaller initializers
/// are read straight into their tensors (`read(into:at:)`).
///
/// The file stays open while any of its tensors lives. A file replaced by a
/// rename keeps its old contents for dfc; one truncated or rewritten in
/// place is a failed read or a changed modification time, which
/// `checkUnchanged` reports before an output made from it is kept.
final class ModelFile: TensorSource {
    private let descriptor: Int32
    let size: Int
    /// The path as the user gave it, for errors.
    let path: String
    /// The modification time when the file was opened.
    private let modified: timespec
    /// Why a read of a deferred tensor failed, once one has.
    private let failure = Mutex<String?>(nil)

    /// Opens `path`; nil when it is not a regular file (a FIFO or a device is read whole instead).
    init?(regularFileAt path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DFCError("cannot read the file (\(ModelFile.describe(errno)))", kind: .io) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.path = path
        size = Int(info.st_size)
        modified = info.st_mtim
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        guard Self.read(descriptor, into: buffer, at: offset) else {
            failure.withLock {
                $0 = $0 ?? "the file was truncated or changed while dfc read it (a weight's bytes could not be read)"
            }
            return false
        }
        return true
    }

    func checkUnchanged() throws {
        if let failure = failure.withLock({ $0 }) { throw DFCError(failure, file: path, kind: .io) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw DFCError("cannot read the file (\(Self.describe(errno)))", file: path, kind: .io)
        }
        guard Int(info.st_size) == size, info.st_mtim.tv_sec == modified.tv_sec,
            info.st_mtim.tv_nsec == modified.tv_nsec
        else {
            throw DFCError(
                "the file was modified while dfc compiled it (its weights are read as they are written out); compile again",
                file: path, kind: .io)
        }
    }

    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// Decodes the model's structure; the main graph's `raw_data` initializers come back as `.file` payloads.
    func decodeModel() throws -> ONNXProto.Model {
        guard size > 0 else { throw DFCError("the file is empty, not an ONNX model") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw DFCError("cannot read the file (\(ModelFile.describe(errno)))", kind: .io)
        }
        defer { munmap(mapped, size) }
        let bytes = UnsafeRawBufferPointer(start: mapped, count: size)
        try WireCheck.check(bytes)
        guard let elided = ElidedModel(bytes) else { return try ONNXProtobuf.decodeModel(bytes) }
        var model = try elided.bytes.withUnsafeBytes { try ONNXProtobuf.decodeModel($0) }
        guard model.graph.initializers.count == elided.rawData.count else { return try ONNXProtobuf.decodeModel(bytes) }
        for (k, range) in elided.rawData.enumerated() {
            // External data wins over raw_data, as when the file is decoded whole.
            guard let range else { continue }
            if case .external = model.graph.initializers[k].payload { continue }
            model.graph.initializers[k].payload = .file(range)
        }
        return model
    }

    /// Fills `buffer` from `descriptor` at `offset`, however many calls it takes.
    static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

/// A copy of a model's protobuf without the `raw_data` bytes of its main
/// graph's initializers, and where those bytes are in the original. The
/// enclosing lengths are rewritten; every other byte is copied as it is.
struct ElidedModel {
    var bytes: [UInt8] = []
    /// Per initializer of the main graph, in file order: where its `raw_data`
    /// bytes are (the last ones when the field repeats, as a decoder keeps), nil without any.
    var rawData: [Range<Int>?] = []

    /// nil when the file has more than one graph field (a decoder merges them: the file is then decoded whole)
    /// or does not walk as `WireCheck` accepts it.
    init?(_ file: UnsafeRawBufferPointer) {
        var reader = WireReader(bytes: file)
        var graphs = 0
        while reader.offset < file.count {
            let start = reader.offset
            guard let (tag, body) = reader.field(end: file.count) else { return nil }
            guard tag == 7 << 3 | 2 else {
                bytes += file[start..<reader.offset]
                continue
            }
            graphs += 1
            guard graphs == 1, let graph = elideGraph(file, body) else { return nil }
            appendVarint(tag, to: &bytes)
            appendVarint(UInt64(graph.count), to: &bytes)
            bytes += graph
        }
    }

    /// The graph message in `range` with each initializer's raw_data left out.
    private mutating func elideGraph(_ file: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8]? {
        var out: [UInt8] = []
        var reader = WireReader(bytes: file, offset: range.lowerBound)
        while reader.offset < range.upperBound {
            let start = reader.offset
            guard let (tag, body) = reader.field(end: range.upperBound) else { return nil }
            guard tag == 5 << 3 | 2 else {
                out += file[start..<reader.offset]
                continue
            }
            var tensor: [UInt8] = []
            var raw: Range<Int>?
            var inner = WireReader(bytes: file, offset: body.lowerBound)
            while inner.offset < body.upperBound {
                let fieldStart = inner.offset
                guard let (fieldTag, fieldBody) = inner.field(end: body.upperBound) else { return nil }
                if fieldTag == 9 << 3 | 2 {
                    raw = fieldBody
                } else {
                    tensor += file[fieldStart..<inner.offset]
                }
            }
            rawData.append(raw)
            appendVarint(tag, to: &out)
            appendVarint(UInt64(tensor.count), to: &out)
            out += tensor
        }
        return out
    }
}

/// Steps over protobuf fields, one at a time.
private struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func varint(end: Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            shift += 7
            if byte & 0x80 == 0 { return result }
        }
        return nil
    }

    /// The next field's tag and, for a length-delimited one, its body's bytes; the offset moves past it.
    mutating func field(end: Int) -> (tag: UInt64, body: Range<Int>)? {
        guard let tag = varint(end: end) else { return nil }
        switch tag & 7 {
        case 0:
            guard varint(end: end) != nil else { return nil }
            return (tag, offset..<offset)
        case 1, 5:
            let width = tag & 7 == 1 ? 8 : 4
            guard end - offset >= width else { return nil }
            offset += width
            return (tag, offset..<offset)
        case 2:
            guard let length = varint(end: end), length <= UInt64(end - offset) else { return nil }
            let body = offset..<offset + Int(length)
            offset = body.upperBound
            return (tag, body)
        default:
            return nil
        }
    }
}
