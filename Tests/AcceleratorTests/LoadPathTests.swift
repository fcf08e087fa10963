import Foundation
import Tensors
import Testing
@testable import Accelerator

/// The load path of `dfc run`: the CRC-32C checksum (instruction and table),
/// the mapped file whose constants are never copied, format version 5.
@Suite struct LoadPathTests {
    /// CRC-32C one bit at a time from the polynomial: the definition the fast versions must meet.
    static func bitwiseCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    @Test func checksumIsCRC32C() {
        // The check value of CRC-32C (iSCSI, RFC 3720).
        #expect(CRC32C.checksum(Array("123456789".utf8)[...]) == 0xE306_9283)
        #expect(Self.bitwiseCRC32C(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()[...]) == 0)
    }

    /// Lengths around the three-lane blocks of the instruction path (3 x 8192 bytes), at every alignment.
    @Test func instructionAndTableAgree() {
        let data = Self.randomBytes(3 * 3 * 8192 + 100, seed: 13)
        for count in [0, 1, 7, 8, 9, 63, 64, 4096, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 2 * 3 * 8192 + 17] {
            for offset in 0..<8 {
                let slice = data[offset..<offset + count]
                let table = slice.withUnsafeBytes { CRC32C.softwareUpdate(CRC32C.start, $0) ^ CRC32C.start }
                #expect(CRC32C.checksum(slice) == table, "\(count) bytes at offset \(offset)")
                if count <= 4096 { #expect(table == Self.bitwiseCRC32C(Array(slice))) }
            }
        }
        let whole = data[...]
        #expect(
            whole.withUnsafeBytes { CRC32C.softwareUpdate(CRC32C.start, $0) ^ CRC32C.start }
                == Self.bitwiseCRC32C(data))
        // In pieces: the register carries over.
        var register = CRC32C.start
        for cut in stride(from: 0, to: data.count, by: 10_007) {
            register = CRC32C.update(register, data[cut..<min(data.count, cut + 10_007)])
        }
        #expect(register ^ CRC32C.start == Self.bitwiseCRC32C(data))
    }

    @Test func fileIsVersion4WithCRC32CAtTheEnd() throws {
        let bytes = try everyOpcodeProgram().encoded()
        #expect(Array(bytes[4..<6]) == [5, 0])
        let stored = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[bytes.count - 4 + $1]) << (8 * $1) }
        #expect(stored == Self.bitwiseCRC32C(Array(bytes[0..<bytes.count - 4])))
        // A version 3 file (CRC-32) is named as such, not as a bad checksum.
        var old = bytes
        old[4] = 3
        let error = #expect(throws: ProgramError.self) { try Program(decoding: old) }
        #expect(error?.message == "corrupt .dfx: format version 3, this dfc reads version 5: recompile the model")
    }

    @Test func readMapsTheConstantsAndRunsTheSame() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("p.dfx").path
        let program = everyOpcodeProgram()
        try program.write(to: path)
        var phases = PhaseTimes()
        let mapped = try Program.read(from: path, phases: &phases)
        #expect(mapped.constants.isFileView && !program.constants.isFileView)
        #expect(phases.phases.map(\.name) == ["load", "checksum"])
        #expect(mapped == program)
        #expect(try mapped.encoded() == program.encoded())
        let inputs = MutationFuzzTests.inputs
        let fromFile = try Executor.run(mapped, inputs: inputs, options: ExecutionOptions(), phases: &phases)
        #expect(phases.phases.map(\.name) == ["load", "checksum", "validate", "hazard check", "timing", "run"])
        let inMemory = try Executor.run(program, inputs: inputs)
        #expect(fromFile.outputs == inMemory.outputs)
        #expect(fromFile.stats == inMemory.stats)
        #expect(
            try Executor.run(mapped, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats == inMemory.stats)
        // A truncated or empty file is refused in one line. The checksum is checked while the body is
        // decoded, and a mismatch is what is reported, whatever decoding found (here: a cut instruction).
        try Data(try program.encoded().prefix(40)).write(to: URL(fileURLWithPath: path))
        let cut = #expect(throws: ProgramError.self) { try Program.read(from: path) }
        #expect(cut?.message.hasPrefix("corrupt .dfx: checksum mismatch") == true)
        // Where the checksum matches, decoding's own error is reported.
        var padded = Array(try program.encoded().dropLast(4)) + [0, 0, 0, 0]
        padded += withUnsafeBytes(of: CRC32C.checksum(padded[...]).littleEndian) { Array($0) }
        try Data(padded).write(to: URL(fileURLWithPath: path))
        let extra = #expect(throws: ProgramError.self) { try Program.read(from: path) }
        #expect(extra?.message == "corrupt .dfx: 4 unexpected bytes before the checksum")
        try Data().write(to: URL(fileURLWithPath: path))
        let empty = #expect(throws: ProgramError.self) { try Program.read(from: path) }
        #expect(empty?.message == "corrupt .dfx: file is 0 bytes, too short")
        let missing = #expect(throws: ProgramError.self) {
            try Program.read(from: dir.appendingPathComponent("no").path)
        }
        #expect(missing?.message.hasPrefix("cannot read file") == true)
    }

    @Test func overlappingInputsAreFoundInAnyOrder() {
        var b = ProgramBuilder()
        let a = b.addInput("a", shape: [16])
        _ = b.addInput("b", shape: [4])
        var program = b.build()
        program.dramBytes += 256
        program.tensors.append(TensorInfo(name: "c", shape: [2], address: a + 8, role: .input))
        let error = #expect(throws: ProgramError.self) { try program.validate() }
        #expect(error?.message == "invalid program: inputs 'a' and 'c' overlap in DRAM")
        program.tensors[2].address = a + 64
        #expect(throws: ProgramError.self) { try program.validate() }  // c overlaps b
        program.tensors[2].address = a + 64 + 16
        #expect(throws: Never.self) { try program.validate() }
    }
}
