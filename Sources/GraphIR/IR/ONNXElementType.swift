import Tensors

/// ONNX `TensorProto.DataType` codes dfc reads, with their width in
/// `raw_data`. The table sits with the IR because Cast names its target type
/// by this code: shape inference and the interpreter read it as well as the
/// importer.
package enum ONNXElementType: Int32, Sendable {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
    case bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

    package var rawWidth: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16, .float16, .bfloat16: return 2
        case .float, .int32, .uint32: return 4
        case .int64, .double, .uint64: return 8
        }
    }

    package var isFloating: Bool { [.float, .float16, .double, .bfloat16].contains(self) }

    /// The IR dtype values of this type become: fp32, bool, or int64 for
    /// every integer type. Widening integers is exact, and the ops dfc folds
    /// compute the same on the wider type except where a narrow type would
    /// wrap on overflow; Cast to a narrow type wraps its values as ONNX does.
    package var dtype: DType { isFloating ? .float32 : self == .bool ? .bool : .int64 }

    /// The ONNX name of any code (FLOAT, INT64, ...), also of codes dfc does not read.
    package static func name(of code: Int32) -> String {
        let names: [Int32: String] = [
            0: "UNDEFINED", 8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128",
            17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ",
            21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1"
        ]
        if let known = ONNXElementType(rawValue: code) { return "\(known)".uppercased() }
        return names[code] ?? "type \(code)"
    }
}

extension DType {
    /// The IR dtype for an ONNX element type code, or nil if dfc does not read that type.
    package init?(onnxCode code: Int32) {
        guard let type = ONNXElementType(rawValue: code) else { return nil }
        self = type.dtype
    }
}
