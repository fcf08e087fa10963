import Foundation
import TestSupport
import Testing

@testable import Plots

@Suite("SVG plots")
struct PlotsTests {
    @Test("linear ticks are 1, 2 or 5 times a power of ten and cover the data from zero")
    func linearTicks() {
        let ticks = Axis("MB").ticks(covering: 12.5, 157.0)
        #expect(ticks.values == [0, 50, 100, 150, 200])
        #expect((ticks.low, ticks.high, ticks.step) == (0, 200, 50))
        let tight = Axis("Mcycles", fromZero: false).ticks(covering: 6.1, 6.8)
        #expect(tight.step == 0.2)
        #expect(tight.low == 6 && abs(tight.high - 7) < 1e-9)
        #expect(Axis.decimal(6.4, tight.step) == "6.4")
        #expect(Axis("x").ticks(covering: 0, 0).high == 1)
    }

    @Test("log2 ticks fall on powers of two and read as binary sizes")
    func log2Ticks() {
        let axis = Axis("SRAM", scale: .log2) { value, _ in Axis.binaryBytes(value) }
        let ticks = axis.ticks(covering: Double(128 << 10), Double(8 << 20))
        #expect(ticks.values == (17...23).map { Double(1 << $0) })
        #expect(ticks.values.map { axis.format($0, ticks.step) }.first == "128 KiB")
        #expect(ticks.values.map { axis.format($0, ticks.step) }.last == "8 MiB")
        #expect(axis.fraction(Double(1 << 20), in: ticks) == 0.5)
        // Thirty doublings are thinned to at most nine ticks.
        #expect(axis.ticks(covering: 1, Double(1 << 30)).values.count <= 9)
    }

    @Test("a line chart places every point where its axes say, with labels, legend and valid SVG")
    func lineChart() throws {
        let sizes = [131072.0, 262144, 524288, 1048576]
        let chart = XYChart(
            title: "traffic <&> \"quoted\"", subtitle: "subtitle",
            x: Axis("SRAM size", scale: .log2) { value, _ in Axis.binaryBytes(value) }, y: Axis("DRAM traffic (MB)"),
            series: [
                Series("fused", points: zip(sizes, [80.5, 60, 41, 30]).map { .init(x: $0, y: $1) }, color: "#000"),
                Series("floor", points: sizes.map { .init(x: $0, y: 20) }, style: .dashed, color: "#888")
            ])
        let svg = try ParsedSVG(chart.svg())
        #expect(svg.all("text", class: "title").first?.text == "traffic <&> \"quoted\"")
        let circles = svg.all("circle", class: "point")
        #expect(circles.map { Double($0.attributes["data-y"]!)! } == [80.5, 60, 41, 30])
        let yAxis = try #require(svg.all("g").first { $0.attributes["class"] == "axis y" })
        #expect(yAxis.attributes["data-min"] == "0.0" && yAxis.attributes["data-max"] == "100.0")
        let xAxis = try #require(svg.all("g").first { $0.attributes["class"] == "axis x" })
        #expect(xAxis.attributes["data-scale"] == "log2")
        let xLabels = svg.all("text", class: "tick-label").filter { $0.group == "axis x" }.map(\.text)
        #expect(xLabels == ["128 KiB", "256 KiB", "512 KiB", "1 MiB"])
        #expect(svg.all("text", class: "axis-label").map(\.text) == ["DRAM traffic (MB)", "SRAM size"])
        #expect(svg.elements.contains { $0.group == "legend" && $0.text == "fused" })
        // Positions: the frame's plot area maps the axis ranges linearly (log2 for x).
        let area = try #require(svg.all("rect", class: "plot-area").first)
        let (left, top) = (Double(area.attributes["x"]!)!, Double(area.attributes["y"]!)!)
        let (width, height) = (Double(area.attributes["width"]!)!, Double(area.attributes["height"]!)!)
        let (low, high) = (Double(xAxis.attributes["data-min"]!)!, Double(xAxis.attributes["data-max"]!)!)
        #expect(low < sizes[0] && high > sizes[3] && low > sizes[0] / 2 && high < sizes[3] * 2)
        for (k, circle) in circles.enumerated() {
            let cx = Double(circle.attributes["cx"]!)!, cy = Double(circle.attributes["cy"]!)!
            #expect(abs(cx - (left + width * log2(sizes[k] / low) / log2(high / low))) < 0.01)
            #expect(abs(cy - (top + height * (1 - Double(circle.attributes["data-y"]!)! / 100))) < 0.01)
        }
        // The dashed series is a line without markers.
        #expect(svg.all("polyline").count == 2)
        #expect(try SVGRenderer.png(chart.svg()).map { $0.starts(with: [0x89, 0x50, 0x4E, 0x47]) } ?? true)
    }

    @Test("stacked bars stack their parts, each as tall as its value")
    func stackedBars() throws {
        let values: [[Double]] = [[3, 1, 1], [0, 2, 2], [10, 4, 6]]
        let chart = StackedBarChart(
            title: "bytes", categoryLabel: "layer", categoryTicks: [0: "1", 2: "3"],
            panels: [
                .init(
                    y: Axis("MB"), parts: [("weights", "#111"), ("reads", "#222"), ("writes", "#333")],
                    values: values),
                .init(y: Axis("kcycles"), parts: [("cycles", "#444")], values: [[5], [7], [9]])
            ])
        let svg = try ParsedSVG(chart.svg())
        let bars = svg.all("rect", class: "bar")
        // A zero part draws nothing: 8 parts in the first panel, 3 in the second.
        #expect(bars.count == 11)
        let first = bars.filter { $0.attributes["data-bar"] == "2" && $0.attributes["data-part"] != "cycles" }
        #expect(first.map { Double($0.attributes["data-value"]!)! } == [10, 4, 6])
        let yAxes = svg.all("g").filter { $0.attributes["class"] == "axis y" }
        #expect(yAxes.map { $0.attributes["data-max"]! } == ["20.0", "10.0"])
        // Height per unit is the same for every part of the panel, and parts touch.
        let scale = first.map { Double($0.attributes["height"]!)! / Double($0.attributes["data-value"]!)! }
        #expect(scale.allSatisfy { abs($0 - scale[0]) < 0.01 })
        for (lower, upper) in zip(first, first.dropFirst()) {
            #expect(
                abs(
                    Double(upper.attributes["y"]!)! + Double(upper.attributes["height"]!)! - Double(
                        lower.attributes["y"]!)!) < 0.02)
        }
        #expect(svg.all("text", class: "tick-label").filter { $0.group == "axis x" }.map(\.text) == ["1", "3"])
        #expect(try SVGRenderer.png(chart.svg()).map { !$0.isEmpty } ?? true)
    }
}
