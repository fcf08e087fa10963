import GraphIR
import ReferenceInterpreter

/// Gives every value a concrete dtype and shape (see `ShapeInference`).
public struct InferShapes: Pass {
    public let name = "infer-shapes"
    public let summary = "infer every value's dtype and shape, binding --input-shape"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try ShapeInference.run(
            &graph, inputShapes: options.inputShapes, note: options.note, maxMemoryBytes: options.maxMemoryBytes,
            evaluate: Self.evaluate)
    }

    /// Small constant computations are folded with the interpreter's kernels,
    /// as fold-constants folds them; a node it rejects stays unknown.
    public static let evaluate: ShapeInference.ConstantEvaluator = { node, inputs, opset in
        try? Interpreter.evaluate(node, inputs: inputs, opset: opset)
    }
}
