import GraphIR
import Tensors

/// Folds a per-output-channel affine map that follows a Conv,
/// ConvTranspose or fully-connected Gemm into that node's weight and bias:
/// inference BatchNormalization, and Mul, Add, Sub or Div by a constant that
/// varies only along the channel axis ([C,1,1], [1,C,1,1], a scalar...).
///
/// Only when the producer's output feeds nothing else, so no other reader
/// sees the changed values. A BatchNormalization that cannot be folded stays
/// (later stages run it as a per-channel scale and shift) and absorbs the
/// per-channel maps after it instead (DenseNet's BatchNorm -> Mul -> Add).
public struct FoldBatchNorm: Pass {
    public let name = "fold-batchnorm"
    public let summary = "fold BatchNormalization and per-channel Mul/Add/Sub/Div into the preceding Conv or Gemm"

    public init() {}

    public func run(_ graph: inout Graph, options: CompileOptions) throws {
        try graph.rewrite(with: [Self.fold(nodeAt:in:)])
    }

    /// Folds node `index` into its producer if it is a foldable affine map.
    static func fold(nodeAt index: Int, in rewriter: inout GraphRewriter) -> RewriteResult {
        let node = rewriter.graph.nodes[index]
        guard let (operand, map) = affineMap(node, in: rewriter.graph), let output = node.outputs.first,
            let producerIndex = rewriter.uses.producer(of: operand),
            rewriter.isSoleUse(of: operand, by: index)
        else { return .failure }
        let producer = rewriter.graph.nodes[producerIndex]
        guard producer.activation == nil, producer.outputs.count == 1,
            let channels = rewriter.graph.type(of: operand)?.shape.dropFirst().first,
            var layout = WeightLayout(producer, in: rewriter.graph)
        else { return .failure }
        guard let scale = map.scale(channels), let shift = map.shift(channels) else { return .failure }
        // Weights only the producer reads are scaled in place: the graph lets go of them meanwhile, so they
        // are not copied (ResNet-50's largest convolution held 9 MiB twice, the compile's peak after import).
        let weights = producer.inputs[1]
        let inPlace = rewriter.isSoleUse(of: weights, by: producerIndex)
        if inPlace { rewriter.graph.initializers[weights] = nil }
        layout.apply(scale: scale, shift: shift)
        if inPlace { rewriter.graph.initializers[weights] = layout.weight }
        rewriter.setConstantInput(nodeAt: producerIndex, 1, to: layout.weight, name: "\(producer.name)_weight")
        rewriter.setConstantInput(nodeAt: producerIndex, 2, to: layout.bias, name: "\(producer.name)_bias")
        rewriter.removeNode(at: index)
        rewriter.renameValue(operand, to: output)
        return .erased
    }

    /// `y = scale[c] * x + shift[c]` per channel c, each a single value or one per channel.
    struct AffineMap {
        var scale: [Double]
        var shift: [Double]

        func scale(_ channels: Int) -> [Double]? { Self.perChannel(scale, channels) }
        func shift(_ channels: Int) -> [Double]? { Self.perChannel(shift, channels) }

        static func perChannel(_ values: [Double], _ channels: Int) -> [Double]? {
            if values.count == channels { return values }
            return values.count == 1 ? Array(repeating: values[0], count: channels) : nil
        }
    }

    /// The value `node` maps and how, when it is a per-channel affine map
    /// with constant parameters.
    static func affineMap(_ node: Node, in graph: Graph) -> (String, AffineMap)? {
        switch node.kind {
        case .batchNormalization:
            guard let x = node.input(0), node.outputs.filter({ !$0.isEmpty }).count == 1,
                node.int("spatial", default: 1) != 0, node.int("training_mode", default: 0) == 0
            else { return nil }
            let parameters = (1...4).compactMap { node.input($0).flatMap { graph.initializers[$0] } }
            guard parameters.count == 4 else { return nil }
            let (gamma, beta, mean, variance) = (
                parameters[0].floats, parameters[1].floats, parameters[2].floats, parameters[3].floats
            )
            let epsilon = Double(node.float("epsilon", default: 1e-5))
            let scale = gamma.indices.map { Double(gamma[$0]) / (Double(variance[$0]) + epsilon).squareRoot() }
            let shift = beta.indices.map { Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
            return (x, AffineMap(scale: scale, shift: shift))
        case .add, .sub, .mul, .div:
            guard node.inputs.count == 2, let a = node.input(0), let b = node.input(1) else { return nil }
            // Add and Mul commute; Sub and Div fold only with the constant second.
            let swapped = graph.initializers[a] != nil && [.add, .mul].contains(node.kind)
            let (x, k) = swapped ? (b, a) : (a, b)
            guard let constant = graph.initializers[k], constant.dtype == .float32,
                let xType = graph.type(of: x), let values = channelValues(constant, along: xType.shape)
            else { return nil }
            switch node.kind {
            case .add: return (x, AffineMap(scale: [1], shift: values))
            case .sub: return (x, AffineMap(scale: [1], shift: values.map { -$0 }))
            case .mul: return (x, AffineMap(scale: values, shift: [0]))
            default:
                guard !values.contains(0) else { return nil }
                return (x, AffineMap(scale: values.map { 1 / $0 }, shift: [0]))
            }
        default:
            return nil
        }
    }

    /// The values of a constant that broadcasts to `shape` without changing
    /// it and varies at most along axis 1: one value, or one per channel.
    static func channelValues(_ constant: Tensor, along shape: [Int]) -> [Double]? {
        guard shape.count >= 2, constant.shape.count <= shape.count,
            ShapeMath.broadcast(shape, constant.shape) == shape
        else { return nil }
        let aligned = Array(repeating: 1, count: shape.count - constant.shape.count) + constant.shape
        guard aligned.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
        return constant.floats.map(Double.init)
    }
}

/// A producer's constant weight and bias (a BatchNormalization's scale and
/// bias), with the output channel of each weight element, so a per-channel
/// affine map can be folded into them.
struct WeightLayout {
    var weight: Tensor
    var bias: Tensor
    /// The output channel weight element `i` contributes to.
    var channel: (Int) -> Int
    /// Set when weight element i belongs to channel (i / run) % channels (all but ConvTranspose): the weights
    /// are then scaled by `Tensor.scaleChannels`, which leaves a weight still in its model file there.
    var run: Int?

    init?(_ node: Node, in graph: Graph) {
        guard let w = node.input(1), let weight = graph.initializers[w], weight.dtype == .float32 else { return nil }
        let channels: Int
        switch node.kind {
        case .conv:
            channels = weight.shape[0]
            let perChannel = weight.count / max(1, channels)
            channel = { $0 / perChannel }
            run = perChannel
        case .convTranspose:
            // Weight is C x M/group x kernel; output channel (c / (C/group)) * M/group + m.
            let group = node.int("group", default: 1)
            guard weight.shape.count >= 2, group > 0 else { return nil }
            let (inputs, perGroup) = (weight.shape[0], weight.shape[1])
            let kernel = weight.shape.dropFirst(2).reduce(1, *)
            let inputsPerGroup = inputs / group
            channels = perGroup * group
            channel = { i in (i / (perGroup * kernel) / inputsPerGroup) * perGroup + (i / kernel) % perGroup }
        case .batchNormalization:
            // Scale and bias play weight and bias: y = scale * normalized(x) + bias.
            guard node.int("spatial", default: 1) != 0, node.int("training_mode", default: 0) == 0 else { return nil }
            channels = weight.count
            channel = { $0 }
            run = 1
        case .gemm:
            // The folded bias is added as is, so beta must be 1.
            guard weight.shape.count == 2, node.float("beta", default: 1) == 1 else { return nil }
            let transposed = node.int("transB", default: 0) != 0
            channels = transposed ? weight.shape[0] : weight.shape[1]
            let columns = weight.shape[1]
            channel = transposed ? { $0 / columns } : { $0 % columns }
            run = transposed ? columns : 1
        default:
            return nil
        }
        self.weight = weight
        if let b = node.input(2) {
            // Conv's bias is [M]; Gemm's C must be one value per column.
            guard let bias = graph.initializers[b], bias.dtype == .float32,
                bias.count == 1 || (bias.count == channels && bias.shape.last == channels)
            else { return nil }
            self.bias = Tensor(
                shape: [channels],
                floats: bias.count == 1 ? Array(repeating: bias.floats[0], count: channels) : bias.floats)
        } else {
            self.bias = Tensor(shape: [channels], floats: Array(repeating: 0, count: channels))
        }
    }

    /// Makes the node compute `scale[c] * y + shift[c]` instead of `y`.
    mutating func apply(scale: [Double], shift: [Double]) {
        if let run, run > 0 {
            weight.scaleChannels(by: scale, run: run)
        } else {
            var w = weight.floats
            let shape = weight.shape
            weight = Tensor(shape: [0], floats: [])  // `w` is then the only owner of the values, when the graph is not
            for i in w.indices { w[i] = Float(Double(w[i]) * scale[channel(i)]) }
            weight = Tensor(shape: shape, floats: w)
        }
        let b = bias.floats
        bias = Tensor(shape: bias.shape, floats: b.indices.map { Float(Double(b[$0]) * scale[$0] + shift[$0]) })
    }
}
