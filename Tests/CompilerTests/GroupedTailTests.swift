import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// A grouped convolution that ends a whole-map group runs in its tail, in
/// blocks of whole groups (`WholeMapLayers.groupedTail`): a ResNeXt block's
/// 1x1 reduction and grouped 3x3 are one group, the reduced map never stored.
@Suite("Grouped convolutions in whole-map tails")
struct GroupedTailTests {
    typealias Builder = FusionTests.Builder

    /// A stem, then a ResNeXt bottleneck: 1x1 reduction, grouped 3x3 (`groups`), 1x1 expansion, residual Add.
    static func resnextBlock(channels: Int, width: Int, groups: Int, size: Int) throws -> Graph {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: channels, k: 1)
        var y = b.conv(x, cin: channels, cout: width, k: 1)
        y = b.conv(y, cin: width, cout: width, k: 3, pad: 1, group: groups)
        y = b.conv(y, cin: width, cout: channels, k: 1, relu: false)
        let sum = b.node(.add, [y, x], activation: .relu)
        return try b.graph(input: [1, 8, size, size], output: sum)
    }

    @Test(
        "reduction and grouped 3x3 as one whole-map group: every plan verifies and predicts its bytes",
        arguments: [(96, 64, 4), (64, 64, 32), (80, 48, 3)])
    func reductionAndGroupedConv(channels: Int, width: Int, groups: Int) throws {
        let graph = try Self.resnextBlock(channels: channels, width: width, groups: groups, size: 9)
        var config = AcceleratorConfig.df1
        config.sramBytes = 64 << 10
        let context = try PlanningContext(graph: graph, config: config)
        let plans = try context.planWholeMap(1..<3)
        #expect(!plans.isEmpty, "no whole-map plan of the reduction and the grouped convolution")
        #expect(plans.contains { !$0.streamedInputs.isEmpty }, "a plan streaming the block input")
        let perGroup = width / groups
        for plan in plans {
            #expect(plan.tailStart == 2 && plan.block % perGroup == 0 && plan.sramBytes <= config.sramBytes)
            let counted = try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config)
            #expect(
                counted == plan.dramBytes,
                "\(plan.tileDescription(graph: graph)): predicted \(plan.dramBytes), executed \(counted)")
            // The reduced map stays in SRAM: the block input in, the grouped output out, weights once.
            let weights = (1..<3).reduce(0) { total, index in
                total + graph.nodes[index].inputs.dropFirst().reduce(0) { $0 + 4 * graph.initializers[$1]!.count }
            }
            let x = graph.type(of: graph.nodes[0].outputs[0])!, y = graph.type(of: graph.nodes[2].outputs[0])!
            #expect(plan.dramBytes == 4 * (x.count + y.count) + weights, "\(plan.tileDescription(graph: graph))")
        }
    }

    @Test(
        "the whole block as one whole-map group, the grouped 3x3 before the residual tail: plans verify, bytes exact",
        arguments: [(96, 64, 4), (64, 64, 32)])
    func wholeBlock(channels: Int, width: Int, groups: Int) throws {
        let graph = try Self.resnextBlock(channels: channels, width: width, groups: groups, size: 9)
        var config = AcceleratorConfig.df1
        config.sramBytes = 96 << 10
        let context = try PlanningContext(graph: graph, config: config)
        let plans = try context.planWholeMap(1..<graph.nodes.count)
        #expect(!plans.isEmpty, "no whole-map plan of the block")
        for plan in plans {
            // The tail is the expansion and the Add; the grouped convolution runs on whole maps before it.
            #expect(plan.tailStart == 3 && plan.block % (width / groups) == 0)
            let counted = try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config)
            #expect(
                counted == plan.dramBytes,
                "\(plan.tileDescription(graph: graph)): predicted \(plan.dramBytes), executed \(counted)")
        }
    }

    @Test("streamed grouped weights, blocks of whole groups, and the whole compile fuses and verifies")
    func streamedGroupedWeights() throws {
        let graph = try Self.resnextBlock(channels: 64, width: 128, groups: 8, size: 6)
        var config = AcceleratorConfig.df1
        config.sramBytes = 64 << 10
        let context = try PlanningContext(graph: graph, config: config)
        let plans = try context.planWholeMap(1..<3)
        let streamed = try #require(plans.first { !$0.residentWeights.contains(graph.nodes[2].name) })
        #expect(try ScheduleTests.runAndCount(graph, .wholeMap(streamed), config: config) == streamed.dramBytes)
        // Blocks that would split a group are never planned.
        #expect(plans.allSatisfy { $0.block % 16 == 0 })
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config), explain: false)
        for difference in try Verification.run(reference: graph, program: compilation.program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }

    @Test(
        "band plans stream a grouped convolution's weights in blocks of whole groups: outputs and bytes exact",
        arguments: [(64, 128, 8, BandPlan.Halo.recompute), (64, 128, 8, .cache), (48, 96, 4, .recompute)])
    func bandsStreamGroupedWeights(channels: Int, width: Int, groups: Int, halo: BandPlan.Halo) throws {
        let graph = try Self.resnextBlock(channels: channels, width: width, groups: groups, size: 8)
        // Not every weight fits beside the buffers: the largest, the grouped 3x3, streams.
        let grouped = graph.nodes[2]
        let weightBytes = 4 * graph.initializers[grouped.inputs[1]]!.count
        var config = AcceleratorConfig.df1
        config.sramBytes = weightBytes + (40 << 10)
        let context = try PlanningContext(graph: graph, config: config)
        let plan = try #require(try context.planBands(1..<graph.nodes.count, rows: 2, halo: halo, maxSlots: 1))
        let block = try #require(plan.streamed[grouped.name], "the grouped convolution's weights are resident")
        #expect(block % (width / groups) == 0 && block < width, "block \(block) does not hold whole groups")
        #expect(plan.sramBytes <= config.sramBytes)
        let counted = try ScheduleTests.runAndCount(graph, .bands(plan), config: config)
        #expect(counted == plan.dramBytes, "predicted \(plan.dramBytes), executed \(counted)")
    }
}
