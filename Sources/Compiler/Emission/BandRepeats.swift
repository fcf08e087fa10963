import Accelerator
import GraphIR

/// Bands of a band plan that a timed (scratch) emission need not emit: once the sequencer's state
/// (`SequencerState`) and the band loop's own at a band's start equal those `period` bands earlier,
/// and the bands from there on are those `period` bands earlier up to where their rows lie, every
/// further run of `period` such bands emits the same instructions up to addresses (SRAM slots repeat
/// with the period, DRAM ranges are whole tensors) and so times alike, a fixed number of cycles later:
/// `Sequencer.skip` adds them without emitting them.
///
/// Two bands are alike (`key`) when every value's rows in each band and its neighbours, its stored rows,
/// spans and the band's own rows are the same counts at the same offsets from the value's rows in the band,
/// all inside the map (rows reaching into padding, where transfers are clipped, must be the same rows).
/// What an instruction costs depends on those counts alone, never on an address.
struct BandRepeats {
    private let plan: BandPlan
    /// Each value's height (nil: not a 4-D map), by value number.
    private let heights: [Int?]
    /// Every value `spans` names, with its height, and the stored values, in name order.
    private let spanned: [(name: String, height: Int?)]
    private let stored: [(name: String, id: Int?, height: Int?)]
    private let outputID: Int?, outputHeight: Int?
    /// The periods tried: the least multiple of every buffer's slots, and twice it.
    private let periods: [Int]
    private var keys: [[Int]?]
    /// The states at the starts of recent bands (with the loop's own and its stream turn), by band.
    private var states: [Int: (state: SequencerState, turn: Int)] = [:]

    init(_ plan: BandPlan, valueType: (String) -> TensorType?) {
        self.plan = plan
        func height(_ value: String) -> Int? {
            valueType(value).flatMap { $0.shape.count == 4 ? $0.shape[2] : nil }
        }
        heights = plan.needed.first.map { $0.values.names.map(height) } ?? []
        var spanNames = Set<String>()
        for span in plan.spans { spanNames.formUnion(span.keys) }
        spanned = spanNames.sorted().map { ($0, height($0)) }
        let ids = plan.needed.first?.values.ids
        stored = plan.stores.keys.sorted().map { ($0, ids?[$0], height($0)) }
        (outputID, outputHeight) = (ids?[plan.output], height(plan.output))
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let period = plan.buffers.values.reduce(1) { $0 / gcd($0, max(1, $1.slots)) * max(1, $1.slots) }
        periods = [period, 2 * period]
        keys = Array(repeating: nil, count: plan.bands.count)
    }

    /// What emitting band `t` depends on, up to where its rows lie (see the type's notes).
    private mutating func key(_ t: Int) -> [Int] {
        if let known = keys[t] { return known }
        let none = Int.min, absolute = Int.min + 1
        let bandCount = plan.bands.count
        var key = [t > 0 ? 1 : 0, t + 1 < bandCount ? 1 : 0]
        func rows(_ r: Range<Int>?, height: Int?, anchor: Int?) {
            guard let r else { return key.append(none) }
            if let height, let anchor, r.lowerBound >= 0, r.upperBound <= height {
                key += [r.count, r.lowerBound - anchor]
            } else {
                key += [absolute, r.lowerBound, r.upperBound]
            }
        }
        let neighbours = max(0, t - 1)...min(bandCount - 1, t + 1)
        let needed = plan.needed
        for id in heights.indices {
            let anchor = needed[t].rows[id]?.lowerBound
            for u in neighbours { rows(needed[u].rows[id], height: heights[id], anchor: anchor) }
        }
        if !plan.spans.isEmpty {
            for (name, height) in spanned {
                let anchor = plan.spans[t][name]?.lowerBound
                for u in neighbours { rows(plan.spans[u][name], height: height, anchor: anchor) }
            }
        }
        for (name, id, height) in stored {
            rows(plan.stores[name]?[t], height: height, anchor: id.flatMap { needed[t].rows[$0]?.lowerBound })
        }
        rows(plan.bands[t], height: outputHeight, anchor: outputID.flatMap { needed[t].rows[$0]?.lowerBound })
        keys[t] = key
        return key
    }

    /// At the start of band `t`, with the band loop's own state `local` (flags, the stream turn's
    /// parity) and its stream turn `turn`: the band to go on from and the stream turns to add when the
    /// bands from `t` on repeat (the sequencer then has been moved past them), else nil.
    mutating func skip(at t: Int, sequencer: inout Sequencer, local: [Int], turn: Int) -> (band: Int, turns: Int)? {
        let bandCount = plan.bands.count
        // A state is taken only where a later band may repeat from it or this one may repeat an earlier.
        let ahead = periods.contains { t + $0 < bandCount && key(t) == key(t + $0) }
        let behind = periods.filter { states[t - $0] != nil }
        guard ahead || !behind.isEmpty else { return nil }
        var now = sequencer.state()
        now.key += local
        defer { states[t - periods[1]] = nil }
        states[t] = (now, turn)
        for period in behind {
            let (earlier, earlierTurn) = states[t - period]!
            guard earlier.key == now.key else { continue }
            var alike = 0
            while t + alike < bandCount, key(t + alike) == key(t + alike - period) { alike += 1 }
            let times = alike / period
            guard times > 0, sequencer.skip(from: earlier, to: now, times: times) else { continue }
            states = [:]
            return (t + times * period, times * (turn - earlierTurn))
        }
        return nil
    }
}
