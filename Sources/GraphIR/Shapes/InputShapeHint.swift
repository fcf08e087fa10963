/// What `--input-shape` errors suggest: a binding for a graph input made of the model's own dims, and,
/// where the declaration says nothing, of what the input's first convolution expects.
extension Graph {
    /// How an input is laid out, as its first convolution reads it: an NHWC input that a Transpose makes
    /// NCHW has its channels last.
    struct InputLayout: Equatable {
        var rank: Int
        var channelAxis: Int
        /// The input channels the convolution's weights expect.
        var channels: Int
        var spatialAxes: [Int]
    }

    /// The layout of input `name`, followed through element-wise ops (a normalization) and at most one
    /// Transpose to the first convolution with constant weights; nil when something else reads it first.
    func inputLayout(_ name: String) -> InputLayout? {
        var value = name
        var permutation: [Int]?
        for node in nodes where node.inputs.first == value {
            switch node.kind {
            case .conv, .convTranspose:
                guard node.inputs.count > 1, let weights = initializers[node.inputs[1]], weights.shape.count >= 3
                else { return nil }
                let rank = weights.shape.count
                let axes = permutation ?? Array(0..<rank)
                guard axes.count == rank else { return nil }
                let channels = node.kind == .conv ? weights.shape[1] * node.int("group", default: 1) : weights.shape[0]
                return InputLayout(rank: rank, channelAxis: axes[1], channels: channels, spatialAxes: Array(axes[2...]))
            case .transpose where permutation == nil:
                guard let perm = node.ints("perm") else { return nil }
                permutation = perm
            case _ where OpKind.unaryElementwise.contains(node.kind) || OpKind.broadcastElementwise.contains(node.kind):
                break
            default:
                return nil
            }
            guard let output = node.outputs.first, !output.isEmpty else { return nil }
            value = output
        }
        return nil
    }

    /// `1x3xHxW`: known dims as they are, an unknown batch 1, unknown channels what the first convolution
    /// expects, other unknown dims by their names (spatial ones H and W when unnamed); nil when even the
    /// rank is unknown.
    func inputShapeSuggestion(_ name: String) -> String? {
        let layout = inputLayout(name)
        guard let rank = values[name]?.dims?.count ?? layout?.rank else { return nil }
        let dims = values[name]?.dims ?? Array(repeating: .unknown, count: rank)
        let spatialNames = ["L"], planeNames = ["H", "W"], volumeNames = ["D", "H", "W"]
        let parts = dims.enumerated().map { axis, dim -> String in
            if let v = dim.value { return String(v) }
            if axis == 0 { return "1" }
            if let layout, layout.rank == rank, axis == layout.channelAxis { return String(layout.channels) }
            if case .symbolic(let symbol) = dim, !symbol.isEmpty { return symbol }
            if let layout, layout.rank == rank, let index = layout.spatialAxes.firstIndex(of: axis) {
                let names = [1: spatialNames, 2: planeNames, 3: volumeNames][layout.spatialAxes.count]
                if let names { return names[index] }
            }
            return "D\(axis)"
        }
        return "\(name)=\(parts.joined(separator: "x"))"
    }
}
