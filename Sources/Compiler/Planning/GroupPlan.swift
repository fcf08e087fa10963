import GraphIR

/// How one fusion group runs: the plan the planner chose and the emitter
/// follows. A plan is a plain value: it can be printed, compared and costed
/// before any instruction exists.
enum GroupPlan {
    /// Band by band of output rows (see `BandPlan`).
    case bands(BandPlan)
    /// One band over the whole map, channels in blocks (see `WholeMapPlan`).
    case wholeMap(WholeMapPlan)
    /// A convolution tiled as on its own, its residual Add applied to each output tile (see `ResidualConvPlan`).
    case residualConv(ResidualConvPlan)

    var nodes: Range<Int> {
        switch self {
        case .bands(let plan): return plan.nodes
        case .wholeMap(let plan): return plan.nodes
        case .residualConv(let plan): return plan.nodes
        }
    }
    /// DRAM bytes the group moves, exactly what its instructions will move.
    var dramBytes: Int {
        switch self {
        case .bands(let plan): return plan.dramBytes
        case .wholeMap(let plan): return plan.dramBytes
        case .residualConv(let plan): return plan.dramBytes
        }
    }
    var sramBytes: Int {
        switch self {
        case .bands(let plan): return plan.sramBytes
        case .wholeMap(let plan): return plan.sramBytes
        case .residualConv(let plan): return plan.sramBytes
        }
    }
    /// The planner's quick estimate until the group is simulated, then the
    /// simulated cycles of the group on its own.
    var estimatedCycles: Int {
        get {
            switch self {
            case .bands(let plan): return plan.estimatedCycles
            case .wholeMap(let plan): return plan.estimatedCycles
            case .residualConv(let plan): return plan.estimatedCycles
            }
        }
        set {
            switch self {
            case .bands(var plan): plan.estimatedCycles = newValue; self = .bands(plan)
            case .wholeMap(var plan): plan.estimatedCycles = newValue; self = .wholeMap(plan)
            case .residualConv(var plan): plan.estimatedCycles = newValue; self = .residualConv(plan)
            }
        }
    }

    /// One line: how the group is tiled and what it holds in SRAM.
    func tileDescription(graph: Graph) -> String {
        switch self {
        case .bands(let plan): return plan.tileDescription
        case .wholeMap(let plan): return plan.tileDescription(graph: graph)
        case .residualConv(let plan): return plan.tileDescription
        }
    }
}

/// A value's buffer in SRAM: `slots` copies of [rows][channels][columns]
/// (band plans keep rows outermost, so the rows a band keeps for the next
/// are one block) or [channels][rows][columns] (whole-map plans), with
/// column margins for the windows that read it.
struct SRAMBuffer {
    /// Byte address of slot 0 (two slots for double-buffered values).
    var address: Int
    var slots: Int
    var channels: Int
    var rows: Int
    var marginLeft: Int
    var width: Int
    var height: Int
    var rowWidth: Int { marginLeft + width + marginRight }
    var marginRight: Int
    /// Another value's buffer this one lives in (Concat parts, in-place element-wise layers) and its channel offset.
    var alias: (value: String, channelOffset: Int)?
    /// Tensor row of the buffer's first row (whole-map plans; negative in padding).
    var top = 0
    var slotBytes: Int { 4 * channels * rows * rowWidth }
    /// Elements between rows in a band buffer.
    var rowStride: Int { channels * rowWidth }
}
