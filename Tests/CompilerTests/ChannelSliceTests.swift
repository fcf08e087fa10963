import Accelerator
import DFCCommands
import ReferenceInterpreter
import Tensors
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// Channel slices inside fusion groups: ShuffleNetV2 blocks (slice, branch
/// convolutions, concat, shuffle) planned, emitted and run as one group.
@Suite("Channel slices in groups")
struct ChannelSliceTests {
    static func canonicalBlocks() throws -> Graph {
        var graph = try ImportFixtures.compile(ImportFixtures.path("shufflenet_blocks.onnx"))
        try PassManager().run(&graph, options: CompileOptions())
        return graph
    }

    @Test("both slice forms are channel slices; the stem and both blocks plan as one group")
    func slicesAreViews() throws {
        let graph = try Self.canonicalBlocks()
        let slices = graph.nodes.filter { $0.kind == .slice }
        #expect(slices.count == 4)
        #expect(
            slices.map { FusionRules.channelSlice($0, graph: graph) }.sorted { ($0 ?? -1) < ($1 ?? -1) } == [
                0, 0, 24, 24
            ])
        #expect(slices.allSatisfy { FusionRules.fusible($0, graph: graph) })
        #expect(graph.nodes.filter { $0.kind == .channelShuffle }.count == 2)
        let context = try PlanningContext(graph: graph, config: .df1)
        #expect(FusionRules.structureProblem(0..<graph.nodes.count, graph: graph, consumers: context.consumers) == nil)
    }

    @Test(
        "a group of both blocks computes what the interpreter does and moves exactly the predicted bytes",
        arguments: [(BandPlan.Halo.recompute, 3), (.cache, 3), (.cache, 5), (.recompute, 18)])
    func wholeGroup(halo: BandPlan.Halo, rows: Int) throws {
        let graph = try Self.canonicalBlocks()
        let context = try PlanningContext(graph: graph, config: .df1)
        let plan = try #require(try context.planBands(0..<graph.nodes.count, rows: rows, halo: halo))
        // Only the input comes in and the output goes out (weights and biases aside).
        let x = graph.type(of: "input")!, y = graph.type(of: graph.outputs[0])!
        let weights = graph.initializers.filter { name, _ in
            graph.nodes.contains { $0.kind == .conv && $0.inputs.dropFirst().contains(name) }
        }.values.reduce(0) { $0 + 4 * $1.count }
        if halo == .cache || rows == 18 { #expect(plan.dramBytes == 4 * (x.count + y.count) + weights) }
        let (program, _) = try Codegen.compile(graph, config: .df1, groups: [.bands(plan)])
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(halo) \(rows): \(difference.description)")
        }
        let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
        #expect(stats.dramReadBytes + stats.dramWriteBytes == plan.dramBytes)
    }

    @Test("the compiled program fuses the slices, matches onnxruntime and moves the predicted bytes")
    func matchesOnnxruntime() throws {
        let graph = try ImportFixtures.compile(ImportFixtures.path("shufflenet_blocks.onnx"))
        let (canonical, program) = try CodegenEndToEndTests.compile(graph)
        let (_, layers) = try Codegen.compile(canonical, options: Codegen.Options(config: .df1))
        let slices = canonical.nodes.filter { $0.kind == .slice }.map(\.name)
        let grouped = layers.filter { $0.op == "FusionGroup" }.flatMap(\.members)
        #expect(slices.allSatisfy(grouped.contains), "\(layers.map { ($0.op, $0.members) })")
        let input = try NPY.read(path: ImportFixtures.path("shufflenet_blocks.input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("shufflenet_blocks.expected.npy"))
        let run = try CodegenEndToEndTests.run(program, ["input": input])
        let output = try #require(run.outputs["output"])
        let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
        #expect(comparison.passes, "\(comparison)")
        #expect(CodegenEndToEndTests.predictedBytes(program) == run.stats.dramReadBytes + run.stats.dramWriteBytes)
    }

    /// x -> 1x1 conv -> Split of its 16 channels into 6 and 10; the 10
    /// through a 3x3 conv, concatenated after the 6; at `opset` (split sizes
    /// as an attribute before 13, as an input from 13).
    static func splitGraph(opset: Int) throws -> Graph {
        var b = FusionTests.Builder()
        let x = b.conv("x", cin: 8, cout: 16, k: 1)
        var attributes: [String: Attribute] = ["axis": .int(1)]
        var inputs = [x]
        if opset >= 13 {
            b.initializers["sizes"] = Tensor(shape: [2], ints: [6, 10])
            inputs.append("sizes")
        } else {
            attributes["split"] = .ints([6, 10])
        }
        b.nodes.append(Node(name: "split", kind: .split, inputs: inputs, outputs: ["s0", "s1"], attributes: attributes))
        let branch = b.conv("s1", cin: 10, cout: 6, k: 3, pad: 1)
        let y = b.node(.concat, ["s0", branch], ["axis": .int(1)])
        var graph = Graph(
            name: "split", opsetVersion: opset, inputs: ["x"], outputs: [y], nodes: b.nodes,
            initializers: b.initializers, values: ["x": ValueInfo(TensorType(dtype: .float32, shape: [1, 8, 13, 11]))])
        try ShapeInference.run(&graph, evaluate: InferShapes.evaluate)
        return graph
    }

    @Test(
        "a channel Split becomes Slices (attributes at opset 9, inputs at 13) that join the group", arguments: [9, 13])
    func splitBecomesSlices(opset: Int) throws {
        let graph = try Self.splitGraph(opset: opset)
        var canonical = graph
        try PassManager().run(&canonical, options: CompileOptions())
        let inputs = Verification.randomInputs(for: graph)
        let before = try Interpreter.run(graph, inputs: inputs), after = try Interpreter.run(canonical, inputs: inputs)
        #expect(before[graph.outputs[0]] == after[graph.outputs[0]], "the Slices compute what the Split did")
        let slices = canonical.nodes.filter { $0.kind == .slice }
        #expect(!canonical.nodes.contains { $0.kind == .split })
        #expect(slices.map { FusionRules.channelSlice($0, graph: canonical) } == [0, 6])
        let context = try PlanningContext(graph: canonical, config: .df1)
        for halo in [BandPlan.Halo.recompute, .cache] {
            let plan = try #require(try context.planBands(0..<canonical.nodes.count, rows: 4, halo: halo))
            let (program, _) = try Codegen.compile(canonical, config: .df1, groups: [.bands(plan)])
            for difference in try Verification.run(reference: canonical, program: program) {
                #expect(difference.passed, "\(halo): \(difference.description)")
            }
            let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
            #expect(stats.dramReadBytes + stats.dramWriteBytes == plan.dramBytes)
        }
    }

    @Test("a channel shuffle read only by ungrouped convolutions folds into their weights; one a depthwise reads stays")
    func shuffleFoldsIntoWeights() throws {
        for depthwise in [false, true] {
            var b = FusionTests.Builder()
            let x = b.conv("x", cin: 6, cout: 12, k: 1)
            // The exporters' spelling: Reshape to [1, 3, 4, H, W], swap the two channel axes, Reshape back.
            b.initializers["groups"] = Tensor(shape: [5], ints: [1, 3, 4, 7, 9])
            b.initializers["merged"] = Tensor(shape: [4], ints: [1, 12, 7, 9])
            let split = b.node(.reshape, [x, "groups"])
            let swapped = b.node(.transpose, [split], ["perm": .ints([0, 2, 1, 3, 4])])
            let shuffled = b.node(.reshape, [swapped, "merged"])
            let first = b.conv(shuffled, cin: 12, cout: 12, k: 1, group: depthwise ? 12 : 1)
            let second = b.conv(shuffled, cin: 12, cout: 12, k: 3, pad: 1)
            let sum = b.node(.add, [first, second])
            let graph = try b.graph(input: [1, 6, 7, 9], output: sum)
            var canonical = graph
            try PassManager().run(&canonical, options: CompileOptions())
            #expect(!canonical.nodes.contains { $0.kind == .transpose })
            #expect(canonical.nodes.contains { $0.kind == .channelShuffle } == depthwise)
            let inputs = Verification.randomInputs(for: graph)
            let before = try Interpreter.run(graph, inputs: inputs),
                after = try Interpreter.run(canonical, inputs: inputs)
            let comparison = TensorComparison(
                try #require(after[graph.outputs[0]]), try #require(before[graph.outputs[0]]), rtol: 1e-5, atol: 1e-6)
            #expect(comparison.passes, "\(comparison)")
        }
    }
}
