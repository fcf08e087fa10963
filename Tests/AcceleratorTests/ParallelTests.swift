import Foundation
import Testing
@testable import Accelerator

/// The executor's worker threads (`Parallel.run` over CKernels' pool): every
/// index runs exactly once, including when calls nest or come from several
/// threads at once (those run on the calling thread).
@Suite struct ParallelTests {
    /// Runs `tasks` tasks that each record their index, and returns the records.
    static func recorded(_ tasks: Int, nested: Bool = false) -> [Int] {
        let slots = UnsafeMutableBufferPointer<Int>.allocate(capacity: tasks)
        defer { slots.deallocate() }
        slots.initialize(repeating: -1)
        Parallel.run(tasks) { i in
            if nested {
                // A call from inside a task: its tasks run on this thread, in order.
                var inner = [Int]()
                Parallel.run(3) { inner.append($0) }
                slots[i] = inner == [0, 1, 2] ? i : -2
            } else {
                slots[i] = i
            }
        }
        return Array(slots)
    }

    @Test func everyIndexRunsOnce() {
        #expect(Parallel.width >= 1)
        for tasks in [0, 1, 2, 3, 17, 1000] {
            #expect(Self.recorded(tasks) == Array(0..<tasks), "\(tasks) tasks")
        }
        // Many small jobs in a row: the workers pick each one up or leave it to the caller.
        for round in 0..<2000 {
            let tasks = 2 + round % 5
            guard Self.recorded(tasks) == Array(0..<tasks) else {
                Issue.record("round \(round) lost or repeated a task")
                return
            }
        }
    }

    @Test func nestedCallsRunOnTheCaller() {
        #expect(Self.recorded(64, nested: true) == Array(0..<64))
    }

    @Test func concurrentCallersEachGetTheirTasks() {
        let callers = 6
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: callers)
        defer { results.deallocate() }
        results.initialize(repeating: false)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            results[caller] = (0..<200).allSatisfy { round in
                let tasks = 2 + (caller + round) % 7
                return Self.recorded(tasks) == Array(0..<tasks)
            }
        }
        #expect(results.allSatisfy { $0 })
    }
}
