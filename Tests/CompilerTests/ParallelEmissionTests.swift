import Accelerator
import Foundation
import GraphPasses
import ONNXImport
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR

/// Work the compiler spreads over all cores must come out as it would on
/// one: `concurrentMap` keeps item order and reports the first error in
/// item order, the tilings `Emitter.build` chooses ahead of emission are
/// the ones emitting layer by layer in order chooses, and the scratch
/// emissions that cost plans (no debug names) emit what a full emission does.
@Suite("Parallel emission")
struct ParallelEmissionTests {
    struct Failure: Error, Equatable { let item: Int }

    @Test("concurrentMap returns results in item order and rethrows the first failing item's error")
    func concurrentMapOrder() throws {
        // Uneven work, the heaviest first, so that tasks finish out of order.
        let items = Array(0..<64)
        let results = try concurrentMap(items) { k -> Int in
            var x = k
            for _ in 0..<((64 - k) * 2000) { x = (x &* 31 &+ 7) % 1_000_003 }
            return k * 10 + (x >= 0 ? 0 : 1)
        }
        #expect(results == items.map { $0 * 10 })
        // Item 40 fails at once, item 3 only after a long loop: item 3's error is the one reported.
        #expect(throws: Failure(item: 3)) {
            _ = try concurrentMap(items) { k -> Int in
                if k == 3 {
                    var x = 0
                    for i in 0..<200_000 { x = (x &+ i) % 97 }
                    if x >= 0 { throw Failure(item: 3) }
                }
                if k == 40 { throw Failure(item: 40) }
                return k
            }
        }
    }

    /// The layer-by-layer program as `Emitter.build` makes it (tilings chosen on all cores first)
    /// and as lowering every layer in order makes it (each tiling chosen when its layer is emitted).
    @Test(
        "tilings chosen ahead of emission give the program of choosing them in order",
        arguments: [
            ("Fixtures/demo/resnet8.onnx", "df1", Objective.edp), ("Fixtures/demo/resnet8.onnx", "df1-small", .latency),
            ("Fixtures/onnx/shufflenet_blocks.onnx", "df1", .energy), ("Fixtures/demo/resnet8.onnx", "df1", .traffic)
        ])
    func tilingsChosenAhead(model: String, preset: String, objective: Objective) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        let layout = try ProgramLayout(graph: graph, constants: ConstantSegment(graph: graph))
        let built = try Emitter.build(graph, config: config, objective: objective, layout: layout, groups: [])
        var inOrder = Emitter(graph: graph, config: config, objective: objective, layout: layout)
        for node in graph.nodes { try inOrder.lower(node) }
        #expect(inOrder.convTilings.isEmpty)
        #expect(built.program.instructions == inOrder.sequencer.instructions, "\(model) \(preset) \(objective)")
        #expect(built.program.debugNames == inOrder.sequencer.debugNames)
        #expect(built.layers.map(\.tiling) == inOrder.layers.map(\.tiling))
        #expect(graph.nodes.contains { $0.kind == .conv }, "\(model): no convolution to choose a tiling for")
    }

    /// Every candidate plan of the fixtures' groups: a scratch emission without names has the
    /// instructions of a full one, a timed one (`Sequencer(timing:)`) the counts of scheduling
    /// them, and its cost is at least the plan's floor (which reads each
    /// convolution's geometry from the context's table by node index).
    @Test(
        "scratch emissions equal full ones, timed ones count what their schedule does, and none costs less than the plan's floor",
        arguments: [("Fixtures/demo/resnet8.onnx", "df1"), ("Fixtures/onnx/shufflenet_blocks.onnx", "df1-small")])
    func scratchEmission(model: String, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        let context = try PlanningContext(graph: graph, config: config, objective: .edp)
        for (index, node) in graph.nodes.enumerated() {
            let fresh = node.kind == .conv ? try? graph.convGeometry(node) : nil
            #expect(String(describing: context.convGeometries[index]) == String(describing: fresh))
        }
        var compared = 0
        for j in 1...graph.nodes.count {
            for i in max(0, j - 6)..<j - 1 {
                for plan in try FusionPlanner.candidates(i..<j, context: context) {
                    var full = Emitter(graph: graph, config: config, objective: .edp, layout: context.layout)
                    try full.emit(plan)
                    var scratch = Emitter(graph: graph, config: config, objective: .edp, layout: context.layout)
                    scratch.sequencer.keepsNames = false
                    try scratch.emit(plan)
                    #expect(scratch.sequencer.instructions == full.sequencer.instructions)
                    #expect(scratch.sequencer.debugNames.isEmpty && scratch.layers.isEmpty)
                    #expect(full.sequencer.debugNames.count == full.sequencer.instructions.count)
                    // A timed scratch emission keeps no instructions and counts what scheduling the full one does.
                    var timed = Emitter(graph: graph, config: config, objective: .edp, layout: context.layout)
                    timed.sequencer = Sequencer(timing: config)
                    try timed.emit(plan)
                    let scheduled = config.schedule(full.sequencer.instructions, constantsBytes: 0).stats
                    #expect(timed.sequencer.stats == scheduled)
                    #expect(timed.sequencer.instructions.isEmpty && timed.sequencer.count == full.sequencer.count)
                    #expect(full.sequencer.stats == nil)
                    let cost = try context.simulate(plan), floor = FusionPlanner.costFloor(plan, context: context)
                    #expect(cost.cycles == scheduled.cycles && cost.energy == scheduled.energyFemtojoules)
                    #expect(floor.bytes == cost.bytes && floor.cycles <= cost.cycles && floor.energy <= cost.energy)
                    compared += 1
                }
            }
        }
        #expect(compared > 10, "\(model): too few plans to compare")
    }

    /// The fused program of a plan's groups, built with the layer-by-layer program's single
    /// convolutions' tilings handed over, is the one choosing them again gives; each tiling handed
    /// over is the one the fused layout chooses; a program built without its DRAM map and mapped
    /// afterwards is the one built with it.
    @Test(
        "tilings handed over from the layer-by-layer program give the fused program of choosing them again",
        arguments: [(Objective.edp, "df1-small"), (.latency, "df1-small"), (.energy, "df1-small")])
    func tilingsHandedOver(objective: Objective, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        let model = try Self.benchModel("resnet18")
        var graph = try ONNXImporter.load(path: model)
        try PassManager().run(&graph, options: CompileOptions())
        let constants = ConstantSegment(graph: graph)
        let layout = try ProgramLayout(graph: graph, constants: constants)
        var unmapped = try Emitter.build(
            graph, config: config, objective: objective, layout: layout, groups: [], mapsDRAM: false)
        let mapped = try Emitter.build(graph, config: config, objective: objective, layout: layout, groups: [])
        #expect(unmapped.program.dramRegions.isEmpty && !mapped.program.dramRegions.isEmpty)
        unmapped.mapDRAM(graph)
        #expect(unmapped.program == mapped.program)
        let context = try PlanningContext(graph: graph, config: config, objective: objective, layout: layout)
        let groups = try FusionPlanner.plan(context, layerByLayer: (mapped.program, mapped.layers)).groups
        #expect(!groups.isEmpty, "\(model): no group, so no fused layout")
        var spans: [Int: Range<Int>] = [:]
        for group in groups { for index in group.nodes { spans[index] = group.nodes } }
        let fusedLayout = try ProgramLayout(graph: graph, constants: constants, spans: spans)
        let handed = try Emitter.build(
            graph, config: config, objective: objective, layout: fusedLayout, groups: groups, known: mapped)
        let chosen = try Emitter.build(
            graph, config: config, objective: objective, layout: fusedLayout, groups: groups)
        #expect(handed.program == chosen.program, "\(preset) \(objective)")
        let grouped = Set(groups.flatMap { Array($0.nodes) })
        let chooser = Emitter(graph: graph, config: config, objective: objective, layout: fusedLayout)
        var alike = 0
        for (index, node) in graph.nodes.enumerated() where node.kind == .conv && !grouped.contains(index) {
            guard Emitter.timesAlike(node, fusedLayout, layout) else { continue }
            let tiling = try chooser.chooseConvTiling(node)
            #expect(tiling.description == mapped.convTilings[node.name]?.description, "\(node.name)")
            alike += 1
        }
        #expect(alike > 0, "\(model): no single convolution's tiling handed over")
    }

    /// Convolutions of one `alikeKey` (one tiling chosen for all of them) each choose that tiling on their own.
    @Test(
        "convolutions of one alike key choose the same tiling",
        arguments: [(Objective.edp, "df1-small"), (.latency, "df1")])
    func alikeConvolutions(objective: Objective, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        let model = try Self.benchModel("resnet18")
        var graph = try ONNXImporter.load(path: model)
        try PassManager().run(&graph, options: CompileOptions())
        let layout = try ProgramLayout(graph: graph, constants: ConstantSegment(graph: graph))
        let emitter = Emitter(graph: graph, config: config, objective: objective, layout: layout)
        var first: [String: String] = [:]
        var repeated = 0
        for node in graph.nodes where node.kind == .conv {
            guard let key = emitter.alikeKey(node) else { continue }
            let tiling = try emitter.chooseConvTiling(node).description
            if let earlier = first[key] {
                #expect(tiling == earlier, "\(node.name): \(key)")
                repeated += 1
            } else {
                first[key] = tiling
            }
        }
        #expect(repeated > 0, "\(model): no two convolutions alike")
    }

    /// A bench model (`make test-bench-models` writes ResNet-18): single convolutions of one
    /// geometry that the fixtures lack.
    static func benchModel(_ name: String) throws -> String {
        let path = TestPaths.repository.appendingPathComponent(".cache/bench/\(name).onnx").path
        try #require(FileManager.default.fileExists(atPath: path), "no bench model \(path): make test-bench-models")
        return path
    }
}
