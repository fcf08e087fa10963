import Accelerator
import GraphIR
import Tensors

extension Emitter {
    // MARK: - Fully connected

    /// The weight blocks of a fully-connected layer: A resident and the largest weight blocks that fit,
    /// double-buffered; nil when not even the smallest blocks fit `config`'s SRAM.
    static func fullyConnectedBlocks(m: Int, k: Int, n: Int, config: AcceleratorConfig) -> (
        nb: Int, kb: Int, resident: Bool
    )? {
        let lanes = config.matrixOutputLanes
        for resident in [true, false] {
            var kb = k
            while kb >= 1 {
                var nb = n
                while nb >= 1 {
                    let aBytes = resident ? 4 * m * k : 2 * 4 * m * kb
                    let sram = aBytes + 2 * 4 * nb * kb + 4 * nb + 2 * 4 * m * nb
                    if sram <= config.sramBytes { return (nb, kb, resident) }
                    nb = nb > lanes ? max(lanes, (nb / 2 + lanes - 1) / lanes * lanes) : nb / 2
                    if nb == lanes && 4 * m * k + 2 * 4 * lanes * kb > config.sramBytes && !resident { nb = lanes / 2 }
                }
                kb = kb > lanes ? max(lanes, (kb / 2 + lanes - 1) / lanes * lanes) : kb / 2
            }
        }
        return nil
    }

    /// Gemm in canonical form: y[M][N] = A[M][K] * W[N][K]^T + bias[N].
    mutating func lowerFullyConnected(_ node: Node) throws -> String {
        let aType = graph.type(of: node.inputs[0])!, wType = graph.type(of: node.inputs[1])!
        let a = location(node.inputs[0]), w = location(node.inputs[1]), y = location(node.outputs[0])
        let bias = node.input(2).map { location($0) }
        let m = aType.shape[0], k = aType.shape[1], n = wType.shape[0]
        guard let (nb, kb, resident) = Self.fullyConnectedBlocks(m: m, k: k, n: n, config: config) else {
            let needed = config.smallestSRAM { Self.fullyConnectedBlocks(m: m, k: k, n: n, config: $0) != nil }
            throw AcceleratorConfig.doesNotFit(
                node.name, "fully-connected layer", sramBytes: config.sramBytes, needed: needed)
        }
        let aRegion = resident ? 4 * m * k : 2 * 4 * m * kb
        let weightSlot = 4 * nb * kb
        let biasBase = aRegion + 2 * weightSlot
        let outBase = biasBase + 4 * nb
        let outSlot = 4 * m * nb
        var weightTurn = 0, aTurn = 0, outTurn = 0
        let activation = node.activation?.fused ?? .none
        if resident {
            let t = TransferOp(tensorAt: a.address, shape: [m, k], origin: [0, 0], counts: [m, k], sramAddr: 0)
            emit(.load(t), reads: [a.range], writes: [.sram(0, bytes: 4 * m * k)], node: node)
        }
        for n0 in stride(from: 0, to: n, by: nb) {
            let nc = min(nb, n - n0)
            let outAddress = outBase + (outTurn % 2) * outSlot
            outTurn += 1
            if let bias {
                let t = TransferOp(tensorAt: bias.address, shape: [n], origin: [n0], counts: [nc], sramAddr: biasBase)
                emit(.load(t), reads: [bias.range], writes: [.sram(biasBase, bytes: 4 * nc)], node: node)
            }
            for k0 in stride(from: 0, to: k, by: kb) {
                let kc = min(kb, k - k0)
                var aAddress = 4 * k0, aRowStride = k
                if !resident {
                    aAddress = (aTurn % 2) * 4 * m * kb
                    aTurn += 1
                    aRowStride = kc
                    let t = TransferOp(
                        tensorAt: a.address, shape: [m, k], origin: [0, k0], counts: [m, kc], sramAddr: aAddress)
                    emit(.load(t), reads: [a.range], writes: [.sram(aAddress, bytes: 4 * m * kc)], node: node)
                }
                let wAddress = aRegion + (weightTurn % 2) * weightSlot
                weightTurn += 1
                let t = TransferOp(
                    tensorAt: w.address, shape: [n, k], origin: [n0, k0], counts: [nc, kc], sramAddr: wAddress)
                emit(.load(t), reads: [w.range], writes: [.sram(wAddress, bytes: 4 * nc * kc)], node: node)
                var op = MatMulOp(
                    m: m, n: nc, k: kc, aAddr: aAddress, weightAddr: wAddress,
                    biasAddr: k0 == 0 && bias != nil ? biasBase : nil, outAddr: outAddress,
                    accumulate: k0 > 0, activation: k0 + kc == k ? activation : .none)
                op.aRowStride = aRowStride
                var reads: [MemoryRange] = [
                    .sram(aAddress, bytes: 4 * ((m - 1) * aRowStride + kc)), .sram(wAddress, bytes: 4 * nc * kc)
                ]
                if k0 == 0 && bias != nil { reads.append(.sram(biasBase, bytes: 4 * nc)) }
                if k0 > 0 { reads.append(.sram(outAddress, bytes: 4 * m * nc)) }
                emit(.matmul(op), reads: reads, writes: [.sram(outAddress, bytes: 4 * m * nc)], node: node)
            }
            let t = TransferOp(
                tensorAt: y.address, shape: [m, n], origin: [0, n0], counts: [m, nc], sramAddr: outAddress)
            emit(.store(t), reads: [.sram(outAddress, bytes: 4 * m * nc)], writes: [y.range], node: node)
        }
        return "n block \(nb), k block \(kb), input \(resident ? "resident" : "streamed")"
    }

    // MARK: - Data movement

    /// Concat, Split, Slice, Gather and Pad: nothing when planned in place,
    /// else a copy through SRAM (Pad's border comes from LOAD's zero fill).
    mutating func lowerDataMovement(_ node: Node) throws -> String {
        switch node.kind {
        case .concat: return lowerConcat(node)
        case .channelShuffle: return lowerChannelShuffle(node)
        case .split: return lowerSplit(node)
        case .slice: return try lowerSlice(node)
        case .gather: return lowerGather(node)
        case .pad: return try lowerPad(node)
        case .depthToSpace, .spaceToDepth: return try lowerSpaceDepth(node)
        case .expand, .tile: return lowerBroadcastCopy(node)
        default: throw DFCError("node '\(node.name)': not a data-movement op")
        }
    }

    /// A channel shuffle through SRAM: tiles of rows of every channel, each
    /// LOAD placing input channel b*(C/g) + a at a*g + b in SRAM (the DRAM
    /// tensor viewed as [g][C/g][H][W]), then one dense STORE; two slots, the
    /// next tile's LOAD issued before this tile's STORE.
    mutating func lowerChannelShuffle(_ node: Node) -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let groups = node.int("group", default: 1), perGroup = channels / groups
        let rows = max(1, min(height, config.sramBytes / (2 * 4 * channels * width)))
        let slot = DRAMPlan.align(4 * channels * rows * width)
        var tiles: [(n: Int, rows: Range<Int>)] = []
        for n in 0..<batch {
            for y0 in stride(from: 0, to: height, by: rows) { tiles.append((n, y0..<min(y0 + rows, height))) }
        }
        let plane = 4 * channels * height * width
        func load(_ i: Int, _ e: inout Emitter) {
            let (n, band) = tiles[i]
            var t = TransferOp(
                tensorAt: x.address + n * plane, shape: [groups, perGroup, height, width],
                origin: [0, 0, band.lowerBound, 0],
                counts: [groups, perGroup, band.count, width], sramAddr: (i % 2) * slot)
            let channelStride = band.count * width
            t.sramStrides = [channelStride, groups * channelStride, width, 1]
            e.emit(.load(t), reads: [x.range], writes: [.sram(t.sramAddr, bytes: 4 * t.elements)], node: node)
        }
        load(0, &self)
        for i in tiles.indices {
            if i + 1 < tiles.count { load(i + 1, &self) }
            let (n, band) = tiles[i]
            let t = TransferOp(
                tensorAt: y.address, shape: y.shape, origin: [n, 0, band.lowerBound, 0],
                counts: [1, channels, band.count, width], sramAddr: (i % 2) * slot)
            emit(.store(t), reads: [.sram(t.sramAddr, bytes: 4 * t.elements)], writes: [y.range], node: node)
        }
        return "rows \(rows), all \(channels) channels, permuted by the LOAD"
    }

    /// Copies each input not planned in place into its slice of the output.
    mutating func lowerConcat(_ node: Node) -> String {
        let out = location(node.outputs[0])
        let rank = out.shape.count
        let axis = ShapeMath.normalize(axis: node.int("axis", default: 1), rank: rank)!
        var offset = 0
        var copies = 0
        let stride = out.shape[(axis + 1)...].reduce(1, *)
        for input in node.inputs where !input.isEmpty {
            let source = location(input)
            let here = offset
            offset += source.shape[axis]
            if plan.locations[input] != nil && source.address == out.address + 4 * here * stride
                && out.shape[..<axis].reduce(1, *) == 1
            {
                continue
            }
            let shape = Self.folded(source.shape, axis: axis), outShape = Self.folded(out.shape, axis: axis)
            copyThroughSRAM(
                from: Box(location: source, shape: shape, origin: [0, 0, 0, 0]),
                to: Box(location: out, shape: outShape, origin: [0, 0, here, 0]), counts: shape, node: node)
            copies += 1
        }
        return copies == 0 ? "" : "\(copies) input\(copies == 1 ? "" : "s") copied"
    }

    /// Copies each output not planned in place out of its slice of the input.
    mutating func lowerSplit(_ node: Node) -> String {
        let x = location(node.inputs[0])
        let xType = graph.type(of: node.inputs[0])!
        let offsets = DRAMPlan.sliceOffsets(node, graph: graph, input: xType)
        var copies = 0
        let axis = ShapeMath.normalize(axis: node.int("axis", default: 0), rank: xType.rank)!
        var start = 0
        for (output, offset) in zip(node.outputs, offsets) where !output.isEmpty {
            let y = location(output)
            defer { start += y.shape[axis] }
            if let offset, y.address == x.address + 4 * offset { continue }
            copyThroughSRAM(
                from: Box(location: x, shape: Self.folded(x.shape, axis: axis), origin: [0, 0, start, 0]),
                to: Box(location: y, shape: Self.folded(y.shape, axis: axis), origin: [0, 0, 0, 0]),
                counts: Self.folded(y.shape, axis: axis), node: node)
            copies += 1
        }
        return copies == 0 ? "" : "copied"
    }

    /// Nothing when planned in place; a unit-step slice is one copy through
    /// SRAM, a strided one runs on the host.
    mutating func lowerSlice(_ node: Node) throws -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let xType = graph.type(of: node.inputs[0])!
        let offsets = DRAMPlan.sliceOffsets(node, graph: graph, input: xType)
        if let offset = offsets.first ?? nil, y.address == x.address + 4 * offset { return "" }
        let context = ShapeRules.Context(
            node: node, inputs: node.inputs.map { graph.type(of: $0) }, opset: graph.opsetVersion,
            constant: { [initializers = graph.initializers] in initializers[$0] })
        let ranges = try ShapeRules.sliceRanges(context, shape: xType.shape)
        guard let xShape = Self.padded4(x.shape), let yShape = Self.padded4(y.shape) else {
            throw DFCError("node '\(node.name)': slices of rank above 4 are not supported", kind: .unsupported)
        }
        let lead = boxRank - ranges.count
        if ranges.allSatisfy({ $0.step == 1 }) {
            let origin = Array(repeating: 0, count: lead) + ranges.map(\.start)
            copyThroughSRAM(
                from: Box(location: x, shape: xShape, origin: origin),
                to: Box(location: y, shape: yShape, origin: [0, 0, 0, 0]), counts: yShape, node: node)
        } else {
            try hostStridedSlice(node, x: x, xShape: xShape, y: y, yShape: yShape, ranges: ranges)
        }
        return "copied"
    }

    /// A slice with steps other than 1 as HOST copies. Strides are unsigned:
    /// an axis walked backwards is copied one index at a time.
    mutating func hostStridedSlice(
        _ node: Node, x: DRAMPlan.Location, xShape: [Int], y: DRAMPlan.Location, yShape: [Int],
        ranges: [(start: Int, step: Int, count: Int)]
    ) throws {
        let lead = boxRank - ranges.count
        let xStrides = rowMajorStrides(xShape), yStrides = rowMajorStrides(yShape)
        let start = ranges.enumerated().reduce(0) { $0 + $1.element.start * xStrides[lead + $1.offset] }
        let steps = Array(repeating: 1, count: lead) + ranges.map(\.step)
        let backwards = (0..<boxRank).filter { steps[$0] < 0 }
        guard backwards.count <= 1 else {
            throw DFCError(
                "node '\(node.name)': slices reversing more than one axis are not supported", kind: .unsupported)
        }
        var counts = yShape
        var repeats = 1, axis = 0
        if let b = backwards.first { (repeats, axis, counts[b]) = (yShape[b], b, 1) }
        for r in 0..<repeats {
            let source = start + r * steps[axis] * xStrides[axis] * (backwards.isEmpty ? 0 : 1)
            let op = CopyOp(
                counts: counts, srcAddr: x.address + 4 * source,
                srcStrides: (0..<boxRank).map { steps[$0] < 0 ? 0 : xStrides[$0] * steps[$0] },
                dstAddr: y.address + 4 * r * yStrides[axis] * (backwards.isEmpty ? 0 : 1), dstStrides: yStrides)
            emit(.hostCopy(op), reads: [x.range], writes: [y.range], node: node)
        }
    }

    /// One slab copy per index (indices are compile-time constants).
    mutating func lowerGather(_ node: Node) -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let axis = ShapeMath.normalize(axis: node.int("axis", default: 0), rank: x.shape.count)!
        let indices = graph.initializers[node.inputs[1]]!.ints
        let dim = Int64(x.shape[axis])
        let source = Self.folded(x.shape, axis: axis)
        let target = [1, source[1], indices.count, source[3]]
        for (j, index) in indices.enumerated() {
            let i = Int(index < 0 ? index + dim : index)
            copyThroughSRAM(
                from: Box(location: x, shape: source, origin: [0, 0, i, 0]),
                to: Box(location: y, shape: target, origin: [0, 0, j, 0]), counts: [1, source[1], 1, source[3]],
                node: node)
        }
        return "\(indices.count) slab copies"
    }

    /// A zero border comes from LOAD's zero fill; any other value is written separately.
    mutating func lowerPad(_ node: Node) throws -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let context = ShapeRules.Context(
            node: node, inputs: node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) },
            opset: graph.opsetVersion, constant: { [initializers = graph.initializers] in initializers[$0] })
        let (begin, _) = try ShapeRules.padAmounts(context, rank: x.shape.count)
        guard let xShape = Self.padded4(x.shape), let yShape = Self.padded4(y.shape) else {
            throw DFCError("node '\(node.name)': pads of rank above 4 are not supported", kind: .unsupported)
        }
        let origin = Array(repeating: 0, count: boxRank - begin.count) + begin.map { -$0 }
        let value = Self.padValue(node, graph: graph)
        if value == 0 {
            copyThroughSRAM(
                from: Box(location: x, shape: xShape, origin: origin),
                to: Box(location: y, shape: yShape, origin: [0, 0, 0, 0]), counts: yShape, node: node)
            return "zero-filled copy"
        }
        padWithValue(x: x, xShape: xShape, origin: origin, y: y, yShape: yShape, node: node)
        return "copy with border value \(value)"
    }

    /// Views share their input's DRAM; when planning could not alias them
    /// (graph outputs, constants, graph inputs), copy the bytes.
    mutating func lowerView(_ node: Node) throws {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        guard x.address != y.address || plan.locations[node.inputs[0]] == nil else { return }
        let count = y.shape.reduce(1, *)
        copyThroughSRAM(
            from: Box(location: x, shape: [1, 1, 1, count], origin: [0, 0, 0, 0]),
            to: Box(location: y, shape: [1, 1, 1, count], origin: [0, 0, 0, 0]), counts: [1, 1, 1, count], node: node)
    }

    // MARK: - Host

    mutating func lowerHost(_ node: Node) throws {
        let xType = graph.type(of: node.inputs[0])!
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let reads = [x.range], writes = [y.range]
        switch node.kind {
        case .softmax:
            let rank = xType.rank
            let axis = ShapeMath.normalize(
                axis: node.int("axis", default: graph.opsetVersion >= 13 ? -1 : 1), rank: rank)!
            let outer = xType.shape[..<axis].reduce(1, *)
            let (axisSize, inner) =
                graph.opsetVersion >= 13
                ? (xType.shape[axis], xType.shape[(axis + 1)...].reduce(1, *))
                : (xType.shape[axis...].reduce(1, *), 1)
            emit(
                .hostSoftmax(HostSoftmaxOp(src: x.address, dst: y.address, outer: outer, axis: axisSize, inner: inner)),
                reads: reads, writes: writes, node: node)
        case .resize, .upsample:
            let r = try resizeSpec(node)
            emit(
                .hostResize(
                    HostResizeOp(
                        src: x.address, dst: y.address, inDims: r.inDims, outDims: r.outDims, scales: r.scales,
                        coordinateMode: r.coordinate, nearestMode: r.nearest, mode: r.mode)), reads: reads,
                writes: writes, node: node)
        case .transpose:
            let perm = node.ints("perm") ?? Array((0..<xType.rank).reversed())
            let lead = hostRank - xType.rank
            let dims = Array(repeating: 1, count: lead) + xType.shape
            let fullPerm = Array(0..<lead) + perm.map { $0 + lead }
            emit(
                .hostTranspose(HostTransposeOp(src: x.address, dst: y.address, dims: dims, perm: fullPerm)),
                reads: reads, writes: writes, node: node)
        case .reduceMean:
            let context = ShapeRules.Context(
                node: node, inputs: node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) },
                opset: graph.opsetVersion, constant: { [initializers = graph.initializers] in initializers[$0] })
            let axes = try ShapeRules.reduceAxes(context, rank: xType.rank)
            let lead = hostRank - xType.rank
            let mask = axes.reduce(0) { $0 | 1 << ($1 + lead) }
            emit(
                .hostReduceMean(
                    HostReduceMeanOp(
                        src: x.address, dst: y.address, dims: Array(repeating: 1, count: lead) + xType.shape,
                        axesMask: mask, keepDims: node.int("keepdims", default: 1) != 0)),
                reads: reads, writes: writes, node: node)
        default:
            throw DFCError("node '\(node.name)': not a host op")
        }
    }

    /// A constant Pad's border value.
    static func padValue(_ node: Node, graph: Graph) -> Float {
        graph.opsetVersion >= 11
            ? node.input(2).flatMap { graph.initializers[$0]?.floats.first } ?? 0 : node.float("value", default: 0)
    }

    /// Pad with a non-zero border value v, chunk by chunk in SRAM:
    /// t = x zero-filled, m = 1 inside x and 0 outside (a stride-0 LOAD of the
    /// constant 1 zero-fills the border), w = v everywhere;
    /// then w -= w * m leaves v on the border only, and t += w.
    mutating func padWithValue(
        x: DRAMPlan.Location, xShape: [Int], origin: [Int], y: DRAMPlan.Location, yShape: [Int], node: Node
    ) {
        let one = constantAddress["\(node.name)#one"]!, value = constantAddress["\(node.name)#value"]!
        let chunk = Self.chunk(yShape, budget: config.sramBytes / 3 / 4)
        var index = [Int](repeating: 0, count: boxRank)
        while true {
            let size = (0..<boxRank).map { min(chunk[$0], yShape[$0] - index[$0]) }
            let count = size.reduce(1, *), bytes = 4 * count
            let t = 0, m = bytes, w = 2 * bytes
            let tile = { (address: Int) in
                SRAMTile(addr: address, channels: size[0] * size[1], height: size[2], width: size[3])
            }
            let at = (0..<boxRank).map { origin[$0] + index[$0] }
            let load = TransferOp(tensorAt: x.address, shape: xShape, origin: at, counts: size, sramAddr: t)
            emit(.load(load), reads: [x.range], writes: [.sram(t, bytes: bytes)], node: node)
            var mask = TransferOp(tensorAt: one, shape: xShape, origin: at, counts: size, sramAddr: m)
            mask.dramStrides = [0, 0, 0, 0]
            emit(.load(mask), reads: [.dram(one, bytes: 4)], writes: [.sram(m, bytes: bytes)], node: node)
            var fill = TransferOp(tensorAt: value, shape: size, origin: [0, 0, 0, 0], counts: size, sramAddr: w)
            fill.dramStrides = [0, 0, 0, 0]
            emit(.load(fill), reads: [.dram(value, bytes: 4)], writes: [.sram(w, bytes: bytes)], node: node)
            emit(
                .eltwise(EltwiseOp(.mul, a: tile(m), b: tile(w), output: tile(m))),
                reads: [.sram(m, bytes: bytes), .sram(w, bytes: bytes)], writes: [.sram(m, bytes: bytes)], node: node)
            emit(
                .eltwise(EltwiseOp(.sub, a: tile(w), b: tile(m), output: tile(w))),
                reads: [.sram(m, bytes: bytes), .sram(w, bytes: bytes)], writes: [.sram(w, bytes: bytes)], node: node)
            emit(
                .eltwise(EltwiseOp(.add, a: tile(t), b: tile(w), output: tile(t))),
                reads: [.sram(t, bytes: bytes), .sram(w, bytes: bytes)], writes: [.sram(t, bytes: bytes)], node: node)
            let store = TransferOp(tensorAt: y.address, shape: yShape, origin: index, counts: size, sramAddr: t)
            emit(.store(store), reads: [.sram(t, bytes: bytes)], writes: [y.range], node: node)
            if !Self.advance(&index, by: chunk, within: yShape) { return }
        }
    }
}
