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

    static func dropout(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        // The mask is the input's type before opset 10, boolean after.
        let mask = TensorType(dtype: c.opset < 10 ? x.dtype : .int64, shape: x.shape)
        return c.node.outputs.count > 1 ? [x, mask] : [x]
    }

    static func broadcast(_ c: Context) throws -> TensorType {
        // Sum takes one or more operands; the others exactly two (the lowerings read both).
        guard c.node.kind == .sum ? !c.inputs.isEmpty : c.inputs.count == 2 else {
            throw DFCError(
                "expects \(c.node.kind == .sum ? "at least one input" : "two inputs"), got \(c.inputs.count)")
        }
        var shape = try c.input(0).shape
        let dtype = try c.input(0).dtype
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
