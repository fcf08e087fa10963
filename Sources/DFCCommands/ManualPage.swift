import ArgumentParser
import Foundation
import Tensors

/// dfc(1), made from the commands' own definitions: what the argument parser prints for
/// `--experimental-dump-help` (every subcommand, argument and help text, examples included), then the
/// exit statuses of `DFCError.Kind`. A subcommand or option added to the code is in the next page made;
/// `make install` makes it. The page is man(7) roff and has no date, so it is the same on every build.
public enum ManualPage {
    /// The page for `dfc` as it is now.
    public static func render() throws -> String {
        try render(toolInfo: Data(dumpHelp().utf8))
    }

    /// The argument parser's JSON description of `dfc`, the same `dfc --experimental-dump-help` prints.
    static func dumpHelp() throws -> String {
        do {
            _ = try DFC.parseAsRoot(["--experimental-dump-help"])
        } catch {
            return DFC.fullMessage(for: error)
        }
        throw DFCError("the argument parser printed no description of dfc")
    }

    /// The page for the command `toolInfo` describes.
    static func render(toolInfo: Data) throws -> String {
        let root: Command
        do { root = try JSONDecoder().decode(ToolInfo.self, from: toolInfo).command } catch {
            throw DFCError("cannot read the argument parser's description of dfc: \(error)")
        }
        var page = [
            ".\\\" dfc(1), generated from dfc's command definitions by dfc-manual; do not edit.",
            ".TH DFC 1 \"\" \"dfc \(DFCVersion.string)\" \"User Commands\"",
            // Options and operator names read better unhyphenated and left-aligned.
            ".nh", ".ad l",
            ".SH NAME", "\(root.commandName) \\- \(escape(root.abstract ?? ""))",
            ".SH SYNOPSIS"
        ]
        let subcommands = (root.subcommands ?? []).filter(\.shouldDisplay)
        for command in subcommands {
            page += [".B \(root.commandName) \(escape(command.commandName))", synopsis(command), ".br"]
        }
        page += [".B \(root.commandName)", "[\\fB\\-\\-help\\fR] [\\fB\\-\\-version\\fR]", ".SH DESCRIPTION"]
        page += paragraphs(root.abstract ?? "")
        if let discussion = root.discussion, discussion != HelpText.exitStatus { page += paragraphs(discussion) }
        page += options(root)
        page.append(".SH COMMANDS")
        for command in subcommands {
            page.append(".SS \"\(root.commandName) \(escape(command.commandName))\"")
            page += paragraphs(command.abstract ?? "")
            page += paragraphs(command.discussion ?? "")
            page += options(command)
        }
        page += [".SH EXIT STATUS", ".TP", ".B 0", "success"]
        for kind in DFCError.Kind.allCases { page += [".TP", ".B \(kind.exitCode)", escape(kind.summary)] }
        page += [
            ".PP",
            "Every error is one line on standard error, \\fBdfc: error: \\fIFILE\\fB: \\fIproblem\\fR, and no output file is left half written."
        ]
        return page.joined(separator: "\n") + "\n"
    }

    /// `model [-o PROG.dfx] [--verify] ...`: the command's arguments in the order they are declared, but
    /// --help and --version, which every subcommand has.
    static func synopsis(_ command: Command) -> String {
        let arguments = (command.arguments ?? []).filter {
            $0.shouldDisplay && !($0.names ?? []).contains { ["help", "version"].contains($0.name) }
        }
        let parts = arguments.compactMap { argument -> String? in
            guard argument.kind != .positional else {
                let name = "\\fI\(escape(argument.valueName ?? "ARG"))\\fR"
                return argument.isOptional ? "[\(name)]" : name
            }
            guard let name = argument.displayNames.first else { return nil }
            let value = argument.kind == .option ? " \\fI\(escape(argument.valueName ?? "value"))\\fR" : ""
            let repeated = argument.isRepeating ? " ..." : ""
            let text = "\\fB\(escape(name))\\fR\(value)\(repeated)"
            return argument.isOptional ? "[\(text)]" : text
        }
        return parts.joined(separator: " ")
    }

    /// One `.TP` entry per argument: its names and value, then its help.
    static func options(_ command: Command) -> [String] {
        var lines: [String] = []
        for argument in (command.arguments ?? []).filter(\.shouldDisplay) {
            let title: String
            if argument.kind == .positional {
                title = "\\fI\(escape(argument.valueName ?? "ARG"))\\fR"
            } else {
                let value = argument.kind == .option ? " \\fI\(escape(argument.valueName ?? "value"))\\fR" : ""
                title = argument.displayNames.map { "\\fB\(escape($0))\\fR" }.joined(separator: ", ") + value
            }
            var help = argument.abstract ?? ""
            if let value = argument.defaultValue, !value.isEmpty, argument.kind == .option,
                !help.contains("Default:")
            {
                help += " (default: \(value))"
            }
            lines += [".TP", title, escape(help)]
            if let discussion = argument.discussion, !discussion.isEmpty { lines += [".IP", escape(discussion)] }
        }
        return lines
    }

    /// Help text as roff: paragraphs at blank lines, and lines indented by two spaces (the examples)
    /// kept as they are, in an indented no-fill block.
    static func paragraphs(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var lines: [String] = []
        var block: [String] = []
        func flushBlock() {
            guard !block.isEmpty else { return }
            lines += [".RS 4", ".nf"] + block + [".fi", ".RE"]
            block = []
        }
        var paragraph: [String] = []
        func flushParagraph() {
            guard !paragraph.isEmpty else { return }
            lines += [".PP", escape(paragraph.joined(separator: " "))]
            paragraph = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  ") {
                flushParagraph()
                block.append(escape(line.trimmingCharacters(in: .whitespaces)))
            } else if line.trimmingCharacters(in: .whitespaces).isEmpty {
                flushParagraph()
                flushBlock()
            } else {
                flushBlock()
                paragraph.append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        flushParagraph()
        flushBlock()
        return lines
    }

    /// Text safe in a roff line: backslashes written `\e`, hyphens `\-` (so that options copy and paste),
    /// and a line that starts with a control character (`.` or `'`) guarded with `\&`.
    static func escape(_ text: String) -> String {
        let escaped = text.replacingOccurrences(of: "\\", with: "\\e").replacingOccurrences(of: "-", with: "\\-")
        return escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped
    }

    // MARK: The argument parser's description (the fields the page uses)

    struct ToolInfo: Decodable {
        var command: Command
    }

    struct Command: Decodable {
        var commandName: String
        var abstract: String?
        var discussion: String?
        var shouldDisplay: Bool
        var subcommands: [Command]?
        var arguments: [Argument]?
    }

    struct Argument: Decodable {
        enum Kind: String, Decodable { case positional, option, flag }
        struct Name: Decodable {
            var kind: String
            var name: String
        }
        var kind: Kind
        var shouldDisplay: Bool
        var isOptional: Bool
        var isRepeating: Bool
        var names: [Name]?
        var valueName: String?
        var defaultValue: String?
        var abstract: String?
        var discussion: String?

        /// `-q`, `--quiet`, `-MD`: as a user types them, short ones first.
        var displayNames: [String] {
            (names ?? []).sorted { ($0.kind == "short" ? 0 : 1, $0.name) < ($1.kind == "short" ? 0 : 1, $1.name) }
                .map { $0.kind == "long" ? "--\($0.name)" : "-\($0.name)" }
        }
    }
}
