import Testing
import Tensors

@testable import Accelerator

@Suite struct TimingTests {
    /// The counted DRAM runs of a transfer equal the walked ones: boxes of
    /// row-major tensors clipped at every border, whole and partial in every
    /// dimension, inside, outside and across the end of the constants, and
    /// transfers with other strides (which take the walk).
    @Test func dramRunTotalsMatchTheWalk() {
        let config = AcceleratorConfig.df1
        var random = SeededRandom(seed: 13)
        var counted = 0
        for trial in 0..<20_000 {
            let shape = (0..<4).map { _ in Int.random(in: 1...5, using: &random) }
            let counts = (0..<4).map { d in Int.random(in: 1...(shape[d] + 2), using: &random) }
            // Mostly inside the tensor or at its edges; sometimes starting in the padding or past the end.
            let origin = (0..<4).map { d in Int.random(in: -2...shape[d], using: &random) }
            let address = 4 * Int.random(in: 0...40, using: &random)
            var t = TransferOp(tensorAt: address, shape: shape, origin: origin, counts: counts, sramAddr: 0)
            if trial % 7 == 0 { t.dramStrides = (0..<4).map { _ in Int.random(in: 1...30, using: &random) } }
            let total = 4 * shape.reduce(1, *)
            let constantsBytes = Int.random(in: 0...(address + total + 8), using: &random)
            let fast = config.dramRunTotals(t, constantsBytes: constantsBytes)
            let walked = config.dramRunTotalsByWalking(t, constantsBytes: constantsBytes)
            #expect(fast == walked, "\(t.extent) \(t.origin) \(t.counts) \(t.dramStrides) constants \(constantsBytes)")
            if fast.requested > 0 { counted += 1 }
        }
        #expect(counted > 4_000)
    }
}
