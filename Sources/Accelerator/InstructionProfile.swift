import Foundation

/// CPU time (of the calling thread) of the functional model per kind of instruction, printed
/// on standard error after a run when `DFC_EXECUTOR_PROFILE` is set: where
/// the arithmetic goes, for whoever makes it faster.
struct InstructionProfile {
    static let enabled = ProcessInfo.processInfo.environment["DFC_EXECUTOR_PROFILE"] != nil

    private var rows: [String: (count: Int, nanoseconds: UInt64, work: Int)] = [:]

    /// Runs `body(op)`, adding its time to the row of the op's kind.
    mutating func measure(_ op: Op, _ body: (Op) -> Void) {
        let start = Self.threadNanoseconds()
        body(op)
        let elapsed = Self.threadNanoseconds() - start
        let key = Self.kind(op)
        var row = rows[key] ?? (0, 0, 0)
        row.count += 1
        row.nanoseconds += elapsed
        if case .conv(let c) = op {
            row.work += c.output.elements * c.input.channels / c.groups * c.kernelH * c.kernelW
        } else if case .matmul(let m) = op {
            row.work += m.m * m.n * m.k
        }
        rows[key] = row
    }

    /// Runs `body`, printing its thread's CPU time and wall time when profiling.
    static func timed<T>(_ name: String, _ body: () -> T) -> T {
        guard enabled else { return body() }
        let (start, wall) = (threadNanoseconds(), DispatchTime.now().uptimeNanoseconds)
        let result = body()
        let text = String(
            format: "instructions: %@ cpu %.2f ms wall %.2f ms\n", name, Double(threadNanoseconds() - start) / 1e6,
            Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e6)
        FileHandle.standardError.write(Data(text.utf8))
        return result
    }

    /// CPU time of the calling thread: the work of a run on one core (`taskset -c 0`), whatever else runs.
    static func threadNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// The op's name, and for a CONV its kind of product (depthwise, 1x1, gathered taps).
    static func kind(_ op: Op) -> String {
        guard case .conv(let c) = op else { return op.opcode.mnemonic }
        if c.input.channels / c.groups == 1 && c.groups > 1 { return "conv.depthwise" }
        if c.kernelH == 1 && c.kernelW == 1 && c.strideH == 1 && c.strideW == 1 { return "conv.1x1" }
        return "conv.\(c.kernelH)x\(c.kernelW)s\(c.strideH)"
    }

    func print() {
        let total = rows.values.reduce(0) { $0 + $1.nanoseconds }
        var text = ""
        for (key, row) in rows.sorted(by: { $0.value.nanoseconds > $1.value.nanoseconds }) {
            let ms = Double(row.nanoseconds) / 1e6
            let rate =
                row.work > 0 ? String(format: " %7.1f GFLOP/s", 2 * Double(row.work) / Double(row.nanoseconds)) : ""
            text +=
                String(
                    format: "instructions: %-16@ %6d %9.2f ms %5.1f%%", key, row.count, ms,
                    100 * Double(row.nanoseconds) / Double(max(total, 1))) + rate + "\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }
}
