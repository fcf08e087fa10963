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

    /// NaN and infinities on each side, counted and located: `dfc compare` reports them by name.
    public var actualNonFinite = NonFinite(), expectedNonFinite = NonFinite()
    /// The same figures over the elements both sides hold as finite numbers.
    public var finiteMaxAbsoluteError = 0.0, finiteWorstIndex = 0, finiteRelativeL2 = 0.0
    /// The compared tensors' shape, for multi-dimensional indices in messages.
    public var shape: [Int] = []

    /// How many NaN and infinite elements one side holds, and the first of each.
    public struct NonFinite: Sendable, Equatable {
        public var nan = 0, infinity = 0
        public var firstNaN: Int?, firstInfinity: Int?
        public var isEmpty: Bool { nan == 0 && infinity == 0 }

        mutating func count(_ x: Double, at index: Int) {
            if x.isNaN {
                nan += 1
                if firstNaN == nil { firstNaN = index }
            } else if x.isInfinite {
                infinity += 1
                if firstInfinity == nil { firstInfinity = index }
            }
        }
    }

    public init(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5) {
        guard actual.shape == expected.shape, actual.dtype == expected.dtype else {
            shapeMismatch = "got \(actual.dtype)\(actual.shape), expected \(expected.dtype)\(expected.shape)"
            maxAbsoluteError = .infinity
            relativeL2 = .infinity
            return
        }
        if actual.dtype != .float32 {
            (count, shape) = (actual.count, actual.shape)
            var diffSquares = 0.0, expectedSquares = 0.0
            let a = actual.ints, e = expected.ints
            for i in a.indices {
                let x = Double(a[i]), y = Double(e[i]), error = abs(x - y)
                diffSquares += error * error
                expectedSquares += y * y
                if error > maxAbsoluteError { (maxAbsoluteError, worstIndex) = (error, i) }
                if a[i] != e[i] { record(i, "\(a[i])", "\(e[i])", error) }
            }
            relativeL2 = expectedSquares > 0 ? (diffSquares / expectedSquares).squareRoot() : diffSquares.squareRoot()
        } else {
            self = TensorComparison(
                shape: actual.shape, actual: actual.floats.lazy.map(Double.init),
                expected: expected.floats.lazy.map(Double.init), rtol: rtol, atol: atol)
        }
    }

    /// Compares numbers read as doubles (`dfc compare` reads any real-valued
    /// array this way). Both NaN, or the same infinity, agree; any other
    /// pair with a NaN or an infinity makes the maximum error infinite.
    public init<C: Collection<Double>>(
        shape: [Int], actual: C, expected: C, rtol: Double = 1e-4, atol: Double = 1e-5
    ) where C.Index == Int {
        guard actual.count == expected.count, actual.count == shape.reduce(1, *) else {
            shapeMismatch = "got \(actual.count) values, expected \(expected.count), shape \(shape)"
            (maxAbsoluteError, relativeL2) = (.infinity, .infinity)
            return
        }
        (count, self.shape) = (actual.count, shape)
        var diffSquares = 0.0, expectedSquares = 0.0
        for (i, (x, y)) in zip(actual, expected).enumerated() {
            actualNonFinite.count(x, at: i)
            expectedNonFinite.count(y, at: i)
            // Both NaN, or the same infinity: the two computations agree.
            if x.isNaN && y.isNaN || x.isInfinite && x == y { continue }
            let error = abs(x - y)
            if !(error <= maxAbsoluteError) {
                (maxAbsoluteError, worstIndex) = (error.isNaN ? .infinity : error, i)
            }
            if error.isFinite {
                diffSquares += error * error
                expectedSquares += y * y
                if error > finiteMaxAbsoluteError { (finiteMaxAbsoluteError, finiteWorstIndex) = (error, i) }
            }
            if !(error <= atol + rtol * abs(y)) { record(i, "\(x)", "\(y)", error) }
        }
        relativeL2 = expectedSquares > 0 ? (diffSquares / expectedSquares).squareRoot() : diffSquares.squareRoot()
        finiteRelativeL2 = relativeL2
        if !maxAbsoluteError.isFinite { relativeL2 = .infinity }
    }

    /// A flat index as a NumPy-style index into `shape`, e.g. [0,5].
    public static func index(_ flat: Int, in shape: [Int]) -> String {
        var rest = flat
        var digits = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            (rest, digits[axis]) = rest.quotientAndRemainder(dividingBy: shape[axis])
        }
        return "[" + digits.map(String.init).joined(separator: ",") + "]"
    }

    /// "3 NaN in actual, first at [0,5]; 1 inf in expected, first at [2,0]"; empty when every element is finite.
    public var nonFiniteSummary: String {
        var parts: [String] = []
        for (side, counts) in [("actual", actualNonFinite), ("expected", expectedNonFinite)] {
            if let first = counts.firstNaN {
                parts.append("\(counts.nan) NaN in \(side), first at \(Self.index(first, in: shape))")
            }
            if let first = counts.firstInfinity {
                parts.append("\(counts.infinity) inf in \(side), first at \(Self.index(first, in: shape))")
            }
        }
        return parts.joined(separator: "; ")
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
