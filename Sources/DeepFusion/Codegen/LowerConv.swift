import Accelerator

extension Codegen {
    /// The 4-d geometry of a Conv node (rank-3 inputs become height 1).
    func convGeometry(_ node: Node) throws -> ConvGeometry {
        let x = graph.type(of: node.inputs[0])!, wt = graph.type(of: node.inputs[1])!, y = graph.type(of: node.outputs[0])!
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: node, spatial: spatial, kernel: Array(wt.shape[2...]))
        let two = spatial.count == 2
        return ConvGeometry(
            n: x.shape[0], cin: x.shape[1], h: two ? x.shape[2] : 1, w: x.shape.last!,
            cout: y.shape[1], ho: two ? y.shape[2] : 1, wo: y.shape.last!,
            kh: two ? window.kernel[0] : 1, kw: window.kernel.last!,
            sh: two ? window.strides[0] : 1, sw: window.strides.last!,
            dh: two ? window.dilations[0] : 1, dw: window.dilations.last!,
            padTop: two ? window.padsBegin[0] : 0, padLeft: window.padsBegin.last!,
            groups: node.int("group", default: 1))
    }

    mutating func lowerConv(_ node: Node) throws -> ConvTiling {
        let g = try convGeometry(node)
        let hasBias = node.input(2) != nil
        guard let tiling = ConvTiling.best(g, hasBias: hasBias, config: config) else {
            throw DFCError("node '\(node.name)': no tiling of this convolution fits \(config.sramBytes) bytes of SRAM (one output row is too large)")
        }
        let x = location(node.inputs[0]), wt = location(node.inputs[1]), y = location(node.outputs[0])
        let bias = node.input(2).map { location($0) }
        let khw = g.kh * g.kw
        let weightCin = g.depthwise ? 1 : (g.groups == 1 ? g.cin : g.cinPerGroup)

        // SRAM: two input slots, the weight region, bias, two output slots.
        let maxIn = tiling.units.flatMap(\.inputs).map(\.count).max()!
        let inputSlot = 4 * maxIn * g.inputRows(tiling.rows) * g.inputCols
        let weightBlock = 4 * tiling.coutBlock * (g.depthwise ? 1 : min(tiling.cinBlock, weightCin)) * khw
        let weightRegion = tiling.weightsResident ? 4 * tiling.coutBlock * weightCin * khw : 2 * weightBlock
        let outputSlot = 4 * tiling.coutBlock * tiling.rows * g.wo
        let inputBase = 0
        let weightBase = 2 * inputSlot
        let biasBase = weightBase + weightRegion
        let outputBase = biasBase + (hasBias ? 4 * tiling.coutBlock : 0)
        var inputTurn = 0, weightTurn = 0, outputTurn = 0

        let activation = node.activation?.fused ?? .none
        let xShape = [g.n, g.cin, g.h, g.w], yShape = [g.n, g.cout, g.ho, g.wo]
        let wShape = [1, g.cout, weightCin, khw]
        let bands = stride(from: 0, to: g.ho, by: tiling.rows).map { ($0, min(tiling.rows, g.ho - $0)) }

        func loadWeights(_ unit: ConvTiling.Unit, _ block: Int, at address: Int) {
            let inputs = unit.weightInputs[block]
            let t = TransferOp(tensorAt: wt.address, shape: wShape, origin: [0, unit.outputs.lowerBound, inputs.lowerBound, 0],
                               counts: [1, unit.outputs.count, inputs.count, khw], sramAddr: address)
            emit(.load(t), reads: [wt.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
        }
        func loadBias(_ unit: ConvTiling.Unit) {
            guard let bias else { return }
            let t = TransferOp(tensorAt: bias.address, shape: [g.cout], origin: [unit.outputs.lowerBound],
                               counts: [unit.outputs.count], sramAddr: biasBase)
            emit(.load(t), reads: [bias.range], writes: [.sram(biasBase, bytes: 4 * t.elements)], node: node)
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
        func loadResidentWeights(_ unit: ConvTiling.Unit) {
            for (block, address) in residentOffsets(unit).enumerated() { loadWeights(unit, block, at: address) }
            loadBias(unit)
        }
        func loadInput(_ n: Int, _ channels: Range<Int>, band y0: Int, rows: Int) -> SRAMTile {
            let address = inputBase + (inputTurn % 2) * inputSlot
            inputTurn += 1
            let height = g.inputRows(rows)
            let t = TransferOp(tensorAt: x.address, shape: xShape, origin: [n, channels.lowerBound, y0 * g.sh - g.padTop, -g.padLeft],
                               counts: [1, channels.count, height, g.inputCols], sramAddr: address)
            emit(.load(t), reads: [x.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
            return SRAMTile(addr: address, channels: channels.count, height: height, width: g.inputCols)
        }
        func convolve(_ unit: ConvTiling.Unit, block: Int, input: SRAMTile, weights: Int, output: SRAMTile) {
            let last = block == unit.inputs.count - 1
            let op = ConvOp(input: input, output: output, weightAddr: weights, biasAddr: block == 0 && hasBias ? biasBase : nil,
                            kernel: (g.kh, g.kw), stride: (g.sh, g.sw), dilation: (g.dh, g.dw), groups: unit.convGroups,
                            accumulate: block > 0, activation: last ? activation : .none)
            let weightBytes = 4 * unit.outputs.count * unit.weightInputs[block].count * khw
            var reads: [MemoryRange] = [.sram(input.addr, bytes: 4 * input.elements), .sram(weights, bytes: weightBytes)]
            if hasBias && block == 0 { reads.append(.sram(biasBase, bytes: 4 * unit.outputs.count)) }
            if block > 0 { reads.append(.sram(output.addr, bytes: 4 * output.elements)) }
            emit(.conv(op), reads: reads, writes: [.sram(output.addr, bytes: 4 * output.elements)], node: node)
        }
        func outputTile(_ unit: ConvTiling.Unit, rows: Int) -> SRAMTile {
            let address = outputBase + (outputTurn % 2) * outputSlot
            outputTurn += 1
            return SRAMTile(addr: address, channels: unit.outputs.count, height: rows, width: g.wo)
        }
        func store(_ n: Int, _ unit: ConvTiling.Unit, band y0: Int, tile: SRAMTile) {
            let t = TransferOp(tensorAt: y.address, shape: yShape, origin: [n, unit.outputs.lowerBound, y0, 0],
                               counts: [1, unit.outputs.count, tile.height, g.wo], sramAddr: tile.addr)
            emit(.store(t), reads: [.sram(tile.addr, bytes: 4 * tile.elements)], writes: [y.range], node: node)
        }
        func streamedWeights(_ unit: ConvTiling.Unit, _ block: Int) -> Int {
            let address = weightBase + (weightTurn % 2) * weightBlock
            weightTurn += 1
            loadWeights(unit, block, at: address)
            return address
        }

        switch tiling.order {
        case .weightsOuter:
            for unit in tiling.units {
                let offsets = residentOffsets(unit)
                if tiling.weightsResident { loadResidentWeights(unit) } else { loadBias(unit) }
                for n in 0..<g.n {
                    for (y0, rows) in bands {
                        let out = outputTile(unit, rows: rows)
                        for (block, channels) in unit.inputs.enumerated() {
                            let input = loadInput(n, channels, band: y0, rows: rows)
                            let weights = tiling.weightsResident ? offsets[block] : streamedWeights(unit, block)
                            convolve(unit, block: block, input: input, weights: weights, output: out)
                        }
                        store(n, unit, band: y0, tile: out)
                    }
                }
            }
        case .inputOuter:
            let resident = tiling.weightsResident
            if resident { loadResidentWeights(tiling.units[0]) }
            for n in 0..<g.n {
                for (y0, rows) in bands {
                    let input = loadInput(n, 0..<g.cin, band: y0, rows: rows)
                    for unit in tiling.units {
                        if !resident { loadBias(unit) }
                        let weights = resident ? weightBase : streamedWeights(unit, 0)
                        let out = outputTile(unit, rows: rows)
                        convolve(unit, block: 0, input: input, weights: weights, output: out)
                        store(n, unit, band: y0, tile: out)
                    }
                }
            }
        }
        return tiling
    }
}
