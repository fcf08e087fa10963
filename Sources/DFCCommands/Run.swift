import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import ONNXImport
import Tensors

/// `dfc run`: execute a .dfx program on the modeled accelerator.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a .dfx program on the modeled accelerator.",
        discussion: HelpText.discussion(
            "Prints a summary (cycles, DRAM traffic and its weight/activation split) on stderr.",
            examples: [
                (
                    "run on an input, writing each output as NAME.npy and the counts as JSON",
                    "dfc run model.dfx --input input=image.npy --output-dir out --stats stats.json"
                )
            ]))

    @Argument(help: "The program to run.")
    var program: String

    @Option(
        name: .customLong("input"),
        help: ArgumentHelp(
            "Bind a program input to a .npy (or ONNX TensorProto .pb) file (repeatable).",
            valueName: "NAME=FILE.npy"))
    var inputs: [String] = []

    @Option(
        name: .customLong("output-dir"), help: ArgumentHelp("Write each output as NAME.npy here.", valueName: "DIR"))
    var outputDir: String?

    @Option(
        name: .customLong("stats"),
        help: ArgumentHelp("Write the run's statistics as JSON; - is standard output.", valueName: "FILE.json"))
    var stats: String?

    @Flag(name: .customLong("timing-only"), help: "Skip the arithmetic; cycle and byte counts are unchanged.")
    var timingOnly = false

    @Flag(
        name: .customLong("profile"),
        help: "Print where the time went on stderr: load, checksum, validate, hazard check, run, write (ms).")
    var profile = false
    @Option(
        name: .customLong("max-work"),
        help: ArgumentHelp(
            "Refuse a program that needs more element operations (MACs, element visits) than this. Default: 2^38.",
            valueName: "N"))
    var maxWork: Int = Self.defaultMaxWork

    /// 2^38 (2.7e11) element operations: about 15 times VGG-19's MACs, minutes of executor time.
    /// A hostile program (a box repeated 2^31 times) is refused before it runs.
    static let defaultMaxWork = 1 << 38

    func validate() throws {
        guard maxWork > 0 else { throw ValidationError("--max-work must be positive") }
        if timingOnly && outputDir != nil {
            throw ValidationError("--output-dir needs the outputs, which --timing-only does not compute")
        }
    }

    func run() throws {
        let statsFile = stats.map { OutputFile($0, option: "--stats") }
        try OutputFile.check(statsFile.map { [$0] } ?? [])
        var phases = PhaseTimes()
        let loaded: Program
        do { loaded = try Program.read(from: program, phases: &phases) } catch let e as ProgramError {
            throw DFCError(e, file: program)
        }
        var arrays: [String: Tensor] = [:]
        for (name, file) in try Self.parseInputs(inputs) {
            let array = try phases.measure("load") { try Self.readTensor(file) }
            do { try Executor.checkInputs(loaded, [name: array], required: false) } catch let e as ProgramError {
                throw DFCError(e.message, file: file)
            }
            arrays[name] = array
        }
        let result: ExecutionResult
        do {
            result = try Executor.run(
                loaded, inputs: arrays,
                options: ExecutionOptions(timingOnly: timingOnly, maxWork: timingOnly ? nil : maxWork), phases: &phases)
        } catch let e as ProgramError {
            throw DFCError(e, file: program)
        }
        try phases.measure("write") { try write(result, statsFile: statsFile) }
        let summary = result.stats.summary(clockHz: loaded.config.clockHz)
        FileHandle.standardError.write(Data((summary + "\n").utf8))
        if profile { FileHandle.standardError.write(Data((phases.report + "\n").utf8)) }
    }

    /// Every output and the statistics, or none of them.
    private func write(_ result: ExecutionResult, statsFile: OutputFile?) throws {
        var writes: [(file: OutputFile, parts: [[UInt8]])] = []
        if let outputDir {
            do {
                try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            } catch {
                throw DFCError("cannot create directory", file: outputDir, kind: .io)
            }
            for name in result.outputs.keys.sorted() {
                let path = URL(fileURLWithPath: outputDir).appendingPathComponent(Self.fileName(for: name)).path
                writes.append((OutputFile(path), [[UInt8](NPY.encode(result.outputs[name]!))]))
            }
        }
        if let statsFile { writes.append((statsFile, [[UInt8](result.stats.json())])) }
        try OutputFile.write(writes)
    }

    /// Parses `NAME=FILE` bindings; a name may be bound once.
    static func parseInputs(_ specs: [String]) throws -> [(String, String)] {
        var seen = Set<String>()
        return try specs.map { spec in
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex
            else {
                throw DFCError("--input '\(spec)': expected NAME=FILE.npy", kind: .usage)
            }
            let name = String(spec[..<eq])
            guard seen.insert(name).inserted else { throw DFCError("--input binds '\(name)' twice", kind: .usage) }
            return (name, String(spec[spec.index(after: eq)...]))
        }
    }

    /// A `.npy` file, or an ONNX `TensorProto` `.pb` file (the format of ONNX's test data).
    static func readTensor(_ file: String) throws -> Tensor {
        do {
            return try file.hasSuffix(".pb") ? TensorFile.read(path: file) : NPY.read(path: file)
        } catch let e as DFCError {
            throw e.inFile(file)
        }
    }

    /// `NAME.npy`, with path separators in ONNX names made harmless.
    static func fileName(for output: String) -> String {
        output.replacingOccurrences(of: "/", with: "_") + ".npy"
    }
}
