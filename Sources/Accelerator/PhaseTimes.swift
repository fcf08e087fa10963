import Foundation

/// Wall-clock milliseconds per named phase of a command, in the order the
/// phases first ran (`dfc run --profile`). Measuring twice under one name adds up.
public struct PhaseTimes: Sendable {
    public private(set) var phases: [(name: String, milliseconds: Double)] = []

    public init() {}

    /// Runs `body`, adding its wall-clock time to phase `name`.
    public mutating func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(name, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
        return try body()
    }

    public mutating func add(_ name: String, _ milliseconds: Double) {
        if let i = phases.firstIndex(where: { $0.name == name }) {
            phases[i].milliseconds += milliseconds
        } else {
            phases.append((name, milliseconds))
        }
    }

    public func milliseconds(_ name: String) -> Double? { phases.first { $0.name == name }?.milliseconds }

    /// One line per phase and a total, for standard error.
    public var report: String {
        let width = max(5, phases.map(\.name.count).max() ?? 0)
        func line(_ name: String, _ ms: Double) -> String {
            "profile: " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %9.2f ms", ms)
        }
        return
            (phases.map { line($0.name, $0.milliseconds) } + [line("total", phases.reduce(0) { $0 + $1.milliseconds })])
            .joined(separator: "\n")
    }
}
