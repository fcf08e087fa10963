import Accelerator
import Foundation

/// What the tiler and the fusion planner minimise (`dfc compile --objective`).
public enum Objective: String, CaseIterable, Sendable, CustomStringConvertible {
    /// DRAM bytes, then cycles.
    case traffic
    /// Cycles, then DRAM bytes.
    case latency
    /// Energy (the config's energy model), then cycles.
    case energy
    /// Energy × cycles, then DRAM bytes.
    case edp

    public var description: String { rawValue }

    /// What a user gets without `--objective` (README, "Objectives").
    public static let `default` = Objective.edp
}

/// The three figures every plan, layer and program is judged by.
public struct PlanCost: Equatable, Sendable {
    public var bytes = 0
    public var cycles = 0
    /// Femtojoules, from the config's energy model.
    public var energy = 0

    public init(bytes: Int = 0, cycles: Int = 0, energy: Int = 0) {
        (self.bytes, self.cycles, self.energy) = (bytes, cycles, energy)
    }

    static func + (a: PlanCost, b: PlanCost) -> PlanCost {
        PlanCost(bytes: a.bytes + b.bytes, cycles: a.cycles + b.cycles, energy: a.energy + b.energy)
    }

    /// A run's figures from the timing model.
    init(_ stats: ExecutionStats) {
        self.init(
            bytes: stats.dramReadBytes + stats.dramWriteBytes, cycles: stats.cycles, energy: stats.energyFemtojoules)
    }
}

extension Objective {
    /// The objective's figure of `cost`, then its tie-break, for ordering whole programs and single plans.
    func key(_ cost: PlanCost) -> (Double, Int) {
        switch self {
        case .traffic: (Double(cost.bytes), cost.cycles)
        case .latency: (Double(cost.cycles), cost.bytes)
        case .energy: (Double(cost.energy), cost.cycles)
        case .edp: (Double(cost.energy) * Double(cost.cycles), cost.bytes)
        }
    }

    /// Whether `a` is strictly better than `b`.
    func prefers(_ a: PlanCost, over b: PlanCost) -> Bool { key(a) < key(b) }

    /// Whether `a` is no worse than `b` in the objective's own figure.
    func accepts(_ a: PlanCost, against b: PlanCost) -> Bool { key(a).0 <= key(b).0 }

    /// An additive stand-in for the objective, for sums over the segments of
    /// a partition: the figure itself, except for the energy-delay product,
    /// which is not additive; there each segment adds its energy and cycles
    /// as fractions of the whole layer-by-layer program's (`scale`), whose
    /// sum is least near where the product is.
    func additive(_ cost: PlanCost, scale: PlanCost) -> Double {
        switch self {
        case .traffic: Double(cost.bytes)
        case .latency: Double(cost.cycles)
        case .energy: Double(cost.energy)
        case .edp:
            Double(cost.energy) / Double(max(1, scale.energy)) + Double(cost.cycles) / Double(max(1, scale.cycles))
        }
    }
}

extension Objective {
    /// What the objective counts, for messages.
    var unit: String {
        switch self {
        case .traffic: "DRAM bytes"
        case .latency: "cycles"
        case .energy: "energy"
        case .edp: "energy-delay product"
        }
    }

    /// A difference of `additive` figures, for messages.
    func amount(_ difference: Double) -> String {
        switch self {
        case .traffic: "\(Int(difference)) bytes"
        case .latency: "\(Int(difference)) cycles"
        case .energy: String(format: "%.3f µJ", difference / 1e9)
        case .edp: String(format: "%.4f of the layer-by-layer energy and cycles", difference)
        }
    }
}

extension Objective {
    /// The order of quick estimates, before any plan is simulated: bytes and
    /// cycles only (energy follows the bytes, which dominate it).
    func quickKey(_ bytes: Int, _ cycles: Int) -> (Double, Int) {
        switch self {
        case .traffic, .energy: (Double(bytes), cycles)
        case .latency: (Double(cycles), bytes)
        case .edp: (Double(bytes) * Double(cycles), bytes)
        }
    }
}
