/// Element types the IR computes in. Everything floating point becomes fp32 on
/// import; integer tensors (shapes, indices, axes) become int64.
public enum DType: String, Sendable, Hashable, CustomStringConvertible {
    case float32
    case int64

    public var description: String { self == .float32 ? "f32" : "i64" }
    public var byteSize: Int { self == .float32 ? 4 : 8 }
}

/// A dense, row-major tensor value: a weight, a constant, or a runtime value
/// in the reference interpreter.
public struct Tensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case float([Float])
        case int64([Int64])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.shape = shape
        self.storage = .float(floats)
    }

    public init(shape: [Int], ints: [Int64]) {
        precondition(shape.reduce(1, *) == ints.count, "shape \(shape) does not hold \(ints.count) values")
        self.shape = shape
        self.storage = .int64(ints)
    }

    public var dtype: DType {
        if case .float = storage { return .float32 }
        return .int64
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values as fp32 (int64 values converted).
    public var floats: [Float] {
        switch storage {
        case .float(let values): return values
        case .int64(let values): return values.map { Float($0) }
        }
    }

    /// The values as int64 (fp32 values truncated toward zero, as ONNX Cast does).
    public var ints: [Int64] {
        switch storage {
        case .int64(let values): return values
        case .float(let values): return values.map { $0.isFinite ? Int64(clamping: Int64(exactly: $0.rounded(.towardZero)) ?? 0) : 0 }
        }
    }

    public var type: TensorType { TensorType(dtype: dtype, shape: shape) }
}

/// The static type of a value: element type and a fully known shape.
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var description: String { "\(dtype)[\(shape.map(String.init).joined(separator: ","))]" }
}
