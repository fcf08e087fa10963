import Accelerator
import DFCCommands
import Foundation
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// `--objective`: each objective wins in its own figure against the others
/// on a real network, never loses to layer by layer, and the programs it
/// picks compute what the interpreter computes.
@Suite("Objectives, the layer floor and folded taps")
struct ObjectiveTests {
    typealias Builder = FusionTests.Builder

    static func figures(_ program: Program) -> PlanCost {
        PlanCost(program.config.schedule(program.instructions, constantsBytes: program.constants.count).stats)
    }

    @Test("each objective is best in its own figure and no worse than layer by layer in it")
    func objectivesOnRealNetwork() throws {
        let file = TestPaths.conformance.appendingPathComponent("light/resnet50/model.onnx")
        var graph = try ONNXImporter.load(path: file.path)
        try PassManager().run(&graph, options: CompileOptions())
        var costs: [Objective: PlanCost] = [:]
        for objective in Objective.allCases {
            let compilation = try Codegen.schedule(
                graph, options: Codegen.Options(config: .df1, objective: objective), explain: false)
            let (mine, baseline) = (Self.figures(compilation.program), Self.figures(compilation.layerByLayer))
            #expect(objective.accepts(mine, against: baseline), "\(objective): \(mine) against \(baseline)")
            costs[objective] = mine
        }
        let (traffic, latency, energy) = (costs[.traffic]!, costs[.latency]!, costs[.energy]!)
        #expect(traffic.bytes <= latency.bytes && traffic.bytes <= energy.bytes)
        #expect(latency.cycles <= traffic.cycles && latency.cycles <= energy.cycles)
        #expect(energy.energy <= traffic.energy && energy.energy <= latency.energy)
        #expect(latency.cycles < traffic.cycles, "latency must buy cycles on ResNet-50: \(latency) vs \(traffic)")
        #expect(costs.values.allSatisfy { $0.energy > 0 })
    }

    @Test("under latency, more SRAM never makes a program slower")
    func moreSRAMNeverSlower() throws {
        let file = TestPaths.conformance.appendingPathComponent("light/squeezenet/model.onnx")
        var graph = try ONNXImporter.load(path: file.path)
        try PassManager().run(&graph, options: CompileOptions())
        var previous = Int.max
        for size in [256 << 10, 512 << 10, 1 << 20, 2 << 20] {
            var config = AcceleratorConfig.df1
            config.sramBytes = size
            let compilation = try Codegen.schedule(
                graph, options: Codegen.Options(config: config, objective: .latency), explain: false)
            #expect(compilation.program.config.sramBytes == size)
            #expect(compilation.plannedSRAMBytes <= size)
            let cycles = Self.figures(compilation.program).cycles
            #expect(cycles <= previous, "\(size) B of SRAM: \(cycles) cycles, \(previous) with half of it")
            previous = cycles
        }
    }

    @Test("a 3-channel stem folds its taps into channels: fewer cycles, same bytes, same outputs")
    func foldedTaps() throws {
        var b = Builder()
        let y = b.conv("x", cin: 3, cout: 40, k: 5, stride: 2, pad: 2)
        let graph = try b.graph(input: [1, 3, 30, 30], output: y)
        let g = try graph.convGeometry(graph.nodes[0])
        let config = AcceleratorConfig.df1
        let folded = try #require(ConvTiling.best(g, hasBias: true, config: config, objective: .latency))
        #expect(folded.foldTaps, "\(folded)")
        let (program, _) = try Codegen.compile(graph, options: Codegen.Options(config: config, fusion: false))
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
        // 75 folded lanes take 3 matrix passes per position against 25 unfolded.
        let positions = g.ho * g.wo
        let unfolded = config.matrixCycles(inputChannels: 3, outputChannels: 40, positions: positions * 25)
        #expect(Self.figures(program).cycles < unfolded)
        #expect(program.instructions.contains { $0.opcode == .copy })
    }

    /// A 3-channel 5x5 stride-2 stem, a 3x3 max pool and a 3x3 convolution: a group whose stem can fold its taps.
    static func stemGraph(height: Int, width: Int) throws -> Graph {
        var b = Builder()
        var y = b.conv("x", cin: 3, cout: 16, k: 5, stride: 2, pad: 2)
        y = b.node(
            .maxPool, [y], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        y = b.conv(y, cin: 16, cout: 16, k: 3, pad: 1)
        return try b.graph(input: [1, 3, height, width], output: y)
    }

    @Test("a group's 3-channel stem folds its taps under every objective: fewer cycles, bytes as predicted")
    func foldedTapsInGroup() throws {
        let graph = try Self.stemGraph(height: 41, width: 37)
        for halo in [BandPlan.Halo.recompute, .cache] {
            for objective in [Objective.traffic, .latency] {
                let context = try PlanningContext(graph: graph, config: .df1, objective: objective)
                let plan = try #require(try context.planBands(0..<graph.nodes.count, rows: 3, halo: halo))
                #expect(plan.folded.keys.sorted() == [graph.nodes[0].name], "\(plan.tileDescription)")
                #expect(try ScheduleTests.runAndCount(graph, .bands(plan), config: .df1) == plan.dramBytes)
                var unfolded = plan
                unfolded.folded = [:]
                #expect(try ScheduleTests.runAndCount(graph, .bands(unfolded), config: .df1) == plan.dramBytes)
                #expect(try context.simulatedCycles(.bands(plan)) < context.simulatedCycles(.bands(unfolded)))
            }
        }
    }

    @Test("where two slots leave no room to fold a stem, the single-buffered bands that fold it are a candidate")
    func foldedTapsSingleBuffered() throws {
        let graph = try Self.stemGraph(height: 48, width: 40)
        let range = 0..<graph.nodes.count
        let wide = try PlanningContext(graph: graph, config: .df1, objective: .edp)
        var found = false
        for halo in [BandPlan.Halo.cache, .recompute] {
            // At the SRAM of single-buffered bands with the fold, the same bands with two
            // slots fit too, but without the fold's scratch.
            for rows in 1...4 {
                guard let single = try wide.planBands(range, rows: rows, halo: halo, maxSlots: 1),
                    !single.folded.isEmpty
                else { continue }
                var config = AcceleratorConfig.df1
                config.sramBytes = single.sramBytes
                #expect(try ScheduleTests.runAndCount(graph, .bands(single), config: config) == single.dramBytes)
                let context = try PlanningContext(graph: graph, config: config, objective: .edp)
                guard let double = try context.planBands(range, rows: rows, halo: halo), double.folded.isEmpty,
                    try FusionPlanner.candidates(range, context: context).contains(where: {
                        $0.tileDescription(graph: graph) == GroupPlan.bands(single).tileDescription(graph: graph)
                    })
                else { continue }
                found = true
                #expect(single.dramBytes == double.dramBytes)
                #expect(
                    try context.simulatedCycles(.bands(single)) < context.simulatedCycles(.bands(double)),
                    "\(single.tileDescription) against \(double.tileDescription)")
            }
        }
        #expect(found, "no SRAM size where only single-buffered bands fold the stem")
    }

    @Test("the layer floor: MAC cycles on whole lane blocks, or weight bytes at the DRAM bandwidth")
    func layerFloor() throws {
        var b = Builder()
        var y = b.conv("x", cin: 3, cout: 40, k: 3, pad: 1)
        y = b.conv(y, cin: 40, cout: 40, k: 3, pad: 1, group: 40)
        let graph = try b.graph(input: [1, 3, 8, 8], output: y)
        let floors = try LayerFloor.cycles(graph, config: .df1)
        // 1 input block x 2 output blocks x 64 positions x 9 taps; weights 40*3*9*4 + 160 B / 32.
        #expect(floors[0] == max(2 * 64 * 9, (4 * 40 * 3 * 9 + 160 + 31) / 32))
        // Depthwise on the 64-lane vector unit: 40 channels x 64 positions x 9 taps.
        #expect(floors[1] == max((40 * 64 * 9 + 63) / 64, (4 * 40 * 9 + 160 + 31) / 32))
    }
}
