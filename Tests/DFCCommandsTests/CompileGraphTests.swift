import Compiler
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import ReferenceInterpreter
import Tensors
import TestSupport
import Testing

/// Runs a program of this machine (Graphviz `dot`) and captures its output.
enum ExternalCommand {
    static func run(_ executable: String, _ arguments: [String]) throws -> DFCProcess.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return DFCProcess.Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self), stdoutBytes: [UInt8](stdout))
    }
}

/// The bench network `make test` builds (`make test-bench-models`).
enum TestBenchModel {
    static let squeezeNet = ".cache/bench/squeezenet1_0.onnx"

    static func require(_ path: String) throws {
        let absolute = DFCProcess.repoRoot.appendingPathComponent(path).path
        try #require(
            FileManager.default.fileExists(atPath: absolute), "\(path) is missing: make test-bench-models builds it")
    }
}

@Suite("dfc compile --graph")
struct GraphDotTests {
    /// Compiles `model` with --graph and --report, renders the DOT with the
    /// real `dot` to SVG and to JSON, and checks every cluster holds exactly
    /// the layers of one of the report's groups, in order, and host layers are marked.
    func renderAndMatch(_ model: String, hostLayers: [String]) throws {
        let folder = try ScratchFolder("dfc-graph")
        defer { folder.remove() }
        let dot = folder.path("graph.dot"), report = folder.path("report.json")
        let compile = try DFCProcess.run(["compile", model, "--graph", dot, "--report", report])
        #expect(compile.status == 0, "\(compile.stderr)")
        let text = try String(contentsOfFile: dot, encoding: .utf8)
        #expect(text.hasPrefix("digraph "))

        let svg = try ExternalCommand.run("dot", ["-Tsvg", dot])
        #expect(svg.status == 0, "dot -Tsvg: \(svg.stderr)")
        #expect(svg.stdout.contains("<svg"))

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report)))
        let groups = try #require((object as? [String: Any])?["groups"] as? [[String: Any]])
        let expected = groups.map { ($0["layers"] as? [String]) ?? [] }
        #expect(!expected.isEmpty)
        #expect(svg.stdout.components(separatedBy: "class=\"cluster\"").count - 1 == expected.count)

        // Graphviz's own reading of the clusters: their member nodes, by name.
        let layout = try ExternalCommand.run("dot", ["-Tjson", dot])
        #expect(layout.status == 0, "dot -Tjson: \(layout.stderr)")
        let graph = try #require(try JSONSerialization.jsonObject(with: Data(layout.stdoutBytes)) as? [String: Any])
        let objects = try #require(graph["objects"] as? [[String: Any]])
        // Clusters come first in `objects`; their `nodes` are the `_gvid`s of node objects.
        var names: [Int: String] = [:]
        for item in objects {
            if let id = item["_gvid"] as? Int, let name = item["name"] as? String { names[id] = name }
        }
        var clusters: [(number: Int, members: [String])] = []
        for item in objects {
            guard let name = item["name"] as? String, name.hasPrefix("cluster_"), let number = Int(name.dropFirst(8))
            else { continue }
            let members = ((item["nodes"] as? [Int]) ?? []).compactMap { names[$0] }
            #expect(members.allSatisfy { $0.hasPrefix("node:") }, "\(members)")
            clusters.append((number, members.map { String($0.dropFirst("node:".count)) }))
        }
        #expect(clusters.sorted { $0.number < $1.number }.map(\.members) == expected)

        for host in hostLayers {
            let line = text.split(separator: "\n").first { $0.contains("\"node:\(host)\" [") }
            #expect(line?.contains("[host]") == true && line?.contains("#fdae6b") == true, "\(line ?? "none")")
        }
    }

    @Test("ResNet-8: one cluster per fusion group, rendered by dot; the host Softmax is marked")
    func resnet8() throws {
        try renderAndMatch("Fixtures/demo/resnet8.onnx", hostLayers: ["softmax"])
    }

    @Test("SqueezeNet: the clusters rendered by dot are the report's groups")
    func squeezeNet() throws {
        try TestBenchModel.require(TestBenchModel.squeezeNet)
        try renderAndMatch(TestBenchModel.squeezeNet, hostLayers: [])
    }

    @Test("names with quotes, backslashes, control characters and non-ASCII stay distinct nodes dot reads")
    func awkwardNames() throws {
        var graph = try ONNXImporter.load(
            path: DFCProcess.repoRoot.appendingPathComponent("Fixtures/demo/resnet8.onnx").path)
        try PassManager().run(&graph, options: CompileOptions())
        let awkward = ["conv \"one\"", "back\\slash\\", "tab\there", "\u{fc}n\u{ef}code", "line\nbreak", "\\\"", "\""]
        for (index, name) in awkward.enumerated() { graph.nodes[index].name = name }
        let compilation = try Codegen.schedule(graph, options: Codegen.Options())
        let folder = try ScratchFolder("dfc-graph")
        defer { folder.remove() }
        try GraphDot.render(graph, compilation: compilation, title: "awkward").write(
            toFile: folder.path("g.dot"), atomically: true, encoding: .utf8)
        let layout = try ExternalCommand.run("dot", ["-Tjson", folder.path("g.dot")])
        #expect(layout.status == 0, "dot -Tjson: \(layout.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(layout.stdoutBytes)) as? [String: Any])
        let names = ((object["objects"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            .filter { $0.hasPrefix("node:") }
        #expect(names.count == graph.nodes.count && Set(names).count == names.count, "\(names)")
        #expect(names.contains("node:conv \"one\"") && names.contains("node:\u{fc}n\u{ef}code"), "\(names)")
    }

    @Test("the same compile writes the same DOT; a directory as --graph is refused before any work")
    func deterministicAndChecked() throws {
        let folder = try ScratchFolder("dfc-graph")
        defer { folder.remove() }
        for name in ["a.dot", "b.dot"] {
            let result = try DFCProcess.run(["compile", "Fixtures/demo/resnet8.onnx", "--graph", folder.path(name)])
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: folder.path("a.dot")))
                == Data(contentsOf: URL(fileURLWithPath: folder.path("b.dot"))))
        let refused = try DFCProcess.run([
            "compile", "Fixtures/demo/resnet8.onnx", "--graph", folder.path, "-o", folder.path("p.dfx")
        ])
        #expect(refused.status != 0)
        #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.hasPrefix("dfc: error: "))
        #expect(!FileManager.default.fileExists(atPath: folder.path("p.dfx")))
    }
}

@Suite("dfc compile --outputs")
struct CutOutputsTests {
    static let demo = "Fixtures/demo/resnet8.onnx"

    @Test("ResNet-8 cut before its pooling, classifier and Softmax compiles, verifies, and equals the interpreter")
    func backbone() throws {
        let folder = try ScratchFolder("dfc-cut")
        defer { folder.remove() }
        let program = folder.path("cut.dfx"), report = folder.path("report.json")
        let compile = try DFCProcess.run([
            "compile", Self.demo, "--outputs", "relu7_out", "-o", program, "--verify", "--report", report
        ])
        #expect(compile.status == 0, "\(compile.stderr)")
        #expect(compile.stderr.contains(": 1 output matches the reference"), "\(compile.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        let rows = try #require(object["layers"] as? [[String: Any]])
        let covered = rows.map { ($0["node"] as? String) ?? "" }.joined(separator: "+")
        for pruned in ["gap1", "flatten1", "fc1", "softmax"] { #expect(!covered.contains(pruned), "\(covered)") }

        let run = try DFCProcess.run([
            "run", program, "--input", "input=Fixtures/demo/resnet8.input.npy", "--output-dir", folder.path
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let actual = try NPY.read(path: folder.path("relu7_out.npy"))

        // The whole model in the interpreter, asked for the same value.
        var whole = try ONNXImporter.load(path: DFCProcess.repoRoot.appendingPathComponent(Self.demo).path)
        whole.outputs.append("relu7_out")
        let input = try NPY.read(
            path: DFCProcess.repoRoot.appendingPathComponent("Fixtures/demo/resnet8.input.npy").path)
        let expected = try #require(try Interpreter.run(whole, inputs: ["input": input])["relu7_out"])
        #expect(actual.shape == [1, 64, 8, 8])
        let comparison = TensorComparison(actual, expected)
        #expect(comparison.passes(relativeL2Limit: 1e-5), "\(comparison)")
    }

    @Test("two outputs, one read by the other's layers, both verify")
    func twoOutputs() throws {
        let result = try DFCProcess.run(["compile", Self.demo, "--outputs", "relu5_out,fc1_out", "--verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains(": 2 outputs match the reference"), "\(result.stderr)")
    }

    @Test(
        "unknown names are one error naming the nearest values, or the outputs",
        arguments: [
            ("relu7_ot", "no value 'relu7_ot' in the graph (nearest: relu7_out"),
            ("zzzzzzzzzzzzzzzz", "no value 'zzzzzzzzzzzzzzzz' in the graph (its outputs: output)"),
            ("input", "'input' is a graph input"),
            ("conv1_w", "'conv1_w' is a constant"),
            (",", "expected one or more value names")
        ])
    func unknownName(name: String, message: String) throws {
        let result = try DFCProcess.run(["compile", Self.demo, "--outputs", name, "-o", "-"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("dfc: error: \(Self.demo): --outputs: "), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
