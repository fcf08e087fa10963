/// The closed set of operators dfc understands, named as ONNX names them.
/// Anything else is imported as `.opaque` so that errors can name it.
public enum OpKind: String, Sendable, CaseIterable, Hashable {
    // Convolution and linear algebra: the matrix unit's work.
    case conv = "Conv"
    case convTranspose = "ConvTranspose"
    case gemm = "Gemm"
    case matMul = "MatMul"

    // Normalization, folded into convolutions by canonicalization.
    case batchNormalization = "BatchNormalization"
    case lrn = "LRN"

    // Activations: element-wise, one input.
    case relu = "Relu"
    case leakyRelu = "LeakyRelu"
    case clip = "Clip"
    case sigmoid = "Sigmoid"
    case hardSigmoid = "HardSigmoid"
    case hardSwish = "HardSwish"
    case tanh = "Tanh"
    case mish = "Mish"
    /// approximate = "none" (erf) or "tanh".
    case gelu = "Gelu"
    /// x·sigmoid(x). ONNX has no such op (exporters write Mul(x, Sigmoid(x))):
    /// canonicalization makes it, and the IR prints it as `dfc::SiLU`.
    case silu = "SiLU"

    // Element-wise math exporters spell activations with (erf GELU, Mish,
    // tanh GELU's cube); canonicalization turns those idioms into one
    // activation. Left alone they are interpreted, and Pow of constants folds.
    case erf = "Erf"
    case softplus = "Softplus"
    /// Element-wise with NumPy broadcasting; the exponent may be an integer tensor.
    case pow = "Pow"
    /// x·sigmoid(alpha·x) (opset 24); canonicalization makes SiLU of alpha = 1.
    case swish = "Swish"

    // Element-wise with NumPy broadcasting.
    case add = "Add"
    case sub = "Sub"
    case mul = "Mul"
    case div = "Div"
    case sum = "Sum"
    case pRelu = "PRelu"
    /// n-ary like Sum; NaN wins.
    case min = "Min"
    case max = "Max"

    // Element-wise math of one tensor: shape arithmetic (folded when
    // constant, int64 too) and, on fp32 feature maps, activations.
    case neg = "Neg"
    case abs = "Abs"
    case floor = "Floor"
    case ceil = "Ceil"
    case sqrt = "Sqrt"

    // Comparisons and logic, with NumPy broadcasting: the masks exporters
    // build from static shapes, folded at compile time.
    case equal = "Equal"
    case less = "Less"
    case greater = "Greater"
    case lessOrEqual = "LessOrEqual"
    case greaterOrEqual = "GreaterOrEqual"
    case not = "Not"
    case and = "And"
    case or = "Or"
    case xor = "Xor"
    /// Where(condition, x, y): x where the condition holds, else y, all three broadcast.
    case `where` = "Where"

    // Pooling and reductions over spatial or given axes.
    case maxPool = "MaxPool"
    case averagePool = "AveragePool"
    case globalAveragePool = "GlobalAveragePool"
    case globalMaxPool = "GlobalMaxPool"
    case reduceMean = "ReduceMean"
    case reduceSum = "ReduceSum"
    case reduceProd = "ReduceProd"
    case reduceMax = "ReduceMax"
    case reduceMin = "ReduceMin"
    case softmax = "Softmax"

    // Data movement: layout, slicing, joining, resampling.
    case concat = "Concat"
    case split = "Split"
    case slice = "Slice"
    case pad = "Pad"
    case resize = "Resize"
    case upsample = "Upsample"
    case transpose = "Transpose"
    case gather = "Gather"
    /// A fixed permutation of channels, out[a*g + b] = in[b*(C/g) + a] for
    /// `group` g: ShuffleNet's Reshape-Transpose-Reshape, which
    /// canonicalization recognises; printed as `dfc::ChannelShuffle`.
    case channelShuffle = "ChannelShuffle"
    /// The input repeated `repeats` times along each axis.
    case tile = "Tile"
    /// Blocks of `blocksize`² channels spread over blocksize x blocksize
    /// pixels (sub-pixel upsampling); `mode` DCR or CRD orders the block.
    case depthToSpace = "DepthToSpace"
    /// The inverse: each blocksize x blocksize block of pixels becomes channels.
    case spaceToDepth = "SpaceToDepth"

    // Views: change the shape, never the data.
    case flatten = "Flatten"
    case reshape = "Reshape"
    case squeeze = "Squeeze"
    case unsqueeze = "Unsqueeze"
    case identity = "Identity"
    case dropout = "Dropout"

    // Constants and shape arithmetic, folded away before codegen.
    case constant = "Constant"
    case constantOfShape = "ConstantOfShape"
    case shape = "Shape"
    case cast = "Cast"
    /// Shape arithmetic (anchor grids): folded at compile time when its inputs are constants.
    case range = "Range"
    case expand = "Expand"
    /// The number of elements, an int64 scalar.
    case size = "Size"
    /// Indices of the non-zero elements; its shape depends on the values, so the input must be a constant.
    case nonZero = "NonZero"

    // Not in the supported set; `Node.opType` says what it was.
    case opaque = "<opaque>"

    /// Activations that take one tensor and map each element on its own.
    public static let unaryElementwise: Set<OpKind> = [
        .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .mish, .gelu, .silu, .neg, .abs, .floor,
        .ceil, .sqrt
    ]
    /// Binary (or n-ary) element-wise ops with broadcasting.
    public static let broadcastElementwise: Set<OpKind> = [.add, .sub, .mul, .div, .sum, .pRelu]
    /// Element-wise ops whose result is a bool mask.
    public static let comparisons: Set<OpKind> = [.equal, .less, .greater, .lessOrEqual, .greaterOrEqual]
    /// Element-wise ops on bool tensors.
    public static let logical: Set<OpKind> = [.not, .and, .or, .xor]
    /// Reductions over given axes, with `keepdims`.
    public static let reductions: Set<OpKind> = [.reduceMean, .reduceSum, .reduceProd, .reduceMax, .reduceMin]
    /// Ops whose output is a reinterpretation of their input's data.
    public static let views: Set<OpKind> = [.flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout]

    /// Input positions that determine an output's shape and so must be known
    /// at compile time (Reshape's shape, Slice's starts, Resize's scales...).
    public var shapeDefiningInputs: [Int] {
        switch self {
        case .reshape, .upsample, .split, .squeeze, .unsqueeze, .reduceMean, .reduceSum, .reduceProd, .reduceMax,
            .reduceMin, .tile:
            return [1]
        case .slice: return [1, 2, 3, 4]
        case .pad: return [1, 3]
        case .resize: return [1, 2, 3]
        case .constantOfShape, .nonZero: return [0]
        case .expand: return [1]
        case .range: return [0, 1, 2]
        default: return []
        }
    }

    /// Kinds dfc makes for itself, which no ONNX model can name: their nodes
    /// live in `internalDomain`.
    public static let internalKinds: Set<OpKind> = [.silu, .channelShuffle]
    /// The domain of internal kinds' nodes, so that dumps show them as `dfc::SiLU`.
    public static let internalDomain = "dfc"

    /// The domain a node of this kind belongs to: ONNX's own (empty) or `internalDomain`.
    public var domain: String { OpKind.internalKinds.contains(self) ? OpKind.internalDomain : "" }

    /// The kind for an ONNX `op_type` in the default domain.
    public init(onnxType: String) {
        self = OpKind(rawValue: onnxType).flatMap { $0 == .opaque || $0.domain != "" ? nil : $0 } ?? .opaque
    }
}
