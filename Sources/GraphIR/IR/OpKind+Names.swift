extension OpKind {
    /// The ONNX operators dfc imports, by their ONNX names, sorted: every kind but `.opaque` and the
    /// internal ones. The README's list of supported operators is checked against it.
    public static let supportedONNXNames: [String] = allCases.filter { $0 != .opaque && $0.domain.isEmpty }
        .map(\.rawValue).sorted()

    /// Up to three supported operators whose names are close to `opType`, closest first: an error about an
    /// unsupported operator names them. Close means a small edit distance (a third of the name), one
    /// name holding the other (`HardTanh` holds `Tanh`, `ConvInteger` holds `Conv`), or a long common
    /// beginning or end (`ReduceL2` and the other reductions, `LayerNormalization` and
    /// `BatchNormalization`); case is ignored.
    public static func nearestSupported(to opType: String) -> [String] {
        // A hostile model's megabyte-long name is not worth comparing.
        guard opType.utf8.count <= 64 else { return [] }
        let query = Array(opType.lowercased())
        let scored = supportedONNXNames.compactMap { name -> (distance: Int, name: String)? in
            let candidate = Array(name.lowercased())
            guard candidate != query else { return nil }
            let distance = editDistance(query, candidate)
            let prefix = zip(query, candidate).prefix { $0 == $1 }.count
            let suffix = zip(query.reversed(), candidate.reversed()).prefix { $0 == $1 }.count
            let close =
                distance <= Swift.max(1, query.count / 3)
                || (candidate.count >= 3 && opType.lowercased().contains(name.lowercased()))
                || (query.count >= 4 && name.lowercased().contains(opType.lowercased()))
                || Swift.max(prefix, suffix) >= 6
            return close ? (distance, name) : nil
        }
        return scored.sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }.prefix(3).map { $0.name }
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 0..<b.count {
                current[j + 1] = Swift.min(
                    previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i - 1] == b[j] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
