import Accelerator
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors
import TestSupport
import Testing
@testable import Compiler

/// A model's large weights stay in its file through the passes (folding a
/// BatchNormalization scales them as they are read) and go from there into
/// the program: the program must be the one compiled from the weights in
/// memory, byte for byte.
@Suite("weights left in the model file")
struct DeferredWeightsTests {
    static let resnet8 = TestPaths.repository.appendingPathComponent("Fixtures/demo/resnet8.onnx").path

    /// The model at `path` imported from its file, canonicalized, and its program.
    static func compile(_ path: String) throws -> (graph: Graph, program: Program) {
        var graph = try ONNXImporter.load(path: path)
        try PassManager().run(&graph, options: CompileOptions())
        let (program, _) = try Codegen.compile(graph, options: Codegen.Options(config: .df1))
        return (graph, program)
    }

    @Test("weights folded in the file give the program compiled from the weights in memory")
    func sameProgramAsInMemory() throws {
        let imported = try ONNXImporter.load(path: Self.resnet8)
        let folded = imported.nodes.filter { $0.kind == .batchNormalization }.count
        #expect(folded > 0)
        let (graph, program) = try Self.compile(Self.resnet8)
        var inMemory = try ONNXImporter.load(data: Data(contentsOf: URL(fileURLWithPath: Self.resnet8)))
        try PassManager().run(&inMemory, options: CompileOptions())
        #expect(inMemory.initializers.values.filter(\.isDeferred).isEmpty)
        // Every BatchNormalization was folded into a convolution whose weights are still in the file.
        #expect(!graph.nodes.contains { $0.kind == .batchNormalization })
        func deferredWeights(_ graph: Graph) -> Int {
            graph.nodes.filter { $0.kind == .conv }.compactMap { graph.initializers[$0.inputs[1]] }.filter(\.isDeferred)
                .count
        }
        #expect(deferredWeights(imported) > 0 && deferredWeights(graph) == deferredWeights(imported))
        #expect(graph == inMemory)
        let (expected, _) = try Codegen.compile(inMemory, options: Codegen.Options(config: .df1))
        let bytes = try program.encoded()
        #expect(bytes == (try expected.encoded()))

        // Written the way dfc compile writes it: one pass, checksummed as it goes, readable.
        let scratch = try ScratchFolder("dfc-deferred-program")
        defer { scratch.remove() }
        let output = scratch.path("resnet8.dfx")
        try OutputFile.write([(OutputFile(output), try program.fileContents())]) {
            try Tensor.checkSources(of: graph.initializers.values)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(bytes))
        #expect(try Program.read(from: output).constants == expected.constants)
    }

    @Test("a model cut short before its program is written: an error naming the model, and no program")
    func truncatedBeforeTheWrite() throws {
        let scratch = try ScratchFolder("dfc-deferred-program")
        defer { scratch.remove() }
        let model = scratch.path("resnet8.onnx")
        try FileManager.default.copyItem(atPath: Self.resnet8, toPath: model)
        let (graph, program) = try Self.compile(model)
        #expect(truncate(model, 2000) == 0)
        let error = #expect(throws: DFCError.self) {
            try OutputFile.write([(OutputFile(scratch.path("resnet8.dfx")), try program.fileContents())]) {
                try Tensor.checkSources(of: graph.initializers.values)
            }
        }
        #expect(error?.file == model && error?.kind == .io)
        #expect(try scratch.entries() == ["resnet8.onnx"])
    }
}
