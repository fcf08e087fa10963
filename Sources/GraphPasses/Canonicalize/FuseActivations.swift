import GraphIR

/// Moves an activation into the node that produces its input, when the
/// accelerator applies it on that node's way out (CONV, MATMUL, ELTWISE and
/// POOL all end with a fused activation): the pre-activation tensor is then
/// never written. The producer takes over the activation's output name.
///
/// An activation of a Concat moves into each part (ShuffleNet's Concat ->
/// Relu). An activation stays a node when its input is a graph input, a
/// constant, read by anything else, or produced by a node that cannot take it.
public struct FuseActivations: Pass {
    public let name = "fuse-activations"
    public let summary = "fuse Relu, Clip, LeakyRelu, Sigmoid, HardSwish, SiLU, GELU, Mish... into their producer"

    /// Ops whose single output the accelerator can pass through an
    /// activation (Sum is a chain of adds, Div by a constant a multiply).
    static let producers: Set<OpKind> = [
        .conv, .convTranspose, .gemm, .matMul, .add, .sub, .mul, .div, .sum, .batchNormalization,
        .averagePool, .maxPool, .globalAveragePool
    ]

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.fuse(activationAt:in:)])
    }

    /// Fuses node `index` into its producer if it is a fusable activation.
    static func fuse(activationAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard let activation = Activation(of: node, in: rewriter.graph), let input = node.input(0),
            let output = node.outputs.first, let producerIndex = rewriter.uses.producer(of: input),
            rewriter.isSoleUse(of: input, by: index)
        else { return .failure }
        // An element-wise map commutes with Concat: it moves into every
        // part, each of which must be able to take it.
        let producer = rewriter.graph.nodes[producerIndex]
        let targets =
            producer.kind == .concat
            ? producer.inputs.map { part in
                rewriter.uses.producer(of: part).flatMap { rewriter.isSoleUse(of: part, by: producerIndex) ? $0 : nil }
            }
            : [producerIndex]
        guard !targets.isEmpty, targets.allSatisfy({ $0.map { canTake(nodeAt: $0, in: rewriter.graph) } ?? false })
        else { return .failure }
        for target in targets.compactMap({ $0 }) { rewriter.graph.nodes[target].activation = activation }
        rewriter.removeNode(at: index)
        rewriter.renameValue(input, to: output)
        return .erased
    }

    /// Whether node `index` can apply an activation to its result.
    static func canTake(nodeAt index: Int, in graph: Graph) -> Bool {
        let node = graph.nodes[index]
        return producers.contains(node.kind) && node.activation == nil && node.outputs.count == 1
            && graph.type(of: node.outputs[0])?.dtype == .float32
    }
}
