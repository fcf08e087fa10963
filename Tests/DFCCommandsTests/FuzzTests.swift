import Accelerator
import Compiler
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors
import TestSupport
import Testing

/// The fuzz machinery shared by the bounded tests of `make test` and the
/// `make fuzz` campaign: seed inputs, the in-process pipeline, and the real
/// `dfc` binary with a time limit.
enum Fuzz {
    /// Tensors a fuzzed model may declare, in all: small enough that no case needs much memory.
    static let maxMemory = 256 << 20
    static let maxMemoryFlag = "256MiB"

    /// The real models mutants are made from: the demo ResNet-8 and the valid fixtures.
    static let onnxSeeds: [(name: String, bytes: [UInt8])] = {
        let fixtures = [
            "tiny_cnn", "ops_conv", "ops_eltwise", "ops_shape", "ops_misc", "pytorch_shape_chain", "opset7",
            "negative_dims", "weights_fp16", "weights_int", "initializer_as_input", "activation_idioms",
            "external_data", "external_data_offsets"
        ].map { "Fixtures/onnx/\($0).onnx" }
        return (["Fixtures/demo/resnet8.onnx"] + fixtures).map { path in
            (
                path,
                [UInt8](FileManager.default.contents(atPath: TestPaths.repository.appendingPathComponent(path).path)!)
            )
        }
    }()

    /// External data in the seeds resolves next to the fixtures.
    static let modelDirectory = ImportFixtures.directory

    /// The mutant of case `index` of a run seeded with `seed`: each case has
    /// its own generator, so a saved case can be made again from its name.
    static func onnxCase(seed: UInt64, index: Int) -> (source: String, bytes: [UInt8]) {
        var rng = SeededRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
        let (name, bytes) = onnxSeeds.randomElement(using: &rng)!
        return (name, ProtobufMutator.mutate(bytes, donors: onnxSeeds.map(\.bytes), rng: &rng))
    }

    enum Outcome: Hashable { case rejected, compiled }

    /// What `dfc compile` does, in process: import, the pass pipeline, the
    /// scheduling stages. A `DFCError` is a clean rejection; anything else
    /// (or a trap, which ends the test process) is a failure.
    static func compile(_ bytes: [UInt8], fusion: Bool) throws -> Outcome {
        do {
            var graph = try ONNXImporter.load(data: Data(bytes), directory: modelDirectory)
            try PassManager().run(&graph, options: CompileOptions(maxMemoryBytes: maxMemory))
            let compilation = try Codegen.schedule(
                graph,
                options: Codegen.Options(fusion: fusion, objective: .traffic, maxGroupLength: 4), explain: false)
            _ = try compilation.program.encoded()
            return .compiled
        } catch let error as DFCError {
            #expect(!error.description.contains("\n"), "one line: \(error)")
            #expect(!error.message.isEmpty)
            return .rejected
        }
    }

    // MARK: The real binary

    struct ProcessResult {
        var status: Int32
        /// False when the process was ended by a signal (a crash) rather than by exiting.
        var exited: Bool
        var timedOut: Bool
        var stderr: String
    }

    /// Runs `dfc arguments`, ending it (it is our own child) after `timeout` seconds.
    static func run(_ arguments: [String], timeout: Double, scratch: ScratchFolder) throws -> ProcessResult {
        let process = Process()
        process.executableURL = DFCProcess.binary
        process.arguments = arguments
        process.currentDirectoryURL = DFCProcess.repoRoot
        let errPath = scratch.path("stderr.txt")
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer { try? err.close() }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            done.wait()
        }
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return ProcessResult(
            status: process.terminationStatus, exited: process.terminationReason == .exit, timedOut: timedOut,
            stderr: stderr)
    }

    /// What is wrong with how `dfc` ended, or nil when it succeeded or said one error line naming `file`.
    static func problem(_ result: ProcessResult, file: String) -> String? {
        if result.timedOut { return "did not finish in time" }
        guard result.exited else { return "ended by signal \(result.status)" }
        switch result.status {
        case 0: return nil
        case 1...6:
            // Any of dfc's failures (DFCError.Kind). Notes (a batch defaulted to 1) may come first; then
            // exactly one error line.
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            let errors = lines.filter { $0.hasPrefix("dfc: error: ") }
            guard errors.count == 1, lines.last == errors.first, lines.allSatisfy({ $0.hasPrefix("dfc: ") }),
                result.stderr.hasSuffix("\n")
            else {
                return "exit \(result.status) without one error line on stderr: \(result.stderr.prefix(300))"
            }
            return errors[0].contains(file) ? nil : "the error does not name the file: \(errors[0])"
        default: return "exit status \(result.status): \(result.stderr.prefix(300))"
        }
    }

    /// Where crashing inputs are kept, as regression fixtures.
    static let crashFolder = TestPaths.repository.appendingPathComponent("Fixtures/fuzz")
}

@Suite("fuzz: hostile ONNX models")
struct ONNXFuzzTests {
    /// Mutated, truncated and spliced real models, with field-level protobuf
    /// mutations, through import, shape inference and compilation in process:
    /// each is rejected with one DFCError line or compiles.
    @Test func mutatedModelsAreRejectedOrCompile() throws {
        let seed = FuzzSettings.seed(default: 15)
        var outcomes: [Fuzz.Outcome: Int] = [:]
        var slowest = (seconds: 0.0, index: 0)
        for index in 0..<2000 {
            let (_, bytes) = Fuzz.onnxCase(seed: seed, index: index)
            let start = Date()
            outcomes[try Fuzz.compile(bytes, fusion: index % 2 == 0), default: 0] += 1
            let seconds = Date().timeIntervalSince(start)
            if seconds > slowest.seconds { slowest = (seconds, index) }
        }
        // A case that takes this long is a hang in the making.
        #expect(slowest.seconds < 10, "case \(slowest.index) took \(slowest.seconds) s")
        #expect(outcomes[.rejected, default: 0] > 500)
        #expect(outcomes[.compiled, default: 0] > 200)
        print(
            "onnx fuzz: \(outcomes[.rejected, default: 0]) rejected, \(outcomes[.compiled, default: 0]) compiled, slowest \(String(format: "%.2f", slowest.seconds)) s"
        )
    }

    /// The wire-format tree is faithful: a model parses and serializes back to its own bytes.
    @Test func wireFormatRoundTrips() throws {
        for (name, bytes) in Fuzz.onnxSeeds {
            let message = try #require(WireMessage.parse(bytes[...]), "\(name)")
            #expect(message.serialized() == bytes, "\(name)")
            #expect(message.fieldPaths().count > 10)
        }
    }

    /// A handful of mutants through the real binary: exit 0, or exit 1 with
    /// one `dfc: error:` line naming the file; never a signal or a hang.
    @Test func mutantsThroughTheBinary() throws {
        let scratch = try ScratchFolder("dfc-fuzz")
        defer { scratch.remove() }
        var statuses: Set<Int32> = []
        for index in 0..<12 {
            let (_, bytes) = Fuzz.onnxCase(seed: 77, index: index)
            let model = scratch.path("mutant.onnx")
            try Data(bytes).write(to: URL(fileURLWithPath: model))
            let result = try Fuzz.run(
                ["compile", model, "-o", scratch.path("mutant.dfx"), "--max-memory", Fuzz.maxMemoryFlag],
                timeout: 120, scratch: scratch)
            #expect(Fuzz.problem(result, file: model) == nil, "case \(index): \(Fuzz.problem(result, file: model)!)")
            statuses.insert(result.status)
        }
        #expect(statuses == [0, 1], "both outcomes seen")
    }

    /// Every input a campaign found crashing stays fixed.
    @Test func savedCrashesStayFixed() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fuzz.crashFolder.path)) ?? []
        let scratch = try ScratchFolder("dfc-fuzz-saved")
        defer { scratch.remove() }
        for name in names.sorted() where name.hasSuffix(".onnx") || name.hasSuffix(".dfx") {
            let path = Fuzz.crashFolder.appendingPathComponent(name).path
            let arguments =
                name.hasSuffix(".onnx")
                ? ["compile", path, "-o", scratch.path("out.dfx"), "--max-memory", Fuzz.maxMemoryFlag]
                : ["disasm", "--timing", path]
            let result = try Fuzz.run(arguments, timeout: 120, scratch: scratch)
            #expect(Fuzz.problem(result, file: path) == nil, "\(name): \(Fuzz.problem(result, file: path) ?? "")")
            if name.hasSuffix(".dfx") {
                let run = try Fuzz.run(["run", "--timing-only", path], timeout: 120, scratch: scratch)
                #expect(Fuzz.problem(run, file: path) == nil, "\(name): \(Fuzz.problem(run, file: path) ?? "")")
            }
        }
    }
}

/// `make fuzz`: mutants of the seed models and of compiled programs, each
/// through the real `dfc` in a process of its own, until `FUZZ_SECONDS` have
/// passed. A case that crashes, hangs or says more than one error line is
/// saved under Fixtures/fuzz/ as KIND-seedS-caseN, which `savedCrashesStayFixed` then runs in every `make test`.
@Suite("fuzz campaign (make fuzz)")
struct FuzzCampaign {
    @Test(.enabled(if: FuzzSettings.campaignSeconds != nil))
    func campaign() throws {
        let seconds = FuzzSettings.campaignSeconds ?? 0
        let seed = FuzzSettings.seed(default: 1)
        let scratch = try ScratchFolder("dfc-fuzz-campaign")
        defer { scratch.remove() }
        // Compiled programs to mutate: a small CNN and the demo ResNet-8.
        var programs: [(Program, [DFXField])] = []
        for path in ["Fixtures/onnx/tiny_cnn.onnx", "Fixtures/demo/resnet8.onnx"] {
            var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(path).path)
            try PassManager().run(&graph, options: CompileOptions())
            let program = try Codegen.schedule(graph, options: Codegen.Options(), explain: false).program
            programs.append((program, try DFXLayout.fields(of: program)))
        }
        let deadline = Date().addingTimeInterval(seconds)
        var (cases, saved) = (0, [String]())
        while Date() < deadline {
            let index = cases
            cases += 1
            let isProgram = index % 3 == 2
            let bytes: [UInt8]
            if isProgram {
                var rng = SeededRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
                let (program, layout) = programs.randomElement(using: &rng)!
                bytes = try ProgramMutator.mutate(program, layout: layout, rng: &rng)
            } else {
                bytes = Fuzz.onnxCase(seed: seed, index: index).bytes
            }
            let name = "\(isProgram ? "dfx" : "onnx")-seed\(seed)-case\(index).\(isProgram ? "dfx" : "onnx")"
            let input = scratch.path(name)
            try Data(bytes).write(to: URL(fileURLWithPath: input))
            let runs: [[String]] =
                isProgram
                ? [["disasm", "--timing", input], ["run", "--timing-only", input]]
                : [["compile", input, "-o", scratch.path("out.dfx"), "--max-memory", Fuzz.maxMemoryFlag, "--verify"]]
            for arguments in runs {
                let result = try Fuzz.run(arguments, timeout: 120, scratch: scratch)
                guard let problem = Fuzz.problem(result, file: input) else { continue }
                try FileManager.default.createDirectory(at: Fuzz.crashFolder, withIntermediateDirectories: true)
                let kept = Fuzz.crashFolder.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: kept)
                try FileManager.default.copyItem(atPath: input, toPath: kept.path)
                saved.append(name)
                Issue.record("dfc \(arguments.first!) \(name): \(problem); saved as Fixtures/fuzz/\(name)")
                break
            }
            try? FileManager.default.removeItem(atPath: input)
        }
        print("fuzz campaign: seed \(seed), \(cases) cases in \(Int(seconds)) s, \(saved.count) saved")
    }
}
