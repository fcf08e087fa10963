import Tensors

extension Node {
    /// The tensor a Constant node defines, from whichever value attribute it uses.
    package func constantValue() throws -> Tensor? {
        if let t = tensor("value") { return t }
        switch attributes["value_float"] {
        case .float(let v)?: return Tensor(shape: [], floats: [v])
        default: break
        }
        if case .floats(let v)? = attributes["value_floats"] { return Tensor(shape: [v.count], floats: v) }
        if case .int(let v)? = attributes["value_int"] { return Tensor(shape: [], ints: [Int64(v)]) }
        if case .ints(let v)? = attributes["value_ints"] { return Tensor(shape: [v.count], ints: v.map(Int64.init)) }
        if attributes["sparse_value"] != nil || attributes["value_string"] != nil || attributes["value_strings"] != nil
        {
            throw DFCError("sparse and string constants are not supported", kind: .unsupported)
        }
        return nil
    }
}
