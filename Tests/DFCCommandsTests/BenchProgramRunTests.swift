import DFCCommands
import Foundation
import ONNXImport
import Tensors
import TestSupport
import Testing
@testable import Accelerator

/// The executor's arithmetic changes no count. Bench networks compiled at
/// df1 run with the arithmetic and report exactly the cycles and bytes that
/// `Tools/record_run_stats.py` recorded in Fixtures/run-stats.json from a
/// timing-only run (no arithmetic at all), for programs whose SHA-256 is the
/// recorded one; the counts also equal the timing model's prediction from the
/// instruction stream, and the outputs are within `--verify`'s tolerance of
/// the reference interpreter's.
@Suite struct BenchProgramRunTests {
    /// `DFC_BENCH_DIR`, else `<repo>/.cache/bench` (`make test-bench-models` writes the two models used here).
    static var benchDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["DFC_BENCH_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return TestPaths.repository.appendingPathComponent(".cache/bench")
    }

    struct Recorded: Decodable {
        let sha256: String
        let stats: ExecutionStats
    }

    static func sha256(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }

    @Test(arguments: ["resnet18", "mobilenet_v2"])
    func countsAndOutputs(model: String) throws {
        let onnx = Self.benchDirectory.appendingPathComponent("\(model).onnx").path
        try #require(FileManager.default.fileExists(atPath: onnx), "no bench model \(onnx): make test-bench-models")
        let fixture = TestPaths.repository.appendingPathComponent("Fixtures/run-stats.json")
        let recorded = try #require(
            try JSONDecoder().decode([String: Recorded].self, from: Data(contentsOf: fixture))["\(model) df1"])
        let s = try ScratchFolder("dfc-bench-run")
        defer { s.remove() }
        let dfx = s.path("p.dfx")
        let compiled = try DFCProcess.run(["compile", onnx, "-o", dfx, "--accel", "df1"])
        try #require(compiled.status == 0, "\(compiled.stderr)")
        try #require(
            try Self.sha256(dfx) == recorded.sha256,
            "the \(model) program is not the one recorded: if the compiler changed it on purpose, rerun Tools/record_run_stats.py"
        )

        let program = try Program.read(from: dfx)
        let graph = try ONNXImporter.load(path: onnx)
        let result = try Executor.run(program, inputs: Verification.randomInputs(for: graph))
        #expect(result.stats == recorded.stats)
        var predicted = program.config.schedule(program.instructions, constantsBytes: program.constants.count).stats
        (predicted.sramPeakBytes, predicted.dramCompulsoryBytes, predicted.instructions) =
            (recorded.stats.sramPeakBytes, recorded.stats.dramCompulsoryBytes, recorded.stats.instructions)
        #expect(result.stats == predicted)
        #expect(result.stats.macs > 100_000_000 && result.stats.dramWeightBytes > 1_000_000)

        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }
}
