import Foundation
import GraphIR

/// The one place where the interpreter shares memory across threads: tasks
/// that each write a disjoint part of one output buffer.
enum Parallel {
    /// A buffer that tasks write disjoint parts of; bounds-checked in debug builds.
    struct Shared<Element>: @unchecked Sendable {
        let base: UnsafeMutablePointer<Element>
        let count: Int

        subscript(index: Int) -> Element {
            get {
                assert(index >= 0 && index < count)
                return base[index]
            }
            nonmutating set {
                assert(index >= 0 && index < count)
                base[index] = newValue
            }
        }

        /// A pointer to `base + offset`, for inner loops over `length` elements.
        func pointer(at offset: Int, length: Int) -> UnsafeMutablePointer<Element> {
            assert(offset >= 0 && length >= 0 && offset + length <= count)
            return base + offset
        }
    }

    /// Runs `task(i)` for every `i` in `0..<tasks`, spread over the cores
    /// when there is more than one task. Each task must write only its own
    /// part of `buffer`.
    static func forEach<Element>(
        _ tasks: Int, writing buffer: inout [Element],
        _ task: (Int, Shared<Element>) -> Void
    ) {
        guard !buffer.isEmpty, tasks > 0 else { return }
        buffer.withUnsafeMutableBufferPointer { raw in
            let shared = Shared(base: raw.baseAddress!, count: raw.count)
            if tasks == 1 || serial {
                for i in 0..<tasks { task(i, shared) }
            } else {
                // The tasks read shared inputs and write disjoint parts of
                // `shared`; that contract, not the type system, makes this safe.
                withoutActuallyEscaping(task) { task in
                    let body = UncheckedTask(run: task)
                    DispatchQueue.concurrentPerform(iterations: tasks) { i in body.run(i, shared) }
                }
            }
        }
    }

    private struct UncheckedTask<Element>: @unchecked Sendable {
        let run: (Int, Shared<Element>) -> Void
    }

    /// Splits `0..<count` into at most `parts` contiguous, non-empty ranges.
    static func chunks(_ count: Int, parts: Int) -> [Range<Int>] {
        let n = max(1, min(parts, count))
        return (0..<n).map { i in (count * i / n)..<(count * (i + 1) / n) }
    }

    /// How many ways to split work: the number of cores, 1 in `serially`.
    static var width: Int { serial ? 1 : cores }
    private static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body` with every kernel it calls on the calling thread, split as for one core. Every value
    /// a kernel writes is summed in the same order however the work is split, so the results are the same
    /// bits as on all cores (the interpreter tests check it).
    static func serially<Result>(_ body: () throws -> Result) rethrows -> Result {
        try $serial.withValue(true, operation: body)
    }

    @TaskLocal private static var serial = false
}
