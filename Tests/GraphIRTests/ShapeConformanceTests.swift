import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// Shape inference over ONNX's own test models (node tests, PyTorch exports,
/// the `light/` real networks), compared with the shapes onnxruntime observed.
@Suite("Shape inference on ONNX's test models")
struct ShapeConformanceTests {
    static var dataDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["DFC_CONFORMANCE_DIR"] { return URL(fileURLWithPath: env) }
        return ImportFixtures.root.appendingPathComponent(".cache/conformance")
    }

    struct Case {
        var suite: String
        var name: String
        var directory: URL
    }

    static func cases() throws -> [Case] {
        try ConformanceManifest.load(from: dataDirectory).cases.map {
            Case(suite: $0.suite, name: $0.case, directory: dataDirectory.appendingPathComponent($0.path))
        }
    }

    enum Outcome: String, CaseIterable {
        case passed, failed, unsupportedOp = "unsupported op", unsupportedFeature = "unsupported feature"
    }

    static func check(_ testCase: Case) -> (Outcome, String) {
        let model = testCase.directory.appendingPathComponent("model.onnx").path
        let shapes = testCase.directory.appendingPathComponent("shapes.json").path
        do {
            let expected = try ImportFixtures.expectedShapes(shapes)
            var graph = try ONNXImporter.load(path: model)
            do { try graph.checkSupported() } catch { return (.unsupportedOp, "\(error)") }
            // dfc compiles static shapes: inputs that define shapes (axes,
            // pads, scales...) are frozen to the test's values first.
            let frozen = graph.shapeDefiningInputs
            if !frozen.isEmpty {
                let inputs = try ConformanceDataSet.all(in: testCase.directory, graph: graph)[0].inputs
                try graph.freeze(inputs.filter { frozen.contains($0.key) })
            }
            // Bind inputs to the shapes the test data has (models may leave them symbolic).
            var bindings: [String: [Int]] = [:]
            for input in graph.inputs where graph.values[input]?.type == nil {
                if let type = expected[input] { bindings[input] = type.shape }
            }
            try PassManager(passes: [InferShapes()]).run(&graph, options: CompileOptions(inputShapes: bindings))
            let wrong = ImportFixtures.mismatches(graph, expected)
            return wrong.isEmpty ? (.passed, "") : (.failed, wrong.prefix(3).joined(separator: "; "))
        } catch let error as DFCError {
            let unsupported = error.message.contains("not supported") || error.message.contains("does not support")
            return (unsupported ? .unsupportedFeature : .failed, error.description)
        } catch {
            return (.failed, "\(error)")
        }
    }

    @Test("every supported case infers the shapes onnxruntime observed")
    func conformanceShapes() throws {
        let all = try Self.cases()
        #expect(all.count > 1000, "expected ONNX's full set of test models")
        var table: [String: [Outcome: Int]] = [:]
        var failures: [String] = []
        var featureSkips: [String] = []
        for testCase in all {
            let (outcome, detail) = Self.check(testCase)
            table[testCase.suite, default: [:]][outcome, default: 0] += 1
            switch outcome {
            case .failed: failures.append("\(testCase.suite)/\(testCase.name): \(detail)")
            case .unsupportedFeature: featureSkips.append("\(testCase.suite)/\(testCase.name): \(detail)")
            default: break
            }
        }
        var report = "shape inference on ONNX test models:\n"
        report +=
            "  suite                 "
            + Outcome.allCases.map { $0.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0) }.joined() + "\n"
        for suite in table.keys.sorted() {
            report += "  " + suite.padding(toLength: 22, withPad: " ", startingAt: 0)
            report +=
                Outcome.allCases.map {
                    String(table[suite]![$0, default: 0]).padding(toLength: 20, withPad: " ", startingAt: 0)
                }.joined() + "\n"
        }
        print(
            report + "  cases skipped for features outside the supported subset:\n"
                + featureSkips.map { "    " + $0 }.joined(separator: "\n"))
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.joined(separator: "\n"))")
        let light = table["light"] ?? [:]
        #expect(light[.passed, default: 0] == 9, "all nine light/ networks must import and infer")
    }
}
