import Foundation
import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses
@testable import ReferenceInterpreter

/// Seeded random inputs for every graph input, from the graph's types
/// (shape inference must have made them concrete).
func randomInputs(for graph: Graph, seed: UInt64) throws -> [String: Tensor] {
    var generator = SeededRandom(seed: seed)
    var inputs: [String: Tensor] = [:]
    for name in graph.inputs {
        guard let type = graph.type(of: name) else {
            throw DFCError("input '\(name)' has no concrete type; run shape inference (or bind its shape) first")
        }
        inputs[name] = generator.tensor(type)
    }
    return inputs
}

/// Checks that `pass` leaves what `graph` computes unchanged: both graphs
/// run through the reference interpreter on the same seeded random inputs,
/// and every output must agree within `rtol`/`atol` (fp32 reassociation
/// by a pass, such as folding BatchNorm into Conv, stays far inside them).
/// Returns the transformed graph so callers can inspect it.
@discardableResult
func expectPassPreserves(
    _ pass: any Pass, on graph: Graph, seed: UInt64 = 0,
    options: CompileOptions = CompileOptions(),
    rtol: Double = 1e-4, atol: Double = 1e-5,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Graph {
    var after = graph
    try pass.run(&after, options: options)
    try after.verify(requireTypes: false)
    #expect(after.inputs == graph.inputs, "\(pass.name) changed the graph inputs", sourceLocation: sourceLocation)
    #expect(after.outputs == graph.outputs, "\(pass.name) changed the graph outputs", sourceLocation: sourceLocation)
    let inputs = try randomInputs(for: graph, seed: seed)
    let expected = try Interpreter.run(graph, inputs: inputs)
    let got = try Interpreter.run(after, inputs: inputs)
    for name in graph.outputs {
        guard let g = got[name], let e = expected[name] else {
            Issue.record("\(pass.name): output '\(name)' is missing after the pass", sourceLocation: sourceLocation)
            continue
        }
        let comparison = TensorComparison(g, e, rtol: rtol, atol: atol)
        #expect(
            comparison.passes, "\(pass.name) changed output '\(name)': \(comparison)", sourceLocation: sourceLocation)
    }
    return after
}
