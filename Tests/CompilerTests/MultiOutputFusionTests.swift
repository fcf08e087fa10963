import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// Multi-output fusion groups: a value a group produces and something after
/// it (or the caller) also reads is stored band by band, so it need not end
/// the group.
@Suite("Multi-output fusion groups")
struct MultiOutputFusionTests {
    typealias Builder = FusionTests.Builder

    /// Compiles `graph` under traffic at `sram` bytes, checks that a group
    /// stores `stored` besides its output, that the program matches the
    /// interpreter, that every group moves exactly the bytes its plan
    /// predicted, and that fusion beats layer by layer (`FusionTests.check`).
    static func check(_ graph: Graph, sram: Int, stored: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        var config = AcceleratorConfig.df1
        config.sramBytes = sram
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config, objective: .traffic))
        #expect(
            compilation.groups.contains { $0.tiling.contains("also storing") && $0.tiling.contains(stored) },
            "no group stores \(stored): \(compilation.groups.map { "\($0.layers) \($0.tiling) \($0.end)" })",
            sourceLocation: sourceLocation)
        CodegenEndToEndTests.checkGroupBytes(compilation, sourceLocation: sourceLocation)
        try FusionTests.check(graph, sram: sram)
    }

    /// Graph with `outputs` as its outputs (the builder's graph has one).
    static func graph(_ b: Builder, input: [Int], outputs: [String]) throws -> Graph {
        var g = try b.graph(input: input, output: outputs[0])
        g.outputs = outputs
        return g
    }

    @Test("a residual block's input, also read after the group, is stored by the group that computes it")
    func residualInputReadLater() throws {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: 16, k: 3, pad: 1)
        var y = b.conv(x, cin: 16, cout: 16, k: 3, pad: 1)
        y = b.conv(y, cin: 16, cout: 16, k: 3, pad: 1, relu: false)
        let sum = b.node(.add, [y, x], activation: .relu)
        // A later reader of x that cannot join a group: x leaves whatever group computes it.
        let pooled = b.node(.globalAveragePool, [x])
        let g = try Self.graph(b, input: [1, 8, 30, 30], outputs: [sum, pooled])
        let consumers = g.consumers()
        #expect(FusionRules.structureProblem(0..<4, graph: g, consumers: consumers) == nil)
        #expect(FusionRules.storedValues(0..<4, graph: g, consumers: consumers) == [x])
        try Self.check(g, sram: 64 << 10, stored: x)
    }

    @Test("an inception module's input and a branch read after the group; a stride-2 reader skips rows")
    func inceptionValuesReadLater() throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        let a = b.conv(x, cin: 8, cout: 4, k: 1)
        let c = b.conv(x, cin: 8, cout: 4, k: 5, pad: 2)
        let p = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        let d = b.conv(p, cin: 8, cout: 4, k: 1)
        let cat = b.node(.concat, [a, c, d], ["axis": .int(1)])
        // In the group only a stride-2 convolution reads the concat: the bands must still compute every row of c.
        let out = b.conv(cat, cin: 12, cout: 8, k: 1, stride: 2)
        let later = b.node(.globalAveragePool, [c])
        let g = try Self.graph(b, input: [1, 4, 33, 27], outputs: [out, later, x])
        let consumers = g.consumers()
        #expect(FusionRules.storedValues(0..<7, graph: g, consumers: consumers) == [x, c])
        try Self.check(g, sram: 40 << 10, stored: c)

        // Planned directly, every halo mode and band height stores each row of x and c exactly once.
        let context = try PlanningContext(graph: g, config: .df1)
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 3, 5, 17] {
                let plan = try #require(try context.planBands(0..<7, rows: rows, halo: halo))
                for value in [x, c] {
                    let stored = try #require(plan.stores[value]).filter { !$0.isEmpty }
                    #expect(stored.first?.lowerBound == 0 && stored.last?.upperBound == 33)
                    #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                }
                try CodegenEndToEndTests.checkGroup(g, plan, "\(halo) \(rows) rows")
            }
        }
    }

    @Test("a Concat part read after the group is not stored again when the group stores the concat it lives in")
    func concatPartStoredAsSlice() throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        let a = b.conv(x, cin: 8, cout: 4, k: 3, pad: 1)
        let c = b.conv(x, cin: 8, cout: 4, k: 1)
        let cat = b.node(.concat, [a, c], ["axis": .int(1)])
        let later = b.node(.globalAveragePool, [a])
        let g = try Self.graph(b, input: [1, 4, 20, 20], outputs: [cat, later])
        let context = try PlanningContext(graph: g, config: .df1)
        let plan = try #require(try context.planBands(0..<4, rows: 4, halo: .recompute))
        #expect(plan.stores.isEmpty, "a's DRAM storage is its slice of the concat")
        let (program, _) = try Codegen.compile(g, config: .df1, groups: [.bands(plan)])
        for difference in try Verification.run(reference: g, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }
}
