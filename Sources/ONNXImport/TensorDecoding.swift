import Foundation
import GraphIR
import Tensors

/// Turns a TensorProto's fields into an IR `Tensor`: floating types become
/// fp32, integer types int64, booleans bool, with every size checked.
enum TensorDecoding {
    /// Decodes `data`; `externalBase` is the directory external data is relative to.
    static func decode(_ data: ONNXProto.TensorData, externalBase: URL?) throws -> Tensor {
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
        case .external(let entries):
            let bytes = try readExternal(entries, base: externalBase, byteCount: count * type.rawWidth, label: label)
            return try fromRaw(bytes, type: type, shape: shape, count: count, label: label)
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

    private static func fromRaw(_ bytes: [UInt8], type: ONNXElementType, shape: [Int], count: Int, label: String) throws
        -> Tensor
    {
        guard bytes.count == count * type.rawWidth else {
            throw DFCError(
                "\(label) has \(bytes.count) bytes of data, expected \(count * type.rawWidth) for shape \(shape)")
        }
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
    private static func readExternal(_ entries: [String: String], base: URL?, byteCount: Int, label: String) throws
        -> [UInt8]
    {
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
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DFCError("\(label): external data file '\(location)' not found next to the model", kind: .io)
        }
        defer { try? handle.close() }
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
        let fileSize = (try? handle.seekToEnd()) ?? 0
        guard offset <= fileSize, UInt64(byteCount) <= fileSize - offset else {
            throw DFCError(
                "\(label): external data file '\(location)' is too short (needs \(byteCount) bytes at offset \(offset), has \(fileSize))"
            )
        }
        try handle.seek(toOffset: offset)
        let data = try handle.read(upToCount: byteCount) ?? Data()
        guard data.count == byteCount else {
            throw DFCError("\(label): could not read \(byteCount) bytes from '\(location)'", kind: .io)
        }
        return [UInt8](data)
    }
}
