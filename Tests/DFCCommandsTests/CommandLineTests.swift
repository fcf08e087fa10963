import ArgumentParser
import Foundation
import GraphIR
import Tensors
import TestSupport
import Testing

@testable import DFCCommands

/// The command line as a user meets it: exit statuses, argument errors in dfc's own one-line form,
/// errors that say what to do, --version, --help examples, `--dump-ir STAGES` with a space.
@Suite("dfc: errors, exit statuses, help")
struct CommandLineTests {
    static let tiny = "Fixtures/onnx/tiny_cnn.onnx"
    static let resnet8 = "Fixtures/demo/resnet8.onnx"

    /// Exactly one `dfc: error:` line holding `fragment`, nothing on stdout, exit status `status`.
    static func expectError(_ result: DFCProcess.Result, status: Int32, _ fragment: String) {
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("dfc: error: ") && result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
    }

    @Test(
        "argument errors are one dfc: error: line with exit status 2",
        arguments: [
            (["compile"], "missing expected argument '<model>' (see 'dfc compile --help')"),
            (["compile", tiny, "--frobnicate"], "unknown option '--frobnicate'"),
            (["compile", tiny, "--objective", "speed"], "--objective speed: expected one of"),
            (["compile", tiny, "--max-group-length", "many"], "--max-group-length"),
            (["compile", tiny, "--sram", "lots"], "--sram 'lots'"),
            (["compile", tiny, "--accel", "df9"], "unknown accelerator 'df9'"),
            (["compile", tiny, "--input-shape", "input"], "expected NAME=DIMxDIMx..."),
            (["compile", tiny, "--dump-ir=nonsense"], "unknown pass 'nonsense'"),
            (["frobnicate"], "(see 'dfc --help')"),
            (["run"], "missing expected argument '<program>' (see 'dfc run --help')"),
            (["run", "x.dfx", "--max-work", "0"], "--max-work must be positive")
        ])
    func usageErrors(arguments: [String], fragment: String) throws {
        Self.expectError(try DFCProcess.run(arguments), status: 2, fragment)
    }

    @Test("each kind of failure has its own exit status")
    func exitStatuses() throws {
        let s = try ScratchFolder("dfc-status")
        defer { s.remove() }
        Self.expectError(try DFCProcess.run(["compile", "Fixtures/onnx/corrupted.onnx"]), status: 1, "corrupted")
        Self.expectError(
            try DFCProcess.run(["compile", "Fixtures/onnx/unsupported_ops.onnx"]), status: 3, "unsupported operators")
        Self.expectError(try DFCProcess.run(["compile", "no/such/model.onnx"]), status: 6, "no such file")
        Self.expectError(
            try DFCProcess.run(["compile", Self.tiny, "-o", s.path("missing/x.dfx")]), status: 6, "does not exist")
        Self.expectError(
            try DFCProcess.run(["run", s.path("none.dfx"), "--timing-only"]), status: 6, "cannot read file")
        Self.expectError(
            try DFCProcess.run(["compile", Self.tiny, "--accel", s.path("none.json")]), status: 6, "cannot read file")
        Self.expectError(
            try DFCProcess.run(["compare", "Fixtures/demo/resnet8.input.npy", "Fixtures/demo/resnet8.expected.npy"]),
            status: 5, "differs from")
        #expect(try DFCProcess.run(["--version"]).stdout == DFCVersion.string + "\n")
        #expect(try DFCProcess.run(["--version"]).status == 0)
        let help = try DFCProcess.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("Exit status:") && help.stdout.contains("6  I/O error"))
    }

    /// The need is exact: at that many KiB the layer tiles, at one KiB less it does not (and the error
    /// says the same need again).
    @Test("a layer that does not fit is named with the smallest SRAM it needs, exit status 4")
    func doesNotFit() throws {
        let s = try ScratchFolder("dfc-fit")
        defer { s.remove() }
        let out = ["-o", s.path("r.dfx")]
        let small = try DFCProcess.run(["compile", Self.resnet8, "--sram", "8KiB", "--no-fusion"] + out)
        Self.expectError(small, status: 4, "no tiling of this")
        let pattern = /node '([^']+)': .* it needs at least (\d+) KiB \(--sram (\d+)KiB\)/
        let match = try #require(try pattern.firstMatch(in: small.stderr), "\(small.stderr)")
        let (node, kib) = (String(match.1), try #require(Int(match.2)))
        #expect(kib > 8 && match.3 == match.2)
        let below = try DFCProcess.run(["compile", Self.resnet8, "--sram", "\(kib - 1)KiB", "--no-fusion"] + out)
        Self.expectError(below, status: 4, "node '\(node)'")
        #expect(below.stderr.contains("it needs at least \(kib) KiB"), "\(below.stderr)")
        let enough = try DFCProcess.run(["compile", Self.resnet8, "--sram", "\(kib)KiB", "--no-fusion"] + out)
        #expect(!enough.stderr.contains("node '\(node)'"), "\(enough.stderr)")
    }

    /// ResNet-8 at 32 KiB: each group the fuse dump says does not fit names what it needs; at that size
    /// the group tiles, one KiB below it still does not.
    @Test("the fuse dump says how much SRAM a group that does not fit would need")
    func fuseDumpNeed() throws {
        func dump(_ kib: Int) throws -> String {
            let result = try DFCProcess.run(["compile", Self.resnet8, "--sram", "\(kib)KiB", "--dump-ir", "fuse"])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        /// The layers of the segment the dump ends before `next`, and its end line.
        func segment(before next: String, in text: String) -> (layers: [Substring], end: Substring)? {
            let lines = text.split(separator: "\n")
            guard let k = lines.firstIndex(where: { $0.contains("the group with \(next) fits") }) else { return nil }
            let header = lines[k].components(separatedBy: "// ends:")[0]
            return ([Substring(header)] + lines[(k + 1)...].prefix { $0.hasPrefix("    ") }, lines[k])
        }
        let pattern = /no tiling of the group with (\S+) fits 32768 bytes of SRAM \(the group with it needs (\d+) KiB\)/
        let text = try dump(32)
        let matches = text.matches(of: pattern)
        #expect(!matches.isEmpty)
        for match in matches {
            let (next, kib) = (String(match.1), try #require(Int(match.2)))
            let layers = try #require(segment(before: next, in: text)).layers
            // Another SRAM size may partition the layers before `next` differently (a multi-output group, say):
            // the need is checked where the segment is the same one.
            let below = try dump(kib - 1)
            if let seen = segment(before: next, in: below), seen.layers == layers {
                #expect(
                    seen.end.contains("fits \((kib - 1) * 1024) bytes of SRAM (the group with it needs \(kib) KiB)"))
            }
            let enough = try dump(kib)
            if let seen = segment(before: next, in: enough) {
                #expect(seen.layers != layers, "\(seen.end)")
            }
        }
    }

    @Test("an unsupported operator names the opset and the nearest supported operators")
    func unsupportedSuggests() throws {
        let result = try DFCProcess.run(["compile", "Fixtures/onnx/unsupported_ops.onnx"])
        Self.expectError(result, status: 3, "unsupported operators in opset ")
        #expect(result.stderr.contains("Einsum (node: einsum_1; nearest supported: Sum)"), "\(result.stderr)")
        #expect(result.stderr.contains("TopK (node: topk_1)"), "\(result.stderr)")
        #expect(result.stderr.hasSuffix("(dfc compile --help lists the supported operators)\n"))
        #expect(OpKind.nearestSupported(to: "Relu6").first == "Relu")
        #expect(OpKind.nearestSupported(to: "HardTanh").contains("Tanh"))
        #expect(OpKind.nearestSupported(to: "LayerNormalization") == ["BatchNormalization"])
        #expect(OpKind.nearestSupported(to: "ReduceL2").allSatisfy { $0.hasPrefix("Reduce") })
        #expect(OpKind.nearestSupported(to: "Cos").isEmpty)
        #expect(OpKind.nearestSupported(to: String(repeating: "Relu", count: 1000)).isEmpty)
    }

    @Test("--input-shape for a name that is not an input lists the real ones")
    func inputShapeNames() throws {
        let result = try DFCProcess.run(["compile", Self.tiny, "--input-shape", "image=1x3x32x32"])
        Self.expectError(result, status: 1, "--input-shape names 'image', which is not a graph input (inputs: input ")
    }

    /// Each subcommand's --help ends with examples, a comment line then the command; each example
    /// parses as the command line it shows.
    @Test("every subcommand's --help shows an example that parses")
    func helpExamples() throws {
        for name in DFC.subcommandNames {
            let help = try DFCProcess.run([name, "--help"])
            #expect(help.status == 0)
            let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let start = try #require(lines.firstIndex(of: "Examples:"), "dfc \(name) --help has no examples")
            let examples = lines[(start + 1)...].prefix { !$0.isEmpty }
            let commands = examples.filter { $0.hasPrefix("dfc \(name) ") }
            #expect(!commands.isEmpty && examples.count == 2 * commands.count, "\(examples)")
            for command in commands {
                let words = command.split(separator: "|")[0].split(separator: " ").dropFirst().map(String.init)
                #expect(throws: Never.self, "\(command)") { _ = try DFC.parseAsRoot(words) }
            }
        }
    }

    @Test("--dump-ir takes its stages after a space too, and alone means every stage")
    func dumpIRSpace() throws {
        let spaced = try DFCProcess.run(["compile", Self.tiny, "--dump-ir", "infer-shapes,fuse"])
        #expect(spaced.status == 0, "\(spaced.stderr)")
        #expect(spaced.stdout.contains("// IR after infer-shapes") && spaced.stdout.contains("// schedule after fuse"))
        #expect(!spaced.stdout.contains("// IR after import"))
        let joined = try DFCProcess.run(["compile", Self.tiny, "--dump-ir=infer-shapes,fuse"])
        #expect(joined.stdout == spaced.stdout)
        // Before the model: a lone --dump-ir, and the model stays the positional argument.
        let all = try DFCProcess.run(["compile", "--dump-ir", Self.tiny])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("// IR after import") && all.stdout.contains("// schedule after emit"))
        #expect(DFC.normalize(["compile", "--dump-ir", "fuse", "m.onnx"]) == ["compile", "--dump-ir=fuse", "m.onnx"])
        #expect(DFC.normalize(["compile", "--dump-ir", "m.onnx"]) == ["compile", "--dump-ir=all", "m.onnx"])
        #expect(DFC.normalize(["compile", "m.onnx", "--dump-ir"]) == ["compile", "m.onnx", "--dump-ir=all"])
        #expect(DFC.normalize(["compile", "--", "--dump-ir"]) == ["compile", "--", "--dump-ir"])
        let help = try DFCProcess.run(["compile", "--help"])
        #expect(!help.stdout.contains("codegen"))
        for stage in Compile.stageNames { #expect(help.stdout.contains(stage)) }
    }
}
