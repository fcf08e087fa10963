import Foundation
import Tensors
import Testing
@testable import Accelerator

/// CKernels' products (AVX-512 or AVX2) against plain loops: `dfc_sgemm` (every CONV's matrix product, through
/// `GEMM.multiply`) and
/// the CONV that reads its input rows in place (`Machine.convInPlace`), on shapes that cross their
/// tiles' edges (six rows, 8- and 16-column vectors, 64-column tiles, 384-deep passes over k, depths that
/// are not whole steps of the AVX2 tiles' four-deep loop), padding,
/// strides, dilation, groups and accumulation; and the same results from run to run, whatever
/// core computed which part.
@Suite(.enabled(if: GEMM.vectorized, "the CPU has neither AVX-512 nor AVX2 and FMA")) struct ConvInPlaceTests {
    @Test(arguments: [
        (1, 1, 1), (5, 17, 3), (6, 16, 64), (7, 63, 385), (13, 65, 200), (32, 196, 576), (2, 130, 800), (12, 49, 0),
        (20, 251, 30), (32, 49, 1_153), (64, 49, 130), (18, 24, 6)
    ])
    func sgemmMatchesLoops(m: Int, n: Int, k: Int) {
        let (lda, ldb, ldc) = (k + 3, n + 5, n + 2)
        let a = ExecutorFastPathTests.randomFloats(m * lda, seed: 11)
        let b = ExecutorFastPathTests.randomFloats(max(1, k) * ldb, seed: 12)
        let start = ExecutorFastPathTests.randomFloats(m * ldc, seed: 13)
        for accumulate in [false, true] {
            var c = start
            c.withUnsafeMutableBufferPointer { c in
                GEMM.multiply(
                    m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c.baseAddress!, ldc: ldc,
                    beta: accumulate ? 1 : 0)
            }
            for i in 0..<m {
                for j in 0..<ldc {
                    guard j < n else {
                        #expect(c[i * ldc + j] == start[i * ldc + j], "column \(j) past n was written")
                        continue
                    }
                    var sum = accumulate ? Double(start[i * ldc + j]) : 0
                    for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                    #expect(abs(Double(c[i * ldc + j]) - sum) <= 1e-5 * max(1, Double(k).squareRoot() * 2), "\(i),\(j)")
                    // The tiles' documented order, AVX-512 or AVX2 alike: one fused multiply-add per p, in order.
                    var chain: Float = accumulate ? start[i * ldc + j] : 0
                    for p in 0..<k { chain.addProduct(a[i * lda + p], b[p * ldb + j]) }
                    #expect(c[i * ldc + j].bitPattern == chain.bitPattern, "\(i),\(j) not the chain of fused products")
                }
            }
        }
    }

    /// A CONV the executor runs in place (column stride 1, rows of 12 or more, more than one tap): random shapes, strided
    /// tiles, a window that pads any side or cuts the tile short, against the loops of docs/isa.md.
    @Test(arguments: 0..<24) func convInPlaceMatchesReference(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed) + 500)
        func r(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        let g = [1, 1, 2, 3][r(0...3)]
        let (cinG, coutG) = (r(1...9), r(1...14))
        let (cin, cout) = (cinG * g, coutG * g)
        // With AVX2 only, kernels of 5 or more columns run in place.
        let kw = r(1...4) + (GEMM.wide ? 0 : 4), (sh, dh, dw) = (r(1...3), r(1...2), r(1...2))
        let kh = kw == 1 ? r(2...5) : r(1...5)  // 1x1 kernels read the tap matrix
        let wo = [12, 15, 16, 17, 33, 64, 65, 80][r(0...7)]
        let h = (kh - 1) * dh + r(1...5), w = (kw - 1) * dw + wo
        let ho = (h - ((kh - 1) * dh + 1)) / sh + 1
        let input = SRAMTile(
            addr: 0, channels: cin, height: h, width: w, channelStride: h * (w + 2) + 3, rowStride: w + 2)
        let inWords = cin * input.channelStride
        let output = SRAMTile(
            addr: 4 * inWords, channels: cout, height: ho, width: wo, channelStride: ho * (wo + 1) + 1,
            rowStride: wo + 1)
        let outWords = cout * output.channelStride
        let weightAddr = 4 * (inWords + outWords), weightCount = cout * cinG * kh * kw
        let biasAddr = weightAddr + 4 * weightCount
        var sram = (0..<(inWords + outWords + weightCount + cout)).map { _ in Float.random(in: -1...1, using: &rng) }
        let window = PadWindow(originY: r(-2...1), originX: r(-3...1), extentH: r(1...h), extentW: r(1...w))
        let accumulate = r(0...1) == 1, hasBias = r(0...1) == 1
        let activation = KernelTests.activations[r(0...3)]
        let op = ConvOp(
            input: input, output: output, weightAddr: weightAddr, biasAddr: hasBias ? biasAddr : nil,
            kernel: (kh, kw), stride: (sh, 1), dilation: (dh, dw), groups: g, window: window,
            accumulate: accumulate, activation: activation)
        let scratch = Memory(bytes: 4)!
        #expect(Machine(sram: scratch.view, dram: scratch.view).readsRowsInPlace(op), "not the in-place path")
        let got = try KernelTests.execute(.conv(op), sram: sram).sram
        KernelTests.referenceConv(op, sram: &sram)
        #expect(KernelTests.close(got, sram))
    }

    /// A CONV large enough to be split over the cores (by rows, and by channels when it has one row),
    /// in place and through the tap matrix: the same bits every time.
    @Test func splitConvolutionsAreDeterministic() throws {
        for (height, stride) in [(12, 1), (3, 1), (12, 2)] {
            let input = SRAMTile(addr: 0, channels: 64, height: height, width: 58)
            let ho = (height - 3) / stride + 1, wo = (58 - 3) / stride + 1
            let output = SRAMTile(addr: 4 * input.elements, channels: 96, height: ho, width: wo)
            let weightAddr = 4 * (input.elements + output.elements)
            let op = ConvOp(
                input: input, output: output, weightAddr: weightAddr, kernel: (3, 3), stride: (stride, stride),
                window: PadWindow(originY: -1, originX: -1, extentH: height - 2, extentW: 56), activation: .relu)
            let sram = ExecutorFastPathTests.randomFloats(weightAddr / 4 + 96 * 64 * 9, seed: UInt64(height))
            let first = try KernelTests.execute(.conv(op), sram: sram).sram
            for _ in 0..<5 {
                let again = try KernelTests.execute(.conv(op), sram: sram).sram
                #expect(again.map(\.bitPattern) == first.map(\.bitPattern), "height \(height) stride \(stride)")
            }
        }
    }
}
