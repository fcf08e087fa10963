import Accelerator
import GraphIR

/// Whole-map groups: one band that covers the whole output, for layers whose
/// maps are small but whose channels and weights are many (the late stages
/// of a ResNet). Intermediates are held whole in SRAM. A group input that
/// does not fit is streamed in blocks of channels: into the convolutions
/// that read it (accumulating over input-channel blocks) and into the tail.
/// Weights are resident or stream once in [output block, input block]
/// tiles. The tail (the last convolution, when it reads a held value, and
/// the element-wise chain after it) runs one block of output channels at a
/// time, and each block is stored as soon as it is done. SRAM is shared
/// over time: a buffer or slot occupies its bytes only while it is live.
struct ChannelPlan {
    /// Output channels per block (the tail, weight tiles).
    var block: Int
    /// Input channels per block (streamed inputs, weight tiles).
    var inBlock: Int
    /// Group inputs streamed in channel blocks, and the layout of one block
    /// in an input slot (rows and column margins the convolutions read).
    var streamedInputs: Set<String>
    var streamedLayout: [String: FusionGroup.Buffer]
    /// A streamed input whose first channels are held instead (loaded once,
    /// read by every reader from SRAM): the input and its buffer of those channels.
    var partial: (input: String, buffer: FusionGroup.Buffer)?
    /// Whole buffers: intermediates and held inputs.
    var buffers: [String: FusionGroup.Buffer]
    var heldInputs: [String]
    /// Convolutions whose weights are loaded whole at the start.
    var residentWeights: Set<String>
    /// Index (into the graph's nodes) of the first per-block layer; nil when
    /// the output is held whole and stored at the end.
    var tailStart: Int?
    /// SRAM: end of the resident constants; two slots each for weight tiles,
    /// input blocks and output blocks.
    var constantsEnd: Int
    var weightSlot: Int, weightBase: Int
    var inputSlot: Int, inputBase: Int
    /// Blocks of streamed inputs the tail reads have their own two slots.
    var tailInputSlot: Int, tailInputBase: Int
    var outputSlot: Int, outputBase: Int
}

/// A buffer or slot pair of a whole-map group and the layers (node
/// indices) during which it is live.
struct SRAMItem {
    var key: String
    var bytes: Int
    var live: ClosedRange<Int>
}

extension Codegen {
    /// Plans nodes[range] as a whole-map group: a few plans per way of
    /// holding the inputs, widest blocks first; none when the layers are
    /// not all convolutions (ungrouped) and element-wise layers, or nothing fits.
    func planChannelGroup(_ range: Range<Int>, consumers: [String: [Int]], budget: Int = .max, checked: Bool = false) throws -> [FusionGroup] {
        let nodes = range.map { graph.nodes[$0] }
        guard checked || nodes.allSatisfy({ Self.fusible($0, graph: graph) }) else { return [] }
        guard nodes.allSatisfy({ ($0.kind == .conv && $0.int("group", default: 1) == 1) || Self.elementwiseInGroup($0) }),
              let lastConv = range.last(where: { graph.nodes[$0].kind == .conv }) else { return [] }
        let produced = Set(nodes.flatMap(\.outputs))
        let output = nodes.last!.outputs[0]
        for value in produced where value != output {
            guard !graph.outputs.contains(value), (consumers[value] ?? []).allSatisfy({ range.contains($0) }) else { return [] }
        }
        var inputs: [String] = []
        for node in nodes {
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil && !produced.contains(input) && !inputs.contains(input) {
                inputs.append(input)
            }
        }
        // The element-wise layers after the last convolution form a chain,
        // each reading the one before it (and nothing else reads that), so a
        // block can be worked on in place.
        let tailNodes = Array(range[(lastConv + 1)...])
        for index in tailNodes {
            let previous = graph.nodes[index - 1].outputs[0]
            let fromChain = graph.nodes[index].inputs.filter { input in (lastConv..<index).contains { graph.nodes[$0].outputs[0] == input } }
            guard fromChain == [previous], consumers[previous] == [index] else { return [] }
        }
        let reaches = try zip(range, nodes).map { index, node in try knownReaches?[index] ?? reach(node) }

        // Rows (padding included) and column margins each value is read with.
        var need: [String: Range<Int>] = [:], marginLeft: [String: Int] = [:], marginRight: [String: Int] = [:]
        for (node, r) in zip(nodes, reaches) {
            let v = node.outputs[0], h = graph.type(of: v)!.shape[2]
            let rows = node.kind == .conv ? r.rows(0..<h) : 0..<h
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                let old = need[input] ?? rows
                need[input] = min(old.lowerBound, rows.lowerBound)..<max(old.upperBound, rows.upperBound)
            }
            if node.kind == .conv {
                let u = node.inputs[0], wu = graph.type(of: u)!.shape[3], wo = graph.type(of: v)!.shape[3]
                marginLeft[u] = max(marginLeft[u] ?? 0, r.padLeft)
                marginRight[u] = max(marginRight[u] ?? 0, r.cols(outputWidth: wo) - r.padLeft - wu)
            }
        }
        func layout(_ value: String, channels: Int, at address: Int) -> FusionGroup.Buffer {
            let t = graph.type(of: value)!
            let rows = need[value] ?? 0..<t.shape[2]
            return FusionGroup.Buffer(address: address, slots: 1, channels: channels, rows: rows.count,
                                      marginLeft: max(0, marginLeft[value] ?? 0), width: t.shape[3], height: t.shape[2],
                                      marginRight: max(0, marginRight[value] ?? 0), alias: nil, top: rows.lowerBound)
        }

        let constantBytes = groupVectorBytes(nodes)
        let convs = range.filter { graph.nodes[$0].kind == .conv }
        func weights(_ index: Int) -> Tensor { graph.initializers[graph.nodes[index].inputs[1]]! }
        var constantDRAM = 0
        for node in nodes {
            for input in node.inputs where !input.isEmpty && graph.initializers[input] != nil { constantDRAM += 4 * graph.initializers[input]!.count }
            if node.kind == .batchNormalization { constantDRAM += 2 * 4 * graph.type(of: node.outputs[0])!.shape[1] }
        }
        let maxIn = convs.map { weights($0).shape[1] }.max()!
        let maxOut = nodes.map { graph.type(of: $0.outputs[0])!.shape[1] }.max()!

        var plans: [FusionGroup] = []
        for holdInputs in [true, false] {
            var streamedInputs: Set<String> = []
            if !holdInputs {
                // Streamed inputs feed convolutions (by input block) and the tail only.
                for input in inputs {
                    let readers = range.filter { graph.nodes[$0].inputs.contains(input) }
                    if readers.allSatisfy({ (graph.nodes[$0].kind == .conv && graph.nodes[$0].inputs[0] == input) || $0 > lastConv }) {
                        streamedInputs.insert(input)
                    }
                }
                guard !streamedInputs.isEmpty else { continue }
            }
            // The tail starts at the last convolution if it reads a held value, else after it.
            let tailStart: Int? = !streamedInputs.contains(graph.nodes[lastConv].inputs[0]) ? lastConv : tailNodes.first
            // Element-wise layers before the tail read only held values.
            guard range.allSatisfy({ index in
                tailStart.map { index >= $0 } ?? false || graph.nodes[index].kind == .conv
                    || graph.nodes[index].inputs.allSatisfy { !streamedInputs.contains($0) }
            }) else { continue }
            let heldInputs = inputs.filter { !streamedInputs.contains($0) }
            var held = heldInputs
            for index in range where tailStart.map({ index < $0 }) ?? true { held.append(graph.nodes[index].outputs[0]) }
            let tailChannels = tailStart.map { graph.type(of: graph.nodes[$0].outputs[0])!.shape[1] } ?? 0
            // DRAM bytes do not depend on the blocks: skip what cannot beat the budget.
            var bytes = 4 * graph.type(of: output)!.count + constantDRAM
            for input in inputs {
                // Loads into a layout read by convolutions move only the rows inside the tensor they read.
                let t = graph.type(of: input)!
                let rows = need[input].map { max(0, min(t.shape[2], $0.upperBound) - max(0, $0.lowerBound)) } ?? t.shape[2]
                let padded = 4 * t.shape[1] * rows * t.shape[3]
                // At best a streamed input is held whole (see `partial`): once.
                bytes += padded
            }
            guard bytes < budget else { continue }
            // Live ranges of held values: from their producer (held inputs: before the first layer) to their last reader.
            var heldItems: [SRAMItem] = []
            for value in held {
                let producer = range.first { graph.nodes[$0].outputs[0] == value } ?? range.lowerBound - 1
                let readers = range.filter { graph.nodes[$0].inputs.contains(value) }
                let end = value == output ? range.upperBound : (readers.max() ?? producer)
                heldItems.append(SRAMItem(key: value, bytes: DRAMPlan.align(layout(value, channels: graph.type(of: value)!.shape[1], at: 0).slotBytes), live: producer...end))
            }

            var options: [FusionGroup] = []
            // Blocks of 16 to 128 channels (wider ones rarely fit beside whole maps and
            // are no faster on a 32-lane matrix unit; narrower ones waste lanes).
            for block in [128, 64, 32, 16] where block <= max(16, maxOut) {
                for inBlock in Set([min(maxIn, 128), 64, 32, 16]).sorted(by: >) where inBlock <= maxIn {
                    // Weights resident where they fit, the largest streamed first.
                    var residentWeights = Set(convs.filter { !streamedInputs.contains(graph.nodes[$0].inputs[0]) }.map { graph.nodes[$0].name })
                    var plan: ChannelPlan?
                    while plan == nil {
                        plan = allocate(range, held: held, heldItems: heldItems, heldInputs: heldInputs, streamedInputs: streamedInputs, residentWeights: residentWeights,
                                        tailStart: tailStart, tailChannels: tailChannels, block: block, inBlock: inBlock,
                                        constantBytes: constantBytes, layout: layout)
                        guard plan == nil else { break }
                        guard let largest = convs.filter({ residentWeights.contains(graph.nodes[$0].name) })
                                .max(by: { weights($0).count < weights($1).count }) else { break }
                        residentWeights.remove(graph.nodes[largest].name)
                    }
                    guard let plan else { continue }
                    options.append(try channelGroupCost(range, inputs: inputs, output: output, plan: plan))
                }
            }
            // Hold as many leading channels of a streamed input as fit: those are read from
            // DRAM once instead of once per reader. The free SRAM gives the count; a
            // fragmented layout may take a step or two less.
            if streamedInputs.count == 1, let input = streamedInputs.first {
                let channels = graph.type(of: input)!.shape[1]
                let perChannel = layout(input, channels: 1, at: 0).slotBytes
                for k in options.indices {
                    let plan = options[k].channels!
                    let step = max(plan.block, plan.inBlock)
                    var blocks = min((channels - 1) / step, (config.sramBytes - options[k].sramBytes) / (perChannel * step))
                    while blocks > 0 {
                        if let better = allocate(range, held: held, heldItems: heldItems, heldInputs: heldInputs, streamedInputs: streamedInputs,
                                                 residentWeights: plan.residentWeights, tailStart: tailStart, tailChannels: tailChannels,
                                                 block: plan.block, inBlock: plan.inBlock, constantBytes: constantBytes, layout: layout,
                                                 partial: (input, blocks * step)) {
                            options[k] = try channelGroupCost(range, inputs: inputs, output: output, plan: better)
                            break
                        }
                        blocks -= 1
                    }
                }
            }
            // The fewest bytes, then the best cycle estimates.
            plans += options.sorted { ($0.dramBytes, $0.estimatedCycles) < ($1.dramBytes, $1.estimatedCycles) }.prefix(2)
        }
        return plans
    }

    /// SRAM layout of a whole-map plan, nil if it does not fit: constants
    /// first, then every buffer and slot pair placed first-fit over the
    /// positions (layers) during which it is live.
    private func allocate(_ range: Range<Int>, held: [String], heldItems: [SRAMItem], heldInputs: [String], streamedInputs: Set<String>, residentWeights: Set<String>,
                          tailStart: Int?, tailChannels: Int, block: Int, inBlock: Int, constantBytes: Int,
                          layout: (String, Int, Int) -> FusionGroup.Buffer, partial: (input: String, channels: Int)? = nil) -> ChannelPlan? {
        let last = range.upperBound - 1
        var constants = constantBytes
        var weightSlot = 0, weightUse: ClosedRange<Int>?
        func use(_ old: ClosedRange<Int>?, _ index: Int) -> ClosedRange<Int> { old.map { min($0.lowerBound, index)...max($0.upperBound, index) } ?? index...index }
        for index in range where graph.nodes[index].kind == .conv {
            let node = graph.nodes[index], w = graph.initializers[node.inputs[1]]!
            if residentWeights.contains(node.name) {
                constants += DRAMPlan.align(4 * w.count)
            } else {
                weightSlot = max(weightSlot, DRAMPlan.align(4 * min(block, w.shape[0]) * min(inBlock, w.shape[1]) * (w.count / (w.shape[0] * w.shape[1]))))
                weightUse = use(weightUse, index)
            }
        }
        var inputSlot = 0, inputUse: ClosedRange<Int>?, tailInputSlot = 0
        for input in streamedInputs {
            let channels = graph.type(of: input)!.shape[1]
            for index in range where graph.nodes[index].inputs.contains(input) && tailStart.map({ index < $0 }) ?? true {
                inputUse = use(inputUse, index)
                inputSlot = max(inputSlot, DRAMPlan.align(layout(input, min(inBlock, channels), 0).slotBytes))
            }
        }
        if let tailStart {
            let t = graph.type(of: graph.nodes[tailStart].outputs[0])!
            if streamedInputs.contains(where: { input in range.contains { $0 >= tailStart && graph.nodes[$0].inputs.contains(input) } }) {
                tailInputSlot = DRAMPlan.align(4 * min(block, tailChannels) * t.shape[2] * t.shape[3])
            }
        }
        let outputSlot = tailStart.map { DRAMPlan.align(4 * min(block, tailChannels) * graph.type(of: graph.nodes[$0].outputs[0])!.shape[2]
                                                        * graph.type(of: graph.nodes[$0].outputs[0])!.shape[3]) } ?? 0

        var items = heldItems
        if let partial {
            let readers = range.filter { graph.nodes[$0].inputs.contains(partial.input) }
            items.append(SRAMItem(key: "#partial", bytes: DRAMPlan.align(layout(partial.input, partial.channels, 0).slotBytes),
                                  live: (range.lowerBound - 1)...(readers.max() ?? range.lowerBound)))
        }
        if let weightUse, weightSlot > 0 { items.append(SRAMItem(key: "#weights", bytes: 2 * weightSlot, live: weightUse)) }
        if let inputUse, inputSlot > 0 { items.append(SRAMItem(key: "#inputs", bytes: 2 * inputSlot, live: inputUse)) }
        if let tailStart, outputSlot > 0 { items.append(SRAMItem(key: "#outputs", bytes: 2 * outputSlot, live: tailStart...last + 1)) }
        if let tailStart, tailInputSlot > 0 { items.append(SRAMItem(key: "#tailInputs", bytes: 2 * tailInputSlot, live: tailStart...last)) }
        var placed: [(item: SRAMItem, address: Int)] = []
        for item in items.sorted(by: { ($0.live.lowerBound, -$0.bytes, $0.key) < ($1.live.lowerBound, -$1.bytes, $1.key) }) {
            var address = DRAMPlan.align(constants)
            for other in placed.filter({ $0.item.live.overlaps(item.live) }).sorted(by: { $0.address < $1.address }) {
                if address + item.bytes <= other.address { break }
                address = max(address, other.address + other.item.bytes)
            }
            guard address + item.bytes <= config.sramBytes else { return nil }
            placed.append((item, address))
        }
        var address: [String: Int] = [:]
        for (item, at) in placed { address[item.key] = at }
        var buffers: [String: FusionGroup.Buffer] = [:]
        for value in held { buffers[value] = layout(value, graph.type(of: value)!.shape[1], address[value]!) }
        var streamedLayout: [String: FusionGroup.Buffer] = [:]
        for input in streamedInputs {
            streamedLayout[input] = layout(input, min(inBlock, graph.type(of: input)!.shape[1]), address["#inputs"] ?? 0)
        }
        let held = partial.map { ($0.input, layout($0.input, $0.channels, address["#partial"]!)) }
        return ChannelPlan(block: block, inBlock: inBlock, streamedInputs: streamedInputs, streamedLayout: streamedLayout, partial: held, buffers: buffers,
                           heldInputs: heldInputs, residentWeights: residentWeights, tailStart: tailStart, constantsEnd: constants,
                           weightSlot: weightSlot, weightBase: address["#weights"] ?? 0, inputSlot: inputSlot, inputBase: address["#inputs"] ?? 0,
                           tailInputSlot: tailInputSlot, tailInputBase: address["#tailInputs"] ?? 0, outputSlot: outputSlot, outputBase: address["#outputs"] ?? 0)
    }

    /// Exact DRAM bytes and a quick cycle estimate of a whole-map plan (the
    /// planner then schedules the emitted group for its real cycles): layer
    /// by layer, the busier of the matrix unit and the load engine (each
    /// load costs its setup and its data), plus vector work and stores.
    func channelGroupCost(_ range: Range<Int>, inputs: [String], output: String, plan: ChannelPlan) throws -> FusionGroup {
        let nodes = range.map { graph.nodes[$0] }
        func load(_ bytes: Int) -> Int { config.dmaSetupCycles + (bytes + config.dramBytesPerCycle - 1) / config.dramBytesPerCycle }
        var dram = 0, cycles = 0
        var constantLoads = 0
        /// Bytes of a load into `layout`: the rows inside the tensor, every column.
        func loaded(_ layout: FusionGroup.Buffer) -> Int {
            4 * layout.channels * max(0, min(layout.height, layout.top + layout.rows) - max(0, layout.top)) * layout.width
        }
        for input in plan.heldInputs {
            dram += loaded(plan.buffers[input]!)
            constantLoads += load(loaded(plan.buffers[input]!))
        }
        if let partial = plan.partial {
            dram += loaded(partial.buffer)
            constantLoads += load(loaded(partial.buffer))
        }
        for (index, node) in zip(range, nodes) {
            var matrix = 0, vector = 0, loads = 0
            for input in node.inputs where !input.isEmpty && graph.initializers[input] != nil {
                let bytes = 4 * graph.initializers[input]!.count
                dram += bytes
                if node.kind == .conv && input == node.inputs[1] && !plan.residentWeights.contains(node.name) { continue }
                constantLoads += load(bytes)
            }
            if node.kind == .batchNormalization {
                dram += 2 * 4 * graph.type(of: node.outputs[0])!.shape[1]
                constantLoads += 2 * load(4 * graph.type(of: node.outputs[0])!.shape[1])
            }
            // Streamed inputs this layer reads, block by block.
            for input in node.inputs where plan.streamedInputs.contains(input) {
                let t = graph.type(of: input)!
                let layout = plan.streamedLayout[input]!
                // Channels below `first` are held (read from SRAM, loaded once above).
                let first = plan.partial?.input == input ? plan.partial!.buffer.channels : 0
                let streamed = t.shape[1] - first
                dram += node.kind == .conv ? loaded(layout) / layout.channels * streamed : 4 * streamed * t.shape[2] * t.shape[3]
                let size = node.kind == .conv ? plan.inBlock : plan.block
                for c in stride(from: first, to: t.shape[1], by: size) { loads += load(4 * min(size, t.shape[1] - c) * t.shape[2] * t.shape[3]) }
            }
            let y = graph.type(of: node.outputs[0])!
            if node.kind == .conv {
                let g = try convGeometry(node)
                let resident = plan.residentWeights.contains(node.name)
                let inBlocks = resident ? [g.cin] : stride(from: 0, to: g.cin, by: plan.inBlock).map { min(plan.inBlock, g.cin - $0) }
                let outBlocks = resident && plan.tailStart != index ? [g.cout] : stride(from: 0, to: g.cout, by: plan.block).map { min(plan.block, g.cout - $0) }
                for cin in inBlocks {
                    for cout in outBlocks {
                        matrix += (cin + config.matrixInputLanes - 1) / config.matrixInputLanes
                            * ((cout + config.matrixOutputLanes - 1) / config.matrixOutputLanes) * g.ho * g.wo * g.kh * g.kw
                        if !resident { loads += load(4 * cin * cout * g.kh * g.kw) }
                    }
                }
            } else {
                vector += (y.count * (node.kind == .batchNormalization ? 2 : 1) + config.vectorLanes - 1) / config.vectorLanes
            }
            cycles += max(matrix, loads) + vector
        }
        let outputType = graph.type(of: output)!
        dram += 4 * outputType.count
        let stores = plan.tailStart == nil ? 1 : (outputType.shape[1] + plan.block - 1) / plan.block
        cycles += constantLoads + (plan.tailStart == nil ? load(4 * outputType.count) : load(4 * outputType.count / stores))
        let height = outputType.shape[2]
        let sram = ([plan.constantsEnd, plan.weightBase + 2 * plan.weightSlot, plan.inputBase + 2 * plan.inputSlot,
                     plan.tailInputBase + 2 * plan.tailInputSlot, plan.outputBase + 2 * plan.outputSlot]
                    + plan.buffers.values.map { $0.address + $0.slotBytes }).max()!
        return FusionGroup(halo: .recompute, nodes: range, output: output, inputs: inputs, rows: height, bands: [0..<height],
                           needed: [], buffers: plan.buffers, streamed: [:], streamBase: plan.weightBase, weightBytes: plan.constantsEnd,
                           sramBytes: sram, dramBytes: dram, estimatedCycles: cycles, channels: plan)
    }
}

extension Codegen {
    /// Emits a whole-map group (see `ChannelPlan`).
    mutating func lowerChannelGroup(_ group: FusionGroup, _ plan: ChannelPlan) throws {
        let nodes = group.nodes.map { graph.nodes[$0] }
        let start = sequencer.instructions.count
        let names = nodes.map(\.name)
        func emitGroup(_ op: Op, reads: [MemoryRange], writes: [MemoryRange]) {
            sequencer.emit(op, reads: reads, writes: writes, nodes: names)
        }

        // Resident constants, in node order: whole weights, biases, per-channel vectors.
        let resident = loadGroupConstants(nodes, names: names) { plan.residentWeights.contains($0.name) }
        let cursor = resident.values.map { $0.address + DRAMPlan.align(4 * $0.count) }.max() ?? 0
        guard cursor <= plan.constantsEnd else { throw DFCError("internal error: whole-map group constants overflow their region") }

        func wholeRange(_ value: String) -> MemoryRange {
            let b = plan.buffers[value]!
            return .sram(b.address, bytes: b.slotBytes)
        }
        /// Channels `channels` of a held value; the tile starts at tensor row 0, column 0.
        func interior(_ value: String, _ channels: Range<Int>) -> SRAMTile {
            let b = plan.buffers[value]!
            let channelStride = b.rows * b.rowWidth
            return SRAMTile(addr: b.address + 4 * (channels.lowerBound * channelStride - b.top * b.rowWidth + b.marginLeft),
                            channels: channels.count, height: b.height, width: b.width, channelStride: channelStride, rowStride: b.rowWidth)
        }
        func blocks(_ count: Int, _ size: Int) -> [Range<Int>] {
            stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
        }
        // Held inputs: one load each, borders zero-filled.
        for input in plan.heldInputs {
            let b = plan.buffers[input]!, shape = graph.type(of: input)!.shape
            var t = TransferOp(tensorAt: location(input).address, shape: shape, origin: [0, 0, b.top, -b.marginLeft],
                               counts: [1, b.channels, b.rows, b.rowWidth], sramAddr: b.address)
            t.sramStrides = [0, b.rows * b.rowWidth, b.rowWidth, 1]
            emitGroup(.load(t), reads: [location(input).range], writes: [wholeRange(input)])
        }

        // The held leading channels of a streamed input: one load, borders zero-filled.
        if let (input, b) = plan.partial {
            let shape = graph.type(of: input)!.shape
            var t = TransferOp(tensorAt: location(input).address, shape: shape, origin: [0, 0, b.top, -b.marginLeft],
                               counts: [1, b.channels, b.rows, b.rowWidth], sramAddr: b.address)
            t.sramStrides = [0, b.rows * b.rowWidth, b.rowWidth, 1]
            emitGroup(.load(t), reads: [location(input).range], writes: [.sram(b.address, bytes: b.slotBytes)])
        }
        var inputTurn = 0, tailInputTurn = 0, weightTurn = 0, outputTurn = 0
        func nextSlot(_ base: Int, _ size: Int, _ turn: inout Int) -> Int {
            defer { turn += 1 }
            return base + (turn % 2) * size
        }
        /// The weights of `node` for these output and input channels: a
        /// resident range, or a tile loaded into the next weight slot.
        func weightTile(_ node: Node, outputs: Range<Int>, inputs: Range<Int>) -> MemoryRange {
            let w = graph.initializers[node.inputs[1]]!
            let khw = w.count / (w.shape[0] * w.shape[1])
            if let r = resident[node.inputs[1]] {
                return .sram(r.address + 4 * outputs.lowerBound * w.shape[1] * khw, bytes: 4 * outputs.count * w.shape[1] * khw)
            }
            let address = nextSlot(plan.weightBase, plan.weightSlot, &weightTurn)
            let dram = location(node.inputs[1])
            let t = TransferOp(tensorAt: dram.address, shape: [1, w.shape[0], w.shape[1], khw], origin: [0, outputs.lowerBound, inputs.lowerBound, 0],
                               counts: [1, outputs.count, inputs.count, khw], sramAddr: address)
            emitGroup(.load(t), reads: [.dram(dram.address, bytes: 4 * w.count)], writes: [.sram(address, bytes: 4 * t.elements)])
            return .sram(address, bytes: 4 * t.elements)
        }
        /// Loads channels `channels` of a streamed input, whole map, into the
        /// next input slot: with the rows and margins convolutions read (`padded`) or dense.
        func streamInput(_ input: String, _ channels: Range<Int>, padded: Bool) -> (SRAMTile, MemoryRange) {
            let shape = graph.type(of: input)!.shape
            if let (held, b) = plan.partial, held == input, channels.upperBound <= b.channels {
                // Held: the same channels straight from their buffer.
                let channelStride = b.rows * b.rowWidth
                let tile = SRAMTile(addr: b.address + 4 * (channels.lowerBound * channelStride - b.top * b.rowWidth + b.marginLeft),
                                    channels: channels.count, height: shape[2], width: shape[3], channelStride: channelStride, rowStride: b.rowWidth)
                return (tile, .sram(b.address, bytes: b.slotBytes))
            }
            let address = padded ? nextSlot(plan.inputBase, plan.inputSlot, &inputTurn) : nextSlot(plan.tailInputBase, plan.tailInputSlot, &tailInputTurn)
            let b = plan.streamedLayout[input]!
            let top = padded ? b.top : 0, rows = padded ? b.rows : shape[2]
            let left = padded ? b.marginLeft : 0, rowWidth = padded ? b.rowWidth : shape[3]
            var t = TransferOp(tensorAt: location(input).address, shape: shape, origin: [0, channels.lowerBound, top, -left],
                               counts: [1, channels.count, rows, rowWidth], sramAddr: address)
            t.sramStrides = [0, rows * rowWidth, rowWidth, 1]
            emitGroup(.load(t), reads: [location(input).range], writes: [.sram(address, bytes: 4 * t.elements)])
            let tile = SRAMTile(addr: address + 4 * (-top * rowWidth + left), channels: channels.count, height: shape[2], width: shape[3],
                                channelStride: rows * rowWidth, rowStride: rowWidth)
            return (tile, .sram(address, bytes: 4 * t.elements))
        }
        /// One CONV instruction: `input` starts at tensor row 0, column 0 of the input channels it covers.
        func convolve(_ node: Node, input: (SRAMTile, MemoryRange), output: (SRAMTile, MemoryRange), weights: MemoryRange,
                      outputs: Range<Int>, accumulate: Bool, last: Bool) throws {
            let r = try reach(node)
            let x = graph.type(of: node.inputs[0])!, y = graph.type(of: node.outputs[0])!
            let rows = r.rows(0..<y.shape[2])
            var tile = input.0
            tile.addr += 4 * (rows.lowerBound * tile.rowStride - r.padLeft)
            tile.height = rows.count
            tile.width = r.cols(outputWidth: y.shape[3])
            let bias = accumulate ? nil : node.input(2).map { resident[$0]! }
            let op = ConvOp(input: tile, output: output.0, weightAddr: weights.start, biasAddr: bias.map { $0.address + 4 * outputs.lowerBound },
                            kernel: (r.kh, r.kw), stride: (r.sh, r.sw), dilation: (r.dh, r.dw), groups: 1,
                            window: PadWindow(originY: rows.lowerBound, originX: -r.padLeft, extentH: x.shape[2], extentW: x.shape[3]),
                            accumulate: accumulate, activation: last ? node.activation?.fused ?? .none : .none)
            var reads = [input.1, weights]
            if let bias { reads.append(.sram(bias.address, bytes: 4 * bias.count)) }
            if accumulate { reads.append(output.1) }
            emitGroup(.conv(op), reads: reads, writes: [output.1])
        }
        /// A convolution reading a held value, into `output` (output channels `outputs`), over input-channel blocks unless its weights are resident.
        func convolveHeld(_ node: Node, outputs: Range<Int>, into output: (SRAMTile, MemoryRange)) throws {
            let u = node.inputs[0], cin = graph.type(of: u)!.shape[1]
            let parts = resident[node.inputs[1]] != nil ? [0..<cin] : blocks(cin, plan.inBlock)
            for (k, inputs) in parts.enumerated() {
                let weights = weightTile(node, outputs: outputs, inputs: inputs)
                try convolve(node, input: (interior(u, inputs), wholeRange(u)), output: output, weights: weights, outputs: outputs,
                             accumulate: k > 0, last: k == parts.count - 1)
            }
        }
        /// One element-wise layer on tiles of `channels` channels; `tile` gives each runtime operand's tile and range.
        func elementwise(_ node: Node, channels: Range<Int>, output: (SRAMTile, MemoryRange), tile: (String) -> (SRAMTile, MemoryRange)) throws {
            let (out, outRange) = output
            let vector = { (address: Int) in SRAMTile(addr: address + 4 * channels.lowerBound, channels: channels.count, height: 1, width: 1) }
            switch node.kind {
            case .batchNormalization:
                let (a, aRange) = tile(node.inputs[0])
                let scale = resident["\(node.name)#scale"]!, shift = resident["\(node.name)#shift"]!
                emitGroup(.eltwise(EltwiseOp(.mul, a: a, b: vector(scale.address), output: out, broadcast: .channel)),
                          reads: [aRange, .sram(scale.address, bytes: 4 * scale.count)], writes: [outRange])
                emitGroup(.eltwise(EltwiseOp(.add, a: out, b: vector(shift.address), output: out, broadcast: .channel,
                                             activation: node.activation?.fused ?? .none)),
                          reads: [outRange, .sram(shift.address, bytes: 4 * shift.count)], writes: [outRange])
            case .add, .sub, .mul:
                var operands = node.inputs
                if graph.initializers[operands[0]] != nil { operands.swapAt(0, 1) }
                let kind: EltwiseKind = node.kind == .add ? .add : node.kind == .sub ? .sub : .mul
                let (a, aRange) = tile(operands[0])
                if graph.initializers[operands[1]] != nil {
                    let c = resident[groupChannelKey(node, operands[1])]!
                    emitGroup(.eltwise(EltwiseOp(kind, a: a, b: vector(c.address), output: out, broadcast: .channel, activation: node.activation?.fused ?? .none)),
                              reads: [aRange, .sram(c.address, bytes: 4 * c.count)], writes: [outRange])
                } else {
                    let (b, bRange) = tile(operands[1])
                    emitGroup(.eltwise(EltwiseOp(kind, a: a, b: b, output: out, activation: node.activation?.fused ?? .none)),
                              reads: [aRange, bRange], writes: [outRange])
                }
            default:
                guard let activation = Activation(of: node, in: graph) else { throw DFCError("node '\(node.name)' cannot be fused") }
                let (a, aRange) = tile(node.inputs[0])
                emitGroup(.act(ActOp(input: a, output: out, activation: activation.fused)), reads: [aRange], writes: [outRange])
                if let extra = node.activation {
                    emitGroup(.act(ActOp(input: out, output: out, activation: extra.fused)), reads: [outRange], writes: [outRange])
                }
            }
        }

        // Layers before the tail, on whole maps.
        for (index, node) in zip(group.nodes, nodes) where plan.tailStart.map({ index < $0 }) ?? true {
            let v = node.outputs[0], y = graph.type(of: v)!
            switch node.kind {
            case .conv where plan.streamedInputs.contains(node.inputs[0]):
                // Each block of input channels is loaded once and meets every block of output channels.
                let u = node.inputs[0], parts = blocks(graph.type(of: u)!.shape[1], plan.inBlock)
                for (k, inputs) in parts.enumerated() {
                    let input = streamInput(u, inputs, padded: true)
                    for outputs in blocks(y.shape[1], plan.block) {
                        let weights = weightTile(node, outputs: outputs, inputs: inputs)
                        try convolve(node, input: input, output: (interior(v, outputs), wholeRange(v)), weights: weights, outputs: outputs,
                                     accumulate: k > 0, last: k == parts.count - 1)
                    }
                }
            case .conv:
                for outputs in resident[node.inputs[1]] != nil ? [0..<y.shape[1]] : blocks(y.shape[1], plan.block) {
                    try convolveHeld(node, outputs: outputs, into: (interior(v, outputs), wholeRange(v)))
                }
            default:
                try elementwise(node, channels: 0..<y.shape[1], output: (interior(v, 0..<y.shape[1]), wholeRange(v))) { value in
                    (interior(value, 0..<graph.type(of: value)!.shape[1]), wholeRange(value))
                }
            }
        }

        let outputLocation = location(group.output)
        if let tailStart = plan.tailStart {
            // The tail, one block of output channels at a time, in place in an output slot, then stored.
            let head = graph.nodes[tailStart]
            let y = graph.type(of: head.outputs[0])!
            for outputs in blocks(y.shape[1], plan.block) {
                let address = nextSlot(plan.outputBase, plan.outputSlot, &outputTurn)
                let slot = (SRAMTile(addr: address, channels: outputs.count, height: y.shape[2], width: y.shape[3]),
                            MemoryRange.sram(address, bytes: 4 * outputs.count * y.shape[2] * y.shape[3]))
                var first = tailStart
                if head.kind == .conv {
                    try convolveHeld(head, outputs: outputs, into: slot)
                    first += 1
                }
                for index in first..<group.nodes.upperBound {
                    let node = graph.nodes[index], previous = graph.nodes[index - 1].outputs[0]
                    try elementwise(node, channels: outputs, output: slot) { value in
                        if value == previous && index > tailStart { return slot }
                        if plan.buffers[value] != nil { return (interior(value, outputs), wholeRange(value)) }
                        return streamInput(value, outputs, padded: false)
                    }
                }
                let t = TransferOp(tensorAt: outputLocation.address, shape: outputLocation.shape, origin: [0, outputs.lowerBound, 0, 0],
                                   counts: [1, outputs.count, y.shape[2], y.shape[3]], sramAddr: address)
                emitGroup(.store(t), reads: [slot.1], writes: [outputLocation.range])
            }
        } else {
            // The output, held whole, stored at the end.
            let b = plan.buffers[group.output]!
            var t = TransferOp(tensorAt: outputLocation.address, shape: outputLocation.shape, origin: [0, 0, 0, 0],
                               counts: [1, b.channels, b.height, b.width], sramAddr: interior(group.output, 0..<b.channels).addr)
            t.sramStrides = [0, b.rows * b.rowWidth, b.rowWidth, 1]
            emitGroup(.store(t), reads: [wholeRange(group.output)], writes: [outputLocation.range])
        }
        let description = "fused \(nodes.count) layers, " + group.tileDescription(graph: graph)
        layers.append(LayerReport(node: names.joined(separator: "+"), op: "FusionGroup", engine: "fused", tiling: description,
                                  instructions: start..<sequencer.instructions.count))
    }
}
