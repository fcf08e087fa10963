import Accelerator
import Foundation
import GraphIR

/// Chooses fusion groups by dynamic programming over contiguous intervals of
/// the node order (every such interval is convex): the cheapest partition in
/// DRAM bytes, with each single layer costed by its best layer-by-layer
/// schedule, so the result is never worse than layer by layer.
/// The partition the planner chose: groups and single layers in node
/// order, each with its layer-by-layer cost and why it ends where it does.
struct FusionPlan {
    struct Segment {
        var nodes: Range<Int>
        /// Nil for a layer compiled on its own.
        var group: FusionGroup?
        var layerByLayerBytes: Int
        var layerByLayerCycles: Int
        var end: String
    }
    var segments: [Segment]
    var groups: [FusionGroup] { segments.compactMap(\.group) }
}

/// What every planning task reads, shared read-only across threads.
final class PlanningState: @unchecked Sendable {
    let codegen: Codegen
    let consumers: [String: [Int]]
    init(codegen: Codegen, consumers: [String: [Int]]) { (self.codegen, self.consumers) = (codegen, consumers) }

    /// `body` over `items` on all cores; results in item order; the first error is rethrown.
    func map<T>(_ items: [Int], _ body: (Int, PlanningState) throws -> T) throws -> [T] {
        guard items.count > 1 else { return try items.map { try body($0, self) } }
        let results = ResultSlots<T>(count: items.count)
        withoutActuallyEscaping(body) { body in
            let task = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: items.count) { k in
                results.set(k, Result { try task.value(items[k], self) })
            }
        }
        return try results.values().map { try $0.get() }
    }
}

/// Results written by concurrent tasks, one slot each.
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: Result<T, any Error>) { lock.withLock { slots[k] = value } }
    func values() -> [Result<T, any Error>] { lock.withLock { slots.map { $0! } } }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

enum FusionPlanner {
    /// Longest run of nodes one group may hold.
    static let maxGroupLength = 16

    /// `explain`: also say why each segment ends where it does (for `--dump-ir=fuse` and `--report`).
    static func plan(_ graph: Graph, config: AcceleratorConfig, layerByLayer: (Program, [Codegen.LayerReport]),
                     explain: Bool = true) throws -> FusionPlan {
        let (bytes, cycles) = layerCosts(graph, layerByLayer: layerByLayer)
        // Planning reads shapes and geometry only: constants get addresses, not bytes.
        var codegen = Codegen(graph: graph, config: config)
        codegen.layoutOnly = true
        codegen.addConstants()
        codegen.plan = try DRAMPlan(graph: graph, base: DRAMPlan.align(codegen.layoutEnd))
        // Only fusible nodes (4-d maps) have a row reach; groups hold nothing else.
        codegen.knownReaches = try graph.nodes.map { Codegen.fusible($0, graph: graph) ? try codegen.reach($0) : Codegen.Reach() }
        let consumers = graph.consumers()
        let n = graph.nodes.count
        let fusible = graph.nodes.map { Codegen.fusible($0, graph: graph) }
        var best = [Int](repeating: 0, count: n + 1)
        var choice = [FusionGroup?](repeating: nil, count: n + 1)
        let shared = PlanningState(codegen: codegen, consumers: consumers)
        for j in 1...max(1, n) where n > 0 {
            best[j] = best[j - 1] + bytes[j - 1]
            // Starts of groups ending at j, longest last.
            var starts: [Int] = []
            for i in stride(from: j - 2, through: max(0, j - maxGroupLength), by: -1) {
                guard fusible[i] else { break }
                starts.append(i)
            }
            // Each start's pick is independent given the budget before any of them
            // improves best[j] (a looser budget only costs work), so they run on all
            // cores; combining them in order then gives what a sequential search gives.
            let budget = best[j]
            let prefix = best
            let picks = try shared.map(starts) { i, state -> FusionGroup? in
                let singleCycles = cycles[i..<j].reduce(0, +)
                // Cheapest in bytes first; among plans of equal bytes the fastest
                // (timing model) that is no slower than its layers wins.
                var chosen: FusionGroup?
                for var group in try candidates(i..<j, codegen: state.codegen, consumers: state.consumers, budget: budget - prefix[i]) {
                    guard prefix[i] + group.dramBytes < budget, chosen.map({ $0.dramBytes == group.dramBytes }) ?? true else { break }
                    group.estimatedCycles = try state.codegen.simulatedCycles(group)
                    guard group.estimatedCycles <= min(singleCycles, chosen?.estimatedCycles ?? .max) else { continue }
                    chosen = group
                }
                return chosen
            }
            for (i, pick) in zip(starts, picks) {
                if let pick, best[i] + pick.dramBytes < best[j] {
                    best[j] = best[i] + pick.dramBytes
                    choice[j] = pick
                }
            }
        }
        // The partition, walked back from the end; single layers between groups are their own segments.
        var segments: [FusionPlan.Segment] = []
        var j = n
        while j > 0 {
            let range = choice[j].map { $0.nodes } ?? (j - 1)..<j
            segments.append(FusionPlan.Segment(nodes: range, group: choice[j], layerByLayerBytes: bytes[range].reduce(0, +),
                                               layerByLayerCycles: cycles[range].reduce(0, +), end: ""))
            j = range.lowerBound
        }
        segments.reverse()
        // Why each segment ends where it does.
        guard explain else { return FusionPlan(segments: segments) }
        let ends = try shared.map(Array(segments.indices)) { k, state in
            try endReason(segments[k].nodes, graph: graph, best: best, cycles: cycles, codegen: state.codegen, consumers: state.consumers)
        }
        for k in segments.indices { segments[k].end = ends[k] }
        return FusionPlan(segments: segments)
    }

    /// Per-node DRAM bytes and cycles of the layer-by-layer program (a
    /// layer's cycles run from its first instruction's start to its last one's end).
    static func layerCosts(_ graph: Graph, layerByLayer: (Program, [Codegen.LayerReport])) -> (bytes: [Int], cycles: [Int]) {
        let (program, layers) = layerByLayer
        let config = program.config
        let schedule = config.schedule(program.instructions, constantsBytes: program.constants.count).schedule
        var bytes = [Int](repeating: 0, count: graph.nodes.count), cycles = bytes
        var indexOf: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { indexOf[node.name] = i }
        for layer in layers {
            guard let i = indexOf[layer.node] else { continue }
            for k in layer.instructions {
                let cost = config.cost(of: program.instructions[k], constantsBytes: program.constants.count)
                bytes[i] += cost.dramReadBytes + cost.dramWriteBytes
            }
            if !layer.instructions.isEmpty {
                cycles[i] = schedule[layer.instructions].map(\.end).max()! - schedule[layer.instructions.lowerBound].start
            }
        }
        return (bytes, cycles)
    }

    /// Why the segment nodes[range] of the chosen partition does not take in the next layer.
    static func endReason(_ range: Range<Int>, graph: Graph, best: [Int], cycles: [Int], codegen: Codegen,
                          consumers: [String: [Int]]) throws -> String {
        let n = graph.nodes.count
        guard range.upperBound < n else { return "end of the graph" }
        let next = graph.nodes[range.upperBound]
        guard Codegen.fusible(next, graph: graph) else {
            return "next layer \(next.name) cannot be fused (\(Codegen.notFusibleReason(next, graph: graph)))"
        }
        let last = graph.nodes[range.upperBound - 1]
        guard Codegen.fusible(last, graph: graph) else {
            return "\(last.name) cannot be fused (\(Codegen.notFusibleReason(last, graph: graph)))"
        }
        guard range.count < maxGroupLength else { return "a group holds at most \(maxGroupLength) layers" }
        let extended = range.lowerBound..<(range.upperBound + 1)
        if let problem = Codegen.structureProblem(extended, graph: graph, consumers: consumers) {
            return "\(next.name) cannot join: \(problem)"
        }
        let plans = try candidates(extended, codegen: codegen, consumers: consumers)
        guard let cheapest = plans.first else {
            return "no tiling of the group with \(next.name) fits \(codegen.config.sramBytes) bytes of SRAM"
        }
        let joined = best[range.lowerBound] + cheapest.dramBytes
        if joined > best[extended.upperBound] {
            return "splitting before \(next.name) is cheaper by \(joined - best[extended.upperBound]) bytes"
        }
        let layerCycles = cycles[extended].reduce(0, +)
        var fastest = Int.max
        for plan in plans where plan.dramBytes == cheapest.dramBytes { fastest = min(fastest, try codegen.simulatedCycles(plan)) }
        if fastest > layerCycles {
            return "joining \(next.name) would move \(best[extended.upperBound] - joined) fewer bytes but take \(fastest) cycles, more than its layers' \(layerCycles)"
        }
        return "the partition of the layers after it is cheaper overall"
    }

    /// Plans for nodes[range], cheapest in DRAM bytes first: per halo mode
    /// the band height with the fewest bytes (then estimated cycles), and
    /// whole-map plans per block width.
    static func candidates(_ range: Range<Int>, codegen: Codegen, consumers: [String: [Int]], budget: Int = .max) throws -> [FusionGroup] {
        let graph = codegen.graph
        guard let last = graph.nodes[range.upperBound - 1].outputs.first, let type = graph.type(of: last), type.rank == 4,
              Codegen.structureProblem(range, graph: graph, consumers: consumers) == nil else { return [] }
        let height = type.shape[2]
        var plans: [FusionGroup] = []
        // No plan moves less than its weights once, its output once and a
        // quarter of each input (a strided layer may skip rows).
        let produced = Set(range.flatMap { graph.nodes[$0].outputs })
        var floor = 4 * type.count, seen: Set<String> = []
        for index in range {
            for input in graph.nodes[index].inputs where !input.isEmpty && !produced.contains(input) && seen.insert(input).inserted {
                floor += graph.initializers[input].map { 4 * $0.count } ?? (graph.type(of: input)?.count ?? 0)
            }
        }
        guard floor < budget else { return [] }
        for halo in [FusionGroup.Halo.recompute, .cache] {
            // Buffers only grow with taller bands: if the shortest bands tried do not fit
            // even single-buffered, no band height does.
            let shortest = (height + 63) / 64
            guard try codegen.planGroup(range, rows: shortest, halo: halo, consumers: consumers, maxSlots: 1, checked: true) != nil else { continue }
            var tried: Set<Int> = []
            var best: FusionGroup?
            for bands in 1...height {
                let rows = (height + bands - 1) / bands
                guard tried.insert(rows).inserted else { continue }
                if bands > 64 { break }
                // Double-buffered when it fits with resident weights; single buffers otherwise.
                var plan = try codegen.planGroup(range, rows: rows, halo: halo, consumers: consumers, checked: true)
                if plan == nil || !plan!.streamed.isEmpty,
                   let single = try codegen.planGroup(range, rows: rows, halo: halo, consumers: consumers, maxSlots: 1, checked: true),
                   plan == nil || single.dramBytes < plan!.dramBytes {
                    plan = single
                }
                guard let group = plan else { continue }
                if best == nil || (group.dramBytes, group.estimatedCycles) < (best!.dramBytes, best!.estimatedCycles) { best = group }
                // Without streamed weights, taller bands only save bytes: the first fit is the best of its mode.
                if group.streamed.isEmpty && (halo == .recompute || bands > 8) { break }
            }
            if let best { plans.append(best) }
        }
        plans += try codegen.planChannelGroup(range, consumers: consumers, budget: budget, checked: true)
        return plans.sorted { ($0.dramBytes, $0.estimatedCycles) < ($1.dramBytes, $1.estimatedCycles) }
    }
}

extension Codegen {
    /// Cycles of a group on its own under the executor's timing model: the
    /// group is emitted into a scratch sequencer and scheduled.
    func simulatedCycles(_ group: FusionGroup) throws -> Int {
        var scratch = self
        scratch.sequencer = Sequencer()
        try scratch.lowerGroup(group)
        return config.schedule(scratch.sequencer.instructions, constantsBytes: 0).stats.cycles
    }
}
