import Foundation
import Tensors
import Testing
@testable import Accelerator

/// CONVs on CKernels' packed panels (`Machine.convPanels`: AVX2 and FMA without AVX-512, kernels larger
/// than 1x1) against the loops of docs/isa.md: shapes that cross the 64-column strips, the 16-column tiles
/// and the 384-deep passes over the taps; column strides 1, 2 and 3 (the masked, even-word and scalar
/// gathers), dilation, groups, windows that pad any side or cut the tile short, output tiles with rows
/// adjacent or apart, accumulation, bias and every kind of activation; and the same bits from run to run
/// when the product is split over the cores.
@Suite(.enabled(if: GEMM.packsPanels, "the CPU has AVX-512, or neither AVX2 nor FMA")) struct ConvPanelsTests {
    @Test(arguments: 0..<32) func panelsMatchReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 900)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let g = [1, 1, 1, 2, 3][r(0...4)]
        // Every fourth seed more than 384 taps a group: two passes over k.
        let cinG = seed % 4 == 3 ? r(43...60) : r(1...12), coutG = r(1...20)
        let (cin, cout) = (cinG * g, coutG * g)
        let (kh, kw) = [(3, 3), (2, 3), (3, 1), (1, 3), (2, 2), (3, 4)][r(0...5)]
        let (sh, sw, dh, dw) = (r(1...2), r(1...3), r(1...2), r(1...2))
        let wo = [1, 3, 7, 8, 13, 16, 17, 56, 64, 65][r(0...9)], ho = r(1...6)
        let h = (ho - 1) * sh + (kh - 1) * dh + 1, w = (wo - 1) * sw + (kw - 1) * dw + 1
        let input = SRAMTile(
            addr: 0, channels: cin, height: h, width: w, channelStride: h * (w + 1) + 2, rowStride: w + 1)
        let inWords = cin * input.channelStride
        // Rows apart (a placed product) or a dense tile.
        let apart = r(0...1) == 1
        let rowStride = apart ? wo + 3 : wo
        let output = SRAMTile(
            addr: 4 * inWords, channels: cout, height: ho, width: wo, channelStride: ho * rowStride + r(0...2),
            rowStride: rowStride)
        let outWords = cout * output.channelStride
        let weightAddr = 4 * (inWords + outWords), weightCount = cout * cinG * kh * kw
        let biasAddr = weightAddr + 4 * weightCount
        var sram = (0..<(inWords + outWords + weightCount + cout)).map { _ in Float.random(in: -1...1, using: &rng) }
        let window = PadWindow(originY: r(-2...1), originX: r(-3...1), extentH: r(1...h), extentW: r(1...w))
        let accumulate = r(0...1) == 1, hasBias = r(0...1) == 1
        let activation = KernelTests.activations[r(0...KernelTests.activations.count - 1)]
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr, biasAddr: hasBias ? biasAddr : nil,
            kernel: (kh, kw), stride: (sh, sw), dilation: (dh, dw), groups: g, window: window,
            accumulate: accumulate, activation: activation)
        let scratch = Memory(bytes: 4)!
        #expect(!Machine(sram: scratch.view, dram: scratch.view).readsRowsInPlace(op), "the in-place path")
        let got = try KernelTests.execute(.conv(op), sram: sram).sram
        KernelTests.referenceConv(op, sram: &sram)
        #expect(KernelTests.close(got, sram), "seed \(seed)")
    }

    /// Output rows at most eight wide with column stride 1 (the gather's path for runs of whole rows, ResNet's
    /// 7x7 maps): enough rows that the 64-column strips end inside a row, windows that pad or cut every side
    /// (rows of taps outside the window, a vector's first or last lanes masked), one or two passes over the taps.
    @Test(arguments: 0..<12) func narrowRowsMatchReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 1700)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let cin = seed % 3 == 2 ? r(43...50) : r(1...16), cout = r(1...40)
        let wo = [1, 5, 7, 8][seed % 4], ho = r(8...14)
        let (kh, kw) = [(3, 3), (1, 3), (3, 2)][r(0...2)]
        let (h, w) = (ho - 1 + kh, wo - 1 + kw)
        let input = SRAMTile(
            addr: 0, channels: cin, height: h, width: w, channelStride: h * (w + 2) + 1, rowStride: w + 2)
        let inWords = cin * input.channelStride
        let output = SRAMTile(addr: 4 * inWords, channels: cout, height: ho, width: wo)
        let weightAddr = 4 * (inWords + output.elements), weightCount = cout * cin * kh * kw
        var sram = (0..<(inWords + output.elements + weightCount + cout)).map { _ in
            Float.random(in: -1...1, using: &rng)
        }
        let window = PadWindow(
            originY: r(-2...0), originX: r(-2...1), extentH: r(h - 2...h), extentW: r(max(1, w - 2)...w))
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr,
            biasAddr: seed % 2 == 0 ? weightAddr + 4 * weightCount : nil, kernel: (kh, kw), window: window,
            accumulate: seed % 4 == 1, activation: .relu)
        let scratch = Memory(bytes: 4)!
        #expect(!Machine(sram: scratch.view, dram: scratch.view).readsRowsInPlace(op), "the in-place path")
        let got = try KernelTests.execute(.conv(op), sram: sram).sram
        KernelTests.referenceConv(op, sram: &sram)
        #expect(KernelTests.close(got, sram), "seed \(seed)")
    }

    /// Products split over the cores by output columns (more columns than channels) and by channels, with
    /// two passes over the taps: the same bits every time.
    @Test func splitPanelsAreDeterministic() throws {
        for (channels, width, cin) in [(24, 120, 48), (200, 9, 50)] {
            let input = SRAMTile(addr: 0, channels: cin, height: 6, width: width + 2)
            let output = SRAMTile(addr: 4 * input.elements, channels: channels, height: 4, width: width)
            let weightAddr = 4 * (input.elements + output.elements)
            let op = ConvOp(
                input: input, output: output, weightAddr: weightAddr, kernel: (3, 3), accumulate: true,
                activation: .relu)
            let sram = ExecutorFastPathTests.randomFloats(weightAddr / 4 + channels * cin * 9, seed: UInt64(width))
            let first = try KernelTests.execute(.conv(op), sram: sram).sram
            for _ in 0..<4 {
                let again = try KernelTests.execute(.conv(op), sram: sram).sram
                #expect(again.map(\.bitPattern) == first.map(\.bitPattern), "\(channels) channels, width \(width)")
            }
        }
    }

    /// CONVs that read the same input with different weights, one machine (`TapPanels`: the taps seen,
    /// kept, then read from the kept panels), against the reference and against a machine that runs each
    /// CONV alone (the same bits); then a CONV that writes over part of that input, after which the next
    /// CONV must read the new values, not the kept ones.
    @Test(arguments: [(7, 7, 48, 1), (14, 14, 20, 1), (9, 13, 12, 2)])
    func keptTapsMatchAndAreForgotten(height: Int, width: Int, cin: Int, groups: Int) throws {
        let coutG = 16, cout = coutG * groups, taps = cin / groups * 9
        let input = SRAMTile(
            addr: 0, channels: cin, height: height + 2, width: width + 2,
            channelStride: (height + 2) * (width + 3), rowStride: width + 3)
        let inWords = cin * input.channelStride
        let outWords = cout * height * width, weightWords = cout * taps
        // Five outputs, five sets of weights and biases after the input.
        let outBase = inWords, weightBase = outBase + 5 * outWords, biasBase = weightBase + 5 * weightWords
        let words = biasBase + 5 * cout
        let window = PadWindow(originY: -1, originX: -1, extentH: height, extentW: width)
        func conv(_ i: Int, accumulate: Bool = false) -> ConvOp {
            ConvOp(
                input: input,
                output: SRAMTile(addr: 4 * (outBase + i * outWords), channels: cout, height: height, width: width),
                weightAddr: 4 * (weightBase + i * weightWords), biasAddr: 4 * (biasBase + i * cout),
                kernel: (3, 3), groups: groups, window: window, accumulate: accumulate, activation: .relu)
        }
        // Writes over the input's first channels: a 1x1 CONV from the last output into them.
        let rewrite = ConvOp(
            input: SRAMTile(addr: 4 * (outBase + 4 * outWords), channels: 1, height: height, width: width),
            output: SRAMTile(
                addr: 4 * (input.channelStride + input.rowStride + 1), channels: 1, height: height, width: width,
                channelStride: input.channelStride, rowStride: input.rowStride),
            weightAddr: 4 * biasBase, kernel: (1, 1))
        let ops: [Op] = [
            .conv(conv(0)), .conv(conv(1)), .conv(conv(2, accumulate: true)), .conv(conv(3)), .conv(rewrite),
            .conv(conv(4)), .conv(conv(0))
        ]
        var reference = ExecutorFastPathTests.randomFloats(words, seed: UInt64(width * 31 + cin))
        let memory = Memory(bytes: 4 * words)!, scratch = Memory(bytes: 4)!
        memory.write(reference.withUnsafeBytes { Array($0) }[...], at: 0)
        let machine = Machine(sram: memory.view, dram: scratch.view)
        for (index, op) in ops.enumerated() {
            let alone = try KernelTests.execute(op, sram: reference).sram
            machine.execute(op)
            guard case .conv(let c) = op else { continue }
            KernelTests.referenceConv(c, sram: &reference)
            let got = (0..<words).map { memory.view.base[$0] }
            #expect(KernelTests.close(got, reference), "instruction \(index)")
            #expect(got.map(\.bitPattern) == alone.map(\.bitPattern), "instruction \(index) alone")
            reference = got
        }
    }
}
