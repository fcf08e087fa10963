import Accelerator
import GraphIR

/// A byte range of SRAM or DRAM that an instruction reads or writes.
struct MemoryRange: Equatable {
    enum Space { case sram, dram }
    var space: Space
    var start: Int
    var end: Int

    static func sram(_ start: Int, bytes: Int) -> MemoryRange {
        MemoryRange(space: .sram, start: start, end: start + bytes)
    }
    static func dram(_ start: Int, bytes: Int) -> MemoryRange {
        MemoryRange(space: .dram, start: start, end: start + bytes)
    }

    func overlaps(_ other: MemoryRange) -> Bool { space == other.space && start < other.end && other.start < end }
    func covers(_ other: MemoryRange) -> Bool { space == other.space && start <= other.start && other.end <= end }
}

/// Collects instructions and derives their dependency tokens from the memory
/// they touch: codegen states what each instruction reads and writes and
/// never places a token by hand.
///
/// Each engine runs in program order, so only hazards across engines need
/// tokens. An instruction must start after the newest earlier instruction on
/// each other engine that wrote what it reads (RAW) or touched what it writes
/// (WAR, WAW). Vector clocks record what each engine already knows has
/// finished, directly or through a chain of tokens; only a hazard not yet
/// covered costs a token (a wait here, a signal on the producer). Queues stay
/// FIFO because both ends are added in program order.
struct Sequencer {
    /// The instructions (none kept when `timed`: see `init(timing:)`).
    private(set) var instructions: [Instruction] = []
    /// How many instructions were emitted.
    private(set) var count = 0
    /// Each instruction's engine: reading it from `instructions` would copy the operation's arrays.
    private var engines: [Int] = []
    private(set) var debugNames: [[String]] = []
    /// Whether `debugNames` is kept: a scratch sequencer that only costs a plan needs no names.
    var keepsNames = true
    /// A scratch sequencer's timing model, stepped as instructions are emitted (nil: instructions are kept).
    private var timer: TimingClock?
    /// The timing model's configuration, apart: read through `timer` it would be copied for every instruction.
    private var timingConfig: AcceleratorConfig?
    /// When set, each instruction's end cycle, by index: the arrival of the token it signals.
    private var ends: [Int] = []
    /// The engines in use at the first `skip` (nil: none yet).
    private var skippedUsed: [Bool]?

    init() {}

    /// A scratch sequencer that only costs what is emitted: it keeps no
    /// instructions and no names, and takes each instruction through the
    /// timing model (an empty constants segment, as a scratch schedule has)
    /// as it is emitted. Each token the sequencer places has exactly one
    /// wait (a later instruction of the waiting engine already knows the
    /// producer finished, see `emit`), so a wait's token is its producer's
    /// end, and `stats` are what `AcceleratorConfig.schedule` of the kept
    /// instructions gives.
    init(timing config: AcceleratorConfig) {
        timer = TimingClock(config: config)
        timingConfig = config
        keepsNames = false
    }

    /// The timing model's counts of what a scratch sequencer (`init(timing:)`) emitted.
    var stats: ExecutionStats? { timer?.stats }

    private static let engineCount = Engine.allCases.count

    /// Per access: its newest writer and the readers since (its range is in `ranges`, at the same position). Of
    /// the readers only the newest on each engine is kept: an engine runs in program order, so a token to it
    /// orders every older one too. A plain value (no array of readers), so that removing and appending records
    /// retains nothing.
    private struct Access {
        /// -1: none.
        var lastWriter: Int
        /// readers[e]: the newest reader on engine e since the write (-1: none).
        var readers: SIMD8<Int>

        init(lastWriter: Int) {
            self.lastWriter = lastWriter
            self.readers = SIMD8(repeating: -1)
        }
    }
    /// The access records of one memory space. The ranges are kept apart from the rest of the records:
    /// every instruction touching the space scans them all, and packed densely they take a quarter of the
    /// cache lines.
    private struct Records {
        var ranges: [MemoryRange] = []
        var accesses: [Access] = []

        var count: Int { ranges.count }

        /// Removes the records `drop` tells, keeping the others in order.
        mutating func removeAll(where drop: (MemoryRange, Access) -> Bool) {
            var kept = 0
            for i in ranges.indices where !drop(ranges[i], accesses[i]) {
                if kept != i {
                    ranges[kept] = ranges[i]
                    accesses[kept] = accesses[i]
                }
                kept += 1
            }
            guard kept < ranges.count else { return }
            ranges.removeSubrange(kept...)
            accesses.removeSubrange(kept...)
        }
    }
    /// The records by space: a range overlaps or covers only ranges of its own space, so an instruction
    /// scans only the spaces it touches. The spaces' records together are what one list of them would hold,
    /// each space's in the same order, and pruning looks at their total.
    private var sramRecords = Records()
    private var dramRecords = Records()
    /// clocks[i * engineCount + e]: the newest instruction of engine e known finished when i starts (i itself
    /// for its engine); one flat array, not an array per instruction.
    private var clocks: [Int] = []
    /// The clock of each engine's newest instruction: frontier[e * engineCount + f] for engine e.
    private var frontier = [Int](repeating: -1, count: engineCount * engineCount)
    private var used = [Bool](repeating: false, count: engineCount)
    private var pruned = false
    /// Scratch of `emit`, kept between calls so that no instruction allocates them.
    private var after = [Int](repeating: -1, count: engineCount)
    private var clock = [Int](repeating: -1, count: engineCount)

    /// Appends `op`, which reads `reads` and writes `writes`; returns its index.
    /// `nodes` is only evaluated when names are kept: a scratch emission builds no names.
    /// `op` is consumed: it becomes the instruction without a copy of its payload's arrays.
    @discardableResult
    mutating func emit(
        _ op: consuming Op, reads: [MemoryRange], writes: [MemoryRange], nodes: @autoclosure () -> [String]
    ) -> Int {
        let index = count
        let opEngine = op.engine, opcode = op.opcode
        let engine = Int(opEngine.rawValue), n = Self.engineCount
        for e in 0..<n { after[e] = -1 }
        if pruned && !used[engine] {
            // Records this engine might conflict with may be gone: order it after everything.
            for e in 0..<n where used[e] { after[e] = max(after[e], frontier[e * n + e]) }
        }
        // The hull of what the instruction touches in each space: most records lie outside it, and one test
        // tells (a range overlapping any of the instruction's overlaps the hull, empty ones included).
        var sram = (low: Int.max, high: Int.min), dram = (low: Int.max, high: Int.min)
        for range in reads {
            if range.space == .sram {
                sram = (min(sram.low, range.start), max(sram.high, range.end))
            } else {
                dram = (min(dram.low, range.start), max(dram.high, range.end))
            }
        }
        for range in writes {
            if range.space == .sram {
                sram = (min(sram.low, range.start), max(sram.high, range.end))
            } else {
                dram = (min(dram.low, range.start), max(dram.high, range.end))
            }
        }
        // Each record found adds to `after` by `max`, so the order of the scans does not matter.
        // A space the instruction does not touch keeps its hull's high at Int.min, which no record passes.
        if sram.high > Int.min {
            Self.scan(sramRecords, hull: sram, reads: reads, writes: writes, engines: engines, after: &after)
        }
        if dram.high > Int.min {
            Self.scan(dramRecords, hull: dram, reads: reads, writes: writes, engines: engines, after: &after)
        }
        for e in 0..<n { clock[e] = frontier[engine * n + e] }
        var wait: EngineSet = []
        // When timed: the cycle the last of the instruction's tokens arrives.
        var ready = 0
        for source in 0..<n where source != engine {
            let producer = after[source]
            guard producer > clock[source] else { continue }
            if timer == nil {
                instructions[producer].signal.insert(EngineSet(rawValue: 1 << opEngine.rawValue))
            } else {
                ready = max(ready, ends[producer])
            }
            wait.insert(EngineSet(rawValue: 1 << UInt8(source)))
            for e in 0..<n { clock[e] = max(clock[e], clocks[producer * n + e]) }
        }
        clock[engine] = index
        clocks.append(contentsOf: clock)
        for e in 0..<n { frontier[engine * n + e] = clock[e] }
        used[engine] = true
        let instruction = Instruction(op, wait: wait, signal: [])
        if let timingConfig {
            let cost = timingConfig.cost(of: instruction, constantsBytes: 0)
            let transfer = opcode == .load || opcode == .store
            ends.append(timer!.add(engine: opEngine, transfer: transfer, cost: cost, ready: ready).end)
        } else {
            instructions.append(instruction)
        }
        count += 1
        engines.append(engine)
        if keepsNames { debugNames.append(nodes()) }
        record(index, engine: engine, reads: reads, writes: writes)
        return index
    }

    /// Orders the instruction being emitted after the records of one space it reads or writes (`after`):
    /// after each such record's writer, and after its readers when the instruction writes to it.
    /// `hull` is what the instruction touches in the space, a test most records fail.
    private static func scan(
        _ records: Records, hull: (low: Int, high: Int), reads: [MemoryRange], writes: [MemoryRange],
        engines: [Int], after: inout [Int]
    ) {
        let n = Self.engineCount
        for i in records.ranges.indices {
            let range = records.ranges[i]
            guard range.start < hull.high && hull.low < range.end else { continue }
            let readHit = reads.contains { $0.overlaps(range) }
            let writeHit = writes.contains { $0.overlaps(range) }
            guard readHit || writeHit else { continue }
            let producer = records.accesses[i].lastWriter
            if producer >= 0 {
                let e = engines[producer]
                after[e] = max(after[e], producer)
            }
            if writeHit {
                let readers = records.accesses[i].readers
                for e in 0..<n where readers[e] > after[e] { after[e] = readers[e] }
            }
        }
    }

    private mutating func record(_ index: Int, engine: Int, reads: [MemoryRange], writes: [MemoryRange]) {
        assert(Self.engineCount <= 8, "Access.readers holds one reader per engine")
        for range in writes {
            if range.space == .sram {
                Self.record(write: range, by: index, in: &sramRecords)
            } else {
                Self.record(write: range, by: index, in: &dramRecords)
            }
        }
        for range in reads {
            if range.space == .sram {
                Self.record(read: range, by: index, engine: engine, in: &sramRecords)
            } else {
                Self.record(read: range, by: index, engine: engine, in: &dramRecords)
            }
        }
        if sramRecords.count + dramRecords.count > 128 { prune() }
    }

    /// A write that covers older records of its space replaces them.
    private static func record(write range: MemoryRange, by index: Int, in records: inout Records) {
        // Most writes cover none: one pass over the ranges alone finds the first, if any.
        if let first = records.ranges.firstIndex(where: { range.covers($0) }) {
            var kept = first
            for i in (first + 1)..<records.ranges.count where !range.covers(records.ranges[i]) {
                records.ranges[kept] = records.ranges[i]
                records.accesses[kept] = records.accesses[i]
                kept += 1
            }
            records.ranges.removeSubrange(kept...)
            records.accesses.removeSubrange(kept...)
        }
        records.ranges.append(range)
        records.accesses.append(Access(lastWriter: index))
    }

    /// A reader joins the record of exactly its range, or gets its own: joining a larger overlapping
    /// record would make later writes to other parts of it wait for this read.
    private static func record(read range: MemoryRange, by index: Int, engine: Int, in records: inout Records) {
        if let i = records.ranges.lastIndex(of: range) {
            records.accesses[i].readers[engine] = index
        } else {
            var access = Access(lastWriter: -1)
            access.readers[engine] = index
            records.ranges.append(range)
            records.accesses.append(access)
        }
    }

    /// Drops records no later instruction can need a token for: every engine
    /// in use already knows their instructions finished.
    private mutating func prune() {
        func settled(_ producer: Int) -> Bool {
            let s = engines[producer]
            return (0..<Self.engineCount).allSatisfy {
                !used[$0] || frontier[$0 * Self.engineCount + s] >= producer
            }
        }
        func done(_: MemoryRange, _ access: Access) -> Bool {
            (access.lastWriter < 0 || settled(access.lastWriter))
                && (0..<Self.engineCount).allSatisfy { access.readers[$0] < 0 || settled(access.readers[$0]) }
        }
        let before = sramRecords.count + dramRecords.count
        sramRecords.removeAll(where: done)
        dramRecords.removeAll(where: done)
        if sramRecords.count + dramRecords.count < before { pruned = true }
    }
}

/// What a scratch sequencer's later timing depends on, at one point of an emission: instruction indices
/// relative to the count emitted, cycles relative to the timing model's last end. Two points with equal
/// `key`s time every later identical run of instructions alike, shifted by the instructions and cycles
/// between them (see `Sequencer.skip`).
struct SequencerState {
    var key: [Int]
    var count: Int
    var counts: ExecutionStats
    /// The instructions referenced by records and not yet known finished by every engine in use.
    var live: [Int]
    /// Per engine, the oldest of its live instructions (Int.max: none): an older index of it (stale) is
    /// only ever compared with newer ones, so its value does not matter and it does not move.
    var floor: [Int]
}

extension Sequencer {
    /// Whether instructions are timed as they are emitted (`init(timing:)`).
    var isTimed: Bool { timer != nil }

    /// Whether every engine an instruction ran on since the last `skip` had run one before it (always
    /// true without a skip): a skip is exact only then (see `skip`).
    var skipsHold: Bool { skippedUsed.map { $0 == used } ?? true }

    /// Whether `skip` moved the sequencer ahead.
    var skipped: Bool { skippedUsed != nil }

    /// The state of a timed sequencer (see `SequencerState`).
    ///
    /// A record's instruction that every engine in use already knows finished is only a marker: it orders
    /// none of them (`emit` places a token only for an instruction not yet known finished) and `prune`
    /// treats all such alike. An engine not yet in use would wait for it: `skipsHold` tells when one is used later.
    func state() -> SequencerState {
        let n = Self.engineCount
        let none = Int.min, settledMark = Int.min + 1, staleMark = Int.min + 2
        let base = count
        let position = timer!.position
        let time = position.counts.cycles
        func settled(_ p: Int) -> Bool {
            let s = engines[p]
            return (0..<n).allSatisfy { !used[$0] || frontier[$0 * n + s] >= p }
        }
        // The live instructions, and on each engine the oldest of them.
        var live: [Int] = []
        var floor = [Int](repeating: Int.max, count: n)
        func collect(_ p: Int) {
            guard p >= 0, !settled(p) else { return }
            live.append(p)
            floor[engines[p]] = min(floor[engines[p]], p)
        }
        for access in sramRecords.accesses {
            collect(access.lastWriter)
            for e in 0..<n { collect(access.readers[e]) }
        }
        for access in dramRecords.accesses {
            collect(access.lastWriter)
            for e in 0..<n { collect(access.readers[e]) }
        }
        // An index older than every live instruction of its engine (or none, -1) is only compared with
        // newer ones, and taken by `max` with ones no older than it (the waiting engine's own clock).
        func index(_ value: Int, engine: Int) -> Int { value < floor[engine] ? staleMark : value - base }
        var key: [Int] = [pruned ? 1 : 0]
        key.reserveCapacity(16 + 4 * n * n + 12 * (sramRecords.count + dramRecords.count))
        for e in 0..<n { key.append(used[e] ? 1 : 0) }
        for (i, value) in frontier.enumerated() { key.append(index(value, engine: i % n)) }
        func reference(_ p: Int) {
            if p < 0 {
                key.append(none)
            } else if p < floor[engines[p]] || settled(p) {
                key.append(settledMark)
            } else {
                key.append(p - base)
                key.append(engines[p])
                key.append(ends[p] - time)
                for e in 0..<n { key.append(index(clocks[p * n + e], engine: e)) }
            }
        }
        func describe(_ records: Records) {
            key.append(records.count)
            for i in records.ranges.indices {
                key.append(records.ranges[i].start)
                key.append(records.ranges[i].end)
                reference(records.accesses[i].lastWriter)
                for e in 0..<n { reference(records.accesses[i].readers[e]) }
            }
        }
        describe(sramRecords)
        describe(dramRecords)
        for e in 0..<n { key.append(position.engineFree[e] == 0 && !used[e] ? none : position.engineFree[e] - time) }
        key.append(position.channelFree == 0 ? none : position.channelFree - time)
        return SequencerState(key: key, count: base, counts: position.counts, live: live, floor: floor)
    }

    /// Moves a timed sequencer in state `now` (`state()`, just taken) ahead as if the instructions emitted
    /// between `earlier` (whose key equals `now`'s) and `now` were emitted `times` times more: indices
    /// and cycles move by that many times their differences, and the counts grow by that many times
    /// theirs. False (nothing changed) when a live instruction's new index would fall among those
    /// already emitted.
    mutating func skip(from earlier: SequencerState, to now: SequencerState, times: Int) -> Bool {
        let n = Self.engineCount
        let shift = times * (now.count - earlier.count)
        let delay = times * (now.counts.cycles - earlier.counts.cycles)
        guard shift > 0, now.live.allSatisfy({ $0 + shift >= count }) else { return false }
        engines.append(contentsOf: repeatElement(0, count: shift))
        ends.append(contentsOf: repeatElement(0, count: shift))
        clocks.append(contentsOf: repeatElement(-1, count: shift * n))
        // Each live instruction's copy: its engine, its end and its clock, moved.
        for p in Set(now.live) {
            engines[p + shift] = engines[p]
            ends[p + shift] = ends[p] + delay
            for e in 0..<n {
                let c = clocks[p * n + e]
                clocks[(p + shift) * n + e] = c < now.floor[e] ? c : c + shift
            }
        }
        let live = Set(now.live)
        func moved(_ p: Int) -> Int { live.contains(p) ? p + shift : p }
        for i in sramRecords.accesses.indices {
            sramRecords.accesses[i].lastWriter = moved(sramRecords.accesses[i].lastWriter)
            for e in 0..<n { sramRecords.accesses[i].readers[e] = moved(sramRecords.accesses[i].readers[e]) }
        }
        for i in dramRecords.accesses.indices {
            dramRecords.accesses[i].lastWriter = moved(dramRecords.accesses[i].lastWriter)
            for e in 0..<n { dramRecords.accesses[i].readers[e] = moved(dramRecords.accesses[i].readers[e]) }
        }
        for i in frontier.indices where frontier[i] >= now.floor[i % n] { frontier[i] += shift }
        count += shift
        var position = timer!.position
        for e in 0..<n where used[e] { position.engineFree[e] += delay }
        if position.channelFree != 0 { position.channelFree += delay }
        position.counts.add(now.counts, minus: earlier.counts, times: times)
        timer!.position = position
        if skippedUsed == nil { skippedUsed = used }
        return true
    }
}

extension ExecutionStats {
    /// Adds `times` times what each field of `later` has more than `earlier`'s (a timing model's counts:
    /// the fields it does not count, energy, the peak and instructions, are zero in both).
    mutating func add(_ later: ExecutionStats, minus earlier: ExecutionStats, times: Int) {
        func grow(_ field: WritableKeyPath<ExecutionStats, Int>) {
            self[keyPath: field] += times * (later[keyPath: field] - earlier[keyPath: field])
        }
        let fields: [WritableKeyPath<ExecutionStats, Int>] = [
            \.cycles, \.loadBusyCycles, \.matrixBusyCycles, \.vectorBusyCycles, \.storeBusyCycles,
            \.hostBusyCycles, \.dramChannelBusyCycles, \.dramReadBytes, \.dramWriteBytes, \.dramWeightBytes,
            \.dramActivationBytes, \.hostReadBytes, \.hostWriteBytes, \.dramCompulsoryBytes, \.macs,
            \.sramReadBytes, \.sramWriteBytes, \.vectorElements, \.energyFemtojoules, \.dramEnergyFemtojoules,
            \.sramEnergyFemtojoules, \.macEnergyFemtojoules, \.vectorEnergyFemtojoules, \.sramPeakBytes,
            \.instructions
        ]
        for field in fields { grow(field) }
    }
}
