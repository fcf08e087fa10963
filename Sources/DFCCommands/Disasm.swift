import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import Tensors

/// `dfc disasm`: print a .dfx program, one instruction per line with its ONNX nodes.
struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print a .dfx program: its config and tensors, then one instruction per line with its source ONNX nodes.",
        discussion: HelpText.discussion(
            "", examples: [("each instruction with the cycles it runs in", "dfc disasm model.dfx --timing | less")]))

    @Argument(help: "The program to print.")
    var program: String

    @Flag(name: .customLong("timing"), help: "Prefix each instruction with the cycles it runs in, [start, end).")
    var timing = false

    func run() throws {
        let loaded: Program
        do { loaded = try Program.read(from: program) } catch let e as ProgramError {
            throw DFCError(e, file: program)
        }
        // The timing model prices instructions from their fields: only a valid program has sane ones.
        if timing {
            do { try loaded.validate() } catch let e as ProgramError {
                throw DFCError("--timing needs a valid program: \(e.message)", file: program)
            }
        }
        FileHandle.standardOutput.write(Data(loaded.disassembly(timing: timing).utf8))
    }
}
