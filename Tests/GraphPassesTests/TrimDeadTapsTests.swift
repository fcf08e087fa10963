import Tensors
import TestSupport
import Testing
@testable import GraphIR
@testable import GraphPasses

/// Convolution taps that read only padding (DeepLab's atrous pyramid).
@Suite("Trim dead taps")
struct TrimDeadTapsTests {
    static func conv(size: Int, dilation: Int, pad: Int, stride: Int = 1) throws -> Graph {
        var rng = SeededRandom(seed: 9)
        let conv = Node(
            name: "conv", kind: .conv, inputs: ["x", "w", "b"], outputs: ["y"],
            attributes: [
                "pads": .ints([pad, pad, pad, pad]), "dilations": .ints([dilation, dilation]),
                "strides": .ints([stride, stride])
            ])
        var g = Graph(
            name: "atrous", opsetVersion: 13, inputs: ["x"], outputs: ["y"], nodes: [conv],
            initializers: [
                "w": rng.tensor(TensorType(dtype: .float32, shape: [4, 3, 3, 3])),
                "b": rng.tensor(TensorType(dtype: .float32, shape: [4]))
            ],
            values: ["x": ValueInfo(TensorType(dtype: .float32, shape: [1, 3, size, size]))])
        try ShapeInference.run(&g, evaluate: InferShapes.evaluate)
        return g
    }

    @Test("a dilation past the map leaves the centre tap: the kernel becomes 1x1 with no padding")
    func centreOnly() throws {
        for dilation in [8, 24, 36] {
            let after = try expectPassPreserves(
                TrimDeadTaps(), on: try Self.conv(size: 8, dilation: dilation, pad: dilation))
            let conv = try #require(after.nodes.first)
            #expect(conv.ints("kernel_shape") == [1, 1] && conv.ints("pads") == [0, 0, 0, 0], "dilation \(dilation)")
            #expect(after.initializers[conv.inputs[1]]?.shape == [4, 3, 1, 1])
        }
    }

    @Test("live outer taps stay; the stride counts in which taps are live")
    func partlyLive() throws {
        // Dilation 4 on an 8x8 map: every tap reads the map somewhere.
        let live = try expectPassPreserves(TrimDeadTaps(), on: try Self.conv(size: 8, dilation: 4, pad: 4))
        #expect(live.nodes.first?.ints("kernel_shape") == nil)
        // Pad 6, dilation 6 on a 5x5 map with stride 2 (3 outputs): tap 0 reads rows -6, -4, -2 and tap 2
        // rows 6, 8, 10, all padding; with stride 1 (5 outputs) tap 0 reads rows -6..-2 and is dead too.
        for stride in [1, 2] {
            let g = try Self.conv(size: 5, dilation: 6, pad: 6, stride: stride)
            let after = try expectPassPreserves(TrimDeadTaps(), on: g)
            #expect(
                after.nodes.first?.ints("kernel_shape") == [1, 1] && after.nodes.first?.ints("pads") == [0, 0, 0, 0])
        }
    }
}
