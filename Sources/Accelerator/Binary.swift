// Little-endian byte writing and bounds-checked reading, and the instruction
// field coders built on them.

import Tensors

/// An unusable program, with a one-line message.
public struct ProgramError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// `.io` when the file could not be read; a program that is wrong is `.badInput`.
    public var kind: DFCError.Kind
    public init(_ message: String, kind: DFCError.Kind = .badInput) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }

    /// A file that does not decode: "corrupt .dfx: ...".
    static func corrupt(_ what: String) -> ProgramError { ProgramError("corrupt .dfx: \(what)") }
    /// A program that decodes but breaks a rule: "invalid program: ...".
    static func invalid(_ what: String) -> ProgramError { ProgramError("invalid program: \(what)") }
}

extension DFCError {
    /// A program's error as dfc reports it: attributed to `file`, of the same kind.
    public init(_ error: ProgramError, file: String) {
        self.init(error.message, file: file, kind: error.kind)
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}

/// Bounds-checked little-endian reading of bytes that outlive the reader
/// (a decoder reads inside the `withUnsafeBytes` of its input).
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw ProgramError.corrupt("truncated: \(what()) needs \(n) bytes at offset \(offset), \(remaining) left")
        }
    }

    mutating func u8() throws -> UInt8 {
        try need(1, "a byte")
        defer { offset += 1 }
        return bytes[offset]
    }
    private mutating func little(_ n: Int) throws -> UInt64 {
        try need(n, "a \(n)-byte integer")
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }
    mutating func u16() throws -> UInt16 { UInt16(try little(2)) }
    mutating func u32() throws -> UInt32 { UInt32(try little(4)) }
    mutating func u64() throws -> UInt64 { try little(8) }

    /// A u32 count, checked against a sanity limit and against the bytes left
    /// (each item takes at least `minItemBytes`).
    mutating func count(max limit: Int, minItemBytes: Int, what: String) throws -> Int {
        let n = Int(try u32())
        guard n <= limit else { throw ProgramError.corrupt("\(what) count \(n) exceeds the limit \(limit)") }
        guard n * minItemBytes <= remaining else {
            throw ProgramError.corrupt("\(what) count \(n) does not fit in the \(remaining) bytes left")
        }
        return n
    }

    /// Skips `n` bytes; returns their offsets.
    mutating func skip(_ n: Int, what: String) throws -> Range<Int> {
        try need(n, what)
        defer { offset += n }
        return offset..<offset + n
    }

    mutating func bytes(_ n: Int, what: String) throws -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[try skip(n, what: what)])
    }

    mutating func string(maxBytes: Int, what: String) throws -> String {
        let n = Int(try u32())
        guard n <= maxBytes else { throw ProgramError.corrupt("\(what) is \(n) bytes long, limit \(maxBytes)") }
        let raw = try bytes(n, what: what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw ProgramError.corrupt("\(what) is not UTF-8") }
        return s
    }
}

// MARK: - Field coders for the binary encoding

/// Writes payload fields in declaration order; throws if a value does not fit its width.
struct FieldEncoder: FieldCoder {
    var w = ByteWriter()

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        guard width.range.contains(value) else {
            throw ProgramError.invalid("field \(name) = \(value) does not fit \(width.name)")
        }
        switch width {
        case .u8: w.u8(UInt8(value))
        case .u16: w.u16(UInt16(value))
        case .u32: w.u32(UInt32(value))
        case .u64: w.u64(UInt64(value))
        case .i32: w.u32(UInt32(bitPattern: Int32(value)))
        case .f32: w.u32(0)
        }
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        guard values.count == count else {
            throw ProgramError.invalid("field \(name) has \(values.count) values, expected \(count)")
        }
        for i in 0..<count { try int(name, &values[i], width) }
    }
    mutating func float(_ name: String, _ value: inout Float) throws { w.u32(value.bitPattern) }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        guard values.count == count else {
            throw ProgramError.invalid("field \(name) has \(values.count) values, expected \(count)")
        }
        for v in values { w.u32(v.bitPattern) }
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws { w.u8(value ? 1 : 0) }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws { w.u8(value.rawValue) }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws { try value.fields(&self) }
}

/// Reads payload fields in declaration order, rejecting invalid enum and bool bytes.
struct FieldDecoder: FieldCoder {
    var r: ByteReader

    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        switch width {
        case .u8: value = Int(try r.u8())
        case .u16: value = Int(try r.u16())
        case .u32: value = Int(try r.u32())
        case .u64:
            let v = try r.u64()
            guard v <= UInt64(Int.max) else { throw ProgramError.corrupt("field \(name) = \(v) is out of range") }
            value = Int(v)
        case .i32: value = Int(Int32(bitPattern: try r.u32()))
        case .f32: _ = try r.u32()
        }
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        values = [Int](repeating: 0, count: count)
        for i in 0..<count { try int(name, &values[i], width) }
    }
    mutating func float(_ name: String, _ value: inout Float) throws { value = Float(bitPattern: try r.u32()) }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        values = [Float](repeating: 0, count: count)
        for i in 0..<count { values[i] = Float(bitPattern: try r.u32()) }
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws {
        let b = try r.u8()
        guard b <= 1 else { throw ProgramError.corrupt("field \(name) = \(b) is not a boolean") }
        value = b == 1
    }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        let b = try r.u8()
        guard let e = E(rawValue: b) else {
            throw ProgramError.corrupt("field \(name) = \(b) is not a valid \(E.self)")
        }
        value = e
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws { try value.fields(&self) }
}

/// Checks that every integer field of an in-memory instruction fits its width
/// (decoded ones always do) and that arrays have their declared length.
struct FieldRangeChecker: FieldCoder {
    var path: [String] = []

    private func fail(_ name: String, _ why: String) -> ProgramError {
        ProgramError.invalid("field \((path + [name]).joined(separator: ".")) \(why)")
    }
    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        guard width.range.contains(value) else { throw fail(name, "= \(value) does not fit \(width.name)") }
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        guard values.count == count else { throw fail(name, "has \(values.count) values, expected \(count)") }
        for v in values where !width.range.contains(v) { throw fail(name, "= \(v) does not fit \(width.name)") }
    }
    mutating func float(_ name: String, _ value: inout Float) throws {}
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        guard values.count == count else { throw fail(name, "has \(values.count) values, expected \(count)") }
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws {}
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {}
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws {
        path.append(name)
        defer { path.removeLast() }
        try value.fields(&self)
    }
}
