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

    mutating func lowerConv(_ node: Node) throws -> ConvTiling {
        let transposed = node.kind == .convTranspose
        let (g, insertion): (ConvGeometry, ZeroInsertion?) = transposed
            ? try graph.convTransposeGeometry(node)
            : (try graph.convGeometry(node), nil)
        let hasBias = node.input(2) != nil
        guard let tiling = ConvTiling.best(g, hasBias: hasBias, config: config) else {
            throw DFCError("node '\(node.name)': no tiling of this convolution fits \(config.sramBytes) bytes of SRAM (one output row is too large)")
        }
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let wt = transposed ? location("\(node.name)#weights") : location(node.inputs[1])
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
            let tile = SRAMTile(addr: address, channels: channels.count, height: height, width: g.inputCols)
            let tileRange = MemoryRange.sram(address, bytes: 4 * tile.elements)
            guard let z = insertion else {
                let t = TransferOp(tensorAt: x.address, shape: xShape, origin: [n, channels.lowerBound, y0 * g.sh - g.padTop, -g.padLeft],
                                   counts: [1, channels.count, height, g.inputCols], sramAddr: address)
                emit(.load(t), reads: [x.range], writes: [tileRange], node: node)
                return tile
            }
            // Zero the tile: every cell of this box lies outside the tensor.
            let zero = TransferOp(tensorAt: x.address, shape: xShape, origin: [n, channels.lowerBound, -height, 0],
                                  counts: [1, channels.count, height, g.inputCols], sramAddr: address)
            emit(.load(zero), reads: [], writes: [tileRange], node: node)
            // Input rows and columns that land in this tile.
            func first(_ offset: Int, _ stride: Int) -> Int { max(0, (offset + stride - 1) / stride) }
            let row0 = max(0, ZeroInsertion.ceilDivide(y0 - z.offsetTop, z.strideH))
            let row1 = min(z.height, ZeroInsertion.floorDivide(y0 + height - 1 - z.offsetTop, z.strideH) + 1)
            let col0 = max(0, ZeroInsertion.ceilDivide(-z.offsetLeft, z.strideW))
            let col1 = min(z.width, ZeroInsertion.floorDivide(g.inputCols - 1 - z.offsetLeft, z.strideW) + 1)
            guard row1 > row0, col1 > col0 else { return tile }
            let tileRow = row0 * z.strideH + z.offsetTop - y0, tileCol = col0 * z.strideW + z.offsetLeft
            _ = first
            var t = TransferOp(tensorAt: x.address, shape: [g.n, g.cin, z.height, z.width], origin: [n, channels.lowerBound, row0, col0],
                               counts: [1, channels.count, row1 - row0, col1 - col0], sramAddr: address + 4 * (tileRow * g.inputCols + tileCol))
            t.sramStrides = [0, height * g.inputCols, z.strideH * g.inputCols, z.strideW]
            emit(.load(t), reads: [x.range], writes: [tileRange], node: node)
            return tile
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
