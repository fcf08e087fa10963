import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses

/// An AveragePool over the whole unpadded map is a GlobalAveragePool (onnx's
/// light ResNet-50 ends with a 7x7 AveragePool).
@Suite("Whole-map average pool")
struct WholeMapAverageTests {
    /// A convolution of x (3 channels, 7x9) and `attributes`' AveragePool of it as y.
    static func graph(_ attributes: [String: Attribute]) throws -> Graph {
        var rng = SeededRandom(seed: 4)
        let f32 = { TensorType(dtype: .float32, shape: $0) }
        var g = Graph(
            name: "average", opsetVersion: 13, inputs: ["x"], outputs: ["y"],
            nodes: [
                Node(name: "c", kind: .conv, inputs: ["x", "w"], outputs: ["p"], activation: .relu),
                Node(name: "pool", kind: .averagePool, inputs: ["p"], outputs: ["y"], attributes: attributes)
            ],
            initializers: ["w": rng.tensor(f32([5, 3, 1, 1]))], values: ["x": ValueInfo(f32([1, 3, 7, 9]))])
        try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
        return g
    }

    @Test("a window of the whole map, unpadded, becomes a GlobalAveragePool; same values")
    func wholeWindow() throws {
        for attributes: [String: Attribute] in [
            ["kernel_shape": .ints([7, 9])],
            ["kernel_shape": .ints([7, 9]), "strides": .ints([1, 1]), "pads": .ints([0, 0, 0, 0])],
            ["kernel_shape": .ints([7, 9]), "strides": .ints([2, 3]), "auto_pad": .string("VALID")]
        ] {
            let after = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph(attributes))
            #expect(after.nodes.map(\.kind) == [.conv, .globalAveragePool])
            #expect(after.nodes.last?.outputs == ["y"] && after.nodes.last?.name == "pool")
        }
    }

    @Test("a smaller or padded window stays an AveragePool")
    func otherWindows() throws {
        for attributes: [String: Attribute] in [
            ["kernel_shape": .ints([7, 7])],
            ["kernel_shape": .ints([7, 9]), "pads": .ints([1, 1, 1, 1]), "count_include_pad": .int(1)]
        ] {
            let after = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph(attributes))
            #expect(after.nodes.map(\.kind) == [.conv, .averagePool])
        }
    }
}
