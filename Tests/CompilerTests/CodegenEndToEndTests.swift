import Accelerator
import DFCCommands
import Foundation
import ReferenceInterpreter
import Tensors
import TestSupport
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport

/// Whole pipeline: import, passes, codegen, executor — checked against the
/// reference interpreter, the expected outputs of ONNX's tests, and the
/// predicted DRAM byte count.
@Suite("Codegen end to end")
struct CodegenEndToEndTests {
    static func compile(_ graph: Graph, config: AcceleratorConfig = .df1) throws -> (canonical: Graph, program: Program)
    {
        var canonical = graph
        try PassManager().run(&canonical, options: CompileOptions())
        let (program, _) = try Codegen.compile(canonical, options: Codegen.Options(config: config))
        return (canonical, program)
    }

    /// Bytes the compiler predicts from its own instruction stream (or the part of it in `range`).
    static func predictedBytes(_ program: Program, instructions range: Range<Int>? = nil) -> Int {
        program.instructions[range ?? program.instructions.indices].reduce(0) { total, instruction in
            let cost = program.config.cost(of: instruction, constantsBytes: program.constants.count)
            return total + cost.dramReadBytes + cost.dramWriteBytes
        }
    }

    /// Compiles `graph` with `plan` as its one fusion group and checks that the group's instructions move
    /// the bytes the plan predicts and that the outputs match the interpreter; `label` names the case.
    @discardableResult
    static func checkGroup(
        _ graph: Graph, _ plan: BandPlan, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Program {
        try checkGroups(graph, [.bands(plan)], label, sourceLocation: sourceLocation)
    }

    /// `checkGroup` for several fusion groups, in order: each group's instructions move the bytes its plan predicts.
    @discardableResult
    static func checkGroups(
        _ graph: Graph, _ plans: [GroupPlan], _ label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Program {
        let (program, layers) = try Codegen.compile(graph, config: .df1, groups: plans)
        let rows = layers.filter { $0.op == "FusionGroup" }
        #expect(rows.count == plans.count, "\(label)", sourceLocation: sourceLocation)
        for (plan, row) in zip(plans, rows) {
            let moved = predictedBytes(program, instructions: row.instructions)
            #expect(
                moved == plan.dramBytes, "\(label): \(plan.tileDescription(graph: graph))",
                sourceLocation: sourceLocation)
        }
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(label): \(difference.description)", sourceLocation: sourceLocation)
        }
        return program
    }

    /// Checks every group's bytes (`checkGroupBytes`), the outputs against the interpreter, and that the
    /// executor moves the bytes the program's instructions predict; returns those bytes.
    @discardableResult
    static func checkCompilation(
        _ compilation: Codegen.Compilation, graph: Graph, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        checkGroupBytes(compilation, sourceLocation: sourceLocation)
        for difference in try Verification.run(reference: graph, program: compilation.program) {
            #expect(difference.passed, "\(difference.description)", sourceLocation: sourceLocation)
        }
        let stats = try Executor.run(compilation.program, inputs: [:], options: ExecutionOptions(timingOnly: true))
            .stats
        let moved = stats.dramReadBytes + stats.dramWriteBytes
        #expect(moved == predictedBytes(compilation.program), sourceLocation: sourceLocation)
        return moved
    }

    /// Checks that each fusion group of `compilation` moves the bytes its plan predicted.
    static func checkGroupBytes(_ compilation: Codegen.Compilation, sourceLocation: SourceLocation = #_sourceLocation) {
        for (group, row) in zip(compilation.groups, compilation.layers.filter { $0.op == "FusionGroup" }) {
            let moved = predictedBytes(compilation.program, instructions: row.instructions)
            #expect(moved == group.predictedDRAMBytes, "\(group.tiling)", sourceLocation: sourceLocation)
        }
    }

    static func run(_ program: Program, _ inputs: [String: Tensor]) throws -> ExecutionResult {
        var arrays: [String: Tensor] = [:]
        for (name, tensor) in inputs {
            switch tensor.storage {
            case .float(let v): arrays[name] = Tensor(shape: tensor.shape, floats: v)
            case .int64(let v): arrays[name] = Tensor(shape: tensor.shape, ints: v)
            case .bool(let v): arrays[name] = Tensor(shape: tensor.shape, bools: v)
            }
        }
        return try Executor.run(program, inputs: arrays)
    }

    @Test(
        "fixtures verify against the interpreter, at every SRAM preset",
        arguments: [
            "tiny_cnn", "ops_eltwise", "ops_shape", "ops_misc", "pytorch_shape_chain", "opset7",
            "weights_fp16", "weights_fp64", "weights_int", "initializer_as_input", "external_data",
            "activation_idioms", "shape_arithmetic", "exporter_idioms", "shufflenet_blocks", "space_depth",
            "broadcast_copies"
        ])
    func fixtures(name: String) throws {
        let reference = try ImportFixtures.compile(ImportFixtures.path("\(name).onnx"))
        for config in ["df1", "df1-small", "df1-large"].compactMap(AcceleratorConfig.preset(named:)) {
            let (_, program) = try Self.compile(reference, config: config)
            for difference in try Verification.run(reference: reference, program: program) {
                #expect(difference.passed, "\(name) at \(config.name): \(difference.description)")
            }
            let stats = try Executor.run(program, inputs: [:], options: ExecutionOptions(timingOnly: true)).stats
            #expect(Self.predictedBytes(program) == stats.dramReadBytes + stats.dramWriteBytes)
        }
    }

    @Test("the same model and flags give a byte-identical program")
    func deterministic() throws {
        let graph = try ImportFixtures.compile(ImportFixtures.path("tiny_cnn.onnx"))
        let first = try Self.compile(graph).program.encoded()
        let second = try Self.compile(graph).program.encoded()
        #expect(first == second)
    }

    /// An LRN graph x -> LRN(size) -> y, alpha and bias away from their defaults.
    static func lrnGraph(shape: [Int], size: Int) throws -> Graph {
        var b = FusionTests.Builder()
        let y = b.node(
            .lrn, ["x"], ["size": .int(size), "alpha": .float(0.02), "beta": .float(0.75), "bias": .float(1.5)])
        return try b.graph(input: shape, output: y)
    }

    @Test(
        "LRN runs on the vector unit, every channel in a tile of rows, with the interpreter's bits",
        arguments: [
            ([1, 5, 40, 9], 5), ([2, 8, 13, 4], 3), ([1, 3, 50], 1), ([1, 6, 3, 7, 5], 4), ([1, 64, 12, 12], 5)
        ])
    func lrnOnTheVectorUnit(shape: [Int], size: Int) throws {
        let graph = try Self.lrnGraph(shape: shape, size: size)
        var config = AcceleratorConfig.df1
        config.sramBytes = 16 << 10
        let (program, layers) = try Codegen.compile(graph, options: Codegen.Options(config: config))
        #expect(layers.map(\.engine) == ["vector"])
        let opcodes = program.instructions.map(\.opcode)
        #expect(opcodes.contains(.lrn) && !opcodes.contains(.hostLRN))
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.comparison.maxAbsoluteError == 0, "\(difference.description)")
        }
        let run = try Executor.run(program, inputs: Verification.randomInputs(for: graph))
        #expect(Self.predictedBytes(program) == run.stats.dramReadBytes + run.stats.dramWriteBytes)
        // Double buffering: with several tiles, some LRN runs while a LOAD moves the next tile.
        let lrns = program.instructions.indices.filter { opcodes[$0] == .lrn }
        if lrns.count > 1 {
            let overlapped = lrns.contains { i in
                program.instructions.indices.contains { j in
                    opcodes[j] == .load && run.schedule[j].start < run.schedule[i].end
                        && run.schedule[i].start < run.schedule[j].end
                }
            }
            #expect(overlapped, "no LRN overlaps a LOAD")
        }
    }

    @Test("LRN falls back to HOST.LRN when one row of every channel does not fit the SRAM")
    func lrnOnTheHost() throws {
        let graph = try Self.lrnGraph(shape: [1, 64, 2, 40], size: 5)
        var config = AcceleratorConfig.df1
        config.sramBytes = 8 << 10
        let (program, layers) = try Codegen.compile(graph, options: Codegen.Options(config: config))
        #expect(layers.map(\.engine) == ["host"])
        #expect(program.instructions.map(\.opcode) == [.hostLRN])
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.comparison.maxAbsoluteError == 0, "\(difference.description)")
        }
    }

    @Test("conv -> LRN -> conv verifies, with LRN on the vector unit inside a fusion group")
    func convLRNConv() throws {
        var b = FusionTests.Builder()
        var y = b.conv("x", cin: 3, cout: 16, k: 3, pad: 1)
        y = b.node(.lrn, [y], ["size": .int(5), "alpha": .float(1e-4), "beta": .float(0.75), "bias": .float(1)])
        y = b.conv(y, cin: 16, cout: 8, k: 1)
        let graph = try b.graph(input: [1, 3, 20, 20], output: y)
        for config in ["df1", "df1-small"].compactMap(AcceleratorConfig.preset(named:)) {
            let (program, layers) = try Codegen.compile(graph, options: Codegen.Options(config: config))
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(config.name): \(difference.description)")
            }
            let opcodes = program.instructions.map(\.opcode)
            #expect(opcodes.contains(.lrn) && !opcodes.contains(.hostLRN))
            let lrn = graph.nodes[1].name
            #expect(layers.contains { $0.op == "FusionGroup" && $0.members.contains(lrn) && $0.members.count > 1 })
        }
    }

    /// x -> activation -> 3x3 conv -> activation -> y, each activation spelled
    /// as exporters write it: SiLU as Mul(v, Sigmoid(v)), GELU and Mish as
    /// their ONNX ops. The first reads a graph input, so it stays a node.
    static func activationGraph(_ kind: ActivationKind) throws -> Graph {
        var b = FusionTests.Builder()
        func activation(of v: String) -> String {
            switch kind {
            case .silu:
                let sigmoid = b.node(.sigmoid, [v])
                return b.node(.mul, [v, sigmoid])
            case .gelu: return b.node(.gelu, [v])
            case .geluTanh: return b.node(.gelu, [v], ["approximate": .string("tanh")])
            case .neg: return b.node(.neg, [v])
            case .abs: return b.node(.abs, [v])
            case .floor: return b.node(.floor, [v])
            case .ceil: return b.node(.ceil, [v])
            default: return b.node(.mish, [v])
            }
        }
        let first = activation(of: "x")
        let conv = b.conv(first, cin: 3, cout: 8, k: 3, pad: 1, relu: false)
        let y = activation(of: conv)
        return try b.graph(input: [1, 3, 20, 20], output: y)
    }

    @Test(
        "SiLU, GELU (erf and tanh), Mish, Neg, Abs, Floor and Ceil run as ACT alone and fused into the convolution, matching the interpreter",
        arguments: [ActivationKind.silu, .gelu, .geluTanh, .mish, .neg, .abs, .floor, .ceil])
    func activations(kind: ActivationKind) throws {
        let graph = try Self.activationGraph(kind)
        for config in ["df1", "df1-small"].compactMap(AcceleratorConfig.preset(named:)) {
            let (canonical, program) = try Self.compile(graph, config: config)
            #expect(canonical.nodes.count == 2 && canonical.nodes.last?.kind == .conv, "\(canonical.nodes.map(\.name))")
            #expect(canonical.nodes.map { $0.activation?.fused.kind } == [nil, kind])
            var acts: [ActivationKind] = [], convs: [ActivationKind] = []
            for instruction in program.instructions {
                switch instruction.operation {
                case .act(let a): acts.append(a.activation.kind)
                case .conv(let c): convs.append(c.activation.kind)
                default: break
                }
            }
            #expect(acts.contains(kind), "\(config.name): the standalone activation is no ACT: \(acts)")
            #expect(convs.contains(kind) && convs.allSatisfy { [kind, .none].contains($0) }, "\(config.name): \(convs)")
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(config.name): \(difference.description)")
            }
            let run = try Executor.run(program, inputs: Verification.randomInputs(for: graph))
            #expect(Self.predictedBytes(program) == run.stats.dramReadBytes + run.stats.dramWriteBytes)
        }
    }

    @Test("Max and Min of run-time maps (two maps, three, a per-channel constant, a scalar) run as ELTWISE")
    func minMaxOnTheVectorUnit() throws {
        var b = FusionTests.Builder()
        let a = b.conv("x", cin: 3, cout: 8, k: 3, pad: 1, relu: false)
        let c = b.conv("x", cin: 3, cout: 8, k: 1, relu: false)
        let channel = b.weight([8, 1, 1]), scalar = b.weight([])
        let larger = b.node(.max, [a, c])
        let smallest = b.node(.min, [larger, a, c])
        let clipped = b.node(.max, [b.node(.min, [smallest, channel]), scalar])
        let graph = try b.graph(input: [1, 3, 20, 20], output: clipped)
        for config in ["df1", "df1-small"].compactMap(AcceleratorConfig.preset(named:)) {
            let (_, program) = try Self.compile(graph, config: config)
            #expect(!program.instructions.contains { $0.engine == .host })
            let kinds = Set(
                program.instructions.compactMap { instruction -> EltwiseKind? in
                    if case .eltwise(let e) = instruction.operation { return e.kind } else { return nil }
                })
            #expect(kinds == [.max, .min], "\(kinds)")
            for difference in try Verification.run(reference: graph, program: program) {
                #expect(difference.passed, "\(config.name): \(difference.description)")
            }
            let run = try Executor.run(program, inputs: Verification.randomInputs(for: graph))
            #expect(Self.predictedBytes(program) == run.stats.dramReadBytes + run.stats.dramWriteBytes)
        }
    }

    @Test("Sqrt of a run-time map runs as ACT, matching the interpreter")
    func sqrtOnTheVectorUnit() throws {
        var b = FusionTests.Builder()
        let root = b.node(.sqrt, [b.node(.abs, ["x"])])
        let y = b.conv(root, cin: 3, cout: 8, k: 3, pad: 1)
        let graph = try b.graph(input: [1, 3, 20, 20], output: y)
        let (_, program) = try Self.compile(graph)
        let acts = program.instructions.compactMap { instruction -> ActivationKind? in
            if case .act(let a) = instruction.operation { return a.activation.kind } else { return nil }
        }
        #expect(acts.contains(.abs) && acts.contains(.sqrt), "\(acts)")
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.passed, "\(difference.description)")
        }
    }

    @Test(
        "an opset-9 exporter's idioms (NHWC transposes, Constant weights, SE with HardSigmoid, HardSwish with Div, Upsample FPN, ConvTranspose) match onnxruntime"
    )
    func exporterIdiomsMatchOnnxruntime() throws {
        let (canonical, program) = try Self.compile(
            try ImportFixtures.compile(ImportFixtures.path("exporter_idioms.onnx")))
        let kinds = canonical.nodes.map(\.kind)
        #expect(!kinds.contains { [.constant, .div, .clip, .hardSigmoid, .relu].contains($0) }, "\(kinds)")
        #expect(kinds.contains(.upsample) && kinds.contains(.convTranspose) && kinds.contains(.globalAveragePool))
        #expect(canonical.nodes.first { $0.name == "down" }?.activation?.fused.kind == .hardSwish)
        #expect(canonical.initializers["stem_w"] != nil, "Constant weights become initializers")
        let input = try NPY.read(path: ImportFixtures.path("exporter_idioms.input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("exporter_idioms.expected.npy"))
        let output = try #require(try Self.run(program, ["input": input]).outputs["output"])
        #expect(output.shape == [1, 32, 32, 8])
        let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
        #expect(comparison.passes, "\(comparison)")
    }

    @Test(
        "a sub-pixel network (SpaceToDepth, DepthToSpace in DCR and CRD order) runs as DMA copies and matches onnxruntime"
    )
    func spaceDepthMatchesOnnxruntime() throws {
        let (canonical, program) = try Self.compile(try ImportFixtures.compile(ImportFixtures.path("space_depth.onnx")))
        #expect(canonical.nodes.filter { [.depthToSpace, .spaceToDepth].contains($0.kind) }.count == 3)
        try Self.expectOnAccelerator(program, matching: "space_depth")
    }

    @Test(
        "Expand of a pooled vector and Tile of maps along channels and space run as broadcast copies, matching onnxruntime"
    )
    func broadcastCopiesMatchOnnxruntime() throws {
        let (canonical, program) = try Self.compile(
            try ImportFixtures.compile(ImportFixtures.path("broadcast_copies.onnx")))
        #expect(canonical.nodes.filter { $0.kind == .tile }.count == 2)
        #expect(canonical.nodes.contains { $0.kind == .expand })
        try Self.expectOnAccelerator(program, matching: "broadcast_copies")
    }

    /// The program runs without a host instruction, its predicted bytes are
    /// the executor's, and its output matches onnxruntime's for the fixture's input.
    static func expectOnAccelerator(_ program: Program, matching name: String) throws {
        #expect(!program.instructions.contains { $0.engine == .host }, "\(name) falls back to the host")
        let input = try NPY.read(path: ImportFixtures.path("\(name).input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("\(name).expected.npy"))
        let result = try Self.run(program, ["input": input])
        #expect(Self.predictedBytes(program) == result.stats.dramReadBytes + result.stats.dramWriteBytes)
        let output = try #require(result.outputs["output"])
        let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
        #expect(comparison.passes, "\(comparison)")
    }

    @Test("exporters' SiLU, GELU and Mish, fused into the convolutions, match onnxruntime's output on the accelerator")
    func activationIdiomsMatchOnnxruntime() throws {
        let (canonical, program) = try Self.compile(
            try ImportFixtures.compile(ImportFixtures.path("activation_idioms.onnx")))
        #expect(canonical.nodes.map { $0.activation?.fused.kind } == [.silu, .gelu, .mish, .geluTanh])
        let input = try NPY.read(path: ImportFixtures.path("activation_idioms.input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("activation_idioms.expected.npy"))
        let output = try #require(try Self.run(program, ["input": input]).outputs["output"])
        let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
        #expect(comparison.passes, "\(comparison)")
    }

    @Test(
        "shape logic around a CNN (Tile, Shape, ReduceProd, Size, Range, masks, Where, Expand) folds away; the program matches onnxruntime"
    )
    func shapeArithmeticMatchesOnnxruntime() throws {
        let (canonical, program) = try Self.compile(
            try ImportFixtures.compile(ImportFixtures.path("shape_arithmetic.onnx")))
        // Only the CNN is left: every shape op became a constant, the
        // Tiled bias joined the Conv and the mask's Mul and the offset the Gemm.
        #expect(canonical.nodes.map(\.kind) == [.conv, .reshape, .gemm], "\(canonical.nodes.map(\.name))")
        let input = try NPY.read(path: ImportFixtures.path("shape_arithmetic.input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("shape_arithmetic.expected.npy"))
        let output = try #require(try Self.run(program, ["input": input]).outputs["output"])
        let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
        #expect(comparison.passes, "\(comparison)")
    }

    @Test(
        "math on a run-time map: a mask and Where are interpreted but reported as not lowerable, every node at once; Neg, Abs, Sqrt, Max and Tile are lowered"
    )
    func runtimeMathIsReported() throws {
        let f32 = { (shape: [Int]) in ValueInfo(TensorType(dtype: .float32, shape: shape)) }
        let graph = Graph(
            name: "g", opsetVersion: 13, inputs: ["x"], outputs: ["tiled"],
            nodes: [
                Node(name: "negate", kind: .neg, inputs: ["x"], outputs: ["n"]),
                Node(name: "magnitude", kind: .abs, inputs: ["n"], outputs: ["a"]),
                Node(name: "root", kind: .sqrt, inputs: ["a"], outputs: ["r"]),
                Node(name: "floor_at_half", kind: .max, inputs: ["r", "half"], outputs: ["m"]),
                Node(name: "positive", kind: .greater, inputs: ["m", "half"], outputs: ["p"]),
                Node(name: "masked", kind: .where, inputs: ["p", "m", "half"], outputs: ["w"]),
                Node(name: "tile", kind: .tile, inputs: ["w", "repeats"], outputs: ["tiled"])
            ],
            initializers: [
                "half": Tensor(shape: [], floats: [0.5]), "repeats": Tensor(shape: [4], ints: [1, 1, 2, 1])
            ],
            values: ["x": f32([1, 2, 4, 4])])
        let error = #expect(throws: DFCError.self) { try Self.compile(graph) }
        let message = error?.message ?? ""
        for name in [
            "masked (Where)"
        ] {
            #expect(message.contains(name), "\(name) missing from: \(message)")
        }
        // Neg, Abs and Sqrt are activations on the vector unit, a run-time Tile a broadcast copy.
        for name in ["negate (Neg)", "magnitude (Abs)", "root (Sqrt)", "floor_at_half (Max)", "tile (Tile)"] {
            #expect(!message.contains(name), "\(name) is lowered: \(message)")
        }
        #expect(message.contains("positive (Greater): produces bool values at run time"), "\(message)")
        // The interpreter runs it all the same.
        let x = Tensor(shape: [1, 2, 4, 4], floats: (0..<32).map { Float($0) - 16 })
        let y = try #require(try Interpreter.run(graph, inputs: ["x": x])["tiled"])
        #expect(y.shape == [1, 2, 8, 4])
        #expect(y.floats[0] == 4 && y.floats[16] == 4)
    }

    /// Every ONNX test case whose ops the importer supports: compile, run on
    /// the accelerator, compare with the expected outputs. Cases codegen
    /// cannot lower are listed with the reason.
    @Test("ONNX test models run on the accelerator and match their expected outputs")
    func conformance() throws {
        let directory = TestPaths.conformance
        let manifest = try ConformanceManifest.load(from: directory)
        let skips = try ConformanceSkips.load()
        let skipped = skips.reasons
        var passed = 0, failed: [String] = [], unlowerable: [String] = [], unsupported = 0
        for entry in manifest.cases where skipped[entry.key] == nil {
            let caseDirectory = directory.appendingPathComponent(entry.path)
            var graph: Graph
            do {
                graph = try ONNXImporter.load(path: caseDirectory.appendingPathComponent("model.onnx").path)
                try graph.checkSupported()
            } catch { unsupported += 1; continue }
            do {
                let sets = try ConformanceDataSet.all(in: caseDirectory, graph: graph)
                // Shapes are static and weights are program constants on this accelerator.
                let frozen = graph.shapeDefiningInputs + graph.parameterInputs
                try graph.freeze(sets[0].inputs.filter { frozen.contains($0.key) })
                var bindings: [String: [Int]] = [:]
                for input in graph.inputs where graph.values[input]?.type == nil {
                    bindings[input] = sets[0].inputs[input]?.shape
                }
                try PassManager(passes: [InferShapes()]).run(&graph, options: CompileOptions(inputShapes: bindings))
                let program: Program
                do {
                    program = try Self.compile(graph).program
                } catch let error as DFCError {
                    unlowerable.append("\(entry.key): \(error.message)")
                    continue
                }
                let inputs = sets[0].inputs.filter { graph.inputs.contains($0.key) }
                let result = try Self.run(program, inputs)
                var ok = Self.predictedBytes(program) == result.stats.dramReadBytes + result.stats.dramWriteBytes
                if !ok { failed.append("\(entry.key): predicted bytes differ from executed") }
                let tolerance =
                    skips.looserTolerances[entry.key] ?? (entry.tolerance.rtol ?? 1e-4, entry.tolerance.atol ?? 1e-5)
                for (name, expected) in sets[0].outputs {
                    guard let got = result.outputs[name] else {
                        ok = false; failed.append("\(entry.key): no output \(name)"); continue
                    }
                    let comparison = TensorComparison(got, expected, rtol: tolerance.0, atol: tolerance.1)
                    let good =
                        entry.tolerance.rel_l2.map {
                            comparison.shapeMismatch == nil && comparison.relativeL2 <= max($0, 1e-4)
                        } ?? comparison.passes
                    if !good { ok = false; failed.append("\(entry.key) output \(name): \(comparison)") }
                }
                if ok { passed += 1 }
            } catch {
                failed.append("\(entry.key): \(error)")
            }
        }
        print(
            "codegen conformance: \(passed) passed, \(failed.count) failed, \(unlowerable.count) not lowerable, \(unsupported) with unsupported ops"
        )
        print("not lowerable to the accelerator:\n" + unlowerable.map { "  " + $0 }.joined(separator: "\n"))
        #expect(failed.isEmpty, "\(failed.count) failures:\n\(failed.joined(separator: "\n"))")
        #expect(passed >= 270, "fewer ONNX test models run on the accelerator than before")
    }
}
