import Accelerator
import GraphIR
import Tensors

extension Emitter {
    /// ConvTranspose weights [C][M/g][kh][kw] as convolution weights
    /// [M][C/g][kh][kw], flipped in both spatial axes.
    static func transposedConvWeights(_ w: Tensor, groups: Int) -> Tensor {
        let c = w.shape[0], mg = w.shape[1], kh = w.shape.count > 3 ? w.shape[2] : 1, kw = w.shape.last!
        let cg = c / groups, khw = kh * kw
        let source = w.floats
        var out = [Float](repeating: 0, count: source.count)
        for group in 0..<groups {
            for m in 0..<mg {
                for ci in 0..<cg {
                    for k in 0..<khw {
                        let from = (((group * cg + ci) * mg + m) * khw) + k
                        let to = (((group * mg + m) * cg + ci) * khw) + (khw - 1 - k)
                        out[to] = source[from]
                    }
                }
            }
        }
        return Tensor(shape: [mg * groups, cg] + Array(w.shape[2...]), floats: out)
    }

    /// Conv and ConvTranspose layer by layer, in the loop order and blocks
    /// `ConvTiling` chooses (ConvTranspose as a stride-1 convolution of its
    /// zero-inserted input with flipped weights).
    /// `chosen`: the tiling `chooseConvTiling` found for this node, when already known.
    mutating func lowerConv(_ node: Node, chosen: ConvTiling? = nil) throws -> ConvTiling {
        let (g, insertion): (ConvGeometry, ZeroInsertion?) =
            node.kind == .convTranspose
            ? try graph.convTransposeGeometry(node)
            : (try graph.convGeometry(node), nil)
        let tiling = try chosen ?? chooseConvTiling(node, geometry: g, insertion: insertion)
        emitConv(node, geometry: g, insertion: insertion, tiling: tiling)
        return tiling
    }

    /// The tiling `lowerConv` emits a convolution with: the best estimate
    /// under traffic, else the fastest of the front runners under the timing
    /// model. Reads only the graph, config, objective and layout, so the
    /// choices of several layers can be made at once (see `chooseConvTilings`).
    func chooseConvTiling(_ node: Node) throws -> ConvTiling {
        let (g, insertion): (ConvGeometry, ZeroInsertion?) =
            node.kind == .convTranspose
            ? try graph.convTransposeGeometry(node)
            : (try graph.convGeometry(node), nil)
        return try chooseConvTiling(node, geometry: g, insertion: insertion)
    }

    private func chooseConvTiling(_ node: Node, geometry g: ConvGeometry, insertion: ZeroInsertion?) throws
        -> ConvTiling
    {
        let ranked = ConvTiling.ranked(g, hasBias: node.input(2) != nil, config: config, objective: objective)
        guard var tiling = ranked.first else {
            let needed = config.smallestSRAM {
                !ConvTiling.ranked(g, hasBias: node.input(2) != nil, config: $0).isEmpty
            }
            throw AcceleratorConfig.doesNotFit(
                node.name, "convolution", sramBytes: config.sramBytes, needed: needed,
                why: " (one output row is too large)")
        }
        if objective != .traffic {
            // The estimates do not see how well a tiling's loads overlap its compute:
            // the front runners are timed by the timing model, the best one kept.
            var best: PlanCost?
            for candidate in ranked.prefix(Self.simulatedTilings) {
                var scratch = Emitter(graph: graph, config: config, objective: objective, layout: layout)
                scratch.sequencer = Sequencer(timing: config)
                scratch.emitConv(node, geometry: g, insertion: insertion, tiling: candidate)
                let cost = PlanCost(scratch.sequencer.stats!)
                if best == nil || objective.prefers(cost, over: best!) { (best, tiling) = (cost, candidate) }
            }
        }
        return tiling
    }

    /// How many of a convolution's best-estimated tilings the timing model decides between (objectives but traffic).
    static let simulatedTilings = 6

    /// A `ResidualConvPlan`: the convolution as on its own, each output tile through the Add before it is stored.
    mutating func emitResidualConv(_ plan: ResidualConvPlan) throws {
        let node = graph.nodes[plan.nodes.lowerBound], add = graph.nodes[plan.nodes.lowerBound + 1]
        let g = try graph.convGeometry(node)
        var conv = ConvLowering(node: node, geometry: g, insertion: nil, tiling: plan.tiling, emitter: self)
        conv.residual = ConvLowering.Residual(
            add: add, other: location(plan.residual), output: location(add.outputs[0]),
            base: conv.foldBase + 2 * conv.foldSlot)
        conv.emit(&self)
    }

    private mutating func emitConv(
        _ node: Node, geometry g: ConvGeometry, insertion: ZeroInsertion?, tiling: ConvTiling
    ) {
        var conv = ConvLowering(node: node, geometry: g, insertion: insertion, tiling: tiling, emitter: self)
        conv.emit(&self)
    }
}

/// One convolution being lowered layer by layer: where its tensors are, its
/// SRAM layout (two input slots, the weight region, the bias, one or two
/// output slots) and which double-buffer slot each stream takes next. Its methods
/// emit through the `Emitter` they are given.
struct ConvLowering {
    let node: Node
    let g: ConvGeometry
    let insertion: ZeroInsertion?
    let tiling: ConvTiling
    let x: DRAMPlan.Location, y: DRAMPlan.Location, weights: DRAMPlan.Location, bias: DRAMPlan.Location?
    let khw: Int
    /// Input channels per output channel in the weight tensor.
    let weightCin: Int
    let inputSlot: Int, weightBlock: Int, outputSlot: Int
    let weightBase: Int, biasBase: Int, outputBase: Int
    /// Folded taps: the two slots of the rebuilt input band (after the output slots).
    let foldBase: Int, foldSlot: Int
    let activation: FusedActivation
    var inputTurn = 0, weightTurn = 0, outputTurn = 0, foldTurn = 0, residualTurn = 0
    /// The Add each output tile goes through before it is stored (see `ResidualConvPlan`).
    var residual: Residual?

    struct Residual {
        let add: Node
        /// The Add's other operand and its output, both of the convolution's output shape.
        let other: DRAMPlan.Location, output: DRAMPlan.Location
        /// The two slots the other operand's tiles are loaded into (after the folded taps').
        let base: Int
    }

    init(node: Node, geometry g: ConvGeometry, insertion: ZeroInsertion?, tiling: ConvTiling, emitter: Emitter) {
        (self.node, self.g, self.insertion, self.tiling) = (node, g, insertion, tiling)
        x = emitter.location(node.inputs[0])
        y = emitter.location(node.outputs[0])
        weights =
            node.kind == .convTranspose ? emitter.location("\(node.name)#weights") : emitter.location(node.inputs[1])
        bias = node.input(2).map { emitter.location($0) }
        khw = g.kh * g.kw
        weightCin = g.depthwise ? 1 : (g.groups == 1 ? g.cin : g.cinPerGroup)
        let maxIn = tiling.units.flatMap(\.inputs).map(\.count).max()!
        inputSlot = 4 * maxIn * g.inputRows(tiling.rows) * g.inputCols
        weightBlock = 4 * tiling.coutBlock * (g.depthwise ? 1 : min(tiling.cinBlock, weightCin)) * khw
        let weightRegion = tiling.weightsResident ? 4 * tiling.coutBlock * weightCin * khw : 2 * weightBlock
        outputSlot = 4 * tiling.coutBlock * tiling.rows * g.wo
        weightBase = 2 * inputSlot
        biasBase = weightBase + weightRegion
        outputBase = biasBase + (bias != nil ? 4 * tiling.coutBlock : 0)
        foldBase = outputBase + tiling.outputSlots * outputSlot
        foldSlot = tiling.foldTaps ? 4 * g.cin * khw * tiling.rows * g.wo : 0
        activation = node.activation?.fused ?? .none
    }

    var bands: [(Int, Int)] { stride(from: 0, to: g.ho, by: tiling.rows).map { ($0, min(tiling.rows, g.ho - $0)) } }

    // MARK: Loop orders

    mutating func emit(_ e: inout Emitter) {
        switch tiling.order {
        case .weightsOuter: emitWeightsOuter(&e)
        case .inputOuter: emitInputOuter(&e)
        }
    }

    /// Each unit's weights loaded once (or streamed per input block), the
    /// input re-read per unit.
    mutating func emitWeightsOuter(_ e: inout Emitter) {
        for unit in tiling.units {
            let offsets = residentOffsets(unit)
            if tiling.weightsResident { loadResidentWeights(unit, &e) } else { loadBias(unit, &e) }
            for n in 0..<g.n {
                for (y0, rows) in bands {
                    let out = outputTile(unit, rows: rows)
                    for (block, channels) in unit.inputs.enumerated() {
                        let input = foldTaps(loadInput(n, channels, band: y0, rows: rows, &e), rows: rows, &e)
                        let weights = tiling.weightsResident ? offsets[block] : streamedWeights(unit, block, &e)
                        convolve(unit, block: block, input: input, weights: weights, output: out, &e)
                    }
                    store(n, unit, band: y0, tile: out, &e)
                }
            }
        }
    }

    /// Each band of input loaded once, all units run over it.
    mutating func emitInputOuter(_ e: inout Emitter) {
        let resident = tiling.weightsResident
        if resident { loadResidentWeights(tiling.units[0], &e) }
        for n in 0..<g.n {
            for (y0, rows) in bands {
                let input = foldTaps(loadInput(n, 0..<g.cin, band: y0, rows: rows, &e), rows: rows, &e)
                for unit in tiling.units {
                    if !resident { loadBias(unit, &e) }
                    let weights = resident ? weightBase : streamedWeights(unit, 0, &e)
                    let out = outputTile(unit, rows: rows)
                    convolve(unit, block: 0, input: input, weights: weights, output: out, &e)
                    store(n, unit, band: y0, tile: out, &e)
                }
            }
        }
    }

    // MARK: Weights and bias

    func loadWeights(_ unit: ConvTiling.Unit, _ block: Int, at address: Int, _ e: inout Emitter) {
        let inputs = unit.weightInputs[block]
        let t = TransferOp(
            tensorAt: weights.address, shape: [1, g.cout, weightCin, khw],
            origin: [0, unit.outputs.lowerBound, inputs.lowerBound, 0],
            counts: [1, unit.outputs.count, inputs.count, khw], sramAddr: address)
        e.emit(.load(t), reads: [weights.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
    }

    func loadBias(_ unit: ConvTiling.Unit, _ e: inout Emitter) {
        guard let bias else { return }
        let t = TransferOp(
            tensorAt: bias.address, shape: [g.cout], origin: [unit.outputs.lowerBound],
            counts: [unit.outputs.count], sramAddr: biasBase)
        e.emit(.load(t), reads: [bias.range], writes: [.sram(biasBase, bytes: 4 * t.elements)], node: node)
    }

    /// Weight addresses of a unit's input blocks when resident.
    func residentOffsets(_ unit: ConvTiling.Unit) -> [Int] {
        var offsets: [Int] = [], offset = weightBase
        for block in unit.weightInputs.indices {
            offsets.append(offset)
            offset += 4 * unit.outputs.count * unit.weightInputs[block].count * khw
        }
        return offsets
    }

    func loadResidentWeights(_ unit: ConvTiling.Unit, _ e: inout Emitter) {
        for (block, address) in residentOffsets(unit).enumerated() { loadWeights(unit, block, at: address, &e) }
        loadBias(unit, &e)
    }

    /// Loads one input block's weights into the next of the two streaming slots.
    mutating func streamedWeights(_ unit: ConvTiling.Unit, _ block: Int, _ e: inout Emitter) -> Int {
        let address = weightBase + (weightTurn % 2) * weightBlock
        weightTurn += 1
        loadWeights(unit, block, at: address, &e)
        return address
    }

    // MARK: Input, compute, output

    /// The input rows output band `y0` reads, into the next input slot.
    mutating func loadInput(_ n: Int, _ channels: Range<Int>, band y0: Int, rows: Int, _ e: inout Emitter) -> SRAMTile {
        let address = (inputTurn % 2) * inputSlot
        inputTurn += 1
        let height = g.inputRows(rows)
        let tile = SRAMTile(addr: address, channels: channels.count, height: height, width: g.inputCols)
        guard let insertion else {
            let top = y0 * g.sh - g.padTop
            let t = e.paddedLoad(
                node.inputs[0], batch: n, channels: channels, rows: top..<(top + height),
                columns: -g.padLeft..<(g.inputCols - g.padLeft), at: address)
            e.emit(.load(t), reads: [x.range], writes: [.sram(address, bytes: 4 * tile.elements)], node: node)
            return tile
        }
        loadZeroInserted(insertion, n, channels, band: y0, tile: tile, &e)
        return tile
    }

    /// ConvTranspose's input tile: zeroed by a LOAD wholly outside the
    /// tensor, then the real rows and columns that land in it scattered in
    /// by a LOAD with strided SRAM placement.
    func loadZeroInserted(
        _ z: ZeroInsertion, _ n: Int, _ channels: Range<Int>, band y0: Int, tile: SRAMTile, _ e: inout Emitter
    ) {
        let address = tile.addr, height = tile.height
        let tileRange = MemoryRange.sram(address, bytes: 4 * tile.elements)
        let zero = TransferOp(
            tensorAt: x.address, shape: [g.n, g.cin, g.h, g.w], origin: [n, channels.lowerBound, -height, 0],
            counts: [1, channels.count, height, g.inputCols], sramAddr: address)
        e.emit(.load(zero), reads: [], writes: [tileRange], node: node)
        let row0 = max(0, ZeroInsertion.ceilDivide(y0 - z.offsetTop, z.strideH))
        let row1 = min(z.height, ZeroInsertion.floorDivide(y0 + height - 1 - z.offsetTop, z.strideH) + 1)
        let col0 = max(0, ZeroInsertion.ceilDivide(-z.offsetLeft, z.strideW))
        let col1 = min(z.width, ZeroInsertion.floorDivide(g.inputCols - 1 - z.offsetLeft, z.strideW) + 1)
        guard row1 > row0, col1 > col0 else { return }
        let tileRow = row0 * z.strideH + z.offsetTop - y0, tileCol = col0 * z.strideW + z.offsetLeft
        var t = TransferOp(
            tensorAt: x.address, shape: [g.n, g.cin, z.height, z.width], origin: [n, channels.lowerBound, row0, col0],
            counts: [1, channels.count, row1 - row0, col1 - col0],
            sramAddr: address + 4 * (tileRow * g.inputCols + tileCol))
        t.sramStrides = [0, height * g.inputCols, z.strideH * g.inputCols, z.strideW]
        e.emit(.load(t), reads: [x.range], writes: [tileRange], node: node)
    }

    /// With folded taps, the band rebuilt as `cin * kh * kw` channels of
    /// `rows` x `wo` (channel c * kh * kw + ky * kw + kx holds tap (ky, kx)
    /// of channel c, the weights' own order), one COPY per tap; otherwise `input`.
    mutating func foldTaps(_ input: SRAMTile, rows: Int, _ e: inout Emitter) -> SRAMTile {
        guard tiling.foldTaps else { return input }
        let address = foldBase + (foldTurn % 2) * foldSlot
        foldTurn += 1
        let folded = SRAMTile(addr: address, channels: input.channels * khw, height: rows, width: g.wo)
        let source = MemoryRange.sram(input.addr, bytes: 4 * input.elements)
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                let tap = ky * g.kw + kx
                let op = CopyOp(
                    counts: [1, input.channels, rows, g.wo],
                    srcAddr: input.addr + 4 * (ky * g.dh * input.width + kx * g.dw),
                    srcStrides: [0, input.height * input.width, g.sh * input.width, g.sw],
                    dstAddr: address + 4 * tap * rows * g.wo, dstStrides: [0, khw * rows * g.wo, g.wo, 1])
                e.emit(
                    .copy(op), reads: [source], writes: [.sram(address, bytes: 4 * folded.elements)], node: node)
            }
        }
        return folded
    }

    /// One CONV over an input block, accumulating after the first; the bias
    /// enters with the first block and the activation with the last.
    func convolve(
        _ unit: ConvTiling.Unit, block: Int, input: SRAMTile, weights: Int, output: SRAMTile, _ e: inout Emitter
    ) {
        let hasBias = bias != nil
        let last = block == unit.inputs.count - 1
        let op = ConvOp(
            input: input, output: output, weightAddr: weights, biasAddr: block == 0 && hasBias ? biasBase : nil,
            kernel: tiling.foldTaps ? (1, 1) : (g.kh, g.kw), stride: tiling.foldTaps ? (1, 1) : (g.sh, g.sw),
            dilation: tiling.foldTaps ? (1, 1) : (g.dh, g.dw), groups: unit.convGroups,
            accumulate: block > 0, activation: last ? activation : .none)
        let weightBytes = 4 * unit.outputs.count * unit.weightInputs[block].count * khw
        var reads: [MemoryRange] = [.sram(input.addr, bytes: 4 * input.elements), .sram(weights, bytes: weightBytes)]
        if hasBias && block == 0 { reads.append(.sram(biasBase, bytes: 4 * unit.outputs.count)) }
        if block > 0 { reads.append(.sram(output.addr, bytes: 4 * output.elements)) }
        e.emit(.conv(op), reads: reads, writes: [.sram(output.addr, bytes: 4 * output.elements)], node: node)
    }

    mutating func outputTile(_ unit: ConvTiling.Unit, rows: Int) -> SRAMTile {
        let address = outputBase + (outputTurn % tiling.outputSlots) * outputSlot
        outputTurn += 1
        return SRAMTile(addr: address, channels: unit.outputs.count, height: rows, width: g.wo)
    }

    /// Stores an output tile; with a residual Add, the Add's output: the matching tile of its other
    /// operand loaded and added in place first.
    mutating func store(_ n: Int, _ unit: ConvTiling.Unit, band y0: Int, tile: SRAMTile, _ e: inout Emitter) {
        let origin = [n, unit.outputs.lowerBound, y0, 0], counts = [1, unit.outputs.count, tile.height, g.wo]
        let range = MemoryRange.sram(tile.addr, bytes: 4 * tile.elements)
        var target = y, owner = node
        if let residual {
            let address = residual.base + (residualTurn % 2) * outputSlot
            residualTurn += 1
            let other = SRAMTile(addr: address, channels: tile.channels, height: tile.height, width: tile.width)
            let otherRange = MemoryRange.sram(address, bytes: 4 * other.elements)
            let load = TransferOp(
                tensorAt: residual.other.address, shape: [g.n, g.cout, g.ho, g.wo], origin: origin, counts: counts,
                sramAddr: address)
            e.emit(.load(load), reads: [residual.other.range], writes: [otherRange], node: residual.add)
            let sum = EltwiseOp(
                .add, a: tile, b: other, output: tile, activation: residual.add.activation?.fused ?? .none)
            e.emit(.eltwise(sum), reads: [range, otherRange], writes: [range], node: residual.add)
            (target, owner) = (residual.output, residual.add)
        }
        let t = TransferOp(
            tensorAt: target.address, shape: [g.n, g.cout, g.ho, g.wo], origin: origin, counts: counts,
            sramAddr: tile.addr)
        e.emit(.store(t), reads: [range], writes: [target.range], node: owner)
    }
}
