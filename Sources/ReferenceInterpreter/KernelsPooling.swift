import Foundation
import GraphIR
import Tensors

extension Kernels {
    // MARK: Windowed pooling

    /// Max pooling; the optional second output holds each maximum's flat
    /// index into the input (row-major, or column-major over the spatial
    /// axes when `storage_order` is 1).
    static func maxPool(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let spatial = Array(x.shape[2...])
        let geometry = try WindowGeometry(node: args.node, spatial: spatial)
        let window = try Window3(geometry, input: spatial, output: Array(types[0].shape[2...]))
        let columnMajor = args.node.int("storage_order", default: 0) == 1
        let planes = x.shape[0] * x.shape[1]
        switch x.storage {
        case .float(let values):
            let (out, indices) = maxPool(
                values, planes: planes, window: window, columnMajor: columnMajor, lowest: -Float.infinity)
            return [Tensor(shape: types[0].shape, floats: out), Tensor(shape: types[0].shape, ints: indices)]
        case .int64(let values):
            let (out, indices) = maxPool(
                values, planes: planes, window: window, columnMajor: columnMajor, lowest: Int64.min)
            return [Tensor(shape: types[0].shape, ints: out), Tensor(shape: types[0].shape, ints: indices)]
        case .bool: throw DFCError("input must be numeric, got \(x.type)")
        }
    }

    private static func maxPool<T: Comparable>(
        _ values: [T], planes: Int, window: Window3, columnMajor: Bool,
        lowest: T
    ) -> ([T], [Int64]) {
        let inSize = window.inputCount, outSize = window.outputCount
        var out = [T](repeating: lowest, count: planes * outSize)
        var indices = [Int64](repeating: 0, count: planes * outSize)
        let (inD, inH, inW) = (window.input[0], window.input[1], window.input[2])
        for plane in 0..<planes {
            forEachWindow(window) { o, positions in
                var best = lowest, bestIndex = -1
                for (d, h, w) in positions {
                    let v = values[plane * inSize + (d * inH + h) * inW + w]
                    // NaN never compares greater; take the first element then.
                    if bestIndex < 0 || v > best {
                        best = v
                        bestIndex = columnMajor ? d + inD * (h + inH * w) : (d * inH + h) * inW + w
                    }
                }
                out[plane * outSize + o] = best
                indices[plane * outSize + o] = Int64(plane * inSize + max(bestIndex, 0))
            }
        }
        return (out, indices)
    }

    /// Average pooling; padding counts toward the divisor only with
    /// `count_include_pad`.
    static func averagePool(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let values = try args.floats(0)
        let spatial = Array(x.shape[2...])
        let geometry = try WindowGeometry(node: args.node, spatial: spatial)
        let window = try Window3(geometry, input: spatial, output: Array(types[0].shape[2...]))
        let includePad = args.node.int("count_include_pad", default: 0) != 0
        let padsEnd = Array(repeating: 0, count: 3 - spatial.count) + geometry.padsEnd
        let planes = x.shape[0] * x.shape[1]
        let inSize = window.inputCount, outSize = window.outputCount
        let (inH, inW) = (window.input[1], window.input[2])
        // With count_include_pad, the divisor counts the window's positions
        // inside the padded input (not those past it, which ceil_mode adds).
        let padded = (0..<3).map { window.input[$0] + window.padsBegin[$0] + padsEnd[$0] }
        var out = [Float](repeating: 0, count: planes * outSize)
        for plane in 0..<planes {
            forEachWindow(window) { o, positions in
                var sum: Float = 0
                for (d, h, w) in positions { sum += values[plane * inSize + (d * inH + h) * inW + w] }
                var count = positions.count
                if includePad {
                    count = 1
                    let index = [
                        o / (window.output[1] * window.output[2]), (o / window.output[2]) % window.output[1],
                        o % window.output[2]
                    ]
                    for axis in 0..<3 {
                        // Taps k with index * stride + k * dilation < padded extent.
                        let room = padded[axis] - index[axis] * window.strides[axis]
                        let inside =
                            room <= 0
                            ? 0 : min(window.kernel[axis], (room + window.dilations[axis] - 1) / window.dilations[axis])
                        count *= inside
                    }
                }
                out[plane * outSize + o] = count > 0 ? sum / Float(count) : 0
            }
        }
        return [Tensor(shape: types[0].shape, floats: out)]
    }

    /// Calls `body(outputIndex, inputPositions)` for every output position of
    /// a window, with the (d, h, w) input positions its window covers
    /// (padding excluded). Only kernel taps that land inside the input are
    /// visited, so the work stays bounded by the input even for a hostile
    /// kernel far larger than it.
    private static func forEachWindow(_ window: Window3, _ body: (Int, [(Int, Int, Int)]) -> Void) {
        var positions: [(Int, Int, Int)] = []
        positions.reserveCapacity(min(window.inputCount, 1 << 16))
        /// Input indices `o * stride - pad + k * dilation` inside the input, for k in 0..<kernel.
        func taps(_ o: Int, _ axis: Int) -> StrideTo<Int> {
            let start = o * window.strides[axis] - window.padsBegin[axis], step = window.dilations[axis]
            let first = start >= 0 ? 0 : (-start + step - 1) / step
            let lastInside = window.input[axis] - 1 - start
            let end = lastInside < 0 ? 0 : min(window.kernel[axis], lastInside / step + 1)
            return stride(from: start + first * step, to: start + max(first, end) * step, by: step)
        }
        var o = 0
        for od in 0..<window.output[0] {
            for oh in 0..<window.output[1] {
                for ow in 0..<window.output[2] {
                    positions.removeAll(keepingCapacity: true)
                    for d in taps(od, 0) {
                        for h in taps(oh, 1) {
                            for w in taps(ow, 2) { positions.append((d, h, w)) }
                        }
                    }
                    body(o, positions)
                    o += 1
                }
            }
        }
    }

    // MARK: Global pooling and reductions

    static func globalPool(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let values = try args.floats(0)
        let planes = x.shape[0] * x.shape[1], size = x.shape[2...].reduce(1, *)
        let out: [Float] = (0..<planes).map { p in
            let plane = values[(p * size)..<((p + 1) * size)]
            if args.node.kind == .globalMaxPool { return plane.max() ?? -.infinity }
            return plane.reduce(0, +) / Float(size)
        }
        return [Tensor(shape: types[0].shape, floats: out)]
    }

    /// ReduceMean, ReduceSum, ReduceProd, ReduceMax and ReduceMin over the
    /// given axes: the input is transposed so the reduced axes come last,
    /// then each output reduces one contiguous block. fp32 sums and products
    /// accumulate in double; int64 ones wrap. An empty block gives the
    /// operation's identity (0, 1, the lowest or highest value); its mean is
    /// undefined.
    static func reduce(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let kind = args.node.kind
        let axes = Set(try ShapeRules.reduceAxes(args.shapeContext, rank: x.shape.count))
        if axes.isEmpty { return [x] }
        let kept = x.shape.indices.filter { !axes.contains($0) }
        let reduced = x.shape.indices.filter { axes.contains($0) }
        let order = kept + reduced
        let strides = ShapeMath.strides(x.shape)
        let moved = select(
            x, tables: order.map { Array(0..<x.shape[$0]) }, strides: order.map { strides[$0] },
            shape: order.map { x.shape[$0] })
        let block = reduced.map { x.shape[$0] }.reduce(1, *)
        let count = types[0].count
        if kind == .reduceMean && block == 0 { throw DFCError("the mean of an empty set of elements is undefined") }
        func blocks<T, R>(_ values: [T], _ f: (ArraySlice<T>) -> R) -> [R] {
            (0..<count).map { i in f(values[(i * block)..<((i + 1) * block)]) }
        }
        switch moved.storage {
        case .float(let values):
            let out: [Float] = blocks(values) { part in
                switch kind {
                case .reduceMax: return part.contains { $0.isNaN } ? .nan : part.max() ?? -.infinity
                case .reduceMin: return part.contains { $0.isNaN } ? .nan : part.min() ?? .infinity
                case .reduceProd: return Float(part.reduce(1.0) { $0 * Double($1) })
                case .reduceSum: return Float(part.reduce(0.0) { $0 + Double($1) })
                default: return Float(part.reduce(0.0) { $0 + Double($1) } / Double(block))
                }
            }
            return [Tensor(shape: types[0].shape, floats: out)]
        case .int64(let values):
            let out: [Int64] = blocks(values) { part in
                switch kind {
                case .reduceMax: return part.max() ?? .min
                case .reduceMin: return part.min() ?? .max
                case .reduceProd: return part.reduce(1) { $0 &* $1 }
                case .reduceSum: return part.reduce(0) { $0 &+ $1 }
                // The mean of integers truncates toward zero, as integer division does.
                default: return part.reduce(0) { $0 &+ $1 } / Int64(block)
                }
            }
            return [Tensor(shape: types[0].shape, ints: out)]
        case .bool(let values):
            let out: [Bool] = blocks(values) { part in
                kind == .reduceMax ? part.contains(true) : !part.contains(false)
            }
            return [Tensor(shape: types[0].shape, bools: out)]
        }
    }

    /// Softmax over one axis (opset 13 on) or over everything from `axis`
    /// on, flattened (earlier opsets).
    static func softmax(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let values = try args.floats(0)
        let rank = x.shape.count
        guard
            let axis = ShapeMath.normalize(axis: args.node.int("axis", default: args.opset >= 13 ? -1 : 1), rank: rank)
        else {
            throw DFCError("axis out of range for \(x.type)")
        }
        let outer = x.shape[..<axis].reduce(1, *)
        let (length, inner) =
            args.opset >= 13
            ? (x.shape[axis], x.shape[(axis + 1)...].reduce(1, *))
            : (x.shape[axis...].reduce(1, *), 1)
        var out = [Float](repeating: 0, count: values.count)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var largest = -Float.infinity
                for j in 0..<length { largest = max(largest, values[base + j * inner]) }
                var sum: Float = 0
                for j in 0..<length {
                    let e = Foundation.exp(values[base + j * inner] - largest)
                    out[base + j * inner] = e
                    sum += e
                }
                for j in 0..<length { out[base + j * inner] /= sum }
            }
        }
        return [Tensor(shape: x.shape, floats: out)]
    }
}
