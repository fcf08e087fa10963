import Accelerator
import GraphIR
import Tensors

/// A buffer or slot pair of a whole-map group and the layers (node
/// indices) during which it is live.
struct SRAMItem {
    var key: String
    var bytes: Int
    var live: ClosedRange<Int>
}

/// What every phase of whole-map planning reads about nodes[range].
struct WholeMapLayers {
    let range: Range<Int>
    let nodes: [Node]
    let output: String
    let inputs: [String]
    let lastConv: Int
    /// The element-wise chain after the last convolution.
    let tailNodes: [Int]
    let convs: [Int]
    /// A depthwise convolution right after the last convolution, part of the tail (see `WholeMapPlan`).
    var depthwise: Int?
    /// A MaxPool or AveragePool of the last convolution's output, right after it and last, part of
    /// the tail: each block is pooled from a padded scratch and only the pooled map is stored.
    var pool: Int?
    /// The windowed layer of the tail that reads each block of the last convolution's output from a scratch.
    var scratchReader: Int? { depthwise ?? pool }
    /// The output channels per group of each grouped convolution (see `wholeMapLayers`): blocks hold whole groups.
    var groupSizes: [Int] = []
    /// Per convolution (in the order of `convs`): its name, output and input channels of its
    /// weights, taps, and whether it is grouped; what fitting weight tiles reads, found once.
    var convWeights: [(name: String, outputs: Int, inputs: Int, taps: Int, grouped: Bool)] = []
    /// Where the output is held whole in SRAM instead of stored (see `WholeMapPlan.heldOutput`).
    var heldOutput: Int?
    /// Rows (padding included) and column margins each value is read with.
    var need: [String: Range<Int>] = [:]
    var marginLeft: [String: Int] = [:], marginRight: [String: Int] = [:]
    /// SRAM bytes of biases and per-channel vectors; DRAM bytes of every constant the layers read.
    var vectorBytes = 0, constantDRAM = 0

    init(range: Range<Int>, nodes: [Node], output: String, inputs: [String], lastConv: Int, convs: [Int]) {
        (self.range, self.nodes, self.output, self.inputs) = (range, nodes, output, inputs)
        (self.lastConv, self.convs) = (lastConv, convs)
        tailNodes = Array(range[(lastConv + 1)...])
    }

    /// The buffer of `channels` channels of `value`, whole map, with the rows and margins its readers need.
    func layout(_ value: String, channels: Int, at address: Int, context: PlanningContext) -> SRAMBuffer {
        let t = context.valueType(value)!
        let rows = need[value] ?? 0..<t.shape[2]
        return SRAMBuffer(
            address: address, slots: 1, channels: channels, rows: rows.count,
            marginLeft: max(0, marginLeft[value] ?? 0), width: t.shape[3], height: t.shape[2],
            marginRight: max(0, marginRight[value] ?? 0), alias: nil, top: rows.lowerBound)
    }
}

/// One way of holding a whole-map group's inputs.
struct Holding {
    var streamedInputs: Set<String>
    /// The first per-block layer: the last convolution if it reads a held value, else the one after it.
    var tailStart: Int?
    var tailChannels: Int
    var heldInputs: [String]
    /// Values held whole (held inputs and layers before the tail), with their live ranges.
    var held: [String]
    var heldItems: [SRAMItem]
}

/// What one SRAM allocation must fit.
struct AllocationRequest {
    var holding: Holding
    var residentWeights: Set<String>
    var block: Int
    var inBlock: Int
    var partial: (input: String, channels: Int)? = nil
    /// Bytes of one weight slot, which each streaming convolution's tile fills as far as its fixed
    /// sides allow (see `WholeMapPlan.weightTiles`); nil: the largest `block` x `inBlock` tile's.
    var weightBudget: Int? = nil
    /// The weight tiles, when already fitted to the same request but for `partial` (they do not depend on it).
    var weightTiles: [String: (outputs: Int, inputs: Int)]? = nil
}

extension PlanningContext {
    /// Plans nodes[range] as a whole-map group: a few plans per way of
    /// holding the inputs, widest blocks first; none when the layers are
    /// not all convolutions (ungrouped) and element-wise layers, or nothing fits.
    /// `heldOutput`: the address of an SRAM region above the plan where the
    /// output (a pooling tail's map) is held whole for a later group, never stored.
    /// `reserve`: SRAM bytes above the plan that leading channels held from a streamed input must leave free.
    func planWholeMap(
        _ range: Range<Int>, budget: Int = .max, checked: Bool = false, heldOutput: Int? = nil, reserve: Int = 0
    ) throws
        -> [WholeMapPlan]
    {
        if FusionRules.poolingTail(range, graph: graph) {
            let node = graph.nodes[range.upperBound - 1], x = valueType(node.inputs[0])!
            let poolsOnly = FusionRules.poolsOnly(range, graph: graph, consumers: consumers)
            let storesMap = !poolsOnly && heldOutput == nil
            // A held map's bytes are left out of the plan of the map already.
            let saved = poolsOnly && heldOutput == nil ? 4 * x.count : 0
            let plans = try planWholeMap(
                FusionRules.mapRange(range, graph: graph), budget: budget > Int.max - saved ? .max : budget + saved,
                checked: checked, heldOutput: heldOutput, reserve: 4 * x.shape[1])
            return plans.compactMap { plan -> WholeMapPlan? in
                var plan = plan
                let result = DRAMPlan.align(plan.sramBytes)
                guard result + 4 * x.shape[1] <= config.sramBytes else { return nil }
                plan.nodes = plan.nodes.lowerBound..<range.upperBound
                plan.pooled = (node.name, result, storesMap)
                plan.sramBytes = result + DRAMPlan.align(4 * x.shape[1])
                plan.dramBytes += 4 * x.shape[1] - saved
                plan.estimatedCycles += config.vectorCycles(elements: x.count)
                return plan
            }
        }
        guard var layers = try wholeMapLayers(range, checked: checked) else { return [] }
        layers.heldOutput = heldOutput
        // A held output is written in the layout of the last convolution's blocks.
        guard heldOutput == nil || layers.pool == nil else { return [] }
        var plans: [WholeMapPlan] = []
        for holdInputs in [true, false] {
            // A held output is written block by block: it needs a per-block tail.
            guard let holding = holding(layers, holdInputs: holdInputs), heldOutput == nil || holding.tailStart != nil
            else { continue }
            // DRAM bytes do not depend on the blocks: skip what cannot beat the budget.
            guard byteFloor(layers) < budget else { continue }
            var options: [WholeMapPlan] = []
            let residentSets = residentChoices(layers, holding: holding)
            // Blocks of 16 to 128 channels (wider ones rarely fit beside whole maps and
            // are no faster on a 32-lane matrix unit; narrower ones waste lanes).
            let maxIn = layers.convs.map { weights($0).shape[1] }.max()!
            let maxOut = layers.nodes.map { valueType($0.outputs[0])!.shape[1] }.max()!
            for block in [128, 64, 32, 16] where block <= max(16, maxOut) {
                for inBlock in Set([min(maxIn, 128), 64, 32, 16]).sorted(by: >) where inBlock <= maxIn {
                    for budget in [nil] + Self.weightBudgets {
                        if let plan = try fitWeights(
                            layers, holding: holding, residentSets: residentSets, block: block, inBlock: inBlock,
                            weightBudget: budget)
                        {
                            options.append(plan)
                        }
                    }
                }
            }
            var finer = try holdLeadingChannels(layers, holding: holding, reserve: reserve, options: &options)
            // The best two by the objective's quick key (traffic: the fewest bytes, then cycles), and the best
            // plan holding a finer count of channels beside them (its copies may make it slower), of the plans
            // with tiles of `block` x `inBlock` and, apart, of those fitted to a weight budget (their larger
            // tiles load sooner and their smaller ones leave room to hold more).
            let quick = { [objective] (a: WholeMapPlan, b: WholeMapPlan) in
                objective.quickKey(a.dramBytes, a.estimatedCycles) < objective.quickKey(b.dramBytes, b.estimatedCycles)
            }
            let fitted = options.filter { $0.weightBudget != nil }
            options.removeAll { $0.weightBudget != nil }
            let fittedFiner = finer.filter { $0.weightBudget != nil }
            finer.removeAll { $0.weightBudget != nil }
            plans += options.sorted(by: quick).prefix(2) + finer.sorted(by: quick).prefix(1)
            plans += fitted.sorted(by: quick).prefix(1) + fittedFiner.sorted(by: quick).prefix(1)
        }
        return plans
    }

    private func weights(_ index: Int) -> Tensor { graph.initializers[graph.nodes[index].inputs[1]]! }

    /// Weight slot sizes offered beside the one the blocks give (`AllocationRequest.weightBudget`):
    /// 3x3 tiles of 2048 or 4096 weights per tap (64x32, 32x128), 1x1 tiles of 128x128 or 256x128.
    static let weightBudgets = [73728, 147456]

    /// The group's shape, or nil when it is no whole-map group: convolutions
    /// (ungrouped) and element-wise layers, one value leaving, and after the
    /// last convolution a chain each link of which reads the one before it.
    private func wholeMapLayers(_ range: Range<Int>, checked: Bool) throws -> WholeMapLayers? {
        let nodes = range.map { graph.nodes[$0] }
        guard checked || nodes.allSatisfy({ FusionRules.fusible($0, graph: graph) }) else { return nil }
        // Runtime channel vectors are band plans' alone.
        guard FusionRules.channelVectors(nodes, graph: graph, type: valueType).isEmpty else { return nil }
        let ungrouped = { [graph] (index: Int) in
            graph.nodes[index].kind == .conv && graph.nodes[index].int("group", default: 1) == 1
        }
        // Grouped convolutions (not depthwise) that read a map the group makes, which it holds: each
        // block of whole groups of output channels reads only those groups' input channels (ResNeXt's 3x3).
        let grouped = Set(
            try range.filter { index in
                guard graph.nodes[index].kind == .conv, graph.nodes[index].int("group", default: 1) > 1 else {
                    return false
                }
                let g = try convGeometry(index)
                return !g.depthwise && g.n == 1 && nodes.contains { $0.outputs[0] == graph.nodes[index].inputs[0] }
            })
        let isConv = { (index: Int) in ungrouped(index) || grouped.contains(index) }
        guard let lastConv = range.last(where: isConv) else { return nil }
        // A depthwise convolution of the last convolution's output, right after it, runs in the tail;
        // the last convolution is the group's first layer (an expansion of the group's input), which keeps
        // the intervals planned this way few.
        let depthwise = try range.last(where: { graph.nodes[$0].kind == .conv }).flatMap { index -> Int? in
            guard index == lastConv + 1, lastConv == range.lowerBound,
                graph.nodes[index].inputs[0] == graph.nodes[lastConv].outputs[0],
                try convGeometry(index).depthwise
            else { return nil }
            return index
        }
        // A pool of the last convolution's output closing the group (GoogLeNet's branches before a stride-2
        // pool) runs in the tail: the full-size map never leaves SRAM.
        let pool = range.last.flatMap { index -> Int? in
            let node = graph.nodes[index]
            guard depthwise == nil, [.maxPool, .averagePool].contains(node.kind), index == lastConv + 1,
                node.activation == nil, node.inputs.count == 1, node.inputs[0] == graph.nodes[lastConv].outputs[0],
                valueType(node.outputs[0])?.rank == 4
            else { return nil }
            return index
        }
        guard
            range.allSatisfy({
                isConv($0) || $0 == depthwise || $0 == pool || graph.nodes[$0].kind.isGroupElementwise
            })
        else { return nil }
        let produced = Set(nodes.flatMap(\.outputs))
        let output = nodes.last!.outputs[0]
        for value in produced where value != output {
            guard !graph.outputs.contains(value), (consumers[value] ?? []).allSatisfy({ range.contains($0) }) else {
                return nil
            }
        }
        let inputs = groupInputs(range, produced: produced)
        var layers = WholeMapLayers(
            range: range, nodes: nodes, output: output, inputs: inputs, lastConv: lastConv,
            convs: range.filter(isConv))
        (layers.depthwise, layers.pool) = (depthwise, pool)
        layers.groupSizes = try grouped.sorted().map { try convGeometry($0).coutPerGroup }
        layers.convWeights = layers.convs.map { index in
            let node = graph.nodes[index], w = graph.initializers[node.inputs[1]]!
            return (node.name, w.shape[0], w.shape[1], w.count / (w.shape[0] * w.shape[1]), grouped.contains(index))
        }
        // The tail is worked on in place, one block at a time: nothing else may read its links.
        for index in layers.tailNodes {
            let previous = graph.nodes[index - 1].outputs[0]
            let fromChain = graph.nodes[index].inputs.filter { input in
                (lastConv..<index).contains { graph.nodes[$0].outputs[0] == input }
            }
            guard fromChain == [previous], consumers[previous] == [index] else { return nil }
        }
        readExtents(&layers)
        layers.vectorBytes = groupVectorBytes(nodes)
        for node in nodes {
            // A BatchNormalization's four parameters reach SRAM folded into a scale and a shift.
            if node.kind == .batchNormalization {
                layers.constantDRAM += 2 * 4 * valueType(node.outputs[0])!.shape[1]
                continue
            }
            for input in node.inputs where !input.isEmpty && graph.initializers[input] != nil {
                layers.constantDRAM += 4 * graph.initializers[input]!.count
            }
        }
        return layers
    }

    /// Rows (padding included) and column margins each value is read with.
    private func readExtents(_ layers: inout WholeMapLayers) {
        for (index, node) in zip(layers.range, layers.nodes) {
            let r = reaches[index]
            let v = node.outputs[0], h = valueType(v)!.shape[2]
            let windowed = node.kind == .conv || index == layers.pool
            let rows = windowed ? r.rows(0..<h) : 0..<h
            for input in node.inputs where !input.isEmpty && graph.initializers[input] == nil {
                let old = layers.need[input] ?? rows
                layers.need[input] = min(old.lowerBound, rows.lowerBound)..<max(old.upperBound, rows.upperBound)
            }
            if windowed {
                let u = node.inputs[0], wu = valueType(u)!.shape[3], wo = valueType(v)!.shape[3]
                layers.marginLeft[u] = max(layers.marginLeft[u] ?? 0, r.padLeft)
                layers.marginRight[u] = max(layers.marginRight[u] ?? 0, r.cols(outputWidth: wo) - r.padLeft - wu)
            }
        }
    }

    /// Holding every input whole, or streaming those that only convolutions
    /// (by input block) and the tail read; nil when that way does not apply.
    private func holding(_ layers: WholeMapLayers, holdInputs: Bool) -> Holding? {
        let range = layers.range
        var streamedInputs: Set<String> = []
        if !holdInputs {
            for input in layers.inputs {
                let readers = range.filter { graph.nodes[$0].inputs.contains(input) }
                if readers.allSatisfy({
                    (graph.nodes[$0].kind == .conv && graph.nodes[$0].inputs[0] == input) || $0 > layers.lastConv
                }) {
                    streamedInputs.insert(input)
                }
            }
            guard !streamedInputs.isEmpty else { return nil }
        }
        let tailStart =
            !streamedInputs.contains(graph.nodes[layers.lastConv].inputs[0]) ? layers.lastConv : layers.tailNodes.first
        // A depthwise convolution or a pool reads blocks of the last convolution's output, never the whole map.
        guard layers.scratchReader == nil || tailStart == layers.lastConv else { return nil }
        // Element-wise layers before the tail read only held values.
        guard
            range.allSatisfy({ index in
                tailStart.map { index >= $0 } ?? false || graph.nodes[index].kind == .conv
                    || graph.nodes[index].inputs.allSatisfy { !streamedInputs.contains($0) }
            })
        else { return nil }
        let heldInputs = layers.inputs.filter { !streamedInputs.contains($0) }
        var held = heldInputs
        for index in range where tailStart.map({ index < $0 }) ?? true { held.append(graph.nodes[index].outputs[0]) }
        // Live ranges of held values: from their producer (held inputs: before the first layer) to their last reader.
        var heldItems: [SRAMItem] = []
        for value in held {
            let producer = range.first { graph.nodes[$0].outputs[0] == value } ?? range.lowerBound - 1
            let readers = range.filter { graph.nodes[$0].inputs.contains(value) }
            let end = value == layers.output ? range.upperBound : (readers.max() ?? producer)
            let bytes = layers.layout(value, channels: valueType(value)!.shape[1], at: 0, context: self).slotBytes
            heldItems.append(SRAMItem(key: value, bytes: DRAMPlan.align(bytes), live: producer...end))
        }
        let tailChannels = tailStart.map { valueType(graph.nodes[$0].outputs[0])!.shape[1] } ?? 0
        return Holding(
            streamedInputs: streamedInputs, tailStart: tailStart, tailChannels: tailChannels,
            heldInputs: heldInputs, held: held, heldItems: heldItems)
    }

    /// No whole-map plan moves less: the output, every constant once, and
    /// every input once (at best a streamed input is held whole, see `partial`).
    private func byteFloor(_ layers: WholeMapLayers) -> Int {
        var bytes = (layers.heldOutput == nil ? 4 * valueType(layers.output)!.count : 0) + layers.constantDRAM
        for input in layers.inputs {
            // Loads into a layout read by convolutions move only the rows inside the tensor they read.
            let t = valueType(input)!
            let rows =
                layers.need[input].map { max(0, min(t.shape[2], $0.upperBound) - max(0, $0.lowerBound)) } ?? t.shape[2]
            bytes += 4 * t.shape[1] * rows * t.shape[3]
        }
        return bytes
    }

    /// The plan for these blocks with the first of `residentSets` (see `residentChoices`) that fits, costed;
    /// nil when nothing fits.
    private func fitWeights(
        _ layers: WholeMapLayers, holding: Holding, residentSets: [Set<String>], block: Int, inBlock: Int,
        weightBudget: Int? = nil
    ) throws -> WholeMapPlan? {
        guard layers.groupSizes.allSatisfy({ block % $0 == 0 }) else { return nil }
        for resident in residentSets {
            let request = AllocationRequest(
                holding: holding, residentWeights: resident, block: block, inBlock: inBlock, weightBudget: weightBudget)
            if let plan = allocate(layers, request) { return try wholeMapCost(layers, plan: plan) }
        }
        return nil
    }

    /// The sets of resident weights `fitWeights` tries, in order: every convolution that reads no streamed
    /// input (and a depthwise one), then one convolution fewer at a time, the largest streamed first.
    /// They do not depend on the blocks, so they are found once per holding, and a set is left out where
    /// the constants it leaves in SRAM and the held maps alone cannot fit: the held maps live at one
    /// layer occupy disjoint bytes above the constants in any layout (`firstFit`), so `allocate` would fail.
    private func residentChoices(_ layers: WholeMapLayers, holding: Holding) -> [Set<String>] {
        var resident = Set(
            layers.convs.filter { !holding.streamedInputs.contains(graph.nodes[$0].inputs[0]) }.map {
                graph.nodes[$0].name
            })
        // A depthwise convolution's weights are few and read by every block: always resident.
        if let depthwise = layers.depthwise { resident.insert(graph.nodes[depthwise].name) }
        // The most bytes the held maps occupy at once (`firstFit` places them all at any resident set).
        var heldPeak = 0
        for layer in (layers.range.lowerBound - 1)...layers.range.upperBound {
            heldPeak = max(
                heldPeak, holding.heldItems.reduce(0) { $0 + ($1.live.contains(layer) ? $1.bytes : 0) })
        }
        var sets: [Set<String>] = []
        while true {
            // The constants `slotSizes` places below every slot and buffer.
            var constants = layers.vectorBytes
            for index in layers.range
            where graph.nodes[index].kind == .conv && resident.contains(graph.nodes[index].name) {
                constants += DRAMPlan.align(4 * weights(index).count)
            }
            if holding.heldItems.isEmpty || DRAMPlan.align(constants) + heldPeak <= config.sramBytes {
                sets.append(resident)
            }
            guard
                let largest = layers.convs.filter({ resident.contains(graph.nodes[$0].name) })
                    .max(by: { weights($0).count < weights($1).count })
            else { return sets }
            resident.remove(graph.nodes[largest].name)
        }
    }

    /// Holds as many leading channels of a streamed input as fit: those are read from
    /// DRAM once instead of once per reader. The free SRAM gives the count; a
    /// fragmented layout may take a step or two less. Returns the plans holding a
    /// finer count (not a multiple of both block sizes) where that holds more.
    /// `reserve`: bytes to leave free above the plan (a pooling tail's result, which follows the plan's
    /// aligned end), so that holding channels does not crowd out the layer the plan is made for.
    private func holdLeadingChannels(
        _ layers: WholeMapLayers, holding: Holding, reserve: Int, options: inout [WholeMapPlan]
    ) throws -> [WholeMapPlan] {
        guard holding.streamedInputs.count == 1, let input = holding.streamedInputs.first else { return [] }
        let tailReads = layers.range.contains { index in
            holding.tailStart.map { index >= $0 } ?? false && graph.nodes[index].inputs.contains(input)
        }
        var finer: [WholeMapPlan] = []
        for k in options.indices {
            let plan = options[k]
            // Held counts in whole blocks of both sizes; and, as a second option, in the finer steps a
            // convolution's input block may straddle (its held channels are copied beside the loaded
            // ones, see `streamInput`); the tail reads the input in blocks of output channels, none of
            // which may straddle the held count.
            let fine = tailReads ? plan.block : min(plan.block, plan.inBlock)
            for step in Set([max(plan.block, plan.inBlock), fine]).sorted(by: >) {
                if let held = try holdChannels(
                    layers, plan: plan, holding: holding, input: input, step: step, reserve: reserve)
                {
                    if step == fine && fine != max(plan.block, plan.inBlock) {
                        if held.partial?.buffer.channels != options[k].partial?.buffer.channels { finer.append(held) }
                    } else {
                        options[k] = held
                    }
                }
            }
        }
        return finer
    }

    /// `plan` holding as many leading channels of `input` as fit, a multiple of `step`; nil when none fit.
    private func holdChannels(
        _ layers: WholeMapLayers, plan: WholeMapPlan, holding: Holding, input: String, step: Int, reserve: Int
    ) throws -> WholeMapPlan? {
        let channels = valueType(input)!.shape[1]
        let perChannel = layers.layout(input, channels: 1, at: 0, context: self).slotBytes
        let free = config.sramBytes - reserve - plan.sramBytes
        var blocks = min((channels - 1) / step, max(0, free) / (perChannel * step))
        while blocks > 0 {
            let request = AllocationRequest(
                holding: holding, residentWeights: plan.residentWeights, block: plan.block,
                inBlock: plan.inBlock, partial: (input, blocks * step), weightBudget: plan.weightBudget,
                weightTiles: plan.weightTiles)
            if let better = allocate(layers, request),
                reserve == 0 || DRAMPlan.align(better.sramBytes) + reserve <= config.sramBytes
            {
                return try wholeMapCost(layers, plan: better)
            }
            blocks -= 1
        }
        return nil
    }
}
