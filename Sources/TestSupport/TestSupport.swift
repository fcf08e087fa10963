import Foundation
import GraphIR
import Tensors

/// Where the tests find the repository and the generated conformance data.
package enum TestPaths {
    /// The repository root, from this file's place in it.
    package static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Sources
        .deletingLastPathComponent()

    /// `DFC_CONFORMANCE_DIR`, else `<repo>/.cache/conformance` (written by `make conformance-data`).
    package static var conformance: URL {
        if let env = ProcessInfo.processInfo.environment["DFC_CONFORMANCE_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repository.appendingPathComponent(".cache/conformance")
    }
}

extension SeededRandom {
    /// A tensor of `type`: fp32 uniform in [-1, 1), int64 uniform in `integers`, bool fair coins.
    package mutating func tensor(_ type: TensorType, integers: ClosedRange<Int64> = 0...3) -> Tensor {
        switch type.dtype {
        case .float32: return Tensor(shape: type.shape, floats: (0..<type.count).map { _ in nextSigned() })
        case .int64:
            return Tensor(
                shape: type.shape, ints: (0..<type.count).map { _ in Int64.random(in: integers, using: &self) })
        case .bool: return Tensor(shape: type.shape, bools: (0..<type.count).map { _ in Bool.random(using: &self) })
        }
    }
}
