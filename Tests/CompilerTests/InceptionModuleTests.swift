import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// Inception networks' blocks in fusion groups: LRN inside band groups.
@Suite("Inception modules")
struct InceptionModuleTests {
    typealias Builder = FusionTests.Builder

    /// Bytes of every group as predicted, outputs as the interpreter's, and
    /// the program's predicted cycles and bytes those of the executor.
    static func checkExact(_ compilation: Codegen.Compilation, graph: Graph) throws {
        let moved = try CodegenEndToEndTests.checkCompilation(compilation, graph: graph)
        let program = compilation.program
        let predicted = program.config.schedule(program.instructions, constantsBytes: program.constants.count).stats
        let executed = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect(predicted.cycles == executed.cycles)
        #expect(predicted.dramReadBytes + predicted.dramWriteBytes == moved)
        try program.checkHazards()
    }

    /// conv -> LRN -> max pool -> conv -> LRN, as the stem of GoogLeNet's BVLC export.
    static func lrnStem() throws -> Graph {
        var b = Builder()
        let lrn: [String: Attribute] = [
            "size": .int(5), "alpha": .float(0.02), "beta": .float(0.75), "bias": .float(1.5)
        ]
        var x = b.conv("x", cin: 3, cout: 16, k: 3, pad: 1)
        x = b.node(.lrn, [x], lrn)
        x = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        x = b.conv(x, cin: 16, cout: 24, k: 3, pad: 1)
        x = b.node(.lrn, [x], lrn)
        x = b.conv(x, cin: 24, cout: 8, k: 1)
        return try b.graph(input: [1, 3, 29, 23], output: x)
    }

    @Test("LRN runs inside band groups, every channel of a band's rows in SRAM, at both halo modes")
    func lrnInBands() throws {
        let g = try Self.lrnStem()
        let context = try PlanningContext(graph: g, config: .df1)
        let all = 0..<g.nodes.count
        #expect(FusionRules.structureProblem(all, graph: g, consumers: g.consumers()) == nil)
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 4, 15] {
                let plan = try #require(try context.planBands(all, rows: rows, halo: halo))
                let program = try CodegenEndToEndTests.checkGroup(g, plan, "\(halo) \(rows) rows")
                #expect(program.instructions.contains { if case .lrn = $0.operation { true } else { false } })
            }
        }
        // Scheduled with little SRAM, the LRNs sit in groups of several bands and the map between never leaves.
        var config = AcceleratorConfig.df1
        config.sramBytes = 48 << 10
        for objective in [Objective.traffic, .edp] {
            let compilation = try Codegen.schedule(g, options: Codegen.Options(config: config, objective: objective))
            let lrns = g.nodes.filter { $0.kind == .lrn }.map(\.name)
            for name in lrns {
                #expect(
                    compilation.groups.contains { $0.layers.count > 1 && $0.layers.contains(name) },
                    "\(objective): \(compilation.groups.map { "\($0.layers) \($0.tiling)" })")
            }
            try Self.checkExact(compilation, graph: g)
            let layerByLayer = compilation.layerByLayer.config.schedule(
                compilation.layerByLayer.instructions, constantsBytes: compilation.layerByLayer.constants.count
            ).stats
            let fused = compilation.program.config.schedule(
                compilation.program.instructions, constantsBytes: compilation.program.constants.count
            ).stats
            #expect(
                fused.dramReadBytes + fused.dramWriteBytes < layerByLayer.dramReadBytes + layerByLayer.dramWriteBytes)
        }
    }
}
