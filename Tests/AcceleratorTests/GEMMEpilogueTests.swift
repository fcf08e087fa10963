import CKernels
import Foundation
import Tensors
import Testing
@testable import Accelerator

/// `GEMM.multiplyFinished` (CKernels' `dfc_sgemm_finished`: bias, adding onto the stored values, ReLU or
/// Clip, and columns placed into rows that are not adjacent, all as the results are stored) against the
/// plain product and a pass over its sums: the same bits, nothing written between the rows, at widths
/// that cut the 16-lane vectors and 64-column tiles anywhere, and split over the cores or not.
@Suite(.enabled(if: GEMM.wide, "the CPU has no AVX-512")) struct GEMMEpilogueTests {
    static let activations: [FusedActivation] = [
        .none, .relu, FusedActivation(.clip, alpha: 0, beta: 6), FusedActivation(.clip, alpha: -0.25, beta: 0.25)
    ]

    @Test(arguments: [
        (1, 1, 1), (7, 5, 33), (13, 16, 64), (6, 17, 100), (33, 28, 384), (70, 7, 48), (9, 112, 16), (8, 7, 576),
        (19, 14, 385), (32, 9, 960)
    ])
    func placedColumnsMatchAPass(m: Int, width: Int, k: Int) {
        let rows = [1, 2, 3, 5][(m + width) % 4], n = width * rows
        let rowStride = width + 3, ldc = rows * rowStride + 2
        let a = ExecutorFastPathTests.randomFloats(m * k, seed: 31)
        var b = ExecutorFastPathTests.randomFloats(k * n, seed: 32)
        // Zeros and a NaN where ReLU and Clip decide.
        for i in stride(from: 0, to: b.count, by: 7) { b[i] = 0 }
        if k > 1 { b[b.count / 2] = .nan }
        let bias = ExecutorFastPathTests.randomFloats(m, seed: 33),
            start = ExecutorFastPathTests.randomFloats(m * ldc, seed: 34)
        var sums = [Float](repeating: 0, count: m * n)
        sums.withUnsafeMutableBufferPointer { s in
            GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: s.baseAddress!, ldc: n, beta: 0)
        }
        for activation in Self.activations {
            for onto in [false, true] {
                var expected = start
                for i in 0..<m {
                    for j in 0..<n {
                        let at = i * ldc + j / width * rowStride + j % width
                        var v = sums[i * n + j] + bias[i]
                        if onto { v = expected[at] + v }
                        expected[at] = v
                    }
                    for r in 0..<rows {
                        expected.withUnsafeMutableBufferPointer {
                            activate($0.baseAddress! + i * ldc + r * rowStride, width, activation)
                        }
                    }
                }
                var got = start
                let ran = bias.withUnsafeBufferPointer { bias in
                    got.withUnsafeMutableBufferPointer { c in
                        let e = dfc_epilogue(
                            bias: bias.baseAddress, onto: onto ? 1 : 0,
                            activation: activation.kind == .relu ? 1 : activation.kind == .clip ? 2 : 0,
                            alpha: activation.alpha, beta: activation.beta, width: width, row_stride: rowStride)
                        return GEMM.multiplyFinished(
                            m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c.baseAddress!, ldc: ldc,
                            accumulate: false, epilogue: e)
                    }
                }
                #expect(ran)
                let same = got.map(\.bitPattern) == expected.map(\.bitPattern)
                #expect(same, "\(activation.kind) onto \(onto)")
            }
        }
    }

    /// Without a placement: bias and activation onto a product that accumulates, as `finishChannel`.
    @Test(arguments: [(5, 40, 7), (12, 130, 385), (31, 64, 64)])
    func denseMatchesAPass(m: Int, n: Int, k: Int) {
        let ldc = n + 5
        let a = ExecutorFastPathTests.randomFloats(m * k, seed: 41),
            b = ExecutorFastPathTests.randomFloats(k * n, seed: 42)
        let bias = ExecutorFastPathTests.randomFloats(m, seed: 43),
            start = ExecutorFastPathTests.randomFloats(m * ldc, seed: 44)
        for activation in Self.activations {
            var expected = start
            expected.withUnsafeMutableBufferPointer { c in
                GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c.baseAddress!, ldc: ldc, beta: 1)
                for i in 0..<m { biasActivate(c.baseAddress! + i * ldc, n, bias: bias[i], activation) }
            }
            var got = start
            bias.withUnsafeBufferPointer { bias in
                got.withUnsafeMutableBufferPointer { c in
                    let e = dfc_epilogue(
                        bias: bias.baseAddress, onto: 0,
                        activation: activation.kind == .relu ? 1 : activation.kind == .clip ? 2 : 0,
                        alpha: activation.alpha, beta: activation.beta, width: 0, row_stride: 0)
                    #expect(
                        GEMM.multiplyFinished(
                            m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c.baseAddress!, ldc: ldc, accumulate: true,
                            epilogue: e))
                }
            }
            let same = got.map(\.bitPattern) == expected.map(\.bitPattern)
            #expect(same, "\(activation.kind)")
        }
    }

    /// A placement that accumulates is declined (the epilogue's `onto` adds instead), and nothing is written.
    @Test func placementThatAccumulatesIsDeclined() {
        let k = 3
        let a = [Float](repeating: 1, count: 2 * k), b = [Float](repeating: 1, count: k * 4)
        var c = [Float](repeating: 7, count: 16)
        let ran = c.withUnsafeMutableBufferPointer { c in
            GEMM.multiplyFinished(
                m: 2, n: 4, k: k, a: a, lda: k, b: b, ldb: 4, c: c.baseAddress!, ldc: 8, accumulate: true,
                epilogue: dfc_epilogue(bias: nil, onto: 0, activation: 0, alpha: 0, beta: 0, width: 2, row_stride: 3))
        }
        #expect(!ran)
        #expect(c == [Float](repeating: 7, count: 16))
    }
}
