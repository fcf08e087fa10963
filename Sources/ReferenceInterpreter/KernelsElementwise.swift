import Foundation
import GraphIR
import Tensors

extension Kernels {
    // MARK: Activations

    /// One-input activations, element by element. Relu and Clip also take
    /// integer tensors, as ONNX allows.
    static func activation(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let x = try args.input(0)
        let node = args.node
        if case .int64(let values) = x.storage {
            switch node.kind {
            case .relu: return [Tensor(shape: x.shape, ints: values.map { max($0, 0) })]
            case .clip:
                let (low, high) = try clipBounds(args, integer: true)
                let lo = Int64(exactly: low.rounded(.up)) ?? Int64.min,
                    hi = Int64(exactly: high.rounded(.down)) ?? Int64.max
                return [Tensor(shape: x.shape, ints: values.map { min(max($0, lo), hi) })]
            default: throw DFCError("input must be floating point, got \(x.type)")
            }
        }
        let values = try args.floats(0)
        let result: [Float]
        switch node.kind {
        case .relu:
            result = values.map { $0 < 0 ? 0 : $0 }
        case .leakyRelu:
            let alpha = node.float("alpha", default: 0.01)
            result = values.map { $0 < 0 ? alpha * $0 : $0 }
        case .clip:
            let (low, high) = try clipBounds(args, integer: false)
            result = values.map { $0.isNaN ? $0 : Float(min(max(Double($0), low), high)) }
        case .sigmoid:
            result = values.map { v in
                // Written so that neither branch overflows.
                v >= 0 ? 1 / (1 + Foundation.exp(-v)) : Foundation.exp(v) / (1 + Foundation.exp(v))
            }
        case .hardSigmoid:
            let alpha = node.float("alpha", default: 0.2), beta = node.float("beta", default: 0.5)
            result = values.map { max(0, min(1, alpha * $0 + beta)) }
        case .hardSwish:
            result = values.map { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        case .tanh:
            result = values.map { Foundation.tanh($0) }
        case .silu:
            result = values.map(ActivationMath.silu)
        case .mish:
            result = values.map(ActivationMath.mish)
        case .gelu:
            result = values.map(try Activation.gelu(of: node).apply)
        case .erf:
            result = values.map { Foundation.erf($0) }
        case .softplus:
            result = values.map(ActivationMath.softplus)
        case .swish:
            let alpha = node.float("alpha", default: 1)
            result = values.map { $0 / (1 + Foundation.exp(-alpha * $0)) }
        default:
            throw DFCError("not an activation")
        }
        return [Tensor(shape: x.shape, floats: result)]
    }

    /// Clip's bounds: attributes before opset 11, optional scalar inputs after.
    private static func clipBounds(_ args: KernelArguments, integer: Bool) throws -> (Double, Double) {
        if args.opset < 11 {
            return (
                Double(args.node.float("min", default: -Float.greatestFiniteMagnitude)),
                Double(args.node.float("max", default: Float.greatestFiniteMagnitude))
            )
        }
        func bound(_ index: Int, _ fallback: Double) throws -> Double {
            guard let t = args.optional(index) else { return fallback }
            guard t.count == 1 else { throw DFCError("Clip bound \(index) must be a scalar, got \(t.type)") }
            switch t.storage {
            case .float(let v): return Double(v[0])
            case .int64(let v): return Double(v[0])
            case .bool: throw DFCError("Clip bound \(index) must be a number, got \(t.type)")
            }
        }
        return (try bound(1, -.infinity), try bound(2, .infinity))
    }

    // MARK: Broadcasting element-wise

    /// Add, Sub, Mul, Div, Sum and PRelu with NumPy broadcasting (and the
    /// legacy alignment of opsets before 7, shared with shape inference).
    static func broadcastElementwise(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let node = args.node
        let first = try args.input(0)
        var accumulated = first
        for i in 1..<args.inputs.count {
            let operand = try args.input(i)
            guard operand.dtype == first.dtype else {
                throw DFCError("operands must have one element type, got \(first.type) and \(operand.type)")
            }
            let aligned = ShapeRules.alignedOperand(node, opset: args.opset, first: first.shape, operand: operand.shape)
            guard let shape = ShapeMath.broadcast(accumulated.shape, aligned) else {
                throw DFCError("shapes \(accumulated.shape) and \(operand.shape) do not broadcast")
            }
            switch (accumulated.storage, operand.storage) {
            case (.float(let a), .float(let b)):
                let result: [Float]
                switch node.kind {
                case .add, .sum: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 + $1 }
                case .sub: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 - $1 }
                case .mul: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 * $1 }
                case .div: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 / $1 }
                case .pRelu:
                    result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 < 0 ? $0 * $1 : $0 }
                default: throw DFCError("not an element-wise op")
                }
                accumulated = Tensor(shape: shape, floats: result)
            case (.int64(let a), .int64(let b)):
                let result: [Int64]
                switch node.kind {
                case .add, .sum: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 &+ $1 }
                case .sub: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 &- $1 }
                case .mul: result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 &* $1 }
                case .pRelu:
                    result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) { $0 < 0 ? $0 &* $1 : $0 }
                case .div:
                    guard !b.contains(0) else { throw DFCError("integer division by zero") }
                    // Truncates toward zero, as C and onnxruntime do.
                    result = Indexing.binary(a, accumulated.shape, b, aligned, to: shape) {
                        $0.dividedReportingOverflow(by: $1).partialValue
                    }
                default: throw DFCError("not an element-wise op")
                }
                accumulated = Tensor(shape: shape, ints: result)
            default:
                throw DFCError("operands must have one element type")
            }
        }
        return [accumulated]
    }

    /// Pow with NumPy broadcasting; the result has the base's type. A float
    /// base takes a float or an integer exponent (fp32 `pow`). An integer
    /// base raised to an integer is exact (wrapping, as the other int64
    /// kernels), raised to a float it is the fp32 power truncated toward zero.
    static func pow(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let base = try args.input(0), exponent = try args.input(1)
        let aligned = ShapeRules.alignedOperand(
            args.node, opset: args.opset, first: base.shape, operand: exponent.shape)
        let shape = types[0].shape
        if case .int64(let a) = base.storage, case .int64(let b) = exponent.storage {
            return [Tensor(shape: shape, ints: Indexing.binary(a, base.shape, b, aligned, to: shape, integerPower))]
        }
        let powers = Tensor(
            shape: shape,
            floats: Indexing.binary(base.floats, base.shape, exponent.floats, aligned, to: shape) {
                Foundation.pow($0, $1)
            })
        return [base.dtype == .int64 ? Tensor(shape: shape, ints: powers.ints) : powers]
    }

    /// base^exponent in wrapping int64 arithmetic; a negative exponent gives
    /// the quotient truncated toward zero (0 unless the base is 1 or -1).
    static func integerPower(_ base: Int64, _ exponent: Int64) -> Int64 {
        guard exponent >= 0 else { return base == 1 || (base == -1 && exponent % 2 == 0) ? 1 : base == -1 ? -1 : 0 }
        var result: Int64 = 1, factor = base, remaining = exponent
        while remaining > 0 {
            if remaining & 1 == 1 { result = result &* factor }
            factor = factor &* factor
            remaining >>= 1
        }
        return result
    }

    // MARK: Normalization

    /// Inference-mode batch normalization over axis 1.
    static func batchNormalization(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let node = args.node
        if node.int("training_mode", default: 0) != 0 || node.outputs.dropFirst().contains(where: { !$0.isEmpty }) {
            throw DFCError(
                "training-mode BatchNormalization (batch statistics and running-mean outputs) is not supported")
        }
        let x = try args.input(0)
        let values = try args.floats(0)
        let scale = try args.floats(1), bias = try args.floats(2), mean = try args.floats(3),
            variance = try args.floats(4)
        let epsilon = node.float("epsilon", default: 1e-5)
        let channels = x.shape[1], inner = x.shape[2...].reduce(1, *), outer = x.shape[0]
        var out = [Float](repeating: 0, count: values.count)
        for n in 0..<outer {
            for c in 0..<channels {
                let factor = scale[c] / (variance[c] + epsilon).squareRoot()
                let shift = bias[c] - mean[c] * factor
                let base = (n * channels + c) * inner
                for i in base..<(base + inner) { out[i] = values[i] * factor + shift }
            }
        }
        return [Tensor(shape: x.shape, floats: out)]
    }

    /// Local response normalization across channels (axis 1).
    static func lrn(_ args: KernelArguments, _ types: [TensorType]) throws -> [Tensor] {
        let node = args.node
        let x = try args.input(0)
        let values = try args.floats(0)
        guard let size = node.int("size"), size > 0 else { throw DFCError("size must be a positive integer") }
        guard x.shape.count >= 3 else { throw DFCError("input must be N x C x spatial, got \(x.type)") }
        let alpha = node.float("alpha", default: 1e-4), beta = node.float("beta", default: 0.75)
        let bias = node.float("bias", default: 1)
        let channels = x.shape[1], inner = x.shape[2...].reduce(1, *), batch = x.shape[0]
        let below = (size - 1) / 2, above = size - 1 - below
        var out = [Float](repeating: 0, count: values.count)
        for n in 0..<batch {
            for c in 0..<channels {
                let lo = max(0, c - below), hi = min(channels - 1, c + above)
                let base = (n * channels + c) * inner
                for i in 0..<inner {
                    var sum: Float = 0
                    for j in lo...hi {
                        let v = values[(n * channels + j) * inner + i]
                        sum += v * v
                    }
                    out[base + i] = values[base + i] / Foundation.pow(bias + alpha / Float(size) * sum, beta)
                }
            }
        }
        return [Tensor(shape: x.shape, floats: out)]
    }
}
