import Foundation

/// A dense row-major host tensor: what `.npy` files and program inputs/outputs hold.
public struct NDArray: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case f32([Float])
        case i64([Int64])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not match \(floats.count) values")
        (self.shape, self.storage) = (shape, .f32(floats))
    }
    public init(shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "shape \(shape) does not match \(int64s.count) values")
        (self.shape, self.storage) = (shape, .i64(int64s))
    }

    public var dtype: DType {
        switch storage {
        case .f32: .f32
        case .i64: .i64
        }
    }
    public var count: Int { shape.reduce(1, *) }

    /// The values as fp32 (int64 converted).
    public var floats: [Float] {
        switch storage {
        case .f32(let v): v
        case .i64(let v): v.map { Float($0) }
        }
    }

    /// Little-endian raw bytes of the values.
    public var rawBytes: [UInt8] {
        switch storage {
        case .f32(let v): v.withUnsafeBytes { Array($0) }
        case .i64(let v): v.withUnsafeBytes { Array($0) }
        }
    }

    init(shape: [Int], dtype: DType, rawBytes: [UInt8]) {
        self.shape = shape
        switch dtype {
        case .f32:
            var v = [Float](repeating: 0, count: rawBytes.count / 4)
            v.withUnsafeMutableBytes { $0.copyBytes(from: rawBytes) }
            storage = .f32(v)
        case .i64:
            var v = [Int64](repeating: 0, count: rawBytes.count / 8)
            v.withUnsafeMutableBytes { $0.copyBytes(from: rawBytes) }
            storage = .i64(v)
        }
    }
}

/// A `.npy` file that cannot be read, with a one-line reason.
public struct NPYError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// NumPy `.npy` files (format versions 1, 2 and 3): little-endian float32 and
/// int64, C order only.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(path: String) throws -> NDArray {
        guard let data = FileManager.default.contents(atPath: path) else { throw NPYError("cannot read file") }
        return try decode([UInt8](data))
    }

    public static func decode(_ bytes: [UInt8]) throws -> NDArray {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NPYError("not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError("truncated header") }
            headerStart = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw NPYError("unsupported .npy format version \(major)")
        }
        guard headerLength <= bytes.count - headerStart else { throw NPYError("truncated header") }
        guard let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: major == 3 ? .utf8 : .isoLatin1)
        else { throw NPYError("unreadable header") }

        guard let descr = value(of: "descr", in: header).map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) })
        else { throw NPYError("header has no 'descr'") }
        let dtype: DType
        switch descr {
        case "<f4": dtype = .f32
        case "<i8": dtype = .i64
        case ">f4", ">i8": throw NPYError("big-endian data (\(descr)) is not supported")
        default: throw NPYError("dtype \(descr) is not supported (float32 '<f4' or int64 '<i8')")
        }
        guard let fortran = value(of: "fortran_order", in: header) else { throw NPYError("header has no 'fortran_order'") }
        guard fortran == "False" else { throw NPYError("Fortran-order arrays are not supported") }
        guard let shapeText = value(of: "shape", in: header) else { throw NPYError("header has no 'shape'") }
        let parts = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        var count = 1
        for p in parts {
            guard let d = Int(p), d >= 0 else { throw NPYError("bad shape \(shapeText)") }
            let (c, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw NPYError("shape \(shapeText) is too large") }
            shape.append(d)
            count = c
        }
        let dataStart = headerStart + headerLength
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.bytes)
        guard !overflow, byteCount <= bytes.count - dataStart else {
            throw NPYError("truncated data: shape \(shapeText) needs \(count) values of \(dtype.bytes) bytes, file has \(bytes.count - dataStart) bytes")
        }
        guard byteCount == bytes.count - dataStart else {
            throw NPYError("\(bytes.count - dataStart - byteCount) extra bytes after the data")
        }
        return NDArray(shape: shape, dtype: dtype, rawBytes: Array(bytes[dataStart...]))
    }

    /// The text of a header dict value: from after "'key':" to the next top-level comma or brace.
    private static func value(of key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        var depth = 0, out = ""
        for ch in rest {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if depth == 0 && (ch == "," || ch == "}") { break }
            out.append(ch)
            if depth < 0 { return nil }
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    public static func encode(_ array: NDArray) -> [UInt8] {
        let descr = array.dtype == .f32 ? "<f4" : "<i8"
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // Pad so that the data starts on a 64-byte boundary, as numpy does.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        let n = header.utf8.count
        bytes += [UInt8(n & 0xFF), UInt8(n >> 8)]
        bytes += Array(header.utf8)
        bytes += array.rawBytes
        return bytes
    }

    /// Writes atomically (temporary file, then rename).
    public static func write(_ array: NDArray, to path: String) throws {
        try atomicWrite(encode(array), to: path)
    }
}
