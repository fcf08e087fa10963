import Foundation

/// The activations that are more than one operation (SiLU, GELU, Mish and
/// the softplus Mish is built on), each written once: the reference
/// interpreter and the executor both call these, so they compute the same
/// fp32 operations in the same order and agree bit for bit.
public enum ActivationMath {
    /// x·sigmoid(x), as x / (1 + e^-x): for very negative x the exponential
    /// overflows to infinity and the quotient is -0, never NaN.
    @inlinable public static func silu(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }

    /// ONNX Gelu with approximate = "none": x/2 · (1 + erf(x/√2)).
    @inlinable public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * inverseSquareRootOf2)) }

    /// ONNX Gelu with approximate = "tanh": x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inlinable public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(squareRootOf2OverPi * (x + 0.044715 * x * x * x)))
    }

    /// ln(1 + e^x) (ONNX Softplus), through log1p so that it keeps its
    /// precision where e^x is small; infinity once e^x overflows.
    @inlinable public static func softplus(_ x: Float) -> Float { Foundation.log1p(Foundation.exp(x)) }

    /// x·tanh(softplus(x)) (ONNX Mish).
    @inlinable public static func mish(_ x: Float) -> Float { x * Foundation.tanh(softplus(x)) }

    /// 1/√2, the scale inside erf GELU.
    public static let inverseSquareRootOf2: Float = 0.707_106_781_186_547_5
    /// √(2/π), the scale inside tanh GELU.
    public static let squareRootOf2OverPi: Float = 0.797_884_560_802_865_4
}
