import Accelerator
import ArgumentParser
import Compiler
import Foundation
import GraphIR
import GraphPasses
import ONNXImport
import Tensors

/// `dfc inspect`: what is in a model, readable in ten seconds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize an ONNX model: inputs, outputs, ops, parameters, MACs, traffic, host and unsupported ops.",
        discussion: HelpText.discussion(
            """
            The ideal layer-by-layer traffic is the predicted DRAM bytes of the --no-fusion --objective traffic \
            compile on the chosen accelerator: the least any layer-by-layer schedule of dfc moves. Unsupported \
            operators are listed, all at once; they are not an error.
            """,
            examples: [
                ("what is in a model, in ten seconds", "dfc inspect Fixtures/demo/resnet8.onnx"),
                (
                    "the same as JSON, for a model whose height and width the exporter left open",
                    "dfc inspect model.onnx --json --input-shape input=1x3x224x224"
                )
            ]))

    @Argument(help: "The ONNX model to inspect.")
    var model: String

    @Flag(name: .customLong("json"), help: "Print the same data as JSON.")
    var json = false

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp("Bind a graph input's shape, e.g. input=1x3x224x224 (repeatable).", valueName: "NAME=SHAPE"))
    var inputShapes: [String] = []

    @Option(
        name: .customLong("accel"),
        help: ArgumentHelp(
            "Accelerator for the layer-by-layer traffic: \(AcceleratorConfig.presetNames.joined(separator: ", ")) or a JSON file.",
            valueName: "NAME|FILE.json"))
    var accel = "df1"

    @Option(name: .customLong("sram"), help: ArgumentHelp("Override the SRAM size, e.g. 512KiB.", valueName: "SIZE"))
    var sram: String?

    @Option(
        name: .customLong("outputs"),
        help: ArgumentHelp(
            "Inspect only what computes these values, as dfc compile --outputs would compile it.",
            valueName: "NAME,..."))
    var cutOutputs: String?

    func run() throws {
        var options = CompileOptions()
        options.inputShapes = try Compile.parseInputShapes(inputShapes)
        let config = try Compile.resolveConfig(accel: accel, sram: sram)
        let model = self.model
        options.note = { line in FileHandle.standardError.write(Data("dfc: note: \(model): \(line)\n".utf8)) }
        var (graph, metadata) = try ONNXImporter.loadWithMetadata(path: model)
        let facts: ModelFacts
        do {
            if let cutOutputs { try graph.cut(toOutputs: cutOutputs.split(separator: ",").map(String.init)) }
            facts = try ModelFacts(path: model, graph: graph, metadata: metadata, options: options, config: config)
        } catch let error as DFCError {
            throw error.inFile(model)
        }
        if json {
            let data = try JSONSerialization.data(
                withJSONObject: facts.json, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data(facts.text.utf8))
        }
    }
}

/// Everything `dfc inspect` says about a model, gathered once for both the
/// text and the JSON. Shape-dependent figures are nil when shapes could
/// not be inferred (unsupported operators, unbound dimensions); `problems` says why.
struct ModelFacts {
    struct Value {
        var name: String
        /// As the model declares it, e.g. f32[N,3,224,224].
        var declared: String
        /// After shape inference.
        var type: TensorType?
    }

    struct Activation {
        var name: String
        var type: TensorType
        var producer: String
    }

    var path: String
    var graphName: String
    var metadata: ONNXImporter.Metadata
    var inputs: [Value] = []
    var outputs: [Value] = []
    var nodeCount = 0
    /// ONNX op type (domain-qualified outside the default domain) to node count.
    var histogram: [String: Int] = [:]
    var parameters = 0
    var macs: Int?
    var largestActivations: [Activation] = []
    var compulsoryBytes: Int?
    var layerByLayerBytes: Int?
    var accelerator: String
    var hostLayers: [(node: String, op: String)] = []
    var unsupported: [(node: String, op: String, reason: String)] = []
    var problems: [String] = []

    static let largestCount = 5

    init(
        path: String, graph imported: Graph, metadata: ONNXImporter.Metadata, options: CompileOptions,
        config: AcceleratorConfig
    ) throws {
        (self.path, graphName, self.metadata, accelerator) = (path, imported.name, metadata, config.name)
        nodeCount = imported.nodes.count
        for node in imported.nodes {
            histogram[node.domain.isEmpty ? node.opType : "\(node.domain)::\(node.opType)", default: 0] += 1
        }
        parameters = Self.parameterCount(imported)
        let declared = { (name: String) in imported.values[name]?.shapeText ?? "?" }
        inputs = imported.inputs.map { Value(name: $0, declared: declared($0)) }
        outputs = imported.outputs.map { Value(name: $0, declared: declared($0)) }
        for node in imported.nodes where node.kind == .opaque {
            let reason =
                node.domain.isEmpty
                ? "not an operator dfc implements" : "domain '\(node.domain)' is not supported"
            unsupported.append((node.name, node.opType, reason))
        }
        guard unsupported.isEmpty else {
            problems.append("shapes not inferred: the model has unsupported operators")
            return
        }

        // Dimensions past the batch that nothing binds: say how to bind them
        // rather than fail (the batch alone defaults to 1, as in compile).
        let unbound = imported.inputs.filter { name in
            options.inputShapes[name] == nil
                && (imported.values[name]?.dims.map { $0.dropFirst().contains { $0.value == nil } } ?? true)
        }
        // A binding that names no input is the passes' error to report, as in compile.
        let misnamed = options.inputShapes.keys.contains { !imported.inputs.contains($0) }
        guard unbound.isEmpty || misnamed else {
            problems.append(
                "shapes not inferred: bind the unknown dimensions of \(unbound.joined(separator: ", ")) with --input-shape"
            )
            return
        }
        var typed: Graph?
        var graph = imported
        var manager = PassManager()
        manager.observe = { stage, snapshot in if stage == InferShapes().name { typed = snapshot } }
        // Anything else the passes reject is an error, as it is for compile.
        try manager.run(&graph, options: options)
        if let typed {
            for k in inputs.indices { inputs[k].type = typed.type(of: inputs[k].name) }
            for k in outputs.indices { outputs[k].type = typed.type(of: outputs[k].name) }
            macs = Self.macs(typed)
        }
        largestActivations = Self.largestActivations(graph)
        compulsoryBytes = CompileReport.compulsoryBytes(graph)
        unsupported = Codegen.unlowerableLayers(graph)
        hostLayers = Codegen.hostLayers(graph)
        guard unsupported.isEmpty else {
            problems.append("not compiled: some layers cannot be lowered to the accelerator")
            return
        }
        do {
            let compilation = try Codegen.schedule(
                graph, options: Codegen.Options(config: config, fusion: false, objective: .traffic), explain: false)
            let program = compilation.program
            let stats = program.config.schedule(program.instructions, constantsBytes: program.constants.count).stats
            layerByLayerBytes = stats.dramReadBytes + stats.dramWriteBytes
            // The compiled rows know which LRN and Resize layers fell back to the host too.
            let ops = Dictionary(graph.nodes.map { ($0.name, $0.opType) }, uniquingKeysWith: { a, _ in a })
            hostLayers = compilation.layers.filter { $0.engine == "host" }.map { ($0.node, ops[$0.node] ?? $0.op) }
        } catch let error as DFCError {
            problems.append("not compiled: \(error.message)")
        } catch {
            problems.append("not compiled: \(error)")
        }
    }

    /// Elements of the float constants the layers read: initializers and Constant nodes' values.
    static func parameterCount(_ graph: Graph) -> Int {
        var read = Set<String>()
        for node in graph.nodes { read.formUnion(node.inputs) }
        var count = graph.initializers.filter { read.contains($0.key) && $0.value.dtype == .float32 }
            .reduce(0) { $0 + $1.value.count }
        for node in graph.nodes where node.kind == .constant {
            if case .tensor(let tensor)? = node.attributes["value"], tensor.dtype == .float32 { count += tensor.count }
        }
        return count
    }

    /// Multiply-accumulates of the convolutions and matrix products, from
    /// the shapes the model declares (before any folding): a convolution's
    /// output elements times the weights each reads, a transposed one's
    /// input elements times the weights each feeds, a product's output
    /// elements times its inner dimension.
    static func macs(_ graph: Graph) -> Int {
        var total = 0
        for node in graph.nodes {
            switch node.kind {
            case .conv, .convTranspose:
                guard let x = graph.type(of: node.inputs[0]), let w = node.input(1).flatMap(graph.type(of:)),
                    let y = node.outputs.first.flatMap(graph.type(of:)), w.rank > 0, w.shape[0] > 0
                else { continue }
                total += node.kind == .conv ? y.count * (w.count / w.shape[0]) : x.count * (w.count / w.shape[0])
            case .gemm, .matMul:
                guard let a = graph.type(of: node.inputs[0]), let y = node.outputs.first.flatMap(graph.type(of:)),
                    a.rank >= 1
                else { continue }
                let transposed = node.kind == .gemm && node.int("transA", default: 0) != 0
                total += y.count * (transposed ? a.shape[0] : a.shape[a.rank - 1])
            default: continue
            }
        }
        return total
    }

    /// The largest run-time values of the canonical graph (what crosses
    /// DRAM when layers run on their own), largest first, ties by name.
    static func largestActivations(_ graph: Graph) -> [Activation] {
        var found: [Activation] = []
        for name in graph.inputs {
            if let type = graph.type(of: name) { found.append(.init(name: name, type: type, producer: "input")) }
        }
        for node in graph.nodes {
            for name in node.outputs where !name.isEmpty {
                if let type = graph.type(of: name) {
                    found.append(.init(name: name, type: type, producer: "\(node.name) (\(node.opType))"))
                }
            }
        }
        let bytes = { (a: Activation) in a.type.count * a.type.dtype.byteSize }
        return Array(found.sorted { (bytes($1), $0.name) < (bytes($0), $1.name) }.prefix(largestCount))
    }

    // MARK: - Presentation

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n.magnitude))
        var out = ""
        for (k, digit) in digits.enumerated() {
            if k > 0 && (digits.count - k) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func typeText(_ type: TensorType) -> String {
        "\(type.dtype)[\(type.shape.map(String.init).joined(separator: ","))]"
    }

    /// Op types by count, most first, ties by name.
    var sortedHistogram: [(op: String, count: Int)] {
        histogram.map { (op: $0.key, count: $0.value) }.sorted { ($1.count, $0.op) < ($0.count, $1.op) }
    }

    var opsetText: String {
        metadata.opsets.map { $0.domain.isEmpty ? "\($0.version)" : "\($0.domain) \($0.version)" }
            .joined(separator: ", ")
    }

    var text: String {
        let clean = DFCError.oneLine
        var lines: [String] = []
        func row(_ label: String, _ values: [String]) {
            for (k, value) in (values.isEmpty ? ["none"] : values).enumerated() {
                lines.append((k == 0 ? label : "").padding(toLength: 12, withPad: " ", startingAt: 0) + value)
            }
        }
        let producer = [metadata.producerName, metadata.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        row(
            "model",
            [
                clean(path)
                    + ": graph \(clean(graphName.isEmpty ? "(unnamed)" : graphName)), IR \(metadata.irVersion), "
                    + "opset \(opsetText), producer \(producer.isEmpty ? "unknown" : clean(producer))"
            ])
        let width = (inputs + outputs).map { clean($0.name).count }.max() ?? 0
        func values(_ list: [Value]) -> [String] {
            return list.map { value in
                let shape = value.type.map(Self.typeText) ?? value.declared
                let bound = value.type != nil && value.declared != "?" && Self.typeText(value.type!) != value.declared
                return clean(value.name).padding(toLength: width + 2, withPad: " ", startingAt: 0) + shape
                    + (bound ? "  (declared \(value.declared))" : "")
            }
        }
        row("inputs", values(inputs))
        row("outputs", values(outputs))
        // The histogram wraps at about 100 columns.
        var histogramLines: [String] = []
        var current = "\(nodeCount) node\(nodeCount == 1 ? "" : "s"):"
        for (op, count) in sortedHistogram {
            let item = " \(count) \(clean(op)),"
            if current.count + item.count > 88 {
                histogramLines.append(current)
                current = String(item.dropFirst())
            } else {
                current += item
            }
        }
        histogramLines.append(current.hasSuffix(",") ? String(current.dropLast()) : current)
        row("ops", histogramLines)
        row("parameters", ["\(Self.grouped(parameters)) (\(Self.grouped(parameters * 4)) B as fp32)"])
        row("MACs", [macs.map(Self.grouped) ?? "unknown (shapes not inferred)"])
        let nameWidth = largestActivations.map { clean($0.name).count }.max() ?? 0
        let typeWidth = largestActivations.map { Self.typeText($0.type).count }.max() ?? 0
        let byteWidth = largestActivations.map { Self.grouped($0.type.count * $0.type.dtype.byteSize).count }.max() ?? 0
        row(
            "largest",
            largestActivations.map { a in
                let bytes = Self.grouped(a.type.count * a.type.dtype.byteSize)
                return clean(a.name).padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0)
                    + Self.typeText(a.type).padding(toLength: typeWidth + 2, withPad: " ", startingAt: 0)
                    + String(repeating: " ", count: byteWidth - bytes.count) + bytes + " B  from " + clean(a.producer)
            })
        var traffic: [String] = []
        if let compulsoryBytes {
            traffic.append("compulsory     \(Self.grouped(compulsoryBytes)) B (weights once, inputs, outputs)")
            if let layerByLayerBytes {
                let ratio = String(format: "%.2f", Double(layerByLayerBytes) / Double(max(1, compulsoryBytes)))
                traffic.append(
                    "layer by layer \(Self.grouped(layerByLayerBytes)) B (\(ratio)x compulsory; --no-fusion "
                        + "--objective traffic on \(accelerator))")
            }
        }
        row("traffic", traffic.isEmpty ? ["unknown (shapes not inferred)"] : traffic)
        row("host", hostLayers.map { "\(clean($0.node)) (\(clean($0.op)))" })
        row("unsupported", unsupported.map { "\(clean($0.node)) (\(clean($0.op))): \(clean($0.reason))" })
        if !problems.isEmpty { row("note", problems.map(clean)) }
        return lines.joined(separator: "\n") + "\n"
    }

    var json: [String: Any] {
        func value(_ v: Value) -> [String: Any] {
            [
                "name": v.name, "declared": v.declared, "shape": v.type.map { $0.shape as Any } ?? NSNull(),
                "dtype": v.type.map { "\($0.dtype)" as Any } ?? NSNull()
            ]
        }
        let object: [String: Any] = [
            "model": path, "graph": graphName, "ir_version": metadata.irVersion,
            "producer": ["name": metadata.producerName, "version": metadata.producerVersion],
            "opsets": metadata.opsets.map { ["domain": $0.domain, "version": $0.version] as [String: Any] },
            "inputs": inputs.map(value), "outputs": outputs.map(value),
            "nodes": nodeCount, "ops": histogram,
            "parameters": parameters, "parameter_bytes": parameters * 4,
            "macs": macs.map { $0 as Any } ?? NSNull(),
            "largest_activations": largestActivations.map {
                [
                    "name": $0.name, "shape": $0.type.shape, "dtype": "\($0.type.dtype)",
                    "bytes": $0.type.count * $0.type.dtype.byteSize, "producer": $0.producer
                ] as [String: Any]
            },
            "compulsory_bytes": compulsoryBytes.map { $0 as Any } ?? NSNull(),
            "layer_by_layer_bytes": layerByLayerBytes.map { $0 as Any } ?? NSNull(),
            "layer_by_layer_method": "predicted DRAM bytes of --no-fusion --objective traffic",
            "accelerator": accelerator,
            "host_layers": hostLayers.map { ["node": $0.node, "op": $0.op] },
            "unsupported": unsupported.map { ["node": $0.node, "op": $0.op, "reason": $0.reason] },
            "problems": problems
        ]
        return object
    }
}
