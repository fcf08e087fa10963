import Accelerator
import Tensors

/// One field of an encoded `.dfx` file: where it is, how wide, what it holds.
package struct DFXField: Equatable {
    package enum Kind: Equatable {
        case integer(FieldWidth)
        case float
        case bool
        /// A one-byte enumeration with `cases` valid codes (opcode, dtype, role, act.kind, ...).
        case enumeration(cases: Int)
        /// A wait or signal engine mask.
        case tokens
    }

    package var name: String
    package var offset: Int
    package var kind: Kind

    package var byteCount: Int {
        switch kind {
        case .integer(let width): width.bytes
        case .float: 4
        case .bool, .enumeration, .tokens: 1
        }
    }
}

/// The layout of an encoded program, field by field, as docs/isa.md section 3
/// describes it; the instruction payloads are walked with the ISA's own
/// `FieldCoder` machinery, so every payload field is found at its real offset.
package enum DFXLayout {
    /// Every field of `program`'s encoding, in file order. The last field
    /// ends where the CRC-32C begins; a test checks that.
    package static func fields(of program: Program) throws -> [DFXField] {
        var fields: [DFXField] = []
        var offset = 4  // magic
        func add(_ name: String, _ kind: DFXField.Kind) {
            let field = DFXField(name: name, offset: offset, kind: kind)
            fields.append(field)
            offset += field.byteCount
        }
        func string(_ name: String, _ text: String) {
            add("\(name).length", .integer(.u32))
            offset += text.utf8.count
        }
        add("version", .integer(.u16))
        add("reserved", .integer(.u16))
        string("config.name", program.config.name)
        for i in 0..<15 { add("config[\(i)]", .integer(.u64)) }
        add("dram_bytes", .integer(.u64))
        add("constants.count", .integer(.u64))
        offset += program.constants.count
        add("tensors.count", .integer(.u32))
        for t in program.tensors {
            string("tensor.name", t.name)
            add("tensor.dtype", .enumeration(cases: 2))
            add("tensor.role", .enumeration(cases: 2))
            add("tensor.rank", .integer(.u8))
            for d in t.shape.indices { add("tensor.dims[\(d)]", .integer(.u64)) }
            add("tensor.address", .integer(.u64))
        }
        add("instructions.count", .integer(.u32))
        for instruction in program.instructions {
            add("opcode", .enumeration(cases: Opcode.allCases.count))
            add("wait", .tokens)
            add("signal", .tokens)
            var recorder = LayoutRecorder(offset: offset, prefix: instruction.opcode.mnemonic)
            var op = instruction.operation
            try op.fields(&recorder)
            fields += recorder.fields
            offset = recorder.offset
        }
        let names = Array(Set(program.debugNames.joined())).sorted()
        add("debug.strings", .integer(.u32))
        for name in names { string("debug.name", name) }
        for list in program.debugNames {
            add("debug.count", .integer(.u32))
            for _ in list { add("debug.index", .integer(.u32)) }
        }
        add("dram.regions", .integer(.u32))
        for r in program.dramRegions {
            string("dram.name", r.name)
            add("dram.address", .integer(.u64))
            add("dram.bytes", .integer(.u64))
        }
        for list in program.dramReferences {
            add("dram.count", .integer(.u8))
            for _ in list { add("dram.index", .integer(.u32)) }
        }
        return fields
    }

    /// Rewrites the trailing CRC-32C so that a mutation reaches the decoder and the validator.
    package static func fixChecksum(_ bytes: inout [UInt8]) {
        guard bytes.count >= 4 else { return }
        let crc = crc32(bytes[0..<bytes.count - 4])
        for i in 0..<4 { bytes[bytes.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    }

    /// CRC-32C (Castagnoli, reflected), bit by bit: the tests' own, independent of the loader's.
    package static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0x82F6_3B78 ^ (crc >> 1) : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Records each leaf field of a payload at its byte offset.
private struct LayoutRecorder: FieldCoder {
    var offset: Int
    var path: [String]
    var fields: [DFXField] = []

    init(offset: Int, prefix: String) {
        self.offset = offset
        self.path = [prefix]
    }

    private mutating func add(_ name: String, _ kind: DFXField.Kind) {
        let field = DFXField(name: (path + [name]).joined(separator: "."), offset: offset, kind: kind)
        fields.append(field)
        offset += field.byteCount
    }
    mutating func int(_ name: String, _ value: inout Int, _ width: FieldWidth) throws {
        add(name, width == .f32 ? .float : .integer(width))
    }
    mutating func ints(_ name: String, _ values: inout [Int], count: Int, _ width: FieldWidth) throws {
        for i in 0..<count { add("\(name)[\(i)]", width == .f32 ? .float : .integer(width)) }
    }
    mutating func float(_ name: String, _ value: inout Float) throws { add(name, .float) }
    mutating func floats(_ name: String, _ values: inout [Float], count: Int) throws {
        for i in 0..<count { add("\(name)[\(i)]", .float) }
    }
    mutating func bool(_ name: String, _ value: inout Bool) throws { add(name, .bool) }
    mutating func enumeration<E: FieldEnum>(_ name: String, _ value: inout E) throws {
        add(name, .enumeration(cases: E.allCases.count))
    }
    mutating func group<G: FieldGroup>(_ name: String, _ value: inout G) throws {
        path.append(name)
        defer { path.removeLast() }
        try value.fields(&self)
    }
}

/// Seeded mutations of `.dfx` programs that keep the checksum valid: values
/// at the edges of a field's width written at real field boundaries, and
/// structural edits of the instruction stream (instructions dropped,
/// repeated, reordered, their tokens changed).
package enum ProgramMutator {
    /// One mutant of `program`, encoded, with the checksum recomputed (almost always).
    package static func mutate(_ program: Program, layout: [DFXField], rng: inout SeededRandom) throws -> [UInt8] {
        var bytes: [UInt8]
        if Int.random(in: 0..<4, using: &rng) == 0, !program.instructions.isEmpty {
            bytes = try structural(program, rng: &rng).encoded()
        } else {
            bytes = try program.encoded()
            for _ in 0..<(Int.random(in: 0..<4, using: &rng) == 0 ? 2 : 1) {
                guard let field = layout.randomElement(using: &rng) else { break }
                write(edgeValue(for: field, in: bytes, program: program, rng: &rng), to: field, in: &bytes)
            }
        }
        if Int.random(in: 0..<20, using: &rng) > 0 { DFXLayout.fixChecksum(&bytes) }
        return bytes
    }

    /// The stored value of `field`, little-endian.
    package static func read(_ field: DFXField, in bytes: [UInt8]) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<field.byteCount { v |= UInt64(bytes[field.offset + i]) << (8 * UInt64(i)) }
        return v
    }

    package static func write(_ value: UInt64, to field: DFXField, in bytes: inout [UInt8]) {
        for i in 0..<field.byteCount { bytes[field.offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// A value on an edge of what the field may hold, or next to what it holds.
    static func edgeValue(for field: DFXField, in bytes: [UInt8], program: Program, rng: inout SeededRandom)
        -> UInt64
    {
        let current = read(field, in: bytes)
        let bits = UInt64(field.byteCount * 8)
        let mask: UInt64 = bits == 64 ? .max : (1 << bits) - 1
        switch field.kind {
        case .float:
            return [
                0x7FC0_0000, 0x7F80_0000, 0xFF80_0000, 0, 0x8000_0000, 0x7F7F_FFFF, 1, 0x3F80_0000, 0xBF80_0000
            ].randomElement(using: &rng)!
        case .bool: return [0, 1, 2, 0xFF].randomElement(using: &rng)!
        case .enumeration(let cases):
            return UInt64(
                [0, cases, cases + 1, 0xFF, Int.random(in: 0...cases, using: &rng)].randomElement(using: &rng)!)
        case .tokens: return UInt64.random(in: 0...0x1F, using: &rng) | (Bool.random(using: &rng) ? 0 : 0x20)
        case .integer(let width):
            let signedMax: UInt64 = width == .i32 ? 0x7FFF_FFFF : mask >> 1
            var candidates: [UInt64] = [
                0, 1, 2, 4, mask, mask &- 3, signedMax, signedMax &+ 1, (current &+ 1) & mask, (current &- 1) & mask,
                (current &+ 4) & mask, (current &* 2) & mask, current >> 1, UInt64.random(in: 0...mask, using: &rng)
            ]
            // Addresses on the edges of the memories.
            for edge in [program.config.sramBytes, program.dramBytes, program.constants.count] {
                candidates += [edge, edge &- 4, edge &+ 4].map { UInt64(bitPattern: Int64($0)) & mask }
            }
            return candidates.randomElement(using: &rng)!
        }
    }

    /// An edit of the instruction stream or the tensor table.
    static func structural(_ program: Program, rng: inout SeededRandom) -> Program {
        var p = program
        let n = p.instructions.count
        let i = Int.random(in: 0..<n, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0:  // dropped (its tokens now unbalanced, or its result missing)
            p.instructions.remove(at: i)
            p.debugNames.remove(at: i)
            p.dramReferences.remove(at: i)
        case 1:  // repeated
            p.instructions.insert(p.instructions[i], at: i)
            p.debugNames.insert(p.debugNames[i], at: i)
            p.dramReferences.insert(p.dramReferences[i], at: i)
        case 2:  // two neighbours swap
            let j = min(n - 1, i + 1)
            p.instructions.swapAt(i, j)
            p.debugNames.swapAt(i, j)
            p.dramReferences.swapAt(i, j)
        case 3:  // moved to the end
            p.instructions.append(p.instructions.remove(at: i))
            p.debugNames.append(p.debugNames.remove(at: i))
            p.dramReferences.append(p.dramReferences.remove(at: i))
        case 4:  // tokens that wait for what never comes, or signal what nobody takes
            p.instructions[i].wait = EngineSet(rawValue: UInt8.random(in: 0...0x1F, using: &rng))
            p.instructions[i].signal = EngineSet(rawValue: UInt8.random(in: 0...0x1F, using: &rng))
        case 5:  // a tensor listed twice, or its role flipped
            if let t = p.tensors.randomElement(using: &rng) {
                if Bool.random(using: &rng) {
                    p.tensors.append(t)
                } else if let k = p.tensors.firstIndex(of: t) {
                    p.tensors[k].role = t.role == .input ? .output : .input
                }
            }
        default:  // the instructions of the first half, twice over
            let half = Array(p.instructions[..<(n / 2)])
            p.instructions += half
            p.debugNames += Array(p.debugNames[..<(n / 2)])
            p.dramReferences += Array(p.dramReferences[..<(n / 2)])
        }
        return p
    }
}
