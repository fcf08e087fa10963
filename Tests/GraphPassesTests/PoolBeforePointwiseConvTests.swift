import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses

/// An average pool of a 1x1 convolution pools the convolution's input (a DenseNet transition).
@Suite("Pool before pointwise conv")
struct PoolBeforePointwiseConvTests {
    static func f32(_ shape: [Int]) -> TensorType { TensorType(dtype: .float32, shape: shape) }

    /// x (1 x `channels` x 9 x 11) -> ReLU -> `conv` with weights `kernel` x `kernel` -> `pool` as y
    /// (and `other` readers).
    static func graph(
        channels: Int = 8, outChannels: Int = 4, kernel: Int = 1, convAttributes: [String: Attribute] = [:],
        activation: Activation? = nil, pool: [String: Attribute] = stride2, other: [Node] = []
    ) throws -> Graph {
        var rng = SeededRandom(seed: 12)
        let nodes = [
            Node(name: "relu", kind: .relu, inputs: ["x"], outputs: ["r"]),
            Node(
                name: "conv", kind: .conv, inputs: ["r", "w", "b"], outputs: ["c"], attributes: convAttributes,
                activation: activation),
            Node(name: "pool", kind: .averagePool, inputs: ["c"], outputs: ["y"], attributes: pool)
        ]
        var g = Graph(
            name: "transition", opsetVersion: 13, inputs: ["x"], outputs: ["y"] + other.map { $0.outputs[0] },
            nodes: nodes + other,
            initializers: [
                "w": rng.tensor(f32([outChannels, channels, kernel, kernel])), "b": rng.tensor(f32([outChannels]))
            ],
            values: ["x": ValueInfo(f32([1, channels, 9, 11]))])
        try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
        return g
    }

    /// 2x2, stride 2, ceil mode: the last row and column of windows hold one or two cells.
    static let stride2: [String: Attribute] = [
        "kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)
    ]

    @Test("the pool moves before the convolution, partial windows included; same values")
    func pooledFirst() throws {
        let after = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph())
        #expect(after.nodes.map(\.kind) == [.relu, .averagePool, .conv])
        #expect(after.nodes.map(\.name) == ["relu", "pool", "conv"])
        #expect(after.nodes[1].inputs == ["r"] && after.nodes[2].outputs == ["y"])
        #expect(after.type(of: after.nodes[1].outputs[0])?.shape == [1, 8, 5, 6])
        #expect(after.type(of: "y")?.shape == [1, 4, 5, 6])
    }

    @Test(
        "a padded pool, a wider or strided kernel, an activation, another reader or a wider pooled map stay",
        arguments: 0..<6)
    func stays(variant: Int) throws {
        let other = [Node(name: "neg", kind: .neg, inputs: ["c"], outputs: ["n"])]
        let padded = Self.stride2.merging(["pads": .ints([1, 1, 1, 1]), "count_include_pad": .int(1)]) { $1 }
        let graphs = [
            try Self.graph(pool: padded),
            try Self.graph(kernel: 3, convAttributes: ["pads": .ints([1, 1, 1, 1])]),
            try Self.graph(activation: .relu),
            try Self.graph(other: other),
            // 64 channels pooled (64 x 30 cells) outnumber 2 channels before the pool (2 x 99).
            try Self.graph(channels: 64, outChannels: 2),
            try Self.graph(convAttributes: ["strides": .ints([2, 2])])
        ]
        let before = graphs[variant]
        let after = try expectPassPreserves(CanonicalizeArithmetic(), on: before)
        #expect(after.nodes.map(\.kind) == before.nodes.map(\.kind))
    }
}
