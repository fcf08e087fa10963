/// How far an actual tensor is from an expected one: the largest absolute
/// difference and where it is, the relative L2 error, and how many elements
/// fall outside an element-wise tolerance. `--verify` and the tests both
/// judge outputs with it.
public struct TensorComparison: Sendable, CustomStringConvertible {
    /// Set when the two tensors differ in shape or dtype; nothing else is compared then.
    public var shapeMismatch: String?
    public var count = 0
    /// Max |actual - expected|; infinite when one side is NaN or infinite and the other is not.
    public var maxAbsoluteError: Double = 0
    /// The (first) flat index of `maxAbsoluteError`.
    public var worstIndex = 0
    /// ||actual - expected|| / ||expected|| (||actual - expected|| when expected is all zeros).
    public var relativeL2: Double = 0
    /// Elements outside `atol + rtol * |expected|` (unequal, for int64 and bool tensors).
    public var mismatches = 0
    public var firstMismatch: String?

    public init(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5) {
        guard actual.shape == expected.shape, actual.dtype == expected.dtype else {
            shapeMismatch = "got \(actual.dtype)\(actual.shape), expected \(expected.dtype)\(expected.shape)"
            maxAbsoluteError = .infinity
            relativeL2 = .infinity
            return
        }
        count = actual.count
        var diffSquares = 0.0, expectedSquares = 0.0
        if actual.dtype != .float32 {
            let a = actual.ints, e = expected.ints
            for i in a.indices {
                let x = Double(a[i]), y = Double(e[i]), error = abs(x - y)
                diffSquares += error * error
                expectedSquares += y * y
                if error > maxAbsoluteError { (maxAbsoluteError, worstIndex) = (error, i) }
                if a[i] != e[i] { record(i, "\(a[i])", "\(e[i])", error) }
            }
        } else {
            let a = actual.floats, e = expected.floats
            for i in a.indices {
                let x = Double(a[i]), y = Double(e[i])
                // Both NaN, or the same infinity: the two computations agree.
                if x.isNaN && y.isNaN || x.isInfinite && x == y { continue }
                let error = abs(x - y)
                if !(error <= maxAbsoluteError) {
                    (maxAbsoluteError, worstIndex) = (error.isNaN ? .infinity : error, i)
                }
                if error.isFinite {
                    diffSquares += error * error
                    expectedSquares += y * y
                }
                if !(error <= atol + rtol * abs(y)) { record(i, "\(x)", "\(y)", error) }
            }
        }
        relativeL2 = expectedSquares > 0 ? (diffSquares / expectedSquares).squareRoot() : diffSquares.squareRoot()
        if !maxAbsoluteError.isFinite { relativeL2 = .infinity }
    }

    private mutating func record(_ index: Int, _ actual: String, _ expected: String, _ error: Double) {
        mismatches += 1
        if firstMismatch == nil { firstMismatch = "[\(index)] got \(actual), expected \(expected) (error \(error))" }
    }

    /// Every element within the element-wise tolerance.
    public var passes: Bool { shapeMismatch == nil && mismatches == 0 }

    /// Close as a whole: relative L2 error within `relativeL2Limit`, or every
    /// difference below `absoluteLimit` (for outputs that are nearly zero).
    public func passes(relativeL2Limit: Double, absoluteLimit: Double = 1e-5) -> Bool {
        shapeMismatch == nil && (relativeL2 <= relativeL2Limit || maxAbsoluteError <= absoluteLimit)
    }

    public var description: String {
        if let shapeMismatch { return shapeMismatch }
        if mismatches == 0 { return "ok (max abs error \(maxAbsoluteError), rel-L2 \(relativeL2))" }
        return
            "\(mismatches) of \(count) elements out of tolerance, first \(firstMismatch ?? "?"); max abs error \(maxAbsoluteError) at index \(worstIndex), rel-L2 \(relativeL2)"
    }
}
