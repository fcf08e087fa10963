import Testing
import Tensors

@Suite struct TensorComparisonTests {
    @Test func findsTheWorstElementAndJudgesBothWays() {
        let expected = Tensor(shape: [4], floats: [1, 2, 3, 4])
        let actual = Tensor(shape: [4], floats: [1, 2.5, 3, 4.001])
        let c = TensorComparison(actual, expected)
        #expect(c.worstIndex == 1 && c.maxAbsoluteError == 0.5 && c.mismatches == 2)
        #expect(!c.passes && !c.passes(relativeL2Limit: 1e-4) && c.passes(relativeL2Limit: 0.1))
        #expect(TensorComparison(expected, expected).passes)
    }

    @Test func nanAndInfinityAgreeOnlyWithThemselves() {
        let nan = Tensor(shape: [2], floats: [.nan, .infinity])
        #expect(TensorComparison(nan, nan).passes(relativeL2Limit: 1e-4))
        let c = TensorComparison(Tensor(shape: [2], floats: [.nan, 1]), Tensor(shape: [2], floats: [0, 1]))
        #expect(c.maxAbsoluteError == .infinity && !c.passes(relativeL2Limit: 1e-4))
        #expect(
            !TensorComparison(Tensor(shape: [1], floats: [.infinity]), Tensor(shape: [1], floats: [1])).passes(
                relativeL2Limit: 1))
    }

    @Test func shapesAndDtypesMustAgree() {
        let c = TensorComparison(Tensor(shape: [2], floats: [1, 2]), Tensor(shape: [1, 2], floats: [1, 2]))
        #expect(c.shapeMismatch != nil && !c.passes && !c.passes(relativeL2Limit: 1))
        #expect(!TensorComparison(Tensor(shape: [1], ints: [1]), Tensor(shape: [1], floats: [1])).passes)
        let ints = TensorComparison(Tensor(shape: [3], ints: [1, 5, 3]), Tensor(shape: [3], ints: [1, 2, 3]))
        #expect(ints.mismatches == 1 && ints.worstIndex == 1 && ints.maxAbsoluteError == 3)
    }

    @Test func seededRandomIsSplitMix64() {
        var random = SeededRandom(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        var a = SeededRandom(seed: 7), b = SeededRandom(seed: 7)
        #expect((0..<8).map { _ in a.normal() } == (0..<8).map { _ in b.normal() })
    }
}
