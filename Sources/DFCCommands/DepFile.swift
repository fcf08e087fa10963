import Tensors

/// A make depfile (`dfc compile -MD`): the files a compilation wrote depend on the files it read, so
/// that make recompiles when an external data file or the accelerator JSON changes, not only the model.
struct DepFile {
    /// What was written: the program and the report.
    var targets: [String]
    /// What was read: the model first, then its external data files and the accelerator JSON.
    var prerequisites: [String]

    /// `PROG.d` beside `PROG.dfx`: the output's extension replaced by `.d` (added when it has none).
    static func path(besides output: String) -> String {
        let name = output.split(separator: "/", omittingEmptySubsequences: false).last!
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return output + ".d" }
        return String(output[..<dot]) + ".d"
    }

    /// One rule, then an empty rule for each prerequisite but the model (as `gcc -MP` writes): a data
    /// file that is deleted or renamed then makes make rebuild instead of stopping with "No rule to make
    /// target".
    var text: String {
        var text =
            targets.map(Self.escape).joined(separator: " ") + ":"
            + prerequisites.map { " " + Self.escape($0) }.joined(separator: " \\\n") + "\n"
        for prerequisite in prerequisites.dropFirst() { text += "\n" + Self.escape(prerequisite) + ":\n" }
        return text
    }

    /// A path as make reads it in a rule: `$` doubled; a space, tab, `#` or `:` escaped with a backslash,
    /// and the backslashes right before it doubled (make's own rule for them).
    static func escape(_ path: String) -> String {
        var result = ""
        var backslashes = 0
        for character in path {
            switch character {
            case "\\":
                backslashes += 1
                result.append(character)
                continue
            case " ", "\t", "#", ":":
                result += String(repeating: "\\", count: backslashes) + "\\" + String(character)
            case "$": result += "$$"
            default: result.append(character)
            }
            backslashes = 0
        }
        return result
    }

    /// Paths make cannot read in a rule, whatever the escaping: a line break ends the rule.
    static func check(_ paths: [String]) throws {
        for path in paths where path.contains(where: { $0 == "\n" || $0 == "\r" }) {
            throw DFCError("a make depfile cannot name a path with a line break", file: path, kind: .usage)
        }
    }
}
