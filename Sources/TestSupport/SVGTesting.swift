import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The elements of an SVG document, each with its attributes and text, in document order.
package struct ParsedSVG {
    package struct Element {
        package var name: String
        package var attributes: [String: String]
        package var text = ""
        /// The `class` of the nearest enclosing `g` that has one.
        package var group: String?
    }

    package var elements: [Element] = []

    package init(_ svg: String) throws {
        let delegate = Collector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = delegate
        guard parser.parse() else { throw ParseFailure(message: "\(parser.parserError.map { "\($0)" } ?? "?")") }
        elements = delegate.elements
    }

    package struct ParseFailure: Error { package var message: String }

    package func all(_ name: String, class wanted: String? = nil) -> [Element] {
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
package enum SVGRenderer {
    package static let path = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert", "/opt/homebrew/bin/rsvg-convert"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The PNG's bytes, or a failure carrying rsvg-convert's complaint.
    package static func png(_ svg: String) throws -> [UInt8]? {
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
        guard process.terminationStatus == 0 else {
            throw ParsedSVG.ParseFailure(message: "rsvg-convert: \(complaint)")
        }
        return [UInt8](png)
    }
}
