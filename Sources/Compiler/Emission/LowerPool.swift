import Accelerator
import GraphIR
import Tensors

/// Layer-by-layer pooling: MaxPool, AveragePool and their global forms, tiled
/// over batches, channel blocks and bands of output rows, each tile loaded
/// with its padding, pooled, and stored.
extension Emitter {
    /// Pads an AveragePool with count_include_pad counts as cells of its window.
    typealias CountedPads = (top: Int, left: Int, bottom: Int, right: Int)

    mutating func lowerPool(_ node: Node) throws -> String {
        let (g, countPads) = try poolGeometry(node)
        let (cb, rows) = try poolTiling(g, node: node)
        let inputSlot = 4 * cb * g.inputRows(rows) * g.inputCols
        let outputSlot = 4 * cb * rows * g.wo
        let kind: PoolKind = node.kind == .maxPool || node.kind == .globalMaxPool ? .max : .avg
        var turn = 0
        for batch in 0..<g.n {
            for c0 in stride(from: 0, to: g.cin, by: cb) {
                let channels = c0..<min(c0 + cb, g.cin)
                for y0 in stride(from: 0, to: g.ho, by: rows) {
                    let inAddress = (turn % 2) * inputSlot, outAddress = 2 * inputSlot + (turn % 2) * outputSlot
                    turn += 1
                    emitPoolTile(
                        node, g, kind: kind, countPads: countPads, batch: batch, channels: channels,
                        band: y0..<min(y0 + rows, g.ho), input: inAddress, output: outAddress)
                }
            }
        }
        return "rows \(rows), channel block \(cb)"
    }

    /// The pool's window as a depthwise convolution over a 4-d view of its
    /// input (a 1-d pool gets height 1; a global pool's window is the whole
    /// map), and the pads an AveragePool counts.
    func poolGeometry(_ node: Node) throws -> (ConvGeometry, CountedPads) {
        let xType = graph.type(of: node.inputs[0])!, yType = graph.type(of: node.outputs[0])!
        let global = node.kind == .globalAveragePool || node.kind == .globalMaxPool
        let two = xType.rank == 4
        let n = xType.shape[0], c = xType.shape[1]
        let h = two ? xType.shape[2] : 1, w = xType.shape.last!
        let ho = two ? yType.shape[2] : 1, wo = yType.shape.last!
        var g = ConvGeometry(
            n: n, cin: c, h: h, w: w, cout: c, ho: ho, wo: wo, kh: h, kw: w, sh: 1, sw: 1, dh: 1, dw: 1,
            padTop: 0, padLeft: 0, groups: c)
        var countPads: CountedPads = (top: 0, left: 0, bottom: 0, right: 0)
        guard !global else { return (g, countPads) }
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
        return (g, countPads)
    }

    /// Largest tiles that fit, double-buffered: for each channel block (all
    /// channels, then powers of two) as many output rows as fit; of those, the
    /// one reading the fewest DRAM bytes (overlapping windows re-read rows).
    func poolTiling(_ g: ConvGeometry, node: Node) throws -> (channelBlock: Int, rows: Int) {
        let n = g.n, c = g.cin, ho = g.ho, wo = g.wo
        var choice: (cb: Int, rows: Int, bytes: Int)?
        var blocks = [c]
        var b = 1
        while b < c { blocks.append(b); b *= 2 }
        for cb in blocks {
            for rows in stride(from: ho, through: 1, by: -1) {
                let sram = 2 * 4 * cb * g.inputRows(rows) * g.inputCols + 2 * 4 * cb * rows * wo
                guard sram <= config.sramBytes else { continue }
                let bands = stride(from: 0, to: ho, by: rows).map { ($0, min(rows, ho - $0)) }
                let bytes =
                    4 * n * c * (bands.reduce(0) { $0 + g.validRows(band: $1.0, rows: $1.1) * g.validCols } + ho * wo)
                if choice == nil || bytes < choice!.bytes { choice = (cb, rows, bytes) }
                break
            }
        }
        guard let (cb, rows, _) = choice else {
            // The smallest tile: one channel, one output row.
            let smallest = 2 * 4 * g.inputRows(1) * g.inputCols + 2 * 4 * wo
            throw AcceleratorConfig.doesNotFit(
                node.name, "pool", sramBytes: config.sramBytes, needed: config.smallestSRAM { smallest <= $0.sramBytes }
            )
        }
        return (cb, rows)
    }

    /// One tile: LOAD the input rows the output `band` reads (padding
    /// zero-filled), POOL, the node's activation if any, STORE.
    mutating func emitPoolTile(
        _ node: Node, _ g: ConvGeometry, kind: PoolKind, countPads: CountedPads, batch: Int,
        channels: Range<Int>, band: Range<Int>, input inAddress: Int, output outAddress: Int
    ) {
        let top = band.lowerBound * g.sh - g.padTop
        let load = paddedLoad(
            node.inputs[0], batch: batch, channels: channels, rows: top..<(top + g.inputRows(band.count)),
            columns: -g.padLeft..<(g.inputCols - g.padLeft), at: inAddress)
        emit(
            .load(load), reads: [location(node.inputs[0]).range], writes: [.sram(inAddress, bytes: 4 * load.elements)],
            node: node)
        let input = SRAMTile(
            addr: inAddress, channels: channels.count, height: g.inputRows(band.count), width: g.inputCols)
        let output = SRAMTile(addr: outAddress, channels: channels.count, height: band.count, width: g.wo)
        let outputRange = MemoryRange.sram(outAddress, bytes: 4 * output.elements)
        let pool = PoolOp(
            kind, input: input, output: output, kernel: (g.kh, g.kw), stride: (g.sh, g.sw),
            dilation: (g.dh, g.dw), window: PadWindow(originY: top, originX: -g.padLeft, extentH: g.h, extentW: g.w),
            countPads: countPads)
        emit(.pool(pool), reads: [.sram(inAddress, bytes: 4 * input.elements)], writes: [outputRange], node: node)
        if let activation = node.activation {
            emit(
                .act(ActOp(input: output, output: output, activation: activation.fused)), reads: [outputRange],
                writes: [outputRange], node: node)
        }
        let y = location(node.outputs[0])
        let store = TransferOp(
            tensorAt: y.address, shape: [g.n, g.cout, g.ho, g.wo],
            origin: [batch, channels.lowerBound, band.lowerBound, 0],
            counts: [1, channels.count, band.count, g.wo], sramAddr: outAddress)
        emit(.store(store), reads: [outputRange], writes: [y.range], node: node)
    }
}
