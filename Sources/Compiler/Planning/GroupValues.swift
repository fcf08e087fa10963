/// The values one band group reads or makes, numbered 0..<count: the
/// planner's row walks, buffer shapes and byte counts index arrays by these
/// numbers instead of hashing value names (a DenseNet block's groups walk
/// hundreds of values in every band of every candidate height). Shared,
/// never changed, by every plan of the group.
final class GroupValues: Sendable {
    /// Names by number.
    let names: [String]
    /// Numbers by name.
    let ids: [String: Int]

    /// `names` must be distinct.
    init(_ names: [String]) {
        self.names = names
        ids = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    var count: Int { names.count }
}

/// The rows a band holds of each value of its group (`BandPlan.needed`):
/// nil for a value the band does not touch. Looked up by name (the
/// emitter) or by the group's value number (the planner).
struct RowNeeds {
    let values: GroupValues
    /// By value number.
    var rows: [Range<Int>?]

    /// No rows of any value.
    init(_ values: GroupValues) {
        self.values = values
        rows = Array(repeating: nil, count: values.count)
    }

    /// `rows` by value number, one per value of `values`.
    init(_ values: GroupValues, rows: [Range<Int>?]) {
        precondition(rows.count == values.count, "one row range (or nil) per value")
        self.values = values
        self.rows = rows
    }

    subscript(value: String) -> Range<Int>? {
        guard let id = values.ids[value] else { return nil }
        return rows[id]
    }

    subscript(id id: Int) -> Range<Int>? {
        get { rows[id] }
        set { rows[id] = newValue }
    }

    /// The values the band touches, in number order.
    var keys: [String] { rows.indices.filter { rows[$0] != nil }.map { values.names[$0] } }
}
