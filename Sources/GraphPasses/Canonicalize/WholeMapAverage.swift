import GraphIR

extension CanonicalizeArithmetic {
    /// An AveragePool whose window is the whole unpadded map (a classifier's
    /// final 7x7 pool in Caffe2 and older exports) is a GlobalAveragePool,
    /// which fusion groups take as a pooling tail: the map it averages is
    /// then never stored.
    static func wholeMapAverage(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let pool = rewriter.graph.nodes[index]
        guard pool.kind == .averagePool, pool.inputs.count == 1, pool.outputs.count == 1, let x = pool.input(0),
            let t = rewriter.graph.type(of: x), t.rank == 4,
            let y = rewriter.graph.type(of: pool.outputs[0]), y.shape == [t.shape[0], t.shape[1], 1, 1],
            pool.ints("kernel_shape") == [t.shape[2], t.shape[3]],
            (pool.ints("pads") ?? []).allSatisfy({ $0 == 0 }),
            (pool.ints("dilations") ?? []).allSatisfy({ $0 == 1 }),
            ["NOTSET", "VALID"].contains(pool.string("auto_pad", default: "NOTSET"))
        else { return .failure }
        rewriter.replaceNode(
            at: index,
            with: Node(
                name: pool.name, kind: .globalAveragePool, inputs: [x], outputs: pool.outputs,
                activation: pool.activation))
        return .rewritten
    }
}
