import Accelerator
import GraphIR

/// The scheduling stages after the graph passes: `fuse` partitions the
/// layers into groups, `tile` fixes each group's tiles (the planner chooses
/// both together, since a partition is only as good as its tiles),
/// `plan-memory` lays out DRAM, then codegen emits the program. Each stage
/// can be printed with `--dump-ir`.
extension Codegen {
    /// Stage names `--dump-ir` accepts after the graph passes.
    public static let scheduleStages = ["fuse", "tile", "plan-memory"]

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

    /// Runs the scheduling stages and codegen; `dump` receives each stage named in `dumpStages`.
    /// `explain`: say why each group ends where it does (`GroupReport.end`;
    /// always when `fuse` is dumped), which costs some planning time.
    public static func schedule(_ graph: Graph, options: Options, dumpStages: Set<String> = [], explain: Bool = true,
                                dump: (String, String) -> Void = { _, _ in }) throws -> Compilation {
        let config = options.config
        let layerByLayer = try build(graph, config: config, groups: [])
        var plan = FusionPlan(segments: [])
        if options.fusion {
            plan = try FusionPlanner.plan(graph, config: config, layerByLayer: (layerByLayer.program, layerByLayer.layers),
                                          explain: explain || dumpStages.contains("fuse"))
        } else {
            plan = FusionPlanner.layerByLayerPlan(graph, layerByLayer: (layerByLayer.program, layerByLayer.layers))
        }
        let single = Dictionary(layerByLayer.layers.map { ($0.node, $0.tiling) }, uniquingKeysWith: { a, _ in a })
        if dumpStages.contains("fuse") { dump("fuse", fuseDump(graph, plan: plan, config: config, fusion: options.fusion)) }
        if dumpStages.contains("tile") { dump("tile", tileDump(graph, plan: plan, single: single)) }

        var result = layerByLayer
        var fellBack = false
        let groups = plan.groups
        if !groups.isEmpty {
            let fused = try build(graph, config: config, groups: groups,
                                  constants: (layerByLayer.program.constants, layerByLayer.constantAddress))
                // Single-layer groups are the fallback: fusion never makes a program worse.
            let (lblStats, _) = layerByLayer.program.timing(summary: try layerByLayer.program.validate())
            let (fusedStats, _) = fused.program.timing(summary: try fused.program.validate())
            let lblBytes = lblStats.dramReadBytes + lblStats.dramWriteBytes, fusedBytes = fusedStats.dramReadBytes + fusedStats.dramWriteBytes
            if fusedBytes <= lblBytes && fusedStats.cycles <= lblStats.cycles {
                result = fused
            } else {
                fellBack = true
            }
        }
        if dumpStages.contains("plan-memory") {
            dump("plan-memory", memoryDump(graph, memory: result.memory, program: result.program, fellBack: fellBack))
        }
        let reports = fellBack ? [] : plan.segments.compactMap { segment -> GroupReport? in
            guard let group = segment.group else { return nil }
            return GroupReport(layers: group.nodes.map { graph.nodes[$0].name }, tiling: group.tileDescription(graph: graph),
                               predictedDRAMBytes: group.dramBytes, predictedCycles: group.estimatedCycles,
                               layerByLayerDRAMBytes: segment.layerByLayerBytes, layerByLayerCycles: segment.layerByLayerCycles, end: segment.end)
        }
        return Compilation(program: result.program, layers: result.layers, layerByLayer: layerByLayer.program,
                           layerByLayerLayers: layerByLayer.layers, groups: reports, fellBack: fellBack)
    }

    static func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / 1e6
        return mb >= 100 ? String(Int(mb.rounded())) : String(Double(Int((mb * 100).rounded())) / 100)
    }

    /// `--dump-ir=fuse`: the partition, one line per group or single layer, with why it ends there.
    static func fuseDump(_ graph: Graph, plan: FusionPlan, config: AcceleratorConfig, fusion: Bool) -> String {
        let groups = plan.segments.filter { $0.group != nil }
        var lines = ["// schedule after fuse: \(groups.count) group\(groups.count == 1 ? "" : "s") over \(groups.reduce(0) { $0 + $1.nodes.count }) of \(graph.nodes.count) layers, accelerator \(config.name) (SRAM \(config.sramBytes) B)\(fusion ? "" : ", --no-fusion")"]
        for segment in plan.segments {
            let names = segment.nodes.map { graph.nodes[$0].name }
            let kind = segment.group == nil ? "layer" : "group"
            lines.append("  \(kind) \(names.joined(separator: "+"))  // ends: \(segment.end)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `--dump-ir=tile`: each group's tiles, SRAM, predicted bytes and cycles against its layers on their own.
    static func tileDump(_ graph: Graph, plan: FusionPlan, single: [String: String]) -> String {
        var lines = ["// schedule after tile: predicted DRAM bytes and cycles per group (layer by layer in brackets)"]
        for segment in plan.segments {
            let names = segment.nodes.map { graph.nodes[$0].name }
            if let group = segment.group {
                lines.append("  group \(names.joined(separator: "+")): \(group.tileDescription(graph: graph))")
                lines.append("    DRAM \(group.dramBytes) B [\(segment.layerByLayerBytes) B], cycles \(group.estimatedCycles) [\(segment.layerByLayerCycles)]")
            } else {
                lines.append("  layer \(names[0]): \(single[names[0]] ?? "-")")
                lines.append("    DRAM \(segment.layerByLayerBytes) B, cycles \(segment.layerByLayerCycles)")
            }
        }
        let fused = plan.segments.reduce(0) { $0 + ($1.group?.dramBytes ?? $1.layerByLayerBytes) }
        let baseline = plan.segments.reduce(0) { $0 + $1.layerByLayerBytes }
        lines.append("  total DRAM \(fused) B predicted, \(baseline) B layer by layer (\(megabytes(fused)) MB vs \(megabytes(baseline)) MB)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `--dump-ir=plan-memory`: where every runtime value lives in DRAM.
    static func memoryDump(_ graph: Graph, memory: DRAMPlan, program: Program, fellBack: Bool) -> String {
        var lines = ["// schedule after plan-memory: constants \(program.constants.count) B, intermediates arena \(memory.arenaBytes) B (\(memory.arenaBytesWithoutReuse) B without reuse), DRAM \(program.dramBytes) B\(fellBack ? "; fused program not better, layer by layer kept" : "")"]
        var values: [String] = []
        var seen: Set<String> = []
        for value in graph.inputs + graph.nodes.flatMap(\.outputs) where !value.isEmpty && seen.insert(value).inserted {
            if memory.locations[value] != nil { values.append(value) }
        }
        for value in values {
            let location = memory.locations[value]!
            let end = location.address + location.bytes
            let hex = { (n: Int) in "0x" + String(n, radix: 16) }
            lines.append("  %\(value): [\(hex(location.address)), \(hex(end))) \(location.bytes) B")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension FusionPlanner {
    /// Every layer on its own (`--no-fusion`), for the stage dumps.
    static func layerByLayerPlan(_ graph: Graph, layerByLayer: (Program, [Codegen.LayerReport])) -> FusionPlan {
        let (bytes, cycles) = layerCosts(graph, layerByLayer: layerByLayer)
        return FusionPlan(segments: graph.nodes.indices.map {
            FusionPlan.Segment(nodes: $0..<($0 + 1), group: nil, layerByLayerBytes: bytes[$0], layerByLayerCycles: cycles[$0], end: "fusion is off")
        })
    }
}
