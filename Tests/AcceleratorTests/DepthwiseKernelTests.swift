import Foundation
import Tensors
import Testing
@testable import Accelerator

/// The depthwise CONV in one C call (`Machine.convDepthwise`, CKernels' `dfc_depthwise_conv`) against the
/// row-by-row path it replaces (`Machine.convRows`, the same bits) and the loops of docs/isa.md: rows
/// across the 16-lane (8 with AVX2) vectors, windows that pad any side or cut the tile short, strides 1 to 3, dilation,
/// channel multipliers, strided tiles, accumulation, bias, every activation, and NaN and signed zeros
/// where ReLU and Clip decide. And POOL in one C call (`Machine.pool`, `dfc_pool_run`) against its row path
/// (`Machine.poolRows`), bit for bit.
@Suite(.enabled(if: Kernels.vectorized, "the CPU has neither AVX-512 nor AVX2 and FMA")) struct DepthwiseKernelTests {
    /// `body` run on a fresh machine whose SRAM holds `sram`; the SRAM afterwards.
    static func run(_ sram: [Float], _ body: (Machine) -> Void) -> [Float] {
        let s = Memory(bytes: sram.count * 4)!, d = Memory(bytes: 4)!
        s.write(sram.withUnsafeBytes { Array($0) }[...], at: 0)
        body(Machine(sram: s.view, dram: d.view))
        return (0..<sram.count).map { s.view[$0] }
    }

    static func randomOp(seed: Int) -> (ConvOp, [Float]) {
        var rng = SeededRandom(seed: UInt64(seed) + 900)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        // One channel would be groups 1: a matrix product, not this path.
        let channels = r(2...7), multiplier = [1, 1, 2, 3][r(0...3)]
        let (kh, kw) = [(3, 3), (3, 3), (5, 5), (1, 1), (2, 4), (7, 1)][r(0...5)]
        let (sh, sw, dh, dw) = (r(1...3), [1, 1, 2, 2, 3][r(0...4)], r(1...2), r(1...2))
        let wo = [1, 3, 7, 14, 15, 16, 17, 28, 33, 56, 70][r(0...10)], ho = r(1...6)
        let h = (ho - 1) * sh + (kh - 1) * dh + 1, w = (wo - 1) * sw + (kw - 1) * dw + 1
        let input = SRAMTile(
            addr: 0, channels: channels, height: h, width: w, channelStride: h * (w + 3) + 1, rowStride: w + 3)
        let inWords = channels * input.channelStride
        let output = SRAMTile(
            addr: 4 * inWords, channels: channels * multiplier, height: ho, width: wo,
            channelStride: ho * (wo + 2) + 5, rowStride: wo + 2)
        let outWords = output.channels * output.channelStride
        let weightAddr = 4 * (inWords + outWords), weightCount = output.channels * kh * kw
        var sram = ExecutorFastPathTests.randomFloats(inWords + outWords + weightCount + output.channels, seed: 3)
        // Values where ReLU and Clip decide: NaN, both zeros, the clip bounds.
        for (i, v) in [Float.nan, 0, -0.0, -0.5, 0.5, -1e-30].enumerated() where seed % 3 == 0 {
            sram[(i * 37) % inWords] = v
        }
        let window = PadWindow(
            originY: r(-3...1), originX: r(-4...1), extentH: r(max(1, h - 3)...h),
            extentW: r(max(1, w - 4)...w))
        let activation = [
            FusedActivation.none, .relu, FusedActivation(.clip, alpha: 0, beta: 6),
            FusedActivation(.clip, alpha: -0.5, beta: 0.5), FusedActivation(.hardSwish), FusedActivation(.sigmoid)
        ][r(0...5)]
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr,
            biasAddr: r(0...1) == 1 ? weightAddr + 4 * weightCount : nil, kernel: (kh, kw), stride: (sh, sw),
            dilation: (dh, dw), groups: channels, window: window, accumulate: r(0...1) == 1, activation: activation)
        return (op, sram)
    }

    @Test(arguments: 0..<60) func matchesRowPathAndReference(seed: Int) throws {
        let (op, sram) = Self.randomOp(seed: seed)
        _ = try InstructionChecker(sramBytes: sram.count * 4, dramBytes: 4, constantsEnd: 0).check(.conv(op))
        var ran = false
        var got = Self.run(sram) { ran = $0.convDepthwise(op) }
        // Without AVX-512 the kernel takes column strides 1 and 2 only (the vector paths of dfc_axpy_strided,
        // whose bits it keeps); the row path runs the others.
        #expect(ran || (!Kernels.avx512 && op.strideW > 2), "the kernel declined")
        if !ran { got = Self.run(sram) { $0.convRows(op) } }
        let rows = Self.run(sram) { $0.convRows(op) }
        let sameAsRows = got.map(\.bitPattern) == rows.map(\.bitPattern)
        #expect(sameAsRows, "not the row path's bits")
        // The whole instruction through the executor's dispatch, against the loops of docs/isa.md.
        let executed = try KernelTests.execute(.conv(op), sram: sram).sram
        let sameAsExecuted = executed.map(\.bitPattern) == got.map(\.bitPattern)
        #expect(sameAsExecuted)
        var reference = sram
        KernelTests.referenceConv(op, sram: &reference)
        #expect(
            zip(got, reference).allSatisfy { a, b in
                (a.isNaN && b.isNaN) || abs(a - b) <= 1e-4 * max(1, abs(b))
            })
    }

    /// Large enough to be split over the cores: the same bits every time, and those of one core.
    @Test func splitIsDeterministic() {
        let input = SRAMTile(addr: 0, channels: 96, height: 30, width: 30)
        let output = SRAMTile(addr: 4 * input.elements, channels: 96, height: 28, width: 28)
        let weightAddr = 4 * (input.elements + output.elements)
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr, biasAddr: weightAddr + 4 * 96 * 9,
            kernel: (3, 3), groups: 96, window: PadWindow(originY: -1, originX: 0, extentH: 29, extentW: 30),
            activation: FusedActivation(.clip, alpha: 0, beta: 6))
        let sram = ExecutorFastPathTests.randomFloats(weightAddr / 4 + 96 * 10, seed: 5)
        let first = Self.run(sram) { _ = $0.convDepthwise(op) }
        let rows = Self.run(sram) { $0.convRows(op) }
        let sameAsRows = first.map(\.bitPattern) == rows.map(\.bitPattern)
        #expect(sameAsRows)
        for _ in 0..<5 {
            let again = Self.run(sram) { _ = $0.convDepthwise(op) }
            let same = again.map(\.bitPattern) == first.map(\.bitPattern)
            #expect(same)
        }
    }

    /// Max and average pooling, windows that pad any side, counted padding, strides and dilation, 1 to 19
    /// channels (blocks of eight and the rest), NaN in the input: `pool` and `poolRows` give the same bits.
    @Test(arguments: 0..<40) func poolMatchesRowPath(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 1900)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let channels = r(1...19)
        let (kh, kw, sh, sw, dh, dw) = (r(1...3), r(1...3), r(1...2), r(1...3), r(1...2), r(1...2))
        let wo = [1, 7, 13, 16, 17, 28, 55][r(0...6)], ho = r(1...5)
        let h = (ho - 1) * sh + (kh - 1) * dh + 1, w = (wo - 1) * sw + (kw - 1) * dw + 1
        let input = SRAMTile(
            addr: 0, channels: channels, height: h, width: w, channelStride: h * (w + 1) + 2, rowStride: w + 1)
        let output = SRAMTile(
            addr: 4 * channels * input.channelStride, channels: channels, height: ho, width: wo,
            channelStride: ho * (wo + 3), rowStride: wo + 3)
        var sram = ExecutorFastPathTests.randomFloats(
            channels * (input.channelStride + output.channelStride), seed: UInt64(seed))
        if seed % 4 == 0 { sram[seed % (channels * input.channelStride)] = .nan }
        let window = PadWindow(
            originY: r(-2...0), originX: r(-2...0), extentH: r(max(1, h - 2)...h), extentW: r(max(1, w - 2)...w))
        let op = PoolOp(
            r(0...1) == 0 ? .max : .avg, input: input, output: output, kernel: (kh, kw), stride: (sh, sw),
            dilation: (dh, dw), window: window, countPads: (r(0...2), r(0...2), r(0...2), r(0...2)))
        _ = try InstructionChecker(sramBytes: sram.count * 4, dramBytes: 4, constantsEnd: 0).check(.pool(op))
        let whole = Self.run(sram) { $0.pool(op) }, rows = Self.run(sram) { $0.poolRows(op) }
        let same = whole.map(\.bitPattern) == rows.map(\.bitPattern)
        #expect(same, "\(op.kind) \(kh)x\(kw) s\(sh),\(sw) channels \(channels) width \(wo)")
    }
}
