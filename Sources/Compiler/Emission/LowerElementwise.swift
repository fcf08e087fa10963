import Accelerator
import GraphIR
import Tensors

/// One step of an element-wise node, applied in order to the tile of its
/// first operand.
enum ElementwiseStep {
    case binary(EltwiseKind, Emitter.Operand)
    case activation(FusedActivation)
    case preluSlope(Emitter.Operand)

    /// The per-channel operand the step reads: loaded once per channel
    /// block, not once per tile.
    var channelOperand: (address: Int, range: MemoryRange)? {
        switch self {
        case .binary(_, .channel(let address, let range)), .preluSlope(.channel(let address, let range)):
            return (address, range)
        default: return nil
        }
    }

    /// Whether the step reads a second tile of operand data.
    var needsOperandTile: Bool {
        switch self {
        case .binary(_, .full), .binary(_, .broadcast), .preluSlope(.full), .preluSlope(.broadcast): return true
        default: return false
        }
    }
}

/// The tiles of element-wise lowering, [1][channels][rows][columns] of the
/// 4-d view: whole rows and planes while they fit. SRAM holds, per turn and
/// double-buffered, the accumulator tile, a second operand tile and a
/// PRelu temporary where the steps need them; then one per-channel vector
/// per step.
struct ElementwiseTiling {
    var channels: Int, rows: Int, columns: Int
    /// Tiles per turn: the accumulator, then the operand and the temporary when needed.
    var perTurn: Int

    /// Nil when not even one element per tile fits beside the vectors.
    init?(steps: [ElementwiseStep], view: [Int], sramBytes: Int) {
        let needsTemp = steps.contains {
            if case .preluSlope = $0 { return true }; return false
        }
        perTurn = 1 + (steps.contains(where: \.needsOperandTile) ? 1 : 0) + (needsTemp ? 1 : 0)
        let vectorBytes = 4 * view[1] * steps.count
        let budget = (sramBytes - vectorBytes) / (2 * perTurn) / 4
        guard budget >= 1 else { return nil }
        (columns, rows, channels) = (view[3], view[2], view[1])
        if columns > budget {
            (columns, rows, channels) = (budget, 1, 1)
        } else if rows * columns > budget {
            (rows, channels) = (budget / columns, 1)
        } else if channels * rows * columns > budget {
            channels = budget / (rows * columns)
        }
    }

    var slot: Int { 4 * channels * rows * columns }
    var vectorBase: Int { 2 * perTurn * slot }
}

/// Where one element-wise tile sits: its box in the 4-d view and its SRAM
/// slots (accumulator, operand, temporary).
struct ElementwiseBox {
    var origin: [Int], counts: [Int]
    var accumulator: Int, operand: Int, temporary: Int

    func tile(at address: Int) -> SRAMTile {
        SRAMTile(addr: address, channels: counts[1], height: counts[2], width: counts[3])
    }
}

/// Layer-by-layer element-wise ops: BatchNormalization, broadcasting
/// arithmetic, PRelu and activations, tile by tile through SRAM.
extension Emitter {
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
        guard ShapeMath.broadcast(type.shape, shape) == shape,
            let (own, strides) = Self.elementwiseView(type.shape, output: shape)
        else { return nil }
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
                type.count == shape.reduce(1, *) || elementwiseView(type.shape, output: shape) != nil
            else { return false }
        }
        if node.kind == .batchNormalization { return shape.count >= 2 }
        return true
    }

    mutating func lowerElementwise(_ node: Node) throws -> String {
        let shape = graph.type(of: node.outputs[0])!.shape
        let view = Self.elementwiseView(shape, output: shape)!.view
        let (first, steps) = try elementwiseSteps(node, shape: shape, view: view)
        guard let tiling = ElementwiseTiling(steps: steps, view: view, sramBytes: config.sramBytes) else {
            let needed = config.smallestSRAM {
                ElementwiseTiling(steps: steps, view: view, sramBytes: $0.sramBytes) != nil
            }
            throw AcceleratorConfig.doesNotFit(
                node.name, "element-wise layer", sramBytes: config.sramBytes, needed: needed)
        }
        let (cb, rb, wb) = (tiling.channels, tiling.rows, tiling.columns)
        var turn = 0
        for batch in 0..<view[0] {
            for c0 in stride(from: 0, to: view[1], by: cb) {
                let cc = min(cb, view[1] - c0)
                let vectors = loadChannelVectors(
                    node, steps: steps, view: view, channels: c0..<(c0 + cc), base: tiling.vectorBase)
                for r0 in stride(from: 0, to: view[2], by: rb) {
                    for w0 in stride(from: 0, to: view[3], by: wb) {
                        let base = (turn % 2) * tiling.perTurn * tiling.slot
                        turn += 1
                        let box = ElementwiseBox(
                            origin: [batch, c0, r0, w0], counts: [1, cc, min(rb, view[2] - r0), min(wb, view[3] - w0)],
                            accumulator: base, operand: base + tiling.slot,
                            temporary: base + (tiling.perTurn - 1) * tiling.slot)
                        emitElementwiseTile(node, first: first, steps: steps, view: view, box: box, vectors: vectors)
                    }
                }
            }
        }
        return "tile \(cb)x\(rb)x\(wb)"
    }

    /// What the node computes: the operand its tile starts from and the
    /// steps applied to it (a BatchNormalization is a per-channel multiply
    /// and add; a commutative op starts from its full operand).
    func elementwiseSteps(_ node: Node, shape: [Int], view: [Int]) throws -> (first: Operand, steps: [ElementwiseStep])
    {
        let inputs = node.inputs.filter { !$0.isEmpty }
        func requireOperand(_ v: String) throws -> Operand {
            guard let o = operand(v, shape: shape, node: node) else {
                throw DFCError("node '\(node.name)': operand '\(v)' does not broadcast to \(shape)")
            }
            return o
        }
        var steps: [ElementwiseStep] = []
        var first: Operand
        switch node.kind {
        case .batchNormalization:
            first = try requireOperand(inputs[0])
            let scale = constantAddress["\(node.name)#scale"]!, shift = constantAddress["\(node.name)#shift"]!
            steps = [
                .binary(.mul, .channel(address: scale, range: .dram(scale, bytes: 4 * view[1]))),
                .binary(.add, .channel(address: shift, range: .dram(shift, bytes: 4 * view[1])))
            ]
        case .sum where inputs.count == 1, .max where inputs.count == 1, .min where inputs.count == 1:
            first = try requireOperand(inputs[0])
        case .add, .sub, .mul, .div, .sum, .max, .min:
            var a = try requireOperand(inputs[0]), b = try requireOperand(inputs[1])
            let kinds: [OpKind: EltwiseKind] = [.sub: .sub, .mul: .mul, .div: .mul, .max: .max, .min: .min]
            let kind = kinds[node.kind] ?? .add
            if case .full = a {} else if case .full = b, kind != .sub { swap(&a, &b) }
            first = a
            steps = [.binary(kind, b)]
            for extra in inputs.dropFirst(2) { steps.append(.binary(kind, try requireOperand(extra))) }
        case .pRelu:
            first = try requireOperand(inputs[0])
            steps = [.preluSlope(try requireOperand(inputs[1]))]
        default:
            guard let activation = Activation(of: node, in: graph) else {
                throw DFCError("node '\(node.name)': not element-wise")
            }
            first = try requireOperand(inputs[0])
            steps = [.activation(activation.fused)]
        }
        if let activation = node.activation { steps.append(.activation(activation.fused)) }
        return (first, steps)
    }

    /// LOADs each step's per-channel operand for one channel block, at the
    /// step's own vector slot; returns the SRAM address by step index.
    mutating func loadChannelVectors(
        _ node: Node, steps: [ElementwiseStep], view: [Int], channels: Range<Int>, base: Int
    ) -> [Int: Int] {
        var vectors: [Int: Int] = [:]
        for (i, step) in steps.enumerated() {
            guard let (address, range) = step.channelOperand else { continue }
            let sram = base + 4 * view[1] * i
            let t = TransferOp(
                tensorAt: address, shape: [view[1]], origin: [channels.lowerBound], counts: [channels.count],
                sramAddr: sram)
            emit(.load(t), reads: [range], writes: [.sram(sram, bytes: 4 * channels.count)], node: node)
            vectors[i] = sram
        }
        return vectors
    }

    /// LOADs a box of a full or broadcast operand into SRAM at `address`.
    mutating func loadOperandTile(_ o: Operand, view: [Int], box: ElementwiseBox, into address: Int, node: Node)
        -> MemoryRange
    {
        var t: TransferOp
        switch o {
        case .full(let l):
            t = TransferOp(tensorAt: l.address, shape: view, origin: box.origin, counts: box.counts, sramAddr: address)
            emit(.load(t), reads: [l.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
        case .broadcast(let l, let strides):
            t = TransferOp(tensorAt: l.address, shape: view, origin: box.origin, counts: box.counts, sramAddr: address)
            t.dramStrides = strides
            emit(.load(t), reads: [l.range], writes: [.sram(address, bytes: 4 * t.elements)], node: node)
        case .channel:
            preconditionFailure("per-channel operands load once per channel block")
        }
        return .sram(address, bytes: 4 * t.elements)
    }

    /// One tile: LOAD the first operand, apply each step in place, STORE.
    mutating func emitElementwiseTile(
        _ node: Node, first: Operand, steps: [ElementwiseStep], view: [Int], box: ElementwiseBox,
        vectors: [Int: Int]
    ) {
        let tile = box.tile(at: box.accumulator)
        let range: MemoryRange
        switch first {
        case .channel(let address, let dramRange):
            // A broadcast first operand (e.g. a per-channel tensor minus a full one) is expanded by stride-0 loads.
            let l = DRAMPlan.Location(address: address, shape: [dramRange.end - dramRange.start], dtype: .float32)
            range = loadOperandTile(
                .broadcast(l, strides: [0, 1, 0, 0]), view: view, box: box, into: box.accumulator, node: node)
        default:
            range = loadOperandTile(first, view: view, box: box, into: box.accumulator, node: node)
        }
        for (i, step) in steps.enumerated() {
            switch step {
            case .binary(let kind, let o):
                let (b, broadcast, bRange) = operandTile(o, step: i, view: view, box: box, vectors: vectors, node: node)
                emit(
                    .eltwise(EltwiseOp(kind, a: tile, b: b, output: tile, broadcast: broadcast)),
                    reads: [range, bRange], writes: [range], node: node)
            case .activation(let activation):
                emit(
                    .act(ActOp(input: tile, output: tile, activation: activation)), reads: [range], writes: [range],
                    node: node)
            case .preluSlope(let o):
                // prelu(x) = relu(x) + slope * (x - relu(x))
                let temp = box.tile(at: box.temporary)
                let tRange = MemoryRange.sram(box.temporary, bytes: 4 * tile.elements)
                emit(
                    .act(ActOp(input: tile, output: temp, activation: .relu)), reads: [range], writes: [tRange],
                    node: node)
                emit(
                    .eltwise(EltwiseOp(.sub, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range],
                    node: node)
                let (b, broadcast, bRange) = operandTile(o, step: i, view: view, box: box, vectors: vectors, node: node)
                emit(
                    .eltwise(EltwiseOp(.mul, a: tile, b: b, output: tile, broadcast: broadcast)),
                    reads: [range, bRange], writes: [range], node: node)
                emit(
                    .eltwise(EltwiseOp(.add, a: tile, b: temp, output: tile)), reads: [range, tRange], writes: [range],
                    node: node)
            }
        }
        let y = location(node.outputs[0])
        let store = TransferOp(
            tensorAt: y.address, shape: view, origin: box.origin, counts: box.counts, sramAddr: box.accumulator)
        emit(.store(store), reads: [range], writes: [y.range], node: node)
    }

    /// A step's second operand as a tile: its per-channel vector, or a box
    /// loaded into the operand slot.
    mutating func operandTile(
        _ o: Operand, step i: Int, view: [Int], box: ElementwiseBox, vectors: [Int: Int],
        node: Node
    ) -> (SRAMTile, BroadcastKind, MemoryRange) {
        if case .channel = o {
            let address = vectors[i]!
            return (
                SRAMTile(addr: address, channels: box.counts[1], height: 1, width: 1), .channel,
                .sram(address, bytes: 4 * box.counts[1])
            )
        }
        let r = loadOperandTile(o, view: view, box: box, into: box.operand, node: node)
        return (box.tile(at: box.operand), .none, r)
    }
}
