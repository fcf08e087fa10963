/// Shape arithmetic shared by shape inference, constant folding and the
/// reference interpreter, so they cannot disagree.
public enum ShapeMath {
    /// NumPy broadcasting of two shapes, or nil when they do not broadcast.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else { return nil }
            result[i] = x == 1 ? y : x
        }
        return result
    }

    /// An axis in [-rank, rank) made non-negative, or nil when out of range.
    public static func normalize(axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (0..<rank).contains(a) ? a : nil
    }

    /// Row-major strides of a shape, in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = running
            running *= shape[i]
        }
        return strides
    }

    /// The elements one axis of a Slice selects: first index, step and count,
    /// after ONNX's clamping of out-of-range starts and ends.
    public static func sliceRange(start: Int64, end: Int64, step: Int64, dim: Int) -> (
        start: Int, step: Int, count: Int
    ) {
        let d = Int64(dim)
        var s = start < 0 ? start + d : start
        var e = end < 0 ? end + d : end
        if step > 0 {
            s = min(max(s, 0), d)
            e = min(max(e, 0), d)
        } else {
            s = min(max(s, 0), d - 1)
            e = min(max(e, -1), d - 1)
        }
        let span = e - s
        let count = step > 0 ? (span + step - 1) / step : (span + step + 1) / step
        return (Int(s), Int(step), Int(max(0, count)))
    }

    /// Output extent of a sliding window (convolution or pooling) along one axis.
    public static func windowOutput(
        input: Int, kernel: Int, stride: Int, dilation: Int,
        padBegin: Int, padEnd: Int, ceilMode: Bool = false
    ) -> Int {
        let effective = dilation * (kernel - 1) + 1
        let span = input + padBegin + padEnd - effective
        guard span >= 0 else { return 0 }
        if !ceilMode { return span / stride + 1 }
        var out = (span + stride - 1) / stride + 1
        // The last window must start inside the input or its leading padding.
        if (out - 1) * stride >= input + padBegin { out -= 1 }
        return out
    }

    /// Explicit begin/end pads for ONNX `auto_pad`, given the output extent it implies.
    public static func autoPads(mode: String, input: Int, kernel: Int, stride: Int, dilation: Int) -> (
        begin: Int, end: Int
    ) {
        guard mode == "SAME_UPPER" || mode == "SAME_LOWER" else { return (0, 0) }
        let out = (input + stride - 1) / stride
        let effective = dilation * (kernel - 1) + 1
        let total = max(0, (out - 1) * stride + effective - input)
        let small = total / 2
        return mode == "SAME_UPPER" ? (small, total - small) : (total - small, small)
    }
}
