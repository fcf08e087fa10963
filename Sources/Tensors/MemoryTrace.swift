import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// With `DFC_MEMORY_TRACE` set, a line on standard error per phase of a
/// compile (after import, after each pass, after scheduling, after writing)
/// giving the process's peak and current resident memory, as Linux's
/// /proc/self/status has them: where a compile's peak memory comes from.
public enum MemoryTrace {
    static let enabled = ProcessInfo.processInfo.environment["DFC_MEMORY_TRACE"] != nil

    /// Gives the pages malloc holds free back to the system. glibc keeps what a thread frees in that
    /// thread's arena, where another thread's allocations never reuse it: after the fusion search (which runs
    /// on every core) ResNet-50's compile held 15 MiB of such pages through the emission that follows.
    public static func releaseFreeMemory() { _ = mallocTrim?(0) }

    /// glibc's `malloc_trim`, which Swift's Glibc module does not export (it is in malloc.h); nil elsewhere.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
            return nil
        #endif
    }()

    /// Prints `dfc: memory: PHASE: peak P MiB, resident R MiB` when enabled.
    public static func note(_ phase: @autoclosure () -> String) {
        guard enabled, let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return }
        func mebibytes(_ key: String) -> String {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                let kilobytes = Int(line.dropFirst(key.count + 1).split(whereSeparator: \.isWhitespace).first ?? "")
            else { return "?" }
            return String(format: "%.1f", Double(kilobytes) / 1024)
        }
        let line = "dfc: memory: \(phase()): peak \(mebibytes("VmHWM")) MiB, resident \(mebibytes("VmRSS")) MiB\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
