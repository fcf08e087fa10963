// The race check by intervals. Equivalent to tracking, per word, every access
// (see `checkHazardsWordByWord`): instruction i on engine e races with an
// earlier instruction j on engine f != e when they touch a common word, one of
// them writing, and j does not happen before i (j is the s-th instruction of
// f and i's vector clock has clock[f] < s). Only that pairwise form is
// checked here: each operand is a record with its bounds; an interval index
// per memory, engine and access kind finds the earlier records of f whose
// bounds meet the operand's and whose sequence number exceeds clock[f]
// (usually none: the bounds of concurrent operands rarely meet); only those
// are compared word for word. Cost: O(log n) per operand and engine when
// nothing is found, n the number of operands.

extension MemorySpace {
    var index: Int { self == .sram ? 0 : 1 }
}

extension Program {
    /// Proves that every two accesses to the same SRAM or DRAM word from
    /// different engines, at least one a write, are ordered by program order
    /// and tokens. Call on a validated program; throws a `ProgramError` naming
    /// the first unordered pair.
    public func checkHazards() throws {
        let engines = Engine.allCases.count
        // Words wholly inside the constants segment are never written: reads of them need no record.
        let readOnlyWords = constants.count / 4
        // Every operand, instruction by instruction: those of instruction i are operands[starts[i]..<starts[i + 1]].
        var operands: [Footprint] = [], starts = [0]
        operands.reserveCapacity(3 * instructions.count)
        starts.reserveCapacity(instructions.count + 1)
        var bounds: [[Int]] = [[], []]
        for instruction in instructions {
            for f in instruction.operation.footprints()
            where !f.isEmpty && !(f.space == .dram && !f.isWrite && f.upper <= readOnlyWords) {
                bounds[f.space.index].append(f.lower)
                bounds[f.space.index].append(f.upper)
                operands.append(f)
            }
            starts.append(operands.count)
        }
        var index = bounds.map { IntervalIndex(points: $0, lists: 2 * engines) }
        var owner = [Int](repeating: 0, count: operands.count)  // operand -> its instruction
        var spans = [Range<Int>](repeating: 0..<0, count: operands.count)

        var seqs = SIMD8<UInt32>.zero
        var last = [SIMD8<UInt32>](repeating: .zero, count: engines)
        var queues = [[SIMD8<UInt32>]](repeating: [], count: engines * engines)
        var heads = [Int](repeating: 0, count: engines * engines)
        for (i, instruction) in instructions.enumerated() {
            let e = instruction.engine.index
            seqs[e] += 1
            // Vector clock: for each engine, how many of its instructions happen before this one.
            var clock = last[e]
            for w in instruction.wait.engines {
                let q = w.index * engines + e
                clock = pointwiseMax(clock, queues[q][heads[q]])
                heads[q] += 1
            }
            clock[e] = seqs[e]
            for k in starts[i]..<starts[i + 1] {
                let operand = operands[k], space = operand.space.index
                spans[k] = index[space].span(operand.lower..<operand.upper)
                for f in 0..<engines where f != e {
                    // Writes of f (list 2f + 1) race with any access; reads of f (list 2f) only with a write.
                    for list in (operand.isWrite ? 2 * f : 2 * f + 1)...(2 * f + 1) {
                        let clash = index[space].first(list: list, meeting: spans[k], after: clock[f]) {
                            operands[$0].intersects(operand)
                        }
                        if let r = clash { try raceFound(i, owner[r]) }
                    }
                }
            }
            for k in starts[i]..<starts[i + 1] {
                owner[k] = i
                index[operands[k].space.index].insert(
                    k, list: 2 * e + (operands[k].isWrite ? 1 : 0), spans[k], seq: seqs[e])
            }
            last[e] = clock
            for s in instruction.signal.engines { queues[e * engines + s.index].append(clock) }
        }
    }

    /// Throws the word-by-word check's message for the race between
    /// instruction `i` and the earlier `j` (it finds the same first racing
    /// instruction, and names the first word).
    private func raceFound(_ i: Int, _ j: Int) throws -> Never {
        try checkHazardsWordByWord()
        let (a, b) = (instructions[i], instructions[j])
        throw ProgramError.invalid(
            "race: instruction \(i) (\(a.opcode.mnemonic)@\(a.engine.name)) and instruction \(j) "
                + "(\(b.opcode.mnemonic)@\(b.engine.name)) touch a common word, and no chain of tokens orders them")
    }
}

/// Records (intervals of words, each with a sequence number that grows with
/// every insertion into the same list) in several lists, over one fixed set
/// of interval bounds. A segment tree over the elementary intervals between
/// consecutive bounds: a record is kept at the O(log n) nodes that cover it
/// exactly, and each node knows the largest sequence number kept at or below
/// it, so a search skips every subtree with nothing recent enough.
struct IntervalIndex {
    private let points: [Int]
    private let size: Int
    private let lists: Int
    /// Per list and node: the largest sequence number kept in the node's subtree.
    private var newest: [UInt32]
    /// Per list and node: the last entry kept at the node (entries link to the one before).
    private var head: [Int32]
    private var entries: [(record: Int32, seq: UInt32, next: Int32)] = []
    /// The search that last reported each record, so that a record kept at several nodes is tested once.
    private var seen: [Int32] = []
    private var searches: Int32 = 0

    /// `points`: every bound any interval inserted or searched later has.
    init(points: [Int], lists: Int) {
        self.points = Array(Set(points)).sorted()
        var size = 1
        while size < max(1, self.points.count - 1) { size *= 2 }
        self.size = size
        self.lists = lists
        newest = [UInt32](repeating: 0, count: lists * 2 * size)
        head = [Int32](repeating: -1, count: lists * 2 * size)
    }

    /// The elementary intervals that make up `words` (whose bounds are among the points).
    func span(_ words: Range<Int>) -> Range<Int> {
        func position(_ p: Int) -> Int {
            var (lo, hi) = (0, points.count)
            while lo < hi {
                let mid = (lo + hi) / 2
                if points[mid] < p { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        return position(words.lowerBound)..<position(words.upperBound)
    }

    /// Keeps `record` in `list` over `span` (from `span(_:)`), with a sequence
    /// number above every earlier one of that list.
    mutating func insert(_ record: Int, list: Int, _ span: Range<Int>, seq: UInt32) {
        if seen.count <= record { seen += repeatElement(0, count: record + 1 - seen.count) }
        insert(Int32(record), seq, list * 2 * size, node: 1, nodeSpan: 0..<size, span)
    }

    private mutating func insert(
        _ record: Int32, _ seq: UInt32, _ base: Int, node: Int, nodeSpan: Range<Int>, _ span: Range<Int>
    ) {
        guard nodeSpan.overlaps(span) else { return }
        newest[base + node] = max(newest[base + node], seq)
        if span.lowerBound <= nodeSpan.lowerBound && nodeSpan.upperBound <= span.upperBound {
            entries.append((record, seq, head[base + node]))
            head[base + node] = Int32(entries.count - 1)
            return
        }
        let mid = (nodeSpan.lowerBound + nodeSpan.upperBound) / 2
        insert(record, seq, base, node: 2 * node, nodeSpan: nodeSpan.lowerBound..<mid, span)
        insert(record, seq, base, node: 2 * node + 1, nodeSpan: mid..<nodeSpan.upperBound, span)
    }

    /// The first record of `list` whose interval meets `span` (from
    /// `span(_:)`), whose sequence number exceeds `after`, and that passes
    /// `test`; nil if none does.
    mutating func first(list: Int, meeting span: Range<Int>, after: UInt32, _ test: (Int) -> Bool) -> Int? {
        guard !span.isEmpty, newest[list * 2 * size + 1] > after else { return nil }
        searches += 1
        return first(list * 2 * size, node: 1, nodeSpan: 0..<size, span, after, test)
    }

    private mutating func first(
        _ base: Int, node: Int, nodeSpan: Range<Int>, _ span: Range<Int>, _ after: UInt32, _ test: (Int) -> Bool
    ) -> Int? {
        guard nodeSpan.overlaps(span), newest[base + node] > after else { return nil }
        var e = head[base + node]
        while e >= 0 && entries[Int(e)].seq > after {
            let record = entries[Int(e)].record
            if seen[Int(record)] != searches {
                seen[Int(record)] = searches
                if test(Int(record)) { return Int(record) }
            }
            e = entries[Int(e)].next
        }
        guard nodeSpan.count > 1 else { return nil }
        let mid = (nodeSpan.lowerBound + nodeSpan.upperBound) / 2
        return first(base, node: 2 * node, nodeSpan: nodeSpan.lowerBound..<mid, span, after, test)
            ?? first(base, node: 2 * node + 1, nodeSpan: mid..<nodeSpan.upperBound, span, after, test)
    }
}
