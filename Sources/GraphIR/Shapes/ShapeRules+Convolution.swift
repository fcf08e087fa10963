import Tensors

// Shape rules of the convolution family: Conv, ConvTranspose, pooling and
// BatchNormalization (all N x C x spatial).

extension ShapeRules {
    static func conv(_ c: Context) throws -> TensorType {
        let x = try c.input(0), w = try c.input(1)
        guard x.rank >= 3, w.rank == x.rank else {
            throw DFCError("input \(x) and weight \(w) must both be N x C x spatial")
        }
        let group = c.node.int("group", default: 1)
        guard group > 0 else { throw DFCError("group \(group) is not positive") }
        let (expected, overflow) = w.shape[1].multipliedReportingOverflow(by: group)
        guard !overflow, x.shape[1] == expected, w.shape[0] % group == 0 else {
            let expects = overflow ? "more channels than an Int holds" : "\(expected)"
            throw DFCError(
                "input has \(x.shape[1]) channels, but the weight \(w.shape) with group \(group) expects \(expects)")
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

    static func convTranspose(_ c: Context) throws -> TensorType {
        let x = try c.input(0), w = try c.input(1)
        guard x.rank >= 3, w.rank == x.rank, x.shape[1] == w.shape[0] else {
            throw DFCError("input \(x) and weight \(w) do not agree (weight is C x M/group x kernel)")
        }
        let group = c.node.int("group", default: 1)
        guard group > 0, w.shape[0] % group == 0 else {
            throw DFCError("group \(group) does not divide \(w.shape[0]) channels")
        }
        let channels = w.shape[1] * group
        let geometry = try ConvTransposeGeometry(
            node: c.node, spatial: Array(x.shape[2...]), kernel: Array(w.shape[2...]))
        guard geometry.output.allSatisfy({ $0 > 0 }) else { throw DFCError("output would be empty") }
        return TensorType(dtype: .float32, shape: [x.shape[0], channels] + geometry.output)
    }

    static func batchNormalization(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        guard x.rank >= 2 else { throw DFCError("input must have a channel axis, got \(x)") }
        for i in 1...4 {
            let p = try c.input(i)
            guard p.shape == [x.shape[1]] else {
                throw DFCError("parameter \(i) has shape \(p.shape), expected [\(x.shape[1])]")
            }
        }
        let stat = TensorType(dtype: .float32, shape: [x.shape[1]])
        return [x] + Array(repeating: stat, count: max(0, c.node.outputs.count - 1))
    }

    static func pool(_ c: Context) throws -> [TensorType] {
        let x = try c.input(0)
        guard x.rank >= 3 else { throw DFCError("input must be N x C x spatial, got \(x)") }
        let spatial = Array(x.shape[2...])
        let window = try WindowGeometry(node: c.node, spatial: spatial)
        let out = window.outputExtents(spatial)
        guard out.allSatisfy({ $0 > 0 }) else { throw DFCError("the window does not fit the input \(x)") }
        let y = TensorType(dtype: x.dtype, shape: Array(x.shape[0..<2]) + out)
        return c.node.outputs.count > 1 ? [y, TensorType(dtype: .int64, shape: y.shape)] : [y]
    }

    static func globalPool(_ c: Context) throws -> TensorType {
        let x = try c.input(0)
        guard x.rank >= 3 else { throw DFCError("input must be N x C x spatial, got \(x)") }
        return TensorType(dtype: x.dtype, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: x.rank - 2))
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
            strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 })
        else {
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
