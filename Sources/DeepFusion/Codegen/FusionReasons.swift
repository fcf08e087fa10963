import GraphIR

/// Why groups are what they are: the structural rules a run of layers must
/// follow to be one group, and the reason each group of a plan ends where it
/// does (shown by `--dump-ir=fuse`).
extension Codegen {
    /// Why nodes[range] cannot be one group whatever the tiling, or nil.
    static func structureProblem(_ range: Range<Int>, graph: Graph, consumers: [String: [Int]]) -> String? {
        for index in range where !fusible(graph.nodes[index], graph: graph) {
            return "\(graph.nodes[index].name) cannot be fused (\(notFusibleReason(graph.nodes[index], graph: graph)))"
        }
        let nodes = range.map { graph.nodes[$0] }
        let produced = Set(nodes.flatMap(\.outputs))
        let output = nodes.last!.outputs[0]
        // Exactly one value leaves the group: the last node's.
        for value in produced.sorted() where value != output {
            if graph.outputs.contains(value) { return "\(value) is a graph output" }
            if let outside = (consumers[value] ?? []).first(where: { !range.contains($0) }) {
                return "\(value) is also read by \(graph.nodes[outside].name), outside the group"
            }
        }
        // Concat parts are written in place into the concat's buffer: produced here, read only by it.
        for node in nodes where node.kind == .concat {
            for part in node.inputs {
                guard produced.contains(part), consumers[part]?.count == 1, node.inputs.filter({ $0 == part }).count == 1 else {
                    return "\(node.name) concatenates \(part), which is not produced in the group for it alone"
                }
            }
        }
        return nil
    }

    /// Why a node cannot be part of any group.
    static func notFusibleReason(_ node: Node, graph: Graph) -> String {
        if let reason = unlowerableReason(node, graph: graph) { return reason }
        switch node.kind {
        case .globalAveragePool, .globalMaxPool, .reduceMean, .softmax: return "a global op: every output needs the whole map"
        case .gemm, .matMul: return "a fully connected layer: every output needs every input"
        case .reshape, .flatten, .squeeze, .unsqueeze, .identity, .dropout: return "a view of its input's DRAM"
        case .lrn, .resize, .upsample, .transpose: return "runs on the host"
        case .concat: return "concatenates along an axis other than channels"
        case .split, .slice, .pad, .gather: return "moves data in DRAM"
        default:
            if graph.type(of: node.outputs[0])?.rank != 4 { return "its output is not a 4-d map" }
            return "not row-local with constant weights"
        }
    }
}

extension FusionGroup {
    /// One line: how the group is tiled and what it holds in SRAM.
    func tileDescription(graph: Graph) -> String {
        if let plan = channels {
            let held = plan.partial.map { " (its first \($0.buffer.channels) channels held)" } ?? ""
            let inputs = plan.streamedInputs.isEmpty
                ? "inputs held" : "streaming \(plan.streamedInputs.sorted().joined(separator: ",")) in blocks of \(plan.inBlock) channels\(held)"
            let streamed = nodes.map { graph.nodes[$0] }.filter { $0.kind == .conv && !plan.residentWeights.contains($0.name) }.map(\.name)
            let weights = streamed.isEmpty ? "" : ", weights of \(streamed.joined(separator: ",")) in \(plan.block)x\(plan.inBlock) tiles"
            let tail = plan.tailStart.map { ", output in blocks of \(plan.block) channels from \(graph.nodes[$0].name)" } ?? ""
            return "whole map, \(inputs)\(weights)\(tail), SRAM \(sramBytes) B"
        }
        let streaming = streamed.isEmpty ? "" : ", streaming \(streamed.keys.sorted().map { "\($0) in blocks of \(streamed[$0]!)" }.joined(separator: ","))"
        let real = bands.filter { $0.upperBound > 0 }.count, warmUp = bands.count - real
        let single = buffers.values.allSatisfy { $0.slots == 1 } && bands.count > 1 ? ", single-buffered" : ""
        let warm = warmUp > 0 ? " after \(warmUp) warm-up band\(warmUp == 1 ? "" : "s")" : ""
        return "\(real) band\(real == 1 ? "" : "s") of \(rows) rows\(warm), halo \(halo.rawValue)\(streaming)\(single), SRAM \(sramBytes) B"
    }
}
