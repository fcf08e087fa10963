import GraphIR
import Tensors

extension CanonicalizeViews {
    /// A Split of a map's channels (4-d, batch 1) becomes one Slice per
    /// output: a fusion group keeps a channel Slice as a view of its input's
    /// SRAM buffer, and a node with several outputs cannot join a group.
    /// Layer by layer both read their part of the input in place. The
    /// Slices take the graph's opset's form (starts, ends and axes as
    /// constant inputs from opset 10, as attributes before).
    static func splitChannels(at index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard node.kind == .split, node.activation == nil, let x = node.input(0),
            let t = rewriter.graph.type(of: x), t.rank == 4, t.shape[0] == 1,
            ShapeMath.normalize(axis: node.int("axis", default: 0), rank: 4) == 1
        else { return .failure }
        let sizes = node.outputs.map { $0.isEmpty ? nil : rewriter.graph.type(of: $0)?.shape[1] }
        guard sizes.allSatisfy({ ($0 ?? 0) > 0 }), sizes.reduce(0, { $0 + ($1 ?? 0) }) == t.shape[1] else {
            return .failure
        }
        var slices: [Node] = []
        var start = 0
        for (k, output) in node.outputs.enumerated() {
            let end = start + sizes[k]!
            var slice = Node(name: "\(node.name)_slice\(k)", kind: .slice, inputs: [x], outputs: [output])
            if rewriter.graph.opsetVersion >= 10 {
                for (part, value) in [("starts", start), ("ends", end), ("axes", 1)] {
                    slice.inputs.append(
                        rewriter.graph.addConstant(Tensor(shape: [1], ints: [Int64(value)]), name: "\(output)_\(part)"))
                }
            } else {
                slice.attributes = ["starts": .ints([start]), "ends": .ints([end]), "axes": .ints([1])]
            }
            slices.append(slice)
            start = end
        }
        rewriter.replaceNode(at: index, with: slices)
        return .expanded(slices.count)
    }
}
