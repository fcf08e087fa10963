import Accelerator
import GraphIR

/// Squeeze-excitation without the map's round trip: hold it in SRAM.
///
/// In a squeeze-excitation block the map M is read by a GlobalAveragePool
/// (a pooling tail of the group that makes M) and by the Mul that scales it
/// by the excitation, which depends on every row of M. So the Mul's group
/// (the tail) runs only after the pooling group (the head) and the small
/// layers between them (the side: the excitation's 1×1 convolutions on
/// one value per channel). When M fits in SRAM beside those groups, the
/// head writes it whole into a region at the top of the SRAM and never
/// stores it, the side's groups stay below that region, and the tail reads
/// M's rows from it instead of loading them: M makes no DRAM round trip.
///
/// The head and tail are replanned (band heights, buffering, halo) with
/// the SRAM below the region; the objective keeps the held pair only when
/// it is cheaper than the stored one. A group that is one block's tail and
/// the next block's head holds both maps, in disjoint regions.
enum SqueezeHold {
    /// `segments` with every squeeze-excitation map that fits and pays held in SRAM.
    ///
    /// Blocks are taken in order and each one's choice narrows the SRAM of
    /// the next (a group ending one block and starting the next holds both
    /// blocks' values), so values besides the maps are tried as a second
    /// pass over the whole network, kept when its total gain is the larger.
    static func apply(
        _ segments: [FusionPlan.Segment], context: PlanningContext, score: (PlanCost) -> Double
    ) throws -> [FusionPlan.Segment] {
        let more = try hold(segments, context: context, score: score, shared: true)
        // Without any such value to try, the second pass is the first one again.
        guard more.triedShared else { return more.segments }
        let maps = try hold(segments, context: context, score: score, shared: false)
        return more.gain > maps.gain ? more.segments : maps.segments
    }

    /// `segments` with maps (and, if `shared`, the values the pooling group
    /// stores for the scaling group alone) held in SRAM where that pays, and
    /// by how much it lowers the partition's score; `triedShared`: whether
    /// any such value was tried.
    private static func hold(
        _ segments: [FusionPlan.Segment], context: PlanningContext, score: (PlanCost) -> Double, shared: Bool
    ) throws -> (segments: [FusionPlan.Segment], gain: Double, triedShared: Bool) {
        var segments = segments
        var gain = 0.0
        var triedShared = false
        let graph = context.graph
        var segmentOf: [Int: Int] = [:]
        for (k, segment) in segments.enumerated() { for index in segment.nodes { segmentOf[index] = k } }
        for k in segments.indices {
            guard let group = segments[k].group, let head = Head(group),
                let excite = exciteNode(of: head.output, in: head.nodes, graph: graph, consumers: context.consumers),
                let t = segmentOf[excite], t > k, case .bands(let tail) = segments[t].group,
                tail.inputs.contains(head.output), tail.held.isEmpty
            else { continue }
            let map = head.output
            let bytes = DRAMPlan.align(4 * graph.type(of: map)!.count)
            // Top of the SRAM, or right below the values the head already holds if that overlaps them.
            let top = context.config.sramBytes / DRAMPlan.alignment * DRAMPlan.alignment
            var address = top - bytes
            var moved = true
            while moved {
                moved = false
                for value in head.held.keys.sorted() {
                    let b = head.held[value]!
                    if address < b.address + DRAMPlan.align(b.slotBytes) && b.address < address + bytes {
                        address = b.address - bytes
                        moved = true
                    }
                }
            }
            // Values the head also stores for the tail alone (a residual block's input, read by its Add)
            // may stay in SRAM too, below the rest; if the groups do not fit that way, only the map stays.
            let extras = head.stored.filter { value in
                tail.inputs.contains(value) && !graph.outputs.contains(value)
                    && (context.consumers[value] ?? []).allSatisfy {
                        head.nodes.contains($0) || tail.nodes.contains($0)
                    }
            }
            let alreadyHeld = head.held.mapValues(\.address)
            var extra: [String: Int] = [:]
            var low = alreadyHeld.values.reduce(address, min)
            for value in shared ? extras : [] {
                low -= DRAMPlan.align(4 * graph.type(of: value)!.count)
                extra[value] = low
            }
            if !extra.isEmpty { triedShared = true }
            // With and without the shared values, the pair the objective scores lower.
            var chosen: (head: (GroupPlan, PlanCost), tail: (BandPlan, PlanCost))?
            for more in extra.isEmpty ? [[:]] : [extra, [:]] {
                let headHeld = alreadyHeld.merging(more) { a, _ in a }.merging([map: address]) { a, _ in a }
                let tailHeld = more.merging([map: address]) { a, _ in a }
                let floor = headHeld.values.min()!
                guard floor > 0,
                    segments[(k + 1)..<t].allSatisfy({ ($0.group?.sramBytes ?? .max) <= tailHeld.values.min()! })
                else { continue }
                var below = context.config
                below.sramBytes = floor
                let headContext = try PlanningContext(
                    graph: graph, config: below, objective: context.objective, layout: context.layout)
                below.sramBytes = tailHeld.values.min()!
                let tailContext = try PlanningContext(
                    graph: graph, config: below, objective: context.objective, layout: context.layout)
                let bands = try best(
                    head.nodes, held: headHeld, planning: headContext, context: context,
                    layers: segments[k].layerByLayer
                ).map { (GroupPlan.bands($0.0), $0.1) }
                // A head holding nothing else may write the map block by block from a whole-map plan
                // (an expansion too wide for bands beside the map, streaming its weights).
                let blocks =
                    headHeld.count == 1
                    ? try bestWholeMap(
                        head.nodes, map: address, planning: headContext, context: context,
                        layers: segments[k].layerByLayer) : nil
                var newHead = bands
                if let blocks, newHead == nil || context.objective.prefers(blocks.1, over: newHead!.1) {
                    newHead = blocks
                }
                if let newHead,
                    let newTail = try best(
                        tail.nodes, held: tailHeld, planning: tailContext, context: context,
                        layers: segments[t].layerByLayer)
                {
                    if let chosen, score(chosen.head.1) + score(chosen.tail.1) <= score(newHead.1) + score(newTail.1) {
                        continue
                    }
                    chosen = (newHead, newTail)
                }
            }
            guard let (newHead, newTail) = chosen else { continue }
            let old = try score(context.simulate(group)) + score(context.simulate(.bands(tail)))
            guard score(newHead.1) + score(newTail.1) < old else { continue }
            gain += old - score(newHead.1) - score(newTail.1)
            switch newHead.0 {
            case .bands(let plan): segments[k].group = .bands(occupying(plan))
            case .wholeMap(var plan):
                plan.sramBytes = max(plan.sramBytes, address + bytes)
                segments[k].group = .wholeMap(plan)
            case .residualConv: continue  // heads are replanned in bands or whole maps only
            }
            segments[t].group = .bands(occupying(newTail.0))
        }
        return (segments, gain, triedShared)
    }

    /// What `hold` reads of a group that pools a map it stores: its layers,
    /// the map, the maps it already holds and the values it also stores.
    /// A whole-map head (the map in channel blocks) is replanned in bands
    /// like a band head; it holds nothing and stores nothing else.
    private struct Head {
        var nodes: Range<Int>
        var output: String
        var held: [String: SRAMBuffer]
        var stored: [String]

        init?(_ group: GroupPlan) {
            switch group {
            case .bands(let plan):
                guard plan.pooled?.storesMap == true else { return nil }
                (nodes, output) = (plan.nodes, plan.output)
                held = plan.buffers.filter { plan.held.contains($0.key) }
                stored = plan.stores.keys.sorted()
            case .wholeMap(let plan):
                guard plan.pooled?.storesMap == true else { return nil }
                (nodes, output, held, stored) = (plan.nodes, plan.output, [:], [])
            case .residualConv: return nil
            }
        }
    }

    /// The Mul that scales `map`, pooled by the group nodes[range], by a runtime channel vector, if that is its
    /// other reader.
    static func exciteNode(of map: String, in range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> Int? {
        guard let readers = consumers[map], readers.count == 2, !graph.outputs.contains(map),
            let excite = readers.first(where: { !range.contains($0) }), graph.nodes[excite].kind == .mul,
            graph.nodes[excite].inputs.contains(where: {
                FusionRules.isChannelVector($0, of: graph.nodes[excite], graph: graph)
            })
        else { return nil }
        return excite
    }

    /// The plan's SRAM reaches to the end of the maps it holds.
    private static func occupying(_ plan: BandPlan) -> BandPlan {
        var plan = plan
        for value in plan.held {
            let b = plan.buffers[value]!
            plan.sramBytes = max(plan.sramBytes, b.address + DRAMPlan.align(b.slotBytes))
        }
        return plan
    }

    /// The objective's best whole-map plan of nodes[range] writing its map
    /// into SRAM at `map` (see `WholeMapPlan.heldOutput`), planned in
    /// `planning` and simulated in `context`; nil when none fits or none is
    /// acceptable against its layers.
    private static func bestWholeMap(
        _ range: Range<Int>, map: Int, planning: PlanningContext, context: PlanningContext, layers: PlanCost
    ) throws -> (GroupPlan, PlanCost)? {
        var chosen: (GroupPlan, PlanCost)?
        for plan in try planning.planWholeMap(range, heldOutput: map) {
            var group = GroupPlan.wholeMap(plan)
            let cost = try context.simulate(group)
            group.estimatedCycles = cost.cycles
            guard context.objective.accepts(cost, against: layers) else { continue }
            if chosen == nil || context.objective.prefers(cost, over: chosen!.1) { chosen = (group, cost) }
        }
        return chosen
    }

    /// The objective's best band plan of nodes[range] holding `held`, planned
    /// in `planning` (the SRAM below the held maps) and simulated in `context`;
    /// nil when none fits or none is acceptable against its layers.
    private static func best(
        _ range: Range<Int>, held: [String: Int], planning: PlanningContext, context: PlanningContext,
        layers: PlanCost
    ) throws -> (BandPlan, PlanCost)? {
        let graph = context.graph, objective = context.objective
        let map = FusionRules.mapRange(range, graph: graph)
        let height = graph.type(of: graph.nodes[map.upperBound - 1].outputs[0])!.shape[2]
        var plans: [BandPlan] = []
        for halo in [BandPlan.Halo.recompute, .cache] {
            var found: [BandPlan] = []
            var tried: Set<Int> = []
            for bands in 1...min(height, 64) {
                let rows = (height + bands - 1) / bands
                guard tried.insert(rows).inserted else { continue }
                if let plan =
                    try planning.planBands(range, rows: rows, halo: halo, held: held)
                    ?? planning.planBands(range, rows: rows, halo: halo, maxSlots: 1, held: held)
                {
                    found.append(plan)
                }
            }
            plans += found.sorted {
                objective.quickKey($0.dramBytes, $0.estimatedCycles)
                    < objective.quickKey($1.dramBytes, $1.estimatedCycles)
            }.prefix(2)
        }
        var chosen: (BandPlan, PlanCost)?
        for var plan in plans {
            let cost = try context.simulate(.bands(plan))
            plan.estimatedCycles = cost.cycles
            guard objective.accepts(cost, against: layers) else { continue }
            if chosen == nil || objective.prefers(cost, over: chosen!.1) { chosen = (plan, cost) }
        }
        return chosen
    }
}
