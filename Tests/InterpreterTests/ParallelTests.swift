import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import ONNXImport
@testable import ReferenceInterpreter

/// The interpreter splits convolutions and matrix products across the cores; whatever the split, every
/// output value must be summed in the same order, so the results are the serial ones bit for bit.
@Suite("Reference interpreter on all cores")
struct ParallelTests {
    /// The same bits, NaN payloads and signed zeros included.
    static func bits(_ tensor: Tensor) -> [UInt32] { tensor.floats.map(\.bitPattern) }

    @Test(
        "whole models give the serial results bit for bit",
        arguments: ["Fixtures/demo/resnet8.onnx", "Fixtures/onnx/ops_conv.onnx"])
    func models(path: String) throws {
        let graph = try ONNXImporter.load(path: TestPaths.repository.appendingPathComponent(path).path)
        var random = SeededRandom(seed: 21)
        var inputs: [String: Tensor] = [:]
        for name in graph.inputs { inputs[name] = random.tensor(graph.type(of: name)!) }
        let parallel = try Interpreter.run(graph, inputs: inputs)
        let serial = try Parallel.serially { try Interpreter.run(graph, inputs: inputs) }
        #expect(!parallel.isEmpty && parallel.keys.sorted() == serial.keys.sorted())
        for (name, tensor) in parallel {
            #expect(tensor.shape == serial[name]!.shape)
            #expect(Self.bits(tensor) == Self.bits(serial[name]!), "output '\(name)' differs")
        }
    }

    /// Each of the product's splits (rows, columns, dot products of a transposed B), with sizes that
    /// are not multiples of the blocks; accumulating into a C that is not zero.
    @Test("matrix products give the serial results bit for bit", arguments: [(64, 300, 700), (3, 1000, 300)])
    func products(m: Int, n: Int, k: Int) {
        var random = SeededRandom(seed: 34)
        let a = (0..<m * k).map { _ in random.nextSigned() }
        let b = (0..<k * n).map { _ in random.nextSigned() }
        let c = (0..<m * n).map { _ in random.nextSigned() }
        for transposedB in [false, true] {
            var parallel = c, serial = c
            MatrixMultiply.multiply(m: m, n: n, k: k, a: a, b: b, transposedB: transposedB, into: &parallel)
            Parallel.serially {
                MatrixMultiply.multiply(m: m, n: n, k: k, a: a, b: b, transposedB: transposedB, into: &serial)
            }
            #expect(parallel.map(\.bitPattern) == serial.map(\.bitPattern), "transposedB \(transposedB)")
            #expect(parallel != c)
        }
    }
}
