import Foundation
import Testing

/// Runs the built `dfc` binary as a user would and captures what it says.
enum DFCProcess {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `dfc` sits next to the test bundle in the build products directory.
    static var binary: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("dfc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "dfc")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: [UInt8]
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = repoRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting: a large dump would otherwise fill the pipe.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self), stdoutBytes: [UInt8](stdout))
    }
}

@Suite("dfc compile")
struct CompileCommandTests {
    static func fixture(_ name: String) -> String { "Fixtures/onnx/\(name)" }

    /// Bad input: exit status 1, exactly one line on stderr naming the file
    /// and the problem, nothing on stdout.
    @Test(
        "bad inputs give one error line and a non-zero exit",
        arguments: [
            ("does_not_exist.onnx", [String](), "no such file", Int32(6)),
            ("empty.onnx", [], "the file is empty", 1),
            ("not_onnx.onnx", [], "not an ONNX model", 1),
            ("truncated.onnx", [], "truncated protobuf", 1),
            ("corrupted.onnx", [], "corrupted protobuf", 1),
            ("deep_nesting.onnx", [], "nested deeper than", 1),
            ("missing_external.onnx", [], "does_not_exist.bin", 6),
            ("unknown_domain.onnx", [], "com.example.custom", 3),
            ("unsupported_ops.onnx", [], "topk_1", 3),
            ("shape_mismatch.onnx", [], "do not broadcast", 1),
            ("conv_channel_mismatch.onnx", [], "expects 5", 1),
            ("unknown_spatial.onnx", [], "--input-shape input=1x3xHxW", 1),
            ("huge_dims.onnx", [], "above the limit of 2^31 elements per tensor", 1),
            ("tiny_cnn.onnx", ["--input-shape", "input=1x3"], "has rank 2", 1),
            ("tiny_cnn.onnx", ["--input-shape", "input=1xAx3"], "positive integers", 2),
            ("tiny_cnn.onnx", ["--dump-ir=nonsense"], "unknown pass 'nonsense'", 2)
        ])
    func badInput(file: String, extra: [String], message: String, status: Int32) throws {
        let path = Self.fixture(file)
        let result = try DFCProcess.run(["compile", path] + extra)
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("dfc: error: "))
        #expect(result.stderr.contains(message), "\(result.stderr)")
        if !extra.contains(where: { $0.hasPrefix("--") }) || message.contains("rank") {
            #expect(result.stderr.contains(path), "the message names the file")
        }
    }

    @Test("unsupported ops are all listed with their node names")
    func allUnsupportedOps() throws {
        let result = try DFCProcess.run(["compile", Self.fixture("unsupported_ops.onnx")])
        for name in ["topk_1 ", "einsum_1", "hardmax_1", "TopK", "Einsum", "Hardmax"] {
            #expect(
                result.stderr.contains(name.trimmingCharacters(in: .whitespaces)), "\(name) missing in \(result.stderr)"
            )
        }
    }

    @Test("--dump-ir prints the IR after import and after every pass")
    func dumpAll() throws {
        let result = try DFCProcess.run(["compile", Self.fixture("tiny_cnn.onnx"), "--dump-ir"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("// IR after import"))
        #expect(result.stdout.contains("// IR after infer-shapes"))
        #expect(result.stdout.contains("= Conv(%input"))
        #expect(result.stdout.contains(": f32[1,10]"))
    }

    @Test("--dump-ir=PASS selects stages and the output matches the golden file")
    func dumpGolden() throws {
        let result = try DFCProcess.run(["compile", Self.fixture("tiny_cnn.onnx"), "--dump-ir=infer-shapes"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("// IR after import"))
        let golden = try String(
            contentsOf: DFCProcess.repoRoot.appendingPathComponent("Fixtures/ir/tiny_cnn.infer-shapes.ir"),
            encoding: .utf8)
        #expect(result.stdout == golden)
    }

    @Test("--input-shape binds a symbolic dimension")
    func inputShape() throws {
        let result = try DFCProcess.run([
            "compile", Self.fixture("symbolic_batch.onnx"), "--input-shape", "input=2x3x16x16",
            "--dump-ir=infer-shapes"
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("input  %input: f32[2,3,16,16]"))
    }

    @Test("a -1 batch defaults to 1 with a note; an overridden fixed dim is noted; both verify")
    func dynamicDims() throws {
        let batch = try DFCProcess.run([
            "compile", Self.fixture("negative_dims.onnx"), "--verify", "--dump-ir=infer-shapes"
        ])
        #expect(batch.status == 0, "\(batch.stderr)")
        #expect(batch.stdout.contains("input  %input: f32[1,3,16,16]"))
        #expect(batch.stdout.contains("output %output: f32[1,2]"))
        #expect(batch.stderr.contains("dfc: note: "), "\(batch.stderr)")
        #expect(batch.stderr.contains("defaults to 1"))
        let override = try DFCProcess.run([
            "compile", Self.fixture("tiny_cnn.onnx"), "--input-shape", "input=1x3x48x40", "--verify"
        ])
        #expect(override.status == 0, "\(override.stderr)")
        #expect(
            override.stderr.contains("overrides the model's fixed f32[1,3,32,32] (axis 2 32 -> 48, axis 3 32 -> 40)"))
    }

    @Test("--profile times import, each pass, each scheduling stage, --verify and the write; nothing on failure")
    func profile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dfc-profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let program = folder.appendingPathComponent("tiny.dfx").path
        let result = try DFCProcess.run([
            "compile", Self.fixture("tiny_cnn.onnx"), "-o", program, "--verify", "-q", "--profile"
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { $0.hasPrefix("profile: ") }, "\(result.stderr)")
        var times: [String: Double] = [:]
        for line in lines {
            let fields = line.dropFirst("profile: ".count).split(separator: " ")
            let name = fields.dropLast(2).joined(separator: " ")
            #expect(fields.last == "ms" && times[name] == nil, "\(line)")
            times[name] = Double(fields[fields.count - 2])
        }
        #expect(lines.first?.hasPrefix("profile: import ") == true, "\(result.stderr)")
        #expect(lines.last?.hasPrefix("profile: total ") == true, "\(result.stderr)")
        for phase in ["import", "infer-shapes", "fuse", "verify", "write", "total"] {
            #expect((times[phase] ?? -1) >= 0, "\(phase) missing from \(result.stderr)")
        }
        let sum = times.filter { $0.key != "total" }.values.reduce(0, +)
        #expect(abs(sum - (times["total"] ?? 0)) < 0.1, "phases add up to the total")
        let failed = try DFCProcess.run(["compile", Self.fixture("does_not_exist.onnx"), "--profile"])
        #expect(failed.status == 6 && failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
    }

    @Test("--dump-ir after canonicalization matches the golden file")
    func dumpCanonicalGolden() throws {
        let result = try DFCProcess.run(["compile", Self.fixture("tiny_cnn.onnx"), "--dump-ir=eliminate-dead-code"])
        #expect(result.status == 0, "\(result.stderr)")
        let golden = try String(
            contentsOf: DFCProcess.repoRoot.appendingPathComponent("Fixtures/ir/tiny_cnn.canonical.ir"), encoding: .utf8
        )
        #expect(result.stdout == golden)
    }

    @Test("--dump-ir=fuse,tile,plan-memory shows the groups, why each ends, tiles, predictions and the DRAM layout")
    func dumpSchedule() throws {
        let result = try DFCProcess.run(["compile", "Fixtures/demo/resnet8.onnx", "--dump-ir=fuse,tile,plan-memory"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("// schedule after fuse: "))
        #expect(out.contains("  group "), "at least one group")
        #expect(out.contains("// ends: end of the graph"))
        #expect(out.contains("cannot be fused (a global op"), "the global pool ends a group")
        #expect(out.contains("// schedule after tile: "))
        #expect(out.contains(", halo ") || out.contains("whole map"))
        #expect(out.contains("SRAM "))
        #expect(out.contains("  total DRAM "))
        #expect(out.contains("// schedule after plan-memory: constants "))
        #expect(out.contains("  %input: [0x"))
        // Stages print in pipeline order and nothing else is printed.
        let fuse = try #require(out.range(of: "after fuse")), tile = try #require(out.range(of: "after tile"))
        #expect(fuse.lowerBound < tile.lowerBound)
        #expect(!out.contains("// IR after"))
    }

    @Test("--no-fusion --dump-ir=fuse lists every layer on its own")
    func dumpScheduleNoFusion() throws {
        let result = try DFCProcess.run(["compile", "Fixtures/demo/resnet8.onnx", "--no-fusion", "--dump-ir=fuse"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0 groups"))
        #expect(!result.stdout.contains("  group "))
        #expect(result.stdout.contains("// ends: fusion is off"))
    }
}
