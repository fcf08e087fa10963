import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses

/// Builds a small graph node by node; `finish` infers its shapes.
struct GraphBuilder {
    var graph: Graph
    var generator = SeededRandom(seed: 11)

    init(opset: Int = 13) {
        graph = Graph(
            name: "test", opsetVersion: opset, inputs: [], outputs: [], nodes: [], initializers: [:], values: [:])
    }

    mutating func input(_ name: String, _ shape: [Int]) -> String {
        graph.inputs.append(name)
        graph.values[name] = ValueInfo(TensorType(dtype: .float32, shape: shape))
        return name
    }

    /// A constant of seeded random values in [-1, 1).
    mutating func weight(_ name: String, _ shape: [Int]) -> String {
        constant(name, generator.tensor(TensorType(dtype: .float32, shape: shape)))
    }

    /// A constant of seeded random values in [low, low + 1).
    mutating func positive(_ name: String, _ shape: [Int], low: Float = 0.5) -> String {
        let count = shape.reduce(1, *)
        return constant(
            name, Tensor(shape: shape, floats: (0..<count).map { _ in low + (generator.nextSigned() + 1) / 2 }))
    }

    mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        graph.initializers[name] = tensor
        return name
    }

    mutating func ints(_ name: String, _ values: [Int64]) -> String {
        constant(name, Tensor(shape: [values.count], ints: values))
    }

    /// Appends a node named `name` whose outputs are `name`, `name_1`...; returns the first.
    @discardableResult
    mutating func node(
        _ kind: OpKind, _ name: String, _ inputs: [String], _ attributes: [String: Attribute] = [:],
        outputs: Int = 1
    ) -> String {
        let names = (0..<outputs).map { $0 == 0 ? name : "\(name)_\($0)" }
        graph.nodes.append(Node(name: name, kind: kind, inputs: inputs, outputs: names, attributes: attributes))
        return name
    }

    func finish(_ outputs: [String]) throws -> Graph {
        var graph = self.graph
        graph.outputs = outputs
        try ShapeInference.run(&graph, evaluate: InferShapes.evaluate)
        return graph
    }
}

extension Graph {
    /// How many nodes of each kind the graph holds.
    func count(_ kind: OpKind) -> Int { nodes.filter { $0.kind == kind }.count }
    func node(_ name: String) -> Node? { nodes.first { $0.name == name } }
    func producer(of value: String) -> Node? { nodes.first { $0.outputs.contains(value) } }
}

@Suite("Canonicalization passes")
struct CanonicalizePassTests {
    @Test("fold-constants evaluates Constant, Shape chains, Cast and weight transposes")
    func foldConstants() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 3, 8, 8])
        let c = b.node(.constant, "c", [], ["value": .tensor(Tensor(shape: [1, 3, 1, 1], floats: [1, 2, 3]))])
        let shifted = b.node(.add, "shift", [x, c])
        // PyTorch's flatten idiom: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
        let shape = b.node(.shape, "shape", [shifted])
        let batch = b.node(
            .gather, "batch", [shape, b.constant("zero", Tensor(shape: [], ints: [0]))], ["axis": .int(0)])
        let batch1 = b.node(.unsqueeze, "batch1", [batch, b.ints("axes0", [0])])
        let target = b.node(.concat, "target", [batch1, b.ints("minus1", [-1])], ["axis": .int(0)])
        let flat = b.node(.reshape, "flat", [shifted, target])
        // A weight stored transposed and as int64, cast to float.
        let raw = b.constant("raw", Tensor(shape: [192, 4], ints: (0..<768).map { Int64($0 % 7) - 3 }))
        let cast = b.node(.cast, "cast", [raw], ["to": .int(1)])
        let w = b.node(.transpose, "wt", [cast], ["perm": .ints([1, 0])])
        let y = b.node(.gemm, "fc", [flat, w], ["transB": .int(1)])
        // A large constant made from a small description stays a node.
        let zeros = b.node(.constantOfShape, "zeros", [b.ints("big", [1, 64, 128, 256])])
        let z = b.node(.add, "z", [zeros, b.weight("one", [1])])
        let graph = try b.finish([y, z])

        let after = try expectPassPreserves(FoldConstants(), on: graph)
        #expect(after.nodes.map(\.kind) == [.add, .reshape, .gemm, .constantOfShape, .add])
        #expect(after.initializers[target] == Tensor(shape: [2], ints: [1, -1]))
        #expect(after.initializers[w]?.shape == [4, 192])
        #expect(after.initializers["raw"] == nil, "dead constants are dropped")
        try after.verify(requireTypes: true)
    }

    @Test("eliminate-dead-code drops unread nodes, constants and optional outputs")
    func deadCode() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 2, 4, 4])
        let pooled = b.node(.maxPool, "pool", [x], ["kernel_shape": .ints([2, 2])], outputs: 2)
        b.node(.mul, "unused", [pooled, b.weight("k", [1])])
        let y = b.node(.relu, "relu", [pooled])
        let graph = try b.finish([y])

        let after = try expectPassPreserves(EliminateDeadCode(), on: graph)
        #expect(after.nodes.map(\.name) == ["pool", "relu"])
        #expect(after.node("pool")?.outputs == ["pool"])
        #expect(after.initializers.isEmpty)
    }

    @Test("remove-identity rewires readers and keeps graph output names")
    func removeIdentity() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 2, 4, 4])
        let a = b.node(.relu, "a", [x])
        let i = b.node(.identity, "i", [a])
        let d = b.node(.dropout, "d", [i, b.constant("ratio", Tensor(shape: [], floats: [0.3]))], outputs: 2)
        let masked = b.node(.cast, "mask_float", ["d_1"], ["to": .int(1)])
        let sum = b.node(.add, "sum", [d, masked])
        let out = b.node(.identity, "out", [sum])
        let passthrough = b.node(.identity, "passthrough", [x])
        let graph = try b.finish([out, passthrough])

        let after = try expectPassPreserves(RemoveIdentity(), on: graph)
        #expect(after.count(.dropout) == 0)
        #expect(after.count(.identity) == 1, "input -> output Identity must stay to keep both names")
        #expect(after.producer(of: out)?.name == "sum", "the producer takes over the output name")
        #expect(after.initializers["d_1"] == Tensor(shape: [1, 2, 4, 4], ints: Array(repeating: 1, count: 32)))
        #expect(after.node("sum")?.inputs.first == a)
    }

    @Test("fold-batchnorm folds BatchNormalization into Conv, ConvTranspose and Gemm")
    func foldBatchNorm() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 4, 6, 6])
        func bn(_ b: inout GraphBuilder, _ name: String, _ input: String, _ channels: Int) -> String {
            b.node(
                .batchNormalization, name,
                [
                    input, b.positive("\(name)_s", [channels]), b.weight("\(name)_b", [channels]),
                    b.weight("\(name)_m", [channels]), b.positive("\(name)_v", [channels])
                ],
                ["epsilon": .float(1e-3)])
        }
        let c1 = b.node(.conv, "c1", [x, b.weight("w1", [6, 2, 3, 3]), b.weight("b1", [6])], ["group": .int(2)])
        let n1 = bn(&b, "bn1", c1, 6)
        let t1 = b.node(
            .convTranspose, "t1", [n1, b.weight("wt", [6, 2, 2, 2])], ["group": .int(2), "strides": .ints([2, 2])])
        let n2 = bn(&b, "bn2", t1, 4)
        let pooled = b.node(.globalAveragePool, "gap", [n2])
        let flat = b.node(.flatten, "flat", [pooled])
        let fc = b.node(.gemm, "fc", [flat, b.weight("wf", [5, 4]), b.weight("bf", [5])], ["transB": .int(1)])
        let n3 = bn(&b, "bn3", fc, 5)
        // A Conv read by two nodes keeps its BatchNorm.
        let c2 = b.node(.conv, "c2", [x, b.weight("w2", [4, 4, 1, 1])])
        let n4 = bn(&b, "bn4", c2, 4)
        let also = b.node(.relu, "also", [c2])
        let graph = try b.finish([n3, n4, also])

        let after = try expectPassPreserves(FoldBatchNorm(), on: graph)
        #expect(after.nodes.filter { $0.kind == .batchNormalization }.map(\.name) == ["bn4"])
        #expect(after.producer(of: n1)?.name == "c1")
        #expect(after.producer(of: n2)?.name == "t1")
        #expect(after.producer(of: n3)?.name == "fc")
        #expect(after.node("t1")?.inputs.count == 3, "a bias is added where there was none")
    }

    @Test("fold-batchnorm folds per-channel Mul, Add, Sub and Div by constants")
    func foldChannelAffine() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 3, 5, 5])
        let c = b.node(.conv, "conv", [x, b.weight("w", [4, 3, 3, 3])], ["pads": .ints([1, 1, 1, 1])])
        let m = b.node(.mul, "mul", [b.weight("scale", [4, 1, 1]), c])
        let a = b.node(.add, "add", [m, b.weight("shift", [1, 4, 1, 1])])
        let s = b.node(.sub, "sub", [a, b.weight("scalar", [])])
        let d = b.node(.div, "div", [s, b.positive("divisor", [4, 1, 1])])
        // Varies along the width, not the channels: stays.
        let w = b.node(.mul, "spatial", [d, b.weight("row", [5])])
        // Shared weight: the folded copy must not change the other reader.
        let c2 = b.node(.conv, "conv2", [x, "w"], ["pads": .ints([1, 1, 1, 1])])
        let m2 = b.node(.mul, "mul2", [c2, b.weight("scale2", [4, 1, 1])])
        // A BatchNorm of a graph input stays and absorbs the maps after it.
        let n = b.node(
            .batchNormalization, "bn",
            [x, b.positive("s", [3]), b.weight("o", [3]), b.weight("m", [3]), b.positive("v", [3])])
        let m3 = b.node(.mul, "mul3", [n, b.weight("scale3", [1, 3, 1, 1])])
        let a3 = b.node(.add, "add3", [m3, b.weight("shift3", [3, 1, 1])])
        let graph = try b.finish([w, m2, a3])

        let after = try expectPassPreserves(FoldBatchNorm(), on: graph)
        #expect(after.nodes.map(\.name) == ["conv", "spatial", "conv2", "bn"])
        #expect(after.node("spatial")?.inputs.first == d)
        #expect(after.node("conv")?.inputs[1] != after.node("conv2")?.inputs[1])
    }

    @Test("fold-pad adds zero padding to Conv and AveragePool windows")
    func foldPad() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 2, 7, 7])
        let pads = b.ints("pads", [0, 0, 1, 2, 0, 0, 2, 1])
        let p = b.node(.pad, "pad", [x, pads])
        let c = b.node(
            .conv, "conv", [p, b.weight("w", [3, 2, 3, 3])],
            ["auto_pad": .string("SAME_UPPER"), "strides": .ints([2, 2])])
        let avg = b.node(.averagePool, "avg", [p], ["kernel_shape": .ints([3, 3])])
        // Pads the channels: stays.
        let q = b.node(.pad, "pad_c", [x, b.ints("pads_c", [0, 1, 0, 0, 0, 1, 0, 0])])
        let cq = b.node(.conv, "conv_c", [q, b.weight("wq", [1, 4, 1, 1])])
        // -inf padding of a MaxPool folds; 0 padding of a MaxPool does not.
        let low = b.constant("low", Tensor(shape: [], floats: [-.infinity]))
        let r = b.node(.pad, "pad_inf", [x, pads, low])
        let mp = b.node(.maxPool, "max", [r], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        // With ceil_mode the last window would start in the folded padding: stays.
        let r2 = b.node(.pad, "pad_inf_ceil", [x, pads, low])
        let mc = b.node(
            .maxPool, "max_ceil", [r2], ["kernel_shape": .ints([2, 2]), "ceil_mode": .int(1), "strides": .ints([2, 2])])
        let z = b.node(.pad, "pad_zero", [x, pads])
        let mz = b.node(.maxPool, "max_zero", [z], ["kernel_shape": .ints([2, 2])])
        let graph = try b.finish([c, avg, cq, mp, mc, mz])

        let after = try expectPassPreserves(FoldPad(), on: graph)
        #expect(after.nodes.filter { $0.kind == .pad }.map(\.name) == ["pad_c", "pad_inf_ceil", "pad_zero"])
        let conv = try #require(after.node("conv"))
        #expect(conv.inputs[0] == x)
        #expect(conv.attributes["auto_pad"] == nil)
        // SAME_UPPER over the padded 10x10 adds (0, 1) on each axis.
        #expect(conv.ints("pads") == [1, 2, 3, 2])
        #expect(after.node("avg")?.int("count_include_pad") == 1)
        #expect(after.node("max")?.ints("pads") == [1, 2, 2, 1])
    }

    @Test("fuse-activations moves activations into their producers")
    func fuseActivations() throws {
        var b = GraphBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        let c = b.node(.conv, "conv", [x, b.weight("w", [4, 3, 3, 3])])
        let r = b.node(.relu, "relu", [c])
        let p = b.node(.maxPool, "pool", [r], ["kernel_shape": .ints([2, 2])])
        let hs = b.node(.hardSwish, "hswish", [p])
        let a = b.node(.add, "add", [hs, b.weight("k", [1, 4, 1, 1])])
        let l = b.node(.leakyRelu, "leaky", [a], ["alpha": .float(0.3)])
        let g = b.node(.globalAveragePool, "gap", [l])
        let s = b.node(.sigmoid, "sigmoid", [g])
        let f = b.node(.flatten, "flat", [s])
        let fc = b.node(.gemm, "fc", [f, b.weight("wf", [5, 4])], ["transB": .int(1)])
        let clip = b.node(
            .clip, "clip",
            [
                fc, b.constant("zero", Tensor(shape: [], floats: [0])),
                b.constant("six", Tensor(shape: [], floats: [0.5]))
            ])
        // On a graph input, and on a value read twice: both stay.
        let standalone = b.node(.tanh, "tanh", [x])
        let m = b.node(.mul, "mul", [standalone, standalone])
        let twice = b.node(.relu, "relu2", [m])
        let other = b.node(.sigmoid, "other", [m])
        // A Concat passes its activation on to every part.
        let c1 = b.node(.conv, "part1", [x, b.weight("w1", [2, 3, 1, 1])])
        let p2 = b.node(.averagePool, "part2", [x], ["kernel_shape": .ints([1, 1])])
        let cat = b.node(.concat, "cat", [c1, p2], ["axis": .int(1)])
        let catRelu = b.node(.relu, "cat_relu", [cat])
        // ...unless a part cannot take it (a graph input).
        let p3 = b.node(.averagePool, "part3", [x], ["kernel_shape": .ints([1, 1])])
        let cat2 = b.node(.concat, "cat2", [x, p3], ["axis": .int(1)])
        let cat2Relu = b.node(.relu, "cat2_relu", [cat2])
        let graph = try b.finish([clip, twice, other, catRelu, cat2Relu])

        let after = try expectPassPreserves(FuseActivations(), on: graph)
        #expect(after.node("conv")?.activation == .relu)
        #expect(after.node("pool")?.activation == .hardSwish)
        #expect(after.node("add")?.activation == .leakyRelu(alpha: 0.3))
        #expect(after.node("gap")?.activation == .sigmoid)
        #expect(after.node("fc")?.activation == .clip(min: 0, max: 0.5))
        #expect(after.producer(of: clip)?.name == "fc", "the graph output keeps its name")
        #expect(
            after.nodes.filter { OpKind.unaryElementwise.contains($0.kind) }.map(\.name) == [
                "tanh", "relu2", "other", "cat2_relu"
            ])
        #expect(after.node("part1")?.activation == .relu && after.node("part2")?.activation == .relu)
        #expect(after.producer(of: catRelu)?.name == "cat")
        #expect(after.node("part3")?.activation == nil)
    }

    @Test("canonicalize-views makes every view a Reshape to a constant shape")
    func views() throws {
        var b = GraphBuilder()
        let x = b.input("x", [2, 3, 4, 1])
        let sq = b.node(.squeeze, "squeeze", [x, b.ints("axes3", [3])])
        let un = b.node(.unsqueeze, "unsqueeze", [sq, b.ints("axes0", [0])])
        let fl = b.node(.flatten, "flatten", [un], ["axis": .int(2)])
        let re = b.node(.reshape, "reshape", [fl, b.ints("target", [0, -1, 2])])
        let same = b.node(.reshape, "same", [re, b.ints("target2", [2, 6, 2])])
        let y = b.node(.relu, "relu", [same])
        let graph = try b.finish([y, fl])

        let after = try expectPassPreserves(CanonicalizeViews(), on: graph)
        #expect(after.nodes.map(\.kind) == [.reshape, .reshape, .reshape, .reshape, .relu])
        #expect(after.node("relu")?.inputs == [re], "a view keeping the shape is removed")
        #expect(after.node("reshape")?.inputs == [x, "shape_2x6x2"], "a view of a view reads the original")
        #expect(after.initializers["shape_2x6x2"] == Tensor(shape: [3], ints: [2, 6, 2]))
    }

    @Test("lower-fully-connected gives Gemm and MatMul one canonical form")
    func lowerFullyConnected() throws {
        var b = GraphBuilder()
        let x = b.input("x", [6, 3])
        let g1 = b.node(
            .gemm, "g1", [x, b.weight("b1", [6, 4]), b.weight("c1", [1, 4])],
            ["transA": .int(1), "alpha": .float(0.5), "beta": .float(2)])
        let g2 = b.node(.gemm, "g2", [g1, b.weight("b2", [4, 5]), b.weight("c2", [3, 5])])
        let v = b.input("v", [2, 3, 5])
        let mm = b.node(.matMul, "mm", [v, b.weight("b3", [5, 7])])
        let both = b.node(.matMul, "both", [g2, b.weight("b4", [5, 2])])
        let z = b.input("z", [2, 4])
        let computed = b.node(.matMul, "computed", [both, z])
        let graph = try b.finish([computed, mm])

        let after = try expectPassPreserves(LowerFullyConnected(), on: graph)
        for name in ["g1", "g2", "mm", "both"] {
            let node = try #require(after.node(name))
            #expect(node.kind == .gemm && node.attributes == ["transB": .int(1)], "\(name): \(node)")
            #expect(after.initializers[node.inputs[1]] != nil)
            if node.inputs.count > 2 { #expect(after.initializers[node.inputs[2]]?.shape.count == 1) }
        }
        #expect(after.node("g1")?.inputs.count == 3)
        #expect(after.count(.transpose) == 1)
        #expect(after.count(.add) == 1, "a per-row bias becomes an Add")
        #expect(after.count(.reshape) == 2, "a batched MatMul is viewed as 2-D")
        #expect(after.node("computed")?.kind == .matMul)
    }
}
