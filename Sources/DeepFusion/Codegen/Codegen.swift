import Accelerator
import Foundation
import GraphIR
import enum GraphIR.DType

/// Turns a canonical, shape-inferred graph into a program for the modeled
/// accelerator, layer by layer: every layer reads its inputs from DRAM and
/// writes its output to DRAM, tiled on its own as well as the SRAM allows
/// (see `ConvTiling`). Ops the accelerator lacks become HOST instructions.
public struct Codegen {
    public struct Options: Sendable {
        public var config: AcceleratorConfig
        /// Deep fusion; false compiles the best layer-by-layer schedule.
        public var fusion: Bool
        public init(config: AcceleratorConfig = .df1, fusion: Bool = true) {
            self.config = config
            self.fusion = fusion
        }
    }

    let graph: Graph
    let config: AcceleratorConfig
    var sequencer = Sequencer()
    /// The DRAM constants segment and where each constant sits in it.
    var constants: [UInt8] = []
    var constantAddress: [String: Int] = [:]
    /// Planning codegen: `addConstant` lays constants out without copying them.
    var layoutOnly = false
    /// Planning: every node's row reach, computed once.
    var knownReaches: [Reach]?
    var layoutEnd = 0
    var plan: DRAMPlan!
    /// Per-layer decisions, for reports and `--dump-ir`.
    public internal(set) var layers: [LayerReport] = []

    /// What codegen decided for one node.
    public struct LayerReport: Sendable, Equatable {
        public var node: String
        public var op: String
        public var engine: String
        public var tiling: String
        public var instructions: Range<Int>
    }

    public static func compile(_ graph: Graph, options: Options = Options()) throws -> (Program, [LayerReport]) {
        let result = try schedule(graph, options: options)
        return (result.program, result.layers)
    }

    static func compile(_ graph: Graph, config: AcceleratorConfig, groups: [FusionGroup]) throws -> (Program, [LayerReport]) {
        let built = try build(graph, config: config, groups: groups)
        return (built.program, built.layers)
    }

    /// A program with these groups (none: layer by layer), its per-layer
    /// rows, and the DRAM plan it was laid out with.
    /// `constants`: the segment and addresses of an earlier build of the same graph (they do not depend on the groups).
    static func build(_ graph: Graph, config: AcceleratorConfig, groups: [FusionGroup],
                      constants: (bytes: [UInt8], addresses: [String: Int])? = nil)
        throws -> (program: Program, layers: [LayerReport], memory: DRAMPlan, constantAddress: [String: Int]) {
        var codegen = Codegen(graph: graph, config: config)
        try codegen.checkLowerable()
        if let constants {
            (codegen.constants, codegen.constantAddress) = constants
        } else {
            codegen.addConstants()
        }
        var groupAt: [Int: FusionGroup] = [:], spans: [Int: Range<Int>] = [:]
        for group in groups {
            groupAt[group.nodes.lowerBound] = group
            for index in group.nodes { spans[index] = group.nodes }
        }
        codegen.plan = try DRAMPlan(graph: graph, base: codegen.constants.count, spans: spans)
        var index = 0
        while index < graph.nodes.count {
            if let group = groupAt[index] {
                try codegen.lowerGroup(group)
                index = group.nodes.upperBound
            } else {
                try codegen.lower(graph.nodes[index])
                index += 1
            }
        }
        var tensors: [TensorInfo] = []
        for input in graph.inputs {
            let location = codegen.plan.locations[input]!
            tensors.append(TensorInfo(name: input, shape: location.shape, dtype: location.dtype.accelerator, address: location.address, role: .input))
        }
        for output in graph.outputs {
            let location = codegen.outputLocation(output)
            tensors.append(TensorInfo(name: output, shape: location.shape, dtype: location.dtype.accelerator, address: location.address, role: .output))
        }
        let end = max(codegen.plan.end, DRAMPlan.align(codegen.constants.count))
        let program = Program(config: config, dramBytes: end, constants: codegen.constants, tensors: tensors,
                              instructions: codegen.sequencer.instructions, debugNames: codegen.sequencer.debugNames)
        return (program, codegen.layers, codegen.plan, codegen.constantAddress)
    }

    // MARK: - Constants

    /// Every initializer a lowered instruction reads, plus values derived at
    /// compile time (folded BatchNorm scales, reciprocals), in node order.
    mutating func addConstants() {
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty {
                if let tensor = graph.initializers[input] { addConstant(input, tensor) }
            }
            switch node.kind {
            case .batchNormalization:
                let (scale, shift) = batchNormAffine(node)
                addConstant("\(node.name)#scale", Tensor(shape: [scale.count], floats: scale))
                addConstant("\(node.name)#shift", Tensor(shape: [shift.count], floats: shift))
            case .add, .sub, .mul, .div, .pRelu:
                addOperandConstants(node)
            case .pad where Self.padValue(node, graph: graph) != 0:
                addConstant("\(node.name)#one", Tensor(shape: [1], floats: [1]))
                addConstant("\(node.name)#value", Tensor(shape: [1], floats: [Self.padValue(node, graph: graph)]))
            case .convTranspose:
                if let w = graph.initializers[node.inputs[1]] {
                    addConstant("\(node.name)#weights", Self.transposedConvWeights(w, groups: node.int("group", default: 1)))
                }
            default:
                break
            }
        }
        for output in graph.outputs {
            if let tensor = graph.initializers[output] { addConstant(output, tensor) }
        }
    }

    /// Constant operands of element-wise nodes in the form the vector unit
    /// reads: scalars repeated per channel, divisors as reciprocals.
    mutating func addOperandConstants(_ node: Node) {
        guard let shape = graph.type(of: node.outputs[0])?.shape else { return }
        let total = shape.reduce(1, *), channels = shape.count >= 2 ? shape[1] : 1
        for (i, input) in node.inputs.enumerated() where !input.isEmpty {
            guard let tensor = graph.initializers[input] else { continue }
            let reciprocal = node.kind == .div && i == 1
            var values = tensor.floats
            if reciprocal { values = values.map { 1 / $0 } }
            if tensor.count == total {
                if reciprocal { addConstant("\(node.name)#\(input)#full", Tensor(shape: tensor.shape, floats: values)) }
            } else if tensor.count == 1 {
                addConstant("\(node.name)#\(input)#channel", Tensor(shape: [channels], floats: Array(repeating: values[0], count: channels)))
            } else if reciprocal {
                addConstant("\(node.name)#\(input)#channel", Tensor(shape: [values.count], floats: values))
            }
        }
    }

    mutating func addConstant(_ key: String, _ tensor: Tensor) {
        guard constantAddress[key] == nil else { return }
        if layoutOnly {
            // Planning: addresses only, no bytes.
            constantAddress[key] = DRAMPlan.align(layoutEnd)
            layoutEnd = DRAMPlan.align(layoutEnd) + tensor.count * (tensor.dtype == .int64 ? 8 : 4)
            return
        }
        constants += [UInt8](repeating: 0, count: DRAMPlan.align(constants.count) - constants.count)
        constantAddress[key] = constants.count
        switch tensor.storage {
        case .float(let values): values.withUnsafeBytes { constants += $0 }
        case .int64(let values): values.withUnsafeBytes { constants += $0 }
        }
    }

    func batchNormAffine(_ node: Node) -> (scale: [Float], shift: [Float]) {
        let s = graph.initializers[node.inputs[1]]?.floats ?? []
        let b = graph.initializers[node.inputs[2]]?.floats ?? []
        let m = graph.initializers[node.inputs[3]]?.floats ?? []
        let v = graph.initializers[node.inputs[4]]?.floats ?? []
        let epsilon = node.float("epsilon", default: 1e-5)
        let scale = s.indices.map { s[$0] / (v[$0] + epsilon).squareRoot() }
        let shift = s.indices.map { b[$0] - m[$0] * scale[$0] }
        return (scale, shift)
    }

    // MARK: - Locations

    /// Where a runtime value or constant lives in DRAM.
    func location(_ value: String) -> DRAMPlan.Location {
        if let location = plan.locations[value] { return location }
        if graph.initializers[value] == nil, let address = constantAddress[value] {
            return DRAMPlan.Location(address: address, shape: [], dtype: .float32)
        }
        let tensor = graph.initializers[value]!
        return DRAMPlan.Location(address: constantAddress[value]!, shape: tensor.shape, dtype: tensor.dtype)
    }

    func constantLocation(_ key: String, count: Int) -> DRAMPlan.Location {
        DRAMPlan.Location(address: constantAddress[key]!, shape: [count], dtype: .float32)
    }

    func outputLocation(_ output: String) -> DRAMPlan.Location {
        plan.locations[output] ?? location(output)
    }

    // MARK: - Dispatch

    /// Ops codegen knows how to lower; anything else is reported, all at once.
    func checkLowerable() throws {
        var problems: [String] = []
        for node in graph.nodes {
            if let reason = Self.unlowerableReason(node, graph: graph) { problems.append("\(node.name) (\(node.opType)): \(reason)") }
        }
        for node in graph.nodes {
            for output in node.outputs where !output.isEmpty && graph.type(of: output)?.count == 0 {
                problems.append("\(node.name) (\(node.opType)): produces an empty tensor")
            }
        }
        for value in graph.inputs + graph.outputs where graph.type(of: value)?.dtype == .int64 {
            problems.append("\(value): int64 graph inputs and outputs are not supported on the accelerator")
        }
        guard problems.isEmpty else {
            throw DFCError("cannot lower to the accelerator: \(problems.joined(separator: "; "))")
        }
    }

    mutating func record(_ node: Node, engine: String, tiling: String, from start: Int) {
        layers.append(LayerReport(node: node.name, op: node.opType, engine: engine, tiling: tiling,
                                  instructions: start..<sequencer.instructions.count))
    }

    mutating func emit(_ op: Op, reads: [MemoryRange], writes: [MemoryRange], node: Node) {
        sequencer.emit(op, reads: reads, writes: writes, nodes: [node.name])
    }

    mutating func lower(_ node: Node) throws {
        let start = sequencer.instructions.count
        switch node.kind {
        case .conv, .convTranspose:
            let tiling = try lowerConv(node)
            record(node, engine: tiling.depthwise ? "vector" : "matrix", tiling: tiling.description, from: start)
        case .maxPool, .averagePool, .globalAveragePool, .globalMaxPool:
            let tiling = try lowerPool(node)
            record(node, engine: "vector", tiling: tiling, from: start)
        case .add, .sub, .mul, .div, .sum, .pRelu, .batchNormalization,
             .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh:
            let tiling = try lowerElementwise(node)
            record(node, engine: "vector", tiling: tiling, from: start)
        case .gemm:
            let tiling = try lowerFullyConnected(node)
            record(node, engine: "matrix", tiling: tiling, from: start)
        case .concat, .split, .slice, .pad, .gather:
            let tiling = try lowerDataMovement(node)
            record(node, engine: tiling.isEmpty ? "view" : "load/store", tiling: tiling.isEmpty ? "in place" : tiling, from: start)
        case .reshape, .flatten, .squeeze, .unsqueeze, .identity, .dropout:
            try lowerView(node)
            record(node, engine: "view", tiling: "shares its input's DRAM", from: start)
        case .softmax, .lrn, .resize, .upsample, .transpose, .reduceMean:
            try lowerHost(node)
            record(node, engine: "host", tiling: "whole tensor in DRAM", from: start)
        default:
            throw DFCError("node '\(node.name)' (\(node.opType)) cannot be lowered")
        }
    }
}

extension DType {
    var accelerator: Accelerator.DType { self == .float32 ? .f32 : .i64 }
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
        }
    }
}
