import Accelerator
import Foundation
import GraphIR
import Tensors

/// What every planning step reads, shared read-only across threads: the
/// graph, the accelerator, the layer-by-layer layout (planning reads
/// addresses and shapes, never constant bytes), each node's row reach and
/// each value's readers. Planning never emits; to cost a plan with the
/// timing model it hands the plan to a scratch `Emitter`.
final class PlanningContext: @unchecked Sendable {
    let graph: Graph
    let config: AcceleratorConfig
    /// What plans are ranked by.
    let objective: Objective
    let layout: ProgramLayout
    let consumers: [String: [Int]]
    /// Row reach of every fusible node (others get the identity reach).
    let reaches: [Reach]
    /// Which values share DRAM storage (views, Concat parts in their concat's slice).
    let dramAliases: DRAMPlan.Aliases
    /// Every convolution's geometry, by node index (nil for other nodes and
    /// for a geometry that cannot be found), asked for by every plan's floors.
    let convGeometries: [ConvGeometry?]
    /// `Graph.reach` of every fusible node, by node index (nil for the others):
    /// what a scratch emission asks for every windowed layer of every plan it costs.
    let nodeReaches: [Reach?]
    /// `FusionRules.mapInputs` of every node, by node index.
    let mapInputs: [[String]]
    /// `FusionRules.fusible` of every node, by node index.
    let fusible: [Bool]
    /// By node index, of its first output: its type (nil: none known), whether it is a graph
    /// output, and the least and greatest index of the nodes that read it (nil: none does).
    let firstOutputs: [(type: TensorType?, isGraphOutput: Bool, readers: ClosedRange<Int>?)]
    /// By node index, per map input (`mapInputs`): the node whose first output it is (nil: none), and its
    /// type. A value has one producer: `Graph.verify` checks it after import and after every pass.
    let mapInputProducers: [[Int?]]
    let mapInputTypes: [[TensorType?]]
    /// `Graph.type(of:)` of every value with a known type, in one table: the graph looks a name up
    /// among the initializers first and then among the values, hashing it twice.
    let types: [String: TensorType]
    /// Whether every skipped band is checked against a full simulation (`DFC_VERIFY_STAGES`).
    let checks = ProcessInfo.processInfo.environment["DFC_VERIFY_STAGES"] != nil

    init(graph: Graph, config: AcceleratorConfig, objective: Objective = .traffic, layout: ProgramLayout) throws {
        (self.graph, self.config, self.objective, self.layout) = (graph, config, objective, layout)
        let consumers = graph.consumers()
        self.consumers = consumers
        dramAliases = DRAMPlan.Aliases(graph: graph)
        let fusible = graph.nodes.map { FusionRules.fusible($0, graph: graph) }
        self.fusible = fusible
        let known = try zip(graph.nodes, fusible).map { $1 ? try graph.reach($0) : Reach() }
        reaches = known
        convGeometries = graph.nodes.map { $0.kind == .conv ? try? graph.convGeometry($0) : nil }
        // Only fusible nodes: a window of another rank is no node of a group, and `Graph.reach` reads two axes.
        nodeReaches = fusible.indices.map { fusible[$0] ? known[$0] : nil }
        let mapInputs = graph.nodes.map { FusionRules.mapInputs($0, graph: graph) }
        self.mapInputs = mapInputs
        var types: [String: TensorType] = [:]
        types.reserveCapacity(graph.values.count + graph.initializers.count)
        for (name, info) in graph.values { if let type = info.type { types[name] = type } }
        // An initializer's type wins, as in `Graph.type(of:)`.
        for (name, tensor) in graph.initializers { types[name] = tensor.type }
        self.types = types
        let outputs = Set(graph.outputs)
        firstOutputs = graph.nodes.map { node in
            let value = node.outputs.first ?? ""
            let readers = consumers[value].flatMap { r in r.min().map { $0...r.max()! } }
            return (types[value], outputs.contains(value), readers)
        }
        var firstProducer: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            if let value = node.outputs.first { firstProducer[value] = index }
        }
        mapInputProducers = mapInputs.map { $0.map { firstProducer[$0] } }
        mapInputTypes = mapInputs.map { $0.map { types[$0] } }
    }

    /// `Graph.type(of:)`, from `types`.
    func valueType(_ value: String) -> TensorType? { types[value] }

    /// `Graph.convGeometry` of node `index`, found once (it throws as that does where it was not found).
    func convGeometry(_ index: Int) throws -> ConvGeometry {
        if let g = convGeometries[index] { return g }
        return try graph.convGeometry(graph.nodes[index])
    }

    /// A context with its own constants segment and layer-by-layer layout (tests, tools).
    convenience init(graph: Graph, config: AcceleratorConfig, objective: Objective = .traffic) throws {
        try self.init(
            graph: graph, config: config, objective: objective,
            layout: ProgramLayout(graph: graph, constants: ConstantSegment(graph: graph)))
    }

    /// The activations a run of layers reads from DRAM: runtime values it
    /// reads but does not produce, in first-use order.
    func groupInputs(_ nodes: [Node], produced: Set<String>) -> [String] {
        var inputs: [String] = []
        for node in nodes {
            for input in FusionRules.mapInputs(node, graph: graph)
            where !produced.contains(input) && !inputs.contains(input) {
                inputs.append(input)
            }
        }
        return inputs
    }

    /// `groupInputs` of nodes[range], from the map inputs found once per node.
    func groupInputs(_ range: Range<Int>, produced: Set<String>) -> [String] {
        var inputs: [String] = []
        for index in range {
            for input in mapInputs[index] where !produced.contains(input) && !inputs.contains(input) {
                inputs.append(input)
            }
        }
        return inputs
    }

    /// Cycles of a group on its own under the executor's timing model: the
    /// plan is emitted into a scratch sequencer and scheduled.
    func simulatedCycles(_ group: GroupPlan) throws -> Int { try simulate(group).cycles }

    /// Bytes, cycles and energy of a group on its own under the executor's timing model.
    /// A band plan's repeated bands are timed once (see `BandRepeats`); when that cannot be trusted the
    /// plan is emitted again in full, and with `checks` (`DFC_VERIFY_STAGES`) whenever a band was skipped,
    /// a difference being an error.
    func simulate(_ group: GroupPlan) throws -> PlanCost {
        let run = try simulatedRun(group, skipping: true)
        var stats = run?.stats
        if run == nil || (checks && run!.skipped) {
            let full = try simulatedRun(group, skipping: false)!.stats
            if let stats, stats != full {
                throw DFCError(
                    "fusion search: nodes \(group.nodes) time \(stats) with repeated bands skipped, \(full) in full")
            }
            stats = full
        }
        var cost = PlanCost(stats!)
        cost.bytes = group.dramBytes
        return cost
    }

    /// The timing model's counts of `group` emitted on its own, `skipping` repeated bands, and whether any
    /// band was skipped; nil when a skip cannot be trusted (`Sequencer.skipsHold`).
    func simulatedRun(_ group: GroupPlan, skipping: Bool) throws -> (stats: ExecutionStats, skipped: Bool)? {
        var scratch = Emitter(graph: graph, config: config, objective: objective, layout: layout)
        scratch.sequencer = Sequencer(timing: config)
        scratch.skipsRepeatedBands = skipping
        (scratch.knownReaches, scratch.knownGeometries, scratch.knownTypes) = (nodeReaches, convGeometries, types)
        try scratch.emit(group)
        let sequencer = scratch.sequencer
        return sequencer.skipsHold ? (sequencer.stats!, sequencer.skipped) : nil
    }

    /// `body` over `items` on all cores; results in item order; the first error is rethrown.
    func map<T>(_ items: [Int], _ body: (Int) throws -> T) throws -> [T] { try concurrentMap(items, body) }
}
