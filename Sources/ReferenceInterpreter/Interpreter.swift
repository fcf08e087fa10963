import GraphIR
import Tensors

/// The reference interpreter: evaluates a graph on whole tensors with plain
/// fp32 kernels (int64 where ONNX computes on integers). It is the oracle
/// every pass and the code generator are checked against, so its kernels
/// favour being obviously right over being fast.
///
/// Output types come from the same `ShapeRules` that shape inference uses,
/// evaluated on the run-time types, so the two cannot disagree; a graph
/// whose declared types contradict what its inputs produce is rejected.
public enum Interpreter {
    /// Evaluates `graph` on `inputs` (one tensor per graph input, by name)
    /// and returns every graph output by name.
    ///
    /// Inputs are checked against the graph's declared dtypes and known
    /// dimensions. Graphs need not have been through shape inference; if
    /// they have, every computed value must match its inferred type.
    public static func run(_ graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
        try graph.checkSupported()
        try checkInputs(graph, inputs)

        // Remaining reads of each value; a value is dropped after its last
        // read unless it is a graph output.
        var remainingUses: [String: Int] = [:]
        for node in graph.nodes {
            for name in node.inputs where !name.isEmpty { remainingUses[name, default: 0] += 1 }
        }
        let outputs = Set(graph.outputs)
        var values: [String: Tensor] = [:]
        for name in graph.inputs { values[name] = inputs[name] }

        for node in graph.nodes {
            var arguments: [Tensor?] = []
            arguments.reserveCapacity(node.inputs.count)
            for name in node.inputs {
                if name.isEmpty { arguments.append(nil); continue }
                guard let value = values[name] ?? graph.initializers[name] else {
                    throw DFCError(
                        "node '\(node.name)' (\(node.opType)) reads '\(name)', which is not defined before it")
                }
                arguments.append(value)
            }
            let results = try evaluate(node, inputs: arguments, opset: graph.opsetVersion)
            for (name, tensor) in zip(node.outputs, results) where !name.isEmpty {
                try checkDeclared(graph, value: name, tensor: tensor, node: node)
                values[name] = tensor
            }
            arguments.removeAll()
            for name in node.inputs where !name.isEmpty {
                remainingUses[name, default: 0] -= 1
                if remainingUses[name] == 0 && !outputs.contains(name) { values[name] = nil }
            }
            for name in node.outputs where !name.isEmpty && remainingUses[name] == nil && !outputs.contains(name) {
                values[name] = nil
            }
        }

        var result: [String: Tensor] = [:]
        for name in graph.outputs {
            guard let value = values[name] ?? graph.initializers[name] ?? inputs[name] else {
                throw DFCError("graph output '\(name)' is never computed")
            }
            result[name] = value
        }
        return result
    }

    /// Evaluates one node on concrete inputs (nil for an omitted optional
    /// input) and returns one tensor per node output. A constant-folding pass
    /// calls this with the node's constant inputs.
    public static func evaluate(_ node: Node, inputs: [Tensor?], opset: Int) throws -> [Tensor] {
        do {
            guard node.kind != .opaque else {
                let op = node.domain.isEmpty ? node.opType : "\(node.domain)::\(node.opType)"
                throw DFCError("operator \(op) is not supported by the interpreter")
            }
            guard inputs.count == node.inputs.count else {
                throw DFCError("given \(inputs.count) inputs for \(node.inputs.count) declared")
            }
            let arguments = KernelArguments(node: node, inputs: inputs, opset: opset)
            let outputTypes = try ShapeRules.infer(arguments.shapeContext)
            for type in outputTypes { try checkSize(type) }
            var results = try kernel(for: node.kind)(arguments, outputTypes)
            if let activation = node.activation, let first = results.first {
                // A fused activation applies to the node's (first) result.
                guard case .float(var values) = first.storage else {
                    throw DFCError("fused \(activation) on an integer result")
                }
                activation.apply(&values)
                results[0] = Tensor(shape: first.shape, floats: values)
            }
            // The kernels and ShapeRules must agree; a disagreement is a bug
            // here, reported rather than passed on.
            for (index, (tensor, type)) in zip(results, outputTypes).enumerated() where tensor.type != type {
                throw DFCError(
                    "internal error: output \(index) computed as \(tensor.type), but its shape rule gives \(type)")
            }
            guard results.count >= node.outputs.count else {
                throw DFCError("produces \(results.count) outputs, but the node names \(node.outputs.count)")
            }
            return Array(results.prefix(node.outputs.count))
        } catch let error as DFCError {
            throw DFCError("node '\(node.name)' (\(node.opType)): \(error.message)", kind: error.kind)
        }
    }

    typealias Kernel = (KernelArguments, [TensorType]) throws -> [Tensor]

    /// The kernel of each supported op, grouped as `OpKind` groups them.
    static func kernel(for kind: OpKind) -> Kernel {
        switch kind {
        case .conv: return Kernels.conv
        case .convTranspose: return Kernels.convTranspose
        case .gemm: return Kernels.gemm
        case .matMul: return Kernels.matMul

        case .batchNormalization: return Kernels.batchNormalization
        case .lrn: return Kernels.lrn

        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .mish, .gelu, .silu:
            return Kernels.activation
        case .erf, .softplus, .swish: return Kernels.activation
        case .neg, .abs, .floor, .ceil, .sqrt: return Kernels.unaryMath

        case .add, .sub, .mul, .div, .sum, .pRelu: return Kernels.broadcastElementwise
        case .pow: return Kernels.pow
        case .min, .max: return Kernels.minMax

        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual: return Kernels.compare
        case .not, .and, .or, .xor: return Kernels.logical
        case .where: return Kernels.select

        case .maxPool: return Kernels.maxPool
        case .averagePool: return Kernels.averagePool
        case .globalAveragePool, .globalMaxPool: return Kernels.globalPool
        case .reduceMean, .reduceSum, .reduceProd, .reduceMax, .reduceMin: return Kernels.reduce
        case .softmax: return Kernels.softmax

        case .concat: return Kernels.concat
        case .split: return Kernels.split
        case .slice: return Kernels.slice
        case .pad: return Kernels.pad
        case .resize, .upsample: return Kernels.resize
        case .transpose: return Kernels.transpose
        case .channelShuffle: return Kernels.channelShuffle
        case .gather: return Kernels.gather
        case .tile: return Kernels.tile
        case .depthToSpace, .spaceToDepth: return Kernels.spaceDepth

        case .flatten, .reshape, .squeeze, .unsqueeze, .identity: return Kernels.view
        case .dropout: return Kernels.dropout

        case .constant: return Kernels.constant
        case .constantOfShape: return Kernels.constantOfShape
        case .range: return Kernels.range
        case .expand: return Kernels.expand
        case .shape: return Kernels.shape
        case .size: return Kernels.size
        case .nonZero: return Kernels.nonZero
        case .cast: return Kernels.cast

        case .opaque: return { _, _ in throw DFCError("operator is not supported by the interpreter") }
        }
    }

    // MARK: - Checks

    /// The most elements one computed value may hold (8 GiB of fp32).
    static let maxElements = 1 << 31

    /// A value too large to allocate is an error, not a crash.
    private static func checkSize(_ type: TensorType) throws {
        var count = 1
        for d in type.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, d >= 0, product <= maxElements else {
                throw DFCError("the result \(type) would hold more than \(maxElements) elements")
            }
            count = product
        }
    }

    private static func checkInputs(_ graph: Graph, _ inputs: [String: Tensor]) throws {
        let expected = Set(graph.inputs)
        let unknown = inputs.keys.filter { !expected.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw DFCError(
                "no graph input named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (inputs: \(graph.inputs.joined(separator: ", ")))"
            )
        }
        let missing = graph.inputs.filter { inputs[$0] == nil }
        guard missing.isEmpty else {
            throw DFCError("missing value for graph input \(missing.map { "'\($0)'" }.joined(separator: ", "))")
        }
        for name in graph.inputs {
            let tensor = inputs[name]!
            guard let info = graph.values[name] else { continue }
            guard info.dtype == tensor.dtype else {
                throw DFCError("input '\(name)' must be \(info.dtype), got \(tensor.dtype)")
            }
            guard let dims = info.dims else { continue }
            let agrees =
                dims.count == tensor.shape.count
                && zip(dims, tensor.shape).allSatisfy { d, v in d.value.map { $0 == v } ?? true }
            guard agrees else {
                throw DFCError("input '\(name)' has shape \(tensor.type), but the graph declares \(info.shapeText)")
            }
        }
    }

    /// A computed value must match what the graph says about it (shapes
    /// from inference or from the model's own value_info).
    private static func checkDeclared(_ graph: Graph, value name: String, tensor: Tensor, node: Node) throws {
        guard let info = graph.values[name] else { return }
        let shapeAgrees: Bool
        if let dims = info.dims {
            shapeAgrees =
                dims.count == tensor.shape.count
                && zip(dims, tensor.shape).allSatisfy { d, v in d.value.map { $0 == v } ?? true }
        } else {
            shapeAgrees = true
        }
        guard shapeAgrees && info.dtype == tensor.dtype else {
            throw DFCError(
                "node '\(node.name)' (\(node.opType)): value '\(name)' computes as \(tensor.type), but the graph declares \(info.shapeText)"
            )
        }
    }
}

/// A node's concrete inputs, with the accessors kernels need.
struct KernelArguments {
    var node: Node
    var inputs: [Tensor?]
    var opset: Int

    /// The shape-rule context over these inputs: every input is a constant.
    var shapeContext: ShapeRules.Context {
        let node = self.node, inputs = self.inputs
        return ShapeRules.Context(
            node: node, inputs: inputs.map { $0?.type }, opset: opset,
            constant: { name in
                guard !name.isEmpty, let index = node.inputs.firstIndex(of: name), index < inputs.count else {
                    return nil
                }
                return inputs[index]
            })
    }

    func input(_ index: Int) throws -> Tensor {
        guard index < inputs.count, let tensor = inputs[index] else { throw DFCError("input \(index) is missing") }
        return tensor
    }

    func optional(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index] : nil }

    /// Input `index` as fp32 values, rejecting integer tensors where ONNX
    /// computes in floating point only.
    func floats(_ index: Int) throws -> [Float] {
        let tensor = try input(index)
        guard case .float(let values) = tensor.storage else {
            throw DFCError("input \(index) must be floating point, got \(tensor.type)")
        }
        return values
    }
}

/// Namespace of the kernels; one extension per group of ops.
package enum Kernels {}
