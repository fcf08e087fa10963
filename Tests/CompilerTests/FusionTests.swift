import Accelerator
import DFCCommands
import Foundation
import GraphPasses
import Tensors
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
import ONNXImport

/// Deep fusion on the hard cases, each forced into several bands by a small
/// SRAM, checked against the reference interpreter.
@Suite("Deep fusion")
struct FusionTests {
    /// Builds small NCHW graphs with seeded weights.
    struct Builder {
        var nodes: [Node] = []
        var initializers: [String: Tensor] = [:]
        var random = SeededRandom(seed: 7)
        var count = 0

        mutating func weight(_ shape: [Int], scale: Float = 0.3) -> String {
            count += 1
            let name = "w\(count)"
            initializers[name] = Tensor(
                shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in random.normal() * scale })
            return name
        }

        mutating func node(
            _ kind: OpKind, _ inputs: [String], _ attributes: [String: Attribute] = [:], activation: Activation? = nil
        ) -> String {
            count += 1
            let output = "v\(count)"
            nodes.append(
                Node(
                    name: "\(kind.rawValue.lowercased())\(count)", kind: kind, inputs: inputs, outputs: [output],
                    attributes: attributes, activation: activation))
            return output
        }

        mutating func conv(
            _ x: String, cin: Int, cout: Int, k: Int, stride: Int = 1, pad: Int = 0, dilation: Int = 1,
            group: Int = 1, relu: Bool = true
        ) -> String {
            let w = weight([cout, cin / group, k, k]), b = weight([cout], scale: 0.1)
            return node(
                .conv, [x, w, b],
                [
                    "kernel_shape": .ints([k, k]), "strides": .ints([stride, stride]),
                    "pads": .ints([pad, pad, pad, pad]), "dilations": .ints([dilation, dilation]),
                    "group": .int(group)
                ], activation: relu ? .relu : nil)
        }

        func graph(input: [Int], output: String) throws -> Graph {
            var g = Graph(
                name: "fusion", opsetVersion: 13, inputs: ["x"], outputs: [output], nodes: nodes,
                initializers: initializers, values: ["x": ValueInfo(TensorType(dtype: .float32, shape: input))])
            try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
            return g
        }
    }

    static func check(_ graph: Graph, sram: Int, file: String = #fileID, line: Int = #line) throws {
        var config = AcceleratorConfig.df1
        config.sramBytes = sram
        // Under traffic, fusion keeps both bytes and cycles no worse than layer by layer.
        let (fused, layers) = try Codegen.compile(graph, options: Codegen.Options(config: config, objective: .traffic))
        let (baseline, _) = try Codegen.compile(
            graph, options: Codegen.Options(config: config, fusion: false, objective: .traffic))
        let groups = layers.filter { $0.op == "FusionGroup" }
        #expect(!groups.isEmpty, "no fusion group formed")
        #expect(groups.contains { !$0.tiling.contains(" 1 band ") }, "expected several bands: \(groups.map(\.tiling))")
        for difference in try Verification.run(reference: graph, program: fused) {
            #expect(difference.passed, "\(difference.description)")
        }
        let f = try Executor.run(fused, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        let b = try Executor.run(baseline, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect(f.dramReadBytes + f.dramWriteBytes < b.dramReadBytes + b.dramWriteBytes)
        #expect(f.cycles <= b.cycles)
        // The default objective is no worse than layer by layer in its own figure.
        let objective = Objective.default
        let mine = try Codegen.schedule(graph, options: Codegen.Options(config: config, objective: objective))
        let cost = { (p: Program) in
            PlanCost(p.config.schedule(p.instructions, constantsBytes: p.constants.count).stats)
        }
        #expect(objective.accepts(cost(mine.program), against: cost(mine.layerByLayer)))
    }

    @Test("stride-2 and dilated convolutions inside a group, odd sizes, bands that do not divide the output")
    func stridedAndDilated() throws {
        var b = Builder()
        var x = b.conv("x", cin: 3, cout: 8, k: 3, pad: 1)
        x = b.conv(x, cin: 8, cout: 8, k: 3, stride: 2, pad: 1)
        x = b.conv(x, cin: 8, cout: 8, k: 3, pad: 2, dilation: 2)
        try Self.check(try b.graph(input: [1, 3, 37, 29], output: x), sram: 24 << 10)
    }

    @Test("pooling with padding at the borders and ceil mode")
    func paddedPooling() throws {
        var b = Builder()
        var x = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        x = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        x = b.conv(x, cin: 8, cout: 8, k: 1)
        x = b.node(
            .averagePool, [x],
            [
                "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1),
                "pads": .ints([1, 1, 0, 0]), "count_include_pad": .int(0)
            ])
        x = b.conv(x, cin: 8, cout: 4, k: 3, pad: 1)
        try Self.check(try b.graph(input: [1, 4, 41, 35], output: x), sram: 24 << 10)
    }

    @Test("a residual block with its shortcut Add inside the group")
    func residual() throws {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: 16, k: 3, pad: 1)
        var y = b.conv(x, cin: 16, cout: 16, k: 3, pad: 1)
        y = b.conv(y, cin: 16, cout: 16, k: 3, pad: 1, relu: false)
        let sum = b.node(.add, [y, x], activation: .relu)
        try Self.check(try b.graph(input: [1, 8, 30, 30], output: sum), sram: 48 << 10)
    }

    @Test("a Concat of branches with different receptive fields")
    func inceptionBranches() throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 1)
        let a = b.conv(x, cin: 8, cout: 4, k: 1)
        let c = b.conv(x, cin: 8, cout: 4, k: 5, pad: 2)
        let p = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        let d = b.conv(p, cin: 8, cout: 4, k: 1)
        let cat = b.node(.concat, [a, c, d], ["axis": .int(1)])
        let out = b.conv(cat, cin: 12, cout: 8, k: 3, pad: 1)
        try Self.check(try b.graph(input: [1, 4, 33, 27], output: out), sram: 40 << 10)
    }

    @Test("a depthwise-separable block with ReLU6")
    func depthwiseSeparable() throws {
        var b = Builder()
        var x = b.conv("x", cin: 8, cout: 32, k: 1)
        x = b.conv(x, cin: 32, cout: 32, k: 3, stride: 2, pad: 1, group: 32)
        x = b.node(.clip, [x, b.weight([], scale: 0), b.weight([], scale: 0)])
        b.initializers[b.nodes.last!.inputs[1]] = Tensor(shape: [], floats: [0])
        b.initializers[b.nodes.last!.inputs[2]] = Tensor(shape: [], floats: [6])
        x = b.conv(x, cin: 32, cout: 16, k: 1, relu: false)
        try Self.check(try b.graph(input: [1, 8, 45, 31], output: x), sram: 48 << 10)
    }

    @Test("a squeeze-excitation scale, a runtime channel vector, is applied inside the group that consumes it")
    func squeezeExcitation() throws {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: 32, k: 1)
        let dw = b.conv(x, cin: 32, cout: 32, k: 3, pad: 1, group: 32)
        let pooled = b.node(.globalAveragePool, [dw])
        let squeezed = b.conv(pooled, cin: 32, cout: 8, k: 1)
        let excited = b.node(.sigmoid, [b.conv(squeezed, cin: 8, cout: 32, k: 1, relu: false)])
        let scaled = b.node(.mul, [excited, dw])  // the vector first: operands are put in order
        let out = b.conv(scaled, cin: 32, cout: 16, k: 1, relu: false)
        let graph = try b.graph(input: [1, 8, 29, 23], output: out)
        try Self.check(graph, sram: 48 << 10)
        let mul = graph.nodes.first { $0.kind == .mul }!
        #expect(FusionRules.fusible(mul, graph: graph))
        let context = try PlanningContext(graph: graph, config: .df1)
        let range = graph.nodes.firstIndex { $0.kind == .mul }!..<graph.nodes.count
        #expect(try context.planWholeMap(range).isEmpty, "whole-map plans do not take channel vectors")
        let group = try #require(try context.planBands(range, rows: 4, halo: .cache))
        #expect(group.inputs == [dw], "the vector is resident, not read by rows")
        let (program, layers) = try Codegen.compile(graph, config: .df1, groups: [.bands(group)])
        #expect(layers.contains { $0.op == "FusionGroup" && $0.members.contains(mul.name) })
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
        #expect(try ScheduleTests.runAndCount(graph, .bands(group), config: .df1) == group.dramBytes)
    }

    @Test("the byte floor of a group whose map only its pooling tail reads counts the averages, not the map")
    func pooledByteFloor() throws {
        var b = Builder()
        let wide = b.conv("x", cin: 8, cout: 64, k: 1)  // eight times the input, never stored
        let pooled = b.node(.globalAveragePool, [wide])
        let graph = try b.graph(input: [1, 8, 20, 20], output: pooled)
        let context = try PlanningContext(graph: graph, config: .df1, objective: .traffic)
        #expect(FusionRules.poolingTail(0..<2, graph: graph))
        #expect(FusionRules.poolsOnly(0..<2, graph: graph, consumers: context.consumers))
        let plans = try FusionPlanner.candidates(0..<2, context: context)
        let cheapest = try #require(plans.map(\.dramBytes).min())
        #expect(FusionPlanner.byteFloor(0..<2, context: context) <= cheapest)
        #expect(cheapest < 4 * 64 * 20 * 20, "the map is not stored")
        // A budget just above the cheapest plan keeps it.
        #expect(
            try FusionPlanner.candidates(0..<2, context: context, budget: cheapest + 1).contains {
                $0.dramBytes == cheapest
            })
    }

    @Test("the squeeze of a squeeze-excitation block averages the map band by band in the group producing it")
    func squeezeInsideTheProducer() throws {
        var b = Builder()
        let x = b.conv("x", cin: 8, cout: 32, k: 1)
        let dw = b.conv(x, cin: 32, cout: 32, k: 3, pad: 1, group: 32)
        let pooled = b.node(.globalAveragePool, [dw])
        let excited = b.node(.sigmoid, [b.conv(pooled, cin: 32, cout: 32, k: 1, relu: false)])
        let scaled = b.node(.mul, [dw, excited])
        let out = b.conv(scaled, cin: 32, cout: 16, k: 1, relu: false)
        let graph = try b.graph(input: [1, 8, 29, 23], output: out)
        let context = try PlanningContext(graph: graph, config: .df1)
        #expect(FusionRules.poolingTail(0..<3, graph: graph) && !FusionRules.poolingTail(0..<2, graph: graph))
        for halo in [BandPlan.Halo.recompute, .cache] {
            let squeeze = try #require(try context.planBands(0..<3, rows: 5, halo: halo))
            #expect(squeeze.pooled?.node == graph.nodes[2].name && squeeze.bands.count > 1 && squeeze.output == dw)
            let bare = try #require(try context.planBands(0..<2, rows: 5, halo: halo))
            #expect(
                squeeze.dramBytes == bare.dramBytes + 4 * 32, "the map is not read again; only the result is stored")
            let (program, layers) = try Codegen.compile(graph, config: .df1, groups: [.bands(squeeze)])
            #expect(layers.contains { $0.op == "FusionGroup" && $0.members.contains(graph.nodes[2].name) })
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(halo): \(difference.description)")
            }
            #expect(try ScheduleTests.runAndCount(graph, .bands(squeeze), config: .df1) == squeeze.dramBytes)
        }
        // The planner takes it: no layer of its own for the pool.
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: .df1))
        #expect(!compilation.layers.contains { $0.op == "GlobalAveragePool" }, "\(compilation.layers.map(\.op))")
    }

    /// Inverted residual blocks with squeeze-excitation: expand 8 -> 32, depthwise 3x3, pool, two 1x1
    /// convolutions and a sigmoid on the channel means, scale, project 32 -> 8.
    /// `residual`: each block's output is the projection plus the block's input.
    static func squeezeBlocks(_ count: Int, input: [Int], residual: Bool = false) throws -> Graph {
        var b = Builder()
        var x = "x"
        for _ in 0..<count {
            let dw = b.conv(b.conv(x, cin: 8, cout: 32, k: 1), cin: 32, cout: 32, k: 3, pad: 1, group: 32)
            let pooled = b.node(.globalAveragePool, [dw])
            let squeezed = b.conv(pooled, cin: 32, cout: 8, k: 1)
            let excited = b.node(.sigmoid, [b.conv(squeezed, cin: 8, cout: 32, k: 1, relu: false)])
            let projected = b.conv(b.node(.mul, [excited, dw]), cin: 32, cout: 8, k: 1, relu: false)
            x = residual ? b.node(.add, [x, projected]) : projected
        }
        return try b.graph(input: input, output: x)
    }

    @Test("a squeeze-excitation map that fits stays in SRAM from the group that pools it to the group that scales it")
    func squeezeExcitationHeld() throws {
        let graph = try Self.squeezeBlocks(1, input: [1, 8, 29, 23])
        let pool = graph.nodes.firstIndex { $0.kind == .globalAveragePool }!
        let mul = graph.nodes.firstIndex { $0.kind == .mul }!
        let map = graph.nodes[pool].inputs[0], mapBytes = 4 * 32 * 29 * 23
        let address = (256 << 10) - DRAMPlan.align(mapBytes)
        var below = AcceleratorConfig.df1
        below.sramBytes = address
        let context = try PlanningContext(graph: graph, config: below)
        for halo in [BandPlan.Halo.recompute, .cache] {
            let head = try #require(try context.planBands(0..<(pool + 1), rows: 5, halo: halo, held: [map: address]))
            let side = try #require(try context.planBands((pool + 1)..<mul, rows: 1, halo: .recompute))
            let tail = try #require(
                try context.planBands(mul..<graph.nodes.count, rows: 4, halo: halo, held: [map: address]))
            #expect(head.held == [map] && head.pooled?.storesMap == false && head.bands.count > 1)
            #expect(tail.held == [map] && !tail.inputs.contains(map) && tail.bands.count > 1)
            // Held values lie apart from each other.
            let scaled = graph.nodes[mul].outputs[0]
            let clash: [String: Int] = [map: address, scaled: address + 64]
            #expect(try context.planBands(mul..<graph.nodes.count, rows: 4, halo: halo, held: clash) == nil)
            let apart: [String: Int] = [map: address, scaled: address - DRAMPlan.align(mapBytes)]
            #expect(try context.planBands(mul..<graph.nodes.count, rows: 4, halo: halo, held: apart) != nil)
            // Against the same groups storing the map and loading it back: one write and one read less.
            let stored = try #require(try context.planBands(0..<(pool + 1), rows: 5, halo: halo))
            let loaded = try #require(try context.planBands(mul..<graph.nodes.count, rows: 4, halo: halo))
            #expect(head.dramBytes == stored.dramBytes - mapBytes && tail.dramBytes == loaded.dramBytes - mapBytes)
            try CodegenEndToEndTests.checkGroups(graph, [.bands(head), .bands(side), .bands(tail)], "\(halo)")
        }
    }

    @Test(
        "the planner holds squeeze-excitation maps in SRAM, two at once in a group that ends one block and starts the next"
    )
    func squeezeExcitationHeldByThePlanner() throws {
        let graph = try Self.squeezeBlocks(2, input: [1, 8, 29, 23])
        var config = AcceleratorConfig.df1
        config.sramBytes = 384 << 10
        let chosen = try Codegen.schedule(graph, options: Codegen.Options(config: config))
        let maps = graph.nodes.filter { $0.kind == .globalAveragePool }.map { $0.inputs[0] }
        let holding = chosen.groups.filter { $0.tiling.contains("whole in SRAM") }
        #expect(holding.count == 3, "\(chosen.groups.map(\.tiling))")
        #expect(
            holding.contains { $0.tiling.contains("holding \(maps.sorted().joined(separator: ",")) whole") },
            "\(chosen.groups.map { "\($0.layers): \($0.tiling)" })")
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
        // Each group's instructions move the bytes its plan predicted; no map is stored.
        CodegenEndToEndTests.checkGroupBytes(chosen)
        let stats = config.schedule(chosen.program.instructions, constantsBytes: chosen.program.constants.count).stats
        let weights = graph.initializers.values.reduce(0) { $0 + 4 * $1.count }
        // Input, output and weights once, and the channel means and scales: far less than one pass over a map.
        #expect(stats.dramReadBytes + stats.dramWriteBytes < 2 * 4 * 8 * 29 * 23 + weights + 4 * 32 * 29 * 23 / 16)
    }

    @Test("a residual block's input, read by its Add after the scaling, stays in SRAM beside the block's map")
    func squeezeExcitationResidualHeld() throws {
        let graph = try Self.squeezeBlocks(3, input: [1, 8, 29, 23], residual: true)
        var config = AcceleratorConfig.df1
        config.sramBytes = 512 << 10
        let chosen = try Codegen.schedule(graph, options: Codegen.Options(config: config))
        // The first two Adds' outputs are the next blocks' inputs: made in one group, read by its
        // expansion and by the next Add, in the next block's scaling group.
        let inputs = graph.nodes.filter { $0.kind == .add }.dropLast().map { $0.outputs[0] }
        let held = chosen.groups.compactMap { group in
            group.tiling.components(separatedBy: "holding ").dropFirst().first?.components(separatedBy: " whole")[0]
        }.flatMap { $0.components(separatedBy: ",") }
        #expect(inputs.contains { held.contains($0) }, "\(chosen.groups.map(\.tiling))")
        #expect(!chosen.groups.contains { group in inputs.contains { group.tiling.contains("also storing \($0)") } })
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
        CodegenEndToEndTests.checkGroupBytes(chosen)
    }

    /// RegNetY-style blocks: 1x1, grouped 3x3 (groups of 8 channels), squeeze-excitation, 1x1, residual Add
    /// with ReLU; `width` channels throughout.
    static func groupedSqueezeBlocks(_ count: Int, width: Int, size: Int) throws -> Graph {
        var b = Builder()
        var x = "x"
        for _ in 0..<count {
            let a = b.conv(x, cin: width, cout: width, k: 1)
            let map = b.conv(a, cin: width, cout: width, k: 3, pad: 1, group: width / 8)
            let squeezed = b.conv(b.node(.globalAveragePool, [map]), cin: width, cout: 8, k: 1)
            let excited = b.node(.sigmoid, [b.conv(squeezed, cin: 8, cout: width, k: 1, relu: false)])
            let projected = b.conv(b.node(.mul, [map, excited]), cin: width, cout: width, k: 1, relu: false)
            x = b.node(.add, [x, projected], activation: .relu)
        }
        return try b.graph(input: [1, width, size, size], output: x)
    }

    @Test("no packed one-band plan spans a squeeze-excitation block: its maps are left to SqueezeHold")
    func packedBandsAvoidSqueezeExcitation() throws {
        let graph = try Self.groupedSqueezeBlocks(3, width: 208, size: 14)
        let context = try PlanningContext(graph: graph, config: .df1)
        let excitation = Set(
            graph.nodes.indices.filter { index in
                let node = graph.nodes[index]
                return node.kind == .globalAveragePool
                    || node.inputs.contains { FusionRules.isChannelVector($0, of: node, graph: graph) }
            })
        var spanning = 0
        for start in graph.nodes.indices {
            for end in stride(from: start + 2, through: min(graph.nodes.count, start + 8), by: 1) {
                let range = start..<end
                guard range.contains(where: excitation.contains),
                    range.allSatisfy({ FusionRules.fusible(graph.nodes[$0], graph: graph) })
                else { continue }
                spanning += 1
                #expect(
                    try FusionPlanner.packedBand(range, height: 14, context: context, walks: BandWalks()) == nil,
                    "\(range)")
            }
        }
        #expect(spanning > 10)
        let chosen = try Codegen.schedule(graph, options: Codegen.Options(config: .df1))
        #expect(
            !chosen.groups.contains { $0.tiling.contains("buffers sharing SRAM by lifetime") },
            "\(chosen.groups.map(\.tiling))")
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }

    @Test("a block whose map and residual input held together cost more than stored still weighs holding its map alone")
    func squeezeExcitationHoldWithOrWithoutResidual() throws {
        // At df1, holding the third block's residual input beside its map is the first choice that fits, but
        // not the cheaper one; taking it cost the last block its hold (its map stored and loaded back).
        let graph = try Self.groupedSqueezeBlocks(4, width: 208, size: 14)
        let chosen = try Codegen.schedule(graph, options: Codegen.Options(config: .df1))
        let last = graph.nodes.filter { $0.kind == .globalAveragePool }.last!.inputs[0]
        let tail = try #require(chosen.groups.last)
        let held = tail.tiling.components(separatedBy: "holding ").dropFirst().first?.components(separatedBy: " whole")[
            0]
        #expect(held?.components(separatedBy: ",").contains(last) == true, "\(chosen.groups.map(\.tiling))")
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
        CodegenEndToEndTests.checkGroupBytes(chosen)
    }

    @Test(
        "a squeeze-excitation map too big for SRAM is recomputed from the narrow block input, not stored and reloaded")
    func squeezeExcitationRecompute() throws {
        // An inverted residual block: expand 8 -> 48, depthwise 3x3, SE, project 48 -> 8.
        var b = Builder()
        let expanded = b.conv("x", cin: 8, cout: 48, k: 1)
        let dw = b.conv(expanded, cin: 48, cout: 48, k: 3, pad: 1, group: 48)
        let pooled = b.node(.globalAveragePool, [dw])
        let excited = b.node(.sigmoid, [b.conv(pooled, cin: 48, cout: 48, k: 1, relu: false)])
        let scaled = b.node(.mul, [excited, dw])
        let out = b.conv(scaled, cin: 48, cout: 8, k: 1, relu: false)
        let graph = try b.graph(input: [1, 8, 40, 36], output: out)

        let rewritten = try #require(SqueezeRecompute.rewrite(graph))
        #expect(rewritten.nodes.count == graph.nodes.count + 2, "the expanding and depthwise convolutions are copied")
        let mul = try #require(rewritten.nodes.first { $0.kind == .mul })
        let copy = try #require(rewritten.nodes.first { $0.outputs.contains(mul.inputs[1]) })
        #expect(copy.name.hasSuffix("#recompute") && copy.inputs[0] != dw && mul.inputs[0] == excited)
        #expect(rewritten.nodes.first { $0.kind == .globalAveragePool }?.inputs == [dw], "the pool reads the original")

        var config = AcceleratorConfig.df1
        config.sramBytes = 96 << 10  // the 48-channel map (276 KB) cannot stay on chip
        let options = Codegen.Options(config: config, objective: .traffic)
        let stored = try Codegen.scheduleBudgets(graph, options: options)
        let chosen = try Codegen.schedule(graph, options: options)
        func bytes(_ program: Program) -> Int {
            let stats = config.schedule(program.instructions, constantsBytes: program.constants.count).stats
            return stats.dramReadBytes + stats.dramWriteBytes
        }
        let mapBytes = 48 * 40 * 36 * 4
        #expect(
            bytes(chosen.program) < bytes(stored.program) - mapBytes,
            "recomputing saves more than one pass over the map: \(bytes(chosen.program)) vs \(bytes(stored.program))")
        #expect(chosen.layers.contains { $0.op == "FusionGroup" && $0.members.contains(copy.name) })
        #expect(chosen.layerByLayer.instructions == stored.layerByLayer.instructions, "the baseline is the model's")
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
        // Each group's instructions move the bytes its plan predicted.
        for (group, row) in zip(chosen.groups, chosen.layers.filter { $0.op == "FusionGroup" }) {
            let moved = row.instructions.reduce(0) { total, k in
                let cost = config.cost(
                    of: chosen.program.instructions[k], constantsBytes: chosen.program.constants.count)
                return total + cost.dramReadBytes + cost.dramWriteBytes
            }
            #expect(moved == group.predictedDRAMBytes, "\(group.tiling)")
        }
        // Late blocks, with big weights and a small map: copying would cost more than it saves.
        var late = Builder()
        let wide = late.conv("x", cin: 160, cout: 960, k: 1)
        let lateDW = late.conv(wide, cin: 960, cout: 960, k: 3, pad: 1, group: 960)
        let latePooled = late.node(.globalAveragePool, [lateDW])
        let lateScale = late.node(.sigmoid, [late.conv(latePooled, cin: 960, cout: 960, k: 1, relu: false)])
        let lateOut = late.conv(late.node(.mul, [lateScale, lateDW]), cin: 960, cout: 160, k: 1, relu: false)
        #expect(SqueezeRecompute.rewrite(try late.graph(input: [1, 160, 7, 7], output: lateOut)) == nil)
    }

    @Test(
        "under edp, a squeeze-excitation map too big for SRAM is recomputed when that pays; one that fits is not tried")
    func squeezeExcitationRecomputeUnderEDP() throws {
        // Two inverted residual blocks: expand 8 -> 48, depthwise 3x3, SE, project 48 -> 8.
        var b = Builder()
        var x = "x"
        for _ in 0..<2 {
            let dw = b.conv(b.conv(x, cin: 8, cout: 48, k: 1), cin: 48, cout: 48, k: 3, pad: 1, group: 48)
            let excited = b.node(
                .sigmoid, [b.conv(b.node(.globalAveragePool, [dw]), cin: 48, cout: 48, k: 1, relu: false)])
            x = b.conv(b.node(.mul, [excited, dw]), cin: 48, cout: 8, k: 1, relu: false)
        }
        let graph = try b.graph(input: [1, 8, 40, 36], output: x)
        var config = AcceleratorConfig.df1
        config.sramBytes = 96 << 10  // each 48-channel map (276 KB) is too big to stay on chip
        #expect(SqueezeRecompute.candidates(graph, largerThan: config.sramBytes).count == 2)
        #expect(SqueezeRecompute.candidates(graph, largerThan: 1 << 20).isEmpty)
        let options = Codegen.Options(config: config)
        #expect(options.objective == .edp)
        let stored = try Codegen.scheduleBudgets(graph, options: options)
        let chosen = try Codegen.schedule(graph, options: options)
        func cost(_ program: Program) -> PlanCost {
            PlanCost(config.schedule(program.instructions, constantsBytes: program.constants.count).stats)
        }
        let (before, after) = (cost(stored.program), cost(chosen.program))
        #expect(chosen.groups.contains { $0.layers.contains { $0.hasSuffix("#recompute") } })
        #expect(Double(after.energy) * Double(after.cycles) < Double(before.energy) * Double(before.cycles))
        #expect(after.bytes < before.bytes - 4 * 48 * 40 * 36, "\(after.bytes) vs \(before.bytes)")
        for difference in try Verification.run(reference: graph, program: chosen.program) {
            #expect(difference.passed, "\(difference.description)")
        }
        CodegenEndToEndTests.checkGroupBytes(chosen)
    }

    @Test("a standalone BatchNormalization in a group: its DRAM bytes are the folded scale and shift, as predicted")
    func preActivationBatchNorm() throws {
        var b = Builder()
        let stem = b.conv("x", cin: 4, cout: 12, k: 3, pad: 1)
        let parameters = (0..<4).map { k in b.weight([12], scale: k == 3 ? 0 : 0.5) }
        b.initializers[parameters[3]] = Tensor(shape: [12], floats: (0..<12).map { Float($0 % 3) + 0.5 })
        let normalized = b.node(.batchNormalization, [stem] + parameters, activation: .relu)
        let out = b.conv(normalized, cin: 12, cout: 8, k: 3, pad: 1, relu: false)
        let graph = try b.graph(input: [1, 4, 21, 19], output: out)
        let context = try PlanningContext(graph: graph, config: .df1)
        let range = 1..<graph.nodes.count
        for plan in try FusionPlanner.candidates(range, context: context) {
            let counted = try ScheduleTests.runAndCount(graph, plan, config: .df1)
            #expect(
                counted == plan.dramBytes,
                "counted \(counted), predicted \(plan.dramBytes): \(plan.tileDescription(graph: graph))")
        }
        #expect(try !FusionPlanner.candidates(range, context: context).isEmpty)
    }

    @Test("a channel shuffle inside a group is one COPY per band; on its own, a permuting LOAD")
    func channelShuffle() throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 12, k: 1)
        let shuffled = b.node(.channelShuffle, [x], ["group": .int(3)])
        let dw = b.conv(shuffled, cin: 12, cout: 12, k: 3, pad: 1, group: 12)
        let out = b.conv(dw, cin: 12, cout: 8, k: 1, relu: false)
        let graph = try b.graph(input: [1, 4, 27, 21], output: out)
        try Self.check(graph, sram: 24 << 10)
        let (program, layers) = try Codegen.compile(graph, options: Codegen.Options(config: .df1, fusion: false))
        #expect(layers.contains { $0.op == "ChannelShuffle" && $0.engine == "load/store" })
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }

    @Test("a classifier's last GlobalAveragePool joins the group before it, which then never stores the map")
    func finalPoolInsideTheGroup() throws {
        var b = Builder()
        var x = b.conv("x", cin: 8, cout: 64, k: 3, pad: 1)
        x = b.conv(x, cin: 64, cout: 96, k: 1)
        let pooled = b.node(.globalAveragePool, [x])
        let graph = try b.graph(input: [1, 8, 9, 9], output: pooled)
        let context = try PlanningContext(graph: graph, config: .df1)
        #expect(FusionRules.poolsOnly(0..<3, graph: graph, consumers: context.consumers))
        let plans = try FusionPlanner.candidates(0..<3, context: context)
        #expect(plans.contains { if case .wholeMap = $0 { true } else { false } }, "whole-map plans take the tail too")
        #expect(plans.contains { if case .bands = $0 { true } else { false } })
        for plan in plans {
            // Weights, the input once, the 96 averages: the 96-channel map never reaches DRAM.
            let floor = 4 * (8 * 64 * 9 + 64 + 64 * 96 + 96 + 8 * 81 + 96)
            #expect(
                plan.dramBytes >= floor && plan.dramBytes < floor + 4 * 96 * 81, "\(plan.tileDescription(graph: graph))"
            )
            let (program, _) = try Codegen.compile(graph, config: .df1, groups: [plan])
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(plan.tileDescription(graph: graph)): \(difference.description)")
            }
            #expect(try ScheduleTests.runAndCount(graph, plan, config: .df1) == plan.dramBytes)
        }
    }

    @Test("a DenseNet block's growing concatenations share one DRAM buffer: no feature is copied")
    func denseBlockConcatenations() throws {
        var b = Builder()
        let stem = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        var features = [stem], concats: [String] = []
        for _ in 0..<3 {
            let input = concats.last ?? stem
            let channels = 8 + 4 * concats.count
            features.append(b.conv(input, cin: channels, cout: 4, k: 3, pad: 1))
            concats.append(b.node(.concat, features, ["axis": .int(1)]))
        }
        let out = b.conv(concats.last!, cin: 20, cout: 8, k: 1, relu: false)
        let graph = try b.graph(input: [1, 4, 19, 17], output: out)
        for fusion in [false, true] {
            let options = Codegen.Options(config: .df1, fusion: fusion)
            let compilation = try Codegen.schedule(graph, options: options)
            for difference in try Verification.run(reference: graph, program: compilation.program) {
                #expect(difference.passed, "\(difference.description)")
            }
            let concatRows = compilation.layers.filter { $0.op == "Concat" }
            #expect(concatRows.allSatisfy { $0.instructions.isEmpty }, "every part is written in place: \(concatRows)")
        }
        let plan = try DRAMPlan(graph: graph, base: 0)
        let root = try #require(plan.locations[concats.last!])
        for (k, concat) in concats.enumerated() {
            #expect(plan.locations[concat]?.address == root.address, "concatenation \(k) is a prefix of the last")
        }
    }

    @Test("halo recompute and halo cache compute the same; caching moves fewer bytes", arguments: [2, 3, 5])
    func haloModes(rows: Int) throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 3, pad: 1)
        var y = b.conv(x, cin: 8, cout: 8, k: 3, stride: 2, pad: 1)
        y = b.node(
            .maxPool, [y], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        y = b.conv(y, cin: 8, cout: 8, k: 3, pad: 2, dilation: 2)
        let graph = try b.graph(input: [1, 4, 31, 23], output: y)
        let context = try PlanningContext(graph: graph, config: .df1)
        var bytes: [BandPlan.Halo: Int] = [:]
        for halo in [BandPlan.Halo.recompute, .cache] {
            let group = try #require(try context.planBands(0..<graph.nodes.count, rows: rows, halo: halo))
            #expect(group.bands.count > 1)
            let (program, _) = try Codegen.compile(graph, config: .df1, groups: [.bands(group)])
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(halo): \(difference.description)")
            }
            let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
            #expect(
                stats.dramReadBytes + stats.dramWriteBytes == group.dramBytes, "the plan predicts the bytes exactly")
            bytes[halo] = stats.dramReadBytes + stats.dramWriteBytes
        }
        #expect(bytes[.cache]! < bytes[.recompute]!)
    }

    @Test("weights too large to stay resident stream through SRAM once per band")
    func streamedWeights() throws {
        var b = Builder()
        var x = b.conv("x", cin: 8, cout: 64, k: 3, pad: 1)
        x = b.conv(x, cin: 64, cout: 96, k: 3, pad: 1)
        x = b.conv(x, cin: 96, cout: 16, k: 1)
        let graph = try b.graph(input: [1, 8, 12, 12], output: x)
        var config = AcceleratorConfig.df1
        config.sramBytes = 256 << 10
        let context = try PlanningContext(graph: graph, config: config)
        let group = try #require(try context.planBands(0..<graph.nodes.count, rows: 6, halo: .cache))
        #expect(!group.streamed.isEmpty, "the 221 KB of 3x3 weights cannot stay next to the buffers in 256 KiB")
        let (program, _) = try Codegen.compile(graph, config: config, groups: [.bands(group)])
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
        let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect(stats.dramReadBytes + stats.dramWriteBytes == group.dramBytes)
    }

    @Test(
        "an interval's and a candidate's cost floors are never above a simulated cost, so the planner may skip what cannot win",
        arguments: [
            ("Fixtures/demo/resnet8.onnx", "df1"), ("Fixtures/demo/resnet8.onnx", "df1-small"),
            ("Fixtures/onnx/shufflenet_blocks.onnx", "df1"), ("Fixtures/onnx/exporter_idioms.onnx", "df1-small")
        ])
    func costFloorsHold(model: String, preset: String) throws {
        let config = try #require(AcceleratorConfig.preset(named: preset))
        var graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(model).path)
        try PassManager().run(&graph, options: CompileOptions())
        for objective in [Objective.edp, .latency, .energy] {
            let context = try PlanningContext(graph: graph, config: config, objective: objective)
            var compared = 0, tight = 0
            for j in 1...graph.nodes.count {
                for i in max(0, j - 8)..<j - 1 {
                    let interval = FusionPlanner.intervalFloor(i..<j, context: context)
                    let bytes = FusionPlanner.byteFloor(i..<j, context: context)
                    for plan in try FusionPlanner.candidates(i..<j, context: context) {
                        let floor = FusionPlanner.costFloor(plan, context: context)
                        let cost = try context.simulate(plan)
                        let what = "\(model) \(objective) nodes \(i)..<\(j): \(plan.tileDescription(graph: graph))"
                        #expect(interval.bytes <= cost.bytes, "interval bytes \(interval.bytes): \(what)")
                        #expect(interval.cycles <= cost.cycles, "interval cycles \(interval.cycles): \(what)")
                        #expect(interval.energy <= cost.energy, "interval energy \(interval.energy): \(what)")
                        #expect(floor.bytes == cost.bytes, "\(what)")
                        #expect(bytes <= cost.bytes, "byte floor \(bytes) > \(cost.bytes): \(what)")
                        #expect(floor.cycles <= cost.cycles, "cycles \(floor.cycles) > \(cost.cycles): \(what)")
                        #expect(floor.energy <= cost.energy, "energy \(floor.energy) > \(cost.energy): \(what)")
                        compared += 1
                        if 2 * floor.cycles >= cost.cycles { tight += 1 }
                    }
                }
            }
            // Distinct candidates: exporter_idioms at df1-small has 20 per objective.
            #expect(compared >= 20, "\(model): too few candidates to compare")
            // A floor that is never within half the real cycles would prune nothing.
            #expect(tight > 0, "\(model) \(objective): no floor within half of its simulated cycles")
        }
    }
}
