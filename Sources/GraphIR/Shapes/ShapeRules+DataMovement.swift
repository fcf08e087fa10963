import Tensors

// Shape rules of data movement: Concat, Split, Slice, Pad, Gather and
// Resize. The helpers that resolve their arguments are shared with the
// interpreter and the compiler.

extension ShapeRules {
    static func concat(_ c: Context) throws -> TensorType {
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
        guard outputs > 0, dim % outputs == 0 else {
            throw DFCError("cannot split \(dim) evenly into \(outputs) outputs")
        }
        return Array(repeating: dim / outputs, count: outputs)
    }

    static func split(_ c: Context) throws -> [TensorType] {
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
            guard let s = c.node.ints("starts"), let e = c.node.ints("ends") else {
                throw DFCError("starts and ends are required")
            }
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
            guard let axis = ShapeMath.normalize(axis: Int(clamping: axisList[i]), rank: shape.count),
                seen.insert(axis).inserted
            else {
                throw DFCError("axis \(axisList[i]) is out of range or repeated")
            }
            guard stepList[i] != 0 else { throw DFCError("step must not be 0") }
            ranges[axis] = ShapeMath.sliceRange(start: starts[i], end: ends[i], step: stepList[i], dim: shape[axis])
        }
        return ranges
    }

    static func slice(_ c: Context) throws -> TensorType {
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
                guard let n = ShapeMath.normalize(axis: Int(a), rank: rank) else {
                    throw DFCError("axis \(a) out of range")
                }
                return n
            }
        }
        guard pads.count == 2 * axes.count else {
            throw DFCError("pads has \(pads.count) values, expected \(2 * axes.count)")
        }
        var begin = [Int](repeating: 0, count: rank), end = begin
        for (i, axis) in axes.enumerated() {
            begin[axis] = pads[i]
            end[axis] = pads[i + axes.count]
        }
        return (begin, end)
    }

    static func pad(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let mode = c.node.string("mode", default: "constant")
        guard ["constant", "reflect", "edge"].contains(mode) else {
            throw DFCError("pad mode '\(mode)' is not supported", kind: .unsupported)
        }
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
                guard let n = ShapeMath.normalize(axis: a, rank: x.rank) else {
                    throw DFCError("axis \(a) out of range")
                }
                return n
            }
        }
        var shape = x.shape
        var factors = [Double](repeating: 1, count: x.rank)
        if let sizes, !sizes.isEmpty {
            guard sizes.count == axes.count else {
                throw DFCError("sizes has \(sizes.count) values, expected \(axes.count)")
            }
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
            guard scales.count == axes.count else {
                throw DFCError("scales has \(scales.count) values, expected \(axes.count)")
            }
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

    static func resize(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let mode = c.node.string("mode", default: "nearest")
        guard mode == "nearest" || mode == "linear" else {
            throw DFCError("\(mode) interpolation is not supported (nearest and linear are)")
        }
        let (shape, scales) = try resizeShape(c, input: x)
        if c.node.int("antialias", default: 0) != 0, mode == "linear", scales.contains(where: { $0 < 1 }) {
            throw DFCError("antialiased downscaling is not supported")
        }
        guard shape.allSatisfy({ $0 > 0 }) else { throw DFCError("output \(shape) would be empty") }
        return TensorType(dtype: x.dtype, shape: shape)
    }

    static func channelShuffle(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let groups = c.node.int("group", default: 1)
        guard x.rank >= 2, groups >= 1, x.shape[1] % groups == 0 else {
            throw DFCError("group \(groups) does not divide the channels of \(x)")
        }
        return x
    }

    /// Tile: each axis repeated `repeats` (a constant, one per axis) times.
    static func tile(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard let repeats = try c.constantInput(1, "repeats") else { throw DFCError("repeats are required") }
        guard repeats.dtype == .int64, repeats.shape.count == 1, repeats.count == x.rank else {
            throw DFCError("repeats must list one integer per axis of \(x), got \(repeats.type)")
        }
        guard repeats.ints.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw DFCError("repeats must be non-negative, got \(repeats.ints)")
        }
        var shape: [Int] = []
        for (d, r) in zip(x.shape, repeats.ints) {
            let (product, overflow) = d.multipliedReportingOverflow(by: Int(r))
            guard !overflow, product <= TensorType.maxElements else {
                throw DFCError("repeating \(x) by \(repeats.ints) is too large")
            }
            shape.append(product)
        }
        return TensorType(dtype: x.dtype, shape: shape)
    }

    static func gather(_ c: Context) throws -> TensorType {
        let data = try c.input(0), indices = try c.input(1)
        guard let axis = ShapeMath.normalize(axis: c.node.int("axis", default: 0), rank: data.rank) else {
            throw DFCError("axis out of range for \(data)")
        }
        guard indices.dtype == .int64 else { throw DFCError("indices must be integers") }
        if let values = try? c.constantInput(1, "indices") {
            let bound = Int64(data.shape[axis])
            if let bad = values.ints.first(where: { $0 < -bound || $0 >= bound }) {
                throw DFCError("index \(bad) is out of range for axis \(axis) of size \(bound)")
            }
        }
        return TensorType(
            dtype: data.dtype, shape: Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...]))
    }
}

/// How DepthToSpace and SpaceToDepth pair the channels of the deep side
/// (DepthToSpace's input, SpaceToDepth's output) with the shallow side's
/// channel c and its pixel (i, j) of a block: shared by the shape rule, the
/// interpreter and the lowering, so the three agree on the order.
package struct SpaceDepthLayout: Sendable, Equatable {
    /// The block's side.
    package var blocksize: Int
    /// Column-row-depth: the block is the inner part of the deep channel (c·b² + i·b + j);
    /// otherwise depth-column-row, the default: (i·b + j)·C + c.
    package var columnRowDepth: Bool

    /// The node's block size and mode; throws (without naming the node) when they are not valid.
    package init(_ node: Node) throws {
        blocksize = node.int("blocksize", default: 0)
        guard blocksize >= 1 else { throw DFCError("blocksize must be a positive integer, got \(blocksize)") }
        switch node.string("mode", default: "DCR") {
        case "DCR": columnRowDepth = false
        case "CRD": columnRowDepth = true
        case let mode: throw DFCError("mode '\(mode)' is neither DCR nor CRD")
        }
    }

    /// The deep channel of shallow channel `c` (of `shallow`) at block pixel (i, j).
    package func deepChannel(_ c: Int, _ i: Int, _ j: Int, shallow: Int) -> Int {
        columnRowDepth ? (c * blocksize + i) * blocksize + j : (i * blocksize + j) * shallow + c
    }

    /// Deep-channel steps of one shallow channel, one block row and one block column.
    package func channelSteps(shallow: Int) -> (c: Int, i: Int, j: Int) {
        columnRowDepth ? (blocksize * blocksize, blocksize, 1) : (1, blocksize * shallow, shallow)
    }
}

extension ShapeRules {
    /// DepthToSpace [N, C·b², H, W] → [N, C, H·b, W·b]; SpaceToDepth the other way.
    static func spaceDepth(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        let layout = try SpaceDepthLayout(c.node)
        let b = layout.blocksize
        guard x.rank == 4 else { throw DFCError("the input must be N x C x H x W, got \(x)") }
        let (n, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        if c.node.kind == .depthToSpace {
            guard b <= 65536, channels % (b * b) == 0 else {
                throw DFCError("blocksize \(b) squared (\(b * b)) does not divide the \(channels) channels of \(x)")
            }
            let (h, hOverflow) = height.multipliedReportingOverflow(by: b)
            let (w, wOverflow) = width.multipliedReportingOverflow(by: b)
            guard !hOverflow, !wOverflow, n * channels * height * width <= TensorType.maxElements else {
                throw DFCError("blocksize \(b) makes \(x) too large")
            }
            return TensorType(dtype: x.dtype, shape: [n, channels / (b * b), h, w])
        }
        guard height % b == 0, width % b == 0 else {
            throw DFCError("blocksize \(b) does not divide the height and width of \(x)")
        }
        return TensorType(dtype: x.dtype, shape: [n, channels * b * b, height / b, width / b])
    }
}
