import Accelerator
import GraphIR

/// A convolution whose output only an Add reads, the Add's other operand a
/// map of the same shape from DRAM (a residual connection): the convolution
/// runs tiled as on its own (`ConvTiling`), and each output tile, once its
/// input channels are summed, gets the matching tile of the other map added
/// (with the Add's activation) and is stored as the Add's output. The
/// convolution's output never reaches DRAM. This is the fusion left where
/// maps are too large for band or whole-map plans to pay (a segmentation
/// net's dilated layers: 1024-2048 channels at 32x32, whose weights a band
/// plan would stream once per band): it saves writing the convolution's
/// output and reading it back.
struct ResidualConvPlan {
    /// The convolution and the Add, in that order.
    var nodes: Range<Int>
    /// The Add's other operand, read tile by tile.
    var residual: String
    var tiling: ConvTiling
    var estimatedCycles: Int
    var sramBytes: Int { tiling.sramBytes }
    var dramBytes: Int { tiling.dramBytes }

    var tileDescription: String { "\(tiling.description), adding \(residual) to each output tile" }

    /// The Add's other operand when nodes[range] is such a convolution and Add, else nil.
    static func residual(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> String? {
        guard range.count == 2 else { return nil }
        let conv = graph.nodes[range.lowerBound], add = graph.nodes[range.lowerBound + 1]
        guard conv.kind == .conv, conv.activation == nil, add.kind == .add, add.inputs.count == 2,
            let value = conv.outputs.first, consumers[value] == [range.lowerBound + 1],
            !graph.outputs.contains(value), add.inputs.filter({ $0 == value }).count == 1
        else { return nil }
        let other = add.inputs[0] == value ? add.inputs[1] : add.inputs[0]
        guard graph.initializers[other] == nil, let type = graph.type(of: value), type.rank == 4,
            type.dtype == .float32, graph.type(of: other) == type, graph.type(of: add.outputs[0]) == type
        else { return nil }
        return other
    }

    /// Plans for nodes[range], or none when the range is not a convolution and its residual Add: the
    /// tilings best under the context's objective by the plain estimate and by the one with the
    /// pipeline's fill and drain (`ConvTiling.ranked`'s first two), for the timing model to decide.
    static func plans(_ range: Range<Int>, context: PlanningContext) -> [ResidualConvPlan] {
        let graph = context.graph
        guard let residual = residual(range, graph: graph, consumers: context.consumers),
            let g = context.convGeometries[range.lowerBound]
        else { return [] }
        let conv = graph.nodes[range.lowerBound]
        let ranked = ConvTiling.ranked(
            g, hasBias: conv.input(2) != nil, config: context.config, objective: context.objective, residual: true)
        return ranked.prefix(2).map {
            ResidualConvPlan(nodes: range, residual: residual, tiling: $0, estimatedCycles: $0.estimatedCycles)
        }
    }
}
