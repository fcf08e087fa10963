import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// Whole-map plans whose per-block tail runs through a depthwise convolution:
/// a squeeze-excitation block's expand, depthwise and pool one block of
/// channels at a time, the wide map never whole in SRAM.
@Suite("Whole-map depthwise tails")
struct WholeMapDepthwiseTests {
    /// Expand `cin` -> `wide` (1x1), depthwise k x k (stride `stride`), pool; the scale and a projection
    /// back to `cin` when `excite` (then the map is read by the pool and by the scaling Mul).
    static func expandDepthwisePool(
        cin: Int, wide: Int, k: Int, stride: Int, size: Int, excite: Bool
    ) throws -> (graph: Graph, head: Range<Int>) {
        var b = FusionTests.Builder()
        let expanded = b.conv("x", cin: cin, cout: wide, k: 1)
        let dw = b.conv(expanded, cin: wide, cout: wide, k: k, stride: stride, pad: k / 2, group: wide)
        let pooled = b.node(.globalAveragePool, [dw])
        guard excite else { return (try b.graph(input: [1, cin, size, size], output: pooled), 0..<3) }
        let squeezed = b.conv(pooled, cin: wide, cout: 8, k: 1)
        let excited = b.node(.sigmoid, [b.conv(squeezed, cin: 8, cout: wide, k: 1, relu: false)])
        let out = b.conv(b.node(.mul, [excited, dw]), cin: wide, cout: cin, k: 1, relu: false)
        return (try b.graph(input: [1, cin, size, size], output: out), 0..<3)
    }

    @Test(
        "expand, depthwise and pool run one block of channels at a time: bytes as predicted, outputs as the interpreter's",
        arguments: [(3, 1, false), (5, 2, false), (3, 1, true), (5, 2, true)])
    func channelBlocks(k: Int, stride: Int, excite: Bool) throws {
        let (graph, head) = try Self.expandDepthwisePool(
            cin: 16, wide: 96, k: k, stride: stride, size: 11, excite: excite)
        let context = try PlanningContext(graph: graph, config: .df1)
        let plans = try context.planWholeMap(head)
        #expect(!plans.isEmpty, "whole-map plans take a depthwise convolution after the last convolution")
        let wide = 4 * 96 * (11 / stride + (11 % stride == 0 ? 0 : 1)) * (11 / stride + (11 % stride == 0 ? 0 : 1))
        for plan in plans {
            #expect(plan.scratchLayout != nil && plan.tailStart == 0 && plan.block < 96)
            #expect(plan.pooled?.storesMap == excite)
            // Input and weights once, the averages, and the map only when the scale reads it.
            let weights = 4 * (16 * 96 + 96 + 96 * k * k + 96)
            #expect(plan.dramBytes == weights + 4 * 16 * 11 * 11 + 4 * 96 + (excite ? wide : 0))
            #expect(try ScheduleTests.runAndCount(graph, .wholeMap(plan), config: .df1) == plan.dramBytes)
        }
    }

    @Test("the planner takes the channel-blocked head when no band of the full channel count fits")
    func plannerPicksIt() throws {
        let (graph, _) = try Self.expandDepthwisePool(cin: 16, wide: 512, k: 5, stride: 1, size: 14, excite: true)
        var config = AcceleratorConfig.df1
        // Five rows of the 512-channel map (143 KB) and the weights (115 KB) do not fit; blocks of 16 channels do.
        config.sramBytes = 192 << 10
        for objective in [Objective.edp, .traffic] {
            let options = Codegen.Options(config: config, objective: objective)
            let compilation = try Codegen.schedule(graph, options: options)
            let head = try #require(compilation.groups.first { $0.layers.contains(graph.nodes[2].name) })
            #expect(head.tiling.contains("through "), "\(objective): \(head.tiling)")
            try CodegenEndToEndTests.checkCompilation(compilation, graph: graph)
        }
    }

    @Test("a squeeze-excitation map made in channel blocks stays in SRAM for the group that scales it")
    func heldFromChannelBlocks() throws {
        let (graph, _) = try Self.expandDepthwisePool(cin: 16, wide: 512, k: 5, stride: 1, size: 14, excite: true)
        let map = graph.nodes[1].outputs[0], mapBytes = 4 * 512 * 14 * 14
        var config = AcceleratorConfig.df1
        // The map (401 KB) fits at the top; below it, bands of 512 channels do not, blocks of them do.
        config.sramBytes = 640 << 10
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config))
        let head = try #require(compilation.groups.first { $0.layers.contains(graph.nodes[2].name) })
        #expect(head.tiling.contains("whole map") && head.tiling.contains("holding \(map)"), "\(head.tiling)")
        let mul = try #require(graph.nodes.first { $0.kind == .mul })
        let tail = try #require(compilation.groups.first { $0.layers.contains(mul.name) })
        #expect(tail.tiling.contains("holding \(map)"), "\(tail.tiling)")
        let moved = try CodegenEndToEndTests.checkCompilation(compilation, graph: graph)
        // Weights, the input, the averages and the output: the map never reaches DRAM.
        #expect(moved < mapBytes, "moved \(moved)")
    }

    @Test("a whole-map head writes the held map in the band layout its band tail reads, at both halo modes")
    func heldMapLayout() throws {
        let (graph, head) = try Self.expandDepthwisePool(cin: 16, wide: 96, k: 3, stride: 1, size: 13, excite: true)
        let pool = head.upperBound - 1, mul = graph.nodes.firstIndex { $0.kind == .mul }!
        let map = graph.nodes[pool].inputs[0], mapBytes = 4 * 96 * 13 * 13
        let address = (512 << 10) - DRAMPlan.align(mapBytes)
        var below = AcceleratorConfig.df1
        below.sramBytes = address
        let context = try PlanningContext(graph: graph, config: below)
        let stored = try context.planWholeMap(head)
        let held = try context.planWholeMap(head, heldOutput: address)
        #expect(!held.isEmpty && held.count == stored.count)
        for (writer, storer) in zip(held, stored) {
            #expect(writer.heldOutput == address && writer.pooled?.storesMap == false && writer.outputSlot == 0)
            #expect(writer.dramBytes == storer.dramBytes - mapBytes, "the map is never stored")
            #expect(writer.sramBytes <= address)
        }
        let side = try #require(try context.planBands(head.upperBound..<mul, rows: 1, halo: .recompute))
        for halo in [BandPlan.Halo.recompute, .cache] {
            let tail = try #require(
                try context.planBands(mul..<graph.nodes.count, rows: 4, halo: halo, held: [map: address]))
            #expect(tail.held == [map] && !tail.inputs.contains(map) && tail.bands.count > 1)
            for writer in held {
                try CodegenEndToEndTests.checkGroups(
                    graph, [.wholeMap(writer), .bands(side), .bands(tail)], "\(halo), block \(writer.block)")
            }
        }
    }
}
