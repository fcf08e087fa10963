import GraphIR
import Tensors

/// Runs passes in order, verifying the graph after each one and printing it
/// after the stages the user asked to see.
public struct PassManager {
    public var passes: [any Pass]
    /// Stage names to dump (`import` or a pass name); empty: none.
    public var dumpStages: Set<String>
    /// Receives each dump: the stage name and the IR text.
    public var dump: (String, String) -> Void
    /// Sees the graph after every stage (the verifier keeps its oracle this way).
    public var observe: (String, Graph) -> Void = { _, _ in }

    public init(
        passes: [any Pass] = PassRegistry.pipeline, dumpStages: Set<String> = [],
        dump: @escaping (String, String) -> Void = { _, _ in }
    ) {
        self.passes = passes
        self.dumpStages = dumpStages
        self.dump = dump
    }

    /// Resolves `--dump-ir` values: "all" or a list of names from `valid`.
    public static func dumpStages(from requested: [String], valid: [String]) throws -> Set<String> {
        if requested.contains("all") { return Set(valid) }
        for name in requested where !valid.contains(name) {
            throw DFCError("--dump-ir: unknown pass '\(name)' (passes: \(valid.joined(separator: ", ")))", kind: .usage)
        }
        return Set(requested)
    }

    /// Runs the pipeline on a freshly imported graph.
    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.checkSupported()
        try graph.verify(requireTypes: false)
        emit(PassRegistry.importStage, graph)
        for pass in passes {
            do {
                try pass.run(&graph, options: options)
                try graph.verify(requireTypes: true)
            } catch let error as DFCError where error.file == nil {
                throw DFCError("\(pass.name): \(error.message)", kind: error.kind)
            }
            emit(pass.name, graph)
            PhaseTrace.mark(pass.name)
        }
    }

    private func emit(_ stage: String, _ graph: Graph) {
        observe(stage, graph)
        guard dumpStages.contains(stage) else { return }
        dump(stage, "// IR after \(stage)\n" + IRPrinter.print(graph))
    }
}

extension Graph {
    /// Checks the structural invariants every pass must keep: values are
    /// defined once and before use, outputs exist, and (once shapes are
    /// inferred) every value has a concrete type.
    public func verify(requireTypes: Bool) throws {
        var defined = Set(inputs).union(initializers.keys)
        for node in nodes {
            for input in node.inputs where !input.isEmpty && !defined.contains(input) {
                throw DFCError("IR invariant broken: node '\(node.name)' reads '\(input)' before it is defined")
            }
            for output in node.outputs where !output.isEmpty {
                guard defined.insert(output).inserted else {
                    throw DFCError("IR invariant broken: '\(output)' is defined twice")
                }
                if requireTypes && type(of: output) == nil {
                    throw DFCError("IR invariant broken: '\(output)' has no concrete type")
                }
            }
        }
        for output in outputs where !defined.contains(output) {
            throw DFCError("IR invariant broken: output '\(output)' is never defined")
        }
    }
}
