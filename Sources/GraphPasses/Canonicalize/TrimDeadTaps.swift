import GraphIR
import Tensors

/// Drops the kernel taps of a convolution that only ever read padding: with
/// a dilation as large as the map (DeepLab's atrous pyramid), a 3x3 kernel's
/// outer taps fall outside the input at every output position and multiply
/// zeros. The kernel shrinks to its live taps, the weights are sliced and
/// the pads move in by the dropped taps, so every output is the same sum of
/// the same products (the dropped ones were all zero) and the weights the
/// accelerator loads and the MACs it spends shrink with the kernel.
public struct TrimDeadTaps: Pass {
    public let name = "trim-dead-taps"
    public let summary = "drop convolution taps that read only padding (large dilations on small maps)"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.trim(convAt:in:)])
    }

    /// The live taps along one axis: those reading some input position for
    /// some output position, a contiguous range; nil if all are live or
    /// trimming would need a negative pad.
    static func liveTaps(input: Int, output: Int, kernel: Int, stride: Int, dilation: Int, begin: Int, end: Int)
        -> Range<Int>?
    {
        // Tap k reads input row y*stride - begin + k*dilation for y in 0..<output.
        let live = (0..<kernel).filter { k in
            let first = k * dilation - begin, last = (output - 1) * stride - begin + k * dilation
            return last >= 0 && first <= input - 1
        }
        guard let low = live.first, let high = live.last, live.count < kernel,
            begin - low * dilation >= 0, end - (kernel - 1 - high) * dilation >= 0
        else { return nil }
        return low..<(high + 1)
    }

    static func trim(convAt index: Int, in rewriter: inout GraphRewriter) throws -> RewriteResult {
        let graph = rewriter.graph
        let node = graph.nodes[index]
        guard node.kind == .conv, node.string("auto_pad", default: "NOTSET") == "NOTSET",
            let weightName = node.input(1), let weights = graph.initializers[weightName], weights.dtype == .float32,
            let x = graph.type(of: node.inputs[0]), let y = graph.type(of: node.outputs[0]), x.rank >= 3,
            weights.shape.count == x.rank
        else { return .failure }
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: node, spatial: spatial, kernel: Array(weights.shape[2...]))
        let live = spatial.indices.map { axis in
            liveTaps(
                input: spatial[axis], output: y.shape[2 + axis], kernel: window.kernel[axis],
                stride: window.strides[axis], dilation: window.dilations[axis], begin: window.padsBegin[axis],
                end: window.padsEnd[axis]) ?? 0..<window.kernel[axis]
        }
        guard zip(live, window.kernel).contains(where: { $0.count < $1 }) else { return .failure }
        // The weights of the live taps only, [Cout][Cin/g][live kernel...].
        let kept = live.map(\.count)
        let outerCount = weights.shape[0] * weights.shape[1]
        let fullStrides = ShapeMath.strides(Array(weights.shape[2...]))
        let keptCount = kept.reduce(1, *)
        let values = weights.floats
        var sliced = [Float](repeating: 0, count: outerCount * keptCount)
        for tap in 0..<keptCount {
            var rest = tap, offset = 0
            for axis in kept.indices.reversed() {
                offset += (live[axis].lowerBound + rest % kept[axis]) * fullStrides[axis]
                rest /= kept[axis]
            }
            let whole = fullStrides.first.map { $0 * window.kernel[0] } ?? 1
            for outer in 0..<outerCount { sliced[outer * keptCount + tap] = values[outer * whole + offset] }
        }
        let trimmed = rewriter.graph.addConstant(
            Tensor(shape: Array(weights.shape[..<2]) + kept, floats: sliced), name: "\(weightName)_live_taps")
        var conv = node
        conv.inputs[1] = trimmed
        conv.attributes["kernel_shape"] = .ints(kept)
        let begin = spatial.indices.map { window.padsBegin[$0] - live[$0].lowerBound * window.dilations[$0] }
        let end = spatial.indices.map {
            window.padsEnd[$0] - (window.kernel[$0] - live[$0].upperBound) * window.dilations[$0]
        }
        conv.attributes["pads"] = .ints(begin + end)
        rewriter.replaceNode(at: index, with: conv)
        return .rewritten
    }
}
