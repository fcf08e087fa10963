import Accelerator
import GraphIR

extension Codegen {
    /// Emits a fusion group: resident weights first, then per band the
    /// inputs' rows (with halo, zero-filled at the borders), every layer on
    /// SRAM tiles, and the output's rows.
    mutating func lowerGroup(_ group: FusionGroup) throws {
        if let plan = group.channels { return try lowerChannelGroup(group, plan) }
        let nodes = group.nodes.map { graph.nodes[$0] }
        let start = sequencer.instructions.count
        let names = nodes.map(\.name)
        func emitGroup(_ op: Op, reads: [MemoryRange], writes: [MemoryRange]) {
            sequencer.emit(op, reads: reads, writes: writes, nodes: names)
        }

        // Resident constants: weights, biases, per-channel vectors.
        let resident = loadGroupConstants(nodes, names: names) { group.streamed[$0.name] == nil }

        // Streamed weights: two slots, each as large as the largest block.
        let streamSlot = group.streamed.map { name, block -> Int in
            let w = graph.initializers[nodes.first { $0.name == name }!.inputs[1]]!
            return DRAMPlan.align(4 * block * (w.count / w.shape[0]))
        }.max() ?? 0
        var streamTurn = 0

        for (index, band) in group.bands.enumerated() {
            let need = group.needed[index]
            let previous = index > 0 ? group.needed[index - 1] : nil
            /// The buffer that holds `value` (its concat's, for a part) and the channel offset in it.
            func home(_ value: String) -> (owner: String, buffer: FusionGroup.Buffer, channelOffset: Int) {
                let b = group.buffers[value]!
                if let (owner, offset) = b.alias { return (owner, group.buffers[owner]!, offset) }
                return (value, b, 0)
            }
            func slot(_ owner: String, _ b: FusionGroup.Buffer) -> Int {
                b.address + (index % b.slots) * DRAMPlan.align(b.slotBytes)
            }
            func range(_ value: String) -> MemoryRange {
                let (owner, b, _) = home(value)
                return .sram(slot(owner, b), bytes: b.slotBytes)
            }
            /// Tensor rows `rows` of `value`, buffer columns from `column`, `width` wide.
            func tile(_ value: String, rows: Range<Int>, column: Int, width: Int) -> SRAMTile {
                let (owner, b, offset) = home(value)
                let origin = need[owner]!.lowerBound
                let channels = group.buffers[value]!.alias == nil ? b.channels : graph.type(of: value)!.shape[1]
                let address = slot(owner, b) + 4 * (offset * b.rowWidth + (rows.lowerBound - origin) * b.rowStride + column)
                return SRAMTile(addr: address, channels: channels, height: rows.count, width: width,
                                channelStride: b.rowWidth, rowStride: b.rowStride)
            }
            func interior(_ value: String, rows: Range<Int>) -> SRAMTile {
                let b = group.buffers[value]!
                return tile(value, rows: rows, column: b.marginLeft, width: b.width)
            }

            // Cached halo: rows this band shares with the previous one move
            // from the other slot to the top of this band's slot.
            if group.halo == .cache, let previous {
                for (owner, b) in group.buffers.sorted(by: { $0.key < $1.key }) where b.alias == nil {
                    guard let now = need[owner], let before = previous[owner] else { continue }
                    let kept = before.upperBound - now.lowerBound
                    guard kept > 0 else { continue }
                    // Rows are outermost in a band buffer: kept rows are one contiguous block.
                    let shift = now.lowerBound - before.lowerBound
                    func rowsCopy(count: Int, from: Int, to: Int) -> CopyOp {
                        CopyOp(counts: [1, 1, count, b.rowStride], srcAddr: from, srcStrides: [0, 0, b.rowStride, 1],
                               dstAddr: to, dstStrides: [0, 0, b.rowStride, 1])
                    }
                    if b.slots == 1 {
                        // One slot: the kept rows move up within it, in chunks no taller than
                        // the shift, so that each copy's source and destination are disjoint.
                        guard shift > 0 else { continue }
                        for first in stride(from: 0, to: kept, by: shift) {
                            let copy = rowsCopy(count: min(shift, kept - first), from: b.address + 4 * (first + shift) * b.rowStride,
                                                to: b.address + 4 * first * b.rowStride)
                            emitGroup(.copy(copy), reads: [range(owner)], writes: [range(owner)])
                        }
                        continue
                    }
                    let from = b.address + ((index - 1) % b.slots) * DRAMPlan.align(b.slotBytes) + 4 * shift * b.rowStride
                    let copy = rowsCopy(count: kept, from: from, to: slot(owner, b))
                    let source = MemoryRange.sram(b.address + ((index - 1) % b.slots) * DRAMPlan.align(b.slotBytes), bytes: b.slotBytes)
                    emitGroup(.copy(copy), reads: [source], writes: [range(owner)])
                }
            }

            // Inputs: the rows this band needs (only the new ones when caching), borders zero-filled by LOAD.
            for input in group.inputs {
                let b = group.buffers[input]!
                guard let wanted = need[input] else { continue }
                let rows = Self.newRows(wanted, previous: previous?[input], halo: group.halo)
                guard !rows.isEmpty else { continue }
                let shape = graph.type(of: input)!.shape
                var t = TransferOp(tensorAt: location(input).address, shape: shape, origin: [0, 0, rows.lowerBound, -b.marginLeft],
                                   counts: [1, b.channels, rows.count, b.rowWidth],
                                   sramAddr: slot(input, b) + 4 * (rows.lowerBound - wanted.lowerBound) * b.rowStride)
                t.sramStrides = [0, b.rowWidth, b.rowStride, 1]
                emitGroup(.load(t), reads: [location(input).range], writes: [range(input)])
            }

            for node in nodes {
                let v = node.outputs[0]
                let y = graph.type(of: v)!
                guard let wanted = need[v] else { continue }
                let fresh = Self.newRows(wanted, previous: previous?[v], halo: group.halo)
                let computed = max(0, fresh.lowerBound)..<max(max(0, fresh.lowerBound), min(y.shape[2], fresh.upperBound))
                guard !computed.isEmpty else { continue }
                let out = interior(v, rows: computed)
                switch node.kind {
                case .conv, .maxPool, .averagePool:
                    let r = try reach(node)
                    let u = node.inputs[0], ub = group.buffers[u]!, x = graph.type(of: u)!
                    let rows = r.rows(computed)
                    let input = tile(u, rows: rows, column: ub.marginLeft - r.padLeft, width: r.cols(outputWidth: y.shape[3]))
                    let window = PadWindow(originY: rows.lowerBound, originX: -r.padLeft, extentH: x.shape[2], extentW: x.shape[3])
                    if node.kind == .conv, let block = group.streamed[node.name] {
                        // Blocks of output channels, each with its weights loaded into the other slot.
                        let weights = graph.initializers[node.inputs[1]]!
                        let perChannel = weights.count / weights.shape[0]
                        let bias = node.input(2).map { resident[$0]! }
                        for o0 in stride(from: 0, to: y.shape[1], by: block) {
                            let count = min(block, y.shape[1] - o0)
                            let address = group.streamBase + (streamTurn % 2) * streamSlot
                            streamTurn += 1
                            let dram = location(node.inputs[1])
                            let t = TransferOp(tensorAt: dram.address, shape: [weights.shape[0], perChannel], origin: [o0, 0],
                                               counts: [count, perChannel], sramAddr: address)
                            emitGroup(.load(t), reads: [.dram(dram.address, bytes: 4 * weights.count)], writes: [.sram(address, bytes: 4 * count * perChannel)])
                            var part = out
                            part.addr += 4 * o0 * out.channelStride
                            part.channels = count
                            var reads: [MemoryRange] = [range(u), .sram(address, bytes: 4 * count * perChannel)]
                            if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
                            let op = ConvOp(input: input, output: part, weightAddr: address, biasAddr: bias.map { $0.address + 4 * o0 },
                                            kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw), groups: 1, window: window,
                                            activation: node.activation?.fused ?? .none)
                            emitGroup(.conv(op), reads: reads, writes: [range(v)])
                        }
                    } else if node.kind == .conv {
                        let w = resident[node.inputs[1]]!, bias = node.input(2).map { resident[$0]! }
                        var reads = [range(u), .sram(w.address, bytes: 4 * w.count)]
                        if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
                        let op = ConvOp(input: input, output: out, weightAddr: w.address, biasAddr: bias?.address,
                                        kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw),
                                        groups: node.int("group", default: 1), window: window,
                                        activation: node.activation?.fused ?? .none)
                        emitGroup(.conv(op), reads: reads, writes: [range(v)])
                    } else {
                        let w = try WindowGeometry(node: node, spatial: Array(x.shape[2...]))
                        let countPads = node.kind == .averagePool && node.int("count_include_pad", default: 0) == 1
                            ? (w.padsBegin[0], w.padsBegin[1], w.padsEnd[0], w.padsEnd[1]) : (0, 0, 0, 0)
                        let op = PoolOp(node.kind == .maxPool ? .max : .avg, input: input, output: out, kernel: (r.kh, r.kw),
                                        stride: (r.sh, r.sw), dilation: (r.dh, r.dw), window: window, countPads: countPads)
                        emitGroup(.pool(op), reads: [range(u)], writes: [range(v)])
                        if let activation = node.activation {
                            emitGroup(.act(ActOp(input: out, output: out, activation: activation.fused)), reads: [range(v)], writes: [range(v)])
                        }
                    }
                case .batchNormalization:
                    let u = node.inputs[0]
                    let scale = resident["\(node.name)#scale"]!, shift = resident["\(node.name)#shift"]!
                    let vector = { (address: Int) in SRAMTile(addr: address, channels: y.shape[1], height: 1, width: 1) }
                    emitGroup(.eltwise(EltwiseOp(.mul, a: interior(u, rows: computed), b: vector(scale.address), output: out, broadcast: .channel)),
                              reads: [range(u), .sram(scale.address, bytes: 4 * scale.count)], writes: [range(v)])
                    emitGroup(.eltwise(EltwiseOp(.add, a: out, b: vector(shift.address), output: out, broadcast: .channel,
                                                 activation: node.activation?.fused ?? .none)),
                              reads: [range(v), .sram(shift.address, bytes: 4 * shift.count)], writes: [range(v)])
                case .add, .sub, .mul:
                    var operands = node.inputs
                    if graph.initializers[operands[0]] != nil { operands.swapAt(0, 1) }
                    let kind: EltwiseKind = node.kind == .add ? .add : node.kind == .sub ? .sub : .mul
                    let a = interior(operands[0], rows: computed)
                    var reads = [range(operands[0])]
                    let b: SRAMTile, broadcast: BroadcastKind
                    if graph.initializers[operands[1]] != nil {
                        let c = resident[groupChannelKey(node, operands[1])]!
                        b = SRAMTile(addr: c.address, channels: y.shape[1], height: 1, width: 1)
                        broadcast = .channel
                        reads.append(.sram(c.address, bytes: 4 * c.count))
                    } else {
                        b = interior(operands[1], rows: computed)
                        broadcast = .none
                        reads.append(range(operands[1]))
                    }
                    emitGroup(.eltwise(EltwiseOp(kind, a: a, b: b, output: out, broadcast: broadcast, activation: node.activation?.fused ?? .none)),
                              reads: reads, writes: [range(v)])
                case .concat:
                    break
                default:
                    guard let activation = Activation(of: node, in: graph) else { throw DFCError("node '\(node.name)' cannot be fused") }
                    let u = node.inputs[0]
                    emitGroup(.act(ActOp(input: interior(u, rows: computed), output: out, activation: activation.fused)),
                              reads: [range(u)], writes: [range(v)])
                    if let extra = node.activation {
                        emitGroup(.act(ActOp(input: out, output: out, activation: extra.fused)), reads: [range(v)], writes: [range(v)])
                    }
                }
            }

            // The output's rows of this band (none in a warm-up band).
            guard band.upperBound > 0 else { continue }
            let y = location(group.output)
            let b = group.buffers[group.output]!
            let source = interior(group.output, rows: band)
            var t = TransferOp(tensorAt: y.address, shape: y.shape, origin: [0, 0, band.lowerBound, 0],
                               counts: [1, b.channels, band.count, b.width], sramAddr: source.addr)
            t.sramStrides = [0, b.rowWidth, b.rowStride, 1]
            emitGroup(.store(t), reads: [range(group.output)], writes: [y.range])
        }
        let description = "fused \(nodes.count) layers, " + group.tileDescription(graph: graph)
        layers.append(LayerReport(node: names.joined(separator: "+"), op: "FusionGroup", engine: "fused", tiling: description,
                                  instructions: start..<sequencer.instructions.count))
    }
}

extension Codegen {
    /// The constants key of a per-channel operand of an element-wise node
    /// (a scalar is repeated per channel under its own key).
    func groupChannelKey(_ node: Node, _ input: String) -> String {
        constantAddress["\(node.name)#\(input)#channel"] != nil ? "\(node.name)#\(input)#channel" : input
    }

    /// Loads a group's resident constants into SRAM from address 0, in node
    /// order: convolution weights where `residentWeights` says so, biases,
    /// BatchNorm scales and shifts, per-channel operands. Returns where each
    /// key went; `groupVectorBytes` plus the resident weights is where they end.
    mutating func loadGroupConstants(_ nodes: [Node], names: [String],
                                     residentWeights: (Node) -> Bool) -> [String: (address: Int, count: Int)] {
        var resident: [String: (address: Int, count: Int)] = [:]
        var cursor = 0
        func load(_ key: String, count: Int) {
            guard resident[key] == nil else { return }
            let dram = constantAddress[key]!
            let t = TransferOp(tensorAt: dram, shape: [count], origin: [0], counts: [count], sramAddr: cursor)
            sequencer.emit(.load(t), reads: [.dram(dram, bytes: 4 * count)], writes: [.sram(cursor, bytes: 4 * count)], nodes: names)
            resident[key] = (cursor, count)
            cursor += DRAMPlan.align(4 * count)
        }
        for node in nodes {
            let channels = graph.type(of: node.outputs[0])!.shape[1]
            switch node.kind {
            case .conv:
                if residentWeights(node) { load(node.inputs[1], count: graph.initializers[node.inputs[1]]!.count) }
                if let bias = node.input(2) { load(bias, count: graph.initializers[bias]!.count) }
            case .batchNormalization:
                load("\(node.name)#scale", count: channels)
                load("\(node.name)#shift", count: channels)
            case .add, .sub, .mul:
                for input in node.inputs where graph.initializers[input] != nil { load(groupChannelKey(node, input), count: channels) }
            default:
                break
            }
        }
        return resident
    }

    /// SRAM bytes of a group's biases and per-channel vectors (always resident).
    func groupVectorBytes(_ nodes: [Node]) -> Int {
        var bytes = 0
        for node in nodes {
            let channels = graph.type(of: node.outputs[0])!.shape[1]
            if let bias = node.kind == .conv ? node.input(2) : nil { bytes += DRAMPlan.align(4 * graph.initializers[bias]!.count) }
            if node.kind == .batchNormalization { bytes += 2 * DRAMPlan.align(4 * channels) }
            if node.kind == .add || node.kind == .sub || node.kind == .mul {
                bytes += node.inputs.filter { graph.initializers[$0] != nil }.count * DRAMPlan.align(4 * channels)
            }
        }
        return bytes
    }
}
