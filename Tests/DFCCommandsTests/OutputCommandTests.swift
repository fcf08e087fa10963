import Accelerator
import Foundation
import TestSupport
import Testing

/// A `dfc` process a test can signal. It starts with SIGINT, SIGTERM, SIGHUP
/// and SIGPIPE at their default actions: a child inherits ignored signals, and
/// a test runner started in the background ignores SIGINT.
final class SpawnedDFC {
    enum Ending: Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    let pid: pid_t
    private(set) var ending: Ending?

    /// Standard output goes to /dev/null, standard error to `stderr`; paths should be absolute.
    init(_ arguments: [String], stderr: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), mask = sigset_t()
        sigemptyset(&defaults)
        sigemptyset(&mask)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let binary = DFCProcess.binary.path
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, binary, &actions, &attributes, argv, environ)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EINVAL) }
        self.pid = pid
    }

    /// Reaps the process if it has ended.
    @discardableResult
    func poll() -> Ending? {
        if ending == nil {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                ending = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
            }
        }
        return ending
    }

    /// How it ended, within `seconds`; one still running then is killed, and nil returned.
    func wait(seconds: Double) -> Ending? {
        let deadline = Date().addingTimeInterval(seconds)
        while poll() == nil && Date() < deadline { usleep(2000) }
        guard poll() == nil else { return ending }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return nil
    }
}

/// Output paths on the command line: `-`, symbolic links, FIFOs, directories,
/// signals during a compile, and compiles running side by side.
@Suite("dfc output files")
struct OutputCommandTests {
    static let tiny = "Fixtures/onnx/tiny_cnn.onnx"
    static let resnet8 = DFCProcess.repoRoot.appendingPathComponent("Fixtures/demo/resnet8.onnx").path

    static func bytes(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Compiles with `flags` into `folder` as PROG.dfx and PROG.json; returns their bytes.
    static func reference(
        _ model: String, _ flags: [String] = [], into folder: ScratchFolder, as name: String
    ) throws -> (program: [UInt8], report: [UInt8]) {
        let result = try DFCProcess.run(
            ["compile", model, "-o", folder.path("\(name).dfx"), "--report", folder.path("\(name).json")] + flags)
        #expect(result.status == 0, "\(result.stderr)")
        return (try #require(bytes(folder.path("\(name).dfx"))), try #require(bytes(folder.path("\(name).json"))))
    }

    static func expectOneErrorLine(_ result: DFCProcess.Result, _ message: String, status: Int32 = 2) {
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("dfc: error: ") && result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("- (and /dev/stdout) write -o, --report and --stats to standard output")
    func dashIsStandardOutput() throws {
        let s = try ScratchFolder("dfc-dash")
        defer { s.remove() }
        let reference = try Self.reference(Self.tiny, into: s, as: "tiny")

        let program = try DFCProcess.run(["compile", Self.tiny, "-o", "-"])
        #expect(program.status == 0, "\(program.stderr)")
        #expect(program.stdoutBytes == reference.program)
        #expect(!FileManager.default.fileExists(atPath: DFCProcess.repoRoot.appendingPathComponent("-").path))

        let report = try DFCProcess.run(["compile", Self.tiny, "--report", "-", "-o", s.path("again.dfx")])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdoutBytes == reference.report)
        #expect(Self.bytes(s.path("again.dfx")) == reference.program)

        let stats = try DFCProcess.run(["run", s.path("tiny.dfx"), "--timing-only", "--stats", "-"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(stats.stdoutBytes)) as? [String: Int]
        #expect(json?["cycles"] != nil, "\(stats.stdout)")

        // On Linux /dev/stdout is a symbolic link to /proc/self/fd/1: dfc writes the pipe, the link stays.
        let wasLink = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/dev/stdout")) != nil
        let device = try DFCProcess.run(["compile", Self.tiny, "--report", "/dev/stdout"])
        #expect(device.status == 0, "\(device.stderr)")
        #expect(device.stdoutBytes == reference.report)
        #expect(((try? FileManager.default.destinationOfSymbolicLink(atPath: "/dev/stdout")) != nil) == wasLink)
    }

    @Test(
        "two outputs on standard output, or one beside --dump-ir, are refused in one line",
        arguments: [
            (["-o", "-", "--report", "-"], "-o and --report are both '-': only one output can go to standard output"),
            (["--dump-ir=fuse", "--report", "-"], "--dump-ir prints to standard output, so --report cannot be '-'")
        ])
    func oneStandardOutput(flags: [String], message: String) throws {
        Self.expectOneErrorLine(try DFCProcess.run(["compile", Self.tiny] + flags), message)
    }

    @Test("a directory given as an output is refused before any work, and nothing is written")
    func directoryIsRefused() throws {
        let s = try ScratchFolder("dfc-directory")
        defer { s.remove() }
        let program = try Self.reference(Self.tiny, into: s, as: "tiny").program
        let out = s.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let compile = try DFCProcess.run(["compile", Self.tiny, "-o", out, "--report", s.path("out/r.json")])
        Self.expectOneErrorLine(compile, "is a directory", status: 6)
        #expect(compile.stderr == "dfc: error: \(out): is a directory\n")
        let run = try DFCProcess.run(["run", s.path("tiny.dfx"), "--timing-only", "--stats", out])
        #expect(run.stderr == "dfc: error: \(out): is a directory\n")
        #expect(run.status == 6)
        #expect(try s.entries("out").isEmpty)
        #expect(Self.bytes(s.path("tiny.dfx")) == program)
    }

    @Test("a symbolic link given as --report keeps pointing at its target, which gets the report")
    func symbolicLinkIsFollowed() throws {
        let s = try ScratchFolder("dfc-link")
        defer { s.remove() }
        let report = try Self.reference(Self.tiny, into: s, as: "tiny").report
        try Data("old".utf8).write(to: URL(fileURLWithPath: s.path("target.json")))
        symlink("target.json", s.path("link.json"))
        let result = try DFCProcess.run(["compile", Self.tiny, "--report", s.path("link.json")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.path("link.json")) == "target.json")
        #expect(Self.bytes(s.path("target.json")) == report)
        #expect(try s.entries() == ["link.json", "target.json", "tiny.dfx", "tiny.json"])
    }

    /// The program (317 KB) is five times a pipe's buffer: dfc must write it in pieces.
    @Test("a FIFO given as -o delivers the whole program to its reader and stays a FIFO")
    func fifoIsWrittenInPlace() throws {
        let s = try ScratchFolder("dfc-fifo")
        defer { s.remove() }
        let program = try Self.reference(Self.resnet8, into: s, as: "resnet8").program
        let fifo = s.path("program.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = FIFOReader(fifo)
        let result = try DFCProcess.run(["compile", Self.resnet8, "-o", fifo])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(reader.result(within: 30) == program)
        #expect(try s.entries() == ["program.fifo", "resnet8.dfx", "resnet8.json"])
    }

    /// The program is staged in `out/` first; with nobody reading the report's
    /// FIFO, dfc then waits in open(2), so the signal surely arrives while the
    /// temporary file exists.
    @Test("a signal while the program is staged removes its temporary file", arguments: [SIGINT, SIGTERM, SIGHUP])
    func signalRemovesTheTemporaryFile(signal: Int32) throws {
        let s = try ScratchFolder("dfc-signal")
        defer { s.remove() }
        try FileManager.default.createDirectory(atPath: s.path("out"), withIntermediateDirectories: false)
        #expect(mkfifo(s.path("report.fifo"), 0o600) == 0)
        let dfc = try SpawnedDFC(
            ["compile", Self.resnet8, "-o", s.path("out/p.dfx"), "--report", s.path("report.fifo")],
            stderr: s.path("stderr"))
        let deadline = Date().addingTimeInterval(60)
        while try s.entries("out").isEmpty && dfc.poll() == nil && Date() < deadline { usleep(2000) }
        let staged = try s.entries("out")
        #expect(staged.count == 1 && staged[0].hasPrefix(".p.dfx.tmp-\(dfc.pid)-"), "\(staged)")
        #expect(dfc.poll() == nil, "\((try? String(contentsOfFile: s.path("stderr"), encoding: .utf8)) ?? "")")
        kill(dfc.pid, signal)
        #expect(dfc.wait(seconds: 30) == .signalled(signal))
        #expect(try s.entries("out").isEmpty)
    }

    @Test("a reader that goes away ends dfc by SIGPIPE, and the staged report goes too")
    func brokenPipeRemovesTheTemporaryFile() throws {
        let s = try ScratchFolder("dfc-pipe")
        defer { s.remove() }
        try FileManager.default.createDirectory(atPath: s.path("out"), withIntermediateDirectories: false)
        let fifo = s.path("program.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opens, reads nothing and closes: the 317 KB program cannot fit the pipe's buffer.
        let reader = FIFOReader(fifo, limit: 0)
        let dfc = try SpawnedDFC(
            ["compile", Self.resnet8, "-o", fifo, "--report", s.path("out/r.json")], stderr: s.path("stderr"))
        #expect(dfc.wait(seconds: 60) == .signalled(SIGPIPE))
        #expect(reader.result(within: 30) == [])
        #expect(try s.entries("out").isEmpty)
    }

    /// Whenever the signal lands (before the handlers are installed, while
    /// compiling, while writing, after the renames), the folder holds whole
    /// files or nothing. The first signal comes before dfc can have finished.
    @Test("SIGINT or SIGTERM at any moment of a compile leaves whole files or none")
    func signalAtAnyMoment() throws {
        let s = try ScratchFolder("dfc-interrupt")
        defer { s.remove() }
        let reference = try Self.reference(Self.resnet8, into: s, as: "reference")
        var interrupted = 0
        for (i, delay) in [0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.25].enumerated() {
            let signal = i.isMultiple(of: 2) ? SIGINT : SIGTERM
            let out = "out\(i)"
            try FileManager.default.createDirectory(atPath: s.path(out), withIntermediateDirectories: false)
            let dfc = try SpawnedDFC(
                ["compile", Self.resnet8, "-o", s.path("\(out)/p.dfx"), "--report", s.path("\(out)/r.json")],
                stderr: s.path("stderr\(i)"))
            usleep(useconds_t(delay * 1e6))
            kill(dfc.pid, signal)
            let ending = dfc.wait(seconds: 60)
            #expect(ending == .signalled(signal) || ending == .exited(0), "\(String(describing: ending))")
            if ending == .signalled(signal) { interrupted += 1 }
            let entries = try s.entries(out)
            #expect(Set(entries).isSubset(of: ["p.dfx", "r.json"]), "no temporary or partial file: \(entries)")
            if ending == .exited(0) { #expect(entries == ["p.dfx", "r.json"]) }
            if entries.contains("p.dfx") { #expect(Self.bytes(s.path("\(out)/p.dfx")) == reference.program) }
            if entries.contains("r.json") { #expect(Self.bytes(s.path("\(out)/r.json")) == reference.report) }
        }
        #expect(interrupted > 0)
    }

    @Test("two compiles writing different files into one folder at once both succeed with their own bytes")
    func concurrentCompiles() throws {
        let s = try ScratchFolder("dfc-concurrent")
        defer { s.remove() }
        let flags = [[], ["--objective", "traffic"]]
        let references = try ["a", "b"].enumerated().map { i, name in
            try Self.reference(Self.resnet8, flags[i], into: s, as: "reference-\(name)")
        }
        try FileManager.default.createDirectory(atPath: s.path("out"), withIntermediateDirectories: false)
        let processes = try ["a", "b"].enumerated().map { i, name in
            try SpawnedDFC(
                ["compile", Self.resnet8, "-o", s.path("out/\(name).dfx"), "--report", s.path("out/\(name).json")]
                    + flags[i],
                stderr: s.path("stderr-\(name)"))
        }
        for dfc in processes { #expect(dfc.wait(seconds: 60) == .exited(0)) }
        #expect(try s.entries("out") == ["a.dfx", "a.json", "b.dfx", "b.json"])
        for (name, reference) in zip(["a", "b"], references) {
            #expect(Self.bytes(s.path("out/\(name).dfx")) == reference.program)
            #expect(Self.bytes(s.path("out/\(name).json")) == reference.report)
            _ = try Program.read(from: s.path("out/\(name).dfx")).validate()
        }
        #expect(references[0].program != references[1].program, "the two compiles write different programs")
    }
}
