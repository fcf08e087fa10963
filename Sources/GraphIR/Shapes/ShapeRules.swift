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
            guard let value = constant(name) else { throw DFCError("\(what) ('\(name)') must be a compile-time constant") }
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

    package static func infer(_ c: Context) throws -> [TensorType] {
        let node = c.node
        switch node.kind {
        case .conv: return [try conv(c)]
        case .convTranspose: return [try convTranspose(c)]
        case .batchNormalization:
            let x = try c.input(0)
            guard x.rank >= 2 else { throw DFCError("input must have a channel axis, got \(x)") }
            for i in 1...4 {
                let p = try c.input(i)
                guard p.shape == [x.shape[1]] else { throw DFCError("parameter \(i) has shape \(p.shape), expected [\(x.shape[1])]") }
            }
            let stat = TensorType(dtype: .float32, shape: [x.shape[1]])
            return [x] + Array(repeating: stat, count: max(0, node.outputs.count - 1))
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .lrn, .identity, .softmax:
            let x = try c.input(0)
            if node.kind == .softmax, ShapeMath.normalize(axis: node.int("axis", default: c.opset >= 13 ? -1 : 1), rank: x.rank) == nil {
                throw DFCError("axis out of range for \(x)")
            }
            return [x]
        case .dropout:
            let x = try c.input(0)
            // The mask is the input's type before opset 10, boolean after.
            let mask = TensorType(dtype: c.opset < 10 ? x.dtype : .int64, shape: x.shape)
            return node.outputs.count > 1 ? [x, mask] : [x]
        case .add, .sub, .mul, .div, .pRelu, .sum:
            return [try broadcast(c)]
        case .maxPool, .averagePool: return try pool(c)
        case .globalAveragePool, .globalMaxPool:
            let x = try c.input(0)
            guard x.rank >= 3 else { throw DFCError("input must be N x C x spatial, got \(x)") }
            return [TensorType(dtype: x.dtype, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: x.rank - 2))]
        case .reduceMean: return [try reduceMean(c)]
        case .concat: return [try concat(c)]
        case .split: return try split(c)
        case .slice: return [try slice(c)]
        case .pad: return [try pad(c)]
        case .resize, .upsample: return [try resize(c)]
        case .transpose:
            let x = try c.input(0)
            let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
            guard perm.sorted() == Array(0..<x.rank) else { throw DFCError("perm \(perm) is not a permutation of \(x.rank) axes") }
            return [TensorType(dtype: x.dtype, shape: perm.map { x.shape[$0] })]
        case .gather:
            let data = try c.input(0), indices = try c.input(1)
            guard let axis = ShapeMath.normalize(axis: node.int("axis", default: 0), rank: data.rank) else {
                throw DFCError("axis out of range for \(data)")
            }
            guard indices.dtype == .int64 else { throw DFCError("indices must be integers") }
            if let values = try? c.constantInput(1, "indices") {
                let bound = Int64(data.shape[axis])
                if let bad = values.ints.first(where: { $0 < -bound || $0 >= bound }) {
                    throw DFCError("index \(bad) is out of range for axis \(axis) of size \(bound)")
                }
            }
            return [TensorType(dtype: data.dtype, shape: Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...]))]
        case .flatten:
            let x = try c.input(0)
            let raw = node.int("axis", default: 1)
            let axis = raw < 0 ? raw + x.rank : raw
            guard (0...x.rank).contains(axis) else { throw DFCError("axis \(raw) out of range for \(x)") }
            return [TensorType(dtype: x.dtype, shape: [x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])]
        case .reshape: return [try reshape(c)]
        case .squeeze: return [try squeeze(c)]
        case .unsqueeze: return [try unsqueeze(c)]
        case .gemm: return [try gemm(c)]
        case .matMul: return [try matMul(c)]
        case .constant:
            guard let value = try node.constantValue() else { throw DFCError("no value attribute") }
            return [value.type]
        case .constantOfShape:
            guard let shape = try c.constantInput(0, "shape") else { throw DFCError("shape is required") }
            guard shape.shape.count == 1, shape.ints.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
                throw DFCError("shape must be a list of non-negative dimensions, got \(shape.ints)")
            }
            let dtype = node.tensor("value")?.dtype ?? .float32
            return [TensorType(dtype: dtype, shape: shape.ints.map { Int($0) })]
        case .shape:
            let x = try c.input(0)
            let range = shapeRange(node, rank: x.rank)
            return [TensorType(dtype: .int64, shape: [range.count])]
        case .cast:
            let x = try c.input(0)
            return [TensorType(dtype: try castTarget(node), shape: x.shape)]
        case .opaque:
            throw DFCError("operator \(node.opType) is not supported")
        }
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
            throw DFCError("cast to \(ONNXElementType.name(of: Int32(truncatingIfNeeded: to))) is not supported")
        }
        return dtype
    }

    private static func conv(_ c: Context) throws -> TensorType {
        let x = try c.input(0), w = try c.input(1)
        guard x.rank >= 3, w.rank == x.rank else { throw DFCError("input \(x) and weight \(w) must both be N x C x spatial") }
        let group = c.node.int("group", default: 1)
        guard group > 0, x.shape[1] == w.shape[1] * group, w.shape[0] % group == 0 else {
            throw DFCError("input has \(x.shape[1]) channels, but the weight \(w.shape) with group \(group) expects \(w.shape[1] * group)")
        }
        if let b = c.optionalInput(2), b.shape != [w.shape[0]] {
            throw DFCError("bias has shape \(b.shape), expected [\(w.shape[0])]")
        }
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: c.node, spatial: spatial, kernel: Array(w.shape[2...]))
        let out = window.outputExtents(spatial)
        guard out.allSatisfy({ $0 > 0 }) else { throw DFCError("the kernel does not fit the input \(x)") }
        return TensorType(dtype: .float32, shape: [x.shape[0], w.shape[0]] + out)
    }

    private static func convTranspose(_ c: Context) throws -> TensorType {
        let x = try c.input(0), w = try c.input(1)
        guard x.rank >= 3, w.rank == x.rank, x.shape[1] == w.shape[0] else {
            throw DFCError("input \(x) and weight \(w) do not agree (weight is C x M/group x kernel)")
        }
        let group = c.node.int("group", default: 1)
        guard group > 0, w.shape[0] % group == 0 else { throw DFCError("group \(group) does not divide \(w.shape[0]) channels") }
        let channels = w.shape[1] * group
        let geometry = try ConvTransposeGeometry(node: c.node, spatial: Array(x.shape[2...]), kernel: Array(w.shape[2...]))
        guard geometry.output.allSatisfy({ $0 > 0 }) else { throw DFCError("output would be empty") }
        return TensorType(dtype: .float32, shape: [x.shape[0], channels] + geometry.output)
    }

    private static func broadcast(_ c: Context) throws -> TensorType {
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
    /// (Add, Sub, Mul, Div), and PRelu's slope of one value per channel
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

    private static func pool(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        guard x.rank >= 3 else { throw DFCError("input must be N x C x spatial, got \(x)") }
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: c.node, spatial: spatial)
        let out = window.outputExtents(spatial)
        guard out.allSatisfy({ $0 > 0 }) else { throw DFCError("the window does not fit the input \(x)") }
        let y = TensorType(dtype: x.dtype, shape: Array(x.shape[0..<2]) + out)
        return c.node.outputs.count > 1 ? [y, TensorType(dtype: .int64, shape: y.shape)] : [y]
    }

    package static func reduceAxes(_ c: Context, rank: Int) throws -> [Int] {
        let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: 18)
        guard let raw, !raw.isEmpty else {
            return c.node.int("noop_with_empty_axes", default: 0) == 1 ? [] : Array(0..<rank)
        }
        return try raw.map { a in
            guard let n = ShapeMath.normalize(axis: a, rank: rank) else { throw DFCError("axis \(a) out of range for rank \(rank)") }
            return n
        }
    }

    private static func reduceMean(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let axes = Set(try reduceAxes(c, rank: x.rank))
        let keep = c.node.int("keepdims", default: 1) != 0
        var shape: [Int] = []
        for (i, d) in x.shape.enumerated() {
            if axes.contains(i) { if keep { shape.append(1) } } else { shape.append(d) }
        }
        return TensorType(dtype: x.dtype, shape: shape)
    }

    private static func concat(_ c: Context) throws -> TensorType {
        let first = try c.input(0)
        guard let axis = ShapeMath.normalize(axis: c.node.int("axis", default: 1), rank: first.rank) else {
            throw DFCError("axis out of range for \(first)")
        }
        var shape = first.shape
        shape[axis] = 0
        for i in 0..<c.inputs.count {
            let t = try c.input(i)
            guard t.rank == first.rank, t.dtype == first.dtype,
                  (0..<t.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] })
            else { throw DFCError("input \(i) \(t) does not match \(first) outside axis \(axis)") }
            shape[axis] += t.shape[axis]
        }
        return TensorType(dtype: first.dtype, shape: shape)
    }

    /// Sizes of Split's outputs along the axis.
    package static func splitSizes(_ c: Context, dim: Int) throws -> [Int] {
        let outputs = c.node.outputs.count
        if let sizes = try c.intList(attribute: "split", input: 1, sinceOpset: 13), !sizes.isEmpty {
            guard sizes.count == outputs, sizes.reduce(0, +) == dim, sizes.allSatisfy({ $0 >= 0 }) else {
                throw DFCError("split sizes \(sizes) do not divide \(dim) into \(outputs) outputs")
            }
            return sizes
        }
        if let parts = c.node.int("num_outputs") {
            guard parts == outputs, parts > 0 else { throw DFCError("num_outputs \(parts) but \(outputs) outputs") }
            let chunk = (dim + parts - 1) / parts
            return (0..<parts).map { max(0, min(chunk, dim - $0 * chunk)) }
        }
        guard outputs > 0, dim % outputs == 0 else { throw DFCError("cannot split \(dim) evenly into \(outputs) outputs") }
        return Array(repeating: dim / outputs, count: outputs)
    }

    private static func split(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        guard let axis = ShapeMath.normalize(axis: c.node.int("axis", default: 0), rank: x.rank) else {
            throw DFCError("axis out of range for \(x)")
        }
        return try splitSizes(c, dim: x.shape[axis]).map { size in
            var shape = x.shape
            shape[axis] = size
            return TensorType(dtype: x.dtype, shape: shape)
        }
    }

    /// Per-axis (start, step, count) of a Slice node over `shape`.
    package static func sliceRanges(_ c: Context, shape: [Int]) throws -> [(start: Int, step: Int, count: Int)] {
        let starts: [Int64], ends: [Int64]
        var axes: [Int64]?, steps: [Int64]?
        if c.opset >= 10 {
            guard let s = try c.constantInput(1, "starts"), let e = try c.constantInput(2, "ends") else {
                throw DFCError("starts and ends are required")
            }
            starts = s.ints
            ends = e.ints
            axes = try c.constantInput(3, "axes")?.ints
            steps = try c.constantInput(4, "steps")?.ints
        } else {
            guard let s = c.node.ints("starts"), let e = c.node.ints("ends") else { throw DFCError("starts and ends are required") }
            starts = s.map(Int64.init)
            ends = e.map(Int64.init)
            axes = c.node.ints("axes")?.map(Int64.init)
        }
        let axisList = axes ?? (0..<Int64(starts.count)).map { $0 }
        let stepList = steps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw DFCError("starts, ends, axes and steps must have the same length")
        }
        var ranges = shape.map { (start: 0, step: 1, count: $0) }
        var seen: Set<Int> = []
        for i in starts.indices {
            guard let axis = ShapeMath.normalize(axis: Int(clamping: axisList[i]), rank: shape.count), seen.insert(axis).inserted else {
                throw DFCError("axis \(axisList[i]) is out of range or repeated")
            }
            guard stepList[i] != 0 else { throw DFCError("step must not be 0") }
            ranges[axis] = ShapeMath.sliceRange(start: starts[i], end: ends[i], step: stepList[i], dim: shape[axis])
        }
        return ranges
    }

    private static func slice(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        return TensorType(dtype: x.dtype, shape: try sliceRanges(c, shape: x.shape).map(\.count))
    }

    /// Begin and end pads per axis of a Pad node over a tensor of `rank`.
    package static func padAmounts(_ c: Context, rank: Int) throws -> (begin: [Int], end: [Int]) {
        let pads: [Int]
        if c.opset >= 11 {
            guard let p = try c.constantInput(1, "pads") else { throw DFCError("pads are required") }
            pads = p.ints.map { Int($0) }
        } else {
            guard let p = c.node.ints("pads") ?? c.node.ints("paddings") else { throw DFCError("pads are required") }
            pads = p
        }
        var axes = Array(0..<rank)
        if let given = try c.constantInput(3, "axes") {
            axes = try given.ints.map { a in
                guard let n = ShapeMath.normalize(axis: Int(a), rank: rank) else { throw DFCError("axis \(a) out of range") }
                return n
            }
        }
        guard pads.count == 2 * axes.count else { throw DFCError("pads has \(pads.count) values, expected \(2 * axes.count)") }
        var begin = [Int](repeating: 0, count: rank), end = begin
        for (i, axis) in axes.enumerated() {
            begin[axis] = pads[i]
            end[axis] = pads[i + axes.count]
        }
        return (begin, end)
    }

    private static func pad(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let mode = c.node.string("mode", default: "constant")
        guard ["constant", "reflect", "edge"].contains(mode) else { throw DFCError("pad mode '\(mode)' is not supported") }
        let (begin, end) = try padAmounts(c, rank: x.rank)
        let shape = (0..<x.rank).map { x.shape[$0] + begin[$0] + end[$0] }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw DFCError("negative pads remove more than \(x) has") }
        return TensorType(dtype: x.dtype, shape: shape)
    }

    /// Output shape of Resize / Upsample, and the scale per axis it implies.
    package static func resizeShape(_ c: Context, input x: TensorType) throws -> (shape: [Int], scales: [Double]) {
        let node = c.node
        var scales: [Float]?
        var sizes: [Int]?
        if node.kind == .upsample {
            scales = c.opset >= 9 ? try c.constantInput(1, "scales")?.floats : node.floats("scales")
        } else if c.opset == 10 {
            scales = try c.constantInput(1, "scales")?.floats
        } else {
            let s = try c.constantInput(2, "scales")?.floats
            scales = (s?.isEmpty ?? true) ? nil : s
            sizes = try c.constantInput(3, "sizes")?.ints.map { Int($0) }
        }
        var axes = Array(0..<x.rank)
        if let given = node.ints("axes") {
            axes = try given.map { a in
                guard let n = ShapeMath.normalize(axis: a, rank: x.rank) else { throw DFCError("axis \(a) out of range") }
                return n
            }
        }
        var shape = x.shape
        var factors = [Double](repeating: 1, count: x.rank)
        if let sizes, !sizes.isEmpty {
            guard sizes.count == axes.count else { throw DFCError("sizes has \(sizes.count) values, expected \(axes.count)") }
            let policy = node.string("keep_aspect_ratio_policy", default: "stretch")
            var ratios = axes.indices.map { Double(sizes[$0]) / Double(x.shape[axes[$0]]) }
            if policy != "stretch" {
                let r = policy == "not_larger" ? ratios.min() ?? 1 : ratios.max() ?? 1
                ratios = Array(repeating: r, count: axes.count)
                for axis in axes { shape[axis] = Int((Double(x.shape[axis]) * r).rounded()) }
            } else {
                for (i, axis) in axes.enumerated() { shape[axis] = sizes[i] }
            }
            for (i, axis) in axes.enumerated() { factors[axis] = ratios[i] }
        } else if let scales {
            guard scales.count == axes.count else { throw DFCError("scales has \(scales.count) values, expected \(axes.count)") }
            for (i, axis) in axes.enumerated() {
                guard scales[i] > 0 else { throw DFCError("scales must be positive") }
                factors[axis] = Double(scales[i])
                shape[axis] = Int((Double(x.shape[axis]) * Double(scales[i])).rounded(.down))
            }
        } else {
            throw DFCError("either scales or sizes is required")
        }
        return (shape, factors)
    }

    private static func resize(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let mode = c.node.string("mode", default: "nearest")
        guard mode == "nearest" else { throw DFCError("\(mode) interpolation is not supported (only nearest)") }
        let (shape, _) = try resizeShape(c, input: x)
        guard shape.allSatisfy({ $0 > 0 }) else { throw DFCError("output \(shape) would be empty") }
        return TensorType(dtype: x.dtype, shape: shape)
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
                guard r >= 0, r <= Int64(Int32.max) else { throw DFCError("invalid dimension \(r) in shape \(requested)") }
                shape.append(Int(r))
            }
        }
        let total = input.reduce(1, *)
        let known = shape.reduce(1, *)
        if let i = inferred {
            guard known > 0, total % known == 0 else { throw DFCError("cannot reshape \(input) to \(requested)") }
            shape[i] = total / known
        }
        guard shape.reduce(1, *) == total else { throw DFCError("cannot reshape \(input) (\(total) elements) to \(requested)") }
        return shape
    }

    private static func reshape(_ c: Context) throws -> TensorType {
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

    private static func squeeze(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: 13)
        let axes: Set<Int>
        if let raw, !raw.isEmpty {
            axes = Set(try raw.map { a in
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

    private static func unsqueeze(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard let raw = try c.intList(attribute: "axes", input: 1, sinceOpset: 13) else { throw DFCError("axes are required") }
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

    private static func gemm(_ c: Context) throws -> TensorType {
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

    private static func matMul(_ c: Context) throws -> TensorType {
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
}

/// ConvTranspose's resolved geometry: pads and output extents per axis.
public struct ConvTransposeGeometry: Sendable, Equatable {
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padsBegin: [Int]
    public var padsEnd: [Int]
    public var outputPadding: [Int]
    public var output: [Int]

    public init(node: Node, spatial: [Int], kernel: [Int]) throws {
        let rank = spatial.count
        let strides = node.ints("strides") ?? Array(repeating: 1, count: rank)
        let dilations = node.ints("dilations") ?? Array(repeating: 1, count: rank)
        let outputPadding = node.ints("output_padding") ?? Array(repeating: 0, count: rank)
        guard strides.count == rank, dilations.count == rank, outputPadding.count == rank,
              strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw DFCError("strides, dilations and output_padding must have \(rank) valid values")
        }
        var begin = [Int](repeating: 0, count: rank), end = begin
        if let pads = node.ints("pads") {
            guard pads.count == 2 * rank else { throw DFCError("pads must have \(2 * rank) values") }
            begin = Array(pads[..<rank])
            end = Array(pads[rank...])
        }
        let autoPad = node.string("auto_pad", default: "NOTSET")
        var output: [Int]
        var full: [Int] = []
        for i in 0..<rank {
            let span: Int = (kernel[i] - 1) * dilations[i] + 1
            full.append(strides[i] * (spatial[i] - 1) + outputPadding[i] + span)
        }
        if let requested = node.ints("output_shape") {
            let target = Array(requested.suffix(rank))
            guard target.count == rank else { throw DFCError("output_shape must have \(rank) values") }
            output = target
            for i in 0..<rank {
                // An output larger than the full result makes the total
                // negative; halve it rounding down, as ONNX's reference does.
                let total = full[i] - target[i]
                let half = total >= 0 ? total / 2 : -((-total + 1) / 2)
                if autoPad == "SAME_UPPER" {
                    begin[i] = half
                    end[i] = total - half
                } else {
                    end[i] = half
                    begin[i] = total - half
                }
            }
        } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            output = (0..<rank).map { spatial[$0] * strides[$0] }
            for i in 0..<rank {
                let total = max(0, full[i] - output[i])
                if autoPad == "SAME_UPPER" {
                    begin[i] = total / 2
                    end[i] = total - total / 2
                } else {
                    end[i] = total / 2
                    begin[i] = total - total / 2
                }
            }
        } else {
            output = (0..<rank).map { full[$0] - begin[$0] - end[$0] }
        }
        self.kernel = kernel
        self.strides = strides
        self.dilations = dilations
        self.padsBegin = begin
        self.padsEnd = end
        self.outputPadding = outputPadding
        self.output = output
    }
}
