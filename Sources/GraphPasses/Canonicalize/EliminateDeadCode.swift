import GraphIR

/// Drops nodes and constants no graph output depends on (see
/// `Graph.eliminateDeadCode`): rewrites leave behind the weights they
/// replaced and the nodes they bypassed.
public struct EliminateDeadCode: Pass {
    public let name = "eliminate-dead-code"
    public let summary = "drop nodes, constants and optional outputs no graph output depends on"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        graph.eliminateDeadCode()
    }
}
