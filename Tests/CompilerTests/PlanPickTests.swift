import Accelerator
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR

/// A start of the fusion search simulates only the plans whose floors
/// leave them a chance (`FusionPlanner.pick`): whatever the bound the other
/// starts have reached, it must return the plan a simulation of every
/// candidate picks, or nil only when that plan cannot win under the bound.
@Suite("Plan picks")
struct PlanPickTests {
    @Test(
        "a start's pick under any bound is the pick of simulating every candidate, or nil when that one loses",
        arguments: [
            ("Fixtures/demo/resnet8.onnx", "df1"), ("Fixtures/demo/resnet8.onnx", "df1-small"),
            ("Fixtures/onnx/shufflenet_blocks.onnx", "df1")
        ])
    func prunedPickIsExact(model: String, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        var compared = 0
        for objective in [Objective.edp, .latency, .energy] {
            let context = try PlanningContext(graph: graph, config: config, objective: objective)
            let layerByLayer = try Emitter.build(
                graph, config: config, objective: objective, layout: context.layout, groups: [])
            let single = FusionPlanner.layerCosts(graph, layerByLayer: (layerByLayer.program, layerByLayer.layers))
            let whole = single.reduce(PlanCost(), +)
            let score = { (cost: PlanCost) in objective.additive(cost, scale: whole) }
            for j in 1...graph.nodes.count {
                for i in max(0, j - 6)..<j - 1 {
                    let plans = try FusionPlanner.candidates(i..<j, context: context).map {
                        ($0, FusionPlanner.costFloor($0, context: context))
                    }
                    guard plans.count > 1 else { continue }
                    let layers = single[i..<j].reduce(PlanCost(), +)
                    func pick(_ bound: Double) throws -> (GroupPlan, PlanCost)? {
                        try FusionPlanner.pick(
                            plans, context: context, layers: layers, before: 0, score: score,
                            bound: SharedBound(bound))
                    }
                    let exact = try pick(.infinity)
                    // Bounds at, just under and just over every plan's floor and simulated score.
                    var bounds: [Double] = []
                    for (plan, floor) in plans {
                        for total in [score(floor), try score(context.simulate(plan))] {
                            bounds += [total, total.nextDown, total.nextUp]
                        }
                    }
                    for bound in bounds {
                        let pruned = try pick(bound)
                        let what = "\(model) \(preset) \(objective) nodes \(i)..<\(j) bound \(bound)"
                        guard let exact else {
                            #expect(pruned == nil, "\(what)")
                            continue
                        }
                        if score(exact.1) <= bound {
                            #expect(pruned.map { same($0, exact, graph) } == true, "\(what): the winning pick changed")
                        } else {
                            // Under edp a plan of lower score may rank below the pick: it must not stand in for it.
                            #expect(
                                pruned == nil || same(pruned!, exact, graph),
                                "\(what): a losing start picked another plan")
                        }
                        compared += 1
                    }
                }
            }
        }
        #expect(compared > 100, "\(model): too few picks compared")
    }

    /// The same plan with the same cost (plans are not `Equatable`: their descriptions and figures say it).
    private func same(_ a: (GroupPlan, PlanCost), _ b: (GroupPlan, PlanCost), _ graph: Graph) -> Bool {
        a.1 == b.1 && a.0.nodes == b.0.nodes && a.0.dramBytes == b.0.dramBytes && a.0.sramBytes == b.0.sramBytes
            && a.0.estimatedCycles == b.0.estimatedCycles
            && a.0.tileDescription(graph: graph) == b.0.tileDescription(graph: graph)
    }
}
