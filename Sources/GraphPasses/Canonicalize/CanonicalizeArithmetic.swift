import GraphIR
import Tensors

/// Exporter idioms written as arithmetic become the ops the planner knows:
/// HardSwish spelled out (x·Clip(x+3, 0, 6)/6, x·Relu6(x+3)/6 written as a
/// Clip, x·HardSigmoid(x)) becomes one HardSwish; SiLU, GELU and Mish
/// spelled out (x·Sigmoid(x), PyTorch's erf and tanh GELUs,
/// x·Tanh(Softplus(x))) become one SiLU, Gelu or Mish, and so does ONNX's
/// Swish with alpha 1 (other alphas stay Swish); a Sum of two becomes an
/// Add; Reshape-Transpose-Reshape channel shuffles become one
/// ChannelShuffle, folded into the weights of readers that are all
/// ungrouped convolutions (`foldChannelShuffle`); a Div by a float
/// constant becomes a Mul by its reciprocal (element-wise with a constant,
/// which groups take in; a Div does not fuse), and a Transpose undone by the
/// next Transpose (NHWC exporters' pairs) disappears; an AveragePool over
/// the whole unpadded map becomes a GlobalAveragePool. An average pool of a
/// 1x1 convolution pools the convolution's input instead
/// (`poolBeforePointwiseConv`: a DenseNet transition's convolution on a
/// quarter of the cells).
public struct CanonicalizeArithmetic: Pass {
    public let name = "canonicalize-arithmetic"
    public let summary =
        "HardSwish, SiLU, GELU and Mish spelled out in arithmetic become one op; Div by a constant becomes Mul; Sum of two becomes Add; channel shuffles become one op; Transpose pairs that cancel go; a whole-map AveragePool becomes global; an average pool of a 1x1 convolution pools its input instead"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        // The idioms' intermediate nodes are dropped at once, so the activation is
        // its producer's only reader and fuses into it. (The array is typed: an
        // inferred one, of @Sendable functions, fails its conversion at run time.)
        let rules: [RewriteRule] = [
            Self.hardSwish(at:in:), Self.smoothActivation(at:in:), Self.swishToSiLU(at:in:),
            Self.divByConstant(at:in:), Self.cancelTransposes(at:in:), Self.sumOfTwo(at:in:),
            Self.channelShuffle(at:in:), Self.poolThroughConcat(at:in:), Self.wholeMapAverage(at:in:),
            Self.poolBeforePointwiseConv(at:in:)
        ]
        var changed = try graph.rewrite(with: rules)
        // Shuffles found above then fold into their readers (the driver does not revisit a node it rewrote).
        changed = try graph.rewrite(with: [Self.foldChannelShuffle(at:in:)]) || changed
        if changed { graph.eliminateDeadCode() }
    }

    /// Swish(x) (opset 24) is x·sigmoid(alpha·x): SiLU when alpha is 1.
    static func swishToSiLU(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .swish, node.float("alpha", default: 1) == 1, let x = node.input(0),
            rewriter.graph.type(of: x)?.dtype == .float32
        else { return .failure }
        let silu = Node(name: node.name, kind: .silu, inputs: [x], outputs: node.outputs, activation: node.activation)
        rewriter.replaceNode(at: index, with: silu)
        return .rewritten
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

    /// Reshape(Transpose(Reshape(x, [N, g, C/g, ...]), [0, 2, 1, ...]), [N, C, ...])
    /// becomes ChannelShuffle(x, group: g), the views and the Transpose
    /// having no other readers (any view kind, judged by inferred shapes).
    static func channelShuffle(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let graph = rewriter.graph
        let node = graph.nodes[index]
        func producer(_ value: String) -> Node? { rewriter.uses.producer(of: value).map { graph.nodes[$0] } }
        func only(_ value: String) -> Bool {
            rewriter.uses.consumers(of: value).count == 1 && !graph.outputs.contains(value)
        }
        guard CanonicalizeViews.kinds.contains(node.kind), node.activation == nil, let t = node.input(0),
            let transpose = producer(t), transpose.kind == .transpose, transpose.activation == nil, only(t),
            let u = transpose.input(0), let view = producer(u), CanonicalizeViews.kinds.contains(view.kind),
            view.activation == nil, only(u), let x = view.input(0), let xType = graph.type(of: x),
            let uType = graph.type(of: u), let y = graph.type(of: node.outputs[0]), xType == y, xType.rank >= 3
        else { return .failure }
        let rank = uType.rank, groups = uType.shape.count > 2 ? uType.shape[1] : 0
        let perm = [0, 2, 1] + Array(3..<max(3, rank))
        guard rank == xType.rank + 1, transpose.ints("perm") == perm, groups > 0,
            uType.shape == [xType.shape[0], groups, xType.shape[1] / groups] + xType.shape[2...]
        else { return .failure }
        rewriter.replaceNode(
            at: index,
            with: Node(
                name: node.name, kind: .channelShuffle, inputs: [x], outputs: node.outputs,
                attributes: ["group": .int(groups)]))
        return .rewritten
    }

    /// Sum(a, b) becomes Add(a, b) (older exporters join residuals with a
    /// Sum; both broadcast alike, and an Add is row-local in a group).
    static func sumOfTwo(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .sum, node.inputs.count == 2, !node.inputs.contains(where: \.isEmpty) else {
            return .failure
        }
        var add = node
        add.kind = .add
        add.opType = OpKind.add.rawValue
        rewriter.replaceNode(at: index, with: add)
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

    /// The node that ends a spelled-out SiLU, GELU or Mish of some x becomes
    /// SiLU(x), Gelu(x) or Mish(x): a product of x, a constant and a function
    /// of x, in any association of Mul and Div-by-constant nodes (see
    /// `Idiom.smoothActivation`). Every intermediate value of the idiom must
    /// have no reader outside it, so nothing is computed twice; dead-code
    /// elimination drops them.
    static func smoothActivation(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        let idiom = Idiom(graph: rewriter.graph, uses: rewriter.uses)
        guard node.outputs.count == 1, rewriter.graph.type(of: node.outputs[0])?.dtype == .float32,
            let match = idiom.product(node).flatMap(idiom.smoothActivation),
            rewriter.graph.type(of: match.x) == rewriter.graph.type(of: node.outputs[0])
        else { return .failure }
        let replacement = Node(
            name: node.name, kind: match.kind, inputs: [match.x], outputs: node.outputs, attributes: match.attributes,
            activation: node.activation)
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

        // MARK: SiLU, GELU and Mish

        /// A product of values and constants, as a tree of Mul and
        /// Div-by-constant nodes computes it.
        struct Product {
            /// The factors that are not scalar constants, in operand order.
            var factors: [String] = []
            /// The product of the scalar constant factors, divided by the constant divisors.
            var scale: Float = 1
        }

        /// What `node` multiplies when it is a Mul, or a Div by a scalar
        /// constant, looking through the operands that are such products
        /// themselves and have no other reader.
        func product(_ node: Node) -> Product? {
            guard node.inputs.count == 2 else { return nil }
            switch node.kind {
            case .mul:
                let (a, b) = (factors(node.inputs[0]), factors(node.inputs[1]))
                return Product(factors: a.factors + b.factors, scale: a.scale * b.scale)
            case .div:
                guard let divisor = scalar(node.inputs[1]), divisor != 0 else { return nil }
                var dividend = factors(node.inputs[0])
                dividend.scale /= divisor
                return dividend
            default:
                return nil
            }
        }

        /// `value` as a product: a scalar constant, an intermediate product, or a single factor.
        func factors(_ value: String) -> Product {
            if let c = scalar(value) { return Product(scale: c) }
            if isIntermediate(value), let node = producer(value), node.activation == nil, let inner = product(node) {
                return inner
            }
            return Product(factors: [value])
        }

        /// True when one node reads `value`, once, and it is not a graph
        /// output: the value belongs to the idiom that reads it.
        func isIntermediate(_ value: String) -> Bool {
            uses.consumers(of: value).count == 1 && !graph.outputs.contains(value)
        }

        /// The node producing `value`, when it is a `kind` with no fused
        /// activation and `value` is an intermediate.
        func intermediate(_ value: String, _ kind: OpKind) -> Node? {
            guard isIntermediate(value), let node = producer(value), node.kind == kind, node.activation == nil else {
                return nil
            }
            return node
        }

        /// The op `product` spells out, with its attributes, and its argument.
        func smoothActivation(_ product: Product) -> (x: String, kind: OpKind, attributes: [String: Attribute])? {
            if let x = silu(product) { return (x, .silu, [:]) }
            if let x = mish(product) { return (x, .mish, [:]) }
            if let x = gelu(product) { return (x, .gelu, [:]) }
            if let x = geluTanh(product) { return (x, .gelu, ["approximate": .string("tanh")]) }
            return nil
        }

        /// For `scale`·x·f(x), the factors in either order, where `argument`
        /// gives the x a value is f of: x.
        func timesOwn(_ product: Product, scale: Float, _ argument: (String) -> String?) -> String? {
            guard product.factors.count == 2, Self.near(product.scale, scale) else { return nil }
            let (a, b) = (product.factors[0], product.factors[1])
            if argument(b) == a { return a }
            if argument(a) == b { return b }
            return nil
        }

        /// For x·Sigmoid(x): x.
        func silu(_ product: Product) -> String? {
            timesOwn(product, scale: 1) { intermediate($0, .sigmoid)?.input(0) }
        }

        /// For x·Tanh(Softplus(x)): x.
        func mish(_ product: Product) -> String? {
            timesOwn(product, scale: 1) { value in
                intermediate(value, .tanh)?.input(0).flatMap { intermediate($0, .softplus)?.input(0) }
            }
        }

        /// For x/2·(1 + Erf(x/√2)), x/√2 also as x·(1/√2): x.
        func gelu(_ product: Product) -> String? {
            timesOwn(product, scale: 0.5) { value in
                onePlus(value).flatMap { intermediate($0, .erf)?.input(0) }.flatMap {
                    single($0, scaledBy: ActivationMath.inverseSquareRootOf2)
                }
            }
        }

        /// For x/2·(1 + Tanh(√(2/π)·(x + 0.044715·x³))), x³ as Pow(x, 3) or x·x·x: x.
        func geluTanh(_ product: Product) -> String? {
            timesOwn(product, scale: 0.5) { value in
                guard let inner = onePlus(value).flatMap({ intermediate($0, .tanh)?.input(0) }),
                    let sum = single(inner, scaledBy: ActivationMath.squareRootOf2OverPi).flatMap({
                        intermediate($0, .add)
                    }), sum.inputs.count == 2
                else { return nil }
                let (a, b) = (sum.inputs[0], sum.inputs[1])
                if cubeTerm(b) == a { return a }
                if cubeTerm(a) == b { return b }
                return nil
            }
        }

        /// For 0.044715·x³, x³ as Pow(x, 3) or x·x·x: x.
        func cubeTerm(_ value: String) -> String? {
            let term = factors(value)
            guard Self.near(term.scale, 0.044715) else { return nil }
            if term.factors.count == 3, Set(term.factors).count == 1 { return term.factors[0] }
            guard term.factors.count == 1, let pow = intermediate(term.factors[0], .pow), pow.inputs.count == 2,
                let exponent = graph.initializers[pow.inputs[1]], exponent.count == 1, exponent.floats[0] == 3
            else { return nil }
            return pow.inputs[0]
        }

        /// For c·v with c within rounding of `scale`: v.
        func single(_ value: String, scaledBy scale: Float) -> String? {
            let scaled = factors(value)
            return scaled.factors.count == 1 && Self.near(scaled.scale, scale) ? scaled.factors[0] : nil
        }

        /// For an intermediate Add(v, 1) or Add(1, v): v.
        func onePlus(_ value: String) -> String? {
            guard let add = intermediate(value, .add), add.inputs.count == 2 else { return nil }
            if scalar(add.inputs[1]) == 1 { return add.inputs[0] }
            if scalar(add.inputs[0]) == 1 { return add.inputs[1] }
            return nil
        }

        // MARK: HardSwish

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
