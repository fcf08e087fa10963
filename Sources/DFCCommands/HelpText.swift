import Tensors

/// Text the commands' `--help` shares, and the man page with it.
enum HelpText {
    /// A subcommand's discussion: what it says, then its examples (two lines each: a comment and the
    /// command). The man page shows the same text.
    static func discussion(_ text: String, examples: [(comment: String, command: String)]) -> String {
        let body = examples.map { "  # \($0.comment)\n  \($0.command)" }.joined(separator: "\n")
        return (text.isEmpty ? "" : text + "\n\n") + "Examples:\n" + body
    }

    /// The exit statuses, one a line: `dfc --help` ends with them.
    static var exitStatus: String {
        (["Exit status:", "  0  success"] + DFCError.Kind.allCases.map { "  \($0.exitCode)  \($0.summary)" })
            .joined(separator: "\n")
    }
}
