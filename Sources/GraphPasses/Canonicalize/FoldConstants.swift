import GraphIR
import ReferenceInterpreter
import Tensors
/// Evaluates at compile time every node whose result does not depend on
/// the graph inputs, and keeps only its result as a constant.
///
/// This covers Constant and ConstantOfShape, the Shape -> Gather ->
/// Unsqueeze -> Concat -> Reshape chains PyTorch exports (Shape and Size
/// need only their input's inferred type), Casts of stored weights and transposed
/// weights. The reference interpreter computes every folded value, so
/// folding cannot disagree with running the graph. Nodes nothing depends on
/// any more are dropped afterwards.
public struct FoldConstants: Pass {
    public let name = "fold-constants"
    public let summary = "evaluate nodes whose inputs are all constants; drop dead code"

    /// Largest result (in elements) folded when it outgrows the node's inputs.
    static let sizeLimit = 1 << 20

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.fold(nodeAt:in:)])
        graph.eliminateDeadCode()
    }

    /// Replaces node `index` by constants holding its outputs, if they are
    /// known at compile time.
    static func fold(nodeAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard let results = evaluate(node, in: rewriter.graph) else { return .failure }
        for (name, tensor) in zip(node.outputs, results) where !name.isEmpty {
            rewriter.graph.initializers[name] = tensor
        }
        rewriter.removeNode(at: index)
        return .erased
    }

    /// The outputs of `node` when they are known at compile time, else nil.
    static func evaluate(_ node: Node, in graph: Graph) -> [Tensor]? {
        guard node.kind != .opaque, node.activation == nil else { return nil }
        if node.kind == .shape {
            guard let name = node.input(0), let type = graph.type(of: name) else { return nil }
            let range = ShapeRules.shapeRange(node, rank: type.rank)
            return [Tensor(shape: [range.count], ints: type.shape[range].map { Int64($0) })]
        }
        if node.kind == .size {
            guard let name = node.input(0), let type = graph.type(of: name) else { return nil }
            return [Tensor(shape: [], ints: [Int64(type.count)])]
        }
        var inputs: [Tensor?] = []
        for name in node.inputs {
            if name.isEmpty { inputs.append(nil); continue }
            guard let tensor = graph.initializers[name] else { return nil }
            inputs.append(tensor)
        }
        // Folding must not blow a small description up into a large
        // constant (ConstantOfShape of a feature map's shape...).
        let given = inputs.reduce(0) { $0 + ($1?.count ?? 0) }
        let made = node.outputs.reduce(0) { $0 + (graph.type(of: $1)?.count ?? 0) }
        guard made <= max(given, sizeLimit) else { return nil }
        // A node the interpreter rejects (training-mode Dropout...) stays
        // for the later stages to report.
        return try? Interpreter.evaluate(node, inputs: inputs, opset: graph.opsetVersion)
    }
}
