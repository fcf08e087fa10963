import Foundation
@testable import DeepFusion

/// The conformance material `Tools/gen_conformance.py` writes: a manifest
/// of cases, each a model with data sets of input and expected output
/// `.pb` files.
struct ConformanceManifest: Decodable, Sendable {
    struct TensorDescription: Decodable, Sendable {
        var name: String
        var dtype: String
        var shape: [Int]
    }

    struct Tolerance: Decodable, Sendable {
        var rtol: Double?
        var atol: Double?
        var rel_l2: Double?
    }

    struct Entry: Decodable, Sendable {
        var suite: String
        var `case`: String
        var path: String
        var ops: [String]
        var opset: Int?
        var inputs: [TensorDescription]
        var outputs: [TensorDescription]
        var tolerance: Tolerance
        var notes: String?

        var key: String { "\(suite)/\(self.case)" }
    }

    var cases: [Entry]

    /// Reads `manifest.json` under `directory`, or explains how to make it.
    static func load(from directory: URL) throws -> ConformanceManifest {
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DFCError("no conformance data at \(directory.path) (manifest.json is missing); run `make conformance-data` or set DFC_CONFORMANCE_DIR")
        }
        return try JSONDecoder().decode(ConformanceManifest.self, from: data)
    }
}

/// One data set of a case: inputs by graph input name, expected outputs by
/// graph output name.
struct ConformanceDataSet {
    var inputs: [String: Tensor]
    var outputs: [(name: String, tensor: Tensor)]

    /// Every `test_data_set_*` directory of the case at `directory`, for `graph`.
    static func all(in directory: URL, graph: Graph) throws -> [ConformanceDataSet] {
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
                (name: graph.outputs.contains(pair.0) ? pair.0 : (i < graph.outputs.count ? graph.outputs[i] : pair.0), tensor: pair.1)
            }
            return ConformanceDataSet(inputs: inputs, outputs: outputs)
        }
    }
}

/// `Tools/conformance_skips.json`: cases whose ops are all supported but
/// which exercise a feature outside the supported subset, each group with
/// its reason.
struct ConformanceSkips: Decodable {
    struct Group: Decodable {
        var reason: String
        var cases: [String]
    }

    /// Cases checked at a looser element-wise tolerance than the default.
    struct Tolerance: Decodable {
        var reason: String
        var rtol: Double
        var atol: Double
        var cases: [String]
    }

    var groups: [Group]
    var tolerances: [Tolerance]

    /// Reason by "suite/case".
    var reasons: [String: String] {
        var map: [String: String] = [:]
        for group in groups { for key in group.cases { map[key] = group.reason } }
        return map
    }

    /// (rtol, atol) by "suite/case", for the cases given one.
    var looserTolerances: [String: (rtol: Double, atol: Double)] {
        var map: [String: (rtol: Double, atol: Double)] = [:]
        for group in tolerances { for key in group.cases { map[key] = (group.rtol, group.atol) } }
        return map
    }

    static func load() throws -> ConformanceSkips {
        let url = TestPaths.repository.appendingPathComponent("Tools/conformance_skips.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DFCError("Tools/conformance_skips.json is missing")
        }
        return try JSONDecoder().decode(ConformanceSkips.self, from: data)
    }
}
