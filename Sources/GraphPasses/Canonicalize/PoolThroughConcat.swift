import GraphIR

extension CanonicalizeArithmetic {
    /// A MaxPool or AveragePool whose input is a channel Concat read by
    /// nothing else pools each part instead, and the Concat joins the
    /// pooled parts (a pool works on each channel alone, so both compute
    /// the same). Each part's pool goes right after the part's producer: an
    /// inception module's branches, which a stride-2 pool follows in
    /// GoogLeNet and its BVLC export, are then pooled in the groups that
    /// compute them, and their full-size maps never reach DRAM.
    static func poolThroughConcat(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let pool = rewriter.graph.nodes[index]
        guard [.maxPool, .averagePool].contains(pool.kind), pool.outputs.count == 1, pool.inputs.count == 1,
            let joined = pool.input(0), let concatIndex = rewriter.uses.producer(of: joined),
            rewriter.isSoleUse(of: joined, by: index)
        else { return .failure }
        let concat = rewriter.graph.nodes[concatIndex]
        guard concat.kind == .concat, concat.activation == nil, concat.outputs == [joined],
            let type = rewriter.graph.type(of: joined), type.rank == 4,
            ShapeMath.normalize(axis: concat.int("axis", default: 1), rank: 4) == 1,
            concat.inputs.count >= 2, Set(concat.inputs).count == concat.inputs.count,
            concat.inputs.allSatisfy({ !$0.isEmpty && rewriter.graph.initializers[$0] == nil }),
            let y = rewriter.graph.type(of: pool.outputs[0]), y.rank == 4,
            let parts = Optional(concat.inputs.compactMap { rewriter.graph.type(of: $0) }),
            parts.count == concat.inputs.count
        else { return .failure }
        var pooled: [String] = []
        for (part, type) in zip(concat.inputs, parts) {
            let name = rewriter.graph.uniqueName("\(part)_pooled")
            rewriter.graph.values[name] = ValueInfo(
                TensorType(dtype: type.dtype, shape: [y.shape[0], type.shape[1], y.shape[2], y.shape[3]]))
            pooled.append(name)
        }
        var names: Set<String> = []
        let pools = zip(concat.inputs, pooled).map { part, output in
            var name = rewriter.graph.uniqueNodeName("\(pool.name)_\(part)")
            while !names.insert(name).inserted { name += "_" }
            return Node(
                name: name, kind: pool.kind, inputs: [part], outputs: [output], attributes: pool.attributes,
                activation: pool.activation)
        }
        // The joined pooled parts take the pool's place and name; the Concat of the full-size parts goes.
        rewriter.replaceNode(
            at: index,
            with: Node(
                name: concat.name, kind: .concat, inputs: pooled, outputs: pool.outputs, attributes: concat.attributes))
        rewriter.removeNode(at: concatIndex)
        for (part, node) in zip(concat.inputs, pools) {
            if let producer = rewriter.uses.producer(of: part) {
                rewriter.replaceNode(at: producer, with: [rewriter.graph.nodes[producer], node])
            } else {
                rewriter.replaceNode(at: 0, with: [node, rewriter.graph.nodes[0]])
            }
        }
        // The joined parts now stand at index - 1 + the pools inserted before it: past them all.
        return .expanded(pools.count)
    }
}
