import Accelerator
import GraphIR
import Tensors

/// `fuse`: the partition into fusion groups and single layers, and each
/// group's tiles (see `FusionPlanner`).
struct Fuse: ScheduleStage {
    let name = "fuse"
    let summary = "partition the layers into fusion groups, choosing each group's tiles"

    func run(_ state: inout ScheduleState) throws {
        let layerByLayer = (state.layerByLayer.program, state.layerByLayer.layers)
        guard state.options.fusion else {
            state.plan = FusionPlanner.layerByLayerPlan(state.graph, layerByLayer: layerByLayer)
            return
        }
        let context = try PlanningContext(
            graph: state.graph, config: state.options.config, objective: state.options.objective,
            layout: state.layerByLayer.layout)
        state.plan = try FusionPlanner.plan(
            context, layerByLayer: layerByLayer, maxGroupLength: state.options.maxGroupLength, explain: state.explain)
    }

    /// Segments cover the nodes in order; groups are valid and fit the SRAM.
    func verify(_ state: ScheduleState) throws {
        var next = 0
        let consumers = state.graph.consumers(), aliases = DRAMPlan.Aliases(graph: state.graph)
        for segment in state.plan.segments {
            guard segment.nodes.lowerBound == next, !segment.nodes.isEmpty else {
                throw DFCError("internal error: the partition does not cover the layers in order at layer \(next)")
            }
            next = segment.nodes.upperBound
            guard let group = segment.group else { continue }
            guard group.nodes == segment.nodes, group.sramBytes <= state.options.config.sramBytes,
                FusionRules.structureProblem(
                    group.nodes, graph: state.graph, consumers: consumers, aliases: aliases) == nil
            else {
                throw DFCError("internal error: group at layer \(segment.nodes.lowerBound) is not a valid group")
            }
        }
        guard next == state.graph.nodes.count else {
            throw DFCError("internal error: the partition ends at layer \(next)")
        }
    }

    /// One line per single layer, with why it ends there; a group's header
    /// line then one line per layer, so dumps at two SRAM sizes diff layer by layer.
    func dump(_ state: ScheduleState) -> String {
        let (graph, plan, config) = (state.graph, state.plan, state.options.config)
        let groups = plan.segments.filter { $0.group != nil }
        let layers = groups.reduce(0) { $0 + $1.nodes.count }
        var lines = [
            "// schedule after fuse: \(groups.count) group\(groups.count == 1 ? "" : "s") over \(layers) of "
                + "\(graph.nodes.count) layers, accelerator \(config.name) (SRAM \(config.sramBytes) B)"
                + (state.options.fusion
                    ? ", objective \(state.options.objective), groups of at most \(state.options.maxGroupLength) layers"
                    : ", --no-fusion")
        ]
        for segment in plan.segments {
            let names = segment.nodes.map { graph.nodes[$0].name }
            guard segment.group != nil else {
                lines.append("  layer \(names[0])  // ends: \(segment.end)")
                continue
            }
            lines.append("  group of \(names.count) layers  // ends: \(segment.end)")
            lines += names.map { "    \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `tile`: how every segment is tiled (a group's bands or whole map and
/// channel blocks, a single layer's own tiling) against its layer-by-layer cost.
struct Tile: ScheduleStage {
    let name = "tile"
    let summary = "record each group's and each single layer's tiles with predicted bytes and cycles"

    func run(_ state: inout ScheduleState) throws {
        let single = Dictionary(state.layerByLayer.layers.map { ($0.node, $0.tiling) }, uniquingKeysWith: { a, _ in a })
        state.tiles = state.plan.segments.map { segment in
            segment.group?.tileDescription(graph: state.graph) ?? single[
                state.graph.nodes[segment.nodes.lowerBound].name] ?? "-"
        }
    }

    func verify(_ state: ScheduleState) throws {
        guard state.tiles.count == state.plan.segments.count else {
            throw DFCError("internal error: a segment has no tiling")
        }
    }

    /// Each group's tiles, SRAM, predicted bytes and cycles against its layers
    /// on their own, then its layers one per line.
    func dump(_ state: ScheduleState) -> String {
        let graph = state.graph
        var lines = ["// schedule after tile: predicted DRAM bytes and cycles per group (layer by layer in brackets)"]
        for (segment, tiles) in zip(state.plan.segments, state.tiles) {
            let names = segment.nodes.map { graph.nodes[$0].name }
            if let group = segment.group {
                lines.append("  group of \(names.count) layers: \(tiles)")
                lines.append(
                    "    DRAM \(group.dramBytes) B [\(segment.layerByLayerBytes) B], "
                        + "cycles \(group.estimatedCycles) [\(segment.layerByLayerCycles)]")
                lines += names.map { "    - \($0)" }
            } else {
                lines.append("  layer \(names[0]): \(tiles)")
                lines.append("    DRAM \(segment.layerByLayerBytes) B, cycles \(segment.layerByLayerCycles)")
            }
        }
        let fused = state.plan.segments.reduce(0) { $0 + ($1.group?.dramBytes ?? $1.layerByLayerBytes) }
        let baseline = state.plan.segments.reduce(0) { $0 + $1.layerByLayerBytes }
        lines.append(
            "  total DRAM \(fused) B predicted, \(baseline) B layer by layer "
                + "(\(megabytes(fused)) MB vs \(megabytes(baseline)) MB)")
        return lines.joined(separator: "\n") + "\n"
    }

    func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / 1e6
        return mb >= 100 ? String(Int(mb.rounded())) : String(Double(Int((mb * 100).rounded())) / 100)
    }
}

/// `plan-memory`: DRAM addresses of every runtime value (see `DRAMPlan`);
/// a group's values share one lifetime, so the layout follows the partition.
struct PlanMemory: ScheduleStage {
    let name = "plan-memory"
    let summary =
        "lay out DRAM: constants, inputs, outputs, and an arena of intermediates reused after their last reader"

    func run(_ state: inout ScheduleState) throws {
        let groups = state.plan.groups
        guard !groups.isEmpty else {
            state.layout = state.layerByLayer.layout
            return
        }
        var spans: [Int: Range<Int>] = [:]
        for group in groups { for index in group.nodes { spans[index] = group.nodes } }
        state.layout = try ProgramLayout(graph: state.graph, constants: state.constants, spans: spans)
    }

    /// Every runtime value has a place past the constants and inside the program's DRAM.
    func verify(_ state: ScheduleState) throws {
        guard let layout = state.layout else { throw DFCError("internal error: no DRAM layout") }
        for (value, location) in layout.memory.locations.sorted(by: { $0.key < $1.key })
        where location.address < state.constants.byteCount || location.address + location.bytes > layout.end {
            throw DFCError("internal error: \(value) is laid out outside the program's DRAM")
        }
    }

    /// Where every runtime value lives in DRAM.
    func dump(_ state: ScheduleState) -> String {
        let memory = state.layout!.memory
        var lines = [
            "// schedule after plan-memory: constants \(state.constants.byteCount) B, intermediates arena "
                + "\(memory.arenaBytes) B (\(memory.arenaBytesWithoutReuse) B without reuse), DRAM \(state.layout!.end) B"
        ]
        var seen: Set<String> = []
        let hex = { (n: Int) in "0x" + String(n, radix: 16) }
        for value in state.graph.inputs + state.graph.nodes.flatMap(\.outputs)
        where !value.isEmpty && seen.insert(value).inserted {
            guard let location = memory.locations[value] else { continue }
            lines.append(
                "  %\(value): [\(hex(location.address)), \(hex(location.address + location.bytes))) \(location.bytes) B"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `emit`: the instructions. Fusion never makes a program worse: a fused
/// program that is worse than the layer-by-layer one in the objective
/// (under traffic: more bytes or more cycles) is replaced by it.
struct Emit: ScheduleStage {
    let name = "emit"
    let summary = "emit the instructions; keep layer by layer when the fused program is not better"

    func run(_ state: inout ScheduleState) throws {
        let groups = state.plan.groups
        guard !groups.isEmpty, let layout = state.layout else {
            state.layerByLayer.mapDRAM(state.graph)
            state.result = state.layerByLayer
            return
        }
        // The layer-by-layer program gets its DRAM map and is checked and timed on one core while
        // the fused one is built on the other, with the single convolutions' tilings it chose.
        let (graph, options, layerByLayer) = (state.graph, state.options, state.layerByLayer)
        let results = try concurrentMap([0, 1]) { k -> (Emitter.Built, PlanCost) in
            guard k == 0 else {
                var baseline = layerByLayer
                baseline.mapDRAM(graph)
                return (baseline, PlanCost(baseline.program.timing(summary: try baseline.program.validate()).stats))
            }
            let fused = try Emitter.build(
                graph, config: options.config, objective: options.objective, layout: layout, groups: groups,
                known: layerByLayer)
            return (fused, PlanCost(fused.program.timing(summary: try fused.program.validate()).stats))
        }
        let fused = results[0].0
        state.layerByLayer = results[1].0
        let (lblCost, fusedCost) = (results[1].1, results[0].1)
        // Traffic also keeps the cycles no worse; the other objectives judge by their own figure.
        let better =
            state.options.objective == .traffic
            ? fusedCost.bytes <= lblCost.bytes && fusedCost.cycles <= lblCost.cycles
            : state.options.objective.accepts(fusedCost, against: lblCost)
        if better {
            state.result = fused
        } else {
            state.result = state.layerByLayer
            state.fellBack = true
        }
    }

    func verify(_ state: ScheduleState) throws {
        guard state.result != nil else { throw DFCError("internal error: nothing emitted") }
    }

    func dump(_ state: ScheduleState) -> String {
        let program = state.result!.program
        let (stats, _) = program.config.schedule(program.instructions, constantsBytes: program.constants.count)
        let kept = state.fellBack ? "; fused program not better, layer by layer kept" : ""
        return "// schedule after emit: \(program.instructions.count) instructions, DRAM "
            + "\(stats.dramReadBytes + stats.dramWriteBytes) B, \(stats.cycles) cycles predicted\(kept)\n"
    }
}
