import Accelerator
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR

/// A timed emission skips the bands of a band plan that repeat earlier ones (`BandRepeats`,
/// `Sequencer.skip`): the counts must be exactly those of emitting every band.
@Suite("Band repeats")
struct BandRepeatsTests {
    /// Every band candidate of every interval of up to four layers of each model, emitted with and without skips.
    static let cases = [
        ("Fixtures/demo/resnet8.onnx", "df1"), ("Fixtures/demo/resnet8.onnx", "df1-small"),
        ("Fixtures/onnx/shufflenet_blocks.onnx", "df1"), ("Fixtures/onnx/exporter_idioms.onnx", "df1-small"),
        (".cache/bench/mobilenet_v2.onnx", "df1-small"), (".cache/bench/squeezenet1_0.onnx", "df1"),
        (".cache/bench/squeezenet1_0.onnx", "df1-large"), (".cache/bench/resnet18.onnx", "df1")
    ]

    @Test("every candidate of every short interval times the same with repeated bands skipped as in full")
    func skippedBandsTimeAlike() throws {
        var compared = 0, packed = 0, skips = 0
        var skipped: [BandPlan.Halo: Int] = [:], doubleBuffered = 0
        for (model, preset) in Self.cases {
            let config = try #require(AcceleratorConfig.preset(named: preset))
            var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
            try PassManager().run(&graph, options: CompileOptions())
            let context = try PlanningContext(graph: graph, config: config, objective: .edp)
            var planned = 0
            for start in graph.nodes.indices {
                for end in (start + 1)...min(graph.nodes.count, start + 4) {
                    guard let plans = try? FusionPlanner.candidates(start..<end, context: context) else { continue }
                    for case .bands(let plan) in plans {
                        let group = GroupPlan.bands(plan)
                        let full = try #require(try context.simulatedRun(group, skipping: false))
                        #expect(!full.skipped)
                        guard let fast = try context.simulatedRun(group, skipping: true) else { continue }
                        #expect(
                            fast.stats == full.stats,
                            "\(model) \(preset) nodes \(start..<end): \(plan.tileDescription)")
                        planned += 1
                        if plan.packed { packed += 1 }
                        guard fast.skipped else { continue }
                        skips += 1
                        skipped[plan.halo, default: 0] += 1
                        if plan.buffers.values.contains(where: { $0.slots > 1 }) { doubleBuffered += 1 }
                    }
                }
            }
            #expect(planned > 0, "\(model) \(preset)")
            compared += planned
        }
        // The comparison covers plans that skip bands, in both halo modes, double-buffered ones among them,
        // and packed plans (one band: nothing skipped).
        #expect(compared > 1000 && skips > 200)
        #expect(skipped[.cache, default: 0] > 20 && skipped[.recompute, default: 0] > 20)
        #expect(doubleBuffered > 20 && packed > 0)
        print(
            "band repeats: \(compared) plans compared, \(skips) skipping bands (\(skipped)), \(doubleBuffered) double-buffered, \(packed) packed"
        )
    }
}
