import Foundation

/// `body` over `items` on all cores; results in item order, whatever order
/// the tasks finish in; the first error (in item order) is rethrown.
func concurrentMap<Item, T>(_ items: [Item], _ body: (Item) throws -> T) throws -> [T] {
    guard items.count > 1 else { return try items.map(body) }
    let results = ResultSlots<T>(count: items.count)
    withoutActuallyEscaping(body) { body in
        let task = UncheckedBox((body, items))
        DispatchQueue.concurrentPerform(iterations: items.count) { k in
            results.set(k, Result { try task.value.0(task.value.1[k]) })
        }
    }
    return try results.values().map { try $0.get() }
}

/// Results written by concurrent tasks, one slot each.
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: Result<T, any Error>) { lock.withLock { slots[k] = value } }
    func values() -> [Result<T, any Error>] { lock.withLock { slots.map { $0! } } }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
