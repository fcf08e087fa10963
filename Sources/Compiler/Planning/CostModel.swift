import Accelerator
import GraphIR

/// The planners' quick estimates. Every term is one of the timing model's
/// instruction formulas (`AcceleratorConfig.matrixCycles`, `vectorCycles`,
/// `transferCycles`, in Accelerator/Timing.swift), so a plan is priced by the
/// same arithmetic that times its instructions; what an estimate adds is only
/// how it assumes the engines overlap. The fusion planner then schedules the
/// finalists' real instructions (`PlanningContext.simulatedCycles`).
enum CostModel {
    /// Busy cycles of the compute engines, summed over a plan's work.
    struct Work {
        var matrix = 0
        var vector = 0

        /// One convolution on `outputRows` output rows: depthwise on the
        /// vector unit, otherwise the matrix unit over the whole layer's channels.
        mutating func add(conv g: ConvGeometry, outputRows: Int, config: AcceleratorConfig) {
            let positions = outputRows * g.wo * g.kh * g.kw
            if g.depthwise {
                vector += config.vectorCycles(elements: g.cout * positions)
            } else {
                matrix += config.matrixCycles(
                    inputChannels: g.cinPerGroup, outputChannels: g.coutPerGroup,
                    groups: g.groups, positions: positions)
            }
        }

        /// The busiest engine when loads and stores overlap compute: the DRAM
        /// channel carries `dramBytes` with a `1/setupShare` of each of the
        /// `transfers` setups exposed (the rest hides behind other transfers).
        func overlapped(dramBytes: Int, transfers: Int, setupShare: Int, config: AcceleratorConfig) -> Int {
            let channel = dramBytes / config.dramBytesPerCycle + transfers * config.dmaSetupCycles / setupShare
            return max(matrix, vector, channel)
        }
    }

    /// One transfer of `bytes` in whole bursts, setup included.
    static func transfer(_ bytes: Int, config: AcceleratorConfig) -> Int {
        config.transferCycles(burstBytes: bytes)
    }
}
