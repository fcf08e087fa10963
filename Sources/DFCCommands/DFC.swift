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
        subcommands: [Compile.self, Run.self, Disasm.self, Report.self, Compare.self, Inspect.self])

    public init() {}

    /// Entry point: parses, runs, and turns errors into one `dfc: error:` line.
    public static func run(arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(normalize(arguments))
            try command.run()
            return 0
        } catch let error as DFCError {
            FileHandle.standardError.write(Data("dfc: error: \(error)\n".utf8))
            return error.kind.exitCode
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                let stream = code == .success ? FileHandle.standardOutput : FileHandle.standardError
                stream.write(Data((message + "\n").utf8))
            }
            return code.rawValue
        }
    }

    /// `--dump-ir` may stand alone (every stage) or take `=PASS,...`;
    /// argument-parser options always take a value, so supply "all".
    static func normalize(_ arguments: [String]) -> [String] {
        arguments.map { $0 == "--dump-ir" ? "--dump-ir=all" : $0 }
    }
}
