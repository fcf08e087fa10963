import Tensors

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

extension Tensor {
    public var type: TensorType { TensorType(dtype: dtype, shape: shape) }
}
