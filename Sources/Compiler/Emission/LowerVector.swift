import Accelerator
import GraphIR
import Tensors

extension Emitter {
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

    /// How an operand of an element-wise node lines up with its output,
    /// both viewed as 4-d (shorter shapes padded with leading 1s).
    enum Operand {
        /// As many elements as the output, in the same order.
        case full(DRAMPlan.Location)
        /// One value per index of view axis 1, contiguous, at a DRAM address.
        case channel(address: Int, range: MemoryRange)
        /// Any other NumPy broadcast: read with stride 0 along broadcast axes.
        case broadcast(DRAMPlan.Location, strides: [Int])
    }

    /// The 4-d view element-wise lowering works in: [N, C, middle, last],
    /// axis 1 staying the channel axis whatever the rank (middle spatial
    /// axes merged). Returns nil for an operand whose broadcasting differs
    /// across merged axes.
    static func elementwiseView(_ shape: [Int], output: [Int]) -> (view: [Int], strides: [Int])? {
        let aligned = Array(repeating: 1, count: max(0, output.count - shape.count)) + shape
        guard aligned.count == output.count else { return nil }
        func fold(_ s: [Int]) -> [[Int]] {
            switch s.count {
            case 0: return [[], [], [], []]
            case 1: return [[], [], [], [0]]
            case 2: return [[0], [1], [], []]
            case 3: return [[0], [1], [], [2]]
            default: return [[0], [1], Array(2..<(s.count - 1)), [s.count - 1]]
            }
        }
        let groups = fold(output)
        let own = ShapeMath.strides(aligned)
        var view: [Int] = [], strides: [Int] = []
        for axes in groups {
            let broadcast = axes.map { aligned[$0] == 1 && output[$0] != 1 }
            guard broadcast.allSatisfy({ $0 }) || broadcast.allSatisfy({ !$0 }) else { return nil }
            view.append(axes.reduce(1) { $0 * output[$1] })
            // Merged axes are contiguous in the operand when it is not broadcast along them.
            strides.append(broadcast.first == true || axes.isEmpty ? 0 : own[axes.last!])
        }
        return (view, strides)
    }

    /// Classifies `value` against the output `shape`; nil when it does not broadcast.
    func operand(_ value: String, shape: [Int], node: Node) -> Operand? {
        let type = graph.type(of: value)!
        let view = Self.elementwiseView(shape, output: shape)!.view
        if let address = constantAddress["\(node.name)#\(value)#full"] {
            return .full(DRAMPlan.Location(address: address, shape: shape, dtype: .float32))
        }
        if let address = constantAddress["\(node.name)#\(value)#channel"] {
            return .channel(address: address, range: .dram(address, bytes: 4 * view[1]))
        }
        if type.count == shape.reduce(1, *) { return .full(location(value)) }
        guard ShapeMath.broadcast(type.shape, shape) == shape, let (own, strides) = Self.elementwiseView(type.shape, output: shape) else { return nil }
        _ = own
        let l = location(value)
        if strides[0] == 0 && strides[2] == 0 && strides[3] == 0 && strides[1] != 0 {
            return .channel(address: l.address, range: l.range)
        }
        return .broadcast(l, strides: strides)
    }

    /// Whether every operand of an element-wise node broadcasts to its output.
    static func elementwiseOperandsLowerable(_ node: Node, graph: Graph) -> Bool {
        guard let shape = graph.type(of: node.outputs[0])?.shape else { return false }
        for value in node.inputs.prefix(node.kind == .batchNormalization ? 1 : node.inputs.count) where !value.isEmpty {
            guard let type = graph.type(of: value), ShapeMath.broadcast(type.shape, shape) == shape,
                  type.count == shape.reduce(1, *) || elementwiseView(type.shape, output: shape) != nil else { return false }
        }
        if node.kind == .batchNormalization { return shape.count >= 2 }
        return true
    }

    mutating func lowerElementwise(_ node: Node) throws -> String {
        let shape = graph.type(of: node.outputs[0])!.shape
        let y = location(node.outputs[0])
        let view = Self.elementwiseView(shape, output: shape)!.view

        // The steps, applied in order to the tile of the first operand.
        enum Step {
            case binary(EltwiseKind, Operand)
            case activation(FusedActivation)
            case preluSlope(Operand)
        }
        var steps: [Step] = []
        let inputs = node.inputs.filter { !$0.isEmpty }
        func requireOperand(_ v: String) throws -> Operand {
            guard let o = operand(v, shape: shape, node: node) else {
                throw DFCError("node '\(node.name)': operand '\(v)' does not broadcast to \(shape)")
            }
            return o
        }
        var first: Operand
        switch node.kind {
        case .batchNormalization:
            first = try requireOperand(inputs[0])
            let scale = constantAddress["\(node.name)#scale"]!, shift = constantAddress["\(node.name)#shift"]!
            steps = [.binary(.mul, .channel(address: scale, range: .dram(scale, bytes: 4 * view[1]))),
                     .binary(.add, .channel(address: shift, range: .dram(shift, bytes: 4 * view[1])))]
        case .sum where inputs.count == 1:
            first = try requireOperand(inputs[0])
        case .add, .sub, .mul, .div, .sum:
            var a = try requireOperand(inputs[0]), b = try requireOperand(inputs[1])
            let kind: EltwiseKind = node.kind == .sub ? .sub : node.kind == .mul || node.kind == .div ? .mul : .add
            if case .full = a {} else if case .full = b, kind != .sub { swap(&a, &b) }
            first = a
            steps = [.binary(kind, b)]
            for extra in inputs.dropFirst(2) { steps.append(.binary(.add, try requireOperand(extra))) }
        case .pRelu:
            first = try requireOperand(inputs[0])
            steps = [.preluSlope(try requireOperand(inputs[1]))]
        default:
            guard let activation = Activation(of: node, in: graph) else { throw DFCError("node '\(node.name)': not element-wise") }
            first = try requireOperand(inputs[0])
            steps = [.activation(activation.fused)]
        }
        if let activation = node.activation { steps.append(.activation(activation.fused)) }

        // SRAM: double-buffered tiles of the accumulator, a second operand and
        // a temporary (PRelu), then one per-channel vector per step.
        let needsOperandTile = steps.contains { step in
            switch step {
            case .binary(_, .full), .binary(_, .broadcast), .preluSlope(.full), .preluSlope(.broadcast): return true
            default: return false
            }
        }
        let needsTemp = steps.contains { if case .preluSlope = $0 { return true }; return false }
        let perTurn = 1 + (needsOperandTile ? 1 : 0) + (needsTemp ? 1 : 0)
        let vectorBytes = 4 * view[1] * steps.count
        let budget = (config.sramBytes - vectorBytes) / (2 * perTurn) / 4
        guard budget >= 1 else { throw DFCError("node '\(node.name)': SRAM too small for an element-wise tile") }
        // Tile [1][cb][rb][wb]: whole rows and planes while they fit.
        var wb = view[3], rb = view[2], cb = view[1]
        if wb > budget { (wb, rb, cb) = (budget, 1, 1) }
        else if rb * wb > budget { (rb, cb) = (budget / wb, 1) }
        else if cb * rb * wb > budget { cb = budget / (rb * wb) }
        let slot = 4 * cb * rb * wb
        let vectorBase = 2 * perTurn * slot
        var turn = 0

        func load(_ o: Operand, origin: [Int], counts: [Int], into address: Int) -> MemoryRange {
            var t: TransferOp
            switch o {
            case .full(let l):
                t = TransferOp(tensorAt: l.address, shape: view, origin: origin, counts: counts, sramAddr: address)
                emit(.load(t), reads: [l.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
            case .broadcast(let l, let strides):
                t = TransferOp(tensorAt: l.address, shape: view, origin: origin, counts: counts, sramAddr: address)
                t.dramStrides = strides
                emit(.load(t), reads: [l.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
            case .channel:
                preconditionFailure("per-channel operands load once per channel block")
            }
            return .sram(address, bytes: 4 * t.elements)
        }

        for batch in 0..<view[0] {
            for c0 in stride(from: 0, to: view[1], by: cb) {
                let cc = min(cb, view[1] - c0)
                var vectors: [Int: Int] = [:]
                for (i, step) in steps.enumerated() {
                    guard case .binary(_, .channel(let address, let range)) = step else {
                        if case .preluSlope(.channel(let address, let range)) = step {
                            let sram = vectorBase + 4 * view[1] * i
                            let t = TransferOp(tensorAt: address, shape: [view[1]], origin: [c0], counts: [cc], sramAddr: sram)
                            emit(.load(t), reads: [range], writes: [.sram(sram, bytes: 4 * cc)], node: node)
                            vectors[i] = sram
                        }
                        continue
                    }
                    let sram = vectorBase + 4 * view[1] * i
                    let t = TransferOp(tensorAt: address, shape: [view[1]], origin: [c0], counts: [cc], sramAddr: sram)
                    emit(.load(t), reads: [range], writes: [.sram(sram, bytes: 4 * cc)], node: node)
                    vectors[i] = sram
                }
                for r0 in stride(from: 0, to: view[2], by: rb) {
                    for w0 in stride(from: 0, to: view[3], by: wb) {
                        let rr = min(rb, view[2] - r0), ww = min(wb, view[3] - w0)
                        let origin = [batch, c0, r0, w0], counts = [1, cc, rr, ww]
                        let base = (turn % 2) * perTurn * slot
                        turn += 1
                        let aAddress = base, bAddress = base + slot, tAddress = base + (perTurn - 1) * slot
                        let tile = SRAMTile(addr: aAddress, channels: cc, height: rr, width: ww)
                        let range: MemoryRange
                        switch first {
                        case .channel(let address, let dramRange):
                            // A broadcast first operand (e.g. a per-channel tensor minus a full one) is expanded by stride-0 loads.
                            let l = DRAMPlan.Location(address: address, shape: [dramRange.end - dramRange.start], dtype: .float32)
                            range = load(.broadcast(l, strides: [0, 1, 0, 0]), origin: origin, counts: counts, into: aAddress)
                        default:
                            range = load(first, origin: origin, counts: counts, into: aAddress)
                        }
                        func operandTile(_ o: Operand, step i: Int) -> (SRAMTile, BroadcastKind, MemoryRange) {
                            if case .channel = o {
                                let address = vectors[i]!
                                return (SRAMTile(addr: address, channels: cc, height: 1, width: 1), .channel, .sram(address, bytes: 4 * cc))
                            }
                            let r = load(o, origin: origin, counts: counts, into: bAddress)
                            return (SRAMTile(addr: bAddress, channels: cc, height: rr, width: ww), .none, r)
                        }
                        for (i, step) in steps.enumerated() {
                            switch step {
                            case .binary(let kind, let o):
                                let (b, broadcast, bRange) = operandTile(o, step: i)
                                emit(.eltwise(EltwiseOp(kind, a: tile, b: b, output: tile, broadcast: broadcast)),
                                     reads: [range, bRange], writes: [range], node: node)
                            case .activation(let activation):
                                emit(.act(ActOp(input: tile, output: tile, activation: activation)), reads: [range], writes: [range], node: node)
                            case .preluSlope(let o):
                                // prelu(x) = relu(x) + slope * (x - relu(x))
                                let temp = SRAMTile(addr: tAddress, channels: cc, height: rr, width: ww)
                                let tRange = MemoryRange.sram(tAddress, bytes: 4 * tile.elements)
                                emit(.act(ActOp(input: tile, output: temp, activation: .relu)), reads: [range], writes: [tRange], node: node)
                                emit(.eltwise(EltwiseOp(.sub, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range], node: node)
                                let (b, broadcast, bRange) = operandTile(o, step: i)
                                emit(.eltwise(EltwiseOp(.mul, a: tile, b: b, output: tile, broadcast: broadcast)), reads: [range, bRange], writes: [range], node: node)
                                emit(.eltwise(EltwiseOp(.add, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range], node: node)
                            }
                        }
                        let store = TransferOp(tensorAt: y.address, shape: view, origin: origin, counts: counts, sramAddr: aAddress)
                        emit(.store(store), reads: [range], writes: [y.range], node: node)
                    }
                }
            }
        }
        return "tile \(cb)x\(rb)x\(wb)"
    }
}
