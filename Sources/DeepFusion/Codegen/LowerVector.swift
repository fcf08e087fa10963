import Accelerator

extension Codegen {
    // MARK: - Pooling

    mutating func lowerPool(_ node: Node) throws -> String {
        let xType = graph.type(of: node.inputs[0])!, yType = graph.type(of: node.outputs[0])!
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let global = node.kind == .globalAveragePool || node.kind == .globalMaxPool
        let two = xType.rank == 4
        let n = xType.shape[0], c = xType.shape[1]
        let h = two ? xType.shape[2] : 1, w = xType.shape.last!
        let ho = two ? yType.shape[2] : 1, wo = yType.shape.last!
        var g = ConvGeometry(n: n, cin: c, h: h, w: w, cout: c, ho: ho, wo: wo, kh: h, kw: w, sh: 1, sw: 1, dh: 1, dw: 1,
                             padTop: 0, padLeft: 0, groups: c)
        var countPads = (top: 0, left: 0, bottom: 0, right: 0)
        if !global {
            let window = try WindowGeometry(node: node, spatial: Array(xType.shape[2...]))
            g.kh = two ? window.kernel[0] : 1
            g.kw = window.kernel.last!
            g.sh = two ? window.strides[0] : 1
            g.sw = window.strides.last!
            g.dh = two ? window.dilations[0] : 1
            g.dw = window.dilations.last!
            g.padTop = two ? window.padsBegin[0] : 0
            g.padLeft = window.padsBegin.last!
            if node.kind == .averagePool && node.int("count_include_pad", default: 0) == 1 {
                countPads = (g.padTop, g.padLeft, two ? window.padsEnd[0] : 0, window.padsEnd.last!)
            }
        }
        // Largest tiles that fit: all channels if possible, then as many rows as possible.
        var choice: (cb: Int, rows: Int, bytes: Int)?
        var blocks = [c]
        var b = 1
        while b < c { blocks.append(b); b *= 2 }
        for cb in blocks {
            for rows in stride(from: ho, through: 1, by: -1) {
                let sram = 2 * 4 * cb * g.inputRows(rows) * g.inputCols + 2 * 4 * cb * rows * wo
                guard sram <= config.sramBytes else { continue }
                let bands = stride(from: 0, to: ho, by: rows).map { ($0, min(rows, ho - $0)) }
                let bytes = 4 * n * c * (bands.reduce(0) { $0 + g.validRows(band: $1.0, rows: $1.1) * g.validCols } + ho * wo)
                if choice == nil || bytes < choice!.bytes { choice = (cb, rows, bytes) }
                break
            }
        }
        guard let (cb, rows, _) = choice else {
            throw DFCError("node '\(node.name)': no tiling of this pool fits \(config.sramBytes) bytes of SRAM")
        }
        let inputSlot = 4 * cb * g.inputRows(rows) * g.inputCols
        let outputSlot = 4 * cb * rows * wo
        var turn = 0
        let kind: PoolKind = node.kind == .maxPool || node.kind == .globalMaxPool ? .max : .avg
        let xShape = [n, c, h, w], yShape = [n, c, ho, wo]
        for batch in 0..<n {
            for c0 in stride(from: 0, to: c, by: cb) {
                let channels = min(cb, c - c0)
                for y0 in stride(from: 0, to: ho, by: rows) {
                    let r = min(rows, ho - y0)
                    let inAddress = (turn % 2) * inputSlot, outAddress = 2 * inputSlot + (turn % 2) * outputSlot
                    turn += 1
                    let top = y0 * g.sh - g.padTop
                    let load = TransferOp(tensorAt: x.address, shape: xShape, origin: [batch, c0, top, -g.padLeft],
                                          counts: [1, channels, g.inputRows(r), g.inputCols], sramAddr: inAddress)
                    emit(.load(load), reads: [x.range], writes: [.sram(inAddress, bytes: 4 * load.elements)], node: node)
                    let input = SRAMTile(addr: inAddress, channels: channels, height: g.inputRows(r), width: g.inputCols)
                    let output = SRAMTile(addr: outAddress, channels: channels, height: r, width: wo)
                    var pool = PoolOp(kind, input: input, output: output, kernel: (g.kh, g.kw), stride: (g.sh, g.sw),
                                      dilation: (g.dh, g.dw), window: PadWindow(originY: top, originX: -g.padLeft, extentH: h, extentW: w),
                                      countPads: countPads)
                    if let activation = node.activation {
                        emit(.pool(pool), reads: [.sram(inAddress, bytes: 4 * input.elements)], writes: [.sram(outAddress, bytes: 4 * output.elements)], node: node)
                        emit(.act(ActOp(input: output, output: output, activation: activation.fused)),
                             reads: [.sram(outAddress, bytes: 4 * output.elements)], writes: [.sram(outAddress, bytes: 4 * output.elements)], node: node)
                    } else {
                        pool.output = output
                        emit(.pool(pool), reads: [.sram(inAddress, bytes: 4 * input.elements)], writes: [.sram(outAddress, bytes: 4 * output.elements)], node: node)
                    }
                    let store = TransferOp(tensorAt: y.address, shape: yShape, origin: [batch, c0, y0, 0],
                                           counts: [1, channels, r, wo], sramAddr: outAddress)
                    emit(.store(store), reads: [.sram(outAddress, bytes: 4 * output.elements)], writes: [y.range], node: node)
                }
            }
        }
        return "rows \(rows), channel block \(cb)"
    }

    // MARK: - Element-wise

    /// How an operand of an element-wise node lines up with its output.
    enum Operand {
        /// Same shape as the output.
        case full(DRAMPlan.Location)
        /// One value per channel (axis 1), `count` channels, at a DRAM address.
        case channel(address: Int, range: MemoryRange)
    }

    /// Classifies a value against output shape `shape`; nil if neither full
    /// nor per-channel (nor a scalar constant, expanded per channel).
    func operand(_ value: String, shape: [Int], node: Node) -> Operand? {
        let type = graph.type(of: value)!
        if let address = constantAddress["\(node.name)#\(value)#full"] {
            return .full(DRAMPlan.Location(address: address, shape: shape, dtype: .float32))
        }
        if type.shape == shape || (type.count == shape.reduce(1, *) && ShapeMath.broadcast(type.shape, shape) == shape) {
            return .full(location(value))
        }
        if let address = constantAddress["\(node.name)#\(value)#channel"] {
            let channels = shape.count >= 2 ? shape[1] : 1
            return .channel(address: address, range: .dram(address, bytes: 4 * channels))
        }
        guard shape.count >= 2, ShapeMath.broadcast(type.shape, shape) == shape else { return nil }
        let aligned = Array(repeating: 1, count: shape.count - type.rank) + type.shape
        let perChannel = aligned.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
        guard perChannel, aligned[1] == shape[1] else { return nil }
        let l = location(value)
        return .channel(address: l.address, range: l.range)
    }

    /// Whether an element-wise node's operands are all full or per-channel.
    static func elementwiseOperandsLowerable(_ node: Node, graph: Graph) -> Bool {
        guard let shape = graph.type(of: node.outputs[0])?.shape else { return false }
        for value in node.inputs.prefix(node.kind == .batchNormalization ? 1 : node.inputs.count) where !value.isEmpty {
            let type = graph.type(of: value)!
            if type.count == shape.reduce(1, *) { continue }
            if type.count == 1 && graph.initializers[value] != nil { continue }
            guard shape.count >= 2, ShapeMath.broadcast(type.shape, shape) == shape else { return false }
            let aligned = Array(repeating: 1, count: shape.count - type.rank) + type.shape
            guard aligned.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return false }
        }
        return true
    }

    mutating func lowerElementwise(_ node: Node) throws -> String {
        let yType = graph.type(of: node.outputs[0])!
        let y = location(node.outputs[0])
        let shape = yType.shape
        let total = yType.count
        let channels = shape.count >= 2 ? shape[1] : 1
        let n = shape.count >= 2 ? shape[0] : 1
        let inner = shape.count >= 2 ? shape[2...].reduce(1, *) : total
        // The output viewed as [n][channels][1][inner].
        let view = [n, channels, 1, inner]

        // The steps, applied in order to the tile of the first operand.
        enum Step {
            case binary(EltwiseKind, Operand)
            case activation(FusedActivation)
            case preluSlope(Operand)
        }
        var first: Operand
        var steps: [Step] = []
        let inputs = node.inputs.filter { !$0.isEmpty }
        func requireOperand(_ v: String) throws -> Operand {
            guard let o = operand(v, shape: shape, node: node) else {
                throw DFCError("node '\(node.name)': operand '\(v)' broadcasts in a way the accelerator does not support")
            }
            return o
        }
        switch node.kind {
        case .batchNormalization:
            first = try requireOperand(inputs[0])
            let scale = constantAddress["\(node.name)#scale"]!, shift = constantAddress["\(node.name)#shift"]!
            steps = [.binary(.mul, .channel(address: scale, range: .dram(scale, bytes: 4 * channels))),
                     .binary(.add, .channel(address: shift, range: .dram(shift, bytes: 4 * channels)))]
        case .add, .sub, .mul, .div, .sum:
            var a = try requireOperand(inputs[0]), b = try requireOperand(inputs[1])
            let kind: EltwiseKind = node.kind == .sub ? .sub : node.kind == .mul || node.kind == .div ? .mul : .add
            if case .channel = a, case .full = b, kind != .sub { swap(&a, &b) }
            guard case .full = a else { throw DFCError("node '\(node.name)': the accelerator needs a full-size first operand") }
            first = a
            steps = [.binary(kind, b)]
            for extra in inputs.dropFirst(2) { steps.append(.binary(.add, try requireOperand(extra))) }
        case .pRelu:
            first = try requireOperand(inputs[0])
            steps = [.preluSlope(try requireOperand(inputs[1]))]
        default:
            guard let activation = Activation.of(node, graph: graph) else { throw DFCError("node '\(node.name)': not element-wise") }
            first = try requireOperand(inputs[0])
            steps = [.activation(activation.fused)]
        }
        if let activation = node.activation { steps.append(.activation(activation.fused)) }
        guard case .full(let a) = first else { throw DFCError("node '\(node.name)': the first operand must be full-size") }

        // Tiles: [channels block][1][inner chunk]; slots for a, b (full operands), a temporary, and channel vectors.
        let fullOperands = steps.filter { if case .binary(_, .full) = $0 { return true }; if case .preluSlope(.full) = $0 { return true }; return false }.count
        let needsTemp = steps.contains { if case .preluSlope = $0 { return true }; return false }
        let tileSlots = 2 * (1 + (fullOperands > 0 ? 1 : 0) + (needsTemp ? 1 : 0))
        let vectorBytes = 4 * channels * steps.count
        let budget = (config.sramBytes - vectorBytes) / tileSlots / 4
        guard budget >= 1 else { throw DFCError("node '\(node.name)': SRAM too small for an element-wise tile") }
        var cb = channels, chunk = inner
        if cb * chunk > budget {
            if chunk <= budget { cb = max(1, budget / chunk) } else { cb = 1; chunk = budget }
        }
        let slot = 4 * cb * chunk
        let vectorBase = tileSlots * slot
        var turn = 0

        for batch in 0..<n {
            for c0 in stride(from: 0, to: channels, by: cb) {
                let cc = min(cb, channels - c0)
                // Per-channel vectors for this channel block.
                var vectors: [Int: Int] = [:]
                for (i, step) in steps.enumerated() {
                    let o: Operand
                    switch step {
                    case .binary(_, let x), .preluSlope(let x): o = x
                    case .activation: continue
                    }
                    guard case .channel(let address, let range) = o else { continue }
                    let sram = vectorBase + 4 * channels * i
                    let load = TransferOp(tensorAt: address, shape: [channels], origin: [c0], counts: [cc], sramAddr: sram)
                    emit(.load(load), reads: [range], writes: [.sram(sram, bytes: 4 * cc)], node: node)
                    vectors[i] = sram
                }
                for s0 in stride(from: 0, to: inner, by: chunk) {
                    let sc = min(chunk, inner - s0)
                    let base = (turn % 2) * (tileSlots / 2) * slot
                    turn += 1
                    let aAddress = base, bAddress = base + slot, tAddress = base + 2 * slot
                    let tile = SRAMTile(addr: aAddress, channels: cc, height: 1, width: sc)
                    let bytes = 4 * cc * sc
                    let range = MemoryRange.sram(aAddress, bytes: bytes)
                    let load = TransferOp(tensorAt: a.address, shape: view, origin: [batch, c0, 0, s0], counts: [1, cc, 1, sc], sramAddr: aAddress)
                    emit(.load(load), reads: [a.range], writes: [range], node: node)
                    for (i, step) in steps.enumerated() {
                        func operandTile(_ o: Operand) -> (SRAMTile, BroadcastKind, MemoryRange) {
                            switch o {
                            case .full(let l):
                                let t = TransferOp(tensorAt: l.address, shape: view, origin: [batch, c0, 0, s0], counts: [1, cc, 1, sc], sramAddr: bAddress)
                                emit(.load(t), reads: [l.range], writes: [.sram(bAddress, bytes: bytes)], node: node)
                                return (SRAMTile(addr: bAddress, channels: cc, height: 1, width: sc), .none, .sram(bAddress, bytes: bytes))
                            case .channel:
                                let address = vectors[i]!
                                return (SRAMTile(addr: address, channels: cc, height: 1, width: 1), .channel, .sram(address, bytes: 4 * cc))
                            }
                        }
                        switch step {
                        case .binary(let kind, let o):
                            let (b, broadcast, bRange) = operandTile(o)
                            emit(.eltwise(EltwiseOp(kind, a: tile, b: b, output: tile, broadcast: broadcast)),
                                 reads: [range, bRange], writes: [range], node: node)
                        case .activation(let activation):
                            emit(.act(ActOp(input: tile, output: tile, activation: activation)), reads: [range], writes: [range], node: node)
                        case .preluSlope(let o):
                            // prelu(x) = relu(x) + slope * (x - relu(x))
                            let temp = SRAMTile(addr: tAddress, channels: cc, height: 1, width: sc)
                            let tRange = MemoryRange.sram(tAddress, bytes: bytes)
                            emit(.act(ActOp(input: tile, output: temp, activation: .relu)), reads: [range], writes: [tRange], node: node)
                            emit(.eltwise(EltwiseOp(.sub, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range], node: node)
                            let (b, broadcast, bRange) = operandTile(o)
                            emit(.eltwise(EltwiseOp(.mul, a: tile, b: b, output: tile, broadcast: broadcast)), reads: [range, bRange], writes: [range], node: node)
                            emit(.eltwise(EltwiseOp(.add, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range], node: node)
                        }
                    }
                    let store = TransferOp(tensorAt: y.address, shape: view, origin: [batch, c0, 0, s0], counts: [1, cc, 1, sc], sramAddr: aAddress)
                    emit(.store(store), reads: [range], writes: [y.range], node: node)
                }
            }
        }
        return "channel block \(cb), chunk \(chunk)"
    }
}
