import Foundation
import TestSupport
import Testing

@Suite("dfc inspect")
struct InspectCommandTests {
    static let demo = "Fixtures/demo/resnet8.onnx"

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try DFCProcess.run(["inspect"] + arguments + ["--json"])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any])
    }

    static func report(_ arguments: [String]) throws -> [String: Any] {
        let folder = try ScratchFolder("dfc-inspect")
        defer { folder.remove() }
        let result = try DFCProcess.run(["compile"] + arguments + ["--report", folder.path("r.json")])
        #expect(result.status == 0, "\(result.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: folder.path("r.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Traffic figures agree with what `dfc compile --report` says of the
    /// same model: compulsory bytes, and the --no-fusion --objective traffic
    /// program's predicted bytes; MACs with the executor's count of that program.
    func agreesWithCompile(_ model: String) throws -> [String: Any] {
        let facts = try Self.json([model])
        let baseline = try Self.report([model, "--no-fusion", "--objective", "traffic"])
        #expect(facts["compulsory_bytes"] as? Int == baseline["compulsory_bytes"] as? Int)
        #expect(facts["layer_by_layer_bytes"] as? Int == baseline["predicted_dram_bytes"] as? Int)
        #expect(facts["macs"] as? Int == baseline["macs"] as? Int)
        return facts
    }

    @Test("ResNet-8: shapes, op histogram, parameters, MACs and traffic, the same as compile says")
    func resnet8() throws {
        let facts = try agreesWithCompile(Self.demo)
        let ops = try #require(facts["ops"] as? [String: Int])
        #expect(ops["Conv"] == 9 && ops["BatchNormalization"] == 9 && ops["Add"] == 3 && ops["Softmax"] == 1)
        #expect(facts["nodes"] as? Int == ops.values.reduce(0, +))
        let inputs = try #require(facts["inputs"] as? [[String: Any]])
        #expect(inputs.first?["name"] as? String == "input" && inputs.first?["shape"] as? [Int] == [1, 3, 32, 32])
        let hosts = try #require(facts["host_layers"] as? [[String: String]])
        #expect(hosts.map { $0["node"] } == ["softmax"])
        #expect((facts["unsupported"] as? [Any])?.isEmpty == true)
        let largest = try #require(facts["largest_activations"] as? [[String: Any]])
        #expect(largest.count == 5)
        let sizes = largest.compactMap { $0["bytes"] as? Int }
        #expect(sizes == sizes.sorted(by: >) && sizes.first == 16 * 32 * 32 * 4)
        // Parameters: the weights compile counts as compulsory, before BatchNorm folding adds none.
        #expect((facts["parameters"] as? Int ?? 0) > 0)
    }

    @Test("the text is short, aligned, and says the same as the JSON")
    func text() throws {
        let result = try DFCProcess.run(["inspect", Self.demo])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count <= 20, "\(result.stdout)")
        #expect(lines.allSatisfy { $0.count <= 120 }, "\(result.stdout)")
        let labels = lines.map { String($0.prefix(12)).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(
            labels == [
                "model", "inputs", "outputs", "ops", "parameters", "MACs", "largest", "traffic", "host",
                "unsupported"
            ], "\(result.stdout)")
        let facts = try Self.json([Self.demo])
        let grouped = { (n: Int) -> String in
            var digits = String(n)
            for k in stride(from: digits.count - 3, to: 0, by: -3) {
                digits.insert(",", at: digits.index(digits.startIndex, offsetBy: k))
            }
            return digits
        }
        #expect(result.stdout.contains("parameters  \(grouped(facts["parameters"] as! Int)) "))
        #expect(result.stdout.contains("MACs        \(grouped(facts["macs"] as! Int))\n"))
        #expect(result.stdout.contains("host        softmax (Softmax)"))
        #expect(result.stdout.contains("unsupported none"))
    }

    @Test("SqueezeNet (bench): figures agree with compile; every Concat counted")
    func squeezeNet() throws {
        try TestBenchModel.require(TestBenchModel.squeezeNet)
        let facts = try agreesWithCompile(TestBenchModel.squeezeNet)
        let ops = try #require(facts["ops"] as? [String: Int])
        #expect(ops["Concat"] == 8 && ops["Conv"] == 26)
        #expect((facts["host_layers"] as? [[String: String]])?.map { $0["op"] } == ["Softmax"])
    }

    @Test("unsupported operators are all listed with their nodes, and are not an error")
    func unsupported() throws {
        let model = "Fixtures/onnx/unsupported_ops.onnx"
        let result = try DFCProcess.run(["inspect", model])
        #expect(result.status == 0, "\(result.stderr)")
        for node in ["topk_1 (TopK)", "einsum_1 (Einsum)", "hardmax_1 (Hardmax)"] {
            #expect(result.stdout.contains(node), "\(result.stdout)")
        }
        #expect(!result.stdout.contains("relu_1 (Relu)"))
        let facts = try Self.json([model])
        let unsupported = try #require(facts["unsupported"] as? [[String: String]])
        #expect(Set(unsupported.compactMap { $0["node"] }) == ["topk_1", "einsum_1", "hardmax_1"])
        #expect(facts["macs"] is NSNull)
        #expect((facts["problems"] as? [String])?.first?.contains("unsupported operators") == true)
    }

    @Test("unknown dimensions: a note saying how to bind them, then --input-shape binds them like compile")
    func inputShape() throws {
        let model = "Fixtures/onnx/unknown_spatial.onnx"
        let unbound = try DFCProcess.run(["inspect", model])
        #expect(unbound.status == 0, "\(unbound.stderr)")
        #expect(unbound.stdout.contains("input   f32[N,3,H,W]"), "\(unbound.stdout)")
        #expect(unbound.stdout.contains("bind the unknown dimensions of input with --input-shape"), "\(unbound.stdout)")
        let facts = try Self.json([model, "--input-shape", "input=1x3x16x16"])
        let outputs = try #require(facts["outputs"] as? [[String: Any]])
        #expect(outputs.first?["shape"] as? [Int] == [1, 4, 14, 14])
        #expect(outputs.first?["declared"] as? String == "f32[N,4,H2,W2]")
        #expect((facts["macs"] as? Int) == 1 * 4 * 14 * 14 * 3 * 3 * 3)
        let wrong = try DFCProcess.run(["inspect", model, "--input-shape", "foo=1x3x16x16"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.isEmpty)
        #expect(wrong.stderr.split(separator: "\n").count == 1 && wrong.stderr.contains("'foo'"), "\(wrong.stderr)")
    }

    @Test("--outputs inspects the subgraph compile --outputs would compile")
    func cut() throws {
        let facts = try Self.json([Self.demo, "--outputs", "relu7_out"])
        let ops = try #require(facts["ops"] as? [String: Int])
        #expect(ops["Softmax"] == nil && ops["Gemm"] == nil && ops["Conv"] == 9)
        #expect((facts["host_layers"] as? [Any])?.isEmpty == true)
        let baseline = try Self.report([Self.demo, "--outputs", "relu7_out", "--no-fusion", "--objective", "traffic"])
        #expect(facts["layer_by_layer_bytes"] as? Int == baseline["predicted_dram_bytes"] as? Int)
        #expect(facts["compulsory_bytes"] as? Int == baseline["compulsory_bytes"] as? Int)
    }

    @Test("a model that is not ONNX is one error line")
    func badModel() throws {
        let result = try DFCProcess.run(["inspect", "Fixtures/onnx/not_onnx.onnx"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.hasPrefix("dfc: error: "))
    }
}
