import Accelerator
import GraphIR

/// SRAM layout and cost of whole-map plans.
extension PlanningContext {
    /// SRAM layout of a whole-map plan, nil if it does not fit: constants
    /// first, then every buffer and slot pair placed first-fit over the
    /// positions (layers) during which it is live. Bytes and cycles are left to `wholeMapCost`.
    func allocate(_ layers: WholeMapLayers, _ request: AllocationRequest) -> WholeMapPlan? {
        let (range, holding) = (layers.range, request.holding)
        let (block, inBlock) = (request.block, request.inBlock)
        guard let tiles = request.weightTiles ?? weightTiles(layers, request) else { return nil }
        let slots = slotSizes(layers, request, tiles: tiles)
        // Items by position: the held values first (in `holding.held` order), then the slot pairs.
        var items = holding.heldItems
        assert(holding.held.elementsEqual(items.map(\.key)), "held items follow the held values")
        var partialItem: Int?, weightsItem: Int?, inputsItem: Int?, outputsItem: Int?, scratchItem: Int?
        if let partial = request.partial {
            let readers = range.filter { graph.nodes[$0].inputs.contains(partial.input) }
            let bytes = layers.layout(partial.input, channels: partial.channels, at: 0, context: self).slotBytes
            partialItem = items.count
            items.append(
                SRAMItem(
                    key: "#partial", bytes: DRAMPlan.align(bytes),
                    live: (range.lowerBound - 1)...(readers.max() ?? range.lowerBound)))
        }
        let last = range.upperBound - 1
        if let use = slots.weightUse, slots.weight > 0 {
            weightsItem = items.count
            items.append(SRAMItem(key: "#weights", bytes: 2 * slots.weight, live: use))
        }
        if let use = slots.inputUse, slots.input > 0 {
            inputsItem = items.count
            items.append(SRAMItem(key: "#inputs", bytes: 2 * slots.input, live: use))
        }
        if let tailStart = holding.tailStart, slots.output > 0, layers.heldOutput == nil {
            outputsItem = items.count
            items.append(SRAMItem(key: "#outputs", bytes: 2 * slots.output, live: tailStart...last + 1))
        }
        var tailInputsItem: Int?
        if let tailStart = holding.tailStart, slots.tailInput > 0 {
            tailInputsItem = items.count
            items.append(SRAMItem(key: "#tailInputs", bytes: 2 * slots.tailInput, live: tailStart...last))
        }
        // A depthwise convolution or a pool in the tail reads blocks of the last convolution's output from a
        // padded scratch.
        let scratch = layers.scratchReader.map { _ in
            layers.layout(
                graph.nodes[layers.lastConv].outputs[0], channels: min(block, holding.tailChannels), at: 0,
                context: self
            )
        }
        if let scratch, let tailStart = holding.tailStart {
            scratchItem = items.count
            items.append(
                SRAMItem(key: "#scratch", bytes: 2 * DRAMPlan.align(scratch.slotBytes), live: tailStart...last))
        }
        guard
            let placements = Self.firstFitPlacements(
                items, from: DRAMPlan.align(slots.constants), capacity: config.sramBytes)
        else { return nil }
        var placed = [Int](repeating: 0, count: items.count)
        for (item, address) in placements { placed[item] = address }
        let address = { (item: Int?) in item.map { placed[$0] } }
        var buffers: [String: SRAMBuffer] = [:]
        for (k, value) in holding.held.enumerated() {
            buffers[value] = layers.layout(value, channels: valueType(value)!.shape[1], at: placed[k], context: self)
        }
        var streamedLayout: [String: SRAMBuffer] = [:]
        for input in holding.streamedInputs {
            let channels = min(inBlock, valueType(input)!.shape[1])
            streamedLayout[input] = layers.layout(
                input, channels: channels, at: address(inputsItem) ?? 0, context: self)
        }
        let partial = request.partial.map {
            ($0.input, layers.layout($0.input, channels: $0.channels, at: address(partialItem)!, context: self))
        }
        var plan = WholeMapPlan(
            nodes: range, output: layers.output, inputs: layers.inputs, block: block, inBlock: inBlock,
            streamedInputs: holding.streamedInputs, streamedLayout: streamedLayout, partial: partial,
            buffers: buffers, heldInputs: holding.heldInputs, residentWeights: request.residentWeights,
            tailStart: holding.tailStart, constantsEnd: slots.constants,
            weightSlot: slots.weight, weightBase: address(weightsItem) ?? 0,
            inputSlot: slots.input, inputBase: address(inputsItem) ?? 0,
            tailInputSlot: slots.tailInput, tailInputBase: address(tailInputsItem) ?? 0,
            outputSlot: layers.heldOutput == nil ? slots.output : 0, outputBase: address(outputsItem) ?? 0)
        plan.heldOutput = layers.heldOutput
        (plan.weightTiles, plan.weightBudget) = (tiles, request.weightBudget)
        if var scratch, let base = address(scratchItem) {
            scratch.address = base
            (plan.scratchLayout, plan.scratchBase, plan.scratchSlot) = (
                scratch, base, DRAMPlan.align(scratch.slotBytes)
            )
        }
        return plan
    }

    /// The weight tile of each convolution whose weights stream (see `WholeMapPlan.weightTiles`), the
    /// widest by elements that fits the request's budget, then the one with more input channels (fewer
    /// partial sums); nil when one does not fit. Free sides are the layer's channels or a power of two
    /// from 32 (narrower would waste the matrix unit's lanes). A grouped convolution keeps its block of
    /// whole groups over their input channels.
    func weightTiles(_ layers: WholeMapLayers, _ request: AllocationRequest) -> [String: (outputs: Int, inputs: Int)]? {
        let holding = request.holding
        var fixed: [(name: String, outputs: Int?, inputs: Int?, channels: (Int, Int), taps: Int)] = []
        for (index, conv) in zip(layers.convs, layers.convWeights) where !request.residentWeights.contains(conv.name) {
            let streamed =
                holding.streamedInputs.contains(graph.nodes[index].inputs[0])
                && holding.tailStart.map { index < $0 } ?? true
            fixed.append(
                (
                    conv.name, index == holding.tailStart || conv.grouped ? min(request.block, conv.outputs) : nil,
                    conv.grouped ? conv.inputs : streamed ? min(request.inBlock, conv.inputs) : nil,
                    (conv.outputs, conv.inputs), conv.taps
                ))
        }
        func uniform(_ conv: (name: String, outputs: Int?, inputs: Int?, channels: (Int, Int), taps: Int)) -> (
            outputs: Int, inputs: Int
        ) {
            (conv.outputs ?? min(request.block, conv.channels.0), conv.inputs ?? min(request.inBlock, conv.channels.1))
        }
        var tiles: [String: (outputs: Int, inputs: Int)] = [:]
        guard let budget = request.weightBudget else {
            for conv in fixed { tiles[conv.name] = uniform(conv) }
            return tiles
        }
        var differs = false
        for conv in fixed {
            guard
                let best = Self.widestTile(
                    outputs: conv.outputs, inputs: conv.inputs, channels: conv.channels, taps: conv.taps,
                    budget: budget)
            else { return nil }
            tiles[conv.name] = best
            differs = differs || best != uniform(conv)
        }
        // The same tiles as without a budget: that plan is offered already.
        return differs ? tiles : nil
    }

    /// The tile of `taps` weights per pair of channels with the most weights in `budget` bytes, then the most
    /// input channels; nil when none fits. A side not fixed is the layer's `channels` or a power of two from
    /// 32 below it. For each output side the widest input side that fits wins, so one pass over the output
    /// sides finds it.
    static func widestTile(outputs: Int?, inputs: Int?, channels: (Int, Int), taps: Int, budget: Int) -> (
        outputs: Int, inputs: Int
    )? {
        /// The widest side of `count` channels no wider than `limit`.
        func widest(_ count: Int, _ limit: Int) -> Int? {
            if count <= limit { return count }
            guard 32 < count, 32 <= limit else { return nil }
            var side = 32
            while side < 32768 && 2 * side < count && 2 * side <= limit { side *= 2 }
            return side
        }
        var best: (outputs: Int, inputs: Int)?
        func consider(_ o: Int) {
            let limit = budget / (4 * o * taps)
            let i: Int?
            if let inputs { i = inputs <= limit ? inputs : nil } else { i = widest(channels.1, limit) }
            guard let i else { return }
            if best.map({ (o * i, i) > ($0.outputs * $0.inputs, $0.inputs) }) ?? true { best = (o, i) }
        }
        if let outputs {
            consider(outputs)
        } else {
            consider(channels.0)
            var side = 32
            while side < channels.0 && side <= 32768 {
                consider(side)
                side *= 2
            }
        }
        return best
    }

    /// Resident constants' bytes and the size (one slot of two) and live layers of each slot pair.
    private func slotSizes(
        _ layers: WholeMapLayers, _ request: AllocationRequest, tiles: [String: (outputs: Int, inputs: Int)]
    )
        -> (
            constants: Int, weight: Int, weightUse: ClosedRange<Int>?, input: Int, inputUse: ClosedRange<Int>?,
            tailInput: Int, output: Int
        )
    {
        let (range, holding) = (layers.range, request.holding)
        let (block, inBlock) = (request.block, request.inBlock)
        func use(_ old: ClosedRange<Int>?, _ index: Int) -> ClosedRange<Int> {
            old.map { min($0.lowerBound, index)...max($0.upperBound, index) } ?? index...index
        }
        var constants = layers.vectorBytes
        var weightSlot = 0, weightUse: ClosedRange<Int>?
        for index in range where graph.nodes[index].kind == .conv {
            let node = graph.nodes[index], w = graph.initializers[node.inputs[1]]!
            if request.residentWeights.contains(node.name) {
                constants += DRAMPlan.align(4 * w.count)
            } else {
                let taps = w.count / (w.shape[0] * w.shape[1]), tile = tiles[node.name]!
                weightSlot = max(weightSlot, DRAMPlan.align(4 * tile.outputs * tile.inputs * taps))
                weightUse = use(weightUse, index)
            }
        }
        var inputSlot = 0, inputUse: ClosedRange<Int>?, tailInputSlot = 0, outputSlot = 0
        for input in holding.streamedInputs {
            let channels = valueType(input)!.shape[1]
            for index in range
            where graph.nodes[index].inputs.contains(input) && holding.tailStart.map({ index < $0 }) ?? true {
                inputUse = use(inputUse, index)
                let bytes = layers.layout(input, channels: min(inBlock, channels), at: 0, context: self).slotBytes
                inputSlot = max(inputSlot, DRAMPlan.align(bytes))
            }
        }
        if let tailStart = holding.tailStart {
            let t = valueType(graph.nodes[tailStart].outputs[0])!
            let blockBytes = DRAMPlan.align(4 * min(block, holding.tailChannels) * t.shape[2] * t.shape[3])
            if holding.streamedInputs.contains(where: { input in
                range.contains { $0 >= tailStart && graph.nodes[$0].inputs.contains(input) }
            }) {
                tailInputSlot = blockBytes
            }
            outputSlot = blockBytes
        }
        return (constants, weightSlot, weightUse, inputSlot, inputUse, tailInputSlot, outputSlot)
    }

    /// Places items first-fit, earliest-live and largest first, each at the
    /// lowest address not taken by an item live at the same time; nil when one does not fit.
    static func firstFit(_ items: [SRAMItem], from base: Int, capacity: Int) -> [String: Int]? {
        guard let placements = firstFitPlacements(items, from: base, capacity: capacity) else { return nil }
        var address: [String: Int] = [:]
        for (item, at) in placements { address[items[item].key] = at }
        return address
    }

    /// `firstFit` by position: each item's index in `items` and its address, in the order they are placed.
    static func firstFitPlacements(_ items: [SRAMItem], from base: Int, capacity: Int) -> [(item: Int, address: Int)]? {
        let order = items.indices.sorted {
            (items[$0].live.lowerBound, -items[$0].bytes, items[$0].key)
                < (items[$1].live.lowerBound, -items[$1].bytes, items[$1].key)
        }
        // Placed items by address (those at one address in the order placed): the ones live with an
        // item are met in address order without sorting them for each item.
        var byAddress: [(live: ClosedRange<Int>, address: Int, end: Int)] = []
        var placements: [(item: Int, address: Int)] = []
        placements.reserveCapacity(items.count)
        for k in order {
            let item = items[k]
            var address = base
            for other in byAddress where other.live.overlaps(item.live) {
                if address + item.bytes <= other.address { break }
                address = max(address, other.end)
            }
            guard address + item.bytes <= capacity else { return nil }
            let at = byAddress.firstIndex { $0.address > address } ?? byAddress.count
            byAddress.insert((item.live, address, address + item.bytes), at: at)
            placements.append((k, address))
        }
        return placements
    }

    /// Exact DRAM bytes and a quick cycle estimate of a whole-map plan (the
    /// planner then schedules the emitted group for its real cycles): layer
    /// by layer, the busier of the matrix unit and the load engine (each
    /// load costs its setup and its data), plus vector work and stores.
    func wholeMapCost(_ layers: WholeMapLayers, plan: WholeMapPlan) throws -> WholeMapPlan {
        var plan = plan
        func load(_ bytes: Int) -> Int { CostModel.transfer(bytes, config: config) }
        var dram = 0, cycles = 0, constantLoads = 0
        /// Bytes of a load into `layout`: the rows inside the tensor, every column.
        func loaded(_ layout: SRAMBuffer) -> Int {
            4 * layout.channels * max(0, min(layout.height, layout.top + layout.rows) - max(0, layout.top))
                * layout.width
        }
        for buffer in plan.heldInputs.map({ plan.buffers[$0]! }) + (plan.partial.map { [$0.buffer] } ?? []) {
            dram += loaded(buffer)
            constantLoads += load(loaded(buffer))
        }
        for (index, node) in zip(layers.range, layers.nodes) {
            var loads = 0
            // A BatchNormalization's four parameters reach SRAM folded into a scale and a shift (below).
            for input in node.inputs
            where !input.isEmpty && graph.initializers[input] != nil && node.kind != .batchNormalization {
                let bytes = 4 * graph.initializers[input]!.count
                dram += bytes
                if node.kind == .conv && input == node.inputs[1] && !plan.residentWeights.contains(node.name) {
                    continue
                }
                constantLoads += load(bytes)
            }
            if node.kind == .batchNormalization {
                dram += 2 * 4 * valueType(node.outputs[0])!.shape[1]
                constantLoads += 2 * load(4 * valueType(node.outputs[0])!.shape[1])
            }
            // Streamed inputs this layer reads, block by block.
            for input in node.inputs where plan.streamedInputs.contains(input) {
                let t = valueType(input)!
                let layout = plan.streamedLayout[input]!
                // Channels below `first` are held (read from SRAM, loaded once above).
                let first = plan.partial?.input == input ? plan.partial!.buffer.channels : 0
                let streamed = t.shape[1] - first
                dram +=
                    node.kind == .conv
                    ? loaded(layout) / layout.channels * streamed : 4 * streamed * t.shape[2] * t.shape[3]
                let size = node.kind == .conv ? plan.inBlock : plan.block
                // A block straddling the held count loads only its streamed channels (see `streamInput`).
                for c in stride(from: 0, to: t.shape[1], by: size) where c + size > first {
                    loads += load(4 * (min(c + size, t.shape[1]) - max(c, first)) * t.shape[2] * t.shape[3])
                }
            }
            cycles += try layerCycles(node, index: index, plan: plan, loads: loads)
        }
        let outputType = valueType(layers.output)!
        let stores = plan.tailStart == nil ? 1 : ceilDiv(outputType.shape[1], plan.block)
        cycles += constantLoads
        // A held output stays in SRAM: no store.
        if plan.heldOutput == nil {
            dram += 4 * outputType.count
            cycles += plan.tailStart == nil ? load(4 * outputType.count) : load(4 * outputType.count / stores)
        }
        plan.sramBytes =
            ([
                plan.constantsEnd, plan.weightBase + 2 * plan.weightSlot, plan.inputBase + 2 * plan.inputSlot,
                plan.tailInputBase + 2 * plan.tailInputSlot, plan.outputBase + 2 * plan.outputSlot,
                plan.scratchBase + 2 * plan.scratchSlot
            ]
            + plan.buffers.values.map { $0.address + $0.slotBytes }).max()!
        plan.dramBytes = dram
        plan.estimatedCycles = cycles
        return plan
    }

    /// One layer of a whole-map plan: the busier of the matrix unit and its
    /// `loads` (input blocks, weight tiles), plus its vector work.
    private func layerCycles(_ node: Node, index: Int, plan: WholeMapPlan, loads: Int) throws -> Int {
        guard node.kind == .conv else {
            let y = valueType(node.outputs[0])!
            let perOutput =
                node.kind == .batchNormalization ? 2 : (node.ints("kernel_shape") ?? []).reduce(1, *)
            return max(0, loads) + config.vectorCycles(elements: y.count * perOutput)
        }
        var matrix = 0, loads = loads
        let g = try convGeometry(index)
        // A depthwise convolution (resident weights) runs on the vector unit.
        if g.depthwise { return loads + config.vectorCycles(elements: g.cout * g.ho * g.wo * g.kh * g.kw) }
        let resident = plan.residentWeights.contains(node.name)
        // The blocks of `count` channels `size` at a time, as (channels, how many blocks): every block but
        // the last is full, so a layer costs a few products instead of a sum over thousands of tile pairs.
        func blocks(_ count: Int, _ size: Int) -> [(channels: Int, times: Int)] {
            guard count > 0 else { return [] }
            let (full, rest) = count.quotientAndRemainder(dividingBy: size)
            var counted: [(channels: Int, times: Int)] = []
            if full > 0 { counted.append((size, full)) }
            if rest > 0 { counted.append((rest, 1)) }
            return counted
        }
        if g.groups > 1 {
            // A grouped tail: per block of whole groups, one CONV over those groups (weights loaded per block).
            for (cout, times) in blocks(g.cout, plan.block) {
                matrix +=
                    times
                    * config.matrixCycles(
                        inputChannels: g.cinPerGroup, outputChannels: g.coutPerGroup, groups: cout / g.coutPerGroup,
                        positions: g.ho * g.wo * g.kh * g.kw)
                if !resident {
                    loads += times * CostModel.transfer(4 * cout * g.cinPerGroup * g.kh * g.kw, config: config)
                }
            }
            return max(matrix, loads)
        }
        let tile = plan.weightTile(node)
        let inBlocks = resident ? [(channels: g.cin, times: 1)] : blocks(g.cin, tile.inputs)
        let outBlocks =
            resident && plan.tailStart != index
            ? [(channels: g.cout, times: 1)] : blocks(g.cout, plan.tailStart == index ? plan.block : tile.outputs)
        for (cin, inTimes) in inBlocks {
            for (cout, outTimes) in outBlocks {
                matrix +=
                    inTimes * outTimes
                    * config.matrixCycles(
                        inputChannels: cin, outputChannels: cout, positions: g.ho * g.wo * g.kh * g.kw)
                if !resident {
                    loads += inTimes * outTimes * CostModel.transfer(4 * cin * cout * g.kh * g.kw, config: config)
                }
            }
        }
        return max(matrix, loads)
    }
}
