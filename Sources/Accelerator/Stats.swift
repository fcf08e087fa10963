import Foundation

/// What a run costs, from the timing and energy models (docs/isa.md, "Timing"
/// and "Energy"). Identical for a full run and a `--timing-only` run.
public struct ExecutionStats: Codable, Equatable, Sendable {
    /// Cycle at which the last instruction finishes.
    public var cycles = 0
    /// Sum of the cycles of each engine's instructions (stalls excluded).
    public var loadBusyCycles = 0, matrixBusyCycles = 0, vectorBusyCycles = 0, storeBusyCycles = 0, hostBusyCycles = 0
    /// Cycles the shared DRAM channel spends moving data (LOAD and STORE data phases).
    public var dramChannelBusyCycles = 0
    /// Bytes LOADs read and STOREs write (zero-filled cells are not read).
    public var dramReadBytes = 0, dramWriteBytes = 0
    /// The same traffic split: bytes inside the constants segment, and all others.
    public var dramWeightBytes = 0, dramActivationBytes = 0
    /// Bytes host instructions read and write (not part of the DRAM channel traffic).
    public var hostReadBytes = 0, hostWriteBytes = 0
    /// The least traffic any schedule needs: every constant word some LOAD
    /// reads, once, plus the program's inputs and outputs.
    public var dramCompulsoryBytes = 0
    /// Multiply-accumulates of CONV and MATMUL.
    public var macs = 0
    /// Bytes instructions read from and write to SRAM (docs/isa.md, "Energy").
    public var sramReadBytes = 0, sramWriteBytes = 0
    /// Elements the vector unit processes (results times taps).
    public var vectorElements = 0
    /// Energy in femtojoules: the total, and its parts spent on DRAM traffic,
    /// SRAM traffic, MACs and vector elements.
    public var energyFemtojoules = 0
    public var dramEnergyFemtojoules = 0, sramEnergyFemtojoules = 0
    public var macEnergyFemtojoules = 0, vectorEnergyFemtojoules = 0
    /// One past the highest SRAM byte any instruction touches.
    public var sramPeakBytes = 0
    public var instructions = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case cycles
        case loadBusyCycles = "load_busy_cycles", matrixBusyCycles = "matrix_busy_cycles"
        case vectorBusyCycles = "vector_busy_cycles", storeBusyCycles = "store_busy_cycles"
        case hostBusyCycles = "host_busy_cycles", dramChannelBusyCycles = "dram_channel_busy_cycles"
        case dramReadBytes = "dram_read_bytes", dramWriteBytes = "dram_write_bytes"
        case dramWeightBytes = "dram_weight_bytes", dramActivationBytes = "dram_activation_bytes"
        case hostReadBytes = "host_read_bytes", hostWriteBytes = "host_write_bytes"
        case dramCompulsoryBytes = "dram_compulsory_bytes"
        case macs
        case sramReadBytes = "sram_read_bytes", sramWriteBytes = "sram_write_bytes"
        case vectorElements = "vector_elements"
        case energyFemtojoules = "energy_fj"
        case dramEnergyFemtojoules = "energy_dram_fj", sramEnergyFemtojoules = "energy_sram_fj"
        case macEnergyFemtojoules = "energy_mac_fj", vectorEnergyFemtojoules = "energy_vector_fj"
        case sramPeakBytes = "sram_peak_bytes"
        case instructions
    }

    /// The energy fields as one value (setting it sets the total too).
    public var energy: EnergyBreakdown {
        get {
            EnergyBreakdown(
                dramFemtojoules: dramEnergyFemtojoules, sramFemtojoules: sramEnergyFemtojoules,
                macFemtojoules: macEnergyFemtojoules, vectorFemtojoules: vectorEnergyFemtojoules)
        }
        set {
            dramEnergyFemtojoules = newValue.dramFemtojoules
            sramEnergyFemtojoules = newValue.sramFemtojoules
            macEnergyFemtojoules = newValue.macFemtojoules
            vectorEnergyFemtojoules = newValue.vectorFemtojoules
            energyFemtojoules = newValue.totalFemtojoules
        }
    }

    public var energyPicojoules: Double { Double(energyFemtojoules) / 1e3 }
    public var energyMicrojoules: Double { Double(energyFemtojoules) / 1e9 }

    public func busyCycles(_ engine: Engine) -> Int {
        switch engine {
        case .load: loadBusyCycles
        case .matrix: matrixBusyCycles
        case .vector: vectorBusyCycles
        case .store: storeBusyCycles
        case .host: hostBusyCycles
        }
    }

    mutating func addBusy(_ engine: Engine, _ cycles: Int) {
        switch engine {
        case .load: loadBusyCycles += cycles
        case .matrix: matrixBusyCycles += cycles
        case .vector: vectorBusyCycles += cycles
        case .store: storeBusyCycles += cycles
        case .host: hostBusyCycles += cycles
        }
    }

    /// Deterministic JSON: snake_case keys, sorted, pretty-printed, trailing newline.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var data = (try? encoder.encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }

    /// A few human-readable lines (what `dfc run` prints on stderr).
    public func summary(clockHz: Int) -> String {
        func pct(_ part: Int, _ whole: Int) -> String {
            whole == 0 ? "0%" : String(format: "%.1f%%", 100 * Double(part) / Double(whole))
        }
        let traffic = dramReadBytes + dramWriteBytes
        var lines = [
            "cycles: \(cycles) (\(String(format: "%.3f", Double(cycles) / Double(clockHz) * 1e3)) ms at \(clockHz / 1_000_000) MHz)",
            "dram: \(traffic) bytes (read \(dramReadBytes), write \(dramWriteBytes); weights \(dramWeightBytes) \(pct(dramWeightBytes, traffic)), activations \(dramActivationBytes) \(pct(dramActivationBytes, traffic))); "
                + "compulsory \(dramCompulsoryBytes)"
                + (dramCompulsoryBytes > 0
                    ? String(format: ", traffic/compulsory %.2f", Double(traffic) / Double(dramCompulsoryBytes)) : ""),
            "macs: \(macs), sram peak: \(sramPeakBytes) bytes, instructions: \(instructions)"
        ]
        lines.append(
            "busy: "
                + Engine.allCases.map { "\($0.name) \(busyCycles($0)) (\(pct(busyCycles($0), cycles)))" }
                .joined(separator: ", ")
                + ", dram channel \(dramChannelBusyCycles) (\(pct(dramChannelBusyCycles, cycles)))")
        let energyShares = [
            ("dram", dramEnergyFemtojoules), ("sram", sramEnergyFemtojoules), ("mac", macEnergyFemtojoules),
            ("vector", vectorEnergyFemtojoules)
        ].map { "\($0) \(pct($1, energyFemtojoules))" }
        lines.append(
            "energy: \(String(format: "%.3f", energyMicrojoules)) µJ (\(energyShares.joined(separator: ", "))); "
                + "sram read \(sramReadBytes), write \(sramWriteBytes) bytes, vector elements \(vectorElements)")
        if hostReadBytes + hostWriteBytes > 0 {
            lines.append("host: read \(hostReadBytes), write \(hostWriteBytes) bytes")
        }
        return lines.joined(separator: "\n")
    }
}
