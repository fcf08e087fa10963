import Accelerator

// Placeholder until the energy model lands in the Accelerator target.
extension ExecutionStats {
    var energyFemtojoules: Int { 0 }
}

extension AcceleratorConfig {
    struct EnergyPlaceholder {
        func femtojoules(dramBytes: Int, sramWriteBytes: Int, macs: Int) -> Int { 0 }
    }
    var energy: EnergyPlaceholder { EnergyPlaceholder() }
}

extension AcceleratorConfig {
    func energyFemtojoules(_ cost: InstructionCost) -> Int { 0 }
}
