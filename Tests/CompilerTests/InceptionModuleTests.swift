import Accelerator
import DFCCommands
import Testing
@testable import Compiler
@testable import GraphIR

/// Inception modules: the branches that share a module's input in one
/// group that reads it once (one band whose buffers share SRAM by
/// lifetime), and LRN inside band groups.
@Suite("Inception modules")
struct InceptionModuleTests {
    typealias Builder = FusionTests.Builder

    /// A stem convolution and an inception module on its output: 1x1, 1x1 -> 3x3, 1x1 -> 5x5 and
    /// max pool -> 1x1 branches (nodes 1..<8), their Concat and a 1x1 convolution after it.
    static func module(height: Int, width: Int, channels: Int) throws -> Graph {
        var b = Builder()
        let x = b.conv("x", cin: 3, cout: channels, k: 3, pad: 1)
        let a = b.conv(x, cin: channels, cout: 48, k: 1)
        let b0 = b.conv(x, cin: channels, cout: 32, k: 1)
        let b1 = b.conv(b0, cin: 32, cout: 96, k: 3, pad: 1)
        let c0 = b.conv(x, cin: channels, cout: 16, k: 1)
        let c1 = b.conv(c0, cin: 16, cout: 32, k: 5, pad: 2)
        let p = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        let d = b.conv(p, cin: channels, cout: 32, k: 1)
        let cat = b.node(.concat, [a, b1, c1, d], ["axis": .int(1)])
        let out = b.conv(cat, cin: 208, cout: 16, k: 1)
        return try b.graph(input: [1, 3, height, width], output: out)
    }

    @Test("a module's branches are one band whose buffers share SRAM by lifetime: the input is read once")
    func packedModule() throws {
        let g = try Self.module(height: 14, width: 13, channels: 128)
        // The four branches, without their Concat (written in place in DRAM).
        let branches = 1..<8
        #expect(g.nodes[8].kind == .concat)
        let context = try PlanningContext(graph: g, config: .df1)
        let plain = try #require(try context.planBands(branches, rows: 14, halo: .recompute, maxSlots: 1))
        let packed = try #require(
            try context.planBands(branches, rows: 14, halo: .recompute, maxSlots: 1, packed: true))
        #expect(packed.packed && packed.bands.count == 1)
        #expect(packed.tileDescription.contains("sharing SRAM by lifetime"))
        // Same bytes in less SRAM: the pooled map takes the bytes of branches already stored.
        #expect(packed.dramBytes == plain.dramBytes)
        #expect(packed.sramBytes < plain.sramBytes, "\(packed.sramBytes) vs \(plain.sramBytes)")
        // The module's input once, every branch stored once into its slice of the concat, the weights once.
        let x = g.type(of: g.nodes[0].outputs[0])!, cat = g.type(of: g.nodes[8].outputs[0])!
        let weights = branches.reduce(0) { total, index in
            total + g.nodes[index].inputs.dropFirst().reduce(0) { $0 + 4 * (g.initializers[$1]?.count ?? 0) }
        }
        #expect(packed.dramBytes == 4 * x.count + 4 * cat.count + weights)
        // More than one band cannot share buffers over time.
        #expect(try context.planBands(branches, rows: 7, halo: .recompute, maxSlots: 1, packed: true) == nil)
        try CodegenEndToEndTests.checkGroup(g, packed, "packed module")

        // Less SRAM: the smallest size where the packed band fits and the plain one band does not.
        // Bands there stream the weights once each; the one packed band streams them once in all.
        var config = AcceleratorConfig.df1
        config.sramBytes = packed.sramBytes
        var found: BandPlan?
        while config.sramBytes > packed.sramBytes / 4 {
            let small = try PlanningContext(graph: g, config: config)
            guard let fit = try small.planBands(branches, rows: 14, halo: .recompute, maxSlots: 1, packed: true)
            else { break }
            let one = try small.planBands(branches, rows: 14, halo: .recompute, maxSlots: 1)
            if one == nil || !(one!.streamed.isEmpty) { found = fit }
            config.sramBytes -= 4 << 10
        }
        config.sramBytes += 4 << 10
        let smallest = try #require(found)
        #expect(!smallest.streamed.isEmpty && smallest.dramBytes == packed.dramBytes)
        // Among the planner's candidates for the branches it moves the fewest bytes: the bands reload
        // the streamed weights once per band.
        let small = try PlanningContext(graph: g, config: config)
        let candidates = try FusionPlanner.candidates(branches, context: small)
        let best = try #require(candidates.first)
        guard case .bands(let chosen) = best else {
            Issue.record("a whole-map plan moves the fewest bytes")
            return
        }
        #expect(chosen.packed, "\(candidates.map { $0.tileDescription(graph: g) })")
        #expect(candidates.dropFirst().allSatisfy { $0.dramBytes > chosen.dramBytes })
        try CodegenEndToEndTests.checkGroup(g, smallest, "packed module, weights streamed")
        for objective in [Objective.traffic, .edp] {
            let compilation = try Codegen.schedule(g, options: Codegen.Options(config: config, objective: objective))
            try Self.checkExact(compilation, graph: g)
        }
    }

    @Test("a packed module pools its concat in the SRAM its dead buffers leave: the concat never reaches DRAM")
    func packedModulePooled() throws {
        // The module's Concat (node 8) globally averaged, as GoogLeNet's last module.
        var b = Builder()
        let x = b.conv("x", cin: 3, cout: 96, k: 3, pad: 1)
        let a = b.conv(x, cin: 96, cout: 48, k: 1)
        let b0 = b.conv(x, cin: 96, cout: 32, k: 1)
        let b1 = b.conv(b0, cin: 32, cout: 96, k: 3, pad: 1)
        let c0 = b.conv(x, cin: 96, cout: 16, k: 1)
        let c1 = b.conv(c0, cin: 16, cout: 32, k: 5, pad: 2)
        let p = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        let d = b.conv(p, cin: 96, cout: 32, k: 1)
        let cat = b.node(.concat, [a, b1, c1, d], ["axis": .int(1)])
        let pooled = b.node(.globalAveragePool, [cat])
        let g = try b.graph(input: [1, 3, 9, 11], output: pooled)
        let module = 1..<9, withPool = 1..<10
        #expect(
            FusionRules.poolingTail(withPool, graph: g)
                && FusionRules.poolsOnly(withPool, graph: g, consumers: g.consumers()))
        // An SRAM the packed band fills to the byte: no room above it for the row means and the result.
        let map = try #require(
            try PlanningContext(graph: g, config: .df1).planBands(
                module, rows: 9, halo: .recompute, maxSlots: 1, packed: true))
        var config = AcceleratorConfig.df1
        config.sramBytes = map.sramBytes
        let context = try PlanningContext(graph: g, config: config)
        let plan = try #require(
            try context.planBands(withPool, rows: 9, halo: .recompute, maxSlots: 1, packed: true))
        #expect(plan.packed && plan.pooled?.storesMap == false && plan.sramBytes <= config.sramBytes)
        // The tail lies apart from the concat's buffer, which it reads.
        let out = try #require(plan.buffers[cat]), tail = try #require(plan.pooled)
        #expect(tail.result + 4 * 208 <= out.address || out.address + out.slotBytes <= tail.rowMeans)
        // The module's bytes, less the concat's store, plus the pooled vector's.
        let catType = g.type(of: cat)!
        #expect(plan.dramBytes == map.dramBytes - 4 * catType.count + 4 * catType.shape[1])
        try CodegenEndToEndTests.checkGroup(g, plan, "packed module pooled")
        // Scheduled at that SRAM, the pool joins the module's group.
        let compilation = try Codegen.schedule(g, options: Codegen.Options(config: config, objective: .edp))
        #expect(
            compilation.groups.contains { $0.layers.contains(g.nodes[9].name) && $0.layers.contains(g.nodes[8].name) },
            "\(compilation.groups.map { "\($0.layers) \($0.tiling)" })")
        try Self.checkExact(compilation, graph: g)
    }

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
    @Test(
        "a lone convolution whose input and weights do not fit beside each other reads each once, as a whole-map group")
    func loneConvolution() throws {
        // Inception v3's stride-2 reduction, scaled down: neither the map nor the weights fit the SRAM.
        var b = Builder()
        let y = b.conv("x", cin: 64, cout: 192, k: 3, stride: 2)
        let g = try b.graph(input: [1, 64, 35, 35], output: y)
        var config = AcceleratorConfig.df1
        config.sramBytes = 448 << 10
        let x = g.type(of: "x")!, out = g.type(of: y)!
        let once =
            4 * (x.count + out.count)
            + g.nodes[0].inputs.dropFirst().reduce(0) {
                $0 + 4 * g.initializers[$1]!.count
            }
        for objective in [Objective.traffic, .edp] {
            let compilation = try Codegen.schedule(g, options: Codegen.Options(config: config, objective: objective))
            let layerByLayer = compilation.layerByLayer.config.schedule(
                compilation.layerByLayer.instructions, constantsBytes: compilation.layerByLayer.constants.count
            ).stats
            let program = ObjectiveTests.figures(compilation.program)
            #expect(program.bytes == once, "\(objective): \(compilation.groups.map(\.tiling))")
            try Self.checkExact(compilation, graph: g)
            // Under traffic the tiling alone reads each once too, in input blocks of 8 lanes with one output
            // slot (at up to twice the cycles); under edp it takes whole lane blocks and reads the map or the
            // weights more than once, so the whole-map group is what reads each once.
            guard objective == .edp else { continue }
            #expect(layerByLayer.dramReadBytes + layerByLayer.dramWriteBytes > once)
            let group = try #require(compilation.groups.first, "\(objective): no group")
            #expect(group.layers == [g.nodes[0].name] && group.tiling.hasPrefix("whole map, streaming x"))
            #expect(group.predictedDRAMBytes == once, "\(objective): \(group.tiling)")
        }
    }
}
