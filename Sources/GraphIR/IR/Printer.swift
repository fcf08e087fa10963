import Foundation
import Tensors

/// The text form of the IR: one line per input, constant, node and output,
/// deterministic so that dumps can be diffed. Weights are summarized.
public enum IRPrinter {
    /// Small integer constants are shown in full; anything larger is summarized.
    static let inlineLimit = 8

    public static func print(_ graph: Graph) -> String {
        var lines: [String] = []
        lines.append("graph \(quoted(graph.name)) opset \(graph.opsetVersion) {")
        for name in graph.inputs {
            lines.append("  input  %\(name): \(typeText(graph, name))")
        }
        for name in graph.initializers.keys.sorted() {
            lines.append("  const  %\(name): \(summary(graph.initializers[name]!))")
        }
        for node in graph.nodes {
            lines.append("  " + line(for: node, in: graph))
        }
        for name in graph.outputs {
            lines.append("  output %\(name): \(typeText(graph, name))")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func line(for node: Node, in graph: Graph) -> String {
        let outputs = node.outputs.map { $0.isEmpty ? "_" : "%\($0)" }.joined(separator: ", ")
        let inputs = node.inputs.map { $0.isEmpty ? "_" : "%\($0)" }.joined(separator: ", ")
        let op = node.domain.isEmpty ? node.opType : "\(node.domain)::\(node.opType)"
        var text = "\(outputs) = \(op)(\(inputs))"
        if !node.attributes.isEmpty {
            let attributes = node.attributes.keys.sorted().map { "\($0)=\(attributeText(node.attributes[$0]!))" }
            text += " {\(attributes.joined(separator: ", "))}"
        }
        if let activation = node.activation { text += " -> \(activation)" }
        let types = node.outputs.filter { !$0.isEmpty }.map { typeText(graph, $0) }
        if !types.isEmpty { text += " : " + types.joined(separator: ", ") }
        return text + "  # \(node.name)"
    }

    static func typeText(_ graph: Graph, _ name: String) -> String {
        if let t = graph.initializers[name] { return t.type.description }
        return graph.values[name]?.shapeText ?? "?"
    }

    static func attributeText(_ attribute: Attribute) -> String {
        switch attribute {
        case .int(let v): return String(v)
        case .float(let v): return number(v)
        case .string(let v): return quoted(v)
        case .ints(let v): return "[\(v.map(String.init).joined(separator: ","))]"
        case .floats(let v): return "[\(v.map(number).joined(separator: ","))]"
        case .strings(let v): return "[\(v.map(quoted).joined(separator: ","))]"
        case .tensor(let t): return summary(t)
        case .unsupported(let what): return "<\(what)>"
        }
    }

    /// A tensor as its type, then its values if few, else count and range.
    public static func summary(_ tensor: Tensor) -> String {
        let type = tensor.type.description
        if tensor.count <= inlineLimit {
            switch tensor.storage {
            case .int64(let v): return "\(type) = [\(v.map(String.init).joined(separator: ", "))]"
            case .float(let v): return "\(type) = [\(v.map(number).joined(separator: ", "))]"
            case .bool(let v): return "\(type) = [\(v.map(String.init).joined(separator: ", "))]"
            }
        }
        let values = tensor.floats
        let low = values.min() ?? 0, high = values.max() ?? 0
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(max(1, values.count))
        return
            "\(type) (\(tensor.count) values in [\(number(low)), \(number(high))], mean \(String(format: "%.4g", mean)))"
    }

    static func number(_ v: Float) -> String {
        v.isFinite ? String(format: "%.6g", Double(v)) : String(describing: v)
    }

    static func quoted(_ s: String) -> String {
        "\""
            + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
