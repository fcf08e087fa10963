import Foundation
import Tensors

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
    /// x·sigmoid(x).
    case silu
    /// GELU in its exact form, x/2·(1 + erf(x/√2)).
    case gelu
    /// GELU's tanh approximation, x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    case geluTanh
    /// x·tanh(softplus(x)).
    case mish
    /// The math of one tensor on a feature map: -x, |x|, ⌊x⌋, ⌈x⌉ and √x (NaN below 0).
    case neg, abs, floor, ceil, sqrt

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
        case .silu: return ActivationMath.silu(x)
        case .gelu: return ActivationMath.gelu(x)
        case .geluTanh: return ActivationMath.geluTanh(x)
        case .mish: return ActivationMath.mish(x)
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .floor: return x.rounded(.down)
        case .ceil: return x.rounded(.up)
        case .sqrt: return x.squareRoot()
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
        case .silu: return "silu"
        case .gelu: return "gelu"
        case .geluTanh: return "gelu_tanh"
        case .mish: return "mish"
        case .neg: return "neg"
        case .abs: return "abs"
        case .floor: return "floor"
        case .ceil: return "ceil"
        case .sqrt: return "sqrt"
        }
    }

    /// The activation an activation node applies, when its parameters are
    /// known at compile time; nil for other nodes.
    public init?(of node: Node, in graph: Graph) {
        switch node.kind {
        case .relu: self = .relu
        case .leakyRelu: self = .leakyRelu(alpha: node.float("alpha", default: 0.01))
        case .sigmoid: self = .sigmoid
        case .hardSigmoid:
            self = .hardSigmoid(alpha: node.float("alpha", default: 0.2), beta: node.float("beta", default: 0.5))
        case .hardSwish: self = .hardSwish
        case .tanh: self = .tanh
        case .silu: self = .silu
        case .mish: self = .mish
        case .neg: self = .neg
        case .abs: self = .abs
        case .floor: self = .floor
        case .ceil: self = .ceil
        case .sqrt: self = .sqrt
        case .gelu:
            guard let gelu = try? Self.gelu(of: node) else { return nil }
            self = gelu
        case .clip:
            if graph.opsetVersion < 11 {
                let limit = Float.greatestFiniteMagnitude
                self = .clip(min: node.float("min", default: -limit), max: node.float("max", default: limit))
                return
            }
            func bound(_ index: Int, _ fallback: Float) -> Float? {
                guard let name = node.input(index) else { return fallback }
                guard let tensor = graph.initializers[name], tensor.count == 1 else { return nil }
                return tensor.floats[0]
            }
            guard let low = bound(1, -.infinity), let high = bound(2, .infinity) else { return nil }
            self = .clip(min: low, max: high)
        default:
            return nil
        }
    }

    /// The GELU an ONNX Gelu node computes, named by its `approximate`
    /// attribute: "none" (the default) or "tanh".
    public static func gelu(of node: Node) throws -> Activation {
        switch node.string("approximate", default: "none") {
        case "none": return .gelu
        case "tanh": return .geluTanh
        case let other: throw DFCError("approximate must be \"none\" or \"tanh\", got \"\(other)\"")
        }
    }
}
