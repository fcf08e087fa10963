import Accelerator
import GraphIR

/// The layer floor: the yardstick for "is the accelerator busy". For each
/// layer, the larger of its MAC cycles on the matrix array (channels rounded
/// up to whole lane blocks; depthwise convolutions on the vector unit) and
/// its weight bytes over the DRAM bandwidth; other layers count zero. It is
/// not a strict bound: prefetching across layers, or folding taps into
/// channels, can beat it.
public enum LayerFloor {
    /// Each node's floor in cycles, in node order.
    public static func cycles(_ graph: Graph, config: AcceleratorConfig) throws -> [Int] {
        try graph.nodes.map { node in
            let (compute, weights) = try work(node, graph: graph, config: config)
            return max(compute, ceilDiv(weights, config.dramBytesPerCycle))
        }
    }

    /// Compute cycles and constant bytes of one node.
    static func work(_ node: Node, graph: Graph, config: AcceleratorConfig) throws -> (cycles: Int, weightBytes: Int) {
        let weightBytes = node.inputs.dropFirst().reduce(0) { total, input in
            guard let constant = graph.initializers[input], constant.dtype == .float32 else { return total }
            return total + 4 * constant.count
        }
        switch node.kind {
        case .conv, .convTranspose:
            let g = node.kind == .conv ? try graph.convGeometry(node) : try graph.convTransposeGeometry(node).0
            let positions = g.n * g.ho * g.wo * g.kh * g.kw
            if g.depthwise { return (config.vectorCycles(elements: g.cout * positions), weightBytes) }
            let cycles = config.matrixCycles(
                inputChannels: g.cinPerGroup, outputChannels: g.coutPerGroup, groups: g.groups, positions: positions)
            return (cycles, weightBytes)
        case .gemm, .matMul:
            guard let a = graph.type(of: node.inputs[0]), let y = graph.type(of: node.outputs[0]), a.rank >= 2 else {
                return (0, weightBytes)
            }
            let k = a.shape[a.rank - 1], n = y.shape[y.rank - 1], m = y.count / max(1, n)
            let transposedA = node.kind == .gemm && node.int("transA", default: 0) != 0
            let depth = transposedA ? a.shape[0] : k
            return (config.matrixCycles(inputChannels: depth, outputChannels: n, positions: m), weightBytes)
        default:
            return (0, 0)
        }
    }
}
