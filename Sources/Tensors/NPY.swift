import Foundation

/// NumPy `.npy` files holding a little-endian float32, int64 or bool array
/// in C order, the element types of `Tensor`. Anything else (other dtypes,
/// big-endian data, Fortran order, pickled objects) is rejected with a
/// message saying what the file holds; `readNumbers` reads any real-valued
/// array as doubles, for comparing.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads the `.npy` file at `path`. Errors name the file.
    public static func read(path: String) throws -> Tensor {
        do {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DFCError("cannot read the file", kind: .io)
            }
            return try decode(data)
        } catch let error as DFCError {
            throw error.inFile(path)
        }
    }

    /// Writes `tensor` to `path` as an `OutputFile` (no partial file on failure).
    public static func write(_ tensor: Tensor, to path: String) throws {
        try OutputFile(path).write([[UInt8](encode(tensor))])
    }

    public static func decode(_ data: some Sequence<UInt8>) throws -> Tensor {
        let bytes = [UInt8](data)
        let header = try Header(bytes)
        let dtype: DType
        switch header.descr {
        case "<f4": dtype = .float32
        case "<i8": dtype = .int64
        case "|b1": dtype = .bool
        case ">f4", ">i8":
            throw DFCError(
                "big-endian arrays ('\(header.descr)') are not supported (little-endian float32 or int64 only)")
        default:
            throw DFCError("dtype '\(header.descr)' is not supported (float32 '<f4', int64 '<i8' or bool '|b1' only)")
        }
        try header.checkPayload(bytes.count, elementBytes: dtype.byteSize)
        return Tensor(shape: header.shape, dtype: dtype, littleEndianBytes: bytes[header.dataStart...])
    }

    /// The numbers of any real-valued `.npy` array, as doubles: floats of
    /// 2, 4 or 8 bytes, signed and unsigned integers of 1 to 8 bytes and
    /// booleans, either byte order (what `dfc compare` reads; 64-bit
    /// integers past 2^53 round). Errors name what the file holds.
    public static func readNumbers(path: String) throws -> (shape: [Int], values: [Double], dtype: String) {
        do {
            guard let data = FileManager.default.contents(atPath: path) else { throw DFCError("cannot read the file") }
            let bytes = [UInt8](data)
            let header = try Header(bytes)
            var descr = Array(header.descr.utf8)
            guard descr.count >= 3, let size = Int(String(decoding: descr[2...], as: UTF8.self)) else {
                throw DFCError("dtype '\(header.descr)' is not a numeric array")
            }
            // '=' is the machine's own order; every platform dfc runs on is little-endian.
            if descr[0] == UInt8(ascii: "=") { descr[0] = UInt8(ascii: "<") }
            let kind = descr[1], big = descr[0] == UInt8(ascii: ">")
            let supported: Bool
            switch kind {
            case UInt8(ascii: "f"): supported = [2, 4, 8].contains(size)
            case UInt8(ascii: "i"), UInt8(ascii: "u"): supported = [1, 2, 4, 8].contains(size)
            case UInt8(ascii: "b"): supported = size == 1
            default: supported = false
            }
            guard supported, descr[0] != UInt8(ascii: "|") || size == 1 || kind == UInt8(ascii: "b") else {
                throw DFCError(
                    "dtype '\(header.descr)' is not supported (floats of 2, 4 or 8 bytes, integers of 1 to 8 bytes, booleans)"
                )
            }
            try header.checkPayload(bytes.count, elementBytes: size)
            var values = [Double](repeating: 0, count: header.count)
            var offset = header.dataStart
            for i in values.indices {
                var word: UInt64 = 0
                for b in 0..<size {
                    let byte = UInt64(bytes[offset + (big ? size - 1 - b : b)])
                    word |= byte << (8 * UInt64(b))
                }
                offset += size
                switch (kind, size) {
                case (UInt8(ascii: "f"), 2): values[i] = Double(halfToFloat(UInt16(word)))
                case (UInt8(ascii: "f"), 4): values[i] = Double(Float(bitPattern: UInt32(word)))
                case (UInt8(ascii: "f"), _): values[i] = Double(bitPattern: word)
                case (UInt8(ascii: "i"), _):
                    // Sign-extend from `size` bytes.
                    let shift = UInt64(64 - 8 * size)
                    values[i] = Double(Int64(bitPattern: word << shift) >> Int64(shift))
                default: values[i] = Double(word)
                }
            }
            return (header.shape, values, header.descr)
        } catch let error as DFCError {
            throw error.inFile(path)
        }
    }

    /// IEEE half precision bits to a float (subnormals, infinities and NaN included).
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10) & 0x1f, fraction = Float(bits & 0x3ff)
        switch exponent {
        case 0: return sign * fraction * Float(sign: .plus, exponent: -24, significand: 1)
        case 0x1f: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// The header of a `.npy` file: dtype string, C-order shape, and where the data starts.
    struct Header {
        var descr: String
        var shape: [Int]
        var count: Int
        var dataStart: Int

        init(_ bytes: [UInt8]) throws {
            guard bytes.count >= 10, Array(bytes[0..<6]) == NPY.magic else {
                throw DFCError("not a .npy file (bad magic)")
            }
            let major = bytes[6]
            let headerLength: Int, headerStart: Int
            switch major {
            case 1:
                headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
                headerStart = 10
            case 2, 3:
                guard bytes.count >= 12 else { throw DFCError("truncated header") }
                headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
                headerStart = 12
            default:
                throw DFCError(".npy format version \(major).\(bytes[7]) is not supported (1.0 to 3.0)")
            }
            guard headerStart + headerLength <= bytes.count else { throw DFCError("truncated header") }
            guard
                let header = String(
                    bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1)
            else {
                throw DFCError("unreadable .npy header")
            }
            var parser = HeaderParser(header)
            let fields = try parser.dictionary()
            guard case .string(let descr)? = fields["descr"] else { throw DFCError(".npy header has no 'descr'") }
            guard case .bool(let fortran)? = fields["fortran_order"] else {
                throw DFCError(".npy header has no 'fortran_order'")
            }
            guard case .tuple(let shape)? = fields["shape"] else { throw DFCError(".npy header has no 'shape'") }
            guard !fortran else { throw DFCError("Fortran-order arrays are not supported (save a C-order array)") }
            var count = 1
            for d in shape {
                guard d >= 0 else { throw DFCError("invalid dimension \(d) in shape \(shape)") }
                guard d <= Int(Int32.max) else { throw DFCError("dimension \(d) in shape \(shape) is too large") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 32 else { throw DFCError("array of shape \(shape) is too large") }
                count = product
            }
            (self.descr, self.shape, self.count, dataStart) = (descr, shape, count, headerStart + headerLength)
        }

        /// The data is exactly `count` elements of `elementBytes`.
        func checkPayload(_ fileBytes: Int, elementBytes: Int) throws {
            let payload = fileBytes - dataStart
            let expected = count * elementBytes
            guard payload == expected else {
                let problem = payload < expected ? "truncated data" : "\(payload - expected) extra bytes after the data"
                throw DFCError(
                    "\(problem): array of shape \(shape) needs \(expected) bytes of '\(descr)' data, the file has \(payload)"
                )
            }
        }
    }

    /// Version 1.0 `.npy` bytes, header padded to a multiple of 64 bytes.
    public static func encode(_ tensor: Tensor) -> Data {
        let descr: String
        switch tensor.dtype {
        case .float32: descr = "<f4"
        case .int64: descr = "<i8"
        case .bool: descr = "|b1"
        }
        let shape: String
        switch tensor.shape.count {
        case 0: shape = "()"
        case 1: shape = "(\(tensor.shape[0]),)"
        default: shape = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = magic.count + 4 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data(magic + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: tensor.littleEndianBytes)
        return out
    }

    /// The subset of Python literal syntax `.npy` headers use: a dict of
    /// string keys to strings, booleans and tuples of integers.
    struct HeaderParser {
        enum Value: Equatable {
            case string(String)
            case bool(Bool)
            case tuple([Int])
        }

        var characters: [Character]
        var position = 0

        init(_ text: String) { characters = Array(text) }

        mutating func dictionary() throws -> [String: Value] {
            try expect("{")
            var result: [String: Value] = [:]
            while true {
                skipSpace()
                if peek == "}" { position += 1; return result }
                guard case .string(let key) = try value() else { throw malformed("a string key") }
                try expect(":")
                result[key] = try value()
                skipSpace()
                if peek == "," { position += 1 }
            }
        }

        private mutating func value() throws -> Value {
            skipSpace()
            guard let c = peek else { throw malformed("a value") }
            if c == "'" || c == "\"" {
                position += 1
                var text = ""
                while let d = peek, d != c { text.append(d); position += 1 }
                try expect(c)
                return .string(text)
            }
            if c == "(" {
                position += 1
                var items: [Int] = []
                while true {
                    skipSpace()
                    if peek == ")" { position += 1; return .tuple(items) }
                    var digits = ""
                    while let d = peek, d.isNumber || d == "-" { digits.append(d); position += 1 }
                    // Python 2 era writers append L to long integers.
                    if peek == "L" { position += 1 }
                    guard let n = Int(digits) else { throw malformed("an integer dimension") }
                    items.append(n)
                    skipSpace()
                    if peek == "," { position += 1 }
                }
            }
            for (word, flag) in [("True", true), ("False", false)] where characters[position...].starts(with: word) {
                position += word.count
                return .bool(flag)
            }
            throw malformed("a string, boolean or tuple")
        }

        private var peek: Character? { position < characters.count ? characters[position] : nil }

        private mutating func skipSpace() {
            while let c = peek, c.isWhitespace { position += 1 }
        }

        private mutating func expect(_ c: Character) throws {
            skipSpace()
            guard peek == c else { throw malformed("'\(c)'") }
            position += 1
        }

        private func malformed(_ what: String) -> DFCError {
            DFCError(
                "malformed .npy header (expected \(what) at offset \(position)): \(String(characters).trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }
}
