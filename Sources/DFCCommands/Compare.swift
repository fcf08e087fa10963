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
            "They match when the relative L2 error is at most --rel-l2 or every element is within --atol.",
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
        let got = try TensorFile.read(path: actual), want = try TensorFile.read(path: expected)
        guard got.shape == want.shape else {
            throw DFCError(
                "shape \(got.shape) differs from \(expected)'s \(want.shape)", file: actual, kind: .verification)
        }
        // Compared as fp32 values, so an int64 file can be checked against a float one.
        let difference = TensorComparison(
            Tensor(shape: got.shape, floats: got.floats), Tensor(shape: want.shape, floats: want.floats))
        let (maxAbsolute, relative) = (
            String(format: "%.3g", difference.maxAbsoluteError), String(format: "%.3g", difference.relativeL2)
        )
        guard difference.passes(relativeL2Limit: relativeL2, absoluteLimit: absolute) else {
            throw DFCError(
                "differs from \(expected): max |diff| \(maxAbsolute) at index \(difference.worstIndex), relative L2 error \(relative)",
                file: actual, kind: .verification)
        }
        print("\(actual) matches \(expected) (max |diff| \(maxAbsolute), relative L2 error \(relative))")
    }
}
