/// An error a user can act on: one line, naming the file when there is one.
public struct DFCError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, as far as a Makefile or a script cares: each kind is its own exit status.
    public enum Kind: Int32, Sendable, CaseIterable {
        /// The model or program is malformed, or an argument names something that is not there.
        case badInput = 1
        /// The command line itself is wrong (unknown option, missing argument, bad value).
        case usage = 2
        /// The model is well formed but uses something dfc does not support.
        case unsupported = 3
        /// The model does not fit the accelerator (SRAM, limits).
        case doesNotFit = 4
        /// `--verify` or a comparison found outputs that differ.
        case verification = 5
        /// A file could not be read or written.
        case io = 6

        /// The exit status `dfc` returns for this kind.
        public var exitCode: Int32 { rawValue }

        /// What the status means, for `--help`, the man page and the README.
        public var summary: String {
            switch self {
            case .badInput: return "bad input: a malformed model, program or tensor, or a name it does not have"
            case .usage: return "usage: an unknown option, a missing argument or a bad value"
            case .unsupported: return "unsupported: the model uses an operator or form dfc does not support"
            case .doesNotFit: return "does not fit: a layer needs more SRAM than the accelerator has"
            case .verification: return "verification failed: --verify or dfc compare found outputs that differ"
            case .io: return "I/O error: a file could not be read or written"
            }
        }
    }

    public var file: String?
    public var message: String
    public var kind: Kind

    public init(_ message: String, file: String? = nil, kind: Kind = .badInput) {
        self.message = message
        self.file = file
        self.kind = kind
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
        self.file == nil ? DFCError(message, file: file, kind: kind) : self
    }
}
