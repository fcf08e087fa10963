import Accelerator
import DFCCommands
import Tensors
import Testing
@testable import Compiler
@testable import GraphIR
@testable import GraphPasses

/// DepthToSpace, SpaceToDepth and run-time Expand and Tile: lowered as DMA
/// copies, with the interpreter's bits, every input byte read once and every
/// output byte written once, at SRAM sizes that force several tiles.
@Suite("Rearranging copies")
struct RearrangeTests {
    /// One op on the graph input x, alone in the graph.
    static func graph(
        _ kind: OpKind, input: [Int], attributes: [String: Attribute] = [:], constant: Tensor? = nil
    ) throws -> Graph {
        var b = FusionTests.Builder()
        var inputs = ["x"]
        if let constant {
            b.initializers["argument"] = constant
            inputs.append("argument")
        }
        let y = b.node(kind, inputs, attributes)
        return try b.graph(input: input, output: y)
    }

    /// Compiles at `sram` bytes: only loads and stores, bit-exact against the
    /// interpreter, and DRAM traffic exactly input + output bytes, as predicted.
    static func expectCopies(_ graph: Graph, sram: Int, file: String = #fileID, line: Int = #line) throws {
        var config = AcceleratorConfig.df1
        config.sramBytes = sram
        let (program, layers) = try Codegen.compile(graph, options: Codegen.Options(config: config))
        let location = SourceLocation(fileID: file, filePath: file, line: line, column: 1)
        #expect(layers.map(\.engine) == ["load/store"], sourceLocation: location)
        #expect(program.instructions.allSatisfy { [.load, .store].contains($0.opcode) }, sourceLocation: location)
        for difference in try Verification.run(reference: graph, program: program) {
            #expect(difference.comparison.maxAbsoluteError == 0, "\(difference.description)", sourceLocation: location)
        }
        let run = try Executor.run(program, inputs: Verification.randomInputs(for: graph))
        let moved = run.stats.dramReadBytes + run.stats.dramWriteBytes
        #expect(CodegenEndToEndTests.predictedBytes(program) == moved, sourceLocation: location)
        let bytes = { (value: String) in 4 * (graph.type(of: value)?.count ?? 0) }
        #expect(moved == bytes("x") + bytes(graph.outputs[0]), sourceLocation: location)
    }

    @Test(
        "DepthToSpace and SpaceToDepth, both orders, in one tile and in many",
        arguments: [
            (OpKind.depthToSpace, [1, 8, 2, 3], 2, "DCR"), (.depthToSpace, [2, 18, 5, 4], 3, "CRD"),
            (.depthToSpace, [1, 64, 24, 20], 2, "DCR"), (.depthToSpace, [1, 36, 16, 30], 3, "CRD"),
            (.spaceToDepth, [2, 2, 6, 6], 2, "DCR"), (.spaceToDepth, [1, 3, 12, 9], 3, "CRD"),
            (.spaceToDepth, [1, 16, 48, 40], 2, "DCR"), (.spaceToDepth, [1, 5, 32, 64], 4, "CRD")
        ])
    func spaceDepth(kind: OpKind, input: [Int], blocksize: Int, mode: String) throws {
        let graph = try Self.graph(
            kind, input: input, attributes: ["blocksize": .int(blocksize), "mode": .string(mode)])
        for sram in [1 << 20, 8 << 10] { try Self.expectCopies(graph, sram: sram) }
    }

    @Test(
        "Expand and Tile of a run-time map: broadcast axes, repeats and both",
        arguments: [
            (OpKind.expand, [1, 16, 1, 1], [1, 16, 24, 20]), (.expand, [3, 1], [2, 4, 3, 5]),
            (.expand, [1, 1, 20, 24], [1, 12, 20, 24]), (.tile, [1, 8, 6, 5], [1, 3, 2, 4]),
            (.tile, [1, 32, 20, 16], [1, 2, 1, 1]), (.tile, [2, 1, 7], [1, 5, 3])
        ])
    func broadcastCopies(kind: OpKind, input: [Int], argument: [Int]) throws {
        let constant = Tensor(shape: [argument.count], ints: argument.map { Int64($0) })
        let graph = try Self.graph(kind, input: input, constant: constant)
        for sram in [1 << 20, 8 << 10] { try Self.expectCopies(graph, sram: sram) }
    }

    @Test("a blocksize that does not divide the channels, or the height and width, is one error naming the node")
    func badBlocksize() throws {
        for (kind, input, blocksize, words) in [
            (OpKind.depthToSpace, [1, 12, 4, 4], 3, "squared (9) does not divide the 12 channels"),
            (.spaceToDepth, [1, 3, 10, 9], 2, "does not divide the height and width"),
            (.depthToSpace, [1, 4, 4, 4], 0, "blocksize must be a positive integer")
        ] {
            let error = #expect(throws: DFCError.self) {
                try Self.graph(kind, input: input, attributes: ["blocksize": .int(blocksize)])
            }
            let message = error?.message ?? ""
            #expect(message.contains("node '\(kind.rawValue.lowercased())1'") && message.contains(words), "\(message)")
            #expect(error?.kind == .badInput)
        }
        let error = #expect(throws: DFCError.self) {
            try Self.graph(
                .depthToSpace, input: [1, 8, 2, 2], attributes: ["blocksize": .int(2), "mode": .string("RDC")])
        }
        #expect(error?.message.contains("mode 'RDC' is neither DCR nor CRD") == true, "\(error?.message ?? "")")
    }
}
