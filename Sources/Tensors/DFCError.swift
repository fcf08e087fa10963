/// An error a user can act on: one line, naming the file when there is one.
public struct DFCError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var message: String

    public init(_ message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }

    /// One line whatever the names it quotes hold: a model's node or value
    /// names may carry newlines and other control characters, shown escaped.
    public var description: String {
        Self.oneLine(file.map { "\($0): \(message)" } ?? message)
    }

    /// `text` with control characters written as `\n`, `\r`, `\t` or `\u{XX}`.
    public static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The same error attributed to `file`, unless it already names one.
    public func inFile(_ file: String) -> DFCError {
        self.file == nil ? DFCError(message, file: file) : self
    }
}
