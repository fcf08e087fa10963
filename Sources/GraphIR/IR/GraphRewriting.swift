import Tensors

/// Small edits the rewriting passes share: fresh names, rewiring uses,
/// removing nodes, dropping dead code. Edits that move edges go through
/// `GraphRewriter`, which keeps the driver's use-def index in step.
///
/// Rewrites never delete entries from `values`: the type recorded for a
/// value of the imported model stays available under its name (the printer
/// shows only what the graph still mentions, and tests compare recorded
/// types against onnxruntime's).
extension Graph {
    /// Every name a value of the graph has or had.
    package var valueNames: Set<String> {
        var names = Set(inputs).union(outputs).union(initializers.keys).union(values.keys)
        for node in nodes {
            names.formUnion(node.inputs)
            names.formUnion(node.outputs)
        }
        return names
    }

    /// `base`, or `base_1`, `base_2`... whichever no value uses yet.
    package func uniqueName(_ base: String) -> String {
        Self.fresh(base, avoiding: valueNames)
    }

    /// A node name no node uses yet, derived from `base`.
    package func uniqueNodeName(_ base: String) -> String {
        Self.fresh(base, avoiding: Set(nodes.map(\.name)))
    }

    private static func fresh(_ base: String, avoiding taken: Set<String>) -> String {
        if !taken.contains(base) { return base }
        var suffix = 1
        while taken.contains("\(base)_\(suffix)") { suffix += 1 }
        return "\(base)_\(suffix)"
    }

    /// Adds a constant under a fresh name derived from `base`; returns the name.
    package mutating func addConstant(_ tensor: Tensor, name base: String) -> String {
        let name = uniqueName(base)
        initializers[name] = tensor
        return name
    }

    /// Drops nodes and initializers no graph output depends on, and the
    /// trailing optional outputs nobody reads (MaxPool's indices, Dropout's
    /// mask), which the kernels then need not compute.
    package mutating func eliminateDeadCode() {
        var live = Set(outputs)
        var keep = [Bool](repeating: false, count: nodes.count)
        for index in nodes.indices.reversed() where nodes[index].outputs.contains(where: live.contains) {
            keep[index] = true
            live.formUnion(nodes[index].inputs.filter { !$0.isEmpty })
        }
        nodes = nodes.indices.filter { keep[$0] }.map { nodes[$0] }
        for (name, tensor) in initializers where !live.contains(name) {
            if values[name] == nil { values[name] = ValueInfo(tensor.type) }
            initializers[name] = nil
        }
        for index in nodes.indices where [.maxPool, .dropout].contains(nodes[index].kind) {
            while nodes[index].outputs.count > 1, let last = nodes[index].outputs.last, !live.contains(last) {
                nodes[index].outputs.removeLast()
            }
        }
    }
}

/// The graph a rewrite rule edits, with its use-def index. Rules change a
/// node's inputs and outputs only through these methods; initializers,
/// value types and other node fields they may set on `graph` directly.
package struct GraphRewriter {
    package var graph: Graph
    package private(set) var uses: UseDefIndex

    package init(_ graph: Graph) {
        self.graph = graph
        uses = UseDefIndex(graph.nodes)
    }

    package mutating func removeNode(at position: Int) {
        uses.remove(graph.nodes.remove(at: position), at: position)
    }

    package mutating func replaceNode(at position: Int, with node: Node) {
        uses.update(at: position, from: graph.nodes[position], to: node)
        graph.nodes[position] = node
    }

    /// Puts `nodes` where the node at `position` stood.
    package mutating func replaceNode(at position: Int, with nodes: [Node]) {
        removeNode(at: position)
        for (offset, node) in nodes.enumerated() {
            graph.nodes.insert(node, at: position + offset)
            uses.insert(node, at: position + offset)
        }
    }

    /// Every node input that reads `old` reads `new` instead.
    package mutating func replaceAllUses(of old: String, with new: String) {
        for position in Set(uses.consumers(of: old)) {
            graph.nodes[position].inputs = graph.nodes[position].inputs.map { $0 == old ? new : $0 }
        }
        uses.replaceAllUses(of: old, with: new)
    }

    /// Renames a value where it is defined, read and listed as an output.
    package mutating func renameValue(_ old: String, to new: String) {
        if let position = uses.producer(of: old) {
            graph.nodes[position].outputs = graph.nodes[position].outputs.map { $0 == old ? new : $0 }
            uses.renameDefinition(old, to: new)
        }
        replaceAllUses(of: old, with: new)
        graph.outputs = graph.outputs.map { $0 == old ? new : $0 }
        if let info = graph.values[old], graph.values[new] == nil { graph.values[new] = info }
    }

    /// True when node `position` is the only reader of `value` (reading it
    /// once) and the value is not a graph output: the node may then change
    /// or absorb what produces it.
    package func isSoleUse(of value: String, by position: Int) -> Bool {
        uses.consumers(of: value) == [position] && !graph.outputs.contains(value)
    }

    /// Gives node `position` the constant `tensor` as input `input`. The
    /// initializer it read is overwritten when nothing else reads it and
    /// the type stays (names of weights stay stable); otherwise a new one is
    /// made beside it.
    package mutating func setConstantInput(nodeAt position: Int, _ input: Int, to tensor: Tensor, name base: String) {
        if let current = graph.nodes[position].input(input), graph.initializers[current]?.type == tensor.type,
            isSoleUse(of: current, by: position)
        {
            graph.initializers[current] = tensor
            return
        }
        let name = graph.addConstant(tensor, name: base)
        var node = graph.nodes[position]
        while node.inputs.count <= input { node.inputs.append("") }
        node.inputs[input] = name
        replaceNode(at: position, with: node)
    }

    /// Removes node `position`, which passes its input `input` through
    /// unchanged as `output`, rewiring readers of `output` to `input`. When
    /// `output` is a graph output, the producer of `input` is renamed to
    /// keep that name instead. Returns false, changing nothing, when no name
    /// can be kept (both ends are graph inputs, constants or outputs).
    package mutating func bypass(nodeAt position: Int, input: String, output: String) -> Bool {
        if !graph.outputs.contains(output) {
            removeNode(at: position)
            replaceAllUses(of: output, with: input)
            return true
        }
        guard let producer = uses.producer(of: input), producer != position, !graph.outputs.contains(input) else {
            return false
        }
        removeNode(at: position)
        renameValue(input, to: output)
        return true
    }
}
