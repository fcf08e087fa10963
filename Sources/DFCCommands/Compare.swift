import ArgumentParser
import Compiler
import Foundation
import GraphIR
import ONNXImport
import Tensors

/// `dfc compare`: do two tensor files hold the same values, within fp32 tolerance?
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two tensors (.npy or .pb); exit 5 if they differ.",
        discussion: HelpText.discussion(
            """
            They match when the relative L2 error is at most --rel-l2 or every element is within --atol. \
            Any real-valued .npy array is read (floats of 2, 4 or 8 bytes, integers, booleans) and compared \
            as doubles; NaN and infinities are counted and located, and match only the same value in the same place.
            """,
            examples: [("check dfc run's output against onnxruntime's", "dfc compare out/output.npy expected.npy")]))

    @Argument(help: "The tensor to check.")
    var actual: String

    @Argument(help: "The expected tensor.")
    var expected: String

    @Option(name: .customLong("rel-l2"), help: "Largest relative L2 error accepted.")
    var relativeL2 = Verification.relativeL2Limit

    @Option(name: .customLong("atol"), help: "Largest absolute error accepted element-wise.")
    var absolute = 1e-5

    func run() throws {
        let got = try Self.numbers(actual), want = try Self.numbers(expected)
        guard got.shape == want.shape else {
            throw DFCError(
                "shape \(got.shape) differs from \(expected)'s \(want.shape)", file: actual, kind: .verification)
        }
        let difference = TensorComparison(shape: got.shape, actual: got.values, expected: want.values)
        let format = { (x: Double) in String(format: "%.3g", x) }
        let at = { (i: Int) in TensorComparison.index(i, in: got.shape) }
        var nonFinite = difference.nonFiniteSummary
        if !nonFinite.isEmpty {
            if difference.actualNonFinite.isEmpty { nonFinite += "; none in actual" }
            if difference.expectedNonFinite.isEmpty { nonFinite += "; none in expected" }
        }
        guard difference.passes(relativeL2Limit: relativeL2, absoluteLimit: absolute) else {
            // Where NaN or infinities disagree, say so first; the error figures then cover the finite pairs.
            let finite = difference.maxAbsoluteError.isFinite
            let figures =
                "max |diff| \(format(finite ? difference.maxAbsoluteError : difference.finiteMaxAbsoluteError)) "
                + "at \(at(finite ? difference.worstIndex : difference.finiteWorstIndex)), relative L2 error "
                + format(finite ? difference.relativeL2 : difference.finiteRelativeL2)
            throw DFCError(
                "differs from \(expected): "
                    + (finite ? figures : "\(nonFinite); where both are finite, \(figures)"),
                file: actual, kind: .verification)
        }
        let extra = nonFinite.isEmpty ? "" : "; \(nonFinite), in the same places"
        print(
            "\(actual) matches \(expected) (max |diff| \(format(difference.maxAbsoluteError)), relative L2 error \(format(difference.relativeL2))\(extra))"
        )
    }

    /// A tensor file's shape and values as doubles: any real-valued `.npy`, or a `.pb` TensorProto.
    static func numbers(_ path: String) throws -> (shape: [Int], values: [Double]) {
        if path.hasSuffix(".npy") {
            let array = try NPY.readNumbers(path: path)
            return (array.shape, array.values)
        }
        let tensor = try TensorFile.read(path: path)
        let values = tensor.dtype == .float32 ? tensor.floats.map(Double.init) : tensor.ints.map(Double.init)
        return (tensor.shape, values)
    }
}
