/// The arithmetic of ONNX Resize along one axis, shared by HOST.RESIZE and
/// the vector unit's RESIZE (and by the compiler, to know which input rows a
/// band of output rows reads). Coordinates are computed in fp32, as onnxruntime does.
public enum ResizeAxis {
    /// The input coordinate ONNX Resize maps output index `x` of one axis
    /// to. The resized length is the input's times the scale, a fraction
    /// when the scale is (as in ONNX's reference), else the output length.
    public static func coordinate(
        _ x: Int, scale: Float, inLength: Int, outLength: Int, _ coordinate: CoordinateMode
    ) -> Float {
        let xf = Float(x)
        let scaled = Float(inLength) * scale
        let resized = abs(scaled - Float(outLength)) < 1e-3 ? Float(outLength) : scaled
        switch coordinate {
        case .halfPixel: return (xf + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return resized > 1 ? (xf + 0.5) / scale - 0.5 : 0
        case .alignCorners: return resized > 1 ? xf * Float(inLength - 1) / (resized - 1) : 0
        case .asymmetric: return xf / scale
        case .tfHalfPixelForNN: return (xf + 0.5) / scale
        }
    }

    /// The input index ONNX Resize (mode nearest) reads for output index `x`.
    public static func nearestIndex(
        _ x: Int, scale: Float, inLength: Int, outLength: Int,
        _ coordinate: CoordinateMode, _ nearest: NearestMode
    ) -> Int {
        let original = Self.coordinate(x, scale: scale, inLength: inLength, outLength: outLength, coordinate)
        var r: Float
        switch nearest {
        case .roundPreferFloor:
            r = original == original.rounded(.down) + 0.5 ? original.rounded(.down) : original.rounded()
        case .roundPreferCeil:
            r = original == original.rounded(.down) + 0.5 ? original.rounded(.up) : original.rounded()
        case .floor: r = original.rounded(.down)
        case .ceil: r = original.rounded(.up)
        }
        if !r.isFinite { r = 0 }
        r = min(max(r, 0), Float(inLength - 1))
        return Int(r)
    }

    /// The two input indices ONNX Resize (mode linear) blends for output
    /// index `x`, clamped to the edges, and the weight of the second.
    public static func linearTaps(
        _ x: Int, scale: Float, inLength: Int, outLength: Int, _ coordinate: CoordinateMode
    ) -> (Int, Int, Float) {
        let c = Self.coordinate(x, scale: scale, inLength: inLength, outLength: outLength, coordinate)
        let low = c.rounded(.down), weight = c - low
        let base = low.isFinite ? Int(max(min(low, Float(inLength)), -1)) : 0
        return (min(max(base, 0), inLength - 1), min(max(base + 1, 0), inLength - 1), weight)
    }

    /// The input indices output indices `outputs` read (every index in
    /// between; the mapping never decreases).
    public static func inputRange(
        _ outputs: Range<Int>, scale: Float, inLength: Int, outLength: Int,
        _ coordinate: CoordinateMode, _ nearest: NearestMode, _ mode: ResizeMode
    ) -> Range<Int> {
        guard let first = outputs.first, let last = outputs.last else { return 0..<0 }
        switch mode {
        case .nearest:
            let lo = nearestIndex(first, scale: scale, inLength: inLength, outLength: outLength, coordinate, nearest)
            let hi = nearestIndex(last, scale: scale, inLength: inLength, outLength: outLength, coordinate, nearest)
            return lo..<(hi + 1)
        case .linear:
            let lo = linearTaps(first, scale: scale, inLength: inLength, outLength: outLength, coordinate).0
            let hi = linearTaps(last, scale: scale, inLength: inLength, outLength: outLength, coordinate).1
            return lo..<(hi + 1)
        }
    }
}
