import Accelerator
import Foundation

/// What `--report` writes: predicted traffic and cycles for the program, the
/// compulsory traffic no schedule can avoid, and one row per layer.
public struct CompileReport {
    public var model: String
    public var graph: Graph
    public var program: Program
    public var layers: [Codegen.LayerReport]

    public init(model: String, graph: Graph, program: Program, layers: [Codegen.LayerReport]) {
        (self.model, self.graph, self.program, self.layers) = (model, graph, program, layers)
    }

    /// Every weight once, plus the network's inputs and outputs.
    public var compulsoryBytes: Int {
        var weights = Set<String>()
        // Float constants a layer reads; int64 ones (shapes, axes) never reach DRAM traffic.
        for node in graph.nodes {
            for input in node.inputs where graph.initializers[input]?.dtype == .float32 { weights.insert(input) }
        }
        let weightBytes = weights.reduce(0) { $0 + graph.initializers[$1]!.count * 4 }
        let io = (graph.inputs + graph.outputs).reduce(0) { $0 + (graph.type(of: $1)?.count ?? 0) * 4 }
        return weightBytes + io
    }

    public func json() throws -> Data {
        let constants = program.constants.count
        var costs: [InstructionCost] = []
        for instruction in program.instructions { costs.append(program.config.cost(of: instruction, constantsBytes: constants)) }
        let (stats, schedule) = program.timing(summary: try program.validate())
        var rows: [[String: Any]] = []
        for layer in layers {
            let slice = costs[layer.instructions]
            let start = layer.instructions.isEmpty ? 0 : schedule[layer.instructions.lowerBound].start
            let end = layer.instructions.isEmpty ? 0 : schedule[layer.instructions].map(\.end).max()!
            rows.append([
                "node": layer.node, "op": layer.op, "engine": layer.engine, "tiling": layer.tiling,
                "instructions": layer.instructions.count,
                "dram_read_bytes": slice.reduce(0) { $0 + $1.dramReadBytes },
                "dram_write_bytes": slice.reduce(0) { $0 + $1.dramWriteBytes },
                "dram_weight_bytes": slice.reduce(0) { $0 + $1.dramWeightBytes },
                "dram_activation_bytes": slice.reduce(0) { $0 + $1.dramActivationBytes },
                "macs": slice.reduce(0) { $0 + $1.macs },
                "cycles": end - start,
            ])
        }
        let predicted = costs.reduce(0) { $0 + $1.dramReadBytes + $1.dramWriteBytes }
        let object: [String: Any] = [
            "model": model,
            "accelerator": program.config.name,
            "sram_bytes": program.config.sramBytes,
            "predicted_dram_bytes": predicted,
            "predicted_dram_read_bytes": costs.reduce(0) { $0 + $1.dramReadBytes },
            "predicted_dram_write_bytes": costs.reduce(0) { $0 + $1.dramWriteBytes },
            "predicted_dram_weight_bytes": costs.reduce(0) { $0 + $1.dramWeightBytes },
            "predicted_dram_activation_bytes": costs.reduce(0) { $0 + $1.dramActivationBytes },
            "predicted_cycles": stats.cycles,
            "compulsory_bytes": compulsoryBytes,
            "traffic_over_compulsory": Double(predicted) / Double(max(1, compulsoryBytes)),
            "macs": stats.macs,
            "instructions": program.instructions.count,
            "layers": rows,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
