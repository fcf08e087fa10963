import Foundation

/// One axis of a chart: what it measures (the label names the unit), how
/// values map to positions, and how tick values are written.
public struct Axis {
    public enum Scale: String, Sendable {
        /// Evenly spaced values; the range starts at zero when every value is positive.
        case linear
        /// Powers of two evenly spaced (SRAM sizes, bandwidths).
        case log2
    }

    public var label: String
    public var scale: Scale
    /// Writes a tick value; `step` is the distance between linear ticks (it sets the decimals).
    public var format: (_ value: Double, _ step: Double) -> String
    /// Linear: whether the range reaches down to zero (amounts) or hugs the data (a scatter of trade-offs).
    public var fromZero: Bool

    public init(
        _ label: String, scale: Scale = .linear, fromZero: Bool = true,
        format: @escaping (Double, Double) -> String = Axis.decimal
    ) {
        (self.label, self.scale, self.fromZero, self.format) = (label, scale, fromZero, format)
    }

    /// The drawn range and its ticks for data spanning `low...high`.
    public struct Ticks: Equatable {
        public var low: Double
        public var high: Double
        public var values: [Double]
        /// Linear: the tick spacing; log2: the ratio between ticks.
        public var step: Double
    }

    public func ticks(covering low: Double, _ high: Double) -> Ticks {
        switch scale {
        case .linear where fromZero: return Self.linearTicks(min(low, 0), high)
        case .linear:
            // A little room around the data, so no point sits on the frame.
            let margin = (high - low) * 0.05
            return Self.linearTicks(low - margin, high + margin)
        case .log2:
            var ticks = Self.log2Ticks(low, high)
            // A quarter of an octave past the outer ticks, for the same reason.
            (ticks.low, ticks.high) = (ticks.low / pow(2, 0.25), ticks.high * pow(2, 0.25))
            return ticks
        }
    }

    /// Ticks at 1, 2 or 5 times a power of ten, about five of them, the range
    /// widened to whole ticks.
    static func linearTicks(_ low: Double, _ high: Double) -> Ticks {
        var (low, high) = (low, high)
        if high <= low {
            // One value: a range around it (from zero when it is zero).
            (low, high) = low == 0 ? (0, 1) : (low - abs(low) / 10, high + abs(high) / 10)
        }
        let rough = (high - low) / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = floor(low / step + 1e-9), last = ceil(high / step - 1e-9)
        let values = stride(from: first, through: last, by: 1).map { $0 * step }
        return Ticks(low: first * step, high: last * step, values: values, step: step)
    }

    /// Every power of two from the one at or below `low` to the one at or above
    /// `high`; every second or fourth when there would be more than nine.
    /// The range is the outer ticks' (`ticks(covering:)` adds a margin).
    static func log2Ticks(_ low: Double, _ high: Double) -> Ticks {
        let first = floor(Foundation.log2(max(low, .leastNonzeroMagnitude)))
        let last = max(first + 1, ceil(Foundation.log2(max(high, low))))
        var every = 1.0
        while (last - first) / every > 8 { every *= 2 }
        let values = stride(from: first, through: last, by: every).map { pow(2, $0) }
        return Ticks(low: pow(2, first), high: pow(2, last), values: values, step: pow(2, every))
    }

    /// Where `value` falls between `ticks.low` (0) and `ticks.high` (1).
    public func fraction(_ value: Double, in ticks: Ticks) -> Double {
        switch scale {
        case .linear: (value - ticks.low) / (ticks.high - ticks.low)
        case .log2: Foundation.log2(value / ticks.low) / Foundation.log2(ticks.high / ticks.low)
        }
    }

    /// A plain number with as many decimals as the tick step needs.
    public static func decimal(_ value: Double, _ step: Double) -> String {
        let decimals = step >= 1 || step <= 0 ? 0 : Int(ceil(-log10(step) - 1e-9))
        return String(format: "%.\(decimals)f", value)
    }

    /// A byte count in binary units: 512 KiB, 2 MiB, 1.5 GiB.
    public static func binaryBytes(_ value: Double, _ step: Double = 0) -> String {
        for (unit, size) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where value >= Double(size) {
            let scaled = value / Double(size)
            return scaled == scaled.rounded() ? "\(Int(scaled)) \(unit)" : String(format: "%.1f \(unit)", scaled)
        }
        return "\(Int(value)) B"
    }
}
