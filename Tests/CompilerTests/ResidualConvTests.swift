import Accelerator
import DFCCommands
import Foundation
import Testing
@testable import Compiler
@testable import GraphIR

/// A convolution whose only reader is a residual Add runs tiled as on its
/// own, each output tile summed with the Add's other operand before it is
/// stored: the convolution's output never makes a DRAM round trip.
@Suite("Residual Add on a convolution's output tiles")
struct ResidualConvTests {
    /// The bottleneck's last convolution and its Add.
    static let range = 3..<5

    @Test("every plan runs against the interpreter, moves the bytes predicted and less than its two layers")
    func plansRun() throws {
        let graph = try ScheduleTests.bottleneck(channels: 96, width: 48, size: 9)
        var config = AcceleratorConfig.df1
        config.sramBytes = 32 << 10
        for objective in [Objective.traffic, .edp] {
            let context = try PlanningContext(graph: graph, config: config, objective: objective)
            let plans = ResidualConvPlan.plans(Self.range, context: context)
            #expect(!plans.isEmpty)
            let (baseline, layers) = try Codegen.compile(graph, config: config, groups: [])
            let twoLayers = layers.filter { [graph.nodes[3].name, graph.nodes[4].name].contains($0.node) }
            #expect(twoLayers.count == 2)
            let separate = twoLayers.reduce(0) {
                $0 + CodegenEndToEndTests.predictedBytes(baseline, instructions: $1.instructions)
            }
            for plan in plans {
                #expect(plan.sramBytes <= config.sramBytes)
                #expect(plan.residual == graph.nodes[0].outputs[0])
                let counted = try ScheduleTests.runAndCount(graph, .residualConv(plan), config: config)
                #expect(
                    counted == plan.dramBytes, "\(plan.tileDescription): predicted \(plan.dramBytes), ran \(counted)")
                #expect(plan.dramBytes < separate, "\(plan.tileDescription): \(plan.dramBytes) vs \(separate)")
            }
        }
    }

    @Test("the planner picks it where bands and whole maps cannot hold a large map, and the program runs")
    func plannerPicks() throws {
        let graph = try ScheduleTests.bottleneck(channels: 256, width: 64, size: 24)
        var picked = 0
        for kib in [64, 96, 128] {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config), explain: false)
            var chosen = false
            for case .residualConv(let plan) in compilation.plan.groups {
                chosen = true
                let conv = graph.nodes[plan.nodes.lowerBound].name
                let row = try #require(compilation.layers.first { $0.op == "FusionGroup" && $0.members.first == conv })
                let counted = CodegenEndToEndTests.predictedBytes(compilation.program, instructions: row.instructions)
                #expect(counted == plan.dramBytes, "\(kib) KiB: predicted \(plan.dramBytes), counted \(counted)")
            }
            guard chosen else { continue }
            picked += 1
            // --graph draws the group with what it adds.
            let dot = GraphDot.render(graph, compilation: compilation, title: "residual")
            #expect(dot.contains("adds \(graph.nodes[0].outputs[0]) to each output tile"))
            for difference in try Verification.run(reference: graph, program: compilation.program) {
                #expect(difference.passed, "\(kib) KiB: \(difference.description)")
            }
            let bytes = { (program: Program) in
                let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
                return stats.dramReadBytes + stats.dramWriteBytes
            }
            #expect(try bytes(compilation.program) < bytes(compilation.layerByLayer))
        }
        #expect(picked > 0, "no SRAM size where the planner chose a residual convolution")
    }

    @Test("not when the output has another reader, the convolution an activation, or the Add broadcasts")
    func mustNotApply() throws {
        var b = FusionTests.Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 1)
        let activated = b.conv(x, cin: 8, cout: 8, k: 1, relu: true)
        let withRelu = b.node(.add, [activated, x])
        let shared = b.conv(withRelu, cin: 8, cout: 8, k: 1, relu: false)
        let twice = b.node(.add, [shared, withRelu])
        let alsoRead = b.node(.mul, [shared, twice])
        let narrow = b.conv(alsoRead, cin: 8, cout: 1, k: 1, relu: false)
        let broadcast = b.node(.add, [narrow, alsoRead])
        let fine = b.conv(broadcast, cin: 8, cout: 8, k: 1, relu: false)
        let sum = b.node(.add, [broadcast, fine])
        let graph = try b.graph(input: [1, 4, 6, 6], output: sum)
        let consumers = graph.consumers()
        let index = { (value: String) in graph.nodes.firstIndex { $0.outputs[0] == value }! }
        for (conv, reason) in [(activated, "activation"), (shared, "second reader"), (narrow, "broadcast")] {
            let start = index(conv)
            #expect(
                ResidualConvPlan.residual(start..<(start + 2), graph: graph, consumers: consumers) == nil, "\(reason)")
        }
        let start = index(fine)
        #expect(ResidualConvPlan.residual(start..<(start + 2), graph: graph, consumers: consumers) == broadcast)
        #expect(ResidualConvPlan.residual(start..<(start + 1), graph: graph, consumers: consumers) == nil)
    }
}
