import Accelerator
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR

/// The fusion search skips intervals and plans by their cost floors
/// (`FusionPlanner.intervalFloor`, `costFloor`); the full search
/// (`DFC_FULL_SEARCH=1`, `fullSearch: true`) simulates every candidate of
/// every interval. Both must choose the same partition, the same plans and
/// the same costs, or a floor has changed a program.
@Suite("Full search")
struct FullSearchTests {
    @Test(
        "the search with floors picks the partition and plans the full search picks",
        arguments: [
            ("Fixtures/demo/resnet8.onnx", "df1"), ("Fixtures/demo/resnet8.onnx", "df1-small"),
            ("Fixtures/onnx/shufflenet_blocks.onnx", "df1"), ("Fixtures/onnx/exporter_idioms.onnx", "df1-small")
        ])
    func prunedSearchIsExact(model: String, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        for objective in [Objective.edp, .latency, .energy] {
            let context = try PlanningContext(graph: graph, config: config, objective: objective)
            let built = try Emitter.build(
                graph, config: config, objective: objective, layout: context.layout, groups: [])
            let layerByLayer = (built.program, built.layers)
            let pruned = try FusionPlanner.plan(context, layerByLayer: layerByLayer, explain: false, fullSearch: false)
            let full = try FusionPlanner.plan(context, layerByLayer: layerByLayer, explain: false, fullSearch: true)
            let what = "\(model) \(preset) \(objective)"
            #expect(pruned.segments.map(\.nodes) == full.segments.map(\.nodes), "\(what): the partition changed")
            #expect(pruned.groups.count == full.groups.count && !full.groups.isEmpty, "\(what)")
            for (a, b) in zip(pruned.groups, full.groups) {
                #expect(a.tileDescription(graph: graph) == b.tileDescription(graph: graph), "\(what)")
                #expect(a.dramBytes == b.dramBytes && a.sramBytes == b.sramBytes, "\(what)")
                #expect(a.estimatedCycles == b.estimatedCycles, "\(what): simulated cycles differ")
            }
        }
    }

    @Test("a layer's needed input rows: every row under a window that spans its stride, one per row otherwise")
    func neededRows() {
        // 3x3, stride 1, pad 1 over 8 rows: 8 output rows read all 8; 3 rows anywhere read at least 4.
        let same = Reach(kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 1, padLeft: 1)
        #expect(FusionPlanner.neededRows(run: 8, count: 8, outputHeight: 8, inputHeight: 8, reach: same) == (8, 8))
        #expect(FusionPlanner.neededRows(run: 3, count: 3, outputHeight: 8, inputHeight: 8, reach: same) == (4, 4))
        // 1x1, stride 2 over 8 rows: 4 output rows read rows 0, 2, 4, 6: no run, four rows.
        let skip = Reach(kh: 1, kw: 1, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 0, padLeft: 0)
        #expect(FusionPlanner.neededRows(run: 4, count: 4, outputHeight: 4, inputHeight: 8, reach: skip) == (0, 4))
        // 3x3, stride 2, pad 1 over 8 rows: 4 output rows read rows -1...7; 8 of them inside.
        let down = Reach(kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, padTop: 1, padLeft: 1)
        #expect(FusionPlanner.neededRows(run: 4, count: 4, outputHeight: 4, inputHeight: 8, reach: down) == (8, 8))
    }

    @Test(
        "an interval's floor reads every map an add or a stride-1 layer takes from outside whole and stores what leaves it"
    )
    func intervalFloorCountsWholeMaps() throws {
        let config = try #require(AcceleratorConfig.preset(named: "df1"))
        var graph = try ONNXImporter.load(
            path: TestPaths.repository.appendingPathComponent("Fixtures/demo/resnet8.onnx").path)
        try PassManager().run(&graph, options: CompileOptions())
        let context = try PlanningContext(graph: graph, config: config, objective: .edp)
        let consumers = graph.consumers()
        var checked = 0
        for (i, node) in graph.nodes.enumerated() where node.kind == .add && i + 2 <= graph.nodes.count {
            let y = try #require(graph.type(of: node.outputs[0]))
            let operands = node.inputs.compactMap { graph.type(of: $0) }
            guard operands.count == 2, operands.allSatisfy({ $0.shape == y.shape }) else { continue }
            // The add and the layer after it: both operands come from outside and are read whole; the
            // sum is stored when a later layer reads it too (a residual), and the last output always.
            let range = i..<(i + 2)
            let escapes = (consumers[node.outputs[0]] ?? []).contains { !range.contains($0) }
            let last = try #require(graph.type(of: graph.nodes[i + 1].outputs[0]))
            let least = 4 * (2 * y.count + (escapes ? y.count : 0) + last.count)
            let floor = FusionPlanner.intervalFloor(range, context: context)
            #expect(floor.bytes >= least, "nodes \(range): floor \(floor.bytes) B, at least \(least) B")
            for plan in try FusionPlanner.candidates(range, context: context) {
                #expect(floor.bytes <= plan.dramBytes, "nodes \(range): \(plan.tileDescription(graph: graph))")
            }
            checked += 1
        }
        #expect(checked > 0, "resnet8 has no residual add of two maps")
    }
}
