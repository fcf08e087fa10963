import Foundation

/// An element-wise activation fused into the node that produces its input
/// (canonicalization moves Relu, Clip, ... into Conv, Gemm, Add, pools).
/// The node's result is `activation(op(inputs))`.
public enum Activation: Sendable, Equatable, CustomStringConvertible {
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case tanh

    /// Applies the activation to one value, exactly as the ONNX op does.
    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .relu: return max(x, 0)
        case .leakyRelu(let alpha): return x < 0 ? alpha * x : x
        case .clip(let low, let high): return min(max(x, low), high)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .hardSigmoid(let alpha, let beta): return max(0, min(1, alpha * x + beta))
        case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
        case .tanh: return Foundation.tanh(x)
        }
    }

    /// Applies the activation to every value in place.
    public func apply(_ values: inout [Float]) {
        for i in values.indices { values[i] = apply(values[i]) }
    }

    public var description: String {
        switch self {
        case .relu: return "relu"
        case .leakyRelu(let alpha): return "leaky_relu(\(alpha))"
        case .clip(let low, let high): return "clip(\(low), \(high))"
        case .sigmoid: return "sigmoid"
        case .hardSigmoid(let alpha, let beta): return "hard_sigmoid(\(alpha), \(beta))"
        case .hardSwish: return "hard_swish"
        case .tanh: return "tanh"
        }
    }
}
