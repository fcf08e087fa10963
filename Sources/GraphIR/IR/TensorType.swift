import Tensors

/// The static type of a value: element type and a fully known shape.
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    /// Elements, saturating at `Int.max` instead of trapping on a hostile
    /// shape; shape inference rejects anything past `maxElements` first.
    public var count: Int { checkedCount ?? .max }

    /// Elements, or nil when the product overflows.
    public var checkedCount: Int? {
        var product = 1
        for d in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = next
        }
        return product
    }

    /// The most elements one tensor may have: 2^31 (8 GiB of fp32). Larger
    /// declared or inferred shapes are an error naming the value.
    public static let maxElements = 1 << 31
    /// The most dimensions one tensor may have: what a `.dfx` tensor table
    /// holds (CNNs need at most 6).
    public static let maxRank = 8
    public var rank: Int { shape.count }
    public var description: String { "\(dtype)[\(shape.map(String.init).joined(separator: ","))]" }
}

extension Tensor {
    public var type: TensorType { TensorType(dtype: dtype, shape: shape) }
}
