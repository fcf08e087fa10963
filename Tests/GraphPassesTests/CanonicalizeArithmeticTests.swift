import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses
@testable import ReferenceInterpreter

/// Exporter idioms: HardSwish, SiLU, GELU and Mish spelled out in arithmetic, Div by a constant.
@Suite("Canonicalize arithmetic")
struct CanonicalizeArithmeticTests {
    static func f32(_ shape: [Int]) -> TensorType { TensorType(dtype: .float32, shape: shape) }
    static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], floats: [v]) }

    /// conv -> `tail` (nodes reading "c", ending in "y"), with the constants the idioms use.
    static func graph(_ tail: [Node], extra: [String: Tensor] = [:]) throws -> Graph {
        var rng = SeededRandom(seed: 5)
        var initializers: [String: Tensor] = [
            "w": rng.tensor(f32([4, 2, 3, 3])), "three": scalar(3), "zero": scalar(0), "six": scalar(6),
            "sixth": scalar(1 / 6), "one": scalar(1), "two": scalar(2), "half": scalar(0.5),
            "sqrt2": scalar(1.414_213_5), "invSqrt2": scalar(0.707_106_77), "kappa": scalar(0.044_715),
            "sqrt2OverPi": scalar(0.797_884_56)
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

    static func node(_ name: String, _ kind: OpKind, _ inputs: [String], _ attributes: [String: Attribute] = [:])
        -> Node
    {
        Node(name: name, kind: kind, inputs: inputs, outputs: [name], attributes: attributes)
    }

    /// erf GELU as PyTorch exports it, up to its last Mul: c/√2 -> Erf -> +1 -> ·c ("m").
    static let erfGeluTimesX = [
        node("d", .div, ["c", "sqrt2"]), node("e", .erf, ["d"]), node("a", .add, ["e", "one"]),
        node("m", .mul, ["c", "a"])
    ]

    /// tanh GELU's 1 + tanh(√(2/π)·(c + 0.044715·c³)) ("a"), c³ as Pow(c, 3).
    static let tanhGeluOnePlus = [
        node("p", .pow, ["c", "three"]), node("k", .mul, ["kappa", "p"]), node("s", .add, ["c", "k"]),
        node("u", .mul, ["sqrt2OverPi", "s"]), node("t", .tanh, ["u"]), node("a", .add, ["one", "t"])
    ]

    /// Idioms spelled as exporters write them, each ending in "y", and the op they must become.
    static let smoothIdioms: [(String, [Node], OpKind, Activation)] = [
        ("c·Sigmoid(c)", [node("s", .sigmoid, ["c"]), node("y", .mul, ["c", "s"])], .silu, .silu),
        ("Sigmoid(c)·c", [node("s", .sigmoid, ["c"]), node("y", .mul, ["s", "c"])], .silu, .silu),
        ("erf GELU, ·0.5 last (PyTorch)", erfGeluTimesX + [node("y", .mul, ["m", "half"])], .gelu, .gelu),
        ("erf GELU, /2 last", erfGeluTimesX + [node("y", .div, ["m", "two"])], .gelu, .gelu),
        (
            "erf GELU, 0.5·c first, ·(1/√2), 1 + erf",
            [
                node("h", .mul, ["half", "c"]), node("d", .mul, ["c", "invSqrt2"]), node("e", .erf, ["d"]),
                node("a", .add, ["one", "e"]), node("y", .mul, ["a", "h"])
            ], .gelu, .gelu
        ),
        (
            "tanh GELU with Pow(c, 3), c·0.5 first (PyTorch)",
            tanhGeluOnePlus + [node("h", .mul, ["c", "half"]), node("y", .mul, ["h", "a"])], .gelu, .geluTanh
        ),
        (
            "tanh GELU with c·c·c, ·0.5 last",
            [
                node("cc", .mul, ["c", "c"]), node("ccc", .mul, ["cc", "c"]), node("k", .mul, ["ccc", "kappa"]),
                node("s", .add, ["k", "c"]), node("u", .mul, ["s", "sqrt2OverPi"]), node("t", .tanh, ["u"]),
                node("a", .add, ["t", "one"]), node("m", .mul, ["c", "a"]), node("y", .mul, ["m", "half"])
            ], .gelu, .geluTanh
        ),
        (
            "c·Tanh(Softplus(c))",
            [node("sp", .softplus, ["c"]), node("t", .tanh, ["sp"]), node("y", .mul, ["c", "t"])], .mish, .mish
        ),
        (
            "Tanh(Softplus(c))·c",
            [node("sp", .softplus, ["c"]), node("t", .tanh, ["sp"]), node("y", .mul, ["t", "c"])], .mish, .mish
        )
    ]

    @Test("SiLU, GELU (erf and tanh) and Mish spelled out become one op", arguments: smoothIdioms)
    func smoothActivation(idiom: String, tail: [Node], kind: OpKind, activation: Activation) throws {
        let g = try Self.graph(tail)
        var after = try expectPassPreserves(CanonicalizeArithmetic(), on: g, seed: 8)
        try EliminateDeadCode().run(&after, options: CompileOptions())
        #expect(after.nodes.map(\.kind) == [.conv, kind], "\(idiom): \(after.nodes.map(\.name))")
        let made = try #require(after.nodes.last)
        #expect(made.inputs == ["c"] && made.outputs == ["y"])
        #expect(Activation(of: made, in: after) == activation, "\(idiom)")
    }

    @Test("through the whole pipeline each idiom, and ONNX's Mish and Gelu, end as the convolution's activation")
    func smoothActivationsFuse() throws {
        let ops = [
            ([Self.node("y", .mish, ["c"])], Activation.mish),
            ([Self.node("y", .gelu, ["c"], ["approximate": .string("tanh")])], .geluTanh)
        ]
        for (tail, activation) in Self.smoothIdioms.map({ ($0.1, $0.3) }) + ops {
            var g = try Self.graph(tail)
            let before = g
            try PassManager().run(&g, options: CompileOptions())
            #expect(g.nodes.map(\.kind) == [.conv], "\(g.nodes.map(\.name))")
            #expect(g.nodes.first?.activation == activation)
            let inputs = try randomInputs(for: before, seed: 9)
            let expected = try Interpreter.run(before, inputs: inputs)["y"]!
            let got = try Interpreter.run(g, inputs: inputs)["y"]!
            #expect(TensorComparison(got, expected, rtol: 1e-4, atol: 1e-5).passes, "\(activation)")
        }
    }

    @Test(
        "an idiom whose intermediate value is read elsewhere, or whose constants differ, stays as it is",
        arguments: [
            // The sigmoid is also added to the product.
            [node("s", .sigmoid, ["c"]), node("m", .mul, ["c", "s"]), node("y", .add, ["m", "s"])],
            // The erf is read again.
            erfGeluTimesX + [node("g", .mul, ["m", "half"]), node("y", .add, ["g", "e"])],
            // x/√2 is read again.
            erfGeluTimesX + [node("g", .mul, ["m", "half"]), node("y", .add, ["g", "d"])],
            // The cube is read again.
            tanhGeluOnePlus + [
                node("m", .mul, ["a", "c"]), node("g", .mul, ["m", "half"]), node("y", .add, ["g", "p"])
            ],
            // ·6 is not GELU's ·0.5.
            erfGeluTimesX + [node("y", .mul, ["m", "six"])],
            // Tanh(Softplus(c)) scales another value.
            [
                node("sp", .softplus, ["c"]), node("t", .tanh, ["sp"]), node("r", .relu, ["c"]),
                node("y", .mul, ["r", "t"])
            ],
            // Pow(c, 2) is not the cube.
            tanhGeluOnePlus.map { $0.name == "p" ? node("p", .pow, ["c", "two"]) : $0 } + [
                node("m", .mul, ["a", "c"]), node("y", .mul, ["m", "half"])
            ]
        ])
    func smoothActivationMisses(tail: [Node]) throws {
        var after = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph(tail), seed: 1)
        try EliminateDeadCode().run(&after, options: CompileOptions())
        let kinds = after.nodes.map(\.kind)
        #expect(!kinds.contains(.silu) && !kinds.contains(.gelu) && !kinds.contains(.mish), "\(kinds)")
    }

    @Test("Pow of two constants folds at compile time")
    func powFolds() throws {
        let g = try Self.graph(
            [Self.node("p", .pow, ["two", "exponents"]), Self.node("y", .mul, ["c", "p"])],
            extra: ["exponents": Tensor(shape: [4, 1, 1], ints: [0, 1, 3, -1])])
        let after = try expectPassPreserves(FoldConstants(), on: g, seed: 2)
        #expect(after.nodes.map(\.kind) == [.conv, .mul])
        #expect(after.initializers["p"] == Tensor(shape: [4, 1, 1], floats: [1, 2, 8, 0.5]))
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

    @Test("Swish with alpha 1 becomes SiLU and fuses into the Conv; another alpha stays Swish; both compute the same")
    func swish() throws {
        for (alpha, becomesSiLU) in [(Float(1), true), (Float(0.5), false)] {
            var g = try Self.graph([
                Node(name: "swish", kind: .swish, inputs: ["c"], outputs: ["y"], attributes: ["alpha": .float(alpha)])
            ])
            let before = g
            try PassManager().run(&g, options: CompileOptions())
            if becomesSiLU {
                #expect(g.nodes.map(\.kind) == [.conv] && g.nodes[0].activation == .silu)
            } else {
                #expect(g.nodes.map(\.kind) == [.conv, .swish])
            }
            let inputs = try randomInputs(for: before, seed: 3)
            let expected = try Interpreter.run(before, inputs: inputs)["y"]!
            #expect(
                TensorComparison(try Interpreter.run(g, inputs: inputs)["y"]!, expected, rtol: 1e-5, atol: 1e-6).passes)
        }
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

    @Test("a Sum of two becomes an Add; a Sum of three stays")
    func sumOfTwo() throws {
        let two = try Self.graph(
            [
                Node(name: "relu", kind: .relu, inputs: ["c"], outputs: ["r"]),
                Node(name: "sum", kind: .sum, inputs: ["r", "c"], outputs: ["y"])
            ])
        #expect(
            try expectPassPreserves(CanonicalizeArithmetic(), on: two, seed: 6).nodes.map(\.kind) == [
                .conv, .relu, .add
            ])
        let three = try Self.graph([Node(name: "sum", kind: .sum, inputs: ["c", "c", "c"], outputs: ["y"])])
        #expect(try expectPassPreserves(CanonicalizeArithmetic(), on: three).nodes.map(\.kind) == [.conv, .sum])
    }

    @Test("a Reshape-Transpose-Reshape channel shuffle becomes one ChannelShuffle; other transposes stay")
    func channelShuffle() throws {
        let shuffle = [
            Node(name: "split", kind: .reshape, inputs: ["c", "grouped"], outputs: ["g"]),
            Node(
                name: "swap", kind: .transpose, inputs: ["g"], outputs: ["t"],
                attributes: ["perm": .ints([0, 2, 1, 3, 4])]),
            Node(name: "join", kind: .reshape, inputs: ["t", "flat"], outputs: ["y"])
        ]
        let shapes = [
            "grouped": Tensor(shape: [5], ints: [1, 2, 2, 6, 6]), "flat": Tensor(shape: [4], ints: [1, -1, 6, 6])
        ]
        let after = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph(shuffle, extra: shapes))
        #expect(after.nodes.map(\.kind) == [.conv, .channelShuffle])
        #expect(after.nodes.last?.int("group", default: 0) == 2 && after.nodes.last?.domain == "dfc")
        // Swapping other axes is no channel shuffle.
        var other = shuffle
        other[1].attributes["perm"] = .ints([0, 1, 2, 4, 3])
        let kept = try expectPassPreserves(CanonicalizeArithmetic(), on: try Self.graph(other, extra: shapes))
        #expect(!kept.nodes.contains { $0.kind == .channelShuffle })
    }
}
