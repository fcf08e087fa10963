import Accelerator
import GraphIR
import Tensors

/// What the emitter cannot lower, and why: one check per lowering pattern
/// (see `OpKind.pattern`). `Emitter.checkLowerable` reports every such node at once.
extension Emitter {
    static func unlowerableReason(_ node: Node, graph: Graph) -> String? {
        for output in node.outputs where !output.isEmpty {
            if let dtype = graph.type(of: output)?.dtype, dtype != .float32 {
                return "produces \(dtype) values at run time (only fp32 runs on the accelerator)"
            }
        }
        let rank = node.input(0).flatMap { graph.type(of: $0)?.rank } ?? 0
        switch node.kind.pattern {
        case .convolution: return convolutionReason(node, graph: graph, rank: rank)
        case .window, .global: return poolReason(node, rank: rank)
        case .fullyConnected: return fullyConnectedReason(node, graph: graph)
        case .elementwise: return elementwiseReason(node, graph: graph)
        case .dataMovement: return dataMovementReason(node, graph: graph, rank: rank)
        case .view: return nil
        case .crossChannel: return rank >= 3 ? nil : "LRN needs an N x C x spatial input"
        case .resample:
            guard rank <= 4 else { return "only resizes of rank up to 4 are supported" }
            let legacy = node.kind == .upsample || graph.opsetVersion < 11
            let transform = node.string("coordinate_transformation_mode", default: "half_pixel")
            guard legacy || Emitter.coordinateModes[transform] != nil else {
                return "coordinate_transformation_mode \(transform) is not supported on the accelerator"
            }
            return nil
        case .host:
            return rank <= hostRank ? nil : "rank above \(hostRank)"
        case .notLowered: return "\(node.opType) is not supported on the accelerator"
        }
    }

    private static func convolutionReason(_ node: Node, graph: Graph, rank: Int) -> String? {
        if node.kind == .convTranspose {
            guard rank == 3 || rank == 4 else { return "only 1-d and 2-d transposed convolutions are supported" }
            guard graph.initializers[node.inputs[1]] != nil else { return "ConvTranspose needs constant weights" }
            return nil
        }
        guard rank == 3 || rank == 4 else { return "only 1-d and 2-d convolutions are supported" }
        let groups = node.int("group", default: 1)
        let x = graph.type(of: node.inputs[0])!, y = graph.type(of: node.outputs[0])!
        if groups > 1 && !(groups == x.shape[1] && y.shape[1] == x.shape[1]) && y.shape[1] % groups != 0 {
            return "unsupported grouping"
        }
        return nil
    }

    private static func poolReason(_ node: Node, rank: Int) -> String? {
        guard rank == 3 || rank == 4 else { return "only 1-d and 2-d pooling is supported" }
        if node.outputs.count > 1 && !node.outputs[1].isEmpty { return "MaxPool indices are not supported" }
        return nil
    }

    private static func fullyConnectedReason(_ node: Node, graph: Graph) -> String? {
        guard node.int("transA", default: 0) == 0, node.int("transB", default: 0) == 1,
            node.float("alpha", default: 1) == 1, node.float("beta", default: 1) == 1,
            graph.initializers[node.inputs[1]] != nil
        else { return "only canonical fully-connected Gemm (constant weight, transB=1) is supported" }
        if let bias = node.input(2), graph.type(of: bias)?.shape != [graph.type(of: node.inputs[1])!.shape[0]] {
            return "the bias must have one value per output"
        }
        return nil
    }

    private static func elementwiseReason(_ node: Node, graph: Graph) -> String? {
        func isRuntime(_ i: Int, missing: Bool) -> Bool {
            node.input(i).map { graph.initializers[$0] == nil } ?? missing
        }
        switch node.kind {
        case .clip:
            if graph.opsetVersion >= 11, (1...2).contains(where: { isRuntime($0, missing: false) }) {
                return "Clip bounds must be constants"
            }
            return nil
        case .batchNormalization where (1...4).contains(where: { isRuntime($0, missing: true) }):
            return "BatchNormalization with runtime statistics"
        case .div where isRuntime(1, missing: true):
            return "division by a runtime tensor is not supported"
        case .add, .sub, .mul, .div, .sum, .pRelu, .batchNormalization, .max, .min:
            return elementwiseOperandsLowerable(node, graph: graph)
                ? nil : "broadcasting other than per-channel is not supported"
        default:
            return nil
        }
    }

    private static func dataMovementReason(_ node: Node, graph: Graph, rank: Int) -> String? {
        switch node.kind {
        case .gather:
            guard let indices = node.input(1).flatMap({ graph.initializers[$0] }),
                graph.initializers[node.inputs[0]] == nil
            else {
                return "Gather needs constant indices and runtime data"
            }
            let axis = ShapeMath.normalize(axis: node.int("axis", default: 0), rank: rank) ?? 0
            let dim = Int64(graph.type(of: node.inputs[0])!.shape[axis])
            return indices.ints.allSatisfy { $0 >= -dim && $0 < dim } ? nil : "index out of range"
        case .slice:
            return rank <= 4 ? nil : "slices of rank above 4 are not supported"
        case .expand, .tile:
            let outputRank = graph.type(of: node.outputs[0])?.rank ?? 0
            return outputRank <= 4 ? nil : "\(node.opType) to rank above 4 is not supported"
        case .channelShuffle:
            return rank == 4 ? nil : "only channel shuffles of 4-d maps are supported"
        case .pad:
            let mode = node.string("mode", default: "constant")
            guard mode == "constant" else { return "only constant padding is supported" }
            guard graph.opsetVersion < 11 || node.input(2).map({ graph.initializers[$0] != nil }) ?? true else {
                return "the pad value must be a constant"
            }
            return rank <= 4 ? nil : "pads of rank above 4 are not supported"
        default:
            return nil
        }
    }
}
