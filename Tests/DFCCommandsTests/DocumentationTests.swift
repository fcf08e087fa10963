import Foundation
import GraphIR
import Tensors
import Testing

/// The README's lists that the code also holds: they must say the same.
@Suite("README agrees with the code")
struct DocumentationTests {
    static let readme =
        (try? String(
            contentsOf: DFCProcess.repoRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""

    /// The lines between `<!-- NAME: ... -->` and `<!-- end NAME -->`.
    static func block(_ name: String) throws -> [String] {
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("<!-- \(name):") }, "README has no \(name) block")
        let end = try #require(lines[start...].firstIndex(of: "<!-- end \(name) -->"))
        return Array(lines[(start + 1)..<end])
    }

    @Test("the README's supported operators are OpKind's")
    func operators() throws {
        let listed = try Self.block("operators").joined(separator: " ").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let expected = OpKind.supportedONNXNames
        #expect(listed == expected, "README should list: \(expected.joined(separator: ", "))")
    }

    @Test("the README's exit statuses are DFCError.Kind's")
    func exitStatuses() throws {
        let rows = try Self.block("exit statuses").dropFirst(2)
        let expected = ["| 0 | success |"] + DFCError.Kind.allCases.map { "| \($0.exitCode) | \($0.summary) |" }
        #expect(Array(rows) == expected, "README should have:\n\(expected.joined(separator: "\n"))")
    }
}
