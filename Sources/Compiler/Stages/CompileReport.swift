import Accelerator
import Foundation
import GraphIR

/// What `--report` writes: predicted traffic and cycles for the program, the
/// compulsory traffic no schedule can avoid, and one row per layer.
public struct CompileReport {
    public var model: String
    public var graph: Graph
    public var program: Program
    public var layers: [Codegen.LayerReport]
    /// The layer-by-layer program of the same graph and its rows, and the fusion groups (empty without fusion).
    public var layerByLayer: (program: Program, layers: [Codegen.LayerReport])?
    public var groups: [Codegen.GroupReport] = []
    public var fellBack = false
    /// The objective the program was compiled for (nil: not recorded).
    public var objective: Objective?
    /// The SRAM size the program was planned for, when less than the config's.
    public var plannedSRAMBytes: Int?

    public init(model: String, graph: Graph, program: Program, layers: [Codegen.LayerReport]) {
        (self.model, self.graph, self.program, self.layers) = (model, graph, program, layers)
    }

    public init(model: String, graph: Graph, compilation: Codegen.Compilation) {
        self.init(model: model, graph: graph, program: compilation.program, layers: compilation.layers)
        layerByLayer = (compilation.layerByLayer, compilation.layerByLayerLayers)
        groups = compilation.groups
        fellBack = compilation.fellBack
        plannedSRAMBytes = compilation.plannedSRAMBytes
    }

    /// Every weight once, plus the network's inputs and outputs.
    public var compulsoryBytes: Int { Self.compulsoryBytes(graph) }

    /// The compulsory traffic of a canonical graph: no schedule moves less.
    public static func compulsoryBytes(_ graph: Graph) -> Int {
        var weights = Set<String>()
        // Float constants a layer reads; int64 ones (shapes, axes) never reach DRAM traffic.
        for node in graph.nodes {
            for input in node.inputs where graph.initializers[input]?.dtype == .float32 { weights.insert(input) }
        }
        let weightBytes = weights.reduce(0) { $0 + graph.initializers[$1]!.count * 4 }
        let io = (graph.inputs + graph.outputs).reduce(0) { $0 + (graph.type(of: $1)?.count ?? 0) * 4 }
        return weightBytes + io
    }

    /// Busy cycles per engine and of the DRAM channel of some instructions,
    /// the resource among them that bounds them, and how busy the matrix array is.
    static func busyFigures(_ indices: [Int], _ program: Program, _ costs: [InstructionCost], cycles: Int)
        -> [String: Any]
    {
        var busy: [String: Int] = Dictionary(uniqueKeysWithValues: Engine.allCases.map { ($0.name, 0) })
        busy["dram_channel"] = 0
        var macs = 0
        for k in indices {
            busy[program.instructions[k].engine.name]! += costs[k].cycles
            busy["dram_channel"]! += costs[k].channelCycles
            if program.instructions[k].engine == .matrix { macs += costs[k].macs }
        }
        // Ties go to the first: compute before DMA.
        let order = ["matrix", "vector", "host", "load", "store", "dram_channel"]
        let most = order.map { busy[$0]! }.max()!
        let boundBy = order.first { busy[$0]! == most }!
        let matrix = busy["matrix"]!, config = program.config
        return [
            "busy_cycles": busy, "bound_by": boundBy,
            "bound": most == 0
                ? "none"
                : ["load", "store", "dram_channel"].contains(boundBy) ? "dma" : boundBy == "host" ? "host" : "compute",
            "matrix_busy_fraction": Double(matrix) / Double(max(1, cycles)),
            "matrix_array_utilization":
                Double(macs) / Double(max(1, matrix * config.matrixInputLanes * config.matrixOutputLanes))
        ]
    }

    /// Program-wide predictions and one row per layer (a fusion group is one
    /// row, with `per_layer`: its ONNX layers, from the instructions' tags).
    /// A row's `overlap_cycles` is the part of its [start, end) during which
    /// earlier rows still run; `exclusive_cycles` the rest. The exclusive
    /// cycles of all rows add up to `predicted_cycles`.
    static func figures(
        _ program: Program, _ layers: [Codegen.LayerReport], floors: [String: Int], ops: [String: String] = [:]
    ) -> [String: Any] {
        let constants = program.constants.count
        let costs = program.instructions.map { program.config.cost(of: $0, constantsBytes: constants) }
        let (stats, schedule) = program.config.schedule(program.instructions, constantsBytes: constants)
        var rows: [[String: Any]] = []
        var reached = 0  // the latest end of the rows so far
        for layer in layers {
            let slice = costs[layer.instructions]
            let start = layer.instructions.isEmpty ? 0 : schedule[layer.instructions.lowerBound].start
            let end = layer.instructions.isEmpty ? 0 : schedule[layer.instructions].map(\.end).max()!
            let overlap = max(0, min(end, reached) - start)
            reached = max(reached, end)
            var row: [String: Any] = [
                "node": layer.node, "op": layer.op, "engine": layer.engine, "tiling": layer.tiling,
                "instructions": layer.instructions.count,
                "dram_read_bytes": slice.reduce(0) { $0 + $1.dramReadBytes },
                "dram_write_bytes": slice.reduce(0) { $0 + $1.dramWriteBytes },
                "dram_weight_bytes": slice.reduce(0) { $0 + $1.dramWeightBytes },
                "dram_activation_bytes": slice.reduce(0) { $0 + $1.dramActivationBytes },
                "macs": slice.reduce(0) { $0 + $1.macs },
                "cycles": end - start, "start_cycle": start, "end_cycle": end,
                "layer_floor_cycles": layer.members.reduce(0) { $0 + (floors[$1] ?? 0) },
                "overlap_cycles": overlap, "exclusive_cycles": end - start - overlap
            ]
            row.merge(busyFigures(Array(layer.instructions), program, costs, cycles: end - start)) { a, _ in a }
            if layer.members.count > 1 {
                row["per_layer"] = perLayer(layer, program, costs, floors: floors, ops: ops)
            }
            rows.append(row)
        }
        return [
            "predicted_dram_bytes": costs.reduce(0) { $0 + $1.dramReadBytes + $1.dramWriteBytes },
            "predicted_dram_read_bytes": costs.reduce(0) { $0 + $1.dramReadBytes },
            "predicted_dram_write_bytes": costs.reduce(0) { $0 + $1.dramWriteBytes },
            "predicted_dram_weight_bytes": costs.reduce(0) { $0 + $1.dramWeightBytes },
            "predicted_dram_activation_bytes": costs.reduce(0) { $0 + $1.dramActivationBytes },
            "predicted_cycles": stats.cycles,
            "predicted_energy_fj": stats.energyFemtojoules,
            "predicted_energy_delay_fj_cycles": Double(stats.energyFemtojoules) * Double(stats.cycles),
            "macs": stats.macs,
            "instructions": program.instructions.count,
            "layers": rows
        ]
    }

    /// A fusion group's ONNX layers, each with the bytes, MACs and busy
    /// cycles of the instructions tagged with it; `cycles` is its busiest engine's.
    static func perLayer(
        _ row: Codegen.LayerReport, _ program: Program, _ costs: [InstructionCost], floors: [String: Int],
        ops: [String: String]
    ) -> [[String: Any]] {
        var mine: [String: [Int]] = [:]
        for k in row.instructions {
            for name in program.debugNames[k] { mine[name, default: []].append(k) }
        }
        return row.members.map { name in
            let indices = mine[name] ?? []
            var figures = busyFigures(indices, program, costs, cycles: 0)
            figures.removeValue(forKey: "matrix_busy_fraction")
            let busy = figures["busy_cycles"] as! [String: Int]
            figures.merge([
                "node": name, "op": ops[name] ?? "", "instructions": indices.count,
                "dram_read_bytes": indices.reduce(0) { $0 + costs[$1].dramReadBytes },
                "dram_write_bytes": indices.reduce(0) { $0 + costs[$1].dramWriteBytes },
                "dram_weight_bytes": indices.reduce(0) { $0 + costs[$1].dramWeightBytes },
                "macs": indices.reduce(0) { $0 + costs[$1].macs },
                "cycles": busy.values.max() ?? 0, "layer_floor_cycles": floors[name] ?? 0
            ]) { a, _ in a }
            return figures
        }
    }

    public func json() throws -> Data {
        _ = try program.validate()
        let nodeFloors = try LayerFloor.cycles(graph, config: program.config)
        let floors = Dictionary(zip(graph.nodes.map(\.name), nodeFloors), uniquingKeysWith: +)
        let ops = Dictionary(graph.nodes.map { ($0.name, $0.opType) }, uniquingKeysWith: { a, _ in a })
        var object = Self.figures(program, layers, floors: floors, ops: ops)
        let predicted = object["predicted_dram_bytes"] as! Int
        object["model"] = model
        object["accelerator"] = program.config.name
        // The resolved config, every field: what a preset name or --accel FILE.json stood for.
        object["accelerator_config"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(program.config))
        if let objective { object["objective"] = objective.rawValue }
        object["sram_bytes"] = program.config.sramBytes
        object["clock_hz"] = program.config.clockHz
        object["planned_sram_bytes"] = plannedSRAMBytes ?? program.config.sramBytes
        object["compulsory_bytes"] = compulsoryBytes
        object["traffic_over_compulsory"] = Double(predicted) / Double(max(1, compulsoryBytes))
        let floor = nodeFloors.reduce(0, +)
        object["layer_floor_cycles"] = floor
        object["cycles_over_layer_floor"] = Double(object["predicted_cycles"] as! Int) / Double(max(1, floor))
        if let layerByLayer {
            object["layer_by_layer"] = Self.figures(
                layerByLayer.program, layerByLayer.layers, floors: floors, ops: ops)
            object["fusion_fell_back"] = fellBack
            let rows = object["layers"] as! [[String: Any]]
            let rowOf = Dictionary(rows.map { ($0["node"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
            object["groups"] = groups.map { group -> [String: Any] in
                // The group's row in the program: its span there, and what of it overlaps earlier rows.
                let row = rowOf[group.layers.joined(separator: "+")] ?? [:]
                let inProgram = row["cycles"] as? Int ?? group.predictedCycles
                return [
                    "layers": group.layers, "tiling": group.tiling, "ends": group.end,
                    "predicted_dram_bytes": group.predictedDRAMBytes, "predicted_cycles": group.predictedCycles,
                    "layer_by_layer_dram_bytes": group.layerByLayerDRAMBytes,
                    "layer_by_layer_cycles": group.layerByLayerCycles,
                    "saved_dram_bytes": group.layerByLayerDRAMBytes - group.predictedDRAMBytes,
                    "program_cycles": inProgram, "context_cycles": inProgram - group.predictedCycles,
                    "overlap_cycles": row["overlap_cycles"] ?? 0, "bound": row["bound"] ?? "",
                    "bound_by": row["bound_by"] ?? "", "matrix_busy_fraction": row["matrix_busy_fraction"] ?? 0,
                    "per_layer": row["per_layer"] ?? []
                ]
            }
        }
        return try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
