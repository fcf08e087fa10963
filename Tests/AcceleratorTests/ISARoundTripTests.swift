import Foundation
import Tensors
import Testing
@testable import Accelerator

@Suite struct ISARoundTripTests {
    /// Every opcode, many random payloads: encode -> decode gives the same
    /// program, re-encoding gives the same bytes, and the disassembly agrees.
    @Test func everyOpcodeAndFieldRoundTrips() throws {
        var fields = RandomFields(rng: SeededRandom(seed: 42))
        var instructions: [Instruction] = []
        var names: [[String]] = []
        for opcode in Opcode.allCases {
            for i in 0..<25 {
                var op = Op.empty(opcode)
                try op.fields(&fields)
                let wait = EngineSet(rawValue: UInt8.random(in: 0..<32, using: &fields.rng))
                let signal = EngineSet(rawValue: UInt8.random(in: 0..<32, using: &fields.rng))
                instructions.append(Instruction(op, wait: wait, signal: signal))
                names.append(i % 3 == 0 ? [] : ["node_\(i)", "n\(i % 4)"])
            }
        }
        var config = AcceleratorConfig.df1
        config.sramBytes = 3 << 18
        let program = Program(
            config: config, dramBytes: 4096, constants: [1, 2, 3, 4, 5],
            tensors: [
                TensorInfo(name: "x", shape: [1, 3, 2], dtype: .float32, address: 64, role: .input),
                TensorInfo(name: "y", shape: [], dtype: .int64, address: 128, role: .output)
            ],
            instructions: instructions, debugNames: names)
        let bytes = try program.encoded()
        let decoded = try Program(decoding: bytes)
        #expect(decoded == program)
        #expect(try decoded.encoded() == bytes)
        #expect(decoded.disassembly() == program.disassembly())
    }

    /// Changing any single field changes the encoding, and decoding gives the change back.
    @Test func everyFieldIsEncoded() throws {
        for opcode in Opcode.allCases {
            var lister = FieldLister()
            var empty = Op.empty(opcode)
            try empty.fields(&lister)
            let base = try Program(config: .df1, dramBytes: 0, instructions: [Instruction(empty)]).encoded()
            for k in 0..<lister.rows.count {
                var op = Op.empty(opcode)
                var poker = FieldPoker(target: k)
                try op.fields(&poker)
                let program = Program(config: .df1, dramBytes: 0, instructions: [Instruction(op)])
                let bytes = try program.encoded()
                #expect(bytes != base, "\(opcode.mnemonic).\(lister.rows[k].name) is not encoded")
                #expect(try Program(decoding: bytes) == program)
            }
        }
    }

    /// The disassembly format is stable: one line per opcode, zero payloads.
    @Test func disassemblyTextIsStable() {
        let lines = Opcode.allCases.map { Instruction(Op.empty($0), wait: .load, signal: [.vector, .host]).text }
        let golden = [
            "load@load wait=[load] signal=[vector,host] n=[0,0,0,0] dram=0 ds=[0,0,0,0] org=[0,0,0,0] ext=[0,0,0,0] sram=0 ss=[0,0,0,0]",
            "store@store wait=[load] signal=[vector,host] n=[0,0,0,0] dram=0 ds=[0,0,0,0] org=[0,0,0,0] ext=[0,0,0,0] sram=0 ss=[0,0,0,0]",
            "conv@matrix wait=[load] signal=[vector,host] in={addr=0 c=0 h=0 w=0 cs=0 rs=0} win={oy=0 ox=0 eh=0 ew=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} wt=0 bias=0 has_bias=0 acc=0 kh=0 kw=0 sh=0 sw=0 dh=0 dw=0 groups=0 act={kind=none alpha=0.0 beta=0.0}",
            "pool@vector wait=[load] signal=[vector,host] in={addr=0 c=0 h=0 w=0 cs=0 rs=0} win={oy=0 ox=0 eh=0 ew=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} kind=max kh=0 kw=0 sh=0 sw=0 dh=0 dw=0 pt=0 pl=0 pb=0 pr=0",
            "eltwise@vector wait=[load] signal=[vector,host] a={addr=0 c=0 h=0 w=0 cs=0 rs=0} b={addr=0 c=0 h=0 w=0 cs=0 rs=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} op=add bcast=none act={kind=none alpha=0.0 beta=0.0}",
            "act@vector wait=[load] signal=[vector,host] in={addr=0 c=0 h=0 w=0 cs=0 rs=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} act={kind=none alpha=0.0 beta=0.0}",
            "matmul@matrix wait=[load] signal=[vector,host] m=0 n=0 k=0 a=0 ars=0 wt=0 bias=0 out=0 ors=0 has_bias=0 acc=0 act={kind=none alpha=0.0 beta=0.0}",
            "copy@vector wait=[load] signal=[vector,host] n=[0,0,0,0] src=0 ss=[0,0,0,0] dst=0 ds=[0,0,0,0]",
            "sync@load wait=[load] signal=[vector,host] engine=load",
            "host.copy@host wait=[load] signal=[vector,host] n=[0,0,0,0] src=0 ss=[0,0,0,0] dst=0 ds=[0,0,0,0]",
            "host.softmax@host wait=[load] signal=[vector,host] src=0 dst=0 outer=0 axis=0 inner=0",
            "host.lrn@host wait=[load] signal=[vector,host] src=0 dst=0 n=0 c=0 hw=0 size=0 alpha=0.0 beta=0.0 bias=0.0",
            "host.resize@host wait=[load] signal=[vector,host] src=0 dst=0 in=[0,0,0,0] out=[0,0,0,0] scale=[0.0,0.0,0.0,0.0] coord=halfPixel nearest=roundPreferFloor mode=nearest",
            "host.transpose@host wait=[load] signal=[vector,host] src=0 dst=0 dims=[0,0,0,0,0,0] perm=[0,0,0,0,0,0]",
            "host.reduce_mean@host wait=[load] signal=[vector,host] src=0 dst=0 dims=[0,0,0,0,0,0] axes=0 keepdims=0",
            "lrn@vector wait=[load] signal=[vector,host] in={addr=0 c=0 h=0 w=0 cs=0 rs=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} size=0 alpha=0.0 beta=0.0 bias=0.0",
            "resize@vector wait=[load] signal=[vector,host] in={addr=0 c=0 h=0 w=0 cs=0 rs=0} out={addr=0 c=0 h=0 w=0 cs=0 rs=0} iy=0 oy=0 ih=0 oh=0 sh=0.0 sw=0.0 coord=halfPixel nearest=roundPreferFloor mode=nearest"
        ]
        #expect(lines == golden)
    }

    /// docs/isa.md carries the generated field tables verbatim.
    @Test func documentedFieldTablesMatchTheDefinition() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/isa.md"), encoding: .utf8)
        #expect(doc.contains(ISADocumentation.fieldTables()))
    }

    @Test func encoderRejectsValuesThatDoNotFit() {
        var op = ActOp()
        op.input.width = 1 << 40
        let program = Program(config: .df1, dramBytes: 0, instructions: [Instruction(.act(op))])
        #expect(throws: ProgramError.self) { try program.encoded() }
    }

    @Test func decoderRejectsBadCodes() throws {
        let program = Program(config: .df1, dramBytes: 64, instructions: [Instruction(.sync(SyncOp(on: .vector)))])
        let good = try program.encoded()
        // Layout of the tail: ... opcode, wait, signal, engine | string count | names count | region count
        // | u8 reference count | crc.
        let syncAt = good.count - 4 - 1 - 4 - 4 - 4 - 4
        func patched(_ offset: Int, _ value: UInt8) -> [UInt8] {
            var bytes = good
            bytes[offset] = value
            let crc = CRC32C.checksum(bytes[0..<bytes.count - 4])
            for i in 0..<4 { bytes[bytes.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
            return bytes
        }
        #expect(try Program(decoding: patched(syncAt + 3, 1)).instructions[0].engine == .matrix)
        for (offset, value, text) in [
            (syncAt, 99, "unknown opcode"), (syncAt + 1, 0x40, "unknown engine"),
            (syncAt + 3, 9, "not a valid Engine")
        ] {
            let error = #expect(throws: ProgramError.self) { try Program(decoding: patched(offset, UInt8(value))) }
            #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
        }
        var flipped = good
        flipped[20] ^= 1
        let error = #expect(throws: ProgramError.self) { try Program(decoding: flipped) }
        #expect(error?.message.contains("checksum mismatch") == true)
    }

    @Test func fileWriteIsAtomicAndReadable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("p.dfx").path
        let program = everyOpcodeProgram()
        try program.write(to: path)
        try program.write(to: path)  // overwrites
        #expect(try Program.read(from: path) == program)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["p.dfx"])
    }
}
