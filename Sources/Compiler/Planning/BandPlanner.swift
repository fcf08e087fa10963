import Accelerator
import GraphIR

/// The layers of a band group and what every planning phase reads about them.
private struct BandLayers {
    let range: Range<Int>
    let nodes: [Node]
    let reaches: [Reach]
    /// The last layer's value, and the activations the group reads from DRAM (first use first).
    let output: String
    let inputs: [String]
    let produced: Set<String>
    /// Values the group also stores, band by band (see `FusionRules.storedValues`).
    var stored: [String] = []
    /// Values that live in another value's buffer: Concat parts in their
    /// concat's (at a channel offset), channel slices in their input's (at
    /// their first channel), in-place element-wise results in their operand's.
    var alias: [String: (String, Int)] = [:]
    /// Per layer: the maps it reads (`FusionRules.mapInputs`) and its output's type, asked for every band.
    var mapInputs: [[String]] = []
    var outputTypes: [TensorType] = []
    /// Maps held whole in SRAM at these addresses (see `BandPlan.held`): not read from DRAM.
    var held: [String: Int] = [:]
    /// Concat parts copied into their concat's buffer (see `FusionRules.copiesPart`).
    var copied: Set<String> = []
    /// The values the row walks touch, numbered (see `GroupValues`), and by
    /// number: their types, whether the group makes them, the buffer a walk
    /// widens with them (`alias` as the walk reads it: concat parts, views, slices).
    var values = GroupValues([])
    var types: [TensorType] = []
    var isProduced: [Bool] = []
    var holder: [Int?] = []
    /// By number: the loaded map a view is read from (see `viewOf`).
    var viewed: [Int?] = []
    /// By number as above: the last layer's value, each layer's output and map inputs, the stored values.
    var outputID = 0
    var outputIDs: [Int] = []
    var mapInputIDs: [[Int]] = []
    var storedIDs: [Int] = []
    var inputIDs: [Int] = []
    /// DRAM bytes of each layer's constants: its weights (operand 1, which may
    /// stream once per band) and the rest; of the runtime channel vectors.
    var constantDRAM: [(weights: Int, rest: Int)] = []
    var vectorDRAM = 0
    /// Per layer: the channels of each Concat part it copies (see `copied`).
    var copiedChannels: [[Int]] = []

    /// Numbers every value a walk can touch (call once the aliases are known); `type` is `Graph.type(of:)`.
    mutating func number(graph: Graph, type: (String) -> TensorType?) {
        var names: [String] = [], seen: Set<String> = []
        func note(_ value: String) { if seen.insert(value).inserted { names.append(value) } }
        for (node, inputs) in zip(nodes, mapInputs) {
            inputs.forEach(note)
            note(node.outputs[0])
        }
        for (part, (whole, _)) in alias.sorted(by: { $0.key < $1.key }) {
            note(part)
            note(whole)
        }
        inputs.forEach(note)
        stored.forEach(note)
        held.keys.sorted().forEach(note)
        values = GroupValues(names)
        types = names.map { type($0)! }
        isProduced = names.map { produced.contains($0) }
        holder = names.map { name in alias[name].map { values.ids[$0.0]! } }
        viewed = names.map { name in viewOf[name].map { values.ids[$0]! } }
        outputID = values.ids[output]!
        outputIDs = nodes.map { values.ids[$0.outputs[0]]! }
        mapInputIDs = mapInputs.map { $0.map { values.ids[$0]! } }
        storedIDs = stored.map { values.ids[$0]! }
        inputIDs = inputs.map { values.ids[$0]! }
        constantDRAM = nodes.map { node in
            var (weights, rest) = (0, 0)
            // A BatchNormalization's four parameters reach SRAM folded into a scale and a shift.
            // A slice's starts, ends, axes and steps are compile-time operands, never loaded.
            for (i, input) in node.inputs.enumerated()
            where !input.isEmpty && node.kind != .batchNormalization && node.kind != .slice {
                guard let t = graph.initializers[input] else { continue }
                if i == 1 { weights += 4 * t.count } else { rest += 4 * t.count }
            }
            if node.kind == .batchNormalization { rest += 2 * 4 * type(node.outputs[0])!.shape[1] }
            return (weights, rest)
        }
        copiedChannels = nodes.map { node in
            node.kind == .concat
                ? node.inputs.filter { copied.contains($0) && loadedInto[$0] != node.outputs[0] }.map {
                    type($0)!.shape[1]
                } : []
        }
        vectorDRAM = FusionRules.channelVectors(nodes, graph: graph, type: type).reduce(0) {
            $0 + 4 * type($1)!.count
        }
        windowMargins = (Array(repeating: nil, count: values.count), Array(repeating: nil, count: values.count))
        // By position: iterating the nodes would copy each (retaining and releasing every field).
        for k in nodes.indices where nodes[k].kind.hasWindow {
            let (u, reach) = (values.ids[nodes[k].inputs[0]]!, reaches[k])
            let (wu, wo) = (types[u].shape[3], outputTypes[k].shape[3])
            windowMargins.left[u] = max(windowMargins.left[u] ?? 0, reach.padLeft)
            windowMargins.right[u] = max(windowMargins.right[u] ?? 0, reach.cols(outputWidth: wo) - reach.padLeft - wu)
        }
    }
    /// The column margins each value's window readers need beyond the map, by value number (nil: none
    /// asks), before the buffers values share widen them (see `columnMargins`): the same for every walk.
    var windowMargins: Margins = ([], [])
    /// Loaded maps that are views of another loaded map (see `inputViews`): the map they are read from.
    var viewOf: [String: String] = [:]
    /// Concat parts loaded straight into their channels of this concat's buffer (see `loadIntoConcats`).
    var loadedInto: [String: String] = [:]
    /// The buffers whose values need rows their own value does not: maps
    /// loaded into them, Concats a longer one extends (see
    /// `FusionRules.concatChains`); and every value in each, in name order (see `bufferSpans`).
    var spanHomes: [(home: String, values: [String])] = []
}

/// Per value, by its number in the group's `GroupValues`: the column margins
/// its window readers need beyond the map (nil: no reader asks for any).
private typealias Margins = (left: [Int?], right: [Int?])

/// Band plans' row walks by band height and halo mode, for one group's
/// layers: a plan of each buffer choice (`maxSlots`) reuses the walk of the
/// same bands instead of walking them again. Not shared between threads.
final class BandWalks {
    fileprivate var walks: [Int: BandWalk?] = [:]
    /// What does not depend on the bands, found once for the group: its layers
    /// before any walk, its constants' SRAM bytes, its convolutions' geometries.
    fileprivate var layers: BandLayers?
    /// The layers with every loaded map in a buffer of its own (single-buffered plans).
    fileprivate var plainLayers: BandLayers?
    fileprivate var constants: GroupConstants?
    fileprivate var geometries: [ConvGeometry?]?
    init() {}
}

/// One row walk and what every plan made from it shares, whatever its buffer choice. Shared by reference:
/// the plans of each buffer choice read it without copying its layers. Its walk never changes once made;
/// what the plans find alike from it is kept by the first plan that finds it (see `planBands`), for the others.
private final class BandWalk {
    let layers: BandLayers
    let bands: [Range<Int>]
    let needed: [RowNeeds]
    let buffers: [BufferShape]
    /// Per layer, per band: the rows of its output the band computes (`BandPlan.computedRows`).
    let computed: [[Range<Int>]]
    let spans: [[String: Range<Int>]]
    /// `storedRows` (nil: not found yet; .some(nil): the bands leave a row uncomputed) and `chunkedInputs`.
    var stores: [String: [Range<Int>]]??
    var chunked: [String: Int]?
    /// `countBandBytes` with every weight loaded once (nil: not found yet).
    var unstreamedBytes: Int?
    /// The quick estimate's engine work (`estimateBandCycles`), by which convolutions fold their taps.
    var work: [[Bool]: CostModel.Work] = [:]

    init(
        layers: BandLayers, bands: [Range<Int>], needed: [RowNeeds], buffers: [BufferShape],
        computed: [[Range<Int>]], spans: [[String: Range<Int>]]
    ) {
        (self.layers, self.bands, self.needed, self.buffers) = (layers, bands, needed, buffers)
        (self.computed, self.spans) = (computed, spans)
    }
}

/// A value with a buffer of its own: the most rows a band holds of it, its
/// row width with the margins its readers need, whether it wants two slots.
private struct BufferShape {
    var value: String
    var type: TensorType
    var rows: Int
    var marginLeft: Int
    var marginRight: Int
    var double: Bool
    var rowWidth: Int { marginLeft + type.shape[3] + marginRight }
}

/// SRAM bytes of a band group's biases and per-channel vectors, and of those
/// with every convolution's weights resident.
private struct GroupConstants {
    var vectorBytes: Int
    var allResident: Int
    /// The group's convolutions in node order: name, SRAM bytes of all
    /// weights, elements per output channel, output channels, and the
    /// output channels of one convolution group (1 when ungrouped): a
    /// grouped convolution streams blocks of whole groups; nil for a
    /// depthwise one (one input channel per group), which never streams.
    var convs: [(name: String, bytes: Int, perChannel: Int, cout: Int, groupWidth: Int?)] = []
    /// Vectors and the weights of depthwise convolutions, which never stream.
    var neverStreamed: Int
}

extension PlanningContext {
    /// Plans nodes[range] as one group with bands of `rows` output rows; nil
    /// when it is not a valid group or does not fit the SRAM.
    /// `maxSlots` 1 makes every buffer single: loads, stores and the cached
    /// halo's copies then wait for the band before them (less SRAM, less overlap).
    /// `checked`: the caller already knows `FusionRules.structureProblem` finds nothing.
    /// `walks`: row walks already made for these layers (one group's plans of several buffer choices).
    /// `held`: maps the group makes or reads held whole in SRAM at these
    /// addresses, above the SRAM the plan allocates (see `SqueezeHold`).
    /// `loads`: maps the group loads go straight into the concats they fill
    /// (see `loadIntoConcats`); when false, each has a buffer of its own.
    /// `packed`: one band, single-buffered, its buffers sharing SRAM over
    /// the band by their lifetimes (see `BandPlan.packed`); nil for more bands.
    func planBands(
        _ range: Range<Int>, rows: Int, halo: BandPlan.Halo, maxSlots: Int = 2,
        checked: Bool = false, walks: BandWalks? = nil, held: [String: Int] = [:], loads: Bool = true,
        packed: Bool = false
    ) throws -> BandPlan? {
        guard
            checked
                || FusionRules.structureProblem(
                    range, graph: graph, consumers: consumers, aliases: dramAliases, fusible: fusible) == nil
        else {
            return nil
        }
        if FusionRules.poolingTail(range, graph: graph) {
            let map = FusionRules.mapRange(range, graph: graph)
            guard
                var plan = try planBands(
                    map, rows: rows, halo: halo, maxSlots: maxSlots, checked: true, walks: walks, held: held,
                    loads: loads, packed: packed)
            else {
                return nil
            }
            let storesMap =
                !FusionRules.poolsOnly(range, graph: graph, consumers: consumers) && !plan.held.contains(plan.output)
            let node = graph.nodes[range.upperBound - 1]
            if addPoolingTail(node, storesMap: storesMap, to: &plan) { return plan }
            // One packed band pools its output once every other buffer and weight is dead: the tail may take
            // their SRAM (a packed band widens its weight streams into all the SRAM there is).
            guard plan.packed, let b = plan.buffers[plan.output], b.alias == nil else { return nil }
            let x = valueType(node.inputs[0])!
            let bytes = DRAMPlan.align(4 * x.shape[1] * x.shape[2]) + DRAMPlan.align(4 * x.shape[1])
            let above = DRAMPlan.align(b.address + b.slotBytes * b.slots)
            let address = bytes <= b.address ? 0 : above + bytes <= plan.sramBytes ? above : nil
            guard let address else { return nil }
            return addPoolingTail(node, storesMap: storesMap, to: &plan, at: address) ? plan : nil
        }
        let walk: BandWalk?
        if held.isEmpty {
            // The group's layers, found once per `BandWalks` and copied only where a walk is made
            // (a copy retains and releases every field, and most calls find their walk made).
            if let walks, walks.layers == nil { walks.layers = bandLayers(range) }
            let unshared = walks == nil ? bandLayers(range) : nil
            let plain = !loads && !(walks?.layers?.loadedInto ?? unshared!.loadedInto).isEmpty
            let key = 4 * rows + (halo == .cache ? 1 : 0) + (plain ? 2 : 0)
            if let known = walks?.walks[key] {
                walk = known
            } else {
                var layers: BandLayers
                if plain {
                    layers = walks?.plainLayers ?? bandLayers(range, loads: false)
                    walks?.plainLayers = layers
                } else {
                    layers = unshared ?? walks!.layers!
                }
                walk = bandWalk(&layers, rows: rows, halo: halo)
                walks?.walks[key] = walk
            }
        } else {
            var layers = bandLayers(range, held: held, loads: loads)
            walk = bandWalk(&layers, rows: rows, halo: halo)
        }
        guard let walk, !packed || (walk.bands.count == 1 && maxSlots == 1 && halo == .recompute) else { return nil }
        // Read once: each read of a class's stored struct copies it (retaining every field).
        let layers = walk.layers
        if let walks, walks.constants == nil { walks.constants = groupConstants(layers.nodes) }
        let constants = walks?.constants ?? groupConstants(layers.nodes)
        var chunked: [String: Int] = [:]
        var allocated = allocateBandSRAM(
            layers, needed: walk.needed, shapes: walk.buffers, halo: halo, maxSlots: maxSlots,
            constants: constants, lifetimes: packed ? bufferLifetimes(layers, shapes: walk.buffers) : nil)
        if allocated == nil {
            // Too large with every buffer whole: the inputs of 1x1 convolutions a few rows at a time.
            if walk.chunked == nil { walk.chunked = chunkedInputs(layers, walk: walk) }
            chunked = walk.chunked!
            if !chunked.isEmpty {
                let shapes = walk.buffers.map { shape in
                    // Two chunks: one computed while the convolution reads the other.
                    guard let rows = chunked[shape.value] else { return shape }
                    var small = shape
                    (small.rows, small.double) = (2 * rows, false)
                    return small
                }
                allocated = allocateBandSRAM(
                    layers, needed: walk.needed, shapes: shapes, halo: halo, maxSlots: maxSlots,
                    constants: constants,
                    lifetimes: packed ? bufferLifetimes(layers, shapes: shapes) : nil)
            }
        }
        guard var plan = allocated else { return nil }
        plan.chunked = chunked
        plan.rows = rows
        plan.bands = walk.bands
        plan.spans = walk.spans
        if walk.stores == nil { walk.stores = .some(storedRows(layers, plan: plan)) }
        guard let stores = walk.stores! else { return nil }
        plan.stores = stores
        plan.copiedParts = layers.copied
        plan.loadedInto = layers.loadedInto
        foldTaps(layers, plan: &plan)
        plan.dramBytes = countBandBytes(layers, plan: plan, walk: walk)
        if let walks, walks.geometries == nil {
            walks.geometries = try zip(layers.range, layers.nodes).map {
                $1.kind == .conv ? try convGeometry($0) : nil
            }
        }
        let geometries =
            try walks?.geometries
            ?? zip(layers.range, layers.nodes).map { $1.kind == .conv ? try convGeometry($0) : nil }
        plan.estimatedCycles = try estimateBandCycles(layers, plan: plan, geometries: geometries, walk: walk)
        return plan
    }

    /// Appends a pooling tail to a plan of the map it pools: SRAM for the
    /// row means and the result, the result's store, and the vector work of
    /// averaging every output row and then the rows. False if it does not fit.
    /// `address`: where the row means and the result go inside the plan's
    /// SRAM, which is then all dead (see `planBands`); nil for above it.
    private func addPoolingTail(_ node: Node, storesMap: Bool, to plan: inout BandPlan, at address: Int? = nil)
        -> Bool
    {
        let x = valueType(node.inputs[0])!
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let rowMeans = address ?? DRAMPlan.align(plan.sramBytes)
        let result = rowMeans + DRAMPlan.align(4 * channels * height)
        guard result + 4 * channels <= config.sramBytes else { return false }
        plan.nodes = plan.nodes.lowerBound..<(plan.nodes.upperBound + 1)
        plan.pooled = BandPlan.PoolingTail(node: node.name, rowMeans: rowMeans, result: result, storesMap: storesMap)
        plan.sramBytes = max(plan.sramBytes, result + DRAMPlan.align(4 * channels))
        plan.dramBytes += 4 * channels - (storesMap ? 0 : 4 * x.count)
        plan.estimatedCycles += config.vectorCycles(elements: channels * height * (width + 1))
        return true
    }

    /// Element-wise layers whose only reader is a 1x1 convolution of the
    /// group (stride 1, no padding, ungrouped) and that compute the same rows
    /// as it in every band, with how many rows of each to compute at once:
    /// as many as fit in 1/16 of the SRAM, at least one. Their buffers then
    /// hold two chunks (see `BandPlan.chunked`): a dense layer's
    /// BatchNormalization over a long concat no longer needs a second buffer
    /// as large as the concat's. Not for a value another one lives in, a
    /// stored one or one written in place.
    private func chunkedInputs(_ layers: BandLayers, walk: BandWalk) -> [String: Int] {
        var chunked: [String: Int] = [:]
        // By position: a copy of every node would retain and release each of its fields.
        for k in layers.nodes.indices where layers.nodes[k].kind.isGroupElementwise {
            let v = layers.nodes[k].outputs[0]
            guard let readers = consumers[v], readers.count == 1, let c = readers.first, layers.range.contains(c),
                let shape = walk.buffers.first(where: { $0.value == v }), shape.marginLeft == 0, shape.marginRight == 0,
                layers.alias[v] == nil, !layers.alias.values.contains(where: { $0.0 == v }),
                !layers.stored.contains(v), !graph.outputs.contains(v), layers.held[v] == nil
            else { continue }
            let conv = graph.nodes[c]
            guard conv.kind == .conv, conv.inputs[0] == v,
                let g = convGeometries[c], g.kh == 1, g.kw == 1, g.sh == 1, g.sw == 1, g.groups == 1,
                g.padTop == 0, g.padLeft == 0, g.ho == g.h, g.wo == g.w,
                walk.computed[k] == walk.computed[c - layers.range.lowerBound]
            else { continue }
            let rowBytes = 4 * shape.type.shape[1] * shape.rowWidth
            chunked[v] = max(1, min(shape.rows, config.sramBytes / 16 / rowBytes))
        }
        return chunked
    }

    /// Convolutions reading a group input (whose padding the loads zero-fill)
    /// with few input channels fold their taps into channels when that takes
    /// fewer matrix passes, each with a scratch for the rebuilt band, as far
    /// as the SRAM allows. Folding moves no DRAM bytes, so every objective
    /// folds: an unfolded stem in a group would lose to the folded lone
    /// stem on cycles, and traffic would then refuse the group.
    private func foldTaps(_ layers: BandLayers, plan: inout BandPlan) {
        // By position: a copy of every node would retain and release each of its fields.
        for (k, index) in layers.range.enumerated() where layers.nodes[k].kind == .conv {
            guard plan.streamed[layers.nodes[k].name] == nil, layers.inputs.contains(layers.nodes[k].inputs[0]),
                let g = convGeometries[index], g.groups == 1,
                g.n == 1, ConvTiling.folds(g, config: config)
            else { continue }
            let output = layers.nodes[k].outputs[0]
            let height = valueType(output)!.shape[2]
            let rows =
                plan.needed.indices.map { plan.computedRows(output, band: $0, height: height).count }
                .max() ?? 0
            let bytes = DRAMPlan.align(4 * g.cin * g.kh * g.kw * rows * g.wo)
            guard rows > 0, plan.sramBytes + bytes <= config.sramBytes else { continue }
            plan.folded[layers.nodes[k].name] = plan.sramBytes
            plan.sramBytes += bytes
        }
    }

    /// The rows of each value in each band, its buffer shapes and computed
    /// rows; nil when no band walk of `rows` rows works or a held map would
    /// need margins or share a buffer (a held map is one buffer of every row,
    /// beside the plan's SRAM).
    private func bandWalk(_ layers: inout BandLayers, rows: Int, halo: BandPlan.Halo) -> BandWalk? {
        guard let (bands, needed) = bandRows(layers, rows: rows, halo: halo),
            let spans = bufferSpans(layers, needed: needed)
        else { return nil }
        layers.alias.merge(inPlaceAliases(layers, needed: needed, spans: spans, halo: halo)) { old, _ in old }
        let margins = columnMargins(layers)
        for value in layers.held.keys {
            guard !layers.alias.contains(where: { $0.key == value || $0.value.0 == value }),
                (margins.left[layers.values.ids[value]!] ?? 0) <= 0,
                (margins.right[layers.values.ids[value]!] ?? 0) <= 0
            else { return nil }
        }
        let buffers = bufferShapes(layers, needed: needed, spans: spans, margins: margins, halo: halo)
        let computed = layers.nodes.indices.map { k in
            needed.indices.map { band in
                BandPlan.computedRows(
                    id: layers.outputIDs[k], band: band, height: layers.outputTypes[k].shape[2], needed: needed,
                    halo: halo)
            }
        }
        return BandWalk(
            layers: layers, bands: bands, needed: needed, buffers: buffers, computed: computed, spans: spans)
    }

    /// `loads`: whether maps the group loads go straight into the concats they fill (see `loadIntoConcats`).
    private func bandLayers(_ range: Range<Int>, held: [String: Int] = [:], loads: Bool = true) -> BandLayers {
        let nodes = range.map { graph.nodes[$0] }
        let produced = Set(nodes.flatMap(\.outputs))
        let read = groupInputs(range, produced: produced)
        let views = inputViews(nodes, inputs: read)
        let inputs = read.filter { views[$0] == nil && held[$0] == nil }
        var layers = BandLayers(
            range: range, nodes: nodes, reaches: range.map { reaches[$0] }, output: nodes.last!.outputs[0],
            inputs: inputs, produced: produced, held: held)
        layers.stored = FusionRules.storedValues(range, graph: graph, consumers: consumers)
        layers.mapInputs = Array(mapInputs[range])
        layers.outputTypes = nodes.map { valueType($0.outputs[0])! }
        // Concat parts are written in place into the concat's buffer, or copied into it (see `copiesPart`).
        layers.copied = FusionRules.copiedParts(range, graph: graph, consumers: consumers)
        // A Concat another one extends is the first channels of that one's buffer (see `concatChains`).
        let chains = FusionRules.concatChains(range, graph: graph, consumers: consumers)
        for (shorter, longer) in chains {
            layers.alias[shorter] = (longer, 0)
        }
        for node in nodes where node.kind == .concat {
            var offset = 0
            for part in node.inputs {
                if !layers.copied.contains(part) {
                    layers.alias[part] = (node.outputs[0], offset)
                }
                offset += valueType(part)!.shape[1]
            }
        }
        layers.alias.merge(views) { old, _ in old }
        layers.viewOf = views.mapValues(\.0)
        if loads { loadIntoConcats(&layers, views: views) }
        // A channel slice is a view: its channels of the buffer that holds its input.
        for node in nodes where node.kind == .slice {
            layers.alias[node.outputs[0]] = (node.inputs[0], FusionRules.channelSlice(node, graph: graph)!)
        }
        // Every alias names the buffer itself: a Concat written in place into another Concat
        // passes its parts on to the outer one, at its own channel offset plus theirs.
        for value in layers.alias.keys.sorted() {
            var (root, offset) = layers.alias[value]!
            while let (next, more) = layers.alias[root] { (root, offset) = (next, offset + more) }
            layers.alias[value] = (root, offset)
        }
        // A part loaded into the first Concat of a chain is already in its channels of the longer ones.
        for part in layers.copied.sorted() {
            guard let home = layers.alias[part], home.0 != part else { continue }
            let inPlace = nodes.allSatisfy { node in
                guard node.kind == .concat, let at = node.inputs.firstIndex(of: part) else { return true }
                let (root, offset) = layers.alias[node.outputs[0]] ?? (node.outputs[0], 0)
                let channel = node.inputs[..<at].reduce(0) { $0 + valueType($1)!.shape[1] }
                return root == home.0 && offset + channel == home.1
            }
            if inPlace { layers.copied.remove(part) }
        }
        var members: [String: [String]] = [:]
        for value in layers.alias.keys.sorted() where layers.produced.contains(layers.alias[value]!.0) {
            members[layers.alias[value]!.0, default: []].append(value)
        }
        // Values in another's buffer whose rows may be more than its own: loaded maps, concats of a chain,
        // a nested concat other layers read too.
        func spans(_ value: String) -> Bool {
            !produced.contains(value) || chains[value] != nil
                || (consumers[value] ?? []).contains { range.contains($0) && graph.nodes[$0].kind != .concat }
        }
        layers.spanHomes = members.filter { $0.value.contains(where: spans) }.sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
        layers.number(graph: graph, type: valueType)
        return layers
    }

    /// A map the group loads that fills a channel range of a Concat the
    /// group computes is loaded straight into those channels of the
    /// Concat's buffer: no buffer of its own, no COPY. Such a map is a part
    /// computed before the group (a DenseNet block's earlier features, an
    /// inception branch of an earlier group), or a loaded Concat whose parts
    /// the Concat repeats (the concat a group's first dense layer reads, which
    /// the next layer's concat extends). Each map goes to the first Concat it
    /// fills; a later Concat that holds it too copies it from there.
    private func loadIntoConcats(_ layers: inout BandLayers, views: [String: (String, Int)]) {
        for input in layers.inputs where layers.held[input] == nil {
            let channels = valueType(input)!.shape[1]
            for node in layers.nodes where node.kind == .concat && layers.held[node.outputs[0]] == nil {
                // The parts holding the input's channels: (part, its channel in the concat, its channel in the input).
                var pieces: [(part: String, at: Int, from: Int)] = []
                var offset = 0
                for part in node.inputs {
                    if part == input {
                        pieces.append((part, offset, 0))
                    } else if let (holder, first) = views[part], holder == input {
                        pieces.append((part, offset, first))
                    }
                    offset += valueType(part)!.shape[1]
                }
                guard let base = pieces.first.map({ $0.at - $0.from }),
                    Set(pieces.map(\.part)).count == pieces.count,
                    pieces.allSatisfy({ $0.at - $0.from == base && layers.copied.contains($0.part) })
                else { continue }
                let covered = pieces.sorted { $0.from < $1.from }
                var next = 0
                for piece in covered where piece.from == next { next += valueType(piece.part)!.shape[1] }
                guard next == channels else { continue }
                layers.alias[input] = (node.outputs[0], base)
                for piece in pieces {
                    layers.alias[piece.part] = (node.outputs[0], piece.at)
                    layers.loadedInto[piece.part] = node.outputs[0]
                }
                break
            }
        }
    }

    /// Concat parts the group would load whose DRAM storage lies in the
    /// channels of another map it loads (a DenseNet block's earlier features
    /// inside the concat its first layer reads): views of that map's buffer,
    /// at their first channel, never loaded themselves.
    private func inputViews(_ nodes: [Node], inputs: [String]) -> [String: (String, Int)] {
        let parts = Set(nodes.filter { $0.kind == .concat }.flatMap(\.inputs))
        let holders = inputs.filter { !parts.contains($0) }
        var views: [String: (String, Int)] = [:]
        for part in inputs where parts.contains(part) {
            let p = valueType(part)!, (root, offset) = dramAliases.root(part)
            let plane = p.shape[2] * p.shape[3]
            for holder in holders {
                let q = valueType(holder)!, (other, start) = dramAliases.root(holder)
                guard other == root, q.dtype == p.dtype, q.rank == 4, q.shape[0] == 1,
                    q.shape[2] == p.shape[2], q.shape[3] == p.shape[3],
                    start <= offset, offset + p.count <= start + q.count, (offset - start) % plane == 0
                else { continue }
                views[part] = (holder, (offset - start) / plane)
                break
            }
        }
        return views
    }

    // MARK: - Rows per band (receptive fields walked backwards)

    /// The bands (warm-up bands first when caching) and, per band, the rows
    /// of every value it needs; nil when some band would need a row a buffer
    /// already dropped or a value nothing reads.
    private func bandRows(_ layers: BandLayers, rows: Int, halo: BandPlan.Halo)
        -> (bands: [Range<Int>], needed: [RowNeeds])?
    {
        let height = layers.types[layers.outputID].shape[2]
        var bands = stride(from: 0, to: height, by: rows).map { $0..<min($0 + rows, height) }
        var floors: [Int?]?
        if halo == .cache, let first = walk(layers, band: bands[0], previous: nil, floors: nil, halo: halo) {
            // Warm-up bands of virtual rows above the map fill the pipeline one
            // window step at a time, so no band computes more of a value than
            // the steady state does (the first band would otherwise hold every
            // layer's lookahead at once, and size every buffer by it).
            let lookahead = zip(layers.nodes, layers.reaches).reduce(0) { total, pair in
                guard pair.0.kind.hasWindow else { return total }
                return total + max(0, (pair.1.kh - 1) * pair.1.dh - pair.1.padTop)
            }
            let warmUp = ceilDiv(lookahead, rows)
            bands = stride(from: -warmUp * rows, to: 0, by: rows).map { $0..<($0 + rows) } + bands
            floors = first.rows.map { $0.map { min(0, $0.lowerBound) } }
        }
        var needed: [RowNeeds] = []
        needed.reserveCapacity(bands.count)
        for band in bands {
            let previous = needed.last
            guard var need = walk(layers, band: band, previous: previous, floors: floors, halo: halo) else {
                return nil
            }
            // A value nothing reads in this band keeps what it holds.
            if let previous {
                for id in need.rows.indices {
                    guard let held = previous.rows[id] else { continue }
                    guard let rows = need.rows[id] else {
                        need.rows[id] = held
                        continue
                    }
                    // Rows dropped from a buffer are never read again: every window only moves down.
                    if rows.lowerBound < held.lowerBound { return nil }
                }
            }
            needed.append(need)
        }
        return (bands, needed)
    }

    /// Rows one band needs of every value, walking the group backwards.
    /// When caching, a band computes only the rows of each value past those
    /// earlier bands computed, so it reads only what those fresh rows need:
    /// a buffer holds the rows read in this band (kept ones and fresh ones).
    /// `requests` are virtual rows above the map (warm-up bands): they hold
    /// no data, but the rows of the map their windows reach are needed.
    /// Values by their numbers in `layers.values`.
    private func walk(
        _ layers: BandLayers, band: Range<Int>, previous: RowNeeds?, floors: [Int?]?, halo: BandPlan.Halo
    ) -> RowNeeds? {
        // The rows are built in an array of their own and handed to the result at the end: one allocation
        // per walk, not a second one when the first write to a shared copy would copy it.
        var need = [Range<Int>?](repeating: nil, count: layers.values.count)
        var requests = [Range<Int>?](repeating: nil, count: need.count)
        let output = layers.outputID
        if band.upperBound > 0 { need[output] = band } else { requests[output] = band }
        func add(_ rows: Range<Int>, to value: Int, in map: inout [Range<Int>?]) {
            guard !rows.isEmpty else { return }
            if let held = map[value] {
                map[value] = min(held.lowerBound, rows.lowerBound)..<max(held.upperBound, rows.upperBound)
            } else {
                map[value] = rows
            }
        }
        // A loaded map's rows a view of it is read with (see `inputViews`) are the map's too.
        func addInput(_ rows: Range<Int>, _ input: Int) {
            add(rows, to: input, in: &need)
            if !layers.isProduced[input], let holder = layers.viewed[input] {
                add(rows, to: holder, in: &need)
            }
        }
        // A stored value's rows in proportion to the band's output rows, so
        // that the bands compute every row of it between them, whatever its
        // readers in the group skip; a stored Concat part's concat holds the same rows.
        if band.upperBound > 0 {
            let height = layers.types[output].shape[2]
            for value in layers.storedIDs {
                let h = layers.types[value].shape[2]
                let low = max(0, band.lowerBound) * h / height
                let rows = low..<(band.upperBound >= height ? h : max(low, band.upperBound * h / height))
                add(rows, to: value, in: &need)
                if let whole = layers.holder[value] { add(rows, to: whole, in: &need) }
            }
        }
        for k in layers.nodes.indices.reversed() {
            // The kind alone: a copy of the node would retain and release each of its fields.
            let (kind, reach) = (layers.nodes[k].kind, layers.reaches[k])
            let v = layers.outputIDs[k]
            let window = kind.hasWindow
            let inputs = layers.mapInputIDs[k]
            if let request = requests[v] {
                let reached = window ? reach.rows(request) : request
                for input in inputs {
                    let floor = floors?[input] ?? 0
                    addInput(max(floor, reached.lowerBound)..<max(floor, reached.upperBound), input)
                    let above = min(floor, reached.upperBound)
                    if above > reached.lowerBound { add(reached.lowerBound..<above, to: input, in: &requests) }
                }
            }
            // Nothing reads v in this band: it computes nothing new (its rows are kept below).
            guard let want = need[v] else {
                if previous?[id: v] != nil || band.upperBound <= 0 || requests[v] != nil { continue }
                return nil
            }
            // A view's rows are its input's: the input's buffer holds every row read of the view, kept ones too.
            if kind == .slice {
                for input in inputs { addInput(want, input) }
                continue
            }
            let h = layers.types[v].shape[2]
            let fresh = BandPlan.newRows(want, previous: previous?[id: v], halo: halo)
            let computed = max(0, fresh.lowerBound)..<max(max(0, fresh.lowerBound), min(h, fresh.upperBound))
            guard !computed.isEmpty else { continue }
            let from = window ? reach.rows(computed) : computed
            for input in inputs { addInput(from, input) }
        }
        return RowNeeds(layers.values, rows: need)
    }

    // MARK: - SRAM

    /// Element-wise layers write in place over an operand only they read,
    /// when both hold the same rows in every band (or, over a buffer maps are
    /// loaded into, when no row they overwrite is read again, see
    /// `overwritesOnlyReadRows`): one buffer instead of two.
    private func inPlaceAliases(
        _ layers: BandLayers, needed: [RowNeeds], spans: [[String: Range<Int>]], halo: BandPlan.Halo
    ) -> [String: (String, Int)] {
        var alias = layers.alias
        var inPlace: [String: (String, Int)] = [:]
        for (k, index) in layers.range.enumerated() where layers.nodes[k].kind.isGroupElementwise {
            let node = layers.nodes[k]
            let v = node.outputs[0]
            // Not over a value other values are views of (channel slices), nor a held map.
            guard alias[v] == nil, !graph.outputs.contains(v), !alias.values.contains(where: { $0.0 == v }),
                layers.held[v] == nil
            else {
                continue
            }
            let shape = layers.types[layers.values.ids[v]!].shape
            for u in node.inputs
            where layers.produced.contains(u) && !layers.stored.contains(u)
                && layers.types[layers.values.ids[u]!].shape == shape
            {
                let root = inPlace[u] != nil ? alias[u]!.0 : u
                guard alias[u] == nil || inPlace[u] != nil,
                    consumers[u].map({ $0.count == 1 && $0[0] == index }) ?? false,
                    !holdsLoadedMap(root, readAfter: index, layers: layers, alias: alias),
                    alias.contains(where: { $0.value.0 == root && !layers.produced.contains($0.key) })
                        ? overwritesOnlyReadRows(
                            v, buffer: root, layers: layers, alias: alias, chain: Set(inPlace.keys).union([u]),
                            needed: needed, spans: spans, halo: halo)
                        : sameRows(root, v, needed: needed, values: layers.values)
                else { continue }
                alias[v] = (root, 0)
                inPlace[v] = (root, 0)
                break
            }
        }
        return inPlace
    }

    /// Whether two values hold the same rows in every band (by number, found once, not by name per band).
    private func sameRows(_ a: String, _ b: String, needed: [RowNeeds], values: GroupValues) -> Bool {
        let (first, second) = (values.ids[a], values.ids[b])
        return needed.allSatisfy { need in first.flatMap { need[id: $0] } == second.flatMap { need[id: $0] } }
    }

    /// Per band, the rows a buffer holds where they are more than its own
    /// value's (see `BandPlan.spans`): a buffer maps are loaded into, or one
    /// a shorter Concat of its chain lives in (`BandLayers.spanHomes`); empty
    /// when there is none, nil when a buffer would drop rows a later band reads.
    private func bufferSpans(_ layers: BandLayers, needed: [RowNeeds]) -> [[String: Range<Int>]]? {
        guard !layers.spanHomes.isEmpty else { return [] }
        // By value number, found once: the bands look rows up by number, not by name.
        let homes = layers.spanHomes.map { home, values in
            (home: home, id: layers.values.ids[home], values: values.compactMap { layers.values.ids[$0] })
        }
        func rows(_ need: RowNeeds, _ id: Int?) -> Range<Int>? { id.flatMap { need[id: $0] } }
        var spans: [[String: Range<Int>]] = []
        var last = [Range<Int>?](repeating: nil, count: homes.count)
        for need in needed {
            var span: [String: Range<Int>] = [:]
            for (k, home) in homes.enumerated() {
                var hull = rows(need, home.id)
                for id in home.values {
                    guard let rows = need[id: id] else { continue }
                    hull =
                        hull.map { min($0.lowerBound, rows.lowerBound)..<max($0.upperBound, rows.upperBound) } ?? rows
                }
                guard let hull else { continue }
                // Rows kept from band to band only move down.
                if let before = last[k], hull.lowerBound < before.lowerBound { return nil }
                last[k] = hull
                if hull != rows(need, home.id) { span[home.home] = hull }
            }
            spans.append(span)
        }
        return spans
    }

    /// Whether a map loaded into `buffer` (see `loadIntoConcats`) is read by
    /// a layer of the group after nodes[index]: writing over the buffer
    /// there would overwrite it (a Concat part a later Concat copies).
    private func holdsLoadedMap(
        _ buffer: String, readAfter index: Int, layers: BandLayers, alias: [String: (String, Int)]
    ) -> Bool {
        alias.contains { value, home in
            home.0 == buffer && !layers.produced.contains(value)
                && (consumers[value] ?? []).contains { $0 > index && layers.range.contains($0) }
        }
    }

    /// Whether `v` may write in place over `buffer`, which holds maps loaded
    /// into it (a dense layer's BatchNormalization over its concat, whose
    /// buffer holds the rows of the concat before it that the group
    /// loads): in every band its rows lie inside the buffer's, and when
    /// caching, no other value in the buffer is read in a later band at a
    /// row v overwrote. The values written in place there up to v (`chain`)
    /// and the concat parts written in place are read only by the next
    /// layer, element-wise, in the band that computes them. Its rows may be
    /// fewer than the buffer's.
    private func overwritesOnlyReadRows(
        _ v: String, buffer: String, layers: BandLayers, alias: [String: (String, Int)], chain: Set<String>,
        needed: [RowNeeds], spans: [[String: Range<Int>]], halo: BandPlan.Halo
    ) -> Bool {
        let parts = Set(layers.nodes.filter { $0.kind == .concat }.flatMap(\.inputs)).subtracting(layers.copied)
        let others = alias.filter { value, home in
            home.0 == buffer && !chain.contains(value) && !(layers.produced.contains(value) && parts.contains(value))
        }.keys.sorted()
        let height = valueType(v)!.shape[2]
        for (index, need) in needed.enumerated() {
            guard let rows = need[v] else { continue }
            guard let held = BandPlan.heldRows(buffer, band: index, needed: needed, spans: spans),
                held.lowerBound <= rows.lowerBound, rows.upperBound <= held.upperBound
            else { return false }
            guard halo == .cache, index + 1 < needed.count else { continue }
            let written = BandPlan.computedRows(v, band: index, height: height, needed: needed, halo: halo)
            guard !written.isEmpty else { continue }
            // The next band that reads a value (a band that reads none keeps its rows unchanged).
            for value in others {
                let now = need[value]
                guard let later = needed[(index + 1)...].lazy.compactMap({ $0[value] }).first(where: { $0 != now })
                else { continue }
                if later.lowerBound < written.upperBound { return false }
            }
        }
        return true
    }

    /// Column margins each value needs for its conv/pool readers; parts share their concat's.
    private func columnMargins(_ layers: BandLayers) -> Margins {
        let ids = layers.values.ids
        var (left, right) = layers.windowMargins
        // Aliases name their buffer's own value (never another alias), so the order does not matter.
        for (part, (whole, _)) in layers.alias {
            let (p, w) = (ids[part]!, ids[whole]!)
            left[w] = max(left[w] ?? 0, left[p] ?? 0)
            right[w] = max(right[w] ?? 0, right[p] ?? 0)
        }
        return (left, right)
    }

    /// SRAM: resident weights and channel vectors, then one buffer per value.
    /// Per-channel vectors are always resident; convolution weights are
    /// resident too unless that does not fit, in which case the largest
    /// convolutions stream blocks of output channels through two slots, once
    /// per band. Nil when nothing fits. Fills the plan's layout fields only.
    /// `lifetimes`: the positions during which each buffer is live (see
    /// `bufferLifetimes`) when the buffers share SRAM by lifetime (one band,
    /// single-buffered); nil when every buffer has SRAM of its own.
    private func allocateBandSRAM(
        _ layers: BandLayers, needed: [RowNeeds], shapes: [BufferShape],
        halo: BandPlan.Halo, maxSlots: Int, constants: GroupConstants, lifetimes: [String: ClosedRange<Int>]? = nil
    ) -> BandPlan? {
        var bufferBytes = 0
        // Packed: each buffer's offset above the streaming slots, first-fit over the buffers live at once.
        var offsets: [String: Int]?
        if let lifetimes {
            let items = shapes.map { shape in
                SRAMItem(
                    key: shape.value, bytes: DRAMPlan.align(4 * shape.type.shape[1] * shape.rows * shape.rowWidth),
                    live: lifetimes[shape.value]!)
            }
            guard let placed = Self.firstFit(items, from: 0, capacity: config.sramBytes) else { return nil }
            bufferBytes = items.map { placed[$0.key]! + $0.bytes }.max() ?? 0
            offsets = placed
        } else {
            for shape in shapes {
                let slots = min(maxSlots, shape.double ? 2 : 1)
                bufferBytes += DRAMPlan.align(4 * shape.type.shape[1] * shape.rows * shape.rowWidth) * slots
            }
        }
        guard
            let weights =
                streamedWeights(
                    layers.nodes, bufferBytes: bufferBytes, constants: constants, widen: lifetimes != nil,
                    keepLanes: needed.count == 1)
                ?? (needed.count == 1
                    ? streamedWeights(
                        layers.nodes, bufferBytes: bufferBytes, constants: constants, widen: lifetimes != nil)
                    : nil)
        else {
            return nil
        }
        // The buffers end `bufferBytes` above the streaming slots: a plan that does not fit is known before its layout.
        guard weights.streamBase + weights.streamRegion + bufferBytes <= config.sramBytes else { return nil }
        var buffers = [String: SRAMBuffer](minimumCapacity: shapes.count + layers.alias.count + layers.held.count)
        var cursor = weights.streamBase + weights.streamRegion
        let base = cursor
        for shape in shapes {
            let t = shape.type
            let slots = offsets == nil ? min(maxSlots, shape.double ? 2 : 1) : 1
            let buffer = SRAMBuffer(
                address: offsets.map { base + $0[shape.value]! } ?? cursor, slots: slots, channels: t.shape[1],
                rows: shape.rows, marginLeft: shape.marginLeft, width: t.shape[3], height: t.shape[2],
                marginRight: shape.marginRight, alias: nil)
            if offsets == nil { cursor += DRAMPlan.align(buffer.slotBytes) * slots }
            buffers[shape.value] = buffer
        }
        if offsets != nil { cursor = base + bufferBytes }
        for (part, (whole, offset)) in layers.alias {
            var buffer = buffers[whole]!
            buffer.alias = (whole, offset)
            buffer.channels = layers.types[layers.values.ids[part]!].shape[1]
            buffers[part] = buffer
        }
        // Held maps lie above everything else and apart from each other.
        let regions = layers.held.map { value, address in
            address..<(address + DRAMPlan.align(4 * valueType(value)!.count))
        }.sorted { $0.lowerBound < $1.lowerBound }
        guard
            regions.allSatisfy({ $0.lowerBound >= cursor })
                && zip(regions, regions.dropFirst()).allSatisfy({ $0.upperBound <= $1.lowerBound })
        else { return nil }
        for (value, address) in layers.held {
            let t = valueType(value)!
            buffers[value] = SRAMBuffer(
                address: address, slots: 1, channels: t.shape[1], rows: t.shape[2], marginLeft: 0, width: t.shape[3],
                height: t.shape[2], marginRight: 0, alias: nil)
        }
        guard cursor <= config.sramBytes else { return nil }
        return BandPlan(
            halo: halo, nodes: layers.range, output: layers.output, inputs: layers.inputs, rows: 0, bands: [],
            needed: needed, buffers: buffers, streamed: weights.streamed, streamBase: weights.streamBase,
            streamSlot: weights.streamRegion / 2, weightBytes: weights.residentBytes, held: Set(layers.held.keys),
            packed: offsets != nil, sramBytes: cursor, dramBytes: 0, estimatedCycles: 0)
    }

    /// The positions during which each buffer of a one-band plan is live:
    /// position -1 is the band's loads, k the group's k-th layer, one past
    /// the last the output's store. A buffer lives from the first write of
    /// any value in it (a Concat's first part, an input loaded into it) to
    /// the last read of any; a value stored as it is computed is read by
    /// its store right after its layer, and a later buffer over it waits for
    /// that store (the sequencer's tokens order every reuse).
    private func bufferLifetimes(_ layers: BandLayers, shapes: [BufferShape]) -> [String: ClosedRange<Int>] {
        let owners = Set(shapes.map(\.value))
        var first: [String: Int] = [:], last: [String: Int] = [:]
        func touch(_ value: String, at position: Int) {
            let owner = layers.alias[value]?.0 ?? value
            guard owners.contains(owner) else { return }
            first[owner] = min(first[owner] ?? position, position)
            last[owner] = max(last[owner] ?? position, position)
        }
        for input in layers.inputs { touch(input, at: -1) }
        for value in layers.alias.keys where !layers.produced.contains(value) { touch(value, at: -1) }
        for (k, node) in layers.nodes.enumerated() {
            touch(node.outputs[0], at: k)
            for input in node.inputs where !input.isEmpty { touch(input, at: k) }
        }
        touch(layers.output, at: layers.nodes.count)
        var lifetimes: [String: ClosedRange<Int>] = [:]
        for owner in owners { lifetimes[owner] = (first[owner] ?? -1)...(last[owner] ?? layers.nodes.count) }
        return lifetimes
    }

    /// The values that get buffers of their own (not aliases), in the order
    /// their buffers are laid out: the group's inputs, then its layers' outputs.
    private func bufferShapes(
        _ layers: BandLayers, needed: [RowNeeds], spans: [[String: Range<Int>]], margins: Margins,
        halo: BandPlan.Halo
    )
        -> [BufferShape]
    {
        // By value number (a value not numbered is no input, output or stored value, so never among them).
        let ids = layers.values.ids, count = layers.values.count
        // Values whose buffers are double-buffered when they or a value sharing their buffer is among them.
        var doubled = [Bool](repeating: false, count: count)
        for id in layers.inputIDs + layers.storedIDs + [layers.outputID] { doubled[id] = true }
        var aliased = [Bool](repeating: false, count: count), sharesDoubled = aliased
        for (part, (whole, _)) in layers.alias {
            guard let p = ids[part] else { continue }
            aliased[p] = true
            if doubled[p], let w = ids[whole] { sharesDoubled[w] = true }
        }
        let own = (layers.inputIDs + layers.outputIDs).filter {
            !aliased[$0] && (layers.held.isEmpty || layers.held[layers.values.names[$0]] == nil)
        }
        return own.map { id in
            let value = layers.values.names[id]
            // `BandPlan.heldRows` by value number: a hull from `spans`, else the value's own rows.
            var maxRows = 1
            for band in needed.indices {
                let rows = (spans.isEmpty ? nil : spans[band][value]) ?? needed[band].rows[id]
                maxRows = max(maxRows, rows?.count ?? 0)
            }
            let double = halo == .cache || doubled[id] || sharesDoubled[id]
            return BufferShape(
                value: value, type: layers.types[id], rows: maxRows, marginLeft: max(0, margins.left[id] ?? 0),
                marginRight: max(0, margins.right[id] ?? 0), double: double)
        }
    }

    /// Which convolutions stream their weights, in blocks of how many output
    /// channels, so that resident constants, the two streaming slots and
    /// `bufferBytes` of buffers fit; nil when no choice fits.
    /// `widen`: once the streamed convolutions are known, each streams in
    /// the widest blocks the room left allows (the loop below narrows the
    /// first ones for room the later ones then free).
    /// `keepLanes`: no convolution streams in blocks narrower than the
    /// matrix unit's output lanes while another one could stream instead
    /// (a one-band plan, which loads every weight once however it streams);
    /// nil when that does not fit.
    private func streamedWeights(
        _ nodes: [Node], bufferBytes: Int, constants: GroupConstants, widen: Bool = false, keepLanes: Bool = false
    )
        -> (streamed: [String: Int], residentBytes: Int, streamBase: Int, streamRegion: Int)?
    {
        // Most plans keep every weight resident: the loop below would stop at once.
        if constants.allResident + bufferBytes <= config.sramBytes {
            return ([:], constants.allResident, DRAMPlan.align(constants.allResident), 0)
        }
        // What never streams (vectors, depthwise weights) leaves no room: the loop would end in nil.
        if constants.neverStreamed + bufferBytes > config.sramBytes { return nil }
        let vectorBytes = constants.vectorBytes
        let convs = constants.convs
        // Per convolution (as in `convs`): its streaming block, nil while resident.
        var streamed = [Int?](repeating: nil, count: convs.count)
        func blockBytes(_ k: Int, _ block: Int) -> Int { DRAMPlan.align(4 * block * convs[k].perChannel) }
        // Loops, not maps and filters: these run many times per plan, and each map or filter allocates.
        func residentBytes() -> Int {
            var bytes = vectorBytes
            for k in convs.indices where streamed[k] == nil { bytes += convs[k].bytes }
            return bytes
        }
        func streamRegion() -> Int {
            var region: Int?
            for k in convs.indices {
                guard let block = streamed[k] else { continue }
                region = max(region ?? .min, 2 * blockBytes(k, block))
            }
            return region ?? 0
        }
        // Blocks fill the matrix unit's lanes when they can, narrower ones only to fit; a grouped
        // convolution's blocks hold whole groups.
        func narrowest(_ k: Int) -> Int { convs[k].groupWidth == 1 ? 8 : convs[k].groupWidth! }
        func narrower(_ k: Int, _ block: Int) -> Int {
            let width = convs[k].groupWidth!
            guard width == 1 else { return max(width, (block / 2 + width - 1) / width * width) }
            let lanes = block > config.matrixOutputLanes ? config.matrixOutputLanes : 8
            return max(8, (block / 2 + lanes - 1) / lanes * lanes)
        }
        while residentBytes() + streamRegion() + bufferBytes > config.sramBytes {
            // Stream the largest resident convolution in the widest blocks that fit.
            // The first of the most bytes, as `max(by:)` finds it.
            var candidate: Int?
            for k in convs.indices where streamed[k] == nil && convs[k].groupWidth != nil {
                if candidate == nil || convs[candidate!].bytes < convs[k].bytes { candidate = k }
            }
            guard let largest = candidate else { return nil }
            let cout = convs[largest].cout
            streamed[largest] = cout
            let room = config.sramBytes - bufferBytes - residentBytes()
            var block = cout
            while block > narrowest(largest) && streamRegion() > room {
                // Blocks narrower than the lanes waste the matrix unit: stream another convolution first.
                if keepLanes, block <= config.matrixOutputLanes,
                    convs.indices.contains(where: {
                        $0 != largest && streamed[$0] == nil && convs[$0].groupWidth != nil
                    })
                {
                    break
                }
                block = narrower(largest, block)
                streamed[largest] = block
            }
            if streamRegion() > room && convs.indices.allSatisfy({ streamed[$0] != nil || convs[$0].groupWidth == nil })
            {
                return nil
            }
        }
        if widen {
            let room = config.sramBytes - bufferBytes - DRAMPlan.align(residentBytes())
            for k in convs.indices {
                guard let narrow = streamed[k] else { continue }
                var block = convs[k].cout
                while block > narrow && 2 * blockBytes(k, block) > room { block = max(narrow, narrower(k, block)) }
                streamed[k] = block
            }
        }
        let resident = residentBytes()
        var blocks: [String: Int] = [:]
        for k in convs.indices { if let block = streamed[k] { blocks[convs[k].name] = block } }
        return (blocks, resident, DRAMPlan.align(resident), streamRegion())
    }

    /// The SRAM bytes `streamedWeights` starts from: vectors, and vectors with every convolution's weights.
    private func groupConstants(_ nodes: [Node]) -> GroupConstants {
        let vectorBytes = groupVectorBytes(nodes)
        let convs = nodes.filter { $0.kind == .conv }
        let weights = { (node: Node) in DRAMPlan.align(4 * self.graph.initializers[node.inputs[1]]!.count) }
        let allResident = convs.reduce(vectorBytes) { $0 + weights($1) }
        let depthwise = { (node: Node) in
            node.int("group", default: 1) > 1 && self.graph.initializers[node.inputs[1]]!.shape[1] == 1
        }
        let neverStreamed = convs.filter(depthwise).reduce(vectorBytes) { $0 + weights($1) }
        var constants = GroupConstants(vectorBytes: vectorBytes, allResident: allResident, neverStreamed: neverStreamed)
        constants.convs = convs.map { node in
            let w = graph.initializers[node.inputs[1]]!
            let groups = node.int("group", default: 1)
            let width = depthwise(node) ? nil : groups == 1 ? 1 : w.shape[0] / groups
            return (node.name, weights(node), w.count / w.shape[0], w.shape[0], width)
        }
        return constants
    }

    // MARK: - Cost

    /// Exact DRAM bytes: input rows inside the tensor per band, weights once
    /// (streamed weights once per band that computes their layer), output once.
    /// What does not depend on which weights stream is found once per walk (`walk`: the plan's).
    private func countBandBytes(_ layers: BandLayers, plan: BandPlan, walk: BandWalk) -> Int {
        if walk.unstreamedBytes == nil { walk.unstreamedBytes = unstreamedBandBytes(layers, plan: plan) }
        var dram = walk.unstreamedBytes!
        guard !plan.streamed.isEmpty else { return dram }
        // By position: iterating the nodes would copy each (retaining and releasing every field).
        for k in layers.nodes.indices where plan.streamed[layers.nodes[k].name] != nil {
            // A streamed layer's weights once per band that computes it (the walk's `computed` rows).
            var computingBands = 0
            for rows in walk.computed[k] where !rows.isEmpty { computingBands += 1 }
            dram += layers.constantDRAM[k].weights * (computingBands - 1)
        }
        return dram
    }

    /// `countBandBytes` with every weight loaded once.
    private func unstreamedBandBytes(_ layers: BandLayers, plan: BandPlan) -> Int {
        var dram = 0
        let inputTypes = layers.inputIDs.map { layers.types[$0] }
        for (index, need) in plan.needed.enumerated() {
            let previous = index > 0 ? plan.needed[index - 1] : nil
            for (input, t) in zip(layers.inputIDs, inputTypes) {
                let r = BandPlan.newRows(need[id: input] ?? 0..<0, previous: previous?[id: input], halo: plan.halo)
                let valid = max(0, min(t.shape[2], r.upperBound) - max(0, r.lowerBound))
                dram += 4 * t.shape[1] * valid * t.shape[3]
            }
        }
        // By position: iterating the nodes would copy each (retaining and releasing every field).
        for k in layers.nodes.indices {
            let (weights, rest) = layers.constantDRAM[k]
            dram += rest + weights
        }
        dram += layers.vectorDRAM
        for (value, rows) in plan.stores {
            let t = valueType(value)!
            dram += 4 * t.shape[1] * t.shape[3] * rows.reduce(0) { $0 + $1.count }
        }
        return dram + 4 * valueType(layers.output)!.count
    }

    /// Per stored value, the rows each band stores: the rows it computes
    /// past those stored before (recomputed halo rows are stored once). Nil
    /// when the bands leave a row uncomputed. A Concat part whose DRAM
    /// storage is a slice of a value the group stores anyway is not stored again.
    private func storedRows(_ layers: BandLayers, plan: BandPlan) -> [String: [Range<Int>]]? {
        // A map only a GlobalAveragePool reads may never be stored (a pooling tail's): it covers nothing.
        let pooledOnly =
            !graph.outputs.contains(layers.output)
            && (consumers[layers.output] ?? []).allSatisfy { graph.nodes[$0].kind == .globalAveragePool }
        let leaving = (pooledOnly ? [] : [layers.output]) + layers.stored
        var stores: [String: [Range<Int>]] = [:]
        for value in layers.stored {
            let (root, offset) = dramAliases.root(value)
            let count = valueType(value)!.count
            let covered = leaving.contains { other in
                guard other != value else { return false }
                let (otherRoot, otherOffset) = dramAliases.root(other)
                return otherRoot == root && otherOffset <= offset
                    && offset + count <= otherOffset + valueType(other)!.count
            }
            if covered { continue }
            let h = valueType(value)!.shape[2]
            var done = 0
            var rows: [Range<Int>] = []
            let id = layers.values.ids[value]!
            for band in plan.needed.indices {
                let computed = BandPlan.computedRows(
                    id: id, band: band, height: h, needed: plan.needed, halo: plan.halo)
                guard computed.isEmpty || computed.lowerBound <= done else { return nil }
                let fresh = done..<(computed.isEmpty ? done : max(done, computed.upperBound))
                rows.append(fresh)
                done = fresh.upperBound
            }
            guard done == h else { return nil }
            // A held value stays in SRAM for a later group: every row computed, none stored.
            if layers.held[value] == nil { stores[value] = rows }
        }
        return stores
    }

    /// A quick cycle estimate, the busiest of the matrix unit, the vector
    /// unit and the DRAM channel over all bands (see `CostModel`); the
    /// planner then simulates the finalists for their real cycles.
    /// The engines' work depends only on the walk (`walk`: the plan's) and on which convolutions fold
    /// their taps: it is found once for each such choice.
    private func estimateBandCycles(
        _ layers: BandLayers, plan: BandPlan, geometries: [ConvGeometry?], walk: BandWalk
    ) throws -> Int {
        // By position: mapping the nodes would copy each (retaining and releasing every field).
        let folded = layers.nodes.indices.map { plan.folded[layers.nodes[$0].name] != nil }
        let work: CostModel.Work
        if let known = walk.work[folded] {
            work = known
        } else {
            work = bandWork(layers, plan: plan, geometries: geometries, computed: walk.computed, folded: folded)
            walk.work[folded] = work
        }
        let transfers = plan.bands.count * (layers.inputs.count + 1 + plan.stores.count) + layers.nodes.count
        return work.overlapped(dramBytes: plan.dramBytes, transfers: transfers, setupShare: 4, config: config)
    }

    /// The matrix and vector units' work of `plan`'s bands (see `estimateBandCycles`), `folded` by layer position.
    private func bandWork(
        _ layers: BandLayers, plan: BandPlan, geometries: [ConvGeometry?], computed: [[Range<Int>]], folded: [Bool]
    ) -> CostModel.Work {
        var work = CostModel.Work()
        // Buffers of their own a cached halo's rows are copied in, by value number; folded convolutions.
        // By value number (nil for a value no band touches), for `BandPlan.heldRows` without hashing names.
        // Kept apart, so that no band copies a name or a buffer.
        let owners = plan.buffers.filter { value, buffer in buffer.alias == nil && !plan.held.contains(value) }
        let ownerValues = owners.map(\.key), ownerIDs = owners.map { layers.values.ids[$0.key] }
        let ownerShapes = owners.map { (channels: $0.value.channels, rowWidth: $0.value.rowWidth) }
        // Per layer, found once for every band: its kind, output channels and width, an LRN's window.
        let kinds = layers.nodes.indices.map { layers.nodes[$0].kind }
        let outputShapes = layers.outputTypes.map { (channels: $0.shape[1], width: $0.shape[3]) }
        let lrnSizes = layers.nodes.indices.map {
            layers.nodes[$0].kind == .lrn ? layers.nodes[$0].int("size", default: 1) : 0
        }
        func heldRows(_ o: Int, band: Int) -> Range<Int>? {
            (plan.spans.isEmpty ? nil : plan.spans[band][ownerValues[o]])
                ?? ownerIDs[o].flatMap { plan.needed[band][id: $0] }
        }
        for index in plan.needed.indices {
            if plan.halo == .cache, index > 0 {
                for o in ownerValues.indices {
                    let (now, before) = (heldRows(o, band: index), heldRows(o, band: index - 1))
                    let kept = max(0, (before?.upperBound ?? 0) - (now?.lowerBound ?? 0))
                    work.vector += config.vectorCycles(
                        elements: ownerShapes[o].channels * kept * ownerShapes[o].rowWidth)
                }
            }
            for k in layers.nodes.indices {
                let (channels, width) = outputShapes[k]
                let rows = computed[k][index].count
                switch kinds[k] {
                case .conv where folded[k]:
                    let g = geometries[k]!
                    work.matrix += config.matrixCycles(
                        inputChannels: g.cin * g.kh * g.kw, outputChannels: g.cout, positions: rows * g.wo)
                    work.vector += g.kh * g.kw * config.vectorCycles(elements: g.cin * rows * g.wo)
                case .conv: work.add(conv: geometries[k]!, outputRows: rows, config: config)
                case .concat:
                    // Parts not written in place are copied into the concat's buffer.
                    for channels in layers.copiedChannels[k] {
                        work.vector += config.vectorCycles(elements: channels * rows * width)
                    }
                case .slice: break
                case .lrn:
                    // One multiply-add per window channel per output, as its instruction's timing.
                    work.vector += config.vectorCycles(elements: channels * rows * width * lrnSizes[k])
                default: work.vector += config.vectorCycles(elements: channels * rows * width * 2)
                }
            }
        }
        return work
    }

    /// SRAM bytes of a group's biases and per-channel vectors (always resident).
    func groupVectorBytes(_ nodes: [Node]) -> Int {
        var bytes = 0
        for node in nodes {
            let channels = valueType(node.outputs[0])!.shape[1]
            if let bias = node.kind == .conv ? node.input(2) : nil {
                bytes += DRAMPlan.align(4 * graph.initializers[bias]!.count)
            }
            if node.kind == .batchNormalization { bytes += 2 * DRAMPlan.align(4 * channels) }
            if node.kind == .add || node.kind == .sub || node.kind == .mul {
                bytes += node.inputs.filter { graph.initializers[$0] != nil }.count * DRAMPlan.align(4 * channels)
            }
        }
        return FusionRules.channelVectors(nodes, graph: graph, type: valueType).reduce(bytes) {
            $0 + DRAMPlan.align(4 * valueType($1)!.count)
        }
    }
}
