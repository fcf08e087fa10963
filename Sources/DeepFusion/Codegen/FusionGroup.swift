import Accelerator
import GraphIR

/// A run of consecutive layers computed band by band: for each band of the
/// group's output rows, the rows every layer needs are found by walking
/// receptive fields backwards; only the group's inputs are loaded (with their
/// halo), intermediates live and die in SRAM, only the output is stored. The
/// overlap between neighbouring bands is recomputed or cached (see `Halo`).
struct FusionGroup {
    /// How the rows neighbouring bands share (the halo) are obtained: reloaded
    /// and recomputed, or cached, i.e. kept from the previous band and copied
    /// from one buffer slot to the other, so that every input row is loaded
    /// once and every intermediate row computed once.
    enum Halo: String { case recompute, cache }
    var halo: Halo
    /// Indices into the graph's nodes, consecutive.
    var nodes: Range<Int>
    /// The one value that leaves the group.
    var output: String
    /// Activations the group reads from DRAM, in first-use order.
    var inputs: [String]
    /// Output rows per band.
    var rows: Int
    var bands: [Range<Int>]
    /// Per band: the rows of every value the band needs (may reach into
    /// padding, i.e. below 0 or past the height).
    var needed: [[String: Range<Int>]]
    /// SRAM layout: where each value's buffer is, its rows and row width.
    var buffers: [String: Buffer]
    /// Convolutions whose weights stream through SRAM in blocks of this many
    /// output channels (once per band) instead of staying resident.
    var streamed: [String: Int]
    /// SRAM address of the two streaming slots.
    var streamBase: Int
    var weightBytes: Int
    var sramBytes: Int
    /// DRAM bytes the group moves: inputs with halo, weights once, output once.
    var dramBytes: Int
    var estimatedCycles: Int
    /// Set for a whole-map group (see `ChannelPlan`); bands then has one entry.
    var channels: ChannelPlan? = nil

    struct Buffer {
        /// Byte address of slot 0 (two slots for inputs and the output).
        var address: Int
        var slots: Int
        var channels: Int
        var rows: Int
        var marginLeft: Int
        var width: Int
        var height: Int
        var rowWidth: Int { marginLeft + width + marginRight }
        var marginRight: Int
        /// Another value's buffer this one lives in (Concat parts), and its channel offset.
        var alias: (value: String, channelOffset: Int)?
        /// Tensor row of the buffer's first row (whole-map groups; negative in padding).
        var top = 0
        var slotBytes: Int { 4 * channels * rows * rowWidth }
        /// Band buffers keep rows outermost ([row][channel][column]), so the
        /// rows a band keeps for the next are one contiguous block.
        var rowStride: Int { channels * rowWidth }
    }
}

extension Codegen {
    /// Nodes a fusion group may contain: locally independent on rows.
    static func fusible(_ node: Node, graph: Graph) -> Bool {
        guard unlowerableReason(node, graph: graph) == nil, node.outputs.count == 1,
              let y = graph.type(of: node.outputs[0]), y.rank == 4, y.shape[0] == 1 else { return false }
        let runtime = node.inputs.filter { !$0.isEmpty && graph.initializers[$0] == nil }
        guard runtime.allSatisfy({ graph.type(of: $0)?.rank == 4 && graph.type(of: $0)?.shape[0] == 1 }) else { return false }
        switch node.kind {
        case .conv:
            return graph.initializers[node.inputs[1]] != nil && node.input(2).map { graph.initializers[$0] != nil } ?? true
        case .maxPool, .averagePool:
            return true
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .batchNormalization:
            return true
        case .add, .sub, .mul:
            // Full-size runtime operands, or constants with one value per channel.
            return node.inputs.allSatisfy { input in
                if let constant = graph.initializers[input] {
                    guard constant.shape.count <= 4 else { return false }
                    let aligned = Array(repeating: 1, count: 4 - constant.shape.count) + constant.shape
                    return constant.count == 1 || (aligned[1] == y.shape[1] && aligned[0] == 1 && aligned[2] == 1 && aligned[3] == 1)
                }
                return graph.type(of: input)?.shape == y.shape
            } && (node.kind != .sub || graph.initializers[node.inputs[0]] == nil)
        case .concat:
            return ShapeMath.normalize(axis: node.int("axis", default: 1), rank: 4) == 1
        default:
            return false
        }
    }

    /// Nodes a group computes on the vector unit one element at a time.
    static func elementwiseInGroup(_ node: Node) -> Bool {
        switch node.kind {
        case .add, .sub, .mul, .batchNormalization, .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh: return true
        default: return false
        }
    }

    /// Row and column reach of a conv or pool node: output rows [lo, hi)
    /// read input rows [lo*s - pad, (hi-1)*s - pad + (k-1)*d + 1).
    struct Reach {
        var kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, padTop = 0, padLeft = 0
        func rows(_ out: Range<Int>) -> Range<Int> {
            guard !out.isEmpty else { return 0..<0 }
            return (out.lowerBound * sh - padTop)..<((out.upperBound - 1) * sh - padTop + (kh - 1) * dh + 1)
        }
        func cols(outputWidth: Int) -> Int { (outputWidth - 1) * sw + (kw - 1) * dw + 1 }
    }

    func reach(_ node: Node) throws -> Reach {
        switch node.kind {
        case .conv:
            let g = try convGeometry(node)
            return Reach(kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, padTop: g.padTop, padLeft: g.padLeft)
        case .maxPool, .averagePool:
            let x = graph.type(of: node.inputs[0])!
            let w = try WindowGeometry(node: node, spatial: Array(x.shape[2...]))
            return Reach(kh: w.kernel[0], kw: w.kernel[1], sh: w.strides[0], sw: w.strides[1], dh: w.dilations[0], dw: w.dilations[1],
                         padTop: w.padsBegin[0], padLeft: w.padsBegin[1])
        default:
            return Reach()
        }
    }

    /// Plans nodes[range] as one group with bands of `rows` output rows; nil
    /// when it is not a valid group or does not fit the SRAM.
    /// `maxSlots` 1 makes every buffer single: loads, stores and the cached
    /// halo's copies then wait for the band before them (less SRAM, less overlap).
    /// `checked`: the caller already knows `structureProblem` finds nothing.
    func planGroup(_ range: Range<Int>, rows: Int, halo: FusionGroup.Halo, consumers: [String: [Int]], maxSlots: Int = 2,
                   checked: Bool = false) throws -> FusionGroup? {
        let nodes = range.map { graph.nodes[$0] }
        guard checked || Self.structureProblem(range, graph: graph, consumers: consumers) == nil else { return nil }
        let produced = Set(nodes.flatMap(\.outputs))
        let output = nodes.last!.outputs[0]
        var inputs: [String] = []
        for node in nodes {
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil && !produced.contains(input) && !inputs.contains(input) {
                inputs.append(input)
            }
        }
        // Concat parts are written in place into the concat's buffer: they must be produced here and read only by it.
        var alias: [String: (String, Int)] = [:]
        for node in nodes where node.kind == .concat {
            var offset = 0
            for part in node.inputs {
                alias[part] = (node.outputs[0], offset)
                offset += graph.type(of: part)!.shape[1]
            }
        }
        let reaches = try zip(range, nodes).map { index, node in try knownReaches?[index] ?? reach(node) }
        var floorsForWarmUp: [String: Int]?
        let outputType = graph.type(of: output)!
        let height = outputType.shape[2]
        var bands = stride(from: 0, to: height, by: rows).map { $0..<min($0 + rows, height) }

        // Rows each band needs of every value, walking the group backwards.
        // When caching, a band computes only the rows of each value past those
        // earlier bands computed, so it reads only what those fresh rows need:
        // a buffer holds the rows read in this band (kept ones and fresh ones).
        // `requests` are virtual rows above the map (warm-up bands, below): they
        // hold no data, but the rows of the map their windows reach are needed.
        func walk(_ band: Range<Int>, previous: [String: Range<Int>]?, floors: [String: Int]?) -> [String: Range<Int>]? {
            var need: [String: Range<Int>] = [:], requests: [String: Range<Int>] = [:]
            if band.upperBound > 0 { need[output] = band } else { requests[output] = band }
            func add(_ rows: Range<Int>, to value: String, in map: inout [String: Range<Int>]) {
                guard !rows.isEmpty else { return }
                map[value] = map[value].map { min($0.lowerBound, rows.lowerBound)..<max($0.upperBound, rows.upperBound) } ?? rows
            }
            for (node, reach) in zip(nodes, reaches).reversed() {
                let v = node.outputs[0]
                let window = node.kind == .conv || node.kind == .maxPool || node.kind == .averagePool
                let inputs = node.inputs.filter { !$0.isEmpty && graph.initializers[$0] == nil }
                if let request = requests[v] {
                    let reached = window ? reach.rows(request) : request
                    for input in inputs {
                        let floor = floors?[input] ?? 0
                        add(max(floor, reached.lowerBound)..<max(floor, reached.upperBound), to: input, in: &need)
                        let above = min(floor, reached.upperBound)
                        if above > reached.lowerBound { add(reached.lowerBound..<above, to: input, in: &requests) }
                    }
                }
                // Nothing reads v in this band: it computes nothing new (its rows are kept below).
                guard let want = need[v] else {
                    if previous?[v] != nil || band.upperBound <= 0 || requests[v] != nil { continue }
                    return nil
                }
                let h = graph.type(of: v)!.shape[2]
                let fresh = Self.newRows(want, previous: previous?[v], halo: halo)
                let computed = max(0, fresh.lowerBound)..<max(max(0, fresh.lowerBound), min(h, fresh.upperBound))
                guard !computed.isEmpty else { continue }
                let from = window ? reach.rows(computed) : computed
                for input in inputs { add(from, to: input, in: &need) }
            }
            return need
        }
        if halo == .cache, let first = walk(bands[0], previous: nil, floors: nil) {
            // Warm-up bands of virtual rows above the map fill the pipeline one
            // window step at a time, so no band computes more of a value than
            // the steady state does (the first band would otherwise hold every
            // layer's lookahead at once, and size every buffer by it).
            let lookahead = zip(nodes, reaches).reduce(0) { total, pair in
                let (node, reach) = pair
                guard node.kind == .conv || node.kind == .maxPool || node.kind == .averagePool else { return total }
                return total + max(0, (reach.kh - 1) * reach.dh - reach.padTop)
            }
            let warmUp = (lookahead + rows - 1) / rows
            bands = stride(from: -warmUp * rows, to: 0, by: rows).map { $0..<($0 + rows) } + bands
            floorsForWarmUp = first.mapValues { min(0, $0.lowerBound) }
        }
        var needed: [[String: Range<Int>]] = []
        for band in bands {
            let previous = needed.last
            guard var need = walk(band, previous: previous, floors: floorsForWarmUp) else { return nil }
            // A value nothing reads in this band keeps what it holds.
            if let previous {
                for (value, held) in previous where need[value] == nil { need[value] = held }
                // Rows dropped from a buffer are never read again: every window only moves down.
                for (value, rows) in need {
                    if let held = previous[value], rows.lowerBound < held.lowerBound { return nil }
                }
            }
            needed.append(need)
        }

        // Element-wise layers write in place over an operand only they read,
        // when both hold the same rows in every band: one buffer instead of two.
        var inPlace: Set<String> = []
        for (index, node) in zip(range, nodes) where Self.elementwiseInGroup(node) {
            let v = node.outputs[0]
            guard alias[v] == nil, !graph.outputs.contains(v) else { continue }
            for u in node.inputs where produced.contains(u) && graph.type(of: u)?.shape == graph.type(of: v)?.shape {
                let root = inPlace.contains(u) ? alias[u]!.0 : u
                guard alias[u] == nil || inPlace.contains(u), consumers[u] == [index],
                      needed.allSatisfy({ $0[root] == $0[v] }) else { continue }
                alias[v] = (root, 0)
                inPlace.insert(v)
                break
            }
        }

        // Column margins each value needs for its conv/pool readers.
        var marginLeft: [String: Int] = [:], marginRight: [String: Int] = [:]
        for (node, reach) in zip(nodes, reaches) where node.kind == .conv || node.kind == .maxPool || node.kind == .averagePool {
            let u = node.inputs[0], wu = graph.type(of: u)!.shape[3], wo = graph.type(of: node.outputs[0])!.shape[3]
            marginLeft[u] = max(marginLeft[u] ?? 0, reach.padLeft)
            marginRight[u] = max(marginRight[u] ?? 0, reach.cols(outputWidth: wo) - reach.padLeft - wu)
        }
        // Parts share their concat's layout.
        for (part, (whole, _)) in alias {
            marginLeft[whole] = max(marginLeft[whole] ?? 0, marginLeft[part] ?? 0)
            marginRight[whole] = max(marginRight[whole] ?? 0, marginRight[part] ?? 0)
        }

        // SRAM: resident weights and channel vectors, then one buffer per value.
        // Per-channel vectors are always resident; convolution weights are
        // resident too unless that does not fit, in which case the largest
        // convolutions stream blocks of output channels through two slots, once per band.
        let vectorBytes = groupVectorBytes(nodes)
        let values = inputs + nodes.map { $0.outputs[0] }
        var bufferBytes = 0
        var shapes: [String: (rows: Int, slots: Int)] = [:]
        for value in values where alias[value] == nil {
            let t = graph.type(of: value)!
            let maxRows = max(1, needed.map { $0[value]?.count ?? 0 }.max() ?? 0)
            let sharing = [value] + alias.filter { $0.value.0 == value }.map(\.key)
            let slots = min(maxSlots, halo == .cache || inputs.contains(value) || sharing.contains(output) ? 2 : 1)
            let rowWidth = max(0, marginLeft[value] ?? 0) + t.shape[3] + max(0, marginRight[value] ?? 0)
            bufferBytes += DRAMPlan.align(4 * t.shape[1] * maxRows * rowWidth) * slots
            shapes[value] = (maxRows, slots)
        }
        let convs = nodes.filter { $0.kind == .conv }
        func weightSize(_ node: Node) -> Int { DRAMPlan.align(4 * graph.initializers[node.inputs[1]]!.count) }
        var streamed: [String: Int] = [:]
        func blockBytes(_ node: Node, _ block: Int) -> Int {
            let w = graph.initializers[node.inputs[1]]!
            return DRAMPlan.align(4 * block * (w.count / w.shape[0]))
        }
        func residentBytes() -> Int { convs.filter { streamed[$0.name] == nil }.reduce(vectorBytes) { $0 + weightSize($1) } }
        func streamRegion() -> Int { streamed.map { name, block in 2 * blockBytes(convs.first { $0.name == name }!, block) }.max() ?? 0 }
        while residentBytes() + streamRegion() + bufferBytes > config.sramBytes {
            // Stream the largest resident convolution in the widest blocks that fit.
            guard let largest = convs.filter({ streamed[$0.name] == nil && $0.int("group", default: 1) == 1 })
                    .max(by: { weightSize($0) < weightSize($1) }) else { return nil }
            let cout = graph.initializers[largest.inputs[1]]!.shape[0]
            streamed[largest.name] = cout
            let room = config.sramBytes - bufferBytes - residentBytes()
            var block = cout
            // Blocks fill the matrix unit's lanes when they can; narrower ones only to fit.
            while block > 8 && streamRegion() > room {
                let lanes = block > config.matrixOutputLanes ? config.matrixOutputLanes : 8
                block = max(8, (block / 2 + lanes - 1) / lanes * lanes)
                streamed[largest.name] = block
            }
            if streamRegion() > room && convs.allSatisfy({ streamed[$0.name] != nil || $0.int("group", default: 1) != 1 }) { return nil }
        }
        let weightBytes = residentBytes()
        let streamBase = DRAMPlan.align(weightBytes)
        var buffers: [String: FusionGroup.Buffer] = [:]
        var cursor = streamBase + streamRegion()
        for value in values where alias[value] == nil {
            let t = graph.type(of: value)!
            let (maxRows, slots) = shapes[value]!
            let buffer = FusionGroup.Buffer(address: cursor, slots: slots, channels: t.shape[1], rows: maxRows,
                                            marginLeft: max(0, marginLeft[value] ?? 0), width: t.shape[3], height: t.shape[2],
                                            marginRight: max(0, marginRight[value] ?? 0), alias: nil)
            cursor += DRAMPlan.align(buffer.slotBytes) * slots
            buffers[value] = buffer
        }
        for (part, (whole, offset)) in alias {
            var buffer = buffers[whole]!
            buffer.alias = (whole, offset)
            buffer.channels = graph.type(of: part)!.shape[1]
            buffers[part] = buffer
        }
        guard cursor <= config.sramBytes else { return nil }

        // Exact DRAM bytes: input rows inside the tensor per band, weights once, output once.
        var dram = 0
        for (index, need) in needed.enumerated() {
            let previous = index > 0 ? needed[index - 1] : nil
            for input in inputs {
                let t = graph.type(of: input)!
                let r = Self.newRows(need[input] ?? 0..<0, previous: previous?[input], halo: halo)
                let valid = max(0, min(t.shape[2], r.upperBound) - max(0, r.lowerBound))
                dram += 4 * t.shape[1] * valid * t.shape[3]
            }
        }
        func computingBands(_ node: Node) -> Int {
            let v = node.outputs[0], h = graph.type(of: v)!.shape[2]
            return needed.indices.filter { index in
                let fresh = Self.newRows(needed[index][v] ?? 0..<0, previous: index > 0 ? needed[index - 1][v] : nil, halo: halo)
                return min(h, fresh.upperBound) > max(0, fresh.lowerBound)
            }.count
        }
        var weightTraffic = 0
        for node in nodes {
            for (i, input) in node.inputs.enumerated() where !input.isEmpty {
                guard let t = graph.initializers[input] else { continue }
                // Streamed weights cross the channel once per band that computes rows of this layer.
                weightTraffic += 4 * t.count * (i == 1 && streamed[node.name] != nil ? computingBands(node) : 1)
            }
            if node.kind == .batchNormalization { weightTraffic += 2 * 4 * graph.type(of: node.outputs[0])!.shape[1] }
        }
        dram += weightTraffic + 4 * outputType.count
        // Cycles: per-band compute on each unit and DMA, the busiest of them.
        var matrix = 0, vector = 0
        let geometries = try nodes.map { $0.kind == .conv ? try convGeometry($0) : nil }
        let types = nodes.map { graph.type(of: $0.outputs[0])! }
        for (index, need) in needed.enumerated() {
            let previous = index > 0 ? needed[index - 1] : nil
            if halo == .cache, let previous {
                for (value, buffer) in buffers where buffer.alias == nil {
                    let kept = max(0, (previous[value]?.upperBound ?? 0) - (need[value]?.lowerBound ?? 0))
                    vector += (buffer.channels * kept * buffer.rowWidth + config.vectorLanes - 1) / config.vectorLanes
                }
            }
            for (k, node) in nodes.enumerated() {
                let y = types[k]
                let fresh = Self.newRows(need[node.outputs[0]] ?? 0..<0, previous: previous?[node.outputs[0]], halo: halo)
                let rowsComputed = max(0, min(y.shape[2], fresh.upperBound) - max(0, fresh.lowerBound))
                let outputs = y.shape[1] * rowsComputed * y.shape[3]
                switch node.kind {
                case .conv:
                    let g = geometries[k]!
                    if g.depthwise {
                        vector += (outputs * g.kh * g.kw + config.vectorLanes - 1) / config.vectorLanes
                    } else {
                        let lanes = (g.cinPerGroup + config.matrixInputLanes - 1) / config.matrixInputLanes
                            * ((g.coutPerGroup + config.matrixOutputLanes - 1) / config.matrixOutputLanes) * g.groups
                        matrix += lanes * rowsComputed * y.shape[3] * g.kh * g.kw
                    }
                case .concat: break
                default: vector += (outputs * 2 + config.vectorLanes - 1) / config.vectorLanes
                }
            }
        }
        let transfers = bands.count * (inputs.count + 1) + nodes.count
        let channel = dram / config.dramBytesPerCycle + transfers * config.dmaSetupCycles / 4
        return FusionGroup(halo: halo, nodes: range, output: output, inputs: inputs, rows: rows, bands: bands, needed: needed,
                           buffers: buffers, streamed: streamed, streamBase: streamBase, weightBytes: weightBytes, sramBytes: cursor, dramBytes: dram,
                           estimatedCycles: max(matrix, vector, channel))
    }

    /// Rows of a value a band must produce itself: all it needs when
    /// recomputing, only those past the previous band's when caching.
    static func newRows(_ needed: Range<Int>, previous: Range<Int>?, halo: FusionGroup.Halo) -> Range<Int> {
        guard halo == .cache, let previous else { return needed }
        let low = max(needed.lowerBound, previous.upperBound)
        return low..<max(low, needed.upperBound)
    }
}
