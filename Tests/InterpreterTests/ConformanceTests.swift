import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import ONNXImport
@testable import ReferenceInterpreter

/// The reference interpreter against ONNX's own test cases (node tests,
/// PyTorch exports) and against onnxruntime on whole networks (`light/`
/// graphs with seeded random weights). Data: `make conformance-data`.
@Suite("Interpreter conformance", .serialized)
struct ConformanceTests {
    /// Element-wise fp32 tolerance for operator cases: |got - expected| <= atol + rtol * |expected|.
    static let rtol = 1e-4
    static let atol = 1e-5
    /// Whole networks accumulate rounding over dozens of layers in a
    /// different order than onnxruntime, so they are compared by relative
    /// L2 error ||got - expected|| / ||expected||, bounded by the manifest
    /// (1e-4) or this when it gives none.
    static let networkRelativeL2 = 1e-4

    static let supportedOps = Set(OpKind.allCases.filter { $0 != .opaque && $0.domain.isEmpty }.map(\.rawValue))

    enum Outcome: Sendable {
        case passed
        case failed(String)
        /// An op outside the supported set.
        case unsupported([String])
        /// A listed feature outside the supported subset.
        case listed(String)
    }

    struct Result: Sendable {
        var entry: ConformanceManifest.Entry
        var outcome: Outcome
    }

    /// Runs one operator case: every data set, every output within tolerance.
    static func run(
        _ entry: ConformanceManifest.Entry, skips: [String: String],
        tolerances: [String: (rtol: Double, atol: Double)], directory: URL
    ) -> Outcome {
        let unsupported = entry.ops.filter { !supportedOps.contains($0) }
        if !unsupported.isEmpty { return .unsupported(unsupported) }
        if let reason = skips[entry.key] { return .listed(reason) }
        let caseDirectory = directory.appendingPathComponent(entry.path)
        do {
            let graph = try ONNXImporter.load(path: caseDirectory.appendingPathComponent("model.onnx").path)
            for (index, set) in try ConformanceDataSet.all(in: caseDirectory, graph: graph).enumerated() {
                let got = try Interpreter.run(graph, inputs: set.inputs)
                for (name, expected) in set.outputs {
                    guard let value = got[name] else { return .failed("data set \(index): no output '\(name)'") }
                    let (rtol, atol) = tolerances[entry.key] ?? (Self.rtol, Self.atol)
                    let comparison = TensorComparison(value, expected, rtol: rtol, atol: atol)
                    if !comparison.passes { return .failed("data set \(index), output '\(name)': \(comparison)") }
                }
            }
            return .passed
        } catch {
            return .failed("\(error)")
        }
    }

    /// Every case of the op-level suites, two at a time per core.
    static func runAll(
        _ entries: [ConformanceManifest.Entry], skips: [String: String],
        tolerances: [String: (rtol: Double, atol: Double)], directory: URL
    ) async -> [Result] {
        await withTaskGroup(of: (Int, Outcome).self) { group in
            var outcomes = [Outcome?](repeating: nil, count: entries.count)
            var next = 0
            let width = max(2, ProcessInfo.processInfo.activeProcessorCount)
            func submit() {
                let index = next, entry = entries[index]
                group.addTask { (index, run(entry, skips: skips, tolerances: tolerances, directory: directory)) }
                next += 1
            }
            while next < min(width, entries.count) { submit() }
            while let (index, outcome) = await group.next() {
                outcomes[index] = outcome
                if next < entries.count { submit() }
            }
            return zip(entries, outcomes).map { Result(entry: $0, outcome: $1!) }
        }
    }

    @Test("every node, pytorch-converted and pytorch-operator case of a supported op passes")
    func operatorCases() async throws {
        let directory = TestPaths.conformance
        let manifest: ConformanceManifest
        do {
            manifest = try ConformanceManifest.load(from: directory)
        } catch {
            Issue.record("\(error)")
            return
        }
        let skipList = try ConformanceSkips.load()
        let skips = skipList.reasons
        let entries = manifest.cases.filter { $0.suite != "light" }
        #expect(!entries.isEmpty, "the manifest lists no operator cases")

        // The skip list must stay honest: every entry a known case whose ops
        // are all supported (otherwise it is skipped as unsupported anyway).
        let known = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for key in skips.keys.sorted() {
            guard let entry = known[key] else {
                Issue.record("conformance_skips.json lists '\(key)', which is not in the manifest"); continue
            }
            let unsupported = entry.ops.filter { !Self.supportedOps.contains($0) }
            if !unsupported.isEmpty {
                Issue.record("conformance_skips.json lists '\(key)', whose op(s) \(unsupported) are unsupported anyway")
            }
        }

        let start = Date()
        let tolerances = skipList.looserTolerances
        for key in tolerances.keys.sorted() where known[key] == nil {
            Issue.record("conformance_skips.json gives a tolerance for '\(key)', which is not in the manifest")
        }
        let results = await Self.runAll(entries, skips: skips, tolerances: tolerances, directory: directory)
        print(Self.table(results))
        print(
            String(format: "operator conformance: %d cases in %.1f s", results.count, Date().timeIntervalSince(start)))
        for result in results {
            if case .failed(let message) = result.outcome {
                Issue.record("\(result.entry.key) [\(result.entry.ops.joined(separator: ","))]: \(message)")
            }
        }
    }

    /// Edge values for integer attributes: what a corrupt or hostile model might hold.
    static let hostileInts = [0, -1, -3, 4097, Int(Int32.max)]

    /// Every node of every supported operator case, once per attribute
    /// mutated to each hostile value, and once with each input replaced by
    /// a scalar: the interpreter must answer with a result or an error and
    /// never crash (a crash takes the whole test process down).
    @Test("mutated attributes and inputs give an error, never a crash")
    func hostileNodes() throws {
        let directory = TestPaths.conformance
        guard let manifest = try? ConformanceManifest.load(from: directory) else {
            Issue.record("no conformance data at \(directory.path); run `make conformance-data`")
            return
        }
        var evaluated = 0, rejected = 0
        for entry in manifest.cases where entry.suite == "node" && entry.ops.allSatisfy(Self.supportedOps.contains) {
            let caseDirectory = directory.appendingPathComponent(entry.path)
            guard let graph = try? ONNXImporter.load(path: caseDirectory.appendingPathComponent("model.onnx").path),
                let set = try? ConformanceDataSet.all(in: caseDirectory, graph: graph).first,
                graph.nodes.count == 1, let node = graph.nodes.first
            else { continue }
            let inputs = node.inputs.map { $0.isEmpty ? nil : set.inputs[$0] ?? graph.initializers[$0] }
            var variants: [(Node, [Tensor?])] = []
            for key in node.attributes.keys.sorted() {
                for value in Self.hostileInts {
                    var mutated = node
                    switch node.attributes[key] {
                    case .int?: mutated.attributes[key] = .int(value)
                    case .ints(let list)?:
                        mutated.attributes[key] = .ints(
                            list.isEmpty ? [value] : list.indices.map { $0 == 0 ? value : list[$0] })
                    default: continue
                    }
                    variants.append((mutated, inputs))
                }
            }
            for i in inputs.indices {
                var replaced = inputs
                replaced[i] =
                    inputs[i]?.dtype == .int64 ? Tensor(shape: [], ints: [-7]) : Tensor(shape: [], floats: [2])
                variants.append((node, replaced))
            }
            for (candidate, arguments) in variants {
                do {
                    _ = try Interpreter.evaluate(candidate, inputs: arguments, opset: graph.opsetVersion)
                    evaluated += 1
                } catch is DFCError {
                    rejected += 1
                }
            }
        }
        print("hostile nodes: \(evaluated) evaluated, \(rejected) rejected with an error")
        #expect(evaluated + rejected > 0)
    }

    /// Rows per supported op (and one line for the unsupported ones): cases
    /// containing the op that ran, passed, failed, or were skipped.
    static func table(_ results: [Result]) -> String {
        struct Row { var run = 0, passed = 0, failed = 0, listed = 0, unsupported = 0 }
        var rows: [String: Row] = [:]
        var unsupportedOps: [String: Int] = [:]
        for result in results {
            for op in Set(result.entry.ops) {
                var row = rows[op] ?? Row()
                switch result.outcome {
                case .passed: row.run += 1; row.passed += 1
                case .failed: row.run += 1; row.failed += 1
                case .listed: row.listed += 1
                case .unsupported: row.unsupported += 1
                }
                rows[op] = row
            }
            if case .unsupported(let ops) = result.outcome { for op in ops { unsupportedOps[op, default: 0] += 1 } }
        }
        var lines = [
            "", "Interpreter conformance per op (node, pytorch-converted, pytorch-operator)",
            "op                     run  passed  failed  skipped:listed  skipped:unsupported"
        ]
        var total = Row()
        for op in supportedOps.sorted() {
            let row = rows[op] ?? Row()
            lines.append(
                padded(op, 20)
                    + String(
                        format: " %5d %7d %7d %15d %20d", row.run, row.passed, row.failed, row.listed, row.unsupported))
        }
        for result in results {
            switch result.outcome {
            case .passed: total.run += 1; total.passed += 1
            case .failed: total.run += 1; total.failed += 1
            case .listed: total.listed += 1
            case .unsupported: total.unsupported += 1
            }
        }
        lines.append(
            padded("all cases", 20)
                + String(
                    format: " %5d %7d %7d %15d %20d", total.run, total.passed, total.failed, total.listed,
                    total.unsupported))
        let outside = unsupportedOps.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        lines.append(
            "skipped as unsupported: \(outside.count) ops outside the supported set, e.g. "
                + outside.prefix(12).map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    @Test("whole networks with random weights match onnxruntime")
    func wholeNetworks() throws {
        let directory = TestPaths.conformance
        let manifest: ConformanceManifest
        do {
            manifest = try ConformanceManifest.load(from: directory)
        } catch {
            Issue.record("\(error)")
            return
        }
        let networks = manifest.cases.filter { $0.suite == "light" }
        let required = [
            "resnet50", "inception_v1", "squeezenet", "vgg19", "bvlc_alexnet", "densenet121", "shufflenet", "zfnet512"
        ]
        for name in required where !networks.contains(where: { $0.case == name }) {
            Issue.record("the conformance data has no light/\(name)")
        }
        var lines = [
            "", "Whole networks vs onnxruntime (random weights, batch 1)",
            "network:output               rel-L2      bound     max-abs      load s  run s"
        ]
        for entry in networks {
            let caseDirectory = directory.appendingPathComponent(entry.path)
            let bound = entry.tolerance.rel_l2 ?? Self.networkRelativeL2
            do {
                let loadStart = Date()
                let graph = try ONNXImporter.load(path: caseDirectory.appendingPathComponent("model.onnx").path)
                let sets = try ConformanceDataSet.all(in: caseDirectory, graph: graph)
                let loadTime = Date().timeIntervalSince(loadStart)
                for set in sets {
                    let runStart = Date()
                    let got = try Interpreter.run(graph, inputs: set.inputs)
                    let runTime = Date().timeIntervalSince(runStart)
                    for (name, expected) in set.outputs {
                        guard let value = got[name] else { Issue.record("\(entry.key): no output '\(name)'"); continue }
                        let comparison = TensorComparison(value, expected)
                        // A one-hot expected output (a softmax saturated by
                        // random weights) says little beyond the argmax.
                        let saturated =
                            expected.dtype == .float32 && expected.count > 1
                            && expected.floats.filter { abs($0) > 1e-6 }.count == 1
                        lines.append(
                            Self.padded("\(entry.case):\(name)", 28)
                                + String(
                                    format: " %10.2e %10.0e %11.2e %9.1f %6.1f",
                                    comparison.relativeL2, bound, comparison.maxAbsoluteError, loadTime, runTime)
                                + (saturated ? "  (expected output is one-hot: a weak check)" : ""))
                        #expect(
                            comparison.shapeMismatch == nil && comparison.relativeL2 <= bound,
                            "\(entry.key) output '\(name)': rel-L2 \(comparison.relativeL2) > \(bound) (\(comparison))")
                    }
                }
            } catch {
                Issue.record("\(entry.key): \(error)")
            }
        }
        print(lines.joined(separator: "\n"))
    }
}
