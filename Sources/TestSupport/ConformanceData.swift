import Foundation
import GraphIR
import ONNXImport
import Tensors

/// The conformance material `Tools/gen_conformance.py` writes: a manifest
/// of cases, each a model with data sets of input and expected output
/// `.pb` files.
package struct ConformanceManifest: Decodable, Sendable {
    package struct TensorDescription: Decodable, Sendable {
        package var name: String
        package var dtype: String
        package var shape: [Int]
    }

    package struct Tolerance: Decodable, Sendable {
        package var rtol: Double?
        package var atol: Double?
        package var rel_l2: Double?
    }

    package struct Entry: Decodable, Sendable {
        package var suite: String
        package var `case`: String
        package var path: String
        package var ops: [String]
        package var opset: Int?
        package var inputs: [TensorDescription]
        package var outputs: [TensorDescription]
        package var tolerance: Tolerance
        package var notes: String?

        package var key: String { "\(suite)/\(self.case)" }
    }

    package var cases: [Entry]

    /// Reads `manifest.json` under `directory`, or explains how to make it.
    package static func load(from directory: URL) throws -> ConformanceManifest {
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DFCError(
                "no conformance data at \(directory.path) (manifest.json is missing); run `make conformance-data` or set DFC_CONFORMANCE_DIR"
            )
        }
        return try JSONDecoder().decode(ConformanceManifest.self, from: data)
    }
}

/// One data set of a case: inputs by graph input name, expected outputs by
/// graph output name.
package struct ConformanceDataSet {
    package var inputs: [String: Tensor]
    package var outputs: [(name: String, tensor: Tensor)]

    /// Every `test_data_set_*` directory of the case at `directory`, for `graph`.
    package static func all(in directory: URL, graph: Graph) throws -> [ConformanceDataSet] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("test_data_set_") }.sorted()
        guard !names.isEmpty else { throw DFCError("no test_data_set_* in \(directory.lastPathComponent)") }
        return try names.map { name in
            let set = directory.appendingPathComponent(name)
            func tensors(_ prefix: String) throws -> [(String, Tensor)] {
                var result: [(String, Tensor)] = []
                while true {
                    let path = set.appendingPathComponent("\(prefix)_\(result.count).pb").path
                    guard FileManager.default.fileExists(atPath: path) else { return result }
                    let (name, tensor) = try TensorProtoFile.read(path: path)
                    result.append((name, tensor))
                }
            }
            var inputs: [String: Tensor] = [:]
            for (i, (name, tensor)) in try tensors("input").enumerated() {
                // Names are the graph's input names; fall back to position.
                let key = graph.inputs.contains(name) ? name : (i < graph.inputs.count ? graph.inputs[i] : name)
                inputs[key] = tensor
            }
            let outputs = try tensors("output").enumerated().map { i, pair in
                (
                    name: graph.outputs.contains(pair.0)
                        ? pair.0 : (i < graph.outputs.count ? graph.outputs[i] : pair.0), tensor: pair.1
                )
            }
            return ConformanceDataSet(inputs: inputs, outputs: outputs)
        }
    }
}

/// `Tools/conformance_skips.json`: cases whose ops are all supported but
/// which exercise a feature outside the supported subset, each group with
/// its reason.
package struct ConformanceSkips: Decodable {
    package struct Group: Decodable {
        package var reason: String
        package var cases: [String]
    }

    /// Cases checked at a looser element-wise tolerance than the default.
    package struct Tolerance: Decodable {
        package var reason: String
        package var rtol: Double
        package var atol: Double
        package var cases: [String]
    }

    package var groups: [Group]
    package var tolerances: [Tolerance]

    /// Reason by "suite/case".
    package var reasons: [String: String] {
        var map: [String: String] = [:]
        for group in groups { for key in group.cases { map[key] = group.reason } }
        return map
    }

    /// (rtol, atol) by "suite/case", for the cases given one.
    package var looserTolerances: [String: (rtol: Double, atol: Double)] {
        var map: [String: (rtol: Double, atol: Double)] = [:]
        for group in tolerances { for key in group.cases { map[key] = (group.rtol, group.atol) } }
        return map
    }

    package static func load() throws -> ConformanceSkips {
        let url = TestPaths.repository.appendingPathComponent("Tools/conformance_skips.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DFCError("Tools/conformance_skips.json is missing")
        }
        return try JSONDecoder().decode(ConformanceSkips.self, from: data)
    }
}
