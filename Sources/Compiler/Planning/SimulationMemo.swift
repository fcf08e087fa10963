import Accelerator
import Foundation
import GraphIR
import Tensors

/// Simulated costs of the fusion search's candidates, shared between
/// intervals that are the same layers up to names: a ResNet's repeated
/// bottlenecks, a MobileNet's repeated inverted residuals. Two such
/// intervals get the same candidates in the same order (planning reads
/// kinds, attributes, shapes, wiring and DRAM views, never names or
/// weight values), and the timing model's figures depend on no address, so
/// the k-th candidate of one costs what the k-th of the other does.
///
/// An interval's signature holds, node by node: the node's kind, attributes,
/// fused activation, the types of its inputs and outputs (small constant
/// inputs by value), where each input comes from (a node of the interval and
/// which output, or the interval's n-th outside value), the DRAM view each
/// value is of the interval's others or outside ones (and at what offset),
/// for each output how many readers it has outside the interval and
/// whether it is a graph output, which values' DRAM overlaps (transfers of
/// overlapping values wait on each other), and the order of the interval's node,
/// weight and value names (planning walks some sets in name order). A hit also needs the plan's DRAM and SRAM
/// bytes to agree. With `checks` (`DFC_VERIFY_STAGES`, set by `make test`)
/// every hit is simulated too and a disagreement is an error.
///
/// It also remembers each signature's candidates' cost floors: an interval
/// none of whose floors can win under its budget is then not planned at
/// all (with `checks`, every interval is planned and its floors compared).
final class SimulationMemo: @unchecked Sendable {
    struct Key: Hashable {
        var signature: [Int]
        var candidates: Int, candidate: Int
        var dramBytes: Int, sramBytes: Int
    }

    private let context: PlanningContext
    /// Each node's own part of a signature, interned.
    private let nodeKeys: [Int]
    private let producers: [String: Int]
    private let graphOutputs: Set<String>
    private let checks: Bool
    /// What `signature` reads of each node and value, found once by value number (see `Facts`).
    private let facts: Facts
    private let lock = NSLock()
    private var costs: [Key: (cost: PlanCost, nodes: Range<Int>)] = [:]
    /// The cost floors of each signature's candidates, in their order.
    private var floors: [[Int]: (floors: [PlanCost], nodes: Range<Int>)] = [:]

    init(context: PlanningContext, checks: Bool = ProcessInfo.processInfo.environment["DFC_VERIFY_STAGES"] != nil) {
        self.context = context
        self.checks = checks
        let graph = context.graph
        producers = graph.producers()
        graphOutputs = Set(graph.outputs)
        var interned: [String: Int] = [:]
        nodeKeys = graph.nodes.map { node in
            let text = Self.describe(node, graph: graph)
            if let id = interned[text] { return id }
            interned[text] = interned.count
            return interned.count - 1
        }
        facts = Facts(context: context, producers: producers, graphOutputs: graphOutputs)
    }

    /// Each node's and each value's part of what `signature` reads, by node index and by value
    /// number: it is then written from arrays, without a lookup by name. Names enter only
    /// through their rank in the order of every name met (equal names, equal ranks).
    private struct Facts {
        struct Input {
            var value: Int
            /// The producing node and which of its outputs this is (-1: none).
            var producer: Int?, output: Int
        }
        struct Output {
            var value: Int
            var readers: [Int]
            var graphOutput: Bool
        }
        struct NodeFacts {
            /// Runtime inputs (neither empty nor constant), in input order.
            var inputs: [Input] = []
            var outputs: [Output] = []
            var nameRank = 0
            /// Constant inputs: their position among the node's inputs and their name's rank.
            var constants: [(position: Int, nameRank: Int)] = []
        }
        struct ValueFacts {
            /// The DRAM view's root and offset (nil: the value is its own root).
            var root: (value: Int, offset: Int)?
            /// The root's shape, if known.
            var rootShape: [Int]?
            /// The layer-by-layer layout's bytes [start, end), if placed.
            var placed: (start: Int, end: Int)?
            var nameRank = 0
        }
        var nodes: [NodeFacts] = []
        var values: [ValueFacts] = []

        init(context: PlanningContext, producers: [String: Int], graphOutputs: Set<String>) {
            let graph = context.graph
            var numbers: [String: Int] = [:]
            var names: [String] = []
            func number(_ value: String) -> Int {
                if let n = numbers[value] { return n }
                numbers[value] = names.count
                names.append(value)
                return names.count - 1
            }
            var nodeNames: [String] = [], constantNames: [[(Int, String)]] = []
            for node in graph.nodes {
                var facts = NodeFacts()
                for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                    let producer = producers[input]
                    facts.inputs.append(
                        Input(
                            value: number(input), producer: producer,
                            output: producer.map { graph.nodes[$0].outputs.firstIndex(of: input) ?? -1 } ?? -1))
                }
                for output in node.outputs {
                    facts.outputs.append(
                        Output(
                            value: number(output), readers: context.consumers[output] ?? [],
                            graphOutput: graphOutputs.contains(output)))
                }
                nodes.append(facts)
                nodeNames.append(node.name)
                constantNames.append(
                    node.inputs.enumerated().filter { graph.initializers[$0.element] != nil }.map {
                        ($0.offset, $0.element)
                    })
            }
            // Every value met and the roots of their views (numbered as met: a root may be new).
            var k = 0
            var roots: [(root: String, offset: Int)] = []
            while k < names.count {
                roots.append(context.dramAliases.root(names[k]))
                _ = number(roots[k].root)
                k += 1
            }
            let ranks = Dictionary(
                zip(Set(names + nodeNames + constantNames.flatMap { $0.map(\.1) }).sorted(), 0...),
                uniquingKeysWith: { a, _ in a })
            for (n, name) in names.enumerated() {
                var facts = ValueFacts(nameRank: ranks[name]!)
                if roots[n].root != name {
                    facts.root = (numbers[roots[n].root]!, roots[n].offset)
                    facts.rootShape = graph.type(of: roots[n].root)?.shape
                }
                facts.placed = context.layout.memory.locations[name].map { ($0.address, $0.address + $0.bytes) }
                values.append(facts)
            }
            for index in nodes.indices {
                nodes[index].nameRank = ranks[nodeNames[index]]!
                nodes[index].constants = constantNames[index].map { ($0.0, ranks[$0.1]!) }
            }
        }
    }

    /// Kind, attributes, activation and the types of a node's inputs and outputs.
    private static func describe(_ node: Node, graph: Graph) -> String {
        var text = "\(node.kind.rawValue)/\(node.opType)/\(node.domain)"
        for key in node.attributes.keys.sorted() {
            switch node.attributes[key]! {
            case .tensor(let t): text += "|\(key)=tensor\(t.shape):\(Self.planned(t))"
            case let other: text += "|\(key)=\(other)"
            }
        }
        text += "|act=\(node.activation.map { "\($0)" } ?? "-")"
        for input in node.inputs {
            if input.isEmpty {
                text += "|in-"
            } else if let constant = graph.initializers[input] {
                text += "|w\(constant.shape):\(Self.planned(constant))"
            } else {
                text += "|in\(graph.type(of: input).map { "\($0)" } ?? "?")"
            }
        }
        for output in node.outputs { text += "|out\(graph.type(of: output).map { "\($0)" } ?? "?")" }
        return text
    }

    /// A constant's values where planning may read them: integer and boolean
    /// tensors (shapes, axes, indices) and scalars, not weights and biases.
    private static func planned(_ t: Tensor) -> String {
        if t.count == 1 { return "\(t.floats)" }
        if t.dtype == .float32 { return "" }
        return t.count <= 64 ? "\(t.ints)" : "\(t.dtype)"
    }

    /// The signature of nodes[range] (see the type's comment), from the facts found once; with
    /// `checks`, also written from the names (`signatureByNames`) and the two compared.
    func signature(_ range: Range<Int>) -> [Int] {
        // The interval's values in the order met: local ids are positions here.
        var local: [Int] = []
        func id(_ value: Int) -> Int {
            if let own = local.firstIndex(of: value) { return own }
            local.append(value)
            return local.count - 1
        }
        var signature: [Int] = []
        for index in range {
            let node = facts.nodes[index]
            signature.append(nodeKeys[index])
            for input in node.inputs {
                if let p = input.producer, range.contains(p) {
                    signature += [-1, p - range.lowerBound, input.output]
                } else {
                    signature += [-2, id(input.value)]
                }
            }
            for output in node.outputs {
                _ = id(output.value)
                signature += [
                    -3, output.readers.reduce(0) { $0 + (range.contains($1) ? 0 : 1) }, output.graphOutput ? 1 : 0
                ]
            }
        }
        // DRAM views among the values met (in the order met), each by its root's id and offset.
        for own in local.indices {
            guard let root = facts.values[local[own]].root else { continue }
            signature += [-4, own, id(root.value), root.offset]
            if let shape = facts.values[local[own]].rootShape { signature += [-5] + shape }
        }
        // Values whose DRAM (the layer-by-layer layout's) overlaps: their transfers wait on each other.
        let placed = local.indices.compactMap { own in
            facts.values[local[own]].placed.map { (id: own, start: $0.start, end: $0.end) }
        }
        for a in placed.indices {
            for b in placed.indices where b > a && placed[a].start < placed[b].end && placed[b].start < placed[a].end {
                signature += [-9, placed[a].id, placed[b].id, placed[b].start - placed[a].start]
            }
        }
        // Planning walks some sets of values in name order: the order of the interval's names
        // (by rank), each name's entry the code of what it names.
        var named: [(rank: Int, code: (Int, Int, Int), length: Int)] = []
        for index in range {
            let node = facts.nodes[index]
            named.append((node.nameRank, (-6, index - range.lowerBound, 0), 2))
            for constant in node.constants {
                named.append((constant.nameRank, (-7, index - range.lowerBound, constant.position), 3))
            }
        }
        for own in local.indices { named.append((facts.values[local[own]].nameRank, (-8, own, 0), 2)) }
        named.sort { $0.rank != $1.rank ? $0.rank < $1.rank : $0.code < $1.code }
        for entry in named {
            signature += entry.length == 2 ? [entry.code.0, entry.code.1] : [entry.code.0, entry.code.1, entry.code.2]
        }
        if checks {
            precondition(signature == signatureByNames(range), "simulation memo: signatures of nodes \(range) differ")
        }
        return signature
    }

    /// `signature` written from the names, looking each up (the definition `signature` is checked against).
    func signatureByNames(_ range: Range<Int>) -> [Int] {
        let graph = context.graph
        var local: [String: Int] = [:]
        var signature: [Int] = []
        func id(_ value: String) -> Int {
            if let id = local[value] { return id }
            local[value] = local.count
            return local.count - 1
        }
        for index in range {
            let node = graph.nodes[index]
            signature.append(nodeKeys[index])
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                if let p = producers[input], range.contains(p) {
                    signature += [-1, p - range.lowerBound, graph.nodes[p].outputs.firstIndex(of: input) ?? -1]
                } else {
                    signature += [-2, id(input)]
                }
            }
            for output in node.outputs {
                _ = id(output)
                let readers = context.consumers[output] ?? []
                signature += [-3, readers.filter { !range.contains($0) }.count, graphOutputs.contains(output) ? 1 : 0]
            }
        }
        // DRAM views among the values met (in the order met), each by its root's id and offset.
        for (value, own) in local.sorted(by: { $0.value < $1.value }) {
            let (root, offset) = context.dramAliases.root(value)
            guard root != value else { continue }
            signature += [-4, own, id(root), offset]
            if let type = graph.type(of: root) { signature += [-5] + type.shape }
        }
        // Values whose DRAM (the layer-by-layer layout's) overlaps: their transfers wait on each other.
        let placed = local.sorted { $0.value < $1.value }.compactMap { entry in
            context.layout.memory.locations[entry.key].map {
                (id: entry.value, start: $0.address, end: $0.address + $0.bytes)
            }
        }
        for a in placed.indices {
            for b in placed.indices where b > a && placed[a].start < placed[b].end && placed[b].start < placed[a].end {
                signature += [-9, placed[a].id, placed[b].id, placed[b].start - placed[a].start]
            }
        }
        // Planning walks some sets of values in name order (buffers placed in SRAM one after another),
        // so the order of the interval's names is part of what it plans.
        var named: [(name: String, code: [Int])] = []
        for index in range {
            let node = graph.nodes[index]
            named.append((node.name, [-6, index - range.lowerBound]))
            for (k, input) in node.inputs.enumerated() where graph.initializers[input] != nil {
                named.append((input, [-7, index - range.lowerBound, k]))
            }
        }
        for (value, own) in local { named.append((value, [-8, own])) }
        named.sort { $0.name != $1.name ? $0.name < $1.name : $0.code.lexicographicallyPrecedes($1.code) }
        for entry in named { signature += entry.code }
        return signature
    }

    /// The candidate's simulated cost: remembered from an interval of the same signature, else simulated.
    func simulate(_ group: GroupPlan, signature: [Int], candidates: Int, candidate: Int) throws -> PlanCost {
        let key = Key(
            signature: signature, candidates: candidates, candidate: candidate, dramBytes: group.dramBytes,
            sramBytes: group.sramBytes)
        lock.lock()
        let known = costs[key]
        lock.unlock()
        if let known, !checks {
            PlanSearchStats.shared.add("simulations remembered")
            return known.cost
        }
        PlanSearchStats.shared.add("simulations")
        let cost = try context.simulate(group)
        if let known, known.cost != cost {
            throw DFCError(
                "fusion search: candidate \(candidate) of nodes \(group.nodes) costs \(cost), of nodes \(known.nodes) (the same signature) \(known.cost)"
            )
        }
        lock.lock()
        costs[key] = (cost, group.nodes)
        lock.unlock()
        return cost
    }

    /// The cost floors of the candidates of an interval of this signature, when one has been planned
    /// (nil with `checks`: every interval then plans its candidates, and `remember` compares).
    func floors(signature: [Int]) -> [PlanCost]? {
        guard !checks else { return nil }
        return lock.withLock { floors[signature]?.floors }
    }

    /// Notes the cost floors of the candidates of nodes[range]; with `checks`, an interval of the
    /// same signature whose floors differ is an error.
    func remember(floors planned: [PlanCost], signature: [Int], nodes: Range<Int>) throws {
        let known = lock.withLock {
            let known = floors[signature]
            if known == nil { floors[signature] = (planned, nodes) }
            return known
        }
        if checks, let known, known.floors != planned {
            throw DFCError(
                "fusion search: the candidates of nodes \(nodes) have floors \(planned), of nodes \(known.nodes) (the same signature) \(known.floors)"
            )
        }
    }
}
