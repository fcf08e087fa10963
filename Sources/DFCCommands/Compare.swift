import ArgumentParser
import Compiler
import Foundation
import GraphIR
import ONNXImport

/// `dfc compare`: do two tensor files hold the same values, within fp32 tolerance?
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two tensors (.npy or .pb); exit 1 if they differ.",
        discussion: "They match when the relative L2 error is at most --rel-l2 or every element is within --atol.")

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
            throw DFCError("shape \(got.shape) differs from \(expected)'s \(want.shape)", file: actual)
        }
        let difference = Verification.compare((expected as NSString).lastPathComponent, expected: want.floats, actual: got.floats)
        guard difference.relativeL2 <= relativeL2 || difference.maxAbsolute <= absolute else {
            throw DFCError("differs from \(expected): max |diff| \(String(format: "%.3g", difference.maxAbsolute)) at index \(difference.worstIndex), relative L2 error \(String(format: "%.3g", difference.relativeL2))", file: actual)
        }
        print("\(actual) matches \(expected) (max |diff| \(String(format: "%.3g", difference.maxAbsolute)), relative L2 error \(String(format: "%.3g", difference.relativeL2)))")
    }
}
