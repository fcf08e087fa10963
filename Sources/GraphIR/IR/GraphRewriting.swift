/// Small edits the rewriting passes share: fresh names, rewiring uses,
/// removing nodes, dropping dead code.
///
/// Rewrites never delete entries from `values`: the type recorded for a
/// value of the imported model stays available under its name (the printer
/// shows only what the graph still mentions, and tests compare recorded
/// types against onnxruntime's).
extension Graph {
    /// Every name a value of the graph has or had.
    var valueNames: Set<String> {
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

    /// Gives node `index` the constant `tensor` as input `input`. The
    /// initializer it read is overwritten when nothing else reads it and
    /// the type stays (names of weights stay stable); otherwise a new one is
    /// made beside it.
    package mutating func setConstantInput(nodeAt index: Int, _ input: Int, to tensor: Tensor, name base: String) {
        if let current = nodes[index].input(input), initializers[current]?.type == tensor.type, !outputs.contains(current),
           nodes.indices.allSatisfy({ $0 == index || !nodes[$0].inputs.contains(current) }),
           nodes[index].inputs.filter({ $0 == current }).count == 1 {
            initializers[current] = tensor
            return
        }
        let name = addConstant(tensor, name: base)
        while nodes[index].inputs.count <= input { nodes[index].inputs.append("") }
        nodes[index].inputs[input] = name
    }

    /// Every node input that reads `old` reads `new` instead.
    package mutating func replaceAllUses(of old: String, with new: String) {
        for i in nodes.indices where nodes[i].inputs.contains(old) {
            nodes[i].inputs = nodes[i].inputs.map { $0 == old ? new : $0 }
        }
    }

    /// Renames a value where it is defined, read and listed as an output.
    package mutating func renameValue(_ old: String, to new: String) {
        for i in nodes.indices where nodes[i].outputs.contains(old) {
            nodes[i].outputs = nodes[i].outputs.map { $0 == old ? new : $0 }
        }
        replaceAllUses(of: old, with: new)
        outputs = outputs.map { $0 == old ? new : $0 }
        if let info = values[old], values[new] == nil { values[new] = info }
    }

    package mutating func removeNodes(at indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        nodes = nodes.indices.filter { !indices.contains($0) }.map { nodes[$0] }
    }

    /// True when node `index` is the only reader of `value` (reading it
    /// once) and the value is not a graph output: the node may then change
    /// or absorb what produces it.
    package func isSoleUse(of value: String, by index: Int, consumers: [String: [Int]]) -> Bool {
        consumers[value] == [index] && !outputs.contains(value)
    }

    /// Removes node `index`, which passes its input `input` through
    /// unchanged as `output`, rewiring readers of `output` to `input`. When
    /// `output` is a graph output, the producer of `input` is renamed to
    /// keep that name instead. Returns false, changing nothing, when no name
    /// can be kept (both ends are graph inputs, constants or outputs).
    @discardableResult
    package mutating func bypass(nodeAt index: Int, input: String, output: String) -> Bool {
        if !outputs.contains(output) {
            nodes.remove(at: index)
            replaceAllUses(of: output, with: input)
            return true
        }
        let producedByNode = nodes.indices.contains { $0 != index && nodes[$0].outputs.contains(input) }
        guard producedByNode, !outputs.contains(input) else { return false }
        nodes.remove(at: index)
        renameValue(input, to: output)
        return true
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
