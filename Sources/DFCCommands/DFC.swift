import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import Tensors

/// The `dfc` command: it only lists the subcommands.
public struct DFC: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dfc",
        abstract: "Compile ONNX CNNs for a modeled DNN accelerator with deep layer fusion, and run them.",
        discussion: HelpText.exitStatus,
        version: DFCVersion.string,
        subcommands: [Compile.self, Run.self, Disasm.self, Report.self, Compare.self, Inspect.self, Explore.self])

    public init() {}

    /// The subcommands' names, as typed: the man page, the completions and the tests go by them.
    public static var subcommandNames: [String] { configuration.subcommands.map { $0._commandName } }

    /// Entry point: parses, runs, and turns every error into one `dfc: error:` line whose exit status is
    /// the error's kind (`DFCError.Kind`); help, `--version` and completion scripts go to standard output.
    public static func run(arguments: [String]) -> Int32 {
        stopIdleBLASThreads()
        let arguments = normalize(arguments)
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as DFCError {
            FileHandle.standardError.write(Data("dfc: error: \(error)\n".utf8))
            return error.kind.exitCode
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                let message = fullMessage(for: error)
                if !message.isEmpty { FileHandle.standardOutput.write(Data((message + "\n").utf8)) }
                return 0
            }
            // An ExitCode a command threw on purpose keeps its number; anything else the
            // argument parser rejected is a usage error.
            if let exit = error as? ExitCode { return exit.rawValue }
            let usage = DFCError(usageMessage(for: error, arguments: arguments), kind: .usage)
            FileHandle.standardError.write(Data("dfc: error: \(usage)\n".utf8))
            return usage.kind.exitCode
        }
    }

    /// The argument parser's complaint as one line, lower-cased like dfc's own errors, pointing at the
    /// subcommand's help.
    static func usageMessage(for error: Error, arguments: [String]) -> String {
        let lines = message(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        var text = lines.filter { !$0.isEmpty && !$0.hasPrefix("Usage:") && !$0.hasPrefix("See '") }
            .joined(separator: "; ")
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        text = text.replacingOccurrences(of: ". Did you mean", with: "; did you mean")
        if let first = text.first, first.isUppercase, text.dropFirst().first?.isLowercase ?? true {
            text = first.lowercased() + text.dropFirst()
        }
        let subcommand = arguments.first.flatMap { subcommandNames.contains($0) ? $0 : nil }
        return "\(text) (see 'dfc \(subcommand.map { "\($0) " } ?? "")--help')"
    }

    /// `--dump-ir` may stand alone (every stage), take `=PASS,...`, or take the stage list as the next
    /// word (`--dump-ir fuse,tile`). Argument-parser options always take a value, so a lone `--dump-ir`
    /// becomes `--dump-ir=all`; the next word is taken only when every name in it is a stage, so
    /// `--dump-ir MODEL.onnx` still leaves the model as the positional argument.
    static func normalize(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                result += arguments[(index - 1)...]
                break
            }
            guard argument == "--dump-ir" else {
                result.append(argument)
                continue
            }
            if index < arguments.endIndex, isStageList(arguments[index]) {
                result.append("--dump-ir=\(arguments[index])")
                index += 1
            } else {
                result.append("--dump-ir=all")
            }
        }
        return result
    }

    /// True when `word` is a comma-separated list of stage names (or `all`).
    static func isStageList(_ word: String) -> Bool {
        let names = word.split(separator: ",", omittingEmptySubsequences: false)
        return !names.isEmpty && names.allSatisfy { $0 == "all" || Compile.stageNames.contains(String($0)) }
    }
}
