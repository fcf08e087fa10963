import Accelerator
import Foundation
import Tensors

/// One point of a design-space sweep: what was compiled and what it cost.
/// The same value is a cache entry, a `--point-json` file and a row of `--json`.
public struct ExplorePoint: Codable, Equatable, Sendable {
    /// The point's place in its sweep (models, then SRAM, bandwidth, array, objective, fused before baseline).
    public var index: Int
    public var setting: Setting
    /// Nil when the point could not be compiled; `error` says why.
    public var figures: Figures?
    public var error: String?
    /// Wall-clock seconds of the compile (scheduling and report), measured when the point was computed.
    public var compileSeconds: Double
    /// On the Pareto front over cycles, DRAM bytes and energy among the points of its model and SRAM size.
    public var pareto: Bool

    enum CodingKeys: String, CodingKey {
        case index, setting, figures, error, pareto
        case compileSeconds = "compile_seconds"
    }

    /// Everything a compile's result depends on besides the model's bytes and dfc's version.
    public struct Setting: Codable, Equatable, Sendable {
        public var model: String
        /// The resolved accelerator, SRAM, bandwidth and array included.
        public var config: AcceleratorConfig
        public var objective: String
        public var fusion: Bool
        public var maxGroupLength: Int
        public var inputShapes: [String: [Int]]
        public var maxMemoryBytes: Int

        enum CodingKeys: String, CodingKey {
            case model, config, objective, fusion
            case maxGroupLength = "max_group_length"
            case inputShapes = "input_shapes"
            case maxMemoryBytes = "max_memory_bytes"
        }

        /// The swept coordinates, for tables and plots.
        public var sramBytes: Int { config.sramBytes }
        public var bandwidth: Int { config.dramBytesPerCycle }
        public var array: String { "\(config.matrixInputLanes)x\(config.matrixOutputLanes)" }
    }

    /// The program's predictions, as `dfc compile --report` gives them.
    public struct Figures: Codable, Equatable, Sendable {
        public var dramBytes: Int
        public var dramWeightBytes: Int
        public var dramActivationBytes: Int
        public var compulsoryBytes: Int
        public var cycles: Int
        public var layerFloorCycles: Int
        public var energyFemtojoules: Int
        /// The layer-by-layer program of the same compile (with fusion off, the program itself).
        public var layerByLayer: Summary
        public var fusionFellBack: Bool
        /// One row per layer or fusion group, in program order.
        public var rows: [Row]

        enum CodingKeys: String, CodingKey {
            case dramBytes = "dram_bytes"
            case dramWeightBytes = "dram_weight_bytes"
            case dramActivationBytes = "dram_activation_bytes"
            case compulsoryBytes = "compulsory_bytes"
            case cycles
            case layerFloorCycles = "layer_floor_cycles"
            case energyFemtojoules = "energy_fj"
            case layerByLayer = "layer_by_layer"
            case fusionFellBack = "fusion_fell_back"
            case rows
        }
    }

    public struct Summary: Codable, Equatable, Sendable {
        public var dramBytes: Int
        public var cycles: Int
        public var energyFemtojoules: Int

        enum CodingKeys: String, CodingKey {
            case dramBytes = "dram_bytes"
            case cycles
            case energyFemtojoules = "energy_fj"
        }
    }

    /// Where one layer's or group's bytes and cycles go.
    public struct Row: Codable, Equatable, Sendable {
        public var node: String
        public var op: String
        public var layers: Int
        public var weightBytes: Int
        public var activationReadBytes: Int
        public var activationWriteBytes: Int
        public var cycles: Int
        /// What the row waits on most: `matrix`, `vector`, `host` or `dma` (the DMA queues and the DRAM channel).
        public var bound: String

        enum CodingKeys: String, CodingKey {
            case node, op, layers, cycles, bound
            case weightBytes = "weight_bytes"
            case activationReadBytes = "activation_read_bytes"
            case activationWriteBytes = "activation_write_bytes"
        }
    }
}

extension ExplorePoint.Figures {
    /// The engine with the most busy cycles; the DMA queues and the DRAM channel count as one, `dma`.
    static func bound(busy: [String: Int]) -> String {
        let dma = ["load", "store", "dram_channel"].map { busy[$0] ?? 0 }.max() ?? 0
        let engines = [("matrix", busy["matrix"] ?? 0), ("vector", busy["vector"] ?? 0), ("host", busy["host"] ?? 0)]
        return (engines + [("dma", dma)]).max { $0.1 < $1.1 }!.0
    }

    /// Reads what `CompileReport.json()` wrote.
    init(report data: Data) throws {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let layerByLayer = object["layer_by_layer"] as? [String: Any]
        else { throw DFCError("the compile report is not the expected JSON object") }
        func int(_ object: [String: Any], _ key: String) throws -> Int {
            guard let value = object[key] as? Int else { throw DFCError("the compile report has no integer '\(key)'") }
            return value
        }
        let rows = (object["layers"] as? [[String: Any]] ?? []).map { row -> ExplorePoint.Row in
            let weights = row["dram_weight_bytes"] as? Int ?? 0
            return ExplorePoint.Row(
                node: row["node"] as? String ?? "", op: row["op"] as? String ?? "",
                layers: 1, weightBytes: weights,
                activationReadBytes: (row["dram_read_bytes"] as? Int ?? 0) - weights,
                activationWriteBytes: row["dram_write_bytes"] as? Int ?? 0, cycles: row["cycles"] as? Int ?? 0,
                bound: Self.bound(busy: row["busy_cycles"] as? [String: Int] ?? [:]))
        }
        self.init(
            dramBytes: try int(object, "predicted_dram_bytes"),
            dramWeightBytes: try int(object, "predicted_dram_weight_bytes"),
            dramActivationBytes: try int(object, "predicted_dram_activation_bytes"),
            compulsoryBytes: try int(object, "compulsory_bytes"), cycles: try int(object, "predicted_cycles"),
            layerFloorCycles: try int(object, "layer_floor_cycles"),
            energyFemtojoules: try int(object, "predicted_energy_fj"),
            layerByLayer: ExplorePoint.Summary(
                dramBytes: try int(layerByLayer, "predicted_dram_bytes"),
                cycles: try int(layerByLayer, "predicted_cycles"),
                energyFemtojoules: try int(layerByLayer, "predicted_energy_fj")),
            fusionFellBack: object["fusion_fell_back"] as? Bool ?? false, rows: rows)
    }
}
