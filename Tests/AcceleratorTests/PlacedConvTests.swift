import Testing
@testable import Accelerator

/// A 1x1 CONV whose output rows are not adjacent (its product's columns placed into the rows as they are
/// stored, in one pass over all input channels, also past `dfc_sgemm_depth()`) against the same CONV into a
/// dense tile (a product into the tile, then a pass of bias and activation): the same bits in every output
/// row, for activations the epilogue applies and ones applied after it, on tiles of one row and several, at
/// widths that cut the 16-lane vectors anywhere, products split over the cores or not, and nothing written
/// between the rows.
@Suite struct PlacedConvTests {
    @Test(arguments: [
        (20, 96, 5, 37), (7, 96, 2, 200), (40, 64, 1, 113), (13, 200, 7, 29), (2, 384, 3, 200), (3, 400, 4, 50),
        (9, 960, 2, 7)
    ])
    func placedRowsMatchADenseTile(channels: Int, cin: Int, rows: Int, width: Int) {
        let activations = [
            FusedActivation.none, FusedActivation(.clip, alpha: 0, beta: 6), FusedActivation(.hardSwish),
            FusedActivation(.sigmoid)
        ]
        let inputWords = cin * rows * width, outputWords = channels * rows * (width + 3)
        let weights = inputWords, bias = weights + channels * cin, out = bias + channels
        let total = out + outputWords
        let start = ExecutorFastPathTests.randomFloats(total, seed: 71 + UInt64(width))
        let input = SRAMTile(addr: 0, channels: cin, height: rows, width: width)
        for activation in activations {
            for hasBias in [false, true] {
                func run(placed: Bool) -> [Float] {
                    let sram = Memory(bytes: 4 * total)!, dram = Memory(bytes: 4)!
                    start.withUnsafeBytes { sram.write($0, at: 0) }
                    // Placed: rows of width + 3 words, channels interleaved between them.
                    let output =
                        placed
                        ? SRAMTile(
                            addr: 4 * out, channels: channels, height: rows, width: width, channelStride: width + 3,
                            rowStride: channels * (width + 3))
                        : SRAMTile(addr: 4 * out, channels: channels, height: rows, width: width)
                    Machine(sram: sram.view, dram: dram.view).execute(
                        .conv(
                            ConvOp(
                                input: input, output: output, weightAddr: 4 * weights,
                                biasAddr: hasBias ? 4 * bias : nil, kernel: (1, 1), activation: activation)))
                    let (values, untouched) = Self.read(output, in: sram, words: out..<total, start: start)
                    #expect(untouched, "placed \(placed): a word between the rows was written")
                    return values
                }
                let same = run(placed: true).map(\.bitPattern) == run(placed: false).map(\.bitPattern)
                #expect(same, "\(activation.kind) bias \(hasBias)")
            }
        }
    }

    /// Input and output tiles that both interleave the channels within each row (MobileNetV2's layout: a
    /// product per output row, `convRowProducts`) against dense tiles of the same values: the same bits,
    /// with and without bias, for an activation of the epilogue and one after it, split over the cores or
    /// not, and nothing written between the rows.
    @Test(arguments: [(96, 16, 8, 112), (24, 96, 4, 56), (160, 960, 7, 7), (5, 3, 3, 30), (1, 40, 2, 9)])
    func interleavedRowsMatchDenseTiles(channels: Int, cin: Int, rows: Int, width: Int) {
        let (inStride, outStride) = (width + 1, width + 2)
        let dense = 0, interleaved = cin * rows * width
        let weights = interleaved + cin * rows * inStride, bias = weights + channels * cin, out = bias + channels
        let total = out + channels * rows * outStride
        var start = ExecutorFastPathTests.randomFloats(total, seed: 97 + UInt64(channels))
        for ci in 0..<cin {
            for r in 0..<rows {
                for x in 0..<width {
                    start[interleaved + r * cin * inStride + ci * inStride + x] =
                        start[dense + (ci * rows + r) * width + x]
                }
            }
        }
        for activation in [FusedActivation(.relu), FusedActivation(.hardSwish)] {
            for hasBias in [false, true] {
                func run(interleavedTiles: Bool) -> [Float] {
                    let sram = Memory(bytes: 4 * total)!, dram = Memory(bytes: 4)!
                    start.withUnsafeBytes { sram.write($0, at: 0) }
                    let (input, output) =
                        interleavedTiles
                        ? (
                            SRAMTile(
                                addr: 4 * interleaved, channels: cin, height: rows, width: width,
                                channelStride: inStride, rowStride: cin * inStride),
                            SRAMTile(
                                addr: 4 * out, channels: channels, height: rows, width: width,
                                channelStride: outStride, rowStride: channels * outStride)
                        )
                        : (
                            SRAMTile(addr: 4 * dense, channels: cin, height: rows, width: width),
                            SRAMTile(addr: 4 * out, channels: channels, height: rows, width: width)
                        )
                    Machine(sram: sram.view, dram: dram.view).execute(
                        .conv(
                            ConvOp(
                                input: input, output: output, weightAddr: 4 * weights,
                                biasAddr: hasBias ? 4 * bias : nil, kernel: (1, 1), activation: activation)))
                    let (values, untouched) = Self.read(output, in: sram, words: out..<total, start: start)
                    #expect(untouched, "interleaved \(interleavedTiles): a word between the rows was written")
                    return values
                }
                let same =
                    run(interleavedTiles: true).map(\.bitPattern) == run(interleavedTiles: false).map(\.bitPattern)
                #expect(same, "\(activation.kind) bias \(hasBias)")
            }
        }
    }

    /// Every value of `tile` at its (channel, row, column), and whether every other word of `words`
    /// still holds its bits from `start`.
    static func read(_ tile: SRAMTile, in sram: Memory, words: Range<Int>, start: [Float]) -> ([Float], Bool) {
        var values: [Float] = []
        var written = Set<Int>()
        for co in 0..<tile.channels {
            for r in 0..<tile.height {
                for x in 0..<tile.width {
                    let at = tile.addr / 4 + co * tile.channelStride + r * tile.rowStride + x
                    values.append(sram.view[at])
                    written.insert(at)
                }
            }
        }
        let untouched = words.filter { !written.contains($0) }.allSatisfy {
            sram.view[$0].bitPattern == start[$0].bitPattern
        }
        return (values, untouched)
    }
}
