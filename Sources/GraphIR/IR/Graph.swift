import Tensors

/// One dimension as a model declares it: a number, a symbol ("N"), or nothing.
public enum Dim: Sendable, Hashable, CustomStringConvertible {
    case known(Int)
    case symbolic(String)
    case unknown

    public var value: Int? {
        if case .known(let v) = self { return v }
        return nil
    }

    public var description: String {
        switch self {
        case .known(let v): return String(v)
        case .symbolic(let s): return s
        case .unknown: return "?"
        }
    }
}

/// What is known about a value's type. Import fills it from the model's
/// declarations; shape inference makes every dimension known.
public struct ValueInfo: Sendable, Equatable {
    public var dtype: DType { didSet { type = Self.concrete(dtype, dims) } }
    /// nil: the rank itself is unknown.
    public var dims: [Dim]? { didSet { type = Self.concrete(dtype, dims) } }
    /// The concrete type, when every dimension is known. Kept beside `dtype`
    /// and `dims` (the planners ask for it millions of times), so reading it allocates nothing.
    public private(set) var type: TensorType?

    public init(dtype: DType, dims: [Dim]?) {
        self.dtype = dtype
        self.dims = dims
        type = Self.concrete(dtype, dims)
    }

    public init(_ type: TensorType) {
        self.dtype = type.dtype
        self.dims = type.shape.map { .known($0) }
        self.type = type
    }

    private static func concrete(_ dtype: DType, _ dims: [Dim]?) -> TensorType? {
        guard let dims else { return nil }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard let v = d.value else { return nil }
            shape.append(v)
        }
        return TensorType(dtype: dtype, shape: shape)
    }

    public var shapeText: String {
        guard let dims else { return "\(dtype)[?]" }
        return "\(dtype)[\(dims.map(\.description).joined(separator: ","))]"
    }
}

/// A dataflow graph of operators over named values, in topological order.
public struct Graph: Sendable, Equatable {
    public var name: String
    /// The default-domain opset the model was exported with.
    public var opsetVersion: Int
    /// Values supplied at run time (initializers are not among them).
    public var inputs: [String]
    public var outputs: [String]
    public var nodes: [Node]
    /// Weights and constants, fp32 or int64, by value name.
    public var initializers: [String: Tensor]
    /// Type information for every value the graph mentions.
    public var values: [String: ValueInfo]

    public init(
        name: String, opsetVersion: Int, inputs: [String], outputs: [String], nodes: [Node],
        initializers: [String: Tensor], values: [String: ValueInfo]
    ) {
        self.name = name
        self.opsetVersion = opsetVersion
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.initializers = initializers
        self.values = values
    }

    /// The concrete type of a value, if shape inference has established it.
    public func type(of value: String) -> TensorType? {
        if let tensor = initializers[value] { return tensor.type }
        return values[value]?.type
    }

    /// Index of the node producing each value.
    public func producers() -> [String: Int] {
        var map: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs where !output.isEmpty { map[output] = index }
        }
        return map
    }

    /// Indices of the nodes reading each value, in node order.
    public func consumers() -> [String: [Int]] {
        var map: [String: [Int]] = [:]
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { map[input, default: []].append(index) }
        }
        return map
    }
}

extension Graph {
    /// Graph inputs that some node uses to define a shape (a Reshape's
    /// shape, a Resize's scales...), directly or through the shape
    /// arithmetic computing it (Max, Sub, Concat... of the input): dfc
    /// compiles static shapes, so such an input must be frozen to a constant
    /// before shape inference. Shape and Size read only their input's type.
    public var shapeDefiningInputs: [String] {
        var needed: Set<String> = []
        for node in nodes {
            for i in node.kind.shapeDefiningInputs { if let name = node.input(i) { needed.insert(name) } }
        }
        for node in nodes.reversed() where node.kind != .shape && node.kind != .size {
            guard node.outputs.contains(where: needed.contains) else { continue }
            for input in node.inputs where !input.isEmpty { needed.insert(input) }
        }
        return inputs.filter { needed.contains($0) }
    }

    /// Graph inputs feeding a parameter slot (a Conv's weight and bias, a
    /// Gemm's B and C, Clip's bounds, BatchNorm's statistics, Pad's value):
    /// the accelerator takes those from the program's constants, so a model
    /// that passes them at run time compiles once they are frozen.
    public var parameterInputs: [String] {
        let inputSet = Set(inputs)
        var found: Set<String> = []
        for node in nodes {
            let slots: [Int]
            switch node.kind {
            case .conv, .convTranspose, .gemm, .clip: slots = [1, 2]
            case .batchNormalization: slots = [1, 2, 3, 4]
            case .pad: slots = [2]
            default: slots = []
            }
            for i in slots { if let name = node.input(i), inputSet.contains(name) { found.insert(name) } }
        }
        return inputs.filter { found.contains($0) }
    }

    /// Turns graph inputs into constants with the given values.
    public mutating func freeze(_ values: [String: Tensor]) throws {
        for (name, tensor) in values.sorted(by: { $0.key < $1.key }) {
            guard let index = inputs.firstIndex(of: name) else {
                throw DFCError("cannot freeze '\(name)': not a graph input")
            }
            if let declared = self.values[name], declared.dtype != tensor.dtype {
                throw DFCError("cannot freeze '\(name)': it is \(declared.dtype), the value is \(tensor.dtype)")
            }
            inputs.remove(at: index)
            initializers[name] = tensor
            self.values[name] = nil
        }
    }
}

extension Graph {
    /// Throws one error listing every node dfc cannot handle, each with its
    /// name and op type (and domain, when it is not ONNX's own).
    public func checkSupported() throws {
        let unsupported = nodes.filter { $0.kind == .opaque }
        guard !unsupported.isEmpty else { return }
        // Group by op type so a model with hundreds of one op stays readable;
        // every node is still named.
        var groups: [String: [String]] = [:]
        var opTypes: [String: String] = [:]
        for node in unsupported {
            let op =
                node.domain.isEmpty
                ? node.opType : "\(node.domain)::\(node.opType) (domain '\(node.domain)' is not supported)"
            groups[op, default: []].append(node.name)
            opTypes[op] = node.opType
        }
        let items = groups.keys.sorted().map { op in
            let names = groups[op]!
            let nearest = OpKind.nearestSupported(to: opTypes[op]!)
            let instead = nearest.isEmpty ? "" : "; nearest supported: \(nearest.joined(separator: ", "))"
            return
                "\(op) (\(names.count == 1 ? "node" : "\(names.count) nodes"): \(names.joined(separator: ", "))\(instead))"
        }
        // The opset says which version of ONNX's operator set the model was read against.
        let opset = opsetVersion > 0 ? " in opset \(opsetVersion)" : ""
        throw DFCError(
            "unsupported operator\(groups.count == 1 ? "" : "s")\(opset): \(items.joined(separator: "; ")) (dfc compile --help lists the supported operators)",
            kind: .unsupported)
    }
}
