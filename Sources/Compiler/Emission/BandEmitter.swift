import Accelerator
import GraphIR

/// What `BandSlots` reads of a value with a buffer, resolved once per plan
/// (every band of every layer asks for it, and names are slow to hash).
private struct BufferHome {
    /// The value's own entry in `BandPlan.buffers`.
    var own: SRAMBuffer
    /// The buffer that holds the value (its concat's, for a part), its value and the channel offset in it.
    var owner: String
    var buffer: SRAMBuffer
    var channelOffset: Int
    /// Whether the owner is a held map (every row at its tensor row).
    var held: Bool
    /// The owner's number in the group's `GroupValues` (nil: not numbered).
    var ownerID: Int?
    /// The channels a tile of the value spans: its buffer's, or an alias's own (nil: not known, looked up when asked).
    var channels: Int?

    /// Every value with a buffer in `plan` (whose owner has one: others are never asked for).
    static func all(_ plan: BandPlan, graph: Graph) -> [String: BufferHome] {
        let ids = plan.needed.first?.values.ids
        var homes: [String: BufferHome] = [:]
        for (value, b) in plan.buffers {
            let owner = b.alias?.value ?? value
            guard let buffer = plan.buffers[owner] else { continue }
            homes[value] = BufferHome(
                own: b, owner: owner, buffer: buffer, channelOffset: b.alias?.channelOffset ?? 0,
                held: plan.held.contains(owner), ownerID: ids?[owner],
                channels: b.alias == nil ? buffer.channels : graph.type(of: value)?.shape[1])
        }
        return homes
    }
}

/// Where one band of a band plan keeps each value: the slot of its buffer
/// this band uses and the tiles of given rows in it.
private struct BandSlots {
    let plan: BandPlan
    let graph: Graph
    let index: Int
    /// `BufferHome.all(plan, graph:)`.
    let homes: [String: BufferHome]
    var need: RowNeeds { plan.needed[index] }
    var previous: RowNeeds? { index > 0 ? plan.needed[index - 1] : nil }

    /// The buffer that holds `value` (its concat's, for a part) and the channel offset in it.
    func home(_ value: String) -> (owner: String, buffer: SRAMBuffer, channelOffset: Int) {
        let h = homes[value]!
        return (h.owner, h.buffer, h.channelOffset)
    }
    func slot(_ b: SRAMBuffer, band: Int? = nil) -> Int {
        b.address + ((band ?? index) % b.slots) * DRAMPlan.align(b.slotBytes)
    }
    /// `home`: the value's `BufferHome` when the caller already has it (nil: looked up by name).
    func range(_ value: String, home: BufferHome? = nil) -> MemoryRange {
        let b = (home ?? homes[value]!).buffer
        return .sram(slot(b), bytes: b.slotBytes)
    }
    /// Tensor rows `rows` of `value`, buffer columns from `column`, `width` wide.
    func tile(_ value: String, home: BufferHome? = nil, rows: Range<Int>, column: Int, width: Int) -> SRAMTile {
        tile(value, home ?? homes[value]!, rows: rows, column: column, width: width)
    }
    private func tile(_ value: String, _ h: BufferHome, rows: Range<Int>, column: Int, width: Int) -> SRAMTile {
        let b = h.buffer
        // A held map keeps every row at its tensor row; the rows of the others by number (`BandPlan.heldRows`).
        let heldRows =
            plan.spans.isEmpty ? h.ownerID.flatMap { plan.needed[index][id: $0] } : plan.heldRows(h.owner, band: index)
        let origin = h.held ? 0 : heldRows!.lowerBound
        let channels = h.channels ?? graph.type(of: value)!.shape[1]
        let address = slot(b) + 4 * (h.channelOffset * b.rowWidth + (rows.lowerBound - origin) * b.rowStride + column)
        return SRAMTile(
            addr: address, channels: channels, height: rows.count, width: width,
            channelStride: b.rowWidth, rowStride: b.rowStride)
    }
    func interior(_ value: String, home: BufferHome? = nil, rows: Range<Int>) -> SRAMTile {
        let h = home ?? homes[value]!
        return tile(value, h, rows: rows, column: h.own.marginLeft, width: h.own.width)
    }
}

/// A buffer whose kept rows a cached halo moves: its value, its buffer and
/// the value's number in the group's `GroupValues` (nil: not numbered).
private struct HaloBuffer {
    var owner: String
    var buffer: SRAMBuffer
    var id: Int?
    /// The owner's number among the buffers `emitBands` tracks (see `BufferOwners`).
    var number: Int
}

/// The buffers a band plan's emission tracks (those inputs are loaded into,
/// those whose kept rows move, the output's), numbered once per plan so that
/// every band's sets of them are arrays of flags, not sets of names.
private struct BufferOwners {
    private(set) var names: [String] = []
    private var numbers: [String: Int] = [:]

    /// The number of `owner`, given one the first time it is asked for.
    mutating func number(_ owner: String) -> Int {
        if let n = numbers[owner] { return n }
        numbers[owner] = names.count
        names.append(owner)
        return names.count - 1
    }

    /// The number of an owner already numbered.
    func id(_ owner: String) -> Int { numbers[owner]! }

    /// A set of owners: a flag per number.
    func flags(_ owners: some Sequence<Int>) -> [Bool] {
        var flags = [Bool](repeating: false, count: names.count)
        for n in owners { flags[n] = true }
        return flags
    }
}

extension Emitter {
    /// Emits a band plan: resident constants first, then per band the cached
    /// halo's copies, the inputs' rows (with halo, zero-filled at the
    /// borders), every layer on SRAM tiles, and the output's rows. The
    /// rows of the next band loaded into a buffer (an input's own, or the
    /// concat's an input is loaded into) are fetched as soon as this band's
    /// last layer to read or write that buffer is emitted, so the load
    /// overlaps the band's remaining layers even when the buffer has a single slot.
    mutating func emitBands(_ group: BandPlan) throws {
        let nodes = group.nodes.map { graph.nodes[$0] }
        let resident = loadGroupConstants(nodes) { group.streamed[$0.name] == nil }
        // Per layer (by its position in `nodes`, not by name: every band of every layer asks), found once for
        // all bands: its reach when windowed, whether its taps are folded and the rows each band stores of it.
        // Mapped by position: mapping (or zipping) the nodes themselves would copy each one.
        let reaches = try nodes.indices.map { nodes[$0].kind.hasWindow ? try reach(group.nodes.lowerBound + $0) : nil }
        let folded = nodes.indices.map { group.folded[nodes[$0].name] != nil }
        let stores = nodes.indices.map { group.stores[nodes[$0].outputs[0]] }
        var streamTurn = 0
        // The buffers inputs are loaded into (each input's, by number), and those whose next rows (cached halo,
        // loads) are already emitted.
        var owners = BufferOwners()
        let inputHomes = group.inputs.map { owners.number(group.buffers[$0]?.alias?.value ?? $0) }
        let outputHome = owners.number(group.buffers[group.output]?.alias?.value ?? group.output)
        for (value, buffer) in group.buffers { _ = owners.number(buffer.alias?.value ?? value) }
        let homes = owners.flags(inputHomes)
        // The buffers whose next rows are emitted as soon as this band is done with them: those inputs are
        // loaded into and, when the plan says so (`BandPlan.shiftsEarly`), every buffer whose kept rows move.
        var earlyOwners = Set(inputHomes)
        if group.halo == .cache && group.shiftsEarly {
            for (value, buffer) in group.buffers where buffer.alias == nil && !group.held.contains(value) {
                earlyOwners.insert(owners.id(value))
            }
        }
        let bufferHomes = BufferHome.all(group, graph: graph)
        // The buffers whose rows the cached halo's copies move, in name order, with their value numbers:
        // found once for all bands, which then look up rows by number, not by name.
        let haloBuffers =
            group.halo == .cache
            ? group.buffers.filter {
                $0.value.alias == nil && !group.held.contains($0.key) && group.chunked[$0.key] == nil
            }.sorted { $0.key < $1.key }
                .map {
                    HaloBuffer(
                        owner: $0.key, buffer: $0.value, id: group.needed.first?.values.ids[$0.key],
                        number: owners.id($0.key))
                } : []
        // Each layer's output by value number and its height, found once for all bands.
        let outputIDs = nodes.indices.map { group.needed.first?.values.ids[nodes[$0].outputs[0]] }
        // Each layer's first input's and output's buffer homes (nil: none), found once for all bands.
        let layerHomes = nodes.indices.map { k in
            (input: nodes[k].inputs.first.flatMap { bufferHomes[$0] }, output: bufferHomes[nodes[k].outputs[0]])
        }
        // Each layer's output type and its first input's, found once for all bands.
        let outputTypes = nodes.indices.map { valueType(nodes[$0].outputs[0])! }
        let inputTypes = nodes.indices.map { nodes[$0].inputs.first.flatMap { valueType($0) } }
        let heights = outputTypes.map { $0.shape[2] }
        // Folded convolutions (by position) whose taps of this band were rebuilt during the band before.
        var foldedEarly = [Bool](repeating: false, count: nodes.count)
        // Each layer's buffers among `early` (a reader of a channel slice of an input reads the
        // input's buffer): the same in every band, so found once.
        // A chunked layer (see `BandPlan.chunked`) is computed by the convolution that reads it: that
        // convolution uses its buffers too.
        var loadedHomes = nodes.indices.map { k in
            (nodes[k].inputs + nodes[k].outputs).compactMap { value -> Int? in
                guard let b = group.buffers[value] else { return nil }
                let owner = owners.id(b.alias?.value ?? value)
                return earlyOwners.contains(owner) ? owner : nil
            }
        }
        let chunked = nodes.indices.map { group.chunked[nodes[$0].outputs[0]] != nil }
        for k in nodes.indices where chunked[k] {
            if let reader = nodes.firstIndex(where: { $0.inputs.first == nodes[k].outputs[0] }) {
                loadedHomes[reader] += loadedHomes[k]
            }
        }
        // Every buffer is numbered by now: sets of them are flags by number.
        let ownerCount = owners.names.count
        let early = owners.flags(earlyOwners)
        var fetched = [Bool](repeating: false, count: ownerCount)
        // A timed emission skips bands that repeat earlier ones (see `BandRepeats`).
        var repeats =
            sequencer.isTimed && skipsRepeatedBands && group.bands.count > 2
            ? BandRepeats(group, valueType: valueType) : nil
        var skipTo = 0
        for (index, band) in group.bands.enumerated() {
            if index < skipTo { continue }
            if index > 0, repeats != nil {
                let local = (fetched + foldedEarly).map { $0 ? 1 : 0 } + [streamTurn % 2]
                if let skip = repeats!.skip(at: index, sequencer: &sequencer, local: local, turn: streamTurn) {
                    (skipTo, streamTurn) = (skip.band, streamTurn + skip.turns)
                    continue
                }
            }
            let slots = BandSlots(plan: group, graph: graph, index: index, homes: bufferHomes)
            if group.halo == .cache, index > 0 {
                emitHaloCopies(slots, nodes: nodes, buffers: haloBuffers) { !fetched[$0] }
            }
            emitBandInputs(
                slots, nodes: nodes, inputHomes: inputHomes,
                homes: (0..<ownerCount).map { homes[$0] && !fetched[$0] })
            // The layers computing in this band (by position), and the last of them to use each buffer inputs
            // are loaded into.
            var computing: [Int] = [], computedRows: [Range<Int>] = []
            var lastUse = [Int?](repeating: nil, count: ownerCount)
            for k in nodes.indices where !chunked[k] {
                guard let id = outputIDs[k], slots.need[id: id] != nil else { continue }
                let rows = BandPlan.computedRows(
                    id: id, band: index, height: heights[k], needed: group.needed, halo: group.halo)
                guard !rows.isEmpty else { continue }
                for owner in loadedHomes[k] { lastUse[owner] = computing.count }
                computing.append(k)
                computedRows.append(rows)
            }
            // The band's output store reads the output's buffer after every layer.
            if early[outputHome], band.upperBound > 0 { lastUse[outputHome] = computing.count }
            let next =
                index + 1 < group.bands.count
                ? BandSlots(plan: group, graph: graph, index: index + 1, homes: bufferHomes) : nil
            fetched = [Bool](repeating: false, count: ownerCount)
            func prefetch(_ ready: [Bool]) {
                guard let next, ready.contains(true) else { return }
                if group.halo == .cache {
                    emitHaloCopies(next, nodes: nodes, buffers: haloBuffers) { ready[$0] }
                }
                emitBandInputs(next, nodes: nodes, inputHomes: inputHomes, homes: ready)
                for n in 0..<ownerCount where ready[n] { fetched[n] = true }
            }
            // The next band's folded taps are rebuilt once its rows are fetched and the layer after the
            // folded convolution is emitted: the vector engine runs in program order, and queued behind
            // this band's later vector work, which waits for the matrix unit, they would hold back the
            // next band's convolution.
            var foldedNext = [Bool](repeating: false, count: nodes.count)
            func foldEarly(after position: Int) {
                guard let next else { return }
                for k in nodes.indices where folded[k] {
                    let home = owners.id(next.home(nodes[k].inputs[0]).owner)
                    guard !foldedNext[k], fetched[home] || !homes[home],
                        computing.firstIndex(of: k).map({ $0 < position }) ?? true,
                        let id = outputIDs[k], next.need[id: id] != nil
                    else { continue }
                    let rows = BandPlan.computedRows(
                        id: id, band: index + 1, height: heights[k], needed: group.needed, halo: group.halo)
                    guard !rows.isEmpty, let reach = reaches[k] else { continue }
                    emitFoldedTaps(nodes[k], rows: rows, slots: next, reach: reach)
                    foldedNext[k] = true
                }
            }
            // The buffers whose last use each position is, grouped once rather than filtered per layer.
            var releasedAt = [[Bool]](
                repeating: [Bool](repeating: false, count: ownerCount), count: computing.count + 1)
            for (owner, position) in lastUse.enumerated() { if let position { releasedAt[position][owner] = true } }
            prefetch((0..<ownerCount).map { early[$0] && lastUse[$0] == nil })
            for (position, k) in computing.enumerated() {
                let computed = computedRows[position]
                try emitBandLayer(
                    nodes[k], types: (inputTypes[k], outputTypes[k]), homes: layerHomes[k], rows: computed,
                    slots: slots, resident: resident, reach: reaches[k], streamTurn: &streamTurn,
                    tapsFolded: foldedEarly[k])
                if let rows = stores[k]?[index], !rows.isEmpty {
                    storeBandRows(nodes[k].outputs[0], rows: rows, slots: slots, node: nodes[k].name)
                }
                prefetch(releasedAt[position])
                foldEarly(after: position)
            }
            foldedEarly = foldedNext
            // The output's rows of this band (none in a warm-up band).
            guard band.upperBound > 0 else { continue }
            defer { prefetch(releasedAt[computing.count]) }
            let y = location(group.output)
            let b = group.buffers[group.output]!
            let source = slots.interior(group.output, rows: band)
            var t = TransferOp(
                tensorAt: y.address, shape: y.shape, origin: [0, 0, band.lowerBound, 0],
                counts: [1, b.channels, band.count, b.width], sramAddr: source.addr)
            t.sramStrides = [0, b.rowWidth, b.rowStride, 1]
            if group.pooled?.storesMap ?? true {
                sequencer.emit(
                    .store(t), reads: [slots.range(group.output)], writes: [y.range],
                    nodes: [Self.producer(of: group.output, in: nodes)])
            }
            if let tail = group.pooled {
                // This band's output rows, each averaged along the width into its row mean.
                let means = SRAMTile(
                    addr: tail.rowMeans + 4 * band.lowerBound, channels: b.channels, height: band.count, width: 1,
                    channelStride: y.shape[2], rowStride: 1)
                sequencer.emit(
                    .pool(PoolOp(.avg, input: source, output: means, kernel: (1, b.width))),
                    reads: [slots.range(group.output)],
                    writes: [.sram(tail.rowMeans, bytes: 4 * b.channels * y.shape[2])],
                    nodes: [tail.node])
            }
        }
        if let tail = group.pooled {
            emitPooledResult(tail, of: group.output)
            storePooledResult(of: graph.nodes[group.nodes.upperBound - 1], from: tail.result)
        }
    }

    /// Rows of a value the group also stores (see `BandPlan.stores`), from
    /// its buffer (its concat's slice, for a Concat part) as soon as they are computed.
    private mutating func storeBandRows(_ value: String, rows: Range<Int>, slots: BandSlots, node: String) {
        let y = location(value)
        let source = slots.interior(value, rows: rows)
        var t = TransferOp(
            tensorAt: y.address, shape: y.shape, origin: [0, 0, rows.lowerBound, 0],
            counts: [1, source.channels, rows.count, source.width], sramAddr: source.addr)
        t.sramStrides = [0, source.channelStride, source.rowStride, 1]
        sequencer.emit(.store(t), reads: [slots.range(value)], writes: [y.range], nodes: [node])
    }

    /// A pooling tail's last step: the row means averaged into one value per channel.
    private mutating func emitPooledResult(_ tail: BandPlan.PoolingTail, of map: String) {
        let x = valueType(map)!
        let (channels, height) = (x.shape[1], x.shape[2])
        let means = SRAMTile(
            addr: tail.rowMeans, channels: channels, height: height, width: 1, channelStride: height, rowStride: 1)
        let result = SRAMTile(addr: tail.result, channels: channels, height: 1, width: 1)
        let meansRange = MemoryRange.sram(tail.rowMeans, bytes: 4 * channels * height)
        let resultRange = MemoryRange.sram(tail.result, bytes: 4 * channels)
        sequencer.emit(
            .pool(PoolOp(.avg, input: means, output: result, kernel: (height, 1))), reads: [meansRange],
            writes: [resultRange], nodes: [tail.node])
    }

    /// Cached halo: rows this band shares with the previous one move from
    /// the other slot to the top of this band's slot (rows are outermost in
    /// a band buffer, so kept rows are one contiguous block).
    /// `including`: which buffers to copy.
    /// `buffers`: the plan's buffers that are no alias and not held, sorted by name.
    private mutating func emitHaloCopies(
        _ slots: BandSlots, nodes: [Node], buffers: [HaloBuffer], including: (Int) -> Bool
    ) {
        guard slots.index > 0 else { return }
        let plan = slots.plan
        func heldRows(_ buffer: HaloBuffer, band: Int) -> Range<Int>? {
            guard plan.spans.isEmpty else { return plan.heldRows(buffer.owner, band: band) }
            return buffer.id.flatMap { plan.needed[band][id: $0] }
        }
        for halo in buffers {
            let (owner, b) = (halo.owner, halo.buffer)
            guard let now = heldRows(halo, band: slots.index), let before = heldRows(halo, band: slots.index - 1)
            else { continue }
            let kept = before.upperBound - now.lowerBound
            guard kept > 0, including(halo.number) else { continue }
            let shift = now.lowerBound - before.lowerBound
            func rowsCopy(count: Int, from: Int, to: Int) -> CopyOp {
                CopyOp(
                    counts: [1, 1, count, b.rowStride], srcAddr: from, srcStrides: [0, 0, b.rowStride, 1],
                    dstAddr: to, dstStrides: [0, 0, b.rowStride, 1])
            }
            if b.slots == 1 {
                // One slot: the kept rows move up within it, in chunks no taller than
                // the shift, so that each copy's source and destination are disjoint.
                guard shift > 0 else { continue }
                for first in stride(from: 0, to: kept, by: shift) {
                    let copy = rowsCopy(
                        count: min(shift, kept - first), from: b.address + 4 * (first + shift) * b.rowStride,
                        to: b.address + 4 * first * b.rowStride)
                    sequencer.emit(
                        .copy(copy), reads: [slots.range(owner)], writes: [slots.range(owner)],
                        nodes: [Self.firstReader(of: owner, in: nodes)])
                }
                continue
            }
            let source = slots.slot(b, band: slots.index - 1)
            let copy = rowsCopy(count: kept, from: source + 4 * shift * b.rowStride, to: slots.slot(b))
            sequencer.emit(
                .copy(copy), reads: [.sram(source, bytes: b.slotBytes)], writes: [slots.range(owner)],
                nodes: [Self.firstReader(of: owner, in: nodes)])
        }
    }

    /// Inputs loaded into the buffers `homes` (flags by the numbers `inputHomes`
    /// gives each input's buffer): the rows this band needs (only
    /// the new ones when caching), borders zero-filled by LOAD; an input
    /// loaded into a concat's buffer fills its channels of it.
    private mutating func emitBandInputs(_ slots: BandSlots, nodes: [Node], inputHomes: [Int], homes: [Bool]) {
        for (input, home) in zip(slots.plan.inputs, inputHomes) where homes[home] {
            let b = slots.plan.buffers[input]!
            guard let wanted = slots.need[input] else { continue }
            let rows = BandPlan.newRows(wanted, previous: slots.previous?[input], halo: slots.plan.halo)
            guard !rows.isEmpty else { continue }
            let target = slots.tile(input, rows: rows, column: 0, width: b.rowWidth)
            let t = paddedLoad(
                input, channels: 0..<target.channels, rows: rows,
                columns: -b.marginLeft..<(b.rowWidth - b.marginLeft), at: target.addr,
                strides: [0, target.channelStride, target.rowStride, 1])
            sequencer.emit(
                .load(t), reads: [location(input).range], writes: [slots.range(input)],
                nodes: [Self.firstReader(of: input, in: nodes)])
        }
    }

    /// A folded convolution's band rebuilt in its scratch (`BandPlan.folded`), one COPY per tap: channel
    /// c * kh * kw + ky * kw + kx holds tap (ky, kx) of input channel c, the weights' own order.
    private mutating func emitFoldedTaps(_ node: Node, rows computed: Range<Int>, slots: BandSlots, reach r: Reach) {
        let v = node.outputs[0], y = valueType(v)!, u = node.inputs[0], ub = slots.plan.buffers[u]!
        let input = slots.tile(
            u, rows: r.rows(computed), column: ub.marginLeft - r.padLeft, width: r.cols(outputWidth: y.shape[3]))
        let scratch = slots.plan.folded[node.name]!
        let count = computed.count, width = y.shape[3], taps = r.kh * r.kw
        let scratchRange = MemoryRange.sram(scratch, bytes: 4 * input.channels * taps * count * width)
        for ky in 0..<r.kh {
            for kx in 0..<r.kw {
                let copy = CopyOp(
                    counts: [1, input.channels, count, width],
                    srcAddr: input.addr + 4 * (ky * r.dh * input.rowStride + kx * r.dw),
                    srcStrides: [0, input.channelStride, r.sh * input.rowStride, r.sw],
                    dstAddr: scratch + 4 * (ky * r.kw + kx) * count * width,
                    dstStrides: [0, taps * count * width, width, 1])
                sequencer.emit(.copy(copy), reads: [slots.range(u)], writes: [scratchRange], nodes: [node.name])
            }
        }
    }

    /// One layer's fresh rows `rows` of this band.
    /// `tapsFolded`: a folded convolution's scratch already holds this band (see `emitFoldedTaps`).
    /// `types`: the types of the layer's first input (nil: not known) and its output.
    private mutating func emitBandLayer(
        _ node: Node, types: (input: TensorType?, output: TensorType),
        homes: (input: BufferHome?, output: BufferHome?), rows computed: Range<Int>, slots: BandSlots,
        resident: ResidentConstants, reach: Reach?, streamTurn: inout Int, tapsFolded: Bool = false
    ) throws {
        let v = node.outputs[0], y = types.output
        let out = slots.interior(v, home: homes.output, rows: computed)
        let outRange = slots.range(v, home: homes.output)
        // The name alone is captured: capturing the node would copy it (every field) for each layer of each band.
        let name = node.name
        func emit(_ op: Op, reads: [MemoryRange], writes: [MemoryRange]) {
            sequencer.emit(op, reads: reads, writes: writes, nodes: [name])
        }
        if node.kind == .channelShuffle {
            // One COPY: input channel b*(C/g) + a to output channel a*g + b, as a [g][C/g][rows][W] box.
            let u = node.inputs[0], input = slots.interior(u, home: homes.input, rows: computed)
            let groups = node.int("group", default: 1), perGroup = y.shape[1] / groups
            emit(
                .copy(
                    CopyOp(
                        counts: [groups, perGroup, computed.count, y.shape[3]], srcAddr: input.addr,
                        srcStrides: [perGroup * input.channelStride, input.channelStride, input.rowStride, 1],
                        dstAddr: out.addr, dstStrides: [out.channelStride, groups * out.channelStride, out.rowStride, 1]
                    )),
                reads: [slots.range(u, home: homes.input)], writes: [outRange])
            return
        }
        // A channel slice is a view of its input's buffer: nothing to do.
        if node.kind == .slice { return }
        if node.kind == .lrn {
            // Every channel of the band's rows is in the buffer: the window across channels reads them in place.
            let u = node.inputs[0]
            let op = LRNOp(
                input: slots.interior(u, home: homes.input, rows: computed), output: out,
                size: node.int("size", default: 1),
                alpha: node.float("alpha", default: 1e-4), beta: node.float("beta", default: 0.75),
                bias: node.float("bias", default: 1))
            emit(.lrn(op), reads: [slots.range(u, home: homes.input)], writes: [outRange])
            if let activation = node.activation {
                emit(
                    .act(ActOp(input: out, output: out, activation: activation.fused)), reads: [outRange],
                    writes: [outRange])
            }
            return
        }
        if node.kind == .concat {
            // Parts with buffers of their own are copied into their channels; the others were written in place.
            var offset = 0
            for part in node.inputs {
                defer { offset += valueType(part)!.shape[1] }
                guard slots.plan.copiedParts.contains(part), slots.plan.loadedInto[part] != v else { continue }
                let input = slots.interior(part, rows: computed)
                let copy = CopyOp(
                    counts: [1, input.channels, computed.count, y.shape[3]], srcAddr: input.addr,
                    srcStrides: [0, input.channelStride, input.rowStride, 1],
                    dstAddr: out.addr + 4 * offset * out.channelStride,
                    dstStrides: [0, out.channelStride, out.rowStride, 1])
                emit(.copy(copy), reads: [slots.range(part)], writes: [outRange])
            }
            return
        }
        guard node.kind.hasWindow else {
            try emitGroupElementwise(
                node, channels: 0..<y.shape[1], output: (out, outRange), resident: resident
            ) { (slots.interior($0, rows: computed), slots.range($0)) }
            return
        }
        let r = try reach ?? graph.reach(node)
        let u = node.inputs[0], ub = homes.input?.own ?? slots.plan.buffers[u]!, x = types.input ?? valueType(u)!
        let rows = r.rows(computed)
        let input = slots.tile(
            u, home: homes.input, rows: rows, column: ub.marginLeft - r.padLeft, width: r.cols(outputWidth: y.shape[3]))
        let window = PadWindow(originY: rows.lowerBound, originX: -r.padLeft, extentH: x.shape[2], extentW: x.shape[3])
        // A chunked input (see `BandPlan.chunked`): per chunk of rows, its layer computes them into one
        // half of its buffer, then the 1x1 convolution reads them there, while the next chunk goes to the
        // other half; the convolution's input tile, its range and the output tile.
        let chunk = slots.plan.chunked[u]
        let chunks =
            chunk.map { n in
                stride(from: computed.lowerBound, to: computed.upperBound, by: n).map {
                    $0..<min($0 + n, computed.upperBound)
                }
            } ?? [computed]
        func piece(_ rows: Range<Int>) throws -> (input: SRAMTile, range: MemoryRange, output: SRAMTile) {
            guard let chunk else { return (input, slots.range(u, home: homes.input), out) }
            let producer = graph.nodes[slots.plan.nodes.first { graph.nodes[$0].outputs[0] == u }!]
            var scratch = slots.interior(u, home: homes.input, rows: rows)
            let half = 4 * chunk * ub.rowStride
            scratch.addr = slots.slot(ub) + (rows.lowerBound - computed.lowerBound) / chunk % 2 * half
            let range = MemoryRange.sram(scratch.addr, bytes: half)
            try emitGroupElementwise(producer, channels: 0..<x.shape[1], output: (scratch, range), resident: resident) {
                (slots.interior($0, rows: rows), slots.range($0))
            }
            return (scratch, range, slots.interior(v, rows: rows))
        }
        if node.kind == .conv, let block = slots.plan.streamed[node.name] {
            // Blocks of output channels, each with its weights loaded into the other slot; a grouped
            // convolution's blocks hold whole groups and read only their groups' input channels.
            let weights = graph.initializers[node.inputs[1]]!
            let perChannel = weights.count / weights.shape[0]
            let groups = node.int("group", default: 1)
            let (groupWidth, groupInputs) = (y.shape[1] / groups, x.shape[1] / groups)
            let bias = node.input(2).map { resident[$0]! }
            for o0 in stride(from: 0, to: y.shape[1], by: block) {
                let count = min(block, y.shape[1] - o0)
                let address = slots.plan.streamBase + (streamTurn % 2) * slots.plan.streamSlot
                streamTurn += 1
                let dram = location(node.inputs[1])
                let t = TransferOp(
                    tensorAt: dram.address, shape: [weights.shape[0], perChannel], origin: [o0, 0],
                    counts: [count, perChannel], sramAddr: address)
                emit(
                    .load(t), reads: [.dram(dram.address, bytes: 4 * weights.count)],
                    writes: [.sram(address, bytes: 4 * count * perChannel)])
                for rows in chunks {
                    let (input, inputRange, out) = try piece(rows)
                    var part = out
                    part.addr += 4 * o0 * out.channelStride
                    part.channels = count
                    var inputs = input
                    if groups > 1 {
                        inputs.addr += 4 * o0 / groupWidth * groupInputs * input.channelStride
                        inputs.channels = count / groupWidth * groupInputs
                    }
                    var reads: [MemoryRange] = [inputRange, .sram(address, bytes: 4 * count * perChannel)]
                    if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
                    let op = ConvOp(
                        input: inputs, output: part, weightAddr: address, biasAddr: bias.map { $0.address + 4 * o0 },
                        kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw),
                        groups: groups > 1 ? count / groupWidth : 1,
                        window: chunk == nil ? window : nil, activation: node.activation?.fused ?? .none)
                    emit(.conv(op), reads: reads, writes: [outRange])
                }
            }
        } else if node.kind == .conv, let scratch = slots.plan.folded[node.name] {
            // Taps folded into channels: the band rebuilt in the scratch (see `emitFoldedTaps`), read by a 1x1 CONV.
            let w = resident[node.inputs[1]]!, bias = node.input(2).map { resident[$0]! }
            let folded = SRAMTile(
                addr: scratch, channels: input.channels * r.kh * r.kw, height: computed.count, width: y.shape[3])
            let scratchRange = MemoryRange.sram(scratch, bytes: 4 * folded.elements)
            if !tapsFolded { emitFoldedTaps(node, rows: computed, slots: slots, reach: r) }
            var reads = [scratchRange, .sram(w.address, bytes: 4 * w.count)]
            if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
            let op = ConvOp(
                input: folded, output: out, weightAddr: w.address, biasAddr: bias?.address, kernel: (1, 1),
                stride: (1, 1), dilation: (1, 1), groups: 1, activation: node.activation?.fused ?? .none)
            emit(.conv(op), reads: reads, writes: [outRange])
        } else if node.kind == .conv {
            let w = resident[node.inputs[1]]!, bias = node.input(2).map { resident[$0]! }
            for rows in chunks {
                let (input, inputRange, out) = try piece(rows)
                var reads = [inputRange, .sram(w.address, bytes: 4 * w.count)]
                if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
                let op = ConvOp(
                    input: input, output: out, weightAddr: w.address, biasAddr: bias?.address,
                    kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw),
                    groups: node.int("group", default: 1), window: chunk == nil ? window : nil,
                    activation: node.activation?.fused ?? .none)
                emit(.conv(op), reads: reads, writes: [outRange])
            }
        } else {
            let w = try WindowGeometry(node: node, spatial: Array(x.shape[2...]))
            let countPads =
                node.kind == .averagePool && node.int("count_include_pad", default: 0) == 1
                ? (w.padsBegin[0], w.padsBegin[1], w.padsEnd[0], w.padsEnd[1]) : (0, 0, 0, 0)
            let op = PoolOp(
                node.kind == .maxPool ? .max : .avg, input: input, output: out, kernel: (r.kh, r.kw),
                stride: (r.sh, r.sw), dilation: (r.dh, r.dw), window: window, countPads: countPads)
            emit(.pool(op), reads: [slots.range(u, home: homes.input)], writes: [outRange])
            if let activation = node.activation {
                emit(
                    .act(ActOp(input: out, output: out, activation: activation.fused)), reads: [outRange],
                    writes: [outRange])
            }
        }
    }
}
