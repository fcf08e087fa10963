// The operands of each instruction: one struct per payload, each listing its
// fields once in `fields(_:)` (encoding order, names, widths). Semantics as
// loops are in docs/isa.md, section 4.

// MARK: - Shared operand groups

/// A feature-map region in SRAM: `channels x height x width` fp32 values, value
/// (c, y, x) at byte `addr + 4 * (c * channelStride + y * rowStride + x)`.
public struct SRAMTile: FieldGroup {
    public var addr = 0, channels = 0, height = 0, width = 0, channelStride = 0, rowStride = 0
    public init() {}
    /// A dense [C][H][W] tile.
    public init(addr: Int, channels: Int, height: Int, width: Int) {
        self.init(
            addr: addr, channels: channels, height: height, width: width,
            channelStride: height * width, rowStride: width)
    }
    public init(addr: Int, channels: Int, height: Int, width: Int, channelStride: Int, rowStride: Int) {
        (self.addr, self.channels, self.height, self.width) = (addr, channels, height, width)
        (self.channelStride, self.rowStride) = (channelStride, rowStride)
    }
    public var elements: Int { channels * height * width }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("addr", &addr, .u32)
        try c.int("c", &channels, .u32)
        try c.int("h", &height, .u32)
        try c.int("w", &width, .u32)
        try c.int("cs", &channelStride, .u32)
        try c.int("rs", &rowStride, .u32)
    }
}

/// Where an input tile sits in its unpadded tensor: tile cell (y, x) is tensor
/// cell (originY + y, originX + x); cells outside [0, extentH) x [0, extentW) are
/// padding (CONV reads them as 0, POOL leaves them out).
public struct PadWindow: FieldGroup {
    public var originY = 0, originX = 0, extentH = 0, extentW = 0
    public init() {}
    public init(originY: Int, originX: Int, extentH: Int, extentW: Int) {
        (self.originY, self.originX, self.extentH, self.extentW) = (originY, originX, extentH, extentW)
    }
    /// Every cell of the tile is valid.
    public static func all(_ tile: SRAMTile) -> PadWindow {
        PadWindow(originY: 0, originX: 0, extentH: tile.height, extentW: tile.width)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("oy", &originY, .i32)
        try c.int("ox", &originX, .i32)
        try c.int("eh", &extentH, .u32)
        try c.int("ew", &extentW, .u32)
    }
}

public enum ActivationKind: UInt8, FieldEnum {
    case none = 0, relu, leakyRelu, clip, sigmoid, hardSigmoid, hardSwish, tanh
    // Added later, numbered after the rest (kinds are never renumbered, so older programs read the same).
    case silu = 8, gelu, geluTanh, mish
    case neg = 12, abs, floor, ceil, sqrt
}

/// An activation applied to every output value. `alpha`/`beta` are: leaky relu
/// slope (alpha); clip min (alpha) and max (beta); hard sigmoid alpha and beta.
public struct FusedActivation: FieldGroup {
    public var kind = ActivationKind.none
    public var alpha: Float = 0, beta: Float = 0
    public init() {}
    public init(_ kind: ActivationKind, alpha: Float = 0, beta: Float = 0) {
        (self.kind, self.alpha, self.beta) = (kind, alpha, beta)
    }
    public static let none = FusedActivation()
    public static let relu = FusedActivation(.relu)
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.enumeration("kind", &kind)
        try c.float("alpha", &alpha)
        try c.float("beta", &beta)
    }
}

// MARK: - Payloads

/// LOAD (DRAM -> SRAM) and STORE (SRAM -> DRAM) of a 4-d box. Box cell i is
/// tensor cell t = origin + i; its DRAM byte is dramAddr + 4 * sum(t[d] * dramStrides[d]),
/// its SRAM byte sramAddr + 4 * sum(i[d] * sramStrides[d]). LOAD zero-fills
/// cells with any t[d] outside [0, extent[d]); STORE requires all cells inside.
public struct TransferOp: FieldGroup {
    // No default values: each initializer sets every field, so that a new op does not allocate
    // arrays it then throws away (the planner builds many thousands while it costs plans).
    public var counts: [Int]
    public var dramAddr: Int
    public var dramStrides: [Int]
    public var origin: [Int]
    public var extent: [Int]
    public var sramAddr: Int
    public var sramStrides: [Int]
    public init() {
        let zeros = [Int](repeating: 0, count: boxRank)
        (counts, dramAddr, dramStrides, origin, extent, sramAddr, sramStrides) = (
            zeros, 0, zeros, zeros, zeros, 0, zeros
        )
    }
    /// A box of a row-major tensor of up to 4 dims at `dramAddr`, into a dense
    /// SRAM box. Shorter shapes are padded with leading 1s.
    public init(tensorAt dramAddr: Int, shape: [Int], origin: [Int], counts: [Int], sramAddr: Int) {
        // A box of full rank (the usual one) is kept as given: no new array per field.
        func pad(_ v: [Int], _ fill: Int) -> [Int] {
            v.count == boxRank ? v : Array(repeating: fill, count: boxRank - v.count) + v
        }
        self.dramAddr = dramAddr
        self.sramAddr = sramAddr
        self.extent = pad(shape, 1)
        self.origin = pad(origin, 0)
        self.counts = pad(counts, 1)
        self.dramStrides = rowMajorStrides(extent)
        self.sramStrides = rowMajorStrides(self.counts)
    }
    public var elements: Int { counts.reduce(1, *) }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.ints("n", &counts, count: boxRank, .u32)
        try c.int("dram", &dramAddr, .u64)
        try c.ints("ds", &dramStrides, count: boxRank, .u32)
        try c.ints("org", &origin, count: boxRank, .i32)
        try c.ints("ext", &extent, count: boxRank, .u32)
        try c.int("sram", &sramAddr, .u32)
        try c.ints("ss", &sramStrides, count: boxRank, .u32)
    }
}

/// Row-major element strides of `shape`.
public func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
    return strides
}

/// CONV: "valid" convolution of the input tile (padding cells per `window`
/// read as 0). Weights [Cout][Cin/groups][kh][kw], bias [Cout].
/// out = act((accumulate ? out : 0) + (hasBias ? bias : 0) + conv).
/// Runs on the vector unit when depthwise (groups > 1, Cin/groups == 1), else on the matrix unit.
public struct ConvOp: FieldGroup {
    public var input = SRAMTile(), window = PadWindow(), output = SRAMTile()
    public var weightAddr = 0, biasAddr = 0
    public var hasBias = false, accumulate = false
    public var kernelH = 0, kernelW = 0, strideH = 0, strideW = 0, dilationH = 0, dilationW = 0
    public var groups = 0
    public var activation = FusedActivation()
    public init() {}
    public init(
        input: SRAMTile, output: SRAMTile, weightAddr: Int, biasAddr: Int? = nil,
        kernel: (Int, Int), stride: (Int, Int) = (1, 1), dilation: (Int, Int) = (1, 1),
        groups: Int = 1, window: PadWindow? = nil, accumulate: Bool = false,
        activation: FusedActivation = .none
    ) {
        (self.input, self.output, self.weightAddr) = (input, output, weightAddr)
        self.biasAddr = biasAddr ?? 0
        self.hasBias = biasAddr != nil
        (kernelH, kernelW, strideH, strideW, dilationH, dilationW) =
            (kernel.0, kernel.1, stride.0, stride.1, dilation.0, dilation.1)
        self.groups = groups
        self.window = window ?? .all(input)
        self.accumulate = accumulate
        self.activation = activation
    }
    public var isDepthwise: Bool { groups > 1 && input.channels == groups }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("in", &input)
        try c.group("win", &window)
        try c.group("out", &output)
        try c.int("wt", &weightAddr, .u32)
        try c.int("bias", &biasAddr, .u32)
        try c.bool("has_bias", &hasBias)
        try c.bool("acc", &accumulate)
        try c.int("kh", &kernelH, .u16)
        try c.int("kw", &kernelW, .u16)
        try c.int("sh", &strideH, .u16)
        try c.int("sw", &strideW, .u16)
        try c.int("dh", &dilationH, .u16)
        try c.int("dw", &dilationW, .u16)
        try c.int("groups", &groups, .u32)
        try c.group("act", &activation)
    }
}

public enum PoolKind: UInt8, FieldEnum { case max = 0, avg = 1 }

/// POOL: max or average over kernel windows of the input tile. Only cells inside
/// `window`'s valid region take part; AVG divides by the number of window cells
/// inside the count region [-padTop, extentH + padBottom) x [-padLeft, extentW + padRight)
/// (all pads 0 for ONNX count_include_pad=0, the ONNX pads for count_include_pad=1).
public struct PoolOp: FieldGroup {
    public var input = SRAMTile(), window = PadWindow(), output = SRAMTile()
    public var kind = PoolKind.max
    public var kernelH = 0, kernelW = 0, strideH = 0, strideW = 0, dilationH = 0, dilationW = 0
    public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
    public init() {}
    public init(
        _ kind: PoolKind, input: SRAMTile, output: SRAMTile, kernel: (Int, Int),
        stride: (Int, Int) = (1, 1), dilation: (Int, Int) = (1, 1), window: PadWindow? = nil,
        countPads: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0)
    ) {
        (self.kind, self.input, self.output) = (kind, input, output)
        (kernelH, kernelW, strideH, strideW, dilationH, dilationW) =
            (kernel.0, kernel.1, stride.0, stride.1, dilation.0, dilation.1)
        self.window = window ?? .all(input)
        (padTop, padLeft, padBottom, padRight) = countPads
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("in", &input)
        try c.group("win", &window)
        try c.group("out", &output)
        try c.enumeration("kind", &kind)
        try c.int("kh", &kernelH, .u16)
        try c.int("kw", &kernelW, .u16)
        try c.int("sh", &strideH, .u16)
        try c.int("sw", &strideW, .u16)
        try c.int("dh", &dilationH, .u16)
        try c.int("dw", &dilationW, .u16)
        try c.int("pt", &padTop, .u16)
        try c.int("pl", &padLeft, .u16)
        try c.int("pb", &padBottom, .u16)
        try c.int("pr", &padRight, .u16)
    }
}

/// max and min: NaN wins (as ONNX Max and Min in onnxruntime and NumPy).
public enum EltwiseKind: UInt8, FieldEnum { case add = 0, sub, mul, max, min }
public enum BroadcastKind: UInt8, FieldEnum {
    /// b has a's shape.
    case none = 0
    /// b is one value per channel (a C x 1 x 1 tile).
    case channel = 1
}

/// ELTWISE: out = act(a OP b), b possibly broadcast per channel. out may be a or b exactly.
public struct EltwiseOp: FieldGroup {
    public var a = SRAMTile(), b = SRAMTile(), output = SRAMTile()
    public var kind = EltwiseKind.add, broadcast = BroadcastKind.none
    public var activation = FusedActivation()
    public init() {}
    public init(
        _ kind: EltwiseKind, a: SRAMTile, b: SRAMTile, output: SRAMTile,
        broadcast: BroadcastKind = .none, activation: FusedActivation = .none
    ) {
        (self.kind, self.a, self.b, self.output, self.broadcast, self.activation) =
            (kind, a, b, output, broadcast, activation)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("a", &a)
        try c.group("b", &b)
        try c.group("out", &output)
        try c.enumeration("op", &kind)
        try c.enumeration("bcast", &broadcast)
        try c.group("act", &activation)
    }
}

/// ACT: out = act(in). out may be in exactly.
public struct ActOp: FieldGroup {
    public var input = SRAMTile(), output = SRAMTile()
    public var activation = FusedActivation()
    public init() {}
    public init(input: SRAMTile, output: SRAMTile, activation: FusedActivation) {
        (self.input, self.output, self.activation) = (input, output, activation)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("in", &input)
        try c.group("out", &output)
        try c.group("act", &activation)
    }
}

/// LRN (ONNX LRN) across the channels of a tile that holds every channel of
/// its tensor: out(c, y, x) = in(c, y, x) / (bias + alpha / size * sum of
/// in(c', y, x)^2 over c' in [c - floor((size-1)/2), c + ceil((size-1)/2)]
/// within the tile's channels) ^ beta. out may be in exactly.
public struct LRNOp: FieldGroup {
    public var input = SRAMTile(), output = SRAMTile()
    public var size = 0
    public var alpha: Float = 0, beta: Float = 0, bias: Float = 0
    public init() {}
    public init(input: SRAMTile, output: SRAMTile, size: Int, alpha: Float, beta: Float, bias: Float) {
        (self.input, self.output, self.size) = (input, output, size)
        (self.alpha, self.beta, self.bias) = (alpha, beta, bias)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("in", &input)
        try c.group("out", &output)
        try c.int("size", &size, .u16)
        try c.float("alpha", &alpha)
        try c.float("beta", &beta)
        try c.float("bias", &bias)
    }
}

/// MATMUL: out[m][n] = act((accumulate ? out[m][n] : 0) + (hasBias ? bias[n] : 0)
/// + sum_k a[m][k] * w[n][k]); a rows `aRowStride` elements apart, w dense [N][K].
public struct MatMulOp: FieldGroup {
    public var m = 0, n = 0, k = 0
    public var aAddr = 0, aRowStride = 0, weightAddr = 0, biasAddr = 0, outAddr = 0, outRowStride = 0
    public var hasBias = false, accumulate = false
    public var activation = FusedActivation()
    public init() {}
    public init(
        m: Int, n: Int, k: Int, aAddr: Int, weightAddr: Int, biasAddr: Int? = nil, outAddr: Int,
        accumulate: Bool = false, activation: FusedActivation = .none
    ) {
        (self.m, self.n, self.k, self.aAddr, self.aRowStride) = (m, n, k, aAddr, k)
        (self.weightAddr, self.biasAddr, self.hasBias) = (weightAddr, biasAddr ?? 0, biasAddr != nil)
        (self.outAddr, self.outRowStride, self.accumulate, self.activation) = (outAddr, n, accumulate, activation)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("m", &m, .u32)
        try c.int("n", &n, .u32)
        try c.int("k", &k, .u32)
        try c.int("a", &aAddr, .u32)
        try c.int("ars", &aRowStride, .u32)
        try c.int("wt", &weightAddr, .u32)
        try c.int("bias", &biasAddr, .u32)
        try c.int("out", &outAddr, .u32)
        try c.int("ors", &outRowStride, .u32)
        try c.bool("has_bias", &hasBias)
        try c.bool("acc", &accumulate)
        try c.group("act", &activation)
    }
}

/// COPY (SRAM -> SRAM) and HOST.COPY (DRAM -> DRAM) of a 4-d strided box:
/// dst[dstAddr + 4*sum(i*dstStrides)] = src[srcAddr + 4*sum(i*srcStrides)].
public struct CopyOp: FieldGroup {
    // No default values, as in `TransferOp`.
    public var counts: [Int]
    public var srcAddr: Int
    public var srcStrides: [Int]
    public var dstAddr: Int
    public var dstStrides: [Int]
    public init() {
        let zeros = [Int](repeating: 0, count: boxRank)
        (counts, srcAddr, srcStrides, dstAddr, dstStrides) = (zeros, 0, zeros, 0, zeros)
    }
    public init(counts: [Int], srcAddr: Int, srcStrides: [Int], dstAddr: Int, dstStrides: [Int]) {
        (self.counts, self.srcAddr, self.srcStrides, self.dstAddr, self.dstStrides) =
            (counts, srcAddr, srcStrides, dstAddr, dstStrides)
    }
    public var elements: Int { counts.reduce(1, *) }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.ints("n", &counts, count: boxRank, .u32)
        // u64 covers both SRAM (COPY) and DRAM (HOST.COPY) addresses.
        try c.int("src", &srcAddr, .u64)
        try c.ints("ss", &srcStrides, count: boxRank, .u32)
        try c.int("dst", &dstAddr, .u64)
        try c.ints("ds", &dstStrides, count: boxRank, .u32)
    }
}

/// SYNC: does nothing on `engine` but wait for and signal tokens.
public struct SyncOp: FieldGroup {
    public var engine = Engine.load
    public init() {}
    public init(on engine: Engine) { self.engine = engine }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws { try c.enumeration("engine", &engine) }
}

/// HOST.SOFTMAX over the middle axis of a dense [outer][axis][inner] DRAM tensor.
public struct HostSoftmaxOp: FieldGroup {
    public var src = 0, dst = 0, outer = 0, axis = 0, inner = 0
    public init() {}
    public init(src: Int, dst: Int, outer: Int, axis: Int, inner: Int) {
        (self.src, self.dst, self.outer, self.axis, self.inner) = (src, dst, outer, axis, inner)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("src", &src, .u64)
        try c.int("dst", &dst, .u64)
        try c.int("outer", &outer, .u32)
        try c.int("axis", &axis, .u32)
        try c.int("inner", &inner, .u32)
    }
}

/// HOST.LRN (ONNX LRN) across channels of a dense [N][C][H*W] DRAM tensor.
public struct HostLRNOp: FieldGroup {
    public var src = 0, dst = 0, n = 0, c = 0, spatial = 0, size = 0
    public var alpha: Float = 0, beta: Float = 0, bias: Float = 0
    public init() {}
    public init(src: Int, dst: Int, n: Int, c: Int, spatial: Int, size: Int, alpha: Float, beta: Float, bias: Float) {
        (self.src, self.dst, self.n, self.c, self.spatial, self.size) = (src, dst, n, c, spatial, size)
        (self.alpha, self.beta, self.bias) = (alpha, beta, bias)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("src", &src, .u64)
        try c.int("dst", &dst, .u64)
        try c.int("n", &n, .u32)
        try c.int("c", &self.c, .u32)
        try c.int("hw", &spatial, .u32)
        try c.int("size", &size, .u32)
        try c.float("alpha", &alpha)
        try c.float("beta", &beta)
        try c.float("bias", &bias)
    }
}

/// ONNX Resize coordinate_transformation_mode values.
public enum CoordinateMode: UInt8, FieldEnum {
    case halfPixel = 0, asymmetric, alignCorners, pytorchHalfPixel, tfHalfPixelForNN
}
/// ONNX Resize nearest_mode values.
public enum NearestMode: UInt8, FieldEnum { case roundPreferFloor = 0, roundPreferCeil, floor, ceil }

/// ONNX Resize mode values: nearest neighbour, or linear in every resized axis.
public enum ResizeMode: UInt8, FieldEnum { case nearest = 0, linear }

/// HOST.RESIZE: nearest-neighbour or (multi)linear resize of a dense 4-d DRAM tensor.
public struct HostResizeOp: FieldGroup {
    public var src = 0, dst = 0
    public var inDims = [Int](repeating: 0, count: 4), outDims = [Int](repeating: 0, count: 4)
    public var scales = [Float](repeating: 0, count: 4)
    public var coordinateMode = CoordinateMode.halfPixel, nearestMode = NearestMode.roundPreferFloor
    public var mode = ResizeMode.nearest
    public init() {}
    public init(
        src: Int, dst: Int, inDims: [Int], outDims: [Int], scales: [Float],
        coordinateMode: CoordinateMode, nearestMode: NearestMode, mode: ResizeMode = .nearest
    ) {
        (self.src, self.dst, self.inDims, self.outDims, self.scales) = (src, dst, inDims, outDims, scales)
        (self.coordinateMode, self.nearestMode, self.mode) = (coordinateMode, nearestMode, mode)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("src", &src, .u64)
        try c.int("dst", &dst, .u64)
        try c.ints("in", &inDims, count: 4, .u32)
        try c.ints("out", &outDims, count: 4, .u32)
        try c.floats("scale", &scales, count: 4)
        try c.enumeration("coord", &coordinateMode)
        try c.enumeration("nearest", &nearestMode)
        try c.enumeration("mode", &mode)
    }
}

/// RESIZE: an ONNX Resize of the two spatial axes, on SRAM tiles: output
/// tile row y is tensor row `outRow + y` of an `outHeight`-row output, input
/// tile row y tensor row `inRow + y` of an `inHeight`-row input; widths are
/// the tiles' (whole rows). Channels map one to one.
public struct ResizeOp: FieldGroup {
    public var input = SRAMTile(), output = SRAMTile()
    public var inRow = 0, outRow = 0, inHeight = 0, outHeight = 0
    public var scaleH: Float = 0, scaleW: Float = 0
    public var coordinateMode = CoordinateMode.halfPixel, nearestMode = NearestMode.roundPreferFloor
    public var mode = ResizeMode.nearest
    public init() {}
    public init(
        input: SRAMTile, output: SRAMTile, inRow: Int, outRow: Int, inHeight: Int, outHeight: Int,
        scales: (Float, Float), coordinateMode: CoordinateMode, nearestMode: NearestMode, mode: ResizeMode
    ) {
        (self.input, self.output, self.inRow, self.outRow) = (input, output, inRow, outRow)
        (self.inHeight, self.outHeight, self.scaleH, self.scaleW) = (inHeight, outHeight, scales.0, scales.1)
        (self.coordinateMode, self.nearestMode, self.mode) = (coordinateMode, nearestMode, mode)
    }
    /// The tensor rows of the input that output tensor rows `rows` read.
    public func inputRows(_ rows: Range<Int>) -> Range<Int> {
        ResizeAxis.inputRange(
            rows, scale: scaleH, inLength: inHeight, outLength: outHeight, coordinateMode, nearestMode, mode)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.group("in", &input)
        try c.group("out", &output)
        try c.int("iy", &inRow, .u32)
        try c.int("oy", &outRow, .u32)
        try c.int("ih", &inHeight, .u32)
        try c.int("oh", &outHeight, .u32)
        try c.float("sh", &scaleH)
        try c.float("sw", &scaleW)
        try c.enumeration("coord", &coordinateMode)
        try c.enumeration("nearest", &nearestMode)
        try c.enumeration("mode", &mode)
    }
}

/// Rank of HOST.TRANSPOSE and HOST.REDUCE_MEAN shapes (pad with leading 1s).
public let hostRank = 6

/// HOST.TRANSPOSE: out = transpose(in, perm) of a dense 6-d DRAM tensor.
public struct HostTransposeOp: FieldGroup {
    public var src = 0, dst = 0
    public var dims = [Int](repeating: 0, count: hostRank), perm = [Int](repeating: 0, count: hostRank)
    public init() {}
    public init(src: Int, dst: Int, dims: [Int], perm: [Int]) {
        (self.src, self.dst, self.dims, self.perm) = (src, dst, dims, perm)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("src", &src, .u64)
        try c.int("dst", &dst, .u64)
        try c.ints("dims", &dims, count: hostRank, .u32)
        try c.ints("perm", &perm, count: hostRank, .u8)
    }
}

/// HOST.REDUCE_MEAN over the axes in `axesMask` (bit d = dim d) of a dense 6-d
/// DRAM tensor. keepdims does not change the row-major data; it is kept for the
/// disassembly.
public struct HostReduceMeanOp: FieldGroup {
    public var src = 0, dst = 0
    public var dims = [Int](repeating: 0, count: hostRank)
    public var axesMask = 0
    public var keepDims = false
    public init() {}
    public init(src: Int, dst: Int, dims: [Int], axesMask: Int, keepDims: Bool) {
        (self.src, self.dst, self.dims, self.axesMask, self.keepDims) = (src, dst, dims, axesMask, keepDims)
    }
    public mutating func fields<C: FieldCoder>(_ c: inout C) throws {
        try c.int("src", &src, .u64)
        try c.int("dst", &dst, .u64)
        try c.ints("dims", &dims, count: hostRank, .u32)
        try c.int("axes", &axesMask, .u8)
        try c.bool("keepdims", &keepDims)
    }
}
