import Accelerator
import Foundation
import GraphIR
import Tensors

/// Turns a scheduled graph into instructions: every fusion group as its plan
/// says (`emit(_:)` with a `GroupPlan`), every other layer on its own, reading
/// its inputs from DRAM and writing its output to DRAM, tiled as well as the
/// SRAM allows. The emitter decides nothing about the partition or a group's
/// tiles; it only writes down what the plans say. Ops the accelerator lacks
/// become HOST instructions.
struct Emitter {
    let graph: Graph
    let config: AcceleratorConfig
    /// What single layers' tilings are chosen by.
    let objective: Objective
    let layout: ProgramLayout
    var sequencer = Sequencer()
    /// Per-layer rows, for reports and `--dump-ir`.
    var layers: [Codegen.LayerReport] = []
    /// Tilings of single convolutions chosen ahead of emission, by node name (see `build`).
    var convTilings: [String: ConvTiling] = [:]
    /// Reaches and convolution geometries by node index, found once ahead of
    /// emission (a planner's scratch emissions; empty: found when asked, see `reach(_:)`).
    var knownReaches: [Reach?] = []
    var knownGeometries: [ConvGeometry?] = []
    /// Every value's type by name, found once ahead of emission (a planner's scratch emissions, see
    /// `PlanningContext.types`; empty: asked of the graph, see `valueType(_:)`).
    var knownTypes: [String: TensorType] = [:]
    /// Whether a timed emission skips the bands of a band plan that repeat earlier ones (see `BandRepeats`).
    var skipsRepeatedBands = true

    init(graph: Graph, config: AcceleratorConfig, objective: Objective = .traffic, layout: ProgramLayout) {
        (self.graph, self.config, self.objective, self.layout) = (graph, config, objective, layout)
    }

    /// `Graph.reach` of node `index`, from `knownReaches` when they are known.
    func reach(_ index: Int) throws -> Reach {
        if index < knownReaches.count, let r = knownReaches[index] { return r }
        return try graph.reach(graph.nodes[index])
    }

    /// `Graph.convGeometry` of node `index`, from `knownGeometries` when they are known.
    func convGeometry(_ index: Int) throws -> ConvGeometry {
        if index < knownGeometries.count, let g = knownGeometries[index] { return g }
        return try graph.convGeometry(graph.nodes[index])
    }

    /// `Graph.type(of:)`, from `knownTypes` when they are known.
    func valueType(_ value: String) -> TensorType? {
        knownTypes.isEmpty ? graph.type(of: value) : knownTypes[value]
    }

    var constantAddress: [String: Int] { layout.constants.addresses }
    var plan: DRAMPlan { layout.memory }
    func location(_ value: String) -> DRAMPlan.Location { layout.location(value) }

    /// A program, its per-layer rows and its layout.
    struct Built {
        var program: Program
        var layers: [Codegen.LayerReport]
        var layout: ProgramLayout
        /// The tiling chosen for each single convolution, by node name.
        var convTilings: [String: ConvTiling] = [:]

        /// Gives the program its DRAM map (`DRAMMap`), when `build` was told to leave it out.
        mutating func mapDRAM(_ graph: Graph) {
            let map = DRAMMap.build(
                graph, layout: layout, instructions: program.instructions, layers: program.debugNames)
            (program.dramRegions, program.dramReferences) = (map.regions, map.references)
        }
    }

    /// The program of `graph` with these groups (none: layer by layer), laid
    /// out with `layout` (whose DRAM plan must have been made for the same
    /// groups). The caller has run `checkLowerable`.
    /// `known`: a program of the same graph and constants whose single convolutions' tilings are
    /// taken where they time alike in both layouts (see `timesAlike`) rather than chosen again.
    /// `mapsDRAM`: false leaves out the DRAM map (an empty one; `Built.mapDRAM` adds it).
    static func build(
        _ graph: Graph, config: AcceleratorConfig, objective: Objective = .traffic, layout: ProgramLayout,
        groups: [GroupPlan], known: Built? = nil, mapsDRAM: Bool = true
    ) throws -> Built {
        var emitter = Emitter(graph: graph, config: config, objective: objective, layout: layout)
        var groupAt: [Int: GroupPlan] = [:]
        for group in groups { groupAt[group.nodes.lowerBound] = group }
        // Each single convolution's tiling is chosen on its own (under most objectives by timing
        // its front runners), so the choices are made on all cores first; a layer whose choice
        // fails is chosen again in order below, which reports the first failure.
        var single: [Int] = []
        var index = 0
        while index < graph.nodes.count {
            if let group = groupAt[index] {
                index = group.nodes.upperBound
                continue
            }
            let node = graph.nodes[index]
            if node.kind.pattern == .convolution {
                if let known, let tiling = known.convTilings[node.name],
                    timesAlike(node, layout, known.layout)
                {
                    emitter.convTilings[node.name] = tiling
                } else {
                    single.append(index)
                }
            }
            index += 1
        }
        // Convolutions whose scratch emissions differ only by where their operands lie (see `alikeKey`)
        // choose alike: the first of each kind chooses for the others.
        var chooses: [Int] = [], firstOfKind: [String: Int] = [:], kind: [Int] = []
        for k in single {
            let key = emitter.alikeKey(graph.nodes[k])
            if let key, let first = firstOfKind[key] {
                kind.append(first)
            } else {
                if let key { firstOfKind[key] = chooses.count }
                kind.append(chooses.count)
                chooses.append(k)
            }
        }
        let chooser = emitter
        let chosen = try concurrentMap(chooses) { try? chooser.chooseConvTiling(graph.nodes[$0]) }
        for (k, first) in zip(single, kind) { emitter.convTilings[graph.nodes[k].name] = chosen[first] }
        index = 0
        while index < graph.nodes.count {
            if let group = groupAt[index] {
                try emitter.emit(group)
                index = group.nodes.upperBound
            } else {
                try emitter.lower(graph.nodes[index])
                index += 1
            }
        }
        let instructions = emitter.sequencer.instructions, debugNames = emitter.sequencer.debugNames
        let program = Program(
            config: config, dramBytes: layout.end, constants: layout.constants.programBytes,
            tensors: tensorInfos(graph, layout: layout), instructions: instructions, debugNames: debugNames)
        var built = Built(program: program, layers: emitter.layers, layout: layout, convTilings: emitter.convTilings)
        if mapsDRAM { built.mapDRAM(graph) }
        return built
    }

    /// Whether a single convolution emitted in layouts `a` and `b` (of one graph and constants
    /// segment) times alike, so that a tiling chosen in one is the one the other chooses: its DRAM
    /// operands differ only by their addresses and lie apart from each other in both. The timing
    /// model reads a transfer's run lengths, never its address, and the sequencer's hazards
    /// within one operand move with it, so the scratch emissions `chooseConvTiling` times
    /// differ only by where each operand starts.
    static func timesAlike(_ node: Node, _ a: ProgramLayout, _ b: ProgramLayout) -> Bool {
        let operands = convOperands(node)
        let (inA, inB) = (operands.map { a.location($0) }, operands.map { b.location($0) })
        for (x, y) in zip(inA, inB) where x.shape != y.shape || x.dtype != y.dtype { return false }
        return apart(inA) && apart(inB)
    }

    /// A convolution's DRAM operands: input, output, weights and bias, if any.
    static func convOperands(_ node: Node) -> [String] {
        let weights = node.kind == .convTranspose ? "\(node.name)#weights" : node.inputs[1]
        return [node.inputs[0], node.outputs[0], weights] + (node.input(2).map { [$0] } ?? [])
    }

    /// Whether no two of these DRAM locations overlap.
    static func apart(_ locations: [DRAMPlan.Location]) -> Bool {
        for i in locations.indices {
            for j in locations.indices where j > i && locations[i].range.overlaps(locations[j].range) { return false }
        }
        return true
    }

    /// What a single convolution's scratch emissions (`chooseConvTiling`) depend on but where its
    /// operands lie: its kind, geometry, fused activation, and its operands' shapes and types;
    /// nil when two of its operands overlap (then the overlap matters too). Convolutions of one
    /// key time alike for every tiling, as `timesAlike` tells across layouts.
    func alikeKey(_ node: Node) -> String? {
        let locations = Self.convOperands(node).map { layout.location($0) }
        guard Self.apart(locations),
            let geometry = try?
                (node.kind == .convTranspose
                ? graph.convTransposeGeometry(node) : (graph.convGeometry(node), nil))
        else { return nil }
        let operands = locations.map { "\($0.shape) \($0.dtype)" }.joined(separator: ", ")
        return "\(node.kind) \(geometry) \(String(describing: node.activation)) \(operands)"
    }

    /// The named input and output tensors of the program.
    static func tensorInfos(_ graph: Graph, layout: ProgramLayout) -> [TensorInfo] {
        var tensors: [TensorInfo] = []
        for input in graph.inputs {
            let location = layout.memory.locations[input]!
            tensors.append(
                TensorInfo(
                    name: input, shape: location.shape, dtype: location.dtype,
                    address: location.address, role: .input))
        }
        for output in graph.outputs {
            let location = layout.location(output)
            tensors.append(
                TensorInfo(
                    name: output, shape: location.shape, dtype: location.dtype,
                    address: location.address, role: .output))
        }
        return tensors
    }

    /// Ops the emitter knows how to lower; anything else is reported, all at once.
    static func checkLowerable(_ graph: Graph) throws {
        var problems: [String] = []
        for node in graph.nodes {
            if let reason = unlowerableReason(node, graph: graph) {
                problems.append("\(node.name) (\(node.opType)): \(reason)")
            }
        }
        for node in graph.nodes {
            for output in node.outputs where !output.isEmpty && graph.type(of: output)?.count == 0 {
                problems.append("\(node.name) (\(node.opType)): produces an empty tensor")
            }
        }
        for value in graph.inputs + graph.outputs {
            if let dtype = graph.type(of: value)?.dtype, dtype != .float32 {
                problems.append("\(value): \(dtype) graph inputs and outputs are not supported on the accelerator")
            }
        }
        guard problems.isEmpty else {
            throw DFCError("cannot lower to the accelerator: \(problems.joined(separator: "; "))", kind: .unsupported)
        }
    }

    mutating func record(_ node: Node, engine: String, tiling: String, from start: Int) {
        layers.append(
            Codegen.LayerReport(
                node: node.name, op: node.opType, engine: engine, tiling: tiling,
                instructions: start..<sequencer.count, members: [node.name]))
    }

    mutating func emit(_ op: Op, reads: [MemoryRange], writes: [MemoryRange], node: Node) {
        sequencer.emit(op, reads: reads, writes: writes, nodes: [node.name])
    }

    /// Emits a fusion group as its plan says.
    mutating func emit(_ group: GroupPlan) throws {
        let start = sequencer.count
        switch group {
        case .bands(let plan): try emitBands(plan)
        case .wholeMap(let plan): try emitWholeMap(plan)
        case .residualConv(let plan): try emitResidualConv(plan)
        }
        // A scratch emission that only costs the plan reports nothing.
        guard sequencer.keepsNames else { return }
        let names = group.nodes.map { graph.nodes[$0].name }
        let description = "fused \(names.count) layers, " + group.tileDescription(graph: graph)
        layers.append(
            Codegen.LayerReport(
                node: names.joined(separator: "+"), op: "FusionGroup", engine: "fused",
                tiling: description, instructions: start..<sequencer.count, members: names))
    }

    /// Emits one layer on its own.
    mutating func lower(_ node: Node) throws {
        let start = sequencer.count
        switch node.kind.pattern {
        case .convolution:
            let tiling = try lowerConv(node, chosen: convTilings[node.name])
            record(node, engine: tiling.depthwise ? "vector" : "matrix", tiling: tiling.description, from: start)
        case .window, .global:
            let tiling = try lowerPool(node)
            record(node, engine: "vector", tiling: tiling, from: start)
        case .elementwise:
            let tiling = try lowerElementwise(node)
            record(node, engine: "vector", tiling: tiling, from: start)
        case .fullyConnected:
            let tiling = try lowerFullyConnected(node)
            record(node, engine: "matrix", tiling: tiling, from: start)
        case .dataMovement:
            let tiling = try lowerDataMovement(node)
            record(
                node, engine: tiling.isEmpty ? "view" : "load/store", tiling: tiling.isEmpty ? "in place" : tiling,
                from: start)
        case .view:
            try lowerView(node)
            record(node, engine: "view", tiling: "shares its input's DRAM", from: start)
        case .crossChannel:
            let (engine, tiling) = try lowerLRN(node)
            record(node, engine: engine, tiling: tiling, from: start)
        case .resample:
            let (engine, tiling) = try lowerResize(node)
            record(node, engine: engine, tiling: tiling, from: start)
        case .host:
            try lowerHost(node)
            record(node, engine: "host", tiling: "whole tensor in DRAM", from: start)
        case .notLowered:
            throw DFCError("node '\(node.name)' (\(node.opType)) cannot be lowered", kind: .unsupported)
        }
    }
}

extension Activation {
    /// The ISA's encoding of this activation.
    var fused: FusedActivation {
        switch self {
        case .relu: return FusedActivation(.relu)
        case .leakyRelu(let alpha): return FusedActivation(.leakyRelu, alpha: alpha)
        case .clip(let low, let high): return FusedActivation(.clip, alpha: low, beta: high)
        case .sigmoid: return FusedActivation(.sigmoid)
        case .hardSigmoid(let alpha, let beta): return FusedActivation(.hardSigmoid, alpha: alpha, beta: beta)
        case .hardSwish: return FusedActivation(.hardSwish)
        case .tanh: return FusedActivation(.tanh)
        case .silu: return FusedActivation(.silu)
        case .gelu: return FusedActivation(.gelu)
        case .geluTanh: return FusedActivation(.geluTanh)
        case .mish: return FusedActivation(.mish)
        case .neg: return FusedActivation(.neg)
        case .abs: return FusedActivation(.abs)
        case .floor: return FusedActivation(.floor)
        case .ceil: return FusedActivation(.ceil)
        case .sqrt: return FusedActivation(.sqrt)
        }
    }
}
