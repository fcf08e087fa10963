import Accelerator
import GraphIR
import Tensors

/// Layer-by-layer LRN on the vector unit. The input is viewed as
/// [N][C][rows][W] (middle spatial axes merged into rows); each tile holds
/// every channel of a band of rows, since the window runs across channels.
/// Tiles are double-buffered, two input and two output slots, and the next
/// tile's LOAD is issued before this tile's LRN so that the DRAM channel,
/// which serves transfers in program order, moves it while the LRN runs.
/// When not even one row of every channel fits the four slots, the layer
/// runs as one HOST.LRN on the whole tensor.
extension Emitter {
    mutating func lowerLRN(_ node: Node) throws -> (engine: String, tiling: String) {
        let shape = graph.type(of: node.inputs[0])!.shape
        let view = [shape[0], shape[1], shape[2..<(shape.count - 1)].reduce(1, *), shape[shape.count - 1]]
        let (channels, height, width) = (view[1], view[2], view[3])
        let size = node.int("size", default: 1)
        let alpha = node.float("alpha", default: 1e-4), beta = node.float("beta", default: 0.75)
        let bias = node.float("bias", default: 1)
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let rowBytes = 4 * channels * width
        let rows = min(height, config.sramBytes / (4 * rowBytes))
        guard rows >= 1, FieldWidth.u16.range.contains(size) else {
            let op = HostLRNOp(
                src: x.address, dst: y.address, n: view[0], c: channels, spatial: height * width, size: size,
                alpha: alpha, beta: beta, bias: bias)
            emit(.hostLRN(op), reads: [x.range], writes: [y.range], node: node)
            return ("host", "whole tensor in DRAM (one row of every channel does not fit SRAM)")
        }
        var tiles: [(batch: Int, band: Range<Int>)] = []
        for batch in 0..<view[0] {
            for r0 in stride(from: 0, to: height, by: rows) { tiles.append((batch, r0..<min(r0 + rows, height))) }
        }
        let slot = rows * rowBytes
        func box(_ i: Int, sramAddr: Int, at location: DRAMPlan.Location) -> TransferOp {
            let (batch, band) = tiles[i]
            return TransferOp(
                tensorAt: location.address, shape: view, origin: [batch, 0, band.lowerBound, 0],
                counts: [1, channels, band.count, width], sramAddr: sramAddr)
        }
        func load(_ i: Int, _ e: inout Emitter) {
            let t = box(i, sramAddr: (i % 2) * slot, at: x)
            e.emit(.load(t), reads: [x.range], writes: [.sram(t.sramAddr, bytes: 4 * t.elements)], node: node)
        }
        load(0, &self)
        for i in tiles.indices {
            if i + 1 < tiles.count { load(i + 1, &self) }
            let input = SRAMTile(addr: (i % 2) * slot, channels: channels, height: tiles[i].band.count, width: width)
            var output = input
            output.addr = (2 + i % 2) * slot
            let bytes = 4 * input.elements
            emit(
                .lrn(LRNOp(input: input, output: output, size: size, alpha: alpha, beta: beta, bias: bias)),
                reads: [.sram(input.addr, bytes: bytes)], writes: [.sram(output.addr, bytes: bytes)], node: node)
            emit(
                .store(box(i, sramAddr: output.addr, at: y)), reads: [.sram(output.addr, bytes: bytes)],
                writes: [y.range], node: node)
        }
        return ("vector", "rows \(rows), all \(channels) channels")
    }
}
