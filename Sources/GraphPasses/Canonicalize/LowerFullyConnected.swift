import GraphIR
import ReferenceInterpreter
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
        var index = 0
        while index < graph.nodes.count {
            index = Self.lower(nodeAt: index, in: &graph) + 1
        }
    }

    /// Rewrites node `index` if it is a fully-connected layer not yet in the
    /// canonical form; returns the index of the last node of the rewrite.
    static func lower(nodeAt index: Int, in graph: inout Graph) -> Int {
        let node = graph.nodes[index]
        guard [.gemm, .matMul].contains(node.kind), let a = node.input(0), let b = node.input(1),
              let output = node.outputs.first, let weight = graph.initializers[b], weight.dtype == .float32,
              weight.shape.count == 2, let aType = graph.type(of: a), let outputType = graph.type(of: output),
              graph.initializers[a] == nil else { return index }
        if node.kind == .gemm && isCanonical(node, in: graph) || node.kind == .matMul && aType.rank < 2 { return index }

        let transposedB = node.kind == .gemm && node.int("transB", default: 0) != 0
        let alpha = node.kind == .gemm ? node.float("alpha", default: 1) : 1
        let beta = node.kind == .gemm ? node.float("beta", default: 1) : 1
        var w = transposedB ? weight.floats : Kernels.transpose2D(weight.floats, rows: weight.shape[0], columns: weight.shape[1])
        if alpha != 1 { w = w.map { $0 * alpha } }
        let (n, k) = transposedB ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0])

        // The bias: per column into the Gemm, otherwise a separate Add.
        var bias: Tensor?
        var addend: String?
        if let c = node.input(2) {
            if let constant = graph.initializers[c] {
                let scaled = beta == 1 ? constant.floats : constant.floats.map { $0 * beta }
                if constant.count == 1 || (constant.count == n && constant.shape.last == n) {
                    bias = Tensor(shape: [n], floats: scaled.count == 1 ? Array(repeating: scaled[0], count: n) : scaled)
                } else {
                    addend = graph.addConstant(Tensor(shape: constant.shape, floats: scaled), name: "\(node.name)_bias")
                }
            } else {
                guard beta == 1 else { return index }
                addend = c
            }
        }

        var before: [Node] = [], after: [Node] = []
        var input = a
        if node.kind == .gemm && node.int("transA", default: 0) != 0 {
            input = graph.uniqueName("\(a)_transposed")
            graph.values[input] = ValueInfo(TensorType(dtype: .float32, shape: [aType.shape[1], aType.shape[0]]))
            before.append(Node(name: graph.uniqueNodeName("\(node.name)_transpose"), kind: .transpose,
                               inputs: [a], outputs: [input], attributes: ["perm": .ints([1, 0])]))
        }
        let rows = outputType.count / n
        if aType.rank > 2 {
            input = graph.uniqueName("\(a)_rows")
            graph.values[input] = ValueInfo(TensorType(dtype: .float32, shape: [rows, k]))
            before.append(Node(name: graph.uniqueNodeName("\(node.name)_rows"), kind: .reshape,
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
            after.append(Node(name: graph.uniqueNodeName("\(node.name)_view"), kind: .reshape,
                              inputs: [last, CanonicalizeViews.shapeConstant(outputType.shape, in: &graph)], outputs: [viewed]))
            last = viewed
        }
        // A fused activation applies after the bias (and commutes with the view).
        if let addend {
            after.append(Node(name: graph.uniqueNodeName("\(node.name)_add"), kind: .add, inputs: [last, addend], outputs: [output],
                              activation: node.activation))
        }

        // Weight and bias are written over B and C when nothing else reads them.
        let gemm = Node(name: node.name, kind: .gemm, inputs: [input, b] + (bias == nil ? [] : [node.inputs[2]]),
                        outputs: [product], attributes: ["transB": .int(1)], activation: addend == nil ? node.activation : nil)
        graph.nodes.replaceSubrange(index...index, with: before + [gemm] + after)
        let gemmIndex = index + before.count
        graph.setConstantInput(nodeAt: gemmIndex, 1, to: Tensor(shape: [n, k], floats: w), name: "\(node.name)_weight")
        if let bias { graph.setConstantInput(nodeAt: gemmIndex, 2, to: bias, name: "\(node.name)_bias") }
        return gemmIndex + after.count
    }

    /// Already `Gemm(A, W[N,K], bias[N]?)` with transB=1 and default transA, alpha, beta.
    static func isCanonical(_ node: Node, in graph: Graph) -> Bool {
        guard node.int("transB", default: 0) == 1, node.int("transA", default: 0) == 0,
              node.float("alpha", default: 1) == 1, node.float("beta", default: 1) == 1 else { return false }
        guard let c = node.input(2) else { return true }
        guard let bias = graph.initializers[c], let n = graph.initializers[node.inputs[1]]?.shape.first else { return false }
        return bias.shape == [n]
    }
}
