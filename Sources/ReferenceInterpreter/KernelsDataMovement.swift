import Foundation
import GraphIR
import Tensors

extension Kernels {
    /// `Indexing.gather` on either element type, reshaped to `shape`.
    static func select(_ x: Tensor, tables: [[Int]], strides: [Int], shape: [Int], fill: Double = 0) -> Tensor {
        switch x.storage {
        case .float(let v):
            return Tensor(shape: shape, floats: Indexing.gather(v, tables: tables, strides: strides, fill: Float(fill)))
        case .int64(let v):
            return Tensor(shape: shape, ints: Indexing.gather(v, tables: tables, strides: strides, fill: Int64(fill)))
        case .bool(let v):
            return Tensor(shape: shape, bools: Indexing.gather(v, tables: tables, strides: strides, fill: fill != 0))
        }
    }

    // MARK: Joining and splitting

    static func concat(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let parts = try (0..<args.inputs.count).map { try args.input($0) }
        let shape = types[0].shape
        let axis = ShapeMath.normalize(axis: args.node.int("axis", default: 1), rank: shape.count)!
        let outer = shape[..<axis].reduce(1, *)
        let blocks = parts.map { $0.shape[axis...].reduce(1, *) }
        func join<T>(_ arrays: [[T]]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(types[0].count)
            for o in 0..<outer {
                for (array, block) in zip(arrays, blocks) { out += array[(o * block)..<((o + 1) * block)] }
            }
            return out
        }
        switch types[0].dtype {
        case .float32: return [Tensor(shape: shape, floats: join(try parts.indices.map { try args.floats($0) }))]
        case .int64: return [Tensor(shape: shape, ints: join(parts.map(\.ints)))]
        case .bool: return [Tensor(shape: shape, bools: join(parts.map(\.bools)))]
        }
    }

    static func split(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let axis = ShapeMath.normalize(axis: args.node.int("axis", default: 0), rank: x.shape.count)!
        let sizes = try ShapeRules.splitSizes(args.shapeContext, dim: x.shape[axis])
        let strides = ShapeMath.strides(x.shape)
        var offset = 0
        return sizes.map { size in
            var tables = x.shape.map { Array(0..<$0) }
            tables[axis] = Array(offset..<(offset + size))
            offset += size
            return select(x, tables: tables, strides: strides, shape: tables.map(\.count))
        }
    }

    // MARK: Slicing, padding, resampling

    static func slice(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let ranges = try ShapeRules.sliceRanges(args.shapeContext, shape: x.shape)
        let tables = ranges.map { r in (0..<r.count).map { r.start + $0 * r.step } }
        return [select(x, tables: tables, strides: ShapeMath.strides(x.shape), shape: types[0].shape)]
    }

    static func pad(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let (begin, _) = try ShapeRules.padAmounts(args.shapeContext, rank: x.shape.count)
        let mode = args.node.string("mode", default: "constant")
        var value: Double = 0
        if args.opset < 11 {
            value = Double(args.node.float("value", default: 0))
        } else if let v = args.optional(2), v.count > 0 {
            value = v.dtype == .float32 ? Double(v.floats[0]) : Double(v.ints[0])
        }
        let shape = types[0].shape
        if x.count == 0 && mode != "constant" { throw DFCError("\(mode) padding of an empty tensor is undefined") }
        let tables: [[Int]] = shape.indices.map { axis in
            let n = x.shape[axis]
            return (0..<shape[axis]).map { o in
                let i = o - begin[axis]
                if (0..<n).contains(i) { return i }
                switch mode {
                case "edge": return min(max(i, 0), n - 1)
                case "reflect":
                    guard n > 1 else { return 0 }
                    let period = 2 * (n - 1)
                    var j = i % period
                    if j < 0 { j += period }
                    return j < n ? j : period - j
                default: return Indexing.outside
                }
            }
        }
        return [select(x, tables: tables, strides: ShapeMath.strides(x.shape), shape: shape, fill: value)]
    }

    /// Resize and Upsample, nearest or linear: each output coordinate is
    /// mapped back to the input by the coordinate transformation mode, then
    /// rounded by the nearest mode or blended from its two neighbours (the
    /// neighbours clamped to the input, as ONNX pads with the edge values).
    static func resize(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let node = args.node
        let mode = node.string("mode", default: "nearest")
        let (shape, scales) = try ShapeRules.resizeShape(args.shapeContext, input: x.type)
        // Upsample and opset-10 Resize index as floor(out / scale).
        let legacy = node.kind == .upsample || args.opset < 11
        let transform = legacy ? "asymmetric" : node.string("coordinate_transformation_mode", default: "half_pixel")
        let rounding = legacy ? "floor" : node.string("nearest_mode", default: "round_prefer_floor")
        let extrapolation = Double(node.float("extrapolation_value", default: 0))
        var roi: [Float] = []
        if transform == "tf_crop_and_resize" {
            guard let r = args.optional(1), r.count > 0 else { throw DFCError("tf_crop_and_resize needs roi") }
            roi = r.floats
        }
        let axesList = node.ints("axes")?.map { ShapeMath.normalize(axis: $0, rank: x.shape.count) ?? 0 }
        // Per axis, the input coordinate of each output index; nil outside the crop.
        let positions: [[Double?]] = try x.shape.indices.map { axis in
            let n = x.shape[axis], m = shape[axis], scale = scales[axis]
            var roiStart = 0.0, roiEnd = 1.0
            if !roi.isEmpty {
                let axes = axesList ?? Array(x.shape.indices)
                if let k = axes.firstIndex(of: axis) {
                    guard roi.count == 2 * axes.count else { throw DFCError("roi must have \(2 * axes.count) values") }
                    roiStart = Double(roi[k])
                    roiEnd = Double(roi[k + axes.count])
                }
            }
            // The resized length is the input's times the scale, a fraction
            // when the scale is (as in ONNX's reference), else the output length.
            let scaled = Double(n) * scale
            let resized = abs(scaled - Double(m)) < 1e-3 ? Double(m) : scaled
            return try (0..<m).map { i -> Double? in
                let o = Double(i)
                switch transform {
                case "half_pixel": return (o + 0.5) / scale - 0.5
                case "pytorch_half_pixel": return resized > 1 ? (o + 0.5) / scale - 0.5 : 0
                case "align_corners": return resized > 1 ? o * Double(n - 1) / (resized - 1) : 0
                case "asymmetric": return o / scale
                case "tf_half_pixel_for_nearest": return (o + 0.5) / scale
                case "half_pixel_symmetric":
                    let adjustment = Double(m) / (scale * Double(n))
                    let offset = Double(n) / 2 * (1 - adjustment)
                    return offset + (o + 0.5) / scale - 0.5
                case "tf_crop_and_resize":
                    let position =
                        m > 1
                        ? roiStart * Double(n - 1) + o * (roiEnd - roiStart) * Double(n - 1) / Double(m - 1)
                        : 0.5 * (roiStart + roiEnd) * Double(n - 1)
                    return position < 0 || position > Double(n - 1) ? nil : position
                default:
                    throw DFCError("coordinate_transformation_mode '\(transform)' is not supported")
                }
            }
        }
        if mode == "linear" {
            return [linearResize(x, positions: positions, shape: shape, extrapolation: extrapolation)]
        }
        let tables: [[Int]] = try x.shape.indices.map { axis in
            try positions[axis].map { position -> Int in
                guard let position else { return Indexing.outside }
                let index: Double
                switch rounding {
                case "round_prefer_floor":
                    index = position == position.rounded(.down) + 0.5 ? position.rounded(.down) : position.rounded()
                case "round_prefer_ceil":
                    index = position == position.rounded(.down) + 0.5 ? position.rounded(.up) : position.rounded()
                case "floor": index = position.rounded(.down)
                case "ceil": index = position.rounded(.up)
                default: throw DFCError("nearest_mode '\(rounding)' is not supported")
                }
                return min(max(Int(index), 0), x.shape[axis] - 1)
            }
        }
        return [select(x, tables: tables, strides: ShapeMath.strides(x.shape), shape: shape, fill: extrapolation)]
    }

    /// Linear Resize, one axis at a time in double precision: along each
    /// axis an output value blends the input values at floor(p) and
    /// floor(p) + 1 (clamped) by the fraction of p; an output index outside
    /// the crop gets the extrapolation value.
    private static func linearResize(
        _ x: Tensor, positions: [[Double?]], shape: [Int], extrapolation: Double
    ) -> Tensor {
        var values = x.floats.map(Double.init)
        var dims = x.shape
        for axis in dims.indices.reversed() {
            let n = dims[axis], m = shape[axis]
            let identity = n == m && positions[axis].enumerated().allSatisfy { $0.element == Double($0.offset) }
            if identity { continue }
            let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *)
            var next = [Double](repeating: extrapolation, count: outer * m * inner)
            for (j, position) in positions[axis].enumerated() {
                guard let position else { continue }
                let low = position.rounded(.down), weight = position - low
                let i0 = min(max(Int(low), 0), n - 1), i1 = min(max(Int(low) + 1, 0), n - 1)
                for o in 0..<outer {
                    let a = (o * n + i0) * inner, b = (o * n + i1) * inner, out = (o * m + j) * inner
                    for i in 0..<inner { next[out + i] = (1 - weight) * values[a + i] + weight * values[b + i] }
                }
            }
            values = next
            dims[axis] = m
        }
        return Tensor(shape: shape, floats: values.map(Float.init))
    }

    // MARK: Layout and indexing

    /// out[:, a*g + b] = in[:, b*(C/g) + a].
    static func channelShuffle(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let groups = args.node.int("group", default: 1), channels = x.shape[1]
        let tables = x.shape.indices.map { axis in
            axis == 1
                ? (0..<channels).map { ($0 % groups) * (channels / groups) + $0 / groups } : Array(0..<x.shape[axis])
        }
        return [select(x, tables: tables, strides: ShapeMath.strides(x.shape), shape: x.shape, fill: 0)]
    }

    static func transpose(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let perm = args.node.ints("perm") ?? Array(x.shape.indices.reversed())
        let strides = ShapeMath.strides(x.shape)
        return [
            select(
                x, tables: perm.map { Array(0..<x.shape[$0]) }, strides: perm.map { strides[$0] }, shape: types[0].shape
            )
        ]
    }

    static func gather(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let data = try args.input(0), indices = try args.input(1)
        guard indices.dtype == .int64 else { throw DFCError("indices must be integers") }
        let axis = ShapeMath.normalize(axis: args.node.int("axis", default: 0), rank: data.shape.count)!
        let bound = data.shape[axis]
        let picks = try indices.ints.map { i -> Int in
            let j = i < 0 ? i + Int64(bound) : i
            guard j >= 0 && j < Int64(bound) else {
                throw DFCError("index \(i) is out of range for axis \(axis) of size \(bound)")
            }
            return Int(j)
        }
        var tables = data.shape.map { Array(0..<$0) }
        tables[axis] = picks
        return [select(data, tables: tables, strides: ShapeMath.strides(data.shape), shape: types[0].shape)]
    }

    /// Tile: output index i of an axis reads input index i mod its size.
    static func tile(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let shape = types[0].shape
        let tables = shape.indices.map { axis in (0..<shape[axis]).map { $0 % x.shape[axis] } }
        return [select(x, tables: tables, strides: ShapeMath.strides(x.shape), shape: shape)]
    }

    /// DepthToSpace and SpaceToDepth: each output axis's table holds source
    /// offsets (strides 1), since the deep channel is a sum of one term per
    /// shallow index (`SpaceDepthLayout.channelSteps`).
    static func spaceDepth(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let layout = try SpaceDepthLayout(args.node)
        let b = layout.blocksize, shape = types[0].shape
        let strides = ShapeMath.strides(x.shape)
        let batch = (0..<shape[0]).map { $0 * strides[0] }
        var tables: [[Int]]
        if args.node.kind == .depthToSpace {
            let steps = layout.channelSteps(shallow: shape[1])
            tables = [
                batch, (0..<shape[1]).map { $0 * steps.c * strides[1] },
                (0..<shape[2]).map { ($0 / b) * strides[2] + ($0 % b) * steps.i * strides[1] },
                (0..<shape[3]).map { ($0 / b) * strides[3] + ($0 % b) * steps.j * strides[1] }
            ]
        } else {
            let shallow = x.shape[1]
            let deep = (0..<shallow).flatMap { c in
                (0..<b).flatMap { i in (0..<b).map { j in (layout.deepChannel(c, i, j, shallow: shallow), c, i, j) } }
            }
            var channel = [Int](repeating: 0, count: shape[1])
            for (q, c, i, j) in deep { channel[q] = c * strides[1] + i * strides[2] + j * strides[3] }
            tables = [
                batch, channel, (0..<shape[2]).map { $0 * b * strides[2] }, (0..<shape[3]).map { $0 * b * strides[3] }
            ]
        }
        return [select(x, tables: tables, strides: [1, 1, 1, 1], shape: shape)]
    }

    // MARK: Views

    /// Flatten, Reshape, Squeeze, Unsqueeze and Identity: same values, the
    /// shape the shape rule gives.
    static func view(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        var x = try args.input(0)
        x.shape = types[0].shape
        return [x]
    }

    /// Inference-mode Dropout: the identity, and an all-true mask.
    static func dropout(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        if let training = args.optional(2), training.ints.contains(where: { $0 != 0 }) {
            throw DFCError("training-mode Dropout is not supported (it is random)")
        }
        if args.opset < 7, args.node.int("is_test", default: 1) == 0, args.node.outputs.count > 1 {
            throw DFCError("training-mode Dropout is not supported (it is random)")
        }
        // The mask is boolean from opset 10, the input's type before.
        let mask: Tensor
        switch types.count > 1 ? types[1].dtype : .bool {
        case .float32: mask = Tensor(shape: x.shape, floats: Array(repeating: 1, count: x.count))
        case .int64: mask = Tensor(shape: x.shape, ints: Array(repeating: 1, count: x.count))
        case .bool: mask = Tensor(shape: x.shape, bools: Array(repeating: true, count: x.count))
        }
        return [x, mask]
    }

    // MARK: Constants and shapes

    static func constant(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        guard let value = try args.node.constantValue() else { throw DFCError("no value attribute") }
        return [value]
    }

    static func constantOfShape(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let fill = args.node.tensor("value") ?? Tensor(shape: [1], floats: [0])
        guard fill.count == 1 else { throw DFCError("value must hold one element, has \(fill.count)") }
        let shape = types[0].shape, count = types[0].count
        switch fill.storage {
        case .float(let v): return [Tensor(shape: shape, floats: Array(repeating: v[0], count: count))]
        case .int64(let v): return [Tensor(shape: shape, ints: Array(repeating: v[0], count: count))]
        case .bool(let v): return [Tensor(shape: shape, bools: Array(repeating: v[0], count: count))]
        }
    }

    /// start, start + delta, ... while before limit (ONNX Range).
    static func range(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let (start, limit, delta) = (try args.input(0), try args.input(1), try args.input(2))
        let count = try ShapeRules.rangeCount(start: start, limit: limit, delta: delta)
        switch (start.storage, delta.storage) {
        case (.int64(let s), .int64(let d)):
            return [Tensor(shape: [count], ints: (0..<count).map { s[0] + Int64($0) * d[0] })]
        case (.float(let s), .float(let d)):
            return [Tensor(shape: [count], floats: (0..<count).map { s[0] + Float($0) * d[0] })]
        default:
            throw DFCError("start, limit and delta must have one element type")
        }
    }

    /// x repeated along the axes where it has 1 (or fewer axes) to the broadcast shape.
    static func expand(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let target = types[0].shape
        switch x.storage {
        case .float(let v): return [Tensor(shape: target, floats: Indexing.expand(v, shape: x.shape, to: target))]
        case .int64(let v): return [Tensor(shape: target, ints: Indexing.expand(v, shape: x.shape, to: target))]
        case .bool(let v): return [Tensor(shape: target, bools: Indexing.expand(v, shape: x.shape, to: target))]
        }
    }

    static func shape(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let range = ShapeRules.shapeRange(args.node, rank: x.shape.count)
        return [Tensor(shape: [range.count], ints: x.shape[range].map { Int64($0) })]
    }

    static func size(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        [Tensor(shape: [], ints: [Int64(try args.input(0).count)])]
    }

    /// The indices of the non-zero elements in row-major order, one row per axis.
    static func nonZero(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let flags = x.bools, strides = ShapeMath.strides(x.shape)
        let hits = flags.indices.filter { flags[$0] }
        var rows: [Int64] = []
        rows.reserveCapacity(hits.count * x.shape.count)
        for axis in x.shape.indices {
            rows += hits.map { Int64($0 / strides[axis] % x.shape[axis]) }
        }
        return [Tensor(shape: types[0].shape, ints: rows)]
    }

    /// Cast, rounding or wrapping each value as the ONNX target type would
    /// hold it, then widening to the IR's fp32 or int64. Floats become
    /// integers truncated toward zero; any non-zero value (NaN too) is true.
    static func cast(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let to = args.node.int("to") ?? 0
        guard let target = ONNXElementType(rawValue: Int32(truncatingIfNeeded: to)) else {
            throw DFCError("cast to \(ONNXElementType.name(of: Int32(truncatingIfNeeded: to))) is not supported")
        }
        if target.isFloating {
            var values = x.floats
            switch target {
            case .float16: values = values.map { Float(Float16($0)) }
            case .bfloat16: values = values.map(roundToBFloat16)
            default: break
            }
            return [Tensor(shape: x.shape, floats: values)]
        }
        if target == .bool { return [Tensor(shape: x.shape, bools: x.bools)] }
        var values = x.ints
        switch target {
        case .int8: values = values.map { Int64(Int8(truncatingIfNeeded: $0)) }
        case .uint8: values = values.map { Int64(UInt8(truncatingIfNeeded: $0)) }
        case .int16: values = values.map { Int64(Int16(truncatingIfNeeded: $0)) }
        case .uint16: values = values.map { Int64(UInt16(truncatingIfNeeded: $0)) }
        case .int32: values = values.map { Int64(Int32(truncatingIfNeeded: $0)) }
        case .uint32: values = values.map { Int64(UInt32(truncatingIfNeeded: $0)) }
        default: break
        }
        return [Tensor(shape: x.shape, ints: values)]
    }

    /// fp32 to the nearest bfloat16 (ties to even), back as fp32.
    static func roundToBFloat16(_ value: Float) -> Float {
        guard value.isFinite else { return value }
        let bits = value.bitPattern
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xffff_0000)
    }
}
