import Tensors
import Testing
@testable import GraphIR
@testable import GraphPasses
import TestSupport

@Suite("Rewrite driver and use-def index")
struct RewriteDriverTests {
    /// x -> a (Relu) -> i (Identity) -> sum (i + i) -> c (Relu), and
    /// j (Identity of x) -> d (j * c), the graph output: a value read twice
    /// by one node and two Identities to bypass in one small graph.
    static func graph() throws -> Graph {
        var b = GraphBuilder()
        let x = b.input("x", [1, 2, 4, 4])
        let a = b.node(.relu, "a", [x])
        let i = b.node(.identity, "i", [a])
        let sum = b.node(.add, "sum", [i, i])
        let c = b.node(.relu, "c", [sum])
        let j = b.node(.identity, "j", [x])
        let d = b.node(.mul, "d", [j, c])
        return try b.finish([d])
    }

    /// Checks the index against maps built afresh, as each rule returns.
    static func checked(_ rule: @escaping RewriteRule) -> RewriteRule {
        { position, rewriter in
            let result = try rule(position, &rewriter)
            #expect(rewriter.uses.matches(rewriter.graph.nodes), "index stale after \(result) at \(position)")
            let fresh = rewriter.graph.consumers()
            for (value, readers) in fresh { #expect(rewriter.uses.consumers(of: value) == readers, "\(value)") }
            return result
        }
    }

    static func bypassIdentity(_ position: Int, _ rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[position]
        guard node.kind == .identity, let input = node.input(0), let output = node.outputs.first,
            rewriter.bypass(nodeAt: position, input: input, output: output)
        else { return .failure }
        return .erased
    }

    /// Relu becomes Relu then Sigmoid, both under new names but the last
    /// keeping the output name; the driver must not offer the new Relu again.
    static func splitRelu(_ position: Int, _ rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[position]
        guard node.kind == .relu, let input = node.input(0), let output = node.outputs.first else { return .failure }
        let middle = rewriter.graph.uniqueName("\(output)_pre")
        rewriter.graph.values[middle] = rewriter.graph.values[output]
        rewriter.replaceNode(
            at: position,
            with: [
                Node(name: node.name, kind: .relu, inputs: [input], outputs: [middle]),
                Node(name: "\(node.name)_sigmoid", kind: .sigmoid, inputs: [middle], outputs: [output])
            ])
        return .expanded(2)
    }

    @Test("every node is offered once, in order; erased positions are revisited, expansions skipped")
    func sweep() throws {
        var graph = try Self.graph()
        var offered: [String] = []
        let record: RewriteRule = { position, rewriter in
            offered.append(rewriter.graph.nodes[position].name)
            return .failure
        }
        let changed = try graph.rewrite(with: [record, Self.checked(Self.bypassIdentity), Self.checked(Self.splitRelu)])
        #expect(changed)
        #expect(offered == ["a", "i", "sum", "c", "j", "d"])
        #expect(graph.nodes.map(\.name) == ["a", "a_sigmoid", "sum", "c", "c_sigmoid", "d"])
        #expect(graph.node("sum")?.inputs == ["a", "a"])
        #expect(graph.node("d")?.inputs == ["x", "c"])
        try graph.verify(requireTypes: true)
        #expect(try !graph.rewrite(with: [Self.bypassIdentity]), "nothing left to rewrite")
    }

    @Test("the index follows renames, new constants and removals")
    func edits() throws {
        var rewriter = GraphRewriter(try Self.graph())
        // `i` is read twice by one node: not a sole use; `a` has one reader.
        #expect(!rewriter.isSoleUse(of: "i", by: 2))
        #expect(rewriter.isSoleUse(of: "a", by: 1))
        #expect(rewriter.uses.consumers(of: "i") == [2, 2])
        rewriter.removeNode(at: 1)
        rewriter.renameValue("a", to: "i")
        #expect(rewriter.uses.producer(of: "i") == 0)
        #expect(rewriter.uses.producer(of: "a") == nil)
        #expect(rewriter.uses.consumers(of: "i") == [1, 1])
        rewriter.setConstantInput(nodeAt: 4, 2, to: Tensor(shape: [1], floats: [2]), name: "k")
        #expect(rewriter.graph.nodes[4].inputs == ["j", "c", "k"])
        #expect(rewriter.uses.consumers(of: "k") == [4])
        #expect(rewriter.uses.matches(rewriter.graph.nodes))
        #expect(rewriter.uses.producer(of: "d") == 4)
    }

    @Test("edits made behind the index's back are caught")
    func staleIndex() throws {
        var rewriter = GraphRewriter(try Self.graph())
        #expect(rewriter.uses.matches(rewriter.graph.nodes))
        rewriter.graph.nodes.remove(at: 1)
        #expect(!rewriter.uses.matches(rewriter.graph.nodes))
    }
}
