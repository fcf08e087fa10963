import GraphIR
import ReferenceInterpreter
import Tensors
/// Gives every fully-connected layer one form, the one the MATMUL
/// instruction computes: `Gemm(A, W, bias)` with `transB=1` (W is a constant
/// [N, K], one row per output), transA=0, alpha=1, beta=1 and a bias of one
/// value per output column, or none.
///
/// Gemm with a constant B and MatMul by a constant matrix are rewritten:
/// alpha is folded into W, beta into the bias; a transposed A gets an
/// explicit Transpose; a MatMul of a batch of matrices is a view to 2-D
/// around the Gemm. A bias that is not per column (or not constant) becomes
/// an Add after the Gemm. Products of two computed values stay as they are.
public struct LowerFullyConnected: Pass {
    public let name = "lower-fully-connected"
    public let summary = "make Gemm and MatMul by a constant one fully-connected Gemm (transB=1, bias [N])"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.lower(nodeAt:in:)])
    }

    /// Replaces node `index` by its canonical form if it is a
    /// fully-connected layer not yet in that form.
    static func lower(nodeAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard let lowered = lowering(node, in: &rewriter.graph) else { return .failure }
        rewriter.replaceNode(at: index, with: lowered.nodes)
        let gemmIndex = index + lowered.gemmOffset
        rewriter.setConstantInput(nodeAt: gemmIndex, 1, to: lowered.weight, name: "\(node.name)_weight")
        if let bias = lowered.bias {
            rewriter.setConstantInput(nodeAt: gemmIndex, 2, to: bias, name: "\(node.name)_bias")
        }
        return .expanded(lowered.nodes.count)
    }

    /// The nodes standing for a fully-connected layer, the Gemm among them
    /// still reading the old B and C: the weight and bias are written over
    /// those once it is in the graph, when nothing else reads them.
    struct Lowered {
        var nodes: [Node]
        var gemmOffset: Int
        var weight: Tensor
        var bias: Tensor?
    }

    /// The canonical form of `node`, nil when it is not a fully-connected
    /// layer or already canonical; adds the constants and value types the
    /// new nodes need.
    static func lowering(_ node: Node, in graph: inout Graph) -> Lowered? {
        guard [.gemm, .matMul].contains(node.kind), let a = node.input(0), let b = node.input(1),
            let output = node.outputs.first, let weight = graph.initializers[b], weight.dtype == .float32,
            weight.shape.count == 2, let aType = graph.type(of: a), let outputType = graph.type(of: output),
            graph.initializers[a] == nil
        else { return nil }
        if node.kind == .gemm && isCanonical(node, in: graph) || node.kind == .matMul && aType.rank < 2 { return nil }

        let transposedB = node.kind == .gemm && node.int("transB", default: 0) != 0
        let alpha = node.kind == .gemm ? node.float("alpha", default: 1) : 1
        let beta = node.kind == .gemm ? node.float("beta", default: 1) : 1
        var w =
            transposedB
            ? weight.floats : Kernels.transpose2D(weight.floats, rows: weight.shape[0], columns: weight.shape[1])
        if alpha != 1 { w = w.map { $0 * alpha } }
        let (n, k) = transposedB ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0])

        guard let (bias, addend) = splitBias(of: node, beta: beta, columns: n, in: &graph) else { return nil }

        var before: [Node] = [], after: [Node] = []
        var input = a
        if node.kind == .gemm && node.int("transA", default: 0) != 0 {
            input = graph.uniqueName("\(a)_transposed")
            graph.values[input] = ValueInfo(TensorType(dtype: .float32, shape: [aType.shape[1], aType.shape[0]]))
            before.append(
                Node(
                    name: graph.uniqueNodeName("\(node.name)_transpose"), kind: .transpose,
                    inputs: [a], outputs: [input], attributes: ["perm": .ints([1, 0])]))
        }
        let rows = outputType.count / n
        if aType.rank > 2 {
            input = graph.uniqueName("\(a)_rows")
            graph.values[input] = ValueInfo(TensorType(dtype: .float32, shape: [rows, k]))
            before.append(
                Node(
                    name: graph.uniqueNodeName("\(node.name)_rows"), kind: .reshape,
                    inputs: [a, CanonicalizeViews.shapeConstant([rows, k], in: &graph)], outputs: [input]))
        }
        var product = output
        if addend != nil || outputType.rank != 2 {
            product = graph.uniqueName("\(output)_product")
            graph.values[product] = ValueInfo(TensorType(dtype: .float32, shape: [rows, n]))
        }
        var last = product
        if outputType.rank != 2 {
            let viewed = addend == nil ? output : graph.uniqueName("\(output)_view")
            graph.values[viewed] = ValueInfo(outputType)
            after.append(
                Node(
                    name: graph.uniqueNodeName("\(node.name)_view"), kind: .reshape,
                    inputs: [last, CanonicalizeViews.shapeConstant(outputType.shape, in: &graph)], outputs: [viewed]))
            last = viewed
        }
        // A fused activation applies after the bias (and commutes with the view).
        if let addend {
            after.append(
                Node(
                    name: graph.uniqueNodeName("\(node.name)_add"), kind: .add, inputs: [last, addend],
                    outputs: [output],
                    activation: node.activation))
        }

        let gemm = Node(
            name: node.name, kind: .gemm, inputs: [input, b] + (bias == nil ? [] : [node.inputs[2]]),
            outputs: [product], attributes: ["transB": .int(1)], activation: addend == nil ? node.activation : nil)
        return Lowered(
            nodes: before + [gemm] + after, gemmOffset: before.count, weight: Tensor(shape: [n, k], floats: w),
            bias: bias)
    }

    /// The bias of a Gemm with `columns` outputs, scaled by `beta`: one
    /// value per column goes into the Gemm, anything else is added after it
    /// (the value to add); nil when a computed C would need scaling.
    static func splitBias(
        of node: Node, beta: Float, columns n: Int,
        in graph: inout Graph
    ) -> (bias: Tensor?, addend: String?)? {
        guard let c = node.input(2) else { return (nil, nil) }
        guard let constant = graph.initializers[c] else { return beta == 1 ? (nil, c) : nil }
        let scaled = beta == 1 ? constant.floats : constant.floats.map { $0 * beta }
        if constant.count == 1 || (constant.count == n && constant.shape.last == n) {
            return (Tensor(shape: [n], floats: scaled.count == 1 ? Array(repeating: scaled[0], count: n) : scaled), nil)
        }
        return (nil, graph.addConstant(Tensor(shape: constant.shape, floats: scaled), name: "\(node.name)_bias"))
    }

    /// Already `Gemm(A, W[N,K], bias[N]?)` with transB=1 and default transA, alpha, beta.
    static func isCanonical(_ node: Node, in graph: Graph) -> Bool {
        guard node.int("transB", default: 0) == 1, node.int("transA", default: 0) == 0,
            node.float("alpha", default: 1) == 1, node.float("beta", default: 1) == 1
        else { return false }
        guard let c = node.input(2) else { return true }
        guard let bias = graph.initializers[c], let n = graph.initializers[node.inputs[1]]?.shape.first else {
            return false
        }
        return bias.shape == [n]
    }
}
