import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses
@testable import ReferenceInterpreter

/// Exporter idioms: HardSwish spelled out in arithmetic, Div by a constant.
@Suite("Canonicalize arithmetic")
struct CanonicalizeArithmeticTests {
    static func f32(_ shape: [Int]) -> TensorType { TensorType(dtype: .float32, shape: shape) }
    static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], floats: [v]) }

    /// conv -> `tail` (nodes reading "c", ending in "y"), with the constants the idioms use.
    static func graph(_ tail: [Node], extra: [String: Tensor] = [:]) throws -> Graph {
        var rng = SeededRandom(seed: 5)
        var initializers: [String: Tensor] = [
            "w": rng.tensor(f32([4, 2, 3, 3])), "three": scalar(3), "zero": scalar(0), "six": scalar(6),
            "sixth": scalar(1 / 6)
        ]
        initializers.merge(extra) { a, _ in a }
        let conv = Node(
            name: "conv", kind: .conv, inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])])
        var g = Graph(
            name: "idiom", opsetVersion: 13, inputs: ["x"], outputs: ["y"], nodes: [conv] + tail,
            initializers: initializers, values: ["x": ValueInfo(f32([1, 2, 6, 6]))])
        try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
        return g
    }

    static let shiftedRelu6 = [
        Node(name: "add3", kind: .add, inputs: ["c", "three"], outputs: ["s"]),
        Node(name: "clip", kind: .clip, inputs: ["s", "zero", "six"], outputs: ["r"])
    ]

    @Test(
        "HardSwish spelled out becomes one HardSwish",
        arguments: [
            // x * Clip(x+3, 0, 6) / 6
            shiftedRelu6 + [
                Node(name: "mul", kind: .mul, inputs: ["c", "r"], outputs: ["m"]),
                Node(name: "div", kind: .div, inputs: ["m", "six"], outputs: ["y"])
            ],
            // x * (Clip(x+3, 0, 6) / 6), operands swapped
            shiftedRelu6 + [
                Node(name: "div", kind: .div, inputs: ["r", "six"], outputs: ["h"]),
                Node(name: "mul", kind: .mul, inputs: ["h", "c"], outputs: ["y"])
            ],
            // (Clip(3+x, 0, 6) * x) * (1/6)
            [
                Node(name: "add3", kind: .add, inputs: ["three", "c"], outputs: ["s"]),
                Node(name: "clip", kind: .clip, inputs: ["s", "zero", "six"], outputs: ["r"]),
                Node(name: "mul", kind: .mul, inputs: ["r", "c"], outputs: ["m"]),
                Node(name: "scale", kind: .mul, inputs: ["m", "sixth"], outputs: ["y"])
            ],
            // x * HardSigmoid(x) with alpha 1/6
            [
                Node(
                    name: "hsig", kind: .hardSigmoid, inputs: ["c"], outputs: ["h"],
                    attributes: ["alpha": .float(1 / 6), "beta": .float(0.5)]),
                Node(name: "mul", kind: .mul, inputs: ["c", "h"], outputs: ["y"])
            ]
        ])
    func hardSwish(tail: [Node]) throws {
        let g = try Self.graph(tail)
        var after = try expectPassPreserves(CanonicalizeArithmetic(), on: g, seed: 3)
        try EliminateDeadCode().run(&after, options: CompileOptions())
        #expect(after.nodes.map(\.kind) == [.conv, .hardSwish], "\(after.nodes.map(\.name))")
    }

    @Test("through the whole pipeline the HardSwish ends as the convolution's fused activation")
    func fusesIntoProducer() throws {
        var g = try Self.graph(
            Self.shiftedRelu6 + [
                Node(name: "mul", kind: .mul, inputs: ["c", "r"], outputs: ["m"]),
                Node(name: "div", kind: .div, inputs: ["m", "six"], outputs: ["y"])
            ])
        let before = g
        try PassManager().run(&g, options: CompileOptions())
        #expect(g.nodes.count == 1, "\(g.nodes.map(\.name))")
        #expect(g.nodes.first?.activation == .hardSwish)
        let inputs = try randomInputs(for: before, seed: 9)
        let expected = try Interpreter.run(before, inputs: inputs)["y"]!
        let got = try Interpreter.run(g, inputs: inputs)["y"]!
        #expect(TensorComparison(got, expected, rtol: 1e-4, atol: 1e-5).passes)
    }

    @Test("a Transpose pair that cancels (NHWC and back) goes; one that does not stays")
    func transposePairs() throws {
        func pair(_ second: [Int]) throws -> Graph {
            try Self.graph([
                Node(
                    name: "nhwc", kind: .transpose, inputs: ["c"], outputs: ["t"],
                    attributes: ["perm": .ints([0, 2, 3, 1])]),
                Node(
                    name: "back", kind: .transpose, inputs: ["t"], outputs: ["u"], attributes: ["perm": .ints(second)]),
                Node(name: "relu", kind: .relu, inputs: ["u"], outputs: ["y"])
            ])
        }
        var cancelled = try expectPassPreserves(CanonicalizeArithmetic(), on: try pair([0, 3, 1, 2]), seed: 6)
        try EliminateDeadCode().run(&cancelled, options: CompileOptions())
        #expect(cancelled.nodes.map(\.kind) == [.conv, .relu])
        let kept = try expectPassPreserves(CanonicalizeArithmetic(), on: try pair([0, 2, 3, 1]), seed: 6)
        #expect(kept.nodes.map(\.kind) == [.conv, .transpose, .transpose, .relu])
    }

    @Test("an anchor grid built with Range and Expand from constants folds away at compile time")
    func rangeExpandFold() throws {
        let ints = { (v: [Int64]) in Tensor(shape: [v.count], ints: v) }
        var g = try Self.graph(
            [
                Node(name: "range", kind: .range, inputs: ["r0", "r6", "r1"], outputs: ["cols"]),
                Node(name: "row", kind: .reshape, inputs: ["cols", "rowShape"], outputs: ["row"]),
                Node(name: "grid", kind: .expand, inputs: ["row", "gridShape"], outputs: ["grid"]),
                Node(name: "add", kind: .add, inputs: ["c", "grid"], outputs: ["y"])
            ],
            extra: [
                "r0": Self.scalar(0), "r6": Self.scalar(6), "r1": Self.scalar(1),
                "rowShape": ints([1, 1, 1, 6]), "gridShape": ints([1, 4, 6, 1])
            ])
        #expect(g.type(of: "grid")?.shape == [1, 4, 6, 6])
        let before = g
        try PassManager().run(&g, options: CompileOptions())
        #expect(!g.nodes.contains { $0.kind == .range || $0.kind == .expand }, "\(g.nodes.map(\.name))")
        let inputs = try randomInputs(for: before, seed: 2)
        let expected = try Interpreter.run(before, inputs: inputs)["y"]!
        #expect(TensorComparison(try Interpreter.run(g, inputs: inputs)["y"]!, expected, rtol: 1e-5, atol: 1e-6).passes)
        // Range's values: 0, 1, ..., 5 along the last axis, the same in every row and channel.
        let add = try #require(g.nodes.first { $0.kind == .add })
        let grid = try #require(add.inputs.compactMap { g.initializers[$0] }.first)
        #expect(grid.shape == [1, 4, 6, 6])
        #expect(Array(grid.floats.prefix(7)) == [0, 1, 2, 3, 4, 5, 0])
    }

    @Test("a Div by a constant becomes a Mul; other Divs and near-idioms stay")
    func divByConstant() throws {
        let g = try Self.graph(
            [Node(name: "div", kind: .div, inputs: ["c", "d"], outputs: ["y"])],
            extra: ["d": Tensor(shape: [4, 1, 1], floats: [2, -4, 0.5, 8])])
        let after = try expectPassPreserves(CanonicalizeArithmetic(), on: g, seed: 4)
        #expect(after.nodes.map(\.kind) == [.conv, .mul])
        // A zero in the divisor stays a Div (x / 0 is inf, not x * inf when x is 0).
        let zero = try Self.graph(
            [Node(name: "div", kind: .div, inputs: ["c", "d"], outputs: ["y"])],
            extra: ["d": Tensor(shape: [4, 1, 1], floats: [2, 0, 1, 1])])
        #expect(try expectPassPreserves(CanonicalizeArithmetic(), on: zero).nodes.map(\.kind) == [.conv, .div])
        // Clip(x+3, 0, 5) is not the HardSwish idiom: it stays (the Div becomes a Mul).
        var near =
            Self.shiftedRelu6 + [
                Node(name: "mul", kind: .mul, inputs: ["c", "r"], outputs: ["m"]),
                Node(name: "div", kind: .div, inputs: ["m", "six"], outputs: ["y"])
            ]
        near[1].inputs = ["s", "zero", "five"]
        let other = try Self.graph(near, extra: ["five": Self.scalar(5)])
        let kinds = try expectPassPreserves(CanonicalizeArithmetic(), on: other).nodes.map(\.kind)
        #expect(!kinds.contains(.hardSwish) && !kinds.contains(.div))
    }
}
