import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors

/// Locates the committed ONNX fixtures and their expected shapes.
package enum ImportFixtures {
    package static let root = TestPaths.repository
    package static let directory = root.appendingPathComponent("Fixtures/onnx")

    package static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// `NAME.shapes.json`: value -> (dtype, shape), as onnxruntime observed them.
    package static func expectedShapes(_ jsonPath: String) throws -> [String: TensorType] {
        let data = try Data(contentsOf: URL(fileURLWithPath: jsonPath))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
        var result: [String: TensorType] = [:]
        for (name, entry) in object {
            guard let shape = entry["shape"] as? [Int], let dtype = entry["dtype"] as? String else { continue }
            let irType: DType =
                ["float32", "float16", "float64", "double", "bfloat16"].contains(dtype)
                ? .float32 : dtype == "bool" ? .bool : .int64
            result[name] = TensorType(dtype: irType, shape: shape)
        }
        return result
    }

    /// Imports and infers shapes the way `dfc compile` does.
    package static func compile(
        _ path: String, inputShapes: [String: [Int]] = [:], note: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> Graph {
        var graph = try ONNXImporter.load(path: path)
        try PassManager(passes: [InferShapes()]).run(
            &graph, options: CompileOptions(inputShapes: inputShapes, note: note))
        return graph
    }

    /// Values whose inferred type differs from the expected one, as readable lines.
    package static func mismatches(_ graph: Graph, _ expected: [String: TensorType]) -> [String] {
        expected.keys.sorted().compactMap { name in
            let want = expected[name]!
            guard let got = graph.type(of: name) else { return "\(name): no type inferred, expected \(want)" }
            return got == want ? nil : "\(name): inferred \(got), expected \(want)"
        }
    }
}
