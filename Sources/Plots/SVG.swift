import Foundation

/// An SVG document built element by element. Attribute values and text are
/// escaped; numbers are written with at most two decimals so output is stable.
public struct SVGWriter {
    public private(set) var body = ""

    public init() {}

    public mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String> = [:]) {
        body += "<\(name)\(Self.attributes(attributes))>\n"
    }

    public mutating func close(_ name: String) { body += "</\(name)>\n" }

    public mutating func element(
        _ name: String, _ attributes: KeyValuePairs<String, String> = [:], text: String? = nil
    ) {
        if let text {
            body += "<\(name)\(Self.attributes(attributes))>\(Self.escape(text))</\(name)>\n"
        } else {
            body += "<\(name)\(Self.attributes(attributes))/>\n"
        }
    }

    /// A whole document `width` × `height` pixels with a white background around `body`.
    public static func document(width: Double, height: Double, body: String) -> String {
        let size = "width=\"\(number(width))\" height=\"\(number(height))\""
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" \(size) viewBox="0 0 \(number(width)) \(number(height))" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
            <rect class="background" x="0" y="0" \(size) fill="white"/>

            """ + body + "</svg>\n"
    }

    public static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(format: "%.2f", rounded).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
    }

    static func attributes(_ pairs: KeyValuePairs<String, String>) -> String {
        pairs.map { " \($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// Colours that stay apart from each other in print and for common colour blindness.
public enum Palette {
    public static let colors = [
        "#1f5fa8", "#d9661f", "#2e8b57", "#c0392b", "#7d4fa0", "#8c6d31", "#d45a9b", "#5f6b73", "#17a2b8"
    ]

    public static func color(_ index: Int) -> String { colors[index % colors.count] }
}
