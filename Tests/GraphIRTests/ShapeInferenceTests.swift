import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR

@Suite("Shape inference")
struct ShapeInferenceTests {
    /// Fixtures with expected shapes, and the bindings their inputs need.
    static let fixtures: [(String, [String: [Int]])] = [
        ("tiny_cnn", [:]), ("ops_conv", [:]), ("ops_eltwise", [:]), ("ops_shape", [:]), ("ops_misc", [:]),
        ("pytorch_shape_chain", [:]), ("opset7", [:]), ("weights_fp16", [:]), ("weights_fp64", [:]),
        ("weights_int", [:]), ("initializer_as_input", [:]), ("external_data", [:]), ("external_data_offsets", [:]),
        ("symbolic_batch", ["input": [1, 3, 16, 16]]), ("no_shape", ["input": [1, 3, 4, 4]]),
        ("symbolic_batch", [:]), ("negative_dims", [:]), ("unknown_spatial", ["input": [1, 3, 12, 20]]),
        ("activation_idioms", [:]), ("shape_arithmetic", [:]), ("space_depth", [:]), ("broadcast_copies", [:])
    ]

    @Test("every value's shape matches what onnxruntime observed", arguments: fixtures)
    func fixtureShapes(name: String, bindings: [String: [Int]]) throws {
        let graph = try ImportFixtures.compile(ImportFixtures.path("\(name).onnx"), inputShapes: bindings)
        let expected = try ImportFixtures.expectedShapes(ImportFixtures.path("\(name).shapes.json"))
        #expect(expected.count >= 2)
        #expect(ImportFixtures.mismatches(graph, expected) == [])
    }

    @Test("--input-shape binds a symbolic batch")
    func symbolicBatch() throws {
        let graph = try ImportFixtures.compile(
            ImportFixtures.path("symbolic_batch.onnx"), inputShapes: ["input": [4, 3, 16, 16]])
        let output = try #require(graph.type(of: graph.outputs[0]))
        #expect(output.shape == [4, 4, 16, 16])
    }

    @Test(
        "unknown shapes and bad bindings are errors naming the value",
        arguments: [
            ("unknown_spatial", [String: [Int]](), "bind them with --input-shape input=1x3xHxW"),
            ("no_shape", [:], "input 'input' has no declared shape"),
            ("symbolic_batch", ["input": [1, 3, 16]], "has rank 3"),
            // Overriding a fixed dim is allowed; the node the new size cannot pass is named.
            ("symbolic_batch", ["input": [1, 4, 16, 16]], "node 'conv' (Conv)"),
            ("tiny_cnn", ["image": [1, 3, 32, 32]], "'image', which is not a graph input"),
            ("shape_mismatch", [:], "do not broadcast"),
            ("conv_channel_mismatch", [:], "expects 5")
        ])
    func errors(name: String, bindings: [String: [Int]], message: String) {
        do {
            _ = try ImportFixtures.compile(ImportFixtures.path("\(name).onnx"), inputShapes: bindings)
            Issue.record("\(name) accepted")
        } catch let error as DFCError {
            #expect(error.message.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("an unknown batch defaults to 1 and a fixed dim may be overridden, each with a note")
    func notes() throws {
        let lines = NoteLines()
        for (name, bindings) in [("negative_dims", [String: [Int]]()), ("tiny_cnn", ["input": [1, 3, 48, 40]])] {
            let graph = try ImportFixtures.compile(
                ImportFixtures.path("\(name).onnx"), inputShapes: bindings, note: { lines.add($0) })
            #expect(graph.outputs.allSatisfy { graph.type(of: $0) != nil })
        }
        #expect(lines.all.count == 2)
        #expect(
            lines.all.first?.contains("the batch (axis 0, declared f32[?,3,16,16]) is unknown and defaults to 1")
                == true)
        #expect(lines.all.last?.contains("axis 2 32 -> 48, axis 3 32 -> 40") == true)
    }

    @Test("window arithmetic follows ONNX (floor, ceil mode, SAME padding)")
    func windows() {
        #expect(ShapeMath.windowOutput(input: 224, kernel: 7, stride: 2, dilation: 1, padBegin: 3, padEnd: 3) == 112)
        #expect(
            ShapeMath.windowOutput(input: 16, kernel: 3, stride: 2, dilation: 1, padBegin: 1, padEnd: 1, ceilMode: true)
                == 9)
        #expect(
            ShapeMath.windowOutput(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: true)
                == 3)
        #expect(
            ShapeMath.windowOutput(input: 4, kernel: 2, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: true)
                == 2)
        #expect(ShapeMath.autoPads(mode: "SAME_UPPER", input: 7, kernel: 3, stride: 2, dilation: 1) == (1, 1))
        #expect(ShapeMath.autoPads(mode: "SAME_LOWER", input: 8, kernel: 4, stride: 1, dilation: 1) == (2, 1))
        #expect(ShapeMath.broadcast([1, 3, 1, 5], [3, 4, 1]) == [1, 3, 4, 5])
        #expect(ShapeMath.broadcast([1, 3, 1, 5], [4, 1, 1]) == nil)
        #expect(ShapeMath.broadcast([3], [4]) == nil)
        #expect(ShapeMath.sliceRange(start: -1, end: Int64.min, step: -2, dim: 5) == (4, -2, 3))
        #expect(ShapeMath.sliceRange(start: 1, end: Int64.max, step: 1, dim: 5) == (1, 1, 4))
    }
}

/// Lines a compile notes, in order.
final class NoteLines: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    var all: [String] { lock.withLock { lines } }
    func add(_ line: String) { lock.withLock { lines.append(line) } }
}
