import Foundation
import Tensors
import Testing

@testable import GraphIR

/// What an input whose shape is not all known is told to bind: the model's own dims, in its own layout.
@Suite("--input-shape suggestions")
struct InputShapeHintTests {
    /// x -> [Transpose NHWC->NCHW] -> Conv with weights [8, 3, 3, 3].
    static func graph(dims: [Dim]?, transposed: Bool) -> Graph {
        var nodes: [Node] = []
        var convInput = "x"
        if transposed {
            nodes.append(
                Node(
                    name: "to_nchw", kind: .transpose, inputs: ["x"], outputs: ["t"],
                    attributes: ["perm": .ints([0, 3, 1, 2])]))
            convInput = "t"
        }
        nodes.append(Node(name: "conv", kind: .conv, inputs: [convInput, "w"], outputs: ["y"]))
        return Graph(
            name: "g", opsetVersion: 13, inputs: ["x"], outputs: ["y"], nodes: nodes,
            initializers: ["w": Tensor(shape: [8, 3, 3, 3], floats: [Float](repeating: 0, count: 216))],
            values: ["x": ValueInfo(dtype: .float32, dims: dims)])
    }

    static func error(_ graph: Graph, _ bindings: [String: [Int]] = [:]) -> String {
        var graph = graph
        do {
            try ShapeInference.run(&graph, inputShapes: bindings) { _, _, _ in nil }
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test("an NHWC input gets an NHWC binding, an NCHW one NCHW, with the channels its convolution wants")
    func layouts() {
        let unknown: [Dim] = [.symbolic("N"), .unknown, .unknown, .unknown]
        let nhwc = Self.error(Self.graph(dims: unknown, transposed: true))
        #expect(nhwc.contains("unknown at axes 0 (N), 1, 2 and 3; bind them with --input-shape x=1xHxWx3"), "\(nhwc)")
        let nchw = Self.error(Self.graph(dims: unknown, transposed: false))
        #expect(nchw.contains("bind them with --input-shape x=1x3xHxW"), "\(nchw)")
        let named = Self.error(
            Self.graph(dims: [.known(1), .symbolic("height"), .symbolic("width"), .known(3)], transposed: true))
        #expect(
            named.contains("unknown at axes 1 (height) and 2 (width); bind them with --input-shape x=1xheightxwidthx3"),
            "\(named)")
        let undeclared = Self.error(Self.graph(dims: nil, transposed: true))
        #expect(undeclared.contains("has no declared shape; bind it with --input-shape x=1xHxWx3"), "\(undeclared)")
        let rank = Self.error(
            Self.graph(dims: [.known(1), .known(224), .known(224), .known(3)], transposed: true), ["x": [1, 3, 224]])
        #expect(
            rank.contains("has rank 3, but the model declares rank 4 (f32[1,224,224,3]); its own dims: x=1x224x224x3"),
            "\(rank)")
        let name = Self.error(
            Self.graph(dims: [.known(1), .known(8), .known(8), .known(3)], transposed: true), ["image": [1]])
        #expect(name.contains("'image', which is not a graph input (inputs: x f32[1,8,8,3])"), "\(name)")
    }
}
