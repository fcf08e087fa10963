import Accelerator
import GraphIR

extension Emitter {
    /// A 4-d box of a DRAM tensor: the tensor's location viewed as `shape`,
    /// and the box's origin (may be negative or run past the extent: LOAD
    /// zero-fills those cells).
    struct Box {
        var location: DRAMPlan.Location
        var shape: [Int]
        var origin: [Int]
    }

    /// Copies `counts` cells from one DRAM box to another through SRAM, in
    /// chunks that fit half the SRAM each (two chunks in flight). Cells of
    /// the source box outside its tensor arrive as zeros.
    mutating func copyThroughSRAM(from source: Box, to destination: Box, counts: [Int], node: Node) {
        precondition(counts.count == boxRank && source.shape.count == boxRank && destination.shape.count == boxRank)
        guard counts.allSatisfy({ $0 > 0 }) else { return }
        let chunk = Self.chunk(counts, budget: config.sramBytes / 2 / 4)
        var slot = 0
        var index = [Int](repeating: 0, count: boxRank)
        while true {
            let size = (0..<boxRank).map { min(chunk[$0], counts[$0] - index[$0]) }
            let address = (slot % 2) * (config.sramBytes / 2)
            slot += 1
            let bytes = 4 * size.reduce(1, *)
            var load = TransferOp(
                tensorAt: source.location.address, shape: source.shape,
                origin: (0..<boxRank).map { source.origin[$0] + index[$0] }, counts: size, sramAddr: address)
            load.extent = source.shape
            emit(.load(load), reads: [source.location.range], writes: [.sram(address, bytes: bytes)], node: node)
            let store = TransferOp(
                tensorAt: destination.location.address, shape: destination.shape,
                origin: (0..<boxRank).map { destination.origin[$0] + index[$0] }, counts: size, sramAddr: address)
            emit(.store(store), reads: [.sram(address, bytes: bytes)], writes: [destination.location.range], node: node)
            if !Self.advance(&index, by: chunk, within: counts) { return }
        }
    }

    /// The largest box of at most `budget` elements that keeps inner axes
    /// whole for as long as they fit (chunks are cut from the outermost axis in).
    static func chunk(_ counts: [Int], budget: Int) -> [Int] {
        var chunk = counts
        for d in 0..<counts.count {
            let inner = chunk[(d + 1)...].reduce(1, *)
            if inner * chunk[d] <= budget { break }
            chunk[d] = max(1, budget / inner)
            if chunk[d] == 1 && inner > budget { continue }
            break
        }
        return chunk
    }

    /// Steps `index` to the next chunk's origin in odometer order; false after the last.
    static func advance(_ index: inout [Int], by chunk: [Int], within counts: [Int]) -> Bool {
        for d in stride(from: counts.count - 1, through: 0, by: -1) {
            index[d] += chunk[d]
            if index[d] < counts[d] { return true }
            index[d] = 0
        }
        return false
    }

    /// A location's shape folded to 4 dims around `axis`: [1, outer, axis, inner].
    static func folded(_ shape: [Int], axis: Int) -> [Int] {
        [1, shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *)]
    }

    /// A shape padded with leading 1s to 4 dims (nil above rank 4).
    static func padded4(_ shape: [Int]) -> [Int]? {
        shape.count <= boxRank ? Array(repeating: 1, count: boxRank - shape.count) + shape : nil
    }
}
