import GraphIR
import Tensors

/// Turns every view (Flatten, Squeeze, Unsqueeze, Reshape) into one form,
/// Reshape to a constant of its inferred output shape, so later stages know
/// a single view op; the data never moves. A view that keeps the shape is
/// removed, and a view of a view reads the original tensor. A Split of a
/// map's channels becomes one Slice per output (`splitChannels`).
public struct CanonicalizeViews: Pass {
    public let name = "canonicalize-views"
    public let summary =
        "make Flatten, Squeeze, Unsqueeze and Reshape one Reshape to a constant shape, a channel Split Slices"

    static let kinds: Set<OpKind> = [.flatten, .squeeze, .unsqueeze, .reshape]

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.canonicalize(viewAt:in:), Self.splitChannels(at:in:)])
    }

    /// Makes node `index` the canonical Reshape if it is a view whose
    /// shapes are known, reading past a Reshape that produces its input.
    static func canonicalize(viewAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard kinds.contains(node.kind), var source = node.input(0), let output = node.outputs.first,
            let type = rewriter.graph.type(of: output), let sourceType = rewriter.graph.type(of: source)
        else { return .failure }
        if sourceType.shape == type.shape, rewriter.bypass(nodeAt: index, input: source, output: output) {
            return .erased
        }
        // Zeros in a Reshape shape copy input dims unless `allowzero` (opset 14).
        guard !type.shape.contains(0) || rewriter.graph.opsetVersion >= 14 else { return .failure }
        if let producer = rewriter.uses.producer(of: source), rewriter.graph.nodes[producer].kind == .reshape,
            let inner = rewriter.graph.nodes[producer].input(0)
        {
            source = inner
        }
        var attributes: [String: Attribute] = [:]
        if type.shape.contains(0) { attributes["allowzero"] = .int(1) }
        let shape = shapeConstant(type.shape, in: &rewriter.graph)
        let view = Node(
            name: node.name, kind: .reshape, inputs: [source, shape], outputs: [output], attributes: attributes)
        guard view != node else { return .failure }
        rewriter.replaceNode(at: index, with: view)
        return .rewritten
    }

    /// The name of an int64 constant holding `shape`, shared by every view
    /// to that shape.
    static func shapeConstant(_ shape: [Int], in graph: inout Graph) -> String {
        let tensor = Tensor(shape: [shape.count], ints: shape.map { Int64($0) })
        let base = "shape_" + (shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x"))
        if graph.initializers[base] == tensor { return base }
        return graph.addConstant(tensor, name: base)
    }
}
