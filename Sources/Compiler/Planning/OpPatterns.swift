import GraphIR

/// How the compiler treats each op kind, in one place (as TVM keeps op
/// patterns next to the ops): which emitter lowers a layer on its own, and
/// whether a fusion group can hold it. Planners and emitters read these
/// properties; they never list op kinds themselves.
enum LoweringPattern {
    /// Conv, ConvTranspose: the matrix unit (depthwise on the vector unit); row-local.
    case convolution
    /// MaxPool, AveragePool: a sliding window on the vector unit; row-local.
    case window
    /// GlobalAveragePool, GlobalMaxPool: every output needs the whole map.
    case global
    /// Activations, BatchNormalization, broadcasting arithmetic: the vector unit, element by element.
    case elementwise
    /// Gemm in canonical form: every output needs every input.
    case fullyConnected
    /// Concat, Split, Slice, Pad, Gather, ChannelShuffle, DepthToSpace,
    /// SpaceToDepth, Expand and Tile of a run-time map: copies through SRAM
    /// (strided on one side for the rearrangements, broadcast for Expand and
    /// Tile), or nothing when planned in place.
    case dataMovement
    /// Reshape and friends: share their input's DRAM.
    case view
    /// LRN: a window across all channels on the vector unit, tiled over rows
    /// (HOST.LRN when one row of every channel does not fit); row-local, so
    /// band groups hold it (a band buffer has every channel of its rows).
    case crossChannel
    /// Resize, Upsample: whole rows on the vector unit, tiled over output
    /// rows (HOST.RESIZE when the batch or channels resize); not yet fused.
    case resample
    /// Softmax, Transpose, ReduceMean: host instructions on whole DRAM tensors.
    case host
    /// Folded away before codegen (constants, shape arithmetic) or not lowered at all.
    case notLowered
}

extension OpKind {
    var pattern: LoweringPattern {
        if OpKind.unaryElementwise.contains(self) { return .elementwise }
        switch self {
        case .conv, .convTranspose: return .convolution
        case .maxPool, .averagePool: return .window
        case .globalAveragePool, .globalMaxPool: return .global
        case .add, .sub, .mul, .div, .sum, .pRelu, .batchNormalization, .max, .min: return .elementwise
        case .gemm: return .fullyConnected
        case .concat, .split, .slice, .pad, .gather, .channelShuffle: return .dataMovement
        case .depthToSpace, .spaceToDepth, .expand, .tile: return .dataMovement
        case .reshape, .flatten, .squeeze, .unsqueeze, .identity, .dropout: return .view
        case .lrn: return .crossChannel
        case .resize, .upsample: return .resample
        case .softmax, .transpose, .reduceMean: return .host
        default: return .notLowered
        }
    }

    /// Element-wise kinds a fusion group computes on its SRAM tiles, one
    /// output element from the same element of each operand (per-channel
    /// constants broadcast).
    var isGroupElementwise: Bool {
        OpKind.unaryElementwise.contains(self) || [.add, .sub, .mul, .batchNormalization].contains(self)
    }

    /// Kinds whose output rows read a window of input rows (a receptive field wider than one row).
    var hasWindow: Bool { self == .conv || self == .maxPool || self == .averagePool }

    /// Kinds a fusion group may hold, shapes and constants permitting: each
    /// band of output rows depends only on a band of input rows.
    var isRowLocal: Bool {
        isGroupElementwise || hasWindow || self == .concat || self == .channelShuffle || self == .slice
            || self == .lrn
    }

    /// Why no fusion group can hold this kind, for `--dump-ir=fuse`; nil for row-local kinds.
    var notFusibleReason: String? {
        switch self {
        case .globalAveragePool, .globalMaxPool, .reduceMean, .softmax:
            return "a global op: every output needs the whole map"
        case .gemm, .matMul: return "a fully connected layer: every output needs every input"
        case .concat: return "concatenates along an axis other than channels"
        case .slice: return "slices more than a channel range, or with a step"
        default: break
        }
        switch pattern {
        case .view: return "a view of its input's DRAM"
        case .crossChannel: return "a window across all channels, lowered layer by layer"
        case .resample: return "a resize, lowered layer by layer"
        case .host: return "runs on the host"
        case .dataMovement: return "moves data in DRAM"
        default: return nil
        }
    }
}
