import Accelerator
import GraphIR
import Tensors

/// The compiler's entry points after the graph passes: the scheduling
/// stages (`ScheduleManager.pipeline`: fuse, tile, plan-memory, emit) turn a
/// canonical, shape-inferred graph into a program for the modeled accelerator.
public enum Codegen {
    public struct Options: Sendable {
        public var config: AcceleratorConfig
        /// Deep fusion; false compiles the best layer-by-layer schedule.
        public var fusion: Bool
        /// What the tiler and the fusion planner minimise.
        public var objective: Objective
        /// Longest run of layers one fusion group may hold (a compile-time bound, reported by `--dump-ir=fuse`).
        public var maxGroupLength: Int
        /// Sixteen layers cover a ResNet bottleneck pair or an inception block; longer groups rarely fit 1 MiB.
        public static let defaultMaxGroupLength = 16
        public init(
            config: AcceleratorConfig = .df1, fusion: Bool = true, objective: Objective = .default,
            maxGroupLength: Int = Options.defaultMaxGroupLength
        ) {
            (self.config, self.fusion, self.objective, self.maxGroupLength) = (
                config, fusion, objective, maxGroupLength
            )
        }
    }

    /// What the emitter did for one layer or fusion group.
    public struct LayerReport: Sendable, Equatable {
        public var node: String
        public var op: String
        public var engine: String
        public var tiling: String
        public var instructions: Range<Int>
        /// The ONNX nodes the row covers (one, or a fusion group's).
        public var members: [String]
    }

    /// Stage names `--dump-ir` accepts after the graph passes.
    public static var scheduleStages: [String] { ScheduleManager.pipeline.map(\.name) }

    /// Everything the compiler decided, for `--report` and `--dump-ir`.
    public struct Compilation {
        public var program: Program
        public var layers: [LayerReport]
        /// The layer-by-layer program of the same graph (with `--no-fusion`, the program itself).
        public var layerByLayer: Program
        public var layerByLayerLayers: [LayerReport]
        /// The fusion groups of the program, with their predictions and layer-by-layer cost.
        public var groups: [GroupReport]
        /// True when fusion found groups but the fused program was not better and layer by layer was kept.
        public var fellBack: Bool
        /// The SRAM size the program was planned for (at most the config's; see `sramBudgets`).
        public var plannedSRAMBytes: Int
        /// The partition the fuse stage chose, with each group's plan (`--graph`).
        var plan = FusionPlan(segments: [])
    }

    /// One fusion group: its layers, its tiles, what the cost model
    /// predicted, what its layers cost layer by layer, and why it ends where it does.
    public struct GroupReport: Sendable, Equatable {
        public var layers: [String]
        public var tiling: String
        public var predictedDRAMBytes: Int
        public var predictedCycles: Int
        public var layerByLayerDRAMBytes: Int
        public var layerByLayerCycles: Int
        public var end: String
    }

    public static func compile(_ graph: Graph, options: Options = Options()) throws -> (Program, [LayerReport]) {
        let result = try schedule(graph, options: options)
        return (result.program, result.layers)
    }

    /// The program with exactly these groups (other layers on their own), for tests and tools.
    static func compile(_ graph: Graph, config: AcceleratorConfig, groups: [GroupPlan]) throws -> (
        Program, [LayerReport]
    ) {
        try Emitter.checkLowerable(graph)
        var spans: [Int: Range<Int>] = [:]
        for group in groups { for index in group.nodes { spans[index] = group.nodes } }
        let layout = try ProgramLayout(graph: graph, constants: ConstantSegment(graph: graph), spans: spans)
        let built = try Emitter.build(graph, config: config, layout: layout, groups: groups)
        return (built.program, built.layers)
    }

    /// Runs the scheduling stages; `dump` receives each stage named in `dumpStages`.
    /// `explain`: say why each group ends where it does (`GroupReport.end`;
    /// always on when `fuse` is dumped).
    public static func schedule(
        _ graph: Graph, options: Options, dumpStages: Set<String> = [], explain: Bool = true,
        dump: (String, String) -> Void = { _, _ in }
    ) throws -> Compilation {
        let everyBlock = options.objective.recomputesSqueezedMaps
        let candidates =
            options.fusion
            ? SqueezeRecompute.candidates(graph, objective: options.objective, sramBytes: options.config.sramBytes) : []
        guard !candidates.isEmpty else {
            return try scheduleBudgets(graph, options: options, dumpStages: dumpStages, explain: explain, dump: dump)
        }
        // Squeeze-excitation maps stored and read back, or recomputed (see
        // `SqueezeRecompute`): none, all, half or a quarter of the blocks (under
        // edp: of those whose maps exceed the SRAM, one more at a time while
        // each pays), those that save the most per added MAC first; the
        // objective picks, and the winner is planned again with its dumps.
        // The baseline is always the model's own layer-by-layer program.
        let stored = try scheduleBudgets(graph, options: options, explain: explain)
        func cost(_ program: Program) -> PlanCost {
            PlanCost(options.config.schedule(program.instructions, constantsBytes: program.constants.count).stats)
        }
        var best = (graph: graph, compilation: stored, cost: cost(stored.program))
        var counts: [Int] = []
        let tried =
            everyBlock
            ? [candidates.count, (candidates.count + 1) / 2, (candidates.count + 3) / 4] : Array(1...candidates.count)
        for count in tried where !counts.contains(count) {
            counts.append(count)
            let recomputing = SqueezeRecompute.rewrite(graph, blocks: Array(candidates.prefix(count)))!
            let compilation = try scheduleBudgets(recomputing, options: options, explain: explain)
            let figures = cost(compilation.program)
            if options.objective.prefers(figures, over: best.cost) {
                best = (recomputing, compilation, figures)
            } else if !everyBlock {
                break
            }
        }
        var winner = best.compilation
        if !dumpStages.isEmpty {
            winner = try scheduleBudgets(
                best.graph, options: options, dumpStages: dumpStages, explain: explain, dump: dump)
        }
        (winner.layerByLayer, winner.layerByLayerLayers) = (stored.layerByLayer, stored.layerByLayerLayers)
        return winner
    }

    /// `schedule` for one graph: under latency, every SRAM budget of `sramBudgets`.
    static func scheduleBudgets(
        _ graph: Graph, options: Options, dumpStages: Set<String> = [], explain: Bool = true,
        dump: (String, String) -> Void = { _, _ in }
    ) throws -> Compilation {
        let budgets = sramBudgets(options)
        guard budgets.count > 1 else {
            return try scheduleOnce(graph, options: options, dumpStages: dumpStages, explain: explain, dump: dump)
        }
        // Latency: a program planned for less SRAM also runs in more, so the
        // smaller budgets are planned too and the fastest program is kept;
        // more SRAM then never makes a program slower.
        var best: (Compilation, Int)?
        for budget in budgets {
            var capped = options
            capped.config.sramBytes = budget
            var compilation = try scheduleOnce(graph, options: capped, explain: explain)
            compilation.program.config = options.config
            compilation.layerByLayer.config = options.config
            let cycles = options.config.schedule(
                compilation.program.instructions, constantsBytes: compilation.program.constants.count
            ).stats.cycles
            if best == nil || cycles < best!.1 { best = (compilation, cycles) }
        }
        guard !dumpStages.isEmpty else { return best!.0 }
        var chosen = options
        chosen.config.sramBytes = best!.0.plannedSRAMBytes
        // The winner again, with its dumps, stamped with the real config.
        var compilation = try scheduleOnce(graph, options: chosen, dumpStages: dumpStages, explain: explain, dump: dump)
        compilation.program.config = options.config
        compilation.layerByLayer.config = options.config
        return compilation
    }

    /// The SRAM sizes a compile plans for: the config's, and under latency
    /// every power-of-two size below it down to 256 KiB.
    static func sramBudgets(_ options: Options) -> [Int] {
        var budgets = [options.config.sramBytes]
        guard options.objective == .latency, options.fusion else { return budgets }
        var budget = 1 << (Int.bitWidth - 1 - options.config.sramBytes.leadingZeroBitCount)
        if budget == options.config.sramBytes { budget /= 2 }
        while budget >= max(256 << 10, options.config.minimumSRAMBytes) {
            budgets.append(budget)
            budget /= 2
        }
        return budgets
    }

    static func scheduleOnce(
        _ graph: Graph, options: Options, dumpStages: Set<String> = [], explain: Bool = true,
        dump: (String, String) -> Void = { _, _ in }
    ) throws -> Compilation {
        try Emitter.checkLowerable(graph)
        let constants = ConstantSegment(graph: graph)
        let layout = try ProgramLayout(graph: graph, constants: constants)
        // Its DRAM map is made in the emit stage, on the core the fused program's emission leaves free.
        let layerByLayer = try Emitter.build(
            graph, config: options.config, objective: options.objective, layout: layout, groups: [],
            mapsDRAM: false)
        PhaseTrace.mark("layer-by-layer program")
        var state = ScheduleState(
            graph: graph, options: options, explain: explain || dumpStages.contains("fuse"),
            constants: constants, layerByLayer: layerByLayer)
        try withoutActuallyEscaping(dump) { dump in
            try ScheduleManager(dumpStages: dumpStages, dump: dump).run(&state)
        }
        // The emit stage gave the layer-by-layer program its DRAM map.
        let (result, baseline) = (state.result!, state.layerByLayer)
        let reports =
            state.fellBack
            ? []
            : state.plan.segments.compactMap { segment -> GroupReport? in
                guard let group = segment.group else { return nil }
                return GroupReport(
                    layers: group.nodes.map { graph.nodes[$0].name }, tiling: group.tileDescription(graph: graph),
                    predictedDRAMBytes: group.dramBytes, predictedCycles: group.estimatedCycles,
                    layerByLayerDRAMBytes: segment.layerByLayerBytes, layerByLayerCycles: segment.layerByLayerCycles,
                    end: segment.end)
            }
        return Compilation(
            program: result.program, layers: result.layers, layerByLayer: baseline.program,
            layerByLayerLayers: baseline.layers, groups: reports, fellBack: state.fellBack,
            plannedSRAMBytes: options.config.sramBytes, plan: state.plan)
    }
}

extension FusionPlanner {
    /// Every layer on its own (`--no-fusion`), for the stage dumps.
    static func layerByLayerPlan(_ graph: Graph, layerByLayer: (Program, [Codegen.LayerReport])) -> FusionPlan {
        let costs = layerCosts(graph, layerByLayer: layerByLayer)
        return FusionPlan(
            segments: graph.nodes.indices.map {
                FusionPlan.Segment(
                    nodes: $0..<($0 + 1), group: nil, layerByLayer: costs[$0], end: "fusion is off")
            })
    }
}
