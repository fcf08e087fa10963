import Foundation
import GraphIR
import Tensors

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a TensorProto's fields into an IR `Tensor`: floating types become
/// fp32, integer types int64, booleans bool, with every size checked.
enum TensorDecoding {
    /// Decodes `data`; `externalBase` is the directory external data is relative to, `file` the model
    /// file a `.file` payload is read from.
    static func decode(_ data: ONNXProto.TensorData, externalBase: URL?, file: ModelFile? = nil) throws -> Tensor {
        let label = data.name.isEmpty ? "tensor" : "tensor '\(data.name)'"
        guard let type = ONNXElementType(rawValue: data.dataType) else {
            throw DFCError(
                "\(label) has element type \(ONNXElementType.name(of: data.dataType)), which dfc does not support")
        }
        guard data.dims.count <= TensorType.maxRank else {
            throw DFCError("\(label) has rank \(data.dims.count), above the limit of \(TensorType.maxRank) dimensions")
        }
        var shape: [Int] = []
        var count = 1
        for d in data.dims {
            guard d >= 0, d <= Int64(Int32.max) else { throw DFCError("\(label) has invalid dimension \(d)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= 1 << 31 else { throw DFCError("\(label) is too large (\(data.dims))") }
            shape.append(Int(d))
            count = product
        }

        func expect(_ n: Int, _ what: String) throws {
            guard n == count else {
                throw DFCError("\(label) has \(n) \(what) values, expected \(count) for shape \(shape)")
            }
        }

        switch data.payload {
        case .raw(let bytes):
            return try fromRaw(bytes, type: type, shape: shape, count: count, label: label)
        case .file(let range):
            guard let file else { throw DFCError("internal error: \(label) has its data in a file not open") }
            try checkByteCount(range.count, type: type, shape: shape, count: count, label: label)
            if range.count >= deferredBytes, let dtype = type.inPlaceDType {
                return Tensor(shape: shape, dtype: dtype, source: file, offset: range.lowerBound)
            }
            return try read(type: type, shape: shape, count: count) { file.read(into: $0, at: range.lowerBound) }
                ?? {
                    throw DFCError("could not read the \(range.count) bytes of \(label) (the file changed?)", kind: .io)
                }()
        case .external(let entries):
            return try readExternal(
                entries, base: externalBase, type: type, shape: shape, count: count, label: label)
        case .floats(let values):
            try expect(values.count, "float_data")
            return Tensor(shape: shape, floats: values)
        case .doubles(let values):
            try expect(values.count, "double_data")
            return Tensor(shape: shape, floats: values.map { Float($0) })
        case .int64s(let values):
            try expect(values.count, "int64_data")
            if type == .bool { return Tensor(shape: shape, bools: values.map { $0 != 0 }) }
            return Tensor(shape: shape, ints: values)
        case .uint64s(let values):
            try expect(values.count, "uint64_data")
            return Tensor(shape: shape, ints: values.map { Int64(truncatingIfNeeded: $0) })
        case .int32s(let values):
            try expect(values.count, "int32_data")
            switch type {
            case .float16:
                return Tensor(shape: shape, floats: values.map { halfToFloat(UInt16(truncatingIfNeeded: $0)) })
            case .bfloat16:
                return Tensor(
                    shape: shape, floats: values.map { Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16) }
                )
            case .bool: return Tensor(shape: shape, bools: values.map { $0 != 0 })
            default: return Tensor(shape: shape, ints: values.map { Int64($0) })
            }
        case .strings:
            throw DFCError("\(label) holds strings, which dfc does not support")
        case .none:
            guard count == 0 else { throw DFCError("\(label) has no data for shape \(shape)") }
            switch type.dtype {
            case .float32: return Tensor(shape: shape, floats: [])
            case .int64: return Tensor(shape: shape, ints: [])
            case .bool: return Tensor(shape: shape, bools: [])
            }
        }
    }

    /// The smallest initializer left in the model file until it is used (`ModelFile`): below it, a pass's many
    /// reads of small constants (shapes, BatchNormalization parameters) would each be a system call.
    static let deferredBytes = 4096

    private static func checkByteCount(_ n: Int, type: ONNXElementType, shape: [Int], count: Int, label: String)
        throws
    {
        guard n == count * type.rawWidth else {
            throw DFCError("\(label) has \(n) bytes of data, expected \(count * type.rawWidth) for shape \(shape)")
        }
    }

    /// A tensor whose little-endian bytes `fill` writes into the buffer it is given (false: it could not; then
    /// nil). fp32 and int64 data go straight into the tensor's storage, other types through a byte buffer.
    private static func read(
        type: ONNXElementType, shape: [Int], count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Bool
    ) throws -> Tensor? {
        var filled = true
        #if _endian(little)
            switch type {
            case .float:
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    filled = fill(UnsafeMutableRawBufferPointer(buffer))
                    initialized = filled ? count : 0
                }
                return filled ? Tensor(shape: shape, floats: values) : nil
            case .int64:
                let values = [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
                    filled = fill(UnsafeMutableRawBufferPointer(buffer))
                    initialized = filled ? count : 0
                }
                return filled ? Tensor(shape: shape, ints: values) : nil
            default: break
            }
        #endif
        let bytes = [UInt8](unsafeUninitializedCapacity: count * type.rawWidth) { buffer, initialized in
            filled = fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = filled ? buffer.count : 0
        }
        return filled ? try fromRaw(bytes, type: type, shape: shape, count: count, label: "") : nil
    }

    private static func fromRaw(_ bytes: [UInt8], type: ONNXElementType, shape: [Int], count: Int, label: String) throws
        -> Tensor
    {
        try checkByteCount(bytes.count, type: type, shape: shape, count: count, label: label)
        return bytes.withUnsafeBytes { raw -> Tensor in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
            }
            switch type {
            case .float:
                return Tensor(shape: shape, floats: (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) })
            case .double:
                return Tensor(
                    shape: shape, floats: (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) })
            case .float16: return Tensor(shape: shape, floats: (0..<count).map { halfToFloat(load(UInt16.self, $0)) })
            case .bfloat16:
                return Tensor(
                    shape: shape, floats: (0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) })
            case .int64: return Tensor(shape: shape, ints: (0..<count).map { load(Int64.self, $0) })
            case .uint64:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(truncatingIfNeeded: load(UInt64.self, $0)) })
            case .int32: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int32.self, $0)) })
            case .uint32: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt32.self, $0)) })
            case .int16: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int16.self, $0)) })
            case .uint16: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt16.self, $0)) })
            case .int8: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(Int8.self, $0)) })
            case .uint8: return Tensor(shape: shape, ints: (0..<count).map { Int64(load(UInt8.self, $0)) })
            case .bool: return Tensor(shape: shape, bools: (0..<count).map { load(UInt8.self, $0) != 0 })
            }
        }
    }

    /// IEEE 754 binary16 to binary32, subnormals and specials included.
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1f
        let mantissa = UInt32(bits & 0x3ff)
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 31:
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
    }

    /// Reads a tensor's bytes from its side file. The location must stay
    /// inside the model's directory: a model may not read arbitrary files.
    private static func readExternal(
        _ entries: [String: String], base: URL?, type: ONNXElementType, shape: [Int], count: Int, label: String
    ) throws -> Tensor {
        let byteCount = count * type.rawWidth
        guard let location = entries["location"], !location.isEmpty else {
            throw DFCError("\(label) is stored externally but names no location")
        }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\\"), !parts.contains("..") else {
            throw DFCError("\(label): external data location '\(location)' leaves the model's directory")
        }
        guard let base else {
            throw DFCError("\(label) is stored externally, but the model has no directory to resolve '\(location)' in")
        }
        let url = base.appendingPathComponent(location)
        // A symbolic link (to the file or a folder on its way) may point anywhere: where it leads must
        // still be inside the model's directory.
        let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
        let root = base.resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw DFCError("\(label): external data location '\(location)' leads out of the model's directory")
        }
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw DFCError("\(label): external data file '\(location)' not found next to the model", kind: .io)
        }
        defer { close(descriptor) }
        let offset =
            try entries["offset"].map { text -> UInt64 in
                guard let v = UInt64(text) else {
                    throw DFCError("\(label): external data offset '\(text)' is not a number")
                }
                return v
            } ?? 0
        if let lengthText = entries["length"] {
            guard let length = Int(lengthText), length == byteCount else {
                throw DFCError(
                    "\(label): external data length \(lengthText) does not match the \(byteCount) bytes its shape needs"
                )
            }
        }
        var info = stat()
        let fileSize = fstat(descriptor, &info) == 0 ? UInt64(max(0, info.st_size)) : 0
        guard offset <= fileSize, UInt64(byteCount) <= fileSize - offset else {
            throw DFCError(
                "\(label): external data file '\(location)' is too short (needs \(byteCount) bytes at offset \(offset), has \(fileSize))"
            )
        }
        return try read(type: type, shape: shape, count: count) {
            ModelFile.read(descriptor, into: $0, at: Int(offset))
        } ?? { throw DFCError("\(label): could not read \(byteCount) bytes from '\(location)'", kind: .io) }()
    }
}

extension ONNXElementType {
    /// The dtype whose values are this type's raw little-endian bytes as they are (fp32, int64): a tensor of
    /// it can be read straight from the file, when it is used. nil for types that need converting.
    var inPlaceDType: DType? {
        switch self {
        case .float: .float32
        case .int64: .int64
        default: nil
        }
    }
}
