import Tensors

/// The resolved sliding-window parameters of a Conv, ConvTranspose or pool
/// node: every ONNX default and `auto_pad` mode turned into explicit numbers.
public struct WindowGeometry: Sendable, Equatable {
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padsBegin: [Int]
    public var padsEnd: [Int]
    public var ceilMode: Bool

    /// Resolves the window of `node` over `spatial` input extents; `kernel`
    /// comes from the weight for convolutions and from attributes for pools.
    public init(node: Node, spatial: [Int], kernel: [Int]? = nil) throws {
        let rank = spatial.count
        guard let k = kernel ?? node.ints("kernel_shape"), k.count == rank else {
            throw DFCError("node '\(node.name)': kernel_shape must have \(rank) values")
        }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: rank)
        let dilations = node.ints("dilations") ?? Array(repeating: 1, count: rank)
        guard strides.count == rank, dilations.count == rank else {
            throw DFCError("node '\(node.name)': strides and dilations must have \(rank) values")
        }
        guard k.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw DFCError("node '\(node.name)': kernel, strides and dilations must be positive")
        }
        let autoPad = node.string("auto_pad", default: "NOTSET")
        var begin = [Int](repeating: 0, count: rank)
        var end = [Int](repeating: 0, count: rank)
        switch autoPad {
        case "NOTSET", "":
            if let pads = node.ints("pads") {
                guard pads.count == 2 * rank, pads.allSatisfy({ $0 >= 0 }) else {
                    throw DFCError("node '\(node.name)': pads must be \(2 * rank) non-negative values")
                }
                begin = Array(pads[0..<rank])
                end = Array(pads[rank...])
            }
        case "VALID":
            break
        case "SAME_UPPER", "SAME_LOWER":
            if node.kind != .convTranspose {
                for i in 0..<rank {
                    (begin[i], end[i]) = ShapeMath.autoPads(
                        mode: autoPad, input: spatial[i], kernel: k[i],
                        stride: strides[i], dilation: dilations[i])
                }
            }
        default:
            throw DFCError("node '\(node.name)': unknown auto_pad '\(autoPad)'")
        }
        self.kernel = k
        self.strides = strides
        self.dilations = dilations
        self.padsBegin = begin
        self.padsEnd = end
        self.ceilMode = node.int("ceil_mode", default: 0) != 0
    }

    /// Output extents of a convolution or pooling window over `spatial`.
    public func outputExtents(_ spatial: [Int]) -> [Int] {
        spatial.indices.map { i in
            ShapeMath.windowOutput(
                input: spatial[i], kernel: kernel[i], stride: strides[i], dilation: dilations[i],
                padBegin: padsBegin[i], padEnd: padsEnd[i], ceilMode: ceilMode)
        }
    }
}
