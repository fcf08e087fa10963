import GraphIR
import Tensors

/// Exporter idioms written as arithmetic become the ops the planner knows:
/// HardSwish spelled out (x·Clip(x+3, 0, 6)/6, x·Relu6(x+3)/6 written as a
/// Clip, x·HardSigmoid(x)) becomes one HardSwish, and a Div by a float
/// constant becomes a Mul by its reciprocal (element-wise with a constant,
/// which groups take in; a Div does not fuse), and a Transpose undone by the
/// next Transpose (NHWC exporters' pairs) disappears.
public struct CanonicalizeArithmetic: Pass {
    public let name = "canonicalize-arithmetic"
    public let summary =
        "HardSwish spelled out in arithmetic becomes HardSwish; Div by a constant becomes Mul; Transpose pairs that cancel go"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        // The idioms' intermediate nodes are dropped at once, so the HardSwish is
        // its producer's only reader and fuses into it.
        if try graph.rewrite(with: [Self.hardSwish(at:in:), Self.divByConstant(at:in:), Self.cancelTransposes(at:in:)])
        {
            graph.eliminateDeadCode()
        }
    }

    /// Div(x, c) with a float constant c free of zeros becomes Mul(x, 1/c).
    static func divByConstant(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .div, let divisor = node.input(1), let c = rewriter.graph.initializers[divisor],
            c.dtype == .float32, rewriter.graph.type(of: node.outputs[0])?.dtype == .float32
        else { return .failure }
        let values = c.floats
        guard values.allSatisfy({ $0 != 0 && $0.isFinite }) else { return .failure }
        let reciprocal = rewriter.graph.addConstant(
            Tensor(shape: c.shape, floats: values.map { 1 / $0 }), name: "\(divisor)_reciprocal")
        var mul = node
        mul.kind = .mul
        mul.opType = OpKind.mul.rawValue
        mul.inputs = [node.inputs[0], reciprocal]
        rewriter.replaceNode(at: index, with: mul)
        return .rewritten
    }

    /// Transpose(Transpose(x, p), q) with q undoing p reads x: the second
    /// Transpose's readers read x (the first stays for any other reader).
    static func cancelTransposes(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .transpose, node.activation == nil, let middle = node.input(0),
            let first = rewriter.uses.producer(of: middle).map({ rewriter.graph.nodes[$0] }), first.kind == .transpose,
            first.activation == nil, let x = first.input(0), let rank = rewriter.graph.type(of: x)?.rank,
            let output = node.outputs.first
        else { return .failure }
        let reversed = Array((0..<rank).reversed())
        let p = first.ints("perm") ?? reversed, q = node.ints("perm") ?? reversed
        guard p.count == rank, q.count == rank, q.indices.allSatisfy({ p[q[$0]] == $0 }) else { return .failure }
        return rewriter.bypass(nodeAt: index, input: x, output: output) ? .erased : .failure
    }

    /// The node that ends a spelled-out HardSwish of some x becomes HardSwish(x):
    /// Mul(x, s(x)) where s is x's hard sigmoid, or Mul/Div(Mul(x, r(x)), 6)
    /// where r is Clip(x + 3, 0, 6). The intermediate nodes stay for any other
    /// reader, and dead-code elimination drops them otherwise.
    static func hardSwish(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .mul || node.kind == .div, node.inputs.count == 2, node.outputs.count == 1,
            rewriter.graph.type(of: node.outputs[0])?.dtype == .float32
        else { return .failure }
        let idiom = Idiom(graph: rewriter.graph, uses: rewriter.uses)
        var x: String?
        if node.kind == .mul {
            let (a, b) = (node.inputs[0], node.inputs[1])
            if idiom.hardSigmoid(of: b) == a {
                x = a
            } else if idiom.hardSigmoid(of: a) == b {
                x = b
            } else if let product = idiom.sixth(node) {
                x = idiom.timesShiftedRelu6(product)
            }
        } else if let product = idiom.sixth(node) {
            x = idiom.timesShiftedRelu6(product)
        }
        guard let x, rewriter.graph.type(of: x) == rewriter.graph.type(of: node.outputs[0]) else { return .failure }
        let replacement = Node(
            name: node.name, kind: .hardSwish, inputs: [x], outputs: node.outputs, activation: node.activation)
        rewriter.replaceNode(at: index, with: replacement)
        return .rewritten
    }

    /// Reads the producers of values, for the idioms.
    struct Idiom {
        let graph: Graph
        let uses: UseDefIndex

        func producer(_ value: String) -> Node? { uses.producer(of: value).map { graph.nodes[$0] } }

        /// A one-element float constant's value.
        func scalar(_ value: String) -> Float? {
            guard let t = graph.initializers[value], t.dtype == .float32, t.count == 1 else { return nil }
            return t.floats[0]
        }

        static func near(_ a: Float, _ b: Float) -> Bool { abs(a - b) <= 1e-6 * max(1, abs(b)) }

        /// For Mul(v, 1/6), Mul(1/6, v) or Div(v, 6): v.
        func sixth(_ node: Node) -> String? {
            guard node.inputs.count == 2 else { return nil }
            let (a, b) = (node.inputs[0], node.inputs[1])
            switch node.kind {
            case .mul:
                if let s = scalar(b), Self.near(s, 1 / 6) { return a }
                if let s = scalar(a), Self.near(s, 1 / 6) { return b }
            case .div:
                if let s = scalar(b), Self.near(s, 6) { return a }
            default: break
            }
            return nil
        }

        /// For Clip(x + 3, 0, 6) (bounds as attributes or constant inputs): x.
        func shiftedRelu6(_ value: String) -> String? {
            guard let clip = producer(value), clip.kind == .clip, let shifted = clip.input(0) else { return nil }
            let low = clip.input(1).map(scalar) ?? clip.float("min", default: -.greatestFiniteMagnitude)
            let high = clip.input(2).map(scalar) ?? clip.float("max", default: .greatestFiniteMagnitude)
            guard let low, let high, low == 0, high == 6, clip.activation == nil,
                let add = producer(shifted), add.kind == .add, add.activation == nil, add.inputs.count == 2
            else { return nil }
            if let three = scalar(add.inputs[1]), three == 3 { return add.inputs[0] }
            if let three = scalar(add.inputs[0]), three == 3 { return add.inputs[1] }
            return nil
        }

        /// For a hard sigmoid of x as HardSwish needs it (x/6 + 1/2, clipped to [0, 1]):
        /// HardSigmoid(x) with alpha 1/6 and beta 1/2, or Clip(x + 3, 0, 6) / 6.
        func hardSigmoid(of value: String) -> String? {
            guard let node = producer(value), node.activation == nil else { return nil }
            if node.kind == .hardSigmoid, Self.near(node.float("alpha", default: 0.2), 1 / 6),
                Self.near(node.float("beta", default: 0.5), 0.5)
            {
                return node.input(0)
            }
            return sixth(node).flatMap(shiftedRelu6)
        }

        /// For Mul(x, Clip(x + 3, 0, 6)) in either order: x.
        func timesShiftedRelu6(_ value: String) -> String? {
            guard let mul = producer(value), mul.kind == .mul, mul.activation == nil, mul.inputs.count == 2 else {
                return nil
            }
            let (a, b) = (mul.inputs[0], mul.inputs[1])
            if shiftedRelu6(b) == a { return a }
            if shiftedRelu6(a) == b { return b }
            return nil
        }
    }
}
