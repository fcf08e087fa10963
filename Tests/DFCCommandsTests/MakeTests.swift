import Foundation
import TestSupport
import Testing

@testable import DFCCommands

/// `dfc compile -MD/-MF` and `-q`, and docs/Makefile.example driven by a real `make -j2`.
@Suite("make: depfiles, -q, docs/Makefile.example")
struct MakeTests {
    static let fixtures = DFCProcess.repoRoot.appendingPathComponent("Fixtures/onnx")

    /// Copies fixtures (a model and its side files) into `folder`.
    static func copy(_ names: [String], into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(
                atPath: fixtures.appendingPathComponent(name).path, toPath: folder + "/" + name)
        }
    }

    /// Runs `make arguments` in `folder`.
    static func make(_ arguments: [String], in folder: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["make"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static func modified(_ path: String) throws -> Date {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    }

    /// Sets `path`'s modification time to now: later than anything make saw before.
    static func touch(_ path: String) throws {
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: path)
    }

    @Test("make's escaping: spaces, #, : and $ in paths")
    func escaping() {
        #expect(DepFile.escape("models/a b.onnx") == "models/a\\ b.onnx")
        #expect(DepFile.escape("a#b$c:d") == "a\\#b$$c\\:d")
        // Backslashes right before a space are doubled; others stay.
        #expect(DepFile.escape("a\\ b\\c") == "a\\\\\\ b\\c")
        #expect(DepFile.path(besides: "out/net.dfx") == "out/net.d")
        #expect(DepFile.path(besides: "out.v2/net") == "out.v2/net.d")
        #expect(DepFile.path(besides: "out/.hidden") == "out/.hidden.d")
    }

    /// A model with external data in a folder whose name has a space, an accelerator JSON file:
    /// the depfile names all three, and a real make reads it (a changed data file makes the program stale).
    @Test("-MD names the model, its external data and the --accel JSON; make reads it")
    func depfileNamesWhatWasRead() throws {
        let s = try ScratchFolder("dfc-md")
        defer { s.remove() }
        try Self.copy(["external_data.onnx", "external_data.bin"], into: s.path("my models"))
        try Data(#"{"base": "df1", "sram_bytes": "512KiB"}"#.utf8).write(to: s.url.appendingPathComponent("acc.json"))
        let model = s.path("my models/external_data.onnx")
        let result = try DFCProcess.run([
            "compile", model, "-o", s.path("net.dfx"), "--report", s.path("net.json"), "--accel", s.path("acc.json"),
            "-MD"
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let escaped = { (path: String) in path.replacingOccurrences(of: " ", with: "\\ ") }
        let expected = """
            \(s.path("net.dfx")) \(s.path("net.json")): \(escaped(model)) \\
             \(escaped(s.path("my models/external_data.bin"))) \\
             \(s.path("acc.json"))

            \(escaped(s.path("my models/external_data.bin"))):

            \(s.path("acc.json")):

            """
        #expect(try String(contentsOfFile: s.path("net.d"), encoding: .utf8) == expected)

        // make -q: 0 when the program is up to date, 1 when a prerequisite is newer.
        try Data("\(s.path("net.dfx")):\n\t@echo rebuild\ninclude net.d\n".utf8)
            .write(to: s.url.appendingPathComponent("Makefile"))
        #expect(try Self.make(["-q", s.path("net.dfx")], in: s.path).status == 0)
        try Self.touch(s.path("my models/external_data.bin"))
        #expect(try Self.make(["-q", s.path("net.dfx")], in: s.path).status == 1)
        // -MP's empty rules: a data file that is gone makes the program stale, not make fail.
        try FileManager.default.removeItem(atPath: s.path("acc.json"))
        let gone = try Self.make([s.path("net.dfx")], in: s.path)
        #expect(gone.status == 0 && gone.output.contains("rebuild"), "\(gone.output)")
    }

    @Test("-MF names the depfile; a preset --accel is no file; -MD needs a file to name")
    func depfileOptions() throws {
        let s = try ScratchFolder("dfc-mf")
        defer { s.remove() }
        let tiny = "Fixtures/onnx/tiny_cnn.onnx"
        let written = try DFCProcess.run(["compile", tiny, "-o", s.path("t.dfx"), "-MF", s.path("deps.mk")])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: s.path("deps.mk"), encoding: .utf8) == "\(s.path("t.dfx")): \(tiny)\n")
        #expect(!FileManager.default.fileExists(atPath: s.path("t.d")))
        let reportOnly = try DFCProcess.run(["compile", tiny, "--report", s.path("r.json"), "-MF", s.path("r.d")])
        #expect(try String(contentsOfFile: s.path("r.d"), encoding: .utf8) == "\(s.path("r.json")): \(tiny)\n")
        #expect(reportOnly.status == 0)

        for (flags, message) in [
            (["-o", "-", "-MD"], "-MD and -MF need -o PROG.dfx or --report FILE naming a file"),
            (["--report", s.path("x.json"), "-MD"], "-MD names the depfile after -o PROG.dfx"),
            (["-MF", s.path("x.d")], "-MD and -MF need -o PROG.dfx or --report FILE")
        ] {
            let result = try DFCProcess.run(["compile", tiny] + flags)
            #expect(result.status == 2, "\(flags): \(result.stderr)")
            #expect(result.stderr.hasPrefix("dfc: error: ") && result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try s.entries() == ["deps.mk", "r.d", "r.json", "t.dfx"])
    }

    @Test("-q prints nothing on success; without it the verify line names the model")
    func quiet() throws {
        let s = try ScratchFolder("dfc-quiet")
        defer { s.remove() }
        let model = "Fixtures/onnx/symbolic_batch.onnx"
        let loud = try DFCProcess.run(["compile", model, "-o", s.path("a.dfx"), "--verify"])
        #expect(loud.status == 0, "\(loud.stderr)")
        #expect(loud.stderr.contains("dfc: note: \(model): "), "\(loud.stderr)")
        #expect(loud.stderr.contains("verify: \(model): 1 output matches the reference interpreter"), "\(loud.stderr)")
        let quiet = try DFCProcess.run(["compile", model, "-o", s.path("b.dfx"), "--verify", "-q"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout.isEmpty, "\(quiet.stderr)")
        #expect(
            FileManager.default.contents(atPath: s.path("a.dfx"))
                == FileManager.default.contents(atPath: s.path("b.dfx")))
    }

    /// docs/Makefile.example over two models, one with external data: a real `make -j2` builds both;
    /// a second run does nothing; touching the external data file rebuilds that model only.
    @Test("docs/Makefile.example: make -j2, then only the model whose external data changed rebuilds")
    func makefileExample() throws {
        let s = try ScratchFolder("dfc-make")
        defer { s.remove() }
        try Self.copy(["tiny_cnn.onnx", "external_data.onnx", "external_data.bin"], into: s.path("models"))
        try FileManager.default.copyItem(
            atPath: DFCProcess.repoRoot.appendingPathComponent("docs/Makefile.example").path, toPath: s.path("Makefile")
        )
        let dfc = "DFC=\(DFCProcess.binary.path)"

        let first = try Self.make(["-j2", dfc], in: s.path)
        #expect(first.status == 0, "\(first.output)")
        let programs = ["tiny_cnn", "external_data"].map { s.path("out/\($0).dfx") }
        for program in programs {
            #expect(FileManager.default.fileExists(atPath: program), "\(first.output)")
        }
        #expect(try s.entries("out").filter { $0.hasSuffix(".d") } == ["external_data.d", "tiny_cnn.d"])
        let before = try programs.map(Self.modified)

        let again = try Self.make(["-j2", dfc], in: s.path)
        #expect(again.status == 0 && !again.output.contains("compile"), "\(again.output)")
        #expect(try programs.map(Self.modified) == before)

        try Self.touch(s.path("models/external_data.bin"))
        let rebuilt = try Self.make(["-j2", dfc], in: s.path)
        #expect(rebuilt.status == 0, "\(rebuilt.output)")
        #expect(rebuilt.output.contains("models/external_data.onnx") && !rebuilt.output.contains("tiny_cnn"))
        let after = try programs.map(Self.modified)
        #expect(after[0] == before[0], "tiny_cnn.dfx was rebuilt")
        #expect(after[1] > before[1], "external_data.dfx was not rebuilt")
    }
}
