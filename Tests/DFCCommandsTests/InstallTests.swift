import DFCCommands
import Foundation
import TestSupport
import Testing

/// `make install-files` (what `make install` runs after building) into a scratch DESTDIR: dfc, the man
/// page and the bash, zsh and fish completions, each checked by the tool that reads it where it can be.
@Suite("make install: dfc, man page, completions")
struct InstallTests {
    static let installed = [
        "bin/dfc", "share/man/man1/dfc.1", "share/bash-completion/completions/dfc", "share/zsh/site-functions/_dfc",
        "share/fish/vendor_completions.d/dfc.fish"
    ]

    /// Runs `executable arguments`; standard output and standard error apart.
    static func run(_ executable: String, _ arguments: [String], in folder: URL = DFCProcess.repoRoot) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        process.currentDirectoryURL = folder
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
    }

    static var hasGroff: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/groff") }

    @Test("a staged install holds dfc, its man page and completions for every subcommand")
    func stagedInstall() throws {
        let stage = try ScratchFolder("dfc-install")
        defer { stage.remove() }
        let bin = DFCProcess.binary.deletingLastPathComponent().path
        let make = try Self.run(
            "make", ["-s", "install-files", "BIN=\(bin)", "DESTDIR=\(stage.path)", "PREFIX=/usr/local"])
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        let root = stage.path + "/usr/local/"
        for file in Self.installed {
            #expect(FileManager.default.fileExists(atPath: root + file), "\(file) is not installed")
        }
        #expect(FileManager.default.isExecutableFile(atPath: root + "bin/dfc"))
        let version = try Self.run(root + "bin/dfc", ["--version"])
        #expect(version.status == 0 && version.stdout == DFCVersion.string + "\n", "\(version)")

        let subcommands = DFC.subcommandNames
        #expect(subcommands.contains("compile") && subcommands.contains("run"))
        let page = try String(contentsOfFile: root + "share/man/man1/dfc.1", encoding: .utf8)
        for name in subcommands { #expect(page.contains(".SS \"dfc \(name)\""), "the man page has no \(name)") }
        let zsh = try String(contentsOfFile: root + "share/zsh/site-functions/_dfc", encoding: .utf8)
        let fish = try String(contentsOfFile: root + "share/fish/vendor_completions.d/dfc.fish", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef dfc"))
        for name in subcommands {
            #expect(zsh.contains("'\(name):"), "zsh completion lacks \(name)")
            #expect(fish.contains("-fa '\(name)'"), "fish completion lacks \(name)")
        }
        for flag in ["MD", "dump-ir", "verify"] { #expect(zsh.contains(flag) && fish.contains(flag), "\(flag)") }

        // bash: the installed script, sourced, completes subcommands and options.
        let bash = root + "share/bash-completion/completions/dfc"
        func complete(_ words: [String]) throws -> [String] {
            let script = """
                source '\(bash)'
                f=$(complete -p dfc | sed -e 's/.*-F \\([^ ]*\\) .*/\\1/')
                COMP_WORDS=(\(words.map { "'\($0)'" }.joined(separator: " "))); COMP_CWORD=\(words.count - 1)
                COMP_LINE='\(words.joined(separator: " "))'; COMP_POINT=${#COMP_LINE}
                "$f" dfc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let result = try Self.run("bash", ["-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: "\n").map(String.init).sorted()
        }
        #expect(try complete(["dfc", "co"]) == subcommands.filter { $0.hasPrefix("co") }.sorted())
        #expect(try complete(["dfc", "compile", "--dump"]) == ["--dump-ir"])
        #expect(try complete(["dfc", "compile", "-M"]).contains("-MD"))
    }

    /// groff reads the page without a warning; the text has every section and the exit statuses.
    @Test("the man page renders with groff, warnings off nothing", .enabled(if: hasGroff))
    func manPageRenders() throws {
        let folder = try ScratchFolder("dfc-man")
        defer { folder.remove() }
        try Data(try ManualPage.render().utf8).write(to: folder.url.appendingPathComponent("dfc.1"))
        let rendered = try Self.run("groff", ["-man", "-Tutf8", "-ww", "-P-cbou", folder.path("dfc.1")])
        #expect(rendered.status == 0 && rendered.stderr.isEmpty, "\(rendered.stderr)")
        let text = rendered.stdout
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS"] {
            #expect(text.contains("\n\(heading)\n"), "no \(heading)")
        }
        for name in DFC.subcommandNames { #expect(text.contains("dfc \(name)"), "no dfc \(name)") }
        for option in ["-MD", "-MF", "--dump-ir", "--input-shape", "-q, --quiet", "Examples:", "dfc compile model.onnx"]
        {
            #expect(text.contains(option), "the page lacks \(option)")
        }
        for kind in [1, 2, 3, 4, 5, 6] { #expect(text.contains("\n       \(kind)"), "exit status \(kind)") }
        #expect(text.contains("does not fit: a layer needs more SRAM than the accelerator has"))
    }
}
