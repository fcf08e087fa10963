import Accelerator
import DFCCommands
import Foundation
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// The scheduling stages: whole-map and single-buffered plans compute what
/// the interpreter computes and move exactly the bytes they predict, and the
/// planner's cost model matches the executor on real networks.
@Suite("Fusion schedule and cost model")
struct ScheduleTests {
    typealias Builder = FusionTests.Builder

    /// A bottleneck block on a small, channel-heavy map: 1x1 down, 3x3, 1x1 up, residual Add; if `pooled`,
    /// the GlobalAveragePool of its output after it.
    static func bottleneck(channels: Int, width: Int, size: Int, pooled: Bool = false) throws -> Graph {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: channels, k: 1)
        var y = b.conv(x, cin: channels, cout: width, k: 1)
        y = b.conv(y, cin: width, cout: width, k: 3, pad: 1)
        y = b.conv(y, cin: width, cout: channels, k: 1, relu: false)
        let sum = b.node(.add, [y, x], activation: .relu)
        let output = pooled ? b.node(.globalAveragePool, [sum]) : sum
        return try b.graph(input: [1, 8, size, size], output: output)
    }

    /// Compiles with `group` (other layers on their own), checks the outputs
    /// against the interpreter, and returns the bytes the group's instructions move.
    static func runAndCount(_ graph: Graph, _ group: GroupPlan, config: AcceleratorConfig) throws -> Int {
        let (program, layers) = try Codegen.compile(graph, config: config, groups: [group])
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(group.tileDescription(graph: graph)): \(difference.description)")
        }
        let row = try #require(layers.first { $0.op == "FusionGroup" })
        return CodegenEndToEndTests.predictedBytes(program, instructions: row.instructions)
    }

    @Test("whole-map plans: inputs held or streamed in channel blocks, weight tiles, a per-block residual tail")
    func wholeMap() throws {
        let graph = try Self.bottleneck(channels: 96, width: 48, size: 9)
        var config = AcceleratorConfig.df1
        config.sramBytes = 96 << 10
        let context = try PlanningContext(graph: graph, config: config)
        // The block without the stem: its input is read by the first conv and by the Add.
        let plans = try context.planWholeMap(1..<graph.nodes.count)
        #expect(plans.contains { $0.streamedInputs.isEmpty }, "a plan holding the input")
        #expect(plans.contains { !$0.streamedInputs.isEmpty }, "a plan streaming the input")
        #expect(plans.contains { $0.residentWeights.count < 3 }, "a plan streaming weight tiles")
        #expect(plans.allSatisfy { $0.tailStart == 3 && $0.sramBytes <= config.sramBytes })
        for plan in plans {
            let counted = try Self.runAndCount(graph, .wholeMap(plan), config: config)
            #expect(
                counted == plan.dramBytes,
                "\(plan.tileDescription(graph: graph)): predicted \(plan.dramBytes), executed \(counted)")
        }
    }

    @Test("the planners' estimates are the timing model's instruction formulas")
    func costModelSharesTimingFormulas() throws {
        var b = Builder()
        // 64 input channels: two whole lane blocks, so the taps are not folded into channels.
        let y = b.conv("x", cin: 64, cout: 72, k: 3, pad: 1)
        let graph = try b.graph(input: [1, 64, 10, 12], output: y)
        let config = AcceleratorConfig.df1
        let context = try PlanningContext(graph: graph, config: config)
        // One band over the whole map: every output position of the layer in CONV instructions.
        let plan = try #require(try context.planBands(0..<1, rows: 10, halo: .recompute))
        let (program, _) = try Codegen.compile(graph, config: config, groups: [.bands(plan)])
        let costs = program.instructions.map { config.cost(of: $0, constantsBytes: program.constants.count) }
        let convCycles = zip(program.instructions, costs).filter { $0.0.opcode == .conv }.reduce(0) { $0 + $1.1.cycles }
        var work = CostModel.Work()
        work.add(conv: try graph.convGeometry(graph.nodes[0]), outputRows: 10, config: config)
        #expect(convCycles > 0 && work.matrix == convCycles, "estimate \(work.matrix), timing model \(convCycles)")
        // A transfer of whole bursts costs what the estimate charges for it.
        var checked = 0
        for (instruction, cost) in zip(program.instructions, costs) {
            guard case .load(let t) = instruction.operation else { continue }
            var wholeBursts = true
            forEachDRAMRun(t) { _, bytes in wholeBursts = wholeBursts && bytes % config.dramBurstBytes == 0 }
            guard wholeBursts else { continue }
            #expect(cost.cycles == CostModel.transfer(cost.dramReadBytes, config: config))
            checked += 1
        }
        #expect(checked > 0)
        #expect(plan.dramBytes == costs.reduce(0) { $0 + $1.dramReadBytes + $1.dramWriteBytes })
    }

    @Test(
        "single-buffered band plans compute the same and need less SRAM", arguments: [BandPlan.Halo.recompute, .cache])
    func singleBuffered(halo: BandPlan.Halo) throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        var y = b.conv(x, cin: 8, cout: 8, k: 3, stride: 2, pad: 1)
        y = b.conv(y, cin: 8, cout: 8, k: 3, pad: 2, dilation: 2)
        let graph = try b.graph(input: [1, 4, 29, 23], output: y)
        let context = try PlanningContext(graph: graph, config: .df1)
        let double = try #require(try context.planBands(0..<graph.nodes.count, rows: 3, halo: halo))
        let single = try #require(try context.planBands(0..<graph.nodes.count, rows: 3, halo: halo, maxSlots: 1))
        #expect(single.buffers.values.allSatisfy { $0.slots == 1 })
        #expect(single.sramBytes < double.sramBytes)
        #expect(single.dramBytes == double.dramBytes)
        #expect(try Self.runAndCount(graph, .bands(single), config: .df1) == single.dramBytes)
    }

    /// Per group of the chosen schedule: predicted bytes against the bytes of
    /// its instructions (equal), predicted cycles against the time it adds to
    /// the program (from the end of what came before to its own end): within
    /// 5% over all groups of the network, and within 15% for each group (the
    /// model schedules a group alone; in the program its first loads may
    /// overlap the group before it, which matters most for short groups
    /// with many warm-up bands).
    static func checkCostModel(_ graph: Graph, config: AcceleratorConfig, name: String) throws -> (
        groups: Int, worst: Double
    ) {
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config))
        let program = compilation.program
        let constants = program.constants.count
        let (_, schedule) = config.schedule(program.instructions, constantsBytes: constants)
        var groups = compilation.groups.makeIterator()
        var reached = 0, worst = 0.0, count = 0, predictedTotal = 0, addedTotal = 0
        for layer in compilation.layers {
            let end = layer.instructions.map { schedule[$0].end }.max() ?? reached
            defer { reached = max(reached, end) }
            guard layer.op == "FusionGroup" else { continue }
            let next = groups.next()
            let group = try #require(next)
            #expect(group.layers.joined(separator: "+") == layer.node)
            let bytes = layer.instructions.reduce(0) { total, k in
                let cost = config.cost(of: program.instructions[k], constantsBytes: constants)
                return total + cost.dramReadBytes + cost.dramWriteBytes
            }
            #expect(bytes == group.predictedDRAMBytes, "\(name) \(layer.node): bytes")
            let added = end - reached
            let error = abs(Double(group.predictedCycles) / Double(max(1, added)) - 1)
            #expect(
                error <= 0.15,
                "\(name) \(layer.node): \(group.predictedCycles) predicted cycles, \(added) in the program")
            worst = max(worst, error)
            predictedTotal += group.predictedCycles
            addedTotal += added
            count += 1
        }
        let total = abs(Double(predictedTotal) / Double(max(1, addedTotal)) - 1)
        #expect(total <= 0.05, "\(name): groups predicted \(predictedTotal) cycles, \(addedTotal) in the program")
        return (count, worst)
    }

    @Test(
        "cost model on real networks: bytes exact; cycles within 5% of the executor over the groups, 15% per group",
        arguments: ["resnet50", "inception_v1", "squeezenet"])
    func costModel(network: String) throws {
        let file = TestPaths.conformance.appendingPathComponent("light/\(network)/model.onnx")
        var graph = try ONNXImporter.load(path: file.path)
        try PassManager().run(&graph, options: CompileOptions())
        let (groups, worst) = try Self.checkCostModel(graph, config: .df1, name: network)
        #expect(groups >= 4, "\(network): only \(groups) groups")
        print(
            "cost model \(network) at df1: \(groups) groups, worst cycle error \(String(format: "%.1f%%", worst * 100))"
        )
    }

    @Test("the demo ResNet-8 fuses, verifies, and its report rows add up")
    func demoReport() throws {
        var graph = try ONNXImporter.load(
            path: TestPaths.repository.appendingPathComponent("Fixtures/demo/resnet8.onnx").path)
        try PassManager().run(&graph, options: CompileOptions())
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: .df1))
        #expect(!compilation.fellBack)
        #expect(!compilation.groups.isEmpty)
        for group in compilation.groups {
            #expect(group.predictedDRAMBytes < group.layerByLayerDRAMBytes, "\(group.layers): fusing must save bytes")
            #expect(!group.end.isEmpty)
        }
        let report = try CompileReport(model: "resnet8", graph: graph, compilation: compilation).json()
        let object = try #require(try JSONSerialization.jsonObject(with: report) as? [String: Any])
        let baseline = try #require(object["layer_by_layer"] as? [String: Any])
        let fused = try #require(object["predicted_dram_bytes"] as? Int),
            unfused = try #require(baseline["predicted_dram_bytes"] as? Int)
        let rows = try #require(object["groups"] as? [[String: Any]])
        let saved = rows.reduce(0) { $0 + ($1["saved_dram_bytes"] as! Int) }
        #expect(fused < unfused)
        #expect(saved == unfused - fused, "the groups' savings are the whole saving")
        let (groups, _) = try Self.checkCostModel(graph, config: .df1, name: "resnet8")
        #expect(groups == compilation.groups.count)
    }
}
