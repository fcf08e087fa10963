import ArgumentParser
import DeepFusion
import Foundation

/// `dfc compile`: import an ONNX model and run the compiler pipeline.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile an ONNX model.",
        discussion: "Passes, in order: \(PassRegistry.stageNames.joined(separator: ", ")).")

    @Argument(help: "The ONNX model to compile.")
    var model: String

    @Option(name: .customLong("input-shape"),
            help: ArgumentHelp("Bind a graph input's shape, e.g. input=1x3x224x224 (repeatable).", valueName: "NAME=SHAPE"))
    var inputShapes: [String] = []

    @Option(name: .customLong("dump-ir"),
            help: ArgumentHelp("Print the IR after import and after each pass; =PASS,... selects stages.", valueName: "PASS,..."))
    var dumpIR: [String] = []

    func run() throws {
        var options = CompileOptions()
        options.inputShapes = try Self.parseInputShapes(inputShapes)
        let stages = try PassManager.dumpStages(from: dumpIR.flatMap { $0.split(separator: ",").map(String.init) })
        var graph = try ONNXImporter.load(path: model)
        let manager = PassManager(dumpStages: stages) { _, text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        do {
            try manager.run(&graph, options: options)
        } catch let error as DFCError {
            throw error.inFile(model)
        }
    }

    /// Parses `NAME=1x3x224x224` bindings.
    static func parseInputShapes(_ specs: [String]) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for spec in specs {
            guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
                throw DFCError("--input-shape '\(spec)': expected NAME=DIMxDIMx...")
            }
            let name = String(spec[..<eq])
            let dims = spec[spec.index(after: eq)...].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw DFCError("--input-shape '\(spec)': dimensions must be positive integers separated by 'x'")
            }
            guard shapes[name] == nil else { throw DFCError("--input-shape binds '\(name)' twice") }
            shapes[name] = dims.map { $0! }
        }
        return shapes
    }
}
