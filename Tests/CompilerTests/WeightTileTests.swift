import Accelerator
import Foundation
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// Whole-map plans fitted to a weight budget give each streaming
/// convolution its own weight tile: the tail's output block and a streamed
/// input's block are fixed, the other side as wide as the slot allows. A
/// 1x1 layer beside a 3x3 one then loads fewer, larger tiles, and a 3x3
/// layer's smaller tiles leave room to hold more of a streamed input
/// (ResNet-50's layer4 blocks hold 1984 of 2048 channels instead of 896).
@Suite("Whole-map weight tiles per convolution")
struct WeightTileTests {
    @Test("fitted tiles keep their fixed sides, run against the interpreter and move the bytes predicted")
    func fittedTiles() throws {
        let graph = try ScheduleTests.bottleneck(channels: 256, width: 128, size: 14)
        let range = 1..<graph.nodes.count
        var (run, widened) = (0, false)
        for kib in stride(from: 384, through: 896, by: 64) {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config, objective: .edp)
            let plans = try context.planWholeMap(range)
            for plan in plans where plan.weightBudget != nil {
                #expect(plan.sramBytes <= config.sramBytes)
                #expect(plan.weightSlot <= plan.weightBudget!)
                for index in range where graph.nodes[index].kind == .conv {
                    let node = graph.nodes[index]
                    guard !plan.residentWeights.contains(node.name) else { continue }
                    let tile = plan.weightTile(node)
                    if index == plan.tailStart { #expect(tile.outputs == min(plan.block, 256)) }
                    if plan.streamedInputs.contains(node.inputs[0]) { #expect(tile.inputs == plan.inBlock) }
                    widened = widened || tile.outputs * tile.inputs > plan.block * plan.inBlock
                }
                guard run < 6 else { continue }
                run += 1
                let counted = try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config)
                #expect(
                    counted == plan.dramBytes,
                    "\(plan.tileDescription(graph: graph)): predicted \(plan.dramBytes), executed \(counted)")
            }
        }
        #expect(run > 0, "no plan fitted to a weight budget")
        #expect(widened, "no tile wider than the plan's blocks")
    }

    @Test("ResNet-50 at df1 (edp): layer4's 3x3 tiles leave room to hold its blocks' inputs; within 1.5x compulsory")
    func resNet50() throws {
        let file = TestPaths.conformance.appendingPathComponent("light/resnet50/model.onnx")
        var graph = try ONNXImporter.load(path: file.path)
        try PassManager().run(&graph, options: CompileOptions())
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: .df1), explain: false)
        let report = try CompileReport(model: "resnet50", graph: graph, compilation: compilation).json()
        let object = try #require(try JSONSerialization.jsonObject(with: report) as? [String: Any])
        let ratio = try #require(object["traffic_over_compulsory"] as? Double)
        #expect(ratio <= 1.5, "fused / compulsory \(ratio)")
        let fitted = compilation.plan.groups.compactMap { plan -> WholeMapPlan? in
            guard case .wholeMap(let p) = plan, p.weightBudget != nil else { return nil }
            return p
        }
        // The last block holds all but one input block of its 2048 channels, as no plan of uniform tiles could.
        #expect(fitted.contains { ($0.partial?.buffer.channels ?? 0) >= 1920 })
    }
}
