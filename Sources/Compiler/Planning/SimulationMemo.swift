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

    /// The signature of nodes[range] (see the type's comment).
    func signature(_ range: Range<Int>) -> [Int] {
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
