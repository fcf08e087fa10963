import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Marks at the end of each phase of a compile (import, each pass, each
/// scheduling stage, verification, the write). With `DFC_MEMORY_TRACE` set,
/// each mark prints a line on standard error with the process's peak and
/// current resident memory, as Linux's /proc/self/status has them: where a
/// compile's peak memory comes from. While timing is on (`dfc compile
/// --profile`), each mark also records the wall-clock time since the mark
/// before it.
public enum PhaseTrace {
    static let memory = ProcessInfo.processInfo.environment["DFC_MEMORY_TRACE"] != nil

    private struct Clock {
        var timing = false
        var last: UInt64 = 0
        var phases: [(name: String, milliseconds: Double)] = []
    }
    private static let clock = Mutex(Clock())

    /// Starts timing: the first phase runs from now to the next mark.
    public static func startTiming() {
        clock.withLock { $0 = Clock(timing: true, last: DispatchTime.now().uptimeNanoseconds) }
    }

    /// Each phase's wall-clock milliseconds since `startTiming`, in order (a name marked twice appears twice).
    public static var timedPhases: [(name: String, milliseconds: Double)] { clock.withLock { $0.phases } }

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

    /// Ends phase `phase`: records its time while timing, and prints
    /// `dfc: memory: PHASE: peak P MiB, resident R MiB` with `DFC_MEMORY_TRACE`.
    public static func mark(_ phase: @autoclosure () -> String) {
        let now = DispatchTime.now().uptimeNanoseconds
        let timing = clock.withLock { $0.timing }
        guard timing || memory else { return }
        let name = phase()
        if timing {
            clock.withLock {
                $0.phases.append((name, Double(now - $0.last) / 1e6))
                $0.last = now
            }
        }
        guard memory, let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return }
        func mebibytes(_ key: String) -> String {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                let kilobytes = Int(line.dropFirst(key.count + 1).split(whereSeparator: \.isWhitespace).first ?? "")
            else { return "?" }
            return String(format: "%.1f", Double(kilobytes) / 1024)
        }
        let line = "dfc: memory: \(name): peak \(mebibytes("VmHWM")) MiB, resident \(mebibytes("VmRSS")) MiB\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
