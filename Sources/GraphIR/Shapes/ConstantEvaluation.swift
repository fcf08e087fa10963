import Tensors

/// Evaluates the small shape computations exporters leave in graphs
/// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) when every input is
/// known at compile time, so that shape inference can see through them.
package enum ConstantEvaluation {
    /// The tensor a Constant node defines, from whichever value attribute it uses.
    package static func constantValue(_ node: Node) throws -> Tensor? {
        if let t = node.tensor("value") { return t }
        switch node.attributes["value_float"] {
        case .float(let v)?: return Tensor(shape: [], floats: [v])
        default: break
        }
        if case .floats(let v)? = node.attributes["value_floats"] { return Tensor(shape: [v.count], floats: v) }
        if case .int(let v)? = node.attributes["value_int"] { return Tensor(shape: [], ints: [Int64(v)]) }
        if case .ints(let v)? = node.attributes["value_ints"] { return Tensor(shape: [v.count], ints: v.map(Int64.init)) }
        if node.attributes["sparse_value"] != nil || node.attributes["value_string"] != nil || node.attributes["value_strings"] != nil {
            throw DFCError("sparse and string constants are not supported")
        }
        return nil
    }

    /// Outputs of `node` when it is a foldable shape computation whose inputs
    /// are all known and small; nil otherwise.
    static func evaluate(_ node: Node, inputs: [Tensor?], limit: Int) throws -> [Tensor]? {
        if node.kind == .constant { return try constantValue(node).map { [$0] } }
        // Shape needs only its input's type, which the caller does not pass;
        // it is handled by `evaluateShape`.
        guard inputs.allSatisfy({ $0 != nil }) || node.kind == .shape else { return nil }
        let args = inputs.compactMap { $0 }
        guard args.allSatisfy({ $0.count <= limit }) else { return nil }
        switch node.kind {
        case .constantOfShape:
            guard let dims = args.first?.ints.map({ Int($0) }), dims.reduce(1, *) <= limit else { return nil }
            let fill = node.tensor("value") ?? Tensor(shape: [1], floats: [0])
            guard fill.count == 1 else { throw DFCError("ConstantOfShape value must hold one element") }
            switch fill.storage {
            case .float(let v): return [Tensor(shape: dims, floats: Array(repeating: v[0], count: dims.reduce(1, *)))]
            case .int64(let v): return [Tensor(shape: dims, ints: Array(repeating: v[0], count: dims.reduce(1, *)))]
            }
        case .identity, .dropout:
            return args.first.map { [$0] }
        case .cast:
            guard let x = args.first else { return nil }
            let to = try ShapeRules.castTarget(node)
            return [to == .float32 ? Tensor(shape: x.shape, floats: x.floats) : Tensor(shape: x.shape, ints: x.ints)]
        case .unsqueeze, .squeeze, .reshape, .flatten:
            return nil  // handled with the output type by ShapeInference
        case .gather:
            guard args.count == 2, args[1].dtype == .int64, args[0].shape.count == 1 else { return nil }
            let data = args[0], indices = args[1].ints
            let n = Int64(data.shape[0])
            var values: [Int64] = []
            var floats: [Float] = []
            for i in indices {
                let j = Int(i < 0 ? i + n : i)
                guard (0..<data.count).contains(j) else { return nil }
                if case .int64(let v) = data.storage { values.append(v[j]) } else { floats.append(data.floats[j]) }
            }
            return [data.dtype == .int64 ? Tensor(shape: args[1].shape, ints: values) : Tensor(shape: args[1].shape, floats: floats)]
        case .concat:
            guard args.allSatisfy({ $0.shape.count == 1 && $0.dtype == args[0].dtype }) else { return nil }
            let count = args.reduce(0) { $0 + $1.count }
            if args[0].dtype == .int64 { return [Tensor(shape: [count], ints: args.flatMap(\.ints))] }
            return [Tensor(shape: [count], floats: args.flatMap(\.floats))]
        case .add, .sub, .mul, .div:
            guard args.count == 2, args[0].dtype == .int64, args[1].dtype == .int64,
                  let shape = ShapeMath.broadcast(args[0].shape, args[1].shape), shape.count <= 1 else { return nil }
            let n = shape.reduce(1, *)
            let a = args[0].ints, b = args[1].ints
            var out: [Int64] = []
            for i in 0..<n {
                let x = a[a.count == 1 ? 0 : i], y = b[b.count == 1 ? 0 : i]
                switch node.kind {
                case .add: out.append(x &+ y)
                case .sub: out.append(x &- y)
                case .mul: out.append(x &* y)
                default:
                    guard y != 0 else { return nil }
                    out.append(x / y)
                }
            }
            return [Tensor(shape: shape, ints: out)]
        default:
            return nil
        }
    }
}
