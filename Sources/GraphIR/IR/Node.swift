import Tensors

/// One attribute value, as ONNX types them.
public enum Attribute: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(Tensor)
    /// A kind dfc never reads (graphs, sparse tensors, type protos).
    case unsupported(String)
}

/// An operator application. Inputs and outputs name values of the graph; an
/// empty input name is an omitted optional input.
public struct Node: Sendable, Equatable {
    public var name: String
    public var kind: OpKind
    /// The ONNX op_type, kept verbatim so messages can name opaque ops.
    public var opType: String
    /// Empty for ONNX's own ops; by default the kind's (`OpKind.domain`).
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]
    /// An activation applied to every output value (set by canonicalization).
    public var activation: Activation?

    public init(
        name: String, kind: OpKind, opType: String? = nil, domain: String? = nil,
        inputs: [String], outputs: [String], attributes: [String: Attribute] = [:], activation: Activation? = nil
    ) {
        self.name = name
        self.kind = kind
        self.opType = opType ?? kind.rawValue
        self.domain = domain ?? kind.domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.activation = activation
    }

    /// The i-th input's name if present and non-empty.
    public func input(_ index: Int) -> String? {
        index < inputs.count && !inputs[index].isEmpty ? inputs[index] : nil
    }

    public func int(_ key: String) -> Int? {
        if case .int(let v)? = attributes[key] { return v }
        return nil
    }

    public func int(_ key: String, default value: Int) -> Int { int(key) ?? value }

    public func float(_ key: String, default value: Float) -> Float {
        switch attributes[key] {
        case .float(let v)?: return v
        case .int(let v)?: return Float(v)
        default: return value
        }
    }

    public func ints(_ key: String) -> [Int]? {
        switch attributes[key] {
        case .ints(let v)?: return v
        case .int(let v)?: return [v]
        default: return nil
        }
    }

    public func floats(_ key: String) -> [Float]? {
        switch attributes[key] {
        case .floats(let v)?: return v
        case .float(let v)?: return [v]
        default: return nil
        }
    }

    public func string(_ key: String) -> String? {
        if case .string(let v)? = attributes[key] { return v }
        return nil
    }

    public func string(_ key: String, default value: String) -> String { string(key) ?? value }

    public func tensor(_ key: String) -> Tensor? {
        if case .tensor(let v)? = attributes[key] { return v }
        return nil
    }
}
