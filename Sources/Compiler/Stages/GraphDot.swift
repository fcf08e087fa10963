import Accelerator
import GraphIR

/// `dfc compile --graph FILE.dot`: the graph after the scheduling stages as
/// Graphviz DOT. Each fusion group the program runs is a cluster labelled
/// with its tile shape, halo mode, SRAM and DRAM bytes; layers on their own
/// name their engine, and host layers are filled orange. Edges carry the
/// value's shape; an edge inside a group is grey (the value stays in SRAM).
/// Node identifiers are `node:NAME`, `input:NAME` and `output:NAME`, so a
/// rendering can be matched back to the graph. The text depends only on the
/// graph and the plan, so the same compile gives the same file.
public enum GraphDot {
    public static func render(_ graph: Graph, compilation: Codegen.Compilation, title: String) -> String {
        // When fusion fell back (or is off) the program runs every layer on its own: no clusters.
        let groups = compilation.groups.isEmpty ? [] : compilation.plan.segments.filter { $0.group != nil }
        let engines = Dictionary(
            compilation.layers.filter { $0.members.count == 1 }.map { ($0.node, $0.engine) },
            uniquingKeysWith: { a, _ in a })
        var groupOf: [Int: Int] = [:]
        for (k, segment) in groups.enumerated() { for index in segment.nodes { groupOf[index] = k } }

        let program = compilation.program
        let stats = program.config.schedule(program.instructions, constantsBytes: program.constants.count).stats
        let baseline = compilation.layerByLayer
        let baselineStats = baseline.config.schedule(baseline.instructions, constantsBytes: baseline.constants.count)
            .stats
        let summary =
            "\(title): \(groups.count) fusion group\(groups.count == 1 ? "" : "s"), "
            + "DRAM \(stats.dramReadBytes + stats.dramWriteBytes) B "
            + "(layer by layer \(baselineStats.dramReadBytes + baselineStats.dramWriteBytes) B), "
            + "\(stats.cycles) cycles, accelerator \(program.config.name) (SRAM \(program.config.sramBytes) B)"
            + (compilation.fellBack ? "\nfused program not better: layer by layer kept" : "")

        var lines = [
            "digraph \(quote(graph.name.isEmpty ? "graph" : graph.name)) {",
            "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=\(quote(summary))];",
            "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];",
            "  edge [fontname=\"Helvetica\", fontsize=9];"
        ]
        for name in graph.inputs {
            lines.append(
                "  \(quote("input:" + name)) [shape=ellipse, fillcolor=\"#e5f5e0\", label=\(quote(name + "\n" + shapeText(graph, name)))];"
            )
        }
        var emitted = Set<Int>()
        for index in graph.nodes.indices where !emitted.contains(index) {
            guard let k = groupOf[index] else {
                lines.append("  " + nodeLine(graph, index, engine: engines[graph.nodes[index].name]))
                emitted.insert(index)
                continue
            }
            let segment = groups[k]
            lines.append("  subgraph \(quote("cluster_\(k)")) {")
            lines.append(
                "    label=\(quote(clusterLabel(graph, segment, number: k + 1))); style=\"rounded,filled\"; "
                    + "fillcolor=\"#deebf7\"; color=\"#3182bd\"; labeljust=l;")
            for member in segment.nodes {
                lines.append("    " + nodeLine(graph, member, engine: nil))
                emitted.insert(member)
            }
            lines.append("  }")
        }
        for name in graph.outputs {
            lines.append(
                "  \(quote("output:" + name)) [shape=ellipse, fillcolor=\"#e5f5e0\", label=\(quote(name + "\n" + shapeText(graph, name)))];"
            )
        }

        let producers = graph.producers()
        func source(_ value: String) -> String? {
            if let producer = producers[value] { return "node:" + graph.nodes[producer].name }
            return graph.inputs.contains(value) ? "input:" + value : nil
        }
        for (index, node) in graph.nodes.enumerated() {
            var seen = Set<String>()
            for value in node.inputs where !value.isEmpty && seen.insert(value).inserted {
                guard let from = source(value) else { continue }
                let inside = producers[value].map { groupOf[$0] != nil && groupOf[$0] == groupOf[index] } ?? false
                let style = inside ? ", color=\"#969696\", fontcolor=\"#969696\"" : ""
                lines.append(
                    "  \(quote(from)) -> \(quote("node:" + node.name)) [label=\(quote(dims(graph, value)))\(style)];")
            }
        }
        for name in graph.outputs {
            guard let from = source(name) else { continue }
            lines.append("  \(quote(from)) -> \(quote("output:" + name)) [label=\(quote(dims(graph, name)))];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One layer: name, op (with a fused activation), output type; a layer
    /// on its own names its engine, host layers are orange, views dashed.
    static func nodeLine(_ graph: Graph, _ index: Int, engine: String?) -> String {
        let node = graph.nodes[index]
        var op = node.opType + (node.activation.map { "+\($0)" } ?? "")
        if let engine, engine != "fused" { op += " [\(engine)]" }
        let output = node.outputs.first { !$0.isEmpty }.map { shapeText(graph, $0) } ?? ""
        var attributes = "label=\(quote("\(node.name)\n\(op)\n\(output)"))"
        switch engine {
        case "host": attributes += ", fillcolor=\"#fdae6b\", penwidth=2"
        case "view": attributes += ", style=\"rounded,dashed\""
        default: break
        }
        return "\(quote("node:" + node.name)) [\(attributes)];"
    }

    /// Group number and layers; tile shape; halo mode; SRAM and DRAM bytes against layer by layer.
    static func clusterLabel(_ graph: Graph, _ segment: FusionPlan.Segment, number: Int) -> String {
        let group = segment.group!
        let count = segment.nodes.count
        var lines = [
            "group \(number): \(count) layers, \(graph.nodes[segment.nodes.lowerBound].name) to "
                + graph.nodes[segment.nodes.upperBound - 1].name
        ]
        switch group {
        case .bands(let plan):
            let shape = graph.type(of: plan.output)?.shape ?? []
            let channels = shape.count > 1 ? shape[1] : 1
            let width = shape.count > 3 ? shape[3] : 1
            let real = plan.bands.filter { $0.upperBound > 0 }.count
            lines.append(
                "tile \(plan.rows) row\(plan.rows == 1 ? "" : "s") x \(width) cols x \(channels) ch of \(plan.output), \(real) band\(real == 1 ? "" : "s")"
            )
            lines.append("halo \(plan.halo.rawValue)")
        case .wholeMap(let plan):
            let shape = graph.type(of: plan.output)?.shape ?? []
            let map = shape.dropFirst(2).map(String.init).joined(separator: "x")
            lines.append(
                "tile whole map \(map.isEmpty ? "1" : map), blocks of \(plan.block) out / \(plan.inBlock) in ch")
            lines.append("halo none (whole map)")
        case .residualConv(let plan):
            let t = plan.tiling
            lines.append(
                "tile \(t.rows) row\(t.rows == 1 ? "" : "s") x \(t.coutBlock) out / \(t.cinBlock) in ch, weights \(t.weightsResident ? "resident" : "streamed")"
            )
            lines.append("adds \(plan.residual) to each output tile")
        }
        lines.append(
            "SRAM \(group.sramBytes) B, DRAM \(group.dramBytes) B (layer by layer \(segment.layerByLayerBytes) B)")
        return lines.joined(separator: "\n")
    }

    static func shapeText(_ graph: Graph, _ value: String) -> String {
        guard let type = graph.type(of: value) else { return "?" }
        return "\(type.dtype)[\(type.shape.map(String.init).joined(separator: ","))]"
    }

    static func dims(_ graph: Graph, _ value: String) -> String {
        graph.type(of: value).map { $0.shape.map(String.init).joined(separator: "x") } ?? "?"
    }

    /// A DOT quoted string: quotes and backslashes escaped, a newline is a
    /// centred line break (in labels), other control characters are shown as
    /// \u{..}. One to one, so distinct names stay distinct nodes.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
