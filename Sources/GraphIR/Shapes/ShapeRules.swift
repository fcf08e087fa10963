import Tensors

/// The output types of one node from its input types, per ONNX semantics.
/// Errors describe the problem without naming the node; the caller adds it.
package enum ShapeRules {
    package struct Context {
        var node: Node
        /// One entry per node input; nil for an omitted optional input.
        var inputs: [TensorType?]
        var opset: Int
        /// The compile-time value of a value, when known.
        var constant: (String) -> Tensor?

        package init(node: Node, inputs: [TensorType?], opset: Int, constant: @escaping (String) -> Tensor?) {
            self.node = node
            self.inputs = inputs
            self.opset = opset
            self.constant = constant
        }

        func input(_ i: Int) throws -> TensorType {
            guard i < inputs.count, let type = inputs[i] else { throw DFCError("input \(i) is missing") }
            return type
        }

        func optionalInput(_ i: Int) -> TensorType? { i < inputs.count ? inputs[i] : nil }

        /// The constant value of input `i`, or nil when the input is omitted.
        func constantInput(_ i: Int, _ what: String) throws -> Tensor? {
            guard let name = node.input(i) else { return nil }
            guard let value = constant(name) else {
                throw DFCError("\(what) ('\(name)') must be a compile-time constant")
            }
            return value
        }

        /// Integer list from an attribute (older opsets) or a constant input (newer).
        func intList(attribute: String, input: Int, sinceOpset: Int) throws -> [Int]? {
            if opset >= sinceOpset {
                return try constantInput(input, attribute)?.ints.map { Int($0) }
            }
            return node.ints(attribute)
        }
    }

    /// Dispatches on the op kind; each family's rules live in their own
    /// `ShapeRules+Family.swift` file.
    package static func infer(_ c: Context) throws -> [TensorType] {
        let node = c.node
        switch node.kind {
        case .conv: return [try conv(c)]
        case .convTranspose: return [try convTranspose(c)]
        case .batchNormalization: return try batchNormalization(c)
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .mish, .gelu, .silu, .erf, .softplus,
            .swish, .identity, .softmax, .neg, .abs, .floor, .ceil, .sqrt:
            return [try unary(c)]
        case .lrn:
            // The window's width is a 16-bit field of the LRN instruction; ONNX models use 3 to 11.
            let size = node.int("size", default: 0)
            guard (1...65535).contains(size) else { throw DFCError("size \(size) is not in 1...65535") }
            return [try unary(c)]
        case .not: return [try logicalNot(c)]
        case .dropout: return try dropout(c)
        case .add, .sub, .mul, .div, .pRelu, .sum, .pow, .min, .max:
            return [try broadcast(c)]
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor:
            return [try comparison(c)]
        case .where: return [try select(c)]
        case .maxPool, .averagePool: return try pool(c)
        case .globalAveragePool, .globalMaxPool: return [try globalPool(c)]
        case .reduceMean, .reduceSum, .reduceProd, .reduceMax, .reduceMin: return [try reduce(c)]
        case .concat: return [try concat(c)]
        case .split: return try split(c)
        case .slice: return [try slice(c)]
        case .pad: return [try pad(c)]
        case .resize, .upsample: return [try resize(c)]
        case .transpose: return [try transpose(c)]
        case .channelShuffle: return [try channelShuffle(c)]
        case .gather: return [try gather(c)]
        case .tile: return [try tile(c)]
        case .depthToSpace, .spaceToDepth: return [try spaceDepth(c)]
        case .flatten: return [try flatten(c)]
        case .reshape: return [try reshape(c)]
        case .squeeze: return [try squeeze(c)]
        case .unsqueeze: return [try unsqueeze(c)]
        case .gemm: return [try gemm(c)]
        case .matMul: return [try matMul(c)]
        case .constant: return [try constant(c)]
        case .constantOfShape: return [try constantOfShape(c)]
        case .range: return [try range(c)]
        case .expand: return [try expand(c)]
        case .shape: return [try shapeOf(c)]
        case .size: return [TensorType(dtype: .int64, shape: [])]
        case .nonZero: return [try nonZero(c)]
        case .cast: return [try cast(c)]
        case .opaque:
            throw DFCError("operator \(node.opType) is not supported", kind: .unsupported)
        }
    }

    // MARK: - Constants, Shape and Cast

    static func constant(_ c: Context) throws -> TensorType {
        guard let value = try c.node.constantValue() else { throw DFCError("no value attribute") }
        return value.type
    }

    static func constantOfShape(_ c: Context) throws -> TensorType {
        guard let shape = try c.constantInput(0, "shape") else { throw DFCError("shape is required") }
        guard shape.shape.count == 1, shape.ints.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw DFCError("shape must be a list of non-negative dimensions, got \(shape.ints)")
        }
        let dtype = c.node.tensor("value")?.dtype ?? .float32
        return TensorType(dtype: dtype, shape: shape.ints.map { Int($0) })
    }

    /// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) values; the three must be constants.
    static func range(_ c: Context) throws -> TensorType {
        guard let start = try c.constantInput(0, "start"), let limit = try c.constantInput(1, "limit"),
            let delta = try c.constantInput(2, "delta")
        else { throw DFCError("start, limit and delta must be constants") }
        guard start.count == 1, limit.count == 1, delta.count == 1, start.dtype == limit.dtype,
            start.dtype == delta.dtype
        else { throw DFCError("start, limit and delta must be scalars of one type") }
        let count = try rangeCount(start: start, limit: limit, delta: delta)
        return TensorType(dtype: start.dtype, shape: [count])
    }

    /// How many values Range produces (at most 2^31, to bound hostile models).
    package static func rangeCount(start: Tensor, limit: Tensor, delta: Tensor) throws -> Int {
        let (s, l, d): (Double, Double, Double) =
            start.dtype == .int64
            ? (Double(start.ints[0]), Double(limit.ints[0]), Double(delta.ints[0]))
            : (Double(start.floats[0]), Double(limit.floats[0]), Double(delta.floats[0]))
        guard d != 0, s.isFinite, l.isFinite, d.isFinite else { throw DFCError("delta must be non-zero and finite") }
        let count = max(0, ((l - s) / d).rounded(.up))
        guard count <= Double(Int32.max) else { throw DFCError("Range would produce \(count) values") }
        return Int(count)
    }

    /// Expand: x broadcast with a constant shape (either side's 1s stretch).
    static func expand(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard let shape = try c.constantInput(1, "shape") else { throw DFCError("shape must be a constant") }
        guard shape.shape.count == 1, shape.ints.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw DFCError("shape must be a list of non-negative dimensions, got \(shape.ints)")
        }
        let target = shape.ints.map { Int($0) }
        guard let result = ShapeMath.broadcast(x.shape, target) else {
            throw DFCError("input \(x) does not broadcast to \(target)")
        }
        return TensorType(dtype: x.dtype, shape: result)
    }

    /// NonZero: one column of indices per non-zero element, so the input must be a constant.
    static func nonZero(_ c: Context) throws -> TensorType {
        guard let x = try c.constantInput(0, "the input") else { throw DFCError("input 0 is missing") }
        let rank = x.shape.count
        return TensorType(dtype: .int64, shape: [rank, x.bools.filter { $0 }.count])
    }

    /// The type of a Shape node's output (named so as not to shadow `shape` parameters).
    static func shapeOf(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let range = shapeRange(c.node, rank: x.rank)
        return TensorType(dtype: .int64, shape: [range.count])
    }

    static func cast(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        return TensorType(dtype: try castTarget(c.node), shape: x.shape)
    }

    /// The dims Shape reports: all, or [start, end) from opset 15.
    package static func shapeRange(_ node: Node, rank: Int) -> Range<Int> {
        func clampAxis(_ a: Int) -> Int { min(max(a < 0 ? a + rank : a, 0), rank) }
        let start = clampAxis(node.int("start", default: 0))
        let end = clampAxis(node.int("end", default: rank))
        return start..<max(start, end)
    }

    /// The IR dtype a Cast produces.
    static func castTarget(_ node: Node) throws -> DType {
        guard let to = node.int("to") else { throw DFCError("missing 'to' attribute") }
        guard let dtype = DType(onnxCode: Int32(truncatingIfNeeded: to)) else {
            throw DFCError(
                "cast to \(ONNXElementType.name(of: Int32(truncatingIfNeeded: to))) is not supported",
                kind: .unsupported)
        }
        return dtype
    }
}
