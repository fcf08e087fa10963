import Tensors

/// Static shape inference over the whole graph.
///
/// Walks nodes in order, computing each output's dtype and shape from its
/// inputs' types and, for shape-like inputs (Reshape's shape, Slice's starts,
/// Resize's scales...), their constant values. Small constant computations
/// (Shape -> Gather -> Concat chains from PyTorch) are evaluated on the way,
/// with the evaluator the caller passes, so shapes they determine become known.
public struct ShapeInference {
    /// Evaluates one node on its inputs (nil for an absent optional one), or
    /// gives nil. The graph passes give the reference interpreter, which
    /// GraphIR cannot import, so fold-constants and shape inference compute
    /// constants with the same kernels.
    public typealias ConstantEvaluator = @Sendable (_ node: Node, _ inputs: [Tensor?], _ opset: Int) -> [Tensor]?

    /// Largest tensor evaluated at compile time while inferring shapes.
    static let constantLimit = 1 << 16

    var graph: Graph
    /// Values known at compile time: initializers and folded small results.
    var constants: [String: Tensor]
    var evaluate: ConstantEvaluator

    /// Infers every value's type; `inputShapes` binds graph inputs' shapes.
    /// `note` receives a line for each dim the user did not bind but the
    /// compile decided (a batch defaulted to 1) or overrode.
    public static func run(
        _ graph: inout Graph, inputShapes: [String: [Int]] = [:], note: (String) -> Void = { _ in },
        maxMemoryBytes: Int = .max, evaluate: @escaping ConstantEvaluator
    ) throws {
        var inference = ShapeInference(graph: graph, constants: graph.initializers, evaluate: evaluate)
        try inference.bindInputs(inputShapes, note: note)
        for input in inference.graph.inputs {
            if let type = inference.graph.type(of: input) { try Self.checkSize(type, of: "input '\(input)'") }
        }
        for index in inference.graph.nodes.indices {
            try inference.infer(nodeAt: index)
        }
        for output in inference.graph.outputs where inference.graph.type(of: output) == nil {
            throw DFCError("the shape of output '\(output)' could not be inferred")
        }
        try checkMemory(inference.graph, cap: maxMemoryBytes)
        graph = inference.graph
    }

    /// The bytes of every tensor the graph computes or holds, counted without
    /// reuse: what the interpreter may hold at once, and more than any
    /// program's DRAM. Checked before anything of that size is allocated.
    static func checkMemory(_ graph: Graph, cap: Int) throws {
        var names = Set(graph.inputs).union(graph.initializers.keys)
        for node in graph.nodes { names.formUnion(node.outputs.filter { !$0.isEmpty }) }
        var total = 0
        var largest: (name: String, type: TensorType, bytes: Int)?
        for name in names.sorted() {
            guard let type = graph.type(of: name), let count = type.checkedCount else { continue }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: type.dtype.byteSize)
            let (sum, overflowSum) = total.addingReportingOverflow(bytes)
            total = overflow || overflowSum ? .max : sum
            if largest == nil || bytes > largest!.bytes { largest = (name, type, bytes) }
        }
        guard total > cap, let largest else { return }
        throw DFCError(
            "the model's tensors need \(byteText(total)), above the memory cap of \(byteText(cap)) (--max-memory); the largest is '\(largest.name)' \(largest.type), \(byteText(largest.bytes))",
            kind: .doesNotFit)
    }

    /// "17179869184 bytes (16.0 GiB)".
    static func byteText(_ bytes: Int) -> String {
        guard bytes < .max else { return "more bytes than an Int holds" }
        let tenths = Int((Double(bytes) / Double(1 << 30) * 10).rounded())
        return "\(bytes) bytes (\(tenths / 10).\(tenths % 10) GiB)"
    }

    /// Unknown dims (symbolic, missing, or written as -1 or 0) are bound by
    /// `--input-shape`; an unbound batch alone defaults to 1. A binding may
    /// also override a fixed dim: the model's declared shapes inside the
    /// graph are then re-inferred rather than checked.
    private mutating func bindInputs(_ bindings: [String: [Int]], note: (String) -> Void) throws {
        var overridden = false
        for name in bindings.keys.sorted() where !graph.inputs.contains(name) {
            let list = graph.inputs.map { "\($0) \(graph.values[$0]?.shapeText ?? "?")" }.joined(separator: ", ")
            throw DFCError("--input-shape names '\(name)', which is not a graph input (inputs: \(list))")
        }
        for name in graph.inputs {
            guard let info = graph.values[name] else { throw DFCError("input '\(name)' has no type") }
            if let bound = bindings[name] {
                guard bound.allSatisfy({ $0 > 0 }) else {
                    throw DFCError("--input-shape \(name): dimensions must be positive")
                }
                if let dims = info.dims {
                    guard dims.count == bound.count else {
                        let own = graph.inputShapeSuggestion(name).map { "; its own dims: \($0)" } ?? ""
                        throw DFCError(
                            "--input-shape \(name)=\(bound.map(String.init).joined(separator: "x")) has rank \(bound.count), but the model declares rank \(dims.count) (\(info.shapeText))\(own)"
                        )
                    }
                    let changed = zip(dims, bound).enumerated().compactMap { axis, pair -> String? in
                        guard let v = pair.0.value, v != pair.1 else { return nil }
                        return "axis \(axis) \(v) -> \(pair.1)"
                    }
                    if !changed.isEmpty {
                        note(
                            "input '\(name)': --input-shape overrides the model's fixed \(info.shapeText) (\(changed.joined(separator: ", "))); the shapes the model declares inside are re-inferred"
                        )
                        overridden = true
                    }
                }
                graph.values[name] = ValueInfo(TensorType(dtype: info.dtype, shape: bound))
            } else if info.type == nil {
                // A batch alone may stay unbound: it defaults to 1.
                if let dims = info.dims, dims.count >= 2, dims[0].value == nil,
                    dims.dropFirst().allSatisfy({ $0.value != nil })
                {
                    let shape = [1] + dims.dropFirst().map { $0.value! }
                    note(
                        "input '\(name)': the batch (axis 0, declared \(info.shapeText)) is unknown and defaults to 1; bind it with --input-shape \(name)=\(shape.map(String.init).joined(separator: "x"))"
                    )
                    graph.values[name] = ValueInfo(TensorType(dtype: info.dtype, shape: shape))
                    continue
                }
                guard let dims = info.dims else {
                    guard let suggestion = graph.inputShapeSuggestion(name) else {
                        throw DFCError(
                            "input '\(name)' has no declared shape; bind it with --input-shape \(name)=DIMS, e.g. \(name)=1x3x224x224"
                        )
                    }
                    throw DFCError(
                        "input '\(name)' has no declared shape; bind it with --input-shape \(suggestion) (its first convolution's layout), with a number for each named dim"
                    )
                }
                let unknown = dims.indices.filter { dims[$0].value == nil }.map { axis in
                    if case .symbolic(let symbol) = dims[axis], !symbol.isEmpty { return "\(axis) (\(symbol))" }
                    return "\(axis)"
                }
                let axes =
                    unknown.count == 1
                    ? "axis \(unknown[0])" : "axes \(unknown.dropLast().joined(separator: ", ")) and \(unknown.last!)"
                throw DFCError(
                    "input '\(name)' has shape \(info.shapeText), unknown at \(axes); bind them with --input-shape \(graph.inputShapeSuggestion(name)!), with a number for each named dim"
                )
            }
        }
        // After an override, shapes declared inside the model describe the old size.
        guard overridden else { return }
        let inputs = Set(graph.inputs)
        for (value, info) in graph.values
        where !inputs.contains(value) && graph.initializers[value] == nil && info.dims != nil {
            graph.values[value] = ValueInfo(dtype: info.dtype, dims: nil)
        }
    }

    /// A type within `TensorType.maxElements`, or an error naming the value.
    static func checkSize(_ type: TensorType, of what: String) throws {
        guard type.rank <= TensorType.maxRank else {
            throw DFCError("\(what) has rank \(type.rank), above the limit of \(TensorType.maxRank) dimensions")
        }
        guard type.shape.allSatisfy({ $0 >= 0 }), let count = type.checkedCount, count <= TensorType.maxElements
        else {
            let elements = type.checkedCount.map { "\($0) elements" } ?? "more elements than an Int holds"
            throw DFCError(
                "\(what) has shape \(type): \(elements), above the limit of 2^31 elements per tensor")
        }
    }

    private mutating func infer(nodeAt index: Int) throws {
        if graph.opsetVersion < 7 { try upgradeLegacyBroadcast(nodeAt: index) }
        let node = graph.nodes[index]
        var inputs: [TensorType?] = []
        for name in node.inputs {
            if name.isEmpty { inputs.append(nil); continue }
            guard let type = graph.type(of: name) else {
                throw DFCError("node '\(node.name)' (\(node.opType)): the shape of input '\(name)' is unknown")
            }
            inputs.append(type)
        }
        let known = constants
        let context = ShapeRules.Context(
            node: node, inputs: inputs, opset: graph.opsetVersion,
            constant: { name in name.isEmpty ? nil : known[name] })
        let result: [TensorType]
        do {
            result = try ShapeRules.infer(context)
        } catch let error as DFCError {
            throw DFCError("node '\(node.name)' (\(node.opType)): \(error.message)", kind: error.kind)
        }
        for (output, type) in zip(node.outputs, result) where !output.isEmpty {
            if let declared = graph.values[output]?.dims {
                let agrees =
                    declared.count == type.rank
                    && zip(declared, type.shape).allSatisfy { d, v in d.value.map { $0 == v } ?? true }
                guard agrees else {
                    throw DFCError(
                        "value '\(output)' (from node '\(node.name)'): the model declares shape \(graph.values[output]!.shapeText), but the inputs give \(type)"
                    )
                }
            }
            try Self.checkSize(type, of: "value '\(output)' (from node '\(node.name)')")
            graph.values[output] = ValueInfo(type)
        }
        try fold(node, context: context, result: result)
    }

    /// Records the compile-time values of `node`'s outputs, when it has them.
    private mutating func fold(_ node: Node, context: ShapeRules.Context, result: [TensorType]) throws {
        guard let output = node.outputs.first, !output.isEmpty else { return }
        let first = node.input(0).flatMap { constants[$0] }
        switch node.kind {
        case .shape:
            guard let type = context.inputs.first ?? nil else { return }
            let range = ShapeRules.shapeRange(node, rank: type.rank)
            constants[output] = Tensor(shape: [range.count], ints: type.shape[range].map { Int64($0) })
        case .size:
            guard let type = context.inputs.first ?? nil else { return }
            constants[output] = Tensor(shape: [], ints: [Int64(type.count)])
        case .unsqueeze, .squeeze, .reshape, .flatten:
            guard let x = first, x.count <= Self.constantLimit else { return }
            var reshaped = x
            reshaped.shape = result[0].shape
            constants[output] = reshaped
        case .slice:
            guard let x = first, x.shape.count == 1, x.count <= Self.constantLimit,
                let range = try ShapeRules.sliceRanges(context, shape: x.shape).first
            else { return }
            let picks = (0..<range.count).map { range.start + $0 * range.step }
            switch x.storage {
            case .int64(let v): constants[output] = Tensor(shape: [picks.count], ints: picks.map { v[$0] })
            case .float(let v): constants[output] = Tensor(shape: [picks.count], floats: picks.map { v[$0] })
            case .bool(let v): constants[output] = Tensor(shape: [picks.count], bools: picks.map { v[$0] })
            }
        default:
            guard result.allSatisfy({ $0.count <= Self.constantLimit }) else { return }
            var inputs: [Tensor?] = []
            for name in node.inputs {
                if name.isEmpty { inputs.append(nil); continue }
                guard let tensor = constants[name], tensor.count <= Self.constantLimit else { return }
                inputs.append(tensor)
            }
            if let folded = evaluate(node, inputs, graph.opsetVersion) {
                for (name, tensor) in zip(node.outputs, folded) where !name.isEmpty { constants[name] = tensor }
            }
        }
    }

    /// Before opset 7, Add/Sub/Mul/Div/Pow broadcast their second operand from
    /// `axis` when `broadcast=1`, and PRelu took a per-channel slope of shape
    /// [C]. Rewrites such nodes to today's NumPy broadcasting by reshaping
    /// the constant operand, so nothing downstream sees the old rules.
    private mutating func upgradeLegacyBroadcast(nodeAt index: Int) throws {
        var node = graph.nodes[index]
        guard node.inputs.count == 2, let bName = node.input(1),
            let a = graph.type(of: node.inputs[0]), let b = graph.type(of: bName)
        else { return }
        var target: [Int]?
        switch node.kind {
        case .add, .sub, .mul, .div, .pow:
            guard node.int("broadcast", default: 0) == 1 else { return }
            let rawAxis = node.int("axis", default: a.rank - b.rank)
            let axis = rawAxis < 0 ? rawAxis + a.rank : rawAxis
            let trailing = a.rank - axis - b.rank
            guard axis >= 0, trailing >= 0 else {
                throw DFCError("node '\(node.name)': legacy broadcast axis \(rawAxis) does not fit \(a) and \(b)")
            }
            if trailing > 0 { target = b.shape + Array(repeating: 1, count: trailing) }
            node.attributes["broadcast"] = nil
            node.attributes["axis"] = nil
        case .pRelu:
            guard b.rank == 1, a.rank >= 3, b.shape[0] == a.shape[1], b.shape[0] > 1 else { return }
            target = [b.shape[0]] + Array(repeating: 1, count: a.rank - 2)
        default:
            return
        }
        if let target {
            guard var tensor = graph.initializers[bName] else {
                throw DFCError(
                    "node '\(node.name)': legacy broadcasting of the computed value '\(bName)' is not supported",
                    kind: .unsupported)
            }
            tensor.shape = target
            let aligned = "\(bName)__aligned"
            graph.initializers[aligned] = tensor
            constants[aligned] = tensor
            node.inputs[1] = aligned
            // The original stays; dead-code elimination drops it once unread.
        }
        graph.nodes[index] = node
    }
}
