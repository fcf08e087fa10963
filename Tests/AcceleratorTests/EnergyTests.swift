import Foundation
import Tensors
import Testing
@testable import Accelerator

/// The energy model (docs/isa.md, "Energy"): defaults, config files, the .dfx
/// fields, the counts per instruction and the totals of hand-built programs.
@Suite struct EnergyTests {
    /// Energies that tell every count apart in a total: 1, 10, 100, 1000, 10000 fJ.
    static let distinct = EnergyModel(
        dramFemtojoulesPerByte: 1, sramReadFemtojoulesPerByte: 10, sramWriteFemtojoulesPerByte: 100,
        macFemtojoules: 1000, vectorElementFemtojoules: 10000)

    @Test func horowitzDefaults() throws {
        #expect(
            AcceleratorConfig.df1.energy
                == EnergyModel(
                    dramFemtojoulesPerByte: 162_500, sramReadFemtojoulesPerByte: 12_500,
                    sramWriteFemtojoulesPerByte: 12_500, macFemtojoules: 4_600, vectorElementFemtojoules: 900))
        // 12.5 pJ per byte at 1 MiB, times sqrt(size / 1 MiB), in whole fJ.
        let sizes: [(Int, Int)] = [
            (1 << 20, 12_500), (4 << 20, 25_000), (256 << 10, 6_250), (16 << 20, 50_000), (8 << 10, 1_105),
            (32 << 10, 2_210)
        ]
        for (bytes, femtojoules) in sizes {
            #expect(EnergyModel.sramFemtojoulesPerByte(sramBytes: bytes) == femtojoules, "\(bytes)")
        }
        let presets: [(String, Int)] = [
            ("df1", 12_500), ("df1-small", 6_250), ("df1-large", 25_000), ("df1-lowbw", 12_500)
        ]
        for (name, sram) in presets {
            let energy = try AcceleratorConfig.resolve(name).energy
            #expect(energy.sramReadFemtojoulesPerByte == sram && energy.sramWriteFemtojoulesPerByte == sram, "\(name)")
            #expect(energy.dramFemtojoulesPerByte == 162_500 && energy.macFemtojoules == 4_600, "\(name)")
        }
    }

    @Test func jsonGivesPicojoulesWithDecimals() throws {
        let json = #"""
            {"energy_dram_pj_per_byte": 100, "energy_sram_read_pj_per_byte": 7.25, "energy_sram_write_pj_per_byte": 9.5,
             "energy_mac_pj": 12.3456, "energy_vector_pj": 0.0004}
            """#
        let config = try AcceleratorConfig.fromJSON(Data(json.utf8))
        #expect(
            config.energy
                == EnergyModel(
                    dramFemtojoulesPerByte: 100_000, sramReadFemtojoulesPerByte: 7_250,
                    sramWriteFemtojoulesPerByte: 9_500,
                    macFemtojoules: 12_346, vectorElementFemtojoules: 0))
        var rest = config
        rest.energy = AcceleratorConfig.df1.energy
        #expect(rest == .df1)
    }

    @Test func badEnergiesAreRejected() throws {
        let cases: [(String, String)] = [
            (#"{"energy_mac_pj": -1}"#, "'energy_mac_pj' = -1 picojoules is outside 0...1000000"),
            (#"{"energy_dram_pj_per_byte": 1000000.5}"#, "'energy_dram_pj_per_byte' = 1000000.5 picojoules is outside"),
            (#"{"energy_vector_pj": 1e300}"#, "'energy_vector_pj' = 1e+300 picojoules is outside"),
            (
                #"{"energy_sram_read_pj_per_byte": "12"}"#,
                "'energy_sram_read_pj_per_byte' must be a number of picojoules"
            ),
            (#"{"energy_sram_write_pj_per_byte": true}"#, "'energy_sram_write_pj_per_byte' must be a number"),
            (#"{"energy": 1}"#, "unknown key 'energy'"),
            (#"{"energy_mac_fj": 4600}"#, "unknown key 'energy_mac_fj'")
        ]
        for (json, message) in cases {
            let error = #expect(throws: ConfigError.self) { try AcceleratorConfig.fromJSON(Data(json.utf8)) }
            #expect(error?.message.contains(message) == true, "\(json): \(error?.message ?? "")")
        }
        // The list of known keys names the energies.
        let unknown = #expect(throws: ConfigError.self) { try AcceleratorConfig.fromJSON(Data(#"{"x": 1}"#.utf8)) }
        for key in EnergyModel.CodingKeys.allCases {
            #expect(unknown?.message.contains(key.fileKey) == true, "\(key.fileKey)")
        }
        // JSON has no NaN, but the conversion refuses it anyway.
        let nan = #expect(throws: ConfigError.self) {
            try AcceleratorConfig.femtojoules(fromPicojoules: .number(.nan), key: "energy_mac_pj")
        }
        #expect(nan?.message.hasPrefix("'energy_mac_pj' = nan") == true)
        // A config built in code is checked too.
        var config = AcceleratorConfig.df1
        config.energy.macFemtojoules = -1
        let negative = #expect(throws: ConfigError.self) { try config.validate() }
        #expect(negative?.message == "energy mac_fj = -1 is outside 0...1000000000 femtojoules")
    }

    /// The SRAM energies follow the SRAM size, wherever it is set, unless the file gave them.
    @Test func sramEnergyFollowsTheSize() throws {
        func sram(_ config: AcceleratorConfig) -> [Int] {
            [config.energy.sramReadFemtojoulesPerByte, config.energy.sramWriteFemtojoulesPerByte]
        }
        #expect(sram(try AcceleratorConfig.resolve("df1", sram: "4MiB")) == [25_000, 25_000])
        #expect(sram(try AcceleratorConfig.resolve("df1-large", sram: "256KiB")) == [6_250, 6_250])
        #expect(sram(try AcceleratorConfig.resolve("df1-large", sram: nil)) == [25_000, 25_000])
        let files: [(String, String?, [Int])] = [
            (#"{"sram_bytes": "4MiB"}"#, nil, [25_000, 25_000]),
            (#"{"base": "df1-large"}"#, nil, [25_000, 25_000]),
            (#"{"base": "df1-large", "sram_bytes": "1MiB"}"#, nil, [12_500, 12_500]),
            (#"{"base": "df1-small"}"#, "4MiB", [25_000, 25_000]),
            (#"{"energy_sram_read_pj_per_byte": 20}"#, "4MiB", [20_000, 25_000]),
            (#"{"energy_sram_write_pj_per_byte": 3, "sram_bytes": "4MiB"}"#, nil, [25_000, 3_000]),
            (#"{"energy_sram_read_pj_per_byte": 1, "energy_sram_write_pj_per_byte": 2}"#, "256KiB", [1_000, 2_000])
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("accel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, (json, size, expected)) in files.enumerated() {
            let path = dir.appendingPathComponent("\(i).json").path
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            #expect(sram(try AcceleratorConfig.resolve(path, sram: size)) == expected, "\(json) --sram \(size ?? "-")")
        }
    }

    @Test func energiesTravelInTheProgram() throws {
        var config = try AcceleratorConfig.resolve("df1-large")
        config.energy = EnergyModel(
            dramFemtojoulesPerByte: 1, sramReadFemtojoulesPerByte: 22, sramWriteFemtojoulesPerByte: 333,
            macFemtojoules: 4444, vectorElementFemtojoules: 55555)
        let bytes = try Program(config: config, dramBytes: 64).encoded()
        #expect(try Program(decoding: bytes).config == config)
        // Codable keeps the energies too.
        #expect(try JSONDecoder().decode(AcceleratorConfig.self, from: JSONEncoder().encode(config)) == config)
        // The layout of docs/isa.md, section 3: the energies follow the ten integer fields.
        let at = 8 + 4 + config.name.utf8.count + 10 * 8
        let stored = (0..<5).map { k in (0..<8).reduce(0) { $0 | Int(bytes[at + 8 * k + $1]) << (8 * $1) } }
        #expect(stored == [1, 22, 333, 4444, 55555] as [Int])

        config.energy.vectorElementFemtojoules = EnergyModel.maximumFemtojoules + 1
        let tooBig = #expect(throws: ProgramError.self) {
            try Program(decoding: Program(config: config, dramBytes: 64).encoded())
        }
        #expect(tooBig?.message == "corrupt .dfx: config energy vector_fj = 1000000001 is out of range")

        var old = bytes
        (old[4], old[5]) = (1, 0)
        let version = #expect(throws: ProgramError.self) { try Program(decoding: old) }
        #expect(version?.message == "corrupt .dfx: format version 1, this dfc reads version 5: recompile the model")
    }

    /// The SRAM bytes and vector elements of each kind of instruction, worked out by hand.
    @Test func countsPerInstruction() {
        let config = AcceleratorConfig.df1
        func counts(_ op: Op) -> [Int] {
            let c = config.cost(of: Instruction(op), constantsBytes: 0)
            return [c.sramReadBytes, c.sramWriteBytes, c.vectorElements, c.macs]
        }
        let x = SRAMTile(addr: 0, channels: 2, height: 6, width: 6)  // 72 elements
        let cases: [(Op, [Int], String)] = [
            // A padded box: 36 cells written, 16 of them read from DRAM.
            (
                .load(
                    TransferOp(
                        tensorAt: 0, shape: [1, 1, 4, 4], origin: [0, 0, -1, -1], counts: [1, 1, 6, 6], sramAddr: 0)),
                [0, 144, 0, 0], "load"
            ),
            (
                .store(TransferOp(tensorAt: 0, shape: [4, 4], origin: [0, 0], counts: [4, 4], sramAddr: 0)),
                [64, 0, 0, 0], "store"
            ),
            // Input 72 + weights 3*2*9 + bias 3 + the accumulated output 48; 48 written.
            (
                .conv(
                    ConvOp(
                        input: x, output: SRAMTile(addr: 400, channels: 3, height: 4, width: 4), weightAddr: 800,
                        biasAddr: 1100, kernel: (3, 3), accumulate: true)),
                [4 * 177, 4 * 48, 0, 3 * 2 * 16 * 9], "conv"
            ),
            // Depthwise: input 72 + weights 2*9, no bias; 32 written; 2*16*9 taps on the vector unit, also MACs.
            (
                .conv(
                    ConvOp(
                        input: x, output: SRAMTile(addr: 400, channels: 2, height: 4, width: 4), weightAddr: 800,
                        kernel: (3, 3), groups: 2)),
                [4 * 90, 4 * 32, 288, 288], "depthwise conv"
            ),
            // A 2x8 + W 3x8 + bias 3 + the accumulated 2x3 output.
            (
                .matmul(
                    MatMulOp(m: 2, n: 3, k: 8, aAddr: 0, weightAddr: 64, biasAddr: 160, outAddr: 200, accumulate: true)),
                [4 * 49, 4 * 6, 0, 48], "matmul"
            ),
            (
                .matmul(MatMulOp(m: 2, n: 3, k: 8, aAddr: 0, weightAddr: 64, outAddr: 200)),
                [4 * 40, 4 * 6, 0, 48], "matmul without bias or accumulation"
            ),
            // 2x2 windows over 2x6x6, stride 2: 18 results, 72 taps.
            (
                .pool(
                    PoolOp(
                        .max, input: x, output: SRAMTile(addr: 400, channels: 2, height: 3, width: 3), kernel: (2, 2),
                        stride: (2, 2))),
                [4 * 72, 4 * 18, 72, 0], "pool"
            ),
            // b per channel: 2 elements.
            (
                .eltwise(
                    EltwiseOp(
                        .add, a: x, b: SRAMTile(addr: 400, channels: 2, height: 1, width: 1),
                        output: SRAMTile(addr: 500, channels: 2, height: 6, width: 6), broadcast: .channel)),
                [4 * 74, 4 * 72, 72, 0], "eltwise"
            ),
            (.act(ActOp(input: x, output: x, activation: .relu)), [4 * 72, 4 * 72, 72, 0], "act"),
            (
                .copy(
                    CopyOp(
                        counts: [1, 2, 3, 4], srcAddr: 0, srcStrides: [0, 12, 4, 1], dstAddr: 200,
                        dstStrides: [0, 12, 4, 1])),
                [96, 96, 24, 0], "copy"
            ),
            (.sync(SyncOp(on: .vector)), [0, 0, 0, 0], "sync")
        ]
        for (op, expected, what) in cases { #expect(counts(op) == expected, "\(what)") }
        // Host instructions work on DRAM: no SRAM bytes, no vector elements.
        for instruction in everyOpcodeProgram().instructions where instruction.engine == .host {
            let c = config.cost(of: instruction, constantsBytes: 0)
            #expect(
                [c.sramReadBytes, c.sramWriteBytes, c.vectorElements] == [0, 0, 0] as [Int],
                "\(instruction.opcode.mnemonic)")
            #expect(c.hostReadBytes > 0)
        }
    }

    /// y = relu(x + x): an ELTWISE reads its one tile twice, so SRAM reads and writes differ.
    static func doubleProgram() -> Program {
        var b = ProgramBuilder()
        let x = b.addInput("x", shape: [1, 1, 4, 4])
        let y = b.addOutput("y", shape: [1, 1, 4, 4])
        let tile = SRAMTile(addr: 0, channels: 1, height: 4, width: 4)
        b.emit(
            .load(
                TransferOp(tensorAt: x, shape: [1, 1, 4, 4], origin: [0, 0, 0, 0], counts: [1, 1, 4, 4], sramAddr: 0)),
            signal: .vector)
        b.emit(
            .eltwise(EltwiseOp(.add, a: tile, b: tile, output: tile, activation: .relu)), wait: .load, signal: .store)
        b.emit(
            .store(
                TransferOp(tensorAt: y, shape: [1, 1, 4, 4], origin: [0, 0, 0, 0], counts: [1, 1, 4, 4], sramAddr: 0)),
            wait: .vector)
        return b.build()
    }

    @Test func programEnergyIsTheHandComputedSum() throws {
        // load: 64 B from DRAM, 64 B into SRAM; eltwise: reads 2 x 64 B, writes 64 B, 16 vector elements;
        // store: 64 B out of SRAM, 64 B into DRAM.
        var program = Self.doubleProgram()
        let run = try runProgram(program, ["x": Tensor(shape: [1, 1, 4, 4], floats: floats(-8...7))])
        #expect(run.outputs["y"] == floats(-8...7).map { max(0, 2 * $0) })
        let s = run.stats
        #expect([s.dramReadBytes, s.dramWriteBytes, s.sramReadBytes, s.sramWriteBytes] == [64, 64, 192, 128] as [Int])
        #expect(s.vectorElements == 16 && s.macs == 0)
        // df1: 128 x 162.5 pJ + 320 x 12.5 pJ + 16 x 0.9 pJ.
        #expect(s.energyFemtojoules == 128 * 162_500 + 320 * 12_500 + 16 * 900)
        #expect(s.energyFemtojoules == 24_814_400)
        #expect(
            s.energy
                == EnergyBreakdown(dramFemtojoules: 20_800_000, sramFemtojoules: 4_000_000, vectorFemtojoules: 14_400))
        #expect(run.timingOnly == s)

        // With energies that tell the counts apart: 128 x 1 + 192 x 10 + 128 x 100 + 16 x 10000.
        program.config.energy = Self.distinct
        let distinct = program.config.schedule(program.instructions, constantsBytes: 0).stats
        #expect(distinct.energyFemtojoules == 128 + 1_920 + 12_800 + 160_000)

        // The conv of docs/isa.md: 168 DRAM bytes, 248 SRAM bytes each way, 144 MACs.
        var conv = HandBuiltProgramTests.conv3x3Program()
        let stats = try Executor.run(conv, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect([stats.sramReadBytes, stats.sramWriteBytes, stats.vectorElements] == [248, 248, 0] as [Int])
        #expect(stats.energyFemtojoules == 168 * 162_500 + 496 * 12_500 + 144 * 4_600)
        #expect(
            stats.energyFemtojoules
                == conv.config.energyFemtojoules(
                    dramBytes: 168, sramReadBytes: 248, sramWriteBytes: 248, macs: 144, vectorElements: 0))
        conv.config.energy = Self.distinct
        let convDistinct = conv.config.schedule(conv.instructions, constantsBytes: conv.constants.count).stats
        #expect(convDistinct.energyFemtojoules == 168 + 2_480 + 24_800 + 144_000)
    }

    @Test func formulaAndSaturation() {
        let e = Self.distinct
        #expect(e.femtojoules(dramBytes: 2, sramReadBytes: 3, sramWriteBytes: 4, macs: 5, vectorElements: 6) == 65_432)
        #expect(
            e.breakdown(dramBytes: 2, sramReadBytes: 3, sramWriteBytes: 4, macs: 5, vectorElements: 6)
                == EnergyBreakdown(
                    dramFemtojoules: 2, sramFemtojoules: 430, macFemtojoules: 5_000, vectorFemtojoules: 60_000))
        // No trap on absurd counts: the total saturates.
        #expect(
            e.femtojoules(dramBytes: 0, sramReadBytes: 0, sramWriteBytes: 0, macs: Int.max / 2, vectorElements: 0)
                == Int.max)
        #expect(
            e.femtojoules(dramBytes: Int.max, sramReadBytes: Int.max, sramWriteBytes: 0, macs: 0, vectorElements: 0)
                == Int.max)
    }

    @Test func statsReportEnergy() throws {
        let stats = try Executor.run(
            HandBuiltProgramTests.conv3x3Program(), inputs: [:], options: ExecutionOptions(timingOnly: true)
        ).stats
        // 27300000 + 6200000 + 662400 fJ = 0.034 µJ.
        #expect(
            stats.summary(clockHz: 1_000_000_000).contains(
                "energy: 0.034 µJ (dram 79.9%, sram 18.1%, mac 1.9%, vector 0.0%)"))
        #expect(stats.energyPicojoules == 34_162.4)
        let json = try #require(try JSONSerialization.jsonObject(with: stats.json()) as? [String: Int])
        let expected = [
            "energy_fj": 34_162_400, "energy_dram_fj": 27_300_000, "energy_sram_fj": 6_200_000,
            "energy_mac_fj": 662_400,
            "energy_vector_fj": 0, "sram_read_bytes": 248, "sram_write_bytes": 248, "vector_elements": 0
        ]
        for (key, value) in expected { #expect(json[key] == value, "\(key)") }
    }

    /// docs/isa.md gives the defaults the code has.
    @Test func documentedDefaultsMatch() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/isa.md"), encoding: .utf8)
        let e = AcceleratorConfig.df1.energy
        for key in EnergyModel.CodingKeys.allCases {
            #expect(doc.contains("\(picojoulesText(e[key])) pJ"), "\(key.rawValue)")
            #expect(doc.contains("`\(key.fileKey)`"), "\(key.fileKey)")
            #expect(doc.contains(key.rawValue), "\(key.rawValue)")
        }
        #expect(
            picojoulesText(162_500) == "162.5" && picojoulesText(4_600) == "4.6" && picojoulesText(1_105) == "1.105")
        #expect(picojoulesText(25_000) == "25" && picojoulesText(12_346) == "12.346" && picojoulesText(7) == "0.007")
    }
}
