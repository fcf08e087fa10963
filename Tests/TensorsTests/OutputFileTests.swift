import Foundation
import TestSupport
import Testing
@testable import Tensors

/// `OutputFile`: what dfc does with each kind of thing found at an output path.
@Suite struct OutputFileTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func read(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    static func kind(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    static func link(_ path: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    }

    @Test func replacesARegularFileKeepingItsPermissions() throws {
        let s = try ScratchFolder("output-regular")
        defer { s.remove() }
        let path = s.path("report.json")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        try OutputFile(path).write([Self.bytes("new "), [], Self.bytes("content")])
        #expect(try Self.read(path) == "new content")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try s.entries() == ["report.json"], "no temporary file is left")
    }

    /// A replaced file is swapped with the new one and removed (sparing ext4 its flush on a rename over a
    /// file): as with a rename, another hard link keeps the old contents and a reader that opened the
    /// old file still reads it whole.
    @Test func replacesAFileByNameOnly() throws {
        let s = try ScratchFolder("output-exchange")
        defer { s.remove() }
        let path = s.path("prog.dfx")
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: path))
        #expect(Glibc.link(path, s.path("kept.dfx")) == 0)
        let reader = try #require(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        try OutputFile(path).write([Self.bytes("new")])
        #expect(try Self.read(path) == "new")
        #expect(try Self.read(s.path("kept.dfx")) == "old contents")
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == "old contents")
        #expect(try s.entries() == ["kept.dfx", "prog.dfx"], "no temporary file is left")
    }

    /// `a/link -> ../b/link2 -> target.json`: each relative link is read from its own folder.
    @Test func followsAChainOfSymbolicLinksAndKeepsThem() throws {
        let s = try ScratchFolder("output-symlink")
        defer { s.remove() }
        for folder in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: s.path(folder), withIntermediateDirectories: false)
        }
        try Data("old".utf8).write(to: URL(fileURLWithPath: s.path("b/target.json")))
        symlink("../b/link2", s.path("a/link"))
        symlink("target.json", s.path("b/link2"))
        try OutputFile(s.path("a/link")).write([Self.bytes("new")])
        #expect(try Self.read(s.path("b/target.json")) == "new")
        #expect(Self.kind(s.path("a/link")) == S_IFLNK && Self.link(s.path("a/link")) == "../b/link2")
        #expect(Self.kind(s.path("b/link2")) == S_IFLNK && Self.link(s.path("b/link2")) == "target.json")
        #expect(try s.entries("a") == ["link"], "the temporary file went next to the target, not the link")
        #expect(try s.entries("b") == ["link2", "target.json"])
        #expect(try s.entries() == ["a", "b"])
    }

    @Test func aDanglingLinkGetsItsTargetCreated() throws {
        let s = try ScratchFolder("output-dangling")
        defer { s.remove() }
        symlink("new.json", s.path("link.json"))
        try OutputFile(s.path("link.json")).write([Self.bytes("made")])
        #expect(try Self.read(s.path("new.json")) == "made")
        #expect(Self.kind(s.path("link.json")) == S_IFLNK)
    }

    /// Four times a pipe's buffer, in pieces: the reader gets every byte, the FIFO stays a FIFO.
    @Test func writesAFIFOInPlace() throws {
        let s = try ScratchFolder("output-fifo")
        defer { s.remove() }
        let fifo = s.path("out.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let parts = (0..<4).map { part in (0..<65536).map { UInt8(truncatingIfNeeded: $0 * 7 + part) } }
        let reader = FIFOReader(fifo)
        try OutputFile(fifo).write(parts)
        #expect(reader.result(within: 30) == Array(parts.joined()))
        #expect(Self.kind(fifo) == S_IFIFO)
        #expect(try s.entries() == ["out.fifo"])
    }

    /// `/dev/fd/N` is the process's own descriptor: an append-mode log is appended to, not replaced.
    @Test func writesADescriptorWhereItStands() throws {
        let s = try ScratchFolder("output-descriptor")
        defer { s.remove() }
        let log = s.path("log.txt")
        try Data("before\n".utf8).write(to: URL(fileURLWithPath: log))
        let descriptor = open(log, O_WRONLY | O_APPEND)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        try OutputFile("/dev/fd/\(descriptor)").write([Self.bytes("after\n")])
        #expect(try Self.read(log) == "before\nafter\n")
        #expect(try s.entries() == ["log.txt"])
        #expect(OutputFile("/dev/stdout").destinationForTesting == .descriptor(STDOUT_FILENO))
        #expect(OutputFile("-").destinationForTesting == .descriptor(STDOUT_FILENO))
    }

    @Test func refusesWhatItMustNotReplaceNamingThePath() throws {
        let s = try ScratchFolder("output-refuse")
        defer { s.remove() }
        try FileManager.default.createDirectory(atPath: s.path("dir"), withIntermediateDirectories: false)
        symlink("dir", s.path("dirlink"))
        symlink("loop2", s.path("loop1"))
        symlink("loop1", s.path("loop2"))
        let cases: [(String, String)] = [
            (s.path("dir"), "is a directory"),
            (s.path("dirlink"), "is a directory (\(s.path("dir")), where the symbolic link leads)"),
            (s.path("missing/out.json"), "cannot create the file: its folder \(s.path("missing")) does not exist"),
            (s.path("loop1"), "too many levels of symbolic links"),
            ("/dev/fd/999", "descriptor 999 is not open")
        ]
        for (path, message) in cases {
            let error = #expect(throws: DFCError.self) { try OutputFile(path).write([Self.bytes("x")]) }
            #expect(error == DFCError(message, file: path, kind: .io))
        }
        #expect(try s.entries() == ["dir", "dirlink", "loop1", "loop2"])
        #expect(try s.entries("dir").isEmpty)
    }

    /// A failure after the other files were written to their temporary files leaves every path as it was.
    @Test func writesAllOrNone() throws {
        let s = try ScratchFolder("output-batch")
        defer { s.remove() }
        try Data("old".utf8).write(to: URL(fileURLWithPath: s.path("kept.json")))
        let readOnly = open(s.path("kept.json"), O_RDONLY)
        defer { close(readOnly) }
        let outputs: [(file: OutputFile, parts: [[UInt8]])] = [
            (OutputFile(s.path("new.dfx")), [Self.bytes("program")]),
            (OutputFile(s.path("kept.json")), [Self.bytes("report")]),
            (OutputFile("/dev/fd/\(readOnly)"), [Self.bytes("cannot be written")])
        ]
        let error = #expect(throws: DFCError.self) { try OutputFile.write(outputs) }
        #expect(error?.file == "/dev/fd/\(readOnly)")
        #expect(error?.message.hasPrefix("cannot write: ") == true, "\(String(describing: error))")
        #expect(try s.entries() == ["kept.json"])
        #expect(try Self.read(s.path("kept.json")) == "old")
    }

    @Test func onlyOneOutputMayBeStandardOutput() throws {
        let files = [
            OutputFile("-", option: "-o"), OutputFile("r.json", option: "--stats"), OutputFile("-", option: "--report")
        ]
        let error = #expect(throws: DFCError.self) { try OutputFile.check(files) }
        #expect(
            error == DFCError("-o and --report are both '-': only one output can go to standard output", kind: .usage))
    }
}

extension OutputFile {
    fileprivate var destinationForTesting: Destination? { try? destination() }
}
