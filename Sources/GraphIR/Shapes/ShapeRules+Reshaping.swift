import Tensors

// Shape rules of operators that only rearrange dims: Reshape, Flatten,
// Squeeze, Unsqueeze and Transpose.

extension ShapeRules {
    static func flatten(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let raw = c.node.int("axis", default: 1)
        let axis = raw < 0 ? raw + x.rank : raw
        guard (0...x.rank).contains(axis) else { throw DFCError("axis \(raw) out of range for \(x)") }
        return TensorType(dtype: x.dtype, shape: [x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])
    }

    static func transpose(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let perm = c.node.ints("perm") ?? Array((0..<x.rank).reversed())
        guard perm.sorted() == Array(0..<x.rank) else {
            throw DFCError("perm \(perm) is not a permutation of \(x.rank) axes")
        }
        return TensorType(dtype: x.dtype, shape: perm.map { x.shape[$0] })
    }

    /// Reshape's target shape with 0 and -1 resolved.
    static func reshapeTarget(_ requested: [Int64], input: [Int], allowZero: Bool) throws -> [Int] {
        var shape: [Int] = []
        var inferred: Int?
        for (i, r) in requested.enumerated() {
            switch r {
            case -1:
                guard inferred == nil else { throw DFCError("more than one -1 in shape \(requested)") }
                inferred = i
                shape.append(1)
            case 0 where !allowZero:
                guard i < input.count else { throw DFCError("0 in shape \(requested) has no input dimension to copy") }
                shape.append(input[i])
            default:
                guard r >= 0, r <= Int64(Int32.max) else {
                    throw DFCError("invalid dimension \(r) in shape \(requested)")
                }
                shape.append(Int(r))
            }
        }
        let total = input.reduce(1, *)
        let known = shape.reduce(1, *)
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw DFCError("cannot reshape \(input) to \(requested)") }
            shape[i] = total / known
        }
        guard shape.reduce(1, *) == total else {
            throw DFCError("cannot reshape \(input) (\(total) elements) to \(requested)")
        }
        return shape
    }

    static func reshape(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let requested: [Int64]
        if c.opset >= 5, c.node.input(1) != nil {
            guard let s = try c.constantInput(1, "shape") else { throw DFCError("shape is required") }
            requested = s.ints
        } else if let s = c.node.ints("shape") {
            requested = s.map(Int64.init)
        } else {
            throw DFCError("shape is required")
        }
        let shape = try reshapeTarget(requested, input: x.shape, allowZero: c.node.int("allowzero", default: 0) == 1)
        return TensorType(dtype: x.dtype, shape: shape)
    }

    static func squeeze(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: 13)
        let axes: Set<Int>
        if let raw, !raw.isEmpty {
            axes = Set(
                try raw.map { a in
                    guard let n = ShapeMath.normalize(axis: a, rank: x.rank), x.shape[n] == 1 else {
                        throw DFCError("cannot squeeze axis \(a) of \(x)")
                    }
                    return n
                })
        } else {
            axes = Set(x.shape.indices.filter { x.shape[$0] == 1 })
        }
        return TensorType(dtype: x.dtype, shape: x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] })
    }

    static func unsqueeze(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: 13) else {
            throw DFCError("axes are required")
        }
        let rank = x.rank + raw.count
        let axes = try raw.map { a in
            guard let n = ShapeMath.normalize(axis: a, rank: rank) else { throw DFCError("axis \(a) out of range") }
            return n
        }
        guard Set(axes).count == axes.count else { throw DFCError("repeated axes \(raw)") }
        var shape: [Int] = []
        var source = x.shape.makeIterator()
        for i in 0..<rank { shape.append(axes.contains(i) ? 1 : source.next()!) }
        return TensorType(dtype: x.dtype, shape: shape)
    }
}
