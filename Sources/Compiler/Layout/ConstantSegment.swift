import Accelerator
import GraphIR
import Tensors

/// The DRAM constants segment of a program: every initializer a lowered
/// instruction reads, plus values derived at compile time (folded
/// BatchNorm scales and shifts, reciprocals of divisors, scalars repeated
/// per channel, transposed-convolution weights), in node order, each
/// 64-byte aligned. It depends only on the graph, so one segment serves
/// planning, the layer-by-layer program and the fused one. It holds the
/// tensors, not their bytes: an initializer's values are shared with the
/// graph (never a second copy of the weights), and the program file is
/// written from them.
struct ConstantSegment {
    /// Each constant and its address, in address order.
    private(set) var pieces: [(address: Int, tensor: Tensor)] = []
    /// The segment's size in bytes: the end of its last constant.
    private(set) var byteCount = 0
    /// Byte address of each constant, by key: an initializer's name, or
    /// `node#what` for derived values.
    private(set) var addresses: [String: Int] = [:]

    init(graph: Graph) {
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty {
                if let tensor = graph.initializers[input] { add(input, tensor) }
            }
            addDerived(node, graph: graph)
        }
        for output in graph.outputs {
            if let tensor = graph.initializers[output] { add(output, tensor) }
        }
    }

    subscript(key: String) -> Int? { addresses[key] }

    /// The key of a per-channel operand of an element-wise node: a scalar or
    /// reciprocal is stored per channel under its own key, anything else as itself.
    func channelKey(_ node: Node, _ input: String) -> String {
        addresses["\(node.name)#\(input)#channel"] != nil ? "\(node.name)#\(input)#channel" : input
    }

    private mutating func addDerived(_ node: Node, graph: Graph) {
        switch node.kind {
        case .batchNormalization:
            let (scale, shift) = Self.batchNormAffine(node, graph: graph)
            add("\(node.name)#scale", Tensor(shape: [scale.count], floats: scale))
            add("\(node.name)#shift", Tensor(shape: [shift.count], floats: shift))
        case .add, .sub, .mul, .div, .pRelu:
            addOperandConstants(node, graph: graph)
        case .pad where Emitter.padValue(node, graph: graph) != 0:
            add("\(node.name)#one", Tensor(shape: [1], floats: [1]))
            add("\(node.name)#value", Tensor(shape: [1], floats: [Emitter.padValue(node, graph: graph)]))
        case .convTranspose:
            if let w = graph.initializers[node.inputs[1]] {
                add("\(node.name)#weights", Emitter.transposedConvWeights(w, groups: node.int("group", default: 1)))
            }
        default:
            break
        }
    }

    /// Constant operands of element-wise nodes in the form the vector unit
    /// reads: scalars repeated per channel, divisors as reciprocals.
    private mutating func addOperandConstants(_ node: Node, graph: Graph) {
        guard let shape = graph.type(of: node.outputs[0])?.shape else { return }
        let total = shape.reduce(1, *), channels = shape.count >= 2 ? shape[1] : 1
        for (i, input) in node.inputs.enumerated() where !input.isEmpty {
            guard let tensor = graph.initializers[input] else { continue }
            let reciprocal = node.kind == .div && i == 1
            var values = tensor.floats
            if reciprocal { values = values.map { 1 / $0 } }
            if tensor.count == total {
                if reciprocal { add("\(node.name)#\(input)#full", Tensor(shape: tensor.shape, floats: values)) }
            } else if tensor.count == 1 {
                let repeated = Array(repeating: values[0], count: channels)
                add("\(node.name)#\(input)#channel", Tensor(shape: [channels], floats: repeated))
            } else if reciprocal {
                add("\(node.name)#\(input)#channel", Tensor(shape: [values.count], floats: values))
            }
        }
    }

    private mutating func add(_ key: String, _ tensor: Tensor) {
        guard addresses[key] == nil else { return }
        let address = DRAMPlan.align(byteCount)
        addresses[key] = address
        pieces.append((address, tensor))
        byteCount = address + tensor.count * tensor.dtype.byteSize
    }

    /// The segment as a program's constants (sharing the tensors).
    var programBytes: ConstantBytes { ConstantBytes(pieces: pieces, count: byteCount) }

    /// y = x * scale + shift per channel for an inference-mode BatchNormalization.
    static func batchNormAffine(_ node: Node, graph: Graph) -> (scale: [Float], shift: [Float]) {
        let s = graph.initializers[node.inputs[1]]?.floats ?? []
        let b = graph.initializers[node.inputs[2]]?.floats ?? []
        let m = graph.initializers[node.inputs[3]]?.floats ?? []
        let v = graph.initializers[node.inputs[4]]?.floats ?? []
        let epsilon = node.float("epsilon", default: 1e-5)
        let scale = s.indices.map { s[$0] / (v[$0] + epsilon).squareRoot() }
        let shift = s.indices.map { b[$0] - m[$0] * scale[$0] }
        return (scale, shift)
    }
}

/// Where everything a program touches lives in DRAM: the constants segment
/// first, then the runtime values as `DRAMPlan` lays them out.
struct ProgramLayout {
    let graph: Graph
    let constants: ConstantSegment
    let memory: DRAMPlan

    /// `spans`: node index -> the nodes running with it (a fusion group's
    /// values share one lifetime); none for a layer-by-layer program.
    init(graph: Graph, constants: ConstantSegment, spans: [Int: Range<Int>] = [:]) throws {
        self.graph = graph
        self.constants = constants
        memory = try DRAMPlan(graph: graph, base: constants.byteCount, spans: spans)
    }

    /// Where a runtime value or constant lives.
    func location(_ value: String) -> DRAMPlan.Location {
        if let location = memory.locations[value] { return location }
        guard let tensor = graph.initializers[value] else {
            return DRAMPlan.Location(address: constants[value]!, shape: [], dtype: .float32)
        }
        return DRAMPlan.Location(address: constants[value]!, shape: tensor.shape, dtype: tensor.dtype)
    }

    /// First byte past everything the program uses.
    var end: Int { max(memory.end, DRAMPlan.align(constants.byteCount)) }
}
