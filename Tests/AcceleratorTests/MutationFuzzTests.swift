import Foundation
import Tensors
import TestSupport
import Testing
@testable import Accelerator

/// Thousands of randomly mutated and truncated .dfx files: each is rejected
/// with a `ProgramError` or runs within bounds. A crash or hang fails the run.
@Suite struct MutationFuzzTests {
    static let inputs = ["x": Tensor(shape: [1, 2, 4, 4], floats: (0..<32).map { Float($0) / 8 - 2 })]

    /// Rewrites the trailing CRC so mutations reach the decoder and validator.
    static func fixChecksum(_ bytes: inout [UInt8]) {
        guard bytes.count >= 4 else { return }
        let crc = CRC32C.checksum(bytes[0..<bytes.count - 4])
        for i in 0..<4 { bytes[bytes.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
    }

    static func mutate(_ original: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = original
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:  // truncate
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        case 1:  // insert or delete a few bytes
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            if Bool.random(using: &rng) {
                bytes.insert(
                    contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in
                        UInt8.random(in: 0...255, using: &rng)
                    }, at: at)
            } else {
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
            }
        case 2:  // a 32-bit field set to an extreme
            let at = Int.random(in: 0..<(bytes.count - 4), using: &rng)
            let value: UInt32 = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFC].randomElement(using: &rng)!
            for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        default:  // flip a few random bits
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
        }
        if Int.random(in: 0..<10, using: &rng) < 9 { fixChecksum(&bytes) }
        return bytes
    }

    @Test func mutatedProgramsAreRejectedOrRunInBounds() throws {
        let seeds = [
            everyOpcodeProgram(), HandBuiltProgramTests.conv3x3Program(), HandBuiltProgramTests.doubleBufferedProgram()
        ]
        var rng = SeededRandom(seed: 2024)
        var (rejectedByDecoder, rejectedByValidator, ran) = (0, 0, 0)
        let options = ExecutionOptions(maxWork: 200_000)
        for (s, seed) in seeds.enumerated() {
            let original = try seed.encoded()
            let inputs: [String: Tensor] =
                s == 0
                ? Self.inputs
                : s == 1
                    ? ["x": Tensor(shape: [1, 1, 4, 4], floats: floats(1...16))]
                    : ["x": Tensor(shape: [2, 512], floats: (0..<1024).map(Float.init))]
            for _ in 0..<1500 {
                let bytes = Self.mutate(original, &rng)
                let program: Program
                do { program = try Program(decoding: bytes) } catch is ProgramError {
                    rejectedByDecoder += 1
                    continue
                }
                do {
                    // Inputs whose table entry was mutated are simply dropped.
                    let usable = inputs.filter { kv in
                        program.inputs.contains {
                            $0.name == kv.key && $0.shape == kv.value.shape && $0.dtype == .float32
                        }
                    }
                    let timing = try Executor.run(
                        program, inputs: usable, options: ExecutionOptions(timingOnly: true, maxWork: options.maxWork))
                    if usable.count == program.inputs.count {
                        let full = try Executor.run(program, inputs: usable, options: options)
                        #expect(full.stats == timing.stats)
                    }
                    ran += 1
                } catch is ProgramError {
                    rejectedByValidator += 1
                }
            }
        }
        // The mix should exercise all three outcomes.
        #expect(rejectedByDecoder > 100)
        #expect(rejectedByValidator > 100)
        #expect(ran > 100)
        print("fuzz: \(rejectedByDecoder) rejected by the decoder, \(rejectedByValidator) by the validator, \(ran) ran")
    }

    /// The three seed programs with inputs that fit them.
    static func seeds() -> [(Program, [String: Tensor])] {
        [
            (everyOpcodeProgram(), inputs),
            (HandBuiltProgramTests.conv3x3Program(), ["x": Tensor(shape: [1, 1, 4, 4], floats: floats(1...16))]),
            (
                HandBuiltProgramTests.doubleBufferedProgram(),
                ["x": Tensor(shape: [2, 512], floats: (0..<1024).map(Float.init))]
            )
        ]
    }

    enum Outcome { case decoder, validator, ran }

    /// Decodes, validates, prints and runs `bytes`: a `ProgramError` anywhere is a clean rejection.
    static func exercise(_ bytes: [UInt8], inputs: [String: Tensor], maxWork: Int = 200_000) throws -> Outcome {
        let program: Program
        do { program = try Program(decoding: bytes) } catch is ProgramError { return .decoder }
        _ = program.disassembly()
        do {
            let usable = inputs.filter { kv in
                program.inputs.contains { $0.name == kv.key && $0.shape == kv.value.shape && $0.dtype == .float32 }
            }
            let timing = try Executor.run(
                program, inputs: usable, options: ExecutionOptions(timingOnly: true, maxWork: maxWork))
            _ = program.disassembly(timing: true)
            if usable.count == program.inputs.count {
                let full = try Executor.run(program, inputs: usable, options: ExecutionOptions(maxWork: maxWork))
                #expect(full.stats == timing.stats)
            }
            return .ran
        } catch is ProgramError {
            return .validator
        }
    }

    @Test("the field layout accounts for every byte of a program and names each instruction field")
    func layoutCoversTheFile() throws {
        for (program, _) in Self.seeds() {
            let bytes = try program.encoded()
            let layout = try DFXLayout.fields(of: program)
            let last = try #require(layout.last)
            #expect(last.offset + last.byteCount == bytes.count - 4, "the CRC follows the last field")
            #expect(DFXLayout.crc32(bytes[..<(bytes.count - 4)]) == CRC32C.checksum(bytes[..<(bytes.count - 4)]))
            // Every field read back at its offset is the value the program holds.
            let count = try #require(layout.first { $0.name == "instructions.count" })
            #expect(ProgramMutator.read(count, in: bytes) == UInt64(program.instructions.count))
            let opcodes = layout.filter { $0.name == "opcode" }.map { ProgramMutator.read($0, in: bytes) }
            #expect(opcodes == program.instructions.map { UInt64($0.opcode.rawValue) })
            #expect(
                layout.contains { $0.name == "conv.in.addr" } || !program.instructions.contains { $0.opcode == .conv })
        }
    }

    /// Field-level mutations with the checksum recomputed: values at the edges
    /// of each field's width, written at real field boundaries found through
    /// the ISA's `FieldCoder`s, and edits of the instruction stream.
    @Test func fieldLevelMutationsAreRejectedOrRunInBounds() throws {
        var rng = SeededRandom(seed: FuzzSettings.seed(default: 2025))
        var outcomes: [Outcome: Int] = [:]
        for (program, inputs) in Self.seeds() {
            let layout = try DFXLayout.fields(of: program)
            for _ in 0..<1200 {
                let bytes = try ProgramMutator.mutate(program, layout: layout, rng: &rng)
                outcomes[try Self.exercise(bytes, inputs: inputs), default: 0] += 1
            }
        }
        #expect(outcomes[.decoder, default: 0] > 100)
        #expect(outcomes[.validator, default: 0] > 300)
        #expect(outcomes[.ran, default: 0] > 100)
        print(
            "field fuzz: \(outcomes[.decoder, default: 0]) rejected by the decoder, \(outcomes[.validator, default: 0]) by the validator, \(outcomes[.ran, default: 0]) ran"
        )
    }

    /// Every truncation of a valid file is rejected.
    @Test func everyTruncationIsRejected() throws {
        let bytes = try everyOpcodeProgram().encoded()
        for n in 0..<bytes.count {
            #expect(throws: ProgramError.self) { try Program(decoding: Array(bytes[0..<n])) }
        }
    }
}
