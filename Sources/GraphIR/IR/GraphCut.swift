import Tensors

extension Graph {
    /// Keeps only what computes `values` and makes them the graph's outputs
    /// (`dfc compile --outputs`): a detector's backbone without its
    /// post-processing. Nodes, constants and graph inputs nothing of them
    /// needs are dropped. Every unknown name is reported at once, each with
    /// the graph's value names nearest to it.
    public mutating func cut(toOutputs values: [String]) throws {
        guard !values.isEmpty else { throw DFCError("--outputs: expected one or more value names, NAME,...") }
        let computed = Set(nodes.flatMap(\.outputs).filter { !$0.isEmpty })
        var problems: [String] = []
        for name in values where !computed.contains(name) {
            if inputs.contains(name) {
                problems.append("'\(name)' is a graph input, not a computed value")
            } else if initializers[name] != nil {
                problems.append("'\(name)' is a constant, not a computed value")
            } else {
                let nearest = Self.nearest(to: name, among: computed)
                problems.append(
                    "no value '\(name)' in the graph ("
                        + (nearest.isEmpty
                            ? "its outputs: \(outputs.joined(separator: ", "))"
                            : "nearest: \(nearest.joined(separator: ", "))") + ")")
            }
        }
        guard problems.isEmpty else { throw DFCError("--outputs: \(problems.joined(separator: "; "))") }
        var seen: Set<String> = []
        outputs = values.filter { seen.insert($0).inserted }
        eliminateDeadCode()
        let read = Set(nodes.flatMap(\.inputs))
        inputs = inputs.filter(read.contains)
    }

    /// Up to three names closest to `name` by edit distance (ignoring case),
    /// among those within half the name's length; ties in name order.
    static func nearest(to name: String, among names: Set<String>) -> [String] {
        let target = Array(name.lowercased())
        let limit = max(2, target.count / 2)
        let scored = names.compactMap { candidate -> (Int, String)? in
            let distance = editDistance(target, Array(candidate.lowercased()), limit: limit)
            return distance <= limit ? (distance, candidate) : nil
        }
        return scored.sorted { $0 < $1 }.prefix(3).map(\.1)
    }

    /// Levenshtein distance, giving up (returning more than `limit`) once every path exceeds it.
    static func editDistance(_ a: [Character], _ b: [Character], limit: Int) -> Int {
        guard abs(a.count - b.count) <= limit else { return limit + 1 }
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            guard current.min()! <= limit else { return limit + 1 }
            previous = current
        }
        return previous[b.count]
    }
}
