import GraphIR
import Tensors

extension CanonicalizeArithmetic {
    /// A ChannelShuffle read only by ungrouped convolutions, as their input
    /// map, folds into their weights: each reads the unshuffled map with its
    /// weights' input channels permuted alike, so the fixed permutation costs
    /// nothing at run time. (Output channel a·g + b of a shuffle of g groups
    /// is input channel b·(C/g) + a.)
    static func foldChannelShuffle(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .channelShuffle, node.activation == nil, let x = node.input(0), let y = node.outputs.first,
            let type = rewriter.graph.type(of: y), type.rank >= 3, !rewriter.graph.outputs.contains(y)
        else { return .failure }
        let readers = rewriter.uses.consumers(of: y)
        let graph = rewriter.graph
        guard !readers.isEmpty,
            readers.allSatisfy({ position in
                let conv = graph.nodes[position]
                return conv.kind == .conv && conv.int("group", default: 1) == 1 && conv.inputs.firstIndex(of: y) == 0
                    && conv.inputs.lastIndex(of: y) == 0
                    && conv.input(1).flatMap { graph.initializers[$0] }?.dtype == .float32
            })
        else { return .failure }
        let channels = type.shape[1], groups = node.int("group", default: 1), perGroup = channels / groups
        // For each channel of x, the channel of y that holds it.
        var reader = [Int](repeating: 0, count: channels)
        for a in 0..<perGroup {
            for b in 0..<groups { reader[b * perGroup + a] = a * groups + b }
        }
        for position in readers {
            let name = rewriter.graph.nodes[position].inputs[1]
            let w = rewriter.graph.initializers[name]!
            let kernel = w.shape[2...].reduce(1, *), values = w.floats
            var permuted = values
            for o in 0..<w.shape[0] {
                for i in 0..<channels {
                    let to = (o * channels + i) * kernel, from = (o * channels + reader[i]) * kernel
                    permuted[to..<(to + kernel)] = values[from..<(from + kernel)]
                }
            }
            rewriter.setConstantInput(
                nodeAt: position, 1, to: Tensor(shape: w.shape, floats: permuted), name: "\(name)_unshuffled")
        }
        return rewriter.bypass(nodeAt: index, input: x, output: y) ? .erased : .failure
    }
}
