import GraphIR

/// Folds an explicit Pad into the windows of the Conv and pooling nodes
/// that read it, so the padded copy of the feature map is never made: the
/// accelerator pads windows on the fly (a LOAD outside the tensor reads 0).
///
/// Foldable: constant mode, non-negative pads on the spatial axes only, and
/// a pad value every reader ignores the same way its own padding does: 0 for
/// Conv and for AveragePool counting padding (`count_include_pad=1`, or a
/// pool with no padding of its own, which then counts it), -inf for MaxPool.
public struct FoldPad: Pass {
    public let name = "fold-pad"
    public let summary = "fold zero Pad into the pads of the Conv and pooling nodes that read it"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.fold(padAt:in:)])
    }

    /// Folds Pad node `index` into all its readers when each can take it.
    static func fold(padAt index: Int, in rewriter: inout GraphRewriter) throws -> RewriteResult {
        let pad = rewriter.graph.nodes[index]
        guard pad.kind == .pad, let input = pad.input(0), let output = pad.outputs.first,
            !rewriter.graph.outputs.contains(output), let type = rewriter.graph.type(of: input), type.rank >= 3,
            let (begin, end, value) = amounts(pad, rank: type.rank, in: rewriter.graph),
            begin.prefix(2).allSatisfy({ $0 == 0 }), end.prefix(2).allSatisfy({ $0 == 0 }),
            (begin + end).allSatisfy({ $0 >= 0 })
        else { return .failure }
        let readers = rewriter.uses.consumers(of: output)
        guard !readers.isEmpty else { return .failure }
        var rewritten: [Int: Node] = [:]
        for reader in Set(readers) {
            guard
                let node = try absorbing(
                    begin: Array(begin.dropFirst(2)), end: Array(end.dropFirst(2)), value: value,
                    into: rewriter.graph.nodes[reader], input: output, source: type,
                    in: rewriter.graph)
            else { return .failure }
            rewritten[reader] = node
        }
        for (reader, node) in rewritten { rewriter.replaceNode(at: reader, with: node) }
        rewriter.removeNode(at: index)
        rewriter.replaceAllUses(of: output, with: input)
        return .erased
    }

    /// Begin and end pads per axis and the pad value, for constant mode.
    static func amounts(_ pad: Node, rank: Int, in graph: Graph) -> (begin: [Int], end: [Int], value: Float)? {
        guard pad.string("mode", default: "constant") == "constant" else { return nil }
        let context = ShapeRules.Context(
            node: pad, inputs: [], opset: graph.opsetVersion,
            constant: { graph.initializers[$0] })
        guard let (begin, end) = try? ShapeRules.padAmounts(context, rank: rank) else { return nil }
        var value: Float = 0
        if graph.opsetVersion < 11 {
            value = pad.float("value", default: 0)
        } else if let name = pad.input(2) {
            guard let tensor = graph.initializers[name] else { return nil }
            if tensor.count > 0 { value = tensor.floats[0] }
        }
        return (begin, end, value)
    }

    /// `node` reading the padded value `input` directly from the unpadded
    /// one, with `begin`/`end` added to its spatial pads; nil when it cannot.
    static func absorbing(
        begin: [Int], end: [Int], value: Float, into node: Node, input: String,
        source type: TensorType, in graph: Graph
    ) throws -> Node? {
        guard node.inputs.first == input, node.inputs.dropFirst().allSatisfy({ $0 != input }) else { return nil }
        var node = node
        let spatial = (0..<begin.count).map { type.shape[$0 + 2] + begin[$0] + end[$0] }
        let kernel: [Int]?
        switch node.kind {
        case .conv:
            guard value == 0, let w = node.input(1), let weight = graph.type(of: w) else { return nil }
            kernel = Array(weight.shape.dropFirst(2))
        case .averagePool:
            guard value == 0 else { return nil }
            kernel = nil
        case .maxPool:
            guard value == -.infinity, node.outputs.count == 1 else { return nil }
            kernel = nil
        default:
            return nil
        }
        // Padding of its own, resolved from auto_pad against the padded input.
        let window = try WindowGeometry(node: node, spatial: spatial, kernel: kernel)
        if node.kind == .averagePool && node.int("count_include_pad", default: 0) == 0 {
            // The explicit Pad's zeros count toward the divisor; the pool's own pads do not.
            guard (window.padsBegin + window.padsEnd).allSatisfy({ $0 == 0 }), graph.opsetVersion >= 7 else {
                return nil
            }
            node.attributes["count_include_pad"] = .int(1)
        }
        node.attributes["auto_pad"] = nil
        node.attributes["pads"] = .ints(zip(window.padsBegin, begin).map(+) + zip(window.padsEnd, end).map(+))
        // ceil_mode lets a last window start in the explicit end padding,
        // but not in a pool's own: then the output would shrink.
        let unpadded = Array(type.shape.dropFirst(2))
        let folded = try WindowGeometry(node: node, spatial: unpadded, kernel: kernel)
        guard folded.outputExtents(unpadded) == window.outputExtents(spatial) else { return nil }
        return node
    }
}
