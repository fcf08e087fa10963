import Foundation
import Tensors

/// The element type of a DRAM tensor, stored as its raw byte (1 = f32, 2 = i64).
extension DType: FieldEnum {}

public enum TensorRole: UInt8, Sendable, CaseIterable, FieldEnum {
    case input = 1, output = 2
    public var name: String { String(describing: self) }
}

/// A named program input or output: a dense row-major tensor at a DRAM byte address.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: DType
    public var address: Int
    public var role: TensorRole

    public init(name: String, shape: [Int], dtype: DType = .float32, address: Int, role: TensorRole) {
        (self.name, self.shape, self.dtype, self.address, self.role) = (name, shape, dtype, address, role)
    }
    public var elements: Int { shape.reduce(1, *) }
    public var byteCount: Int { elements * dtype.byteSize }
}

/// A named byte range of DRAM: a constant or a runtime value of the compiled
/// graph, for the disassembly (the executor never reads it).
public struct DRAMRegion: Equatable, Sendable {
    public var name: String
    public var address: Int
    public var bytes: Int

    public init(name: String, address: Int, bytes: Int) {
        (self.name, self.address, self.bytes) = (name, address, bytes)
    }
}

/// A program for the modeled accelerator: what a .dfx file holds.
///
/// DRAM is `dramBytes` bytes; its first `constants.count` bytes are the
/// constants segment (weights), initialized from the file and read-only. The
/// rest starts zeroed; inputs are written at their addresses before the run.
/// A program read from a file keeps its constants in the mapped file.
public struct Program: Equatable, Sendable {
    public var config: AcceleratorConfig
    public var dramBytes: Int
    public var constants: ConstantBytes
    public var tensors: [TensorInfo]
    public var instructions: [Instruction]
    /// The ONNX node names each instruction came from (same count as `instructions`).
    public var debugNames: [[String]]
    /// The DRAM map: named regions, and per instruction the region each of
    /// its DRAM address fields points into (LOAD and STORE `dram`, host
    /// `src` then `dst`; empty when unknown). Same count as `instructions`.
    public var dramRegions: [DRAMRegion]
    public var dramReferences: [[Int]]

    public init(
        config: AcceleratorConfig, dramBytes: Int, constants: ConstantBytes = [], tensors: [TensorInfo] = [],
        instructions: [Instruction] = [], debugNames: [[String]]? = nil, dramRegions: [DRAMRegion] = [],
        dramReferences: [[Int]]? = nil
    ) {
        (self.config, self.dramBytes, self.constants, self.tensors, self.instructions) =
            (config, dramBytes, constants, tensors, instructions)
        self.debugNames = debugNames ?? Array(repeating: [], count: instructions.count)
        self.dramRegions = dramRegions
        self.dramReferences = dramReferences ?? Array(repeating: [], count: instructions.count)
    }

    public var inputs: [TensorInfo] { tensors.filter { $0.role == .input } }
    public var outputs: [TensorInfo] { tensors.filter { $0.role == .output } }

    // MARK: Format

    public static let magic: [UInt8] = [0x44, 0x46, 0x58, 0x1A]  // "DFX\x1A"
    /// 5: the DRAM map (4 had none, 3 a CRC-32 checksum, 2 no resize mode, 1 no energies).
    public static let formatVersion: UInt16 = 5

    /// Sanity limits the decoder enforces before allocating anything.
    public enum Limits {
        public static let dramBytes = 1 << 32
        public static let instructions = 1 << 24
        public static let tensors = 1 << 16
        public static let tensorRank = 8
        public static let nameBytes = 4096
        public static let debugStrings = 1 << 22
        public static let namesPerInstruction = 4096
        /// LOAD and STORE have one DRAM address field, host instructions two.
        public static let dramFieldsPerInstruction = 2
    }

    /// The file bytes: header, body, CRC-32C of everything before it.
    public func encoded() throws -> [UInt8] {
        var bytes: [UInt8] = []
        _ = try fileChunks().forEachChunk { chunk in
            bytes += chunk
            return 0
        }
        return bytes
    }

    /// The file around the constants segment, which is not copied: the bytes
    /// before it and the bytes after it but for the checksum.
    func encodedParts() throws -> (head: [UInt8], tail: [UInt8]) {
        var w = ByteWriter()
        w.bytes.append(contentsOf: Self.magic)
        w.u16(Self.formatVersion)
        w.u16(0)
        config.encode(&w)
        w.u64(UInt64(max(0, dramBytes)))
        w.u64(UInt64(constants.count))
        let head = w.bytes
        w = ByteWriter()

        w.u32(UInt32(tensors.count))
        for t in tensors {
            w.string(t.name)
            w.u8(t.dtype.rawValue)
            w.u8(t.role.rawValue)
            w.u8(UInt8(truncatingIfNeeded: t.shape.count))
            for d in t.shape { w.u64(UInt64(max(0, d))) }
            w.u64(UInt64(max(0, t.address)))
        }

        w.u32(UInt32(instructions.count))
        var encoder = FieldEncoder(w: w)
        w = ByteWriter()  // the encoder holds the only reference: its appends do not copy the bytes so far
        for (i, instruction) in instructions.enumerated() {
            encoder.w.u8(instruction.opcode.rawValue)
            encoder.w.u8(instruction.wait.rawValue)
            encoder.w.u8(instruction.signal.rawValue)
            var op = instruction.operation
            do { try op.fields(&encoder) } catch let e as ProgramError {
                throw ProgramError("instruction \(i) (\(instruction.opcode.mnemonic)): \(e.message)")
            }
        }
        w = encoder.w

        // Debug map: a sorted string table, then per instruction its indices.
        let names = Array(Set(debugNames.joined())).sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        w.u32(UInt32(names.count))
        for n in names { w.string(n) }
        for i in 0..<instructions.count {
            let list = i < debugNames.count ? debugNames[i] : []
            w.u32(UInt32(list.count))
            for n in list { w.u32(UInt32(index[n]!)) }
        }
        // DRAM map: the regions, then per instruction its references.
        w.u32(UInt32(dramRegions.count))
        for r in dramRegions {
            w.string(r.name)
            w.u64(UInt64(max(0, r.address)))
            w.u64(UInt64(max(0, r.bytes)))
        }
        for i in 0..<instructions.count {
            let list = i < dramReferences.count ? dramReferences[i] : []
            w.u8(UInt8(truncatingIfNeeded: list.count))
            for k in list { w.u32(UInt32(truncatingIfNeeded: k)) }
        }
        return (head, w.bytes)
    }

    /// The file as one stream of chunks: the head, the constants from where they are, the rest, then the
    /// checksum of them all, computed as they pass (the constants are read once).
    func fileChunks() throws -> ChecksummedChunks {
        let (head, body) = try encodedParts()
        return ChecksummedChunks(parts: [head, constants, body])
    }

    /// Decodes a .dfx file; every count, length and code is checked, so hostile
    /// input gets a `ProgramError`, never a trap. Does not validate instruction
    /// semantics (see `validate()`). The constants are copied out of `bytes`.
    public init(decoding bytes: [UInt8]) throws {
        let file = bytes.withUnsafeBytes { MappedFile(copying: $0) }
        try Self.checkHeaderAndChecksum(file)
        try self.init(decodingChecked: file)
    }

    /// The magic, the format version and the checksum of a whole file, in
    /// that order (a file of another version is named as such, whatever its
    /// checksum).
    static func checkHeaderAndChecksum(_ file: MappedFile) throws {
        try checkHeader(file)
        try checkChecksum(file)
    }

    /// The magic and the format version of a file.
    static func checkHeader(_ file: MappedFile) throws {
        try file.withBytes { bytes in
            guard bytes.count >= 12 else { throw ProgramError.corrupt("file is \(bytes.count) bytes, too short") }
            guard bytes.prefix(4).elementsEqual(Self.magic) else {
                throw ProgramError.corrupt("bad magic (not a .dfx file)")
            }
            var header = ByteReader(bytes, offset: 4)
            let version = try header.u16()
            guard version == Self.formatVersion else {
                throw ProgramError.corrupt(
                    "format version \(version), this dfc reads version \(Self.formatVersion): recompile the model")
            }
        }
    }

    /// The checksum of a file whose header `checkHeader` passed.
    static func checkChecksum(_ file: MappedFile) throws {
        try file.withBytes { bytes in
            let body = bytes.count - 4
            var tail = ByteReader(bytes, offset: body)
            let stored = try tail.u32()
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<body]))
            guard stored == actual else {
                throw ProgramError.corrupt("checksum mismatch (stored \(hex(stored)), computed \(hex(actual)))")
            }
        }
    }

    /// Decodes a file whose header `checkHeader` passed; its checksum is
    /// checked before (`checkHeaderAndChecksum`) or meanwhile (`read(from:)`,
    /// which reports a mismatch over anything decoding found). The decoder
    /// checks every count, so a corrupt file gets a `ProgramError` either way.
    /// The constants stay in `file`.
    init(decodingChecked file: MappedFile) throws {
        let (config, dram, constants, tensors, instructions, debugNames, map) = try file.withBytes { bytes in
            var r = ByteReader(bytes, offset: 8, end: bytes.count - 4)
            let config = try AcceleratorConfig.decode(&r)
            let dram = try r.u64()
            guard dram <= UInt64(Limits.dramBytes) else {
                throw ProgramError.corrupt("DRAM size \(dram) exceeds the limit \(Limits.dramBytes)")
            }
            let constantCount = try r.u64()
            guard constantCount <= dram else {
                throw ProgramError.corrupt("constants segment (\(constantCount) bytes) is larger than DRAM (\(dram))")
            }
            let constants = try r.skip(Int(constantCount), what: "constants segment")
            let tensors = try Self.decodeTensors(&r, dram: dram)
            let instructions = try Self.decodeInstructions(&r)
            let debugNames = try Self.decodeDebugNames(&r, instructions: instructions.count)
            let map = try Self.decodeDRAMMap(&r, dram: dram, instructions: instructions.count)
            guard r.remaining == 0 else {
                throw ProgramError.corrupt("\(r.remaining) unexpected bytes before the checksum")
            }
            return (config, Int(dram), constants, tensors, instructions, debugNames, map)
        }
        self.init(
            config: config, dramBytes: dram, constants: ConstantBytes(file: file, range: constants), tensors: tensors,
            instructions: instructions, debugNames: debugNames, dramRegions: map.regions,
            dramReferences: map.references)
    }

    /// The named input and output tensors.
    private static func decodeTensors(_ r: inout ByteReader, dram: UInt64) throws -> [TensorInfo] {
        let tensorCount = try r.count(max: Limits.tensors, minItemBytes: 15, what: "tensor")
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            let name = try r.string(maxBytes: Limits.nameBytes, what: "tensor name")
            let dtypeCode = try r.u8(), roleCode = try r.u8()
            guard let dtype = DType(rawValue: dtypeCode) else {
                throw ProgramError.corrupt("tensor '\(name)' has unknown dtype \(dtypeCode)")
            }
            guard let role = TensorRole(rawValue: roleCode) else {
                throw ProgramError.corrupt("tensor '\(name)' has unknown role \(roleCode)")
            }
            let rank = Int(try r.u8())
            guard rank <= Limits.tensorRank else {
                throw ProgramError.corrupt("tensor '\(name)' has rank \(rank) > \(Limits.tensorRank)")
            }
            var shape: [Int] = []
            for _ in 0..<rank {
                let d = try r.u64()
                guard d <= UInt64(UInt32.max) else { throw ProgramError.corrupt("tensor '\(name)' has dimension \(d)") }
                shape.append(Int(d))
            }
            let address = try r.u64()
            guard address <= dram else {
                throw ProgramError.corrupt("tensor '\(name)' address \(address) is outside DRAM")
            }
            tensors.append(TensorInfo(name: name, shape: shape, dtype: dtype, address: Int(address), role: role))
        }
        return tensors
    }

    /// The instruction stream, each field through the one ISA definition (`Op.fields`).
    private static func decodeInstructions(_ r: inout ByteReader) throws -> [Instruction] {
        let instructionCount = try r.count(max: Limits.instructions, minItemBytes: 4, what: "instruction")
        var instructions: [Instruction] = []
        instructions.reserveCapacity(instructionCount)
        var decoder = FieldDecoder(r: r)
        for i in 0..<instructionCount {
            do {
                let code = try decoder.r.u8()
                guard let opcode = Opcode(rawValue: code) else { throw ProgramError.corrupt("unknown opcode \(code)") }
                let wait = EngineSet(rawValue: try decoder.r.u8())
                let signal = EngineSet(rawValue: try decoder.r.u8())
                guard !wait.hasUnknownBits, !signal.hasUnknownBits else {
                    throw ProgramError.corrupt("token mask names an unknown engine")
                }
                var op = Op.empty(opcode)
                try op.fields(&decoder)
                instructions.append(Instruction(op, wait: wait, signal: signal))
            } catch let e as ProgramError {
                throw ProgramError("\(e.message) (instruction \(i))")
            }
        }
        r = decoder.r
        return instructions
    }

    /// The debug map: a string table, then per instruction indices into it.
    private static func decodeDebugNames(_ r: inout ByteReader, instructions instructionCount: Int) throws -> [[String]]
    {
        let stringCount = try r.count(max: Limits.debugStrings, minItemBytes: 4, what: "debug string")
        var strings: [String] = []
        strings.reserveCapacity(stringCount)
        for _ in 0..<stringCount { strings.append(try r.string(maxBytes: Limits.nameBytes, what: "debug name")) }
        var debugNames: [[String]] = []
        debugNames.reserveCapacity(instructionCount)
        for i in 0..<instructionCount {
            let n = try r.count(
                max: Limits.namesPerInstruction, minItemBytes: 4, what: "debug names of instruction \(i)")
            var list: [String] = []
            for _ in 0..<n {
                let k = Int(try r.u32())
                guard k < strings.count else { throw ProgramError.corrupt("debug name index \(k) out of range") }
                list.append(strings[k])
            }
            debugNames.append(list)
        }
        return debugNames
    }

    /// The DRAM map: regions inside DRAM, references to existing regions.
    private static func decodeDRAMMap(_ r: inout ByteReader, dram: UInt64, instructions instructionCount: Int) throws
        -> (regions: [DRAMRegion], references: [[Int]])
    {
        let regionCount = try r.count(max: Limits.debugStrings, minItemBytes: 20, what: "DRAM region")
        var regions: [DRAMRegion] = []
        regions.reserveCapacity(regionCount)
        for _ in 0..<regionCount {
            let name = try r.string(maxBytes: Limits.nameBytes, what: "DRAM region name")
            let address = try r.u64(), bytes = try r.u64()
            guard address <= dram, bytes <= dram - address else {
                throw ProgramError.corrupt("DRAM region '\(name)' [\(address), +\(bytes)) is outside DRAM")
            }
            regions.append(DRAMRegion(name: name, address: Int(address), bytes: Int(bytes)))
        }
        var references: [[Int]] = []
        references.reserveCapacity(instructionCount)
        for i in 0..<instructionCount {
            let n = Int(try r.u8())
            guard n <= Limits.dramFieldsPerInstruction else {
                throw ProgramError.corrupt("instruction \(i) has \(n) DRAM references")
            }
            var list: [Int] = []
            for _ in 0..<n {
                let k = Int(try r.u32())
                guard k < regions.count else { throw ProgramError.corrupt("DRAM region index \(k) out of range") }
                list.append(k)
            }
            references.append(list)
        }
        return (regions, references)
    }

    // MARK: Files

    /// Maps the file (its constants are not copied), checks its header and
    /// checksum, decodes it.
    public static func read(from path: String) throws -> Program {
        var phases = PhaseTimes()
        return try read(from: path, phases: &phases)
    }

    /// `read(from:)`, timed: "load" (mapping and decoding) and "checksum" (what
    /// of the checksum is left once decoding is done: it reads the whole file
    /// on another core meanwhile). The errors are those of checking first and
    /// decoding after: a file whose checksum does not match is reported as
    /// such, whatever its decoding found.
    public static func read(from path: String, phases: inout PhaseTimes) throws -> Program {
        let file = try phases.measure("load") { try MappedFile(path: path) }
        try checkHeader(file)
        let checksum = Pending { Result { try checkChecksum(file) } }
        let decoded = phases.measure("load") { Result { try Program(decodingChecked: file) } }
        try phases.measure("checksum") { try checksum.value.get() }
        return try decoded.get()
    }

    /// The file's bytes, in one pass: the constants segment is written from where it is.
    public func fileContents() throws -> [any ByteChunks] {
        [try fileChunks()]
    }

    /// Writes the file the way `OutputFile` writes (atomically when `path` is a regular file).
    public func write(to path: String) throws {
        try OutputFile(path).write(fileContents())
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// Parts handed out in order, then the CRC-32C of all their bytes (little-endian): a `.dfx` file, checksummed
/// as it is written.
struct ChecksummedChunks: ByteChunks {
    let parts: [any ByteChunks]

    var count: Int { parts.reduce(4) { $0 + $1.count } }

    func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32 {
        var crc = CRC32C.start
        for part in parts {
            let failure = part.forEachChunk { chunk in
                crc = CRC32C.update(crc, chunk)
                return body(chunk)
            }
            guard failure == 0 else { return failure }
        }
        return withUnsafeBytes(of: (crc ^ CRC32C.start).littleEndian) { body($0) }
    }
}
