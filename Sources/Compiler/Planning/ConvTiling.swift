import Accelerator
import GraphIR

/// How one convolution layer is tiled: bands of output rows, blocks of
/// output channels (each block a unit of work with its weights), blocks of
/// input channels accumulated into the same output tile, and the loop order.
struct ConvTiling: CustomStringConvertible {
    enum Order {
        /// For each output-channel block, stream the input bands (weights stay put).
        case weightsOuter
        /// For each input band, run every output-channel block (input stays put).
        case inputOuter
    }

    /// One block of output channels with the input-channel blocks it sums.
    struct Unit {
        var outputs: Range<Int>
        var inputs: [Range<Int>]
        /// CONV's groups field for this unit (channels, when depthwise).
        var convGroups: Int
        /// Weight channel range along the weight's second axis, per input block.
        var weightInputs: [Range<Int>]
    }

    var rows: Int
    var coutBlock: Int
    var cinBlock: Int
    var order: Order
    /// Whether each unit's weights (all its input blocks) are loaded once.
    var weightsResident: Bool
    var depthwise: Bool
    /// Kernel taps folded into channels: each input band is rebuilt in SRAM
    /// (COPY, vector unit) as `cin * kh * kw` channels of the output's size,
    /// which a 1×1 convolution reads, so a layer with few input channels
    /// fills the matrix unit's input lanes (im2col).
    var foldTaps = false
    /// Output tiles in SRAM at once: two let a tile be stored while the next
    /// is computed; one (tried only where two do not fit) makes each CONV
    /// wait for the previous tile's STORE, which costs little where a tile
    /// takes far longer to compute than to store (a large layer whose whole
    /// output block is one tile, so its input is read fewer times).
    var outputSlots = 2
    var units: [Unit]
    var sramBytes: Int
    var dramBytes: Int
    var estimatedCycles: Int
    /// The estimate with the pipeline's fill and drain: one step of the less
    /// busy side is exposed (a second opinion for ranking, see `ranked`).
    var pipelinedCycles = 0

    var description: String {
        let orderText = order == .weightsOuter ? "weights-outer" : "input-outer"
        let folded = foldTaps ? ", taps folded into channels" : ""
        let single = outputSlots == 1 ? ", single-buffered output" : ""
        return
            "rows \(rows), cout block \(coutBlock), cin block \(cinBlock)\(folded), \(orderText), weights \(weightsResident ? "resident" : "streamed")\(single), SRAM \(sramBytes) B"
    }

    /// Whether folding taps into channels pays: the input channels fill fewer matrix passes that way.
    static func folds(_ g: ConvGeometry, config: AcceleratorConfig) -> Bool {
        let khw = g.kh * g.kw
        return g.groups == 1 && khw > 1
            && ceilDiv(g.cin * khw, config.matrixInputLanes) < khw * ceilDiv(g.cin, config.matrixInputLanes)
    }

    static func units(_ g: ConvGeometry, coutBlock: Int, cinBlock: Int) -> [Unit] {
        func split(_ range: Range<Int>, _ size: Int) -> [Range<Int>] {
            stride(from: range.lowerBound, to: range.upperBound, by: size).map { $0..<min($0 + size, range.upperBound) }
        }
        if g.groups == 1 {
            let ins = split(0..<g.cin, cinBlock)
            return split(0..<g.cout, coutBlock).map { Unit(outputs: $0, inputs: ins, convGroups: 1, weightInputs: ins) }
        }
        if g.depthwise {
            return split(0..<g.cout, coutBlock).map {
                Unit(outputs: $0, inputs: [$0], convGroups: $0.count, weightInputs: [0..<1])
            }
        }
        var result: [Unit] = []
        for group in 0..<g.groups {
            let ins = group * g.cinPerGroup..<(group + 1) * g.cinPerGroup
            for outputs in split(group * g.coutPerGroup..<(group + 1) * g.coutPerGroup, coutBlock) {
                result.append(Unit(outputs: outputs, inputs: [ins], convGroups: 1, weightInputs: [0..<g.cinPerGroup]))
            }
        }
        return result
    }

    /// The best tiling under `objective` that fits `config`'s SRAM, or nil
    /// when nothing fits. Traffic: the least DRAM traffic, then the fewest
    /// estimated cycles; latency: the reverse; energy and EDP: the estimated
    /// energy (DRAM bytes and MACs) and its product with the cycles.
    static func best(
        _ g: ConvGeometry, hasBias: Bool, config: AcceleratorConfig, objective: Objective = .traffic
    ) -> ConvTiling? {
        ranked(g, hasBias: hasBias, config: config, objective: objective).first
    }

    /// Every tiling that fits, best first under `objective` by the quick estimates.
    /// `residual`: each output tile gets a tile of another map of the output's shape added before it is
    /// stored (see `ResidualConvPlan`): two more slots of an output tile, and that map read once.
    static func ranked(
        _ g: ConvGeometry, hasBias: Bool, config: AcceleratorConfig, objective: Objective = .traffic,
        residual: Bool = false
    ) -> [ConvTiling] {
        // Channel blocks are whole multiples of the array width (partial only at
        // the tail); narrower ones waste lanes and are tried only when nothing else
        // fits, or under traffic, whose figure they can lower (ResNet-50 and VGG-16
        // move 3-4% fewer bytes with them, at up to twice the cycles).
        let full =
            objective == .traffic
            ? [] : tilings(g, hasBias: hasBias, config: config, narrow: false, residual: residual)
        let candidates =
            full.isEmpty ? tilings(g, hasBias: hasBias, config: config, narrow: true, residual: residual) : full
        guard let fewestBytes = candidates.map(\.dramBytes).min() else { return [] }
        return rank(candidates, fewestBytes: fewestBytes, g: g, config: config, objective: objective)
    }

    /// Every tiling that fits; `narrow`: channel blocks of 8 and 16 lanes too, besides whole lane multiples.
    static func tilings(
        _ g: ConvGeometry, hasBias: Bool, config: AcceleratorConfig, narrow: Bool, residual: Bool = false
    ) -> [ConvTiling] {
        let lanes = config.matrixOutputLanes
        func blockSizes(_ total: Int) -> [Int] {
            var sizes = [total]
            var b = lanes
            while b < total { sizes.append(b); b *= 2 }
            if narrow && total > 8 { sizes += [8, 16].filter { $0 < total && $0 < lanes } }
            return sizes
        }
        let coutChoices = outputBlockSizes(g.depthwise ? g.cout : g.coutPerGroup, lanes: lanes, base: blockSizes)
        let cinChoices = g.groups == 1 ? blockSizes(g.cin) : [g.cinPerGroup]
        var rowChoices: Set<Int> = []
        for bands in 1...g.ho { rowChoices.insert((g.ho + bands - 1) / bands) }
        var candidates: [ConvTiling] = []
        let rowsTried = rowChoices.sorted(by: >)
        // Input rows inside the tensor, summed over the bands, per band height.
        var validRows: [Int: Int] = [:]
        for rows in rowsTried {
            validRows[rows] = stride(from: 0, to: g.ho, by: rows).reduce(0) {
                $0 + g.validRows(band: $1, rows: min(rows, g.ho - $1))
            }
        }
        let foldable = folds(g, config: config)
        for cb in coutChoices {
            for kb in cinChoices {
                let units = Self.units(g, coutBlock: cb, cinBlock: kb)
                let work = UnitWork(units, config: config)
                for fold in foldable && kb == g.cin ? [false, true] : [false] {
                    for rows in rowsTried {
                        for order in [Order.weightsOuter, .inputOuter] {
                            if order == .inputOuter && (g.groups != 1 || kb != g.cin) { continue }
                            for resident in [true, false] {
                                // One output slot only where two do not fit: otherwise it is the same traffic, slower.
                                for slots in [2, 1] {
                                    if let candidate = evaluate(
                                        g, units: units, work: work, rows: rows, validRows: validRows[rows]!, cb: cb,
                                        kb: kb, order: order, resident: resident, fold: fold, hasBias: hasBias,
                                        residual: residual, outputSlots: slots, config: config)
                                    {
                                        candidates.append(candidate)
                                        break
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return candidates
    }

    /// Output-channel block sizes to try: `base`'s (the whole, and lane
    /// multiples doubling from one array width), and for each number of
    /// units the least lane multiple that splits `total` into that many, so
    /// that a layer whose output tile nearly fits in SRAM is cut into three
    /// or six units rather than four or eight (each unit reads the input once).
    static func outputBlockSizes(_ total: Int, lanes: Int, base: (Int) -> [Int]) -> [Int] {
        var sizes = base(total)
        var seen = Set(sizes)
        var units = 2
        while units * lanes < total {
            let size = ceilDiv(ceilDiv(total, units), lanes) * lanes
            if size < total, seen.insert(size).inserted { sizes.append(size) }
            units += 1
        }
        return sizes
    }

    /// `candidates` best first under `objective` by the quick estimates.
    static func rank(
        _ candidates: [ConvTiling], fewestBytes: Int, g: ConvGeometry, config: AcceleratorConfig, objective: Objective
    ) -> [ConvTiling] {
        switch objective {
        case .traffic:
            // Least traffic first; among tilings within 2% of it, the fewest cycles
            // (a slightly larger halo is worth filling the matrix unit's lanes).
            let near = candidates.filter { $0.dramBytes * 100 <= fewestBytes * 102 }
            return near.sorted { ($0.estimatedCycles, $0.dramBytes) < ($1.estimatedCycles, $1.dramBytes) }
        case .latency, .energy, .edp:
            // MACs do not depend on the tiling: energy differs by DRAM bytes and, through them, SRAM writes.
            let macs = g.n * g.cout * g.cinPerGroup * g.ho * g.wo * g.kh * g.kw
            let costs = candidates.map {
                PlanCost(
                    bytes: $0.dramBytes, cycles: $0.estimatedCycles,
                    energy: config.energy.femtojoules(
                        dramBytes: $0.dramBytes, sramReadBytes: 0, sramWriteBytes: $0.dramBytes, macs: macs,
                        vectorElements: 0))
            }
            // Half the front runners by the plain estimate, half by the one with fill and drain
            // (large tiles overlap less), so that the timing model sees both kinds.
            // Every candidate is a distinct choice, so the two orders interleave by index.
            let plain = candidates.indices.sorted { objective.prefers(costs[$0], over: costs[$1]) }
            var piped = costs
            for k in piped.indices { piped[k].cycles = candidates[k].pipelinedCycles }
            let second = candidates.indices.sorted { objective.prefers(piped[$0], over: piped[$1]) }
            var taken = [Bool](repeating: false, count: candidates.count)
            var merged: [ConvTiling] = []
            for k in plain.indices {
                for i in [plain[k], second[k]] where !taken[i] {
                    taken[i] = true
                    merged.append(candidates[i])
                }
            }
            return merged
        }
    }

    /// SRAM need, exact DRAM bytes and a cycle estimate of one candidate.
    /// What the cost of a set of units needs, computed once per block choice.
    struct UnitWork {
        /// Widest input block; input channels summed over units and blocks; input blocks; matrix passes per output position.
        var maxIn = 0, inputChannels = 0, inputBlocks = 0, lanePasses = 0
        init(_ units: [Unit], config: AcceleratorConfig) {
            for unit in units {
                for range in unit.inputs {
                    maxIn = max(maxIn, range.count)
                    inputChannels += range.count
                    inputBlocks += 1
                    lanePasses += config.matrixCycles(
                        inputChannels: range.count, outputChannels: unit.outputs.count, positions: 1)
                }
            }
        }
    }

    static func evaluate(
        _ g: ConvGeometry, units: [Unit], work: UnitWork, rows: Int, validRows: Int, cb: Int, kb: Int, order: Order,
        resident: Bool, fold: Bool = false, hasBias: Bool, residual: Bool = false, outputSlots: Int = 2,
        config: AcceleratorConfig
    ) -> ConvTiling? {
        let khw = g.kh * g.kw
        let weightCinPerUnit = g.depthwise ? 1 : (g.groups == 1 ? g.cin : g.cinPerGroup)
        let maxIn = work.maxIn
        let inputTile = 4 * maxIn * g.inputRows(rows) * g.inputCols
        let weightBlock = 4 * cb * (g.depthwise ? 1 : min(kb, weightCinPerUnit)) * khw
        let weightsAll = 4 * cb * weightCinPerUnit * khw
        let weightRegion = resident ? weightsAll : 2 * weightBlock
        let outputTile = 4 * cb * rows * g.wo
        let bias = hasBias ? 4 * cb : 0
        // Folded taps: two slots of the rebuilt band, cin * kh * kw channels of the output's rows and columns.
        let foldedTile = fold ? 4 * g.cin * khw * rows * g.wo : 0
        let sram =
            2 * inputTile + 2 * foldedTile + weightRegion + bias + (outputSlots + (residual ? 2 : 0)) * outputTile
        guard sram <= config.sramBytes else { return nil }
        // Resident weights only matter when there is more than one input block to hold.
        if resident && order == .inputOuter && units.count > 1 { return nil }

        let bandCount = (g.ho + rows - 1) / rows
        // Every unit reads each of its input blocks' valid rows once per band.
        var inputBytes = g.n * 4 * work.inputChannels * validRows * g.validCols
        if order == .inputOuter {
            inputBytes = g.n * 4 * g.cin * validRows * g.validCols
        }
        let weightTotal = 4 * g.cout * weightCinPerUnit * khw
        let biasTotal = hasBias ? 4 * g.cout : 0
        let weightTraffic: Int
        switch (order, resident) {
        case (.weightsOuter, true): weightTraffic = weightTotal
        case (.weightsOuter, false), (.inputOuter, false): weightTraffic = weightTotal * g.n * bandCount
        case (.inputOuter, true): weightTraffic = weightTotal
        }
        let outputBytes = 4 * g.n * g.cout * g.ho * g.wo
        let biasTraffic = order == .inputOuter && !resident ? biasTotal * g.n * bandCount : biasTotal
        let dram = inputBytes + weightTraffic + biasTraffic + (residual ? 2 : 1) * outputBytes
        // Cycles: the busiest of DMA channel and compute, half of each transfer's setup exposed.
        let transfers =
            g.n * bandCount * work.inputBlocks * (resident ? 1 : 2) + (residual ? 2 : 1) * g.n * bandCount * units.count
        var engines = CostModel.Work()
        if g.depthwise {
            engines.vector = config.vectorCycles(elements: g.n * g.cout * g.ho * g.wo * khw)
        } else if fold {
            let positions = g.n * g.ho * g.wo
            engines.matrix = units.reduce(0) {
                $0
                    + config.matrixCycles(
                        inputChannels: g.cin * khw, outputChannels: $1.outputs.count, positions: positions)
            }
            // One COPY per tap rebuilds each band: once per band, or once per unit and band.
            let builds = order == .inputOuter ? 1 : units.count
            engines.vector = builds * bandCount * khw * config.vectorCycles(elements: g.n * g.cin * rows * g.wo)
        } else {
            engines.matrix = work.lanePasses * g.n * g.ho * g.wo * khw
        }
        if residual { engines.vector += config.vectorCycles(elements: g.n * g.cout * g.ho * g.wo) }
        let tiles = g.n * bandCount * units.count
        // One output slot: each tile's STORE, but the last, holds up the next tile's first CONV.
        let waits = outputSlots == 1 ? (tiles - 1) * config.transferCycles(burstBytes: outputTile) : 0
        let cycles =
            engines.overlapped(dramBytes: dram, transfers: transfers, setupShare: 2, config: config) + waits
        let steps = g.n * bandCount * (order == .inputOuter ? 1 : units.count)
        let channel = dram / config.dramBytesPerCycle + transfers * config.dmaSetupCycles / 2
        let exposed = min(max(engines.matrix, engines.vector), channel) / max(1, steps)
        return ConvTiling(
            rows: rows, coutBlock: cb, cinBlock: kb, order: order, weightsResident: resident,
            depthwise: g.depthwise, foldTaps: fold, outputSlots: outputSlots, units: units, sramBytes: sram,
            dramBytes: dram,
            estimatedCycles: cycles, pipelinedCycles: cycles + exposed)
    }
}
