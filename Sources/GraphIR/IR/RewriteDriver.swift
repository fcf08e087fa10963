/// The one driver every node-by-node rewriting pass shares, and the
/// use-def index it keeps up to date, so no rule rebuilds producer and
/// consumer maps over the whole graph for each node it is offered.

/// What a rule did with the node it was offered.
package enum RewriteResult: Equatable {
    /// The rule does not apply; the node goes to the next rule.
    case failure
    /// The node changed where it stands; the driver moves on to the next.
    case rewritten
    /// The node is gone; the driver offers whatever now stands in its place.
    case erased
    /// The node became this many nodes, all final; the driver moves past them.
    case expanded(Int)
}

/// One rewrite: offered the node at a position, it either leaves the graph
/// alone (`.failure`) or edits it through the rewriter and says how.
package typealias RewriteRule = (_ position: Int, _ rewriter: inout GraphRewriter) throws -> RewriteResult

extension Graph {
    /// Offers every node, in graph order, to `rules` (the first that does
    /// not fail wins) in one forward sweep. Nodes are in topological order,
    /// so a rule always sees its producers in their rewritten form: a chain
    /// (Conv -> BatchNorm -> Mul) folds in one sweep, and every pass so far
    /// needs no second one. True when a rule fired, so a pass that does need
    /// a fixed point can sweep until it returns false.
    @discardableResult
    package mutating func rewrite(with rules: [RewriteRule]) throws -> Bool {
        var rewriter = GraphRewriter(self)
        // The rewriter must hold the only reference to the node list, or
        // its first edit copies it, and to the initializers, or a replaced
        // weight (a folded BatchNormalization's) stays alive to the end.
        nodes = []
        initializers = [:]
        defer { self = rewriter.graph }
        var position = 0
        var changed = false
        while position < rewriter.graph.nodes.count {
            var result = RewriteResult.failure
            for rule in rules where result == .failure { result = try rule(position, &rewriter) }
            switch result {
            case .failure, .rewritten: position += 1
            case .erased: break
            case .expanded(let count): position += count
            }
            changed = changed || result != .failure
        }
        assert(rewriter.uses.matches(rewriter.graph.nodes), "use-def index out of date after a rewrite")
        return changed
    }
}

/// Producer and readers of every value, by node position. Built once per
/// sweep (O(nodes + edges)) and then updated by each edit, instead of
/// rebuilt per node visited.
///
/// Nodes get a stable id when indexed, so an insertion or removal only
/// renumbers the positions after it (O(nodes), like the array edit itself)
/// and never touches the value maps of unrelated nodes.
package struct UseDefIndex {
    private var producerID: [String: Int] = [:]
    /// One entry per read: a node reading a value twice appears twice.
    private var readerIDs: [String: [Int]] = [:]
    private var idAt: [Int] = []
    /// Position of each id; -1 once its node is removed.
    private var positionOf: [Int] = []

    package init(_ nodes: [Node]) {
        for (position, node) in nodes.enumerated() { insert(node, at: position) }
    }

    /// The position of the node defining `value`; O(1).
    package func producer(of value: String) -> Int? {
        producerID[value].map { positionOf[$0] }
    }

    /// Positions of the nodes reading `value`, once per read, in node
    /// order (as `Graph.consumers()`); O(r log r) for r reads.
    package func consumers(of value: String) -> [Int] {
        (readerIDs[value] ?? []).map { positionOf[$0] }.sorted()
    }

    /// Indexes `node`, now standing at `position`; O(nodes).
    package mutating func insert(_ node: Node, at position: Int) {
        let id = positionOf.count
        positionOf.append(position)
        idAt.insert(id, at: position)
        renumber(from: position + 1)
        link(node, id: id)
    }

    /// Forgets `node`, which stood at `position`; O(nodes).
    package mutating func remove(_ node: Node, at position: Int) {
        let id = idAt.remove(at: position)
        unlink(node, id: id)
        positionOf[id] = -1
        renumber(from: position)
    }

    /// The node at `position` changed from `old` to `new`; O(edges of both).
    package mutating func update(at position: Int, from old: Node, to new: Node) {
        guard old.inputs != new.inputs || old.outputs != new.outputs else { return }
        unlink(old, id: idAt[position])
        link(new, id: idAt[position])
    }

    /// Reads of `old` became reads of `new`; O(reads of `old`).
    package mutating func replaceAllUses(of old: String, with new: String) {
        guard old != new, let readers = readerIDs.removeValue(forKey: old) else { return }
        readerIDs[new, default: []].append(contentsOf: readers)
    }

    /// The definition of `old` became one of `new`; O(1).
    package mutating func renameDefinition(_ old: String, to new: String) {
        guard old != new, let id = producerID.removeValue(forKey: old) else { return }
        producerID[new] = id
    }

    /// True when the index says what maps built afresh from `nodes` say.
    package func matches(_ nodes: [Node]) -> Bool {
        let graph = Graph(
            name: "", opsetVersion: 0, inputs: [], outputs: [], nodes: nodes, initializers: [:], values: [:])
        let fresh = (producers: graph.producers(), consumers: graph.consumers())
        return idAt.count == nodes.count
            && producerID.count == fresh.producers.count
            && fresh.producers.allSatisfy { producer(of: $0.key) == $0.value }
            && readerIDs.count == fresh.consumers.count
            && fresh.consumers.allSatisfy { consumers(of: $0.key) == $0.value }
    }

    private mutating func renumber(from position: Int) {
        for p in position..<idAt.count { positionOf[idAt[p]] = p }
    }

    private mutating func link(_ node: Node, id: Int) {
        for output in node.outputs where !output.isEmpty { producerID[output] = id }
        for input in node.inputs where !input.isEmpty { readerIDs[input, default: []].append(id) }
    }

    private mutating func unlink(_ node: Node, id: Int) {
        for output in node.outputs where producerID[output] == id { producerID[output] = nil }
        for input in node.inputs where !input.isEmpty {
            guard let i = readerIDs[input]?.firstIndex(of: id) else { continue }
            readerIDs[input]!.remove(at: i)
            if readerIDs[input]!.isEmpty { readerIDs[input] = nil }
        }
    }
}
