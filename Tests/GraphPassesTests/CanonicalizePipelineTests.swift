import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses
@testable import ONNXImport
@testable import ReferenceInterpreter

/// The whole canonicalization pipeline on real graphs: what it computes
/// must not change, and what it leaves must be in canonical form.
@Suite("Canonicalization pipeline", .serialized)
struct CanonicalizePipelineTests {
    /// The graph after shape inference only (the reference) and after the
    /// whole pipeline.
    static func compile(_ path: String) throws -> (reference: Graph, canonical: Graph) {
        var reference = try ONNXImporter.load(path: path)
        var canonical = reference
        try PassManager(passes: [InferShapes()]).run(&reference, options: CompileOptions())
        try PassManager().run(&canonical, options: CompileOptions())
        return (reference, canonical)
    }

    /// Runs both graphs on the same seeded inputs and compares every output,
    /// element-wise or, for deep networks, by relative L2 error (bounded as
    /// the conformance tests bound them against onnxruntime).
    static func expectSameResults(
        _ reference: Graph, _ canonical: Graph, relativeL2: Double? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(
            canonical.inputs == reference.inputs && canonical.outputs == reference.outputs,
            sourceLocation: sourceLocation)
        let inputs = try randomInputs(for: reference, seed: 3)
        let expected = try Interpreter.run(reference, inputs: inputs)
        let got = try Interpreter.run(canonical, inputs: inputs)
        for name in reference.outputs {
            let comparison = TensorComparison(try #require(got[name]), try #require(expected[name]))
            if let relativeL2 {
                #expect(
                    comparison.shapeMismatch == nil && comparison.relativeL2 <= relativeL2, "\(name): \(comparison)",
                    sourceLocation: sourceLocation)
            } else {
                #expect(comparison.passes, "\(name): \(comparison)", sourceLocation: sourceLocation)
            }
        }
    }

    /// What no canonical graph contains: constant subgraphs, pass-through
    /// and view ops other than Reshape, non-canonical fully-connected layers.
    static func expectCanonical(_ graph: Graph, sourceLocation: SourceLocation = #_sourceLocation) {
        let gone: Set<OpKind> = [
            .constant, .constantOfShape, .shape, .identity, .dropout, .flatten, .squeeze, .unsqueeze
        ]
        let left = graph.nodes.filter { gone.contains($0.kind) }.map(\.name)
        #expect(left.isEmpty, "left in \(graph.name): \(left)", sourceLocation: sourceLocation)
        for node in graph.nodes {
            #expect(
                node.inputs.contains { !$0.isEmpty && graph.initializers[$0] == nil },
                "\(node.name) computes a constant", sourceLocation: sourceLocation)
            if node.kind == .reshape, let shape = node.input(1) {
                #expect(
                    graph.initializers[shape]?.ints.map { Int($0) } == graph.type(of: node.outputs[0])?.shape,
                    "\(node.name): not a view to a constant shape", sourceLocation: sourceLocation)
            }
            if node.kind == .gemm, graph.initializers[node.inputs[1]] != nil {
                #expect(
                    LowerFullyConnected.isCanonical(node, in: graph), "\(node.name) is not canonical",
                    sourceLocation: sourceLocation)
            }
        }
    }

    @Test(
        "fixtures compute the same after canonicalization",
        arguments: [
            "tiny_cnn", "ops_conv", "ops_eltwise", "ops_shape", "ops_misc", "pytorch_shape_chain", "opset7",
            "weights_fp16", "weights_fp64", "weights_int", "initializer_as_input", "activation_idioms",
            "shape_arithmetic", "space_depth", "broadcast_copies"
        ])
    func fixture(name: String) throws {
        let (reference, canonical) = try Self.compile(ImportFixtures.path("\(name).onnx"))
        try Self.expectSameResults(reference, canonical)
        Self.expectCanonical(canonical)
    }

    @Test("tiny_cnn: BatchNorm folded, Relu fused into Conv and Add, Flatten a view")
    func tinyCNN() throws {
        let (_, graph) = try Self.compile(ImportFixtures.path("tiny_cnn.onnx"))
        #expect(
            graph.nodes.map(\.kind) == [
                .conv, .maxPool, .conv, .add, .conv, .globalAveragePool, .reshape, .gemm, .softmax
            ])
        #expect(graph.node("conv1")?.activation == .relu)
        #expect(graph.node("add1")?.activation == .relu)
        #expect(!graph.initializers.keys.contains { $0.hasPrefix("bn1") })
    }

    @Test("pytorch_shape_chain: the Shape -> Gather -> Concat chain becomes one constant shape")
    func shapeChain() throws {
        let (_, graph) = try Self.compile(ImportFixtures.path("pytorch_shape_chain.onnx"))
        #expect(graph.nodes.map(\.kind) == [.conv, .reshape, .gemm])
        #expect(graph.nodes[0].activation == .relu)
    }

    @Test("activation_idioms: each spelled-out activation fuses into its Conv; both graphs match onnxruntime's output")
    func activationIdioms() throws {
        let (reference, canonical) = try Self.compile(ImportFixtures.path("activation_idioms.onnx"))
        #expect(canonical.nodes.map(\.kind) == [.conv, .conv, .conv, .conv])
        #expect(canonical.nodes.map(\.activation) == [.silu, .gelu, .mish, .geluTanh])
        let input = try NPY.read(path: ImportFixtures.path("activation_idioms.input.npy"))
        let expected = try NPY.read(path: ImportFixtures.path("activation_idioms.expected.npy"))
        for graph in [reference, canonical] {
            let output = try #require(try Interpreter.run(graph, inputs: ["input": input])["output"])
            let comparison = TensorComparison(output, expected, rtol: 1e-4, atol: 1e-5)
            #expect(comparison.passes, "\(graph.nodes.count) nodes: \(comparison)")
        }
    }

    static func light(_ name: String) -> String {
        TestPaths.conformance.appendingPathComponent("light/\(name)/model.onnx").path
    }

    @Test("light ResNet-50: no BatchNorm, Identity, Dropout, Constant or Shape left; every Relu fused")
    func resNet50() throws {
        let (reference, canonical) = try Self.compile(Self.light("resnet50"))
        let gone: Set<OpKind> = [.batchNormalization, .identity, .dropout, .constant, .shape, .relu]
        #expect(canonical.nodes.filter { gone.contains($0.kind) }.isEmpty)
        let convs = canonical.nodes.filter { $0.kind == .conv }
        #expect(convs.count == 53)
        #expect(
            convs.filter { $0.activation == .relu }.count == 33,
            "three convs per block end without Relu before the residual sum")
        // The residual Sums of two became Adds (which groups take in), each with its Relu.
        #expect(canonical.nodes.filter { $0.kind == .add && $0.activation == .relu }.count == 16)
        #expect(!canonical.nodes.contains { $0.kind == .sum })
        Self.expectCanonical(canonical)
        try Self.expectSameResults(reference, canonical, relativeL2: 1e-4)
    }

    @Test("light Inception v1: Dropout removed, every Relu fused into its Conv")
    func inceptionV1() throws {
        let (reference, canonical) = try Self.compile(Self.light("inception_v1"))
        #expect(canonical.nodes.filter { [.relu, .dropout].contains($0.kind) }.isEmpty)
        #expect(canonical.nodes.filter { $0.kind == .conv }.allSatisfy { $0.activation == .relu })
        Self.expectCanonical(canonical)
        try Self.expectSameResults(reference, canonical, relativeL2: 1e-4)
    }
}
