import Accelerator
import Foundation
import GraphIR

/// The partition the planner chose: groups and single layers in node
/// order, each with its layer-by-layer cost and why it ends where it does.
struct FusionPlan {
    struct Segment {
        var nodes: Range<Int>
        /// Nil for a layer compiled on its own.
        var group: GroupPlan?
        /// The segment's layers compiled on their own.
        var layerByLayer: PlanCost
        var end: String
        var layerByLayerBytes: Int { layerByLayer.bytes }
        var layerByLayerCycles: Int { layerByLayer.cycles }
    }
    var segments: [Segment]
    var groups: [GroupPlan] { segments.compactMap(\.group) }
}

/// Chooses fusion groups by dynamic programming over contiguous intervals of
/// the node order (every such interval is convex): the cheapest partition
/// under the objective, with each single layer costed by its best
/// layer-by-layer schedule, so the result is never worse than layer by layer.
enum FusionPlanner {
    /// `explain`: also say why each segment ends where it does (for `--dump-ir=fuse` and `--report`).
    /// `maxGroupLength`: the longest run of nodes one group may hold.
    static func plan(
        _ context: PlanningContext, layerByLayer: (Program, [Codegen.LayerReport]),
        maxGroupLength: Int = Codegen.Options.defaultMaxGroupLength, explain: Bool = true,
        fullSearch: Bool = fullSearchByDefault
    ) throws -> FusionPlan {
        let graph = context.graph
        let objective = context.objective
        let single = layerCosts(graph, layerByLayer: layerByLayer)
        let whole = single.reduce(PlanCost(), +)
        let score = { (cost: PlanCost) in objective.additive(cost, scale: whole) }
        let n = graph.nodes.count
        let fusible = context.fusible
        var best = [Double](repeating: 0, count: n + 1)
        var choice = [(GroupPlan, PlanCost)?](repeating: nil, count: n + 1)
        let memo = SimulationMemo(context: context)
        // Starts of groups ending at each j, longest last; they depend on no cost the search finds.
        let starts = (0...n).map { j -> [Int] in
            guard j > 0 else { return [] }
            var starts: [Int] = []
            if reloadsAlone(j - 1, context: context, single: single[j - 1]) { starts.append(j - 1) }
            // A pooling tail averages the map as it is made: it does not count as a layer of the group.
            let tail = j >= 2 && FusionRules.poolingTail((j - 2)..<j, graph: graph) ? 1 : 0
            for i in stride(from: j - 2, through: max(0, j - maxGroupLength - tail), by: -1) {
                guard fusible[i] else { break }
                starts.append(i)
            }
            return starts
        }
        // One start's pick for the interval i..<j: `before` is best[i]; `ceiling` is no less than
        // best[j - 1] plus j - 1's layer on its own, and `bound` no less than best[j] will be.
        let pickStart = {
            (i: Int, j: Int, before: Double, ceiling: Double, bound: SharedBound) throws -> (GroupPlan, PlanCost)? in
            let layers = single[i..<j].reduce(PlanCost(), +)
            // Floors under each candidate's cost skip simulations that cannot change the
            // outcome: an interval none of whose plans can beat the budget, and plans that
            // cannot be accepted or preferred over the one chosen so far.
            let least = before + score(intervalFloor(i..<j, context: context))
            guard least < ceiling, least <= bound.value else { return nil }
            // Intervals of the same layers up to names have the same candidates: when one was planned
            // and none of its floors can win here, this one is not planned.
            let signature = memo.signature(i..<j)
            let wins = { (floor: PlanCost) in
                let total = before + score(floor)
                return total < ceiling && total <= bound.value
            }
            if let known = memo.floors(signature: signature), !known.contains(where: wins) {
                PlanSearchStats.shared.add("intervals floored out by remembered floors")
                return nil
            }
            PlanSearchStats.shared.add("intervals planned")
            let plans = try candidates(i..<j, context: context)
            PlanSearchStats.shared.add("candidates", plans.count)
            // Intervals no plan fits (every band height and whole-map plan over SRAM): planned for nothing.
            if plans.isEmpty { PlanSearchStats.shared.add("intervals planned without candidates") }
            let floors = plans.map { costFloor($0, context: context) }
            try memo.remember(floors: floors, signature: signature, nodes: i..<j)
            guard floors.contains(where: wins) else {
                PlanSearchStats.shared.add("intervals floored out after candidates")
                return nil
            }
            let chosen = try pick(
                zip(plans, floors).map { $0 }, context: context, layers: layers, before: before, score: score,
                bound: bound, memo: (memo, signature))
            if let chosen { bound.lower(to: before + score(chosen.1)) }
            return chosen
        }
        // The cheapest partition of nodes[0..<j] given every start's pick for j, combined in order
        // (ties go to the earlier start, and to the layer alone before any group).
        let combine = { (j: Int, best: inout [Double], picks: [(GroupPlan, PlanCost)?]) -> (GroupPlan, PlanCost)? in
            best[j] = best[j - 1] + score(single[j - 1])
            var chosen: (GroupPlan, PlanCost)?
            for (i, pick) in zip(starts[j], picks) {
                if let pick, best[i] + score(pick.1) < best[j] {
                    best[j] = best[i] + score(pick.1)
                    chosen = pick
                }
            }
            return chosen
        }
        if objective == .traffic || fullSearch {
            for j in 1...max(1, n) where n > 0 {
                // Each start's pick is independent given the budget before any of them
                // improves best[j], so they run on all cores.
                let budget = best[j - 1] + score(single[j - 1])
                let prefix = best
                let picks = try context.map(starts[j]) { i -> (GroupPlan, PlanCost)? in
                    let layers = single[i..<j].reduce(PlanCost(), +)
                    if objective == .traffic {
                        return try pickByTraffic(
                            i..<j, context: context, layers: layers, budget: budget - prefix[i])
                    }
                    return try pickBySimulating(candidates(i..<j, context: context), context: context, layers: layers)
                }
                choice[j] = combine(j, &best, picks)
            }
        } else {
            (best, choice) = try IntervalSearch(
                starts: starts, layerAlone: single.map(score), pick: pickStart, combine: combine
            ).run()
        }
        PlanSearchStats.shared.report()
        // The partition, walked back from the end; single layers between groups are their own segments.
        var segments: [FusionPlan.Segment] = []
        var j = n
        while j > 0 {
            let range = choice[j].map { $0.0.nodes } ?? (j - 1)..<j
            let layers = single[range].reduce(PlanCost(), +)
            segments.append(
                FusionPlan.Segment(
                    nodes: range, group: choice[j]?.0, layerByLayer: layers, end: ""))
            j = range.lowerBound
        }
        segments.reverse()
        // Squeeze-excitation maps held in SRAM between their pooling and scaling groups, where that pays.
        segments = try SqueezeHold.apply(segments, context: context, score: score)
        // Why each segment ends where it does.
        guard explain else { return FusionPlan(segments: segments) }
        let ends = try context.map(Array(segments.indices)) { k in
            try endReason(
                segments[k].nodes, context: context, best: best, single: single, score: score,
                maxGroupLength: maxGroupLength)
        }
        for k in segments.indices { segments[k].end = ends[k] }
        return FusionPlan(segments: segments)
    }

    /// The plan of `plans` (with their cost floors, in the order of
    /// `candidates`) a start picks: the first, in that order, of least
    /// `Objective.key` among those the objective accepts against `layers`
    /// once simulated; or nil when that pick cannot win the interval, i.e.
    /// `before` plus its score exceeds `bound`.
    ///
    /// Simulations are spared where the floors tell: a plan whose floor's key
    /// is above a pick already simulated, and a plan whose floor's score
    /// puts it above `bound`, which is simulated only if the pick among the
    /// others could still win and it could still displace that pick (under
    /// edp the key ranks plans and the score ranks partitions, and the two
    /// disagree, so a plan above the bound may still be the start's pick).
    ///
    /// `memo`: the search's `SimulationMemo` and the interval's signature,
    /// so that intervals of the same layers up to names simulate each candidate once.
    static func pick(
        _ plans: [(GroupPlan, PlanCost)], context: PlanningContext, layers: PlanCost, before: Double,
        score: (PlanCost) -> Double, bound: SharedBound, memo: (SimulationMemo, [Int])? = nil
    ) throws -> (GroupPlan, PlanCost)? {
        let objective = context.objective
        // Simulated plans the objective accepts, by position, and plans put off.
        var accepted: [(Int, GroupPlan, PlanCost)] = []
        var putOff: [Int] = []
        var chosen: (GroupPlan, PlanCost)?
        func simulate(_ k: Int) throws {
            var group = plans[k].0
            let cost: PlanCost
            if let (memo, signature) = memo {
                cost = try memo.simulate(group, signature: signature, candidates: plans.count, candidate: k)
            } else {
                PlanSearchStats.shared.add("simulations")
                cost = try context.simulate(group)
            }
            group.estimatedCycles = cost.cycles
            guard objective.accepts(cost, against: layers) else { return }
            accepted.append((k, group, cost))
            if chosen == nil || objective.prefers(cost, over: chosen!.1) { chosen = (group, cost) }
        }
        // Least floor first, so that the plans whose floors rule them out are met after the pick.
        let order = plans.indices.sorted { (objective.key(plans[$0].1).0, $0) < (objective.key(plans[$1].1).0, $1) }
        for k in order {
            let floor = plans[k].1
            guard objective.accepts(floor, against: layers) else { continue }
            if let chosen, objective.key(floor).0 > objective.key(chosen.1).0 { continue }
            if before + score(floor) > bound.value {
                putOff.append(k)
                continue
            }
            try simulate(k)
        }
        if !putOff.isEmpty {
            // The pick is among the simulated plans or those put off, and either kind above the bound cannot win.
            guard let best = chosen, before + score(best.1) <= bound.value else { return nil }
            for k in putOff where objective.key(plans[k].1).0 <= objective.key(best.1).0 { try simulate(k) }
        }
        // The first of least key in the candidates' order, as a simulation of every plan in order finds.
        chosen = nil
        for (_, group, cost) in accepted.sorted(by: { $0.0 < $1.0 })
        where chosen == nil || objective.prefers(cost, over: chosen!.1) {
            chosen = (group, cost)
        }
        return chosen
    }

    /// A cost no simulation of `group` can come in under, known without
    /// emitting it: its DRAM bytes (exact); cycles no fewer than the shared
    /// DRAM channel needs for those bytes, nor than the matrix or the vector
    /// unit needs for the windowed layers' work in the rows a band plan
    /// computes (`Work`; every row in a whole-map plan); energy no less than
    /// those bytes' (in DRAM and on their SRAM side) and that work's.
    static func costFloor(_ group: GroupPlan, context: PlanningContext) -> PlanCost {
        planFloor(group, context: context)
    }

    /// A cost no plan for nodes[range] can come in under, known before any
    /// plan is made: the DRAM bytes of its convolutions' weights once, of
    /// each map it reads (`mapReadFloor`), and of each value it makes that is
    /// read after it or is a graph output, and its output, once (values
    /// that share DRAM counted as the largest of them); the cycles the DRAM
    /// channel needs for them and the matrix and vector units for the rows
    /// every plan computes (`intervalWork`); the energy of those bytes and that work.
    static func intervalFloor(_ range: Range<Int>, context: PlanningContext) -> PlanCost {
        let graph = context.graph, config = context.config
        let produced = Set(range.flatMap { graph.nodes[$0].outputs })
        let (work, need) = intervalRows(range, context: context)
        let map = FusionRules.mapRange(range, graph: graph)
        var bytes = 0
        // By DRAM root: the most any value living there must move.
        var reads: [String: Int] = [:], writes: [String: Int] = [:]
        let producedRoots = Set(produced.map { context.dramAliases.root($0).0 })
        let last = graph.nodes[range.upperBound - 1].outputs[0]
        for index in range {
            let node = graph.nodes[index]
            if node.kind == .conv, let weights = graph.initializers[node.inputs[1]] { bytes += 4 * weights.count }
            for input in context.mapInputs[index] where !produced.contains(input) {
                let root = context.dramAliases.root(input).0
                guard !producedRoots.contains(root) else { continue }
                let least = mapReadFloor(
                    input, by: index, rows: map.contains(index) ? need[index - map.lowerBound] : nil,
                    context: context)
                reads[root] = max(reads[root] ?? 0, least)
            }
            for output in node.outputs where !output.isEmpty {
                guard
                    output == last || graph.outputs.contains(output)
                        || (context.consumers[output] ?? []).contains(where: { !range.contains($0) })
                else { continue }
                let root = context.dramAliases.root(output).0
                writes[root] = max(writes[root] ?? 0, 4 * (context.valueType(output)?.count ?? 0))
            }
        }
        bytes += reads.values.reduce(0, +) + writes.values.reduce(0, +)
        return workFloor(bytes: bytes, work: work, config: config)
    }

    /// DRAM bytes no plan reads less of `input`, a map node `index` reads
    /// from outside its group: a quarter of the map (a strided layer may
    /// skip rows), or, where node `index` surely computes `rows` of its
    /// output and every column of them, all the input's rows and columns
    /// under those (`neededRows`, the same along the width) in every
    /// channel: a convolution's or a pooling's input, or an element-wise
    /// layer's operand of its output's shape.
    static func mapReadFloor(_ input: String, by index: Int, rows: (run: Int, count: Int)?, context: PlanningContext)
        -> Int
    {
        let graph = context.graph, node = graph.nodes[index]
        guard let x = context.valueType(input) else { return 0 }
        let quarter = x.count
        guard let rows, let y = context.valueType(node.outputs[0]), x.rank == 4, y.rank == 4, x.shape[0] == 1,
            y.shape[0] == 1
        else { return quarter }
        let whole: Bool
        switch node.kind {
        case .conv, .maxPool, .averagePool: whole = node.inputs.first == input
        default: whole = node.kind.isGroupElementwise && x.shape == y.shape
        }
        guard whole else { return quarter }
        let r = context.reaches[index]
        let height = neededRows(
            run: rows.run, count: rows.count, outputHeight: y.shape[2], inputHeight: x.shape[2], reach: r)
        let across = Reach(
            kh: r.kw, kw: r.kh, sh: r.sw, sw: r.sh, dh: r.dw, dw: r.dh, padTop: r.padLeft, padLeft: r.padTop)
        let width = neededRows(
            run: y.shape[3], count: y.shape[3], outputHeight: y.shape[3], inputHeight: x.shape[3], reach: across)
        return max(quarter, 4 * x.shape[1] * height.count * width.count)
    }

    /// The traffic objective's pick for one interval: the cheapest plan in
    /// bytes that beats `budget`; among plans of equal bytes the fastest
    /// (timing model) that is no slower than its layers.
    static func pickByTraffic(_ range: Range<Int>, context: PlanningContext, layers: PlanCost, budget: Double) throws
        -> (GroupPlan, PlanCost)?
    {
        var chosen: (GroupPlan, PlanCost)?
        for var group in try candidates(range, context: context, budget: Int(budget)) {
            guard Double(group.dramBytes) < budget, chosen.map({ $0.0.dramBytes == group.dramBytes }) ?? true
            else { break }
            let cost = try context.simulate(group)
            group.estimatedCycles = cost.cycles
            guard cost.cycles <= min(layers.cycles, chosen?.1.cycles ?? .max) else { continue }
            chosen = (group, cost)
        }
        return chosen
    }

    /// Per-node DRAM bytes, cycles and energy of the layer-by-layer program (a
    /// layer's cycles run from its first instruction's start to its last one's end).
    static func layerCosts(_ graph: Graph, layerByLayer: (Program, [Codegen.LayerReport])) -> [PlanCost] {
        let (program, layers) = layerByLayer
        let config = program.config
        let schedule = config.schedule(program.instructions, constantsBytes: program.constants.count).schedule
        var costs = [PlanCost](repeating: PlanCost(), count: graph.nodes.count)
        var indexOf: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { indexOf[node.name] = i }
        for layer in layers {
            guard let i = indexOf[layer.node] else { continue }
            for k in layer.instructions {
                let cost = config.cost(of: program.instructions[k], constantsBytes: program.constants.count)
                costs[i].bytes += cost.dramReadBytes + cost.dramWriteBytes
                costs[i].energy += config.energy.femtojoules(
                    dramBytes: cost.dramReadBytes + cost.dramWriteBytes, sramReadBytes: cost.sramReadBytes,
                    sramWriteBytes: cost.sramWriteBytes, macs: cost.macs, vectorElements: cost.vectorElements)
            }
            if !layer.instructions.isEmpty {
                costs[i].cycles =
                    schedule[layer.instructions].map(\.end).max()! - schedule[layer.instructions.lowerBound].start
            }
        }
        return costs
    }

    /// Why the segment nodes[range] of the chosen partition does not take in the next layer.
    static func endReason(
        _ range: Range<Int>, context: PlanningContext, best: [Double], single: [PlanCost],
        score: (PlanCost) -> Double, maxGroupLength: Int
    ) throws -> String {
        let graph = context.graph
        let n = graph.nodes.count
        guard range.upperBound < n else { return "end of the graph" }
        let next = graph.nodes[range.upperBound]
        if FusionRules.poolingTail(range, graph: graph) {
            return
                "\(graph.nodes[range.upperBound - 1].name) averages the group's output: nothing follows it in a group"
        }
        let extended = range.lowerBound..<(range.upperBound + 1)
        let tail = FusionRules.poolingTail(extended, graph: graph)
        guard tail || FusionRules.fusible(next, graph: graph) else {
            return "next layer \(next.name) cannot be fused (\(FusionRules.notFusibleReason(next, graph: graph)))"
        }
        let last = graph.nodes[range.upperBound - 1]
        guard FusionRules.fusible(last, graph: graph) else {
            return "\(last.name) cannot be fused (\(FusionRules.notFusibleReason(last, graph: graph)))"
        }
        guard range.count < maxGroupLength + (tail ? 1 : 0) else {
            return "a group holds at most \(maxGroupLength) layers (--max-group-length)"
        }
        if let problem = FusionRules.structureProblem(
            extended, graph: graph, consumers: context.consumers, aliases: context.dramAliases)
        {
            return "\(next.name) cannot join: \(problem)"
        }
        let plans = try candidates(extended, context: context)
        guard !plans.isEmpty else {
            // How much would do: the planner's own candidates, at SRAM sizes found by bisection.
            let needed = context.config.smallestSRAM { config in
                let wider = try? PlanningContext(
                    graph: graph, config: config, objective: context.objective, layout: context.layout)
                return wider.map { !((try? candidates(extended, context: $0)) ?? []).isEmpty } ?? false
            }
            let need = needed.map { " (the group with it needs \($0 >> 10) KiB)" } ?? ""
            return "no tiling of the group with \(next.name) fits \(context.config.sramBytes) bytes of SRAM\(need)"
        }
        let objective = context.objective
        let layers = single[extended].reduce(PlanCost(), +)
        // The plan the search would take for the extended group (bytes first under traffic).
        var pick: PlanCost?
        for plan in plans {
            if objective == .traffic && pick != nil && plan.dramBytes > pick!.bytes { break }
            let cost = try context.simulate(plan)
            if pick == nil || objective.prefers(cost, over: pick!) { pick = cost }
        }
        let cost = pick!
        let joined = best[range.lowerBound] + score(cost)
        let unit = objective.unit
        if joined > best[extended.upperBound] {
            return "splitting before \(next.name) is cheaper by \(objective.amount(joined - best[extended.upperBound]))"
        }
        if objective == .traffic, cost.cycles > layers.cycles {
            return
                "joining \(next.name) would move \(Int(best[extended.upperBound] - joined)) fewer bytes but take \(cost.cycles) cycles, more than its layers' \(layers.cycles)"
        }
        if !objective.accepts(cost, against: layers) {
            return "joining \(next.name) would cost more \(unit) than its layers on their own"
        }
        return "the partition of the layers after it is cheaper overall"
    }

    /// Bytes no plan for nodes[range] moves less than: its weights once, its
    /// output once (a map only a pooling tail reads is never stored, only its
    /// averages are) and a quarter of each input (a strided layer may skip rows).
    static func byteFloor(_ range: Range<Int>, context: PlanningContext) -> Int {
        let graph = context.graph
        let map = FusionRules.mapRange(range, graph: graph)
        guard let last = graph.nodes[map.upperBound - 1].outputs.first, let type = context.valueType(last) else {
            return 0
        }
        let storesMap = map == range || !FusionRules.poolsOnly(range, graph: graph, consumers: context.consumers)
        let produced = Set(range.flatMap { graph.nodes[$0].outputs })
        var floor = 4 * (storesMap ? type.count : type.shape[1]), seen: Set<String> = []
        for index in range {
            for input in graph.nodes[index].inputs
            where !input.isEmpty && !produced.contains(input) && seen.insert(input).inserted {
                floor += graph.initializers[input].map { 4 * $0.count } ?? (context.valueType(input)?.count ?? 0)
            }
        }
        return floor
    }

    /// Plans for nodes[range], cheapest in DRAM bytes first: per halo mode
    /// the band height with the fewest bytes (then estimated cycles), and
    /// whole-map plans per block width.
    static func candidates(_ range: Range<Int>, context: PlanningContext, budget: Int = .max) throws -> [GroupPlan] {
        let residual = ResidualConvPlan.plans(range, context: context).map { GroupPlan.residualConv($0) }
        let others = try bandAndWholeMapCandidates(range, context: context, budget: budget)
        guard !residual.isEmpty else { return others }
        return (others + residual.filter { $0.dramBytes < budget }).sorted {
            ($0.dramBytes, $0.estimatedCycles) < ($1.dramBytes, $1.estimatedCycles)
        }
    }

    /// `candidates` but residual convolutions.
    static func bandAndWholeMapCandidates(_ range: Range<Int>, context: PlanningContext, budget: Int) throws
        -> [GroupPlan]
    {
        let graph = context.graph
        let map = FusionRules.mapRange(range, graph: graph)
        guard let last = graph.nodes[map.upperBound - 1].outputs.first, let type = context.valueType(last),
            type.rank == 4,
            FusionRules.structureProblem(
                range, graph: graph, consumers: context.consumers, aliases: context.dramAliases,
                fusible: context.fusible) == nil
        else { return [] }
        let height = type.shape[2]
        let objective = context.objective
        var plans: [GroupPlan] = []
        guard byteFloor(range, context: context) < budget else { return [] }
        // A lone convolution (see `reloadsAlone`): bands would tile it as its layer does.
        if range.count == 1 {
            return try context.planWholeMap(range, budget: budget, checked: true).map { .wholeMap($0) }.sorted {
                ($0.dramBytes, $0.estimatedCycles) < ($1.dramBytes, $1.estimatedCycles)
            }
        }
        // Each band height's rows are walked once for both buffer choices.
        let walks = BandWalks()
        // Plans that stream a grouped convolution's weights (blocks of whole groups) fit where no other
        // does, but their estimates are rough: the best of them goes to simulation beside the best of the rest.
        let grouped = Set(
            range.map { graph.nodes[$0] }.filter { $0.kind == .conv && $0.int("group", default: 1) > 1 }.map(\.name))
        let streamsGroups = { (plan: BandPlan) in
            !grouped.isEmpty && plan.streamed.keys.contains(where: grouped.contains)
        }
        for halo in [BandPlan.Halo.recompute, .cache] {
            // Buffers only grow with taller bands: if the shortest bands tried do not fit
            // even single-buffered, no band height does.
            let shortest = (height + 63) / 64
            guard
                try context.planBands(range, rows: shortest, halo: halo, maxSlots: 1, checked: true, walks: walks)
                    != nil
            else {
                continue
            }
            // Double-buffered plans by band height, each planned once for both searches below.
            var doublePlans: [Int: BandPlan?] = [:]
            let double = { (rows: Int) throws -> BandPlan? in
                if let plan = doublePlans[rows] { return plan }
                let plan = try context.planBands(range, rows: rows, halo: halo, checked: true, walks: walks)
                doublePlans[rows] = plan
                return plan
            }
            var doubleRows: Int?
            if objective != .traffic, let plan = try doubleBuffered(height: height, plan: double) {
                plans.append(.bands(plan))
                doubleRows = plan.rows
            }
            var tried: Set<Int> = []
            // The best estimate, and whether it is the double-buffered plan of its height.
            var best: BandPlan?
            var bestIsDouble = false
            var bestStreamingGroups: BandPlan?
            for bands in 1...height {
                let rows = (height + bands - 1) / bands
                guard tried.insert(rows).inserted else { continue }
                if bands > 64 { break }
                // Double-buffered when it fits with resident weights; single buffers otherwise.
                var plan = try double(rows)
                var isDouble = true
                if plan == nil || !plan!.streamed.isEmpty,
                    let single = try context.planBands(
                        range, rows: rows, halo: halo, maxSlots: 1, checked: true, walks: walks),
                    plan == nil || single.dramBytes < plan!.dramBytes
                {
                    (plan, isDouble) = (single, false)
                }
                guard let group = plan else { continue }
                if streamsGroups(group) {
                    if bestStreamingGroups == nil
                        || objective.quickKey(group.dramBytes, group.estimatedCycles)
                            < objective.quickKey(bestStreamingGroups!.dramBytes, bestStreamingGroups!.estimatedCycles)
                    {
                        bestStreamingGroups = group
                    }
                    continue
                }
                if best == nil
                    || objective.quickKey(group.dramBytes, group.estimatedCycles)
                        < objective.quickKey(best!.dramBytes, best!.estimatedCycles)
                {
                    (best, bestIsDouble) = (group, isDouble)
                }
                // Without streamed weights, taller bands only save bytes: under traffic the first fit is the
                // best of its mode. The other objectives weigh the overlap more bands give against their bytes.
                if objective == .traffic && group.streamed.isEmpty && (halo == .recompute || bands > 8) { break }
            }
            // The same plan twice would only be simulated twice.
            if let best, !(bestIsDouble && best.rows == doubleRows) { plans.append(.bands(best)) }
            if let bestStreamingGroups { plans.append(.bands(bestStreamingGroups)) }
            // Two slots may leave no room to fold a stem's taps (see `foldTaps`), which the same bands
            // single-buffered fold: often far fewer matrix passes than the overlap the slots buy.
            for rows in Set([doubleRows, bestIsDouble ? best?.rows : nil].compactMap { $0 }).sorted() {
                guard let double = try double(rows),
                    let single = try context.planBands(
                        range, rows: rows, halo: halo, maxSlots: 1, checked: true, walks: walks),
                    single.folded.count > double.folded.count
                else { continue }
                plans.append(.bands(single))
            }
            // Loaded into a concat's one slot, a map's next rows wait for the concat's last
            // reader; the estimates do not see that, so the same bands with every loaded map in
            // a buffer of its own go to simulation too.
            if let best, !best.loadedInto.isEmpty, best.buffers.values.allSatisfy({ $0.slots == 1 }),
                let plain = try context.planBands(
                    range, rows: best.rows, halo: halo, maxSlots: 1, checked: true, walks: walks, loads: false)
            {
                plans.append(.bands(plain))
            }
            if halo == .recompute, let packed = try packedBand(range, height: height, context: context, walks: walks) {
                plans.append(.bands(packed))
            }
        }
        // Each cached-halo plan with single-slot buffers (their kept rows move in place) and resident
        // weights (streaming ones keep the group waiting on DRAM whatever the vector engine does) also
        // with its kept rows moved early (see `BandPlan.shiftsEarly`); the simulation tells which order
        // of the vector engine's work is faster.
        for case .bands(var plan) in plans
        where plan.halo == .cache && plan.bands.count > 1 && plan.streamed.isEmpty
            && plan.buffers.values.contains(where: { $0.slots == 1 && $0.alias == nil })
        {
            plan.shiftsEarly = true
            plans.append(.bands(plan))
        }
        plans += try context.planWholeMap(range, budget: budget, checked: true).map { .wholeMap($0) }
        return plans.sorted { ($0.dramBytes, $0.estimatedCycles) < ($1.dramBytes, $1.estimatedCycles) }
    }

    /// Whether node `index` alone is an interval worth planning: an
    /// (ungrouped) convolution whose best layer tiling moves more than its
    /// input, weights and output once each, because neither its input nor
    /// its weights fit beside the other (Inception v3's 3x3 stride-2
    /// reduction: 3.98 MB of weights over a 1.41 MB map, the map read three
    /// times). A whole-map plan streams the input in channel blocks into
    /// the output held whole, each weight tile once, and reads each block once.
    static func reloadsAlone(_ index: Int, context: PlanningContext, single: PlanCost) -> Bool {
        let node = context.graph.nodes[index]
        guard node.kind == .conv, node.int("group", default: 1) == 1, context.fusible[index] else { return false }
        let graph = context.graph
        let once = node.inputs.filter { !$0.isEmpty }.reduce(0) { total, input in
            total + 4 * (graph.initializers[input]?.count ?? context.valueType(input)?.count ?? 0)
        }
        return single.bytes > once + 4 * (context.valueType(node.outputs[0])?.count ?? 0)
    }

    /// One band whose buffers share SRAM by lifetime (see `BandPlan.packed`),
    /// when the one band with a buffer per value does not fit or streams
    /// weights: an inception module whose input, branches and pooled map
    /// are not all live at once, its weights streamed once in all.
    ///
    /// Not across a squeeze-excitation block (a pool of the excited map or
    /// the Mul that scales it in the range): `SqueezeHold` keeps those maps
    /// in SRAM between the pooling and scaling groups of the partition, and
    /// a packed group that wins the partition by spanning the boundary
    /// leaves it no pair to hold. On RegNetY-400MF at df1 the packed
    /// schedule moved 27.14 MB in 1.873 Mcycles, the held one 26.54 MB in
    /// 1.856; EfficientNet-B0 28.67 MB against 27.96.
    static func packedBand(_ range: Range<Int>, height: Int, context: PlanningContext, walks: BandWalks) throws
        -> BandPlan?
    {
        let graph = context.graph
        for index in range {
            let node = graph.nodes[index]
            if node.inputs.contains(where: {
                FusionRules.isChannelVector($0, of: node, graph: graph, type: context.valueType)
            }) {
                return nil
            }
            if index > range.lowerBound, FusionRules.poolingTail((index - 1)..<(index + 1), graph: graph),
                SqueezeHold.exciteNode(
                    of: graph.nodes[index - 1].outputs[0], in: range, graph: graph, consumers: context.consumers)
                    != nil
            {
                return nil
            }
        }
        if let plain = try context.planBands(
            range, rows: height, halo: .recompute, maxSlots: 1, checked: true, walks: walks),
            plain.streamed.isEmpty
        {
            return nil
        }
        return try context.planBands(
            range, rows: height, halo: .recompute, maxSlots: 1, checked: true, walks: walks, packed: true)
    }

    /// The tallest bands that fit double-buffered with resident weights, so
    /// that loads and stores overlap the compute of the bands before and
    /// after. The quick estimates do not see buffering, and the objectives
    /// other than traffic weigh time against bytes, so this plan goes to
    /// simulation beside the one with the best estimate.
    static func doubleBuffered(height: Int, plan planned: (Int) throws -> BandPlan?) throws -> BandPlan? {
        var tried: Set<Int> = []
        for bands in 1...min(height, 64) {
            let rows = (height + bands - 1) / bands
            guard tried.insert(rows).inserted else { continue }
            if let plan = try planned(rows), plan.streamed.isEmpty {
                return plan
            }
        }
        return nil
    }
}

/// A total the concurrent starts of one interval end lower together (see `FusionPlanner.plan`).
final class SharedBound: @unchecked Sendable {
    private var total: Double
    private let lock = NSLock()
    init(_ total: Double) { self.total = total }
    var value: Double { lock.withLock { total } }
    func lower(to candidate: Double) { lock.withLock { total = min(total, candidate) } }
}

/// The pruned search's picks, one task per end j and start i in order of
/// ends (and of starts within an end), run by one worker per core. A task
/// needs only best[i] final: it may start while the ends between i and j are
/// still being searched, with budgets from what is known so far (no less
/// than the final ones: a looser budget only costs work, and each start's
/// pick is the same under any budget that does not rule it out). Each end is
/// combined once all its starts are picked and best[j - 1] is final, in
/// order, so the partition is the one a sequential search finds.
final class IntervalSearch: @unchecked Sendable {
    typealias Pick = (GroupPlan, PlanCost)
    /// (end, position among its starts, start), in order.
    private let tasks: [(j: Int, k: Int, i: Int)]
    private let starts: [[Int]]
    /// The score of each node's layer on its own.
    private let layerAlone: [Double]
    private let pickStart: (Int, Int, Double, Double, SharedBound) throws -> Pick?
    private let combine: (Int, inout [Double], [Pick?]) -> Pick?
    private let condition = NSCondition()
    private var best: [Double]
    private var choice: [Pick?]
    /// best[0...final] are final.
    private var final = 0
    private var next = 0
    private var picks: [[Pick?]]
    private var remaining: [Int]
    /// Per end, no less than best[j] will be: lowered by every bound known and every pick found.
    private let bounds: [SharedBound]
    /// The first task in order that threw, and its error.
    private var failure: (task: Int, error: any Error)?

    init(
        starts: [[Int]], layerAlone: [Double],
        pick: @escaping (Int, Int, Double, Double, SharedBound) throws -> Pick?,
        combine: @escaping (Int, inout [Double], [Pick?]) -> Pick?
    ) {
        self.starts = starts
        self.layerAlone = layerAlone
        (pickStart, self.combine) = (pick, combine)
        tasks = starts.indices.flatMap { j in starts[j].enumerated().map { (j: j, k: $0.offset, i: $0.element) } }
        best = Array(repeating: 0, count: starts.count)
        choice = Array(repeating: nil, count: starts.count)
        picks = starts.map { Array(repeating: nil, count: $0.count) }
        remaining = starts.map(\.count)
        bounds = starts.map { _ in SharedBound(.infinity) }
    }

    /// best and choice of every end, as the sequential search finds them.
    func run() throws -> ([Double], [Pick?]) {
        condition.lock()
        finalize()
        condition.unlock()
        let workers = min(max(1, ProcessInfo.processInfo.activeProcessorCount), max(1, tasks.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in self.work() }
        if let failure { throw failure.error }
        return (best, choice)
    }

    private func work() {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil, next < tasks.count {
            let t = next
            next += 1
            let (j, k, i) = tasks[t]
            while final < i && failure == nil { condition.wait() }
            guard failure == nil else { return }
            let before = best[i]
            let ceiling = layerCeiling(j)
            bounds[j].lower(to: ceiling)
            condition.unlock()
            let result = Result { try pickStart(i, j, before, ceiling, bounds[j]) }
            condition.lock()
            switch result {
            case .success(let pick):
                picks[j][k] = pick
                remaining[j] -= 1
                finalize()
            case .failure(let error):
                if failure == nil || t < failure!.task { failure = (t, error) }
            }
            condition.broadcast()
        }
    }

    /// No less than best[j - 1] plus node j - 1's layer on its own: exact once best[j - 1] is final,
    /// else from the last final end through the bounds known since. The lock is held.
    private func layerCeiling(_ j: Int) -> Double {
        var total = best[min(final, j - 1)]
        for end in stride(from: final + 1, to: j, by: 1) {
            total = min(total + layerAlone[end - 1], bounds[end].value)
        }
        return total + layerAlone[j - 1]
    }

    /// Combines every end, in order, whose starts are all picked. The lock is held.
    private func finalize() {
        while final + 1 < starts.count, remaining[final + 1] == 0 {
            let j = final + 1
            choice[j] = combine(j, &best, picks[j])
            picks[j] = []
            final = j
        }
    }
}
