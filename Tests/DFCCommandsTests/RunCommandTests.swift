import Accelerator
import Foundation
import GraphIR
import ONNXImport
import Tensors
import Testing
@testable import DFCCommands

/// `dfc run` and `dfc disasm` on a small hand-built program.
@Suite struct RunCommandTests {
    /// y = relu(x + 1) over a 1x2x3 tensor (ELTWISE with a per-channel constant).
    static func program() -> Program {
        var b = ProgramBuilder()
        let one = b.addConstant([1])
        let x = b.addInput("x", shape: [1, 2, 3])
        let y = b.addOutput("y", shape: [1, 2, 3])
        b.emit(.load(TransferOp(tensorAt: one, shape: [1], origin: [0], counts: [1], sramAddr: 0)), nodes: ["add"])
        b.emit(
            .load(TransferOp(tensorAt: x, shape: [1, 2, 3], origin: [0, 0, 0], counts: [1, 2, 3], sramAddr: 64)),
            signal: .vector, nodes: ["add"])
        let tile = SRAMTile(addr: 64, channels: 1, height: 2, width: 3)
        b.emit(
            .eltwise(
                EltwiseOp(
                    .add, a: tile, b: SRAMTile(addr: 0, channels: 1, height: 1, width: 1), output: tile,
                    broadcast: .channel, activation: .relu)),
            wait: .load, signal: .store, nodes: ["add", "relu"])
        b.emit(
            .store(TransferOp(tensorAt: y, shape: [1, 2, 3], origin: [0, 0, 0], counts: [1, 2, 3], sramAddr: 64)),
            wait: .vector, nodes: ["relu"])
        return b.build()
    }

    struct Scratch {
        let dir: URL
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfc-run-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    static func run(_ arguments: [String]) throws {
        let command = try Run.parse(arguments)
        try command.run()
    }

    @Test("--verify's mismatch line counts and locates NaN and infinities, then gives the finite pairs' figures")
    func verifyDifferenceNamesNonFiniteValues() {
        let expected = Tensor(shape: [1, 2, 3], floats: [1, 2, 3, 4, 5, 6])
        let actual = Tensor(shape: [1, 2, 3], floats: [1, 2, .nan, 4, .infinity, 6.5])
        let difference = Verification.Difference(output: "y", comparison: TensorComparison(actual, expected))
        #expect(!difference.passed)
        #expect(
            difference.description
                == "output 'y': 1 NaN in actual, first at [0,0,2]; 1 inf in actual, first at [0,1,1]; where both are "
                + "finite, max |diff| 0.5 at [0,1,2], relative L2 error 0.0662 (limit 0.0001)",
            "\(difference.description)")
        let close = Tensor(shape: [1, 2, 3], floats: [1, 2, 3, 4, 5, 6.5])
        let finite = Verification.Difference(output: "y", comparison: TensorComparison(close, expected))
        #expect(finite.description == "output 'y': max |diff| 0.5 at [0,1,2], relative L2 error 0.0524 (limit 0.0001)")
    }

    @Test func runsAndWritesOutputsAndStats() throws {
        let s = try Scratch()
        defer { s.remove() }
        try Self.program().write(to: s.path("p.dfx"))
        try NPY.write(Tensor(shape: [1, 2, 3], floats: [-3, -1, 0, 1, 2, -0.5]), to: s.path("x.npy"))
        try Self.run([
            s.path("p.dfx"), "--input", "x=\(s.path("x.npy"))", "--output-dir", s.path("out"),
            "--stats", s.path("stats.json")
        ])
        #expect(try NPY.read(path: s.path("out/y.npy")) == Tensor(shape: [1, 2, 3], floats: [0, 0, 1, 2, 3, 0.5]))
        let data = try Data(contentsOf: URL(fileURLWithPath: s.path("stats.json")))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Int])
        for key in [
            "cycles", "dram_read_bytes", "dram_write_bytes", "dram_weight_bytes", "dram_activation_bytes", "macs",
            "sram_peak_bytes", "load_busy_cycles", "matrix_busy_cycles", "vector_busy_cycles", "store_busy_cycles",
            "host_busy_cycles"
        ] {
            #expect(json[key] != nil, "stats lack \(key)")
        }
        #expect(json["dram_weight_bytes"] == 4 && json["dram_activation_bytes"] == 48)

        // --timing-only: no inputs needed, identical stats.
        try Self.run([s.path("p.dfx"), "--timing-only", "--stats", s.path("timing.json")])
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("timing.json"))) == data)
    }

    @Test func readsTensorProtoInputs() throws {
        let s = try Scratch()
        defer { s.remove() }
        try Self.program().write(to: s.path("p.dfx"))
        try TensorFile.write(Tensor(shape: [1, 2, 3], floats: [-3, -1, 0, 1, 2, -0.5]), name: "x", path: s.path("x.pb"))
        try Self.run([s.path("p.dfx"), "--input", "x=\(s.path("x.pb"))", "--output-dir", s.path("out")])
        #expect(try NPY.read(path: s.path("out/y.npy")) == Tensor(shape: [1, 2, 3], floats: [0, 0, 1, 2, 3, 0.5]))
    }

    @Test func inputErrorsNameTheFileAndTheProblem() throws {
        let s = try Scratch()
        defer { s.remove() }
        let dfx = s.path("p.dfx")
        try Self.program().write(to: dfx)
        try NPY.write(Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), to: s.path("bad.npy"))
        try NPY.write(Tensor(shape: [1, 2, 3], ints: [1, 2, 3, 4, 5, 6]), to: s.path("int.npy"))
        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: s.path("junk.npy")))
        let cases: [([String], DFCError)] = [
            ([dfx], DFCError("missing input 'x' (f32 1x2x3)", file: dfx)),
            (
                [dfx, "--input", "x=\(s.path("bad.npy"))"],
                DFCError("input 'x': expected shape 1x2x3, got 2x3 (rank 2, not 3)", file: s.path("bad.npy"))
            ),
            (
                [dfx, "--input", "x=\(s.path("int.npy"))"],
                DFCError("input 'x': expected dtype f32, got i64", file: s.path("int.npy"))
            ),
            (
                [dfx, "--input", "z=\(s.path("bad.npy"))"],
                DFCError("unknown input 'z' (the program's inputs: x)", file: s.path("bad.npy"))
            ),
            (
                [dfx, "--input", "x=\(s.path("junk.npy"))"],
                DFCError("not a .npy file (bad magic)", file: s.path("junk.npy"))
            ),
            ([dfx, "--input", "x"], DFCError("--input 'x': expected NAME=FILE.npy", kind: .usage))
        ]
        for (arguments, expected) in cases {
            let error = #expect(throws: DFCError.self) { try Self.run(arguments) }
            #expect(error == expected)
        }
        #expect(!FileManager.default.fileExists(atPath: s.path("out")))
    }

    @Test func corruptProgramsAreReported() throws {
        let s = try Scratch()
        defer { s.remove() }
        var bytes = try Self.program().encoded()
        bytes[30] ^= 0xFF
        let dfx = s.path("bad.dfx")
        try Data(bytes).write(to: URL(fileURLWithPath: dfx))
        let error = #expect(throws: DFCError.self) { try Self.run([dfx, "--timing-only"]) }
        #expect(error?.file == dfx)
        #expect(error?.message.hasPrefix("corrupt .dfx: checksum mismatch") == true)
        #expect(DFC.run(arguments: ["run", dfx, "--timing-only"]) == 1)
        #expect(DFC.run(arguments: ["disasm", dfx]) == 1)
        #expect(DFC.run(arguments: ["run", s.path("missing.dfx")]) == DFCError.Kind.io.exitCode)
        #expect(throws: (any Error).self) { try Run.parse([dfx, "--timing-only", "--output-dir", s.path("o")]) }
    }

    @Test func disasmPrintsOneLinePerInstruction() throws {
        let s = try Scratch()
        defer { s.remove() }
        let program = Self.program()
        try program.write(to: s.path("p.dfx"))
        #expect(DFC.run(arguments: ["disasm", s.path("p.dfx")]) == 0)
        let lines = program.disassembly().split(separator: "\n").filter { !$0.hasPrefix(";") }
        #expect(lines.count == 4)
        #expect(lines[2].hasPrefix("2  eltwise@vector wait=[load] signal=[store] "))
        #expect(lines[2].hasSuffix("  ; add, relu"))
    }
}
