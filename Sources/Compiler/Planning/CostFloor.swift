import Accelerator
import Foundation
import GraphIR

/// Floors under a plan's simulated cost, known without emitting it (see
/// `FusionPlanner.costFloor`), and the switch that turns the search's use of
/// floors off.
extension FusionPlanner {
    /// Whether the fusion search simulates every candidate of every interval
    /// (`DFC_FULL_SEARCH=1`): the reference the pruned search is tested against.
    static let fullSearchByDefault = ProcessInfo.processInfo.environment["DFC_FULL_SEARCH"] == "1"
    /// With the full search, `DFC_CHECK_FLOORS=1` prints every floor above a simulated cost.
    static let checksFloors = ProcessInfo.processInfo.environment["DFC_CHECK_FLOORS"] == "1"

    /// Prints a line for each of `group`'s floors (`costFloor`, `intervalFloor`) above its simulated `cost`.
    static func checkFloors(_ group: GroupPlan, cost: PlanCost, context: PlanningContext) {
        let plan = costFloor(group, context: context), interval = intervalFloor(group.nodes, context: context)
        guard
            plan.bytes != cost.bytes || plan.cycles > cost.cycles || plan.energy > cost.energy
                || interval.bytes > cost.bytes || interval.cycles > cost.cycles || interval.energy > cost.energy
        else { return }
        let line =
            "floor above cost: nodes \(group.nodes) \(group.tileDescription(graph: context.graph)): cost \(cost), plan floor \(plan), interval floor \(interval)\n"
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }

    /// The work a plan's windowed layers must do whatever order the emitter
    /// gives it: matrix
    /// cycles, vector cycles and elements, MACs and SRAM bytes written.
    ///
    /// Each CONV instruction of a band takes its layer's full width and the
    /// rows the band computes (`BandPlan.computedRows`), every tap and every
    /// input channel; its matrix cycles round each block of lanes up, so
    /// splitting the output channels into streamed blocks only adds cycles,
    /// and folding the taps into input channels rounds `cin * taps` up once
    /// (the least of the two forms is taken). A depthwise CONV (one input
    /// channel per group) and a POOL run on the vector unit, one element per
    /// output and tap. Every instruction writes its output to SRAM. A
    /// whole-map plan computes every row of every layer, over blocks of
    /// input channels whose lanes round up as the output blocks' do.
    struct Work {
        var matrixCycles = 0, vectorElements = 0, vectorCycles = 0, macs = 0, sramWriteBytes = 0

        mutating func conv(_ g: ConvGeometry, positions: Int, config: AcceleratorConfig) {
            let taps = g.kh * g.kw, outputs = g.cout * positions
            macs += outputs * taps * g.cinPerGroup
            sramWriteBytes += 4 * outputs
            if g.groups > 1 && g.cinPerGroup == 1 {
                vectorElements += outputs * taps
                vectorCycles += config.vectorCycles(elements: outputs * taps)
            } else {
                let blocks = ceilDiv(g.coutPerGroup, config.matrixOutputLanes) * g.groups
                let unfolded = ceilDiv(g.cinPerGroup, config.matrixInputLanes) * taps
                let folded = ceilDiv(g.cinPerGroup * taps, config.matrixInputLanes)
                matrixCycles += min(unfolded, folded) * blocks * positions
            }
        }

        mutating func pool(elements: Int, taps: Int, config: AcceleratorConfig) {
            vectorElements += elements * taps
            vectorCycles += config.vectorCycles(elements: elements * taps)
            sramWriteBytes += 4 * elements
        }
    }

    /// A floor under `group`'s simulated cost (see `costFloor`).
    static func planFloor(_ group: GroupPlan, context: PlanningContext) -> PlanCost {
        let graph = context.graph, config = context.config
        var work = Work()
        switch group {
        case .bands(let plan):
            // Fields read in place: a copy of each node would retain and release every one.
            for index in plan.nodes {
                let kind = graph.nodes[index].kind, output = graph.nodes[index].outputs[0]
                guard kind == .conv || kind == .maxPool || kind == .averagePool,
                    let type = context.valueType(output), type.rank == 4, type.shape[0] == 1,
                    let id = plan.needed.first?.values.ids[output]
                else { continue }
                let height = type.shape[2]
                let rows = plan.bands.indices.reduce(0) {
                    $0
                        + BandPlan.computedRows(id: id, band: $1, height: height, needed: plan.needed, halo: plan.halo)
                        .count
                }
                if kind == .conv {
                    guard let g = context.convGeometries[index], g.n == 1 else { continue }
                    work.conv(g, positions: rows * g.wo, config: config)
                } else {
                    let r = context.reaches[index]
                    work.pool(elements: type.shape[1] * rows * type.shape[3], taps: r.kh * r.kw, config: config)
                }
            }
        case .wholeMap(let plan):
            // Every layer of a whole-map plan computes its whole output.
            for index in plan.nodes {
                let kind = graph.nodes[index].kind
                guard let type = context.valueType(graph.nodes[index].outputs[0]), type.rank == 4, type.shape[0] == 1
                else { continue }
                if kind == .conv {
                    guard let g = context.convGeometries[index], g.n == 1 else { continue }
                    work.conv(g, positions: g.ho * g.wo, config: config)
                } else if kind == .maxPool || kind == .averagePool {
                    let r = context.reaches[index]
                    work.pool(elements: type.count, taps: r.kh * r.kw, config: config)
                }
            }
        case .residualConv(let plan):
            if let g = context.convGeometries[plan.nodes.lowerBound], g.n == 1 {
                work.conv(g, positions: g.ho * g.wo, config: config)
            }
        }
        return workFloor(bytes: group.dramBytes, work: work, config: context.config)
    }

    /// The least cost of moving `bytes` over the DRAM channel and doing
    /// `work`: the busiest of the channel, the matrix and the vector unit;
    /// the energy of the bytes in DRAM and on their SRAM side (every byte a
    /// LOAD reads is written to SRAM, every byte a STORE writes was read
    /// from it) and of the work.
    static func workFloor(bytes: Int, work: Work, config: AcceleratorConfig) -> PlanCost {
        let sram = min(config.energy.sramReadFemtojoulesPerByte, config.energy.sramWriteFemtojoulesPerByte)
        let cycles = max(bytes / config.dramBytesPerCycle, work.matrixCycles, work.vectorCycles)
        let energy =
            config.energy.femtojoules(
                dramBytes: bytes, sramReadBytes: 0, sramWriteBytes: work.sramWriteBytes, macs: work.macs,
                vectorElements: work.vectorElements) + sram * bytes
        return PlanCost(bytes: bytes, cycles: cycles, energy: energy)
    }
}

/// Counts of the fusion search's work (`DFC_PLAN_STATS=1` prints them after the search).
final class PlanSearchStats: @unchecked Sendable {
    static let shared = PlanSearchStats()
    static let enabled = ProcessInfo.processInfo.environment["DFC_PLAN_STATS"] == "1"
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func add(_ what: String, _ n: Int = 1) {
        guard Self.enabled else { return }
        lock.withLock { counts[what, default: 0] += n }
    }

    func report() {
        guard Self.enabled else { return }
        let lines = lock.withLock { counts.sorted { $0.key < $1.key }.map { "plan-stats: \($0.key) \($0.value)" } }
        FileHandle.standardError.write((lines.joined(separator: "\n") + "\n").data(using: .utf8)!)
    }
}

extension FusionPlanner {
    /// The pick of a start without floors or bounds (`fullSearch`): every
    /// candidate simulated, the first in the candidates' order of least
    /// `Objective.key` among those the objective accepts against `layers`.
    static func pickBySimulating(_ plans: [GroupPlan], context: PlanningContext, layers: PlanCost) throws
        -> (GroupPlan, PlanCost)?
    {
        var chosen: (GroupPlan, PlanCost)?
        for var group in plans {
            PlanSearchStats.shared.add("simulations")
            let cost = try context.simulate(group)
            if checksFloors { checkFloors(group, cost: cost, context: context) }
            group.estimatedCycles = cost.cycles
            guard context.objective.accepts(cost, against: layers) else { continue }
            if chosen == nil || context.objective.prefers(cost, over: chosen!.1) { chosen = (group, cost) }
        }
        return chosen
    }
}

extension FusionPlanner {
    /// The windowed layers' work every plan for nodes[range] must do (see
    /// `Work`), from rows every plan computes: all rows of the last layer's
    /// map and of every value read after the group, and of each value the
    /// rows its readers in the group need of it for the rows they compute
    /// (`neededRows`), walked back from the last layer.
    static func intervalWork(_ range: Range<Int>, context: PlanningContext) -> Work {
        intervalRows(range, context: context).work
    }

    /// `intervalWork`, and the rows of its output each node of the map
    /// (`FusionRules.mapRange`) surely computes: a run of consecutive rows
    /// and a count, by position in the map.
    static func intervalRows(_ range: Range<Int>, context: PlanningContext) -> (
        work: Work, need: [(run: Int, count: Int)]
    ) {
        let graph = context.graph, config = context.config
        let map = FusionRules.mapRange(range, graph: graph)
        // Per node of the map, of its output: a run of consecutive rows and a count of rows it surely computes.
        var need = [(run: Int, count: Int)](repeating: (0, 0), count: map.count)
        // Each node's first output, its type and readers, and each map input's producer and type, found
        // once for the graph (by name they would be hashed for every interval).
        let last = graph.nodes[map.upperBound - 1].outputs[0]
        for index in map {
            let first = context.firstOutputs[index]
            guard let height = first.type?.shape.dropFirst(2).first else { continue }
            if first.isGraphOutput
                || first.readers.map({ $0.lowerBound < range.lowerBound || $0.upperBound >= range.upperBound }) ?? false
                || graph.nodes[index].outputs[0] == last
            {
                need[index - map.lowerBound] = (height, height)
            }
        }
        var work = Work()
        for index in map.reversed() {
            let kind = graph.nodes[index].kind, k = index - map.lowerBound
            guard let y = context.firstOutputs[index].type, y.rank == 4, y.shape[0] == 1 else { continue }
            let (run, count) = need[k]
            if kind == .conv, let g = context.convGeometries[index], g.n == 1 {
                work.conv(g, positions: count * g.wo, config: config)
            } else if kind == .maxPool || kind == .averagePool {
                let r = context.reaches[index]
                work.pool(elements: y.shape[1] * count * y.shape[3], taps: r.kh * r.kw, config: config)
            }
            for n in context.mapInputs[index].indices {
                // The producer's position in the map, when a node of the map makes the input.
                guard let producer = context.mapInputProducers[index][n], map.contains(producer),
                    case let p = producer - map.lowerBound, p < k, let x = context.mapInputTypes[index][n], x.rank == 4
                else { continue }
                let rows = neededRows(
                    run: run, count: count, outputHeight: y.shape[2], inputHeight: x.shape[2],
                    reach: context.reaches[index])
                need[p] = (max(need[p].run, rows.run), max(need[p].count, rows.count))
            }
        }
        return (work, need)
    }

    /// Rows of its input a layer with `reach` surely reads when it computes
    /// `count` rows of its output among which `run` are consecutive: a run
    /// and a count. Output row r reads rows r*sh - padTop + j*dh, j < kh, of
    /// those inside the input; distinct output rows start at distinct rows,
    /// so at least the rows whose first row is inside are read, one each;
    /// and when a window spans the stride (no row skipped), a run of output
    /// rows reads one run of input rows, clipped by the map's edges (the
    /// least of that run placed at the top and at the bottom).
    static func neededRows(run: Int, count: Int, outputHeight: Int, inputHeight: Int, reach r: Reach) -> (
        run: Int, count: Int
    ) {
        guard count > 0 else { return (0, 0) }
        // Counted, not filtered: a filter would allocate an array for every layer of every interval.
        var outside = 0
        for row in 0..<outputHeight {
            let first = row * r.sh - r.padTop
            if first < 0 || first >= inputHeight { outside += 1 }
        }
        let span = (r.kh - 1) * r.dh + 1
        guard span >= r.sh, run > 0 else { return (0, max(0, count - outside)) }
        func clipped(_ a: Int) -> Int {
            let top = a * r.sh - r.padTop, bottom = (a + run - 1) * r.sh - r.padTop + span
            return max(0, min(inputHeight, bottom) - max(0, top))
        }
        let least = min(clipped(0), clipped(max(0, outputHeight - run)))
        return (least, max(least, count - outside))
    }
}
