import GraphIR

/// Gives every value a concrete dtype and shape (see `ShapeInference`).
public struct InferShapes: Pass {
    public let name = "infer-shapes"
    public let summary = "infer every value's dtype and shape, binding --input-shape"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try ShapeInference.run(&graph, inputShapes: options.inputShapes)
    }
}
