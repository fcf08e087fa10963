import GraphIR
import Tensors

/// Removes Identity and inference-mode Dropout, which pass their input
/// through unchanged. A Dropout mask that is read becomes a constant of
/// ones (every element kept), as ONNX defines it outside training.
public struct RemoveIdentity: Pass {
    public let name = "remove-identity"
    public let summary = "remove Identity and inference Dropout, rewiring their readers"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.remove(passThroughAt:in:)])
    }

    /// Removes node `index` if it passes its input through; a Dropout whose
    /// mask cannot be removed at least loses the mask.
    static func remove(passThroughAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard isPassThrough(node, in: rewriter.graph), let input = node.input(0),
            let output = node.outputs.first, !output.isEmpty
        else { return .failure }
        var result = RewriteResult.failure
        if node.kind == .dropout, let mask = node.outputs.dropFirst().first, !mask.isEmpty {
            guard let type = rewriter.graph.type(of: mask) else { return .failure }
            let ones =
                type.dtype == .float32
                ? Tensor(shape: type.shape, floats: Array(repeating: 1, count: type.count))
                : Tensor(shape: type.shape, ints: Array(repeating: 1, count: type.count))
            var unmasked = node
            unmasked.outputs.removeLast(node.outputs.count - 1)
            rewriter.replaceNode(at: index, with: unmasked)
            rewriter.graph.initializers[mask] = ones
            result = .rewritten
        }
        return rewriter.bypass(nodeAt: index, input: input, output: output) ? .erased : result
    }

    /// Identity, or a Dropout that is known not to be in training mode.
    static func isPassThrough(_ node: Node, in graph: Graph) -> Bool {
        switch node.kind {
        case .identity:
            return true
        case .dropout:
            // As the interpreter reads them: before opset 7, only a read
            // mask makes `is_test=0` mean training.
            if graph.opsetVersion < 7 { return node.int("is_test", default: 0) != 0 || node.outputs.count < 2 }
            guard let training = node.input(2) else { return true }
            return graph.initializers[training].map { !$0.ints.contains { $0 != 0 } } ?? false
        default:
            return false
        }
    }
}
