/// An error a user can act on: one line, naming the file when there is one.
public struct DFCError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var message: String

    public init(_ message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }

    public var description: String {
        guard let file else { return message }
        return "\(file): \(message)"
    }

    /// The same error attributed to `file`, unless it already names one.
    public func inFile(_ file: String) -> DFCError {
        self.file == nil ? DFCError(message, file: file) : self
    }
}
