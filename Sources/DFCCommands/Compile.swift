import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors

/// `dfc compile`: import an ONNX model, run the pass pipeline, and emit a
/// `.dfx` program for the modeled accelerator.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile an ONNX model into a .dfx program.",
        discussion: HelpText.discussion(
            """
            Stages, in order (--dump-ir names them): \(stageNames.joined(separator: ", ")).

            Supported operators (default ONNX domain, opsets \(ONNXImporter.oldestOpset) to \(ONNXImporter.newestOpset)): \(OpKind.supportedONNXNames.joined(separator: ", ")).
            """,
            examples: [
                (
                    "compile and check it, writing a make depfile (model.d)",
                    "dfc compile model.onnx -o model.dfx --verify -MD"
                ),
                (
                    "how the layers fuse into groups with 256 KiB of SRAM",
                    "dfc compile model.onnx --sram 256KiB --dump-ir fuse"
                )
            ]))

    /// Names `--dump-ir` accepts: the graph passes, then the scheduling stages codegen runs.
    static let stageNames = PassRegistry.stageNames + Codegen.scheduleStages

    @Argument(help: "The ONNX model to compile.")
    var model: String

    @Option(
        name: .short,
        help: ArgumentHelp("Write the program here (atomically); - is standard output.", valueName: "PROG.dfx"))
    var output: String?

    @Option(
        name: .customLong("accel"),
        help: ArgumentHelp(
            "Accelerator: \(AcceleratorConfig.presetNames.joined(separator: ", ")) or a JSON file.",
            valueName: "NAME|FILE.json"))
    var accel = "df1"

    @Option(name: .customLong("sram"), help: ArgumentHelp("Override the SRAM size, e.g. 512KiB.", valueName: "SIZE"))
    var sram: String?

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp("Bind a graph input's shape, e.g. input=1x3x224x224 (repeatable).", valueName: "NAME=SHAPE"))
    var inputShapes: [String] = []

    @Flag(name: .customLong("no-fusion"), help: "Compile layer by layer (the baseline fusion is measured against).")
    var noFusion = false

    @Option(
        name: .customLong("objective"),
        help: ArgumentHelp(
            "What the tiler and the fusion planner minimise: traffic (DRAM bytes), latency (cycles), energy, or edp (energy x cycles). Default: \(Objective.default).",
            valueName: "traffic|latency|energy|edp"))
    var objective: String = Objective.default.rawValue

    @Option(
        name: .customLong("max-group-length"),
        help: ArgumentHelp(
            "The longest run of layers one fusion group may hold (bounds compile time). Default: \(Codegen.Options.defaultMaxGroupLength).",
            valueName: "N"))
    var maxGroupLength: Int = Codegen.Options.defaultMaxGroupLength

    @Option(
        name: .customLong("max-memory"),
        help: ArgumentHelp(
            "The most memory the model's tensors may need in all (every value, without reuse), e.g. 4GiB. Default: 16GiB.",
            valueName: "SIZE"))
    var maxMemory: String?

    @Flag(
        name: .customLong("verify"),
        help: "Run the program and the reference interpreter on seeded inputs; fail on mismatch.")
    var verify = false

    @Option(
        name: .customLong("dump-ir"),
        help: ArgumentHelp(
            "Print the IR after import and after each pass; PASS,... (after = or a space) selects stages.",
            valueName: "PASS,..."))
    var dumpIR: [String] = []

    @Option(
        name: .customLong("report"),
        help: ArgumentHelp(
            "Write predicted traffic and cycles, per layer, as JSON; - is standard output.", valueName: "FILE.json"))
    var report: String?

    @Option(
        name: .customLong("graph"),
        help: ArgumentHelp(
            "Write the scheduled graph as Graphviz DOT: fusion groups as clusters, host layers marked.",
            valueName: "FILE.dot"))
    var graphFile: String?

    @Option(
        name: .customLong("outputs"),
        help: ArgumentHelp(
            "Compile only what computes these values, which become the outputs (e.g. a backbone without its post-processing).",
            valueName: "NAME,..."))
    var cutOutputs: String?

    @Flag(
        name: .customLong("MD", withSingleDash: true),
        help:
            "Write a make depfile beside -o PROG.dfx, named PROG.d: the program and report depend on the model, its external data files and the --accel JSON."
    )
    var dependencies = false

    @Option(
        name: .customLong("MF", withSingleDash: true),
        help: ArgumentHelp("Write the make depfile here instead (implies -MD).", valueName: "FILE"))
    var dependencyFile: String?

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print nothing on success: no verify line, no notes.")
    var quiet = false

    @Flag(
        name: .customLong("profile"),
        help:
            "Print where the time went on stderr, once the compile succeeds: import, each pass, each scheduling stage, --verify, the write (ms)."
    )
    var profile = false

    func run() throws {
        if profile { PhaseTrace.startTiming() }
        try compile()
        if profile {
            var phases = PhaseTimes()
            for (name, milliseconds) in PhaseTrace.timedPhases { phases.add(name, milliseconds) }
            FileHandle.standardError.write(Data((phases.report + "\n").utf8))
        }
    }

    private func compile() throws {
        var options = CompileOptions()
        options.inputShapes = try Self.parseInputShapes(inputShapes)
        if let maxMemory {
            guard let bytes = AcceleratorConfig.parseSize(maxMemory), bytes > 0 else {
                throw DFCError(
                    "--max-memory '\(maxMemory)': expected a size like 4GiB, 512MiB or 1000000", kind: .usage)
            }
            options.maxMemoryBytes = bytes
        }
        let (model, quiet) = (self.model, self.quiet)
        options.note = { line in
            if !quiet { FileHandle.standardError.write(Data("dfc: note: \(model): \(line)\n".utf8)) }
        }
        let stages = try PassManager.dumpStages(
            from: dumpIR.flatMap { $0.split(separator: ",").map(String.init) },
            valid: Self.stageNames)
        // Checked before the work: a bad path should not cost a whole compilation.
        let outputFiles = [
            output.map { OutputFile($0, option: "-o") }, report.map { OutputFile($0, option: "--report") },
            graphFile.map { OutputFile($0, option: "--graph") },
            try depFilePath().map { OutputFile($0, option: dependencyFile == nil ? "-MD" : "-MF") }
        ]
        try OutputFile.check(outputFiles.compactMap { $0 })
        if !stages.isEmpty, let standard = outputFiles.compactMap({ $0 }).first(where: \.isStandardOutput) {
            throw DFCError(
                "--dump-ir prints to standard output, so \(standard.option!) cannot be '-' as well", kind: .usage)
        }
        let config = try Self.resolveConfig(accel: accel, sram: sram)
        guard let objective = Objective(rawValue: objective) else {
            throw DFCError(
                "--objective \(self.objective): expected one of \(Objective.allCases.map(\.rawValue).joined(separator: ", "))",
                kind: .usage)
        }
        guard (2...4096).contains(maxGroupLength) else {
            throw DFCError("--max-group-length \(maxGroupLength): expected a number from 2 to 4096", kind: .usage)
        }
        // Not kept as one value: the imported graph would keep weights that passes replace alive to the end.
        var graph: Graph
        let externalData: [String]
        (graph, externalData) = try ONNXImporter.loadNamingFiles(path: model)
        PhaseTrace.mark("import")
        if let cutOutputs {
            do { try graph.cut(toOutputs: cutOutputs.split(separator: ",").map(String.init)) } catch let error
                as DFCError
            { throw error.inFile(model) }
        }
        var reference: Graph?
        var manager = PassManager(dumpStages: stages) { _, text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        // The reference graph shares the weights until a pass rewrites one (folding a BatchNormalization
        // copies the convolution's): kept only when --verify needs it.
        if verify { manager.observe = { stage, snapshot in if stage == InferShapes().name { reference = snapshot } } }
        do {
            try manager.run(&graph, options: options)
        } catch let error as DFCError {
            throw error.inFile(model)
        }
        let scheduleDumps = stages.intersection(Codegen.scheduleStages)
        guard output != nil || verify || report != nil || graphFile != nil || !scheduleDumps.isEmpty else { return }

        let compilation: Codegen.Compilation
        do {
            compilation = try Codegen.schedule(
                graph,
                options: Codegen.Options(
                    config: config, fusion: !noFusion, objective: objective, maxGroupLength: maxGroupLength),
                dumpStages: scheduleDumps, explain: report != nil
            ) { _, text in
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        } catch let error as DFCError {
            throw error.inFile(model)
        }
        let program = compilation.program
        PhaseTrace.mark("schedule")
        if verify, let reference {
            let differences: [Verification.Difference]
            do { differences = try Verification.run(reference: reference, program: program) } catch let error
                as DFCError
            {
                throw error.inFile(model)
            }
            for difference in differences where !difference.passed {
                // A model file cut short under dfc reads as zeros: say that rather than a mismatch.
                try Tensor.checkSources(of: reference.initializers.values)
                throw DFCError("--verify failed: \(difference.description)", file: model, kind: .verification)
            }
            PhaseTrace.mark("verify")
            let worst = differences.map(\.comparison.relativeL2).max() ?? 0
            let outputs = differences.count == 1 ? "1 output matches" : "\(differences.count) outputs match"
            if !quiet {
                FileHandle.standardError.write(
                    Data(
                        "verify: \(model): \(outputs) the reference interpreter (worst relative L2 error \(String(format: "%.2g", worst)))\n"
                            .utf8))
            }
        }
        // Both files or neither: an error in one leaves the other as it was.
        var writes: [(file: OutputFile, parts: [any ByteChunks])] = []
        if let file = outputFiles[1] {
            var compileReport = CompileReport(model: model, graph: graph, compilation: compilation)
            compileReport.objective = objective
            writes.append((file, [[UInt8](try compileReport.json())]))
        }
        if let file = outputFiles[2] {
            let title = URL(fileURLWithPath: model).lastPathComponent
            writes.append((file, [Array(GraphDot.render(graph, compilation: compilation, title: title).utf8)]))
        }
        if let file = outputFiles[0] {
            do { writes.append((file, try program.fileContents())) } catch let error as ProgramError {
                throw DFCError(error, file: file.path)
            }
        }
        if let file = outputFiles[3] {
            let targets = [output, report, graphFile].compactMap { $0 }.filter {
                OutputFile($0).isStandardOutput == false
            }
            let accelFile = AcceleratorConfig.preset(named: accel) == nil ? [accel] : []
            let depFile = DepFile(targets: targets, prerequisites: [model] + externalData + accelFile)
            try DepFile.check(depFile.targets + depFile.prerequisites)
            writes.append((file, [Array(depFile.text.utf8)]))
        }
        // The weights were read from the model as they were written: it must not have changed meanwhile.
        try OutputFile.write(writes) { try Tensor.checkSources(of: graph.initializers.values) }
        PhaseTrace.mark("write")
    }

    /// Where -MD or -MF writes the depfile, nil without them. The depfile needs a file to name as its
    /// target, and -MD one to be named after.
    func depFilePath() throws -> String? {
        guard dependencies || dependencyFile != nil else { return nil }
        let targets = [output, report].compactMap { $0 }.filter { !OutputFile($0).isStandardOutput }
        guard !targets.isEmpty else {
            throw DFCError("-MD and -MF need -o PROG.dfx or --report FILE naming a file", kind: .usage)
        }
        if let dependencyFile { return dependencyFile }
        guard let output, !OutputFile(output).isStandardOutput else {
            throw DFCError(
                "-MD names the depfile after -o PROG.dfx; without it, name the depfile with -MF FILE", kind: .usage)
        }
        return DepFile.path(besides: output)
    }

    /// The accelerator of --accel and --sram (compile's and inspect's). A bad name or size is a usage error,
    /// a file that cannot be read an I/O error, a file that says something wrong bad input.
    static func resolveConfig(accel: String, sram: String?) throws -> AcceleratorConfig {
        do { return try AcceleratorConfig.resolve(accel, sram: sram) } catch {
            let kind: DFCError.Kind
            if AcceleratorConfig.preset(named: accel) != nil {
                // A preset is always valid: what is wrong is --sram.
                let text = "\(error)"
                throw DFCError(text.hasPrefix("--sram") ? text : "--sram \(sram ?? ""): \(text)", kind: .usage)
            } else if FileManager.default.isReadableFile(atPath: accel) {
                kind = .badInput
            } else {
                kind = accel.hasSuffix(".json") || accel.contains("/") ? .io : .usage
            }
            throw DFCError("--accel \(accel): \(error)", kind: kind)
        }
    }

    /// Parses `NAME=1x3x224x224` bindings.
    static func parseInputShapes(_ specs: [String]) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for spec in specs {
            guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
                throw DFCError("--input-shape '\(spec)': expected NAME=DIMxDIMx...", kind: .usage)
            }
            let name = String(spec[..<eq])
            let dims = spec[spec.index(after: eq)...].split(separator: "x", omittingEmptySubsequences: false).map {
                Int($0)
            }
            guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw DFCError(
                    "--input-shape '\(spec)': dimensions must be positive integers separated by 'x'", kind: .usage)
            }
            guard shapes[name] == nil else { throw DFCError("--input-shape binds '\(name)' twice", kind: .usage) }
            shapes[name] = dims.map { $0! }
        }
        return shapes
    }
}
