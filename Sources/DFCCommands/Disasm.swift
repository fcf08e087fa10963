import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import Tensors

/// `dfc disasm`: print a .dfx program, one instruction per line with the ONNX layer it computes.
struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print a .dfx program: its config and tensors, then one instruction per line with the ONNX layer it computes.",
        discussion: HelpText.discussion(
            """
            DRAM addresses print as the constant or value they point into plus a byte offset, from the \
            program's DRAM map (`conv1_w`, `relu5_out+512`). Lines longer than 120 columns continue on \
            indented lines.
            """,
            examples: [
                ("each instruction with the cycles it runs in", "dfc disasm model.dfx --timing | less"),
                ("where the cycles go, per engine, opcode and layer", "dfc disasm model.dfx --summary")
            ]))

    @Argument(help: "The program to print.")
    var program: String

    @Flag(name: .customLong("timing"), help: "Prefix each instruction with the cycles it runs in, [start, end).")
    var timing = false

    @Flag(help: "Instead of the listing: instructions and busy cycles per engine, per opcode and per layer.")
    var summary = false

    @Option(
        name: .customLong("node"), help: ArgumentHelp("Only the instructions of this ONNX layer.", valueName: "name"))
    var node: String?

    @Option(
        name: .customLong("range"),
        help: ArgumentHelp("Only instructions A to B-1 (either end may be left out: A.., ..B).", valueName: "A..B"))
    var range: String?

    @Flag(help: "Raw addresses and unbroken lines (the listing before this option existed).")
    var raw = false

    /// `A..B`, `A..` or `..B`, as a half-open range of instruction indices.
    static func parseRange(_ text: String) -> Range<Int>? {
        let parts = text.split(separator: "..", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let low = parts[0].isEmpty ? 0 : Int(parts[0]), high = parts[1].isEmpty ? Int.max : Int(parts[1])
        guard let low, let high, low >= 0, low <= high else { return nil }
        return low..<high
    }

    func validate() throws {
        if let range, Self.parseRange(range) == nil {
            throw ValidationError("--range '\(range)' is not A..B with 0 <= A <= B (A.. and ..B are allowed)")
        }
    }

    func run() throws {
        let loaded: Program
        do { loaded = try Program.read(from: program) } catch let e as ProgramError {
            throw DFCError(e, file: program)
        }
        // The timing model prices instructions from their fields: only a valid program has sane ones.
        if timing || summary {
            do { try loaded.validate() } catch let e as ProgramError {
                throw DFCError("--\(summary ? "summary" : "timing") needs a valid program: \(e.message)", file: program)
            }
        }
        var options = raw ? DisassemblyOptions() : DisassemblyOptions.human
        options.timing = timing
        options.node = node
        options.range = range.flatMap(Self.parseRange)
        if let node, !loaded.debugNames.contains(where: { $0.contains(node) }) {
            throw DFCError("no instruction computes a layer named '\(node)'", file: program)
        }
        let text = summary ? loaded.summary(options) : loaded.disassembly(options)
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
