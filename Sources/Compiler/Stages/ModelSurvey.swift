import Accelerator
import GraphIR

/// What `dfc inspect` asks of the compiler about a canonical graph without
/// compiling it: which layers cannot be lowered and which run on the host.
extension Codegen {
    /// Every layer the accelerator cannot run, with why (what `dfc compile`
    /// rejects, all at once), in node order.
    public static func unlowerableLayers(_ graph: Graph) -> [(node: String, op: String, reason: String)] {
        graph.nodes.compactMap { node in
            Emitter.unlowerableReason(node, graph: graph).map { (node.name, node.opType, $0) }
        }
    }

    /// Layers lowered to host instructions by their kind (Softmax, Transpose,
    /// ReduceMean); a compiled program's layer rows also show the LRN and
    /// Resize layers that fall back to the host.
    public static func hostLayers(_ graph: Graph) -> [(node: String, op: String)] {
        graph.nodes.filter { $0.kind.pattern == .host }.map { ($0.name, $0.opType) }
    }
}
