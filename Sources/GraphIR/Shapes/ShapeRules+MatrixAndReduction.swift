import Tensors

// Shape rules of matrix products and reductions: Gemm, MatMul and
// ReduceMean, ReduceSum, ReduceProd, ReduceMax, ReduceMin.

extension ShapeRules {
    static func gemm(_ c: Context) throws -> TensorType {
        let a = try c.input(0), b = try c.input(1)
        guard a.rank == 2, b.rank == 2 else { throw DFCError("A \(a) and B \(b) must be matrices") }
        let transA = c.node.int("transA", default: 0) != 0, transB = c.node.int("transB", default: 0) != 0
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else { throw DFCError("inner dimensions differ: A gives \(k), B gives \(k2)") }
        if let bias = c.optionalInput(2), ShapeMath.broadcast(bias.shape, [m, n]) != [m, n] {
            throw DFCError("C \(bias.shape) does not broadcast to [\(m), \(n)]")
        }
        return TensorType(dtype: .float32, shape: [m, n])
    }

    static func matMul(_ c: Context) throws -> TensorType {
        let a = try c.input(0), b = try c.input(1)
        guard a.rank >= 1, b.rank >= 1 else { throw DFCError("operands must have rank >= 1") }
        let aShape = a.rank == 1 ? [1] + a.shape : a.shape
        let bShape = b.rank == 1 ? b.shape + [1] : b.shape
        guard aShape[aShape.count - 1] == bShape[bShape.count - 2] else {
            throw DFCError("inner dimensions differ: \(a.shape) x \(b.shape)")
        }
        guard let batch = ShapeMath.broadcast(Array(aShape.dropLast(2)), Array(bShape.dropLast(2))) else {
            throw DFCError("batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        var shape = batch
        if a.rank > 1 { shape.append(aShape[aShape.count - 2]) }
        if b.rank > 1 { shape.append(bShape[bShape.count - 1]) }
        return TensorType(dtype: a.dtype, shape: shape)
    }

    /// The axes a reduction reduces, normalized: an attribute before opset
    /// 13 (ReduceSum) or 18 (the others), an optional input after. Absent or
    /// empty axes reduce everything, unless `noop_with_empty_axes` is 1.
    package static func reduceAxes(_ c: Context, rank: Int) throws -> [Int] {
        let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: c.node.kind == .reduceSum ? 13 : 18)
        guard let raw, !raw.isEmpty else {
            return c.node.int("noop_with_empty_axes", default: 0) == 1 ? [] : Array(0..<rank)
        }
        let axes = try raw.map { a in
            guard let n = ShapeMath.normalize(axis: a, rank: rank) else {
                throw DFCError("axis \(a) out of range for rank \(rank)")
            }
            return n
        }
        guard Set(axes).count == axes.count else { throw DFCError("repeated axes \(raw)") }
        return axes
    }

    static func reduce(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        if x.dtype == .bool && c.node.kind != .reduceMax && c.node.kind != .reduceMin {
            throw DFCError("input must be numeric, got \(x)")
        }
        let axes = Set(try reduceAxes(c, rank: x.rank))
        let keep = c.node.int("keepdims", default: 1) != 0
        var shape: [Int] = []
        for (i, d) in x.shape.enumerated() {
            if axes.contains(i) { if keep { shape.append(1) } } else { shape.append(d) }
        }
        return TensorType(dtype: x.dtype, shape: shape)
    }
}
