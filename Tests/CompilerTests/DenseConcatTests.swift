import Accelerator
import DFCCommands
import Tensors
import Testing
@testable import Compiler
@testable import GraphIR

/// Concats whose parts were computed before the group (a DenseNet block's
/// growing concatenation, an inception module split over groups): the parts
/// are loaded band by band and copied into the concat's buffer, so one group
/// runs several dense layers and reads the block's earlier features once.
@Suite("Concat parts from before the group")
struct DenseConcatTests {
    typealias Builder = FusionTests.Builder

    /// A dense block of three layers after a stem: layer k reads the concat
    /// of the stem's features and those of every layer before it (a 1x1 then
    /// a 3x3 convolution), and the block's output is the concat of them all.
    /// Returns the graph and the node index of the second layer's concat.
    /// `normalized`: each layer starts with a BatchNormalization and ReLU of its concat, as DenseNet's do.
    /// `nested`: each concat is Concat(the previous concat, the new features), as Caffe2's DenseNet writes it.
    static func denseBlock(
        input: [Int] = [1, 3, 23, 19], layers: Int = 3, normalized: Bool = false, nested: Bool = false
    ) throws -> (Graph, Int) {
        var b = Builder()
        let x0 = b.conv("x", cin: input[1], cout: 8, k: 3, pad: 1)
        var features = [x0], channels = 8
        var secondConcat = 0
        for layer in 0..<layers {
            let source: String
            if layer == 0 {
                source = x0
            } else {
                if layer == 1 { secondConcat = b.nodes.count }
                let parts =
                    nested && layer > 1 ? [b.nodes.last { $0.kind == .concat }!.outputs[0], features.last!] : features
                source = b.node(.concat, parts, ["axis": .int(1)])
            }
            var normal = source
            if normalized {
                let parameters = (0..<4).map { _ in b.weight([channels], scale: 0.5) }
                b.initializers[parameters[3]] = Tensor(
                    shape: [channels], floats: (0..<channels).map { Float($0 % 3) + 0.5 })
                normal = b.node(.batchNormalization, [source] + parameters, activation: .relu)
            }
            let bottleneck = b.conv(normal, cin: channels, cout: 8, k: 1)
            features.append(b.conv(bottleneck, cin: 8, cout: 4, k: 3, pad: 1))
            channels += 4
        }
        let last = nested && layers > 1 ? [b.nodes.last { $0.kind == .concat }!.outputs[0], features.last!] : features
        let output = b.node(.concat, last, ["axis": .int(1)])
        return (try b.graph(input: input, output: output), secondConcat)
    }

    @Test("a group of two dense layers loads the earlier features once into the concat buffer all its concats share")
    func twoDenseLayers() throws {
        let (graph, start) = try Self.denseBlock()
        let context = try PlanningContext(graph: graph, config: .df1)
        let range = start..<graph.nodes.count
        #expect(FusionRules.structureProblem(range, graph: graph, consumers: context.consumers) == nil)
        let x0 = graph.nodes[0].outputs[0], f1 = graph.nodes[2].outputs[0]
        // Each concat of the group begins with the one before it: one chain, ending in the block's output.
        let concats = range.filter { graph.nodes[$0].kind == .concat }.map { graph.nodes[$0].outputs[0] }
        #expect(concats.count == 3)
        #expect(
            FusionRules.concatChains(range, graph: graph, consumers: context.consumers)
                == [concats[0]: concats[1], concats[1]: concats[2]])
        // x0 and f1 come from DRAM; f2, read by two concats of the chain, is written in place.
        #expect(FusionRules.copiedParts(range, graph: graph, consumers: context.consumers) == [x0, f1])
        // The concat's DRAM holds every part already: the group reads x0 and f1 and writes the block's output.
        let aliases = DRAMPlan.Aliases(graph: graph)
        #expect(aliases.root(x0).0 == graph.outputs[0] && aliases.root(f1).0 == graph.outputs[0])
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 4, 23] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.inputs == [x0, f1])
                // x0 and f1 are loaded straight into the first concat's channels of the shared buffer: no COPY.
                #expect(plan.copiedParts.isEmpty)
                #expect(plan.loadedInto == [x0: concats[0], f1: concats[0]])
                for (value, channel) in [(x0, 0), (f1, 8), (concats[0], 0), (concats[1], 0)] {
                    #expect(plan.buffers[value]?.alias?.value == concats[2], "\(value)")
                    #expect(plan.buffers[value]?.alias?.channelOffset == channel, "\(value)")
                }
                let weights = range.flatMap { graph.nodes[$0].inputs.dropFirst() }.compactMap { graph.initializers[$0] }
                    .reduce(0) { $0 + 4 * $1.count }
                let y = graph.type(of: graph.outputs[0])!, loaded = 4 * (8 + 4) * 23 * 19
                if halo == .cache || rows == 23 { #expect(plan.dramBytes == loaded + weights + 4 * y.count) }
                let program = try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
                let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
                #expect(
                    stats.dramReadBytes + stats.dramWriteBytes == CodegenEndToEndTests.predictedBytes(program),
                    "\(halo) \(rows) rows")
                // No concat copies a part (with a cached halo, the kept rows' copies are tagged with a concat).
                let concatNames = range.filter { graph.nodes[$0].kind == .concat }.map { graph.nodes[$0].name }
                let copies = zip(program.instructions, program.debugNames).filter { instruction, names in
                    guard case .copy = instruction.operation else { return false }
                    return names.contains { concatNames.contains($0) }
                }
                if halo == .recompute { #expect(copies.isEmpty, "\(rows) rows") }
            }
        }
    }

    @Test(
        "a group that reads a dense layer's concat sees the next concat's earlier parts in its buffer, loading them once"
    )
    func partsAreViewsOfTheLoadedConcat() throws {
        let (graph, start) = try Self.denseBlock()
        let context = try PlanningContext(graph: graph, config: .df1)
        // From the second layer's bottleneck on: it reads the concat of x0 and f1, whose DRAM holds both.
        let range = (start + 1)..<graph.nodes.count
        let concat = graph.nodes[start].outputs[0]
        let x0 = graph.nodes[0].outputs[0], f1 = graph.nodes[2].outputs[0]
        let weights = range.flatMap { graph.nodes[$0].inputs.dropFirst() }.compactMap { graph.initializers[$0] }
            .reduce(0) { $0 + 4 * $1.count }
        let y = graph.type(of: graph.outputs[0])!
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 3, 23] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.inputs == [concat], "x0 and f1 are channels of the concat's buffer")
                // The loaded concat is the first channels of the next concat, loaded straight into its buffer,
                // which is the first channels of the block's output (the concat that extends it).
                let next = graph.nodes[start + 3].outputs[0], last = graph.outputs[0]
                #expect(plan.buffers[next]?.alias?.value == last && plan.buffers[next]?.alias?.channelOffset == 0)
                #expect(plan.buffers[concat]?.alias?.value == last && plan.buffers[concat]?.alias?.channelOffset == 0)
                #expect(plan.buffers[x0]?.alias?.value == last && plan.buffers[f1]?.alias?.channelOffset == 8)
                #expect(plan.loadedInto == [x0: next, f1: next])
                if halo == .cache || rows == 23 {
                    #expect(plan.dramBytes == 4 * graph.type(of: concat)!.count + weights + 4 * y.count)
                }
                try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
            }
        }
    }

    @Test("an inception module split over groups: the last branch's group loads the others into the concat")
    func inceptionSplitOverGroups() throws {
        var b = Builder()
        let x = b.conv("x", cin: 4, cout: 8, k: 1)
        let a = b.conv(x, cin: 8, cout: 4, k: 1)
        let c = b.conv(x, cin: 8, cout: 4, k: 5, pad: 2)
        let pool = b.node(
            .maxPool, [x], ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1])])
        let d = b.conv(pool, cin: 8, cout: 4, k: 1)
        let cat = b.node(.concat, [a, c, d], ["axis": .int(1)])
        let out = b.conv(cat, cin: 12, cout: 8, k: 3, pad: 1)
        let graph = try b.graph(input: [1, 4, 33, 27], output: out)
        let context = try PlanningContext(graph: graph, config: .df1)
        // The pool branch, the concat and the next layer; a and c were computed by earlier groups.
        let range = 3..<graph.nodes.count
        #expect(graph.nodes[3].kind == .maxPool)
        #expect(FusionRules.copiedParts(range, graph: graph, consumers: context.consumers) == [a, c])
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [2, 7] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.inputs == [x, a, c])
                // a and c are loaded straight into their channels of the concat's buffer: no buffer, no COPY.
                #expect(plan.loadedInto == [a: cat, c: cat])
                #expect(plan.buffers[a]?.alias?.channelOffset == 0 && plan.buffers[c]?.alias?.channelOffset == 4)
                #expect(
                    plan.buffers.values.filter { $0.alias == nil }.count == 4, "x, the pool, the concat, the output")
                let program = try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
                let concatName = graph.nodes[5].name
                let copies = zip(program.instructions, program.debugNames).filter { instruction, names in
                    guard case .copy = instruction.operation else { return false }
                    return names.contains(concatName)
                }
                #expect(copies.isEmpty, "\(halo) \(rows) rows")
            }
        }
    }

    @Test("the planner fuses dense layers across their concats, verifies and moves the predicted bytes")
    func plannedBlock() throws {
        let (graph, _) = try Self.denseBlock(input: [1, 3, 40, 36])
        var config = AcceleratorConfig.df1
        config.sramBytes = 48 << 10
        let compilation = try Codegen.schedule(graph, options: Codegen.Options(config: config, objective: .traffic))
        // Some group holds several concats of the block or loads earlier features into one: parts
        // computed before the group or read by several concats of it, both of which used to end a group.
        let across = compilation.plan.groups.contains { group in
            guard case .bands(let plan) = group else { return false }
            return plan.nodes.filter({ graph.nodes[$0].kind == .concat }).count > 1 || !plan.loadedInto.isEmpty
        }
        #expect(across, "\(compilation.groups.map { "\($0.layers) \($0.end)" })")
        CodegenEndToEndTests.checkGroupBytes(compilation)
        try FusionTests.check(graph, sram: 48 << 10)
    }

    @Test("new features stored into one block concat count once against the stored-value limit")
    func storedFeaturesShareTheBlockConcat() throws {
        let (graph, start) = try Self.denseBlock(layers: 6)
        let context = try PlanningContext(graph: graph, config: .df1)
        // Layers 2 to 5: their new features f2, f3 and f4 are read after the group (by the
        // later concats) besides its output f5, and all of them live in the block concat's DRAM.
        let range = start..<(start + 4 * 3)
        let stored = FusionRules.storedValues(range, graph: graph, consumers: context.consumers)
        #expect(stored.count == 3 && stored.count > FusionRules.maxStoredValues)
        let aliases = DRAMPlan.Aliases(graph: graph)
        #expect(stored.allSatisfy { aliases.root($0).0 == graph.outputs[0] })
        #expect(FusionRules.structureProblem(range, graph: graph, consumers: context.consumers) == nil)
        let weights = range.flatMap { graph.nodes[$0].inputs.dropFirst() }.compactMap { graph.initializers[$0] }
            .reduce(0) { $0 + 4 * $1.count }
        let x0 = graph.nodes[0].outputs[0], f1 = graph.nodes[2].outputs[0]
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [2, 23] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.inputs == [x0, f1])
                #expect(Set(plan.stores.keys) == Set(stored))
                // Each feature is written once, into its channels of the block concat.
                let written = (stored + [graph.nodes[range.upperBound - 1].outputs[0]])
                    .reduce(0) { $0 + 4 * graph.type(of: $1)!.count }
                if halo == .cache || rows == 23 {
                    #expect(plan.dramBytes == 4 * (8 + 4) * 23 * 19 + weights + written)
                }
                try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
            }
        }
    }

    @Test("a Concat written in place into another Concat of the group: parts reach the outer buffer at both offsets")
    func nestedConcats() throws {
        var b = Builder()
        let x = b.conv("x", cin: 3, cout: 8, k: 3, pad: 1)
        let a = b.conv(x, cin: 8, cout: 4, k: 1)
        let c = b.conv(x, cin: 8, cout: 4, k: 3, pad: 1)
        let inner = b.node(.concat, [a, c], ["axis": .int(1)])
        let d = b.conv(x, cin: 8, cout: 4, k: 1)
        // The inner concat is read only by the outer one, after another part: written in place at channel 4.
        let outer = b.node(.concat, [d, inner], ["axis": .int(1)])
        let out = b.conv(outer, cin: 12, cout: 8, k: 3, pad: 1)
        let graph = try b.graph(input: [1, 3, 21, 17], output: out)
        let context = try PlanningContext(graph: graph, config: .df1)
        let range = 0..<graph.nodes.count
        #expect(FusionRules.copiedParts(range, graph: graph, consumers: context.consumers).isEmpty)
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 4, 21] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.buffers[inner]?.alias?.value == outer && plan.buffers[inner]?.alias?.channelOffset == 4)
                #expect(plan.buffers[a]?.alias?.value == outer && plan.buffers[a]?.alias?.channelOffset == 4)
                #expect(plan.buffers[c]?.alias?.value == outer && plan.buffers[c]?.alias?.channelOffset == 8)
                try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
            }
        }
    }

    @Test(
        "pre-activation dense layers: the loaded concat fills the next concat's buffer, whose normalization is in place"
    )
    func normalizedLayersShareTheConcatBuffer() throws {
        let (graph, start) = try Self.denseBlock(layers: 3, normalized: true)
        let context = try PlanningContext(graph: graph, config: .df1)
        // The second and third layers, from the second's BatchNormalization (it reads the loaded concat
        // of x0 and f1) to f3, as a DenseNet group of two layers.
        let range = (start + 1)..<(start + 8)
        #expect(graph.nodes[start + 1].kind == .batchNormalization && graph.nodes[start + 4].kind == .concat)
        let loaded = graph.nodes[start].outputs[0], next = graph.nodes[start + 4].outputs[0]
        let normal = graph.nodes[start + 5].outputs[0]
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 2, 5, 23] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                #expect(plan.inputs == [loaded])
                #expect(plan.buffers[loaded]?.alias?.value == next, "\(halo) \(rows) rows")
                if halo == .cache && rows < 23 {
                    // Its rows lag the loaded concat's: the next normalization overwrites only rows read already.
                    #expect(plan.buffers[normal]?.alias?.value == next, "\(halo) \(rows) rows")
                }
                try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
            }
        }
        try FusionTests.check(graph, sram: 24 << 10)
    }

    @Test(
        "a single-buffered plan loading into a concat goes to simulation beside the same bands with buffers of their own"
    )
    func singleBufferedPlainVariant() throws {
        let (graph, start) = try Self.denseBlock(input: [1, 3, 40, 36])
        let range = start..<graph.nodes.count
        var found = false
        for kib in stride(from: 24, through: 64, by: 4) where !found {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config)
            let plans = try FusionPlanner.candidates(range, context: context).compactMap { group -> BandPlan? in
                guard case .bands(let plan) = group else { return nil }
                return plan
            }
            for plan in plans where !plan.loadedInto.isEmpty && plan.buffers.values.allSatisfy({ $0.slots == 1 }) {
                // Where the loaded maps' own buffers fit too, those bands are a candidate as well.
                guard
                    let plain = try context.planBands(
                        range, rows: plan.rows, halo: plan.halo, maxSlots: 1, loads: false)
                else { continue }
                #expect(plans.contains { $0.loadedInto.isEmpty && $0.rows == plan.rows && $0.halo == plan.halo })
                // The same bands and bytes; the loaded maps' own buffers take more SRAM.
                #expect(plain.dramBytes == plan.dramBytes && plain.sramBytes > plan.sramBytes)
                try CodegenEndToEndTests.checkGroup(graph, plain, "\(kib) KiB, own buffers")
                try CodegenEndToEndTests.checkGroup(graph, plan, "\(kib) KiB, loaded into the concat")
                found = true
            }
        }
        #expect(found, "no SRAM size makes the best plan single-buffered with loads into a concat")
    }

    @Test("a dense layer's normalization over its concat is computed a few rows at a time, before its 1x1 convolution")
    func chunkedNormalization() throws {
        let (graph, start) = try Self.denseBlock(input: [1, 3, 24, 20], layers: 4, normalized: true)
        // From the second layer's BatchNormalization to the block's output, as one band of the whole map.
        let range = (start + 1)..<graph.nodes.count
        var found: (plan: BandPlan, sram: Int)?
        for kib in stride(from: 8, through: 256, by: 4) where found == nil {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config)
            if let plan = try context.planBands(range, rows: 24, halo: .recompute, maxSlots: 1) {
                found = (plan, kib << 10)
            }
        }
        let (plan, sram) = try #require(found)
        // The smallest SRAM the whole map fits in needs the normalizations' buffers to be a few rows.
        #expect(!plan.chunked.isEmpty)
        var saved = 0
        for (value, rows) in plan.chunked {
            let node = try #require(graph.nodes[range].first { $0.outputs[0] == value })
            #expect(node.kind == .batchNormalization)
            let reader = try #require(graph.nodes[range].first { $0.inputs.first == value })
            #expect(reader.kind == .conv && graph.initializers[reader.inputs[1]]?.shape.suffix(2) == [1, 1])
            let buffer = try #require(plan.buffers[value])
            // Two chunks: the normalization writes one while the convolution reads the other.
            #expect(buffer.rows == 2 * rows && buffer.rows < 24 && buffer.slots == 1)
            saved += buffer.slotBytes / buffer.rows * (24 - buffer.rows)
        }
        #expect(plan.sramBytes + saved > sram, "the normalizations' whole buffers would not have fit")
        let program = try CodegenEndToEndTests.checkGroup(graph, plan, "\(sram) B")
        // Per chunk (and streamed block of weights), the normalization's two instructions, then the convolution's.
        for (value, rows) in plan.chunked {
            let node = try #require(graph.nodes[range].first { $0.outputs[0] == value })
            let reader = try #require(graph.nodes[range].first { $0.inputs.first == value })
            let cout = graph.type(of: reader.outputs[0])!.shape[1]
            let pieces = (24 + rows - 1) / rows * (plan.streamed[reader.name].map { (cout + $0 - 1) / $0 } ?? 1)
            let names = zip(program.instructions, program.debugNames).compactMap { instruction, names -> String? in
                switch instruction.operation {
                case .conv where names.contains(reader.name): return "conv"
                case .eltwise where names.contains(node.name): return "eltwise"
                default: return nil
                }
            }
            #expect(names == Array(repeating: ["eltwise", "eltwise", "conv"], count: pieces).flatMap { $0 })
        }
        try FusionTests.check(graph, sram: sram)
    }

    @Test("a one-band plan streams weights in blocks as wide as the matrix unit's lanes while another can stream")
    func oneBandStreamsLaneWideBlocks() throws {
        var b = FusionTests.Builder()
        let a = b.conv("x", cin: 8, cout: 64, k: 3, pad: 1)
        let c = b.conv(a, cin: 64, cout: 64, k: 3, pad: 1)
        let d = b.conv(c, cin: 64, cout: 64, k: 3, pad: 1)
        let graph = try b.graph(input: [1, 8, 8, 8], output: d)
        let lanes = AcceleratorConfig.df1.matrixOutputLanes
        var laneWide = 0
        for kib in stride(from: 96, through: 320, by: 16) {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config)
            guard let plan = try context.planBands(0..<3, rows: 8, halo: .recompute, maxSlots: 1),
                !plan.streamed.isEmpty
            else { continue }
            if plan.streamed.count > 1 && plan.streamed.values.allSatisfy({ $0 >= lanes }) { laneWide += 1 }
            try CodegenEndToEndTests.checkGroup(graph, plan, "\(kib) KiB")
        }
        #expect(laneWide > 0, "no SRAM size streams two convolutions in lane-wide blocks")
    }

    @Test("nested concats, Concat(previous, new): the previous one is read where it lies in the next one's buffer")
    func nestedDenseLayers() throws {
        let (graph, start) = try Self.denseBlock(layers: 3, normalized: true, nested: true)
        let context = try PlanningContext(graph: graph, config: .df1)
        let range = start..<graph.nodes.count
        let concats = range.filter { graph.nodes[$0].kind == .concat }.map { graph.nodes[$0].outputs[0] }
        #expect(
            concats.count == 3
                && graph.nodes[range].filter({ $0.kind == .concat }).dropFirst().allSatisfy {
                    concats.contains($0.inputs[0])
                })
        // Each concat is the first part of the next: written in place, though its normalization reads it too.
        let copied = FusionRules.copiedParts(range, graph: graph, consumers: context.consumers)
        #expect(copied.isDisjoint(with: concats))
        for halo in [BandPlan.Halo.recompute, .cache] {
            for rows in [1, 4, 23] {
                let plan = try #require(try context.planBands(range, rows: rows, halo: halo))
                for concat in concats.dropLast() {
                    #expect(plan.buffers[concat]?.alias?.value == concats.last, "\(halo) \(rows) rows")
                    #expect(plan.buffers[concat]?.alias?.channelOffset == 0, "\(halo) \(rows) rows")
                }
                let program = try CodegenEndToEndTests.checkGroup(graph, plan, "\(halo) \(rows) rows")
                let names = Set(range.filter { graph.nodes[$0].kind == .concat }.map { graph.nodes[$0].name })
                let copies = zip(program.instructions, program.debugNames).filter { instruction, tags in
                    guard case .copy = instruction.operation else { return false }
                    return tags.contains { names.contains($0) }
                }
                if halo == .recompute { #expect(copies.isEmpty, "\(rows) rows") }
            }
        }
        // The planner's choice over the whole graph verifies and beats layer by layer at a small SRAM.
        try FusionTests.check(graph, sram: 24 << 10)
    }

    @Test("a residual Add of two maps read only by a 1x1 convolution is chunked too, reading both maps' rows")
    func chunkedAdd() throws {
        var b = FusionTests.Builder()
        let x = b.conv("x", cin: 8, cout: 64, k: 3, pad: 1)
        let y = b.conv(x, cin: 64, cout: 64, k: 3, pad: 1)
        // Both operands are read again later, so the Add cannot write in place over either.
        let sum = b.node(.add, [x, y])
        let out = b.node(.add, [b.conv(sum, cin: 64, cout: 64, k: 1), y])
        let graph = try b.graph(input: [1, 8, 20, 18], output: out)
        let range = 0..<graph.nodes.count
        var chunked = 0
        for kib in stride(from: 64, through: 640, by: 16) {
            var config = AcceleratorConfig.df1
            config.sramBytes = kib << 10
            let context = try PlanningContext(graph: graph, config: config)
            for rows in [5, 20] {
                for halo in [BandPlan.Halo.recompute, .cache] {
                    guard let plan = try context.planBands(range, rows: rows, halo: halo, maxSlots: 1),
                        plan.chunked[sum] != nil
                    else { continue }
                    chunked += 1
                    try CodegenEndToEndTests.checkGroup(graph, plan, "\(kib) KiB, \(rows) rows, \(halo)")
                }
            }
        }
        #expect(chunked > 0, "no SRAM size chunks the Add")
    }
}
