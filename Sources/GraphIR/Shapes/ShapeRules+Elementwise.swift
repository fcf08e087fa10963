import Tensors

// Shape rules of element-wise operators: activations keep their input's
// type, arithmetic broadcasts its operands.

extension ShapeRules {
    static func unary(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        if c.node.kind == .softmax,
            ShapeMath.normalize(axis: c.node.int("axis", default: c.opset >= 13 ? -1 : 1), rank: x.rank) == nil
        {
            throw DFCError("axis out of range for \(x)")
        }
        if c.node.kind == .gelu { _ = try Activation.gelu(of: c.node) }
        return x
    }

    static func logicalNot(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard x.dtype == .bool else { throw DFCError("input must be bool, got \(x)") }
        return x
    }

    /// Comparisons and And/Or/Xor: operands of one type, broadcast, a bool result.
    static func comparison(_ c: Context) throws -> TensorType {
        let a = try c.input(0), b = try c.input(1)
        guard a.dtype == b.dtype else { throw DFCError("operands must have one element type, got \(a) and \(b)") }
        if OpKind.logical.contains(c.node.kind) {
            guard a.dtype == .bool else { throw DFCError("operands must be bool, got \(a) and \(b)") }
        } else if a.dtype == .bool && c.node.kind != .equal {
            throw DFCError("operands must be numbers, got \(a) and \(b)")
        }
        guard let shape = ShapeMath.broadcast(a.shape, b.shape) else {
            throw DFCError("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        return TensorType(dtype: .bool, shape: shape)
    }

    /// Where(condition, x, y): the three broadcast; x's type.
    static func select(_ c: Context) throws -> TensorType {
        let condition = try c.input(0), x = try c.input(1), y = try c.input(2)
        guard condition.dtype == .bool else { throw DFCError("the condition must be bool, got \(condition)") }
        guard x.dtype == y.dtype else { throw DFCError("x and y must have one element type, got \(x) and \(y)") }
        guard let xy = ShapeMath.broadcast(x.shape, y.shape), let shape = ShapeMath.broadcast(condition.shape, xy)
        else {
            throw DFCError("shapes \(condition.shape), \(x.shape) and \(y.shape) do not broadcast")
        }
        return TensorType(dtype: x.dtype, shape: shape)
    }

    static func dropout(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        // The mask is the input's type before opset 10, boolean after.
        let mask = TensorType(dtype: c.opset < 10 ? x.dtype : .bool, shape: x.shape)
        return c.node.outputs.count > 1 ? [x, mask] : [x]
    }

    static func broadcast(_ c: Context) throws -> TensorType {
        // Sum, Min and Max take one or more operands; the others exactly two (the lowerings read both).
        let variadic = [.sum, .min, .max].contains(c.node.kind)
        guard variadic ? !c.inputs.isEmpty : c.inputs.count == 2 else {
            throw DFCError("expects \(variadic ? "at least one input" : "two inputs"), got \(c.inputs.count)")
        }
        var shape = try c.input(0).shape
        let dtype = try c.input(0).dtype
        if [.min, .max].contains(c.node.kind), dtype == .bool { throw DFCError("operands must be numbers") }
        for i in 1..<c.inputs.count {
            let other = alignedOperand(c.node, opset: c.opset, first: shape, operand: try c.input(i).shape)
            guard let merged = ShapeMath.broadcast(shape, other) else {
                throw DFCError("shapes \(shape) and \(other) do not broadcast")
            }
            shape = merged
        }
        return TensorType(dtype: dtype, shape: shape)
    }

    /// The shape a later operand of an element-wise node broadcasts as.
    /// Before opset 7, `broadcast=1` aligns the second operand at `axis`
    /// (Add, Sub, Mul, Div, Pow), and PRelu's slope of one value per channel
    /// aligns with the channel axis; from opset 7 on, NumPy rules apply as is.
    package static func alignedOperand(_ node: Node, opset: Int, first: [Int], operand: [Int]) -> [Int] {
        guard opset < 7 else { return operand }
        if node.kind == .pRelu {
            guard operand.count == 1, first.count > 2, operand[0] == first[1], operand[0] != 1 else { return operand }
            return operand + Array(repeating: 1, count: first.count - 2)
        }
        guard node.int("broadcast", default: 0) == 1 else { return operand }
        let axis = node.int("axis", default: first.count - operand.count)
        let a = axis < 0 ? axis + first.count : axis
        let trailing = first.count - a - operand.count
        return trailing > 0 ? operand + Array(repeating: 1, count: trailing) : operand
    }
}
