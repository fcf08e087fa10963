import GraphIR

extension CanonicalizeArithmetic {
    /// An AveragePool without padding of a 1x1 convolution (stride 1, no
    /// padding, no activation) read by nothing else pools the convolution's
    /// input instead, and the convolution reads the pooled map. Both compute
    /// the same: each pooled cell is a mean of cells, with weights summing to
    /// one, and a 1x1 convolution with its bias is affine per cell, so it
    /// commutes with such a mean (with padding, a padded cell would count a
    /// zero where the convolution gives its bias). A DenseNet transition
    /// (BatchNorm, ReLU, 1x1 convolution, 2x2 average pool) then runs its
    /// convolution on a quarter of the cells. Done only where the map between
    /// the two is no larger than before (input channels times pooled cells at
    /// most output channels times input cells), so no layer-by-layer schedule
    /// moves more bytes, and where the pool makes the map smaller.
    static func poolBeforePointwiseConv(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let pool = rewriter.graph.nodes[index]
        guard pool.kind == .averagePool, pool.activation == nil, pool.inputs.count == 1, pool.outputs.count == 1,
            let between = pool.input(0), let convIndex = rewriter.uses.producer(of: between),
            rewriter.isSoleUse(of: between, by: index)
        else { return .failure }
        let conv = rewriter.graph.nodes[convIndex]
        guard conv.kind == .conv, conv.activation == nil, conv.outputs == [between], let x = conv.input(0),
            rewriter.graph.initializers[x] == nil, let weight = conv.input(1),
            let w = rewriter.graph.initializers[weight], w.shape.count == 4, w.shape[2] == 1, w.shape[3] == 1,
            let xType = rewriter.graph.type(of: x), xType.rank == 4, xType.dtype == .float32,
            let yType = rewriter.graph.type(of: pool.outputs[0]), yType.rank == 4,
            let convWindow = try? WindowGeometry(node: conv, spatial: Array(xType.shape[2...]), kernel: [1, 1]),
            convWindow.strides == [1, 1], (convWindow.padsBegin + convWindow.padsEnd).allSatisfy({ $0 == 0 }),
            let poolWindow = try? WindowGeometry(node: pool, spatial: Array(xType.shape[2...])),
            (poolWindow.padsBegin + poolWindow.padsEnd).allSatisfy({ $0 == 0 })
        else { return .failure }
        let (channelsIn, channelsOut) = (xType.shape[1], yType.shape[1])
        let cells = xType.shape[2] * xType.shape[3], pooledCells = yType.shape[2] * yType.shape[3]
        guard pooledCells < cells, channelsIn * pooledCells <= channelsOut * cells else { return .failure }
        let pooled = rewriter.graph.uniqueName("\(x)_pooled")
        rewriter.graph.values[pooled] = ValueInfo(
            TensorType(dtype: xType.dtype, shape: [xType.shape[0], channelsIn, yType.shape[2], yType.shape[3]]))
        var pointwise = conv
        pointwise.inputs[0] = pooled
        pointwise.outputs = pool.outputs
        var early = pool
        early.inputs = [x]
        early.outputs = [pooled]
        // The convolution takes the pool's place (its output keeps the pool's name), the pool the convolution's.
        rewriter.replaceNode(at: index, with: pointwise)
        rewriter.replaceNode(at: convIndex, with: early)
        return .rewritten
    }
}
