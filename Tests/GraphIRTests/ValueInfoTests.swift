import Tensors
import Testing
@testable import GraphIR

/// `ValueInfo.type` is kept beside `dtype` and `dims` instead of being built
/// on every read: it must follow every change of either.
@Suite("Value types")
struct ValueInfoTests {
    @Test("a value's concrete type follows its dims and dtype through every change")
    func typeFollowsChanges() {
        var info = ValueInfo(dtype: .float32, dims: [.known(1), .symbolic("N"), .known(4)])
        #expect(info.type == nil)
        info.dims = [.known(1), .known(3), .known(4)]
        #expect(info.type == TensorType(dtype: .float32, shape: [1, 3, 4]))
        info.dims![1] = .known(5)
        #expect(info.type == TensorType(dtype: .float32, shape: [1, 5, 4]))
        info.dtype = .int64
        #expect(info.type == TensorType(dtype: .int64, shape: [1, 5, 4]))
        info.dims![2] = .unknown
        #expect(info.type == nil)
        info.dims = nil
        #expect(info.type == nil)
        let built = ValueInfo(TensorType(dtype: .float32, shape: [2, 7]))
        #expect(built.type == TensorType(dtype: .float32, shape: [2, 7]))
        #expect(built == ValueInfo(dtype: .float32, dims: [.known(2), .known(7)]))
        var graph = Graph(
            name: "g", opsetVersion: 17, inputs: ["x"], outputs: ["x"], nodes: [], initializers: [:],
            values: ["x": info])
        graph.values["x"]!.dims = [.known(3)]
        #expect(graph.type(of: "x") == TensorType(dtype: .int64, shape: [3]))
    }
}
