import GraphIR

/// Squeeze-excitation without the map's round trip: recompute it instead.
///
/// In a squeeze-excitation block the map M (an inverted residual's expanded,
/// depthwise-filtered map, say) is read twice: by a GlobalAveragePool, whose
/// channel means become the block's scale, and by the Mul that applies the
/// scale. The scale depends on every row of M, so the Mul cannot start before
/// the last row is pooled: M is written to DRAM by the group that pools it and
/// read back by the group that scales it. When M is made by a short chain of
/// row-local layers from a narrower map X (six times narrower behind an
/// expanding 1×1 convolution), the second group can instead read X and compute
/// the chain again, band by band; the first group then only pools, and M
/// never reaches DRAM. That trades the chain's MACs (and its weights, read
/// twice) for M's write and read.
///
/// `rewrite` makes the trade in the graph: the chain X → M is copied, the
/// copies placed just before the Mul, which reads the copy of M. Whether the
/// trade pays is the objective's to say: `Codegen.schedule` plans the graph
/// with none, all, half and a quarter of the blocks recomputed (those saving
/// the most per added MAC first) and keeps the best program.
enum SqueezeRecompute {
    /// Longest chain of layers copied for one block.
    static let maxChainLength = 6

    /// A block whose map may be recomputed: the Mul that scales it, the
    /// layers to copy, and how many map elements the copy saves per MAC it adds.
    struct Candidate: Equatable {
        var excite: Int
        var chain: [Int]
        var map: String
        var savingPerMAC: Double
    }

    /// The blocks that qualify, most saving per added MAC first.
    static func candidates(_ graph: Graph) -> [Candidate] {
        let producers = graph.producers()
        let consumers = graph.consumers()
        var found: [Candidate] = []
        for (index, node) in graph.nodes.enumerated() where node.kind == .globalAveragePool {
            let map = node.inputs[0]
            guard let readers = consumers[map], readers.count == 2, let excite = readers.first(where: { $0 != index }),
                excite > index, graph.nodes[excite].kind == .mul, !found.contains(where: { $0.excite == excite }),
                graph.nodes[excite].inputs.contains(where: {
                    FusionRules.isChannelVector($0, of: graph.nodes[excite], graph: graph)
                }),
                let (chain, saving) = chain(to: map, graph: graph, producers: producers, consumers: consumers)
            else { continue }
            let macs = chain.reduce(0) { total, k in
                let node = graph.nodes[k]
                guard node.kind == .conv, let w = graph.initializers[node.inputs[1]],
                    let y = graph.type(of: node.outputs[0])
                else { return total }
                return total + y.count * (w.count / max(1, w.shape[0]))
            }
            found.append(
                Candidate(excite: excite, chain: chain, map: map, savingPerMAC: Double(saving) / Double(max(1, macs))))
        }
        return found.enumerated().sorted {
            ($0.element.savingPerMAC, -$0.offset) > ($1.element.savingPerMAC, -$1.offset)
        }.map(\.element)
    }

    /// The blocks `Codegen.schedule` tries under `objective`: every candidate,
    /// those whose maps exceed the SRAM, or none.
    static func candidates(_ graph: Graph, objective: Objective, sramBytes: Int) -> [Candidate] {
        if objective.recomputesSqueezedMaps { return candidates(graph) }
        return objective.recomputesLargeSqueezedMaps ? candidates(graph, largerThan: sramBytes) : []
    }

    /// `candidates` whose maps take more than `sramBytes`, in the same order.
    static func candidates(_ graph: Graph, largerThan sramBytes: Int) -> [Candidate] {
        candidates(graph).filter { 4 * (graph.type(of: $0.map)?.count ?? 0) > sramBytes }
    }

    /// The graph with the maps of `blocks` (from `candidates`) recomputed for their scaling, or nil when there are none.
    static func rewrite(_ graph: Graph, blocks: [Candidate]? = nil) -> Graph? {
        let chosen = blocks ?? candidates(graph)
        guard !chosen.isEmpty else { return nil }
        let copies = Dictionary(uniqueKeysWithValues: chosen.map { ($0.excite, (chain: $0.chain, map: $0.map)) })
        var result = graph
        result.nodes = []
        var names = Set(graph.nodes.map(\.name))
        var valueNames = Set(graph.values.keys).union(graph.initializers.keys)
        func fresh(_ base: String, in taken: inout Set<String>) -> String {
            var name = base + "#recompute"
            var k = 2
            while taken.contains(name) {
                name = base + "#recompute\(k)"
                k += 1
            }
            taken.insert(name)
            return name
        }
        for (index, node) in graph.nodes.enumerated() {
            guard let (chain, map) = copies[index] else {
                result.nodes.append(node)
                continue
            }
            var renamed: [String: String] = [:]
            for member in chain {
                var copy = graph.nodes[member]
                copy.name = fresh(copy.name, in: &names)
                copy.inputs = copy.inputs.map { renamed[$0] ?? $0 }
                copy.outputs = copy.outputs.map { output in
                    let name = fresh(output, in: &valueNames)
                    renamed[output] = name
                    result.values[name] = graph.values[output]
                    return name
                }
                result.nodes.append(copy)
            }
            var excite = node
            excite.inputs = excite.inputs.map { $0 == map ? renamed[map]! : $0 }
            result.nodes.append(excite)
        }
        return result
    }

    /// The row-local layers that make `map`, back to where copying them saves
    /// the most: each reads one map (the others constants or channel vectors)
    /// and, but for the last, is read only by the next. The copy saves the
    /// map's write and read and costs its first input's read (and write, if
    /// nothing else reads it) and its weights' second read, all in elements (an
    /// estimate: the planner's figures decide in the end).
    /// Nil when no chain saves anything.
    static func chain(
        to map: String, graph: Graph, producers: [String: Int], consumers: [String: [Int]]
    ) -> (chain: [Int], saving: Int)? {
        guard let mapBytes = graph.type(of: map)?.count else { return nil }
        var chain: [Int] = []
        var weightBytes = 0
        var best: (chain: [Int], saving: Int)?
        var value = map
        while chain.count < maxChainLength, let producer = producers[value] {
            let node = graph.nodes[producer]
            guard node.outputs.count == 1, FusionRules.fusible(node, graph: graph),
                value == map || consumers[value]?.count == 1
            else { break }
            let inputs = FusionRules.mapInputs(node, graph: graph)
            guard inputs.count == 1, let inputBytes = graph.type(of: inputs[0])?.count else { break }
            chain.insert(producer, at: 0)
            weightBytes += node.inputs.reduce(0) { $0 + (graph.initializers[$1]?.count ?? 0) }
            // A map read by nothing else may never have been stored: then it is written too.
            let stored = graph.inputs.contains(inputs[0]) || (consumers[inputs[0]]?.count ?? 0) > 1
            let saving = 2 * mapBytes - (stored ? 1 : 2) * inputBytes - weightBytes
            if saving > max(0, best?.saving ?? 0) { best = (chain, saving) }
            value = inputs[0]
        }
        return best
    }
}

extension Objective {
    /// Whether recomputing squeeze-excitation maps is tried at all. It adds
    /// MACs on the matrix array, often depthwise ones that use it poorly, so
    /// it saves DRAM bytes and energy but costs cycles: on EfficientNet-B0 at
    /// df1, recomputing its four best blocks moves 17% fewer bytes and takes 7%
    /// less energy but 11% more cycles, so under edp and latency it has lost on
    /// every network tried, and is not planned (a compile each) for nothing;
    /// edp tries only the largest maps (`recomputesLargeSqueezedMaps`).
    var recomputesSqueezedMaps: Bool { self == .traffic || self == .energy }

    /// Whether recomputing the maps too big to stay in SRAM (which `SqueezeHold`
    /// cannot keep, so the alternative is their round trip) is tried, a block
    /// at a time. Under edp the first few can pay: on EfficientNet-B0 at df1,
    /// recomputing its two best 112- and 56-row maps moves 18% fewer bytes and
    /// takes 7% less energy for 7% more cycles; a third costs more cycles than
    /// it saves.
    var recomputesLargeSqueezedMaps: Bool { self == .edp }
}
