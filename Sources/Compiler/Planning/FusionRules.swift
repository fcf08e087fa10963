import GraphIR

/// The structural rules a run of layers must follow to be one fusion group,
/// and why a layer or a run breaks them (shown by `--dump-ir=fuse`).
enum FusionRules {
    /// Whether a group may hold `node`: a row-local kind (see `OpKind.isRowLocal`)
    /// on one 4-d map, with constant weights, and per-channel operands that
    /// are constants or runtime channel vectors (see `isChannelVector`).
    static func fusible(_ node: Node, graph: Graph) -> Bool {
        guard node.kind.isRowLocal, Emitter.unlowerableReason(node, graph: graph) == nil, node.outputs.count == 1,
            let y = graph.type(of: node.outputs[0]), y.rank == 4, y.shape[0] == 1
        else { return false }
        let runtime = node.inputs.filter { !$0.isEmpty && graph.initializers[$0] == nil }
        guard runtime.allSatisfy({ graph.type(of: $0)?.rank == 4 && graph.type(of: $0)?.shape[0] == 1 }) else {
            return false
        }
        switch node.kind {
        case .conv:
            return graph.initializers[node.inputs[1]] != nil
                && node.input(2).map { graph.initializers[$0] != nil } ?? true
        case .add, .sub, .mul:
            // Full-size runtime operands, or constants or runtime vectors with one value per channel.
            return node.inputs.allSatisfy { perChannelOrFull($0, of: node, output: y, graph: graph) }
                && (node.kind != .sub
                    || (graph.initializers[node.inputs[0]] == nil
                        && !isChannelVector(node.inputs[0], of: node, graph: graph)))
        case .concat:
            return ShapeMath.normalize(axis: node.int("axis", default: 1), rank: 4) == 1
        case .slice:
            return channelSlice(node, graph: graph) != nil
        default:
            return true
        }
    }

    /// The first channel of a channel slice: a Slice of a 4-d map that cuts
    /// only the channel axis, with step 1 (every row and column whole). A
    /// group keeps it as a view of a channel range of its input's SRAM
    /// buffer, moving nothing; nil for any other slice.
    static func channelSlice(_ node: Node, graph: Graph) -> Int? {
        guard node.kind == .slice, let x = graph.type(of: node.inputs[0]), x.rank == 4, x.shape[0] == 1 else {
            return nil
        }
        let context = ShapeRules.Context(
            node: node, inputs: node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) },
            opset: graph.opsetVersion, constant: { graph.initializers[$0] })
        guard let ranges = try? ShapeRules.sliceRanges(context, shape: x.shape), ranges.count == 4,
            ranges[1].step == 1, ranges[1].count > 0,
            [0, 2, 3].allSatisfy({ ranges[$0].start == 0 && ranges[$0].count == x.shape[$0] })
        else { return nil }
        return ranges[1].start
    }

    /// Whether a Concat in the group nodes[range] copies `part` into its
    /// buffer rather than having its producer write it there in place. Only
    /// a part the group computes (not a channel slice, a view of another
    /// buffer) and reads only in Concats of one chain (see `concatChains`),
    /// once in each, is written in place: its channels are the same in every
    /// Concat of the chain, which share one buffer (unless its layer reads a
    /// shorter Concat of that chain: it would read the buffer it writes).
    /// Any other part is copied from its own buffer: a channel slice, a part
    /// loaded from DRAM because it was computed before the group (a DenseNet
    /// block's earlier features, the branches of an inception module split
    /// over groups, unless loaded straight into the concat), or a part read
    /// by Concats of different chains or by other layers too.
    /// `producers`: the node index of each value nodes[range] compute.
    static func copiesPart(
        _ part: String, in range: Range<Int>, graph: Graph, consumers: [String: [Int]], chains: [String: String],
        producers: [String: Int]
    ) -> Bool {
        let readers = Set((consumers[part] ?? []).filter { range.contains($0) })
        // A Concat that begins another one (the nested form of a dense block, Concat(previous, new))
        // may have other readers too: they read it in that one's buffer.
        let concats = readers.filter { graph.nodes[$0].kind == .concat }
        let producer = producers[part]
        let nested =
            concats.count == 1 && graph.nodes[concats.first!].inputs.first == part
            && producer.map { graph.nodes[$0].kind == .concat } == true
        let roots = Set(concats.map { chainRoot(graph.nodes[$0].outputs[0], chains: chains) })
        guard !concats.isEmpty, roots.count == 1, concats.count == readers.count || nested,
            concats.allSatisfy({ graph.nodes[$0].inputs.filter({ $0 == part }).count == 1 })
        else { return true }
        guard let producer, graph.nodes[producer].kind != .slice else { return true }
        // A layer that reads a concat of the chain would write its buffer while reading it.
        return graph.nodes[producer].inputs.contains {
            chains[$0] != nil && roots.contains(chainRoot($0, chains: chains))
        }
    }

    /// The Concat parts of nodes[range] copied into their concat's buffer (see `copiesPart`).
    static func copiedParts(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> Set<String> {
        let chains = concatChains(range, graph: graph, consumers: consumers)
        var producers: [String: Int] = [:]
        for index in range { producers[graph.nodes[index].outputs[0]] = index }
        var copied: Set<String> = []
        for index in range where graph.nodes[index].kind == .concat {
            for part in graph.nodes[index].inputs
            where copiesPart(part, in: range, graph: graph, consumers: consumers, chains: chains, producers: producers)
            {
                copied.insert(part)
            }
        }
        return copied
    }

    /// Concats of nodes[range] whose parts begin another, later Concat's of
    /// the range, by output: the nearest such Concat (a DenseNet block's
    /// concat, which the next dense layer's extends by its new features).
    /// The shorter one is the first channels of the longer one's buffer, so
    /// the growing concatenation stays in one buffer and no part is copied.
    /// A Concat that is itself a part, or whose longer Concat already
    /// extends another, is left out.
    static func concatChains(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> [String: String] {
        let concats = range.filter { graph.nodes[$0].kind == .concat }
        guard concats.count > 1 else { return [:] }
        var chains: [String: String] = [:], extended: Set<Int> = []
        for (position, index) in concats.enumerated() {
            let node = graph.nodes[index], v = node.outputs[0]
            guard !(consumers[v] ?? []).contains(where: { range.contains($0) && graph.nodes[$0].kind == .concat })
            else { continue }
            guard
                let next = concats[(position + 1)...].first(where: {
                    let longer = graph.nodes[$0].inputs
                    return longer.count > node.inputs.count && Array(longer.prefix(node.inputs.count)) == node.inputs
                }), extended.insert(next).inserted
            else { continue }
            chains[v] = graph.nodes[next].outputs[0]
        }
        return chains
    }

    /// The longest Concat of `concat`'s chain (see `concatChains`).
    static func chainRoot(_ concat: String, chains: [String: String]) -> String {
        var root = concat
        while let next = chains[root] { root = next }
        return root
    }

    /// Whether `input` is a runtime operand of the element-wise `node` with
    /// one value per channel of its output map, as a squeeze-excitation
    /// block's scale: a group loads it once, resident like a constant
    /// channel vector, and never reads it by rows.
    static func isChannelVector(_ input: String, of node: Node, graph: Graph) -> Bool {
        isChannelVector(input, of: node, graph: graph) { graph.type(of: $0) }
    }

    /// `isChannelVector` with the values' types from `type` (a planner's table of them, see `PlanningContext.types`).
    static func isChannelVector(
        _ input: String, of node: Node, graph: Graph, type: (String) -> TensorType?
    ) -> Bool {
        guard node.kind == .add || node.kind == .sub || node.kind == .mul, graph.initializers[input] == nil,
            let t = type(input), let y = type(node.outputs[0]), y.rank == 4
        else { return false }
        return t.shape == [1, y.shape[1], 1, 1] && t.shape != y.shape
    }

    /// The runtime channel vectors `nodes` read, each once, in first-use order.
    static func channelVectors(_ nodes: [Node], graph: Graph) -> [String] {
        channelVectors(nodes, graph: graph) { graph.type(of: $0) }
    }

    /// `channelVectors` with the values' types from `type`.
    static func channelVectors(_ nodes: [Node], graph: Graph, type: (String) -> TensorType?) -> [String] {
        var vectors: [String] = []
        for node in nodes {
            for input in node.inputs
            where isChannelVector(input, of: node, graph: graph, type: type) && !vectors.contains(input) {
                vectors.append(input)
            }
        }
        return vectors
    }

    /// The runtime inputs a group reads by rows: all but the constants and channel vectors.
    static func mapInputs(_ node: Node, graph: Graph) -> [String] {
        node.inputs.filter {
            !$0.isEmpty && graph.initializers[$0] == nil && !isChannelVector($0, of: node, graph: graph)
        }
    }

    private static func perChannelOrFull(_ input: String, of node: Node, output y: TensorType, graph: Graph) -> Bool {
        guard let constant = graph.initializers[input] else {
            return graph.type(of: input)?.shape == y.shape || isChannelVector(input, of: node, graph: graph)
        }
        guard constant.shape.count <= 4 else { return false }
        let aligned = Array(repeating: 1, count: 4 - constant.shape.count) + constant.shape
        return constant.count == 1
            || (aligned[1] == y.shape[1] && aligned[0] == 1 && aligned[2] == 1 && aligned[3] == 1)
    }

    /// Whether the last node of nodes[range] is a pooling tail: a
    /// GlobalAveragePool of the map the node before it produces (a
    /// squeeze-excitation block's squeeze). The group averages that map as it
    /// computes it, so the pool reads no DRAM, and stores the map only when
    /// something else reads it (`poolsOnly`).
    static func poolingTail(_ range: Range<Int>, graph: Graph) -> Bool {
        // The kind first: most ranges end elsewhere, and reading the node whole would copy it.
        guard range.count >= 2, graph.nodes[range.upperBound - 1].kind == .globalAveragePool else { return false }
        let node = graph.nodes[range.upperBound - 1], map = graph.nodes[range.upperBound - 2].outputs[0]
        guard node.kind == .globalAveragePool, node.activation == nil, node.inputs == [map],
            let x = graph.type(of: map), x.rank == 4, x.shape[0] == 1, x.dtype == .float32
        else { return false }
        return graph.type(of: node.outputs[0])?.shape == [1, x.shape[1], 1, 1]
    }

    /// Whether a pooling tail's map is read by anything but the pool (a
    /// squeeze-excitation scale, a graph output): if not, the group never
    /// stores it.
    static func poolsOnly(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> Bool {
        let map = graph.nodes[range.upperBound - 2].outputs[0]
        return consumers[map] == [range.upperBound - 1] && !graph.outputs.contains(map)
    }

    /// nodes[range] without its pooling tail, if it has one: the layers computed by rows.
    static func mapRange(_ range: Range<Int>, graph: Graph) -> Range<Int> {
        poolingTail(range, graph: graph) ? range.lowerBound..<(range.upperBound - 1) : range
    }

    /// Why nodes[range] cannot be one group whatever the tiling, or nil.
    /// `aliases`: the graph's DRAM aliases (built from the graph when nil).
    /// `fusible`: `fusible` of every node, by node index (found when nil).
    static func structureProblem(
        _ range: Range<Int>, graph: Graph, consumers: [String: [Int]], aliases: DRAMPlan.Aliases? = nil,
        fusible known: [Bool]? = nil
    ) -> String? {
        if poolingTail(range, graph: graph) {
            return structureProblem(
                mapRange(range, graph: graph), graph: graph, consumers: consumers, aliases: aliases, fusible: known)
        }
        for index in range where !(known?[index] ?? fusible(graph.nodes[index], graph: graph)) {
            return "\(graph.nodes[index].name) cannot be fused (\(notFusibleReason(graph.nodes[index], graph: graph)))"
        }
        let nodes = range.map { graph.nodes[$0] }
        // Values read after the group or graph outputs leave it: the last node's, and any other
        // the group also stores band by band (see `storedValues`).
        let stored = storedValues(range, graph: graph, consumers: consumers)
        // Stored values sharing one DRAM storage (a DenseNet block's new features, each a channel
        // slice of the block's last concat) count once.
        if stored.count > maxStoredValues {
            let aliases = aliases ?? DRAMPlan.Aliases(graph: graph)
            let storages = Set(stored.map { aliases.root($0).0 }).count
            if storages > maxStoredValues {
                return "the group would store \(stored.count) values in \(storages) DRAM storages besides its output"
                    + " (at most \(maxStoredValues))"
            }
        }
        // A channel slice is a view of its input's band buffer, not a buffer of its own to store from.
        if let view = stored.first(where: { value in nodes.contains { $0.outputs[0] == value && $0.kind == .slice } }) {
            return "\(view) is a channel slice read after the group"
        }
        // Concat parts are written in place into the concat's buffer or copied into it from
        // their own (see `copiesPart`); a constant part has no buffer.
        for node in nodes where node.kind == .concat {
            if let part = node.inputs.first(where: { graph.initializers[$0] != nil }) {
                return "\(node.name) concatenates the constant \(part)"
            }
        }
        return nil
    }

    /// The most values a group stores besides its last layer's, values in
    /// one DRAM storage counted once (see `structureProblem`). Two take
    /// every gain measured on the zoo's GoogLeNet, Inception v3 and
    /// ResNeXt-50 (none is better with more), and each one more makes many
    /// more intervals valid groups: GoogLeNet plans in 0.7 s of CPU with
    /// none, 1.3 s with one, 2.1 s with two, 3.7 s with no limit.
    static let maxStoredValues = 2

    /// Values nodes[range] produces, other than the last node's, that leave
    /// the group: graph outputs and values read after it. A group stores them
    /// band by band as it computes them (multi-output groups: an inception
    /// module's or a residual block's input need not end a group). In node order.
    static func storedValues(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> [String] {
        let map = mapRange(range, graph: graph)
        let output = graph.nodes[map.upperBound - 1].outputs[0]
        return map.dropLast().map { graph.nodes[$0].outputs[0] }.filter { value in
            value != output
                && (graph.outputs.contains(value) || (consumers[value] ?? []).contains { !range.contains($0) })
        }
    }

    /// Why a node cannot be part of any group.
    static func notFusibleReason(_ node: Node, graph: Graph) -> String {
        if let reason = Emitter.unlowerableReason(node, graph: graph) { return reason }
        if let reason = node.kind.notFusibleReason { return reason }
        if graph.type(of: node.outputs[0])?.rank != 4 { return "its output is not a 4-d map" }
        return "not row-local with constant weights"
    }
}
