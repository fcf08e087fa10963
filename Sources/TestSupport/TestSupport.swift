import Foundation
import GraphIR

/// Where the tests find the repository and the generated conformance data.
package enum TestPaths {
    /// The repository root, from this file's place in it.
    package static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // TestSupport
        .deletingLastPathComponent()   // Sources
        .deletingLastPathComponent()

    /// `DFC_CONFORMANCE_DIR`, else `<repo>/.cache/conformance` (written by `make conformance-data`).
    package static var conformance: URL {
        if let env = ProcessInfo.processInfo.environment["DFC_CONFORMANCE_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repository.appendingPathComponent(".cache/conformance")
    }
}

/// SplitMix64: a small, seedable generator so random test data is the same
/// on every run and platform.
package struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    package mutating func nextSigned() -> Float { Float(Double(next() >> 11) * 0x1p-53 * 2 - 1) }

    /// A tensor of `type`: fp32 uniform in [-1, 1), int64 uniform in `integers`.
    package mutating func tensor(_ type: TensorType, integers: ClosedRange<Int64> = 0...3) -> Tensor {
        switch type.dtype {
        case .float32: return Tensor(shape: type.shape, floats: (0..<type.count).map { _ in nextSigned() })
        case .int64: return Tensor(shape: type.shape, ints: (0..<type.count).map { _ in Int64.random(in: integers, using: &self) })
        }
    }
}

/// How far a computed tensor is from an expected one.
package struct TensorComparison: CustomStringConvertible {
    package var shapeMismatch: String?
    /// Elements outside `atol + rtol * |expected|` (or unequal integers).
    package var mismatches = 0
    package var count = 0
    package var maxAbsoluteError: Double = 0
    /// ||got - expected|| / ||expected|| (0 when both are 0).
    package var relativeL2: Double = 0
    package var firstMismatch: String?

    package init(_ got: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5) {
        guard got.shape == expected.shape, got.dtype == expected.dtype else {
            shapeMismatch = "got \(got.type), expected \(expected.type)"
            return
        }
        count = got.count
        var diffSquares = 0.0, expectedSquares = 0.0
        switch (got.storage, expected.storage) {
        case (.int64(let g), .int64(let e)):
            for i in g.indices where g[i] != e[i] {
                mismatches += 1
                maxAbsoluteError = max(maxAbsoluteError, Double(g[i]) - Double(e[i]))
                if firstMismatch == nil { firstMismatch = "[\(i)] got \(g[i]), expected \(e[i])" }
            }
        default:
            let g = got.floats, e = expected.floats
            for i in g.indices {
                let x = Double(g[i]), y = Double(e[i])
                if x.isNaN && y.isNaN { continue }
                if x.isInfinite || y.isInfinite {
                    if x != y { record(i, x, y, .infinity) }
                    continue
                }
                let error = abs(x - y)
                diffSquares += error * error
                expectedSquares += y * y
                maxAbsoluteError = max(maxAbsoluteError, error.isNaN ? .infinity : error)
                if !(error <= atol + rtol * abs(y)) { record(i, x, y, error) }
            }
            relativeL2 = expectedSquares > 0 ? (diffSquares / expectedSquares).squareRoot() : diffSquares.squareRoot()
        }
    }

    private mutating func record(_ index: Int, _ got: Double, _ expected: Double, _ error: Double) {
        mismatches += 1
        if firstMismatch == nil { firstMismatch = "[\(index)] got \(got), expected \(expected) (error \(error))" }
    }

    /// Within the element-wise tolerance.
    package var passes: Bool { shapeMismatch == nil && mismatches == 0 }

    package var description: String {
        if let shapeMismatch { return shapeMismatch }
        if mismatches == 0 { return "ok (max abs error \(maxAbsoluteError), rel-L2 \(relativeL2))" }
        return "\(mismatches) of \(count) elements out of tolerance, first \(firstMismatch ?? "?"); max abs error \(maxAbsoluteError), rel-L2 \(relativeL2)"
    }
}
