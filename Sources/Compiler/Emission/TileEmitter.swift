import Accelerator
import GraphIR
import Tensors

/// An SRAM tile and the byte range the sequencer tracks it by.
typealias TileRef = (tile: SRAMTile, range: MemoryRange)

/// Where a fusion group's resident constants sit in SRAM, by constants key.
typealias ResidentConstants = [String: (address: Int, count: Int)]

/// Tile-level emission shared by every path that works on SRAM tiles: the
/// padded LOAD of a box of a DRAM tensor, and the element-wise layers of a
/// fusion group (BatchNormalization, broadcasting arithmetic and residual
/// Adds, activations) on tiles of any shape.
extension Emitter {
    /// A LOAD of channels × rows × columns of `value` into SRAM at `address`,
    /// rows and columns counted in tensor coordinates (negative or past the
    /// end in padding, which LOAD zero-fills). `strides` places the box in
    /// SRAM (nil: dense [channel][row][column]). A 1-d map [N][C][W] is
    /// loaded as [N][C][1][W], the 4-d view its layers work in.
    func paddedLoad(
        _ value: String, batch: Int = 0, channels: Range<Int>, rows: Range<Int>, columns: Range<Int>,
        at address: Int, strides: [Int]? = nil
    ) -> TransferOp {
        let location = location(value)
        let shape =
            location.shape.count == 3 ? [location.shape[0], location.shape[1], 1, location.shape[2]] : location.shape
        var t = TransferOp(
            tensorAt: location.address, shape: shape,
            origin: [batch, channels.lowerBound, rows.lowerBound, columns.lowerBound],
            counts: [1, channels.count, rows.count, columns.count], sramAddr: address)
        if let strides { t.sramStrides = strides }
        return t
    }

    /// One element-wise layer of a fusion group on tiles of output channels
    /// `channels`: `operand` gives each runtime input's tile, constants come
    /// from the group's resident vectors. The result goes to `output`, with
    /// the node's fused activation folded into the last instruction when the
    /// ISA allows it.
    mutating func emitGroupElementwise(
        _ node: Node, channels: Range<Int>, output: TileRef, resident: ResidentConstants,
        operand: (String) -> TileRef
    ) throws {
        let (out, outRange) = output
        func emit(_ op: Op, reads: [MemoryRange], writes: [MemoryRange]) {
            sequencer.emit(op, reads: reads, writes: writes, nodes: [node.name])
        }
        func vector(_ key: String) -> (SRAMTile, MemoryRange) {
            let c = resident[key]!
            return (
                SRAMTile(addr: c.address + 4 * channels.lowerBound, channels: channels.count, height: 1, width: 1),
                .sram(c.address, bytes: 4 * c.count)
            )
        }
        let activation = node.activation?.fused ?? .none
        switch node.kind {
        case .batchNormalization:
            let (a, aRange) = operand(node.inputs[0])
            let (scale, scaleRange) = vector("\(node.name)#scale"), (shift, shiftRange) = vector("\(node.name)#shift")
            emit(
                .eltwise(EltwiseOp(.mul, a: a, b: scale, output: out, broadcast: .channel)),
                reads: [aRange, scaleRange], writes: [outRange])
            emit(
                .eltwise(EltwiseOp(.add, a: out, b: shift, output: out, broadcast: .channel, activation: activation)),
                reads: [outRange, shiftRange], writes: [outRange])
        case .add, .sub, .mul:
            var operands = node.inputs
            func perChannel(_ input: String) -> Bool {
                graph.initializers[input] != nil
                    || FusionRules.isChannelVector(input, of: node, graph: graph, type: valueType)
            }
            if perChannel(operands[0]) { operands.swapAt(0, 1) }
            let kind: EltwiseKind = node.kind == .add ? .add : node.kind == .sub ? .sub : .mul
            let (a, aRange) = operand(operands[0])
            if perChannel(operands[1]) {
                let constant = graph.initializers[operands[1]] != nil
                let (b, bRange) = vector(constant ? layout.constants.channelKey(node, operands[1]) : operands[1])
                emit(
                    .eltwise(EltwiseOp(kind, a: a, b: b, output: out, broadcast: .channel, activation: activation)),
                    reads: [aRange, bRange], writes: [outRange])
            } else {
                let (b, bRange) = operand(operands[1])
                emit(
                    .eltwise(EltwiseOp(kind, a: a, b: b, output: out, activation: activation)), reads: [aRange, bRange],
                    writes: [outRange])
            }
        default:
            guard let own = Activation(of: node, in: graph) else {
                throw DFCError("node '\(node.name)' cannot be fused")
            }
            let (a, aRange) = operand(node.inputs[0])
            emit(.act(ActOp(input: a, output: out, activation: own.fused)), reads: [aRange], writes: [outRange])
            if let extra = node.activation {
                emit(
                    .act(ActOp(input: out, output: out, activation: extra.fused)), reads: [outRange], writes: [outRange]
                )
            }
        }
    }

    /// Loads a group's resident constants into SRAM from address 0, in node
    /// order: convolution weights where `residentWeights` says so, biases,
    /// BatchNorm scales and shifts, per-channel operands; then the runtime
    /// channel vectors, from their DRAM (keyed by value name). Returns where
    /// each key went; `groupVectorBytes` plus the resident weights is where they end.
    /// Each load is tagged with the layer it is for (a runtime vector: its first reader).
    mutating func loadGroupConstants(_ nodes: [Node], residentWeights: (Node) -> Bool) -> ResidentConstants {
        var resident: ResidentConstants = [:]
        var cursor = 0
        func load(_ key: String, count: Int, from address: Int? = nil, for owner: String) {
            guard resident[key] == nil else { return }
            let dram = address ?? constantAddress[key]!
            let t = TransferOp(tensorAt: dram, shape: [count], origin: [0], counts: [count], sramAddr: cursor)
            sequencer.emit(
                .load(t), reads: [.dram(dram, bytes: 4 * count)], writes: [.sram(cursor, bytes: 4 * count)],
                nodes: [owner])
            resident[key] = (cursor, count)
            cursor += DRAMPlan.align(4 * count)
        }
        for node in nodes {
            let channels = valueType(node.outputs[0])!.shape[1]
            switch node.kind {
            case .conv:
                if residentWeights(node) {
                    load(node.inputs[1], count: graph.initializers[node.inputs[1]]!.count, for: node.name)
                }
                if let bias = node.input(2) { load(bias, count: graph.initializers[bias]!.count, for: node.name) }
            case .batchNormalization:
                load("\(node.name)#scale", count: channels, for: node.name)
                load("\(node.name)#shift", count: channels, for: node.name)
            case .add, .sub, .mul:
                for input in node.inputs where graph.initializers[input] != nil {
                    load(layout.constants.channelKey(node, input), count: channels, for: node.name)
                }
            default:
                break
            }
        }
        for vector in FusionRules.channelVectors(nodes, graph: graph, type: valueType) {
            load(
                vector, count: valueType(vector)!.count, from: location(vector).address,
                for: Self.firstReader(of: vector, in: nodes))
        }
        return resident
    }

    /// A pooling tail's result, one value per channel at SRAM `result`,
    /// stored as the GlobalAveragePool's output (band and whole-map plans).
    mutating func storePooledResult(of pool: Node, from result: Int) {
        let pooled = location(pool.outputs[0])
        let channels = pooled.shape[1]
        let t = TransferOp(
            tensorAt: pooled.address, shape: pooled.shape, origin: [0, 0, 0, 0], counts: [1, channels, 1, 1],
            sramAddr: result)
        sequencer.emit(
            .store(t), reads: [.sram(result, bytes: 4 * channels)], writes: [pooled.range], nodes: [pool.name])
    }

    /// The layer of a group a transfer of `value` is for: its first reader
    /// among `nodes`, else its producer (an output only stored).
    static func firstReader(of value: String, in nodes: [Node]) -> String {
        nodes.first { $0.inputs.contains(value) }?.name ?? producer(of: value, in: nodes)
    }

    /// The layer of `nodes` that computes `value` (the first layer when none does).
    static func producer(of value: String, in nodes: [Node]) -> String {
        (nodes.first { $0.outputs.contains(value) } ?? nodes[0]).name
    }
}
