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
    public let summary = "fuse Relu, Clip, LeakyRelu, Sigmoid, HardSwish... into their producer"

    /// Ops whose single output the accelerator can pass through an
    /// activation (Sum is a chain of adds, Div by a constant a multiply).
    static let producers: Set<OpKind> = [
        .conv, .convTranspose, .gemm, .matMul, .add, .sub, .mul, .div, .sum, .batchNormalization,
        .averagePool, .maxPool, .globalAveragePool,
    ]

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        var index = 0
        while index < graph.nodes.count {
            if !Self.fuse(activationAt: index, in: &graph) { index += 1 }
        }
    }

    /// Fuses node `index` into its producer if it is a fusable activation;
    /// true when the node is gone.
    static func fuse(activationAt index: Int, in graph: inout Graph) -> Bool {
        let node = graph.nodes[index]
        let producerOf = graph.producers(), consumers = graph.consumers()
        guard let activation = Activation(of: node, in: graph), let input = node.input(0), let output = node.outputs.first,
              let producerIndex = producerOf[input], graph.isSoleUse(of: input, by: index, consumers: consumers)
        else { return false }
        // An element-wise map commutes with Concat: it moves into every
        // part, each of which must be able to take it.
        let targets = graph.nodes[producerIndex].kind == .concat
            ? graph.nodes[producerIndex].inputs.map { part in
                producerOf[part].flatMap { graph.isSoleUse(of: part, by: producerIndex, consumers: consumers) ? $0 : nil }
            }
            : [producerIndex]
        guard !targets.isEmpty, targets.allSatisfy({ $0.map { canTake(nodeAt: $0, in: graph) } ?? false }) else { return false }
        for target in targets.compactMap({ $0 }) { graph.nodes[target].activation = activation }
        graph.nodes.remove(at: index)
        graph.renameValue(input, to: output)
        return true
    }

    /// Whether node `index` can apply an activation to its result.
    static func canTake(nodeAt index: Int, in graph: Graph) -> Bool {
        let node = graph.nodes[index]
        return producers.contains(node.kind) && node.activation == nil && node.outputs.count == 1
            && graph.type(of: node.outputs[0])?.dtype == .float32
    }
}
