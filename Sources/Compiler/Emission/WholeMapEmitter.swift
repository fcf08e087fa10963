import Accelerator
import GraphIR
import Tensors

/// The state of one whole-map group's emission: its plan, where its
/// constants went, and whose turn each double-buffered slot pair is.
private struct WholeMapState {
    let plan: WholeMapPlan
    let nodes: [Node]
    let resident: ResidentConstants
    var inputTurn = 0, tailInputTurn = 0, weightTurn = 0, outputTurn = 0, scratchTurn = 0
    /// Each convolution's reach and geometry, found once for all its blocks (absent: found when
    /// used, which reports the error).
    var reaches: [String: Reach] = [:]
    var geometries: [String: ConvGeometry] = [:]
    /// Each convolution's weights and map shapes, found once for all its tiles (every tile would
    /// otherwise look them up by name in the graph and the layout).
    var convs: [String: ConvFacts] = [:]

    struct ConvFacts {
        /// The weights' DRAM address, element count and dimensions ([outputs, inputs per group, taps]).
        var weightAddress: Int
        var weightCount: Int
        var weightDims: (outputs: Int, inputs: Int, taps: Int)
        var inputShape: [Int]
        var outputShape: [Int]
    }

    /// What every tile of one convolution reads, looked up once for all the tiles of a layer or a tail block:
    /// its facts (nil: found from the graph where needed), reach, resident weights and bias, weight tile.
    struct ConvUse {
        var facts: ConvFacts?
        var reach: Reach
        var weights: (address: Int, count: Int)?
        var bias: (address: Int, count: Int)?
        var tile: (outputs: Int, inputs: Int)
    }

    /// The `ConvUse` of convolution `node` (its reach found from the graph when not known, which may throw).
    func use(_ node: Node, graph: Graph) throws -> ConvUse {
        ConvUse(
            facts: convs[node.name], reach: try reaches[node.name] ?? graph.reach(node),
            weights: resident[node.inputs[1]], bias: node.input(2).map { resident[$0]! },
            tile: plan.weightTile(node))
    }

    func wholeRange(_ value: String) -> MemoryRange {
        let b = plan.buffers[value]!
        return .sram(b.address, bytes: b.slotBytes)
    }
    /// Channels `channels` of a held value; the tile starts at tensor row 0, column 0.
    func interior(_ value: String, _ channels: Range<Int>) -> SRAMTile { Self.interior(plan.buffers[value]!, channels) }
    static func interior(_ b: SRAMBuffer, _ channels: Range<Int>) -> SRAMTile {
        let channelStride = b.rows * b.rowWidth
        return SRAMTile(
            addr: b.address + 4 * (channels.lowerBound * channelStride - b.top * b.rowWidth + b.marginLeft),
            channels: channels.count, height: b.height, width: b.width, channelStride: channelStride,
            rowStride: b.rowWidth)
    }
    func held(_ value: String, _ channels: Range<Int>) -> TileRef { Self.held(plan.buffers[value]!, channels) }
    static func held(_ b: SRAMBuffer, _ channels: Range<Int>) -> TileRef {
        (interior(b, channels), .sram(b.address, bytes: b.slotBytes))
    }
    static func next(_ base: Int, _ size: Int, _ turn: inout Int) -> Int {
        defer { turn += 1 }
        return base + (turn % 2) * size
    }
}

private func blocks(_ count: Int, _ size: Int) -> [Range<Int>] {
    stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
}

extension Emitter {
    /// Emits a whole-map plan: resident constants, the held inputs, the
    /// layers before the tail on whole maps, then the tail one block of
    /// output channels at a time, each block stored when done.
    mutating func emitWholeMap(_ plan: WholeMapPlan) throws {
        let nodes = plan.nodes.map { graph.nodes[$0] }
        let resident = loadGroupConstants(nodes) { plan.residentWeights.contains($0.name) }
        let cursor = resident.values.map { $0.address + DRAMPlan.align(4 * $0.count) }.max() ?? 0
        guard cursor <= plan.constantsEnd else {
            throw DFCError("internal error: whole-map group constants overflow their region")
        }
        var state = WholeMapState(plan: plan, nodes: nodes, resident: resident)
        for (index, node) in zip(plan.nodes, nodes) where node.kind == .conv {
            state.reaches[node.name] = try? reach(index)
            state.geometries[node.name] = try? convGeometry(index)
            if let w = graph.initializers[node.inputs[1]], w.shape.count >= 2, w.shape[0] * w.shape[1] > 0,
                let x = valueType(node.inputs[0]), let y = valueType(node.outputs[0])
            {
                state.convs[node.name] = WholeMapState.ConvFacts(
                    weightAddress: location(node.inputs[1]).address, weightCount: w.count,
                    weightDims: (w.shape[0], w.shape[1], w.count / (w.shape[0] * w.shape[1])), inputShape: x.shape,
                    outputShape: y.shape)
            }
        }
        // Held inputs and the held leading channels of a streamed input: one load each, borders zero-filled.
        let heldLoads =
            plan.heldInputs.map { ($0, plan.buffers[$0]!) } + (plan.partial.map { [($0.input, $0.buffer)] } ?? [])
        for (input, b) in heldLoads {
            let t = paddedLoad(
                input, channels: 0..<b.channels, rows: b.top..<(b.top + b.rows),
                columns: -b.marginLeft..<(b.rowWidth - b.marginLeft), at: b.address,
                strides: [0, b.rows * b.rowWidth, b.rowWidth, 1])
            sequencer.emit(
                .load(t), reads: [location(input).range], writes: [.sram(b.address, bytes: b.slotBytes)],
                nodes: [Self.firstReader(of: input, in: nodes)])
        }
        for (index, node) in zip(plan.mapNodes, nodes) where plan.tailStart.map({ index < $0 }) ?? true {
            try emitWholeMapLayer(node, state: &state)
        }
        let output = location(plan.output)
        guard let tailStart = plan.tailStart else {
            // The output, held whole, stored at the end.
            let b = plan.buffers[plan.output]!
            let whole = state.interior(plan.output, 0..<b.channels)
            var t = TransferOp(
                tensorAt: output.address, shape: output.shape, origin: [0, 0, 0, 0],
                counts: [1, b.channels, b.height, b.width], sramAddr: whole.addr)
            t.sramStrides = [0, b.rows * b.rowWidth, b.rowWidth, 1]
            if plan.pooled?.storesMap ?? true {
                sequencer.emit(
                    .store(t), reads: [state.wholeRange(plan.output)], writes: [output.range],
                    nodes: [Self.producer(of: plan.output, in: nodes)])
            }
            if plan.pooled != nil {
                emitBlockMean(whole, reads: state.wholeRange(plan.output), channels: 0..<b.channels, plan: plan)
                emitPooledStore(plan)
            }
            return
        }
        let y = valueType(graph.nodes[tailStart].outputs[0])!
        for outputs in blocks(y.shape[1], plan.block) {
            try emitTailBlock(outputs, tailStart: tailStart, state: &state)
        }
        if plan.pooled != nil { emitPooledStore(plan) }
    }

    /// A pooling tail's average of one block of the output's channels (a
    /// whole-map tile), into its place in the result vector.
    private mutating func emitBlockMean(
        _ tile: SRAMTile, reads: MemoryRange, channels: Range<Int>, plan: WholeMapPlan
    ) {
        let result = plan.pooled!.result + 4 * channels.lowerBound
        sequencer.emit(
            .pool(
                PoolOp(
                    .avg, input: tile, output: SRAMTile(addr: result, channels: channels.count, height: 1, width: 1),
                    kernel: (tile.height, tile.width))), reads: [reads],
            writes: [.sram(result, bytes: 4 * channels.count)], nodes: [plan.pooled!.node])
    }

    /// A pooling tail's result, stored as the GlobalAveragePool's output.
    private mutating func emitPooledStore(_ plan: WholeMapPlan) {
        storePooledResult(of: graph.nodes[plan.nodes.upperBound - 1], from: plan.pooled!.result)
    }

    /// A layer before the tail, on whole maps.
    private mutating func emitWholeMapLayer(_ node: Node, state: inout WholeMapState) throws {
        let plan = state.plan
        let v = node.outputs[0], y = valueType(v)!
        switch node.kind {
        case .conv where plan.streamedInputs.contains(node.inputs[0]):
            // Each block of input channels is loaded once and meets every block of output channels.
            let u = node.inputs[0], parts = blocks(valueType(u)!.shape[1], plan.inBlock)
            let use = try state.use(node, graph: graph)
            let held = plan.buffers[v]
            for (k, inputs) in parts.enumerated() {
                let input = streamInput(u, inputs, padded: true, for: node, state: &state)
                for outputs in blocks(y.shape[1], use.tile.outputs) {
                    let weights = weightTile(node, use, outputs: outputs, inputs: inputs, state: &state)
                    try convolve(
                        node, use, input: input, output: WholeMapState.held(held!, outputs), weights: weights,
                        outputs: outputs, accumulate: k > 0, last: k == parts.count - 1)
                }
            }
        case .conv:
            let tile = plan.weightTile(node).outputs
            for outputs in state.resident[node.inputs[1]] != nil ? [0..<y.shape[1]] : blocks(y.shape[1], tile) {
                try convolveHeld(node, outputs: outputs, into: state.held(v, outputs), state: &state)
            }
        default:
            let (held, graph) = (state, graph)
            try emitGroupElementwise(
                node, channels: 0..<y.shape[1], output: held.held(v, 0..<y.shape[1]), resident: state.resident
            ) {
                held.held($0, 0..<graph.type(of: $0)!.shape[1])
            }
        }
    }

    /// One block of output channels of the tail, in place in an output slot, then stored.
    private mutating func emitTailBlock(_ outputs: Range<Int>, tailStart: Int, state: inout WholeMapState) throws {
        let plan = state.plan
        let head = graph.nodes[tailStart]
        // Through a depthwise convolution or a pool the block's map has that layer's size.
        let y = valueType(graph.nodes[tailStart + (plan.scratchLayout == nil ? 0 : 1)].outputs[0])!
        let slot: TileRef
        if let held = plan.heldOutput {
            // Straight into the held map, in the band layout its reader expects (rows outermost).
            let channels = valueType(plan.output)!.shape[1]
            slot = (
                SRAMTile(
                    addr: held + 4 * outputs.lowerBound * y.shape[3], channels: outputs.count, height: y.shape[2],
                    width: y.shape[3], channelStride: y.shape[3], rowStride: channels * y.shape[3]),
                MemoryRange.sram(held, bytes: 4 * channels * y.shape[2] * y.shape[3])
            )
        } else {
            let address = WholeMapState.next(plan.outputBase, plan.outputSlot, &state.outputTurn)
            slot = (
                SRAMTile(addr: address, channels: outputs.count, height: y.shape[2], width: y.shape[3]),
                MemoryRange.sram(address, bytes: 4 * outputs.count * y.shape[2] * y.shape[3])
            )
        }
        var first = tailStart
        if head.kind == .conv, var scratch = plan.scratchLayout {
            // The last convolution's block into a scratch slot, padded for the depthwise window, then the depthwise one.
            scratch.address = WholeMapState.next(plan.scratchBase, plan.scratchSlot, &state.scratchTurn)
            scratch.channels = outputs.count
            let padded = (
                WholeMapState.interior(scratch, 0..<outputs.count),
                MemoryRange.sram(scratch.address, bytes: scratch.slotBytes)
            )
            try convolveHeld(head, outputs: outputs, into: padded, state: &state)
            let windowed = graph.nodes[tailStart + 1]
            if windowed.kind == .conv {
                let w = state.resident[windowed.inputs[1]]!
                let taps = w.count / valueType(windowed.outputs[0])!.shape[1]
                let weights = MemoryRange.sram(
                    w.address + 4 * outputs.lowerBound * taps, bytes: 4 * outputs.count * taps)
                try convolve(
                    windowed, state.use(windowed, graph: graph), input: padded, output: slot, weights: weights,
                    outputs: outputs, accumulate: false, last: true, groups: outputs.count)
            } else {
                try pool(windowed, input: padded, output: slot)
            }
            first += 2
        } else if head.kind == .conv {
            try convolveHeld(head, outputs: outputs, into: slot, state: &state)
            first += 1
        }
        for index in first..<plan.mapNodes.upperBound {
            let node = graph.nodes[index], previous = graph.nodes[index - 1].outputs[0]
            // Operand tiles in the order the layer reads them (a streamed one is loaded per read).
            var operands: [String: [TileRef]] = [:]
            for value in node.inputs where !value.isEmpty && graph.initializers[value] == nil {
                if value == previous && index > tailStart {
                    operands[value, default: []].append(slot)
                } else if plan.buffers[value] != nil {
                    operands[value, default: []].append(state.held(value, outputs))
                } else {
                    operands[value, default: []].append(
                        streamInput(value, outputs, padded: false, for: node, state: &state))
                }
            }
            try emitGroupElementwise(node, channels: outputs, output: slot, resident: state.resident) {
                operands[$0]!.removeFirst()
            }
        }
        if (plan.pooled?.storesMap ?? true) && plan.heldOutput == nil {
            let output = location(plan.output)
            let t = TransferOp(
                tensorAt: output.address, shape: output.shape, origin: [0, outputs.lowerBound, 0, 0],
                counts: [1, outputs.count, y.shape[2], y.shape[3]], sramAddr: slot.0.addr)
            sequencer.emit(
                .store(t), reads: [slot.1], writes: [output.range],
                nodes: [Self.producer(of: plan.output, in: state.nodes)])
        }
        if plan.pooled != nil { emitBlockMean(slot.0, reads: slot.1, channels: outputs, plan: plan) }
    }

    /// The weights of `node` for these output and input channels: a
    /// resident range, or a tile loaded into the next weight slot.
    private mutating func weightTile(
        _ node: Node, _ use: WholeMapState.ConvUse, outputs: Range<Int>, inputs: Range<Int>,
        state: inout WholeMapState
    ) -> MemoryRange {
        let facts =
            use.facts
            ?? {
                let w = graph.initializers[node.inputs[1]]!
                return WholeMapState.ConvFacts(
                    weightAddress: location(node.inputs[1]).address, weightCount: w.count,
                    weightDims: (w.shape[0], w.shape[1], w.count / (w.shape[0] * w.shape[1])), inputShape: [],
                    outputShape: [])
            }()
        let (cout, cin, khw) = facts.weightDims
        if let r = use.weights {
            return .sram(r.address + 4 * outputs.lowerBound * cin * khw, bytes: 4 * outputs.count * cin * khw)
        }
        let address = WholeMapState.next(state.plan.weightBase, state.plan.weightSlot, &state.weightTurn)
        let t = TransferOp(
            tensorAt: facts.weightAddress, shape: [1, cout, cin, khw],
            origin: [0, outputs.lowerBound, inputs.lowerBound, 0],
            counts: [1, outputs.count, inputs.count, khw], sramAddr: address)
        sequencer.emit(
            .load(t), reads: [.dram(facts.weightAddress, bytes: 4 * facts.weightCount)],
            writes: [.sram(address, bytes: 4 * t.elements)], nodes: [node.name])
        return .sram(address, bytes: 4 * t.elements)
    }

    /// Channels `channels` of a streamed input, whole map, from its held
    /// leading channels or loaded into the next input slot: with the rows
    /// and margins convolutions read (`padded`) or dense.
    /// The load is tagged with `reader`, the layer it is for.
    private mutating func streamInput(
        _ input: String, _ channels: Range<Int>, padded: Bool, for reader: Node, state: inout WholeMapState
    ) -> TileRef {
        let plan = state.plan
        let shape = valueType(input)!.shape
        if let (held, b) = plan.partial, held == input, channels.upperBound <= b.channels {
            var tile = WholeMapState.interior(b, channels)
            (tile.height, tile.width) = (shape[2], shape[3])
            return (tile, .sram(b.address, bytes: b.slotBytes))
        }
        let address =
            padded
            ? WholeMapState.next(plan.inputBase, plan.inputSlot, &state.inputTurn)
            : WholeMapState.next(plan.tailInputBase, plan.tailInputSlot, &state.tailInputTurn)
        let b = plan.streamedLayout[input]!
        let top = padded ? b.top : 0, rows = padded ? b.rows : shape[2]
        let left = padded ? b.marginLeft : 0, rowWidth = padded ? b.rowWidth : shape[3]
        let channelBytes = 4 * rows * rowWidth
        // A convolution's block straddling the held count: its held channels are copied from the held
        // buffer (the same rows and margins), the rest loaded after them.
        var held = 0
        if padded, let (name, h) = plan.partial, name == input, channels.lowerBound < h.channels {
            held = h.channels - channels.lowerBound
            let copy = CopyOp(
                counts: [1, 1, 1, held * channelBytes / 4], srcAddr: h.address + channels.lowerBound * channelBytes,
                srcStrides: [0, 0, 0, 1], dstAddr: address, dstStrides: [0, 0, 0, 1])
            sequencer.emit(
                .copy(copy), reads: [.sram(h.address, bytes: h.slotBytes)],
                writes: [.sram(address, bytes: held * channelBytes)], nodes: [reader.name])
        }
        let t = paddedLoad(
            input, channels: (channels.lowerBound + held)..<channels.upperBound, rows: top..<(top + rows),
            columns: -left..<(rowWidth - left), at: address + held * channelBytes,
            strides: [0, rows * rowWidth, rowWidth, 1])
        sequencer.emit(
            .load(t), reads: [location(input).range],
            writes: [.sram(address + held * channelBytes, bytes: 4 * t.elements)], nodes: [reader.name])
        let tile = SRAMTile(
            addr: address + 4 * (-top * rowWidth + left), channels: channels.count, height: shape[2], width: shape[3],
            channelStride: rows * rowWidth, rowStride: rowWidth)
        return (tile, .sram(address, bytes: channels.count * channelBytes))
    }

    /// `input` (starting at tensor row 0, column 0) narrowed to the rows and columns `node` reads
    /// for its whole output, and where those sit in the padded input.
    /// `shapes`: the input's and output's shapes when known (a convolution's `ConvFacts`), else looked up.
    private func narrowed(_ input: SRAMTile, to r: Reach, of node: Node, shapes: ([Int], [Int])? = nil)
        -> (SRAMTile, PadWindow)
    {
        let (x, y) = shapes ?? (valueType(node.inputs[0])!.shape, valueType(node.outputs[0])!.shape)
        let rows = r.rows(0..<y[2])
        var tile = input
        tile.addr += 4 * (rows.lowerBound * tile.rowStride - r.padLeft)
        tile.height = rows.count
        tile.width = r.cols(outputWidth: y[3])
        return (tile, PadWindow(originY: rows.lowerBound, originX: -r.padLeft, extentH: x[2], extentW: x[3]))
    }

    /// One CONV instruction: `input` starts at tensor row 0, column 0 of the input channels it covers.
    private mutating func convolve(
        _ node: Node, _ use: WholeMapState.ConvUse, input: TileRef, output: TileRef, weights: MemoryRange,
        outputs: Range<Int>, accumulate: Bool, last: Bool, groups: Int = 1
    ) throws {
        let r = use.reach
        let (tile, window) = narrowed(
            input.0, to: r, of: node, shapes: use.facts.map { ($0.inputShape, $0.outputShape) })
        let bias = accumulate ? nil : use.bias
        let op = ConvOp(
            input: tile, output: output.0, weightAddr: weights.start,
            biasAddr: bias.map { $0.address + 4 * outputs.lowerBound },
            kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw), groups: groups,
            window: window,
            accumulate: accumulate, activation: last ? node.activation?.fused ?? .none : .none)
        var reads = [input.1, weights]
        if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
        if accumulate { reads.append(output.1) }
        sequencer.emit(.conv(op), reads: reads, writes: [output.1], nodes: [node.name])
    }

    /// A MaxPool or AveragePool of one block: `input` starts at tensor row 0, column 0 of its channels.
    private mutating func pool(_ node: Node, input: TileRef, output: TileRef) throws {
        let r = try graph.reach(node)
        let (tile, window) = narrowed(input.0, to: r, of: node)
        let w = try WindowGeometry(node: node, spatial: Array(valueType(node.inputs[0])!.shape[2...]))
        let countPads =
            node.kind == .averagePool && node.int("count_include_pad", default: 0) == 1
            ? (w.padsBegin[0], w.padsBegin[1], w.padsEnd[0], w.padsEnd[1]) : (0, 0, 0, 0)
        let op = PoolOp(
            node.kind == .maxPool ? .max : .avg, input: tile, output: output.0, kernel: (r.kh, r.kw),
            stride: (r.sh, r.sw), dilation: (r.dh, r.dw),
            window: window,
            countPads: countPads)
        sequencer.emit(.pool(op), reads: [input.1], writes: [output.1], nodes: [node.name])
    }

    /// A convolution reading a held value, into `output` (output channels
    /// `outputs`), over input-channel blocks unless its weights are resident.
    private mutating func convolveHeld(
        _ node: Node, outputs: Range<Int>, into output: TileRef, state: inout WholeMapState
    ) throws {
        let use = try state.use(node, graph: graph)
        let u = node.inputs[0], cin = use.facts?.inputShape[1] ?? valueType(u)!.shape[1]
        let g = try state.geometries[node.name] ?? graph.convGeometry(node)
        let held = state.plan.buffers[u]
        if g.groups > 1 {
            // A grouped tail: the block's groups, over their input channels, in one CONV.
            let first = outputs.lowerBound / g.coutPerGroup, count = outputs.count / g.coutPerGroup
            let inputs = (first * g.cinPerGroup)..<((first + count) * g.cinPerGroup)
            let weights = weightTile(node, use, outputs: outputs, inputs: 0..<g.cinPerGroup, state: &state)
            try convolve(
                node, use, input: WholeMapState.held(held!, inputs), output: output, weights: weights,
                outputs: outputs, accumulate: false, last: true, groups: count)
            return
        }
        let parts =
            use.weights != nil ? [0..<cin] : blocks(cin, use.tile.inputs)
        for (k, inputs) in parts.enumerated() {
            let weights = weightTile(node, use, outputs: outputs, inputs: inputs, state: &state)
            try convolve(
                node, use, input: WholeMapState.held(held!, inputs), output: output, weights: weights,
                outputs: outputs, accumulate: k > 0, last: k == parts.count - 1)
        }
    }
}
