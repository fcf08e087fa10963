import Accelerator
import Testing
@testable import Compiler
@testable import GraphIR

/// Whole-map plans whose per-block tail ends in a MaxPool or AveragePool of
/// the last convolution's output: each block goes through a padded scratch
/// into the pool, and only the pooled map is stored (GoogLeNet's 3x3
/// branches before its stride-2 pools).
@Suite("Whole-map pooled tails")
struct WholeMapPoolTests {
    /// A 1x1 reduction 32 -> 48, a 3x3 convolution 48 -> 96 and `pool` of it, on a 14x14 map.
    static func reducePool(_ pool: OpKind, _ attributes: [String: Attribute]) throws -> Graph {
        var b = FusionTests.Builder()
        let reduced = b.conv("x", cin: 32, cout: 48, k: 1)
        let wide = b.conv(reduced, cin: 48, cout: 96, k: 3, pad: 1)
        let pooled = b.node(pool, [wide], attributes)
        return try b.graph(input: [1, 32, 14, 14], output: pooled)
    }

    @Test(
        "a pool closing the group pools each block from a scratch: outputs as the interpreter's, only the pooled map stored",
        arguments: [
            (OpKind.maxPool, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]),
            (.averagePool, ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            (
                .averagePool,
                [
                    "kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "pads": .ints([0, 0, 1, 1]),
                    "count_include_pad": .int(1)
                ]
            )
        ] as [(OpKind, [String: Attribute])])
    func pooledBlocks(pool: OpKind, attributes: [String: Attribute]) throws {
        let graph = try Self.reducePool(pool, attributes)
        let pooled = graph.type(of: graph.outputs[0])!
        var config = AcceleratorConfig.df1
        config.sramBytes = 160 << 10
        let context = try PlanningContext(graph: graph, config: config)
        let plans = try context.planWholeMap(0..<3)
        #expect(!plans.isEmpty, "whole-map plans take a pool after the last convolution")
        for plan in plans {
            #expect(plan.scratchLayout != nil && plan.tailStart == 1 && plan.sramBytes <= config.sramBytes)
            // Input and weights once, then the pooled map: the 3x3 convolution's map never reaches DRAM.
            let weights = 4 * (48 * 32 + 48 + 96 * 48 * 9 + 96)
            #expect(plan.dramBytes == weights + 4 * 32 * 14 * 14 + 4 * pooled.count)
            let counted = try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: config)
            #expect(counted == plan.dramBytes, "\(plan.tileDescription(graph: graph))")
        }
    }
}
