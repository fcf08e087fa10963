import Foundation
import ONNXImport
import Tensors
import TestSupport
import Testing
@testable import Accelerator

/// Real programs through the load path: compiled by the dfc binary, run from
/// the mapped file (`dfc run` and in process) and from a copy of its bytes,
/// with the same statistics and outputs, and races checked by intervals and
/// word by word alike.
@Suite struct RealProgramRunTests {
    struct Scratch {
        let dir: URL
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfc-real-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// Compiles `model` and runs the program in every way; returns the stats of the full run.
    static func check(model: String, input: String, in s: Scratch) throws -> ExecutionStats {
        let dfx = s.path("p.dfx"), statsFile = s.path("stats.json"), out = s.path("out")
        let compiled = try DFCProcess.run(["compile", model, "-o", dfx])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let run = try DFCProcess.run([
            "run", dfx, "--input", input, "--stats", statsFile, "--output-dir", out, "--profile"
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let profile = run.stderr.split(separator: "\n").filter { $0.hasPrefix("profile: ") }
            .map { $0.dropFirst("profile: ".count).split(separator: " ").dropLast(2).joined(separator: " ") }
        #expect(profile == ["load", "checksum", "validate", "hazard check", "timing", "run", "write", "total"])

        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dfx)))
        let copied = try Program(decoding: bytes), mapped = try Program.read(from: dfx)
        #expect(mapped.constants.isFileView && mapped == copied)
        #expect(try mapped.encoded() == bytes)
        try mapped.validate()
        try mapped.checkHazards()
        try mapped.checkHazardsWordByWord()

        let name = String(input.split(separator: "=")[0])
        let inputFile = String(input.split(separator: "=")[1])
        let x = try inputFile.hasSuffix(".pb") ? TensorFile.read(path: inputFile) : NPY.read(path: inputFile)
        let fromFile = try Executor.run(mapped, inputs: [name: x])
        let fromBytes = try Executor.run(copied, inputs: [name: x])
        let timingOnly = try Executor.run(mapped, inputs: [:], options: ExecutionOptions(timingOnly: true))
        #expect(fromFile.stats == fromBytes.stats && fromFile.stats == timingOnly.stats)
        #expect(fromFile.schedule == timingOnly.schedule)
        #expect(fromFile.outputs == fromBytes.outputs)
        #expect(try Data(contentsOf: URL(fileURLWithPath: statsFile)) == fromFile.stats.json())
        for (output, tensor) in fromFile.outputs {
            #expect(try NPY.read(path: "\(out)/\(output.replacingOccurrences(of: "/", with: "_")).npy") == tensor)
        }
        return fromFile.stats
    }

    /// The bundled ResNet-8.
    @Test func demo() throws {
        let s = try Scratch()
        defer { s.remove() }
        let root = TestPaths.repository.path
        let stats = try Self.check(
            model: "\(root)/Fixtures/demo/resnet8.onnx", input: "input=\(root)/Fixtures/demo/resnet8.input.npy", in: s)
        #expect(stats.cycles > 0 && stats.dramWeightBytes > 0)
    }

    /// ResNet-50 of the conformance data (`make test` generates it): 10^4 instructions, 10^8 bytes of weights.
    @Test func resNet50() throws {
        let dir = TestPaths.conformance.appendingPathComponent("light/resnet50")
        let model = dir.appendingPathComponent("model.onnx").path
        try #require(FileManager.default.fileExists(atPath: model), "no conformance data: make conformance-data")
        let s = try Scratch()
        defer { s.remove() }
        let stats = try Self.check(
            model: model, input: "gpu_0/data_0=\(dir.appendingPathComponent("test_data_set_0/input_0.pb").path)", in: s)
        #expect(stats.instructions > 5000)
    }
}
