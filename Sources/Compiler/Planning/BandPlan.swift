import GraphIR

/// A run of consecutive layers computed band by band: for each band of the
/// group's output rows, the rows every layer needs are found by walking
/// receptive fields backwards; only the group's inputs are loaded (with their
/// halo), intermediates live and die in SRAM, only the output (and the
/// values read after the group, see `stores`) is stored. The
/// overlap between neighbouring bands is recomputed or cached (see `Halo`).
struct BandPlan {
    /// How the rows neighbouring bands share (the halo) are obtained: reloaded
    /// and recomputed, or cached, i.e. kept from the previous band and copied
    /// from one buffer slot to the other, so that every input row is loaded
    /// once and every intermediate row computed once.
    enum Halo: String { case recompute, cache }
    var halo: Halo
    /// Indices into the graph's nodes, consecutive.
    var nodes: Range<Int>
    /// The value of the group's last layer, stored band by band.
    var output: String
    /// Other values that leave the group (see `FusionRules.storedValues`):
    /// per value, the rows each band stores, right after computing them.
    /// A Concat part stored as a slice of its concat is not listed.
    var stores: [String: [Range<Int>]] = [:]
    /// Concat parts copied into their concat's buffer from their own (see
    /// `FusionRules.copiesPart`); the other parts are written in place.
    /// A copied part in `loadedInto` is not copied into that concat.
    var copiedParts: Set<String> = []
    /// Concat parts loaded from DRAM straight into their channels of this
    /// concat's buffer (its buffer is theirs): no buffer of their own, no COPY.
    var loadedInto: [String: String] = [:]
    /// Activations the group reads from DRAM, in first-use order.
    var inputs: [String]
    /// Output rows per band.
    var rows: Int
    /// The bands, warm-up bands of virtual rows above the map (negative) first.
    var bands: [Range<Int>]
    /// Per band: the rows of every value the band needs (may reach into
    /// padding, i.e. below 0 or past the height).
    var needed: [RowNeeds]
    /// Per band, the rows of a buffer maps are loaded into (see
    /// `loadedInto`) where they are more than its own value's: the hull of
    /// its value's rows and those of the maps in it. Empty when no buffer has more.
    var spans: [[String: Range<Int>]] = []
    /// SRAM layout: where each value's buffer is, its rows and row width.
    var buffers: [String: SRAMBuffer]
    /// Convolutions whose weights stream through SRAM in blocks of this many
    /// output channels (once per band) instead of staying resident.
    var streamed: [String: Int]
    /// SRAM address of the two streaming slots, and the bytes of one (the largest block).
    var streamBase: Int
    var streamSlot: Int
    /// SRAM bytes of the resident constants (weights and per-channel vectors), from address 0.
    var weightBytes: Int
    /// Convolutions of the group's inputs with few input channels whose taps
    /// fold into channels (see `ConvTiling.foldTaps`): the SRAM address of
    /// the scratch each band's input is rebuilt in.
    var folded: [String: Int] = [:]
    /// Element-wise layers read only by a 1x1 convolution (a dense layer's
    /// BatchNormalization and ReLU over its concat), computed this many rows
    /// at a time right before the convolution reads them: their buffer holds
    /// two such chunks, not the band's rows, one computed while the
    /// convolution reads the other (see `PlanningContext.chunkedInputs`).
    var chunked: [String: Int] = [:]
    /// A GlobalAveragePool of the output (see `FusionRules.poolingTail`):
    /// each band averages its output rows along the width into `rowMeans`
    /// (channels x height), and the last averages those into `result`.
    var pooled: PoolingTail?
    /// Maps held whole in SRAM across groups (see `SqueezeHold`): their
    /// buffers (slot 0 of one slot, every row at its tensor row) outlive the
    /// group. The group that makes one never stores it; the one that reads
    /// it never loads it.
    var held: Set<String> = []
    /// One band whose buffers share SRAM by lifetime: a buffer's bytes are
    /// another's once its last reader (or its store) is done, as in
    /// whole-map plans. An inception module's branches then fit in one
    /// group that reads the module's input once, with its weights streamed once.
    var packed = false
    /// With a cached halo: each buffer's kept rows move for the next band as soon as this band is done
    /// with the buffer, not at the next band's start. The vector engine runs in program order, so the
    /// moves then do not wait behind this band's later vector work (which may wait for the matrix unit),
    /// but that work may wait behind them: which is faster depends on the group, and the planner simulates both.
    var shiftsEarly = false
    var sramBytes: Int
    /// DRAM bytes the group moves: inputs with halo, weights once, output once.
    var dramBytes: Int
    var estimatedCycles: Int

    struct PoolingTail {
        var node: String
        var rowMeans: Int
        var result: Int
        /// False when nothing but the pool reads the map: its rows are never stored.
        var storesMap = true
    }

    var tileDescription: String {
        let streaming =
            streamed.isEmpty
            ? ""
            : ", streaming "
                + streamed.keys.sorted().map { "\($0) in blocks of \(streamed[$0]!)" }.joined(separator: ",")
        let real = bands.filter { $0.upperBound > 0 }.count, warmUp = bands.count - real
        let single = buffers.values.allSatisfy { $0.slots == 1 } && bands.count > 1 ? ", single-buffered" : ""
        let warm = warmUp > 0 ? " after \(warmUp) warm-up band\(warmUp == 1 ? "" : "s")" : ""
        let folding =
            folded.isEmpty ? "" : ", taps folded into channels in " + folded.keys.sorted().joined(separator: ",")
        let pooling = pooled.map { ", averaged into \($0.node)" } ?? ""
        let storing = stores.isEmpty ? "" : ", also storing " + stores.keys.sorted().joined(separator: ",")
        let holding = held.isEmpty ? "" : ", holding " + held.sorted().joined(separator: ",") + " whole in SRAM"
        let packing = packed ? ", buffers sharing SRAM by lifetime" : ""
        let shifts = shiftsEarly ? " (moved early)" : ""
        return
            "\(real) band\(real == 1 ? "" : "s") of \(rows) rows\(warm), halo \(halo.rawValue)\(shifts)\(streaming)\(folding)\(pooling)\(storing)\(holding)\(single)\(packing), SRAM \(sramBytes) B"
    }

    /// The rows band `index` holds in `owner`'s buffer (see `spans`).
    func heldRows(_ owner: String, band index: Int) -> Range<Int>? {
        Self.heldRows(owner, band: index, needed: needed, spans: spans)
    }
    static func heldRows(
        _ owner: String, band index: Int, needed: [RowNeeds], spans: [[String: Range<Int>]]
    )
        -> Range<Int>?
    {
        (spans.isEmpty ? nil : spans[index][owner]) ?? needed[index][owner]
    }

    /// Rows of a value a band must produce itself: all it needs when
    /// recomputing, only those past the previous band's when caching.
    static func newRows(_ needed: Range<Int>, previous: Range<Int>?, halo: Halo) -> Range<Int> {
        guard halo == .cache, let previous else { return needed }
        let low = max(needed.lowerBound, previous.upperBound)
        return low..<max(low, needed.upperBound)
    }

    /// Rows of `value` band `index` computes: the fresh rows inside the map.
    func computedRows(_ value: String, band index: Int, height: Int) -> Range<Int> {
        Self.computedRows(value, band: index, height: height, needed: needed, halo: halo)
    }

    /// `computedRows` of a plan with these `needed` rows and this halo mode.
    static func computedRows(_ value: String, band index: Int, height: Int, needed: [RowNeeds], halo: Halo)
        -> Range<Int>
    {
        guard let id = needed[index].values.ids[value] else { return 0..<0 }
        return computedRows(id: id, band: index, height: height, needed: needed, halo: halo)
    }

    /// `computedRows` of the value numbered `id` in the group's `GroupValues`.
    static func computedRows(id: Int, band index: Int, height: Int, needed: [RowNeeds], halo: Halo) -> Range<Int> {
        let previous = index > 0 ? needed[index - 1][id: id] : nil
        let fresh = newRows(needed[index][id: id] ?? 0..<0, previous: previous, halo: halo)
        let low = max(0, fresh.lowerBound)
        return low..<max(low, min(height, fresh.upperBound))
    }
}
