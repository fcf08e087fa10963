import Accelerator
import GraphIR
import Tensors

extension Emitter {
    // MARK: - DepthToSpace and SpaceToDepth

    /// DepthToSpace and SpaceToDepth as DMA copies through SRAM, tile by
    /// tile (shallow channels x rows x columns of the deep side; two slots,
    /// the next tile's LOAD issued before this tile's STORE). The SRAM tile
    /// is the shallow side's dense box; the permutation happens on the DMA's
    /// SRAM side, one transfer per block row i, so DRAM runs stay whole rows:
    /// DepthToSpace LOADs the b deep channels of (c, i, ·) into every b-th
    /// cell of the tile's rows i, i + b, ... and STOREs it dense;
    /// SpaceToDepth LOADs dense and STOREs each block row i's cells to its
    /// b deep channels.
    mutating func lowerSpaceDepth(_ node: Node) throws -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let layout = try SpaceDepthLayout(node)
        let b = layout.blocksize, toSpace = node.kind == .depthToSpace
        let shallow = toSpace ? y : x, deep = toSpace ? x : y
        let (batch, channels, height, width) = (shallow.shape[0], shallow.shape[1], deep.shape[2], deep.shape[3])
        let slotBytes = config.sramBytes / 2
        guard 4 * b * b <= slotBytes else {
            throw AcceleratorConfig.doesNotFit(
                node.name, "\(node.opType)", sramBytes: config.sramBytes,
                needed: config.smallestSRAM { 8 * b * b <= $0.sramBytes },
                why: " (one block of \(b) x \(b) pixels, double-buffered)")
        }
        let chunk = Self.chunk([channels, height, width], budget: slotBytes / 4 / (b * b))
        var tiles: [(n: Int, at: [Int], size: [Int])] = []
        for n in 0..<batch {
            var index = [0, 0, 0]
            repeat {
                tiles.append((n, index, (0..<3).map { min(chunk[$0], [channels, height, width][$0] - index[$0]) }))
            } while Self.advance(&index, by: chunk, within: [channels, height, width])
        }
        let steps = layout.channelSteps(shallow: channels), plane = height * width
        /// Block row i of tile k, as a box [j, c, row, column] of the deep
        /// tensor, gathered from or scattered to the shallow tile in SRAM.
        func blockRow(_ k: Int, _ i: Int) -> TransferOp {
            let (n, at, size) = tiles[k]
            var t = TransferOp()
            t.counts = [b] + size
            t.dramAddr = deep.address + 4 * (n * channels * b * b * plane + i * steps.i * plane)
            t.dramStrides = [steps.j * plane, steps.c * plane, width, 1]
            t.extent = [b, channels, height, width]
            t.origin = [0] + at
            let tileWidth = size[2] * b
            t.sramAddr = (k % 2) * slotBytes + 4 * i * tileWidth
            t.sramStrides = [1, size[1] * b * tileWidth, b * tileWidth, b]
            return t
        }
        /// Tile k of the shallow tensor, dense in SRAM.
        func denseTile(_ k: Int) -> TransferOp {
            let (n, at, size) = tiles[k]
            return TransferOp(
                tensorAt: shallow.address, shape: shallow.shape, origin: [n, at[0], at[1] * b, at[2] * b],
                counts: [1, size[0], size[1] * b, size[2] * b], sramAddr: (k % 2) * slotBytes)
        }
        func span(_ t: TransferOp) -> MemoryRange {
            .sram(t.sramAddr, bytes: 4 * (1 + (0..<boxRank).reduce(0) { $0 + (t.counts[$1] - 1) * t.sramStrides[$1] }))
        }
        func load(_ k: Int, _ e: inout Emitter) {
            for t in toSpace ? (0..<b).map({ blockRow(k, $0) }) : [denseTile(k)] {
                e.emit(.load(t), reads: [x.range], writes: [span(t)], node: node)
            }
        }
        load(0, &self)
        for k in tiles.indices {
            if k + 1 < tiles.count { load(k + 1, &self) }
            for t in toSpace ? [denseTile(k)] : (0..<b).map({ blockRow(k, $0) }) {
                emit(.store(t), reads: [span(t)], writes: [y.range], node: node)
            }
        }
        let side = toSpace ? "LOAD" : "STORE"
        return "\(chunk[0]) channels x \(chunk[1]) x \(chunk[2]) per tile, blocks placed by the \(side)"
    }

    // MARK: - Expand and Tile

    /// Expand and Tile of a run-time map as broadcast copies: the input is
    /// LOADed once, chunk by chunk, and each chunk is STOREd to every place
    /// it repeats at; an axis the input has size 1 on is read with SRAM
    /// stride 0, so one STORE writes it whole.
    mutating func lowerBroadcastCopy(_ node: Node) -> String {
        let x = location(node.inputs[0]), y = location(node.outputs[0])
        let yShape = Self.padded4(y.shape)!
        let xShape = Array(repeating: 1, count: boxRank - x.shape.count) + x.shape
        guard yShape.allSatisfy({ $0 > 0 }) else { return "empty" }
        let broadcast = (0..<boxRank).map { xShape[$0] == 1 && yShape[$0] > 1 }
        let repeats = (0..<boxRank).map { broadcast[$0] ? 1 : yShape[$0] / xShape[$0] }
        let slotBytes = config.sramBytes / 2
        let chunk = Self.chunk(xShape, budget: slotBytes / 4)
        var chunks: [(at: [Int], size: [Int])] = []
        var index = [Int](repeating: 0, count: boxRank)
        repeat {
            chunks.append((index, (0..<boxRank).map { min(chunk[$0], xShape[$0] - index[$0]) }))
        } while Self.advance(&index, by: chunk, within: xShape)
        func load(_ k: Int, _ e: inout Emitter) {
            let (at, size) = chunks[k]
            let t = TransferOp(
                tensorAt: x.address, shape: xShape, origin: at, counts: size, sramAddr: (k % 2) * slotBytes)
            e.emit(.load(t), reads: [x.range], writes: [.sram(t.sramAddr, bytes: 4 * t.elements)], node: node)
        }
        var stores = 0
        load(0, &self)
        for k in chunks.indices {
            if k + 1 < chunks.count { load(k + 1, &self) }
            let (at, size) = chunks[k]
            let dense = rowMajorStrides(size)
            var copy = [Int](repeating: 0, count: boxRank)
            repeat {
                var t = TransferOp(
                    tensorAt: y.address, shape: yShape,
                    origin: (0..<boxRank).map { broadcast[$0] ? 0 : copy[$0] * xShape[$0] + at[$0] },
                    counts: (0..<boxRank).map { broadcast[$0] ? yShape[$0] : size[$0] }, sramAddr: (k % 2) * slotBytes)
                t.sramStrides = (0..<boxRank).map { broadcast[$0] ? 0 : dense[$0] }
                emit(.store(t), reads: [.sram(t.sramAddr, bytes: 4 * size.reduce(1, *))], writes: [y.range], node: node)
                stores += 1
            } while Self.advance(&copy, by: [1, 1, 1, 1], within: repeats)
        }
        return "\(chunks.count) LOAD\(chunks.count == 1 ? "" : "s"), \(stores) broadcast STORE\(stores == 1 ? "" : "s")"
    }
}
