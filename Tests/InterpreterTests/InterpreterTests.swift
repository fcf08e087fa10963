import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import ReferenceInterpreter

/// Hand-checked kernels, the fast kernels against naive loops, and the
/// interpreter's errors.
@Suite("Reference interpreter")
struct InterpreterTests {
    // MARK: Helpers

    static func graph(
        _ nodes: [Node], inputs: [String: TensorType], outputs: [String],
        initializers: [String: Tensor] = [:], opset: Int = 13
    ) -> Graph {
        Graph(
            name: "test", opsetVersion: opset, inputs: inputs.keys.sorted(), outputs: outputs, nodes: nodes,
            initializers: initializers, values: inputs.mapValues { ValueInfo($0) })
    }

    static func f32(_ shape: [Int]) -> TensorType { TensorType(dtype: .float32, shape: shape) }

    /// Naive direct 2-D convolution, the textbook loop nest.
    static func naiveConv(
        _ x: Tensor, _ w: Tensor, _ bias: [Float]?, strides: [Int], pads: [Int], dilations: [Int], group: Int
    ) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1
        let ow = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1
        let xs = x.floats, ws = w.floats
        var out = [Float](repeating: 0, count: n * m * oh * ow)
        let mg = m / group
        for b in 0..<n {
            for o in 0..<m {
                let g = o / mg
                for y in 0..<oh {
                    for z in 0..<ow {
                        var sum = Double(bias?[o] ?? 0)
                        for ci in 0..<cg {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = y * strides[0] - pads[0] + ky * dilations[0]
                                    let ix = z * strides[1] - pads[1] + kx * dilations[1]
                                    guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                    let channel = g * cg + ci
                                    sum +=
                                        Double(xs[((b * c + channel) * h + iy) * wd + ix])
                                        * Double(ws[((o * cg + ci) * kh + ky) * kw + kx])
                                }
                            }
                        }
                        out[((b * m + o) * oh + y) * ow + z] = Float(sum)
                    }
                }
            }
        }
        return Tensor(shape: [n, m, oh, ow], floats: out)
    }

    static func expectClose(
        _ got: Tensor?, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let got else {
            Issue.record("no result", sourceLocation: sourceLocation)
            return
        }
        let comparison = TensorComparison(got, expected, rtol: rtol, atol: atol)
        #expect(comparison.passes, "\(comparison)", sourceLocation: sourceLocation)
    }

    // MARK: Kernels

    @Test("a small Conv + Relu computed by hand")
    func convRelu() throws {
        let w = Tensor(shape: [1, 1, 2, 2], floats: [1, 0, 0, -1])
        let nodes = [
            Node(name: "conv", kind: .conv, inputs: ["x", "w"], outputs: ["c"]),
            Node(name: "relu", kind: .relu, inputs: ["c"], outputs: ["y"])
        ]
        let g = Self.graph(nodes, inputs: ["x": Self.f32([1, 1, 3, 3])], outputs: ["y"], initializers: ["w": w])
        let x = Tensor(shape: [1, 1, 3, 3], floats: [1, 2, 3, 4, 9, 6, 7, 8, 5])
        let y = try Interpreter.run(g, inputs: ["x": x])
        // x[i][j] - x[i+1][j+1]: 1-9, 2-6, 4-8, 9-5
        #expect(y["y"] == Tensor(shape: [1, 1, 2, 2], floats: [0, 0, 0, 4]))
    }

    @Test(
        "im2col convolution matches the textbook loops",
        arguments: [
            // (channels, maps, size, kernel, stride, pad, dilation, group)
            (3, 8, 9, 3, 1, 1, 1, 1),
            (4, 6, 11, 3, 2, 0, 2, 2),
            (8, 8, 10, 3, 1, 1, 1, 8),  // depthwise
            (16, 12, 7, 1, 1, 0, 1, 1),  // pointwise: reads the input as is
            (64, 4, 48, 3, 1, 1, 1, 1),  // several column chunks
            (5, 7, 13, 5, 3, 2, 1, 1)
        ])
    func convMatchesNaive(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) throws {
        let (channels, maps, size, kernel, stride, pad, dilation, group) = c
        var rng = SeededRandom(seed: 7)
        let x = rng.tensor(Self.f32([2, channels, size, size + 1]))
        let w = rng.tensor(Self.f32([maps, channels / group, kernel, kernel]))
        let b = rng.tensor(Self.f32([maps]))
        let node = Node(
            name: "conv", kind: .conv, inputs: ["x", "w", "b"], outputs: ["y"],
            attributes: [
                "strides": .ints([stride, stride]), "pads": .ints([pad, pad, pad, pad]),
                "dilations": .ints([dilation, dilation]), "group": .int(group)
            ])
        let y = try Interpreter.evaluate(node, inputs: [x, w, b], opset: 13)
        let expected = Self.naiveConv(
            x, w, b.floats, strides: [stride, stride], pads: [pad, pad, pad, pad],
            dilations: [dilation, dilation], group: group)
        Self.expectClose(y.first, expected)
    }

    @Test("Gemm with transposes, alpha, beta and a broadcast C")
    func gemm() throws {
        var rng = SeededRandom(seed: 3)
        for (transA, transB) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let (m, k, n) = (5, 7, 6)
            let a = rng.tensor(Self.f32(transA == 1 ? [k, m] : [m, k]))
            let b = rng.tensor(Self.f32(transB == 1 ? [n, k] : [k, n]))
            let c = rng.tensor(Self.f32([n]))
            let node = Node(
                name: "gemm", kind: .gemm, inputs: ["a", "b", "c"], outputs: ["y"],
                attributes: [
                    "transA": .int(transA), "transB": .int(transB), "alpha": .float(0.5), "beta": .float(2)
                ])
            let y = try Interpreter.evaluate(node, inputs: [a, b, c], opset: 13)
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var sum: Float = 0
                    for p in 0..<k {
                        let av = transA == 1 ? a.floats[p * m + i] : a.floats[i * k + p]
                        let bv = transB == 1 ? b.floats[j * k + p] : b.floats[p * n + j]
                        sum += av * bv
                    }
                    expected[i * n + j] = 0.5 * sum + 2 * c.floats[j]
                }
            }
            Self.expectClose(y.first, Tensor(shape: [m, n], floats: expected))
        }
    }

    @Test("MatMul broadcasts batch axes and promotes vectors")
    func matMul() throws {
        var rng = SeededRandom(seed: 5)
        let a = rng.tensor(Self.f32([2, 1, 3, 4]))
        let b = rng.tensor(Self.f32([3, 4, 5]))
        let node = Node(name: "mm", kind: .matMul, inputs: ["a", "b"], outputs: ["y"])
        let y = try Interpreter.evaluate(node, inputs: [a, b], opset: 13)[0]
        #expect(y.shape == [2, 3, 3, 5])
        var expected: [Float] = []
        for i in 0..<2 {
            for j in 0..<3 {
                for r in 0..<3 {
                    for col in 0..<5 {
                        var sum: Float = 0
                        for p in 0..<4 { sum += a.floats[(i * 3 + r) * 4 + p] * b.floats[(j * 4 + p) * 5 + col] }
                        expected.append(sum)
                    }
                }
            }
        }
        Self.expectClose(y, Tensor(shape: [2, 3, 3, 5], floats: expected))
        let v = rng.tensor(Self.f32([4]))
        let matrixVector = try Interpreter.evaluate(node, inputs: [rng.tensor(Self.f32([3, 4])), v], opset: 13)[0]
        #expect(matrixVector.shape == [3])
    }

    @Test("legacy broadcasting (opset 6) aligns the second operand at axis")
    func legacyBroadcast() throws {
        let x = Tensor(shape: [2, 3, 2], floats: (0..<12).map(Float.init))
        let bias = Tensor(shape: [3], floats: [100, 200, 300])
        let node = Node(
            name: "add", kind: .add, inputs: ["x", "b"], outputs: ["y"],
            attributes: ["broadcast": .int(1), "axis": .int(1)])
        let y = try Interpreter.evaluate(node, inputs: [x, bias], opset: 6)[0]
        #expect(y.floats == [100, 101, 202, 203, 304, 305, 106, 107, 208, 209, 310, 311])
    }

    @Test("max pooling with indices, average pooling with and without padding")
    func pooling() throws {
        let x = Tensor(shape: [1, 1, 3, 3], floats: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let maxNode = Node(
            name: "max", kind: .maxPool, inputs: ["x"], outputs: ["y", "i"],
            attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([1, 1])])
        let maxResult = try Interpreter.evaluate(maxNode, inputs: [x], opset: 13)
        #expect(maxResult[0].floats == [5, 6, 8, 9])
        #expect(maxResult[1].ints == [4, 5, 7, 8])
        let average = { (include: Int) in
            Node(
                name: "avg", kind: .averagePool, inputs: ["x"], outputs: ["y"],
                attributes: [
                    "kernel_shape": .ints([2, 2]), "pads": .ints([1, 1, 0, 0]), "strides": .ints([2, 2]),
                    "count_include_pad": .int(include)
                ])
        }
        #expect(try Interpreter.evaluate(average(0), inputs: [x], opset: 13)[0].floats == [1, 2.5, 5.5, 7])
        #expect(try Interpreter.evaluate(average(1), inputs: [x], opset: 13)[0].floats == [0.25, 1.25, 2.75, 7])
    }

    @Test("data movement: transpose, slice, pad, gather, nearest resize")
    func dataMovement() throws {
        let x = Tensor(shape: [2, 3], ints: [0, 1, 2, 3, 4, 5])
        let transpose = Node(
            name: "t", kind: .transpose, inputs: ["x"], outputs: ["y"], attributes: ["perm": .ints([1, 0])])
        #expect(
            try Interpreter.evaluate(transpose, inputs: [x], opset: 13)[0]
                == Tensor(shape: [3, 2], ints: [0, 3, 1, 4, 2, 5]))

        let slice = Node(name: "s", kind: .slice, inputs: ["x", "starts", "ends", "axes", "steps"], outputs: ["y"])
        let sliced = try Interpreter.evaluate(
            slice,
            inputs: [
                x, Tensor(shape: [1], ints: [-1]), Tensor(shape: [1], ints: [-10]),
                Tensor(shape: [1], ints: [1]), Tensor(shape: [1], ints: [-2])
            ], opset: 13)
        #expect(sliced[0] == Tensor(shape: [2, 2], ints: [2, 0, 5, 3]))

        let pad = { (mode: String) in
            Node(name: "p", kind: .pad, inputs: ["x", "pads"], outputs: ["y"], attributes: ["mode": .string(mode)])
        }
        let pads = Tensor(shape: [4], ints: [0, 2, 0, 1])
        let row = Tensor(shape: [1, 3], floats: [1, 2, 3])
        #expect(
            try Interpreter.evaluate(pad("constant"), inputs: [row, pads], opset: 13)[0].floats == [0, 0, 1, 2, 3, 0])
        #expect(
            try Interpreter.evaluate(pad("reflect"), inputs: [row, pads], opset: 13)[0].floats == [3, 2, 1, 2, 3, 2])
        #expect(try Interpreter.evaluate(pad("edge"), inputs: [row, pads], opset: 13)[0].floats == [1, 1, 1, 2, 3, 3])

        let gather = Node(name: "g", kind: .gather, inputs: ["x", "i"], outputs: ["y"], attributes: ["axis": .int(1)])
        let gathered = try Interpreter.evaluate(gather, inputs: [x, Tensor(shape: [2, 1], ints: [-1, 0])], opset: 13)
        #expect(gathered[0] == Tensor(shape: [2, 2, 1], ints: [2, 0, 5, 3]))
        #expect(throws: DFCError.self) {
            try Interpreter.evaluate(gather, inputs: [x, Tensor(shape: [1], ints: [3])], opset: 13)
        }

        let resize = Node(
            name: "r", kind: .resize, inputs: ["x", "", "scales"], outputs: ["y"],
            attributes: [
                "mode": .string("nearest"), "coordinate_transformation_mode": .string("asymmetric"),
                "nearest_mode": .string("floor")
            ])
        let small = Tensor(shape: [1, 1, 1, 2], floats: [1, 2])
        let resized = try Interpreter.evaluate(
            resize, inputs: [small, nil, Tensor(shape: [4], floats: [1, 1, 2, 2])], opset: 13)
        #expect(resized[0] == Tensor(shape: [1, 1, 2, 4], floats: [1, 1, 2, 2, 1, 1, 2, 2]))
    }

    @Test("Cast rounds and wraps as the target type would")
    func cast() throws {
        let cast = { (to: Int) in
            Node(name: "c", kind: .cast, inputs: ["x"], outputs: ["y"], attributes: ["to": .int(to)])
        }
        let x = Tensor(shape: [4], floats: [-1.7, 0.4, 300.9, 1.0001])
        #expect(try Interpreter.evaluate(cast(7), inputs: [x], opset: 13)[0].ints == [-1, 0, 300, 1])
        #expect(try Interpreter.evaluate(cast(2), inputs: [x], opset: 13)[0].ints == [255, 0, 44, 1])
        #expect(try Interpreter.evaluate(cast(9), inputs: [x], opset: 13)[0].ints == [1, 1, 1, 1])
        #expect(try Interpreter.evaluate(cast(10), inputs: [x], opset: 13)[0].floats[3] == 1)
    }

    @Test("a fused activation applies to the node's result")
    func fusedActivation() throws {
        var node = Node(name: "add", kind: .add, inputs: ["a", "b"], outputs: ["y"])
        node.activation = .relu
        let a = Tensor(shape: [3], floats: [-1, 0.5, 2]), b = Tensor(shape: [1], floats: [-1])
        #expect(try Interpreter.evaluate(node, inputs: [a, b], opset: 13)[0].floats == [0, 0, 1])
    }

    @Test("Softmax: one axis from opset 13, the flattened tail before")
    func softmax() throws {
        let x = Tensor(shape: [1, 2, 2], floats: [0, 0, 0, Float(log(3.0))])
        let node = Node(name: "s", kind: .softmax, inputs: ["x"], outputs: ["y"], attributes: ["axis": .int(1)])
        Self.expectClose(
            try Interpreter.evaluate(node, inputs: [x], opset: 13)[0],
            Tensor(shape: [1, 2, 2], floats: [0.5, 0.25, 0.5, 0.75]))
        Self.expectClose(
            try Interpreter.evaluate(node, inputs: [x], opset: 11)[0],
            Tensor(shape: [1, 2, 2], floats: [1 / 6, 1 / 6, 1 / 6, 0.5]))
    }

    /// What each spelled activation computes, in fp64 from its definition; Gelu's `approximate` given.
    static func definition(_ kind: OpKind, approximate: String?) -> (Double) -> Double {
        let erfGelu = { (v: Double) in 0.5 * v * (1 + erf(v / 2.0.squareRoot())) }
        let tanhGelu = { (v: Double) in 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        }
        switch kind {
        case .erf: return { erf($0) }
        case .softplus: return { log(1 + exp($0)) }
        case .mish: return { $0 * tanh(log(1 + exp($0))) }
        case .gelu: return approximate == "tanh" ? tanhGelu : erfGelu
        default: return { $0 / (1 + exp(-$0)) }
        }
    }

    @Test(
        "Erf, Softplus, Mish, Gelu (both forms) and the internal SiLU follow their definitions",
        arguments: [
            (OpKind.erf, nil), (.softplus, nil), (.mish, nil), (.gelu, nil), (.gelu, "none"), (.gelu, "tanh"),
            (.silu, nil)
        ]
            as [(OpKind, String?)])
    func spelledActivations(kind: OpKind, approximate: String?) throws {
        let values: [Float] = [-30, -4, -1.5, -0.3, 0, 0.2, 1, 2.5, 9, 40]
        let attributes = approximate.map { ["approximate": Attribute.string($0)] } ?? [:]
        let node = Node(name: "f", kind: kind, inputs: ["x"], outputs: ["y"], attributes: attributes)
        let y = try Interpreter.evaluate(node, inputs: [Tensor(shape: [2, 5], floats: values)], opset: 20)[0]
        let definition = Self.definition(kind, approximate: approximate)
        Self.expectClose(y, Tensor(shape: [2, 5], floats: values.map { Float(definition(Double($0))) }), atol: 1e-6)
    }

    @Test("Gelu's approximate must be none or tanh")
    func geluApproximate() throws {
        let node = Node(
            name: "g", kind: .gelu, inputs: ["x"], outputs: ["y"], attributes: ["approximate": .string("sigmoid")])
        let error = #expect(throws: DFCError.self) {
            try Interpreter.evaluate(node, inputs: [Tensor(shape: [1], floats: [1])], opset: 20)
        }
        #expect(error?.message.contains("approximate must be \"none\" or \"tanh\", got \"sigmoid\"") == true)
        #expect(Activation(of: node, in: Self.graph([node], inputs: [:], outputs: [])) == nil)
    }

    @Test("Pow broadcasts and keeps the base's type: fp32 powers, exact integer powers, truncated mixed ones")
    func pow() throws {
        let node = Node(name: "p", kind: .pow, inputs: ["x", "e"], outputs: ["y"])
        func pow(_ x: Tensor, _ e: Tensor) throws -> Tensor {
            try Interpreter.evaluate(node, inputs: [x, e], opset: 15)[0]
        }
        let x = Tensor(shape: [2, 3], floats: [-2, 0.5, 3, 4, -1, 9])
        #expect(
            try pow(x, Tensor(shape: [], floats: [3])) == Tensor(shape: [2, 3], floats: [-8, 0.125, 27, 64, -1, 729]))
        Self.expectClose(
            try pow(x, Tensor(shape: [3], floats: [2, -1, 0.5])),
            Tensor(shape: [2, 3], floats: [4, 2, Float(3.0.squareRoot()), 16, -1, 3]))
        #expect(try pow(x, Tensor(shape: [1], ints: [2])) == Tensor(shape: [2, 3], floats: [4, 0.25, 9, 16, 1, 81]))
        // 3^39 needs 62 bits: exact in int64, not in fp32 or fp64.
        let ints = Tensor(shape: [4], ints: [3, -2, 2, 7])
        #expect(try pow(ints, Tensor(shape: [4], ints: [39, 3, -1, 0])).ints == [4_052_555_153_018_976_267, -8, 0, 1])
        #expect(try pow(ints, Tensor(shape: [1], floats: [0.5])).ints == [1, 0, 1, 2])
        // Opset 6: the exponent aligns at axis 0.
        let legacy = Node(
            name: "p", kind: .pow, inputs: ["x", "e"], outputs: ["y"],
            attributes: ["broadcast": .int(1), "axis": .int(0)])
        let aligned = try Interpreter.evaluate(legacy, inputs: [x, Tensor(shape: [2], floats: [2, 1])], opset: 6)[0]
        #expect(aligned == Tensor(shape: [2, 3], floats: [4, 0.25, 9, 4, -1, 9]))
    }

    // MARK: Errors

    @Test("an unsupported op is rejected with its name")
    func unsupportedOp() throws {
        let node = Node(name: "weird", kind: .opaque, opType: "Einsum", inputs: ["x"], outputs: ["y"])
        let g = Self.graph([node], inputs: ["x": Self.f32([2])], outputs: ["y"])
        let error = #expect(throws: DFCError.self) {
            try Interpreter.run(g, inputs: ["x": Tensor(shape: [2], floats: [1, 2])])
        }
        #expect(error?.message.contains("Einsum") == true)
        let single = #expect(throws: DFCError.self) {
            try Interpreter.evaluate(node, inputs: [Tensor(shape: [2], floats: [1, 2])], opset: 13)
        }
        #expect(single?.message.contains("Einsum") == true)
    }

    @Test("inputs are checked by name, dtype and shape")
    func inputChecks() throws {
        let node = Node(name: "relu", kind: .relu, inputs: ["x"], outputs: ["y"])
        let g = Self.graph([node], inputs: ["x": Self.f32([1, 3])], outputs: ["y"])
        let cases: [([String: Tensor], String)] = [
            ([:], "missing value for graph input 'x'"),
            (
                ["x": Tensor(shape: [1, 3], floats: [1, 2, 3]), "z": Tensor(shape: [1], floats: [0])],
                "no graph input named 'z'"
            ),
            (["x": Tensor(shape: [1, 3], ints: [1, 2, 3])], "must be f32"),
            (["x": Tensor(shape: [3, 1], floats: [1, 2, 3])], "has shape f32[3,1], but the graph declares f32[1,3]")
        ]
        for (inputs, message) in cases {
            let error = #expect(throws: DFCError.self) { try Interpreter.run(g, inputs: inputs) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error") should say \(message)")
        }
    }

    @Test("shapes that do not fit are an error naming the node, never a crash")
    func mismatchedShapes() throws {
        let add = Node(name: "add1", kind: .add, inputs: ["a", "b"], outputs: ["y"])
        let error = #expect(throws: DFCError.self) {
            try Interpreter.evaluate(
                add,
                inputs: [
                    Tensor(shape: [2, 3], floats: Array(repeating: 0, count: 6)),
                    Tensor(shape: [4], floats: [0, 0, 0, 0])
                ], opset: 13)
        }
        #expect(error?.message.contains("add1") == true)

        let conv = Node(name: "conv1", kind: .conv, inputs: ["x", "w"], outputs: ["y"])
        #expect(throws: DFCError.self) {
            try Interpreter.evaluate(
                conv,
                inputs: [
                    Tensor(shape: [1, 3, 4, 4], floats: Array(repeating: 0, count: 48)),
                    Tensor(shape: [2, 2, 3, 3], floats: Array(repeating: 0, count: 36))
                ], opset: 13)
        }
        #expect(throws: DFCError.self) {
            try Interpreter.evaluate(
                conv, inputs: [Tensor(shape: [1, 3, 4, 4], floats: Array(repeating: 0, count: 48))], opset: 13)
        }
        let reshape = Node(name: "r", kind: .reshape, inputs: ["x", "s"], outputs: ["y"])
        #expect(throws: DFCError.self) {
            try Interpreter.evaluate(
                reshape,
                inputs: [Tensor(shape: [6], floats: Array(repeating: 0, count: 6)), Tensor(shape: [1], ints: [4])],
                opset: 13)
        }
        // A graph whose declared intermediate type contradicts its input.
        var g = Self.graph(
            [Node(name: "relu", kind: .relu, inputs: ["x"], outputs: ["y"])], inputs: ["x": Self.f32([2])],
            outputs: ["y"])
        g.values["y"] = ValueInfo(Self.f32([3]))
        let declared = #expect(throws: DFCError.self) {
            try Interpreter.run(g, inputs: ["x": Tensor(shape: [2], floats: [1, 2])])
        }
        #expect(declared?.message.contains("declares") == true)
    }

    @Test("a result too large to hold is an error, and empty tensors are fine")
    func sizes() throws {
        let fill = Node(name: "big", kind: .constantOfShape, inputs: ["s"], outputs: ["y"])
        let error = #expect(throws: DFCError.self) {
            try Interpreter.evaluate(fill, inputs: [Tensor(shape: [3], ints: [1 << 20, 1 << 20, 1 << 20])], opset: 13)
        }
        #expect(error?.message.contains("more than") == true)
        let gemm = Node(name: "gemm", kind: .gemm, inputs: ["a", "b", "c"], outputs: ["y"])
        let empty = try Interpreter.evaluate(
            gemm,
            inputs: [
                Tensor(shape: [0, 3], floats: []), Tensor(shape: [3, 2], floats: Array(repeating: 1, count: 6)),
                Tensor(shape: [2], floats: [1, 2])
            ], opset: 13)
        #expect(empty[0].shape == [0, 2])
        let matMul = Node(name: "mm", kind: .matMul, inputs: ["a", "b"], outputs: ["y"])
        let zeroInner = try Interpreter.evaluate(
            matMul, inputs: [Tensor(shape: [2, 0], floats: []), Tensor(shape: [0, 3], floats: [])], opset: 13)
        #expect(zeroInner[0] == Tensor(shape: [2, 3], floats: Array(repeating: 0, count: 6)))
    }

    @Test("intermediate values are dropped after their last use; outputs and shared values survive")
    func valueLifetime() throws {
        let nodes = [
            Node(name: "a", kind: .relu, inputs: ["x"], outputs: ["a"]),
            Node(name: "b", kind: .add, inputs: ["a", "a"], outputs: ["b"]),
            Node(name: "c", kind: .mul, inputs: ["b", "a"], outputs: ["c"])
        ]
        let g = Self.graph(nodes, inputs: ["x": Self.f32([2])], outputs: ["c", "b"])
        let y = try Interpreter.run(g, inputs: ["x": Tensor(shape: [2], floats: [-1, 3])])
        #expect(y["c"]?.floats == [0, 18])
        #expect(y["b"]?.floats == [0, 6])
    }
}
