import Accelerator
import GraphIR
import Tensors

/// An ONNX Resize or Upsample as the accelerator sees it: 4-d shapes (leading
/// 1s), one scale per axis, and the ISA's modes.
struct ResizeSpec {
    var inDims: [Int], outDims: [Int], scales: [Float]
    var coordinate: CoordinateMode, nearest: NearestMode, mode: ResizeMode

    /// Whether only the two spatial axes change, so the vector unit's RESIZE
    /// can do it on tiles of whole rows: the batch and channel axes must map
    /// each index to itself (which some modes do not do even at scale 1,
    /// e.g. tf_half_pixel_for_nearest rounding up).
    var isSpatial: Bool {
        (0..<2).allSatisfy { axis in
            inDims[axis] == outDims[axis] && scales[axis] == 1
                && (0..<inDims[axis]).allSatisfy { i in
                    switch mode {
                    case .nearest:
                        return ResizeAxis.nearestIndex(
                            i, scale: 1, inLength: inDims[axis], outLength: inDims[axis], coordinate, nearest) == i
                    case .linear:
                        let (i0, _, weight) = ResizeAxis.linearTaps(
                            i, scale: 1, inLength: inDims[axis], outLength: inDims[axis], coordinate)
                        return i0 == i && weight == 0
                    }
                }
        }
    }
}

extension Emitter {
    /// The coordinate_transformation_mode values the accelerator implements.
    static let coordinateModes: [String: CoordinateMode] = [
        "half_pixel": .halfPixel, "asymmetric": .asymmetric, "align_corners": .alignCorners,
        "pytorch_half_pixel": .pytorchHalfPixel, "tf_half_pixel_for_nearest": .tfHalfPixelForNN
    ]

    /// The node's shapes, scales and modes (Upsample and opset-10 Resize
    /// index as floor(out / scale)).
    func resizeSpec(_ node: Node) throws -> ResizeSpec {
        let xType = graph.type(of: node.inputs[0])!
        let context = ShapeRules.Context(
            node: node, inputs: node.inputs.map { $0.isEmpty ? nil : graph.type(of: $0) },
            opset: graph.opsetVersion, constant: { [initializers = graph.initializers] in initializers[$0] })
        let (shape, scales) = try ShapeRules.resizeShape(context, input: xType)
        let legacy = node.kind == .upsample || graph.opsetVersion < 11
        let transform = legacy ? "asymmetric" : node.string("coordinate_transformation_mode", default: "half_pixel")
        let rounding = legacy ? "floor" : node.string("nearest_mode", default: "round_prefer_floor")
        let roundings: [String: NearestMode] = [
            "round_prefer_floor": .roundPreferFloor, "round_prefer_ceil": .roundPreferCeil, "floor": .floor,
            "ceil": .ceil
        ]
        let interpolations: [String: ResizeMode] = ["nearest": .nearest, "linear": .linear]
        guard let coordinate = Self.coordinateModes[transform], let nearest = roundings[rounding],
            let mode = interpolations[node.string("mode", default: "nearest")],
            let inDims = Self.padded4(xType.shape), let outDims = Self.padded4(shape)
        else {
            throw DFCError("node '\(node.name)': this Resize is not supported on the accelerator", kind: .unsupported)
        }
        let factors = Array(repeating: Float(1), count: boxRank - scales.count) + scales.map { Float($0) }
        return ResizeSpec(
            inDims: inDims, outDims: outDims, scales: factors, coordinate: coordinate, nearest: nearest, mode: mode)
    }

    /// Layer-by-layer Resize on the vector unit: tiles of whole output rows
    /// of a block of channels, each with the input rows it reads, double
    /// buffered with the next tile's LOAD issued before this tile's RESIZE
    /// (as LRN). Resizes of the batch or channels, or whose smallest tile
    /// does not fit, run as one HOST.RESIZE.
    mutating func lowerResize(_ node: Node) throws -> (engine: String, tiling: String) {
        let r = try resizeSpec(node)
        let (batch, channels) = (r.inDims[0], r.inDims[1])
        let (inH, inW, outH, outW) = (r.inDims[2], r.inDims[3], r.outDims[2], r.outDims[3])
        func op(input: SRAMTile, output: SRAMTile, inRows: Range<Int>, outRow: Int) -> ResizeOp {
            ResizeOp(
                input: input, output: output, inRow: inRows.lowerBound, outRow: outRow, inHeight: inH,
                outHeight: outH, scales: (r.scales[2], r.scales[3]), coordinateMode: r.coordinate,
                nearestMode: r.nearest, mode: r.mode)
        }
        let geometry = op(input: SRAMTile(), output: SRAMTile(), inRows: 0..<0, outRow: 0)
        // The most input rows any band of `rows` output rows reads.
        func inputRows(_ rows: Int) -> Int {
            stride(from: 0, to: outH, by: rows).map { geometry.inputRows($0..<min($0 + rows, outH)).count }.max() ?? 0
        }
        // Channels first (whole maps), then output rows, as many as two slots each way hold.
        func fits(_ block: Int, _ rows: Int) -> Bool {
            8 * block * (inputRows(rows) * inW + rows * outW) <= config.sramBytes
        }
        var block = channels
        while block > 1 && !fits(block, 1) { block = (block + 1) / 2 }
        guard r.isSpatial, fits(block, 1) else {
            try lowerHost(node)
            return ("host", "whole tensor in DRAM")
        }
        var rows = 1
        while rows < outH && fits(block, rows * 2) { rows *= 2 }
        if block == channels { while rows < outH && fits(block, rows + 1) { rows += 1 } }
        let inSlot = DRAMPlan.align(4 * block * inputRows(rows) * inW)
        let outSlot = DRAMPlan.align(4 * block * rows * outW)
        var tiles: [(n: Int, channels: Range<Int>, rows: Range<Int>)] = []
        for n in 0..<batch {
            for c0 in stride(from: 0, to: channels, by: block) {
                for y0 in stride(from: 0, to: outH, by: rows) {
                    tiles.append((n, c0..<min(c0 + block, channels), y0..<min(y0 + rows, outH)))
                }
            }
        }
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        func box(_ tile: Int, _ rows: Range<Int>, of dims: (Int, Int), sramAddr: Int, at location: DRAMPlan.Location)
            -> TransferOp
        {
            let t = tiles[tile]
            return TransferOp(
                tensorAt: location.address, shape: [batch, channels, dims.0, dims.1],
                origin: [t.n, t.channels.lowerBound, rows.lowerBound, 0],
                counts: [1, t.channels.count, rows.count, dims.1], sramAddr: sramAddr)
        }
        func load(_ i: Int, _ e: inout Emitter) {
            let t = box(i, geometry.inputRows(tiles[i].rows), of: (inH, inW), sramAddr: (i % 2) * inSlot, at: x)
            e.emit(.load(t), reads: [x.range], writes: [.sram(t.sramAddr, bytes: 4 * t.elements)], node: node)
        }
        load(0, &self)
        for i in tiles.indices {
            if i + 1 < tiles.count { load(i + 1, &self) }
            let inRows = geometry.inputRows(tiles[i].rows)
            let count = tiles[i].channels.count
            let input = SRAMTile(addr: (i % 2) * inSlot, channels: count, height: inRows.count, width: inW)
            let output = SRAMTile(
                addr: 2 * inSlot + (i % 2) * outSlot, channels: count, height: tiles[i].rows.count, width: outW)
            emit(
                .resize(op(input: input, output: output, inRows: inRows, outRow: tiles[i].rows.lowerBound)),
                reads: [.sram(input.addr, bytes: 4 * input.elements)],
                writes: [.sram(output.addr, bytes: 4 * output.elements)], node: node)
            emit(
                .store(box(i, tiles[i].rows, of: (outH, outW), sramAddr: output.addr, at: y)),
                reads: [.sram(output.addr, bytes: 4 * output.elements)], writes: [y.range], node: node)
        }
        let what = block == channels ? "all \(channels) channels" : "channel blocks of \(block)"
        return ("vector", "output rows \(rows), \(what), \(r.mode == .linear ? "bilinear" : "nearest")")
    }
}
