import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses

/// A pool of a channel Concat pools each part (inception modules followed by a stride-2 pool).
@Suite("Pool through concat")
struct PoolThroughConcatTests {
    static func f32(_ shape: [Int]) -> TensorType { TensorType(dtype: .float32, shape: shape) }

    /// Two convolutions of x, their Concat (and `other` readers of it), `pool` of the Concat as y.
    static func graph(pool: OpKind, attributes: [String: Attribute], other: [Node] = []) throws -> Graph {
        var rng = SeededRandom(seed: 9)
        let nodes = [
            Node(
                name: "a", kind: .conv, inputs: ["x", "wa"], outputs: ["pa"],
                attributes: ["pads": .ints([1, 1, 1, 1])], activation: .relu),
            Node(name: "b", kind: .conv, inputs: ["x", "wb"], outputs: ["pb"]),
            Node(name: "cat", kind: .concat, inputs: ["pa", "pb", "x"], outputs: ["c"], attributes: ["axis": .int(1)]),
            Node(name: "pool", kind: pool, inputs: ["c"], outputs: ["y"], attributes: attributes)
        ]
        var g = Graph(
            name: "pool-concat", opsetVersion: 13, inputs: ["x"], outputs: ["y"] + other.map { $0.outputs[0] },
            nodes: nodes + other,
            initializers: ["wa": rng.tensor(f32([4, 3, 3, 3])), "wb": rng.tensor(f32([5, 3, 1, 1]))],
            values: ["x": ValueInfo(f32([1, 3, 9, 11]))])
        try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
        return g
    }

    static let stride2: [String: Attribute] = [
        "kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1]), "ceil_mode": .int(1)
    ]

    @Test(
        "MaxPool and AveragePool of a Concat pool each part right after it, then join; same values",
        arguments: [
            OpKind.maxPool, .averagePool
        ])
    func pooledParts(kind: OpKind) throws {
        let after = try expectPassPreserves(
            CanonicalizeArithmetic(), on: try Self.graph(pool: kind, attributes: Self.stride2))
        // x's pool first (a graph input has no producer), each convolution's right after it.
        #expect(after.nodes.map(\.kind) == [kind, .conv, kind, .conv, kind, .concat])
        #expect(after.nodes.last?.outputs == ["y"] && after.nodes.last?.inputs.count == 3)
        #expect(after.type(of: after.nodes[2].outputs[0])?.shape == [1, 4, 5, 6])
    }

    @Test("a Concat read by anything else keeps its pool")
    func sharedConcatStays() throws {
        let other = [Node(name: "relu", kind: .relu, inputs: ["c"], outputs: ["r"])]
        let after = try expectPassPreserves(
            CanonicalizeArithmetic(), on: try Self.graph(pool: .maxPool, attributes: Self.stride2, other: other))
        #expect(after.nodes.map(\.kind) == [.conv, .conv, .concat, .maxPool, .relu])
    }
}
