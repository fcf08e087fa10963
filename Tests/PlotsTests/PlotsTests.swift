import Foundation
import Testing

@testable import Plots

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The elements of an SVG document, each with its attributes and text, in document order.
struct ParsedSVG {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
        /// The `class` of the nearest enclosing `g` that has one.
        var group: String?
    }

    var elements: [Element] = []

    init(_ svg: String) throws {
        let delegate = Collector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = delegate
        guard parser.parse() else { throw ParseFailure(message: "\(parser.parserError.map { "\($0)" } ?? "?")") }
        elements = delegate.elements
    }

    struct ParseFailure: Error { var message: String }

    func all(_ name: String, class wanted: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (wanted == nil || $0.attributes["class"] == wanted) }
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [Int] = []
        var groups: [String?] = []

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String]
        ) {
            let enclosing = groups.last(where: { $0 != nil }) ?? nil
            elements.append(Element(name: name, attributes: attributes, group: enclosing))
            open.append(elements.count - 1)
            if name == "g" { groups.append(attributes["class"]) }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let last = open.last { elements[last].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
            if name == "g" { groups.removeLast() }
        }
    }
}

/// Renders SVG with rsvg-convert when it is installed; nil when it is not.
enum Renderer {
    static let path = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert", "/opt/homebrew/bin/rsvg-convert"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The PNG's bytes, or a failure carrying rsvg-convert's complaint.
    static func png(_ svg: String) throws -> [UInt8]? {
        guard let path else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--format", "png"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (input, output, errors)
        try process.run()
        input.fileHandleForWriting.write(Data(svg.utf8))
        try input.fileHandleForWriting.close()
        let png = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "rsvg-convert: \(complaint)")
        return [UInt8](png)
    }
}

@Suite("SVG plots")
struct PlotsTests {
    @Test("linear ticks are 1, 2 or 5 times a power of ten and cover the data from zero")
    func linearTicks() {
        let ticks = Axis("MB").ticks(covering: 12.5, 157.0)
        #expect(ticks.values == [0, 50, 100, 150, 200])
        #expect((ticks.low, ticks.high, ticks.step) == (0, 200, 50))
        let tight = Axis("Mcycles", fromZero: false).ticks(covering: 6.02, 6.93)
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
        for (k, circle) in circles.enumerated() {
            let cx = Double(circle.attributes["cx"]!)!, cy = Double(circle.attributes["cy"]!)!
            #expect(abs(cx - (left + width * Double(k) / 3)) < 0.01)
            #expect(abs(cy - (top + height * (1 - Double(circle.attributes["data-y"]!)! / 100))) < 0.01)
        }
        // The dashed series is a line without markers.
        #expect(svg.all("polyline").count == 2)
        #expect(try Renderer.png(chart.svg()).map { $0.starts(with: [0x89, 0x50, 0x4E, 0x47]) } ?? true)
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
        #expect(try Renderer.png(chart.svg()).map { !$0.isEmpty } ?? true)
    }
}
