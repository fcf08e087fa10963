import Foundation

/// A series of points on an x-y chart.
public struct Series {
    public enum Style: String, Sendable {
        /// Points joined by a solid line, with markers.
        case line
        /// A dashed line without markers: a bound or a floor.
        case dashed
        /// Markers only.
        case markers
    }

    public struct Point: Equatable, Sendable {
        public var x: Double
        public var y: Double
        /// Hollow markers set a point apart (off the Pareto front, say).
        public var hollow: Bool
        public init(x: Double, y: Double, hollow: Bool = false) { (self.x, self.y, self.hollow) = (x, y, hollow) }
    }

    public var name: String
    public var points: [Point]
    public var style: Style
    public var color: String

    public init(_ name: String, points: [Point], style: Style = .line, color: String) {
        (self.name, self.points, self.style, self.color) = (name, points, style, color)
    }
}

/// Where a chart's plot area sits and how big its frame is.
struct Frame {
    static let left = 84.0, right = 24.0, bottom = 58.0
    /// Below the title, the subtitle and one legend row; each further legend row adds `legendRow`.
    static let headingHeight = 84.0, legendRow = 20.0
    var width: Double
    var height: Double
    var top = Frame.headingHeight
    var plotWidth: Double { width - Self.left - Self.right }
    var plotHeight: Double { height - top - Self.bottom }
}

/// Lines and markers over two axes, with a title, a subtitle and a legend.
public struct XYChart {
    public var title: String
    public var subtitle: String
    public var x: Axis
    public var y: Axis
    public var series: [Series]
    public var width = 760.0
    public var height = 440.0

    public init(title: String, subtitle: String = "", x: Axis, y: Axis, series: [Series]) {
        (self.title, self.subtitle, self.x, self.y, self.series) = (title, subtitle, x, y, series)
    }

    public func svg() -> String {
        let points = series.flatMap(\.points)
        let xTicks = x.ticks(covering: points.map(\.x).min() ?? 0, points.map(\.x).max() ?? 1)
        let yTicks = y.ticks(covering: points.map(\.y).min() ?? 0, points.map(\.y).max() ?? 1)
        var svg = SVGWriter()
        let extra = drawHeading(
            &svg, title: title, subtitle: subtitle, legend: series.map { ($0.name, $0.color, $0.style) }, width: width)
        let frame = Frame(width: width, height: height + extra, top: Frame.headingHeight + extra)
        drawAxes(&svg, frame: frame, x: (x, xTicks), y: (y, yTicks))
        let px = { (v: Double) in Frame.left + x.fraction(v, in: xTicks) * frame.plotWidth }
        let py = { (v: Double) in frame.top + (1 - y.fraction(v, in: yTicks)) * frame.plotHeight }
        for s in series {
            svg.open("g", ["class": "series", "data-name": s.name, "data-style": s.style.rawValue])
            if s.style != .markers, s.points.count > 1 {
                let path = s.points.map { "\(SVGWriter.number(px($0.x))),\(SVGWriter.number(py($0.y)))" }
                svg.element(
                    "polyline",
                    [
                        "points": path.joined(separator: " "), "fill": "none", "stroke": s.color,
                        "stroke-width": "2.5", "stroke-dasharray": s.style == .dashed ? "7 5" : "none"
                    ])
            }
            if s.style != .dashed {
                for p in s.points {
                    svg.element(
                        "circle",
                        [
                            "class": "point", "cx": SVGWriter.number(px(p.x)), "cy": SVGWriter.number(py(p.y)),
                            "r": "4.5", "fill": p.hollow ? "white" : s.color, "stroke": s.color, "stroke-width": "2",
                            "data-x": "\(p.x)", "data-y": "\(p.y)"
                        ])
                }
            }
            svg.close("g")
        }
        return SVGWriter.document(width: width, height: frame.height, body: svg.body)
    }
}

/// Bars of stacked parts, one bar per category, in one or more panels
/// sharing the categories (bytes above, cycles below, say).
public struct StackedBarChart {
    public struct Panel {
        public var y: Axis
        /// The name and colour of each part of a bar, bottom first.
        public var parts: [(name: String, color: String)]
        /// `values[bar][part]`.
        public var values: [[Double]]
        public init(y: Axis, parts: [(name: String, color: String)], values: [[Double]]) {
            (self.y, self.parts, self.values) = (y, parts, values)
        }
    }

    public var title: String
    public var subtitle: String
    public var categoryLabel: String
    /// Short labels under some bars (the rest stay blank), by bar index.
    public var categoryTicks: [Int: String]
    public var panels: [Panel]
    public var width = 760.0
    public var panelHeight = 300.0
    static let panelGap = 24.0

    public init(
        title: String, subtitle: String = "", categoryLabel: String, categoryTicks: [Int: String], panels: [Panel]
    ) {
        (self.title, self.subtitle, self.categoryLabel, self.categoryTicks, self.panels) = (
            title, subtitle, categoryLabel, categoryTicks, panels
        )
    }

    public func svg() -> String {
        var svg = SVGWriter()
        var legend: [(String, String, Series.Style)] = []
        for panel in panels {
            for part in panel.parts where !legend.contains(where: { $0.0 == part.name }) {
                legend.append((part.name, part.color, .markers))
            }
        }
        let extra = drawHeading(&svg, title: title, subtitle: subtitle, legend: legend, width: width, swatches: true)
        let top = Frame.headingHeight + extra
        let count = panels.first?.values.count ?? 0
        let category = Axis(categoryLabel) { value, _ in categoryTicks[Int(value)] ?? "" }
        for (k, panel) in panels.enumerated() {
            let frame = Frame(width: width, height: panelHeight + top + Frame.bottom, top: top)
            let shift = Double(k) * (panelHeight + Self.panelGap)
            let yTicks = panel.y.ticks(covering: 0, panel.values.map { $0.reduce(0, +) }.max() ?? 1)
            svg.open("g", ["class": "panel", "transform": "translate(0,\(SVGWriter.number(shift)))"])
            let isLast = k == panels.count - 1
            drawAxes(
                &svg, frame: frame, x: isLast ? (category, categoryAxisTicks(count)) : nil, y: (panel.y, yTicks),
                categoryCount: count)
            let slot = frame.plotWidth / Double(max(count, 1))
            let py = { (v: Double) in frame.top + (1 - panel.y.fraction(v, in: yTicks)) * frame.plotHeight }
            for (bar, parts) in panel.values.enumerated() {
                var base = 0.0
                for (part, value) in parts.enumerated() where value > 0 {
                    let top = py(base + value), bottom = py(base)
                    svg.element(
                        "rect",
                        [
                            "class": "bar", "data-bar": "\(bar)", "data-part": panel.parts[part].name,
                            "data-value": "\(value)", "x": SVGWriter.number(Frame.left + slot * (Double(bar) + 0.12)),
                            "y": SVGWriter.number(top), "width": SVGWriter.number(slot * 0.76),
                            "height": SVGWriter.number(bottom - top), "fill": panel.parts[part].color
                        ])
                    base += value
                }
            }
            svg.close("g")
        }
        let height = top + Frame.bottom + (panelHeight + Self.panelGap) * Double(panels.count) - Self.panelGap
        return SVGWriter.document(width: width, height: height, body: svg.body)
    }

    /// Category positions run 0..<count; labels sit under bar centres.
    func categoryAxisTicks(_ count: Int) -> Axis.Ticks {
        Axis.Ticks(low: 0, high: Double(count), values: categoryTicks.keys.sorted().map(Double.init), step: 1)
    }
}

/// The title, subtitle and legend rows above the plot area, the legend
/// wrapped at `width`; returns the height the rows after the first take.
@discardableResult
func drawHeading(
    _ svg: inout SVGWriter, title: String, subtitle: String, legend: [(String, String, Series.Style)],
    width: Double, swatches: Bool = false
) -> Double {
    svg.element(
        "text", ["class": "title", "x": "\(Frame.left)", "y": "22", "font-size": "17", "font-weight": "bold"],
        text: title)
    svg.element("text", ["class": "subtitle", "x": "\(Frame.left)", "y": "40", "fill": "#444"], text: subtitle)
    svg.open("g", ["class": "legend"])
    var x = Frame.left
    var shift = 0.0
    for (name, color, style) in legend {
        let offset = swatches ? 20.0 : 28.0
        let itemWidth = offset + 7.5 * Double(name.count)
        if x > Frame.left && x + itemWidth > width - Frame.right {
            (x, shift) = (Frame.left, shift + Frame.legendRow)
        }
        svg.open("g", ["transform": "translate(0,\(SVGWriter.number(shift)))"])
        if swatches {
            svg.element("rect", ["x": SVGWriter.number(x), "y": "50", "width": "14", "height": "12", "fill": color])
        } else {
            if style != .markers {
                svg.element(
                    "line",
                    [
                        "x1": SVGWriter.number(x), "y1": "56", "x2": SVGWriter.number(x + 22), "y2": "56",
                        "stroke": color, "stroke-width": "2.5", "stroke-dasharray": style == .dashed ? "7 5" : "none"
                    ])
            }
            if style != .dashed {
                svg.element("circle", ["cx": SVGWriter.number(x + 11), "cy": "56", "r": "4", "fill": color])
            }
        }
        svg.element("text", ["x": SVGWriter.number(x + offset), "y": "61"], text: name)
        svg.close("g")
        x += itemWidth + 22
    }
    svg.close("g")
    return shift
}

/// Frame, grid lines, ticks and labels; a category x axis puts labels under slot centres.
func drawAxes(
    _ svg: inout SVGWriter, frame: Frame, x: (axis: Axis, ticks: Axis.Ticks)?, y: (axis: Axis, ticks: Axis.Ticks),
    categoryCount: Int? = nil
) {
    let bottom = frame.top + frame.plotHeight, right = Frame.left + frame.plotWidth
    svg.open(
        "g",
        [
            "class": "axis y", "data-label": y.axis.label, "data-scale": y.axis.scale.rawValue,
            "data-min": "\(y.ticks.low)", "data-max": "\(y.ticks.high)"
        ])
    for value in y.ticks.values {
        let py = frame.top + (1 - y.axis.fraction(value, in: y.ticks)) * frame.plotHeight
        svg.element(
            "line",
            [
                "class": "grid", "x1": "\(Frame.left)", "x2": SVGWriter.number(right), "y1": SVGWriter.number(py),
                "y2": SVGWriter.number(py), "stroke": "#e3e3e3"
            ])
        svg.element(
            "text",
            [
                "class": "tick-label", "x": "\(Frame.left - 8)", "y": SVGWriter.number(py + 4.5),
                "text-anchor": "end", "data-value": "\(value)"
            ], text: y.axis.format(value, y.ticks.step))
    }
    let middle = frame.top + frame.plotHeight / 2
    svg.element(
        "text",
        [
            "class": "axis-label", "x": "18", "y": SVGWriter.number(middle), "text-anchor": "middle",
            "transform": "rotate(-90 18 \(SVGWriter.number(middle)))"
        ], text: y.axis.label)
    svg.close("g")
    if let x {
        svg.open(
            "g",
            [
                "class": "axis x", "data-label": x.axis.label, "data-scale": x.axis.scale.rawValue,
                "data-min": "\(x.ticks.low)", "data-max": "\(x.ticks.high)"
            ])
        for value in x.ticks.values {
            let fraction =
                categoryCount.map { (value + 0.5) / Double(max($0, 1)) } ?? x.axis.fraction(value, in: x.ticks)
            let px = Frame.left + fraction * frame.plotWidth
            if categoryCount == nil {
                svg.element(
                    "line",
                    [
                        "class": "grid", "x1": SVGWriter.number(px), "x2": SVGWriter.number(px),
                        "y1": "\(frame.top)", "y2": SVGWriter.number(bottom), "stroke": "#e3e3e3"
                    ])
            }
            svg.element(
                "text",
                [
                    "class": "tick-label", "x": SVGWriter.number(px), "y": SVGWriter.number(bottom + 18),
                    "text-anchor": "middle", "data-value": "\(value)"
                ], text: x.axis.format(value, x.ticks.step))
        }
        svg.element(
            "text",
            [
                "class": "axis-label", "x": SVGWriter.number(Frame.left + frame.plotWidth / 2),
                "y": SVGWriter.number(bottom + 42), "text-anchor": "middle"
            ], text: x.axis.label)
        svg.close("g")
    }
    svg.element(
        "rect",
        [
            "class": "plot-area", "x": "\(Frame.left)", "y": "\(frame.top)", "width": SVGWriter.number(frame.plotWidth),
            "height": SVGWriter.number(frame.plotHeight), "fill": "none", "stroke": "#333"
        ])
}
