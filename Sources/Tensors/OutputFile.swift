import CTempFiles
import Foundation

/// A file dfc writes (a program, a report, statistics, an output tensor),
/// named by a path as the user gave it. What happens depends on what is there:
///
/// - `-` is standard output.
/// - A regular file, or nothing yet, is replaced atomically: the bytes go to a
///   temporary file in the same folder, which is then renamed over the path,
///   so readers see the old file or the whole new one, never a part. A
///   replaced file keeps its permission bits.
/// - A symbolic link is followed to the end of its chain (a relative link
///   relative to the link's folder) and its target is replaced that way, in
///   the target's folder; the link stays a link.
/// - Anything else that can be written (a FIFO, a terminal, `/dev/null`) is
///   written in place: opened without truncation, never replaced.
///   `/dev/stdout`, `/dev/stderr` and `/dev/fd/N` write to the process's own
///   descriptor, so `>>` appends and a socket works.
/// - A directory or a socket is an error naming the path.
///
/// Temporary files are named `.NAME.tmp-PID-N` and registered with a signal
/// handler (`CTempFiles`) that removes them when SIGINT, SIGTERM, SIGHUP or
/// SIGPIPE ends the process, so none is left behind.
public struct OutputFile: Sendable, Hashable {
    /// The path as the user gave it; errors name it.
    public let path: String
    /// The option that named the file (`-o`, `--report`), for the error when two are `-`.
    public let option: String?

    public init(_ path: String, option: String? = nil) {
        self.path = path
        self.option = option
    }

    public var isStandardOutput: Bool { path == "-" }

    /// Checks, before any work is done, that every file can be written the
    /// way it would be now, and that at most one of them is `-`.
    public static func check(_ files: [OutputFile]) throws {
        _ = try destinations(of: files)
    }

    private static func destinations(of files: [OutputFile]) throws -> [Destination] {
        let standard = files.filter(\.isStandardOutput)
        if standard.count > 1 {
            let options = standard.map { $0.option ?? "an output" }
            let both = standard.count == 2 ? "both" : "all"
            throw DFCError(
                "\(options.dropLast().joined(separator: ", ")) and \(options.last!) are \(both) '-': only one output can go to standard output",
                kind: .usage)
        }
        return try files.map { try $0.destination() }
    }

    /// Writes the concatenation of `parts` (never joined in memory).
    public func write(_ parts: [any ByteChunks]) throws {
        try Self.write([(self, parts)])
    }

    /// Writes several files, all or none as far as the system allows: every
    /// file to be replaced is first written to its temporary file, then the
    /// ones written in place are written, then the temporary files are renamed.
    /// A failure before the renames leaves every path as it was.
    public static func write(_ outputs: [(file: OutputFile, parts: [[UInt8]])]) throws {
        try write(outputs.map { (file: $0.file, parts: $0.parts.map { $0 as any ByteChunks }) })
    }

    /// `write(_:)` for parts of any kind. `check` runs once every byte is written and before any file is
    /// replaced, and after a failed write (its error, naming what was read, then wins): what the parts were
    /// read from must not have changed meanwhile (`Tensor.checkSources`).
    public static func write(
        _ outputs: [(file: OutputFile, parts: [any ByteChunks])], check: () throws -> Void = {}
    ) throws {
        let destinations = try destinations(of: outputs.map(\.file))
        var staged: [TemporaryFile] = []
        defer { for temporary in staged { temporary.remove() } }
        do {
            for (output, destination) in zip(outputs, destinations) {
                guard case .replaced(let target, let mode) = destination else { continue }
                staged.append(try TemporaryFile(replacing: target, mode: mode, parts: output.parts, for: output.file))
            }
            for (output, destination) in zip(outputs, destinations) {
                switch destination {
                case .descriptor(let descriptor):
                    try output.file.throwIfFailed(writeFully(descriptor, output.parts), "cannot write")
                case .inPlace(let target):
                    try output.file.writeInPlace(target, output.parts)
                case .replaced: break
                }
            }
        } catch {
            try check()
            throw error
        }
        try check()
        while !staged.isEmpty {
            try staged[0].commit()
            staged.removeFirst()
        }
    }

    // MARK: What is at the path

    enum Destination: Equatable {
        /// One of the process's open descriptors: standard output for `-`, `/dev/stdout`, `/dev/fd/N`.
        case descriptor(Int32)
        /// A FIFO or a device, opened without truncation and written where it stands.
        case inPlace(String)
        /// A regular file or a new one (the end of any chain of symbolic links),
        /// replaced by a temporary file renamed over it; `mode` is the replaced file's.
        case replaced(String, mode: mode_t?)
    }

    /// Where the bytes go, following symbolic links one at a time.
    func destination() throws -> Destination {
        if isStandardOutput { return .descriptor(STDOUT_FILENO) }
        guard !path.isEmpty else { throw DFCError("\(option ?? "an output") is an empty path", kind: .usage) }
        var current = path
        for _ in 0..<40 {  // Linux's limit (MAXSYMLINKS)
            if let descriptor = Self.descriptorNumber(current) {
                guard fcntl(descriptor, F_GETFL) >= 0 else {
                    throw problem("descriptor \(descriptor) is not open", at: current)
                }
                return .descriptor(descriptor)
            }
            var info = stat()
            guard lstat(current, &info) == 0 else {
                guard errno == ENOENT else { throw problem(Self.describe(errno), at: current) }
                try checkFolder(of: current)
                return .replaced(current, mode: nil)
            }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                guard let target = Self.linkTarget(current) else { throw problem(Self.describe(errno), at: current) }
                current = target
            case S_IFREG: return .replaced(current, mode: info.st_mode & 0o777)
            case S_IFDIR: throw problem("is a directory", at: current)
            case S_IFSOCK: throw problem("is a socket, which dfc cannot open", at: current)
            default: return .inPlace(current)
            }
        }
        throw problem("too many levels of symbolic links", at: current)
    }

    /// `N` for `/dev/fd/N`, `/proc/self/fd/N`, and 1 and 2 for `/dev/stdout` and `/dev/stderr`.
    static func descriptorNumber(_ path: String) -> Int32? {
        switch path {
        case "/dev/stdout": return STDOUT_FILENO
        case "/dev/stderr": return STDERR_FILENO
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
                return Int32(path.dropFirst(prefix.count))
            }
            return nil
        }
    }

    /// The path a symbolic link points to; a relative one is taken from the link's folder.
    static func linkTarget(_ link: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(link, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard !target.hasPrefix("/"), let slash = link.lastIndex(of: "/") else { return target }
        return String(link[...slash]) + target
    }

    /// A new file needs a folder to be created in.
    private func checkFolder(of target: String) throws {
        let slash = target.lastIndex(of: "/")
        let folder = slash.map { $0 == target.startIndex ? "/" : String(target[..<$0]) } ?? "."
        var info = stat()
        guard stat(folder, &info) == 0 else {
            let reason = errno == ENOENT ? "its folder \(folder) does not exist" : "\(folder): \(Self.describe(errno))"
            throw problem("cannot create the file: \(reason)", at: target)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw problem("cannot create the file: \(folder) is not a directory", at: target)
        }
    }

    /// An error naming the path the user gave, and where a symbolic link led when it differs.
    func problem(_ message: String, at target: String) -> DFCError {
        DFCError(
            target == path ? message : "\(message) (\(target), where the symbolic link leads)", file: path, kind: .io)
    }

    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    // MARK: Writing

    /// Throws `what: strerror` naming the path unless `code` is 0.
    fileprivate func throwIfFailed(_ code: Int32, _ what: String) throws {
        guard code == 0 else { throw DFCError("\(what): \(Self.describe(code))", file: path, kind: .io) }
    }

    private func writeInPlace(_ target: String, _ parts: [any ByteChunks]) throws {
        // No O_CREAT, no O_TRUNC: a FIFO blocks here until its reader opens it.
        var descriptor: Int32
        repeat { descriptor = open(target, O_WRONLY | O_CLOEXEC) } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else { throw problem("cannot open: \(Self.describe(errno))", at: target) }
        let failure = writeFully(descriptor, parts)
        let closed = close(descriptor) == 0 ? 0 : errno
        try throwIfFailed(failure != 0 ? failure : closed, "cannot write")
    }
}

/// A temporary file next to the file it will replace, registered for removal
/// on a signal from before it exists until it is renamed or removed.
private struct TemporaryFile {
    let output: OutputFile
    let target: String
    let path: String
    let slot: Int32

    init(replacing target: String, mode: mode_t?, parts: [any ByteChunks], for output: OutputFile) throws {
        self.output = output
        self.target = target
        let slash = target.lastIndex(of: "/")
        let folder = slash.map { String(target[...$0]) } ?? ""
        let name = slash.map { String(target[target.index(after: $0)...]) } ?? target
        let process = getpid()
        var descriptor: Int32 = -1
        var candidate = "", slot: Int32 = -1
        // A name left by a killed process that had this pid is skipped, not reused.
        for _ in 0..<100 {
            candidate = "\(folder).\(name).tmp-\(process)-\(dfc_temp_file_serial())"
            slot = dfc_temp_file_register(candidate)
            guard slot >= 0 else {
                throw DFCError("cannot register a temporary file (too many at once)", file: output.path, kind: .io)
            }
            descriptor = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if descriptor >= 0 { break }
            let failure = errno
            dfc_temp_file_forget(slot)
            guard failure == EEXIST || failure == EINTR else {
                throw output.problem("cannot create a file next to it: \(OutputFile.describe(failure))", at: target)
            }
        }
        guard descriptor >= 0 else { throw output.problem("cannot find a free temporary name", at: target) }
        (path, self.slot) = (candidate, slot)
        var failure = mode.map { fchmod(descriptor, $0) == 0 ? 0 : errno } ?? 0
        let count = parts.reduce(0) { $0 + $1.count }
        // Only a hint: where the system cannot reserve, the writes report what goes wrong.
        if failure == 0, count >= Self.preallocatedBytes { _ = dfc_preallocate(descriptor, Int64(count)) }
        if failure == 0 { failure = writeFully(descriptor, parts) }
        if close(descriptor) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            remove()
            try output.throwIfFailed(failure, "cannot write")
        }
    }

    /// Renames the file over its target; on failure the caller removes it. A regular file there is swapped
    /// with it and then removed instead (`dfc_exchange_files` says why), where the system can.
    func commit() throws {
        var info = stat()
        if lstat(target, &info) == 0, info.st_mode & S_IFMT == S_IFREG, dfc_exchange_files(path, target) == 0 {
            // `path` now names what was at the target: a regular file, unless it changed in between; then
            // the two are swapped back and renamed as usual.
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
                unlink(path)
                dfc_temp_file_forget(slot)
                return
            }
            _ = dfc_exchange_files(path, target)
        }
        guard rename(path, target) == 0 else {
            throw output.problem("cannot replace: \(OutputFile.describe(errno))", at: target)
        }
        dfc_temp_file_forget(slot)
    }

    /// The size from which a file's blocks are reserved before it is written (`dfc_preallocate` says why).
    static let preallocatedBytes = 1 << 20

    func remove() {
        unlink(path)
        dfc_temp_file_forget(slot)
    }
}

/// Writes every byte of `parts` to `descriptor`, through partial writes and
/// interruptions; returns 0 or the `errno` of the failure.
private func writeFully(_ descriptor: Int32, _ parts: [any ByteChunks]) -> Int32 {
    for bytes in parts {
        let failure = bytes.forEachChunk { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return 0
        }
        if failure != 0 { return failure }
    }
    return 0
}

/// Bytes handed out in order as contiguous chunks, never joined in memory: what
/// `OutputFile` writes. An array is one chunk; a program's constants segment
/// is its tensors, each from where it is.
public protocol ByteChunks {
    /// The number of bytes handed out in all.
    var count: Int { get }
    /// Calls `body` with each chunk in order until one returns non-zero, and returns that (0 after the last).
    func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32
}

extension Array: ByteChunks where Element == UInt8 {
    public func forEachChunk(_ body: (UnsafeRawBufferPointer) -> Int32) -> Int32 { withUnsafeBytes(body) }
}
