import Foundation
import GraphIR
import Tensors

/// Reads an ONNX model file into the graph IR.
///
/// The graph comes back exactly as the file describes it (Constant nodes
/// stay nodes, unsupported ops become `.opaque` nodes); `checkSupported`
/// and shape inference decide whether dfc can go on with it.
public enum ONNXImporter {
    /// The oldest default-domain opset accepted. Opset 6 is what early PyTorch
    /// exporters wrote; the operators dfc supports read the same from there on.
    public static let oldestOpset = 6
    /// The newest default-domain opset whose semantics dfc implements.
    public static let newestOpset = 28

    /// Imports the model at `path`. Errors name the file.
    public static func load(path: String) throws -> Graph { try loadDetailed(path: path).graph }

    /// What a model file says about itself besides its graph (`dfc inspect`).
    public struct Metadata: Sendable {
        public var irVersion: Int
        public var producerName: String
        public var producerVersion: String
        /// Every imported opset, default domain ("") first, then by domain.
        public var opsets: [(domain: String, version: Int)]
    }

    /// Imports the model at `path` with its metadata. Errors name the file.
    public static func loadWithMetadata(path: String) throws -> (graph: Graph, metadata: Metadata) {
        let loaded = try loadDetailed(path: path)
        return (loaded.graph, loaded.metadata)
    }

    /// Imports the model at `path`, and names the external data files it read: the model's folder (as
    /// `path` spells it) joined with each location, sorted, each once. What a make depfile lists.
    public static func loadNamingFiles(path: String) throws -> (graph: Graph, externalData: [String]) {
        let loaded = try loadDetailed(path: path)
        return (loaded.graph, loaded.externalData)
    }

    /// Imports the model at `path` with its metadata and external data files. Errors name the file.
    static func loadDetailed(path: String) throws -> (graph: Graph, metadata: Metadata, externalData: [String]) {
        let url = URL(fileURLWithPath: path)
        do {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw DFCError("no such file", kind: .io)
            }
            guard !isDirectory.boolValue else { throw DFCError("is a directory, not an ONNX model", kind: .io) }
            // A regular file is never read whole: its weights go from the file straight into their tensors
            // (`ModelFile`). Anything else is read into memory, and its bytes let go once decoded.
            let file = try ModelFile(regularFileAt: path)
            let model = try {
                if let file { return try file.decodeModel() }
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw DFCError("cannot read the file", kind: .io)
                }
                guard !data.isEmpty else { throw DFCError("the file is empty, not an ONNX model") }
                return try ONNXProtobuf.decodeModel(data)
            }()
            let opsets = model.opsets.map {
                (domain: $0.domain == "ai.onnx" ? "" : $0.domain, version: Int($0.version))
            }
            let metadata = Metadata(
                irVersion: Int(model.irVersion), producerName: model.producerName,
                producerVersion: model.producerVersion,
                opsets: opsets.sorted { ($0.domain, $0.version) < ($1.domain, $1.version) })
            let folder = path.contains("/") ? String(path[...path.lastIndex(of: "/")!]) : ""
            let externalData = externalLocations(model).map { folder + $0 }
            return (
                try importModel(model, directory: url.deletingLastPathComponent(), file: file), metadata, externalData
            )
        } catch let error as DFCError {
            throw error.inFile(path)
        }
    }

    /// The locations of the external data of the model's initializers and tensor attributes, sorted, each once.
    static func externalLocations(_ model: ONNXProto.Model) -> [String] {
        var tensors = model.graph.initializers
        for node in model.graph.nodes {
            for (_, value) in node.attributes {
                if case .tensor(let tensor) = value { tensors.append(tensor) }
            }
        }
        let locations = tensors.compactMap { tensor -> String? in
            guard case .external(let entries) = tensor.payload else { return nil }
            return entries["location"]
        }
        return Set(locations).sorted()
    }

    /// Imports a model already in memory; external data resolves against `directory`.
    public static func load(data: Data, directory: URL? = nil) throws -> Graph {
        try importModel(ONNXProtobuf.decodeModel(data), directory: directory)
    }

    static func importModel(_ model: consuming ONNXProto.Model, directory: URL?, file: ModelFile? = nil) throws
        -> Graph
    {
        let opset = try defaultOpset(model.opsets, nodes: model.graph.nodes)
        let knownDomains = Set(model.opsets.map(\.domain))

        // Each payload is dropped as soon as it is decoded, so that the raw bytes
        // and the decoded tensors are never all in memory at once.
        var initializers: [String: Tensor] = [:]
        for k in model.graph.initializers.indices {
            let data = model.graph.initializers[k]
            guard !data.name.isEmpty else { throw DFCError("an initializer has no name") }
            guard initializers[data.name] == nil else { throw DFCError("initializer '\(data.name)' is defined twice") }
            let name = data.name
            model.graph.initializers[k].payload = .none
            initializers[name] = try TensorDecoding.decode(consume data, externalBase: directory, file: file)
        }
        let source = model.graph

        var values: [String: ValueInfo] = [:]
        func declare(_ info: ONNXProto.ValueInfo, role: String) throws {
            guard let code = info.elementType else {
                if role == "input" { throw DFCError("input '\(info.name)' has no tensor type") }
                return
            }
            guard let dtype = DType(onnxCode: code) else {
                throw DFCError(
                    "\(role) '\(info.name)' has element type \(ONNXElementType.name(of: code)), which dfc does not support",
                    kind: .unsupported)
            }
            values[info.name] = ValueInfo(dtype: dtype, dims: info.dims)
        }

        var inputs: [String] = []
        for info in source.inputs {
            guard !info.name.isEmpty else { throw DFCError("a graph input has no name") }
            // Models from IR version 3 list their weights as inputs too.
            if initializers[info.name] != nil { continue }
            guard !inputs.contains(info.name) else { throw DFCError("graph input '\(info.name)' is listed twice") }
            try declare(info, role: "input")
            inputs.append(info.name)
        }
        for info in source.valueInfo where initializers[info.name] == nil { try declare(info, role: "value") }
        for info in source.outputs where initializers[info.name] == nil { try declare(info, role: "output") }

        var defined = Set(inputs).union(initializers.keys)
        let nodes = try importNodes(source.nodes, knownDomains: knownDomains, directory: directory, defined: &defined)

        var outputs: [String] = []
        for info in source.outputs {
            guard defined.contains(info.name) else { throw DFCError("graph output '\(info.name)' is never computed") }
            outputs.append(info.name)
        }
        guard !outputs.isEmpty else { throw DFCError("the graph has no outputs") }

        return Graph(
            name: source.name, opsetVersion: opset, inputs: inputs, outputs: outputs,
            nodes: nodes, initializers: initializers, values: values)
    }

    /// The nodes in file order: unique names, attributes converted, every
    /// input defined before it is read and every output defined once.
    private static func importNodes(
        _ protos: [ONNXProto.Node], knownDomains: Set<String>, directory: URL?,
        defined: inout Set<String>
    ) throws -> [Node] {
        var nodes: [Node] = []
        var usedNames: Set<String> = []
        for (index, proto) in protos.enumerated() {
            let domain = proto.domain == "ai.onnx" ? "" : proto.domain
            var name = proto.name.isEmpty ? "\(proto.opType)_\(index)" : proto.name
            if usedNames.contains(name) { name = "\(name)_\(index)" }
            usedNames.insert(name)
            let kind = domain.isEmpty ? OpKind(onnxType: proto.opType) : .opaque
            var attributes: [String: Attribute] = [:]
            for (key, value) in proto.attributes {
                attributes[key] = try convert(value, node: name, attribute: key, directory: directory)
            }
            for input in proto.inputs where !input.isEmpty && !defined.contains(input) {
                throw DFCError(
                    "node '\(name)' (\(proto.opType)) reads '\(input)', which no input, initializer or earlier node defines"
                )
            }
            for output in proto.outputs where !output.isEmpty {
                guard !defined.contains(output) else {
                    throw DFCError("value '\(output)' is defined twice (again by node '\(name)')")
                }
                defined.insert(output)
            }
            if !domain.isEmpty && !knownDomains.contains(domain) && !knownDomains.contains(proto.domain) {
                throw DFCError("node '\(name)' uses domain '\(proto.domain)', which the model does not import")
            }
            nodes.append(
                Node(
                    name: name, kind: kind, opType: proto.opType, domain: domain,
                    inputs: proto.inputs, outputs: proto.outputs, attributes: attributes))
        }
        return nodes
    }

    /// The default-domain opset; 0 when the model uses only other domains
    /// (its nodes are then reported as unsupported, all at once).
    private static func defaultOpset(_ opsets: [(domain: String, version: Int64)], nodes: [ONNXProto.Node]) throws
        -> Int
    {
        guard let entry = opsets.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" }) else {
            if nodes.allSatisfy({ !$0.domain.isEmpty && $0.domain != "ai.onnx" }) { return 0 }
            throw DFCError("the model imports no opset of the default ONNX domain")
        }
        guard (Int64(oldestOpset)...Int64(newestOpset)).contains(entry.version) else {
            throw DFCError(
                "opset \(entry.version) is not supported (dfc supports opsets \(oldestOpset) to \(newestOpset))",
                kind: .unsupported)
        }
        return Int(entry.version)
    }

    private static func convert(_ value: ONNXProto.AttributeValue, node: String, attribute: String, directory: URL?)
        throws -> Attribute
    {
        func int(_ v: Int64) throws -> Int {
            guard let i = Int(exactly: v) else {
                throw DFCError("node '\(node)': attribute '\(attribute)' is out of range")
            }
            return i
        }
        switch value {
        case .int(let v): return .int(try int(v))
        case .float(let v): return .float(v)
        case .bytes(let b): return .string(String(decoding: b, as: UTF8.self))
        case .ints(let v): return .ints(try v.map(int))
        case .floats(let v): return .floats(v)
        case .strings(let v): return .strings(v.map { String(decoding: $0, as: UTF8.self) })
        case .tensor(let t):
            do { return .tensor(try TensorDecoding.decode(t, externalBase: directory)) } catch let error as DFCError {
                throw DFCError("node '\(node)', attribute '\(attribute)': \(error.message)", kind: error.kind)
            }
        case .tensors: return .unsupported("tensors")
        case .other(let what): return .unsupported(what)
        }
    }
}
